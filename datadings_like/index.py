"""
Reading and writing the index files of a dataset: offsets, keys,
key hashes and Bloom filter, plus the legacy ``.index`` file.

Every function accepts the path of the data file or of the index file
itself: the correct suffix is appended if the path ends with a different
suffix.

It also holds the commit of a dataset's files: :py:func:`commit_files`
moves new files to their final names through a small journal, so that
readers and writers see either the old dataset or the new one, and
:py:func:`recover_commit` completes a commit that was interrupted (see
:ref:`commit-journal`).
"""
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable
from typing import Optional
from typing import Sequence
from typing import Tuple
import errno
import hashlib
import json
import os
import signal
import stat
import struct
import tempfile
import threading
import time

try:
    import fcntl
except ImportError:  # not POSIX: commits are not locked against each other
    fcntl = None

import msgpack
import numpy as np
from simplebloom import BloomFilter

from .errors import DatasetError
from .tools import hash_md5hex
from .tools import hash_string_bytes
from .tools import path_append_suffix

__all__ = (
    'SUFFIX_FILTER',
    'SUFFIX_KEYS',
    'SUFFIX_KEY_HASHES',
    'SUFFIX_LEGACY_INDEX',
    'SUFFIX_OFFSETS',
    'commit_files',
    'data_path',
    'hash_keys',
    'journal_path',
    'keys_len',
    'legacy_index_len',
    'legacy_load_index',
    'load_filter',
    'load_key_hashes',
    'load_keys',
    'load_offsets',
    'offsets_len',
    'recover_commit',
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


def _not_a_directory(path, what):
    return DatasetError(f'{path}: is a directory, not {what}')


def _read_bytes(path, what):
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise _not_a_directory(path, what) from None


def _read_array_header(path, header):
    what = 'array' if 'array' in header else 'map'
    try:
        f = open(path, 'rb')
    except IsADirectoryError:
        raise _not_a_directory(path, 'an index file') from None
    with f:
        unpacker = msgpack.Unpacker(f, read_size=16)
        try:
            return getattr(unpacker, header)()
        except IsADirectoryError:  # open() of a directory succeeds on Linux
            raise _not_a_directory(path, 'an index file') from None
        except (msgpack.OutOfData, ValueError, msgpack.StackError) as exc:
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
    st = path.stat()
    if stat.S_ISDIR(st.st_mode):
        raise _not_a_directory(path, 'an offsets file')
    size = st.st_size
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
    data = _read_bytes(path, 'a keys file')
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
    data = _read_bytes(path, 'a key hashes file')
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
    data = _read_bytes(path, 'a Bloom filter file')
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
            _read_bytes(index_path, 'a legacy index file'), raw=False, strict_map_key=False,
            object_pairs_hook=list,
        )
    except (FileNotFoundError, DatasetError):
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
        h.update(key.encode())  # UTF-8; faster without naming it
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
    return _hash_keys(keys, max_tries)


def _key_hash_salt(attempt: int) -> bytes:
    """The salt :py:func:`hash_keys` tries in attempt number ``attempt``."""
    return hash_string_bytes(str(attempt))


def _hash_keys(keys, max_tries=1000, first=None):
    """
    :py:func:`hash_keys`; ``first`` are the hashes with the salt of the first
    attempt if they were made already (while the keys were written).
    """
    for attempt in range(max_tries):
        salt = _key_hash_salt(attempt)
        hashes = first if attempt == 0 and first is not None else _hash_all(keys, salt)
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
    return _write_key_hashes_file(salt, hashes, path)


def _write_key_hashes_file(salt, hashes, path):
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
    return _write_filter_file(_bloom_filter(keys), path)


def _bloom_filter(keys: Sequence[str], capacity: Optional[int] = None) -> BloomFilter:
    """
    The Bloom filter of a dataset's keys, as its ``.filter`` file holds it.
    Filters of the same capacity can be built for parts of the keys and
    joined with ``_merge_filters``.

    Parameters:
        keys: the keys to add
        capacity: number of keys of the whole dataset (default: ``len(keys)``)

    Returns:
        the Bloom filter
    """
    bf = BloomFilter(max(2, len(keys) if capacity is None else capacity))
    deque(map(bf.__iadd__, keys), maxlen=0)  # add all keys without a Python loop
    return bf


