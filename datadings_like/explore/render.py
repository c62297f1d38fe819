"""
Pictures of the explorer: thumbnails, images, label maps in the
dataset's colours and over their image, segments with their bounding
boxes, saliency fixations as points or a heat map, slices of image
arrays, numpy arrays as pictures.

Every picture is made from a decoded sample with Pillow's
decompression-bomb limit (images with more pixels are refused before
they are decoded) and kept in a bounded LRU cache (:py:class:`ImageCache`).
"""
from collections import OrderedDict
import io
import threading

import numpy as np
from PIL import Image
from PIL import ImageDraw

from ..reader._html import ImageError
from ..reader._html import _viewable
from ..reader._html import encode_png
from ..reader._html import image_format
from ..reader._html import open_image
from ..reader._html import thumbnail
from ..reader._html import to_bytes
from ..stream.dump import label_colors
from ..stream.dump import to_uint8
from .model import color_of
from .model import image_like
from .model import is_experiments
from .model import is_image_array
from .model import is_segments
from .model import thumb_source
from .model import value_at

__all__ = ('DEFAULT_CACHE_BYTES', 'ImageCache', 'VIEWS', 'legend', 'render')

#: byte limit of the cache of rendered pictures
DEFAULT_CACHE_BYTES = 64 << 20
#: longest side of grid thumbnails
THUMB_SIZE = 160
#: the pictures :py:func:`render` makes
VIEWS = ('thumb', 'image', 'labelmap', 'overlay', 'segments', 'fixations', 'heat', 'slice',
         'array')
_ALPHA = 0.5
_MAX_SEGMENTS_DRAWN = 1000
_BROWSER_FORMATS = ('JPEG', 'PNG', 'GIF', 'WEBP')
_BROWSER_MODES = ('RGB', 'RGBA', 'L', 'LA', 'P', '1')


class RenderError(ValueError):
    """A picture cannot be made: the value is no image, damaged or too large."""


class ImageCache:
    """
    Thread-safe LRU cache of rendered pictures, bounded in bytes.

    Parameters:
        limit: largest total size of the cached pictures in bytes
    """

    def __init__(self, limit=DEFAULT_CACHE_BYTES):
        self.limit = limit
        self.nbytes = 0
        self.hits = self.misses = 0
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The cached ``(content type, bytes)`` of ``key``, or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key, item):
        """Cache ``item`` (``(content type, bytes)``), dropping the least recently used."""
        size = len(item[1])
        if size > self.limit:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= len(old[1])
            self._items[key] = item
            self.nbytes += size
            while self.nbytes > self.limit:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= len(dropped[1])

    def __len__(self):
        return len(self._items)


# ------------------------------------------------------------ decoding

def _rgb_array(image):
    return np.asarray(image.convert('RGB'))


def _decode_full(data, max_pixels):
    image = open_image(data, max_pixels)
    try:
        image.load()
    except Exception as exc:
        raise ImageError(f'damaged {image.format} image ({type(exc).__name__}: {exc})') from None
    return image


def _base_image(sample, on, max_pixels, size=None):
    """RGB array of the image at path ``on`` (or None)."""
    if on is None:
        return None
    value = value_at(sample, on)
    data = to_bytes(value)
    if data is None or not image_format(data):
        if image_like(value):
            return _rgb(to_uint8(np.asarray(value)))
        raise RenderError('the overlay needs an image to go on')
    return _rgb_array(_decode_full(data, max_pixels))


def _rgb(array):
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    return array[:, :, :3]


def label_array(value, max_pixels):
    """A label map (image bytes or 2-D integer array) as an integer array."""
    data = to_bytes(value)
    if data is not None:
        image = _decode_full(data, max_pixels)
        if image.mode not in ('1', 'L', 'P', 'I', 'I;16', 'I;16B', 'I;16L'):
            raise RenderError(f'a label map is a single-channel image, not {image.mode}')
        array = np.asarray(image)
    else:
        array = np.asarray(value)
    if array.ndim != 2 or array.dtype.kind not in 'biu':
        raise RenderError(f'a label map is a 2-D integer array, not {array.dtype} {array.shape}')
    _check_pixels(array.shape, max_pixels)
    return array.astype(np.int64)


def _check_pixels(shape, max_pixels):
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    if limit is not None and shape[0] * shape[1] > limit:
        raise RenderError(f'{shape[1]}x{shape[0]} pixels are more than the limit of {limit}')


def colorize(labels, meta, name):
    """
    RGB colours of a label map: the dataset's colour map
    (``class_to_color``/``index_to_color`` of its module) for its class map
    ``label_image``, else :py:func:`~datadings_like.stream.dump.label_colors`.
    """
    if meta is not None and meta.colorize is not None and str(name) == 'label_image':
        try:
            colors = np.asarray(meta.colorize(labels))
            if colors.shape == labels.shape + (3,):
                return colors.astype(np.uint8)
        except (IndexError, ValueError, TypeError):
            pass  # values the colour map does not know: generic colours
    return label_colors(labels)


