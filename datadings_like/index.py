"""
Reading and writing the index files of a dataset: offsets, keys,
key hashes and Bloom filter, plus the legacy ``.index`` file.

Every function accepts the path of the data file or of the index file
itself: the correct suffix is appended if the path ends with a different
suffix.
"""
from collections import deque
from pathlib import Path
from typing import Sequence
from typing import Tuple
import hashlib
import struct

import msgpack
import numpy as np
from simplebloom import BloomFilter

from .errors import DatasetError
from .tools import hash_string_bytes
from .tools import path_append_suffix

__all__ = (
    'SUFFIX_FILTER',
    'SUFFIX_KEYS',
    'SUFFIX_KEY_HASHES',
    'SUFFIX_LEGACY_INDEX',
    'SUFFIX_OFFSETS',
    'data_path',
    'hash_keys',
    'keys_len',
    'legacy_index_len',
    'legacy_load_index',
    'load_filter',
    'load_key_hashes',
    'load_keys',
    'load_offsets',
    'offsets_len',
    'write_filter',
    'write_key_hashes',
    'write_keys',
    'write_offsets',
)

SUFFIX_LEGACY_INDEX = '.index'
SUFFIX_KEYS = '.keys'
SUFFIX_KEY_HASHES = '.key_hashes'
SUFFIX_FILTER = '.filter'
SUFFIX_OFFSETS = '.offsets'
INDEX_SUFFIXES = (SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER)

_BE_U64 = np.dtype('>u8')
# simplebloom's file header: magic, total size, elements, false positive rate
_FILTER_HEADER = struct.Struct('>8sQQd')
_FILTER_MAGIC = b'SIMPBLOO'


def data_path(path: Path) -> Path:
    """Return the data file path for a data or index file path."""
    path = Path(path)
    for suffix in INDEX_SUFFIXES + (SUFFIX_LEGACY_INDEX, '.md5'):
        if path.name.endswith('.msgpack' + suffix):
            return path.with_name(path.name[:-len(suffix)])
    return path


def _read_array_header(path, header):
    with open(path, 'rb') as f:
        unpacker = msgpack.Unpacker(f, read_size=16)
        try:
            return getattr(unpacker, header)()
        except (msgpack.OutOfData, ValueError, msgpack.StackError) as exc:
            what = 'array' if 'array' in header else 'map'
            raise DatasetError(f'{path}: does not start with a msgpack {what} ({exc})') from None


def keys_len(path: Path) -> int:
    """
    Read the dataset length from the keys file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or keys file

    Returns:
        length of dataset

    Raises:
        FileNotFoundError: keys file is missing
        DatasetError: keys file is damaged
    """
    return _read_array_header(path_append_suffix(path, SUFFIX_KEYS), 'read_array_header')


def offsets_len(path: Path) -> int:
    """
    Dataset length according to the offsets file (its size / 8 - 1).

    Parameters:
        path: path to data or offsets file

    Returns:
        length of dataset

    Raises:
        FileNotFoundError: offsets file is missing
        DatasetError: the size of the offsets file is not a multiple of 8
    """
    path = path_append_suffix(path, SUFFIX_OFFSETS)
    size = path.stat().st_size
    if size % 8 or size < 8:
        raise DatasetError(f'{path}: size {size} is not a positive multiple of 8 bytes')
    return size // 8 - 1


def load_keys(path: Path) -> Sequence[str]:
    """
    Load keys from file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or keys file

    Returns:
        list of keys

    Raises:
        FileNotFoundError: keys file is missing
        DatasetError: keys file is damaged or holds something else
    """
    path = path_append_suffix(path, SUFFIX_KEYS)
    data = path.read_bytes()
    try:
        keys = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:
        raise DatasetError(f'{path}: damaged keys file ({exc})') from None
    if not isinstance(keys, list):
        raise DatasetError(f'{path}: keys file does not hold a list')
    if not all(type(k) is str for k in keys):
        raise DatasetError(f'{path}: keys file holds keys that are not str')
    return keys


