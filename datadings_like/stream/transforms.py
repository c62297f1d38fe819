"""
Transforms of sample dicts for training streams: decoding, geometric
augmentation applied in step to an image and its annotations, colour
changes, normalisation and conversion to arrays.

A transform is an object with a method ``apply(sample, rng, annotate)``
that changes a sample dict and returns it; ``rng`` is a
``numpy.random.Generator`` private to the sample (a transform draws all its
random numbers from it, so a sample's result depends only on the
generator's seed), ``annotate`` a tuple of field names that geometric
transforms change in step with the image. :py:class:`Pipeline` chains
transforms and is itself one; :py:func:`from_config` builds transforms from
a JSON or YAML list::

    from datadings_like.stream import transforms as T

    pipeline = T.Pipeline([
        T.Decode('image'),
        T.RandomResizedCrop(224),
        T.Flip(horizontal=True),
        T.ColorJitter(brightness=0.1),
        T.ToArray('image', dtype='float32'),
    ], annotate=['label_image'])
    sample = pipeline(sample, np.random.default_rng(0))

Resampled once: :py:class:`Decode` only reads the header of an image; the
geometric transforms (:py:class:`Flip`, :py:class:`Scale`,
:py:class:`Rotate`, :py:class:`RandomResizedCrop`, :py:class:`Resize`,
:py:class:`CenterCrop`, :py:class:`Clip`) compose their changes into one
affine map per field. The pixels are computed when a transform needs them
(a colour transform, :py:class:`ToArray`) or at the end of the pipeline: a
JPEG is decoded at the largest DCT-domain reduction (1/2, 1/4, 1/8) that
still gives at least one decoded pixel per output pixel
(:py:mod:`datadings_like.stream.decode`), and the image is resampled once,
with a single antialiased resize for crops, resizes and flips
(``PIL.Image.Image.resize`` with a box) and a single bilinear affine
transform when there is a rotation. Put the geometric transforms before
the colour transforms: a colour transform in between computes the pixels
at that point, and the rest of the geometry resamples them again.

Annotations: every field named in ``annotate`` gets the same geometric
changes as the image. Label maps (arrays, or PNG and other encoded images,
decoded without conversion: palette indices, 16-bit values) are resampled
with nearest-neighbour sampling on the same pixel grid, so a label map still
marks the same object pixels; they must have the size of the image.
Vector annotations (PicPac's JSON shapes: rectangles, ellipses and
polygons in coordinates normalised to the image size, see
:py:class:`Shapes`) transform as geometry and are drawn by
:py:class:`Rasterize`. Areas the image does not cover (rotation,
zooming out, padding crops) get the ``fill`` value (images) or
``label_fill`` (annotations) of the last transform that sets one; both
default to 0.

Errors: options are checked when a transform is made (:py:class:`ValueError`
naming the transform and the option); a sample that lacks a field or holds
something a transform cannot use raises :py:class:`TransformError`, whose
message names the transform, the field and the sample key.
"""
from collections.abc import Mapping
import inspect
import json
import math
import numbers

import numpy as np

from .decode import CHANNELS
from .decode import EncodedImage
from .decode import ImageError
from .decode import draft_scale
from .decode import image_to_array

__all__ = (
    'Add',
    'CenterCrop',
    'Clip',
    'ColorJitter',
    'ConvertColor',
    'Decode',
    'Flip',
    'MAX_POINTS',
    'Normalize',
    'Pipeline',
    'RandomResizedCrop',
    'Rasterize',
    'Resize',
    'Rotate',
    'Scale',
    'Shapes',
    'ToArray',
    'Transform',
    'TransformError',
    'finalize',
    'from_config',
    'register',
)


class TransformError(ValueError):
    """
    A transform cannot process a sample: a field is missing or holds data
    the transform cannot use. The message names the transform, the field
    and the sample key.
    """


def _describe_sample(sample):
    key = sample.get('key') if isinstance(sample, Mapping) else None
    return f'sample {key!r}' if key is not None else 'a sample without "key"'


def _sample_error(owner, sample, field, problem):
    return TransformError(f'{owner}: field {field!r} of {_describe_sample(sample)}: {problem}')


def _missing(owner, sample, field):
    if not isinstance(sample, Mapping):
        return TransformError(f'{owner}: a sample must be a dict, not {type(sample).__name__}')
    fields = ', '.join(map(repr, sample)) or 'none'
    return TransformError(f'{owner}: {_describe_sample(sample)} has no field {field!r} '
                          f'(its fields: {fields})')


def _get(owner, sample, field):
    try:
        return sample[field]
    except (KeyError, TypeError, IndexError):
        raise _missing(owner, sample, field) from None


# ------------------------------------------------------------ option checks

def _bad(owner, option, problem):
    return ValueError(f'{owner}: option {option!r} {problem}')


def _real(owner, option, value, low=None, high=None, above=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _bad(owner, option, f'must be a number, not {value!r}')
    if low is not None and value < low:
        raise _bad(owner, option, f'must be at least {low}, not {value!r}')
    if above is not None and value <= above:
        raise _bad(owner, option, f'must be greater than {above}, not {value!r}')
    if high is not None and value > high:
        raise _bad(owner, option, f'must be at most {high}, not {value!r}')
    return float(value)


def _integer(owner, option, value, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _bad(owner, option, f'must be an integer, not {value!r}')
    if low is not None and value < low:
        raise _bad(owner, option, f'must be at least {low}, not {value!r}')
    return int(value)


def _pair(owner, option, value):
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, '__len__') or len(value) != 2:
        raise _bad(owner, option, f'must be a number or a pair [low, high], not {value!r}')
    return tuple(value)


def _range(owner, option, value, low=None, high=None, symmetric=None):
    """A number (``symmetric(number)`` gives the range) or a pair ``(lo, hi)``."""
    if symmetric is not None and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return symmetric(_real(owner, option, value, low=0))
    lo, hi = (_real(owner, option, v, low=low, high=high) for v in _pair(owner, option, value))
    if lo > hi:
        raise _bad(owner, option, f'must be [low, high] with low <= high, not {list(value)!r}')
    return lo, hi


def _size(owner, option, value):
    """A positive int (square) or a pair ``(height, width)``; returns ``(h, w)``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = _integer(owner, option, value, low=1)
        return value, value
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, '__len__') or len(value) != 2:
        raise _bad(owner, option, f'must be a positive integer or [height, width], not {value!r}')
    return tuple(_integer(owner, option, v, low=1) for v in value)


def _field(owner, option, value):
    if not isinstance(value, str) or not value:
        raise _bad(owner, option, f'must be a field name (a non-empty string), not {value!r}')
    return value


def _fields(owner, option, value):
    """One field name or a non-empty list of them; returns a tuple."""
    if isinstance(value, str):
        return (_field(owner, option, value),)
    if isinstance(value, (bytes, Mapping)) or not hasattr(value, '__iter__'):
        raise _bad(owner, option, f'must be a field name or a list of them, not {value!r}')
    names = tuple(_field(owner, option, v) for v in value)
    if not names:
        raise _bad(owner, option, 'must name at least one field')
    if len(set(names)) != len(names):
        raise _bad(owner, option, f'names a field twice: {list(names)!r}')
    return names


def _field_option(owner, value):
    """The ``field`` option of geometric transforms: a name or a list of names."""
    names = _fields(owner, 'field', value)
    return names[0] if isinstance(value, str) else list(names)


def _flag(owner, option, value):
    if not isinstance(value, bool):
        raise _bad(owner, option, f'must be true or false, not {value!r}')
    return value


def _fill(owner, option, value):
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return _real(owner, option, value)
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, '__iter__'):
        raise _bad(owner, option, f'must be a number or a list of numbers (one per channel), '
                                  f'not {value!r}')
    values = tuple(_real(owner, option, v) for v in value)
    if not values:
        raise _bad(owner, option, 'must not be an empty list')
    return values


def _choice(owner, option, value, choices):
    if value not in choices:
        raise _bad(owner, option, f'must be one of {", ".join(map(repr, choices))}, not {value!r}')
    return value


def _dtype(owner, option, value):
    if value is None:
        return None
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise _bad(owner, option, f'is not a numpy dtype: {value!r}') from None
    if dtype.kind not in 'biuf':
        raise _bad(owner, option, f'must be a boolean, integer or floating point dtype, not {value!r}')
    return dtype.name


def _annotate(owner, value):
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    if isinstance(value, (bytes, Mapping)) or not hasattr(value, '__iter__'):
        raise _bad(owner, 'annotate', f'must be a list of field names, not {value!r}')
    return tuple(_field(owner, 'annotate', v) for v in value)


def _jsonable(value):
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Transform):
        return value.config()
    return value


# ------------------------------------------------------------ registry

_REGISTRY = {}


def register(cls, name=None):
    """
    Make a transform class known to :py:func:`from_config` (the built-in
    transforms are registered already).

    Parameters:
        cls: a subclass of :py:class:`Transform`
        name: the name used in configs (default: the class name)

    Returns:
        ``cls`` (so that ``register`` works as a class decorator)

    Raises:
        TypeError: ``cls`` is not a :py:class:`Transform` subclass
        ValueError: another class is registered under that name
    """
    if not (isinstance(cls, type) and issubclass(cls, Transform)):
        raise TypeError(f'register() needs a Transform subclass, not {cls!r}')
    name = cls.__name__ if name is None else name
    if _REGISTRY.get(name, cls) is not cls:
        raise ValueError(f'a transform named {name!r} is registered already: {_REGISTRY[name]!r}')
    _REGISTRY[name] = cls
    return cls


class Transform:
    """
    Base class of the transforms. A subclass implements
    ``apply(sample, rng, annotate)`` and keeps each constructor argument in
    an attribute of the same name, which gives it :py:meth:`options`,
    :py:meth:`config` and a readable ``repr``. Transforms must be picklable
    (streams run them in worker processes).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__ and not cls.__name__.startswith('_'):
            _REGISTRY[cls.__name__] = cls

    def apply(self, sample, rng, annotate=()):
        """
        Transform one sample.

        Parameters:
            sample: the sample dict; it may be changed in place
            rng: ``numpy.random.Generator`` for this sample
            annotate: names of the fields that geometric transforms change
                in step with the image

        Returns:
            the sample dict

        Raises:
            TransformError: the sample lacks a field or holds data the
                transform cannot use
        """
        raise NotImplementedError(f'{type(self).__name__} does not implement apply()')

    @classmethod
    def _option_names(cls):
        params = inspect.signature(cls.__init__).parameters
        return [name for name, p in params.items()
                if name != 'self' and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def options(self):
        """
        The constructor arguments of this transform, as a dict (those kept
        in attributes of the same name).
        """
        return {name: getattr(self, name) for name in self._option_names() if hasattr(self, name)}

    def config(self):
        """
        This transform as one entry of a :py:func:`from_config` list:
        ``{"Name": {option: value, ...}}`` (JSON-compatible for the
        built-in transforms).
        """
        return {type(self).__name__: {k: _jsonable(v) for k, v in self.options().items()}}

    def __repr__(self):
        params = inspect.signature(type(self).__init__).parameters
        shown = []
        for name, value in self.options().items():
            default = params[name].default
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f'{name}={value!r}')
        return f'{type(self).__name__}({", ".join(shown)})'

    def __eq__(self, other):
        return type(self) is type(other) and _same(self.options(), other.options())

    def __hash__(self):
        return hash(type(self).__name__)

    # helpers for subclasses

    def _error(self, sample, field, problem):
        return _sample_error(type(self).__name__, sample, field, problem)

    def _array(self, sample, field):
        """The pixels of an image field as an array (computed now if pending)."""
        value = _get(type(self).__name__, sample, field)
        if isinstance(value, _Raster):
            value = _materialize_field(type(self).__name__, sample, field, value)
            sample[field] = value
        if isinstance(value, np.ndarray):
            return value
        raise self._error(sample, field, _not_an_array(field, value))


def _same(a, b):
    return _jsonable(a) == _jsonable(b)


def _not_an_array(field, value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f'holds encoded data ({len(value)} bytes); decode it first with Decode({field!r})'
    if isinstance(value, Shapes):
        return f'holds vector annotations; draw them first with Rasterize({field!r})'
    return f'holds {type(value).__name__}, not an image array'


# ------------------------------------------------------------ geometry

def _matrix(a, b, c, d, e, f):
    return np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]])


