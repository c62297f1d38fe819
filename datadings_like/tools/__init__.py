"""
Helper functions shared by readers, writers, shell tools and dataset writers:
hashing, path manipulation, progress bars, prompts, background generators.

Downloading and verifying source files lives in
:py:mod:`datadings_like.tools.download` and is re-exported here.
"""
from functools import cached_property  # noqa: F401  (manual API)
from itertools import product
from pathlib import Path
import contextlib
import contextvars
import hashlib
import inspect
import multiprocessing
import os
import queue as _queue
import struct
import sys
import threading
import time

import numpy as np
from tqdm import tqdm

# the manual also documents argument_threads here
from .argparse import argument_threads  # noqa: F401

__all__ = (
    'BAR_FORMAT',
    'DOWNLOAD_BAR',
    'ProgressPrinter',
    'SentinelEnd',
    'SentinelError',
    'Yielder',
    'YielderProc',
    'argument_threads',
    'cached_property',
    'document_keys',
    'hash_md5hex',
    'hash_string',
    'hash_string_bytes',
    'load_md5file',
    'make_printer',
    'path_append',
    'path_append_suffix',
    'print_over',
    'query_user',
    'split_array',
    'stdin_is_interactive',
    'tiff_to_nd_array',
    'yield_process',
    'yield_threaded',
)

_U64 = struct.Struct('>Q')


def hash_string_bytes(s: str, salt: bytes = b'') -> bytes:
    """
    Hash a string using the blake2s algorithm.

    Parameters:
        s: the string
        salt: optional salt, max 8 bytes

    Returns:
        first 8 bytes of the hash
    """
    return hashlib.blake2s(s.encode('utf-8'), salt=salt).digest()[:8]


def hash_string(s: str, salt: bytes = b'') -> int:
    """
    Hash a string using the blake2s algorithm.

    Parameters:
        s: the string
        salt: optional salt, max 8 bytes

    Returns:
        first 8 bytes of the hash, interpreted as big-endian uint64
    """
    return _U64.unpack_from(hashlib.blake2s(s.encode('utf-8'), salt=salt).digest())[0]


def hash_md5hex(path, read_size=1 << 20, progress=False):
    """
    Calculate the (hexadecimal) MD5 hash of a file.

    Parameters:
        path: File to hash.
        read_size: Read-ahead size.
        progress: If True, display progress.

    Returns:
        Hexadecimal MD5 hash as string.
    """
    path = Path(path)
    md5 = hashlib.md5()
    buf = bytearray(read_size)
    view = memoryview(buf)
    with path.open('rb', buffering=0) as f, make_printer(
        total=path.stat().st_size, desc=path.name, disable=not progress,
        unit='B', unit_scale=True, unit_divisor=1024,
    ) as printer:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            md5.update(view[:n])
            printer.update(n)
    return md5.hexdigest()


def load_md5file(path):
    """
    Load a text files of MD5 hashes.

    Parameters:
        path: Path to MD5 file.

    Returns:
        Dict of (file, hash) pairs.

    Raises:
        FileNotFoundError: the file is missing
        DatasetError: (a ``ValueError``) the file is not UTF-8 text, is a
            directory, or a line is not ``<md5 hex>  <file name>``; the
            message names the file (and the line)
    """
    from ..errors import DatasetError
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise DatasetError(f'{path}: is a directory, not an MD5 file') from None
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        line = data.count(b'\n', 0, exc.start) + 1
        raise DatasetError(
            f'{path}:{line}: not a text file of MD5 hashes (byte {exc.start} is not UTF-8)'
        ) from None
    hashes = {}
    for number, line in enumerate(text.split('\n'), 1):
        line = line.rstrip('\r')
        if not line.strip():
            continue
        md5, sep, name = line.partition(' ')
        name = name.lstrip(' *')
        if (not sep or not name or len(md5) != 32
                or not all(c in '0123456789abcdefABCDEF' for c in md5)):
            raise DatasetError(f'{path}:{number}: not an md5 line: {line[:200]!r}')
        hashes[name] = md5.lower()
    return hashes