def _merge_filters(a: bytes, b: bytes) -> bytes:
    """
    Join two dumped Bloom filters of the same capacity and probability:
    the filter of all keys of both, byte for byte what one filter of all
    of them dumps (its bits are the OR of theirs).

    Raises:
        ValueError: the filters differ in size, capacity or probability
    """
    if len(a) != len(b) or a[:_FILTER_HEADER.size] != b[:_FILTER_HEADER.size]:
        raise ValueError('cannot merge Bloom filters of different sizes')
    head = _FILTER_HEADER.size
    bits = np.frombuffer(a, np.uint8, offset=head) | np.frombuffer(b, np.uint8, offset=head)
    return a[:head] + bits.tobytes()


def _write_filter_file(bloom, path):
    path = path_append_suffix(path, SUFFIX_FILTER)
    with path.open('wb') as f:
        bloom.dump(f)
    return path


# ------------------------------------------------------------------ commit

SUFFIX_JOURNAL = '.commit'
_JOURNAL_FORMAT = 'datadings_like commit journal'
_JOURNAL_VERSION = 1
_JOURNAL_MAX_BYTES = 1 << 16
_COMMIT_TARGETS = ('',) + INDEX_SUFFIXES + ('.md5',)
# how long a reader or writer waits for another process to finish its commit
# (renaming six files takes milliseconds; this only ends a wait for a stopped one)
_LOCK_WAIT = 30.0
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
_COMMIT_SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
                        if hasattr(signal, name))

# fault injection for tests: if set, called with the name of each step of
# commit_files ('prepared', 'journal', 'renamed NAME' per file, 'done')
_commit_hook = None


def _step(name):
    if _commit_hook is not None:
        _commit_hook(name)


def journal_path(path: Path) -> Path:
    """
    Path of the commit journal of a dataset: ``.NAME.commit`` beside it.
    It exists only while new files are moved to the dataset's names, or
    after such a move was interrupted.

    Parameters:
        path: path to the data file

    Returns:
        path of the journal
    """
    path = Path(path)
    return path.with_name(f'.{path.name}{SUFFIX_JOURNAL}')


@contextmanager
def _signals_held(signals=_COMMIT_SIGNALS):
    """
    Hold back the given signals until the block ends (main thread only):
    their handlers run, or their default action is taken, after it.
    A deferring handler works whichever thread the system hands a signal
    to; blocking it in one thread's signal mask would not.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {}

    def defer(signum, frame):
        pending.append(signum)
    try:
        for signum in signals:
            try:
                handler = signal.getsignal(signum)
                if handler is None:  # installed outside Python: left alone
                    continue
                signal.signal(signum, defer)
                previous[signum] = handler
            except (ValueError, OSError):
                pass
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(pending):
            if previous.get(signum) != signal.SIG_IGN:
                signal.raise_signal(signum)


@contextmanager
def _naming(path):
    """Give ``OSError`` without a file name (e.g. a full disk) the name ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Flusher:
    """
    fsyncs files in background threads, so that flushing one overlaps
    with the work that follows (and the file system commits them together
    rather than one after the other). :py:meth:`wait` raises the first
    error: after a failed fsync, a second one may wrongly succeed.
    """

    def __init__(self):
        self._threads = []
        self._errors = []

    def start(self, path, name):
        """fsync ``path``; an error names ``name`` (the file's final name)."""
        thread = threading.Thread(target=self._run, args=(path, name), daemon=True,
                                  name='datadings-fsync')
        thread.start()
        self._threads.append(thread)

    def _run(self, path, name):
        try:
            with _naming(name):
                _fsync_path(path)
        except OSError as exc:
            self._errors.append(exc)

    def wait(self):
        for thread in self._threads:
            thread.join()
        self._threads = []
        if self._errors:
            raise self._errors[0]


def _fsync_all(moves, flusher=None):
    """fsync the new files of a commit (those a flusher took care of are clean: quick)."""
    flusher = flusher or _Flusher()
    for tmp, final, _ in moves:
        flusher.start(tmp, final)
    flusher.wait()


