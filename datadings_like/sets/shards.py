"""
Shared mechanics of big conversions (hundreds of gigabytes to terabytes),
for writers such as ImageNet21k and Places365:

- **Sharded output**: :py:func:`argument_shards` adds ``--shards N`` and
  ``--shard-size N``; a split is then written as
  ``train-00000-of-00012.msgpack``, ``train-00001-of-00012.msgpack`` ...
  (:py:func:`shard_name`), which :py:class:`~datadings_like.reader.ShardedReader`
  and :py:mod:`datadings_like.torch` read as one dataset
  (:py:func:`open_split`, :py:func:`shard_pattern`). Without these options
  a split is one file, ``train.msgpack``, as in datadings.
- **Resumable conversions**: :py:class:`ResumableConversion` writes the
  splits of a conversion with checkpoints. A conversion that is killed or
  fails goes on from its last checkpoint when it is run again with the same
  arguments: completed files and the checkpointed part of the file being
  written are kept, the rest is redone, and the final files are byte for
  byte those of an uninterrupted run.
- **Streaming archives**: :py:func:`open_tar_stream` reads a tar or
  ``.tar.gz`` file in one pass as a stream (nothing is unpacked to disk),
  decompressing through ``igzip`` or ``pigz`` in a separate process when
  one of them is on ``PATH`` (:py:func:`find_decompressor`), with Python's
  zlib otherwise.
- :py:func:`map_ordered` converts work items in a thread pool with bounded
  memory and yields the results in the order of the items.

A typical writer::

    layout = ShardLayout.from_args(args)
    with ResumableConversion(outdir, 'NAME', ['val', 'train'], config,
                             layout=layout, expected=totals, args=args) as job:
        items = (item for item in read_source()
                 if job.wanted(item.split, item.position, item.key))
        for split, position, sample in map_ordered(convert, items, args.threads):
            job.write(split, sample, position)
"""
from array import array
from contextlib import contextmanager
from itertools import accumulate
from itertools import islice
from pathlib import Path
import concurrent.futures
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock against a second run
    fcntl = None

from ..tools.cli import UserError

__all__ = (
    'DECOMPRESSOR_VARIABLE',
    'DECOMPRESSORS',
    'MemberReader',
    'ResumableConversion',
    'ShardLayout',
    'argument_resume',
    'argument_scheduler',
    'argument_shards',
    'find_decompressor',
    'find_shards',
    'index_tar',
    'map_ordered',
    'open_split',
    'open_tar_stream',
    'parse_shard_name',
    'shard_name',
    'shard_pattern',
    'stream_members',
)

#: Read size for archives. ``tarfile`` in stream mode copies what is left
#: of its buffer on every read, so bigger is not better.
READ_SIZE = 1 << 20
#: Programs tried, in this order, to decompress gzip data in a separate process.
DECOMPRESSORS = ('igzip', 'pigz')
#: Environment variable that chooses the gzip decompressor: ``python`` (zlib
#: in this process), or the name or path of a program that understands
#: ``-dc`` (``igzip``, ``pigz``, ``gzip`` ...). Unset: the first of
#: :py:data:`DECOMPRESSORS` on ``PATH``, else ``python``.
DECOMPRESSOR_VARIABLE = 'DATADINGS_LIKE_GUNZIP'
#: Digits of the shard numbers in :py:func:`shard_name`.
SHARD_DIGITS = 5

_SUFFIX = '.msgpack'
_PADDING = 1 << 20
# seconds a decompressor may take to exit once a damaged tar was found
_ERROR_WAIT = 0.5
_SHARD = re.compile(r'(?P<split>.+)-(?P<index>\d{%d,})-of-(?P<count>\d{%d,})\.msgpack'
                    % (SHARD_DIGITS, SHARD_DIGITS))
_INDEX_SUFFIXES = ('.offsets', '.keys', '.key_hashes', '.filter')
_SIDECARS = _INDEX_SUFFIXES + ('.md5',)


# ------------------------------------------------------------------ names

def shard_name(split, index, count):
    """
    File name of a shard: ``shard_name('train', 3, 12)`` is
    ``'train-00003-of-00012.msgpack'``.

    Parameters:
        split: name of the split
        index: number of the shard, from 0
        count: number of shards of the split

    Returns:
        the file name

    Raises:
        ValueError: ``index`` is not in ``range(count)``
    """
    if not 0 <= index < count:
        raise ValueError(f'shard {index} of {count} does not exist')
    return f'{split}-{index:0{SHARD_DIGITS}d}-of-{count:0{SHARD_DIGITS}d}{_SUFFIX}'


def parse_shard_name(name):
    """
    Split a shard's file name into ``(split, index, count)``.

    Parameters:
        name: a file name such as ``train-00003-of-00012.msgpack``

    Returns:
        the tuple, or None if ``name`` is not a shard name
    """
    match = _SHARD.fullmatch(name)
    if match is None:
        return None
    return match['split'], int(match['index']), int(match['count'])


def shard_pattern(split, directory=None):
    """
    Glob pattern of the shards of a split, for
    :py:class:`~datadings_like.reader.ShardedReader`, which sorts the
    matches naturally (``train-*-of-*.msgpack``).

    Parameters:
        split: name of the split
        directory: optional directory to put in front

    Returns:
        the pattern (str)
    """
    pattern = f'{glob_escape(split)}-[0-9]*-of-[0-9]*{_SUFFIX}'
    return pattern if directory is None else os.path.join(glob_escape(str(directory)), pattern)


def glob_escape(text):
    """Escape the glob characters ``*?[`` in ``text``."""
    return re.sub(r'([*?[])', r'[\1]', text)


def find_shards(directory, split):
    """
    The shards of a split in a directory, in order.

    Parameters:
        directory: directory of the dataset
        split: name of the split

    Returns:
        list of paths of ``split-00000-of-N.msgpack`` ... for all N shards

    Raises:
        FileNotFoundError: no shard of the split exists
        DatasetError: shards of different counts, or a missing shard
    """
    from ..errors import DatasetError

    directory = Path(directory)
    found = {}
    for path in directory.iterdir():
        parsed = parse_shard_name(path.name)
        if parsed is not None and parsed[0] == split:
            found[parsed[1:]] = path
    if not found:
        raise FileNotFoundError(f'{directory}: no shards {shard_pattern(split)}')
    counts = sorted({count for _, count in found})
    if len(counts) > 1:
        raise DatasetError(f'{directory}: shards of {split} from different conversions '
                           f'({", ".join(f"of {c}" for c in counts)})')
    count = counts[0]
    missing = [i for i in range(count) if (i, count) not in found]
    if missing:
        raise DatasetError(f'{directory}: {shard_name(split, missing[0], count)} is missing '
                           f'({len(missing)} of {count} shards of {split} are missing)')
    return [found[i, count] for i in range(count)]