def legend(value, meta, name, max_pixels, limit=64):
    """
    The label values of a label map with their colours and class names.

    Returns:
        list of ``{"value", "color", "class", "pixels"}`` (at most ``limit``)
    """
    labels = label_array(value, max_pixels)
    values, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts)[:limit]
    values, counts = values[order], counts[order]
    colors = colorize(values[None, :], meta, name)[0]
    semantic = str(name) == 'label_image'
    out = []
    for v, c, rgb in zip(values.tolist(), counts.tolist(), colors.tolist()):
        out.append({'value': v, 'pixels': c, 'color': '#%02x%02x%02x' % tuple(rgb),
                    'class': meta.class_name(v) if semantic and meta is not None else None})
    return out


def _blend(base, colors, mask=None, alpha=_ALPHA):
    base = base.astype(np.float32)
    colors = colors.astype(np.float32)
    mixed = base * (1 - alpha) + colors * alpha
    if mask is not None:
        mixed = np.where(mask[:, :, None], mixed, base)
    return mixed.round().astype(np.uint8)


def _png(array_or_image):
    image = array_or_image if isinstance(array_or_image, Image.Image) \
        else Image.fromarray(np.ascontiguousarray(array_or_image))
    return 'image/png', encode_png(image)


# ------------------------------------------------------------ the views

def _thumb(sample, max_pixels, size=THUMB_SIZE):
    source = thumb_source(sample)
    if source is None:
        raise RenderError('the sample has no image')
    kind, path = source
    value = value_at(sample, path)
    if kind == 'bytes':
        image = thumbnail(to_bytes(value), size, max_pixels)
    elif kind == 'imagearray':
        image = Image.fromarray(_slice_array(value, None, max_pixels))
        image.thumbnail((size, size))
    else:
        image = Image.fromarray(np.ascontiguousarray(_array_image(value, max_pixels)))
        image.thumbnail((size, size))
    buf = io.BytesIO()
    if image.mode == 'RGBA':
        image.save(buf, 'PNG')
        return 'image/png', buf.getvalue()
    image.save(buf, 'JPEG', quality=85)
    return 'image/jpeg', buf.getvalue()


def _image(value, max_pixels):
    data = to_bytes(value)
    if data is None or not image_format(data):
        raise RenderError('not an image')
    image = _decode_full(data, max_pixels)
    if image.format in _BROWSER_FORMATS and image.mode in _BROWSER_MODES:
        return 'image/' + image.format.lower(), data
    return _png(_viewable(image))


