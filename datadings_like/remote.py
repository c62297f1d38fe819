"""
Files in object storage (S3, GCS, HTTP(S) and every other fsspec protocol).

This is the file layer under :py:class:`~datadings_like.reader.MsgpackReader`
for URLs: byte-range reads with retries, a buffer that reads sequentially
in large blocks with read-ahead (and fetches exactly the requested bytes for
random access), a local block cache with a size limit, and the upload of a
locally written dataset. It needs the optional extra ``remote``
(``pip install 'datadings_like[remote]'``: fsspec, s3fs, aiohttp).

Credentials come from the usual places of each backend (for S3 the
environment, ``~/.aws``, instance roles; ``storage_options`` are passed to
fsspec). They never appear in messages: errors name the URL without its
user info and query string.
"""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import hashlib
import json
import os
import re
import shutil
import threading
import time
import urllib.parse
import uuid

from .errors import DatasetError
from .errors import RemoteError

__all__ = ('is_url', 'redact', 'url_name', 'RemoteFile', 'RemoteBuffer', 'BlockCache',
           'upload_files', 'upload_dataset', 'upload_datasets', 'upload_directory',
           'staging_path', 'stage_directory', 'unstage_directory', 'shown_name', 'remove_remote',
           'DEFAULT_BLOCK_SIZE')

DEFAULT_BLOCK_SIZE = 8 << 20
_URL = re.compile(r'^[A-Za-z][A-Za-z0-9+.\-]*://')
# HTTP statuses worth another try (the server or a proxy was overloaded)
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_url(path) -> bool:
    """
    True if ``path`` is a URL (``scheme://...``) rather than a local path.
    ``Path`` objects are always local.
    """
    return isinstance(path, str) and _URL.match(path) is not None


