#!/usr/bin/env python3
"""
Benchmark of a dataset writer: the ADE20k writer on a generated miniature
``ADE20K_2016_07_26.zip`` of small images (each with a ``_seg.png`` and,
for every second image, a ``_parts_1.png``, laid out like the real zip).

Prints

- samples/s of ``datadings-write ADE20k`` with ``-t 1`` and ``-t 2``
  (median of ``--repeat`` runs each, alternating; the wall time of the
  whole command, start-up included);
- the peak memory (maximum resident set size of the writing process,
  from ``os.wait4``) with ``-t 1`` for two sample counts, to show that it
  does not grow with the number of samples.

Usage::

    python benchmarks/writers.py                   # 3000 images, 3 repetitions
    python benchmarks/writers.py --images 2000 --repeat 5

Needs scipy (``pip install '.[sets]'``) to write and read the index.
"""
from pathlib import Path
from statistics import median
import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = 'ADE20K_2016_07_26'


def make_zip(path, images, seed=0, size=(48, 64)):
    """Write a miniature ADE20K zip with ``images`` images (90 % training)."""
    import scipy.io
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    train = images - images // 10
    stems = [('training', f'ADE_train_{i:08d}') for i in range(1, train + 1)] + \
            [('validation', f'ADE_val_{i:08d}') for i in range(1, images - train + 1)]
    scenes = ('abbey', 'bathroom', 'kitchen', 'street', 'zoo')

    def png(a):
        bio = io.BytesIO()
        Image.fromarray(a).save(bio, 'PNG')
        return bio.getvalue()

    def seg(classes):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., 0] = classes // 256 * 10
        rgb[..., 1] = classes % 256
        return png(rgb)

    n = len(stems)
    filename, folder, scene = (np.empty((1, n), object) for _ in range(3))
    with zipfile.ZipFile(path, 'w') as z:
        for i, (split, stem) in enumerate(stems):
            sc = scenes[i % len(scenes)]
            filename[0, i], folder[0, i], scene[0, i] = stem + '.jpg', f'{ROOT}/images/{split}', sc
            d = f'{ROOT}/images/{split}/{sc[0]}/{sc}/'
            bio = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
            z.writestr(d + stem + '.jpg', bio.getvalue())
            # a few blocks of classes, like a real label map
            classes = np.repeat(np.repeat(rng.integers(0, 3146, (h // 8, w // 8)), 8, 0), 8, 1)
            z.writestr(d + stem + '_seg.png', seg(classes), zipfile.ZIP_DEFLATED)
            if i % 2:
                z.writestr(d + stem + '_parts_1.png', seg(classes // 7), zipfile.ZIP_DEFLATED)
        bio = io.BytesIO()
        scipy.io.savemat(bio, {'index': {'filename': filename, 'folder': folder,
                                         'scene': scene}})
        z.writestr(f'{ROOT}/index_ade20k.mat', bio.getvalue(), zipfile.ZIP_DEFLATED)
    return n


def run_writer(indir, outdir, threads):
    """Run the writer once; returns (seconds, peak RSS in MiB of the writer process)."""
    shutil.rmtree(outdir, ignore_errors=True)
    cmd = [sys.executable, '-m', 'datadings_like.sets.ADE20k_write', '-s', '-y', '-q',
           '--shuffle', 'no', '-t', str(threads), '-o', str(outdir), str(indir)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f'writer failed ({proc.returncode}):\n{stderr}')
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=3000,
                        help='images of the miniature for the speed runs (default: 3000)')
    parser.add_argument('--repeat', type=int, default=3,
                        help='runs per setting (default: 3)')
    parser.add_argument('--memory-counts', type=int, nargs=2, default=(500, 4000),
                        metavar=('SMALL', 'LARGE'),
                        help='sample counts of the memory runs (default: 500 4000)')
    parser.add_argument('--keep', metavar='DIR', help='work in DIR and keep it')
    args = parser.parse_args(argv)

    work = Path(args.keep or tempfile.mkdtemp(prefix='writers-bench-'))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f'machine: {platform.machine()}, {os.cpu_count()} CPUs, '
              f'Python {platform.python_version()}')
        indir = work / 'speed'
        indir.mkdir(exist_ok=True)
        n = make_zip(indir / 'ADE20K_2016_07_26.zip', args.images)
        size = (indir / 'ADE20K_2016_07_26.zip').stat().st_size / 2 ** 20
        print(f'miniature: {n} images of 64x48 pixels, zip {size:.1f} MiB')
        times = {1: [], 2: []}
        for _ in range(args.repeat):
            for threads in (1, 2):
                times[threads].append(run_writer(indir, work / 'out', threads)[0])
        for threads, values in times.items():
            t = median(values)
            print(f'ADE20k writer -t {threads}: {n / t:7.0f} samples/s '
                  f'(median of {len(values)}: {t:.2f} s)')

        for count in args.memory_counts:
            mdir = work / f'memory{count}'
            mdir.mkdir(exist_ok=True)
            make_zip(mdir / 'ADE20K_2016_07_26.zip', count, seed=1)
            _, rss = run_writer(mdir, work / 'out', 1)
            print(f'peak memory -t 1, {count:6d} samples: {rss:6.1f} MiB')
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
