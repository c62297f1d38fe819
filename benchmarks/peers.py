#!/usr/bin/env python3
"""
datadings_like side by side with the loaders a user would pick instead.

The same workloads on the same small samples (``_ops.small_samples``: key,
64-byte image, label, two ints, ~116 bytes each), in every implementation
that is installed:

- ``datadings_like`` (``FileWriter``, ``MsgpackReader``, ``Shuffler``,
  ``datadings_like.torch.IterableDataset``);
- ``datadings`` 3.4.7 in the reference interpreter (the same API);
- WebDataset (``webdataset``): tar shards of 10 000 samples written with
  ``ShardWriter``, one msgpack member (``sample.mp``) per sample (one
  member per field, the other common layout, is ~5× slower and bigger:
  every tar member costs a 512-byte header plus padding);
- Mosaic Streaming MDS (``mosaicml-streaming``): ``MDSWriter`` with typed
  columns, no compression, read with ``StreamingDataset``;
- litdata: its chunk writer (``BinaryWriter``, what ``optimize()`` runs in
  each of its workers), read with ``litdata.StreamingDataset``;
- a pickled list (protocol 5), the ceiling.

Workloads: ``write`` (N samples generated beforehand, not timed), ``seq``
(open and iterate over all samples, decoded to the same five fields),
``random`` (open and 10 000 random gets), ``shuffled`` (open and one
shuffled epoch), ``loader`` (open, a torch ``DataLoader`` with 2 workers and
batch size 256, one epoch including worker start) and ``size`` (bytes on
disk, all files the writer made). Each measurement runs in a fresh process
(``python peers.py --worker IMPL OP DATADIR N`` prints one JSON line with
the time it measured itself: interpreter start, imports and sample
generation are excluded, as in ``compare.py``/``_ops.py``); the
implementations alternate (the order rotates every repetition) and the
table gives medians of ``--repeat`` (3) runs and the ratio of each time to
datadings_like's time in the same run (above 1: slower than datadings_like).

The peers are never dependencies of datadings_like (extra ``bench``), and
their pins (numpy, torch) must not leak into the project's environment: put
them in a virtual environment of their own::

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install torch==2.13.0 numpy msgpack msgpack-numpy \\
        Pillow simplebloom tqdm natsort
    /tmp/peers/bin/pip install --no-deps mosaicml-streaming litdata webdataset
    # their import-time dependencies, installed without theirs:
    /tmp/peers/bin/pip install --no-deps braceexpand pyyaml lightning-utilities \\
        packaging catalogue xxhash zstd python-snappy cramjam brotli filelock \\
        typing_extensions boto3 botocore s3transfer python-dateutil six jmespath \\
        urllib3 requests idna certifi charset-normalizer
    /tmp/peers/bin/pip install -e . --no-deps

    python benchmarks/peers.py --python-peers /tmp/peers/bin/python \\
        --reference /tmp/ref/bin/python                 # 300k samples
    python benchmarks/peers.py --quick ...              # 30k samples
    # the table is also written to benchmarks/_data/peers/peers-latest.{md,rst}

mosaicml-streaming imports transformers and torchvision at import time for
its text/vision dataset classes, which this benchmark does not use: the
worker inserts tiny stand-ins for ``streaming.text``, ``streaming.vision``,
``streaming.multimodal`` and the two ``transformers`` classes that
``streaming.base.dataloader`` names (never called) into ``sys.modules``
before importing it. The table's notes say so.
"""
from pathlib import Path
from statistics import median
from time import perf_counter
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import traceback

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _ops  # noqa: E402  (stdlib-only at import time)

RANDOM_GETS = 10_000
BATCH = 256
WORKERS = 2
WDS_SHARD = 10_000
SEED = _ops.SEED

