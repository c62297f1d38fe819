#!/usr/bin/env python3
"""
Benchmark suite: datadings_like against datadings 3.4.7 and the hardware.

Runs every operation of ``_ops.py`` in a fresh process per
(implementation, operation, repetition), alternating datadings_like and the
reference, and prints the median time of each, the ratio reference/ours,
the target and PASS/MISS, plus the ceilings (mmap slicing, bare
``msgpack.unpackb`` loop, ``read()`` of the file) measured in the same run.

Usage::

    python benchmarks/compare.py --reference /path/to/venv/bin/python
    python benchmarks/compare.py --quick            # smoke run, small sizes
    python benchmarks/compare.py --only iter_raw_small,random_get_small
    python benchmarks/compare.py --markdown benchmarks/RESULTS.md \\
        --rst docs/extra/performance.rst

The reference interpreter must have ``datadings==3.4.7`` installed (a venv
outside the project); default: environment variable
``DATADINGS_REFERENCE_PYTHON``. Without it only datadings_like and the
ceilings are measured.
"""
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timezone
from pathlib import Path
from statistics import median
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _ops  # noqa: E402

OPS_PY = str(HERE / '_ops.py')
OURS = 'datadings_like'
REF = 'datadings'
REF_VERSION = '3.4.7'
TABLE_START = 'benchmark-table-start'
TABLE_END = 'benchmark-table-end'


@dataclass
class Op:
    name: str
    label: str
    data: str            # dataset it needs: small, large, jpeg
    target: float = None  # minimum ratio (reference time / our time)
    throughput: bool = False  # report samples/s, ratio ours/ref
    cli: bool = False
    ceilings: tuple = ()  # measured alongside, in the same repetitions
    note: str = ''


@dataclass
class Ceiling:
    name: str
    label: str
    what: str
    data: str
    bounds: str = None   # operation it bounds
    limit: float = None  # maximum ratio our time / ceiling time


CEILINGS = [
    Ceiling('ceil_mmap_small', 'mmap sliced into memoryviews', 'raw limit', 'small',
            'iter_raw_small', 2.0),
    Ceiling('ceil_read_small', 'read() of the whole file in 1 MiB blocks', 'bandwidth limit', 'small',
            'iter_raw_small'),
    Ceiling('ceil_unpackb_small', 'bare msgpack.unpackb loop over the slices', 'decode limit',
            'small', 'iter_decoded_small', 1.5),
    Ceiling('ceil_unpacker_small', 'one msgpack.Unpacker over the whole file', 'streaming decode',
            'small', 'iter_decoded_small'),
    Ceiling('ceil_unpackb_large', 'bare msgpack.unpackb loop over the slices', 'decode limit',
            'large', 'iter_decoded_large'),
    Ceiling('ceil_read_large', 'read() of the whole file in 1 MiB blocks', 'bandwidth limit', 'large',
            'iter_decoded_large'),
    Ceiling('ceil_md5_large', 'hashlib.md5 of the file, in memory', 'hash limit', 'large',
            'write_large'),
    Ceiling('ceil_random_unpackb_small', 'bare unpackb of the same random slices', 'decode limit',
            'small', 'random_get_small'),
    Ceiling('ceil_contains_hash_small', 'one salted blake2s + dict lookup per key',
            'hash limit', 'small', 'contains_small'),
    Ceiling('ceil_loader_list_e1', 'the same DataLoader over an in-memory list, epoch 1',
            'in-memory loader', 'small', 'loader_small_e1', 1 / 0.9),
    Ceiling('ceil_loader_list_e2', 'the same DataLoader over an in-memory list, epoch 2',
            'in-memory loader', 'small', 'loader_small_e2', 1 / 0.9),
]
CEILING_BY_NAME = {c.name: c for c in CEILINGS}


