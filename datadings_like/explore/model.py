"""
What the explorer knows about a dataset file: its overview, pages of
samples, key lookups, label histograms, and a JSON-ready description of
every field of a sample (:py:func:`describe_sample`).

Nothing here passes over a whole file unless asked to: the overview
examines samples spread evenly over the file, pages read only their own
samples, a label filter scans forward from the page's start a bounded
number of samples at a time, and the full label histogram is counted on
request (then it also serves the label filter).
"""
from collections import Counter
from pathlib import Path
import importlib
import pkgutil
import random
import threading
import zlib

import msgpack
import numpy as np

from ..errors import DatasetError
from ..index import INDEX_SUFFIXES
from ..index import SUFFIX_LEGACY_INDEX
from ..reader._html import describe_value
from ..reader._html import find_image
from ..reader._html import image_format
from ..reader._html import to_bytes
from ..tools import path_append

__all__ = ('ExploredFile', 'SetMeta', 'describe_sample', 'find_set', 'set_names')

#: samples per grid page, at most
MAX_PAGE = 200
#: samples the overview examines for the fields (spread evenly)
OVERVIEW_SAMPLES = 64
#: samples the overview examines for its label histogram estimate
LABEL_ESTIMATE_SAMPLES = 1000
#: samples a label filter looks at per request before it returns what it found
FILTER_SCAN = 20000
_MAX_ITEMS = 50         # list items / map entries described per level
_MAX_DEPTH = 4
_MAX_TEXT = 2000
_HEX_BYTES = 64
_MAX_LEGEND = 64
# names of label-map fields (single-channel images or 2-D integer arrays)
_LABEL_HINTS = ('label', 'mask', 'instance', 'segment', 'class', 'parts')
# fields that are not dataset modules in datadings_like.sets
_NOT_SETS = {'tools', 'types', 'saliency', 'segmentation', 'shards', 'tiles'}


# ------------------------------------------------------------ dataset modules

def set_names():
    """Names of the dataset modules of :py:mod:`datadings_like.sets` (``demo``, ``CIFAR10``, ...)."""
    from .. import sets
    return sorted(m.name for m in pkgutil.iter_modules(sets.__path__)
                  if not m.name.endswith(('_write', '_synsets', '_counts', '_reject',
                                          '_create_meta'))
                  and m.name not in _NOT_SETS and not m.name.startswith('_'))


def find_set(path, name=None):
    """
    The dataset module a file belongs to: ``name`` if given, else the name
    of a dataset module that equals (ignoring case) the file's directory or
    file stem, e.g. ``demo/train.msgpack`` -> ``demo``.

    Parameters:
        path: the data file
        name: a dataset module name, or None to guess

    Returns:
        :py:class:`SetMeta` or None

    Raises:
        ValueError: ``name`` is no dataset module
    """
    names = set_names()
    if name is not None:
        if name not in names:
            raise ValueError(f'unknown dataset {name!r} (known: {", ".join(names)})')
        return SetMeta(name)
    lower = {n.lower(): n for n in names}
    path = Path(str(path))
    for candidate in (path.parent.name, path.stem, path.stem.split('.')[0]):
        found = lower.get(candidate.lower())
        if found is not None:
            try:
                return SetMeta(found)
            except Exception:
                return None
    return None


class SetMeta:
    """
    Class names and colour map of a dataset module (``CLASSES``,
    ``class_to_color`` or ``index_to_color``), where it has them.

    Parameters:
        name: module name in :py:mod:`datadings_like.sets`

    Attributes:
        name: the module name
        classes: list of class names in label order, or None
        colorize: function from a label array to RGB colours, or None
    """

    def __init__(self, name):
        module = importlib.import_module(f'{__package__.rsplit(".", 1)[0]}.sets.{name}')
        self.name = name
        try:
            classes = getattr(module, 'CLASSES', None)
        except Exception:  # a lazily loaded table that is missing
            classes = None
        self.classes = [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None
        self.colorize = getattr(module, 'class_to_color', None) or \
            getattr(module, 'index_to_color', None)

    def class_name(self, label):
        """The class name of an int label, or None."""
        classes = self.classes
        if classes is None or isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            return None
        label = int(label)
        return classes[label] if 0 <= label < len(classes) else None


# ------------------------------------------------------------ helpers

def _jsonable(value):
    """A label or short value as something JSON can carry."""
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)[:200]