def open_split(directory, split):
    """
    Open a split written by a converter as one reader: ``split.msgpack``
    if it exists, else its shards as a
    :py:class:`~datadings_like.reader.ShardedReader`.

    Parameters:
        directory: output directory of the conversion
        split: name of the split, e.g. ``train``

    Returns:
        :py:class:`~datadings_like.reader.MsgpackReader` or
        :py:class:`~datadings_like.reader.ShardedReader`

    Raises:
        FileNotFoundError: neither exists
        DatasetError: the shards are incomplete
    """
    from ..reader import MsgpackReader
    from ..reader import ShardedReader

    single = Path(directory) / f'{split}{_SUFFIX}'
    if single.exists():
        return MsgpackReader(single)
    return ShardedReader(find_shards(directory, split))


# ----------------------------------------------------------------- layout

class ShardLayout:
    """
    How the samples of a split are cut into files: one file (the
    default), ``shards`` files of equal size, or files of ``shard_size``
    samples (the last one may be smaller).

    Parameters:
        shards: number of shards per split (needs the expected number of
            samples of the split, see :py:meth:`samples_per_file`)
        shard_size: samples per shard

    Raises:
        ValueError: both are given, or one is less than 1
    """

    def __init__(self, shards=None, shard_size=None):
        if shards is not None and shard_size is not None:
            raise ValueError('give shards or shard_size, not both')
        for name, value in (('shards', shards), ('shard_size', shard_size)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f'{name} must be an integer >= 1, not {value!r}')
        self.shards = shards
        self.shard_size = shard_size

    @classmethod
    def from_args(cls, args):
        """The layout of ``--shards`` / ``--shard-size`` (see :py:func:`argument_shards`)."""
        return cls(getattr(args, 'shards', None), getattr(args, 'shard_size', None))

    @property
    def sharded(self):
        """True if splits are written as shards."""
        return self.shards is not None or self.shard_size is not None

    def samples_per_file(self, expected=None):
        """
        Samples per file for a split of ``expected`` samples.

        With ``shards`` the files have ``ceil(expected / shards)`` samples,
        so a split of exactly ``expected`` samples gives ``shards`` files;
        a source with more or fewer samples gives more or fewer files of
        that size (the names always say how many there are).

        Parameters:
            expected: expected number of samples of the split (only
                needed with ``shards``)

        Returns:
            number of samples, or None for one file

        Raises:
            UserError: ``shards`` without ``expected``
        """
        if self.shard_size is not None:
            return self.shard_size
        if self.shards is None:
            return None
        if not expected:
            raise UserError('--shards needs the number of samples of each split, which '
                            'is not known here; use --shard-size')
        return max(1, math.ceil(expected / self.shards))

    def __repr__(self):
        return f'ShardLayout(shards={self.shards!r}, shard_size={self.shard_size!r})'


def argument_shards(parser):
    """
    Add the mutually exclusive options ``--shards N`` and
    ``--shard-size N`` (``args.shards``, ``args.shard_size``; default:
    one file per split). Use :py:meth:`ShardLayout.from_args`.

    Parameters:
        parser: an ``argparse.ArgumentParser``

    Returns:
        the argument group
    """
    from ..tools.argparse import positive_int

    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        '--shards', type=positive_int, default=None, metavar='N',
        help='Write each split as N shards of equal size, SPLIT-00000-of-000NN.msgpack '
             '..., which ShardedReader reads as one dataset. (default: one file per split)')
    group.add_argument(
        '--shard-size', type=positive_int, default=None, metavar='N',
        help='Write each split as shards of N samples (the last one may be smaller).')
    return group


def argument_scheduler(parser):
    """
    Add ``--scheduler ADDRESS`` (``args.scheduler``, default None): run
    the conversion of a writer whose source splits as tasks on a Dask
    cluster, one shard per task, through
    :py:func:`datadings_like.parallel.write_shards`. ``ADDRESS`` is a Dask
    scheduler address (``tcp://scheduler:8786``), or ``local`` /
    ``local:N`` for a cluster of N worker processes on this machine.
    Combine it with ``--shards N`` (see :py:func:`argument_shards`).

    Parameters:
        parser: an ``argparse.ArgumentParser``
    """
    parser.add_argument(
        '--scheduler', default=None, metavar='ADDRESS',
        help='Convert on a Dask cluster (pip install \'.[dist]\'): a scheduler address '
             'such as tcp://scheduler:8786, or local[:N] for N worker processes here; '
             'each of the --shards tasks writes one shard to OUTDIR, which all workers '
             'must see, and a re-run redoes only missing shards. (default: no cluster)')


def argument_resume(parser, interval=60.0):
    """
    Add ``--restart`` (discard an interrupted conversion instead of
    resuming it) and ``--checkpoint-interval SECONDS`` (``args.restart``,
    ``args.checkpoint_interval``), used by :py:class:`ResumableConversion`.

    Parameters:
        parser: an ``argparse.ArgumentParser``
        interval: default seconds between two checkpoints
    """
    parser.add_argument(
        '--restart', action='store_true',
        help='Discard what an interrupted conversion into OUTDIR has kept and start '
             'over. (default: go on from its last checkpoint)')
    parser.add_argument(
        '--checkpoint-interval', type=_non_negative_float, default=interval,
        metavar='SECONDS',
        help=f'Seconds between two checkpoints of the output; an interrupted '
             f'conversion loses at most this much work. (default: {interval:g})')


def _non_negative_float(text):
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid number {text!r}') from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f'must be a number >= 0, not {text}')
    return value


# ------------------------------------------------------------ tar streams

def find_decompressor(choice=None):
    """
    The command that decompresses gzip data from stdin to stdout in a
    separate process, or None for Python's zlib.

    Parameters:
        choice: ``None`` (the value of :py:data:`DECOMPRESSOR_VARIABLE`, or
            automatic if it is unset or empty), ``'auto'`` (the first of
            :py:data:`DECOMPRESSORS` on ``PATH``, else zlib), ``'python'``
            (zlib), or a program name or path that understands ``-dc``

    Returns:
        list (the command line) or None

    Raises:
        UserError: the program chosen is not found
    """
    if choice is None:
        choice = os.environ.get(DECOMPRESSOR_VARIABLE) or 'auto'
    if choice == 'python':
        return None
    if choice == 'auto':
        for name in DECOMPRESSORS:
            path = shutil.which(name)
            if path:
                return [path, '-dc']
        return None
    path = shutil.which(choice)
    if path is None:
        raise UserError(f'gzip decompressor {choice!r} ({DECOMPRESSOR_VARIABLE}) not found; '
                        f'use one of {", ".join(DECOMPRESSORS)}, gzip or python')
    return [path, '-dc']


