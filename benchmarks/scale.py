#!/usr/bin/env python3
"""
Scale benchmark (issue 14): do the costs per sample stay flat as a dataset
grows from 100k to 10M small samples?

For each size it writes a dataset of small samples (key, 64-byte image,
label, two ints: the samples of ``compare.py``) with ``FileWriter`` and
then, in a fresh process per measurement:

- open + first ``find_index`` (ms): must not grow with the sample count
  (nothing is loaded that is proportional to it, no dict of all keys);
- random ``get`` (µs per call, 20k calls over the whole file);
- the reader's resident memory (RSS) after open + ``find_index`` and after
  the random gets, against the process before opening.

Usage::

    python benchmarks/scale.py                         # 100k, 1M, 10M
    python benchmarks/scale.py --sizes 100000,1000000  # fewer
    python benchmarks/scale.py --keep                  # keep the files

The datasets go to ``--dir`` (default: a temporary directory; 10M samples
need about 1.5 GB) and are removed afterwards unless ``--keep``.
Optionally ``--reference PYTHON`` (a venv with datadings 3.4.7) runs the
read measurements with datadings too, on the same files.
"""
from pathlib import Path
from statistics import median
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

IMAGE_BYTES = 64
GETS = 20_000
SEED = 20261202

READ_SCRIPT = r'''
import json, os, sys, time
pkg, path, n, gets = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

import importlib
import numpy as np
MsgpackReader = importlib.import_module(pkg + '.reader').MsgpackReader
indices = np.random.default_rng(int(sys.argv[5])).integers(0, n, gets).tolist()
key = f'sample{n * 2 // 3:010d}'
base = rss()
t0 = time.perf_counter()
reader = MsgpackReader(path)
index = reader.find_index(key)
t1 = time.perf_counter()
assert index == n * 2 // 3, index
after_open = rss()
get = reader.get
t2 = time.perf_counter()
for i in indices:
    get(i)
t3 = time.perf_counter()
print(json.dumps({'open_find_s': t1 - t0, 'get_s': (t3 - t2) / gets,
                  'rss_open': after_open - base, 'rss_gets': rss() - base}))
'''


def samples(n):
    """The small samples of compare.py, made on the fly (constant memory)."""
    import numpy as np
    rng = np.random.default_rng(SEED)
    pool = rng.bytes(IMAGE_BYTES * 4096 + IMAGE_BYTES)
    block = 65536
    for start in range(0, n, block):
        stop = min(n, start + block)
        labels = rng.integers(0, 1000, stop - start).tolist()
        xs = rng.integers(0, 2 ** 31, stop - start).tolist()
        offsets = rng.integers(0, 4096 * IMAGE_BYTES, stop - start).tolist()
        for j, i in enumerate(range(start, stop)):
            o = offsets[j]
            yield {'key': f'sample{i:010d}', 'image': pool[o:o + IMAGE_BYTES],
                   'label': labels[j], 'x': xs[j], 'y': xs[j] ^ 0x5555}


def write(path, n):
    from datadings_like.writer import FileWriter
    it = samples(n)
    t0 = time.perf_counter()
    with FileWriter(path, overwrite=True, disable=True) as writer:
        write = writer.write
        for sample in it:
            write(sample)
    return time.perf_counter() - t0


def read(python, pkg, path, n, repeat):
    runs = []
    for r in range(repeat):
        proc = subprocess.run([python, '-c', READ_SCRIPT, pkg, str(path), str(n), str(GETS),
                               str(SEED + r)], capture_output=True, text=True, timeout=900,
                              stdin=subprocess.DEVNULL)
        if proc.returncode:
            tail = ' | '.join(proc.stderr.strip().splitlines()[-2:])
            return {'error': f'exit {proc.returncode}: {tail}'}
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {k: median(run[k] for run in runs) for k in runs[0]}


def fmt_bytes(b):
    for unit in ('B', 'kB', 'MB', 'GB'):
        if abs(b) < 1000:
            return f'{b:.0f} {unit}'
        b /= 1000
    return f'{b:.1f} TB'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sizes', default='100000,1000000,10000000',
                   help='sample counts, comma-separated (default: 100k, 1M, 10M)')
    p.add_argument('--dir', help='where the datasets are written (default: a temporary directory)')
    p.add_argument('--keep', action='store_true', help='keep the datasets')
    p.add_argument('--repeat', type=int, default=3, help='fresh processes per read measurement')
    p.add_argument('--reference', metavar='PYTHON',
                   default=os.environ.get('DATADINGS_REFERENCE_PYTHON'),
                   help='a Python with datadings==3.4.7: its reads are measured too')
    p.add_argument('--json', metavar='FILE', help='also write the results as JSON')
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(',')]
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix='ddl-scale-'))
    base.mkdir(parents=True, exist_ok=True)
    print(f'Python {platform.python_version()}, {os.cpu_count()} CPUs, '
          f'load {os.getloadavg()[0]:.2f}; datasets in {base}', file=sys.stderr)
    rows = []
    try:
        for n in sizes:
            path = base / f'scale-{n}.msgpack'
            print(f'writing {n} samples ...', file=sys.stderr)
            seconds = write(path, n)
            size = path.stat().st_size
            row = {'n': n, 'write_us': seconds / n * 1e6, 'bytes': size,
                   'ours': read(sys.executable, 'datadings_like', path, n, args.repeat)}
            if args.reference:
                row['datadings'] = read(args.reference, 'datadings', path, n, args.repeat)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
            if not args.keep:
                for f in base.glob(path.name + '*'):
                    f.unlink()
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    impls = ['ours'] + (['datadings'] if args.reference else [])
    names = {'ours': 'datadings_like', 'datadings': 'datadings 3.4.7'}
    print('| samples | data | write µs/sample | reader | open + find_index | random get '
          '| RSS after open | RSS after 20k gets |')
    print('|---|---|---|---|---|---|---|---|')
    for row in rows:
        for impl in impls:
            r = row[impl]
            if 'error' in r:
                print(f"| {row['n']:,} | | | {names[impl]} | {r['error']} | | | |")
                continue
            write_us = f"{row['write_us']:.2f}" if impl == 'ours' else ''
            print(f"| {row['n']:,} | {fmt_bytes(row['bytes'])} | {write_us} | {names[impl]} "
                  f"| {r['open_find_s'] * 1e3:.2f} ms | {r['get_s'] * 1e6:.2f} µs "
                  f"| {fmt_bytes(r['rss_open'])} | {fmt_bytes(r['rss_gets'])} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