def _label_of(sample):
    if not isinstance(sample, dict) or 'label' not in sample:
        return None, False
    return sample['label'], True


def _hashable_label(label):
    return isinstance(label, (bool, int, float, str)) and not (
        isinstance(label, float) and label != label)


def same_label(a, b):
    """Labels are equal and of the same kind (3 is not '3', True is not 1)."""
    return (type(a) is bool) == (type(b) is bool) and isinstance(a, str) == isinstance(b, str) \
        and a == b


def _plain(raw):
    """A raw sample decoded with plain msgpack: numpy values stay maps, nothing is built."""
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def is_segments(value):
    """True for an encoded :py:class:`~datadings_like.masks.Segments` value."""
    return isinstance(value, dict) and value.get('format') == 'segments'


def is_image_array(value):
    """True for an encoded :py:class:`~datadings_like.arrays.ImageArray` value."""
    return isinstance(value, dict) and 'imagearray' in value


def is_experiments(value):
    """True for the saliency ``experiments`` list: maps with ``locations``."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        isinstance(e, dict) and 'locations' in e for e in value)


def is_label_name(name):
    """Field names that hold label maps (``label_image``, ``mask``, ...)."""
    name = str(name).lower()
    return any(hint in name for hint in _LABEL_HINTS)


def image_like(array):
    """True for arrays shown as pictures: ``(h, w)``, ``(h, w, 1|3|4)`` of numbers."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in 'biuf':
        return False
    if array.ndim == 2:
        return min(array.shape) >= 2
    return array.ndim == 3 and array.shape[2] in (1, 3, 4) and min(array.shape[:2]) >= 2


def value_at(sample, path):
    """
    The value at ``path`` in a sample: the position of a field, then
    positions in lists or maps below it.

    Raises:
        KeyError: no such value
    """
    value = sample
    for step in path:
        if isinstance(value, dict):
            items = list(value.values())
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            raise KeyError(f'no value at {".".join(map(str, path))}')
        if not 0 <= step < len(items):
            raise KeyError(f'no value at {".".join(map(str, path))}')
        value = items[step]
    return value


def parse_path(text):
    """``'3.0'`` -> ``(3, 0)``; raises ValueError for anything else."""
    parts = str(text).split('.')
    if not parts or len(parts) > _MAX_DEPTH + 1 or not all(p.isdigit() and len(p) < 7 for p in parts):
        raise ValueError(f'bad field path {str(text)[:40]!r}')
    return tuple(int(p) for p in parts)


def image_fields(sample):
    """Paths ``(position,)`` and sizes ``(w, h)`` of the image-bytes fields of a sample."""
    from ..reader._html import open_image, ImageError
    out = []
    if not isinstance(sample, dict):
        return out
    for pos, (name, value) in enumerate(sample.items()):
        data = to_bytes(value)
        if data is None or not image_format(data) or is_label_name(name):
            continue
        try:
            size = open_image(data, None).size
        except ImageError:
            size = None
        out.append(((pos,), str(name), size))
    return out


# ------------------------------------------------------------ field descriptions

def _text(value):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + '\u2026'


def _bytes_text(value):
    if isinstance(value, bytes):
        return _text(value.decode('utf-8', 'replace'))
    return _text(value)


def _array_text(array):
    with np.printoptions(threshold=40, edgeitems=3, linewidth=100, precision=4):
        return _text(np.array2string(array))