def operations(mode):
    sizes = _ops.SIZES[mode]
    small = _fmt_count(sizes['small'])
    large = _fmt_count(sizes['large'])
    gets = _fmt_count(_ops.RANDOM_GETS[mode])
    lookups = _fmt_count(_ops.CONTAINS_LOOKUPS[mode])
    jpeg = _fmt_count(sizes['jpeg'])
    return [
        # targets: issue 14 (speed, round 2)
        Op('write_small', f'write {small} small samples (FileWriter)', 'small', 2.5),
        Op('write_large', f'write {large} large samples (100 kB, FileWriter)', 'large',
           ceilings=('ceil_md5_large',)),
        Op('iter_raw_small', f'sequential raw iteration, small ({small})', 'small', 3.0,
           ceilings=('ceil_mmap_small', 'ceil_read_small')),
        Op('iter_decoded_small', f'sequential decoded iteration, small ({small})', 'small', 2.5,
           ceilings=('ceil_unpackb_small', 'ceil_unpacker_small')),
        Op('iter_decoded_large', f'sequential decoded iteration, large ({large} x 100 kB)',
           'large', 1.0, ceilings=('ceil_unpackb_large', 'ceil_read_large')),
        Op('iter_decoded_large_nocopy', f'sequential decoded, large ({large} x 100 kB), copy=False',
           'large', 2.0),
        Op('random_get_small', f'{gets} random get(), small', 'small', 2.5,
           ceilings=('ceil_random_unpackb_small',)),
        Op('open_find_index_small', 'open + first find_index, small', 'small', 20.0),
        Op('contains_small', f'{lookups} x "key in reader" (half absent), small', 'small', 2.0,
           ceilings=('ceil_contains_hash_small',)),
        Op('shuffler_raw_small', f'Shuffler raw iteration, small ({small})', 'small', 4.0),
        Op('quasi_shuffler_raw_small', f'QuasiShuffler raw iteration, small ({small})',
           'small', 3.0),
        Op('cli_shuffle_small', 'datadings-shuffle, small (whole command*)', 'small', cli=True),
        Op('cli_merge_small', 'datadings-merge -s concat, 2 halves of small (whole command*)',
           'small', cli=True),
        Op('merge_function_small', 'merge_concat() of the merge tool, in-process', 'small'),
        Op('loader_jpeg', f'torch IterableDataset + DataLoader, {jpeg} 64x64 JPEG '
           '(2 workers, batch 256)', 'jpeg', throughput=True),
        Op('loader_small_e1', f'torch IterableDataset + DataLoader, small ({small}), epoch 1 '
           '(2 workers, batch 256, workers started)', 'small', 1.5, throughput=True,
           ceilings=('ceil_loader_list_e1',)),
        Op('loader_small_e2', f'torch IterableDataset + DataLoader, small ({small}), epoch 2',
           'small', 1.5, throughput=True, ceilings=('ceil_loader_list_e2',)),
    ]


# ------------------------------------------------------------ formatting

def _fmt_count(n):
    if n >= 1000 and n % 1000 == 0:
        return f'{n // 1000}k'
    return str(n)


def fmt_time(t):
    if t is None:
        return '—'
    if t < 1e-3:
        return f'{t * 1e6:.0f} µs'
    if t < 1:
        return f'{t * 1e3:.3g} ms'
    return f'{t:.3g} s'


def fmt_rate(r):
    if r is None:
        return '—'
    if r >= 1e6:
        return f'{r / 1e6:.3g} M/s'
    if r >= 1e3:
        return f'{r / 1e3:.3g} k/s'
    return f'{r:.3g} /s'


def fmt_ratio(r):
    # truncated, not rounded: a ratio shown as 3.00x never misses a 3.0 target
    return '—' if r is None else f'{math.floor(r * 100) / 100:.2f}×'


# ------------------------------------------------------------- running

def run_op(python, pkg, op, data_dir, timeout=900):
    """One fresh process; returns the result dict of _ops.run."""
    cmd = [python, OPS_PY, pkg, op, str(data_dir)]
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, cwd=str(HERE))
    except subprocess.TimeoutExpired:
        return {'status': 'crashed', 'detail': f'timeout after {timeout} s'}
    return _ops.worker_result(proc)