def _translate(x, y):
    return _matrix(1.0, 0.0, x, 0.0, 1.0, y)


def _scaling(sx, sy):
    return _matrix(sx, 0.0, 0.0, 0.0, sy, 0.0)


def _crop_resize(x0, y0, width, height, out_w, out_h):
    """Map output pixels of an (out_w x out_h) image to a crop box of the input."""
    return _matrix(width / out_w, 0.0, x0, 0.0, height / out_h, y0)


# Coordinates are continuous with pixel (i, j) covering [i, i + 1) x [j, j + 1);
# a matrix maps output coordinates to input coordinates (PIL's AFFINE data).
_D8 = {
    'FLIP_LEFT_RIGHT': lambda w, h: (_matrix(-1, 0, w, 0, 1, 0), (w, h)),
    'FLIP_TOP_BOTTOM': lambda w, h: (_matrix(1, 0, 0, 0, -1, h), (w, h)),
    'ROTATE_180': lambda w, h: (_matrix(-1, 0, w, 0, -1, h), (w, h)),
    'TRANSPOSE': lambda w, h: (_matrix(0, 1, 0, 1, 0, 0), (h, w)),
    'ROTATE_90': lambda w, h: (_matrix(0, -1, w, 1, 0, 0), (h, w)),
    'ROTATE_270': lambda w, h: (_matrix(0, 1, 0, -1, 0, h), (h, w)),
    'TRANSVERSE': lambda w, h: (_matrix(0, -1, w, -1, 0, h), (h, w)),
}

_TOL = 1e-9
_IDENTITY = np.eye(3)
_IDENTITY.flags.writeable = False


def _is_identity(m, size, source_size):
    return tuple(size) == tuple(source_size) and np.abs(m - np.eye(3)).max() < 1e-7


def _classify(m):
    (a, b, _), (c, d, _) = m[:2].tolist()
    a, b, c, d = abs(a), abs(b), abs(c), abs(d)
    scale = max(a, b, c, d) * _TOL
    if b <= scale and c <= scale:
        return 'diag'
    if a <= scale and d <= scale:
        return 'anti'
    return 'affine'


def _min_stretch(m):
    """Smallest singular value of the linear part: input pixels per output pixel."""
    (a, b, _), (c, d, _) = m[:2].tolist()
    p = a * a + b * b + c * c + d * d
    q = abs(a * d - b * c)
    return math.sqrt(max(0.0, (p - math.sqrt(max(0.0, p * p - 4 * q * q))) / 2))


class _Frame:
    """Pending geometry: ``matrix`` maps output coordinates to the source's."""

    __slots__ = ('matrix', 'size')

    def then(self, op, size):
        self.matrix = self.matrix @ op
        self.size = (int(size[0]), int(size[1]))


class _Raster(_Frame):
    """An image or label map whose pixels are computed when needed."""

    __slots__ = ('source', 'label', 'channels', 'draft', 'fill', 'origin')

    def __init__(self, source, label, channels='keep', draft=True, orientation=None,
                 origin='Decode'):
        self.source = source
        self.origin = origin  # the transform named in decoding errors
        self.label = label
        self.channels = channels
        self.draft = draft
        self.fill = None
        if isinstance(source, EncodedImage):
            width, height = source.size
        else:
            height, width = source.shape[:2]
        self.matrix = _IDENTITY  # never changed in place: then() makes a new matrix
        self.size = (width, height)
        if orientation is not None:
            self.matrix, self.size = _D8[orientation](width, height)

    @property
    def source_size(self):
        if isinstance(self.source, EncodedImage):
            return self.source.size
        return self.source.shape[1], self.source.shape[0]

    def __repr__(self):
        kind = 'label map' if self.label else 'image'
        return f'<pending {kind} {self.size[0]}x{self.size[1]} from {self.source!r}>'


def _pil():
    from PIL import Image
    return Image


def _resampling():
    Image = _pil()
    return getattr(Image, 'Resampling', Image)


def _materialize(raster):
    source, m, size = raster.source, raster.matrix, raster.size
    if isinstance(source, EncodedImage):
        scale = 1
        if raster.draft and not raster.label and source.can_draft:
            scale = draft_scale(source.size, _min_stretch(m))
        image, actual = source.decode(raster.channels, scale)
        if actual != 1:
            m = _scaling(1.0 / actual, 1.0 / actual) @ m
        if raster.label:
            return _nearest(image_to_array(image), m, size, raster.fill)
        return _linear_image(image, m, size, raster.fill)
    if raster.label:
        return _nearest(source, m, size, raster.fill)
    return _linear_array(source, m, size, raster.fill)


def _materialize_field(owner, sample, field, raster):
    try:
        return _materialize(raster)
    except ImageError as exc:
        raise _sample_error(raster.origin, sample, field,
                            f'cannot decode the image: {exc}') from None
    except ValueError as exc:
        raise _sample_error(owner, sample, field, str(exc)) from None


def finalize(sample):
    """
    Compute the pixels of every pending image and label map of a sample
    (:py:class:`Pipeline` does this after its last transform; call it when
    you apply transforms one by one).

    Parameters:
        sample: a sample dict

    Returns:
        the sample, with arrays instead of pending values

    Raises:
        TransformError: an image cannot be decoded
    """
    for field, value in list(sample.items()):
        if isinstance(value, _Raster):
            sample[field] = _materialize_field('Pipeline', sample, field, value)
    return sample


def _pil_fill(image, fill):
    bands = len(image.getbands())
    if fill is None:
        fill = 0.0
    values = fill if isinstance(fill, tuple) else (fill,) * bands
    if len(values) == 1:
        values = values * bands
    if len(values) != bands:
        raise ValueError(f'fill {list(fill)!r} has {len(values)} values for an image with '
                         f'{bands} channels')
    if image.mode not in ('F',):
        values = tuple(int(round(v)) for v in values)
    return values[0] if bands == 1 else values


def _linear_image(image, m, size, fill):
    if image.mode not in ('L', 'RGB', 'RGBA'):
        return _linear_array(image_to_array(image), m, size, fill)
    if _is_identity(m, size, image.size):
        return image_to_array(image)
    return _resample_pil(image, m, size, fill)


