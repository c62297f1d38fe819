"""
Instruction counts of the issue-14 operations under valgrind's callgrind:
datadings_like against datadings 3.4.7, on the data of ``compare.py``.

On a shared machine the wall-clock ratios of ``compare.py`` move by 20-40 %
between runs (CPU steal). The number of instructions an operation executes
does not: it is the same in every run, so it shows what a change saves, and
the ratio of the two packages' counts is the ratio of their CPU work. It
does not show memory stalls, page faults or I/O, which is why
``compare.py``'s times stay the figures of record.

Every (package, operation) runs twice in fresh processes: once with the
operation's setup only (imports, input generation), once with the setup and
the operation; the difference is the operation's count. The writer's
helper process (used at 100 000 keys and more) is counted apart: its work
runs beside the writer's, not on its path.

Usage::

    python benchmarks/instructions.py --reference /tmp/ref/bin/python
    python benchmarks/instructions.py --only write_small,contains_small --quick

Needs ``valgrind`` (``apt-get install valgrind``) and the data that
``compare.py`` made in ``--data-dir`` (run ``compare.py --quick`` or a full
run once first). ``--quick`` uses the 30k-sample data (about 2 minutes);
the default uses the 300k-sample data of the full run (about 30 minutes).
"""
from pathlib import Path
import argparse
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _ops  # noqa: E402

PER_SAMPLE_OPS = {
    # name: (what, how many units the count is divided by)
    'write_small': ('write 300k small samples (FileWriter, close included)', 'samples'),
    'iter_raw_small': ('open + sequential raw iteration, small', 'samples'),
    'iter_decoded_small': ('open + sequential decoded iteration, small', 'samples'),
    'random_get_small': ('open + random get(), small', 'gets'),
    'contains_small': ('open + "key in reader", half absent', 'lookups'),
    'shuffler_raw_small': ('open + Shuffler raw iteration, small', 'samples'),
    'quasi_shuffler_raw_small': ('open + QuasiShuffler raw iteration, small', 'samples'),
    'open_find_index_small': ('open + first find_index, small', 'call'),
}

_COLLECTED = re.compile(r'==(\d+)== Collected : (\d+)')


# ------------------------------------------------------- inside the process

