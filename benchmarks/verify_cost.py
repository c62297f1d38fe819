#!/usr/bin/env python3
"""
What checking the inputs against their .md5 files costs the copying tools.

``datadings-shuffle``, ``-merge``, ``-split`` and ``-sample`` hash their
inputs while they copy them (issue 9, item 11). This script times each tool
function with verification (the default) and with ``--no-verify``
(``verify=False``) in the same run, alternating the two, every run in a
fresh process, and prints the median times and their ratio, for the wall
clock and for the CPU time of the process (all its threads; steadier than
the wall clock on a busy machine)::

    python benchmarks/verify_cost.py             # full sizes (benchmarks/_data/full)
    python benchmarks/verify_cost.py --quick     # smoke run
    python benchmarks/verify_cost.py --repeat 7 --only shuffle_small,merge_small

The datasets are those of ``compare.py`` (made once, then reused). Times are
measured inside the process: interpreter start and imports are excluded,
opening the input and committing the output are included.
"""
from pathlib import Path
from statistics import median
from time import perf_counter
from time import process_time
import argparse
import json
import os
import subprocess
import sys

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _ops  # noqa: E402


def _quiet():
    # progress bars and messages of the tools go nowhere
    devnull = open(os.devnull, 'w')
    sys.stderr = sys.stdout = devnull


def _shuffle(data_dir, out, verify, name):
    from argparse import Namespace
    from datadings_like.commands.shuffle import shuffle
    args = Namespace(seed=1, no_confirm=True, quiet=True, verify=verify)
    shuffle(str(data_dir / f'{name}.msgpack'), str(out), args)


def op_shuffle_small(data_dir, out, verify):
    """datadings-shuffle (quasi shuffle), small samples: a separate pass in a thread."""
    _shuffle(data_dir, out, verify, 'small')


def op_shuffle_large(data_dir, out, verify):
    """datadings-shuffle (quasi shuffle), 100 kB samples: a separate pass in a thread."""
    _shuffle(data_dir, out, verify, 'large')


def op_merge_small(data_dir, out, verify):
    """datadings-merge -s concat of the two halves of small: hashed as the bytes pass."""
    from datadings_like.commands.merge import merge_concat
    merge_concat([str(data_dir / 'small_a.msgpack'), str(data_dir / 'small_b.msgpack')],
                 str(out), False, overwrite=True, quiet=True, verify=verify)


def op_merge_random_small(data_dir, out, verify):
    """datadings-merge -s random of the two halves: hashed as the bytes pass."""
    from datadings_like.commands.merge import merge_random
    merge_random([str(data_dir / 'small_a.msgpack'), str(data_dir / 'small_b.msgpack')],
                 str(out), False, overwrite=True, quiet=True, seed=1, verify=verify)


def op_split_small(data_dir, out, verify):
    """datadings-split of small in two halves: hashed as the bytes pass."""
    from datadings_like.commands.split import split_dataset
    path = data_dir / 'small.msgpack'
    n = _ops.dataset_len(data_dir, 'small')
    split_dataset(str(path), [str(out), str(out.with_name('verify-cost-2.msgpack'))],
                  [n // 2], True, quiet=True, verify=verify)


def op_sample_small(data_dir, out, verify):
    """datadings-sample -s random, 1000 of small: the whole input is hashed."""
    from datadings_like.commands.sample import sample
    sample(str(data_dir / 'small.msgpack'), str(out), 1000, 'random',
           overwrite=True, seed=1, quiet=True, verify=verify)


OPS = {
    'shuffle_small': (op_shuffle_small, ['small']),
    'merge_small': (op_merge_small, ['small']),
    'merge_random_small': (op_merge_random_small, ['small']),
    'split_small': (op_split_small, ['small']),
    'sample_small': (op_sample_small, ['small']),
    'shuffle_large': (op_shuffle_large, ['large']),
}


def _remove_outputs(out):
    for path in out.parent.glob('verify-cost-*'):
        path.unlink()


def child(op, verify, data_dir):
    """Run one operation once in this process; print its time as JSON."""
    data_dir = Path(data_dir)
    out = data_dir / 'tmp' / 'verify-cost-1.msgpack'
    out.parent.mkdir(exist_ok=True)
    _remove_outputs(out)
    func = OPS[op][0]
    stdout = sys.stdout
    _quiet()
    c0, t0 = process_time(), perf_counter()
    func(data_dir, out, verify)
    seconds, cpu = perf_counter() - t0, process_time() - c0
    _remove_outputs(out)
    print(json.dumps({'seconds': seconds, 'cpu': cpu}), file=stdout)


def _run(op, verify, data_dir):
    proc = subprocess.run(
        [sys.executable, __file__, '--child', op, '1' if verify else '0', str(data_dir)],
        capture_output=True, text=True,
    )
    if proc.returncode:
        raise RuntimeError(f'{op} (verify={verify}) failed:\n{proc.stderr}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fmt(seconds):
    return f'{seconds * 1000:.0f} ms' if seconds < 10 else f'{seconds:.1f} s'


def main(argv=None):
    """Measure every operation with and without verification; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='small sizes, 2 repetitions')
    parser.add_argument('--repeat', type=int, default=None, help='repetitions (default 5)')
    parser.add_argument('--data-dir', default=str(HERE / '_data'),
                        help='where the datasets are made once (default: benchmarks/_data)')
    parser.add_argument('--only', default=None, help='comma-separated operations: ' + ', '.join(OPS))
    parser.add_argument('--child', nargs=3, metavar=('OP', 'VERIFY', 'DATADIR'),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        op, verify, data_dir = args.child
        child(op, verify == '1', data_dir)
        return
    mode = 'quick' if args.quick else 'full'
    repeat = args.repeat or (2 if args.quick else 5)
    ops = args.only.split(',') if args.only else list(OPS)
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        parser.error(f'unknown operation(s): {", ".join(unknown)}')
    data_dir = Path(args.data_dir) / mode
    _ops.ensure_data(data_dir, mode, sorted({d for op in ops for d in OPS[op][1]}))
    print(f'# cost of checking the inputs against their .md5 ({mode}, {repeat} alternating '
          f'repetitions, median; load average {os.getloadavg()[0]:.2f})')
    print(f'{"operation":<20} {"verified":>9} {"--no-verify":>11} {"ratio":>6}'
          f' {"cpu verified":>12} {"--no-verify":>11} {"ratio":>6}  what')
    for op in ops:
        runs = {True: [], False: []}
        for i in range(repeat):
            for verify in ((True, False) if i % 2 == 0 else (False, True)):
                runs[verify].append(_run(op, verify, data_dir))
        on, off = (median(r['seconds'] for r in runs[v]) for v in (True, False))
        con, coff = (median(r['cpu'] for r in runs[v]) for v in (True, False))
        doc = OPS[op][0].__doc__.strip()
        print(f'{op:<20} {_fmt(on):>9} {_fmt(off):>11} {on / off:>5.2f}x'
              f' {_fmt(con):>12} {_fmt(coff):>11} {con / coff:>5.2f}x  {doc}')
    print(f'# load average at the end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
