"""
Shared plumbing for dataset writers, so that each ``NAME_write`` module
reads like a description of its dataset:

- package data: :py:func:`open_comp`, :py:func:`load_json`;
- argparse helpers for image options: :py:func:`argument_compress`,
  :py:func:`argument_subsampling`, :py:func:`argument_resize`;
- images: :py:func:`convert_image` (keep JPEG/PNG as they are unless asked
  to change them), :py:func:`ensure_jpeg` (always JPEG; CMYK, PNG, ... are
  converted to RGB JPEG), :py:func:`resize_shorter_side`,
  :py:func:`encode_jpeg`, :py:func:`encode_png`;
- writing: :py:func:`write_samples` converts work items to samples in a
  thread or process pool with bounded memory, shuffles indices for
  ``--shuffle yes`` and writes them with a
  :py:class:`~datadings_like.writer.FileWriter`;
  :py:func:`write_splits` follows the manual's convention for declined
  (:py:class:`FileExistsError`) and aborted (:py:class:`KeyboardInterrupt`)
  overwrites;
- :py:func:`safe_unpickle` loads pickles (CIFAR) without running code
  from them.

A typical writer::

    def convert(item):
        path, label = item
        with open(path, 'rb') as f:
            return ImageClassificationData(key, convert_image(f.read()), label)

    def main(argv=None):
        parser = make_parser(__doc__)
        argument_threads(parser)
        args = parser.parse_args(argv)
        ...
        write_splits(['train', 'test'], lambda split: write_samples(
            os.path.join(outdir, split + '.msgpack'), items[split], convert, args))
"""
from collections import deque
from collections.abc import Sequence
from collections.abc import Sized
from itertools import islice
import argparse
import concurrent.futures
import io
import json
import multiprocessing
import os
import pickle
import signal
import sys
import warnings
import zipfile
import zlib

from ..tools import stdin_is_interactive
from ..tools.cli import UserError
from ..tools.argparse import positive_int
from ..tools.compression import open_comp as _open_comp

__all__ = (
    'COMPRESS_QUALITY',
    'ImageError',
    'NUMPY_PICKLE_GLOBALS',
    'REENCODE_QUALITY',
    'ROOT_DIR',
    'process_pool',
    'RestrictedUnpickler',
    'SUBSAMPLING',
    'argument_compress',
    'argument_resize',
    'argument_subsampling',
    'convert_image',
    'encode_jpeg',
    'encode_png',
    'ensure_jpeg',
    'load_json',
    'load_mat',
    'open_comp',
    'open_zip',
    'read_member',
    'require_matlab',
    'load_image',
    'open_image',
    'resize_shorter_side',
    'safe_unpickle',
    'to_rgb',
    'to_uint16',
    'write_samples',
    'write_splits',
)

#: Directory of the ``datadings_like.sets`` package (metadata files).
ROOT_DIR = os.path.abspath(os.path.dirname(__file__))

#: JPEG quality used by ``--compress`` without a value.
COMPRESS_QUALITY = 85
#: JPEG quality for images that must be re-encoded although no quality was
#: asked for (resized JPEGs, CMYK JPEGs, non-JPEG images in :py:func:`ensure_jpeg`).
REENCODE_QUALITY = 95
#: Choices of ``--subsampling``: chroma subsampling of JPEG encoding
#: (``Gray`` stores one grey channel).
SUBSAMPLING = ('444', '422', '420', 'Gray')
_PIL_SUBSAMPLING = {'444': '4:4:4', '422': '4:2:2', '420': '4:2:0'}


def open_comp(name, mode='rb', level=None, encoding=None):
    """
    Returns a file object contained in the sets package.
    Supports gzip, xz, or uncompressed files.

    Parameters:
        name: file name
        mode: open mode
        level: compression level/preset for writing
        encoding: encoding for text mode

    Returns:
        open file object
    """
    return _open_comp(os.path.join(ROOT_DIR, name), mode=mode, level=level,
                      encoding=encoding)


def load_json(name):
    """
    Load a JSON file contained in the sets package.
    Supports gzip, xz, or uncompressed files.

    Parameters:
        name: file name

    Returns:
        decoded JSON
    """
    with open_comp(name, mode='rt', encoding='utf-8') as f:
        return json.load(f)