def _setup_and_run(pkg, op, data_dir):
    """``(run, cleanup)``: the operation on the inputs made here, and what to
    remove afterwards (or None)."""
    import numpy as np
    data_dir = Path(data_dir)
    small = data_dir / 'small.msgpack'
    n = _ops.dataset_len(data_dir, 'small')
    mode = _ops._mode(data_dir)
    reader_class = _ops._reader(pkg)
    if op == 'write_small':
        samples = _ops.small_samples(n)
        FileWriter = _ops._attr(pkg, 'writer', 'FileWriter')
        out = data_dir / 'tmp' / f'instructions-{pkg}.msgpack'
        out.parent.mkdir(exist_ok=True)
        _ops._cleanup(out)

        def run():
            with FileWriter(out, overwrite=True, disable=True) as writer:
                for sample in samples:
                    writer.write(sample)
        return run, lambda: _ops._cleanup(out)
    if op in ('iter_raw_small', 'iter_decoded_small'):
        raw = op == 'iter_raw_small'
        return lambda: _ops._consume(reader_class(small).iter(raw=raw)), None
    if op == 'random_get_small':
        count = _ops.RANDOM_GETS[mode]
        indices = np.random.default_rng(_ops.SEED).integers(0, n, count).tolist()

        def run():
            get = reader_class(small).get
            for i in indices:
                get(i)
        return run, None
    if op == 'contains_small':
        count = _ops.CONTAINS_LOOKUPS[mode]
        rng = np.random.default_rng(_ops.SEED + 3)
        present = [f'sample{i:09d}' for i in rng.integers(0, n, count // 2).tolist()]
        absent = [f'missing{i:09d}' for i in range(count - count // 2)]
        keys = [k for pair in zip(present, absent) for k in pair]

        def run():
            reader = reader_class(small)
            return sum(1 for key in keys if key in reader)
        return run, None
    if op in ('shuffler_raw_small', 'quasi_shuffler_raw_small'):
        name = 'Shuffler' if op == 'shuffler_raw_small' else 'QuasiShuffler'
        augment = _ops._attr(pkg, 'reader', name)
        return lambda: _ops._consume(augment(reader_class(small)).iter(raw=True)), None
    if op == 'open_find_index_small':
        key = f'sample{n * 2 // 3:09d}'
        return lambda: reader_class(small).find_index(key), None
    raise SystemExit(f'unknown operation {op}')


def _child_main(pkg, op, data_dir, phase):
    run, cleanup = _setup_and_run(pkg, op, data_dir)
    if phase == 'run':
        run()
    if cleanup is not None:
        cleanup()


# ------------------------------------------------------------ the driver

def _count(python, pkg, op, data_dir, phase):
    """Instructions of the main process and of its children, one phase."""
    with tempfile.TemporaryDirectory(prefix='instructions-') as logs:
        # one log per process: a child may have its stderr closed or redirected
        cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=/dev/null',
               '--trace-children=yes', f'--log-file={logs}/%p.log',
               python, __file__, '--child', pkg, op, str(data_dir), phase]
        env = dict(os.environ, PYTHONHASHSEED='0')
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        _, stderr = proc.communicate()
        counts = []
        for log in Path(logs).glob('*.log'):
            counts.extend((int(pid), int(n)) for pid, n in _COLLECTED.findall(log.read_text()))
    if proc.returncode != 0 or not counts:
        tail = stderr.decode(errors='replace').strip().splitlines()[-3:]
        raise RuntimeError(f'{pkg} {op} {phase}: exit {proc.returncode}: ' + ' | '.join(tail))
    # valgrind runs the program in its own process: proc.pid is the main one
    main = sum(n for pid, n in counts if pid == proc.pid)
    children = sum(n for pid, n in counts if pid != proc.pid)
    return main, children


def measure(python, pkg, op, data_dir):
    """(instructions of the operation in its own process, in helper processes)."""
    with ThreadPoolExecutor(2) as pool:
        setup = pool.submit(_count, python, pkg, op, data_dir, 'setup')
        full = pool.submit(_count, python, pkg, op, data_dir, 'run')
        (m0, c0), (m1, c1) = setup.result(), full.result()
    return m1 - m0, c1 - c0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--reference', default=os.environ.get('DATADINGS_REFERENCE_PYTHON'),
                        help='interpreter with datadings==3.4.7 (default: '
                             '$DATADINGS_REFERENCE_PYTHON)')
    parser.add_argument('--data-dir', default=str(HERE / '_data'),
                        help='where compare.py made its data (default: benchmarks/_data)')
    parser.add_argument('--quick', action='store_true', help='the 30k-sample data')
    parser.add_argument('--only', metavar='OP[,OP]', help='these operations only')
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir) / ('quick' if args.quick else 'full')
    if not (data_dir / 'small.msgpack').exists():
        parser.error(f'{data_dir}: no data; run benchmarks/compare.py'
                     f'{" --quick" if args.quick else ""} once first')
    ops = args.only.split(',') if args.only else list(PER_SAMPLE_OPS)
    unknown = [op for op in ops if op not in PER_SAMPLE_OPS]
    if unknown:
        parser.error(f'unknown operation(s) {", ".join(unknown)}; '
                     f'choose from {", ".join(PER_SAMPLE_OPS)}')
    n = _ops.dataset_len(data_dir, 'small')
    print(f'instructions (callgrind), data {data_dir} ({n} small samples); '
          f'ratio = datadings 3.4.7 / datadings_like')
    header = f'{"operation":55s} {"unit":>8s} {"ours":>10s} {"helper":>8s} {"ref":>10s} {"ratio":>7s}'
    print(header)
    print('-' * len(header))
    for op in ops:
        what, unit = PER_SAMPLE_OPS[op]
        units = _units(op, data_dir)
        ours, helper = measure(sys.executable, 'datadings_like', op, data_dir)
        line = f'{what:55s} {unit:>8s} {ours / units:10.0f} {helper / units:8.0f}'
        if args.reference:
            try:
                ref, ref_helper = measure(args.reference, 'datadings', op, data_dir)
            except RuntimeError as exc:
                line += f' {"crashed":>10s}   ({exc})'
            else:
                line += f' {(ref + ref_helper) / units:10.0f} {ref / ours:6.2f}×'
        print(line, flush=True)
    print('\nCounts per unit; "helper": the writer\'s key-hashing process, beside the '
          'writer; ratio: the reference\'s total over ours in the measured process.')


def _units(op, data_dir):
    n = _ops.dataset_len(data_dir, 'small')
    mode = _ops._mode(data_dir)
    if op == 'random_get_small':
        return _ops.RANDOM_GETS[mode]
    if op == 'contains_small':
        return _ops.CONTAINS_LOOKUPS[mode]
    if op == 'open_find_index_small':
        return 1
    return n


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child':
        _child_main(*sys.argv[2:6])
    else:
        main()