OURS = 'datadings_like'
IMPLS = ['datadings_like', 'datadings', 'webdataset', 'mds', 'litdata', 'pickle']
LABELS = {
    'datadings_like': 'datadings_like',
    'datadings': 'datadings 3.4.7',
    'webdataset': 'WebDataset',
    'mds': 'Mosaic MDS',
    'litdata': 'litdata',
    'pickle': 'pickled list (ceiling)',
}
DIST = {'datadings': 'datadings', 'webdataset': 'webdataset', 'mds': 'mosaicml-streaming',
        'litdata': 'litdata', 'datadings_like': 'datadings_like'}
OPS = ['write', 'seq', 'random', 'shuffled', 'loader']
# --large: 4000 samples of 100 kB (_ops.large_samples: key, image, label),
# read with copy=False where the implementation has it; no DataLoader
LARGE_OPS = ['write', 'seq', 'random', 'shuffled']
# the sample kind of this process: 'small' or 'large' (workers get it in argv)
KIND = 'small'
OP_LABELS = {
    'write': 'write {n} samples',
    'seq': 'sequential read, decoded',
    'random': f'{RANDOM_GETS // 1000}k random gets',
    'shuffled': 'shuffled epoch',
    'loader': f'DataLoader epoch ({WORKERS} workers, batch {BATCH})',
    'size': 'on-disk size',
}


class Missing(Exception):
    """The implementation cannot do this workload (or is not installed)."""


# ================================================================ worker

def _stub_mds_imports():
    """
    Stand-ins for what ``import streaming`` pulls in but this benchmark never
    uses: the text/vision/multimodal dataset classes (transformers,
    torchvision) and the two transformers classes that
    ``streaming.base.dataloader`` imports for isinstance checks.
    """
    import types

    def stub(name, **attrs):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__dict__.update(attrs)
            mod.__doc__ = 'stand-in inserted by benchmarks/peers.py (not used)'
            sys.modules[name] = mod

    for name in ('streaming.text', 'streaming.vision', 'streaming.multimodal'):
        stub(name)
    stub('transformers')
    stub('transformers.feature_extraction_utils',
         BatchFeature=type('BatchFeature', (dict,), {}))
    stub('transformers.tokenization_utils_base',
         BatchEncoding=type('BatchEncoding', (dict,), {}))


def _import_impl(impl, op):
    """Import everything the workload uses before the clock starts."""
    import numpy  # noqa: F401
    import pickle  # noqa: F401
    if op == 'loader':
        import torch.utils.data  # noqa: F401
    try:
        if impl in ('datadings_like', 'datadings'):
            __import__(impl)
            __import__(f'{impl}.reader')
            __import__(f'{impl}.writer')
            if op == 'loader':
                __import__(f'{impl}.torch')
        elif impl == 'webdataset':
            import webdataset  # noqa: F401
        elif impl == 'mds':
            _stub_mds_imports()
            import streaming  # noqa: F401
            from streaming import MDSWriter, StreamingDataset  # noqa: F401
            from streaming.base.util import clean_stale_shared_memory
            clean_stale_shared_memory()
        elif impl == 'litdata':
            import litdata  # noqa: F401
            from litdata.streaming.writer import BinaryWriter  # noqa: F401
    except ModuleNotFoundError as exc:
        raise Missing(f'{DIST[impl]} is not installed (no module {exc.name})') from None


def _rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


def _disk_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def _indices(n):
    import numpy as np
    return np.random.default_rng(SEED).integers(0, n, RANDOM_GETS).tolist()


def _wds_sample(s):
    return {'key': s['__key__'], **s['sample.mp']}


def _fields(s):
    """The fields other than the key, of a sample of this KIND."""
    names = ('image', 'label', 'x', 'y') if KIND == 'small' else ('image', 'label')
    return {k: s[k] for k in names}


def _path(d):
    return d / f'{KIND}.msgpack'


def _shards(d):
    return sorted(str(p) for p in Path(d).glob('*.tar'))


# ------------------------------------------------------------ writers

