"""
:py:class:`MsgpackReader` for datasets at a URL (S3, GCS, HTTP(S), any fsspec protocol).

``MsgpackReader(url)`` makes a :py:class:`RemoteMsgpackReader`; it behaves
like the local reader, but reads through
:py:class:`~datadings_like.remote.RemoteBuffer` instead of ``mmap``.
"""
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
import hashlib
import os
import shutil
import tempfile
import warnings
import weakref

import numpy as np

from ..errors import DatasetError
from ..errors import RemoteError
from ..index import SUFFIX_FILTER
from ..index import SUFFIX_KEY_HASHES
from ..index import SUFFIX_KEYS
from ..index import SUFFIX_LEGACY_INDEX
from ..index import SUFFIX_OFFSETS
from ..index import legacy_index_len
from ..index import offsets_len
from ..msgpack import object_hook
from ..remote import DEFAULT_BLOCK_SIZE
from ..remote import BlockCache
from ..remote import RemoteBuffer
from ..remote import RemoteFile
from ..remote import redact
from ..remote import url_name
from ..tools import load_md5file
from ..tools import make_printer
from .msgpack import MsgpackReader
from .msgpack import _DATASET_FILES
from .msgpack import _MD5
from .msgpack import _current_identity
from .reader import Reader
from .reader import _counted

__all__ = ('RemoteMsgpackReader',)

_SIDECARS = (SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER, _MD5,
             SUFFIX_LEGACY_INDEX)
# readers whose connections and threads a forked child must not reuse
_LIVE = weakref.WeakSet()


def _after_fork():
    for reader in list(_LIVE):
        reader.__dict__.pop('_mm', None)
        reader.__dict__.pop('_view', None)


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_after_fork)