def _describe(name, value, path, ctx, depth):
    """JSON description of one value (see :py:func:`describe_sample`)."""
    d = {'name': _text(name), 'path': '.'.join(map(str, path))}
    data = to_bytes(value)
    if data is not None:
        fmt = image_format(data)
        d['size'] = len(data)
        if fmt:
            from ..reader._html import ImageError, open_image
            d['format'] = fmt
            try:
                image = open_image(data, ctx['max_pixels'])
                d['width'], d['height'] = image.size
                d['mode'] = image.mode
            except ImageError as exc:
                d['kind'] = 'image'
                d['error'] = str(exc)
                return d
            single = image.mode in ('1', 'L', 'P', 'I', 'I;16', 'I;16B', 'I;16L')
            if single and is_label_name(name):
                return _label_map(d, name, path, ctx, image.size)
            d['kind'] = 'image'
            return d
        d['kind'] = 'bytes'
        d['hex'] = data[:_HEX_BYTES].hex(' ')
        return d
    if is_segments(value):
        return _segments(d, value, path, ctx)
    if is_image_array(value):
        return _image_array(d, value)
    if isinstance(value, np.ndarray):
        d.update(kind='array', dtype=str(value.dtype), shape=list(value.shape),
                 text=_array_text(value))
        if value.ndim == 2 and value.dtype.kind in 'biu' and is_label_name(name) \
                and min(value.shape) >= 2:
            return _label_map(d, name, path, ctx, (value.shape[1], value.shape[0]))
        if image_like(value):
            d['image'] = True
        return d
    if is_experiments(value) and depth == 0:
        return _fixations(d, value, ctx)
    if isinstance(value, dict):
        items = list(value.items())
        d.update(kind='map', length=len(items), items=[
            _describe(k, v, path + (i,), ctx, depth + 1) if depth < _MAX_DEPTH
            else {'name': _text(k), 'kind': 'text', 'text': describe_value(v), 'path': ''}
            for i, (k, v) in enumerate(items[:_MAX_ITEMS])])
        return d
    if isinstance(value, (list, tuple)):
        d['length'] = len(value)
        if all(isinstance(v, (bool, int, float, str)) or v is None for v in value) and \
                sum(len(str(v)) for v in value[:200]) < _MAX_TEXT:
            d.update(kind='text', text=_text(list(value)))
            return d
        d.update(kind='list', items=[
            _describe(f'[{i}]', v, path + (i,), ctx, depth + 1) if depth < _MAX_DEPTH
            else {'name': f'[{i}]', 'kind': 'text', 'text': describe_value(v), 'path': ''}
            for i, v in enumerate(value[:_MAX_ITEMS])])
        return d
    if isinstance(value, str):
        d.update(kind='text', text=_text(value), length=len(value))
        return d
    d.update(kind='scalar', text=_text(value), type=type(value).__name__)
    return d


def _under(ctx, size):
    """Path of the image the overlay goes on: the first image of the same size."""
    for path, _, image_size in ctx['images']:
        if size is None or image_size == size:
            return '.'.join(map(str, path))
    return None


def _label_map(d, name, path, ctx, size):
    d['kind'] = 'labelmap'
    d['on'] = _under(ctx, size)
    return d


def _segments(d, value, path, ctx):
    from ..masks import Segments, SegmentsError
    try:
        segments = Segments.decode(value)
    except SegmentsError as exc:
        d.update(kind='segments', error=str(exc))
        return d
    shape = segments.shape
    size = None if shape is None else (shape[1], shape[0])
    table = []
    for key in range(min(len(segments), 200)):
        entry = segments[key]
        iid = entry.iid
        table.append({
            'key': key, 'label': _jsonable(entry.label),
            'class': None if ctx['meta'] is None else ctx['meta'].class_name(entry.label),
            'bbox': list(entry.bbox),
            'area': int(entry.area), 'groups': [_text(g) for g in entry.groups],
            'iid': None if iid is None else [_bytes_text(iid.domain), _bytes_text(iid.address)],
        })
    d.update(kind='segments', count=len(segments),
             shape=None if shape is None else list(shape), table=table,
             groups=[_text(g) for g in segments.groups],
             on=_under(ctx, size))
    return d


def _image_array(d, value):
    from ..arrays import ImageArray, ImageArrayError
    try:
        array = ImageArray.decode(value)
    except ImageArrayError as exc:
        d.update(kind='imagearray', error=str(exc))
        return d
    spatial = 3 if array.color else 2
    names = array.dim_names
    axes = [{'name': names[spatial + k] if names else f'axis {spatial + k}', 'size': size}
            for k, size in enumerate(array.shape[spatial:])]
    d.update(kind='imagearray', shape=list(array.shape), dtype=str(array.dtype),
             codec=value.get('codec'), color=array.color, axes=axes,
             dim_names=None if names is None else list(names))
    return d


