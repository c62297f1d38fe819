#!/usr/bin/env python3
"""
Speed and peak memory of a dataset writer with -t 1 and -t 2 worker
processes, on miniature copies of the Cityscapes zips of a few thousand
images (issue 10: "Big sources").

::

    python benchmarks/cityscapes_writer.py                     # 1000 and 4000 images
    python benchmarks/cityscapes_writer.py --sizes 500,2000 --repeat 2

For each size, the three zips (``leftImg8bit_trainvaltest.zip``,
``gtFine_trainvaltest.zip``, ``disparity_trainvaltest.zip``, laid out like
the real ones, PNG members deflated) are made once in ``--data-dir``. Every
run is the command a user types (``python -m
datadings_like.sets.Cityscapes_write -s -y -q --shuffle no -t N``) in a
fresh process; the runs of -t 1 and -t 2 alternate. Reported: the median
wall time, samples/s (whole command, interpreter start included), the
marginal samples/s between the smallest and the largest size (start-up
excluded), and the peak resident memory of the writer's process tree (the
writer and its workers, sampled every 20 ms from /proc; Linux only).
Peak memory must not grow with the number of samples; what does grow is
the zips' directories, which zipfile holds (about 0.75 kB per member).
The figures of a run are on the manual's Cityscapes page.
"""
from pathlib import Path
from statistics import median
import argparse
import io
import os
import subprocess
import sys
import time
import zipfile

HERE = Path(__file__).resolve().parent
CITIES = ('aachen', 'bochum', 'bremen', 'frankfurt', 'berlin')


def make_zips(indir, n, width, height, seed=0):
    """Miniature Cityscapes zips with ``n`` images (70% train, 10% val,
    20% test), unless they exist already."""
    import numpy as np
    from PIL import Image

    done = indir / 'done'
    if done.exists():
        return
    indir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def png(array):
        bio = io.BytesIO()
        Image.fromarray(array).save(bio, 'PNG', compress_level=1)
        return bio.getvalue()

    # a few distinct images, reused: making PNGs is not what is measured
    images = [png(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)) for _ in range(8)]
    labels = [png(rng.integers(0, 34, (height, width), dtype=np.uint8)) for _ in range(8)]
    disparities = [png(rng.integers(0, 40000, (height, width)).astype(np.uint16))
                   for _ in range(8)]
    names = ('leftImg8bit_trainvaltest.zip', 'gtFine_trainvaltest.zip',
             'disparity_trainvaltest.zip')
    zips = [zipfile.ZipFile(indir / name, 'w', zipfile.ZIP_DEFLATED) for name in names]
    left, gt, disparity = zips
    for zf in zips:
        zf.writestr('README', 'The Cityscapes Dataset')
    for i in range(n):
        split = 'train' if i % 10 < 7 else 'val' if i % 10 == 7 else 'test'
        city = CITIES[i % len(CITIES)]
        key = f'{split}/{city}/{city}_{i:06d}_000019'
        left.writestr(f'leftImg8bit/{key}_leftImg8bit.png', images[i % 8])
        gt.writestr(f'gtFine/{key}_gtFine_labelIds.png', labels[i % 8])
        gt.writestr(f'gtFine/{key}_gtFine_color.png', images[(i + 1) % 8])
        disparity.writestr(f'disparity/{key}_disparity.png', disparities[i % 8])
    for zf in zips:
        zf.close()
    done.write_text('ok')


def _children():
    """``pid -> parent pid`` of all processes (from /proc)."""
    parents = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(')', 1)[1].split()[1])
    return parents


def _tree_rss(root):
    parents = _children()
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(p for p, parent in parents.items() if parent == pid and p not in tree)
    total = 0
    for pid in tree:
        try:
            with open(f'/proc/{pid}/status') as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def run_writer(indir, outdir, threads):
    """Run the writer once; returns ``(seconds, peak bytes of the process tree)``."""
    cmd = [sys.executable, '-m', 'datadings_like.sets.Cityscapes_write', '-s', '-y', '-q',
           '--shuffle', 'no', '-t', str(threads), '-o', str(outdir), str(indir)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if proc.returncode:
        raise SystemExit(f'writer failed: {err}')
    return seconds, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', default='1000,4000',
                        help='numbers of images, comma-separated (default: 1000,4000)')
    parser.add_argument('--threads', default='1,2', help='values of -t (default: 1,2)')
    parser.add_argument('--repeat', type=int, default=3, help='runs per setting (default: 3)')
    parser.add_argument('--size', default='256x128', help='image size WxH (default: 256x128)')
    parser.add_argument('--data-dir', default=str(HERE / '_data' / 'cityscapes'),
                        help='where the miniatures are made (default: benchmarks/_data/cityscapes)')
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(',')]
    threads = [int(t) for t in args.threads.split(',')]
    width, height = (int(v) for v in args.size.split('x'))
    data = Path(args.data_dir)

    results = {}
    for n in sizes:
        indir = data / f'{n}_{width}x{height}'
        make_zips(indir, n, width, height)
        mb = sum(f.stat().st_size for f in indir.glob('*.zip')) / 1e6
        print(f'{n} images ({width}x{height}), zips {mb:.0f} MB', file=sys.stderr)
        runs = {t: [] for t in threads}
        for r in range(args.repeat):
            order = threads if r % 2 == 0 else threads[::-1]
            for t in order:
                runs[t].append(run_writer(indir, indir / f'out_t{t}', t))
        for t in threads:
            results[n, t] = (median(s for s, _ in runs[t]), max(p for _, p in runs[t]))

    print(f'| images | -t | median time (s) | samples/s | peak RSS of the writer (MB) |')
    print('|---|---|---|---|---|')
    for (n, t), (seconds, peak) in sorted(results.items()):
        print(f'| {n} | {t} | {seconds:.2f} | {n / seconds:.0f} | {peak / 1e6:.0f} |')
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        for t in threads:
            marginal = (hi - lo) / (results[hi, t][0] - results[lo, t][0])
            print(f'\n-t {t}: {marginal:.0f} samples/s between {lo} and {hi} images '
                  f'(start-up excluded); peak memory {results[lo, t][1] / 1e6:.0f} MB '
                  f'-> {results[hi, t][1] / 1e6:.0f} MB', end='')
        print()
    print(f'\nmachine: {os.cpu_count()} CPUs, load average '
          f'{" ".join(f"{v:.2f}" for v in os.getloadavg())}, Python {sys.version.split()[0]}')


if __name__ == '__main__':
    main()