# ---------------------------------------------------------------- argparse

def _quality(value):
    try:
        quality = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f'invalid quality {value!r}: use 1-100') from None
    if not 1 <= quality <= 100:
        raise argparse.ArgumentTypeError(f'invalid quality {quality}: use 1-100')
    return quality



def argument_compress(parser, *args, **kwargs):
    """
    Add ``--compress [QUALITY]`` to the parser::

        parser.add_argument(
            '--compress',
            nargs='?',
            default=None,
            const=85,
            type=int,  # 1-100
            metavar='QUALITY',
            help='Re-encode images as JPEG with this quality (default 85). ...',
        )

    ``args.compress`` is None (keep images as they are) or the quality.
    Pass it as ``quality`` to :py:func:`convert_image` or :py:func:`ensure_jpeg`.

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Other option names instead of ``--compress``.
        kwargs: Override the keyword arguments above.
    """
    options = dict(
        nargs='?', default=None, const=COMPRESS_QUALITY, type=_quality, metavar='QUALITY',
        help='Re-encode all images as JPEG with this quality 1-100 '
             f'(default: {COMPRESS_QUALITY} if given without a value). '
             'Without --compress, JPEG and PNG images are stored as they are.',
    )
    options.update(kwargs)
    return parser.add_argument(*(args or ('--compress',)), **options)


def argument_subsampling(parser, *args, **kwargs):
    """
    Add ``--subsampling {444,422,420,Gray}`` to the parser (default 422):
    chroma subsampling when images are (re-)encoded as JPEG; ``Gray``
    stores grey images. Images that are stored unchanged keep theirs.
    Pass ``args.subsampling`` as ``subsampling`` to :py:func:`convert_image`
    or :py:func:`ensure_jpeg`.

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Other option names instead of ``--subsampling``.
        kwargs: Override keyword arguments of ``add_argument``.
    """
    options = dict(
        default='422', choices=SUBSAMPLING, type=str,
        help='Chroma subsampling of images encoded as JPEG (with --compress, '
             'or when an image must be converted). Gray stores one grey '
             'channel. (default: 422)',
    )
    options.update(kwargs)
    return parser.add_argument(*(args or ('--subsampling',)), **options)


def argument_resize(parser, *args, **kwargs):
    """
    Add ``--resize PIXELS`` to the parser (default None): resize images so
    that their shorter side has this many pixels (keeping the aspect
    ratio), like im2rec's ``resize``. Pass ``args.resize`` as ``resize`` to
    :py:func:`convert_image` or :py:func:`ensure_jpeg`.

    Parameters:
        parser: Call ``add_argument`` on this ``ArgumentParser``.
        args: Other option names instead of ``--resize``.
        kwargs: Override keyword arguments of ``add_argument``.
    """
    options = dict(
        default=None, type=positive_int, metavar='PIXELS',
        help='Resize images so that their shorter side has PIXELS pixels '
             '(aspect ratio kept). Resized images are re-encoded: JPEG as JPEG '
             f'(quality {REENCODE_QUALITY} unless --compress), others as PNG.',
    )
    options.update(kwargs)
    return parser.add_argument(*(args or ('--resize',)), **options)


# ------------------------------------------------------------------ images

class ImageError(ValueError):
    """Image data cannot be decoded."""


def _pil():
    from PIL import Image
    return Image


def open_image(data):
    """
    Open image data (bytes) with Pillow; only the header is read.

    Raises:
        ImageError: not an image Pillow can read
    """
    Image = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.UnidentifiedImageError:
        raise ImageError('not an image (or a format Pillow cannot read)') from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ImageError(f'cannot read image: {exc}') from None


def load_image(image):
    """
    Decode the pixels of an opened image (``image.load()``), refusing
    decompression bombs.

    Parameters:
        image: a ``PIL.Image.Image`` from :py:func:`open_image`

    Returns:
        the same image, loaded

    Raises:
        ImageError: the data cannot be decoded
    """
    Image = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise ImageError(f'cannot decode image: {exc}') from None
    return image