def _fixations(d, value, ctx):
    points = 0
    for e in value:
        loc = e.get('locations')
        if isinstance(loc, np.ndarray) and loc.ndim == 2:
            points += loc.shape[0]
    try:
        import scipy.ndimage  # noqa: F401 - the heat map needs it
        heat = True
    except ImportError:
        heat = False
    d.update(kind='fixations', observers=len(value), points=points, heat=heat,
             on=_under(ctx, None),
             items=[_describe(f'[{i}]', v, _path_ints(d) + (i,), ctx, 1)
                    for i, v in enumerate(value[:_MAX_ITEMS])])
    return d


def _path_ints(d):
    """The path of a description as a tuple of ints."""
    return tuple(int(p) for p in d['path'].split('.')) if d['path'] else ()


def describe_sample(sample, meta=None, max_pixels=None):
    """
    JSON-ready description of every field of a sample, for the sample page.

    Every field gets ``name``, ``path`` (positions, dotted: the field's
    position in the sample, then in lists and maps below it) and ``kind``:
    ``image`` (``format``, ``width``, ``height``), ``labelmap`` (a label
    image or 2-D integer array; ``on`` is the path of the image of the same
    size it is drawn over), ``segments`` (``count``, ``table`` of the first
    200, ``on``), ``fixations`` (saliency ``experiments``: ``observers``,
    ``points``, ``heat``, ``on``), ``imagearray`` (``shape``, ``axes``),
    ``array`` (``dtype``, ``shape``, ``text``, ``image``), ``bytes``
    (``size``, ``hex`` of the first 64 bytes), ``text``, ``scalar``,
    ``list`` and ``map`` (``items``). Values that cannot be read carry
    ``error``. Strings are cut to 2000 characters.

    Parameters:
        sample: the sample dict
        meta: the :py:class:`SetMeta` of the dataset, or None
        max_pixels: image size limit (see
            :py:func:`datadings_like.reader._html.open_image`)

    Returns:
        list of dicts
    """
    ctx = {'images': image_fields(sample), 'meta': meta, 'max_pixels': max_pixels}
    if not isinstance(sample, dict):
        return [{'name': '(sample)', 'path': '', 'kind': 'text', 'text': _text(sample)}]
    return [_describe(name, value, (pos,), ctx, 0) for pos, (name, value) in enumerate(sample.items())]


# ------------------------------------------------------------ files

def _human(n):
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return f'{n} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024


