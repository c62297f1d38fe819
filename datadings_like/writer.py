"""
Writers create dataset files along with their index and MD5 files.

Writing is atomic: the data file and its sidecars are written under
temporary names in the destination directory and get their final names
only when the writer is closed without an exception. An exception inside
the ``with`` block, a killed process or a full disk leaves no dataset under
the final name, and an existing dataset there stays intact. The six files
get their names through a journal (:py:func:`~datadings_like.index.commit_files`):
a process killed while it renames them leaves the old dataset or the new
one, never a mix, as seen by every reader and the next writer.
"""
from abc import ABCMeta
from abc import abstractmethod
from array import array
from itertools import accumulate
from itertools import islice
from pathlib import Path
import hashlib
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import weakref

import numpy as np

from ._index_process import BackgroundIndex
from ._index_process import background_index_possible
from .errors import DuplicateKeyError
from .index import SUFFIX_FILTER
from .index import SUFFIX_KEY_HASHES
from .index import SUFFIX_KEYS
from .index import SUFFIX_OFFSETS
from .index import _Flusher
from .index import _bloom_filter
from .index import _merge_filters
from .index import _naming
from .index import _signals_held
from .index import commit_files
from .index import recover_commit
from .index import write_filter
from .index import write_key_hashes
from .index import write_keys
from .index import write_offsets
from .msgpack import make_packer
from .remote import is_url
from .remote import redact
from .remote import shown_name
from .remote import staging_path
from .remote import upload_dataset
from .remote import url_name
from .tools import hash_md5hex
from .tools import make_printer
from .tools import path_append
from .tools import query_user
from .tools import stdin_is_interactive

__all__ = ('FileWriter', 'RawWriter', 'Writer')

RESERVED_KEYS = ('nd', 'complex')
_INDEX = (SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER)
_SIDECARS = _INDEX + ('.md5',)
_MISSING = object()
_FLUSH_BYTES = 1 << 20
# flushed samples of at least this size on average are not joined, and
# then (unless the caller chose a buffer size) flushed in larger batches
_NO_JOIN_BYTES = 16 * 1024
_LARGE_FLUSH_BYTES = 4 << 20
# the data file is synced to disk every this many bytes while it is written
_SYNC_BYTES = 64 << 20
_fdatasync = getattr(os, 'fdatasync', os.fsync)
_PROGRESS_SAMPLES = 512  # the progress bar moves at least this often
# keys are hashed by a second process from this many on (below, starting
# it costs more than it saves), handed to it in batches of at least
_BACKGROUND_MIN_KEYS = 100_000
_BACKGROUND_BATCH = 8192


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_parent(path: Path):
    parent = path.parent
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(f'{folder}: is not a directory')
            break
    parent.mkdir(parents=True, exist_ok=True)


def _confirm_overwrite(path: Path, overwrite: bool):
    if not path.exists() or overwrite:
        return
    if not stdin_is_interactive():
        raise FileExistsError(
            f'{path} exists; replace it with -y (overwrite=True in Python)'
        )
    try:
        answer = query_user(f'{path.name} exists, overwrite?')
    except EOFError:  # Ctrl-D at the prompt
        answer = 'no'
    if answer == 'no':
        raise FileExistsError(f'{path} exists, not replaced')
    if answer == 'abort':
        raise KeyboardInterrupt(path)


