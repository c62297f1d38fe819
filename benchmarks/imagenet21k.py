#!/usr/bin/env python3
"""
Benchmark of the ImageNet21k writer on a generated miniature
``winter21_whole.tar.gz``: ``--images`` JPEGs (default 3000 of 500x375
pixels, about 100 kB each like the real images, textured with noise so
that gzip compresses them as little as photos) in ``--synsets`` synset
tars (real WNIDs of the class list), laid out like the real archive,
gzip-compressed (level 6).

Prints, for each gzip decompressor available (Python's zlib, and
``igzip`` / ``pigz`` if they are on ``PATH``):

- images/s (and MB/s of the archive's tar data) of the writer with
  ``-t 1`` and ``-t 2``: the time of ``ImageNet21k_write.main`` in a fresh
  process, after its imports (median of ``--repeat`` runs, alternating);
- the time decompression alone takes (reading the decompressed stream to
  its end, as the writer reads it: zlib in this process, or the program's
  output through a pipe), and its share of the writer's time with ``-t 1``;
- the time reading alone takes (decompressing and parsing the tars,
  reading every image, no conversion or writing).

With zlib, decompression runs in the writer's reading thread and its
share is time taken away from everything else; with a program it runs in
another process, in parallel, and its share says how close it is to being
the bottleneck.

Usage::

    python benchmarks/imagenet21k.py
    python benchmarks/imagenet21k.py --images 2000 --repeat 5 --size 200 150
"""
from pathlib import Path
from statistics import median
import argparse
import gzip
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = 'winter21_whole.tar.gz'


def make_archive(path, images, synsets, size=(500, 375), seed=0):
    """Write a miniature archive; returns the size of its tar data in bytes."""
    from PIL import Image
    from datadings_like.sets import ImageNet21k

    rng = np.random.default_rng(seed)
    wnids = ImageNet21k.SYNSET_LIST[::max(1, len(ImageNet21k.SYNSET_LIST) // synsets)][:synsets]
    per = [images // synsets + (i < images % synsets) for i in range(synsets)]
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode='w') as tar:
        for wnid, count in zip(wnids, per):
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode='w') as t:
                for n in rng.permutation(count) + 1:
                    f = rng.uniform(0.02, 0.2, 3)
                    base = 128 + 80 * np.sin(x[..., None] * f + y[..., None] * f[::-1])
                    noise = rng.normal(0, 12, (h, w, 3))
                    pixels = (base + noise).clip(0, 255).astype(np.uint8)
                    bio = io.BytesIO()
                    Image.fromarray(pixels).save(bio, 'JPEG', quality=90)
                    data = bio.getvalue()
                    info = tarfile.TarInfo(f'{wnid}_{n}.JPEG')
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
            info = tarfile.TarInfo(f'winter21_whole/{wnid}.tar')
            info.size = inner.tell()
            inner.seek(0)
            tar.addfile(info, inner)
    raw = outer.getvalue()
    with open(path, 'wb') as f:
        f.write(gzip.compress(raw, compresslevel=6, mtime=0))
    return len(raw)


def decompressors():
    found = [('zlib (python)', 'python')]
    for name in ('igzip', 'pigz'):
        if shutil.which(name):
            found.append((name, name))
    return found


def time_decompression(path, choice):
    """Seconds to read the whole decompressed stream, as the writer reads it."""
    from datadings_like.sets.shards import READ_SIZE
    start = time.perf_counter()
    if choice == 'python':
        with open(path, 'rb') as raw, gzip.GzipFile(fileobj=raw) as f:
            while f.read(READ_SIZE):
                pass
    else:
        with open(path, 'rb') as f:
            proc = subprocess.Popen([shutil.which(choice), '-dc'], stdin=f,
                                    stdout=subprocess.PIPE, bufsize=0)
            while proc.stdout.read(READ_SIZE):
                pass
            proc.wait()
    return time.perf_counter() - start


def time_reading(path, choice):
    """Seconds to decompress and parse everything, reading every image."""
    from datadings_like.sets.ImageNet21k import SYNSETS
    from datadings_like.sets.ImageNet21k_write import SynsetReader
    start = time.perf_counter()
    n = sum(len(images) for *_, images in SynsetReader(path, SYNSETS, decompressor=choice))
    return time.perf_counter() - start, n


CHILD = '''
import sys, time
from datadings_like.sets import ImageNet21k_write
from datadings_like.sets import ImageNet21k
ImageNet21k.SYNSETS  # the class list is loaded before the clock starts
start = time.perf_counter()
ImageNet21k_write.main(sys.argv[1:])
print(time.perf_counter() - start)
'''


def time_writer(indir, outdir, threads, choice):
    env = {**os.environ, 'DATADINGS_LIKE_GUNZIP': choice}
    proc = subprocess.run(
        [sys.executable, '-c', CHILD, '-s', '-y', '-q', '-t', str(threads),
         '-o', str(outdir), str(indir)],
        capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    shutil.rmtree(outdir)
    return float(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=3000)
    parser.add_argument('--synsets', type=int, default=30)
    parser.add_argument('--size', type=int, nargs=2, default=(500, 375), metavar=('W', 'H'))
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--data-dir', default=str(ROOT / 'benchmarks' / '_data' / 'imagenet21k'))
    args = parser.parse_args()

    indir = Path(args.data_dir) / f'{args.images}-{args.synsets}-{args.size[0]}x{args.size[1]}'
    indir.mkdir(parents=True, exist_ok=True)
    path = indir / ARCHIVE
    size_file = indir / 'tar-bytes.txt'
    if not path.exists() or not size_file.exists():
        print(f'making {path} ...', file=sys.stderr)
        size_file.write_text(str(make_archive(path, args.images, args.synsets, args.size)))
    tar_bytes = int(size_file.read_text())
    gz_bytes = path.stat().st_size

    rows = []
    with tempfile.TemporaryDirectory(prefix='in21k-bench-') as tmp:
        for label, choice in decompressors():
            times = {1: [], 2: []}
            decompress, read = [], []
            for r in range(args.repeat):
                for threads in ((1, 2) if r % 2 == 0 else (2, 1)):
                    times[threads].append(time_writer(indir, Path(tmp) / 'out', threads, choice))
                decompress.append(time_decompression(path, choice))
                seconds, n = time_reading(path, choice)
                assert n == args.images, n
                read.append(seconds)
            rows.append((label, median(times[1]), median(times[2]), median(decompress),
                         median(read)))

    n = args.images
    print(f'ImageNet21k writer: {n} images of {args.size[0]}x{args.size[1]} in {args.synsets} synsets, '
          f'{tar_bytes / 1e6:.1f} MB of tars, {gz_bytes / 1e6:.1f} MB gzip; '
          f'median of {args.repeat}')
    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} CPUs, Python {platform.python_version()}, '
          f'load average {os.getloadavg()[0]:.1f}')
    header = ('decompressor', '-t 1 images/s', '-t 2 images/s', 'decompression alone',
              'share of -t 1 time', 'reading alone')
    print(' | '.join(header))
    print(' | '.join('---' for _ in header))
    for label, t1, t2, dec, read in rows:
        print(f'{label} | {n / t1:.0f} ({tar_bytes / t1 / 1e6:.0f} MB/s) | '
              f'{n / t2:.0f} ({tar_bytes / t2 / 1e6:.0f} MB/s) | '
              f'{dec:.2f} s ({tar_bytes / dec / 1e6:.0f} MB/s) | {dec / t1:.0%} | '
              f'{read:.2f} s ({n / read:.0f} images/s)')


if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))
    main()
