"""Read datasets in the datadings msgpack format, sequentially or at random."""
from functools import cached_property
from itertools import chain
from itertools import islice
from operator import length_hint
from pathlib import Path
from typing import Union
import hashlib
import mmap
import os
import struct
import warnings

import msgpack
import numpy as np

from ..errors import DatasetError
from ..index import SUFFIX_FILTER
from ..index import SUFFIX_KEY_HASHES
from ..index import SUFFIX_KEYS
from ..index import SUFFIX_LEGACY_INDEX
from ..index import SUFFIX_OFFSETS
from ..index import hash_keys
from ..index import keys_len
from ..index import legacy_index_len
from ..index import legacy_load_index
from ..index import load_filter
from ..index import load_key_hashes
from ..index import load_keys
from ..index import load_offsets
from ..index import journal_path
from ..index import offsets_len
from ..index import _recover
from ..msgpack import UnsafeDataError
from ..msgpack import object_hook
from ..msgpack import unpack_map_zero_copy
from ..remote import is_url
from ..tools import hash_md5hex
from ..tools import load_md5file
from ..tools import path_append
from .reader import Reader
from .reader import _index_type_error

__all__ = ('MsgpackReader',)

# sequential iteration converts this many offsets to Python ints at once;
# with mmap nothing is read ahead, so bigger chunks cost no extra memory
_MIN_CHUNK = 4096
# lookups by key scan the hash array linearly (cheap once) until this many
# were made; then a sorted copy makes further lookups O(log n)
_LINEAR_LOOKUPS = 4
# at most this many bytes are decoded by one Unpacker (large samples)
_MAX_FEED = 1 << 20
_SCAN_BYTES_PER_SAMPLE = 2048
# samples at least this large are decoded one by one, without an Unpacker
_LARGE_SAMPLE = 64 * 1024
# msgpack-numpy's map keys b'nd' and b'complex' packed as bin8, bin16 or
# bin32 all end with the length byte followed by the name
_ND_MARK = b'\x02nd'
_COMPLEX_MARK = b'\x07complex'
_MD5 = '.md5'
_DATASET_FILES = ('', SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER,
                  SUFFIX_LEGACY_INDEX)
# how often opening looks again when a writer replaced files meanwhile
_OPEN_ATTEMPTS = 5


def _identity(st):
    """What changes when a file is replaced (a rename keeps all three)."""
    return st.st_ino, st.st_size, st.st_mtime_ns


def _current_identity(path):
    try:
        return _identity(os.stat(path))
    except FileNotFoundError:
        return None


# the key hash: the first 8 bytes of the digest, big-endian (one call,
# cheaper than slicing and int.from_bytes)
_first_u64 = struct.Struct('>Q').unpack_from


