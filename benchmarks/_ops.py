"""
The operations of the benchmark suite (see ``compare.py``).

Importable by both interpreters (the project's and the one with the
reference ``datadings==3.4.7``): nothing from either package is imported at
module level. Every operation runs in a fresh process::

    python benchmarks/_ops.py PKG OP DATADIR

``PKG`` is ``datadings_like``, ``datadings`` or ``none`` (the ceilings, which
only use ``msgpack``). The process prints one JSON line on stdout:

- ``{"status": "ok", "seconds": ..., "n": ...}``: the internally measured
  time. Interpreter start, imports and the generation of input samples are
  not included; CLI operations time the whole command (a new process) as a
  user sees it.
- ``{"status": "missing", "detail": ...}``: the implementation of the
  operation does not exist (yet) in ``PKG``.
- ``{"status": "crashed", "detail": ...}``: it exists but failed.

Data files are made once by ``compare.py`` with :func:`ensure_data` and
described by ``DATADIR/<name>.json``.
"""
from pathlib import Path
from time import perf_counter
import glob
import importlib
import io
import json
import os
import subprocess
import sys
import traceback

# version of the sample generators; bump to force regeneration
GENERATOR_VERSION = 1
SEED = 20240601

# dataset sizes: full run and --quick smoke run
SIZES = {
    'full': {'small': 300_000, 'large': 4_000, 'jpeg': 20_000},
    'quick': {'small': 30_000, 'large': 400, 'jpeg': 2_000},
}
LARGE_BYTES = 100_000
SMALL_IMAGE_BYTES = 64
RANDOM_GETS = {'full': 100_000, 'quick': 10_000}
CONTAINS_LOOKUPS = {'full': 100_000, 'quick': 10_000}
LOADER = dict(num_workers=2, batch_size=256, epochs=2)


class Missing(Exception):
    """The package has no implementation of what the operation needs."""


# ----------------------------------------------------------------- samples

def small_samples(n, start=0, stop=None):
    """``n`` samples of ~116 bytes: key, 64-byte image, label, two ints."""
    import numpy as np
    rng = np.random.default_rng(SEED)
    images = rng.bytes(SMALL_IMAGE_BYTES * n)
    labels = rng.integers(0, 1000, n).tolist()
    xs = rng.integers(0, 2 ** 31, n).tolist()
    ys = rng.integers(0, 2 ** 31, n).tolist()
    stop = n if stop is None else stop
    return [
        {
            'key': f'sample{i:09d}',
            'image': images[SMALL_IMAGE_BYTES * i:SMALL_IMAGE_BYTES * (i + 1)],
            'label': labels[i],
            'x': xs[i],
            'y': ys[i],
        }
        for i in range(start, stop)
    ]


def large_samples(n):
    """Generator of ``n`` samples with a 100 kB binary image each."""
    import numpy as np
    rng = np.random.default_rng(SEED + 1)
    labels = rng.integers(0, 1000, n).tolist()
    for i in range(n):
        yield {'key': f'large{i:07d}', 'image': rng.bytes(LARGE_BYTES), 'label': labels[i]}