def _is_gzip(f, path):
    """gzip magic (seekable files), else the name (pipes, FIFOs)."""
    try:
        if f.seekable():
            start = f.tell()
            magic = f.read(2)
            f.seek(start)
            return magic == b'\x1f\x8b'
    except OSError:
        pass
    return str(path).endswith(('.gz', '.tgz'))


def _grow_pipe(pipe, size=1 << 20):
    """Fewer, larger reads from a pipe (Linux; elsewhere nothing changes)."""
    setsize = getattr(fcntl, 'F_SETPIPE_SZ', None) if fcntl is not None else None
    if setsize is None:
        return
    try:
        fcntl.fcntl(pipe.fileno(), setsize, size)
    except OSError:  # above /proc/sys/fs/pipe-max-size
        pass


class _Decompressor:
    """A decompressor process reading ``source`` (a file object) and writing a pipe."""

    def __init__(self, command, source, path):
        self.path = path
        self.command = command
        self._stderr = tempfile.TemporaryFile()
        try:
            # unbuffered: a read returns what the pipe holds instead of
            # waiting until a whole buffer is full
            self.proc = subprocess.Popen(command, stdin=source, stdout=subprocess.PIPE,
                                         stderr=self._stderr, bufsize=0)
        except OSError as exc:
            self._stderr.close()
            raise UserError(f'{path}: cannot start {command[0]} ({exc.strerror})') from None
        self.stdout = self.proc.stdout
        _grow_pipe(self.stdout)

    def error(self, wait=None):
        """
        The decompressor's complaint, if it failed. After the end of its
        output it is about to exit: it is waited for. Otherwise (``wait``
        seconds, for a tar found damaged while the decompressor still
        writes) it may be blocked on the full pipe and have nothing to say:
        it is waited for that long, then ended without a complaint.
        """
        try:
            code = self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        if code == 0:
            return None
        self._stderr.seek(0)
        text = self._stderr.read(2000).decode('utf-8', 'replace').strip()
        name = os.path.basename(self.command[0])
        return f'{name} exited with status {code}' + (f': {text}' if text else '')

    def close(self, finished):
        """Stop the process (if the stream was not read to its end) and clean up."""
        if not finished and self.proc.poll() is None:
            self.proc.kill()
        self.stdout.close()
        self.proc.wait()
        self._stderr.close()


@contextmanager
def open_tar_stream(path, decompressor=None, bufsize=READ_SIZE):
    """
    Open a tar archive, gzip-compressed or not, for reading in one pass
    as a stream (``tarfile`` mode ``r|``): members come in the order they
    are stored, each member's data must be read before the next one, and
    nothing is written to disk. Works for pipes and FIFOs too.

    gzip data is decompressed by ``igzip`` or ``pigz`` in a separate
    process when one of them is on ``PATH`` (it then runs in parallel with
    the conversion), else by Python's zlib; see :py:func:`find_decompressor`.

    Damaged data (a truncated file, a bad gzip stream, broken tar
    headers) raises :py:class:`~datadings_like.tools.cli.UserError` naming
    the archive, with the decompressor's message if it failed.

    Parameters:
        path: path of the archive
        decompressor: see :py:func:`find_decompressor`
        bufsize: read size

    Returns:
        a context manager giving a ``tarfile.TarFile`` in stream mode

    Raises:
        FileNotFoundError: no such file
        UserError: not a tar archive, or damaged
    """
    f = open(path, 'rb', buffering=0)
    proc = None
    finished = False
    try:
        gz = _is_gzip(f, path)
        command = find_decompressor(decompressor) if gz else None
        try:
            if command is not None:
                proc = _Decompressor(command, f, path)
                tar = tarfile.open(fileobj=proc.stdout, mode='r|', bufsize=bufsize)
            else:
                tar = tarfile.open(fileobj=f, mode='r|gz' if gz else 'r|', bufsize=bufsize)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            why = proc.error(_ERROR_WAIT) if proc is not None else None
            raise UserError(f'{path}: not a tar archive ({why or exc})') from None
        try:
            yield tar
            finished = True
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            why = proc.error(_ERROR_WAIT) if proc is not None else None
            raise UserError(f'{path}: damaged archive ({why or exc})') from None
        if proc is not None:
            # after the end-of-archive blocks only padding follows; more
            # means the caller stopped early, and then the rest is not read
            rest = 0
            while rest <= _PADDING:
                chunk = proc.stdout.read(_PADDING)
                if not chunk:
                    break
                rest += len(chunk)
            if rest <= _PADDING:
                why = proc.error()
                if why is not None:
                    raise UserError(f'{path}: damaged archive ({why})')
            else:
                finished = False
    finally:
        if proc is not None:
            proc.close(finished)
        f.close()


def stream_members(tar):
    """
    Iterate over the members of a tar archive in stream mode (see
    :py:func:`open_tar_stream`) without keeping them: ``tarfile`` keeps
    every ``TarInfo`` it has read in ``tar.members`` (about 500 bytes
    each: gigabytes for a tar of millions of files, such as the Places365
    train tars). Read a member's data (``tar.extractfile``) before asking
    for the next member.

    ``tarfile`` also takes a header that is cut off or garbled for the
    end of the archive; here the archive must end as tar archives do, with
    a block of zeros, or ``tarfile.ReadError`` is raised (which
    :py:func:`open_tar_stream` reports as a damaged archive): a tar cut
    at a member boundary is not taken for a complete one.

    Parameters:
        tar: ``tarfile.TarFile`` opened for reading

    Returns:
        generator of ``tarfile.TarInfo``, in the order they are stored

    Raises:
        tarfile.ReadError: the archive does not end with a block of zeros
    """
    while True:
        member = tar.next()
        if member is None:
            _check_end(tar)
            return
        # stream mode never looks members up again
        tar.members.clear()
        yield member