def _linear_array(array, m, size, fill):
    height, width = array.shape[:2]
    if _is_identity(m, size, (width, height)):
        return array
    Image = _pil()
    if array.dtype == np.uint8 and (array.ndim == 2 or array.shape[2] in (3, 4)):
        return _resample_pil(Image.fromarray(np.ascontiguousarray(array)), m, size, fill)
    # any other dtype or channel count: every channel in 32-bit float
    planes = array.reshape(height, width, -1)
    count = planes.shape[2]
    fills = fill if isinstance(fill, tuple) else (0.0 if fill is None else fill,) * count
    if len(fills) == 1:
        fills = fills * count
    if len(fills) != count:
        raise ValueError(f'fill {list(fill)!r} has {len(fills)} values for an image with '
                         f'{count} channels')
    out = np.stack([
        _resample_pil(Image.fromarray(np.ascontiguousarray(planes[:, :, i], dtype=np.float32)),
                      m, size, float(fills[i]))
        for i in range(count)
    ], axis=-1)
    out = out.reshape(out.shape[:2] + array.shape[2:])
    if array.dtype.kind == 'f':
        return out.astype(array.dtype, copy=False)
    if array.dtype.kind == 'b':
        return out >= 0.5
    info = np.iinfo(array.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(array.dtype)


def _resample_pil(image, m, size, fill):
    kind = _classify(m)
    if kind == 'affine':
        return image_to_array(_affine(image, m, size, fill))
    return _axis_aligned(image, m, size, fill, kind)


def _axis_aligned(image, m, size, fill, kind):
    """
    Crop, resize (antialiased), flip and transpose in one resize: the
    intermediate image R is the output in the source's orientation.
    """
    Image = _pil()
    width, height = size
    (a, b, tx), (c, d, ty) = m[:2].tolist()
    if kind == 'diag':
        sx, sy, rw, rh = a, d, width, height
    else:
        sx, sy, rw, rh = b, c, height, width
    ax, ay = abs(sx), abs(sy)
    x0 = tx + min(0.0, sx * rw)
    y0 = ty + min(0.0, sy * rh)
    sw, sh = image.size

    def inside(start, step, count, limit):
        lo = 0 if start >= 0 else min(count, max(0, round(-start / step)))
        hi = count if start + count * step <= limit else max(lo, min(count, round((limit - start) / step)))
        return lo, hi

    p0, p1 = inside(x0, ax, rw, sw)
    q0, q1 = inside(y0, ay, rh, sh)
    if p0 >= p1 or q0 >= q1:
        part = None
    else:
        box = (max(0.0, x0 + p0 * ax), max(0.0, y0 + q0 * ay),
               min(float(sw), x0 + p1 * ax), min(float(sh), y0 + q1 * ay))
        rounded = tuple(round(v) for v in box)
        if (abs(ax - 1) < 1e-7 and abs(ay - 1) < 1e-7
                and max(abs(v - r) for v, r in zip(box, rounded)) < 1e-6
                and (rounded[2] - rounded[0], rounded[3] - rounded[1]) == (p1 - p0, q1 - q0)):
            part = image.crop(rounded)  # whole pixels: no resampling
        else:
            part = image.resize((p1 - p0, q1 - q0), _resampling().BILINEAR, box=box)
    if part is not None and (p0, q0, p1, q1) == (0, 0, rw, rh):
        result = part
    else:
        result = Image.new(image.mode, (rw, rh), _pil_fill(image, fill))
        if part is not None:
            result.paste(part, (p0, q0))
    # R's x axis runs along the output's columns (diag) or rows (anti); Pillow
    # reorients faster than a numpy copy of a reversed view
    method = _REORIENT[(False, sy < 0, sx < 0) if kind == 'diag' else (True, sx < 0, sy < 0)]
    if method is not None:
        result = result.transpose(getattr(getattr(Image, 'Transpose', Image), method))
    return image_to_array(result)


# (transposed, rows flipped, columns flipped) -> Pillow transpose method
_REORIENT = {
    (False, False, False): None,
    (False, True, False): 'FLIP_TOP_BOTTOM',
    (False, False, True): 'FLIP_LEFT_RIGHT',
    (False, True, True): 'ROTATE_180',
    (True, False, False): 'TRANSPOSE',
    (True, True, False): 'ROTATE_90',
    (True, False, True): 'ROTATE_270',
    (True, True, True): 'TRANSVERSE',
}


def _affine(image, m, size, fill):
    Image = _pil()
    fill_value = _pil_fill(image, fill)
    stretch = _min_stretch(m)
    if stretch >= 2:
        # bilinear sampling skips pixels beyond a factor 2: average first
        factor = int(stretch)
        width, height = size
        corners = m @ np.array([[0, width, width, 0], [0, 0, height, height], [1, 1, 1, 1]])
        sw, sh = image.size
        x0 = max(0, math.floor(corners[0].min()) - factor)
        y0 = max(0, math.floor(corners[1].min()) - factor)
        x1 = min(sw, math.ceil(corners[0].max()) + factor)
        y1 = min(sh, math.ceil(corners[1].max()) + factor)
        if x1 <= x0 or y1 <= y0:
            return Image.new(image.mode, size, fill_value)
        image = image.reduce(factor, box=(x0, y0, x1, y1))
        m = _scaling(1.0 / factor, 1.0 / factor) @ _translate(-x0, -y0) @ m
    transform = getattr(Image, 'Transform', Image).AFFINE
    data = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])
    return image.transform(size, transform, data, resample=_resampling().BILINEAR,
                           fillcolor=fill_value)


def _nearest(array, m, size, fill):
    """Nearest-neighbour resampling with the pixel grid of the linear path."""
    sh, sw = array.shape[:2]
    width, height = size
    if _is_identity(m, size, (sw, sh)):
        return array
    fill = 0 if fill is None else fill
    if isinstance(fill, tuple):
        fill = fill[0] if len(fill) == 1 else np.asarray(fill)
    u = np.arange(width) + 0.5
    v = np.arange(height) + 0.5
    kind = _classify(m)
    # a tiny offset makes ties (sample points on pixel edges) round the same way
    # whatever the float error of the composed matrix
    if kind == 'affine':
        xs = np.floor(m[0, 0] * u[None, :] + m[0, 1] * v[:, None] + m[0, 2] + 1e-6).astype(np.intp)
        ys = np.floor(m[1, 0] * u[None, :] + m[1, 1] * v[:, None] + m[1, 2] + 1e-6).astype(np.intp)
        valid = (xs >= 0) & (xs < sw) & (ys >= 0) & (ys < sh)
        out = array[np.clip(ys, 0, sh - 1), np.clip(xs, 0, sw - 1)]
        if not valid.all():
            out[~valid] = fill
        return out
    if kind == 'diag':
        xs = np.floor(m[0, 0] * u + m[0, 2] + 1e-6).astype(np.intp)   # per output column
        ys = np.floor(m[1, 1] * v + m[1, 2] + 1e-6).astype(np.intp)   # per output row
        out = array.take(np.clip(ys, 0, sh - 1), axis=0).take(np.clip(xs, 0, sw - 1), axis=1)
        bad_rows, bad_cols = (ys < 0) | (ys >= sh), (xs < 0) | (xs >= sw)
    else:
        xs = np.floor(m[0, 1] * v + m[0, 2] + 1e-6).astype(np.intp)   # per output row
        ys = np.floor(m[1, 0] * u + m[1, 2] + 1e-6).astype(np.intp)   # per output column
        out = array.take(np.clip(ys, 0, sh - 1), axis=0).take(np.clip(xs, 0, sw - 1), axis=1)
        out = np.ascontiguousarray(out.swapaxes(0, 1))
        bad_rows, bad_cols = (xs < 0) | (xs >= sw), (ys < 0) | (ys >= sh)
    if bad_rows.any():
        out[bad_rows] = fill
    if bad_cols.any():
        out[:, bad_cols] = fill
    return out


# ------------------------------------------------------------ vector annotations

#: Largest number of polygon vertices accepted in one vector annotation.
MAX_POINTS = 1_000_000
_ELLIPSE_VERTICES = 64


def _looks_like_json(data):
    for byte in bytes(data[:64]):
        if byte not in b' \t\r\n':
            return byte in b'{['
    return False


def _finite(value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f'{what} must be a finite number, not {value!r}')
    return float(value)