def to_rgb(image, gray=False):
    """
    Convert a Pillow image to a mode JPEG can store: ``RGB``, or ``L`` for
    grey images (and for all images if ``gray``). CMYK, palette, alpha
    (dropped), 16-bit and other modes are converted. 16-bit grey images keep
    their top 8 bits; 32-bit grey images (``I``, ``F``) must hold whole
    numbers from 0 to 65535 (see :py:func:`to_uint16`) and keep their values
    if all are below 256, else their top 8 of 16 bits.

    Raises:
        ImageError: a 32-bit grey image with other values
    """
    mode = image.mode
    if mode.startswith('I') or mode == 'F':
        image, mode = _to_8bit(image), 'L'
    if gray:
        return image if mode == 'L' else image.convert('L')
    if mode in ('RGB', 'L'):
        return image
    if mode in ('1', 'LA'):
        return image.convert('L')
    return image.convert('RGB')


def _to_8bit(image):
    import numpy as np
    if image.mode in ('I', 'F'):
        # refuse values 16 bits cannot hold instead of clipping them
        array = np.asarray(to_uint16(image))
        scale = array.max(initial=0) > 255  # 8-bit values are kept
    else:
        array = np.clip(np.asarray(image), 0, 65535).astype(np.uint32)
        scale = True
    if scale:
        array = array >> 8
    return _pil().fromarray(array.astype(np.uint8))  # 2-d uint8: L


#: Grey modes with more than 8 bits per pixel (:py:func:`to_uint16` converts them).
_DEEP_GREY_MODES = ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F')


def to_uint16(image):
    """
    Convert a grey image with more than 8 bits per pixel (modes ``I;16``,
    ``I;16B``, ``I;16L``, ``I;16N``, 32-bit integer ``I``, 32-bit float
    ``F``) to mode ``I;16`` without changing a pixel value, so that it can
    be stored as a 16-bit PNG.

    Parameters:
        image: Pillow image in one of these modes

    Returns:
        the image in mode ``I;16`` (the same image if it is in that mode)

    Raises:
        ImageError: a pixel value 16 bits cannot hold: negative or above
            65535, or (mode ``F``) not a whole number; the message says so
        ValueError: ``image`` is in another mode
    """
    if image.mode == 'I;16':
        return image
    if image.mode not in _DEEP_GREY_MODES:
        raise ValueError(f'not a 16- or 32-bit grey image: mode {image.mode}')
    import numpy as np
    array = np.asarray(image)
    if image.mode in ('I', 'F') and array.size:
        if image.mode == 'F' and not np.isfinite(array).all():
            raise ImageError('32-bit floating point pixels include NaN or infinity: '
                             'they cannot be stored as 8 or 16 bits; convert the '
                             'image yourself')
        low, high = array.min(), array.max()
        if image.mode == 'F' and (low < 0 or high > 65535 or (array != np.round(array)).any()):
            raise ImageError(
                f'32-bit floating point pixels (from {low:g} to {high:g}) are not all '
                'whole numbers from 0 to 65535: they cannot be stored as 8 or 16 bits '
                'without changing their values, and their meaning is unknown; '
                'convert the image to 8 or 16 bits yourself')
        if low < 0 or high > 65535:
            raise ImageError(
                f'32-bit integer pixels from {low} to {high} do not fit into 16 bits '
                '(0 to 65535): they cannot be stored without changing their values; '
                'convert the image to 8 or 16 bits yourself')
    return _pil().fromarray(array.astype(np.uint16))  # 2-d uint16: I;16


def _resizable(image):
    # palette and 1-bit images cannot be resampled with a smooth filter
    if image.mode == 'P':
        return image.convert('RGBA' if 'transparency' in image.info else 'RGB')
    if image.mode == '1':
        return image.convert('L')
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N'):
        return image.convert('I')
    return image


def resize_shorter_side(image, size):
    """
    Resize a Pillow image so that its shorter side has ``size`` pixels,
    keeping the aspect ratio (Lanczos filter; up- or downscaling).
    16-bit grey images stay 16-bit (mode ``I;16``).

    Returns:
        the resized image (the same image if it fits already)
    """
    w, h = image.size
    if min(w, h) == size:
        return image
    if w <= h:
        new = (size, max(1, round(h * size / w)))
    else:
        new = (max(1, round(w * size / h)), size)
    Image = _pil()
    resized = _resizable(image).resize(new, Image.LANCZOS, reducing_gap=3.0)
    if image.mode.startswith('I;16'):
        # resampled in 32 bits; the filter may overshoot 0 and 65535
        import numpy as np
        resized = Image.fromarray(np.clip(np.asarray(resized), 0, 65535).astype(np.uint16))
    return resized