def write(impl, d, samples):
    if impl in ('datadings_like', 'datadings'):
        FileWriter = __import__(f'{impl}.writer', fromlist=['FileWriter']).FileWriter
        with FileWriter(_path(d), overwrite=True, disable=True) as writer:
            for s in samples:
                writer.write(s)
    elif impl == 'webdataset':
        import webdataset as wds
        with wds.ShardWriter(str(d / 'small-%06d.tar'), maxcount=WDS_SHARD, verbose=0) as sink:
            for s in samples:
                sink.write({'__key__': s['key'], 'sample.mp': _fields(s)})
    elif impl == 'mds':
        from streaming import MDSWriter
        columns = {'key': 'str', 'image': 'bytes', 'label': 'int'}
        if KIND == 'small':
            columns.update(x='int', y='int')
        with MDSWriter(out=str(d), columns=columns, compression=None, progress_bar=False) as w:
            for s in samples:
                w.write(s)
    elif impl == 'litdata':
        from litdata.streaming.writer import BinaryWriter
        w = BinaryWriter(str(d), chunk_bytes='64MB')
        for i, s in enumerate(samples):
            w.add_item(i, s)
        w.done()
        w.merge()
    elif impl == 'pickle':
        import pickle
        with open(d / 'small.pickle', 'wb') as f:
            pickle.dump(samples, f, protocol=5)


# ------------------------------------------------------------ readers

def _open_list(d):
    import pickle
    with open(d / 'small.pickle', 'rb') as f:
        return pickle.load(f)


def _mds(d, **kw):
    from streaming import StreamingDataset
    return StreamingDataset(local=str(d), **kw)


def _lit(d, **kw):
    import litdata
    return litdata.StreamingDataset(str(d), **kw)


def _gen(iterable):
    """One pass over ``iterable`` (some datasets restart when iter() is called again)."""
    yield from iterable


def seq(impl, d):
    if impl in ('datadings_like', 'datadings'):
        reader = __import__(f'{impl}.reader', fromlist=['MsgpackReader']).MsgpackReader
        if KIND == 'large':  # large binary values as views of the map
            return reader(_path(d)).iter(copy=False)
        return reader(_path(d)).iter()
    if impl == 'webdataset':
        import webdataset as wds
        return _gen(wds.WebDataset(_shards(d), shardshuffle=False, empty_check=False)
                    .decode().map(_wds_sample))
    if impl == 'mds':
        return _gen(_mds(d, shuffle=False, batch_size=BATCH))
    if impl == 'litdata':
        return _gen(_lit(d, shuffle=False))
    if impl == 'pickle':
        return _gen(_open_list(d))


def random_getter(impl, d):
    if impl in ('datadings_like', 'datadings'):
        reader = __import__(f'{impl}.reader', fromlist=['MsgpackReader']).MsgpackReader
        get = reader(_path(d)).get
        if KIND == 'large':
            return lambda i: get(i, copy=False)
        return get
    if impl == 'webdataset':
        raise Missing('tar shards have no random access')
    if impl == 'mds':
        return _mds(d, shuffle=False, batch_size=BATCH).get_item
    if impl == 'litdata':
        return _lit(d, shuffle=False).__getitem__
    if impl == 'pickle':
        return _open_list(d).__getitem__


def shuffled(impl, d):
    if impl in ('datadings_like', 'datadings'):
        mod = __import__(f'{impl}.reader', fromlist=['MsgpackReader', 'Shuffler'])
        return mod.Shuffler(mod.MsgpackReader(_path(d)), seed=SEED).iter(copy=KIND == 'small')
    if impl == 'webdataset':
        import webdataset as wds
        return wds.WebDataset(_shards(d), shardshuffle=len(_shards(d)), seed=SEED,
                              empty_check=False).shuffle(1000).decode().map(_wds_sample)
    if impl == 'mds':
        return _gen(_mds(d, shuffle=True, shuffle_seed=SEED, batch_size=BATCH))
    if impl == 'litdata':
        return _gen(_lit(d, shuffle=True, seed=SEED))
    if impl == 'pickle':
        import random
        samples = _open_list(d)
        order = list(range(len(samples)))
        random.Random(SEED).shuffle(order)
        return map(samples.__getitem__, order)