class Shapes(_Frame):
    """
    Vector annotations: PicPac's JSON shapes, with the geometric
    transforms of a pipeline applied to them.

    The JSON form (``bytes``, ``str`` or the parsed value) is::

        {"shapes": [
            {"type": "rect", "label": 1, "tag": 3,
             "geometry": {"x": 0.15, "y": 0.13, "width": 0.061, "height": 0.083}},
            {"type": "polygon", "label": 2,
             "geometry": {"points": [{"x": 0.62, "y": 0.75}, {"x": 0.61, "y": 0.8},
                                     {"x": 0.55, "y": 0.7}]}}
        ]}

    All coordinates are normalised: x and width divided by the image
    width, y and height by the image height. Types: ``rect``, ``ellipse``
    (the ellipse inscribed in the rectangle, drawn as a 64-gon) and
    ``polygon`` (three or more points, ``{"x": .., "y": ..}`` or
    ``[x, y]``). ``label`` (default 1) and ``tag`` (an optional integer,
    default 0) are what :py:meth:`rasterize` draws; other keys are
    ignored, like PicPac does. A list of shapes without the ``"shapes"``
    wrapper is accepted too.

    A geometric transform binds the shapes to the current size of the
    image (the reference for the normalised coordinates) and from then on
    changes them with the image; :py:meth:`polygons`, :py:meth:`boxes` and
    :py:meth:`rasterize` give them in pixel coordinates of the transformed
    image, where pixel ``(i, j)`` covers ``[i, i + 1) x [j, j + 1)``.

    Parameters:
        shapes: list of ``(type, label, tag, points)`` with ``points`` an
            ``(n, 2)`` array of normalised ``(x, y)`` (use :py:meth:`parse`
            for the JSON form)
        size: ``(width, height)`` to bind to, or None

    Attributes:
        size: ``(width, height)`` of the image the shapes are bound to, or
            None before they are bound
    """

    __slots__ = ('shapes',)

    #: Shape types understood.
    TYPES = ('rect', 'ellipse', 'polygon')

    def __init__(self, shapes, size=None):
        self.shapes = list(shapes)
        self.matrix = None
        self.size = None
        if size is not None:
            self.bind(size)

    def __len__(self):
        return len(self.shapes)

    def __repr__(self):
        where = f'{self.size[0]}x{self.size[1]}' if self.size else 'unbound'
        return f'<Shapes: {len(self.shapes)} shapes, {where}>'

    @classmethod
    def parse(cls, value):
        """
        Read vector annotations in PicPac's JSON form (see the class
        documentation).

        Parameters:
            value: JSON text (``bytes`` or ``str``), a dict with a
                ``"shapes"`` list, a list of shapes, or a :py:class:`Shapes`

        Returns:
            a new, unbound :py:class:`Shapes` (or ``value`` if it is one)

        Raises:
            ValueError: not valid JSON, or a shape that is not as described;
                the message says which shape and what is wrong
        """
        if isinstance(value, Shapes):
            return value
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                value = bytes(value).decode('utf-8')
            except UnicodeDecodeError as exc:
                raise ValueError(f'vector annotations are not UTF-8 JSON: {exc}') from None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValueError(f'vector annotations are not valid JSON: {exc}') from None
        if isinstance(value, Mapping):
            if 'shapes' not in value:
                raise ValueError('vector annotations must be {"shapes": [...]}: no "shapes" entry')
            value = value['shapes']
        if not isinstance(value, (list, tuple)):
            raise ValueError(f'"shapes" must be a list, not {type(value).__name__}')
        shapes = []
        total = 0
        for index, shape in enumerate(value):
            parsed = cls._parse_shape(index, shape)
            total += len(parsed[3])
            if total > MAX_POINTS:
                raise ValueError(f'vector annotations with more than {MAX_POINTS} points')
            shapes.append(parsed)
        return cls(shapes)

    @classmethod
    def _parse_shape(cls, index, shape):
        where = f'shape {index}'
        if not isinstance(shape, Mapping):
            raise ValueError(f'{where} must be an object, not {type(shape).__name__}')
        kind = shape.get('type')
        if kind not in cls.TYPES:
            raise ValueError(f'{where}: unknown type {kind!r} (known: {", ".join(cls.TYPES)})')
        label = _finite(shape.get('label', 1), f'{where}: "label"')
        tag = shape.get('tag', 0)
        if isinstance(tag, bool) or not isinstance(tag, numbers.Integral) or tag < 0:
            raise ValueError(f'{where}: "tag" must be a non-negative integer, not {tag!r}')
        geometry = shape.get('geometry')
        if not isinstance(geometry, Mapping):
            raise ValueError(f'{where}: "geometry" must be an object, not {type(geometry).__name__}')
        if kind == 'polygon':
            points = geometry.get('points')
            if not isinstance(points, (list, tuple)) or len(points) < 3:
                raise ValueError(f'{where}: a polygon needs a list of at least 3 "points"')
            if len(points) > MAX_POINTS:
                raise ValueError(f'{where}: more than {MAX_POINTS} points')
            coords = []
            for number, point in enumerate(points):
                if isinstance(point, Mapping):
                    x, y = point.get('x'), point.get('y')
                elif isinstance(point, (list, tuple)) and len(point) == 2:
                    x, y = point
                else:
                    raise ValueError(f'{where}: point {number} must be {{"x": .., "y": ..}} or '
                                     f'[x, y], not {point!r}')
                coords.append((_finite(x, f'{where}: point {number} x'),
                               _finite(y, f'{where}: point {number} y')))
            return kind, label, int(tag), np.array(coords, dtype=np.float64)
        x, y, w, h = (_finite(geometry.get(name), f'{where}: "{name}"')
                      for name in ('x', 'y', 'width', 'height'))
        if w < 0 or h < 0:
            raise ValueError(f'{where}: "width" and "height" must not be negative')
        if kind == 'rect':
            points = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        else:
            angles = np.arange(_ELLIPSE_VERTICES) * (2 * math.pi / _ELLIPSE_VERTICES)
            points = np.stack([x + w / 2 * (1 + np.cos(angles)), y + h / 2 * (1 + np.sin(angles))], 1)
        return kind, label, int(tag), np.asarray(points, dtype=np.float64)

    @property
    def bound(self):
        """True once the shapes are bound to an image size."""
        return self.size is not None

    def bind(self, size):
        """
        Bind the normalised coordinates to an image of this size
        (``(width, height)``); geometric transforms do this when they first
        change the shapes.
        """
        self.size = (int(size[0]), int(size[1]))
        self.matrix = _scaling(1.0 / self.size[0], 1.0 / self.size[1])

    def _require_bound(self):
        if not self.bound:
            raise ValueError('the shapes are not bound to an image size yet (bind(size))')

    def polygons(self):
        """
        The shapes as polygons in pixel coordinates of the transformed
        image.

        Returns:
            list of ``(label, tag, points)`` with ``points`` an ``(n, 2)``
            float array of ``(x, y)``

        Raises:
            ValueError: the shapes are not bound yet
        """
        self._require_bound()
        inverse = np.linalg.inv(self.matrix)
        result = []
        for _, label, tag, points in self.shapes:
            xy = points @ inverse[:2, :2].T + inverse[:2, 2]
            result.append((label, tag, xy))
        return result

    def boxes(self):
        """
        Bounding boxes of the transformed shapes, clipped to the image.

        Returns:
            float array ``(n, 6)``: ``x0, y0, x1, y1, label, tag`` per shape

        Raises:
            ValueError: the shapes are not bound yet
        """
        width, height = self.size if self.bound else (0, 0)
        rows = []
        for label, tag, xy in self.polygons():
            x0, y0 = np.clip(xy.min(axis=0), 0, (width, height))
            x1, y1 = np.clip(xy.max(axis=0), 0, (width, height))
            rows.append((x0, y0, x1, y1, label, tag))
        return np.array(rows, dtype=np.float64).reshape(-1, 6)

    def rasterize(self, value='label', dtype='uint8', fill=0):
        """
        Draw the shapes, in order (later ones cover earlier ones), on an
        image of the bound size. A pixel belongs to a shape if its centre
        is inside (even-odd rule).

        Parameters:
            value: ``'label'`` or ``'tag'``: what a shape's pixels get
            dtype: dtype of the result
            fill: value of the pixels outside every shape

        Returns:
            ``(height, width)`` array

        Raises:
            ValueError: the shapes are not bound, or a label does not fit
                ``dtype`` (not a whole number, or out of its range)
        """
        self._require_bound()
        dtype = np.dtype(dtype)
        width, height = self.size
        out = np.full((height, width), fill, dtype=dtype)
        for label, tag, xy in self.polygons():
            number = label if value == 'label' else tag
            if dtype.kind in 'iu':
                info = np.iinfo(dtype)
                if number != int(number) or not info.min <= number <= info.max:
                    raise ValueError(f'{value} {number!r} does not fit dtype {dtype.name}')
            _fill_polygon(out, xy, number)
        return out