def _check_end(tar):
    """After ``tar.next()`` returned None: was that the end-of-archive block?"""
    # tarfile read the would-be header at tar.offset: a full block of
    # zeros at the end (or one that was not a header), less if cut off
    read = tar.fileobj.tell() - tar.offset
    if read < tarfile.BLOCKSIZE:
        raise tarfile.ReadError('unexpected end of data: the archive is cut off')
    # what follows the first zero block is zeros (the second one and the
    # padding) or nothing; anything else means the block was a bad header
    if tar.fileobj.read(tarfile.BLOCKSIZE).strip(b'\0'):
        raise tarfile.ReadError(f'invalid header at byte {tar.offset}')


# ------------------------------------------------------ tar member ranges

def index_tar(path):
    """
    The regular members of an uncompressed tar archive with the positions
    of their data, to cut the archive into tasks that read parts of it
    (:py:func:`datadings_like.parallel.write_shards`). Only the headers
    are read (the data is skipped by seeking), in the order they are
    stored. A gzip-compressed tar cannot be indexed: it can only be read
    from its start.

    Parameters:
        path: path of the archive

    Returns:
        list of ``(name, data offset, size)``

    Raises:
        FileNotFoundError: no such file
        UserError: the file is compressed, not a tar archive, or damaged
    """
    with open(path, 'rb') as f:
        if _is_gzip(f, path):
            raise UserError(f'{path}: compressed (gzip); only an uncompressed tar can be '
                            'split into parts: decompress it first (gunzip)')
        try:
            with tarfile.open(fileobj=f, mode='r:') as tar:
                members = []
                while True:
                    member = tar.next()
                    if member is None:
                        break
                    tar.members.clear()  # millions of members: keep none
                    if member.isreg():
                        members.append((member.name, member.offset_data, member.size))
        except (tarfile.TarError, EOFError) as exc:
            raise UserError(f'{path}: not a tar archive or damaged ({exc})') from None
    return members


class MemberReader:
    """
    A read-only file object over ``size`` bytes of ``f`` from ``offset``
    (a tar member inside an uncompressed tar, e.g. a per-class tar of the
    ILSVRC2012 train tar), for ``tarfile`` in stream mode.

    Parameters:
        f: file object opened for binary reading, seekable
        offset: first byte
        size: number of bytes
    """

    def __init__(self, f, offset, size):
        self._f = f
        self._left = size
        f.seek(offset)

    def read(self, n=-1):
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._f.read(n)
        self._left -= len(data)
        return data


# --------------------------------------------------------- ordered pool map

def _apply_batch(convert, batch):
    return [convert(item) for item in batch]


class _End:
    """Put into the queue of :py:func:`map_ordered` after the last task."""


class _Failed:
    def __init__(self, exc):
        self.exc = exc