@dataclass
class Series:
    """Results of one implementation (or ceiling) for one operation."""
    runs: list = field(default_factory=list)

    @property
    def status(self):
        if not self.runs:
            return 'not run'
        for r in self.runs:
            if r['status'] != 'ok':
                return r['status']
        return 'ok'

    @property
    def detail(self):
        for r in self.runs:
            if r['status'] != 'ok':
                return r.get('detail', '')
        return ''

    @property
    def times(self):
        return [r['seconds'] for r in self.runs if r['status'] == 'ok']

    @property
    def median(self):
        t = self.times
        return median(t) if t and self.status == 'ok' else None

    @property
    def n(self):
        for r in self.runs:
            if r['status'] == 'ok':
                return r.get('n')
        return None

    def rate(self):
        m = self.median
        return None if m is None or not self.n else self.n / m

    def stop(self):
        """No point repeating a missing or crashed implementation."""
        return self.status in ('missing', 'crashed')


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def measure(ops, ceilings_alone, python_ours, python_ref, data_dir, repeat):
    """Alternate ours/reference per repetition; returns {name: {impl: Series}}."""
    results = {}
    for op in ops:
        series = {OURS: Series(), REF: Series()}
        for c in op.ceilings:
            series[c] = Series()
        results[op.name] = series
        for rep in range(repeat):
            order = [OURS, REF] if rep % 2 == 0 else [REF, OURS]
            # the ceilings bounding this operation, in the same repetition
            order += list(op.ceilings)
            line = []
            for impl in order:
                if impl == REF and python_ref is None:
                    continue
                s = series[impl]
                if s.stop():
                    continue
                if impl == OURS:
                    r = run_op(python_ours, OURS, op.name, data_dir)
                elif impl == REF:
                    r = run_op(python_ref, REF, op.name, data_dir)
                else:
                    r = run_op(python_ours, 'none', impl, data_dir)
                s.runs.append(r)
                if r['status'] == 'ok':
                    shown = fmt_rate(r['n'] / r['seconds']) if op.throughput and impl in (
                        OURS, REF) else fmt_time(r['seconds'])
                    if r.get('identical') is False:
                        shown += ' (output differs!)'
                else:
                    shown = f"{r['status']}: {r.get('detail', '')[:160]}"
                line.append(f'{impl}={shown}')
            log(f'  {op.name} [{rep + 1}/{repeat}] ' + '  '.join(line))
    for c in ceilings_alone:
        s = Series()
        results[c] = {c: s}
        for rep in range(repeat):
            s.runs.append(run_op(python_ours, 'none', c, data_dir))
            log(f'  {c} [{rep + 1}/{repeat}] {fmt_time(s.runs[-1].get("seconds"))}')
    return results


# ------------------------------------------------------------- analysis

def _pair_ratios(ours, ref, throughput):
    pairs = [(a, b) for a, b in zip(ours.runs, ref.runs)
             if a['status'] == 'ok' and b['status'] == 'ok']
    if throughput:
        return [a['seconds'] / b['seconds'] * (b['n'] / a['n']) for a, b in pairs]
    return [b['seconds'] / a['seconds'] for a, b in pairs]


def analyse(ops, results, have_ref):
    rows = []
    for op in ops:
        s = results.get(op.name)
        if s is None:
            continue
        ours, ref = s[OURS], s[REF]
        row = {'op': op.name, 'label': op.label, 'target': op.target,
               'throughput': op.throughput, 'cli': op.cli,
               'ours_status': ours.status, 'ref_status': ref.status if have_ref else 'no reference',
               'ours_detail': ours.detail, 'ref_detail': ref.detail,
               'ours': ours.median, 'ref': ref.median,
               'ours_rate': ours.rate(), 'ref_rate': ref.rate(),
               'ours_times': ours.times, 'ref_times': ref.times,
               'ratio': None, 'range': None, 'result': None,
               'identical': all(r.get('identical', True) for r in ours.runs + ref.runs)}
        if ours.status == 'ok' and ref.status == 'ok':
            if op.throughput:
                row['ratio'] = row['ours_rate'] / row['ref_rate']
            else:
                row['ratio'] = ref.median / ours.median
            pr = _pair_ratios(ours, ref, op.throughput)
            if pr:
                row['range'] = (min(pr), median(pr), max(pr))
            if op.target is not None:
                row['result'] = 'PASS' if row['ratio'] >= op.target else 'MISS'
        rows.append(row)
    return rows