def loader(impl, d):
    from torch.utils.data import DataLoader
    if impl in ('datadings_like', 'datadings'):
        reader = __import__(f'{impl}.reader', fromlist=['MsgpackReader']).MsgpackReader
        IterableDataset = __import__(f'{impl}.torch', fromlist=['IterableDataset']).IterableDataset
        ds = IterableDataset(reader(_path(d)), batch_size=BATCH)
        return DataLoader(ds, batch_size=BATCH, num_workers=WORKERS)
    if impl == 'webdataset':
        import webdataset as wds
        ds = wds.WebDataset(_shards(d), shardshuffle=False, empty_check=False) \
            .decode().map(_wds_sample)
        return DataLoader(ds, batch_size=BATCH, num_workers=WORKERS)
    if impl == 'mds':
        return DataLoader(_mds(d, shuffle=False, batch_size=BATCH), batch_size=BATCH,
                          num_workers=WORKERS)
    if impl == 'litdata':
        import litdata
        return litdata.StreamingDataLoader(_lit(d, shuffle=False), batch_size=BATCH,
                                           num_workers=WORKERS)
    if impl == 'pickle':
        return DataLoader(_ops._ListDataset(_open_list(d), BATCH), batch_size=BATCH,
                          num_workers=WORKERS)


def _check(sample, where):
    """Every implementation hands out the same decoded fields."""
    size, ints = ((_ops.SMALL_IMAGE_BYTES, ('label', 'x', 'y')) if KIND == 'small'
                  else (_ops.LARGE_BYTES, ('label',)))
    ok = (isinstance(sample, dict) and isinstance(sample.get('key'), str)
          and isinstance(sample.get('image'), (bytes, bytearray, memoryview))
          and len(sample['image']) == size
          and all(isinstance(sample.get(k), int) for k in ints))
    if not ok:
        shown = {k: type(v).__name__ for k, v in sample.items()} if isinstance(sample, dict) \
            else type(sample).__name__
        raise RuntimeError(f'{where}: unexpected sample {shown}')


def _int(v):
    return int(v.item()) if hasattr(v, 'item') else int(v)


def run_worker(impl, op, data_dir, n):
    d = Path(data_dir) / impl
    _import_impl(impl, op)
    if op == 'probe':
        from importlib.metadata import version
        import numpy
        out = {'python': sys.version.split()[0], 'numpy': numpy.__version__,
               'version': version(DIST[impl]) if impl in DIST else None}
        try:
            import torch
            out['torch'] = torch.__version__
        except ImportError:
            out['torch'] = None
        return {'seconds': 0.0, 'n': 0, **out}
    if op == 'write':
        # not timed
        samples = _ops.small_samples(n) if KIND == 'small' else list(_ops.large_samples(n))
        _rmtree(d)
        d.mkdir(parents=True)
        t0 = perf_counter()
        write(impl, d, samples)
        t = perf_counter() - t0
        return {'seconds': t, 'n': n, 'bytes': _disk_size(d)}
    if not d.exists():
        raise RuntimeError(f'{d} does not exist: the write workload failed')
    if op == 'seq':
        t0 = perf_counter()
        it = seq(impl, d)
        first = next(it)
        count = 1 + _ops._consume(it)
        t = perf_counter() - t0
        _check(first, 'seq')
        if count != n:
            raise RuntimeError(f'{count} samples read, expected {n}')
        return {'seconds': t, 'n': count}
    if op == 'random':
        indices = _indices(n)
        t0 = perf_counter()
        get = random_getter(impl, d)
        got = [get(i) for i in indices]
        t = perf_counter() - t0
        _check(got[0], 'random')
        for i, s in zip(indices, got):
            if s['key'] != (f'sample{i:09d}' if KIND == 'small' else f'large{i:07d}'):
                raise RuntimeError(f'get({i}) returned sample {s["key"]!r}')
        return {'seconds': t, 'n': len(indices)}
    if op == 'shuffled':
        t0 = perf_counter()
        keys = [s['key'] for s in shuffled(impl, d)]
        t = perf_counter() - t0
        if len(keys) != n or len(set(keys)) != n:
            raise RuntimeError(f'{len(keys)} samples ({len(set(keys))} distinct), expected {n}')
        head = [f'sample{i:09d}' if KIND == 'small' else f'large{i:07d}' for i in range(100)]
        if keys[:100] == head:
            raise RuntimeError('the epoch is not shuffled')
        return {'seconds': t, 'n': n}
    if op == 'loader':
        t0 = perf_counter()
        count = 0
        for batch in loader(impl, d):
            count += len(batch['label'])
        t = perf_counter() - t0
        if count != n:
            raise RuntimeError(f'the DataLoader yielded {count} samples, expected {n}')
        return {'seconds': t, 'n': n}
    raise RuntimeError(f'unknown workload {op!r}')