def map_ordered(convert, items, threads=1, window=None, batch=1):
    """
    ``convert`` every item in a pool of ``threads`` threads and yield the
    results in the order of ``items``.

    ``items`` is read in a background thread (e.g. an archive being
    decompressed and parsed), which submits tasks of ``batch`` items to
    the pool, while the calling thread takes the results in order as
    soon as they are done; with ``threads=1`` the calling thread converts.
    At most ``window`` tasks (default ``4 * threads``) wait or run, so
    memory stays bounded however many items there are. If the consumer
    stops or ``convert`` or ``items`` raises, the reading thread stops and
    pending tasks are cancelled.

    Parameters:
        convert: function ``item -> result``
        items: iterable of work items (only the background thread uses it)
        threads: number of converting threads
        window: tasks in flight
        batch: items per task

    Returns:
        generator of results
    """
    import queue
    import threading

    threads = max(1, int(threads or 1))
    window = max(1, window or 4 * threads)
    batch = max(1, batch)
    executor = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    tasks = queue.Queue(window)
    stop = threading.Event()

    def put(task):
        while not stop.is_set():
            try:
                tasks.put(task, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        iterator = iter(items)
        try:
            while not stop.is_set():
                chunk = list(islice(iterator, batch))
                if not chunk:
                    put(_End)
                    return
                if executor is None:
                    task = chunk
                else:
                    task = executor.submit(_apply_batch, convert, chunk)
                if not put(task) and executor is not None:
                    task.cancel()
        except BaseException as exc:  # handed to the consumer
            put(_Failed(exc))
        finally:
            close = getattr(iterator, 'close', None)
            if close is not None and stop.is_set():
                close()

    reader = threading.Thread(target=produce, name='datadings-reader', daemon=True)
    reader.start()
    try:
        while True:
            task = tasks.get()
            if task is _End:
                break
            if isinstance(task, _Failed):
                raise task.exc
            if executor is None:
                for item in task:
                    yield convert(item)
            else:
                yield from task.result()
    finally:
        stop.set()
        while True:
            try:
                task = tasks.get_nowait()
            except queue.Empty:
                break
            if isinstance(task, concurrent.futures.Future):
                task.cancel()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------ resumable output

_STATE_FORMAT = 'datadings_like resumable conversion'
_STATE_VERSION = 1
_FLUSH_BYTES = 1 << 20


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path, data):
    """Replace ``path`` by a file with ``data``, durably, or leave it as it was."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def _remove(path):
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _dataset_files(path):
    """A dataset file and its sidecars."""
    return [path] + [path.with_name(path.name + suffix) for suffix in _SIDECARS]


class _OutputFile:
    """
    One data file being appended to, with a log of the keys and sample
    sizes up to its last checkpoint (msgpack records ``[keys, sizes]``).
    Written in the calling thread; samples are packed like
    :py:class:`~datadings_like.writer.FileWriter` packs them.
    """

    def __init__(self, directory, stem, record=None, quiet=True):
        from ..msgpack import make_packer

        self.stem = stem
        self.data_path = directory / f'.{stem}{_SUFFIX}.partial'
        self.log_path = directory / f'.{stem}{_SUFFIX}.partial.log'
        self._pack = make_packer().pack
        self.keys = {}
        self.sizes = array('Q')
        self.md5 = hashlib.md5()
        self.bytes = 0          # in the data file (flushed)
        self.logged = 0         # keys in the log
        self.log_bytes = 0
        self.complete = False
        self.digest = None
        self._buffer = []
        self._buffered = 0
        if record is None:
            self._data = open(self.data_path, 'wb', buffering=0)
            self._log = open(self.log_path, 'wb', buffering=0)
        else:
            self._resume(record, quiet)

    @property
    def samples(self):
        return self._count if self.complete else len(self.keys)

    def _resume(self, record, quiet):
        for path in (self.data_path, self.log_path):
            if not path.is_file():
                raise UserError(f'{path} is missing: the interrupted conversion cannot go '
                                'on; run it again with --restart')
        size, log_bytes = record['bytes'], record['log_bytes']
        if self.data_path.stat().st_size < size or self.log_path.stat().st_size < log_bytes:
            raise UserError(f'{self.data_path} is shorter than at its last checkpoint: the '
                            'interrupted conversion cannot go on; run it again with --restart')
        self._data = open(self.data_path, 'r+b', buffering=0)
        self._log = open(self.log_path, 'r+b', buffering=0)
        # what was written after the checkpoint is redone
        self._data.truncate(size)
        self._log.truncate(log_bytes)
        keys, sizes = _read_log(self.log_path, log_bytes)
        if len(keys) != record['samples'] or sum(sizes) != size:
            raise UserError(f'{self.log_path} does not match the checkpoint: the interrupted '
                            'conversion cannot go on; run it again with --restart')
        self.keys = dict.fromkeys(keys)
        self.sizes = array('Q', sizes)
        self.logged = len(keys)
        self.log_bytes = log_bytes
        self.bytes = size
        _hash_prefix(self._data, size, self.md5, self.data_path.name, quiet)
        self._data.seek(size)
        self._log.seek(log_bytes)

    def write(self, sample):
        key = sample.get('key') if isinstance(sample, dict) else None
        if type(key) is not str:
            raise TypeError(f'sample must be a dict with a str "key" ({self.stem})')
        packed = self._pack(sample)
        if key in self.keys:
            from ..errors import DuplicateKeyError
            raise DuplicateKeyError(f'duplicate key {key!r} not allowed ({self.stem})')
        self.keys[key] = None
        self.sizes.append(len(packed))
        self._buffer.append(packed)
        self._buffered += len(packed)
        if self._buffered >= _FLUSH_BYTES:
            self._flush()

    def _flush(self):
        if not self._buffer:
            return
        chunk = b''.join(self._buffer)
        self._buffer = []
        self._buffered = 0
        self.md5.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[self._data.write(view):]
        self.bytes += len(chunk)

    def sync(self):
        """Make everything written so far durable; returns the checkpoint record."""
        if not self.complete:
            self._flush()
            os.fsync(self._data.fileno())
            if self.logged < self.samples:
                keys = list(islice(self.keys, self.logged, None))
                record = _packb([keys, self.sizes[self.logged:].tolist()])
                view = memoryview(record)
                while view:
                    view = view[self._log.write(view):]
                self.log_bytes += len(record)
                self.logged = self.samples
            os.fsync(self._log.fileno())
        return self.record()

    def record(self):
        return {'stem': self.stem, 'samples': self.samples, 'bytes': self.bytes,
                'log_bytes': self.log_bytes, 'complete': self.complete, 'md5': self.digest}

    def finish(self):
        """No more samples: sync, close, remember the MD5 hash."""
        if self.complete:
            return self.record()
        self.sync()
        self._data.close()
        self._log.close()
        self._count = len(self.keys)
        self.complete = True
        self.digest = self.md5.hexdigest()
        self.keys = {}  # in the log now; only needed again for the index
        self.sizes = array('Q')
        return self.record()

    def close(self):
        """Close the files (what is not checkpointed stays for the next run to redo)."""
        for f in (self._data, self._log):
            try:
                f.close()
            except OSError:
                pass


def _packb(obj):
    import msgpack
    return msgpack.packb(obj, use_bin_type=True)


def _read_log(path, size):
    import msgpack
    keys, sizes = [], []
    with open(path, 'rb') as f:
        data = f.read(size)
    if len(data) != size:
        raise UserError(f'{path}: shorter than at its last checkpoint; run the conversion '
                        'again with --restart')
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(size, 1))
    unpacker.feed(data)
    try:
        for record in unpacker:
            k, s = record
            keys.extend(k)
            sizes.extend(s)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise UserError(f'{path}: damaged ({exc}); run the conversion again with '
                        '--restart') from None
    if len(keys) != len(sizes) or not all(type(k) is str for k in keys):
        raise UserError(f'{path}: damaged; run the conversion again with --restart')
    return keys, sizes


def _hash_prefix(f, size, md5, name, quiet):
    from ..tools import make_printer
    f.seek(0)
    left = size
    with make_printer(total=size, desc=f'checking {name}', unit='B', unit_scale=True,
                      disable=quiet or size < (256 << 20), leave=False) as bar:
        while left:
            chunk = f.read(min(left, READ_SIZE))
            if not chunk:
                raise UserError(f'{name}: ends before its last checkpoint; run the '
                                'conversion again with --restart')
            md5.update(chunk)
            left -= len(chunk)
            bar.update(len(chunk))


def _part_paths(directory, stem):
    return (directory / f'.{stem}{_SUFFIX}.partial',
            directory / f'.{stem}{_SUFFIX}.partial.log')


def _publish(directory, part, final):
    """
    Give a complete part file its final name, with index files and the
    ``.md5`` file (the same bytes a :py:class:`~datadings_like.writer.FileWriter`
    writes for the same samples), through the commit journal.
    """
    import numpy as np
    from ..index import commit_files
    from ..index import write_filter
    from ..index import write_key_hashes
    from ..index import write_keys
    from ..index import write_offsets
    from ..tools import hash_md5hex

    data_path, log_path = _part_paths(directory, part['stem'])
    # temporary names as the commit journal wants them: .FINAL.*.tmp*
    base = directory / f'.{final.name}.publish.tmp'
    if data_path.exists():
        os.replace(data_path, base)
    elif not base.exists():
        raise UserError(f'{data_path} is missing: the interrupted conversion cannot go on; '
                        'run it again with --restart')
    keys, sizes = _read_log(log_path, part['log_bytes'])
    offsets = np.fromiter(accumulate(sizes, initial=0), dtype=np.uint64, count=len(sizes) + 1)
    moves = []
    writers = (write_offsets, write_keys, write_key_hashes, write_filter)
    for suffix, write in zip(_INDEX_SUFFIXES, writers):
        tmp = base.with_name(base.name + suffix)
        write(offsets if suffix == '.offsets' else keys, tmp)
        moves.append((tmp, final.with_name(final.name + suffix), hash_md5hex(tmp)))
    lines = [f'{part["md5"]}  {final.name}\n']
    lines += [f'{md5}  {final.name}{suffix}\n'
              for suffix, (_, _, md5) in zip(_INDEX_SUFFIXES, moves)]
    md5_tmp = base.with_name(base.name + '.md5')
    md5_tmp.write_text(''.join(lines), encoding='utf-8')
    # the data file after its index, the .md5 last (as the writer does)
    moves.append((base, final, part['md5']))
    moves.append((md5_tmp, final.with_name(final.name + '.md5'), hash_md5hex(md5_tmp)))
    commit_files(final, moves)
    _remove(log_path)


def _published(directory, part, final):
    """True if an interrupted run has published this part already."""
    from ..index import recover_commit
    recover_commit(final)
    data_path, _ = _part_paths(directory, part['stem'])
    if data_path.exists() or (directory / f'.{final.name}.publish.tmp').exists():
        return False
    md5_file = final.with_name(final.name + '.md5')
    try:
        first = md5_file.read_text(encoding='utf-8').split('\n', 1)[0]
    except (OSError, UnicodeDecodeError):
        return False
    return first == f'{part["md5"]}  {final.name}' and final.is_file() \
        and final.stat().st_size == part['bytes']


class _Split:
    """The output of one split: its files, position and progress bar."""

    def __init__(self, name, per_file, expected):
        self.name = name
        self.per_file = per_file
        self.expected = expected
        self.parts = []           # records of complete files
        self.current = None       # _OutputFile being written
        self.position = None      # of the last sample written
        self.last_key = None
        self.resume_at = None     # position of the last sample kept by an earlier run
        self.resume_key = None
        self.verified = True
        self.complete = False     # its source was read to the end (complete_split)
        self.bar = None

    @property
    def written(self):
        return sum(p['samples'] for p in self.parts) + \
            (self.current.samples if self.current is not None else 0)

    def stem(self, index):
        if self.per_file is None:
            return self.name
        return f'{self.name}-{index:0{SHARD_DIGITS}d}'

    def final_names(self, directory):
        if self.per_file is None:
            return [directory / f'{self.name}{_SUFFIX}']
        count = len(self.parts)
        return [directory / shard_name(self.name, i, count) for i in range(count)]

    def state(self):
        parts = list(self.parts)
        if self.current is not None:
            parts.append(self.current.sync())
        return {'per_file': self.per_file, 'parts': parts, 'position': self.position,
                'last_key': self.last_key, 'complete': self.complete}


class ResumableConversion:
    """
    Write the splits of a long conversion with checkpoints, so that it
    can go on where it stopped.

    Samples are given to :py:meth:`write` with their *position* in the
    source: a list of ints that increases from one sample of a split to
    the next (e.g. ``[member, image]``), the same in every run. Every
    ``checkpoint_interval`` seconds, and whenever a shard is complete, the
    data written so far is flushed to disk and the state of all splits is
    saved in ``OUTDIR/.NAME.resume``. Data files are written under hidden
    names (``.train.msgpack.partial``, ``.train-00003.msgpack.partial``)
    in ``OUTDIR``; they get their final names, with their index and MD5
    files, at the end (:py:meth:`finish`, called when the ``with`` block
    ends without an exception): ``train.msgpack``, or
    ``train-00000-of-00012.msgpack`` ... (see :py:class:`ShardLayout`).
    Until then no file of a split exists under a final name, except those
    of an earlier run, which are replaced at the end (after asking, as
    :py:class:`~datadings_like.writer.Writer` does). The files are the
    same bytes a :py:class:`~datadings_like.writer.FileWriter` writes for
    the same samples.

    If the conversion is killed or fails, the files and the state stay.
    When it is run again with the same ``config``, the kept data is
    truncated to the last checkpoint and checked (its MD5 hash is
    computed again), and :py:meth:`wanted` tells the reader which samples
    to skip: those up to the last position kept. The key of the sample at
    that position must be the same as before, or the source has changed
    and the conversion stops. Splits read from separate source files (one
    tar per split) are declared done with :py:meth:`complete_split`; a run
    that goes on reads only the sources of the splits that are not
    :py:meth:`split_complete`. Another ``config`` (other options), or
    ``restart``, discards the kept files first (``-y`` or a question on a
    terminal; elsewhere :py:class:`FileExistsError`).

    Memory holds the keys of the file being written (about 150 bytes per
    sample) besides what the caller holds.

    Parameters:
        outdir: output directory
        name: name of the conversion, e.g. the dataset (names the state file)
        splits: names of the splits, in order
        config: JSON-serialisable description of everything that changes
            the output (options, metadata version); runs with equal
            ``config`` can resume each other
        layout: :py:class:`ShardLayout` (default: one file per split)
        expected: dict ``split -> expected number of samples`` (progress
            bars, ``--shards``)
        args: parsed arguments to take ``overwrite`` (``-y``), ``quiet``
            (``-q``), ``restart`` and ``checkpoint_interval`` from
        overwrite: replace existing outputs and discard unusable kept
            files without asking
        quiet: no progress bars and messages
        restart: discard what an earlier run kept
        checkpoint_interval: seconds between checkpoints (0: after every sample)

    Raises:
        UserError: another conversion is running in ``outdir``; the kept
            files are damaged
        FileExistsError: outputs exist, or kept files would have to be
            discarded, and this may not be done
        KeyboardInterrupt: the user chose abort at a question
    """

    def __init__(self, outdir, name, splits, config, layout=None, expected=None, args=None,
                 overwrite=None, quiet=None, restart=None, checkpoint_interval=None):
        def arg(value, attr, default):
            if value is not None:
                return value
            if args is not None and getattr(args, attr, None) is not None:
                return getattr(args, attr)
            return default
        self.directory = Path(outdir)
        self.name = name
        self.layout = layout or ShardLayout()
        self.expected = dict(expected or {})
        self.overwrite = bool(arg(overwrite, 'no_confirm', False))
        self.quiet = bool(arg(quiet, 'quiet', False))
        self.restart = bool(arg(restart, 'restart', False))
        self.interval = float(arg(checkpoint_interval, 'checkpoint_interval', 60.0))
        self.splits = {}
        for split in splits:
            per_file = self.layout.samples_per_file(self.expected.get(split))
            self.splits[split] = _Split(split, per_file, self.expected.get(split))
        self.config = json.loads(json.dumps({
            'config': config, 'splits': {s: o.per_file for s, o in self.splits.items()},
        }))
        self.state_path = self.directory / f'.{name}.resume'
        self.lock_path = self.directory / f'.{name}.resume.lock'
        self._lock = None
        self._last_checkpoint = 0.0
        self._opened = False
        self._phase = 'converting'
        self.resumed = False

    # -- set-up

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.finish()
        else:
            self._stopped()
        return False

    def open(self):
        """Lock the output directory, ask about existing outputs, load or discard the kept state."""
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f'{self.directory}: is not a directory')
        self.directory.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            state = self._load_state()
            if state is not None:
                if state.get('damaged'):
                    why = f'(its state file {self.state_path.name} is damaged)'
                elif self.restart:
                    why = '(--restart)'
                elif state['config'] != self.config:
                    why = 'with other options'
                else:
                    why = None
                if why is not None:
                    self._confirm_discard(why)
                    state = None
            if state is None:
                self._discard_kept()
                self._confirm_outputs()
                self._save()
            else:
                self._resume(state)
            self._opened = True
        except BaseException:
            self._release_lock()
            raise
        from ..tools import make_printer
        for i, out in enumerate(self.splits.values()):
            out.bar = make_printer(total=out.expected, initial=out.written,
                                   desc=self._bar_name(out), disable=self.quiet,
                                   position=i if len(self.splits) > 1 else None)
        self._last_checkpoint = time.monotonic()

    @property
    def done(self):
        """True if an earlier run converted everything and only the final renames are
        left: the source need not be read again."""
        return self._phase == 'publishing'

    def _bar_name(self, out):
        if out.per_file is None:
            return f'{out.name}{_SUFFIX}'
        return f'{out.name} shards'

    def _take_lock(self):
        if fcntl is None:  # pragma: no cover
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f'{self.directory}: another {self.name} conversion is writing '
                            f'here ({self.lock_path.name} is locked)') from None
        self._lock = fd

    def _release_lock(self):
        if self._lock is not None:
            _remove(self.lock_path)
            os.close(self._lock)
            self._lock = None

    def _load_state(self):
        try:
            text = self.state_path.read_text(encoding='utf-8')
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return {'damaged': True}
        try:
            state = json.loads(text)
            if state.get('format') != _STATE_FORMAT or state.get('version') != _STATE_VERSION:
                raise ValueError('unknown format')
            if state.get('phase') not in ('converting', 'publishing'):
                raise ValueError('unknown phase')
            for split in state['splits'].values():
                for part in split['parts']:
                    for field in ('stem', 'samples', 'bytes', 'log_bytes', 'complete', 'md5'):
                        part[field]  # noqa: B018 - KeyError if missing
            return state
        except (ValueError, KeyError, TypeError, AttributeError):
            return {'damaged': True}

    def _ask(self, question, refusal):
        from ..tools import query_user
        from ..tools import stdin_is_interactive
        if self.overwrite:
            return
        if not stdin_is_interactive():
            raise FileExistsError(refusal)
        try:
            answer = query_user(question)
        except EOFError:  # Ctrl-D
            answer = 'no'
        if answer == 'abort':
            raise KeyboardInterrupt(question)
        if answer == 'no':
            raise FileExistsError(refusal)

    def _confirm_discard(self, why):
        self._ask(
            f'{self.directory} holds an interrupted {self.name} conversion, which cannot go '
            f'on {why}. Discard what it kept and start over?',
            f'{self.directory} holds an interrupted {self.name} conversion '
            f'({self.state_path.name}), which cannot go on {why}: run it with its own '
            'options to go on, or with -y to discard what it kept and start over')

    def _existing_outputs(self):
        found = []
        for split in self.splits:
            single = self.directory / f'{split}{_SUFFIX}'
            if single.exists():
                found.append(single)
            for path in sorted(self.directory.glob(shard_pattern(split))):
                parsed = parse_shard_name(path.name)
                if parsed is not None and parsed[0] == split:
                    found.append(path)
        return found

    def _confirm_outputs(self):
        existing = self._existing_outputs()
        if not existing:
            return
        names = ', '.join(p.name for p in existing[:3]) + (' ...' if len(existing) > 3 else '')
        verb = 'exists' if len(existing) == 1 else 'exist'
        self._ask(f'{names} {verb} in {self.directory}, overwrite?',
                  f'{names} {verb} in {self.directory}; replace with -y')

    def _kept_files(self, publishing=True):
        """Files of this conversion under hidden names (parts, logs, index files being published)."""
        for split in self.splits:
            name = glob_escape(split)
            patterns = [f'.{name}{_SUFFIX}.partial*', f'.{name}-[0-9]*{_SUFFIX}.partial*']
            if publishing:
                patterns += [f'.{name}{_SUFFIX}.publish*',
                             f'.{name}-[0-9]*-of-[0-9]*{_SUFFIX}.publish*']
            for pattern in patterns:
                yield from self.directory.glob(pattern)

    def _discard_kept(self):
        from ..index import recover_commit
        # a final rename that was interrupted is completed first: its
        # journal refers to files about to be removed here
        for split in self.splits:
            name = glob_escape(split)
            for pattern in (f'.{name}{_SUFFIX}.commit',
                            f'.{name}-[0-9]*-of-[0-9]*{_SUFFIX}.commit'):
                for journal in self.directory.glob(pattern):
                    recover_commit(self.directory / journal.name[1:-len('.commit')])
        for path in list(self._kept_files()):
            _remove(path)
        _remove(self.state_path)

    def _resume(self, state):
        self.resumed = True
        self._phase = state['phase']
        referenced = set()
        for split, out in self.splits.items():
            saved = state['splits'].get(split)
            if saved is None:
                continue
            parts = saved['parts']
            for i, part in enumerate(parts):
                if part['stem'] != out.stem(i) or (i < len(parts) - 1 and not part['complete']):
                    raise UserError(f'{self.state_path}: damaged; run the conversion again '
                                    'with --restart')
                referenced.update(p.name for p in _part_paths(self.directory, part['stem']))
            if parts and not parts[-1]['complete']:
                out.current = _OutputFile(self.directory, parts[-1]['stem'], parts[-1],
                                          quiet=self.quiet)
                parts = parts[:-1]
            out.parts = list(parts)
            out.position = out.resume_at = saved['position']
            out.last_key = out.resume_key = saved['last_key']
            out.complete = saved.get('complete') is True
            # nothing is read again once everything (or this split) was converted
            out.verified = out.resume_at is None or self.done or out.complete
        # parts begun after the last checkpoint are redone
        for path in list(self._kept_files(publishing=False)):
            if path.name not in referenced:
                _remove(path)
        if not self.quiet:
            kept = ', '.join(f'{out.written} {split}' for split, out in self.splits.items())
            what = 'renaming the files of' if self.done else 'going on with'
            print(f'{self.name}: {what} an interrupted conversion ({kept} samples kept)',
                  file=sys.stderr)

    def _save(self, phase='converting'):
        self._phase = phase
        state = {'format': _STATE_FORMAT, 'version': _STATE_VERSION, 'name': self.name,
                 'config': self.config, 'phase': phase,
                 'splits': {s: out.state() for s, out in self.splits.items()}}
        _write_atomic(self.state_path, (json.dumps(state, indent=1) + '\n').encode('utf-8'))
        self._last_checkpoint = time.monotonic()

    # -- converting

    def wanted(self, split, position, key=None):
        """
        Whether the sample of ``split`` at ``position`` must be converted:
        False for splits that are not written and for samples an earlier
        run has kept. At the position where the earlier run stopped,
        ``key`` (if given) must be the key it wrote there.

        Parameters:
            split: name of the split
            position: list of ints, the sample's position in the source
            key: the sample's key

        Returns:
            bool

        Raises:
            UserError: the source differs from the earlier run's
        """
        out = self.splits.get(split)
        if out is None or out.complete:
            return False
        if out.resume_at is None:
            return True
        position = list(position)
        if position < out.resume_at:
            return False
        if position == out.resume_at:
            if key is not None and key != out.resume_key:
                raise UserError(
                    f'the source differs from the one of the interrupted conversion: its '
                    f'{split} sample at this position is {key!r}, not {out.resume_key!r}; '
                    'run it again with --restart')
            out.verified = True
            return False
        if not out.verified:
            raise UserError(
                f'the source differs from the one of the interrupted conversion: it has no '
                f'{split} sample {out.resume_key!r}; run it again with --restart')
        return True

    def skip(self, prefix):
        """
        Whether every sample whose position starts with ``prefix`` (e.g.
        ``[member]``) was kept by an earlier run in every split, so the
        reader can skip that part of the source without looking into it.

        Parameters:
            prefix: list of ints

        Returns:
            bool
        """
        prefix = list(prefix)
        return all(out.complete or (out.resume_at is not None
                                    and out.resume_at[:len(prefix)] > prefix)
                   for out in self.splits.values())

    def complete_split(self, split):
        """
        Declare that the source of ``split`` was read to its end: all its
        samples were given to :py:meth:`write`. A checkpoint is saved, and
        when the conversion is run again, :py:meth:`split_complete` is true
        for this split, so a writer whose splits come from separate source
        files need not read this split's source again.

        Parameters:
            split: name of the split

        Raises:
            UserError: the source ended before the position an earlier run
                had reached (the source has changed)
        """
        out = self.splits[split]
        if not out.verified:
            raise UserError(
                f'the source differs from the one of the interrupted conversion: it '
                f'ends before the {split} sample {out.resume_key!r}; run it again '
                'with --restart')
        out.complete = True
        self.checkpoint()

    def split_complete(self, split):
        """
        Whether all samples of ``split`` were written, in this run or an
        earlier one (see :py:meth:`complete_split`): its source need not be
        read (again).

        Parameters:
            split: name of the split

        Returns:
            bool
        """
        return self.splits[split].complete

    def write(self, split, sample, position):
        """
        Write a sample of ``split``; positions must increase within a split.

        Parameters:
            split: name of the split
            sample: dict with a unique str ``"key"``
            position: list of ints (see :py:meth:`wanted`)

        Raises:
            ValueError: the position does not increase
            DuplicateKeyError: the key was written before in this file
        """
        out = self.splits[split]
        if out.complete:
            raise ValueError(f'{split}: declared complete, no more samples may be written')
        position = list(position)
        if out.position is not None and position <= out.position:
            raise ValueError(f'{split}: position {position} after {out.position}')
        if out.current is None:
            out.current = _OutputFile(self.directory, out.stem(len(out.parts)))
        out.current.write(sample)
        out.position = position
        out.last_key = sample['key']
        out.bar.update()
        if out.per_file is not None and out.current.samples >= out.per_file:
            out.parts.append(out.current.finish())
            out.current = None
            self.checkpoint()
        elif time.monotonic() - self._last_checkpoint >= self.interval:
            self.checkpoint()

    def checkpoint(self):
        """Flush everything written to disk and save the state (done regularly by :py:meth:`write`)."""
        self._save()

    # -- the end

    def _stopped(self):
        for out in self.splits.values():
            if out.bar is not None:
                out.bar.close()
            if out.current is not None:
                out.current.close()
        kept = any(out.written for out in self.splits.values())
        if self._opened and kept and not self.quiet:
            print(f'{self.name}: stopped; run the same command again to go on from the '
                  f'last checkpoint (kept in {self.directory}, {self.state_path.name})',
                  file=sys.stderr)
        self._release_lock()

    def finish(self):
        """
        Complete the last files, give every file its final name (with
        index and MD5 files), replace the outputs of earlier runs and
        remove the state.

        Returns:
            dict ``split -> list of paths`` of the files written

        Raises:
            UserError: a split's source ended before the position an
                earlier run had reached (the source has changed)
        """
        try:
            for split, out in self.splits.items():
                if not out.verified:
                    raise UserError(
                        f'the source differs from the one of the interrupted conversion: it '
                        f'ends before the {split} sample {out.resume_key!r}; run it again '
                        'with --restart')
            for out in self.splits.values():
                if out.current is None and not out.parts:
                    # an empty split still gets one (empty) file
                    out.current = _OutputFile(self.directory, out.stem(0))
                if out.current is not None:
                    out.parts.append(out.current.finish())
                    out.current = None
            self._save('publishing')
            results = {}
            for out in self.splits.values():
                out.bar.close()
                finals = out.final_names(self.directory)
                for part, final in zip(out.parts, finals):
                    if not _published(self.directory, part, final):
                        _publish(self.directory, part, final)
                self._remove_stale(out, finals)
                results[out.name] = finals
                if not self.quiet:
                    n = sum(p['samples'] for p in out.parts)
                    where = finals[0] if len(finals) == 1 else \
                        f'{len(finals)} shards {shard_pattern(out.name, self.directory)}'
                    print(f'{n} sample{"" if n == 1 else "s"} written to {where}',
                          file=sys.stderr)
            for path in list(self._kept_files()):
                _remove(path)
            _remove(self.state_path)
            _fsync_dir(self.directory)
        except BaseException:
            self._stopped()
            raise
        self._release_lock()
        return results

    def _remove_stale(self, out, finals):
        """Outputs of an earlier run of this split that are not ours (another layout)."""
        keep = {p.name for p in finals}
        stale = []
        single = self.directory / f'{out.name}{_SUFFIX}'
        if single.name not in keep and single.exists():
            stale.append(single)
        for path in self.directory.glob(shard_pattern(out.name)):
            parsed = parse_shard_name(path.name)
            if parsed is not None and parsed[0] == out.name and path.name not in keep:
                stale.append(path)
        for path in stale:
            for file in _dataset_files(path):
                _remove(file)