class _ChunkSink:
    """
    Writes chunks of the data file in one background thread and hashes
    them in another. ``md5.update`` and file writes release the GIL for
    large buffers, so they overlap with each other and with packing the
    next samples (for large samples the MD5 alone takes about as long as
    everything else). Errors (e.g. a full disk) are raised by the next
    :py:meth:`put` or by :py:meth:`close`.
    """

    def __init__(self, fileobj, name):
        self._file = fileobj
        self._name = name  # for errors: the dataset file being written
        self.md5 = hashlib.md5()
        self._queue = queue.Queue(maxsize=4)
        self._hash_queue = queue.Queue(maxsize=4)
        self._error = None
        self._finishing = False
        self._thread = threading.Thread(target=self._run, name='datadings-writer', daemon=True)
        self._thread.start()
        self._hasher = threading.Thread(target=self._hash, name='datadings-md5', daemon=True)
        self._hasher.start()

    def _hash(self):
        update = self.md5.update
        get = self._hash_queue.get
        while True:
            chunk = get()
            if chunk is None:
                return
            if type(chunk) is list:
                for part in chunk:
                    update(part)
            else:
                update(chunk)

    def _run(self):
        unsynced = 0
        while True:
            chunk = self._queue.get()
            if chunk is None:
                if self._error is None and self._finishing:
                    # on disk before the commit; meanwhile the writer builds the index
                    try:
                        with _naming(self._name):
                            self._file.flush()
                            os.fsync(self._file.fileno())
                    except BaseException as exc:
                        self._error = exc
                return
            if self._error is None:
                try:
                    with _naming(self._name):
                        if type(chunk) is list:
                            self._file.writelines(chunk)
                            unsynced += sum(map(len, chunk))
                        else:
                            self._file.write(chunk)
                            unsynced += len(chunk)
                        if unsynced >= _SYNC_BYTES:
                            # the disk writes while samples are still being
                            # packed and hashed, not all of it at the commit
                            self._file.flush()
                            _fdatasync(self._file.fileno())
                            unsynced = 0
                except BaseException as exc:  # handed to the writing thread
                    self._error = exc

    def put(self, chunk):
        if self._error is not None:
            raise self._error
        self._hash_queue.put(chunk)
        self._queue.put(chunk)

    def finish(self):
        """Let the threads write and hash what is queued and flush it to
        disk; returns at once."""
        if self._error is not None:
            raise self._error
        self._finishing = True
        self._hash_queue.put(None)
        self._queue.put(None)

    def close(self):
        """Wait until everything is written and hashed; close the file."""
        if self._hasher.is_alive():
            if not self._finishing:
                self._hash_queue.put(None)
            self._hasher.join()
        if self._thread.is_alive():
            if not self._finishing:
                self._queue.put(None)
            self._thread.join()
        try:
            with _naming(self._name):
                self._file.close()
        except OSError as exc:
            if self._error is None:
                self._error = exc
        if self._error is not None:
            raise self._error