def _probe_positions(sorted_hashes):
    """
    ``(shift, positions)``: the slots of ascending 64-bit hashes in an
    ordered linear-probing table of at least ``4/3 * n`` slots: each hash
    goes to its home slot ``hash >> shift`` or, if that is taken, to the
    slot after the previous hash's. Vectorised as slot_i = i + max over
    j <= i of (home_j - j).
    """
    n = len(sorted_hashes)
    bits = max(1, min(63, (n * 4 // 3).bit_length()))
    shift = 64 - bits
    ramp = np.arange(n, dtype=np.int64)
    home = (sorted_hashes >> np.uint64(shift)).astype(np.int64)
    home -= ramp
    positions = np.maximum.accumulate(home)
    positions += ramp
    return shift, positions


def _table_length(shift, positions):
    """Slots of the table: all home slots, the overflow past the last one,
    and an empty slot at the end where every probe stops."""
    last = int(positions[-1]) if len(positions) else -1
    return max(1 << (64 - shift), last + 1) + 1


class MsgpackReader(Reader):
    """
    Reader for msgpack files in the datadings format.

    Needs at least data and index file. For example, if the dataset file is
    ``some_dir/dataset.msgpack``, the reader loads the index from
    ``some_dir/dataset.msgpack.offsets`` (and ``.keys``, ``.key_hashes``,
    ``.filter``), or from the legacy ``some_dir/dataset.msgpack.index``.

    Opening is cheap: index files are checked for consistency with the data
    file (sizes and sample counts) and loaded lazily when first needed.
    Data is read through ``mmap``; ``copy=False`` gives zero-copy
    ``memoryview`` objects: raw samples, and in decoded samples of at least
    64 KiB the top-level binary values of at least 4 KiB (e.g. encoded
    images; smaller and nested values are decoded as usual). The views stay
    valid after the reader is closed. (A file truncated in place by another program
    while it is mapped can crash the reader with ``SIGBUS``; writers of
    datadings_like replace files, never truncate them.)

    The reader never mixes files of two versions of a dataset: opening
    first completes a write that was killed while it renamed its files
    (see :py:func:`~datadings_like.index.recover_commit`) or waits for one
    in progress, and files loaded later must be the ones that were there
    when the reader was opened; if the dataset was replaced since, the
    reader raises :py:class:`~datadings_like.errors.DatasetError`
    instead (open it again).

    Can optionally verify the integrity of data and index files if the md5
    file ``some_dir/dataset.msgpack.md5`` is present.

    Parameters:
        path: Dataset file to load. A URL (``s3://``, ``gs://``,
            ``https://``, any fsspec protocol) gives a
            :py:class:`~datadings_like.reader.remote.RemoteMsgpackReader`,
            which takes further options (``cache_dir=`` and others).
        buffering: Kept for compatibility with datadings; data is read
            through ``mmap``, so there is no read buffer.
        allow_pickle: Decode pickled object arrays. Runs code from the file:
            only for files you trust.

    Raises:
        FileNotFoundError: data file or index is missing
        DatasetError: index does not describe the data file, an index file
            is damaged, or an interrupted write cannot be completed (e.g.
            no write access to the directory)
    """
    _do_not_copy = ('_mm', '_view', '_fileobj', '_cursor', '_owner', '_off', '_filter',
                    '_hash_table', '_hash_indices', '_hasher', '_table', '_linear_hashes')

    def __new__(cls, path=None, *args, **kwargs):
        # a URL gets the remote reader (datadings_like.reader.remote); local
        # paths take the mmap path below, unchanged
        if cls is MsgpackReader and is_url(path):
            from .remote import RemoteMsgpackReader
            return super().__new__(RemoteMsgpackReader)
        return super().__new__(cls)

    def __init__(self, path: Union[str, Path], buffering=0, allow_pickle=False):
        self._cursor = None
        self._owner = None
        self._pos = 0
        super().__init__()
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f'{path}: is a directory, not a dataset file')
        self._path = path
        self._buffering = buffering
        self._allow_pickle = allow_pickle
        self._decode = object_hook(allow_pickle)
        # the files' names as str, made once (a Path costs more than the
        # stat() it is made for); appending to the name as path_append does
        base = os.fspath(path)
        self._names = {suffix: base + suffix for suffix in _DATASET_FILES}
        journal = os.fspath(journal_path(path))
        for _ in range(_OPEN_ATTEMPTS):
            if _recover(path, journal):
                warnings.warn(f'{path}: completed the last write, which was interrupted '
                              'while it renamed its files', stacklevel=2)
            self._ids = {}
            try:
                self._open_files()
            except (DatasetError, OSError):
                if self._settled(journal):
                    raise
                continue  # a writer replaced files meanwhile: look again
            if self._settled(journal):
                break
        else:
            raise DatasetError(f'{path}: its files changed {_OPEN_ATTEMPTS} times while it '
                               'was opened (is a program writing it again and again?)')

    def _open_files(self):
        """Check the index against the data file; record each file's identity."""
        path = self._path
        names = self._names
        ids = self._ids
        try:
            st = os.stat(names[''])
        except FileNotFoundError:
            ids[''] = None
            raise FileNotFoundError(f'{path}: dataset file not found') from None
        ids[''] = _identity(st)
        self._size = st.st_size
        ids[SUFFIX_FILTER] = _current_identity(names[SUFFIX_FILTER])
        ids[SUFFIX_OFFSETS] = _current_identity(names[SUFFIX_OFFSETS])
        if ids[SUFFIX_OFFSETS] is not None:
            self._legacy = False
            offsets_path = Path(names[SUFFIX_OFFSETS])
            self._len = offsets_len(offsets_path)
            self._check_new_index(offsets_path)
        else:
            ids[SUFFIX_LEGACY_INDEX] = _current_identity(names[SUFFIX_LEGACY_INDEX])
            if ids[SUFFIX_LEGACY_INDEX] is None:
                raise FileNotFoundError(
                    f'{path}: no index found; looked for {path.name}{SUFFIX_OFFSETS} '
                    f'and {path.name}{SUFFIX_LEGACY_INDEX} (rebuild it with datadings-index)'
                )
            self._legacy = True
            self._len = legacy_index_len(Path(names[SUFFIX_LEGACY_INDEX]))

    def _settled(self, journal):
        """
        No commit is pending and every recorded file is still there: then
        what was read is one version of the dataset (a commit puts its
        journal in place before its first rename and removes it after its
        last, so one that overlapped the reads is seen either way).
        """
        if os.path.lexists(journal):
            return False
        names = self._names
        return all(_current_identity(names[suffix]) == identity
                   for suffix, identity in self._ids.items())

    def _unchanged(self, suffix, st=None):
        """Raise unless the file is still the one seen when the reader was opened."""
        recorded = self._ids.get(suffix)
        current = _identity(st) if st is not None else _current_identity(self._names[suffix])
        if current != recorded:
            raise DatasetError(
                f'{self._names[suffix]}: replaced since {self._path.name} was opened '
                '(a new version was written); open the dataset again'
            )

    def _check_new_index(self, offsets_path):
        n = self._len
        with open(offsets_path, 'rb') as f:
            self._unchanged(SUFFIX_OFFSETS, os.fstat(f.fileno()))
            f.seek(-8, 2)
            last = int.from_bytes(f.read(8), 'big')
        if last != self._size:
            raise DatasetError(
                f'{self._path}: index does not match data file: the offsets end '
                f'at byte {last}, but the file has {self._size} bytes'
            )
        keys_path = Path(self._names[SUFFIX_KEYS])
        self._ids[SUFFIX_KEYS] = _current_identity(self._names[SUFFIX_KEYS])
        if self._ids[SUFFIX_KEYS] is not None:
            k = keys_len(keys_path)
            if k != n:
                raise DatasetError(
                    f'{self._path}: index files disagree: {offsets_path.name} '
                    f'lists {n} samples, {keys_path.name} {k}'
                )
        else:
            warnings.warn(f'{keys_path} not found, keys are not available')
        hashes_path = Path(self._names[SUFFIX_KEY_HASHES])
        self._ids[SUFFIX_KEY_HASHES] = _current_identity(self._names[SUFFIX_KEY_HASHES])
        if self._ids[SUFFIX_KEY_HASHES] is not None:
            size = self._ids[SUFFIX_KEY_HASHES][1]
            if size != 8 * (n + 1):
                raise DatasetError(
                    f'{self._path}: index files disagree: {offsets_path.name} '
                    f'lists {n} samples, {hashes_path.name} has {size} bytes '
                    f'instead of {8 * (n + 1)}'
                )

    # ----------------------------------------------------------------- state

    def __len__(self):
        return self._len

    @property
    def path(self) -> Path:
        """Path of the data file."""
        return self._path

    @property
    def _i(self):
        cursor = self._cursor
        if cursor is None:
            return self._pos
        base, consumed = cursor
        return base + consumed()

    @_i.setter
    def _i(self, value):
        # a seek (or a new iteration) takes the position away from live
        # iterators: they go on yielding, but no longer move it
        self._cursor = None
        self._owner = None
        self._pos = value

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._do_not_copy:
            state.pop(name, None)
        state['_cursor'] = None
        state['_pos'] = self._i
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._cursor = None

    def __copy__(self):
        reader = super().__copy__()
        reader._cursor = None
        reader._pos = self._i
        return reader

    def _close(self):
        # the map is not closed explicitly: live iterators and zero-copy
        # samples may still use it; it closes when the last of them is gone,
        # and the reader opens a new one if it is used again
        self.__dict__.pop('_view', None)
        self.__dict__.pop('_mm', None)
        fileobj = self.__dict__.pop('_fileobj', None)
        if fileobj is not None:
            fileobj.close()

    def __exit__(self, exc_type, exc_val, exc_tb):
        self._close()

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass

    # ---------------------------------------------------------- lazy loading

    @cached_property
    def _mm(self):
        fileobj = open(self._path, 'rb')
        self._fileobj = fileobj
        st = os.fstat(fileobj.fileno())
        if st.st_size != self._size:
            raise DatasetError(f'{self._path}: data file changed size since it was opened')
        self._unchanged('', st)
        size = st.st_size
        if size == 0:
            return b''
        return mmap.mmap(fileobj.fileno(), 0, access=mmap.ACCESS_READ)

    @cached_property
    def _view(self):
        return memoryview(self._mm)

    @cached_property
    def _legacy_index(self):
        keys, offsets = legacy_load_index(self._path)
        self._unchanged(SUFFIX_LEGACY_INDEX)
        if offsets[-1] != self._size:
            raise DatasetError(f'{self._path}: legacy index does not match data file size')
        return keys, offsets

    @cached_property
    def _offsets(self):
        """Sample offsets as native uint64 array (n + 1 entries)."""
        if self._legacy:
            offsets = np.array(self._legacy_index[1], dtype=np.uint64)
        else:
            offsets = load_offsets(self._path)
            self._unchanged(SUFFIX_OFFSETS)
        if len(offsets) != self._len + 1 or int(offsets[-1]) != self._size:
            raise DatasetError(f'{self._path}: index does not match data file')
        return offsets

    @cached_property
    def _off(self):
        # memoryview indexing returns Python ints (fast, no numpy scalars)
        return memoryview(self._offsets)

    @cached_property
    def _keys(self):
        if self._legacy:
            keys = self._legacy_index[0]
        else:
            try:
                keys = load_keys(self._path)
            except FileNotFoundError:
                raise FileNotFoundError(
                    f'{self._path}: keys file {path_append(self._path, SUFFIX_KEYS).name} '
                    'not found (rebuild the index with datadings-index)'
                ) from None
            self._unchanged(SUFFIX_KEYS)
        if len(keys) != self._len:
            raise DatasetError(f'{self._path}: keys file lists {len(keys)} keys, '
                               f'the index {self._len} samples')
        return keys

    @cached_property
    def _hashes(self):
        """Salt and key hashes (native uint64) in sample order."""
        try:
            if self._legacy:
                raise FileNotFoundError
            salt, hashes = load_key_hashes(self._path)
            self._unchanged(SUFFIX_KEY_HASHES)
        except FileNotFoundError:
            if not self._legacy:
                self._unchanged(SUFFIX_KEY_HASHES)
            salt, hashes = hash_keys(self._keys)
            hashes = hashes.astype(np.uint64)
        if len(hashes) != self._len:
            raise DatasetError(f'{self._path}: key hashes file lists {len(hashes)} '
                               f'keys, the index {self._len} samples')
        return salt, hashes

    @cached_property
    def _hash_table(self):
        """
        ``(shift, table, zero)``: the key hashes in an ordered
        linear-probing table. A hash's home slot is its top bits (``hash >>
        shift``); the hashes are placed in ascending order, each in its home
        slot or the first free slot after it, so every run of filled slots
        is sorted and a lookup stops at the first slot that is empty (0) or
        holds a larger hash, usually the first one it reads. A memoryview,
        so indexing gives Python ints and no numpy scalars are made per
        lookup. ``zero`` tells whether a key hashes to 0, which an empty
        slot cannot tell apart. Built with one sort, and less memory than
        the hashes and a sorted copy.
        """
        _, hashes = self._hashes
        sorted_hashes = np.sort(hashes)
        shift, positions = _probe_positions(sorted_hashes)
        table = np.zeros(_table_length(shift, positions), dtype=np.uint64)
        table[positions] = sorted_hashes
        zero = bool(len(hashes)) and int(sorted_hashes[0]) == 0
        return shift, memoryview(table), zero

    @cached_property
    def _hash_indices(self):
        """Sample index of the hash in each slot of the hash table."""
        _, hashes = self._hashes
        order = np.argsort(hashes)
        shift, positions = _probe_positions(hashes[order])
        dtype = np.uint32 if len(hashes) <= 1 << 32 else np.uint64
        indices = np.zeros(_table_length(shift, positions), dtype=dtype)
        indices[positions] = order
        return memoryview(indices)

    @cached_property
    def _hashes_verified(self):
        """
        True if the key hashes in memory are the bytes the ``.md5`` file
        lists for the key hashes file: a miss in them is then a missing key
        and needs no check against the Bloom filter and the keys. Checked
        once, when lookups switch to the hash table (the md5 of 8 bytes per
        key costs less than sorting them).
        """
        try:
            expected = self._md5_entry(path_append(self._path, SUFFIX_KEY_HASHES))
        except (OSError, DatasetError):
            return False
        salt, hashes = self._hashes
        linear = self.__dict__.get('_linear_hashes')
        if linear is not None and linear[2]:
            data = linear[1]  # the mapped file itself, as the lookups read it
        else:
            data = hashes.astype('>u8')
        md5 = hashlib.md5(salt)
        md5.update(data)
        return md5.hexdigest() == expected

    @cached_property
    def _hasher(self):
        salt = self._linear_hashes[0]
        return hashlib.blake2s(salt=salt)

    @cached_property
    def _linear_hashes(self):
        """
        Salt, hashes and whether they are the file's bytes read as
        little-endian, for the first lookups: the key hashes file is mapped
        and scanned as it is (no read into memory, no conversion), so open +
        first ``find_index`` costs one pass over 8 bytes per key. Falls back
        to :py:attr:`_hashes` (which raises the proper errors) when there is
        no such file or its size is wrong.
        """
        if self._legacy or '_hashes' in self.__dict__:
            return (*self._hashes, False)
        try:
            f = open(self._names[SUFFIX_KEY_HASHES], 'rb')
        except FileNotFoundError:
            return (*self._hashes, False)
        with f:
            st = os.fstat(f.fileno())
            self._unchanged(SUFFIX_KEY_HASHES, st)
            if st.st_size != 8 + 8 * self._len:
                return (*self._hashes, False)
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return mm[:8], np.frombuffer(mm, dtype='<u8', offset=8), True

    @cached_property
    def _filter(self):
        if self._legacy or self._ids.get(SUFFIX_FILTER) is None:
            return None
        bloom = load_filter(self._path)
        self._unchanged(SUFFIX_FILTER)
        return bloom

    # --------------------------------------------------------------- lookups

    _lookups = 0
    # after the linear phase: (new salted hasher, shift, hash table, zero),
    # what a lookup needs, in one attribute (see _prepare_table)
    _table = None

    def _lookup(self, key):
        """Index of key, or -1."""
        if type(key) is not str:
            return -1
        hasher = self._hasher.copy()
        hasher.update(key.encode())
        h = _first_u64(hasher.digest())[0]
        if self._lookups < _LINEAR_LOOKUPS:
            # a few lookups right after opening: a vectorised scan is
            # cheaper than sorting all hashes
            self._lookups += 1
            _, hashes, swapped = self._linear_hashes
            needle = int.from_bytes(h.to_bytes(8, 'big'), 'little') if swapped else h
            found = np.flatnonzero(hashes == np.uint64(needle))
            return int(found[0]) if len(found) else -1
        _, shift, table, zero = self._table or self._prepare_table()
        slot = h >> shift
        v = table[slot]
        while v and v < h:
            slot += 1
            v = table[slot]
        if v != h or not (h or zero):
            return -1
        return self._hash_indices[slot]

    def _prepare_table(self):
        """Switch lookups to the hash table: what they need, in one tuple."""
        shift, table, zero = self._hash_table
        self._table = (self._hasher.copy, shift, table, zero)
        return self._table

    def _check_miss(self, key):
        """
        The hashes do not know ``key``. If the Bloom filter has it (a false
        positive about once in ``len(self)`` misses), the keys file decides:
        a key it lists that the hashes miss means damaged key hashes, which
        must not pass for a missing key.
        """
        if self._legacy or type(key) is not str:
            return
        if self._lookups >= _LINEAR_LOOKUPS and self._hashes_verified:
            return
        bloom = self._filter
        if bloom is None or key not in bloom:
            return
        try:
            keys = self._keys
        except FileNotFoundError:
            return
        if key in keys:
            raise DatasetError(
                f'{path_append(self._path, SUFFIX_KEY_HASHES)}: damaged, it misses the '
                f'key {key!r} of sample {keys.index(key)} (rebuild the index with '
                'datadings-index)'
            )

    def find_index(self, key):
        """
        Returns the index of the sample with the given key.

        Raises:
            KeyError: no sample has this key
            DatasetError: an index file is damaged
        """
        index = self._lookup(key)
        if index < 0:
            self._check_miss(key)
            raise KeyError(key)
        return index

    def __contains__(self, key):
        # the key hashes answer hits and misses alike with one salted hash;
        # the Bloom filter is consulted only where a miss must be checked
        table = self._table
        if table is None and self._lookups >= _LINEAR_LOOKUPS and type(key) is str:
            table = self._prepare_table()
        if table is not None and type(key) is str:
            # the body of _lookup, inlined: this is the hot path of many lookups
            new, shift, table, zero = table
            h = new()
            h.update(key.encode())  # UTF-8; faster without naming it
            h = _first_u64(h.digest())[0]
            slot = h >> shift
            v = table[slot]
            while v and v < h:
                slot += 1
                v = table[slot]
            if v == h and (h or zero):
                return True
            if not self._hashes_verified:
                self._check_miss(key)
            return False
        if self._lookup(key) >= 0:
            return True
        self._check_miss(key)
        return False

    def find_key(self, index):
        """
        Returns the key of the sample with the given index.

        Raises:
            IndexError: index out of range
        """
        return self._keys[self._normalize_index(index)]

    def keys(self):
        """Returns the list of all sample keys in order."""
        return list(self._keys)

    # ---------------------------------------------------------------- access

    def _error(self, index, exc):
        cls = UnsafeDataError if isinstance(exc, UnsafeDataError) else DatasetError
        detail = str(exc) or type(exc).__name__
        return cls(f'{self._path}: sample {index} cannot be decoded: {detail}')

    def get(self, index, yield_key=False, raw=False, copy=True):
        """
        Returns sample at given index.

        ``copy=False`` allows the reader to use zero-copy mechanisms.
        Data may be returned as ``memoryview`` objects rather than ``bytes``.

        Parameters:
            index: Index of the sample
            yield_key: If True, returns (key, sample)
            raw: If True, returns sample as msgpacked message
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of ``bytes``

        Returns:
            Sample as index.

        Raises:
            IndexError: index out of range
            DatasetError: sample cannot be decoded
            UnsafeDataError: sample holds pickled or object-dtype data
        """
        n = self._len
        try:
            if index < 0:
                index += n
        except TypeError:
            raise _index_type_error(self, index) from None
        if not 0 <= index < n:
            raise IndexError(f'index {index} out of range for length {n} reader')
        off = self._off
        a = off[index]
        b = off[index + 1]
        if raw:
            data = self._mm[a:b] if copy else self._view[a:b]
        else:
            try:
                if copy or b - a < _LARGE_SAMPLE:
                    data = msgpack.unpackb(self._view[a:b], strict_map_key=False,
                                           object_hook=self._decode)
                else:
                    data = self._unpack_view(slice(a, b))
            except Exception as exc:
                raise self._error(index, exc) from exc
        if yield_key:
            return self._keys[index], data
        return data

    def _raw_range(self, start, stop, yield_key, copy, owner, chunk_size):
        """
        Iterator over raw samples ``start..stop-1``: slices of the map, with
        no Python code per sample. While ``owner`` (an iteration's token)
        owns the reader's position, the position follows the consumer.
        """
        source = self._mm if copy else self._view
        offsets = self._off
        keys = self._keys if yield_key else None

        def chunk(a):
            b = min(a + chunk_size, stop)
            pos = offsets[a:b + 1].tolist()
            starts = iter(pos)
            samples = map(source.__getitem__, map(slice, starts, islice(pos, 1, None)))
            if owner is not None and self._owner is owner:
                total = b - a

                def consumed():
                    left = length_hint(starts)
                    return total + 1 - left - (left == 0)
                self._cursor = (a, consumed)
            if keys is not None:
                return zip(keys[a:b], samples)
            return samples
        return chain.from_iterable(map(chunk, range(start, stop, chunk_size)))

    def _decoded_range(self, start, stop, yield_key, owner, chunk_size, copy=True):
        """
        Generator over decoded samples ``start..stop-1``.

        One ``Unpacker`` decodes a chunk of up to ``chunk_size`` samples and
        ``_MAX_FEED`` bytes (much cheaper than a call to ``unpackb`` per
        sample); every message must end exactly where the offsets say, so
        a damaged sample can neither swallow the next one nor vanish.
        The numpy hook is left out for chunks of small samples whose bytes
        cannot hold an encoded numpy value or complex number.
        While ``owner`` (an iteration's token) owns the reader's position,
        the position follows the consumer.
        """
        offsets = self._offsets
        mm = self._mm
        cursor = None
        a = start
        try:
            while a < stop:
                b = min(a + chunk_size, stop)
                first = int(offsets[a])
                if int(offsets[b]) - first > _MAX_FEED:
                    b = max(a + 1, int(np.searchsorted(offsets, first + _MAX_FEED, 'right')) - 1)
                last = int(offsets[b])
                total = b - a
                if last - first >= _LARGE_SAMPLE * total:
                    # large samples: decode each straight from the map, which
                    # saves feeding (copying) them into an Unpacker
                    pos = offsets[a:b + 1].tolist()
                    starts = iter(pos)
                    unpack = self._unpack_slice if copy else self._unpack_view
                    samples = map(unpack, map(slice, starts, islice(pos, 1, None)))
                    if yield_key:
                        samples = zip(self._keys[a:b], samples)

                    def consumed(starts=starts, total=total):
                        left = length_hint(starts)
                        return total + 1 - left - (left == 0)
                    if owner is not None and self._owner is owner:
                        cursor = self._cursor = (a, consumed)
                    try:
                        yield from samples
                    except Exception as exc:
                        # the failing sample's start was taken from ``starts``
                        raise self._failed(owner, a + total - length_hint(starts), exc) from exc
                    a = b
                    continue
                hook = self._decode
                # for small samples the hook costs more than a scan of the
                # bytes for the two keys that it looks for
                if (last - first < _SCAN_BYTES_PER_SAMPLE * total
                        and mm.find(_ND_MARK, first, last) < 0
                        and mm.find(_COMPLEX_MARK, first, last) < 0):
                    hook = None
                unpacker = msgpack.Unpacker(strict_map_key=False, object_hook=hook,
                                            max_buffer_size=max(last - first, 1))
                unpacker.feed(self._view[first:last])
                ends = iter((offsets[a + 1:b + 1] - first).tolist())

                def consumed(ends=ends, total=total):
                    return total - length_hint(ends)
                if owner is not None and self._owner is owner:
                    cursor = self._cursor = (a, consumed)
                tell = unpacker.tell
                try:
                    if yield_key:
                        for key, sample, end in zip(self._keys[a:b], unpacker, ends):
                            if tell() != end:
                                raise self._failed(owner, a + consumed() - 1)
                            yield key, sample
                    else:
                        for sample, end in zip(unpacker, ends):
                            if tell() != end:
                                raise self._failed(owner, a + consumed() - 1)
                            yield sample
                    # zip pulls the unpacker before the ends: ends left
                    # over are samples the data did not hold
                    if length_hint(ends):
                        raise self._failed(owner, a + consumed())
                except DatasetError:
                    raise
                except Exception as exc:
                    raise self._failed(owner, a + consumed(), exc) from exc
                a = b
        finally:
            if cursor is not None and self._cursor is cursor:
                self._i = min(cursor[0] + cursor[1](), stop)

    def _failed(self, owner, index, exc=None):
        """The error for sample ``index``; the position stays at it."""
        if owner is not None and self._owner is owner:
            self._i = index
        return self._misaligned(index) if exc is None else self._error(index, exc)

    def _unpack_slice(self, bounds):
        return msgpack.unpackb(self._view[bounds], strict_map_key=False, object_hook=self._decode)

    def _unpack_view(self, bounds):
        """Decode a (large) sample, its large binary values as views of the map."""
        sample = unpack_map_zero_copy(self._mm, self._view, bounds.start, bounds.stop,
                                      self._allow_pickle)
        if sample is None:  # no map, or one that msgpack must decode (or reject)
            sample = self._unpack_slice(bounds)
        return sample

    def _misaligned(self, index):
        return DatasetError(
            f'{self._path}: sample {index} does not end where the offsets say; '
            'data or index is damaged'
        )

    def slice(self, start, stop=None, yield_key=False, raw=False, copy=True):
        """
        Returns a generator of samples selected by the given slice.

        Parameters:
            start: start index of slice
            stop: stop index of slice
            yield_key: if True, yield (key, sample)
            raw: if True, returns sample as msgpacked message
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of ``bytes``

        Returns:
            Iterator of selected samples
        """
        start, stop, _ = slice(start, stop).indices(self._len)
        return self._slice_gen(start, max(start, stop), yield_key, raw, copy)

    def _slice_gen(self, start, stop, yield_key, raw, copy):
        if raw:
            return self._raw_range(start, stop, yield_key, copy, None, max(stop - start, 1))
        return self._decoded_range(start, stop, yield_key, None, _MIN_CHUNK, copy)

    def _iter_impl(self, start, stop, yield_key, raw, copy, chunk_size):
        self._i = start
        owner = self._owner = object()
        chunk_size = max(chunk_size, _MIN_CHUNK)
        if raw:
            return self._raw_range(start, stop, yield_key, copy, owner, chunk_size)
        return self._decoded_range(start, stop, yield_key, owner, chunk_size, copy)

    def _gather(self, indices, yield_key=False, raw=False, copy=True, counted=False):
        """
        Iterator over the samples at the given indices (an int array).
        With ``counted=True``, returns ``(samples, consumed)`` instead, where
        ``consumed()`` tells how many samples the iterator has yielded.
        """
        indices = np.asarray(indices, dtype=np.intp)
        n = self._len
        if len(indices) and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f'index out of range for length {n} reader')
        indices = indices % n if n else indices
        offsets = self._offsets
        # the iterator of starts advances exactly once per sample yielded
        starts = iter(offsets[indices].tolist())
        bounds = map(slice, starts, offsets[indices + 1].tolist())
        if raw:
            source = self._mm if copy else self._view
            samples = map(source.__getitem__, bounds)
        else:
            view = self._view
            unpackb = msgpack.unpackb
            hook = self._decode

            def unpack(s):
                return unpackb(view[s], strict_map_key=False, object_hook=hook)
            samples = map(unpack, bounds)
        if yield_key:
            samples = zip(map(self._keys.__getitem__, indices.tolist()), samples)
        # a sample that failed to decode took its start but was not yielded
        failures = [0]
        if not raw:
            samples = self._gather_checked(samples, indices, starts, failures)
        if counted:
            total = len(indices)
            return samples, lambda: total - length_hint(starts) - failures[0]
        return samples

    def _gather_checked(self, samples, indices, starts, failures):
        try:
            yield from samples
        except Exception as exc:
            failures[0] = 1
            failed = len(indices) - length_hint(starts) - 1
            raise self._error(int(indices[failed]), exc) from exc

    # ---------------------------------------------------------- verification

    def _md5_hashes(self):
        md5_path = path_append(self._path, _MD5)
        return md5_path, load_md5file(md5_path)

    def _md5_entry(self, path):
        md5_path, hashes = self._md5_hashes()
        try:
            return hashes[path.name]
        except KeyError:
            raise DatasetError(f'{md5_path}: has no entry for {path.name}') from None

    def verify_data(self, read_size=512 * 1024, progress=False):
        """
        Hash the dataset file and verify against the md5 file.

        Parameters:
            read_size: Read-ahead size in bytes.
            progress: display progress

        Returns:
            True if verification was successful.

        Raises:
            FileNotFoundError: md5 file is missing
            DatasetError: md5 file is damaged or lists no hash for the data file
        """
        expected = self._md5_entry(self._path)
        return hash_md5hex(self._path, read_size, progress) == expected

    def index_files(self):
        """Returns the paths of the index files this dataset has."""
        if self._legacy:
            return [path_append(self._path, SUFFIX_LEGACY_INDEX)]
        suffixes = (SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER)
        return [p for p in (path_append(self._path, s) for s in suffixes) if p.exists()]

    def verify_index(self, read_size=512 * 1024, progress=False):
        """
        Hash the index files and verify against the md5 file.
        Checks every index file listed in the md5 file, new style or legacy.

        Parameters:
            read_size: Read-ahead size in bytes.
            progress: display progress

        Returns:
            True if verification was successful.

        Raises:
            FileNotFoundError: md5 file is missing
            DatasetError: md5 file is damaged or lists a file outside the
                directory
        """
        md5_path, hashes = self._md5_hashes()
        index_names = {p.name for p in self.index_files()}
        index_names.update(
            name for name in hashes
            if name != self._path.name and name.startswith(self._path.name + '.')
        )
        if not index_names:
            return False
        for name in sorted(index_names):
            if '/' in name or os.sep in name or '\0' in name:
                raise DatasetError(f'{md5_path}: lists a file outside the directory: {name!r}')
            path = self._path.with_name(name)
            if name not in hashes or not path.is_file():
                return False
            if hash_md5hex(path, read_size, progress) != hashes[name]:
                return False
        return True