def jpeg_samples(n):
    """Generator of ``n`` samples with a 64x64 RGB JPEG (Pillow, quality 90)."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(SEED + 2)
    for i in range(n):
        # smooth random pattern plus a little noise: realistic JPEG sizes
        low = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = Image.fromarray(low, 'RGB').resize((64, 64), Image.BILINEAR)
        arr = np.asarray(img).astype(np.int16) + rng.integers(-8, 9, (64, 64, 3))
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8), 'RGB')
        buf = io.BytesIO()
        img.save(buf, format='JPEG', quality=90)
        yield {'key': f'jpeg{i:07d}', 'image': buf.getvalue(), 'label': int(i % 1000)}


# ------------------------------------------------------------------ data

def _manifest_path(data_dir, name):
    return Path(data_dir) / f'{name}.json'


def _dataset_ok(data_dir, name, n):
    try:
        meta = json.loads(_manifest_path(data_dir, name).read_text())
    except (OSError, ValueError):
        return False
    files = [Path(data_dir) / f for f in meta.get('files', [])]
    return (meta.get('n') == n and meta.get('version') == GENERATOR_VERSION
            and files and all(f.exists() for f in files))


def _write(path, samples, n):
    from datadings_like.writer import FileWriter
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    if writer.written != n:
        raise RuntimeError(f'{path}: wrote {writer.written} samples, expected {n}')


def ensure_data(data_dir, mode, names, log=print):
    """
    Make the datasets ``names`` (small, large, jpeg) for ``mode`` (full,
    quick) in ``data_dir`` with datadings_like, unless they exist already.
    ``small`` also makes its two halves ``small_a``/``small_b`` (merge input).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sizes = SIZES[mode]
    for name in names:
        n = sizes[name]
        if _dataset_ok(data_dir, name, n):
            continue
        t0 = perf_counter()
        log(f'making {name} dataset ({n} samples) in {data_dir} ...')
        _manifest_path(data_dir, name).unlink(missing_ok=True)
        if name == 'small':
            samples = small_samples(n)
            _write(data_dir / 'small.msgpack', samples, n)
            half = n // 2
            _write(data_dir / 'small_a.msgpack', samples[:half], half)
            _write(data_dir / 'small_b.msgpack', samples[half:], n - half)
            files = ['small.msgpack', 'small_a.msgpack', 'small_b.msgpack']
        elif name == 'large':
            _write(data_dir / 'large.msgpack', large_samples(n), n)
            files = ['large.msgpack']
        elif name == 'jpeg':
            _write(data_dir / 'jpeg.msgpack', jpeg_samples(n), n)
            files = ['jpeg.msgpack']
        else:
            raise ValueError(name)
        size = sum((data_dir / f).stat().st_size for f in files[:1])
        meta = {'n': n, 'version': GENERATOR_VERSION, 'files': files,
                'bytes': size, 'mode': mode}
        _manifest_path(data_dir, name).write_text(json.dumps(meta))
        log(f'  {name}: {size / 1e6:.1f} MB in {perf_counter() - t0:.1f} s')


def dataset_len(data_dir, name):
    return json.loads(_manifest_path(data_dir, name).read_text())['n']


def _mode(data_dir):
    return json.loads(_manifest_path(data_dir, 'small').read_text()).get('mode', 'full') \
        if _manifest_path(data_dir, 'small').exists() else 'full'


# ----------------------------------------------------------- package access

def _import(pkg, module):
    try:
        return importlib.import_module(f'{pkg}.{module}')
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == f'{pkg}.{module}' or exc.name.startswith(f'{pkg}.')):
            raise Missing(f'{pkg}.{module} does not exist') from None
        raise


def _attr(pkg, module, name):
    mod = _import(pkg, module)
    try:
        return getattr(mod, name)
    except AttributeError:
        raise Missing(f'{pkg}.{module}.{name} does not exist') from None


def _reader(pkg):
    return _attr(pkg, 'reader', 'MsgpackReader')


def _consume(it):
    n = 0
    for _ in it:
        n += 1
    return n