def path_append(path: Path, string: str):
    """
    Append a string to the name of a ``pathlib`` ``Path``.

    Parameters:
        path: the path
        string: the bit to append

    Returns:
        Path with stuff appended

    Raises:
        ValueError: if path has no name, e.g., root ``/``.
    """
    path = Path(path)
    if not path.name:
        raise ValueError(f'{path} has an empty name')
    return path.with_name(path.name + string)


def path_append_suffix(path: Path, suffix: str):
    """
    Appends the given suffix to the path if the path does not end with
    said suffix::

        >>> path_append_suffix(Path('some.file'), '.file')
        Path('some.file')
        >>> path_append_suffix(Path('some.file'), '.txt')
        Path('some.file.txt')

    Behaves like ``path_append`` if suffix does not start with ``'.'``::

        >>> path_append_suffix(Path('some.file'), 'txt')
        Path('some.filetxt')

    Parameters:
        path: the base path
        suffix: suffix to append if necessary

    Returns:
        Path that ends with suffix.
    """
    path = Path(path)
    if path.name.endswith(suffix):
        return path
    return path_append(path, suffix)


#: ``bar_format`` of progress bars with a total (:py:func:`make_printer`).
BAR_FORMAT = '{desc} {percentage:3.0f}% {elapsed}<{remaining}, {rate_fmt}{postfix}'
_BAR_FORMAT = BAR_FORMAT
#: ``bar_format`` of download progress bars (:py:mod:`datadings_like.tools.download`).
DOWNLOAD_BAR = '{desc} {n_fmt}/{total_fmt} {percentage:3.0f}% {elapsed}<{remaining}, {rate_fmt}'
_BAR_FORMAT_NO_TOTAL = '{desc} {n_fmt} {elapsed}, {rate_fmt}{postfix}'