def worker_main(argv):
    global KIND
    impl, op, data_dir, n, KIND = argv
    try:
        result = run_worker(impl, op, data_dir, int(n))
        result.setdefault('status', 'ok')
    except Missing as exc:
        result = {'status': 'missing', 'detail': str(exc)}
    except Exception as exc:  # noqa: BLE001  (reported in the table, never hidden)
        result = {'status': 'crashed',
                  'detail': traceback.format_exception_only(type(exc), exc)[-1].strip()}
    sys.stdout.flush()
    print('\n' + json.dumps(result), flush=True)
    return 0


# ================================================================ driver

def log(*args):
    print(*args, file=sys.stderr, flush=True)


def run_one(python, impl, op, data_dir, n, timeout=1200):
    cmd = [python, str(Path(__file__).resolve()), '--worker', impl, op, str(data_dir), str(n),
           KIND]
    env = dict(os.environ, TQDM_DISABLE='1', PYTHONWARNINGS='ignore')
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, cwd=str(data_dir), env=env)
    except subprocess.TimeoutExpired:
        return {'status': 'crashed', 'detail': f'timeout after {timeout} s'}
    return _ops.worker_result(proc)


def fmt_time(t):
    if t < 1e-3:
        return f'{t * 1e6:.0f} µs'
    if t < 1:
        return f'{t * 1e3:.3g} ms'
    return f'{t:.3g} s'


def fmt_ratio(r):
    return f'{math.floor(r * 100) / 100:.2f}×' if r < 10 else f'{r:.0f}×'


def fmt_bytes(b):
    return f'{b / 1e6:.1f} MB'


def measure(pythons, data_dir, n, repeat):
    """{op: {impl: [result, ...]}}; the order of the implementations rotates."""
    impls = list(pythons)
    ops = OPS if KIND == 'small' else LARGE_OPS
    results = {op: {impl: [] for impl in impls} for op in ops}
    for op in ops:
        for rep in range(repeat):
            k = rep % len(impls)
            line = []
            for impl in impls[k:] + impls[:k]:
                runs = results[op][impl]
                if runs and runs[-1]['status'] != 'ok':
                    continue  # no point repeating a missing or crashed one
                if op != 'write' and results['write'][impl][-1]['status'] != 'ok':
                    runs.append({'status': 'crashed', 'detail': 'write failed'})
                    continue
                r = run_one(pythons[impl], impl, op, data_dir, n)
                runs.append(r)
                line.append(f"{impl}={fmt_time(r['seconds']) if r['status'] == 'ok' else r['status']}")
            log(f'  {op} [{rep + 1}/{repeat}] ' + '  '.join(line))
    return results


def _median(runs):
    if not runs or any(r['status'] != 'ok' for r in runs):
        return None
    return median(r['seconds'] for r in runs)


def _status(runs):
    for r in runs:
        if r['status'] != 'ok':
            return r['status'], r.get('detail', '')
    return 'ok', ''