def analyse_ceilings(results):
    rows = []
    for c in CEILINGS:
        s = None
        ours = None
        for name, series in results.items():
            if c.name in series:
                s = series[c.name]
                if name == c.bounds:
                    ours = series[OURS]
                break
        if s is None:
            continue
        row = {'name': c.name, 'label': c.label, 'what': c.what, 'data': c.data,
               'bounds': c.bounds, 'limit': c.limit, 'time': s.median,
               'status': s.status, 'detail': s.detail, 'times': s.times,
               'ours': None, 'factor': None, 'result': None,
               'bytes_per_s': None}
        if c.name.startswith('ceil_read') and s.median:
            row['bytes_per_s'] = s.n / s.median
        if ours is not None and ours.status == 'ok' and s.median:
            row['ours'] = ours.median
            row['factor'] = ours.median / s.median
            if c.limit is not None:
                row['result'] = 'PASS' if row['factor'] <= c.limit else 'MISS'
        rows.append(row)
    return rows


# ------------------------------------------------------------- machine

def _cpu_model():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram():
    try:
        for line in Path('/proc/meminfo').read_text().splitlines():
            if line.startswith('MemTotal'):
                return f'{int(line.split()[1]) / 1024 ** 2:.1f} GiB'
    except OSError:
        pass
    return '?'


_VERSIONS = r'''
import json, sys, importlib
out = {"python": sys.version.split()[0]}
for name in ("msgpack", "numpy", "torch", "PIL", "%s"):
    try:
        m = importlib.import_module(name)
        v = getattr(m, "__version__", None) or ".".join(map(str, getattr(m, "version", ())))
        if name == "datadings" and not v:
            from importlib.metadata import version
            v = version("datadings")
        out[name] = v
    except Exception:
        out[name] = None
print(json.dumps(out))
'''


def versions(python, pkg):
    try:
        proc = subprocess.run([python, '-c', _VERSIONS % pkg], capture_output=True,
                              timeout=120, cwd=str(HERE))
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except Exception as exc:  # noqa: BLE001
        return {'error': str(exc)}


def machine_info(python_ref):
    ours = versions(sys.executable, OURS)
    info = {
        'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'cpu': _cpu_model(),
        'cores': os.cpu_count(),
        'usable_cores': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
        'ram': _ram(),
        'os': platform.platform(),
        'loadavg_start': os.getloadavg(),
        'ours': ours,
        'ref': versions(python_ref, REF) if python_ref else None,
    }
    return info


def header_lines(info, sizes_desc, repeat, have_ref):
    o = info['ours']
    lines = [
        f"Run: {info['date']}, {repeat} alternating repetitions per operation, "
        'median of each, every run in a fresh process.',
        f"Machine: {info['cpu']}, {info['cores']} cores "
        f"({info['usable_cores']} usable), {info['ram']} RAM, {info['os']}; "
        f"load average at start {info['loadavg_start'][0]:.2f}, "
        f"at end {info.get('loadavg_end', (0,))[0]:.2f}.",
        f"datadings_like {o.get(OURS)}: Python {o.get('python')}, msgpack {o.get('msgpack')}, "
        f"numpy {o.get('numpy')}, torch {o.get('torch')}, Pillow {o.get('PIL')}.",
    ]
    if have_ref and info['ref']:
        r = info['ref']
        lines.append(
            f"Reference datadings {r.get(REF)}: Python {r.get('python')}, msgpack "
            f"{r.get('msgpack')}, numpy {r.get('numpy')}, torch {r.get('torch')}, "
            f"Pillow {r.get('PIL')}.")
    else:
        lines.append('No reference interpreter given: datadings 3.4.7 not measured.')
    lines.append(f'Data (written once with datadings_like, in the page cache): {sizes_desc}.')
    return lines