def _is_terminal(stream):
    """True if ``stream`` is a terminal, where a bar can redraw itself in place."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False


class ProgressPrinter(tqdm):
    """
    ``tqdm`` without the monitor thread, and without terminal control
    characters where there is no terminal.

    On a terminal the bar redraws itself in place, as usual. Anywhere else
    (a log file, a pipe, a CI console) every redraw would be one more
    ``\\r`` frame in the output, so there the bar writes a complete line at
    most every :py:attr:`plain_interval` seconds while it runs, and one
    final line when it closes, unless it was made with ``leave=False``
    (see :py:meth:`transient`).
    """
    monitor_interval = 0
    #: Seconds between two progress lines where the output is no terminal.
    plain_interval = 60.0
    _plain = False
    _plain_next = 0.0
    _transient = contextvars.ContextVar('datadings_like_transient_bars', default=False)

    @classmethod
    @contextlib.contextmanager
    def transient(cls):
        """
        Context manager: bars made by :py:func:`make_printer` within it
        leave nothing behind when they close (``leave=False``), e.g. the
        bars of a tool that prints its result when they are done.
        """
        token = cls._transient.set(True)
        try:
            yield
        finally:
            cls._transient.reset(token)

    def status_printer(self, file):
        """
        The function that writes the bar to ``file`` (tqdm calls this
        once, in ``__init__``): tqdm's own on a terminal, otherwise one
        that writes whole lines, at most one per :py:attr:`plain_interval`.
        """
        self._plain = not _is_terminal(file)
        if not self._plain:
            return tqdm.status_printer(file)
        self._plain_next = time.monotonic() + self.plain_interval

        def print_line(text):
            now = time.monotonic()
            if text and now >= self._plain_next:
                self._plain_next = now + self.plain_interval
                self._write_line(text)
        return print_line

    def _write_line(self, text):
        self.fp.write(text.rstrip() + '\n')
        flush = getattr(self.fp, 'flush', None)
        if flush is not None:
            flush()

    def display(self, msg=None, pos=None):
        """Show the bar (or ``msg``); without a terminal: see :py:meth:`status_printer`."""
        if not self._plain:
            return super().display(msg, pos)
        if msg == '':
            return False  # a request to clear: no line is left unfinished
        self.sp(self.__str__() if msg is None else msg)
        return True

    def clear(self, nolock=False):
        """Clear the bar; without a terminal there is nothing to clear."""
        if not self._plain:
            super().clear(nolock)

    def moveto(self, n):
        """Move the cursor ``n`` lines down (up if negative), on a terminal only."""
        if not self._plain:
            super().moveto(n)

    def close(self):
        """Close the bar; without a terminal, write the final line unless ``leave=False``."""
        if not self._plain or getattr(self, 'disable', True):
            return super().close()
        leave = self.leave if self.leave is not None else abs(self.pos) == 0
        # as tqdm: a bar that waits for ``delay`` and was never shown stays hidden
        shown = self.last_print_t >= self.start_t + getattr(self, 'delay', 0)
        self.leave = False
        try:
            super().close()  # bookkeeping only: display('') writes nothing here
        finally:
            self.leave = leave
        if leave and shown:
            # the overall rate, not the smoothed rate of the last updates
            self._write_line(self.format_meter(**{**self.format_dict, 'rate': None}))


def make_printer(
        bar_format=None,
        miniters=0,
        mininterval=0.5,
        smoothing=0.1,
        **kwargs
):
    """
    Convenience function to create ``tqdm`` objects with some default
    arguments. The bar is written to stderr. Without a ``total`` it shows
    the count instead of a percentage. Where stderr (or ``file``) is not a
    terminal the bar writes plain lines, now and then, instead of redrawing
    itself (see :py:class:`ProgressPrinter`); within
    :py:meth:`ProgressPrinter.transient` it defaults to ``leave=False``.

    Parameters:
        bar_format: ``tqdm`` bar format; the default shows the percentage,
            elapsed and remaining time and the rate
        miniters: minimum number of iterations between two redraws
        mininterval: minimum number of seconds between two redraws
        smoothing: ``tqdm`` rate smoothing factor
        kwargs: further ``tqdm`` arguments, e.g., ``total``, ``desc``,
            ``disable``, ``leave``, ``file``

    Returns:
        :py:class:`ProgressPrinter` (a ``tqdm.tqdm``) object.
    """
    if bar_format is None:
        bar_format = (_BAR_FORMAT if kwargs.get('total') is not None
                      else _BAR_FORMAT_NO_TOTAL)
    if ProgressPrinter._transient.get():
        kwargs.setdefault('leave', False)
    return ProgressPrinter(
        bar_format=bar_format,
        miniters=miniters,
        mininterval=mininterval,
        smoothing=smoothing,
        **kwargs
    )


def print_over(*args, **kwargs):
    """
    Wrapper around ``print`` that replaces the current line.
    It prints from the start of the line and clears remaining characters.
    Where the output is not a terminal it prints a plain line (no control
    characters). Accepts the same ``kwargs`` as the ``print`` function.

    Parameters:
        flush: If True, flush after printing.
    """
    file = kwargs.get('file')
    if _is_terminal(sys.stdout if file is None else file):
        print('\r\033[K', end='', file=file)
    print(*args, **kwargs)


def stdin_is_interactive():
    """Returns True if standard input is a terminal a user can answer on."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def query_user(question, default='yes', answers=('yes', 'no', 'abort')):
    """
    Ask the user a question on the terminal and return their answer.

    Never blocks when standard input is not a terminal: then ``default`` is
    returned, or ``EOFError`` is raised if there is no default.

    Parameters:
        question: String that is presented to the user.
        default: Presumed answer if the user just hits <Enter>.
                 Must be one of answers or None
                 (meaning an answer is required of the user).
        answers: Answers the user can give.

    Returns:
        One of answers.

    Raises:
        EOFError: no terminal to ask and no default, or input was closed
    """
    if default is not None and default not in answers:
        raise ValueError(f'default {default!r} is not one of {answers!r}')
    if not stdin_is_interactive():
        if default is None:
            raise EOFError(f'{question} (cannot ask: standard input is not a terminal)')
        return default
    valid = {'': default} if default is not None else {}
    for a in answers:
        valid.update({a[:i]: a for i in range(1, len(a) + 1)})
    choices = '/'.join(a[0].upper() if a == default else a[0] for a in answers)
    prompt = f'{question} [{choices}/?] '
    while True:
        answer = valid.get(input(prompt).strip().lower())  # stdin checked by stdin_is_interactive (isatty)
        if answer:
            return answer
        print('You can choose', ', '.join(answers), flush=True)