class ExploredFile:
    """
    One dataset file of the explorer, read through a
    :py:class:`~datadings_like.reader.MsgpackReader`. The methods are safe to
    call from several threads.

    Parameters:
        path: the data file
        number: its position in the explorer's list
        set_name: dataset module for class names and colours (None: guess
            from the path, see :py:func:`find_set`)
        max_pixels: image size limit for thumbnails and views

    Raises:
        FileNotFoundError, DatasetError, UserError: the file cannot be opened
        ValueError: unknown ``set_name``
    """

    def __init__(self, path, number=0, set_name=None, max_pixels=None):
        from ..check import open_dataset
        self.path = path
        self.number = number
        self.reader = open_dataset(path)
        self.meta = find_set(path, set_name)
        self.max_pixels = max_pixels
        self.lock = threading.RLock()
        self._overview = None
        self._labels = None   # all labels in file order, once counted

    def __len__(self):
        return len(self.reader)

    @property
    def name(self):
        """File name for display."""
        return Path(str(self.path)).name

    def close(self):
        """Close the reader."""
        self.reader.close()

    # ------------------------------------------------------------ reading

    def get(self, index):
        """
        Sample ``index``.

        Raises:
            IndexError: no such sample
            DatasetError: the sample cannot be decoded
        """
        with self.lock:
            return self.reader.get(index)

    def get_plain(self, index):
        """Sample ``index`` decoded with plain msgpack (numpy values stay maps)."""
        with self.lock:
            raw = self.reader.get(index, raw=True)
        try:
            return _plain(raw)
        except Exception as exc:
            raise DatasetError(f'{self.path}: sample {index} cannot be decoded: '
                               f'{str(exc) or type(exc).__name__}') from None

    def find(self, key):
        """
        Index of the sample with ``key``.

        Raises:
            KeyError: no sample has it
        """
        with self.lock:
            return self.reader.find_index(key)

    def class_name(self, label):
        """Class name of a label, where the dataset module knows it."""
        return None if self.meta is None else self.meta.class_name(label)

    # ------------------------------------------------------------ overview

    def _index_state(self):
        path = Path(str(self.path))
        present = [s[1:] for s in INDEX_SUFFIXES if path_append(path, s).exists()]
        if present:
            return 'present', present
        if path_append(path, SUFFIX_LEGACY_INDEX).exists():
            return 'legacy', [SUFFIX_LEGACY_INDEX[1:]]
        return 'missing', []

    def _spread(self, count):
        n = len(self)
        if n <= count:
            return list(range(n))
        return np.unique(np.linspace(0, n - 1, count).round().astype(np.int64)).tolist()

    def overview(self):
        """
        Samples, size, index state, fields with their types and a label
        histogram (estimated from up to :py:data:`LABEL_ESTIMATE_SAMPLES`
        samples spread over the file, unless counted with
        :py:meth:`count_labels`).

        Returns:
            dict
        """
        if self._overview is None:
            fields = {}
            damaged = 0
            examined = 0
            image_field = None
            for i in self._spread(OVERVIEW_SAMPLES):
                try:
                    sample = self.get(i)
                except (DatasetError, ValueError):
                    damaged += 1
                    continue
                examined += 1
                if image_field is None:
                    image_field = find_image(sample)
                if not isinstance(sample, dict):
                    continue
                for name, value in sample.items():
                    entry = fields.setdefault(str(name), {'count': 0, 'types': Counter(),
                                                          'example': describe_value(value)})
                    entry['count'] += 1
                    entry['types'][_type_name(value)] += 1
            state, files = self._index_state()
            size = getattr(self.reader, '_size', None)
            self._overview = {
                'id': self.number, 'name': self.name, 'path': str(self.path),
                'samples': len(self), 'size': size,
                'size_text': None if size is None else _human(size),
                'index': state, 'index_files': files,
                'md5': path_append(Path(str(self.path)), '.md5').exists(),
                'set': None if self.meta is None else self.meta.name,
                'image_field': image_field,
                'examined': examined, 'damaged': damaged,
                'fields': [{'name': k, 'count': v['count'],
                            'types': ' | '.join(f'{t}' for t, _ in v['types'].most_common()),
                            'example': v['example']} for k, v in fields.items()],
            }
        result = dict(self._overview)
        result['labels'] = self.labels(full=False)
        return result

    def _histogram(self, counts, examined, estimated, errors=0):
        order = sorted(counts, key=lambda v: (isinstance(v, str), v))
        return {'estimated': estimated, 'examined': examined, 'errors': errors,
                'total': len(self),
                'counts': [[_jsonable(k), counts[k], self.class_name(k)] for k in order]}

    def labels(self, full=False):
        """
        Label histogram: counted over the whole file with ``full`` (one
        pass; then remembered), else the remembered one or an estimate.

        Returns:
            dict with ``counts`` (``[label, count, class name]``),
            ``estimated``, ``examined``, ``errors``
        """
        if self._labels is not None:
            labels, errors = self._labels
            counts = Counter(v for v in labels if _hashable_label(v))
            return self._histogram(counts, len(self), False, errors)
        if full:
            return self.count_labels()
        counts = Counter()
        examined = errors = 0
        for i in self._spread(LABEL_ESTIMATE_SAMPLES):
            try:
                label, has = _label_of(self.get_plain(i))
            except DatasetError:
                errors += 1
                continue
            examined += 1
            if has and _hashable_label(label):
                counts[label] += 1
        if not counts:
            return None if not errors else self._histogram(counts, examined, True, errors)
        return self._histogram(counts, examined, examined < len(self), errors)

    def count_labels(self):
        """Count the labels of all samples (one pass over the file); see :py:meth:`labels`."""
        labels = []
        errors = 0
        n = len(self)
        for a in range(0, n, 4096):
            with self.lock:
                raws = list(self.reader.slice(a, min(n, a + 4096), raw=True))
            for raw in raws:
                try:
                    label, has = _label_of(_plain(raw))
                except Exception:
                    errors += 1
                    label, has = None, False
                labels.append(label if has else None)
        self._labels = (labels, errors)
        return self.labels()

    # ------------------------------------------------------------ pages

    def tile(self, index):
        """Grid tile of sample ``index``: key, label, class name, thumbnail or error."""
        item = {'index': index}
        try:
            sample = self.get(index)
        except (DatasetError, ValueError) as exc:
            item['error'] = _text(str(exc).replace(f'{self.path}: ', ''))
            return item
        if isinstance(sample, dict):
            item['key'] = _text(sample['key']) if 'key' in sample else None
            label, has = _label_of(sample)
            if has:
                item['label'] = _jsonable(label)
                item['class'] = self.class_name(label)
        item['thumb'] = thumb_source(sample) is not None
        return item

    def page(self, start=0, count=48, label=None, filtered=False, seed=None):
        """
        A page of grid tiles.

        Parameters:
            start: first index (a label filter searches from here)
            count: tiles on the page (at most :py:data:`MAX_PAGE`)
            label: with ``filtered``, show only samples with this label
            filtered: filter by ``label``
            seed: if not None, a page of random samples chosen with this seed

        Returns:
            dict with ``items``, ``start``, ``next`` (where the next page
            starts, or None), ``total``, and with a filter ``scanned``
            (samples looked at) and ``done``

        Raises:
            IndexError: ``start`` out of range
        """
        n = len(self)
        count = max(1, min(int(count), MAX_PAGE))
        if seed is not None:
            chosen = random.Random(seed).sample(range(n), min(count, n))
            return {'items': [self.tile(i) for i in chosen], 'start': 0, 'next': None,
                    'total': n, 'random': seed}
        if n == 0 and start == 0:
            return {'items': [], 'start': 0, 'next': None, 'total': 0}
        if not 0 <= start < n:
            raise IndexError(f'index {start} out of range for {n} samples')
        if not filtered:
            stop = min(n, start + count)
            return {'items': [self.tile(i) for i in range(start, stop)], 'start': start,
                    'next': stop if stop < n else None, 'total': n}
        found = []
        i = start
        limit = min(n, start + FILTER_SCAN)
        known = self._labels[0] if self._labels is not None else None
        if known is not None:
            limit = n
        while i < limit and len(found) < count:
            if known is not None:
                value, has = known[i], known[i] is not None
            else:
                try:
                    value, has = _label_of(self.get_plain(i))
                except DatasetError:
                    value, has = None, False
            if has and same_label(value, label):
                found.append(i)
            i += 1
        return {'items': [self.tile(j) for j in found], 'start': start,
                'next': i if i < n else None, 'total': n, 'scanned': i - start,
                'done': i >= n, 'label': _jsonable(label)}