def load_key_hashes(path: Path) -> Tuple[bytes, Sequence[int]]:
    """
    Load key hashes from file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or key hashes file

    Returns:
        hash salt and array of key hashes (native uint64)

    Raises:
        FileNotFoundError: key hashes file is missing
        DatasetError: the file size is not 8 bytes of salt plus 8 per key
    """
    path = path_append_suffix(path, SUFFIX_KEY_HASHES)
    data = path.read_bytes()
    if len(data) < 8 or len(data) % 8:
        raise DatasetError(f'{path}: size {len(data)} is not 8 bytes of salt plus 8 per key')
    salt = data[:8]
    return salt, np.frombuffer(data, dtype=_BE_U64, offset=8).astype(np.uint64)


def load_filter(path: Path) -> BloomFilter:
    """
    Load a Bloom filter from file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or filter file

    Returns:
        the Bloom filter

    Raises:
        FileNotFoundError: filter file is missing
        DatasetError: filter file is damaged
    """
    path = path_append_suffix(path, SUFFIX_FILTER)
    data = path.read_bytes()
    # check the header against the file before simplebloom allocates what
    # the header claims: a damaged header must not allocate gigabytes, and
    # a truncated filter must not silently answer "not contained"
    if len(data) < _FILTER_HEADER.size:
        raise DatasetError(f'{path}: too short for a Bloom filter ({len(data)} bytes)')
    magic, size, elements, probability = _FILTER_HEADER.unpack_from(data)
    if magic != _FILTER_MAGIC:
        raise DatasetError(f'{path}: not a Bloom filter file')
    if size != len(data):
        raise DatasetError(f'{path}: Bloom filter header says {size} bytes, '
                           f'the file has {len(data)}')
    try:
        return BloomFilter.loads(data)
    except Exception as exc:
        raise DatasetError(f'{path}: damaged Bloom filter ({exc})') from None


def load_offsets(path: Path) -> Sequence[int]:
    """
    Load sample offsets from file.
    First value is always 0 and last is size of data file in bytes,
    so ``len(offsets) = len(dataset) + 1``.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or offsets file

    Returns:
        sample offsets in data file (native uint64 array)

    Raises:
        FileNotFoundError: offsets file is missing
        DatasetError: offsets are not a valid sequence of sample starts
    """
    path = path_append_suffix(path, SUFFIX_OFFSETS)
    offsets_len(path)
    offsets = np.fromfile(path, dtype=_BE_U64).astype(np.uint64)
    if offsets[0] != 0:
        raise DatasetError(f'{path}: first offset is {offsets[0]}, not 0')
    if len(offsets) > 1 and not (offsets[1:] > offsets[:-1]).all():
        bad = int(np.flatnonzero(offsets[1:] <= offsets[:-1])[0])
        raise DatasetError(
            f'{path}: offsets must increase, but sample {bad} starts at '
            f'{offsets[bad]} and sample {bad + 1} at {offsets[bad + 1]}'
        )
    return offsets


def _legacy_path(path):
    return path_append_suffix(path, SUFFIX_LEGACY_INDEX)


def legacy_index_len(path: Path) -> int:
    """
    Read the dataset length from the legacy index file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: path to data or index file

    Returns:
        length of dataset
    """
    return _read_array_header(_legacy_path(path), 'read_map_header')