def _fill_polygon(out, xy, value, chunk=1 << 22):
    """Set the pixels of ``out`` whose centres are inside polygon ``xy``."""
    height, width = out.shape[:2]
    # shift so that pixel centres have integer coordinates
    x = xy[:, 0] - 0.5
    y = xy[:, 1] - 0.5
    x_next, y_next = np.roll(x, -1), np.roll(y, -1)
    keep = y != y_next  # horizontal edges never cross a row
    x, y, x_next, y_next = x[keep], y[keep], x_next[keep], y_next[keep]
    if not len(x):
        return
    top = max(0, math.ceil(min(y.min(), y_next.min())))
    bottom = min(height - 1, math.floor(max(y.max(), y_next.max())))
    if bottom < top:
        return
    low, high = np.minimum(y, y_next), np.maximum(y, y_next)
    slope = (x_next - x) / (y_next - y)
    step = max(1, chunk // max(1, len(x)))
    for start in range(top, bottom + 1, step):
        rows = np.arange(start, min(bottom + 1, start + step))
        r = rows[:, None].astype(np.float64)
        crosses = (low[None, :] <= r) & (r < high[None, :])
        xc = x[None, :] + (r - y[None, :]) * slope[None, :]
        # pixel c is right of the crossing if c >= xc: the toggle is at ceil(xc)
        cols = np.clip(np.ceil(xc), 0, width).astype(np.intp)
        toggles = np.zeros((len(rows), width + 1), dtype=np.int32)
        row_index = np.broadcast_to(np.arange(len(rows))[:, None], cols.shape)
        np.add.at(toggles, (row_index[crosses], cols[crosses]), 1)
        inside = (np.cumsum(toggles[:, :width], axis=1) & 1).astype(bool)
        block = out[rows[0]:rows[-1] + 1]
        block[inside] = value


# ------------------------------------------------------------ field access for geometry

def _decode_value(owner, sample, field, value, label, channels, draft, orientation=False):
    encoded = isinstance(value, (bytes, bytearray, memoryview))
    if (encoded and _looks_like_json(value)) or (
            not encoded and isinstance(value, (str, Mapping, list, tuple))):
        if not label:
            raise _sample_error(owner, sample, field,
                                'holds vector annotations (JSON); list the field in annotate')
        try:
            return Shapes.parse(value)
        except ValueError as exc:
            raise _sample_error(owner, sample, field, str(exc)) from None
    if not encoded:
        raise _sample_error(owner, sample, field,
                            f'holds {type(value).__name__}, not encoded image data')
    try:
        encoded = EncodedImage(value)
        method = EncodedImage.orientation_method(encoded.orientation()) if orientation else None
    except ImageError as exc:
        raise _sample_error(owner, sample, field, f'cannot decode the image: {exc}') from None
    return _Raster(encoded, label, channels, draft, method, origin=owner)


def _frame(owner, sample, field, label):
    value = _get(owner, sample, field)
    if isinstance(value, (_Raster, Shapes)):
        return value
    if isinstance(value, np.ndarray):
        if value.ndim not in (2, 3) or 0 in value.shape[:2]:
            raise _sample_error(owner, sample, field,
                                f'holds an array of shape {value.shape}, not an image')
        return _Raster(value, label, origin=owner)
    if label:
        return _decode_value(owner, sample, field, value, True, 'keep', False)
    raise _sample_error(owner, sample, field, _not_an_array(field, value))


class _GeometryProblem(Exception):
    """Raised by ``_geometry``: the image does not allow the change."""


class _Geometric(Transform):
    """Base of the geometric transforms: ``_geometry(size, rng)`` gives the change."""

    def _geometry(self, size, rng):
        """``(matrix, new_size)``: new output coordinates to old ones; None: no change."""
        raise NotImplementedError

    def apply(self, sample, rng, annotate=()):
        owner = type(self).__name__
        own = (self.field,) if isinstance(self.field, str) else tuple(self.field)
        names = own + tuple(name for name in annotate if name not in own)
        frames = []
        size = first = None
        for name in names:
            frame = _frame(owner, sample, name, name not in own)
            if frame.size is not None:
                if size is None:
                    size, first = frame.size, name
                elif frame.size != size:
                    raise _sample_error(
                        owner, sample, name,
                        f'is {frame.size[0]}x{frame.size[1]} but {first!r} is {size[0]}x{size[1]}: '
                        'annotations must have the size of the image')
            frames.append((name, frame))
        if size is None:
            raise _sample_error(owner, sample, own[0],
                                'no image to take the size of the vector annotations from')
        try:
            op, new_size = self._geometry(size, rng)
        except _GeometryProblem as exc:
            raise _sample_error(owner, sample, own[0], str(exc)) from None
        fill = getattr(self, 'fill', None)
        label_fill = getattr(self, 'label_fill', None)
        for name, frame in frames:
            if isinstance(frame, Shapes) and not frame.bound:
                frame.bind(size)
            if op is not None:
                frame.then(op, new_size)
            if isinstance(frame, _Raster):
                value = label_fill if frame.label else fill
                if value is not None:
                    frame.fill = value
            sample[name] = frame
        return sample


# ------------------------------------------------------------ transforms

class Decode(Transform):
    """
    Decode an encoded image (JPEG, PNG, any format Pillow reads) or the
    JSON vector annotations of a field.

    Only the header is read here; the pixels are decoded when they are
    needed, after the geometric transforms that follow, so that a JPEG is
    decoded at a reduced scale when the output is much smaller (see the
    module documentation). An array in the field is left as it is.

    A field named in ``annotate`` is decoded as a label map (no
    conversion: palette indices, 16-bit values kept; never at a reduced
    scale) or, if it holds JSON, as :py:class:`Shapes`. Annotation fields
    need no ``Decode``: geometric transforms decode them themselves.

    Parameters:
        field: name of the field
        channels: 3 (RGB), 1 (grey), 4 (RGBA), ``'keep'`` (as stored), or
            None: 3 for images, ``'keep'`` for annotation fields
        draft: allow JPEG decoding at a reduced scale
        exif: apply the EXIF orientation of the image (rotate or mirror
            it as a camera recorded), folded into the geometry; Pillow and
            datadings ignore it, so the default is False

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, field='image', channels=None, draft=True, exif=False):
        owner = type(self).__name__
        self.field = _field(owner, 'field', field)
        if channels is not None:
            _choice(owner, 'channels', channels, CHANNELS)
        self.channels = channels
        self.draft = _flag(owner, 'draft', draft)
        self.exif = _flag(owner, 'exif', exif)

    def apply(self, sample, rng, annotate=()):
        owner = type(self).__name__
        value = _get(owner, sample, self.field)
        if isinstance(value, (np.ndarray, _Raster, Shapes)):
            return sample
        label = self.field in annotate
        channels = self.channels if self.channels is not None else ('keep' if label else 3)
        sample[self.field] = _decode_value(owner, sample, self.field, value, label, channels,
                                           self.draft and not label, self.exif)
        return sample


def _fill_options(self, fill, label_fill):
    owner = type(self).__name__
    self.fill = _fill(owner, 'fill', fill)
    self.label_fill = _fill(owner, 'label_fill', label_fill)


class Flip(_Geometric):
    """
    Flip the image (and the annotations) horizontally, vertically and/or
    transpose it (swap rows and columns), each enabled flip at random with
    probability ``p`` (PicPac's ``augment.flip``).

    Parameters:
        horizontal: mirror left-right
        vertical: mirror top-bottom
        transpose: swap rows and columns
        p: probability of each enabled flip (1: always)
        field: the image field (or a list of image fields, all flipped
            alike; the first one gives the size)

    Raises:
        ValueError: no flip is enabled, or an option has a bad value
    """

    def __init__(self, horizontal=False, vertical=False, transpose=False, p=0.5, field='image'):
        owner = type(self).__name__
        self.horizontal = _flag(owner, 'horizontal', horizontal)
        self.vertical = _flag(owner, 'vertical', vertical)
        self.transpose = _flag(owner, 'transpose', transpose)
        if not (horizontal or vertical or transpose):
            raise ValueError(f'{owner}: enable at least one of the options horizontal, vertical, '
                             'transpose')
        self.p = _real(owner, 'p', p, low=0, high=1)
        self.field = _field_option(owner, field)

    def _geometry(self, size, rng):
        op = None
        width, height = size
        for enabled, method in ((self.horizontal, 'FLIP_LEFT_RIGHT'),
                                (self.vertical, 'FLIP_TOP_BOTTOM'),
                                (self.transpose, 'TRANSPOSE')):
            if enabled and rng.random() < self.p:
                step, (width, height) = _D8[method](width, height)
                op = step if op is None else op @ step
        return op, (width, height)


class Scale(_Geometric):
    """
    Scale the image by a (random) factor (PicPac's ``augment.scale``).

    Parameters:
        factor: a number, or ``[low, high]`` for a factor drawn uniformly
        keep_size: zoom about the centre and keep the size (areas outside
            the image get ``fill``) instead of resizing the image
        fill: value of areas outside the image (a number or one per
            channel); None keeps the current one (default 0)
        label_fill: the same for annotation fields
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, factor, keep_size=False, fill=None, label_fill=None, field='image'):
        owner = type(self).__name__
        if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
            self.factor = _real(owner, 'factor', factor, above=0)
        else:
            lo, hi = _range(owner, 'factor', factor)
            if lo <= 0:
                raise _bad(owner, 'factor', f'must be greater than 0, not {list(factor)!r}')
            self.factor = (lo, hi)
        self.keep_size = _flag(owner, 'keep_size', keep_size)
        _fill_options(self, fill, label_fill)
        self.field = _field_option(owner, field)

    def _geometry(self, size, rng):
        factor = self.factor if isinstance(self.factor, float) else rng.uniform(*self.factor)
        width, height = size
        if self.keep_size:
            cx, cy = width / 2, height / 2
            return _translate(cx, cy) @ _scaling(1 / factor, 1 / factor) @ _translate(-cx, -cy), size
        new = (max(1, round(width * factor)), max(1, round(height * factor)))
        return _scaling(width / new[0], height / new[1]), new


class Rotate(_Geometric):
    """
    Rotate the image about its centre by a (random) angle in degrees,
    counter-clockwise (PicPac's ``augment.rotate``).

    Parameters:
        degrees: a number ``d`` (an angle drawn from ``[-d, d]``) or
            ``[low, high]``
        expand: enlarge the output to hold the whole rotated image
            (otherwise the size is kept and the corners are cut off)
        fill: value of areas outside the image; None keeps the current one
            (default 0)
        label_fill: the same for annotation fields
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, degrees, expand=False, fill=None, label_fill=None, field='image'):
        owner = type(self).__name__
        self.degrees = _range(owner, 'degrees', degrees, symmetric=lambda d: (-d, d))
        self.expand = _flag(owner, 'expand', expand)
        _fill_options(self, fill, label_fill)
        self.field = _field_option(owner, field)

    def _geometry(self, size, rng):
        lo, hi = self.degrees
        angle = math.radians(rng.uniform(lo, hi) if hi > lo else lo)
        width, height = size
        cos, sin = math.cos(angle), math.sin(angle)
        if self.expand:
            new = (max(1, round(abs(width * cos) + abs(height * sin))),
                   max(1, round(abs(width * sin) + abs(height * cos))))
        else:
            new = size
        # y points down: a counter-clockwise turn on screen maps a new point
        # back to old = C + [[cos, -sin], [sin, cos]] (new - C')
        turn = _matrix(cos, -sin, 0.0, sin, cos, 0.0)
        return _translate(width / 2, height / 2) @ turn @ _translate(-new[0] / 2, -new[1] / 2), new


class RandomResizedCrop(_Geometric):
    """
    Crop a random part of the image and resize it to ``size``: the part
    covers a fraction of the image area drawn from ``scale`` and has an
    aspect ratio (width / height) drawn log-uniformly from ``ratio``; after
    10 draws that do not fit, the largest centred crop with a ratio in
    ``ratio`` is taken. The crop box is chosen before the image is decoded,
    so a JPEG is decoded only as large as the crop needs.

    Parameters:
        size: output size, an int (square) or ``[height, width]``
        scale: ``[low, high]`` fraction of the area
        ratio: ``[low, high]`` aspect ratio
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), field='image'):
        owner = type(self).__name__
        self.size = _size(owner, 'size', size)
        self.scale = _range(owner, 'scale', scale, low=0, high=1)
        if self.scale[1] <= 0:
            raise _bad(owner, 'scale', f'must allow a fraction above 0, not {list(scale)!r}')
        self.ratio = _range(owner, 'ratio', ratio, low=0)
        if self.ratio[0] <= 0:
            raise _bad(owner, 'ratio', f'must be greater than 0, not {list(ratio)!r}')
        self.field = _field_option(owner, field)

    def crop_box(self, size, rng):
        """
        The crop box for an image of ``size`` (``(width, height)``):
        ``(x0, y0, width, height)`` in whole pixels.
        """
        width, height = size
        area = width * height
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(log_lo, log_hi))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                x0 = int(rng.integers(0, width - w + 1))
                y0 = int(rng.integers(0, height - h + 1))
                return x0, y0, w, h
        aspect = width / height
        if aspect < self.ratio[0]:
            w = width
            h = min(height, max(1, round(w / self.ratio[0])))
        elif aspect > self.ratio[1]:
            h = height
            w = min(width, max(1, round(h * self.ratio[1])))
        else:
            w, h = width, height
        return (width - w) // 2, (height - h) // 2, w, h

    def _geometry(self, size, rng):
        x0, y0, w, h = self.crop_box(size, rng)
        out_h, out_w = self.size
        return _crop_resize(x0, y0, w, h, out_w, out_h), (out_w, out_h)