def encode_jpeg(image, quality=REENCODE_QUALITY, subsampling='422'):
    """
    Encode a Pillow image as JPEG (converting it to RGB or L first).

    Parameters:
        image: Pillow image
        quality: JPEG quality 1-100
        subsampling: one of :py:data:`SUBSAMPLING`

    Returns:
        bytes
    """
    gray = subsampling == 'Gray'
    image = to_rgb(image, gray=gray)
    out = io.BytesIO()
    options = {} if gray or image.mode == 'L' else {'subsampling': _PIL_SUBSAMPLING[subsampling]}
    image.save(out, 'JPEG', quality=quality, **options)
    return out.getvalue()


_PNG_MODES = ('1', 'L', 'LA', 'P', 'RGB', 'RGBA', 'I;16')


def encode_png(image, compress_level=6):
    """
    Encode a Pillow image as PNG (lossless; modes PNG cannot store become
    RGB/RGBA/L; 16- and 32-bit grey images become 16-bit PNGs, see
    :py:func:`to_uint16`).

    Returns:
        bytes

    Raises:
        ImageError: a 32-bit grey image whose values 16 bits cannot hold
    """
    if image.mode not in _PNG_MODES:
        if image.mode in _DEEP_GREY_MODES:
            image = to_uint16(image)
        elif image.mode in ('RGBa', 'RGBX'):
            image = image.convert('RGB')
        elif image.mode in ('La', 'PA'):
            image = image.convert('RGBA')
        else:
            image = to_rgb(image)
    out = io.BytesIO()
    image.save(out, 'PNG', compress_level=compress_level)
    return out.getvalue()


def _convert(data, quality, subsampling, resize, lossless):
    image = open_image(data)
    fmt = image.format
    if quality is None and resize is None:
        if fmt == 'JPEG' and image.mode in ('L', 'RGB'):
            return data
        if fmt == 'PNG' and lossless:
            return data
    if resize is not None and fmt == 'JPEG':
        # decode at a smaller scale if that is still big enough
        w, h = image.size
        scale = resize / min(w, h)
        if scale < 1:
            image.draft(image.mode if image.mode in ('L', 'RGB') else None,
                        (max(1, int(w * scale)), max(1, int(h * scale))))
    image = load_image(image)
    if quality is None and lossless and fmt != 'JPEG' and image.mode in _DEEP_GREY_MODES:
        # for a 16-bit PNG; before resizing: the check is about the source's values
        image = to_uint16(image)
    if resize is not None:
        image = resize_shorter_side(image, resize)
    if quality is not None:
        return encode_jpeg(image, quality, subsampling)
    if fmt == 'JPEG' or not lossless:
        return encode_jpeg(image, REENCODE_QUALITY, subsampling)
    return encode_png(image)


def convert_image(data, quality=None, subsampling='422', resize=None):
    """
    Prepare image data (bytes of any format Pillow reads) for a dataset,
    changing as little as possible:

    - without ``quality`` and ``resize``, JPEG (RGB or grey) and PNG data is
      returned unchanged (only its header is checked); CMYK JPEGs become RGB
      JPEGs; other formats (BMP, GIF, TIFF, WebP, ...) become PNG, losslessly
      (16- and 32-bit grey images: 16-bit PNG, see :py:func:`to_uint16`);
    - with ``resize``, the image is resized (shorter side) and encoded again:
      JPEG as JPEG (quality :py:data:`REENCODE_QUALITY`), others as PNG;
    - with ``quality``, every image is encoded as JPEG with that quality.

    Parameters:
        data: image file contents
        quality: None, or JPEG quality 1-100 (``--compress``)
        subsampling: chroma subsampling for JPEG encoding (``--subsampling``)
        resize: None, or pixels of the shorter side (``--resize``)

    Returns:
        bytes of a JPEG or PNG image

    Raises:
        ImageError: the data cannot be decoded
    """
    return _convert(data, quality, subsampling, resize, lossless=True)