class Writer(metaclass=ABCMeta):
    """
    Writers can be used to create dataset files along with index
    and MD5 hash.

    Writer is an abstract class.
    It cannot be instantiated.
    Subclasses must implement the abstract write method.

    It is recommended to use writers as context manager in "with" statements::

        with FileWriter('dataset.msgpack') as writer:
            for sample in samples:
                writer.write(sample)

    The writer is then automatically closed and index and md5
    files are written. If the block raises, nothing is written under
    the final name (see :py:meth:`abort`).

    Important:
        If ``overwrite`` is ``False``, the user will be prompted to overwrite
        an existing file. The user can now:

        - Accept to overwrite the file.
        - Decline, which raises a :py:class:`FileExistsError`.
          The program should continue as if writing had finished.
        - Abort, which raises a :py:class:`KeyboardInterrupt`.
          The program should abort immediately.

        The prompt is shown only when standard input is a terminal;
        otherwise :py:class:`FileExistsError` is raised at once.

    Parameters:
        outfile: Path to the dataset file, or a URL (``s3://...``, any
            fsspec protocol that can write): the dataset is written to a
            local temporary directory and uploaded by :py:meth:`close`,
            index files first and the data file last. An existing remote
            file is replaced only with ``overwrite`` (no prompt); pass
            ``storage_options=`` (a keyword) for fsspec.
        buffering: Write buffer size in bytes; 0 means the default (1 MiB,
            4 MiB once samples average 16 KiB or more).
            Output is always buffered; offsets need no syscalls.
        overwrite: If outfile exists, force overwriting.
        kwargs: Keyword arguments for :py:func:`datadings_like.tools.make_printer`,
            e.g., ``total``, ``desc`` or ``disable``.
    """

    def __init__(self, outfile, buffering=0, overwrite=False, **kwargs):
        # a URL: written locally (atomically) first, uploaded by close()
        self._url = None
        self._storage_options = kwargs.pop('storage_options', None)
        if is_url(outfile):
            self._url = outfile
            outfile = staging_path(outfile, overwrite, self._storage_options)
            kwargs.setdefault('desc', url_name(self._url))
        outfile = Path(outfile)
        self._path = outfile
        # messages name the URL, not the local staging copy
        self._shown = shown_name(outfile) if self._url is None else redact(self._url)
        kwargs.setdefault('desc', outfile.name)
        self._disable = kwargs.get('disable', False)
        self._closed = True  # until the temporary file exists
        _make_parent(outfile)
        if outfile.is_dir():
            raise IsADirectoryError(f'{outfile}: is a directory, not a dataset file')
        # a previous write to this name that was killed while committing
        # is completed first: the question below is about what is there
        recover_commit(outfile)
        _confirm_overwrite(outfile, overwrite)
        self._printer = make_printer(**kwargs)
        # Ctrl-C is held back until the finalizer owns the temporary file
        with _signals_held((signal.SIGINT,)):
            fd, tmp = tempfile.mkstemp(
                dir=outfile.parent, prefix=f'.{outfile.name}.', suffix='.tmp'
            )
            self._tmp_path = Path(tmp)
            os.chmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600 files
            self._sink = _ChunkSink(os.fdopen(fd, 'wb'), outfile)
            # a writer that is never closed (an exception outside a ``with``
            # block, the program ends) leaves no temporary files: this also
            # runs at interpreter exit, while the sink's thread still works
            self._finalizer = weakref.finalize(
                self, _discard, self._sink, list(self._temp_files()))
        self._auto_flush = not (buffering and buffering > 0)
        self._flush_bytes = _FLUSH_BYTES if self._auto_flush else buffering
        self._buffer = []
        self._buffered = 0
        self._reported = 0
        self._keys = {}  # insertion-ordered; doubles as the duplicate check
        # hashes the keys in a second process once there are enough of them
        self._background = None
        self._background_ok = background_index_possible()
        self._offsets = array('Q', [0])  # compact; handed to numpy without a copy
        self._pack = make_packer().pack
        self._closed = False

    @property
    def written(self) -> int:
        """Number of samples written so far."""
        return len(self._keys)

    def skip(self, n=1):
        """
        Count ``n`` work items that gave no sample (the caller skipped
        them, e.g. unreadable images): the progress bar advances as if they
        had been written, so that it reaches its ``total``. Nothing is
        written.

        Parameters:
            n: number of items skipped
        """
        self._printer.update(n)

    @property
    def path(self) -> Path:
        """Final path of the dataset file."""
        return self._path

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _flush(self):
        buffer = self._buffer
        if not buffer:
            return
        self._buffer = []
        self._buffered = 0
        # offsets are derived here, per batch, instead of once per sample
        ends = accumulate(map(len, buffer), initial=self._offsets[-1])
        next(ends)
        self._offsets.extend(ends)
        # large samples go as they are: joining them would copy every byte
        # once more (and touch as much new memory) for nothing
        if self._buffered >= _NO_JOIN_BYTES * len(buffer):
            self._sink.put(buffer)
            if self._auto_flush:
                # fewer, larger handoffs to the MD5 thread: each one waits
                # for the GIL, which the packing thread holds
                self._flush_bytes = _LARGE_FLUSH_BYTES
        else:
            self._sink.put(b''.join(buffer))
        self._printer.update(len(buffer) - self._reported)
        self._reported = 0
        if self._background_ok:
            self._feed_background()

    def _feed_background(self):
        keys = self._keys
        background = self._background
        if background is None:
            if len(keys) < _BACKGROUND_MIN_KEYS:
                return
            try:
                background = self._background = BackgroundIndex()
            except OSError:
                self._background_ok = False
                return
            # the clean-up now stops the process too
            self._finalizer.detach()
            self._finalizer = weakref.finalize(
                self, _discard, self._sink, list(self._temp_files()), background)
            background.feed(list(keys))
            return
        new = len(keys) - background.sent
        if new >= _BACKGROUND_BATCH:
            batch = list(islice(reversed(keys), new))
            batch.reverse()
            background.feed(batch)

    def _progress(self):
        self._printer.update(_PROGRESS_SAMPLES)
        self._reported += _PROGRESS_SAMPLES

    def _write_after_close(self, *args):
        raise ValueError(f'writer for {self._shown} is closed')

    def _write_data(self, key, packed):
        keys = self._keys
        if key in keys:
            raise DuplicateKeyError(f'duplicate key {key!r} not allowed ({self._shown})')
        keys[key] = None
        buffer = self._buffer
        buffer.append(packed)
        self._buffered += len(packed)
        if self._buffered >= self._flush_bytes:
            self._flush()
        elif not len(buffer) % _PROGRESS_SAMPLES:
            self._progress()

    @abstractmethod
    def write(self, *args):
        """
        Write a sample to the dataset file.

        Parameters:
            args: Sample data to write.
        """

    def _sidecar_tmp(self, suffix):
        return path_append(self._tmp_path, suffix)

    def _temp_files(self):
        yield self._tmp_path
        for suffix in _SIDECARS:
            yield self._sidecar_tmp(suffix)

    def close(self):
        """
        Flush and close the dataset file, write index and MD5 files,
        and move all of them to their final names.
        If anything fails, temporary files are removed and the final
        names are left untouched.
        """
        if self._closed:
            return
        try:
            self._flush()
            self._sink.finish()  # the data reaches the disk while the index is built
            keys = list(self._keys)
            offsets = np.frombuffer(self._offsets, dtype=np.uint64)
            background = self._background
            if background is not None:
                split = len(keys) // 2
                # the second process writes the key hashes and the filter of
                # the first half of the keys, this one adds the second half
                if len(keys) > background.sent:
                    background.feed(keys[background.sent:])
                background.finish(self._sidecar_tmp(SUFFIX_KEY_HASHES),
                                  self._sidecar_tmp(SUFFIX_FILTER), split)
            writers = (write_offsets, write_keys, write_key_hashes, write_filter)
            name = self._path.name
            moves = []
            # each file goes to disk while the next is made
            flusher = _Flusher()
            done_by_background = False
            for suffix, write in zip(_INDEX, writers):
                tmp = self._sidecar_tmp(suffix)
                final = path_append(self._path, suffix)
                with _naming(final):
                    if background is None or suffix == SUFFIX_OFFSETS or suffix == SUFFIX_KEYS:
                        write(offsets if suffix == SUFFIX_OFFSETS else keys, tmp)
                    elif suffix == SUFFIX_KEY_HASHES:
                        own_half = _bloom_filter(keys[split:], len(keys)).dumps()
                        done_by_background = background.result()
                        if not done_by_background:
                            write(keys, tmp)
                    elif done_by_background:
                        tmp.write_bytes(_merge_filters(tmp.read_bytes(), own_half))
                    else:
                        write(keys, tmp)
                    moves.append((tmp, final, hash_md5hex(tmp)))
                flusher.start(tmp, final)
            self._sink.close()
            data_md5 = self._sink.md5.hexdigest()
            lines = [f'{data_md5}  {name}\n']
            lines += [f'{md5}  {name}{suffix}\n' for suffix, (_, _, md5) in zip(_INDEX, moves)]
            md5_tmp = self._sidecar_tmp('.md5')
            md5_final = path_append(self._path, '.md5')
            with _naming(md5_final):
                md5_tmp.write_text(''.join(lines), encoding='utf-8')
            # the data file after its index, the .md5 last
            moves.append((self._tmp_path, self._path, data_md5))
            moves.append((md5_tmp, md5_final, hash_md5hex(md5_tmp)))
            # once the journal is in place the temporary files are its own
            commit_files(self._path, moves, on_decided=self._finalizer.detach, flusher=flusher)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._finalizer.detach()
        self._write_data = self._pack = self._write_after_close
        self._printer.close()
        if self._url is not None:
            try:
                upload_dataset(self._path, self._url, self._storage_options)
            finally:
                shutil.rmtree(self._path.parent, ignore_errors=True)
        if not self._disable:
            n = self.written
            where = self._shown
            print(f'{n} sample{"" if n == 1 else "s"} written to {where}', file=sys.stderr)

    def abort(self):
        """
        Discard everything written so far: close and remove the temporary
        files. An existing dataset under the final name is left intact.
        """
        if self._closed:
            return
        self._closed = True
        self._write_data = self._pack = self._write_after_close
        # Ctrl-C waits until every temporary file is gone (it may come while
        # the writer cleans up after an error)
        with _signals_held():
            self._finalizer()
            if self._url is not None:
                shutil.rmtree(self._path.parent, ignore_errors=True)
        self._printer.close()