class Resize(_Geometric):
    """
    Resize the image: an int gives the shorter side that length (aspect
    ratio kept, the longer side rounded), ``[height, width]`` an exact size.

    Parameters:
        size: an int or ``[height, width]``
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, size, field='image'):
        owner = type(self).__name__
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            self.size = _integer(owner, 'size', size, low=1)
        else:
            self.size = _size(owner, 'size', size)
        self.field = _field_option(owner, field)

    def _geometry(self, size, rng):
        width, height = size
        if isinstance(self.size, int):
            if width <= height:
                new = (self.size, max(1, round(height * self.size / width)))
            else:
                new = (max(1, round(width * self.size / height)), self.size)
        else:
            new = (self.size[1], self.size[0])
        if new == (width, height):
            return None, size
        return _scaling(width / new[0], height / new[1]), new


class CenterCrop(_Geometric):
    """
    Crop the centre of the image to ``size``; an image smaller than that
    is padded with ``fill``.

    Parameters:
        size: an int (square) or ``[height, width]``
        fill: value of the padding; None keeps the current one (default 0)
        label_fill: the same for annotation fields
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, size, fill=None, label_fill=None, field='image'):
        owner = type(self).__name__
        self.size = _size(owner, 'size', size)
        _fill_options(self, fill, label_fill)
        self.field = _field_option(owner, field)

    def _geometry(self, size, rng):
        width, height = size
        out_h, out_w = self.size
        x0 = int(round((width - out_w) / 2))
        y0 = int(round((height - out_h) / 2))
        return _translate(x0, y0), (out_w, out_h)


class Clip(_Geometric):
    """
    Cut the image to a multiple of ``stride`` in width and height, for
    segmentation networks whose feature maps must align with the labels
    (PicPac's ``clip`` with ``round``).

    Parameters:
        stride: the multiple
        pad: round up and pad with ``fill`` instead of cutting
        align: where the kept (or padded) area lies: ``'center'``,
            ``'topleft'`` or ``'random'``
        fill: value of the padding; None keeps the current one (default 0)
        label_fill: the same for annotation fields
        field: the image field (or a list of image fields)

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, stride, pad=False, align='center', fill=None, label_fill=None,
                 field='image'):
        owner = type(self).__name__
        self.stride = _integer(owner, 'stride', stride, low=1)
        self.pad = _flag(owner, 'pad', pad)
        self.align = _choice(owner, 'align', align, ('center', 'topleft', 'random'))
        _fill_options(self, fill, label_fill)
        self.field = _field_option(owner, field)

    def _offset(self, extra, rng):
        # extra: input pixels minus output pixels (negative when padding)
        if self.align == 'topleft' or extra == 0:
            return 0
        if self.align == 'center':
            return int(round(extra / 2))
        return int(rng.integers(min(0, extra), max(0, extra) + 1))

    def _geometry(self, size, rng):
        width, height = size
        stride = self.stride
        if self.pad:
            new = (-(-width // stride) * stride, -(-height // stride) * stride)
        else:
            new = (width // stride * stride, height // stride * stride)
            if 0 in new:
                raise _GeometryProblem(f'the image ({width}x{height}) is smaller than the stride '
                                       f'{stride}; use pad=True')
        if new == (width, height):
            return None, size
        x0 = self._offset(width - new[0], rng)
        y0 = self._offset(height - new[1], rng)
        return _translate(x0, y0), new


# ------------------------------------------------------------ colour

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _check_colour(owner, sample, field, array, need_rgb):
    if array.dtype != np.uint8 and array.dtype.kind != 'f':
        raise _sample_error(owner, sample, field,
                            f'holds {array.dtype} pixels; only uint8 (0-255) and floating point '
                            '(0-1) images are supported')
    if need_rgb and (array.ndim != 3 or array.shape[2] not in (3, 4)):
        raise _sample_error(owner, sample, field,
                            f'holds an array of shape {array.shape}, not an RGB image')


def _to_unit(array):
    """uint8 0-255 -> float32 0-1; floats -> float32 copy."""
    if array.dtype == np.uint8:
        return array.astype(np.float32) * np.float32(1 / 255)
    return array.astype(np.float32)


def _from_unit(array, dtype):
    if dtype == np.uint8:
        return np.clip(np.rint(array * 255), 0, 255).astype(np.uint8)
    return array.astype(dtype, copy=False)


def _rgb_to_gray(rgb):
    return rgb[..., :3] @ _LUMA


def _rgb_to_hsv(rgb):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    high = np.maximum(np.maximum(r, g), b)
    low = np.minimum(np.minimum(r, g), b)
    delta = high - low
    safe = np.where(delta > 0, delta, 1)
    hue = np.where(high == r, (g - b) / safe,
                   np.where(high == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    hue = np.where(delta > 0, (hue / 6) % 1, 0)
    saturation = np.where(high > 0, delta / np.where(high > 0, high, 1), 0)
    return np.stack([hue, saturation, high], axis=-1).astype(np.float32)


def _hsv_to_rgb(hsv):
    h, s, v = hsv[..., 0] % 1, hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6)
    f = h * 6 - sector
    sector = sector.astype(np.int8) % 6
    p = v * (1 - s)
    q = v * (1 - s * f)
    t = v * (1 - s * (1 - f))
    r = np.choose(sector, [v, q, p, p, t, v])
    g = np.choose(sector, [t, v, v, q, p, p])
    b = np.choose(sector, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1).astype(np.float32)


# sRGB (D65) to CIE XYZ, and the D65 white point
_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                 [0.212671, 0.715160, 0.072169],
                 [0.019334, 0.119193, 0.950227]])
_WHITE = np.array([0.950456, 1.0, 1.088754])
_DELTA = 6 / 29


def _rgb_to_lab(rgb):
    rgb = rgb.astype(np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = (linear @ _XYZ.T) / _WHITE
    f = np.where(xyz > _DELTA ** 3, np.cbrt(xyz), xyz / (3 * _DELTA ** 2) + 4 / 29)
    lab = np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                    200 * (f[..., 1] - f[..., 2])], axis=-1)
    return lab.astype(np.float32)


def _lab_to_rgb(lab):
    lab = lab.astype(np.float64)
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4 / 29)) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_XYZ).T, 0, None)
    rgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(rgb, 0, 1).astype(np.float32)


_YCBCR = np.array([[0.299, 0.587, 0.114],
                   [-0.168736, -0.331264, 0.5],
                   [0.5, -0.418688, -0.081312]], dtype=np.float32)


def _rgb_to_ycbcr(rgb):
    out = rgb[..., :3] @ _YCBCR.T
    out[..., 1:] += 0.5
    return out


def _ycbcr_to_rgb(ycc):
    ycc = ycc.astype(np.float32)
    ycc[..., 1:] -= 0.5
    return np.clip(ycc @ np.linalg.inv(_YCBCR).T.astype(np.float32), 0, 1)


# per space: float -> RGB float, RGB float -> float, float -> uint8, uint8 -> float
_SPACES = {
    'RGB': (lambda x: x, lambda x: x),
    'BGR': (lambda x: x[..., ::-1], lambda x: x[..., ::-1]),
    'GRAY': (lambda x: np.repeat(x[..., None], 3, axis=-1), _rgb_to_gray),
    'HSV': (_hsv_to_rgb, _rgb_to_hsv),
    'LAB': (_lab_to_rgb, _rgb_to_lab),
    'YCBCR': (_ycbcr_to_rgb, _rgb_to_ycbcr),
}
_LAB_8BIT = (np.array([255 / 100, 1, 1], dtype=np.float32), np.array([0, 128, 128], dtype=np.float32))


def _space_from_uint8(space, array):
    if space == 'LAB':
        scale, offset = _LAB_8BIT
        return (array.astype(np.float32) - offset) / scale
    return array.astype(np.float32) * np.float32(1 / 255)


def _space_to_uint8(space, array):
    if space == 'LAB':
        scale, offset = _LAB_8BIT
        array = array * scale + offset
    else:
        array = array * 255
    if space == 'HSV':
        # hue is circular: 255 (a full turn) is 0
        hue = np.rint(array[..., 0]) % 255
        rest = np.rint(array[..., 1:])
        return np.concatenate([hue[..., None], np.clip(rest, 0, 255)], axis=-1).astype(np.uint8)
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


class ConvertColor(Transform):
    """
    Convert an image between colour spaces: ``code`` is ``'SRC2DST'`` with
    SRC and DST from ``RGB``, ``BGR``, ``GRAY``, ``HSV``, ``LAB`` (CIE
    L*a*b*, D65) and ``YCBCR`` (JPEG's full-range YCbCr), e.g.
    ``'RGB2HSV'``, ``'HSV2RGB'``, ``'RGB2GRAY'``, ``'RGB2LAB'``
    (case-insensitive).

    Value ranges: ``uint8`` images stay ``uint8``, all channels 0-255
    (hue 0-255 for a full turn, as Pillow's HSV; L*a*b* as OpenCV's 8-bit
    form: L * 255 / 100, a + 128, b + 128); floating-point images are
    ``float32``, RGB, GRAY, S, V and YCbCr in 0-1, hue in 0-1 (a full
    turn), L 0-100 and a, b unscaled. GRAY images are 2-d. An alpha channel
    is dropped.

    Parameters:
        code: the conversion
        field: the image field

    Raises:
        ValueError: an unknown code
    """

    def __init__(self, code, field='image'):
        owner = type(self).__name__
        if not isinstance(code, str) or code.upper().count('2') != 1:
            raise _bad(owner, 'code', f'must be "SRC2DST" with SRC, DST from '
                                      f'{", ".join(_SPACES)}, not {code!r}')
        source, target = code.upper().split('2')
        for space in (source, target):
            if space not in _SPACES:
                raise _bad(owner, 'code', f'names an unknown colour space {space!r} in {code!r} '
                                          f'(known: {", ".join(_SPACES)})')
        self.code = code
        self._source, self._target = source, target
        self.field = _field(owner, 'field', field)

    def apply(self, sample, rng, annotate=()):
        owner = type(self).__name__
        array = self._array(sample, self.field)
        _check_colour(owner, sample, self.field, array, need_rgb=False)
        if self._source == 'GRAY':
            if array.ndim == 3 and array.shape[2] == 1:
                array = array[..., 0]
            if array.ndim != 2:
                raise self._error(sample, self.field, f'holds an array of shape {array.shape}, '
                                                      'not a grey image')
        elif array.ndim != 3 or array.shape[2] not in (3, 4):
            raise self._error(sample, self.field, f'holds an array of shape {array.shape}, '
                                                  f'not a 3-channel {self._source} image')
        else:
            array = array[..., :3]
        uint8 = array.dtype == np.uint8
        values = _space_from_uint8(self._source, array) if uint8 else array.astype(np.float32)
        rgb = _SPACES[self._source][0](values)
        out = _SPACES[self._target][1](rgb)
        sample[self.field] = (_space_to_uint8(self._target, out) if uint8
                              else np.ascontiguousarray(out, dtype=np.float32))
        return sample


class ColorJitter(Transform):
    """
    Change brightness, contrast, saturation and hue by random amounts, in
    this order (each only if enabled). A number ``b`` for brightness,
    contrast or saturation draws the factor from ``[max(0, 1 - b), 1 + b]``;
    a number ``h`` for hue (at most 0.5) shifts the hue by a fraction of a
    turn drawn from ``[-h, h]``; ``[low, high]`` gives the range directly.
    Brightness scales the values, contrast blends with the mean grey level,
    saturation with the grey image. ``uint8`` images stay ``uint8``
    (rounded, clipped to 0-255), floating point images are taken to be in
    0-1 (results clipped to 0-1). Grey images only get brightness and
    contrast; an alpha channel is kept.

    Parameters:
        brightness: amount (``ColorJitter(0.1)``: brightness +-10 %)
        contrast: amount
        saturation: amount
        hue: amount
        field: the image field

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, field='image'):
        owner = type(self).__name__
        factor = lambda b: (max(0.0, 1 - b), 1 + b)  # noqa: E731
        self.brightness = _range(owner, 'brightness', brightness, low=0, symmetric=factor)
        self.contrast = _range(owner, 'contrast', contrast, low=0, symmetric=factor)
        self.saturation = _range(owner, 'saturation', saturation, low=0, symmetric=factor)
        if isinstance(hue, numbers.Real) and not isinstance(hue, bool):
            _real(owner, 'hue', hue, low=0, high=0.5)
        self.hue = _range(owner, 'hue', hue, low=-0.5, high=0.5, symmetric=lambda h: (-h, h))
        self.field = _field(owner, 'field', field)

    def options(self):
        return {'brightness': list(self.brightness), 'contrast': list(self.contrast),
                'saturation': list(self.saturation), 'hue': list(self.hue), 'field': self.field}

    def __repr__(self):
        shown = [f'{k}={tuple(v)!r}' for k, v in self.options().items()
                 if k != 'field' and tuple(v) not in ((1.0, 1.0), (-0.0, 0.0), (0.0, 0.0))]
        if self.field != 'image':
            shown.append(f'field={self.field!r}')
        return f'ColorJitter({", ".join(shown)})'

    def apply(self, sample, rng, annotate=()):
        array = self._array(sample, self.field)
        _check_colour(type(self).__name__, sample, self.field, array, need_rgb=False)
        draws = []
        for lo, hi, neutral in ((*self.brightness, 1), (*self.contrast, 1),
                                (*self.saturation, 1), (*self.hue, 0)):
            draws.append(rng.uniform(lo, hi) if hi > lo else lo if lo != neutral else None)
        brightness, contrast, saturation, hue = draws
        colour = array.ndim == 3 and array.shape[2] in (3, 4)
        if not colour:
            saturation = hue = None
        if brightness is None and contrast is None and saturation is None and hue is None:
            return sample
        if array.dtype == np.uint8 and contrast is None and saturation is None and hue is None:
            lut = np.clip(np.rint(np.arange(256) * brightness), 0, 255).astype(np.uint8)
            sample[self.field] = lut[array]
            return sample
        values = _to_unit(array)
        pixels = values[..., :3] if colour else values
        if brightness is not None:
            pixels *= np.float32(brightness)
        if contrast is not None:
            mean = (_rgb_to_gray(pixels) if colour else pixels).mean()
            pixels *= np.float32(contrast)
            pixels += np.float32((1 - contrast) * mean)
        if saturation is not None:
            gray = _rgb_to_gray(pixels)[..., None]
            pixels *= np.float32(saturation)
            pixels += np.float32(1 - saturation) * gray
        if hue is not None:
            hsv = _rgb_to_hsv(np.clip(pixels, 0, 1))
            hsv[..., 0] += np.float32(hue)
            pixels[...] = _hsv_to_rgb(hsv)
        np.clip(values, 0, 1, out=values)
        sample[self.field] = _from_unit(values, array.dtype)
        return sample


