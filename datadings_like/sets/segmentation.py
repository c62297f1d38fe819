"""
Shared tools of the segmentation writers (VOC2012, CAMVID, ADE20k,
Places2017, InriaBuildings, Vaihingen, RIT18, ...):

- class statistics: :py:class:`ClassCounter` counts the pixels of every
  class with ``numpy.bincount``, one label map at a time (memory does not
  depend on the number of maps), optionally ignoring a void index;
  :py:func:`count_classes` feeds it from an iterable with a progress bar;
- class weights: :py:func:`median_frequency_weights` (median-frequency
  balancing of Eigen & Fergus, 2015);
- statistics files: :py:func:`write_statistics` writes them atomically as
  JSON (``INDEXES`` and ``COUNTS`` like the files of datadings 3.4.7, plus
  the raw counts and the weights), :py:func:`read_statistics` reads them;
  :py:func:`write_json` writes any JSON file the same way;
  :py:func:`print_statistics`, :py:func:`print_values` and
  :py:func:`sorted_values` print them the way datadings 3.4.7 does;
- colours: :py:func:`colors_to_indices` maps colour-coded label images to
  class indices by exact colour match, :py:func:`indices_to_colors` maps
  back; :py:func:`decode_label_map` decodes label image data to an array.

Median-frequency balancing
--------------------------
For every class ``c``::

    freq(c)   = pixels of class c / pixels of the images in which c occurs
    weight(c) = median over classes of freq / freq(c)

Pixels equal to the ignore (void) index count for no class and are not
part of an image's pixels. Classes that never occur get weight 0 and do
not take part in the median.

datadings 3.4.7 computes something else: its ``COUNTS`` are, per class,
the sum over *all* images of the class's share of the image's pixels
(void included, as VOC2012's void colour becomes background there), and
its weights are ``median(COUNTS) / COUNTS[c]``. For images of equal size
that is ``freq(c)`` multiplied by the number of images in which ``c``
occurs, so classes that occur in few images get weights too high. :py:class:`ClassCounter` computes both:
:py:attr:`ClassCounter.fractions` are the counts of datadings 3.4.7 (written as
``COUNTS``), :py:meth:`ClassCounter.weights` the standard weights.
"""
import json
import os
from pathlib import Path

import numpy as np

from ..tools.cli import UserError

__all__ = (
    'ClassCounter',
    'colors_to_indices',
    'count_classes',
    'decode_label_map',
    'indices_to_colors',
    'median_frequency_weights',
    'print_statistics',
    'print_values',
    'read_statistics',
    'sorted_values',
    'write_json',
    'write_statistics',
)

#: Format version of the statistics files written by :py:func:`write_statistics`.
STATISTICS_VERSION = 1
#: Largest class index a label map may hold (16-bit maps, ADE20k's 3000+ classes).
MAX_CLASSES = 1 << 16