# ------------------------------------------------------------- tables

def main_table(rows, have_ref):
    head = ['Operation', f'datadings {REF_VERSION}', 'datadings_like', 'ours rate',
            'ratio ref/ours', 'pairs: median (min–max)', 'target', 'result']
    body = []
    for r in rows:
        tp = r['throughput']
        if r['ours_status'] == 'ok':
            ours = fmt_rate(r['ours_rate']) if tp else fmt_time(r['ours'])
            rate = fmt_rate(r['ours_rate'])
        elif r['ours_status'] == 'missing':
            ours, rate = 'n/a (missing)', '—'
        else:
            ours, rate = 'ours crashed', '—'
        if not have_ref:
            ref = '—'
        elif r['ref_status'] == 'ok':
            ref = fmt_rate(r['ref_rate']) if tp else fmt_time(r['ref'])
        elif r['ref_status'] == 'missing':
            ref = 'n/a (missing)'
        else:
            ref = 'ref crashed'
        if r['ratio'] is not None:
            ratio = fmt_ratio(r['ratio'])
            if tp:
                ratio += ' (ours/ref)'
        elif not have_ref:
            ratio = 'no reference'
        elif r['ours_status'] == 'missing':
            ratio = 'n/a (missing)'
        elif r['ours_status'] != 'ok':
            ratio = 'ours crashed'
        elif r['ref_status'] == 'missing':
            ratio = 'n/a (ref missing)'
        elif r['ref_status'] != 'ok':
            ratio = 'ref crashed'
        else:
            ratio = '—'
        rng = '—' if r['range'] is None else (
            f"{r['range'][1]:.2f} ({r['range'][0]:.2f}–{r['range'][2]:.2f})")
        target = '—' if r['target'] is None else f"≥ {r['target']:.1f}"
        if r['result'] is not None:
            result = r['result']
        elif r['target'] is None:
            result = '—'
        elif r['ours_status'] == 'missing':
            result = 'n/a'
        elif r['ours_status'] != 'ok':
            result = 'MISS'
        else:
            result = '—'  # no reference ratio
        if not r['identical']:
            result += ' (output differs!)'
        body.append([r['label'], ref, ours, rate, ratio, rng, target, result])
    return head, body


def ceiling_table(crows):
    head = ['Ceiling', 'what', 'time', 'bounds', 'ours', 'ours / ceiling', 'limit', 'result']
    body = []
    for c in crows:
        t = fmt_time(c['time']) if c['status'] == 'ok' else c['status']
        if c['bytes_per_s']:
            t += f" ({c['bytes_per_s'] / 1e9:.2f} GB/s)"
        bounds = c['bounds'] or '—'
        body.append([
            f"{c['label']} ({c['data']})", c['what'], t, bounds,
            fmt_time(c['ours']) if c['ours'] is not None else '—',
            fmt_ratio(c['factor']),
            '—' if c['limit'] is None else f"≤ {c['limit']:.1f}",
            c['result'] or '—',
        ])
    return head, body


def render_text(head, body):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = '  '.join('-' * w for w in widths)
    out = ['  '.join(str(h).ljust(w) for h, w in zip(head, widths)), line]
    out += ['  '.join(str(c).ljust(w) for c, w in zip(row, widths)) for row in body]
    return '\n'.join(out)


def _md_escape(s):
    return str(s).replace('|', '\\|').replace('*', '\\*')


def render_markdown(head, body):
    out = ['| ' + ' | '.join(_md_escape(h) for h in head) + ' |',
           '|' + '|'.join('---' for _ in head) + '|']
    out += ['| ' + ' | '.join(_md_escape(c) for c in row) + ' |' for row in body]
    return '\n'.join(out)


def _rst_escape(s):
    s = str(s)
    for ch in ('\\', '*', '`', '|', '_'):
        s = s.replace(ch, '\\' + ch)
    return s