def _array_image(value, max_pixels):
    array = np.asarray(value)
    if not image_like(array):
        raise RenderError(f'an array of shape {array.shape} is no picture')
    _check_pixels(array.shape, max_pixels)
    pixels = to_uint8(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return pixels


def _slice_array(value, at, max_pixels):
    from ..arrays import ImageArray, ImageArrayError
    try:
        array = ImageArray.decode(value)
    except ImageArrayError as exc:
        raise RenderError(str(exc)) from None
    spatial = 3 if array.color else 2
    extra = array.shape[spatial:]
    at = tuple(at or ()) + (0,) * (len(extra) - len(at or ()))
    if len(at) != len(extra) or not all(0 <= a < s for a, s in zip(at, extra)):
        raise RenderError(f'no slice {list(at)} in an image array of shape {array.shape}')
    _check_pixels(array.shape, max_pixels)
    try:
        pixels = array[(slice(None),) * spatial + at]
    except (ImageArrayError, ValueError) as exc:
        raise RenderError(f'damaged image array ({exc})') from None
    return to_uint8(np.asarray(pixels))


def _segments(sample, value, on, max_pixels):
    from ..masks import Segments, SegmentsError
    try:
        segments = Segments.decode(value)
    except SegmentsError as exc:
        raise RenderError(str(exc)) from None
    base = _base_image(sample, on, max_pixels)
    shape = segments.shape
    if base is None:
        if shape is None:
            boxes = [segments[k].bbox for k in range(len(segments))]
            shape = (max([b[2] for b in boxes] + [1]), max([b[3] for b in boxes] + [1]))
        _check_pixels(shape, max_pixels)
        base = np.full(tuple(shape) + (3,), 40, np.uint8)
    h, w = base.shape[:2]
    out = base.astype(np.float32)
    boxes = []
    try:
        for key in range(min(len(segments), _MAX_SEGMENTS_DRAWN)):
            entry = segments[key]
            r0, c0, r1, c1 = entry.bbox
            if r1 <= r0 or r1 > h or c1 > w:
                continue
            color = np.array(color_of(entry.label), np.float32)
            mask = entry.mask
            region = out[r0:r1, c0:c1]
            region[mask] = region[mask] * (1 - _ALPHA) + color * _ALPHA
            boxes.append(((c0, r0, c1 - 1, r1 - 1), tuple(int(x) for x in color)))
    except SegmentsError as exc:
        raise RenderError(str(exc)) from None
    image = Image.fromarray(out.round().astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for box, color in boxes:
        draw.rectangle(box, outline=color, width=max(1, min(h, w) // 200))
    return _png(image)


def _locations(value):
    points = []
    for i, e in enumerate(value):
        loc = e.get('locations')
        if isinstance(loc, np.ndarray) and loc.ndim == 2 and loc.shape[1] == 2 \
                and loc.dtype.kind in 'iuf':
            points.append((i, loc.astype(np.float64)))
    return points


def _fixations(sample, value, on, max_pixels, heat):
    if not is_experiments(value):
        raise RenderError('not a list of experiments with locations')
    base = _base_image(sample, on, max_pixels)
    points = _locations(value)
    if base is None:
        every = np.concatenate([p for _, p in points]) if points else np.zeros((0, 2))
        finite = every[np.isfinite(every).all(axis=1)]
        w = int(finite[:, 0].max()) + 1 if len(finite) else 64
        h = int(finite[:, 1].max()) + 1 if len(finite) else 64
        _check_pixels((h, w), max_pixels)
        base = np.full((h, w, 3), 40, np.uint8)
    h, w = base.shape[:2]
    if heat:
        from ..sets.saliency import fixation_map
        every = np.concatenate([p for _, p in points]) if points else np.zeros((0, 2))
        density = fixation_map(every, (h, w), sigma=0.03 * max(h, w), normalize='max')
        hot = np.stack([np.clip(3 * density, 0, 1), np.clip(3 * density - 1, 0, 1),
                        np.clip(3 * density - 2, 0, 1)], axis=2) * 255
        alpha = np.clip(density * 1.5, 0, 0.8)[:, :, None]
        out = base.astype(np.float32) * (1 - alpha) + hot * alpha
        return _png(out.round().astype(np.uint8))
    image = Image.fromarray(np.ascontiguousarray(base))
    draw = ImageDraw.Draw(image)
    r = max(2, max(h, w) // 150)
    for observer, loc in points:
        color = color_of(observer)
        for x, y in loc[np.isfinite(loc).all(axis=1)].tolist():
            if 0 <= x < w and 0 <= y < h:
                draw.ellipse((x - r, y - r, x + r, y + r), outline=(0, 0, 0), fill=color)
    return _png(image)


def render(sample, view, path=None, on=None, at=None, meta=None, max_pixels=None):
    """
    Make one picture of a decoded sample.

    Parameters:
        sample: the sample dict
        view: one of :py:data:`VIEWS`
        path: the value's path (see
            :py:func:`~datadings_like.explore.model.value_at`); not for
            ``thumb``
        on: path of the image an overlay is drawn on (``overlay``,
            ``segments``, ``fixations``, ``heat``)
        at: indices of the extra axes of an image array (``slice``)
        meta: :py:class:`~datadings_like.explore.model.SetMeta` for colours
        max_pixels: image size limit (default: Pillow's)

    Returns:
        ``(content type, bytes)``

    Raises:
        RenderError: the picture cannot be made (the message says why)
        KeyError: no value at ``path`` or ``on``
    """
    try:
        if view == 'thumb':
            return _thumb(sample, max_pixels)
        value = value_at(sample, path)
        name = list(sample)[path[0]] if isinstance(sample, dict) and path else ''
        if view == 'image':
            return _image(value, max_pixels)
        if view in ('labelmap', 'overlay'):
            labels = label_array(value, max_pixels)
            colors = colorize(labels, meta, name)
            if view == 'labelmap':
                return _png(colors)
            base = _base_image(sample, on, max_pixels)
            if base is None or base.shape[:2] != labels.shape:
                raise RenderError('no image of the size of the label map to draw it on')
            return _png(_blend(base, colors))
        if view == 'segments':
            if not is_segments(value):
                raise RenderError('not a Segments value')
            return _segments(sample, value, on, max_pixels)
        if view in ('fixations', 'heat'):
            return _fixations(sample, value, on, max_pixels, view == 'heat')
        if view == 'slice':
            if not is_image_array(value):
                raise RenderError('not an image array')
            return _png(_slice_array(value, at, max_pixels))
        if view == 'array':
            return _png(_array_image(value, max_pixels))
    except ImageError as exc:
        raise RenderError(str(exc)) from None
    raise RenderError(f'unknown view {str(view)[:20]!r} (views: {", ".join(VIEWS)})')