class ClassCounter:
    """
    Count the pixels of every class in label maps, one map at a time,
    with ``numpy.bincount``; memory depends on the number of classes
    only. Counters of parts of a dataset (e.g. worker processes) are
    combined with :py:meth:`merge`.

    Parameters:
        num_classes: number of classes (counts have at least this length;
            they grow if a map holds a larger index), or None
        ignore_index: a void label (e.g. 255) that counts for no class, or
            None to count every value

    Attributes:
        pixels: int64 array, pixels of each class
        image_pixels: int64 array, counted (non-void) pixels of the maps in
            which each class occurs
        images: int64 array, number of maps in which each class occurs
        fractions: float64 array, the sum over all maps of each class's
            share of the map's counted pixels (the ``COUNTS`` of
            datadings 3.4.7)
        samples: number of maps counted
        ignored: number of void pixels
    """

    def __init__(self, num_classes=None, ignore_index=None):
        n = 0 if num_classes is None else int(num_classes)
        if n < 0:
            raise ValueError(f'num_classes must be >= 0, not {num_classes}')
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.pixels = np.zeros(n, np.int64)
        self.image_pixels = np.zeros(n, np.int64)
        self.images = np.zeros(n, np.int64)
        self.fractions = np.zeros(n, np.float64)
        self.samples = 0
        self.ignored = 0

    def __len__(self):
        return len(self.pixels)

    def __repr__(self):
        return (f'ClassCounter({len(self)} classes, {self.samples} samples, '
                f'ignore_index={self.ignore_index})')

    def _grow(self, n):
        if n <= len(self.pixels):
            return
        extra = n - len(self.pixels)
        self.pixels = np.concatenate([self.pixels, np.zeros(extra, np.int64)])
        self.image_pixels = np.concatenate([self.image_pixels, np.zeros(extra, np.int64)])
        self.images = np.concatenate([self.images, np.zeros(extra, np.int64)])
        self.fractions = np.concatenate([self.fractions, np.zeros(extra, np.float64)])

    def update(self, label_map):
        """
        Count the pixels of one label map.

        Parameters:
            label_map: array-like of non-negative integers (any shape)

        Returns:
            this counter

        Raises:
            ValueError: the map is not integer or holds negative values or
                values of :py:data:`MAX_CLASSES` or more
        """
        a = np.asarray(label_map)
        if a.dtype == np.bool_:
            a = a.view(np.uint8)
        if a.dtype.kind not in 'iu':
            raise ValueError(f'a label map must hold integers, not {a.dtype}')
        a = a.ravel()
        if self.ignore_index is not None:
            keep = a != self.ignore_index
            valid = int(np.count_nonzero(keep))
            self.ignored += a.size - valid
            if valid != a.size:
                a = a[keep]
        if a.size:
            if a.dtype.kind == 'i' and a.min() < 0:
                raise ValueError(f'a label map holds the negative value {int(a.min())}')
            if a.max() >= MAX_CLASSES:
                raise ValueError(f'a label map holds the value {int(a.max())}, '
                                 f'more than {MAX_CLASSES - 1}')
            counts = np.bincount(a, minlength=len(self.pixels))
        else:
            counts = np.zeros(len(self.pixels), np.int64)
        self._grow(len(counts))
        present = counts > 0
        self.pixels[:len(counts)] += counts
        self.images[:len(counts)] += present
        self.image_pixels[:len(counts)][present] += a.size
        if a.size:
            self.fractions[:len(counts)] += counts / a.size
        self.samples += 1
        return self

    def merge(self, other):
        """
        Add the counts of another counter (same ``ignore_index``).

        Returns:
            this counter
        """
        if other.ignore_index != self.ignore_index:
            raise ValueError('cannot merge counters with different ignore_index '
                             f'({self.ignore_index} and {other.ignore_index})')
        self._grow(len(other))
        n = len(other)
        self.pixels[:n] += other.pixels
        self.image_pixels[:n] += other.image_pixels
        self.images[:n] += other.images
        self.fractions[:n] += other.fractions
        self.samples += other.samples
        self.ignored += other.ignored
        return self

    def indexes(self):
        """The classes that occur, ascending (a list of int)."""
        return [int(c) for c in np.flatnonzero(self.pixels)]

    def frequencies(self):
        """
        Frequency of each class: its pixels divided by the pixels of the
        maps in which it occurs (0 for classes that never occur).

        Returns:
            float64 array
        """
        freq = np.zeros(len(self), np.float64)
        present = self.image_pixels > 0
        freq[present] = self.pixels[present] / self.image_pixels[present]
        return freq

    def weights(self):
        """
        Median-frequency class weights (Eigen & Fergus):
        ``median(freq) / freq(c)`` over the classes that occur; 0 for the
        others.

        Returns:
            list of float, one per class index
        """
        return median_frequency_weights(self.pixels, self.image_pixels)

    def statistics(self):
        """
        The counts as a dict for JSON: ``INDEXES`` (classes that occur),
        ``COUNTS`` (their :py:attr:`fractions`, as datadings 3.4.7 writes
        them), ``PIXELS``, ``IMAGE_PIXELS``, ``IMAGES``, ``FREQUENCIES`` and
        ``WEIGHTS`` (median-frequency, standard) of these classes, and
        ``SAMPLES``, ``IGNORE_INDEX``, ``IGNORED_PIXELS``.
        """
        idx = self.indexes()
        weights = self.weights()
        freq = self.frequencies()
        return {
            'INDEXES': idx,
            'COUNTS': [float(self.fractions[c]) for c in idx],
            'PIXELS': [int(self.pixels[c]) for c in idx],
            'IMAGE_PIXELS': [int(self.image_pixels[c]) for c in idx],
            'IMAGES': [int(self.images[c]) for c in idx],
            'FREQUENCIES': [float(freq[c]) for c in idx],
            'WEIGHTS': [weights[c] for c in idx],
            'SAMPLES': int(self.samples),
            'IGNORE_INDEX': self.ignore_index,
            'IGNORED_PIXELS': int(self.ignored),
            'VERSION': STATISTICS_VERSION,
        }