def render_rst(head, body, title=None):
    out = ['.. list-table::' + (f' {title}' if title else ''), '   :header-rows: 1', '']
    for row in [head] + body:
        first = True
        for cell in row:
            out.append(('   * - ' if first else '     - ') + (_rst_escape(cell) or '..'))
            first = False
    return '\n'.join(out)


FOOTNOTES = [
    'Times are medians of alternating runs in fresh processes; ratio = reference time / '
    'our time (for the loader: our samples/s / reference samples/s). The machines are '
    'shared, so absolute times are noisy; the ratios of alternating runs are the '
    'figures to read. "pairs" gives the median, smallest and largest ratio of the '
    'individual ours/reference pairs (run back to back). Ratios are truncated to two '
    'decimals.',
    'Operations are timed inside the process (no interpreter start, imports or input '
    'generation), including opening the reader. * CLI tools are timed as a user sees '
    'them: the whole command, interpreter start and imports included.',
    'datadings-shuffle runs with explicit --buf-size 0.01 --chunk-size 16: without them '
    'datadings 3.4.7 crashes on a None default. datadings-merge of 3.4.7 crashes on a '
    'misspelt attribute (args.infiles) with every invocation: "ref crashed"; the '
    'merge_concat() row calls the same merge code as a function instead.',
]


def render_all(kind, info, sizes_desc, repeat, have_ref, rows, crows):
    h1, b1 = main_table(rows, have_ref)
    h2, b2 = ceiling_table(crows)
    head = header_lines(info, sizes_desc, repeat, have_ref)
    if kind == 'text':
        parts = head + ['', render_text(h1, b1), '', render_text(h2, b2), '']
        parts += ['- ' + f for f in FOOTNOTES]
        return '\n'.join(parts)
    if kind == 'markdown':
        parts = [f'<!-- {TABLE_START} -->', ''] + ['- ' + _md_escape(x) for x in head]
        parts += ['', render_markdown(h1, b1), '', 'Ceilings, measured in the same run:', '',
                  render_markdown(h2, b2), '']
        parts += ['- ' + _md_escape(f) for f in FOOTNOTES]
        parts += ['', f'<!-- {TABLE_END} -->']
        return '\n'.join(parts)
    if kind == 'rst':
        parts = [f'.. {TABLE_START}', ''] + ['- ' + _rst_escape(x) for x in head]
        parts += ['', render_rst(h1, b1), '', 'Ceilings, measured in the same run:', '',
                  render_rst(h2, b2), '']
        parts += ['- ' + _rst_escape(f) for f in FOOTNOTES]
        parts += ['', f'.. {TABLE_END}']
        return '\n'.join(parts)
    raise ValueError(kind)


def write_table(path, text, kind):
    """Replace the marked table in ``path``, or write the file."""
    path = Path(path)
    if path.exists():
        old = path.read_text(encoding='utf-8')
        if kind == 'markdown':
            start, end = f'<!-- {TABLE_START} -->', f'<!-- {TABLE_END} -->'
        else:
            start, end = f'.. {TABLE_START}', f'.. {TABLE_END}'
        a, b = old.find(start), old.find(end)
        if a >= 0 and b > a:
            path.write_text(old[:a] + text + old[b + len(end):], encoding='utf-8')
            return
    path.write_text(text + '\n', encoding='utf-8')


# ------------------------------------------------------------------ main

def parse_args(argv=None):
    names = [op.name for op in operations('full')] + [c.name for c in CEILINGS]
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        epilog='operations: ' + ', '.join(names),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument('--reference', metavar='PYTHON',
                   default=os.environ.get('DATADINGS_REFERENCE_PYTHON'),
                   help='interpreter with datadings==3.4.7 (default: $DATADINGS_REFERENCE_PYTHON)')
    p.add_argument('--repeat', type=int, default=None,
                   help='alternating repetitions per operation (default: 5, --quick: 2)')
    p.add_argument('--data-dir', default=str(HERE / '_data'),
                   help='where the datasets are made once and reused (default: benchmarks/_data)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: 30k/400/2k samples, 2 repetitions')
    p.add_argument('--only', metavar='OP[,OP]', help='run only these operations/ceilings')
    p.add_argument('--markdown', metavar='FILE', help='also write the table as Markdown')
    p.add_argument('--rst', metavar='FILE', help='also write the table as reStructuredText')
    p.add_argument('--json', metavar='FILE',
                   help='raw results (default: DATA_DIR/<mode>/results-latest.json)')
    args = p.parse_args(argv)
    if args.only:
        args.only = [x.strip() for x in args.only.split(',') if x.strip()]
        unknown = set(args.only) - set(names)
        if unknown:
            p.error(f'unknown operation(s): {", ".join(sorted(unknown))}; known: {", ".join(names)}')
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5
    if args.repeat < 1:
        p.error('--repeat must be at least 1')
    return args