def legacy_load_index(path: Path) -> Tuple[Sequence[str], Sequence[int]]:
    """
    Load legacy index as two lists of keys and offsets.
    Semantics of the returned lists are the same as for
    ``load_keys`` and ``load_offsets``.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        path: Path to dataset or index file

    Returns:
        keys and offsets list

    Raises:
        FileNotFoundError: index or data file is missing
        DatasetError: index file is damaged
    """
    index_path = _legacy_path(path)
    try:
        pairs = msgpack.unpackb(
            index_path.read_bytes(), raw=False, strict_map_key=False,
            object_pairs_hook=list,
        )
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise DatasetError(f'{index_path}: damaged legacy index ({exc})') from None
    if not isinstance(pairs, list) or not all(
            isinstance(p, tuple) and type(p[0]) is str and type(p[1]) is int
            for p in pairs):
        raise DatasetError(f'{index_path}: legacy index is not a map of str keys to int offsets')
    keys = [k for k, _ in pairs]
    offsets = [p for _, p in pairs]
    # the data file is the index file without its suffix, whatever its name
    offsets.append(index_path.with_name(index_path.name[:-len(SUFFIX_LEGACY_INDEX)]).stat().st_size)
    if len(set(keys)) != len(keys):
        raise DatasetError(f'{index_path}: legacy index has duplicate keys')
    if offsets[0] != 0 or any(b <= a for a, b in zip(offsets, offsets[1:])):
        raise DatasetError(f'{index_path}: legacy index offsets do not increase from 0 '
                           'to the data file size')
    return keys, offsets


def write_offsets(offsets: Sequence[int], path: Path) -> Path:
    """
    Write list of offsets to file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        offsets: list of offsets
        path: path to data or offsets file

    Returns:
        Path that was written to
    """
    path = path_append_suffix(path, SUFFIX_OFFSETS)
    path.write_bytes(np.asarray(offsets, dtype=_BE_U64).tobytes())
    return path


def write_keys(keys: Sequence[str], path: Path) -> Path:
    """
    Write list of keys to file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        keys: list of keys
        path: path to data or keys file

    Returns:
        Path that was written to
    """
    path = path_append_suffix(path, SUFFIX_KEYS)
    path.write_bytes(msgpack.packb(list(keys), use_bin_type=True))
    return path


def _hash_all(keys, salt):
    # copying a salted hash object is cheaper than building one per key;
    # full digests are joined and every 4th uint64 taken (the first 8 bytes)
    new = hashlib.blake2s(salt=salt).copy
    digests = []
    append = digests.append
    for key in keys:
        h = new()
        h.update(key.encode('utf-8'))
        append(h.digest())
    return np.frombuffer(b''.join(digests), dtype=_BE_U64)[::4]


def hash_keys(keys: Sequence[str], max_tries: int = 1000) -> Tuple[bytes, Sequence[int]]:
    """
    Apply the :py:func:`~datadings_like.tools.hash_string` function to the
    given list of keys, so the returned hashes are 64 bit integers.
    All hashes are salted and guaranteed collision free.
    If necessary this method will try different salt values.

    Parameters:
        keys: list of keys
        max_tries: how many different salt values to try
                   to find collision-free hashes

    Returns:
        used salt and array of key hashes (big-endian uint64)

    Raises:
        RuntimeError: no collision-free salt within ``max_tries``
    """
    for attempt in range(max_tries):
        salt = hash_string_bytes(str(attempt))
        hashes = _hash_all(keys, salt)
        ordered = np.sort(hashes)
        if not (ordered[1:] == ordered[:-1]).any():
            return salt, hashes
    raise RuntimeError(f'hash collisions after {max_tries} tries; try increasing max_tries')


def write_key_hashes(keys: Sequence[str], path: Path) -> Path:
    """
    Hash list of keys and write result to file.

    See ``hash_keys`` for details on hash method.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        keys: list of keys
        path: path to data or key hashes file

    Returns:
        Path that was written to
    """
    salt, hashes = hash_keys(keys)
    path = path_append_suffix(path, SUFFIX_KEY_HASHES)
    path.write_bytes(salt + hashes.astype(_BE_U64).tobytes())
    return path


def write_filter(keys: Sequence[str], path: Path) -> Path:
    """
    Create a Bloom filter for the given keys and write result to file.

    Correct suffix is appended if path ends with a different suffix.

    Parameters:
        keys: list of keys
        path: path to data or filter file

    Returns:
        Path that was written to
    """
    bf = BloomFilter(max(2, len(keys)))
    deque(map(bf.__iadd__, keys), maxlen=0)  # add all keys without a Python loop
    path = path_append_suffix(path, SUFFIX_FILTER)
    with path.open('wb') as f:
        bf.dump(f)
    return path