class Add(Transform):
    """
    Add a random offset to each channel of an image (PicPac's
    ``augment.add``): ``range`` ``r`` draws an offset from ``[-r, r]`` for
    every channel, a list gives one ``r`` per channel (0 leaves a channel
    alone, e.g. ``[0, 0, 10]`` after ``ConvertColor('RGB2HSV')`` changes
    only V). Values are in the image's units (0-255 for ``uint8``, which
    stays ``uint8``, clipped).

    Parameters:
        range: a number or one number per channel
        field: the image field

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, range, field='image'):  # noqa: A002 - PicPac's name
        owner = type(self).__name__
        if isinstance(range, numbers.Real) and not isinstance(range, bool):
            self.range = _real(owner, 'range', range, low=0)
        else:
            values = _fill(owner, 'range', range)
            if values is None or any(v < 0 for v in values):
                raise _bad(owner, 'range', f'must be numbers >= 0, not {range!r}')
            self.range = values
        self.field = _field(owner, 'field', field)

    def apply(self, sample, rng, annotate=()):
        array = self._array(sample, self.field)
        channels = array.shape[2] if array.ndim == 3 else 1
        ranges = np.broadcast_to(np.asarray(self.range, dtype=np.float64), (channels,)) \
            if isinstance(self.range, float) or len(self.range) == channels else None
        if ranges is None:
            raise self._error(sample, self.field, f'has {channels} channels but range gives '
                                                  f'{len(self.range)} values')
        offsets = rng.uniform(-ranges, ranges)
        if array.ndim == 2:
            offsets = offsets[0]
        if array.dtype.kind in 'iu':
            info = np.iinfo(array.dtype)
            out = np.clip(np.rint(array + offsets), info.min, info.max).astype(array.dtype)
        elif array.dtype.kind == 'f':
            out = (array + offsets).astype(array.dtype)
        else:
            raise self._error(sample, self.field, f'holds {array.dtype} values')
        sample[self.field] = out
        return sample


class Normalize(Transform):
    """
    Normalise an image to ``(value * scale - mean) / std``, per channel,
    as ``float32`` (or ``dtype``).

    Parameters:
        mean: a number or one per channel
        std: a number or one per channel (not 0)
        scale: factor applied first; None: 1/255 for ``uint8``, 1/65535
            for ``uint16`` images, 1 otherwise (so that ImageNet's
            ``mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]`` work
            on decoded images)
        dtype: floating point dtype of the result
        field: the image field

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, mean, std, scale=None, dtype='float32', field='image'):
        owner = type(self).__name__
        self.mean = _fill(owner, 'mean', mean)
        self.std = _fill(owner, 'std', std)
        if self.mean is None or self.std is None:
            raise ValueError(f'{owner}: options "mean" and "std" need values')
        if any(s == 0 for s in (self.std if isinstance(self.std, tuple) else (self.std,))):
            raise _bad(owner, 'std', f'must not be 0: {std!r}')
        self.scale = None if scale is None else _real(owner, 'scale', scale, above=0)
        self.dtype = _dtype(owner, 'dtype', dtype)
        if np.dtype(self.dtype).kind != 'f':
            raise _bad(owner, 'dtype', f'must be a floating point dtype, not {dtype!r}')
        self.field = _field(owner, 'field', field)

    def apply(self, sample, rng, annotate=()):
        array = self._array(sample, self.field)
        scale = self.scale
        if scale is None:
            scale = {np.dtype(np.uint8): 1 / 255, np.dtype(np.uint16): 1 / 65535}.get(array.dtype, 1.0)
        channels = array.shape[2] if array.ndim == 3 else 1
        dtype = np.dtype(self.dtype)
        values = []
        for name, value in (('mean', self.mean), ('std', self.std)):
            value = np.asarray(value, dtype=dtype)
            if value.size not in (1, channels):
                raise self._error(sample, self.field, f'has {channels} channels but {name} gives '
                                                      f'{value.size} values')
            values.append(value.reshape(-1) if array.ndim == 3 else value.reshape(()))
        mean, std = values
        out = array.astype(dtype)
        out *= dtype.type(scale)
        out -= mean
        out /= std
        sample[self.field] = out
        return sample