def table(results, impls, n):
    head = ['workload'] + [LABELS[i] for i in impls]
    rows, notes = [], []
    for op in (OPS if KIND == 'small' else LARGE_OPS) + ['size']:
        label = OP_LABELS[op].format(n=f'{n // 1000}k' if n % 1000 == 0 else n)
        if op == 'size':
            vals = {}
            for i in impls:
                runs = [r for r in results['write'][i] if r['status'] == 'ok']
                vals[i] = runs[-1]['bytes'] if runs else None
            ours = vals.get(OURS)
            row = [label]
            for i in impls:
                v = vals[i]
                row.append('—' if v is None else fmt_bytes(v) + (
                    f' ({fmt_ratio(v / ours)})' if ours and i != OURS else ''))
            rows.append(row)
            continue
        ours = _median(results[op].get(OURS, []))
        row = [label]
        for i in impls:
            runs = results[op][i]
            st, detail = _status(runs)
            if st != 'ok':
                row.append('n/a' if st == 'missing' else st)
                if detail:
                    notes.append(f'{LABELS[i]}, {op}: {st}: {detail}')
                continue
            m = _median(runs)
            cell = fmt_time(m)
            if ours and i != OURS:
                cell += f' ({fmt_ratio(m / ours)})'
            row.append(cell)
        rows.append(row)
    return head, rows, notes