def _discard(sink, paths, background=None):
    """Stop the sink (and the key hashing process) and remove temporary
    files (errors are moot here)."""
    try:
        sink.close()
    except BaseException:
        pass
    if background is not None:
        try:
            background.kill()
        except BaseException:
            pass
    for path in paths:
        try:
            path.unlink()
        except OSError:
            pass


def _check_key(key, path):
    """Return ``key`` as a plain str (e.g. from ``numpy.str_``), or raise."""
    if not isinstance(key, str):
        raise TypeError(f'sample key must be str, not {type(key).__name__} ({key!r}; {path})')
    return str(key)


class RawWriter(Writer):
    """
    Writer for raw data. No packing is done.
    :py:meth:`write` requires ``key`` and ``data`` as arguments, where
    ``data`` is one complete msgpack message (e.g. from ``raw=True`` reads).
    """

    def write(self, key, data):
        """
        Write a msgpacked sample to the dataset file.

        Parameters:
            key: unique key of the sample (str)
            data: the sample as one msgpack message (bytes-like)

        Raises:
            TypeError: key is not str
            ValueError: duplicate key
        """
        if type(key) is not str:
            key = _check_key(key, self._shown)
        if type(data) is not bytes:
            data = bytes(memoryview(data))  # bytes-like only, not bytes(5)
        self._write_data(key, data)


