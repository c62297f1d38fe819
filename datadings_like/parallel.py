"""
Convert a dataset on many machines: :py:func:`write_shards` cuts the
work into *tasks*, each of which writes one shard
(``train-00003-of-00012.msgpack``, named by
:py:func:`~datadings_like.sets.shards.shard_name`) to shared storage, a
directory all machines see or an fsspec URL; a last step writes the
shard list ``train.shards``. The shards are read as one dataset by
:py:class:`~datadings_like.reader.ShardedReader` (the glob pattern of
:py:func:`~datadings_like.sets.shards.shard_pattern`, or
:py:func:`read_shard_list`) and so by :py:mod:`datadings_like.torch`.

The tasks run on a `Dask <https://distributed.dask.org>`_ cluster (the
``dist`` extra, ``pip install '.[dist]'``): one the user already runs
(``scheduler='tcp://scheduler:8786'``, or a ``distributed.Client`` of a
Kubernetes, SLURM or YARN cluster), or a ``LocalCluster`` on this machine
(``scheduler='local'`` or ``'local:N'``). Without a scheduler they run one
after the other in this process and give the same shards, byte for byte.

- **Deterministic**: task ``i`` writes shard ``i``; what a shard holds
  depends on its task only, never on the number of workers or on which
  worker ran it.
- **Atomic and resumable**: each shard is written by a
  :py:class:`~datadings_like.writer.FileWriter` under a temporary name and
  appears under its final name complete, or not at all. The state of the
  job is kept in ``OUTDIR/.NAME.parallel``; running the same job again
  after a failure (a task that raised, a killed worker, a lost driver)
  redoes only the shards that are missing.
- **Global shuffle** (``shuffle=True``): the tasks first write their
  samples in source order to temporary parts (in ``OUTDIR/.NAME.shuffle/``,
  at the URL when ``OUTDIR`` is one: the only storage all workers share),
  then every output shard copies its samples byte for byte from the parts
  in the order of one seeded permutation of all samples: the result is
  one shuffled dataset, the same as a single-machine conversion that
  shuffles with :py:func:`numpy.random.default_rng` ``(seed).permutation``,
  not a concatenation of shuffled pieces.
- One progress bar for the whole job: shards done / total and samples/s.
  A task that fails does not stop the others; at the end its shard is
  named with its task in a :py:class:`ShardTaskError`.
"""
from bisect import bisect_right
from pathlib import Path
import hashlib
import json
import os
import secrets
import sys
import time

from .tools.cli import UserError

__all__ = ('SHARD_LIST_SUFFIX', 'ShardTaskError', 'Skipped', 'read_shard_list', 'write_shards')

#: Suffix of the shard list written at the end: ``train.shards`` holds the
#: file names of the shards of ``train``, one per line, in order.
SHARD_LIST_SUFFIX = '.shards'
#: ``scheduler`` value (optionally ``local:N``) that starts a LocalCluster.
LOCAL_SCHEDULER = 'local'

_STATE_FORMAT = 'datadings_like parallel conversion'
_STATE_VERSION = 1
_SHOWN_FAILURES = 10
_DESCRIPTION_LENGTH = 120
# samples a shuffle task reads per batched call of the parts' readers
_SHUFFLE_BATCH = 256
# how long a connection to a scheduler may take before it is an error
_CONNECT_TIMEOUT = '30s'


class ShardTaskError(UserError):
    """
    Tasks of :py:func:`write_shards` failed; the shards of the others were
    written and are kept, so running the same job again redoes only these.

    Attributes:
        failures: list of ``(shard number, task description, exception)``
    """

    def __init__(self, message, failures):
        super().__init__(message)
        self.failures = failures


class Skipped:
    """
    Yielded by a task function instead of a sample for a work item that
    gives no sample (an unreadable image): it is counted, and ``reason``
    is shown at the end of :py:func:`write_shards`.

    Parameters:
        reason: what was skipped and why (one line)
    """

    __slots__ = ('reason',)

    def __init__(self, reason):
        self.reason = str(reason)

    def __repr__(self):
        return f'Skipped({self.reason!r})'

    def __reduce__(self):
        return Skipped, (self.reason,)