def ensure_jpeg(data, quality=None, subsampling='422', resize=None):
    """
    Like :py:func:`convert_image`, but always returns JPEG data: RGB or grey
    JPEGs are returned unchanged (without ``quality``/``resize``); CMYK
    JPEGs, PNG and other formats are converted to RGB JPEG with ``quality``
    or :py:data:`REENCODE_QUALITY`.

    Raises:
        ImageError: the data cannot be decoded
    """
    return _convert(data, quality, subsampling, resize, lossless=False)


# ----------------------------------------------------------------- writing

def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _arg(value, args, name, default):
    if value is not None:
        return value
    if args is not None and getattr(args, name, None) is not None:
        return getattr(args, name)
    return default


def _identity(item):
    return item


def _convert_batch(convert, batch):
    return [convert(item) for item in batch]


def _batches(items, size):
    it = iter(items)
    while True:
        batch = list(islice(it, size))
        if not batch:
            return
        yield batch


def process_pool(workers):
    """
    A process pool for CPU-bound conversion. Its workers are started with
    ``forkserver`` (or ``spawn``), never by forking the writing process,
    which runs threads (progress bar, the writer's output thread); they
    ignore Ctrl-C, which the main process handles.

    Parameters:
        workers: number of processes

    Returns:
        ``concurrent.futures.ProcessPoolExecutor``
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context('forkserver' if 'forkserver' in methods else 'spawn')
    return _ProcessPool(workers, mp_context=context, initializer=_ignore_sigint)


class _ProcessPool(concurrent.futures.ProcessPoolExecutor):
    """
    Starts its processes (which happens in ``submit``) with Ctrl-C blocked:
    they inherit the signal mask through fork and exec, so a Ctrl-C sent to
    the whole process group while a new process still imports its modules
    (before the initializer ignores Ctrl-C) cannot make it print a
    traceback. The main process gets a Ctrl-C that arrives meanwhile as soon
    as ``submit`` returns.
    """

    def submit(self, *args, **kwargs):
        if not hasattr(signal, 'pthread_sigmask'):
            return super().submit(*args, **kwargs)
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def write_samples(outfile, items, convert=None, args=None, *, total=None,
                  threads=None, processes=False, shuffle=None, seed=None,
                  overwrite=None, quiet=None, window=None, desc=None, batch=1):
    """
    Convert work items to samples and write them to ``outfile``.

    ``items`` should be cheap descriptions of samples (paths, indices,
    offsets ...); ``convert(item)`` does the expensive part (reading,
    decoding, encoding) and returns the sample dict, or None to skip the
    item. Conversion runs in a pool of ``threads`` threads (or processes if
    ``processes`` is true; ``convert`` and items must then be picklable).
    Samples are written in the order of ``items``; at most ``window``
    items are in flight, so memory stays bounded however many there are.

    With ``shuffle``, the order is a random permutation of indices
    (``items`` must be a sequence; other iterables are turned into a list
    of the *items*, never of converted samples). The same ``seed`` gives
    the same order.

    Missing keyword arguments are taken from ``args`` (the parsed command
    line): ``threads`` from ``args.threads`` (default 1), ``shuffle`` from
    ``args.shuffle`` (default False), ``seed`` from ``args.seed``,
    ``overwrite`` from ``args.no_confirm``, ``quiet`` from ``args.quiet``.

    An existing ``outfile`` is replaced if ``overwrite``; otherwise the user
    is asked (see :py:class:`~datadings_like.writer.Writer`), which may
    raise :py:class:`FileExistsError` or :py:class:`KeyboardInterrupt`
    before any item is converted; see :py:func:`write_splits`. If anything
    fails, nothing is written under ``outfile``.

    Parameters:
        outfile: dataset file to write
        items: iterable of work items
        convert: ``convert(item) -> dict | None``; None writes items as they are
        args: parsed arguments to take defaults from
        total: number of items for the progress bar (default: ``len(items)``);
            items skipped by ``convert`` count too
        threads: number of workers; 1 converts in the calling thread
        processes: use processes instead of threads (CPU-bound pure-Python work)
        shuffle: write in random order
        seed: random seed for ``shuffle``
        overwrite: replace ``outfile`` without asking
        quiet: no progress bar
        window: tasks in flight (default ``4 * threads``)
        desc: progress bar label (default: file name)
        batch: items converted per pool task; more than 1 saves pool
            overhead when one conversion is cheap (e.g. tiny images)

    Returns:
        number of samples written
    """
    from ..writer import FileWriter
    import numpy as np

    convert = convert or _identity
    threads = max(1, int(_arg(threads, args, 'threads', 1)))
    shuffle = bool(_arg(shuffle, args, 'shuffle', False))
    seed = _arg(seed, args, 'seed', None)
    overwrite = bool(_arg(overwrite, args, 'no_confirm', False))
    quiet = bool(_arg(quiet, args, 'quiet', False))
    window = max(1, window or 4 * threads)

    if shuffle:
        if not isinstance(items, Sequence):
            items = list(items)
        order = np.random.default_rng(seed).permutation(len(items))
        source = items
        items = (source[int(i)] for i in order)
        total = len(source) if total is None else total
    elif total is None and isinstance(items, Sized):
        total = len(items)

    kwargs = dict(total=total, overwrite=overwrite, disable=quiet)
    if desc:
        kwargs['desc'] = desc
    with FileWriter(outfile, **kwargs) as writer:
        if threads == 1:
            for item in items:
                sample = convert(item)
                if sample is not None:
                    writer.write(sample)
                else:
                    writer.skip()  # the bar still reaches its total
            return writer.written
        executor = process_pool(threads) if processes else \
            concurrent.futures.ThreadPoolExecutor(threads)
        pending = deque()

        def write_oldest():
            for sample in pending.popleft().result():
                if sample is not None:
                    writer.write(sample)
                else:
                    writer.skip()
        try:
            for chunk in _batches(items, max(1, batch)):
                pending.append(executor.submit(_convert_batch, convert, chunk))
                if len(pending) >= window:
                    write_oldest()
            while pending:
                write_oldest()
        except BaseException:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown()
        return writer.written


def write_splits(splits, write_split):
    """
    Call ``write_split(split)`` for each split, following the manual's
    convention for output files that exist already:

    - :py:class:`FileExistsError` (the user declined to overwrite): this
      split is skipped and the others are written. If nobody could be asked
      (standard input is not a terminal), the skipped files are reported at
      the end as a :py:class:`~datadings_like.tools.cli.UserError` (exit
      status 1; ``-y`` overwrites).
    - :py:class:`KeyboardInterrupt` (the user chose abort, or Ctrl-C):
      stops at once; it propagates to the caller.

    Parameters:
        splits: split names, in order
        write_split: function writing one split

    Returns:
        dict ``split -> return value of write_split`` for the splits written
    """
    results = {}
    refused = []
    for split in splits:
        try:
            results[split] = write_split(split)
        except FileExistsError as exc:
            if stdin_is_interactive():
                print(f'{split}: not overwritten, skipped', file=sys.stderr)
            else:
                refused.append(str(exc))
    if refused:
        raise UserError('; '.join(refused))
    return results


# ---------------------------------------------------------------- pickles

#: The globals a pickle of dicts, lists, bytes, str, numbers and numpy
#: arrays refers to (CIFAR's python version): numpy 1.x and 2.x names.
NUMPY_PICKLE_GLOBALS = frozenset({
    ('numpy.core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', '_reconstruct'),
    ('numpy', 'ndarray'),
    ('numpy', 'dtype'),
})


class RestrictedUnpickler(pickle.Unpickler):
    """
    Unpickler that only creates objects of builtin types (dict, list,
    tuple, str, bytes, numbers, ...) and the globals in ``allowed``;
    anything else raises :py:class:`pickle.UnpicklingError`, so no code
    from the pickle runs.

    Parameters:
        file: binary file object
        allowed: set of ``(module, name)`` pairs
        kwargs: for :py:class:`pickle.Unpickler` (``encoding`` ...)
    """

    def __init__(self, file, allowed=NUMPY_PICKLE_GLOBALS, **kwargs):
        super().__init__(file, **kwargs)
        self._allowed = frozenset(allowed)

    def find_class(self, module, name):
        if (module, name) not in self._allowed:
            raise pickle.UnpicklingError(
                f'refusing to load {module}.{name} from a pickle '
                '(only plain data and numpy arrays are allowed)'
            )
        if module.startswith('numpy.core') or module.startswith('numpy._core'):
            # numpy 2 renamed numpy.core to numpy._core; accept both
            import numpy as np
            target = 'numpy._core' if hasattr(np, '_core') else 'numpy.core'
            module = target + module.split('core', 1)[1]
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', DeprecationWarning)
            return super().find_class(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError('persistent IDs are not allowed')


def safe_unpickle(fileobj, allowed=NUMPY_PICKLE_GLOBALS, encoding='latin1'):
    """
    Load a pickle without running code from it: only builtin data types
    and the globals in ``allowed`` (by default numpy arrays) are created.

    ``encoding='latin1'`` reads Python 2 pickles like CIFAR's: their
    ``str`` objects (dict keys, file names) become ``str``, numpy array
    data is read correctly.

    Parameters:
        fileobj: binary file object, or bytes
        allowed: set of ``(module, name)`` pairs that may be loaded,
            default :py:data:`NUMPY_PICKLE_GLOBALS`
        encoding: how to decode Python 2 ``str`` objects

    Returns:
        the unpickled object

    Raises:
        pickle.UnpicklingError: the pickle refers to anything not allowed
            (e.g. ``os.system``) or is damaged
    """
    if isinstance(fileobj, (bytes, bytearray, memoryview)):
        fileobj = io.BytesIO(fileobj)
    return RestrictedUnpickler(fileobj, allowed=allowed, encoding=encoding).load()


# ---------------------------------------------------------------- archives

#: Largest archive member :py:func:`read_member` reads (bytes).
MAX_MEMBER_SIZE = 1 << 30


def open_zip(path):
    """
    Open a zip archive for reading.

    Parameters:
        path: the zip file

    Returns:
        ``zipfile.ZipFile``

    Raises:
        UserError: missing, or not a (readable) zip file
    """
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise UserError(f'{path}: not found') from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise UserError(f'{path}: cannot read zip archive ({exc})') from None


def read_member(zf, name, max_size=MAX_MEMBER_SIZE):
    """
    Read one member of a zip archive.

    Parameters:
        zf: open ``zipfile.ZipFile``
        name: member name
        max_size: refuse members bigger than this (bytes)

    Returns:
        bytes

    Raises:
        UserError: the member is missing, too big or damaged, naming the
            archive and the member
    """
    where = zf.filename or 'zip archive'
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise UserError(f'{where}: {name} not found; is this the right archive?') from None
    if info.file_size > max_size:
        raise UserError(f'{where}: {name} is too big ({info.file_size} bytes)')
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError) as exc:
        raise UserError(f'{where}: {name}: damaged archive member ({exc})') from None


# -------------------------------------------------------------- MATLAB files

def require_matlab():
    """
    Check, before any download or work, that ``.mat`` files can be read.

    Raises:
        UserError: scipy (the ``sets`` extra) is missing; one line that
            names the extra
    """
    from ..tools.extras import MissingExtraError
    try:
        from ..tools import matlab  # noqa: F401
    except MissingExtraError as exc:
        raise UserError(str(exc)) from None


def load_mat(source, where=None, **options):
    """
    Read a MATLAB ``.mat`` file of a dataset's sources with
    :py:func:`datadings_like.tools.matlab.loadmat`, turning its errors into
    one-line user errors.

    Parameters:
        source: path, bytes (e.g. an archive member) or binary file object
        where: name for messages, e.g. ``"DATA.zip: DATA/u1/i1.mat"``
            (default: the path or the file object's name)
        options: for :py:func:`~datadings_like.tools.matlab.loadmat`
            (``variable_names``, ``squeeze_me``, ...)

    Returns:
        dict of the file's variables

    Raises:
        UserError: scipy (the ``sets`` extra) is missing, or the file is not
            a readable ``.mat`` file; the message names ``where``
    """
    from ..tools.extras import MissingExtraError
    try:
        from ..tools.matlab import MatFileError
        from ..tools.matlab import loadmat
    except MissingExtraError as exc:
        raise UserError(str(exc)) from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
        if where:
            source.name = where
    try:
        return loadmat(source, **options)
    except MatFileError as exc:
        message = str(exc)
        if where and where not in message:
            message = f'{where}: {message}'
        raise UserError(message) from None
