"""
Helper functions shared by readers, writers, shell tools and dataset writers:
hashing, path manipulation, progress bars, prompts, background generators.

Downloading and verifying source files lives in
:py:mod:`datadings_like.tools.download` and is re-exported here.
"""
from functools import cached_property  # noqa: F401  (manual API)
from itertools import product
from pathlib import Path
import hashlib
import inspect
import multiprocessing
import os
import queue as _queue
import struct
import sys
import threading

import numpy as np
from tqdm import tqdm

__all__ = (
    'ProgressPrinter',
    'SentinelEnd',
    'SentinelError',
    'Yielder',
    'YielderProc',
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
        ValueError: if a line is not ``<md5 hex>  <file name>``
    """
    hashes = {}
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip('\r\n')
            if not line.strip():
                continue
            md5, sep, name = line.partition(' ')
            name = name.lstrip(' *')
            if not sep or not name or len(md5) != 32:
                raise ValueError(f'{path}:{number}: not an md5 line: {line!r}')
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


_BAR_FORMAT = '{desc} {percentage:3.0f}% {elapsed}<{remaining}, {rate_fmt}{postfix}'
_BAR_FORMAT_NO_TOTAL = '{desc} {n_fmt} {elapsed}, {rate_fmt}{postfix}'


class ProgressPrinter(tqdm):
    """``tqdm`` without the monitor thread."""
    monitor_interval = 0


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
    the count instead of a percentage.

    Returns:
        ``tqdm.tqdm`` object.
    """
    if bar_format is None:
        bar_format = (_BAR_FORMAT if kwargs.get('total') is not None
                      else _BAR_FORMAT_NO_TOTAL)
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
    Accepts the same ``kwargs`` as the ``print`` function.

    Parameters:
        flush: If True, flush after printing.
    """
    print('\r\033[K', end='', file=kwargs.get('file'))
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
    The first dimension of the array indexes the subimages.
    Uses Pillow (datadings needs GDAL for this).

    Parameters:
        file_path: Path to TIFF file.
        type: Output dtype.

    Returns:
        TIFF image as numpy array.

    Raises:
        ValueError: the subimages differ in size or channels
    """
    from PIL import Image
    from PIL import ImageSequence

    with Image.open(file_path) as image:
        frames = [np.asarray(frame) for frame in ImageSequence.Iterator(image)]
    shapes = {frame.shape for frame in frames}
    if len(shapes) != 1:
        raise ValueError(f'{file_path}: subimages differ in shape: {sorted(shapes)}')
    return np.stack(frames).astype(type, copy=False)


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