def count_classes(label_maps, num_classes=None, ignore_index=None, total=None,
                  desc='class counts', quiet=False, counter=None):
    """
    Count the classes of label maps in one pass, with a progress bar.

    Parameters:
        label_maps: iterable of integer arrays (consumed one at a time)
        num_classes: see :py:class:`ClassCounter`
        ignore_index: see :py:class:`ClassCounter`
        total: number of maps for the progress bar, if known
        desc: progress bar label
        quiet: no progress bar
        counter: add to this :py:class:`ClassCounter` instead of a new one

    Returns:
        the :py:class:`ClassCounter`
    """
    from ..tools import make_printer

    if counter is None:
        counter = ClassCounter(num_classes, ignore_index)
    with make_printer(desc=desc, total=total, disable=quiet) as printer:
        for label_map in label_maps:
            counter.update(label_map)
            printer.update(1)
    return counter


def median_frequency_weights(counts, image_pixels=None):
    """
    Median-frequency class weights: ``median(freq) / freq(c)``.

    With ``image_pixels`` (the pixels of the images in which each class
    occurs), ``freq(c) = counts[c] / image_pixels[c]``: the standard
    definition of Eigen & Fergus. Without it, ``counts`` are taken as
    frequencies up to a common factor (as datadings 3.4.7 does with its
    ``COUNTS``); the result is then ``median(counts) / counts[c]``.

    The median is taken over the classes with a frequency > 0; a class
    with frequency 0 (it never occurs) gets weight 0.

    Parameters:
        counts: sequence of numbers (pixels per class, or frequencies),
            or a :py:class:`ClassCounter`
        image_pixels: sequence of numbers of the same length, or None

    Returns:
        list of float (Python numbers, so they serialize as JSON)

    Raises:
        ValueError: lengths differ, or negative values
    """
    if isinstance(counts, ClassCounter):
        return counts.weights()
    counts = np.asarray(counts, np.float64).ravel()
    if np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError('class counts must be finite numbers >= 0')
    if image_pixels is None:
        freq = counts
    else:
        image_pixels = np.asarray(image_pixels, np.float64).ravel()
        if image_pixels.shape != counts.shape:
            raise ValueError(f'{len(counts)} counts but {len(image_pixels)} image pixel counts')
        freq = np.zeros_like(counts)
        nonzero = image_pixels > 0
        freq[nonzero] = counts[nonzero] / image_pixels[nonzero]
    present = freq > 0
    if not present.any():
        return [0.0] * len(freq)
    median = float(np.median(freq[present]))
    weights = np.zeros_like(freq)
    weights[present] = median / freq[present]
    return [float(w) for w in weights]


# ----------------------------------------------------------------- files

def _atomic_write_text(path, text, overwrite):
    from ..writer import _confirm_overwrite
    from ..writer import _make_parent

    path = Path(path)
    if path.is_dir():
        raise UserError(f'{path}: is a directory')
    _confirm_overwrite(path, overwrite)
    _make_parent(path)
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}')
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj, overwrite=False, indent=None):
    """
    Write ``obj`` as JSON (UTF-8) to ``path``, atomically: a failed run
    leaves no partial file. An existing file is replaced if ``overwrite``;
    otherwise the user is asked on a terminal (:py:class:`FileExistsError`
    without one, or if declined; "abort" raises :py:class:`KeyboardInterrupt`).

    Parameters:
        path: output file
        obj: JSON-serializable data
        overwrite: replace an existing file (``-y``)
        indent: ``json.dumps`` indent
    """
    _atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent) + '\n',
                       overwrite)


def write_statistics(path, counter, overwrite=False, extra=None):
    """
    Write the :py:meth:`ClassCounter.statistics` of a counter to a JSON file,
    atomically (a failed run leaves no partial file). An existing file
    is replaced if ``overwrite``; otherwise the user is asked on a
    terminal (:py:class:`FileExistsError` without one, or if declined).

    Parameters:
        path: output file
        counter: :py:class:`ClassCounter`
        overwrite: replace an existing file (``-y``)
        extra: dict of further entries (e.g. class names)

    Returns:
        the dict written
    """
    stats = counter.statistics()
    if extra:
        stats.update(extra)
    write_json(path, stats, overwrite, indent=1)
    return stats


def read_statistics(path):
    """
    Read a statistics file: :py:func:`write_statistics`'s JSON, or the
    ``{"INDEXES": [...], "COUNTS": [...]}`` files of datadings 3.4.7;
    plain, gzip or xz compressed.

    Returns:
        dict with at least ``INDEXES`` and ``COUNTS``

    Raises:
        UserError: the file cannot be read or lacks these entries
    """
    from ..tools.compression import open_comp

    try:
        with open_comp(str(path), 'rt', encoding='utf-8') as f:
            stats = json.load(f)
    except (OSError, EOFError, ValueError) as exc:
        raise UserError(f'{path}: cannot read class statistics ({exc})') from None
    if not isinstance(stats, dict) or not isinstance(stats.get('INDEXES'), list) \
            or not isinstance(stats.get('COUNTS'), list) \
            or len(stats['INDEXES']) != len(stats['COUNTS']):
        raise UserError(f'{path}: not a class statistics file (INDEXES and COUNTS '
                        'lists of the same length expected)')
    return stats