def redact(url: str) -> str:
    """The URL without user info (``user:password@``) and query string (signatures)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return '<url>'
    netloc = parts.netloc.rpartition('@')[2]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, '', ''))


def url_name(url: str) -> str:
    """Last path component of a URL."""
    return urllib.parse.urlsplit(url).path.rstrip('/').rpartition('/')[2]


def _import_fsspec():
    try:
        import fsspec
    except ImportError:
        raise ImportError('reading URLs needs fsspec: pip install '
                          "'datadings_like[remote]'") from None
    return fsspec


def _status(exc):
    """The HTTP status an exception (or one it was raised from) carries, if any."""
    seen = 0
    while exc is not None and seen < 5:
        status = _own_status(exc)
        if status is not None:
            return status
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _own_status(exc):
    for attr in ('status', 'status_code', 'code'):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, 'response', None)
    if isinstance(response, dict):  # botocore ClientError
        code = response.get('ResponseMetadata', {}).get('HTTPStatusCode')
        if isinstance(code, int):
            return code
    return None


def _transient(exc):
    """Is this failure worth another try (timeout, 5xx, dropped connection)?"""
    if isinstance(exc, (TimeoutError, ConnectionError, EOFError)):
        return True
    # aiohttp, botocore and asyncio name their network errors like this (an
    # aiohttp payload error carries a made-up status 400: look at it first)
    name = type(exc).__name__
    if any(word in name for word in ('Timeout', 'Connection', 'Disconnected', 'Payload',
                                     'ClientOS', 'IncompleteRead', 'ProtocolError')):
        return True
    status = _status(exc)
    if status is not None:
        return status in _RETRY_STATUS
    return False


class RemoteFile:
    """
    One remote file, read by byte ranges through fsspec.

    Transient failures (timeouts, 5xx answers, dropped connections, short
    reads) are retried with exponential backoff; a retry resumes after the
    bytes already received. A missing file raises ``FileNotFoundError``, a
    denied one ``PermissionError``; both name the URL (without credentials).

    The object is picklable: the file system connection is not pickled but
    opened again in the process that unpickles it (DataLoader workers each
    get their own).

    Parameters:
        url: URL of the file (any fsspec protocol)
        storage_options: passed to fsspec (e.g. ``endpoint_url``, ``anon``)
        retries: how many times a failed request is tried again
        backoff: seconds before the first retry; doubled for each further one

    Attributes:
        requests: number of requests sent by this object (ranges, sizes, whole files)
        bytes_read: bytes received
    """

    def __init__(self, url: str, storage_options=None, retries=5, backoff=0.1):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.retries = retries
        self.backoff = backoff
        self.requests = 0
        self.bytes_read = 0
        self._fs = None
        self._fspath = None
        self._pid = None
        self._lock = threading.Lock()

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_fs'] = None
        state['_fspath'] = None
        state['_lock'] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        return f'RemoteFile({redact(self.url)!r})'

    @property
    def fs(self):
        """The fsspec file system (made on first use, in this process)."""
        if self._fs is None or self._pid != os.getpid():
            fsspec = _import_fsspec()
            with self._lock:
                if self._fs is None or self._pid != os.getpid():
                    options = dict(self.storage_options)
                    # a file system of our own: fsspec's instance cache would
                    # share one (and its connections) between readers; a
                    # forked child makes a new one (the pid differs)
                    options.setdefault('skip_instance_cache', True)
                    try:
                        fs, fspath = fsspec.core.url_to_fs(self.url, **options)
                    except TypeError:
                        # an option the backend does not take; name the
                        # options, never their values (they may be secrets)
                        names = ', '.join(sorted(self.storage_options)) or 'none'
                        raise RemoteError(
                            f'{redact(self.url)}: the storage backend does not accept '
                            f'these storage options: {names}') from None
                    self._fs, self._fspath = fs, fspath
                    self._pid = os.getpid()
        return self._fs

    @property
    def fspath(self):
        """The file's path as the file system names it."""
        self.fs
        return self._fspath

    def sibling(self, suffix: str) -> 'RemoteFile':
        """The file whose URL is this one's with ``suffix`` appended (same options)."""
        other = RemoteFile(self.url + suffix, self.storage_options, self.retries, self.backoff)
        if self._fs is not None and self._pid == os.getpid():
            other._fs = self._fs
            other._pid = self._pid
            other._fspath = self._fspath + suffix
        return other

    def _count(self, nbytes=0):
        with self._lock:
            self.requests += 1
            self.bytes_read += nbytes

    def _failure(self, exc, what):
        """The error to raise for a failure that is not retried."""
        name = redact(self.url)
        status = _status(exc)
        if isinstance(exc, PermissionError) or status in (401, 403):
            return PermissionError(f'{name}: access denied (check the credentials '
                                   'of this storage backend)')
        if isinstance(exc, FileNotFoundError) or status == 404:
            return FileNotFoundError(f'{name}: not found')
        detail = f'HTTP {status}' if status is not None else type(exc).__name__
        return RemoteError(f'{name}: {what} failed: {detail}')

    def _retrying(self, what, call):
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return call()
            except Exception as exc:
                if not _transient(exc) or attempt == self.retries:
                    raise self._failure(exc, what) from None
            time.sleep(delay)
            delay *= 2

    def info(self) -> dict:
        """File size and identity (``size``, ``etag`` or ``mtime`` where the backend tells)."""
        def call():
            self._count()
            return self.fs.info(self.fspath)
        info = self._retrying('stat', call)
        if info.get('type') == 'directory':
            raise IsADirectoryError(f'{redact(self.url)}: is a directory, not a dataset file')
        size = info.get('size')
        if size is None:
            raise RemoteError(f'{redact(self.url)}: the server does not tell the file size')
        ident = info.get('ETag') or info.get('etag') or info.get('LastModified') \
            or info.get('mtime') or info.get('last_modified') or ''
        return {'size': int(size), 'identity': str(ident)}

    def exists(self) -> bool:
        """True if the file exists (False for 404; 403 and other errors raise)."""
        try:
            self.info()
        except FileNotFoundError:
            return False
        return True

    def read_range(self, start: int, stop: int) -> bytes:
        """
        Bytes ``start..stop-1`` of the file, in one request (more only to
        retry or resume after a failure).

        Raises:
            FileNotFoundError: the file is missing
            PermissionError: access is denied
            RemoteError: the range cannot be read after all retries, or the file
                is shorter than ``stop``
        """
        if stop <= start:
            return b''
        parts = []
        got = 0
        want = stop - start
        delay = self.backoff
        failures = 0
        while got < want:
            try:
                self._count()
                data = self.fs.cat_file(self.fspath, start=start + got, end=stop)
            except Exception as exc:
                if not _transient(exc) or failures >= self.retries:
                    raise self._failure(exc, f'read of bytes {start + got}-{stop - 1}') from None
                failures += 1
                time.sleep(delay)
                delay *= 2
                continue
            if len(data) > want - got:
                # a server that ignored the range sent more; keep what was asked
                data = data[:want - got]
            with self._lock:
                self.bytes_read += len(data)
            if not data:
                failures += 1
                if failures > self.retries:
                    raise RemoteError(f'{redact(self.url)}: file ends before byte {stop}')
                time.sleep(delay)
                delay *= 2
                continue
            parts.append(data)
            got += len(data)
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def read_all(self) -> bytes:
        """The whole file (one request; retried like :py:meth:`read_range`)."""
        def call():
            self._count()
            data = self.fs.cat_file(self.fspath)
            with self._lock:
                self.bytes_read += len(data)
            return data
        return self._retrying('read', call)