def worker_result(proc):
    """The JSON line a measuring process printed last (a finished
    ``subprocess.run`` with captured output), or a "crashed" result naming
    its exit status and the end of its stderr."""
    lines = [ln for ln in proc.stdout.decode(errors='replace').splitlines() if ln.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = ' | '.join(proc.stderr.decode(errors='replace').strip().splitlines()[-3:])
        return {'status': 'crashed', 'detail': f'exit {proc.returncode}: {tail}'}


def _offsets(path):
    import numpy as np
    return np.fromfile(str(path) + '.offsets', dtype='>u8').tolist()


# ------------------------------------------------------- library operations

def _timed_write(pkg, data_dir, name, samples, n):
    """Write ``samples`` (made before, not timed) with the package's
    FileWriter; the files must be byte-identical to the dataset ``name``."""
    FileWriter = _attr(pkg, 'writer', 'FileWriter')
    out = Path(data_dir) / 'tmp' / f'write-{name}-{pkg}.msgpack'
    out.parent.mkdir(exist_ok=True)
    _cleanup(out)
    t0 = perf_counter()
    with FileWriter(out, overwrite=True, disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    t = perf_counter() - t0
    # not timed
    same = _md5_of(out) == _md5_of(Path(data_dir) / f'{name}.msgpack')
    _cleanup(out)
    return {'seconds': t, 'n': n, 'identical': same}


def op_write_small(pkg, data_dir):
    n = dataset_len(data_dir, 'small')
    return _timed_write(pkg, data_dir, 'small', small_samples(n), n)


def op_write_large(pkg, data_dir):
    n = dataset_len(data_dir, 'large')
    return _timed_write(pkg, data_dir, 'large', list(large_samples(n)), n)


def _md5_of(path):
    import hashlib
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _cleanup(path):
    for f in glob.glob(glob.escape(str(path)) + '*'):
        os.unlink(f)
    for f in glob.glob(os.path.join(glob.escape(str(Path(path).parent)),
                                    '.' + glob.escape(Path(path).name) + '*')):
        os.unlink(f)


def op_iter_raw_small(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'small.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(reader.iter(raw=True))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_iter_decoded_small(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'small.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(reader.iter())
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_iter_decoded_large(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'large.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(reader.iter())
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_iter_decoded_large_nocopy(pkg, data_dir):
    """Decoded iteration with copy=False: large binary values may be views."""
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'large.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(reader.iter(copy=False))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_random_get_small(pkg, data_dir):
    import numpy as np
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'small.msgpack'
    n = dataset_len(data_dir, 'small')
    count = RANDOM_GETS[_mode(data_dir)]
    indices = np.random.default_rng(SEED).integers(0, n, count).tolist()
    t0 = perf_counter()
    reader = MsgpackReader(path)
    get = reader.get
    for i in indices:
        get(i)
    t = perf_counter() - t0
    return {'seconds': t, 'n': count}


def op_open_find_index_small(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'small.msgpack'
    n = dataset_len(data_dir, 'small')
    key = f'sample{n * 2 // 3:09d}'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    index = reader.find_index(key)
    t = perf_counter() - t0
    if index != n * 2 // 3:
        raise RuntimeError(f'find_index({key!r}) returned {index}')
    return {'seconds': t, 'n': 1}


def op_contains_small(pkg, data_dir):
    import numpy as np
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'small.msgpack'
    n = dataset_len(data_dir, 'small')
    count = CONTAINS_LOOKUPS[_mode(data_dir)]
    rng = np.random.default_rng(SEED + 3)
    present = [f'sample{i:09d}' for i in rng.integers(0, n, count // 2).tolist()]
    absent = [f'missing{i:09d}' for i in range(count - count // 2)]
    keys = [k for pair in zip(present, absent) for k in pair]
    t0 = perf_counter()
    reader = MsgpackReader(path)
    hits = 0
    for key in keys:
        if key in reader:
            hits += 1
    t = perf_counter() - t0
    if hits != len(present):
        # a Bloom filter may say yes, the hashes must then say no
        raise RuntimeError(f'{hits} hits, expected {len(present)}')
    return {'seconds': t, 'n': len(keys)}


def op_shuffler_raw_small(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    Shuffler = _attr(pkg, 'reader', 'Shuffler')
    path = Path(data_dir) / 'small.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(Shuffler(reader).iter(raw=True))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_quasi_shuffler_raw_small(pkg, data_dir):
    MsgpackReader = _reader(pkg)
    QuasiShuffler = _attr(pkg, 'reader', 'QuasiShuffler')
    path = Path(data_dir) / 'small.msgpack'
    t0 = perf_counter()
    reader = MsgpackReader(path)
    n = _consume(QuasiShuffler(reader).iter(raw=True))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def op_merge_function_small(pkg, data_dir):
    """The merge (concat) of the CLI, called as a function in-process."""
    merge_concat = _attr(pkg, 'commands.merge', 'merge_concat')
    data_dir = Path(data_dir)
    out = data_dir / 'tmp' / f'mergefn-{pkg}.msgpack'
    out.parent.mkdir(exist_ok=True)
    _cleanup(out)
    infiles = [str(data_dir / 'small_a.msgpack'), str(data_dir / 'small_b.msgpack')]
    kwargs = {'overwrite': True, 'quiet': True} if pkg != 'datadings' else {}
    devnull = open(os.devnull, 'w')
    stderr, stdout = sys.stderr, sys.stdout
    sys.stderr = sys.stdout = devnull  # progress bars
    try:
        t0 = perf_counter()
        merge_concat(infiles, str(out), False, **kwargs)
        t = perf_counter() - t0
    finally:
        sys.stderr, sys.stdout = stderr, stdout
    n = _count_output(out)
    _cleanup(out)
    return {'seconds': t, 'n': n}


# ------------------------------------------------------------------- loader

def _jpeg_to_tensor(sample):
    """Transform of the loader benchmark: JPEG bytes -> uint8 CHW tensor."""
    import numpy as np
    import torch
    from PIL import Image
    img = Image.open(io.BytesIO(sample['image'])).convert('RGB')
    return {'image': torch.from_numpy(np.array(img)).permute(2, 0, 1),
            'label': sample['label']}


def op_loader_jpeg(pkg, data_dir):
    try:
        import torch  # noqa: F401
        from torch.utils.data import DataLoader
    except ImportError:
        raise Missing('torch is not installed') from None
    IterableDataset = _attr(pkg, 'torch', 'IterableDataset')
    MsgpackReader = _reader(pkg)
    path = Path(data_dir) / 'jpeg.msgpack'
    bs = LOADER['batch_size']
    reader = MsgpackReader(path)
    ds = IterableDataset(reader, transforms=_jpeg_to_tensor, batch_size=bs)
    loader = DataLoader(ds, batch_size=bs, num_workers=LOADER['num_workers'],
                        persistent_workers=True)
    # warm-up epoch: starts the workers (fork, first reads); then timed epochs
    warm = 0
    for batch in loader:
        warm += len(batch['label'])
    n = 0
    t0 = perf_counter()
    for _ in range(LOADER['epochs']):
        for batch in loader:
            n += len(batch['label'])
    t = perf_counter() - t0
    expected = dataset_len(data_dir, 'jpeg') * LOADER['epochs']
    if n != expected or warm != dataset_len(data_dir, 'jpeg'):
        raise RuntimeError(f'loader yielded {warm}/{n} samples, expected {expected}')
    del loader
    return {'seconds': t, 'n': n, 'rate': n / t}


class _ListDataset:
    """The in-memory baseline: a torch IterableDataset over a list of the
    decoded samples, dealt to the DataLoader workers in batch-size blocks."""

    def __new__(cls, samples, batch_size):
        import torch.utils.data

        class ListDataset(torch.utils.data.IterableDataset):
            def __iter__(self):
                info = torch.utils.data.get_worker_info()
                workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
                for start in range(worker * batch_size, len(samples), workers * batch_size):
                    yield from samples[start:start + batch_size]
        return ListDataset()


def _loader_epochs(dataset, epoch, expected):
    """Time epoch ``epoch`` (1 or 2) of a DataLoader over ``dataset``; epoch 1
    includes starting the workers, as a user sees it."""
    from torch.utils.data import DataLoader
    bs = LOADER['batch_size']
    t0 = perf_counter()
    loader = DataLoader(dataset, batch_size=bs, num_workers=LOADER['num_workers'],
                        persistent_workers=True)
    counts = []
    for e in range(epoch):
        if e == epoch - 1:
            t0 = perf_counter()
        counts.append(sum(len(batch['label']) for batch in loader))
    t = perf_counter() - t0
    if counts != [expected] * epoch:
        raise RuntimeError(f'loader yielded {counts} samples per epoch, expected {expected}')
    del loader
    return {'seconds': t, 'n': expected, 'rate': expected / t}


def _loader_small(pkg, data_dir, epoch):
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Missing('torch is not installed') from None
    IterableDataset = _attr(pkg, 'torch', 'IterableDataset')
    reader = _reader(pkg)(Path(data_dir) / 'small.msgpack')
    dataset = IterableDataset(reader, batch_size=LOADER['batch_size'])
    return _loader_epochs(dataset, epoch, len(reader))


def op_loader_small_e1(pkg, data_dir):
    return _loader_small(pkg, data_dir, 1)


def op_loader_small_e2(pkg, data_dir):
    return _loader_small(pkg, data_dir, 2)


def _ceil_loader_list(epoch):
    def op(pkg, data_dir):
        try:
            import torch  # noqa: F401
        except ImportError:
            raise Missing('torch is not installed') from None
        import msgpack
        path = Path(data_dir) / 'small.msgpack'
        # not timed: the samples decoded into a list, as a pickled list would give
        samples = list(msgpack.Unpacker(open(path, 'rb'), raw=False))
        dataset = _ListDataset(samples, LOADER['batch_size'])
        return _loader_epochs(dataset, epoch, len(samples))
    return op


# -------------------------------------------------------------- CLI tools

def _script(pkg, name):
    """
    The console script ``name`` of ``pkg`` next to this interpreter, or
    ``python -m pkg.commands.<module>``. Raises Missing if neither exists.
    """
    module = name[len('datadings-'):].replace('-', '_')
    _import(pkg, f'commands.{module}')  # raises Missing
    script = Path(sys.executable).parent / name
    try:
        head = script.read_text(errors='replace')[:2000]
    except OSError:
        head = ''
    if f'from {pkg}.commands.{module} import' in head:
        return [str(script)], str(script.name)
    return [sys.executable, '-m', f'{pkg}.commands.{module}'], f'python -m {pkg}.commands.{module}'


def _count_output(path):
    try:
        return os.path.getsize(str(path) + '.offsets') // 8 - 1
    except OSError:
        return None


def _run_cli(pkg, name, args, out, expected):
    cmd, how = _script(pkg, name)
    cmd = cmd + [str(a) for a in args]
    out.parent.mkdir(exist_ok=True)
    _cleanup(out)
    t0 = perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    t = perf_counter() - t0
    n = _count_output(out)
    _cleanup(out)
    if proc.returncode != 0 or n != expected:
        tail = proc.stderr.decode(errors='replace').strip().splitlines()[-3:]
        return {'status': 'crashed', 'seconds': t, 'how': how,
                'detail': f'exit {proc.returncode}, {n} samples written: ' + ' | '.join(tail)}
    return {'seconds': t, 'n': n, 'how': how}


def op_cli_shuffle_small(pkg, data_dir):
    data_dir = Path(data_dir)
    out = data_dir / 'tmp' / f'shuffled-{pkg}.msgpack'
    n = dataset_len(data_dir, 'small')
    # --buf-size and --chunk-size given explicitly: datadings 3.4.7 crashes
    # on their None defaults without them
    args = [data_dir / 'small.msgpack', out, '-y', '--buf-size', '0.01', '--chunk-size', '16']
    return _run_cli(pkg, 'datadings-shuffle', args, out, n)


def op_cli_merge_small(pkg, data_dir):
    data_dir = Path(data_dir)
    out = data_dir / 'tmp' / f'merged-{pkg}.msgpack'
    n = dataset_len(data_dir, 'small')
    args = ['--strategy', 'concat', data_dir / 'small_a.msgpack', data_dir / 'small_b.msgpack', out]
    return _run_cli(pkg, 'datadings-merge', args, out, n)


# ------------------------------------------------------------- ceilings

def _mm(path):
    import mmap
    f = open(path, 'rb')
    return f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _ceil_mmap(path):
    import mmap  # noqa: F401
    import numpy  # noqa: F401
    t0 = perf_counter()
    f, mm = _mm(path)
    offs = _offsets(path)
    view = memoryview(mm)
    n = _consume(map(view.__getitem__, map(slice, offs, offs[1:])))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def _ceil_unpackb(path):
    import mmap  # noqa: F401
    import msgpack
    import numpy  # noqa: F401
    t0 = perf_counter()
    f, mm = _mm(path)
    offs = _offsets(path)
    view = memoryview(mm)
    n = _consume(map(msgpack.unpackb, map(view.__getitem__, map(slice, offs, offs[1:]))))
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def _ceil_random_unpackb(pkg, data_dir):
    """Floor of random get(): the same random indices, a bare unpackb of
    each slice of the map (offsets loaded before timing; no checks)."""
    import msgpack
    import numpy as np
    path = Path(data_dir) / 'small.msgpack'
    n = dataset_len(data_dir, 'small')
    indices = np.random.default_rng(SEED).integers(0, n, RANDOM_GETS[_mode(data_dir)]).tolist()
    offs = _offsets(path)
    t0 = perf_counter()
    f, mm = _mm(path)
    view = memoryview(mm)
    unpackb = msgpack.unpackb
    for i in indices:
        unpackb(view[offs[i]:offs[i + 1]])
    t = perf_counter() - t0
    return {'seconds': t, 'n': len(indices)}


def _ceil_contains_hash(pkg, data_dir):
    """Floor of "key in reader" by key hashes: per key one salted blake2s
    (the format's key hash) and a dict lookup (dict built before timing)."""
    import hashlib
    import numpy as np
    path = Path(data_dir) / 'small.msgpack'
    n = dataset_len(data_dir, 'small')
    count = CONTAINS_LOOKUPS[_mode(data_dir)]
    rng = np.random.default_rng(SEED + 3)
    present = [f'sample{i:09d}' for i in rng.integers(0, n, count // 2).tolist()]
    absent = [f'missing{i:09d}' for i in range(count - count // 2)]
    keys = [k for pair in zip(present, absent) for k in pair]
    data = (Path(str(path) + '.key_hashes')).read_bytes()
    salt = data[:8]
    table = dict.fromkeys(np.frombuffer(data, dtype='>u8', offset=8).tolist())
    new = hashlib.blake2s(salt=salt).copy
    t0 = perf_counter()
    hits = 0
    for key in keys:
        h = new()
        h.update(key.encode())
        if int.from_bytes(h.digest()[:8], 'big') in table:
            hits += 1
    t = perf_counter() - t0
    if hits != len(present):
        raise RuntimeError(f'{hits} hits, expected {len(present)}')
    return {'seconds': t, 'n': len(keys)}


def _ceil_unpacker(path):
    import mmap  # noqa: F401
    import msgpack
    t0 = perf_counter()
    f, mm = _mm(path)
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(mm), 1))
    unpacker.feed(memoryview(mm))
    n = _consume(unpacker)
    t = perf_counter() - t0
    return {'seconds': t, 'n': n}


def _ceil_read(path):
    """
    Read the whole file with unbuffered read()s of 1 MiB into one reused
    buffer: page-cache bandwidth. (A single read() into a fresh buffer of the
    file's size would mostly measure page faults of the new allocation.)
    """
    buf = bytearray(1 << 20)
    t0 = perf_counter()
    total = 0
    with open(path, 'rb', buffering=0) as f:
        readinto = f.readinto
        while True:
            k = readinto(buf)
            if not k:
                break
            total += k
    t = perf_counter() - t0
    return {'seconds': t, 'n': total}


def _ceil_md5(path):
    """hashlib.md5 of the whole file, already in memory: a writer must hash
    every byte for the .md5 file (one MD5 cannot be split across cores)."""
    import hashlib
    data = Path(path).read_bytes()  # not timed
    t0 = perf_counter()
    hashlib.md5(data).hexdigest()
    t = perf_counter() - t0
    return {'seconds': t, 'n': len(data)}


def _ceiling(func, name):
    def op(pkg, data_dir):
        return func(Path(data_dir) / f'{name}.msgpack')
    return op


CEILINGS = {
    'ceil_mmap_small': _ceiling(_ceil_mmap, 'small'),
    'ceil_unpackb_small': _ceiling(_ceil_unpackb, 'small'),
    'ceil_unpacker_small': _ceiling(_ceil_unpacker, 'small'),
    'ceil_read_small': _ceiling(_ceil_read, 'small'),
    'ceil_unpackb_large': _ceiling(_ceil_unpackb, 'large'),
    'ceil_read_large': _ceiling(_ceil_read, 'large'),
    'ceil_md5_large': _ceiling(_ceil_md5, 'large'),
    'ceil_random_unpackb_small': _ceil_random_unpackb,
    'ceil_contains_hash_small': _ceil_contains_hash,
    'ceil_loader_list_e1': _ceil_loader_list(1),
    'ceil_loader_list_e2': _ceil_loader_list(2),
}

OPS = {
    'write_small': op_write_small,
    'write_large': op_write_large,
    'iter_raw_small': op_iter_raw_small,
    'iter_decoded_small': op_iter_decoded_small,
    'iter_decoded_large': op_iter_decoded_large,
    'iter_decoded_large_nocopy': op_iter_decoded_large_nocopy,
    'loader_small_e1': op_loader_small_e1,
    'loader_small_e2': op_loader_small_e2,
    'random_get_small': op_random_get_small,
    'open_find_index_small': op_open_find_index_small,
    'contains_small': op_contains_small,
    'shuffler_raw_small': op_shuffler_raw_small,
    'quasi_shuffler_raw_small': op_quasi_shuffler_raw_small,
    'cli_shuffle_small': op_cli_shuffle_small,
    'cli_merge_small': op_cli_merge_small,
    'merge_function_small': op_merge_function_small,
    'loader_jpeg': op_loader_jpeg,
    **CEILINGS,
}


def run(pkg, op, data_dir):
    """Run one operation; returns the result dict (never raises)."""
    try:
        func = OPS[op]
    except KeyError:
        return {'status': 'crashed', 'detail': f'unknown operation {op!r}'}
    try:
        if pkg != 'none':
            try:
                importlib.import_module(pkg)
            except ModuleNotFoundError:
                raise Missing(f'package {pkg} is not installed') from None
        result = func(pkg, data_dir)
    except Missing as exc:
        return {'status': 'missing', 'detail': str(exc)}
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {'status': 'crashed', 'detail': tb}
    result.setdefault('status', 'ok')
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        print('operations:', ', '.join(OPS), file=sys.stderr)
        return 2
    pkg, op, data_dir = argv
    result = run(pkg, op, data_dir)
    result.update(pkg=pkg, op=op)
    sys.stdout.flush()
    print('\n' + json.dumps(result), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
