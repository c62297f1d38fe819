"""
Samples/s of the folder writer as shards (issue #18): in one process
(no Dask), and on a Dask LocalCluster of 1 and 2 worker processes on
127.0.0.1, on a few thousand tiny PNG images (re-encoded as JPEG with
--compress, so the work is CPU-bound and can scale with workers).

On a 2-core machine the figures show the engine's overhead (1 process vs
a cluster of 1 worker) and the scaling it allows (1 vs 2 workers). The
cluster's start-up is measured separately: it is paid once per job.

    python benchmarks/parallel.py [--images 3000] [--shards 12] [--repeat 3]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time


def make_tree(root, images):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for i in range(images):
        path = os.path.join(root, f'class{i % 10}', f'{i:06d}.png')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)


def convert(tree, outdir, shards, scheduler):
    from datadings_like.sets import folder_write
    argv = [tree, '-o', outdir, '-y', '-q', '--seed', '1', '--compress', '90',
            '--shards', str(shards)]
    if scheduler is not None:
        argv += ['--scheduler', scheduler]
    start = time.perf_counter()
    folder_write.main(argv)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=3000)
    parser.add_argument('--shards', type=int, default=12)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()

    import distributed
    work = tempfile.mkdtemp(prefix='bench-parallel-')
    try:
        tree = os.path.join(work, 'tree')
        make_tree(tree, args.images)
        rows = []
        times = [convert(tree, os.path.join(work, 'out'), args.shards, None)
                 for _ in range(args.repeat)]
        rows.append(('1 process, no Dask', None, times))
        for workers in (1, 2):
            start = time.perf_counter()
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                               processes=True, host='127.0.0.1',
                                               dashboard_address=None)
            startup = time.perf_counter() - start
            try:
                times = [convert(tree, os.path.join(work, 'out'), args.shards,
                                 cluster.scheduler_address) for _ in range(args.repeat)]
            finally:
                cluster.close()
            rows.append((f'LocalCluster, {workers} worker{"s" * (workers > 1)}', startup, times))
        print(f'folder writer, {args.images} images 32x32 PNG -> JPEG 90, {args.shards} shards, '
              f'median of {args.repeat}; {os.cpu_count()} CPUs, Python '
              f'{sys.version.split()[0]}, distributed {distributed.__version__}')
        print(f'{"engine":<26} {"samples/s":>10} {"seconds":>8} {"vs 1 process":>13} '
              f'{"cluster start s":>16}')
        base = statistics.median(rows[0][2])
        for name, startup, times in rows:
            t = statistics.median(times)
            print(f'{name:<26} {args.images / t:>10.0f} {t:>8.2f} {base / t:>12.2f}x '
                  f'{"" if startup is None else f"{startup:.1f}":>16}')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