class SentinelEnd:
    """Put into a queue by :py:class:`Yielder` after the last item."""


class SentinelError:
    """Put into a queue by :py:class:`Yielder`: the generator raised ``exc``."""

    def __init__(self, exc):
        self.exc = exc


class Yielder(threading.Thread):
    """
    Thread that runs a generator and puts its items into a queue, then
    ``end`` (or ``error(exc)`` if the generator raised).
    Used by :py:func:`yield_threaded`.

    Parameters:
        gen: the generator
        queue: a ``queue.Queue``
        end: what to put after the last item
        error: callable making what to put for an exception
    """

    def __init__(self, gen, queue, end=SentinelEnd, error=SentinelError):
        super().__init__(daemon=True)
        self.gen = gen
        self.queue = queue
        self.end = end
        self.error = error
        self._stop_event = threading.Event()

    def _put(self, item):
        while not self._stop_event.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except _queue.Full:
                continue
        return False

    def run(self):
        """Iterate the generator into the queue until done or stopped."""
        try:
            for item in self.gen:
                if not self._put(item):
                    return
            self._put(self.end)
        except BaseException as exc:  # handed to the consumer
            self._put(self.error(exc))

    def stop(self):
        """Stop after the current item; the generator is not iterated further."""
        self._stop_event.set()


def yield_threaded(gen, maxsize=256):
    """
    Run a generator in a background thread and yield its output in the
    current thread. Exceptions in the generator are re-raised here.

    Parameters:
        gen: Generator to yield from.
        maxsize: how many items may wait in the queue.
    """
    q = _queue.Queue(maxsize)
    thread = Yielder(gen, q)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is SentinelEnd:
                return
            if isinstance(item, SentinelError):
                raise item.exc
            yield item
    finally:
        thread.stop()


class YielderProc(multiprocessing.get_context('fork').Process if hasattr(os, 'fork')
                  else multiprocessing.Process):
    """
    Process that runs a generator and sends its items through a pipe:
    ``('item', x)``, then ``('end', None)``, or ``('error', exc)`` if the
    generator raised or an item cannot be pickled. Sending pickles at once,
    so a bad item becomes an error instead of getting lost.
    Used by :py:func:`yield_process`.

    Parameters:
        gen: the generator (inherited by forking, never pickled)
        conn: sending end of a ``multiprocessing`` pipe
    """

    def __init__(self, gen, conn):
        super().__init__(daemon=True)
        self.gen = gen
        self.conn = conn

    def run(self):
        """Iterate the generator into the pipe."""
        send = self.conn.send
        try:
            for item in self.gen:
                send(('item', item))
            send(('end', None))
        except BaseException as exc:
            try:
                send(('error', exc))
            except Exception:  # the exception itself cannot be sent
                send(('error', RuntimeError(f'{type(exc).__name__}: {exc}')))

    def stop(self):
        """Terminate the process."""
        if self.is_alive():
            self.terminate()
        self.join()