class RemoteMsgpackReader(MsgpackReader):
    """
    :py:class:`MsgpackReader` for a dataset file at a URL.

    Made by ``MsgpackReader(url, ...)`` for any ``scheme://`` URL that fsspec
    knows (``s3://``, ``gs://``, ``https://``, ...). Opening fetches the
    size of the data file and the small sidecars (index files and ``.md5``)
    once. ``get(i)`` then fetches only that sample's bytes in one range
    request; sequential iteration reads aligned blocks of ``block_size``
    bytes with ``readahead`` blocks fetched in the background; random
    batches (e.g. from :py:class:`~datadings_like.reader.Shuffler`) have
    several range requests in flight. Transient failures are retried with
    backoff; a missing or denied file is one error naming the URL.

    With ``cache_dir`` every read fetches whole blocks and keeps them on
    disk (at most ``cache_limit`` bytes for the whole cache, least recently
    used files evicted first); once all blocks are there the file is checked
    against its ``.md5`` and read locally: a second epoch sends no requests.

    The reader is picklable (DataLoader workers); each process opens its own
    connection. Errors and warnings name the URL (without credentials),
    also for a damaged sidecar found after opening, never the local copy
    of a sidecar.

    Parameters:
        path: URL of the dataset file
        buffering: ignored (compatibility)
        allow_pickle: decode pickled object arrays (trusted files only)
        cache_dir: local cache directory, or ``None`` for no disk cache
        cache_limit: size limit of the cache in bytes (``None``: none)
        block_size: bytes per block for sequential reads and the cache
        readahead: blocks fetched ahead during sequential reads
        storage_options: passed to fsspec (``endpoint_url``, ``anon``, ...)
        retries: how often a failed request is tried again

    Raises:
        FileNotFoundError: the data file or its index is missing
        PermissionError: access denied
        DatasetError: the index does not describe the data file
        ImportError: fsspec is not installed
    """
    _do_not_copy = MsgpackReader._do_not_copy + ('_tmp_finalizer',)

    def __init__(self, path: str, buffering=0, allow_pickle=False, cache_dir=None,
                 cache_limit=None, block_size=DEFAULT_BLOCK_SIZE, readahead=2,
                 storage_options=None, retries=5):
        self._cursor = None
        self._owner = None
        self._pos = 0
        Reader.__init__(self)
        self._url = path
        self._buffering = buffering
        self._allow_pickle = allow_pickle
        self._decode = object_hook(allow_pickle)
        self._cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self._cache_limit = cache_limit
        self._block_size = block_size
        self._readahead = readahead
        self._remote = RemoteFile(path, storage_options, retries)
        self._setup()
        _LIVE.add(self)

    def _setup(self):
        """Stat the data file, fetch the sidecars, check the index."""
        url = self._url
        info = self._remote.info()
        self._size = info['size']
        name = url_name(url)
        if self._cache_dir is not None:
            cache = BlockCache(self._cache_dir, self._cache_limit)
            entry = cache.entry(url, info)
            sidecar_dir = entry / 'sidecars'
            sidecar_dir.mkdir(exist_ok=True)
            self._entry = entry
        else:
            self._entry = None
            sidecar_dir = Path(tempfile.mkdtemp(prefix='datadings-remote-'))
            self._tmp_finalizer = weakref.finalize(self, shutil.rmtree, sidecar_dir, True)
        self._path = sidecar_dir / name
        base = os.fspath(self._path)
        self._names = {suffix: base + suffix for suffix in _DATASET_FILES + (_MD5,)}
        for suffix in _SIDECARS:
            local = Path(self._names[suffix])
            if local.exists():
                continue
            if suffix == SUFFIX_LEGACY_INDEX and Path(self._names[SUFFIX_OFFSETS]).exists():
                continue  # the new index is there: the legacy one is not used
            try:
                data = self._remote.sibling(suffix).read_all()
            except FileNotFoundError:
                continue
            tmp = local.with_name(f'.{local.name}.{os.getpid()}.tmp')
            tmp.write_bytes(data)
            os.replace(tmp, local)
        self._ids = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            with self._url_names():
                self._open_files()
        for warning in caught:  # e.g. a missing keys file: named by its URL
            warnings.warn(str(warning.message).replace(base, redact(url)),
                          warning.category, stacklevel=4)

    @contextmanager
    def _url_names(self):
        """Errors raised inside name the URL instead of the local copies of the sidecars."""
        try:
            yield
        except (DatasetError, OSError) as exc:
            local = os.fspath(self._path)
            text = str(exc)
            if isinstance(exc, RemoteError) or local not in text:
                raise
            text = text.replace(local, redact(self._url))
            try:
                renamed = type(exc)(text)
            except Exception:  # an exception type with another signature
                renamed = DatasetError(text)
            raise renamed from None

    def _open_files(self):
        names = self._names
        ids = self._ids
        ids[''] = None
        for suffix in (SUFFIX_FILTER, SUFFIX_OFFSETS):
            ids[suffix] = _current_identity(names[suffix])
        if ids[SUFFIX_OFFSETS] is not None:
            self._legacy = False
            offsets_path = Path(names[SUFFIX_OFFSETS])
            self._len = offsets_len(offsets_path)
            self._check_new_index(offsets_path)
        else:
            ids[SUFFIX_LEGACY_INDEX] = _current_identity(names[SUFFIX_LEGACY_INDEX])
            if ids[SUFFIX_LEGACY_INDEX] is None:
                name = url_name(self._url)
                raise FileNotFoundError(
                    f'{redact(self._url)}: no index found; looked for {name}{SUFFIX_OFFSETS} '
                    f'and {name}{SUFFIX_LEGACY_INDEX}'
                )
            self._legacy = True
            self._len = legacy_index_len(Path(names[SUFFIX_LEGACY_INDEX]))

    def _unchanged(self, suffix, st=None):
        if suffix == '':
            return  # the data file is remote; its identity was checked when it was opened
        super()._unchanged(suffix, st)

    def __setstate__(self, state):
        super().__setstate__(state)
        if not Path(self._names[SUFFIX_OFFSETS]).parent.is_dir():
            self._setup()  # the process that fetched the sidecars is gone
        _LIVE.add(self)

    def __copy__(self):
        reader = super().__copy__()
        _LIVE.add(reader)
        return reader

    @property
    def path(self) -> str:
        """URL of the data file."""
        return self._url

    @property
    def remote(self) -> RemoteFile:
        """The :py:class:`~datadings_like.remote.RemoteFile` of the data file (request counts)."""
        return self._remote

    def _close(self):
        buffer = self.__dict__.pop('_mm', None)
        self.__dict__.pop('_view', None)
        if isinstance(buffer, RemoteBuffer):
            buffer.close()

    # ------------------------------------- sidecars (messages name the URL)

    @cached_property
    def _legacy_index(self):
        with self._url_names():
            return MsgpackReader._legacy_index.func(self)

    @cached_property
    def _offsets(self):
        with self._url_names():
            return MsgpackReader._offsets.func(self)

    @cached_property
    def _keys(self):
        with self._url_names():
            return MsgpackReader._keys.func(self)

    @cached_property
    def _hashes(self):
        with self._url_names():
            return MsgpackReader._hashes.func(self)

    @cached_property
    def _linear_hashes(self):
        # the sidecar copy is small and local: loaded like the other sidecars
        return (*self._hashes, False)

    @cached_property
    def _filter(self):
        with self._url_names():
            return MsgpackReader._filter.func(self)

    def _check_miss(self, key):
        with self._url_names():
            return super()._check_miss(key)

    def _md5_hashes(self):
        with self._url_names():
            return super()._md5_hashes()

    def _md5_entry(self, path):
        with self._url_names():
            return super()._md5_entry(path)

    def verify_index(self, read_size=512 * 1024, progress=False):
        """
        Hash the index files (the local copies fetched when the reader was
        opened) and verify them against the md5 file.

        Returns:
            True if verification was successful.

        Raises:
            FileNotFoundError: md5 file is missing
            DatasetError: md5 file is damaged or lists a file outside the
                directory (messages name the URL)
        """
        with self._url_names():
            return super().verify_index(read_size, progress)

    # ---------------------------------------------------------- data access

    def _expected_md5(self):
        try:
            hashes = load_md5file(Path(self._names[_MD5]))
        except (FileNotFoundError, DatasetError):
            return None
        return hashes.get(url_name(self._url))

    @cached_property
    def _mm(self):
        cache = None
        if self._entry is not None:
            cache = BlockCache(self._cache_dir, self._cache_limit)
        return RemoteBuffer(self._remote, self._size, self._block_size, self._readahead,
                            cache=cache, entry=self._entry, md5=self._expected_md5())

    @cached_property
    def _view(self):
        return self._mm.view()

    def _unpack_view(self, bounds):
        # copy=False: a remote sample is fetched into memory anyway; finding
        # its values byte by byte would cost a read per byte
        return self._unpack_slice(bounds)

    def _gather(self, indices, yield_key=False, raw=False, copy=True, counted=False):
        idx = np.asarray(indices, dtype=np.intp)
        n = self._len
        if len(idx) > 1 and n and idx.min() >= -n and idx.max() < n:
            idx = idx % n
            offsets = self._offsets
            self._mm.prefetch(zip(offsets[idx].tolist(), offsets[idx + 1].tolist()))
        samples = super()._gather(indices, yield_key=yield_key, raw=raw, copy=copy)
        if counted:
            # a fetch may fail: count what was yielded, not what was asked for
            return _counted(samples)
        return samples

    def _error(self, index, exc):
        if isinstance(exc, OSError):
            return exc  # the network failed (already named by URL), not the data
        error = super()._error(index, exc)
        return type(error)(str(error).replace(os.fspath(self._path), redact(self._url)))

    def _misaligned(self, index):
        error = super()._misaligned(index)
        return type(error)(str(error).replace(os.fspath(self._path), redact(self._url)))

    # --------------------------------------------------------- verification

    def verify_data(self, read_size=512 * 1024, progress=False):
        """
        Hash the remote data file (read in large blocks) and verify it
        against the md5 file.

        Parameters:
            read_size: ignored; the file is read in blocks of ``block_size``
            progress: display progress

        Returns:
            True if verification was successful.

        Raises:
            FileNotFoundError: md5 file is missing
            DatasetError: md5 file is damaged or lists no hash for the data file
        """
        md5_path = Path(self._names[_MD5])
        if not md5_path.exists():
            raise FileNotFoundError(f'{redact(self._url)}{_MD5}: not found')
        with self._url_names():
            hashes = load_md5file(md5_path)
        name = url_name(self._url)
        if name not in hashes:
            raise DatasetError(f'{redact(self._url)}{_MD5}: has no entry for {name}')
        digest = hashlib.md5()
        step = max(self._block_size, 1 << 20)
        buffer = self._mm
        with make_printer(total=self._size, desc=f'verify {name}', disable=not progress) as bar:
            for a in range(0, self._size, step):
                data = buffer[a:a + step]
                digest.update(data)
                bar.update(len(data))
        return digest.hexdigest() == hashes[name]