# ---------------------------------------------------------------- storage

class _Local:
    """The output directory on a (shared) file system."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self._lock = None

    def __str__(self):
        return str(self.directory)

    def sub(self, name):
        return _Local(self.directory / name)

    def target(self, name):
        return str(self.directory / name)

    def prepare(self):
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f'{self.directory}: is not a directory')
        self.directory.mkdir(parents=True, exist_ok=True)

    def lock(self, name):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        path = self.directory / f'.{name}.parallel.lock'
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f'{self.directory}: another conversion of {name} is writing here '
                            f'({path.name} is locked)') from None
        self._lock = (fd, path)

    def unlock(self):
        if self._lock is not None:
            fd, path = self._lock
            _unlink(path)
            os.close(fd)
            self._lock = None

    def complete(self, name):
        from .index import recover_commit
        path = self.directory / name
        # a commit interrupted by a killed worker is completed or undone
        recover_commit(path)
        return path.is_file() and path.with_name(path.name + '.md5').is_file()

    def complete_all(self, names):
        return [self.complete(n) for n in names]

    def names(self, pattern):
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.glob(pattern))

    def read_text(self, name):
        try:
            return (self.directory / name).read_text(encoding='utf-8')
        except FileNotFoundError:
            return None

    def write_text(self, name, text):
        from .sets.shards import _write_atomic
        _write_atomic(self.directory / name, text.encode('utf-8'))

    def remove(self, name):
        _unlink(self.directory / name)

    def remove_dataset(self, name):
        from .sets.shards import _dataset_files
        for path in _dataset_files(self.directory / name):
            _unlink(path)

    def remove_temporary(self, name):
        """Temporary files of writers of ``name`` that were killed."""
        from .sets.shards import glob_escape
        for path in self.directory.glob(f'.{glob_escape(name)}.*.tmp*'):
            _unlink(path)

    def remove_tree(self):
        import shutil
        shutil.rmtree(self.directory, ignore_errors=True)

    def lengths(self, names):
        from .index import offsets_len
        return [offsets_len(self.directory / name) for name in names]


class _Remote:
    """
    The output "directory" at an fsspec URL; writers stage locally, then upload.

    The driver's requests go through one file system object (making one
    costs more than a request); its listing cache is dropped before every
    question, since the workers' uploads do not pass through it.
    """

    def __init__(self, url, storage_options=None):
        self.url = url.rstrip('/')
        self.storage_options = storage_options
        self._root = None

    def __str__(self):
        from .remote import redact
        return redact(self.url)

    def sub(self, name):
        return _Remote(f'{self.url}/{name}', self.storage_options)

    def target(self, name):
        return f'{self.url}/{name}'

    def _file(self, name):
        """A RemoteFile of ``name`` that shares the connection of this place."""
        from .remote import RemoteFile
        if self._root is None:
            self._root = RemoteFile(self.url, self.storage_options)
        root = self._root
        root.fs.invalidate_cache()
        return root.sibling('/' + name) if name else root

    def prepare(self):
        root = self._file('')

        def call():
            root._count()
            root.fs.makedirs(root.fspath, exist_ok=True)
        root._retrying('creating the output directory', call)

    def lock(self, name):
        """Object stores have no locks: one job per output at a time is up to the user."""

    def unlock(self):
        pass

    def _listing(self):
        """Names of the files directly in the directory (one listing)."""
        root = self._file('')

        def call():
            root._count()
            try:
                return root.fs.ls(root.fspath, detail=False)
            except FileNotFoundError:
                return []
        return {p.rstrip('/').rpartition('/')[2] for p in root._retrying('listing', call)}

    def complete(self, name):
        return self.complete_all([name])[0]

    def complete_all(self, names):
        # uploads put the sidecars first (the .md5 with them) and the data
        # file last, and remove a dataset whose upload failed: a data file
        # with its .md5 is a complete shard
        listed = self._listing()
        return [n in listed and n + '.md5' in listed for n in names]

    def names(self, pattern):
        root = self._file('')

        def call():
            root._count()
            return root.fs.glob(f'{root.fspath}/{pattern}')
        return sorted(p.rstrip('/').rpartition('/')[2] for p in root._retrying('listing', call))

    def read_text(self, name):
        try:
            return self._file(name).read_all().decode('utf-8')
        except FileNotFoundError:
            return None

    def write_text(self, name, text):
        remote = self._file(name)

        def call():
            remote._count()
            remote.fs.pipe_file(remote.fspath, text.encode('utf-8'))
        remote._retrying('upload', call)

    def remove(self, name):
        from .remote import remove_remote
        remove_remote(self._file(name))

    def remove_dataset(self, name):
        from .sets.shards import _SIDECARS
        # the data file first: from then on no reader takes it for a dataset
        for suffix in ('',) + _SIDECARS:
            self.remove(name + suffix)

    def remove_temporary(self, name):
        """Writers to URLs stage their files in local temporary directories."""

    def remove_tree(self):
        root = self._file('')

        def call():
            root._count()
            try:
                root.fs.rm(root.fspath, recursive=True)
            except FileNotFoundError:
                pass
        root._retrying('removal', call)

    def lengths(self, names):
        """Numbers of samples of the datasets ``names``, from one listing of their sizes."""
        from .errors import DatasetError
        from .index import SUFFIX_OFFSETS
        from .remote import redact
        root = self._file('')

        def call():
            root._count()
            return root.fs.ls(root.fspath, detail=True)
        sizes = {entry['name'].rstrip('/').rpartition('/')[2]: entry.get('size')
                 for entry in root._retrying('listing', call)}
        result = []
        for name in names:
            offsets = name + SUFFIX_OFFSETS
            size = sizes.get(offsets)
            if size is None:
                raise FileNotFoundError(f'{redact(self.target(offsets))}: not found')
            if size % 8 or size < 8:
                raise DatasetError(f'{redact(self.target(offsets))}: size {size} is not a '
                                   'positive multiple of 8 bytes')
            result.append(size // 8 - 1)
        return result


def _unlink(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _place(outdir, storage_options):
    from .remote import is_url
    if is_url(outdir):
        return _Remote(outdir, storage_options)
    return _Local(outdir)


# ------------------------------------------------------------ task bodies

def _convert_task(fn, task, target, storage_options=None):
    """Write the samples ``fn(task)`` yields to ``target`` (runs on a worker)."""
    from .writer import FileWriter

    start = time.perf_counter()
    skipped = []
    options = {} if storage_options is None else {'storage_options': storage_options}
    with FileWriter(target, overwrite=True, disable=True, **options) as writer:
        for sample in fn(task):
            if isinstance(sample, Skipped):
                skipped.append(sample.reason)
            else:
                writer.write(sample)
        written = writer.written
    return {'samples': written, 'skipped': skipped, 'seconds': time.perf_counter() - start}


def _shuffle_task(parts, starts, indices, target, storage_options=None):
    """
    Copy the samples at the global positions ``indices`` (in this order)
    from the parts (``starts[i]`` is the position of the first sample of
    ``parts[i]``) into the dataset ``target`` (runs on a worker).
    """
    from .reader import MsgpackReader
    from .remote import is_url
    from .writer import RawWriter

    start = time.perf_counter()
    readers = {}

    def reader_of(part):
        reader = readers.get(part)
        if reader is None:
            url = is_url(parts[part])
            options = {'storage_options': storage_options} if url and storage_options else {}
            reader = readers[part] = MsgpackReader(parts[part], **options)
        return reader

    options = {'storage_options': storage_options} if is_url(target) and storage_options else {}
    try:
        with RawWriter(target, overwrite=True, disable=True, **options) as writer:
            # in batches: the samples a batch needs from one part are read
            # with one batched call (parts at a URL: concurrent range requests)
            for a in range(0, len(indices), _SHUFFLE_BATCH):
                batch = indices[a:a + _SHUFFLE_BATCH]
                wanted = {}
                for position in batch:
                    part = bisect_right(starts, position) - 1
                    wanted.setdefault(part, []).append(position)
                found = {}
                for part, positions in wanted.items():
                    reader = reader_of(part)
                    local = [p - starts[part] for p in positions]
                    gather = getattr(reader, '_gather', None)
                    if gather is not None:
                        samples = gather(local, yield_key=True, raw=True)
                    else:
                        samples = (reader.get(i, yield_key=True, raw=True) for i in local)
                    for position, (key, data) in zip(positions, samples):
                        found[position] = (key, bytes(data))
                for position in batch:
                    writer.write(*found.pop(position))
            written = writer.written
    finally:
        for reader in readers.values():
            reader.__exit__(None, None, None)
    return {'samples': written, 'skipped': [], 'seconds': time.perf_counter() - start}


# ----------------------------------------------------------------- engines

class _InProcess:
    """Runs the calls one after the other in this process."""

    workers = 1

    def run(self, calls):
        for index, (func, args) in calls:
            try:
                result = func(*args)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                yield index, None, exc
            else:
                yield index, result, None

    def close(self):
        pass


class _Dask:
    """Runs the calls on a Dask cluster, yielding results as they come in."""

    def __init__(self, scheduler=None, client=None, workers=None):
        from .tools.extras import require
        self.distributed = require('distributed', 'dist', 'converting on a Dask cluster',
                                   package='dask[distributed]')
        self._own = []
        if client is None:
            client = self._connect(scheduler, workers)
        self.client = client

    def _connect(self, scheduler, workers):
        distributed = self.distributed
        text = str(scheduler)
        if text == LOCAL_SCHEDULER or text.startswith(LOCAL_SCHEDULER + ':'):
            count = workers
            if text != LOCAL_SCHEDULER:
                try:
                    count = int(text.partition(':')[2])
                except ValueError:
                    count = 0
                if count < 1:
                    raise UserError(f'scheduler {text!r}: expected local or local:N with N >= 1')
            count = count or os.cpu_count() or 1
            import warnings
            with warnings.catch_warnings():
                # its (disabled) dashboard's port may be taken: it takes another
                warnings.filterwarnings('ignore', message='Port .* is already in use')
                cluster = distributed.LocalCluster(
                    n_workers=count, threads_per_worker=1, processes=True,
                    host='127.0.0.1', dashboard_address=None)
            self._own.append(cluster)
            scheduler = cluster
        try:
            client = distributed.Client(scheduler, timeout=_CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise UserError(f'cannot connect to the Dask scheduler {text} ({exc})') from None
        self._own.insert(0, client)
        return client

    @property
    def workers(self):
        return len(self.client.scheduler_info().get('workers', {})) or 1

    def run(self, calls):
        token = secrets.token_hex(4)
        futures = []
        for index, (func, args) in calls:
            future = self.client.submit(func, *args, key=f'datadings-shard-{index}-{token}',
                                        pure=False)
            futures.append((future, index))
        indices = {future.key: index for future, index in futures}
        try:
            for future in self.distributed.as_completed([f for f, _ in futures]):
                index = indices[future.key]
                if future.status == 'finished':
                    result, exc = future.result(), None
                else:
                    result, exc = None, future.exception()
                future.release()
                yield index, result, exc
        finally:
            pending = [f for f, _ in futures if not f.done()]
            if pending:
                self.client.cancel(pending)

    def close(self):
        for thing in self._own:
            try:
                thing.close()
            except Exception:  # pragma: no cover - shutting down anyway
                pass
        self._own = []


def _engine(scheduler, client, workers):
    if client is None and scheduler is None:
        return _InProcess()
    return _Dask(scheduler, client, workers)


# ------------------------------------------------------------------ job

def _describe(task):
    text = repr(task)
    if len(text) > _DESCRIPTION_LENGTH:
        text = text[:_DESCRIPTION_LENGTH - 3] + '...'
    return text


def _fingerprint(tasks, settings):
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=repr).encode())
    for task in tasks:
        digest.update(b'\0')
        digest.update(json.dumps(task, sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def _confirm(what, place, overwrite):
    from .tools import query_user
    from .tools import stdin_is_interactive
    if overwrite:
        return
    if not stdin_is_interactive():
        raise FileExistsError(f'{what} in {place}; replace with -y (overwrite=True in Python)')
    try:
        answer = query_user(f'{what} in {place}, overwrite?')
    except EOFError:
        answer = 'no'
    if answer == 'abort':
        raise KeyboardInterrupt(what)
    if answer == 'no':
        raise FileExistsError(f'{what} in {place}, not replaced')


def _load_state(place, name):
    text = place.read_text(f'.{name}.parallel')
    if text is None:
        return None
    try:
        state = json.loads(text)
        if state.get('format') != _STATE_FORMAT or state.get('version') != _STATE_VERSION:
            return {}
        return state
    except ValueError:
        return {}


def _outputs(place, name):
    from .sets.shards import glob_escape
    from .sets.shards import parse_shard_name
    names = [n for n in place.names(f'{glob_escape(name)}-*-of-*.msgpack')
             if (parse_shard_name(n) or ('',))[0] == name]
    list_name = name + SHARD_LIST_SUFFIX
    if place.read_text(list_name) is not None:
        names.append(list_name)
    if place.names(f'{glob_escape(name)}.msgpack'):
        names.append(f'{name}.msgpack')
    return names


def read_shard_list(path, storage_options=None):
    """
    The shards named in a shard list written by :py:func:`write_shards`
    (``train.shards``), for
    :py:class:`~datadings_like.reader.ShardedReader`::

        ShardedReader(read_shard_list('out/train.shards'))

    Parameters:
        path: path or fsspec URL of the list
        storage_options: fsspec options for a URL

    Returns:
        list of paths (or URLs) of the shards, in order

    Raises:
        FileNotFoundError: no such list
        DatasetError: the list names no shard
    """
    from .errors import DatasetError
    from .remote import is_url
    if is_url(path):
        from .remote import RemoteFile
        remote = RemoteFile(path, storage_options)
        if not remote.exists():
            raise FileNotFoundError(f'{path}: no such shard list')
        text = remote.read_all().decode('utf-8')
        base = path.rsplit('/', 1)[0]
        join = '{}/{}'.format
    else:
        text = Path(path).read_text(encoding='utf-8')
        base = Path(path).parent
        join = lambda base, name: str(base / name)  # noqa: E731
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DatasetError(f'{path}: the shard list names no shard')
    return [join(base, name) for name in names]


def write_shards(tasks, fn, outdir, name='train', *, shuffle=False, seed=None, shards=None,
                 config=None, scheduler=None, client=None, workers=None, overwrite=False,
                 quiet=False, describe=None, storage_options=None, desc=None):
    """
    Write one shard per task, in parallel on a Dask cluster or here, and
    then the shard list ``NAME.shards`` (see the module description).

    ``fn(task)`` yields the samples of a task (dicts with a unique
    ``"key"``), or :py:class:`Skipped` for items that give none. ``fn`` and
    the tasks are sent to the workers, so they must be picklable (module
    functions, :py:func:`functools.partial` of them, plain data), and
    every worker must see the source where the task says it is (a shared
    file system or URLs). Task ``i`` writes ``NAME-0000i-of-N.msgpack``
    (N is the number of tasks).

    A job is identified by its tasks (compared as JSON, objects by their
    ``repr``), ``name``, ``shuffle``, ``seed``, ``shards`` and ``config``.
    Running the same job again in the same ``outdir`` keeps the shards that
    exist and redoes the rest; another job, or a complete one, replaces
    what is there: only with ``overwrite``, or after a question on a
    terminal, else :py:class:`FileExistsError`.

    Parameters:
        tasks: sequence of task descriptions (a list of files, a member
            range of an archive, a slice of a list file ...)
        fn: ``fn(task) -> iterable`` of samples
        outdir: output directory, on a file system all workers share, or an
            fsspec URL (``s3://bucket/imagenet``)
        name: name of the split; names the shards and the list
        shuffle: write all samples in the order of one seeded permutation
            (two passes; temporary space as big as the output)
        seed: seed of the permutation (an int); None draws one, which is
            kept with the job so that a re-run goes on with it
        shards: number of output shards with ``shuffle`` (default: the
            number of tasks); without ``shuffle`` there is one per task
        config: JSON-serialisable description of options that change the
            output but not the tasks (e.g. ``--compress``)
        scheduler: None (run here, no Dask), a Dask scheduler address
            (``tcp://host:8786``), ``'local'`` or ``'local:N'`` (a
            LocalCluster of N worker processes on 127.0.0.1)
        client: a ``distributed.Client`` to use instead of ``scheduler``
        workers: workers of ``scheduler='local'`` (default: CPU count)
        overwrite: replace the outputs of another job without asking
        quiet: no progress bar and messages
        describe: ``describe(task) -> str`` for messages (default: its
            shortened ``repr``)
        storage_options: fsspec options for an ``outdir`` URL; they are sent
            to the workers with every task (see the manual on secrets in them)
        desc: progress bar label (default: ``name``)

    Returns:
        list of the paths (or URLs) of the shards, in order

    Raises:
        ShardTaskError: tasks failed (the others' shards are kept)
        FileExistsError: outputs of another job exist and may not be replaced
        MissingExtraError: a scheduler is given but Dask is not installed
        UserError: another job writes to ``outdir``; the scheduler cannot
            be reached
    """
    from .sets.shards import shard_name

    tasks = list(tasks)
    if not tasks:
        raise ValueError('write_shards needs at least one task')
    if shards is not None and (not isinstance(shards, int) or shards < 1):
        raise ValueError(f'shards must be an integer >= 1, not {shards!r}')
    if not shuffle and shards is not None and shards != len(tasks):
        raise ValueError(f'without shuffle there is one shard per task: {len(tasks)} '
                         f'tasks, not {shards}')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f'seed must be an integer >= 0, not {seed!r}')
    describe = describe or _describe
    count = (shards or len(tasks)) if shuffle else len(tasks)
    place = _place(outdir, storage_options)
    settings = {'name': name, 'shuffle': bool(shuffle), 'seed': seed, 'shards': count,
                'tasks': len(tasks), 'config': config}
    fingerprint = _fingerprint(tasks, settings)
    state_name = f'.{name}.parallel'
    parts_place = place.sub(f'.{name}.shuffle')

    place.prepare()
    place.lock(name)
    engine = None
    try:
        state = _load_state(place, name)
        if state and state.get('fingerprint') == fingerprint:
            seed = state['seed']
        else:
            existing = _outputs(place, name)
            if existing or state is not None:
                what = ', '.join(existing[:3]) + (' ...' if len(existing) > 3 else '') \
                    if existing else f'an unfinished other conversion of {name}'
                _confirm(what, place, overwrite)
            for old in existing:
                if old.endswith(SHARD_LIST_SUFFIX):
                    place.remove(old)
                else:
                    place.remove_dataset(old)
            parts_place.remove_tree()
            if shuffle and seed is None:
                seed = secrets.randbits(63)
            place.write_text(state_name, json.dumps({
                'format': _STATE_FORMAT, 'version': _STATE_VERSION,
                'fingerprint': fingerprint, 'seed': seed, 'settings': settings,
            }, indent=1, default=repr) + '\n')
        targets = [shard_name(name, i, count) for i in range(count)]
        for target in targets:
            place.remove_temporary(target)
        job = _Job(place, name, tasks, fn, describe, quiet, storage_options, desc)
        engine = _engine(scheduler, client, workers)
        if shuffle:
            part_names = [shard_name('part', i, len(tasks)) for i in range(len(tasks))]
            parts_place.prepare()
            for part in part_names:
                parts_place.remove_temporary(part)
            job.start(len(tasks) + count,
                      sum(parts_place.complete_all(part_names)) +
                      sum(place.complete_all(targets)))
            job.convert(engine, parts_place, part_names)
            job.check()
            starts = [0]
            for length in parts_place.lengths(part_names):
                starts.append(starts[-1] + length)
            total = starts[-1]
            import numpy as np
            order = np.random.default_rng(seed).permutation(total)
            calls = []
            for s, (target, done) in enumerate(zip(targets, place.complete_all(targets))):
                if done:
                    continue
                chunk = order[s * total // count:(s + 1) * total // count].tolist()
                calls.append((s, (_shuffle_task, (
                    [parts_place.target(p) for p in part_names], starts[:-1], chunk,
                    place.target(target), storage_options))))
            job.run(engine, calls, 'shuffled shard', place, targets)
            job.check()
        else:
            job.start(len(tasks), sum(place.complete_all(targets)))
            job.convert(engine, place, targets)
            job.check()
        place.write_text(name + SHARD_LIST_SUFFIX, ''.join(t + '\n' for t in targets))
        parts_place.remove_tree()
        place.remove(state_name)
        job.finish(targets)
    finally:
        if engine is not None:
            engine.close()
        place.unlock()
    return [place.target(t) for t in targets]


class _Job:
    """Progress, counts and failures of one :py:func:`write_shards` call."""

    def __init__(self, place, name, tasks, fn, describe, quiet, storage_options, desc):
        self.place = place
        self.name = name
        self.tasks = tasks
        self.fn = fn
        self.describe = describe
        self.quiet = quiet
        self.storage_options = storage_options
        self.desc = desc or name
        self.samples = 0
        self.skipped = []
        self.failures = []
        self.bar = None
        self._start = time.perf_counter()

    def start(self, total, done):
        from .tools import make_printer
        self.bar = make_printer(
            total=total, initial=done, desc=self.desc, disable=self.quiet,
            bar_format='{desc} {n_fmt}/{total_fmt} shards {percentage:3.0f}% '
                       '{elapsed}<{remaining}{postfix}')

    def convert(self, engine, place, targets):
        calls = []
        for i, (target, done) in enumerate(zip(targets, place.complete_all(targets))):
            if not done:
                calls.append((i, (_convert_task, (self.fn, self.tasks[i], place.target(target),
                                                  self.storage_options))))
        self.run(engine, calls, 'task', place, targets)

    def run(self, engine, calls, what, place, targets):
        try:
            self._run(engine, calls, what)
        finally:
            # what the writers of killed or failed tasks left behind
            for target in targets:
                place.remove_temporary(target)

    def _run(self, engine, calls, what):
        for index, result, exc in engine.run(calls):
            if exc is not None:
                if what == 'task':
                    about = f'task {index} ({self.describe(self.tasks[index])})'
                else:
                    about = f'{what} {index}'
                self.failures.append((index, about, exc))
                if not self.quiet:
                    self.bar.write(f'{self.name}: {about} failed: {_error_text(exc)}',
                                   file=sys.stderr)
                continue
            self.samples += result['samples']
            self.skipped.extend(result['skipped'])
            elapsed = time.perf_counter() - self._start
            self.bar.set_postfix_str(f'{self.samples / max(elapsed, 1e-9):.1f} samples/s',
                                     refresh=False)
            self.bar.update(1)

    def check(self):
        if not self.failures:
            return
        self.bar.close()
        self._report_skipped()
        n = len(self.failures)
        shown = '; '.join(f'{about}: {_error_text(exc)}'
                          for _, about, exc in self.failures[:_SHOWN_FAILURES])
        more = f' (and {n - _SHOWN_FAILURES} more)' if n > _SHOWN_FAILURES else ''
        raise ShardTaskError(
            f'{self.name}: {n} of {len(self.tasks)} shards failed: {shown}{more}; the other '
            f'shards are kept in {self.place}: run the same conversion again to redo only '
            f'the failed ones', list(self.failures))

    def _report_skipped(self):
        if self.skipped and not self.quiet:
            lines = self.skipped[:_SHOWN_FAILURES]
            more = len(self.skipped) - len(lines)
            print(f'warning: skipped {len(self.skipped)} item'
                  f'{"s" * (len(self.skipped) != 1)}:\n  ' + '\n  '.join(lines)
                  + (f'\n  ... and {more} more' if more else ''), file=sys.stderr)

    def finish(self, targets):
        self.bar.close()
        self._report_skipped()
        if not self.quiet:
            print(f'{len(targets)} shards ({targets[0]} ...) and '
                  f'{self.name}{SHARD_LIST_SUFFIX} written to {self.place}', file=sys.stderr)


def _error_text(exc):
    text = str(exc).strip().splitlines()
    text = text[0] if text else ''
    return f'{type(exc).__name__}: {text}' if text else type(exc).__name__