def print_values(prefix, values, file=None, flush=False):
    """
    Print a list as Python source, one value a line (as datadings 3.4.7
    prints its class statistics)::

        PREFIX = [
            value,
        ]

    Parameters:
        prefix: name to print
        values: iterable of values
        file: text stream (default: standard output)
        flush: flush the stream
    """
    lines = [f'{prefix} = [']
    lines.extend(f'    {v},' for v in values)
    lines.append(']')
    print('\n'.join(lines), file=file, flush=flush)


def print_statistics(name, stats, file=None):
    """
    Print statistics (a :py:func:`write_statistics` dict) the way
    datadings 3.4.7 prints its class weights: ``NAME weights``, the number
    of samples, then ``INDEXES``, ``COUNTS`` and ``WEIGHTS`` as Python lists
    (:py:func:`print_values`).

    Parameters:
        name: what was counted, e.g. the split
        stats: dict with ``SAMPLES``, ``INDEXES``, ``COUNTS``, ``WEIGHTS``
        file: text stream (default: standard output)
    """
    print(name, 'weights', file=file)
    print(f'{stats["SAMPLES"]} samples analyzed', file=file)
    print_values('INDEXES', stats['INDEXES'], file=file)
    print_values('COUNTS', stats['COUNTS'], file=file)
    print_values('WEIGHTS', stats['WEIGHTS'], file=file, flush=True)


def sorted_values(d):
    """The values of a dict, in the order of its sorted keys."""
    return [d[k] for k in sorted(d)]


# ----------------------------------------------------------------- colours

def _rgb_codes(a):
    a = np.asarray(a)
    if a.shape[-1:] != (3,):
        raise ValueError(f'expected colours in the last dimension (3), got shape {a.shape}')
    a = a.astype(np.uint32)
    return (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]


def colors_to_indices(image, colors, unmatched=None, extra=None, dtype=np.uint8):
    """
    Map a colour-coded label image to class indices by exact colour match.

    Parameters:
        image: uint8 array HxWx3 (RGB)
        colors: array-like Kx3, the colour of class ``i`` in row ``i``
        unmatched: index for colours that are no class colour, or None to
            raise :py:class:`ValueError` on them
        extra: dict ``(r, g, b) -> index`` of further colours (e.g. a void
            colour mapped to 255)
        dtype: dtype of the result

    Returns:
        array HxW of ``dtype``

    Raises:
        ValueError: a colour matches no class (and ``unmatched`` is None)
    """
    codes = _rgb_codes(np.asarray(colors, np.uint8))
    table = {int(c): i for i, c in reversed(list(enumerate(codes)))}
    for color, index in (extra or {}).items():
        table[int(_rgb_codes(np.asarray(color, np.uint8)))] = int(index)
    keys = np.array(sorted(table), np.uint32)
    values = np.array([table[int(k)] for k in keys], dtype)
    pixels = _rgb_codes(image)
    # a few distinct colours per image: map those, then expand
    unique, inverse = np.unique(pixels, return_inverse=True)
    pos = np.searchsorted(keys, unique)
    pos = np.minimum(pos, len(keys) - 1)
    found = keys[pos] == unique
    if not found.all():
        if unmatched is None:
            bad = int(unique[~found][0])
            raise ValueError(f'colour {(bad >> 16, (bad >> 8) & 255, bad & 255)} '
                             'is no class colour')
    mapped = np.where(found, values[pos], unmatched if unmatched is not None else 0)
    return mapped.astype(dtype)[inverse.reshape(pixels.shape)]


def indices_to_colors(array, colors):
    """
    Colour image of a label map: ``colors[array]``.

    Parameters:
        array: integer array of class indices
        colors: uint8 array Kx3

    Returns:
        uint8 array ``array.shape + (3,)``
    """
    return np.asarray(colors)[np.asarray(array)]


def decode_label_map(data, where=''):
    """
    Decode label image data to an array of its stored values: a palette
    image gives its palette indices, grey images (8 or 16 bit) their values,
    RGB images an HxWx3 array.

    Parameters:
        data: image file contents (bytes)
        where: file or member name for messages

    Returns:
        numpy array

    Raises:
        UserError: the data is not an image, naming ``where``
    """
    from .tools import ImageError
    from .tools import load_image
    from .tools import open_image

    try:
        image = load_image(open_image(data))
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    array = np.asarray(image)
    if image.mode in ('RGBA', 'LA', 'PA'):  # alpha is no label
        array = array[..., :-1] if image.mode == 'RGBA' else array[..., 0]
    return array