def _type_name(value):
    if to_bytes(value) is not None:
        return 'image' if image_format(to_bytes(value)) else 'bytes'
    if is_segments(value):
        return 'Segments'
    if is_image_array(value):
        return 'ImageArray'
    if isinstance(value, np.ndarray):
        return f'ndarray {value.dtype}'
    if value is None:
        return 'None'
    return {bool: 'bool', int: 'int', float: 'float', str: 'str', list: 'list',
            dict: 'map'}.get(type(value), type(value).__name__)


def thumb_source(sample):
    """
    What a sample's thumbnail is made of: ``('bytes', path)`` for image
    bytes, ``('imagearray', path)`` for an image array, ``('array', path)``
    for an image-like numpy array, or None.
    """
    if not isinstance(sample, dict):
        return None
    name = find_image(sample)
    keys = list(sample)
    if name is not None and not (is_label_name(name) and name != 'image'):
        return 'bytes', (keys.index(name),)
    for pos, (key, value) in enumerate(sample.items()):
        if is_image_array(value):
            return 'imagearray', (pos,)
    for pos, (key, value) in enumerate(sample.items()):
        if image_like(value) and not is_label_name(key):
            return 'array', (pos,)
    if name is not None:
        return 'bytes', (keys.index(name),)
    return None


def color_of(label):
    """A stable colour (RGB tuple) for any label value (segments, observers)."""
    h = zlib.crc32(repr(label).encode('utf-8')) / 0xFFFFFFFF
    import colorsys
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)