def _fsync_dir(directory):
    """Make renames in ``directory`` durable (where the system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. directories cannot be opened on Windows
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, getattr(errno, 'EOPNOTSUPP', -1)):
            raise
    finally:
        os.close(fd)


def _stat(path):
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _file_id(st):
    """What identifies a file across renames (and copies that keep times)."""
    return None if st is None else {'size': st.st_size, 'mtime_ns': st.st_mtime_ns}


def _lock(fd, exclusive, deadline):
    """
    flock ``fd``, polling until ``deadline``. Returns False if no lock
    could be had before it. Raises OSError if the file system refuses the
    kind of lock (e.g. an exclusive lock on a read-only file over NFS).
    """
    if fcntl is None:
        return True
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, op)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(2 * delay, 0.1)


def _advice(journal):
    return (f'check the files with datadings-verify, then delete {journal.name} '
            'to keep them as they are')


def _journal_body(path, moves, temporary):
    files = []
    for tmp, final, md5 in moves:
        files.append({
            'from': tmp.name, 'to': final.name, **_file_id(os.stat(tmp)),
            'md5': md5, 'old': _file_id(_stat(final)),
        })
    body = {'format': _JOURNAL_FORMAT, 'version': _JOURNAL_VERSION,
            'dataset': path.name, 'temporary': temporary, 'files': files}
    return (json.dumps(body, indent=1) + '\n').encode('utf-8'), files


def _write_all(fd, data):
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def commit_files(path: Path, moves: Sequence[Tuple[Path, Path, str]],
                 on_decided: Optional[Callable[[], None]] = None, flusher=None):
    """
    Move complete new files of a dataset to their final names, all or
    nothing as seen by readers and writers of datadings_like.

    The new files are flushed to disk, then a journal listing the moves
    (:py:func:`journal_path`) is written and flushed, then the files are
    renamed in the given order and the journal is removed. A commit that
    is interrupted after the journal exists (a kill, a power cut) is
    completed by :py:func:`recover_commit`, which every open, write,
    ``datadings-verify`` and ``datadings-index`` of the dataset runs
    first. Ctrl-C, SIGTERM and SIGHUP are held back while the files move,
    and concurrent commits to the same name wait for each other.

    Parameters:
        path: the dataset's data file (final name)
        moves: ``(temporary file, final name, MD5 hex digest of the
            temporary file)`` in the order of the renames; all in the
            directory of ``path``
        on_decided: called once the journal is in place, before the first
            rename: from then on the temporary files belong to the journal
            and must not be removed, whatever happens
        flusher: (internal) the ``_Flusher`` that already flushes some of
            the files in the background

    Raises:
        OSError: flushing or renaming failed (the error names the file); if
            the journal was in place, the commit stays pending and the next
            open of the dataset completes it
        IsADirectoryError: a final name is a directory
        DatasetError: another process has been committing to the same name
            for too long, or left a journal that cannot be completed
    """
    path = Path(path)
    directory = path.parent

    def folder(p):
        return os.path.dirname(os.path.abspath(p))
    for tmp, final, _ in moves:
        if not folder(tmp) == folder(final) == folder(path):
            raise ValueError(f'{tmp} -> {final}: a commit moves files within {directory}')
    moves = [(directory / Path(tmp).name, directory / Path(final).name, md5)
             for tmp, final, md5 in moves]
    for tmp, final, _ in moves:
        if final.is_dir():
            raise IsADirectoryError(f'{final}: is a directory, not a dataset file')
    _fsync_all(moves, flusher)
    _step('prepared')
    journal = journal_path(path)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # readable: read-only readers lock it
        _lock(fd, True, time.monotonic())  # nobody else knows this file yet
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            if time.monotonic() > deadline:
                raise DatasetError(f'{path}: cannot commit, other processes keep replacing '
                                   f'it ({journal.name})')
            body, files = _journal_body(path, moves, Path(temporary).name)
            with _naming(journal):
                _write_all(fd, body)
            with _signals_held():
                if _claim(temporary, journal):
                    # the files being replaced must be those recorded: a
                    # commit may have slipped in since they were looked at
                    if all(_file_id(_stat(final)) == entry['old']
                           for (_, final, _), entry in zip(moves, files)):
                        _remove_quietly(temporary)
                        if on_decided is not None:
                            on_decided()
                        _move_all(directory, journal, moves)
                        return
                    # nothing was moved yet: take the journal back
                    if os.path.lexists(temporary):
                        os.unlink(journal)
                    else:  # it was renamed into place
                        os.rename(journal, temporary)
                    continue
            # another process commits to this name, or was killed doing so
            recover_commit(path, wait=max(0.0, deadline - time.monotonic()))
    finally:
        os.close(fd)  # releases the lock
        _remove_quietly(temporary)


# link() is not available on every file system (FAT, some network ones)
_NO_LINKS = {errno.EPERM, errno.EMLINK, getattr(errno, 'EOPNOTSUPP', -1),
             getattr(errno, 'ENOTSUP', -1), getattr(errno, 'ENOSYS', -1)}


def _claim(temporary, journal):
    """Put the written journal in place unless one exists; returns whether it did."""
    try:
        os.link(temporary, journal)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
    if os.path.lexists(journal):
        return False
    os.rename(temporary, journal)  # the inode, and so the lock, stay ours
    return True


def _move_all(directory, journal, moves):
    _fsync_dir(directory)
    _step('journal')
    for tmp, final, _ in moves:
        os.replace(tmp, final)
        _step(f'renamed {final.name}')
    _fsync_dir(directory)
    os.unlink(journal)
    _step('done')


def _remove_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _read_journal(fd, journal, path):
    """The validated moves of a journal; DatasetError if it is damaged."""
    def damaged(why):
        return DatasetError(
            f'{journal}: damaged commit journal ({why}); cannot tell whether the '
            f'interrupted write of {path.name} can be completed: {_advice(journal)}'
        )
    chunks = []
    size = 0
    os.lseek(fd, 0, os.SEEK_SET)
    while size <= _JOURNAL_MAX_BYTES:
        chunk = os.read(fd, _JOURNAL_MAX_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > _JOURNAL_MAX_BYTES:
        raise damaged(f'larger than {_JOURNAL_MAX_BYTES} bytes')
    try:
        body = json.loads(b''.join(chunks).decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise damaged(f'not JSON: {type(exc).__name__}: {exc}'[:300]) from None
    if not isinstance(body, dict) or body.get('format') != _JOURNAL_FORMAT:
        raise damaged('not a datadings_like commit journal')
    if body.get('version') != _JOURNAL_VERSION:
        raise damaged(f'unknown version {body.get("version")!r}')
    if body.get('dataset') != path.name:
        raise damaged(f'it is for {body.get("dataset")!r}, not {path.name!r}')
    allowed = {path.name + suffix for suffix in _COMMIT_TARGETS}
    prefix = f'.{path.name}.'

    def plain_temp(name):
        return (isinstance(name, str) and name.startswith(prefix) and '.tmp' in name
                and '/' not in name and os.sep not in name and '\0' not in name
                and name != journal.name)

    def file_id(value):
        return (isinstance(value, dict) and set(value) == {'size', 'mtime_ns'}
                and all(type(v) is int and v >= 0 for v in value.values()))

    temporary = body.get('temporary')
    files = body.get('files')
    if not plain_temp(temporary) or not isinstance(files, list) or not files:
        raise damaged('no list of files')
    seen = set()
    for entry in files:
        if not (isinstance(entry, dict) and plain_temp(entry.get('from'))
                and isinstance(entry.get('to'), str) and entry['to'] in allowed and file_id(
                    {'size': entry.get('size'), 'mtime_ns': entry.get('mtime_ns')})
                and (entry.get('old') is None or file_id(entry.get('old')))
                and isinstance(entry.get('md5'), str) and len(entry['md5']) == 32
                and all(c in '0123456789abcdef' for c in entry['md5'])):
            raise damaged(f'bad entry {entry!r:.200}')
        if entry['to'] in seen or entry['from'] in seen:
            raise damaged(f'{entry["to"]} is listed twice')
        seen.update((entry['to'], entry['from']))
    return temporary, files


def _roll_forward(path, journal, journal_stat, temporary, files):
    directory = path.parent

    def stuck(why):
        return DatasetError(
            f'{journal}: cannot complete the interrupted write of {path.name}: {why}; '
            f'{_advice(journal)}'
        )
    # everything is checked before anything moves
    pending = []
    for entry in files:
        src, dst = directory / entry['from'], directory / entry['to']
        new = {'size': entry['size'], 'mtime_ns': entry['mtime_ns']}
        src_st = _stat(src)
        dst_id = _file_id(_stat(dst))
        if src_st is not None:
            if _file_id(src_st) != new:
                raise stuck(f'{src.name} is not the file it recorded')
            if dst_id != entry['old'] and dst_id != new:
                raise stuck(f'{dst.name} changed after the interrupted write '
                            '(written by another program?)')
            pending.append((src, dst))
        elif dst_id != new and not (dst_id is not None and dst_id['size'] == new['size']
                                    and hash_md5hex(dst) == entry['md5']):
            raise stuck(f'{src.name} is missing and {dst.name} is not the new file')
    try:
        for src, dst in pending:
            os.replace(src, dst)
        _fsync_dir(directory)
        # the writer's name for the journal, left if it died right after linking it
        leftover = _stat(directory / temporary)
        if leftover is not None and os.path.samestat(leftover, journal_stat):
            _remove_quietly(directory / temporary)
        os.unlink(journal)
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise _read_only(path, journal) from None
        raise
    _fsync_dir(directory)


def _read_only(path, journal):
    return DatasetError(
        f'{path}: the last write of this dataset was interrupted while its files '
        f'were renamed ({journal.name} is left), so they are a mix of old and new '
        f'files until the write is completed, which needs write access to '
        f'{path.parent}: open the dataset (or run datadings-verify on it) once as a '
        'user who may write there'
    )


def recover_commit(path: Path, wait: float = _LOCK_WAIT) -> bool:
    """
    Complete an interrupted commit of a dataset (see :py:func:`commit_files`).

    If the journal of ``path`` exists, waits until the process that writes
    it has finished (at most ``wait`` seconds); if that process is gone,
    renames the new files that were not renamed yet and removes the
    journal (roll forward: the new files were complete before the
    journal was written). Does nothing if there is no journal.

    Parameters:
        path: the dataset's data file
        wait: seconds to wait for a commit in progress

    Returns:
        True if an interrupted commit was completed

    Raises:
        DatasetError: the commit cannot be completed (no write access to
            the directory, a damaged journal, files changed since by other
            programs) or another process has been committing for longer
            than ``wait``; the message says what to do
    """
    path = Path(path)
    return _recover(path, journal_path(path), wait)


def _recover(path, journal, wait=_LOCK_WAIT):
    """:py:func:`recover_commit` with the journal's path (a str will do) given."""
    deadline = time.monotonic() + wait
    flags = getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
    while True:
        try:
            try:
                # read-write where allowed: NFS grants exclusive locks only then
                fd = os.open(journal, os.O_RDWR | flags)
            except (PermissionError, IsADirectoryError):
                fd = os.open(journal, os.O_RDONLY | flags)
            except OSError as exc:
                if exc.errno != errno.EROFS:
                    raise
                fd = os.open(journal, os.O_RDONLY | flags)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise DatasetError(f'{journal}: cannot read the commit journal of {path.name} '
                               f'({exc.strerror}); {_advice(Path(journal))}') from None
        journal = Path(journal)
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                raise DatasetError(f'{journal}: not a commit journal (not a regular file); '
                                   f'{_advice(journal)}')
            try:
                exclusive = True
                locked = _lock(fd, True, deadline)
            except OSError:  # e.g. NFS: no exclusive lock on a read-only file
                exclusive = False
                locked = _lock(fd, False, deadline)
            if not locked:
                raise DatasetError(
                    f'{path}: another process has been writing it for more than '
                    f'{wait:.0f} s ({journal.name} is locked); try again later'
                )
            current = _stat(journal)
            if current is None or not os.path.samestat(opened, current):
                continue  # that commit finished; look again
            temporary, files = _read_journal(fd, journal, path)
            if not exclusive:
                raise _read_only(path, journal)
            _roll_forward(path, journal, opened, temporary, files)
            return True
        finally:
            os.close(fd)