class ToArray(Transform):
    """
    Make a field a numpy array of ``dtype`` (values are not scaled; use
    :py:class:`Normalize` for that). Pending images are computed; other
    values (labels, lists of numbers) go through ``numpy.asarray``.

    Parameters:
        field: name of the field
        dtype: numpy dtype name (``'float32'``, ``'uint8'``, ``'int64'``,
            ...) or None to keep the dtype
        channels_first: return images as ``(channels, height, width)``
            (grey images ``(1, height, width)``), as PyTorch wants them

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, field='image', dtype=None, channels_first=False):
        owner = type(self).__name__
        self.field = _field(owner, 'field', field)
        self.dtype = _dtype(owner, 'dtype', dtype)
        self.channels_first = _flag(owner, 'channels_first', channels_first)

    def apply(self, sample, rng, annotate=()):
        value = _get(type(self).__name__, sample, self.field)
        image = isinstance(value, _Raster)
        if image:
            value = self._array(sample, self.field)
        elif isinstance(value, (bytes, bytearray, memoryview, Shapes)):
            raise self._error(sample, self.field, _not_an_array(self.field, value))
        try:
            array = np.asarray(value, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise self._error(sample, self.field, f'cannot be made an array of '
                                                  f'{self.dtype or "numbers"}: {exc}') from None
        if array.dtype == object:
            raise self._error(sample, self.field, 'cannot be made a numeric array')
        if self.channels_first:
            if array.ndim == 2:
                array = array[None]
            elif array.ndim == 3:
                array = np.ascontiguousarray(array.transpose(2, 0, 1))
            else:
                raise self._error(sample, self.field, f'holds an array of shape {array.shape}, '
                                                      'not an image')
        sample[self.field] = array
        return sample


class Rasterize(Transform):
    """
    Draw the vector annotations of a field (:py:class:`Shapes`, after the
    geometric transforms) as a label image of the size of the image
    field; later shapes cover earlier ones. A field that holds a label map
    already is left as it is (PicPac's ``rasterize``), or copied to
    ``out_field``.

    Parameters:
        field: the annotation field (JSON or :py:class:`Shapes`)
        out_field: where to put the label image (default: ``field``)
        like: the image field whose size the label image gets
        size: ``[height, width]`` to use when there is no ``like`` field
            in the sample
        value: what a shape's pixels get: its ``'label'`` or its ``'tag'``
        dtype: dtype of the label image
        fill: value of pixels outside every shape

    Raises:
        ValueError: an option has a bad value
    """

    def __init__(self, field, out_field=None, like='image', size=None, value='label',
                 dtype='uint8', fill=0):
        owner = type(self).__name__
        self.field = _field(owner, 'field', field)
        self.out_field = None if out_field is None else _field(owner, 'out_field', out_field)
        self.like = _field(owner, 'like', like)
        self.size = None if size is None else _size(owner, 'size', size)
        self.value = _choice(owner, 'value', value, ('label', 'tag'))
        self.dtype = _dtype(owner, 'dtype', dtype)
        self.fill = _real(owner, 'fill', fill)

    def apply(self, sample, rng, annotate=()):
        owner = type(self).__name__
        value = _get(owner, sample, self.field)
        target = self.out_field or self.field
        if isinstance(value, (_Raster, np.ndarray)):
            sample[target] = value
            return sample
        if not isinstance(value, Shapes):
            try:
                value = Shapes.parse(value)
            except ValueError as exc:
                raise self._error(sample, self.field, str(exc)) from None
        reference = sample.get(self.like) if isinstance(sample, Mapping) else None
        if isinstance(reference, (_Raster, Shapes)) and reference.size is not None:
            size = reference.size
        elif isinstance(reference, np.ndarray) and reference.ndim >= 2:
            size = (reference.shape[1], reference.shape[0])
        elif self.size is not None:
            size = (self.size[1], self.size[0])
        elif value.bound:
            size = value.size
        else:
            raise self._error(sample, self.field,
                              f'no image {self.like!r} to take the size from (and no size option)')
        if not value.bound:
            value.bind(size)
        elif value.size != tuple(size):
            raise self._error(sample, self.field,
                              f'the shapes are bound to {value.size[0]}x{value.size[1]} but '
                              f'{self.like!r} is {size[0]}x{size[1]}: list {self.field!r} in '
                              'annotate so that it is transformed with the image')
        try:
            sample[target] = value.rasterize(self.value, self.dtype, self.fill)
        except ValueError as exc:
            raise self._error(sample, self.field, str(exc)) from None
        return sample


# ------------------------------------------------------------ pipeline and config

def _coerce(owner, index, item):
    if isinstance(item, (Mapping, str)):
        return from_config([item])[0]
    if not callable(getattr(item, 'apply', None)):
        raise ValueError(f'{owner}: transform {index} ({item!r}) has no '
                         'apply(sample, rng, annotate) method')
    return item


class Pipeline(Transform):
    """
    A sequence of transforms applied to a sample one after the other, and
    a transform itself. After the last one, pending images are computed
    (:py:func:`finalize`). The pipeline works on a shallow copy of the
    sample dict, so the caller's dict (a cached sample, say) is not
    changed.

    Call it as ``pipeline(sample, rng)`` or ``pipeline.apply(sample, rng,
    annotate)``.

    Parameters:
        transforms: transforms, or config entries for
            :py:func:`from_config`
        annotate: names of the fields that geometric transforms change in
            step with the image (label maps, vector annotations); the
            ``annotate`` given to :py:meth:`apply` is added to them

    Raises:
        ValueError: an entry is not a transform (or a bad config entry)
    """

    def __init__(self, transforms=(), annotate=()):
        owner = type(self).__name__
        if isinstance(transforms, (Mapping, str)) or not hasattr(transforms, '__iter__'):
            raise _bad(owner, 'transforms', f'must be a list of transforms, not {transforms!r}')
        self.transforms = tuple(_coerce(owner, i, t) for i, t in enumerate(transforms))
        self.annotate = _annotate(owner, annotate)

    def options(self):
        return {'transforms': list(self.transforms), 'annotate': list(self.annotate)}

    def __repr__(self):
        inner = ', '.join(map(repr, self.transforms))
        extra = f', annotate={list(self.annotate)!r}' if self.annotate else ''
        return f'Pipeline([{inner}]{extra})'

    def __len__(self):
        return len(self.transforms)

    def apply(self, sample, rng, annotate=()):
        if not isinstance(sample, (dict, Mapping)):
            raise TransformError(f'Pipeline: a sample must be a dict, not {type(sample).__name__}')
        sample = dict(sample)
        names = self.annotate + tuple(name for name in annotate if name not in self.annotate)
        for transform in self.transforms:
            result = transform.apply(sample, rng, names)
            if not isinstance(result, dict):
                raise TransformError(f'Pipeline: {transform!r} returned {type(result).__name__}, '
                                     'not the sample dict')
            sample = result
        return finalize(sample)

    def __call__(self, sample, rng=None):
        """
        Transform one sample.

        Parameters:
            sample: the sample dict (not changed)
            rng: ``numpy.random.Generator``, an int seed, or None for a
                fresh random generator

        Returns:
            the transformed sample (a new dict)
        """
        if rng is None or isinstance(rng, numbers.Integral):
            rng = np.random.default_rng(rng)
        return self.apply(sample, rng)


def from_config(config):
    """
    Build transforms from a config: a list whose entries are
    ``{"Name": {option: value, ...}}`` (options may be empty or null), just
    ``"Name"``, or PicPac's form ``{"type": "Name", option: value, ...}``,
    as read from a JSON or YAML file::

        [{"Decode": {"field": "image"}},
         {"RandomResizedCrop": {"size": 224, "scale": [0.2, 1]}},
         {"Flip": {"horizontal": true}},
         "Normalize"...]

    Transform objects in the list are taken as they are. The names are
    the class names of this module and those added with
    :py:func:`register`.

    Parameters:
        config: the list

    Returns:
        list of transforms (give it to :py:class:`Pipeline` or a stream)

    Raises:
        ValueError: not a list, an unknown transform, an unknown or missing
            option or a bad value; the message names the entry, the
            transform and the option
    """
    if isinstance(config, (Mapping, str, bytes)) or not hasattr(config, '__iter__'):
        raise ValueError(f'transforms config must be a list of transforms, not '
                         f'{type(config).__name__}')
    result = []
    for index, entry in enumerate(config):
        where = f'transforms config entry {index}'
        if isinstance(entry, Transform) or (not isinstance(entry, (Mapping, str))
                                            and callable(getattr(entry, 'apply', None))):
            result.append(entry)
            continue
        if isinstance(entry, str):
            name, options = entry, {}
        elif isinstance(entry, Mapping) and 'type' in entry:
            name = entry['type']
            options = {k: v for k, v in entry.items() if k != 'type'}
        elif isinstance(entry, Mapping) and len(entry) == 1:
            (name, options), = entry.items()
            options = {} if options is None else options
        else:
            raise ValueError(f'{where}: must be {{"Name": {{options}}}} or "Name", not {entry!r}')
        if not isinstance(name, str) or name not in _REGISTRY:
            known = ', '.join(sorted(_REGISTRY))
            raise ValueError(f'{where}: unknown transform {name!r} (known: {known})')
        if not isinstance(options, Mapping):
            raise ValueError(f'{where}: the options of {name} must be a mapping, not {options!r}')
        cls = _REGISTRY[name]
        params = inspect.signature(cls.__init__).parameters
        accepted = cls._option_names()
        for option in options:
            if option not in accepted:
                raise ValueError(f'{where}: {name}: unknown option {option!r} '
                                 f'(options: {", ".join(accepted)})')
        for option in accepted:
            if params[option].default is inspect.Parameter.empty and option not in options:
                raise ValueError(f'{where}: {name}: missing option {option!r}')
        try:
            result.append(cls(**options))
        except ValueError as exc:
            raise ValueError(f'{where}: {exc}') from None
    return result