def yield_process(gen):
    """
    Run a generator in a background process and yield its output in the
    current process. Items must be picklable: an item that is not raises
    an error here. Requires the ``fork`` start method (Linux), because
    generators cannot be sent to a new process.

    Parameters:
        gen: Generator to yield from.

    Raises:
        RuntimeError: the process died without finishing
    """
    ctx = multiprocessing.get_context('fork')
    receiver, sender = ctx.Pipe(duplex=False)
    proc = YielderProc(gen, sender)
    proc.start()
    sender.close()
    try:
        while True:
            try:
                kind, item = receiver.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(
                    f'yield_process: the generator process ended with exit code '
                    f'{proc.exitcode} before it finished') from None
            if kind == 'end':
                return
            if kind == 'error':
                raise item
            yield item
    finally:
        receiver.close()
        proc.stop()


def tiff_to_nd_array(file_path, type=np.uint8):
    """
    Decode a TIFF image and return all contained subimages as numpy array.
    The first dimension of the array indexes the subimages: the bands of
    the raster (``bands x H x W``, as GDAL gives them to datadings 3.4.7),
    and the pages of a multi-page file.

    Read with ``tifffile`` (the ``sets`` extra) where it is installed,
    otherwise with Pillow (no GDAL needed either way).

    Parameters:
        file_path: Path to TIFF file.
        type: Output dtype.

    Returns:
        TIFF image as numpy array.

    Raises:
        ValueError: the subimages differ in size
    """
    try:
        import tifffile  # noqa: F401
    except ImportError:
        tifffile = None
    if tifffile is not None:
        from .tiff import read_tiff
        try:
            return read_tiff(file_path, dtype=type)
        except Exception as exc:
            # multi-page files: read the pages one by one below
            if 'expected one image' not in str(exc):
                raise
    from PIL import Image
    from PIL import ImageSequence

    bands = []
    with Image.open(file_path) as image:
        for frame in ImageSequence.Iterator(image):
            array = np.asarray(frame)
            bands.extend(np.moveaxis(array, -1, 0) if array.ndim == 3 else [array])
    shapes = {band.shape for band in bands}
    if len(shapes) != 1:
        raise ValueError(f'{file_path}: subimages differ in shape: {sorted(shapes)}')
    return np.stack(bands).astype(type, copy=False)


def split_array(img, v_pixels, h_pixels, indices=(1, 2)):
    """
    Split/tile an image/numpy array in horizontal and vertical direction.

    Parameters:
        img: The image to split.
        v_pixels: Height of each tile in pixels.
        h_pixels: Width of each tile in pixels.
        indices: 2-tuple of axes along which the image is tiled.

    Returns:
        Yields single tiles from the image as arrays, row by row.
    """
    va, ha = indices
    for top, left in product(range(0, img.shape[va], v_pixels),
                             range(0, img.shape[ha], h_pixels)):
        index = [slice(None)] * img.ndim
        index[va] = slice(top, top + v_pixels)
        index[ha] = slice(left, left + h_pixels)
        yield img[tuple(index)]


def document_keys(
        typefun,
        block='Important:',
        prefix='Samples have the following keys:',
        postfix='',
):
    """
    Extract the keys that samples created by a type function have
    and create a documentation string that lists them.
    For example, it produces the following documentation for
    ``ImageClassificationData``::

        {block}
            {prefix}

            - ``"key"``
            - ``"image"``
            - ``"label"``

        {postfix}

    Parameters:
        typefun: Type function to analyze.
        block: Type of block to use. Defaults to "Important:".
        prefix: Text before parameter list.
        postfix: Text after parameter list.

    Returns:
        the documentation string
    """
    params = inspect.signature(typefun).parameters
    sample = typefun(*([None] * len(params)))
    keys = '\n    - '.join(f'``"{k}"``' for k in sample)
    return f'{block}\n    {prefix}\n\n    - {keys}\n{postfix}'


_DOWNLOAD_NAMES = frozenset((
    'download_files_if_not_found',
    'download_if_not_found',
    'locate_files',
    'prepare_indir',
    'verify_file',
    'verify_files',
))


def __getattr__(name):
    # download helpers are imported on demand (they pull in urllib)
    if name in _DOWNLOAD_NAMES:
        from . import download
        return getattr(download, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