class BlockCache:
    """
    A directory of cached blocks of remote files, with a size limit.

    Each remote file has an entry (a directory named by a hash of its URL)
    holding its sidecars, its blocks as they are fetched, and, once all
    blocks are there, the whole file (checked against its ``.md5`` entry
    where the dataset has one). An entry whose remote file changed (other
    size or ETag) is dropped. When the cache would grow beyond ``limit``
    bytes, the least recently opened entries of other files are evicted;
    blocks that still do not fit are not cached.

    Several processes may share a cache directory: every file is written
    under a temporary name and renamed into place.

    Parameters:
        cache_dir: cache directory (made if missing)
        limit: size limit in bytes (``None``: no limit)
    """

    def __init__(self, cache_dir, limit=None):
        self.root = Path(cache_dir)
        self.limit = limit
        self.root.mkdir(parents=True, exist_ok=True)

    def entry(self, url: str, identity: dict) -> Path:
        """The entry directory for ``url``; emptied if the remote file changed."""
        key = hashlib.sha256(redact(url).encode()).hexdigest()[:24]
        path = self.root / key
        meta_path = path / 'meta.json'
        meta = {'url': redact(url), **identity}
        try:
            old = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            old = None
        if old != meta:
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True, exist_ok=True)
            (path / 'blocks').mkdir(exist_ok=True)
            _atomic_write(meta_path, json.dumps(meta).encode())
        else:
            os.utime(meta_path)  # recently used
        return path

    def used(self) -> int:
        """Bytes held by the cache."""
        total = 0
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                try:
                    total += os.stat(os.path.join(dirpath, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    def make_room(self, nbytes: int, keep: Path) -> bool:
        """
        Evict least recently used entries other than ``keep`` until
        ``nbytes`` more fit under the limit. Returns whether they fit.
        """
        if self.limit is None:
            return True
        used = self.used()
        if used + nbytes <= self.limit:
            return True
        entries = []
        for path in self.root.iterdir():
            if path == keep or not path.is_dir():
                continue
            try:
                entries.append((os.stat(path / 'meta.json').st_mtime, path))
            except FileNotFoundError:
                entries.append((0, path))
        for _, path in sorted(entries):
            shutil.rmtree(path, ignore_errors=True)
            used = self.used()
            if used + nbytes <= self.limit:
                return True
        return used + nbytes <= self.limit


def _atomic_write(path: Path, data: bytes):
    tmp = path.with_name(f'.{path.name}.{uuid.uuid4().hex}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class _View:
    """Slices of a :py:class:`RemoteBuffer` as ``memoryview`` objects (``copy=False``)."""

    __slots__ = ('_buffer',)

    def __init__(self, buffer):
        self._buffer = buffer

    def __len__(self):
        return self._buffer.size

    def __getitem__(self, s):
        return memoryview(self._buffer[s])


class RemoteBuffer:
    """
    Bytes of a remote file, sliced like the ``mmap`` of a local one.

    ``buffer[a:b]`` returns ``bytes``. A read that continues where the last
    one ended (sequential iteration) fetches whole aligned blocks of
    ``block_size`` bytes and fetches the next ``readahead`` blocks in the
    background; any other read (random access) fetches exactly its bytes in
    one range request. The last few blocks stay in memory.

    With a :py:class:`BlockCache`, every read fetches whole blocks, which are
    kept on disk; when all blocks are cached the file is assembled, checked
    against ``md5`` (if given) and from then on read locally.

    Parameters:
        remote: the :py:class:`RemoteFile`
        size: file size in bytes
        block_size: bytes per block
        readahead: blocks fetched ahead during sequential reads
        cache: a :py:class:`BlockCache` or ``None``
        entry: the cache entry directory of this file
        md5: expected md5 hex digest of the whole file, or ``None``
        workers: requests in flight at most (read-ahead, :py:meth:`prefetch`)
    """

    _KEEP = 4

    def __init__(self, remote: RemoteFile, size: int, block_size=DEFAULT_BLOCK_SIZE,
                 readahead=2, cache=None, entry=None, md5=None, workers=4):
        self.remote = remote
        self.size = size
        self.block_size = max(int(block_size), 4096)
        self.readahead = readahead
        self.cache = cache
        self.entry = entry
        self.md5 = md5
        self._blocks = {}  # block number -> bytes, most recent last
        self._pending = {}  # block number -> Future
        self._ranges = {}  # (start, stop) -> bytes fetched by prefetch()
        self._last = None  # (start, stop) of the last read
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max(workers, 1), thread_name_prefix='datadings-remote')
        self._local = None  # mmap of the complete cached file
        if entry is not None:
            self._open_complete()

    # ----------------------------------------------------------- cache files

    def _complete_path(self):
        return self.entry / 'data'

    def _block_path(self, k):
        return self.entry / 'blocks' / str(k)

    def _open_complete(self):
        path = self._complete_path()
        try:
            fileobj = open(path, 'rb')
        except FileNotFoundError:
            return False
        with fileobj:
            if os.fstat(fileobj.fileno()).st_size != self.size:
                return False
            if self.size == 0:
                self._local = b''
            else:
                import mmap
                self._local = mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ)
        return True

    @property
    def cached(self) -> bool:
        """True once the whole file is in the cache (reads are local)."""
        return self._local is not None

    def _store(self, k, data):
        if self.cache is None:
            return
        path = self._block_path(k)
        if path.exists() or not self.cache.make_room(len(data), self.entry):
            return
        try:
            _atomic_write(path, data)
        except FileNotFoundError:  # the entry was evicted by another process
            return
        self._maybe_complete()

    def _maybe_complete(self):
        nblocks = self._nblocks()
        blocks = self.entry / 'blocks'
        try:
            present = len([n for n in os.listdir(blocks) if n.isdigit()])
        except FileNotFoundError:
            return
        if present < nblocks:
            return
        tmp = self.entry / f'.data.{uuid.uuid4().hex}.tmp'
        digest = hashlib.md5()
        try:
            with open(tmp, 'wb') as out:
                for k in range(nblocks):
                    with open(self._block_path(k), 'rb') as f:
                        data = f.read()
                    digest.update(data)
                    out.write(data)
            if self.md5 is not None and digest.hexdigest() != self.md5:
                shutil.rmtree(blocks, ignore_errors=True)
                blocks.mkdir(exist_ok=True)
                raise DatasetError(f'{redact(self.remote.url)}: the downloaded file does not '
                                   'match its .md5 (the cached copy was dropped)')
            os.replace(tmp, self._complete_path())
        except FileNotFoundError:
            return  # another process completed or evicted it meanwhile
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        shutil.rmtree(blocks, ignore_errors=True)
        self._open_complete()

    def _cached_block(self, k, a, b):
        """Bytes ``a..b-1`` (file offsets) of block ``k`` from disk, or None."""
        try:
            with open(self._block_path(k), 'rb') as f:
                f.seek(a - k * self.block_size)
                return f.read(b - a)
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------- fetching

    def _nblocks(self):
        return -(-self.size // self.block_size)

    def _fetch_block(self, k):
        start = k * self.block_size
        data = self.remote.read_range(start, min(start + self.block_size, self.size))
        self._store(k, data)
        return data

    def _block(self, k):
        """Block ``k``, from memory, a pending read-ahead, or fetched now."""
        with self._lock:
            data = self._blocks.pop(k, None)
            future = self._pending.pop(k, None) if data is None else None
        if data is None:
            if future is not None:
                data = future.result()
            else:
                data = self._fetch_block(k)
        with self._lock:
            self._blocks[k] = data
            while len(self._blocks) > self._KEEP:
                del self._blocks[next(iter(self._blocks))]
        return data

    def _read_ahead(self, k):
        with self._lock:
            for j in range(k + 1, min(k + 1 + self.readahead, self._nblocks())):
                if j not in self._blocks and j not in self._pending:
                    if self.cache is not None and self._block_path(j).exists():
                        continue
                    self._pending[j] = self._pool.submit(self._fetch_block, j)

    def _read_blocks(self, a, b, sequential):
        bs = self.block_size
        first, last = a // bs, (b - 1) // bs
        parts = []
        for k in range(first, last + 1):
            lo, hi = max(a, k * bs), min(b, (k + 1) * bs)
            with self._lock:
                data = self._blocks.get(k)
            if data is None and self.cache is not None:
                piece = self._cached_block(k, lo, hi)
                if piece is not None:
                    parts.append(piece)
                    continue
            data = self._block(k)
            parts.append(data[lo - k * bs:hi - k * bs])
        if sequential:
            self._read_ahead(last)
        return parts[0] if len(parts) == 1 else b''.join(parts)

    def read(self, a: int, b: int) -> bytes:
        """Bytes ``a..b-1``."""
        a = max(0, min(a, self.size))
        b = max(a, min(b, self.size))
        if a == b:
            return b''
        local = self._local
        if local is not None:
            return local[a:b]
        last = self._last
        self._last = (a, b)
        sequential = last is not None and last[0] <= a <= last[1]
        if self.cache is not None or sequential:
            return self._read_blocks(a, b, sequential)
        # random access: blocks in memory, prefetched ranges, or one request
        bs = self.block_size
        k = a // bs
        if k == (b - 1) // bs:
            with self._lock:
                data = self._blocks.get(k)
            if data is not None:
                return data[a - k * bs:b - k * bs]
        with self._lock:
            data = self._ranges.pop((a, b), None)
        if data is not None:
            return data
        return self.remote.read_range(a, b)

    def prefetch(self, ranges):
        """
        Fetch several ``(start, stop)`` ranges concurrently (up to
        ``workers`` in flight); the next read of each exact range is then
        served from memory. Used for random batches.
        """
        if self._local is not None or self.cache is not None:
            return
        ranges = [(int(a), int(b)) for a, b in ranges if b > a]
        results = self._pool.map(lambda r: self.remote.read_range(*r), ranges)
        with self._lock:
            self._ranges.clear()
        fetched = dict(zip(ranges, results))
        with self._lock:
            self._ranges.update(fetched)

    def __len__(self):
        return self.size

    def __getitem__(self, s):
        if isinstance(s, slice):
            a, b, step = s.indices(self.size)
            if step != 1:
                raise ValueError('only contiguous slices of remote files')
            return self.read(a, b)
        if s < 0:
            s += self.size
        if not 0 <= s < self.size:
            raise IndexError('index out of range')
        return self.read(s, s + 1)[0]

    def find(self, sub, start=0, end=None):
        """Like ``bytes.find`` on bytes ``start..end-1``."""
        end = self.size if end is None else end
        pos = self.read(start, end).find(sub)
        return pos + start if pos >= 0 else -1

    def view(self):
        """An object whose slices are ``memoryview`` objects."""
        return _View(self)

    def close(self):
        """Stop read-ahead and release memory."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._blocks.clear()
        self._ranges.clear()


def upload_files(local_paths, urls, storage_options=None, retries=5, backoff=0.1):
    """
    Upload local files to URLs in the given order, each retried on
    transient failures. Put the data file last: readers look for it first,
    so a dataset appears at its URL only when its sidecars are there.
    Nothing is removed if an upload fails (see :py:func:`upload_datasets`).

    Parameters:
        local_paths: files to upload
        urls: their destinations
        storage_options: passed to fsspec

    Raises:
        PermissionError: access denied
        RemoteError: an upload failed after all retries
    """
    for path, url in zip(local_paths, urls):
        _put(path, RemoteFile(url, storage_options, retries, backoff))


def _put(path, remote):
    def call():
        remote._count()
        remote.fs.put_file(os.fspath(path), remote.fspath)
    remote._retrying('upload', call)


def remove_remote(remote):
    """
    Remove a remote file if it is there, with retries.

    Parameters:
        remote: the :py:class:`RemoteFile`

    Raises:
        OSError: it cannot be removed (after the retries)
    """
    def call():
        remote._count()
        try:
            remote.fs.rm_file(remote.fspath)
        except FileNotFoundError:
            pass
    remote._retrying('removal', call)


def _delete(remote):
    """Remove a remote file if it is there; failures are ignored (this is clean-up)."""
    try:
        remove_remote(remote)
    except OSError:
        pass


# the order of an upload: index files first, the data file last (readers
# look for the data file first), as in datadings_like.index
_UPLOAD_SUFFIXES = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def staging_path(url: str, overwrite: bool, storage_options=None) -> Path:
    """
    Where a writer to ``url`` writes its files locally before the upload:
    a new temporary directory (remove it when done).

    Raises:
        FileExistsError: a file exists at ``url`` and ``overwrite`` is False
            (there is no prompt for remote files)
        PermissionError: access denied
    """
    if not overwrite and RemoteFile(url, storage_options).exists():
        raise FileExistsError(f'{redact(url)}: exists (pass overwrite=True, or -y, to replace it)')
    import tempfile
    return Path(tempfile.mkdtemp(prefix='datadings-upload-')) / (url_name(url) or 'dataset.msgpack')


def upload_datasets(datasets, storage_options=None, files=()):
    """
    Upload complete local datasets, all or nothing: first ``files`` (other
    files, e.g. label counts), then the sidecars of every dataset, then the
    data files; each data file is checked to have arrived whole.

    If an upload fails or is interrupted (``KeyboardInterrupt``), what this
    call uploaded is removed again, and every dataset whose files were
    (partly) replaced is removed from its URL (data file and sidecars): no
    dataset is left at a final URL that is new, incomplete or paired with
    the wrong sidecars. A dataset whose files were not touched yet stays
    as it was.

    Parameters:
        datasets: ``(local data file, url)`` pairs
        storage_options: passed to fsspec
        files: ``(local file, url)`` pairs of further files to upload

    Raises:
        PermissionError: access denied
        RemoteError: an upload failed after all retries, or a data file
            did not arrive whole
    """
    steps = []  # (local path, RemoteFile, index of its dataset or None)
    data = []
    for path, url in files:
        steps.append((Path(path), RemoteFile(url, storage_options), None))
    for k, (local, url) in enumerate(datasets):
        local = Path(local)
        remote = RemoteFile(url, storage_options)
        remote.fs  # made now, the sidecars' siblings share it (one connection, not six)
        for suffix in _UPLOAD_SUFFIXES:
            path = local.with_name(local.name + suffix)
            if path.exists():
                steps.append((path, remote.sibling(suffix), k))
        data.append((local, remote))
    steps += [(local, remote, k) for k, (local, remote) in enumerate(data)]
    done = []
    touched = set()
    current = None
    try:
        for path, remote, current in steps:
            _put(path, remote)
            done.append(remote)
            if current is not None:
                touched.add(current)
        current = None
        for local, remote in data:
            size = local.stat().st_size
            arrived = remote.info()['size']
            if arrived != size:
                raise RemoteError(f'{redact(remote.url)}: upload incomplete: {arrived} of '
                                  f'{size} bytes arrived')
    except BaseException as exc:
        if current is not None and not isinstance(exc, (PermissionError, FileNotFoundError)):
            touched.add(current)  # the failed upload may have arrived all the same
        # the data files first: from then on no reader finds a dataset; then
        # the sidecars of those datasets (new ones, and old ones that were
        # not replaced yet) and whatever else this call put
        gone = set()
        for k in sorted(touched):
            remote = data[k][1]
            for one in [remote] + [remote.sibling(s) for s in _UPLOAD_SUFFIXES]:
                _delete(one)
                gone.add(one.url)
        for remote in reversed(done):
            if remote.url not in gone:
                _delete(remote)
        raise


def upload_dataset(local: Path, url: str, storage_options=None):
    """
    Upload a complete local dataset (data file and sidecars) to ``url``:
    the sidecars first, the data file last, so the dataset appears under its
    URL only when it is complete. An upload that fails (or is interrupted)
    leaves no dataset at ``url``: what was uploaded is removed again (see
    :py:func:`upload_datasets`).

    Raises:
        PermissionError: access denied
        RemoteError: an upload failed after all retries
    """
    upload_datasets([(local, url)], storage_options)


# local staging directories of remote output directories -> their URLs
_STAGED = {}


def stage_directory(url: str) -> Path:
    """
    A new local directory to write what goes to the directory URL ``url``
    (see :py:func:`upload_directory`). Until :py:func:`unstage_directory`,
    :py:func:`shown_name` names files in it by their URL.
    """
    import tempfile
    path = Path(tempfile.mkdtemp(prefix='datadings-upload-'))
    _STAGED[path] = url.rstrip('/')
    return path


def unstage_directory(path: Path):
    """Remove a directory made by :py:func:`stage_directory` with everything in it."""
    _STAGED.pop(Path(path), None)
    shutil.rmtree(path, ignore_errors=True)


def shown_name(path):
    """
    How messages name a local file: by its URL (without credentials) if it
    lies in a directory of :py:func:`stage_directory`, else as it is.
    """
    path = Path(path)
    for root, url in _STAGED.items():
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return redact(_join(url, rel.as_posix()))
    return path


def _join(url, name):
    return url.rstrip('/') + '/' + name


def upload_directory(local_dir, url, overwrite=False, storage_options=None) -> list:
    """
    Upload what a program wrote into ``local_dir`` (e.g. a dataset writer's
    output directory) to the directory URL ``url``, keeping relative paths,
    all or nothing as :py:func:`upload_datasets`: a file with a ``.offsets``,
    ``.md5`` or ``.index`` sidecar is a dataset (its sidecars go first, the
    data file last); other files go before all datasets. Hidden files
    (names starting with ``.``) are not uploaded.

    Parameters:
        local_dir: the local directory
        url: the destination directory
        overwrite: replace files that exist at the destination
        storage_options: passed to fsspec

    Returns:
        the URLs of the data files uploaded

    Raises:
        FileExistsError: a file exists at the destination and ``overwrite``
            is False (nothing is uploaded)
        PermissionError: access denied
        RemoteError: an upload failed after all retries
    """
    local_dir = Path(local_dir)
    found = sorted(p for p in local_dir.rglob('*') if p.is_file()
                   and not any(part.startswith('.') for part in p.relative_to(local_dir).parts))
    names = {p.name for p in found}
    sidecar_of = set()
    datasets = []
    for p in found:
        if any(p.name + s in names for s in ('.offsets', '.md5', '.index')) \
                and not p.name.endswith(_UPLOAD_SUFFIXES + ('.index',)):
            datasets.append(p)
            sidecar_of.update(p.with_name(p.name + s) for s in _UPLOAD_SUFFIXES)
    others = [p for p in found if p not in sidecar_of and p not in datasets]

    def target(p):
        return _join(url, p.relative_to(local_dir).as_posix())
    if not overwrite:
        existing = [target(p) for p in others + datasets
                    if RemoteFile(target(p), storage_options).exists()]
        if existing:
            listed = ', '.join(redact(u) for u in existing[:3])
            more = f' and {len(existing) - 3} more' if len(existing) > 3 else ''
            raise FileExistsError(f'{listed}{more}: exist(s); pass -y to replace them '
                                  '(nothing was uploaded)')
    pairs = [(p, target(p)) for p in datasets]
    upload_datasets(pairs, storage_options, files=[(p, target(p)) for p in others])
    return [u for _, u in pairs]


def glob_urls(pattern: str, storage_options=None) -> list:
    """
    URLs of the data files that match a glob pattern URL
    (``s3://bucket/train-*.msgpack``), in the order the backend lists them.

    Raises:
        PermissionError: access denied
        RemoteError: the listing failed after all retries
    """
    remote = RemoteFile(pattern, storage_options)

    def call():
        remote._count()
        return remote.fs.glob(remote.fspath)
    found = remote._retrying('listing', call)
    return [remote.fs.unstrip_protocol(p) for p in found]


def download_dataset(url: str, directory, progress=False, storage_options=None,
                     block_size=DEFAULT_BLOCK_SIZE) -> Path:
    """
    Download a dataset (data file and whichever sidecars exist) into
    ``directory``, the data file in blocks of ``block_size`` bytes.

    Returns:
        Local path of the data file

    Raises:
        FileNotFoundError: the data file is missing
        PermissionError: access denied
        RemoteError: a read failed after all retries
    """
    from .tools import make_printer
    remote = RemoteFile(url, storage_options)
    size = remote.info()['size']
    local = Path(directory) / (url_name(url) or 'dataset.msgpack')
    for suffix in _UPLOAD_SUFFIXES + ('.index',):
        try:
            data = remote.sibling(suffix).read_all()
        except FileNotFoundError:
            continue
        local.with_name(local.name + suffix).write_bytes(data)
    with open(local, 'wb') as f, make_printer(total=size, desc=f'download {local.name}',
                                               disable=not progress) as bar:
        for a in range(0, size, block_size):
            data = remote.read_range(a, min(a + block_size, size))
            f.write(data)
            bar.update(len(data))
    return local