def check_reference(python):
    if not python:
        return None
    try:
        proc = subprocess.run(
            [python, '-c', 'from importlib.metadata import version; print(version("datadings"))'],
            capture_output=True, timeout=60)
    except OSError as exc:
        log(f'reference interpreter {python} cannot run ({exc}); measuring ours only')
        return None
    v = proc.stdout.decode().strip()
    if proc.returncode != 0 or not v:
        log(f'reference interpreter {python} has no datadings; measuring ours only')
        return None
    if v != REF_VERSION:
        log(f'warning: reference has datadings {v}, not {REF_VERSION}')
    return python


def main(argv=None):
    args = parse_args(argv)
    mode = 'quick' if args.quick else 'full'
    sizes = _ops.SIZES[mode]
    data_dir = Path(args.data_dir) / mode
    python_ref = check_reference(args.reference)
    have_ref = python_ref is not None
    ops = operations(mode)
    if args.only:
        ops = [op for op in ops if op.name in args.only]
        wanted_ceilings = {c for c in args.only if c in CEILING_BY_NAME}
    else:
        wanted_ceilings = set(CEILING_BY_NAME)
    covered = {c for op in ops for c in op.ceilings}
    ceilings_alone = [c.name for c in CEILINGS if c.name in wanted_ceilings - covered]
    datasets = {op.data for op in ops} | {CEILING_BY_NAME[c].data for c in ceilings_alone}
    order = [d for d in ('small', 'large', 'jpeg') if d in datasets]

    t0 = time.perf_counter()
    _ops.ensure_data(data_dir, mode, order, log=log)
    info = machine_info(python_ref)
    sizes_desc = '; '.join(
        f"{d}: {_fmt_count(sizes[d])} samples, "
        f"{(data_dir / f'{d}.msgpack').stat().st_size / 1e6:.1f} MB"
        for d in order)
    log(f'measuring {len(ops)} operations, {args.repeat} repetitions, '
        f'reference: {python_ref or "none"}')
    results = measure(ops, ceilings_alone, sys.executable, python_ref, data_dir, args.repeat)
    info['loadavg_end'] = os.getloadavg()
    rows = analyse(ops, results, have_ref)
    crows = analyse_ceilings(results)
    log(f'done in {time.perf_counter() - t0:.0f} s\n')

    print(render_all('text', info, sizes_desc, args.repeat, have_ref, rows, crows))
    problems = [r for r in rows if r['ours_status'] not in ('ok',)]
    problems += [r for r in rows if have_ref and r['ref_status'] not in ('ok',)]
    for r in problems:
        who, st, det = ((OURS, r['ours_status'], r['ours_detail']) if r['ours_status'] != 'ok'
                        else (REF, r['ref_status'], r['ref_detail']))
        print(f'note: {r["op"]}: {who} {st}: {det}')
    if args.markdown:
        write_table(args.markdown, render_all('markdown', info, sizes_desc, args.repeat,
                                              have_ref, rows, crows), 'markdown')
    if args.rst:
        write_table(args.rst, render_all('rst', info, sizes_desc, args.repeat,
                                         have_ref, rows, crows), 'rst')
    json_path = Path(args.json) if args.json else data_dir / 'results-latest.json'
    json_path.write_text(json.dumps({'info': info, 'rows': rows, 'ceilings': crows,
                                     'repeat': args.repeat, 'mode': mode}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