def render(head, rows, kind):
    if kind == 'markdown':
        esc = [[c.replace('|', '\\|') for c in r] for r in [head] + rows]
        out = ['| ' + ' | '.join(esc[0]) + ' |', '|' + '---|' * len(head)]
        out += ['| ' + ' | '.join(r) + ' |' for r in esc[1:]]
        return '\n'.join(out)
    if kind == 'rst':
        out = ['.. list-table::', '   :header-rows: 1', '']
        for r in [head] + rows:
            out.append('   * - ' + r[0].replace('_', '\\_'))
            out += ['     - ' + c.replace('_', '\\_') for c in r[1:]]
        return '\n'.join(out)
    widths = [max(len(r[k]) for r in [head] + rows) for k in range(len(head))]
    fmt = lambda r: '  '.join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return '\n'.join([fmt(head), fmt(['-' * w for w in widths])] + [fmt(r) for r in rows])


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--python-peers', metavar='PYTHON', default=sys.executable,
                   help='interpreter with the peers (and datadings_like) installed '
                        '(default: this one)')
    p.add_argument('--reference', metavar='PYTHON',
                   default=os.environ.get('DATADINGS_REFERENCE_PYTHON'),
                   help='interpreter with datadings==3.4.7 (default: $DATADINGS_REFERENCE_PYTHON)')
    p.add_argument('--n', type=int, default=None, help='samples (default: 300000)')
    p.add_argument('--quick', action='store_true', help='30000 samples (--large: 1000)')
    p.add_argument('--large', action='store_true',
                   help='samples of 100 kB (default: 4000), read with copy=False where '
                        'the implementation has it; no DataLoader workload')
    p.add_argument('--repeat', type=int, default=3, help='runs per measurement (default: 3)')
    p.add_argument('--data-dir', default=str(HERE / '_data' / 'peers'),
                   help='where the datasets are written (default: benchmarks/_data/peers)')
    p.add_argument('--only', metavar='IMPL[,IMPL]',
                   help=f'only these implementations (datadings_like always): {", ".join(IMPLS)}')
    args = p.parse_args(argv)
    if args.n is None:
        if args.large:
            args.n = 1_000 if args.quick else 4_000
        else:
            args.n = 30_000 if args.quick else 300_000
    if args.n < RANDOM_GETS // 10 or args.repeat < 1:
        p.error('--n must be at least 1000 and --repeat at least 1')
    if args.only:
        args.only = [x.strip() for x in args.only.split(',') if x.strip()]
        unknown = set(args.only) - set(IMPLS)
        if unknown:
            p.error(f'unknown implementation(s) {", ".join(sorted(unknown))}; known: {", ".join(IMPLS)}')
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--worker']:
        return worker_main(argv[1:])
    args = parse_args(argv)
    global KIND
    KIND = 'large' if args.large else 'small'
    data_dir = Path(args.data_dir).resolve()
    if args.large:
        data_dir = data_dir / 'large'

    data_dir.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    t_start = perf_counter()
    pythons, versions, absent = {}, {}, []
    for impl in IMPLS:
        if args.only and impl != OURS and impl not in args.only:
            continue
        python = args.reference if impl == 'datadings' else args.python_peers
        if not python:
            absent.append(f'{LABELS[impl]}: no --reference interpreter')
            continue
        r = run_one(python, impl, 'probe', data_dir, args.n)
        if r['status'] != 'ok':
            absent.append(f"{LABELS[impl]}: {r.get('detail', r['status'])}")
            continue
        pythons[impl] = python
        versions[impl] = r
    if OURS not in pythons:
        log(f'datadings_like is not importable in {args.python_peers}: {absent}')
        return 1
    log(f'measuring {", ".join(pythons)} with {args.n} samples, {args.repeat} runs each, '
        f'in {data_dir}; load average {load_start[0]:.2f}')
    results = measure(pythons, data_dir, args.n, args.repeat)
    load_end = os.getloadavg()
    head, rows, notes = table(results, list(pythons), args.n)
    v = versions[OURS]
    info = [
        f'{args.n} samples of ~{"116 bytes" if KIND == "small" else "100 kB"}, medians of '
        f'{args.repeat} runs, each in a fresh process, '
        f'implementations alternating; in parentheses: time / datadings_like time in the same '
        f'run (above 1: slower than datadings_like).',
        f'Machine: {os.cpu_count()} cores, shared; load average at start {load_start[0]:.2f}, '
        f'at end {load_end[0]:.2f}; {perf_counter() - t_start:.0f} s in all.',
        f'Peers interpreter: Python {v["python"]}, numpy {v["numpy"]}, torch {v["torch"]}; '
        + ', '.join(f'{LABELS[i]} {versions[i]["version"]}' for i in pythons
                    if i not in ('datadings', 'pickle'))
        + (f'; reference: Python {versions["datadings"]["python"]}, numpy '
           f'{versions["datadings"]["numpy"]}, torch {versions["datadings"]["torch"]}'
           if 'datadings' in versions else '') + '.',
        ('Reads are decoded to the same five fields (key, image, label, x, y) and include '
         'opening the dataset.' if KIND == 'small' else
         'Reads are decoded to the same three fields (key, image, label) and include opening '
         'the dataset; datadings_like and datadings 3.4.7 read with copy=False (sequential '
         'and random; the shuffled epoch copies). litdata hands out its own views.')
        + ' Shuffled epoch: datadings Shuffler (exact permutation); '
        'WebDataset shuffles shards and a 1000-sample buffer (approximate); MDS and '
        'litdata their own shuffles; the list a permutation of indices. '
        f'WebDataset: tar shards of {WDS_SHARD} samples, one msgpack member per sample '
        '(one member per field is ~5× slower and bigger), no random access. '
        'litdata writes with BinaryWriter (what optimize() runs per worker), single process.',
    ]
    if 'mds' in pythons:
        info.append('MDS: streaming.text/vision/multimodal and the transformers classes '
                    'BatchFeature/BatchEncoding are stand-in modules inserted in sys.modules '
                    '(their imports need transformers and torchvision; nothing of them is used).')
    info += [f'not measured: {a}' for a in absent]
    info += notes
    print(render(head, rows, 'text'))
    print()
    for line in info:
        print('- ' + line)
    notes_md = '\n'.join('- ' + ln.replace('_', '\\_') for ln in info)
    stem = 'peers-latest' if KIND == 'small' else 'peers-large-latest'
    (data_dir / f'{stem}.md').write_text(
        render(head, rows, 'markdown') + '\n\n' + notes_md + '\n', encoding='utf-8')
    (data_dir / f'{stem}.rst').write_text(
        render(head, rows, 'rst') + '\n\n' + notes_md.replace('*', '\\*') + '\n',
        encoding='utf-8')
    log(f'tables also written to {data_dir}/{stem}.md and .rst')
    (data_dir / f'{stem}.json').write_text(json.dumps(
        {'results': results, 'versions': versions, 'info': info}, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