class FileWriter(Writer):
    """
    Writer for file-based datasets.
    Requires sample dicts with a unique ``"key"`` value.
    """

    def write(self, sample):
        """
        Write a sample to the dataset file.

        Parameters:
            sample: dict with a unique str ``"key"``

        Raises:
            TypeError: sample is not a dict or its key is not str
            ValueError: missing or duplicate key, reserved top-level key
                (``"nd"``, ``"complex"``)
        """
        if not isinstance(sample, dict):
            raise TypeError(f'sample must be a dict, not {type(sample).__name__} ({self._shown})')
        key = sample.get('key', _MISSING)
        if type(key) is not str:
            if key is _MISSING:
                raise ValueError(f'sample has no "key" ({self._shown})')
            key = _check_key(key, self._shown)
        if 'nd' in sample or 'complex' in sample:
            raise ValueError(
                f'sample {key!r} uses a reserved top-level key '
                f'({", ".join(repr(k) for k in RESERVED_KEYS if k in sample)}); '
                f'rename it ({self._shown})'
            )
        # the body of _write_data, inlined: this is the per-sample hot path
        packed = self._pack(sample)  # after close(), this raises
        keys = self._keys
        if key in keys:
            raise DuplicateKeyError(f'duplicate key {key!r} not allowed ({self._shown})')
        keys[key] = None
        buffer = self._buffer
        buffer.append(packed)
        self._buffered += len(packed)
        if self._buffered >= self._flush_bytes:
            self._flush()
        elif not len(buffer) % _PROGRESS_SAMPLES:
            self._progress()
