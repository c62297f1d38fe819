"""
Compressed N-d image arrays as sample fields.

An :py:class:`ImageArray` holds an array of shape ``(H, W[, 3], *extra)``
(time, depth, channels...) as one JPEG (lossy) or PNG (lossless, 8 or 16
bit) image per ``H x W`` slice, and decodes only the slices an index
expression needs::

    from datadings_like.arrays import ImageArray

    a = ImageArray.encode(stack, quality=90)   # stack: uint8, (512, 512, 100, 2)
    a.shape, a.dtype, a.ndim, a.size           # like a numpy array
    frames = a[128:256:2, :, 4, ...]            # decodes 2 slices: shape (64, 512, 2)
    everything = np.asarray(a)                  # decodes all of them

    sample = {'key': 'cell-17', 'stack': a.to_value()}  # a sample field
    a = ImageArray.decode(reader[0]['stack'])           # and back

:py:func:`write` splits a large array across the samples of a dataset and
:py:func:`open` gives the same indexing over the dataset
(:py:class:`DatasetArray`, read through
:py:class:`~datadings_like.reader.MsgpackReader`).

A field value is a plain map of ints, strings, lists and bytes (the manual
page on image arrays lists its fields), safe to decode with the msgpack decoder of
:py:mod:`datadings_like.msgpack`. Values are untrusted input: a damaged or
hostile value raises :py:class:`ImageArrayError`, and nothing is allocated
from a size in it before the size is checked against the bytes present.
"""
from collections import OrderedDict
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor
from itertools import product
import io
import math
import operator
import tempfile
import threading

import numpy as np
from PIL import Image

from .msgpack import DecodeError
from .msgpack import packb
from .msgpack import unpackb

__all__ = (
    'DEFAULT_CACHE_BYTES',
    'DEFAULT_QUALITY',
    'CacheInfo',
    'DatasetArray',
    'ImageArray',
    'ImageArrayError',
    'open',
    'write',
)

#: Byte limit of the cache of decoded slices, unless ``cache_bytes`` is given.
DEFAULT_CACHE_BYTES = 64 << 20
#: JPEG quality of :py:meth:`ImageArray.encode` and :py:func:`write`.
DEFAULT_QUALITY = 90

_MARK = 'imagearray'
_VERSION = 1
_FIELDS = ('shape', 'dtype', 'codec', 'quality', 'color', 'dim_names', 'metadata', 'slices')
_FORMATS = {'jpeg': 'JPEG', 'png': 'PNG'}
_SIGNATURES = {'jpeg': b'\xff\xd8\xff', 'png': b'\x89PNG\r\n\x1a\n'}
_DTYPES = {'uint8': np.dtype(np.uint8), 'uint16': np.dtype(np.uint16)}
# a slice must not decode to more than this many times its encoded size:
# deflate (PNG) cannot exceed ~1032:1 and JPEG of a constant image stays
# below ~200:1, so a value that claims more is hostile (a decompression bomb)
_MAX_EXPANSION = 2048
_MAX_DIMS = 32
# parts of a DatasetArray kept decoded from their samples (the slices' bytes)
_PARTS_KEPT = 2
_SAMPLE_FIELDS = ('part', 'parts', 'axis', 'start', 'stop', 'shape', 'array')

CacheInfo = namedtuple('CacheInfo', 'hits misses entries nbytes limit')
CacheInfo.__doc__ = """\
Statistics of the cache of decoded slices (:py:meth:`ImageArray.cache_info`):
``hits`` and ``misses`` count slice look-ups, ``entries`` and ``nbytes`` are
what the cache holds, ``limit`` its byte limit."""


class ImageArrayError(DecodeError):
    """
    An image array value (or an image array dataset) is damaged or hostile:
    a field is missing or malformed, the sizes do not match the bytes
    present, or a slice does not decode to the image its value describes.
    A subclass of :py:class:`~datadings_like.msgpack.DecodeError` (and so of
    ``ValueError``).
    """


# ------------------------------------------------------------------ helpers


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_workers(workers):
    if not _is_int(workers) or workers < 1:
        raise ValueError(f'workers must be an int >= 1, not {workers!r}')
    return workers


def _check_cache_bytes(cache_bytes):
    if not _is_int(cache_bytes) or cache_bytes < 0:
        raise ValueError(f'cache_bytes must be an int >= 0, not {cache_bytes!r}')
    return cache_bytes


def _pack_metadata(metadata, error=TypeError):
    """The metadata dict packed (what a reader gets back is unpacked from it)."""
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise error(f'metadata must be a dict, not {type(metadata).__name__}')
    try:
        return packb(metadata)
    except (TypeError, ValueError, OverflowError) as exc:
        raise error(f'metadata cannot be stored in a sample (msgpack): {exc}') from None


def _check_dim_names(dim_names, ndim, error=ValueError):
    if dim_names is None:
        return None
    if isinstance(dim_names, (str, bytes)) or not hasattr(dim_names, '__len__'):
        raise error(f'dim_names must be a sequence of {ndim} str, not {dim_names!r}')
    names = tuple(dim_names)
    if len(names) != ndim or not all(isinstance(n, str) for n in names):
        raise error(f'dim_names must be {ndim} str (one per axis), not {dim_names!r}')
    return names


def _as_slice(r):
    """A range (from ``slice.indices``) as a slice that numpy reads the same way."""
    stop = r.stop if r.stop >= 0 else None  # negative steps run down to -1
    return slice(r.start, stop, r.step)


class _SliceCache:
    """LRU cache of decoded slices (read-only arrays) with a byte limit."""

    def __init__(self, limit):
        self.limit = limit
        self._items = OrderedDict()
        self._nbytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            image = self._items.get(key)
            if image is None:
                self._misses += 1
            else:
                self._hits += 1
                self._items.move_to_end(key)
            return image

    def put(self, key, image):
        size = image.nbytes
        if size > self.limit:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = image
            self._nbytes += size
            while self._nbytes > self.limit:
                _, old = self._items.popitem(last=False)
                self._nbytes -= old.nbytes

    def clear(self):
        with self._lock:
            self._items.clear()
            self._nbytes = 0
            self._hits = self._misses = 0

    def info(self):
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._items), self._nbytes, self.limit)


# ------------------------------------------------------------ index engine


def _parse_key(key, shape):
    """
    Turn a numpy index expression into a list of entries, in key order:
    ``('int', axis, i)``, ``('array', axis, intp array)``, ``('slice', axis,
    range)``, ``('new', None, None)`` and ``('ellipsis', None, None)``
    (a marker: the full slices it stands for follow it). Integer and boolean
    arrays are checked and made non-negative; a boolean array of k
    dimensions becomes k integer arrays, as numpy does.
    """
    ndim = len(shape)
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    consumed = 0
    seen_ellipsis = False
    for k in key:
        if k is Ellipsis:
            if seen_ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            items.append(('ellipsis', None))
        elif k is None:
            items.append(('new', None))
        elif isinstance(k, slice):
            items.append(('slice', k))
            consumed += 1
        elif isinstance(k, (bool, np.bool_)):
            raise IndexError('boolean scalar indices are not supported')
        elif isinstance(k, (int, np.integer)) or (
                not isinstance(k, np.ndarray) and hasattr(type(k), '__index__')):
            items.append(('int', operator.index(k)))
            consumed += 1
        else:
            arr = np.asarray(k)
            if arr.dtype == np.bool_:
                if arr.ndim == 0:
                    raise IndexError('boolean scalar indices are not supported')
                items.append(('bool', arr))
                consumed += arr.ndim
            elif arr.dtype.kind in 'iu':
                if arr.ndim == 0:
                    items.append(('int', int(arr)))
                else:
                    items.append(('array', arr))
                consumed += 1
            elif arr.size == 0 and arr.dtype.kind == 'f' and isinstance(k, (list, tuple)):
                items.append(('array', arr.astype(np.intp)))  # [] is an empty index list
                consumed += 1
            else:
                raise IndexError(
                    'only integers, slices (`:`), ellipsis (`...`), numpy.newaxis '
                    '(`None`) and integer or boolean arrays are valid indices'
                )
    if consumed > ndim:
        raise IndexError(f'too many indices for array: array is {ndim}-dimensional, '
                         f'but {consumed} were indexed')
    entries = []
    axis = 0

    def full_slices(count):
        nonlocal axis
        for _ in range(count):
            entries.append(('slice', axis, range(shape[axis])))
            axis += 1

    for kind, k in items:
        if kind == 'ellipsis':
            entries.append(('ellipsis', None, None))
            full_slices(ndim - consumed)
        elif kind == 'new':
            entries.append(('new', None, None))
        elif kind == 'slice':
            entries.append(('slice', axis, range(*k.indices(shape[axis]))))
            axis += 1
        elif kind == 'int':
            n = shape[axis]
            if not -n <= k < n:
                raise IndexError(f'index {k} is out of bounds for axis {axis} with size {n}')
            entries.append(('int', axis, k + n if k < 0 else k))
            axis += 1
        elif kind == 'array':
            n = shape[axis]
            arr = k.astype(np.intp, copy=False) if k.dtype.kind == 'i' else _uint_index(k, n, axis)
            if arr.size:
                low, high = int(arr.min()), int(arr.max())
                if low < -n or high >= n:
                    bad = low if low < -n else high
                    raise IndexError(f'index {bad} is out of bounds for axis {axis} with size {n}')
                if low < 0:
                    arr = np.where(arr < 0, arr + n, arr)
            entries.append(('array', axis, arr))
            axis += 1
        else:  # bool
            dims = k.shape
            if dims != tuple(shape[axis:axis + k.ndim]):
                raise IndexError(f'boolean index did not match indexed array along axis {axis}; '
                                 f'size of axis is {shape[axis:axis + k.ndim]} but size of '
                                 f'corresponding boolean axis is {dims}')
            for coords in np.nonzero(k):
                entries.append(('array', axis, coords.astype(np.intp, copy=False)))
                axis += 1
    full_slices(ndim - axis)  # trailing axes without an index
    return entries


def _uint_index(arr, n, axis):
    if arr.size and int(arr.max()) >= n:
        raise IndexError(f'index {int(arr.max())} is out of bounds for axis {axis} with size {n}')
    return arr.astype(np.intp)


class _LazyArray:
    """
    Numpy-like indexing over an array whose ``H x W[ x 3]`` slices are
    decoded on demand (by the subclass's ``_decode_slice``) through an LRU
    cache.
    """
    __slots__ = ('_shape', '_dtype', '_packed', '_dim_names', '_cache', '_workers',
                 '__weakref__')

    def _init_lazy(self, shape, dtype, packed, dim_names, cache_bytes, workers):
        setattr_ = object.__setattr__
        setattr_(self, '_shape', tuple(shape))
        setattr_(self, '_dtype', np.dtype(dtype))
        setattr_(self, '_packed', bool(packed))
        setattr_(self, '_dim_names', dim_names)
        setattr_(self, '_cache', _SliceCache(_check_cache_bytes(cache_bytes)))
        setattr_(self, '_workers', _check_workers(workers))

    def __setattr__(self, name, value):
        raise AttributeError(f'{type(self).__name__} is immutable')

    def __delattr__(self, name):
        raise AttributeError(f'{type(self).__name__} is immutable')

    # ------------------------------------------------------------ properties

    @property
    def shape(self):
        """Shape of the array, a tuple ``(H, W[, 3], *extra)``."""
        return self._shape

    @property
    def dtype(self):
        """The numpy dtype: ``uint8`` or ``uint16``."""
        return self._dtype

    @property
    def ndim(self):
        """Number of dimensions."""
        return len(self._shape)

    @property
    def size(self):
        """Number of elements (the product of :py:attr:`shape`)."""
        return math.prod(self._shape)

    @property
    def nbytes(self):
        """Size of the decoded array in bytes."""
        return self.size * self._dtype.itemsize

    @property
    def dim_names(self):
        """Names of the axes (a tuple of ``ndim`` str), or ``None``."""
        return self._dim_names

    @property
    def color(self):
        """``True`` if axis 2 (of length 3) is stored as the colour of RGB images."""
        return self._packed

    @property
    def _spatial(self):
        return 3 if self._packed else 2

    @property
    def slice_shape(self):
        """Shape of one stored image: ``(H, W)`` or ``(H, W, 3)``."""
        return self._shape[:self._spatial]

    @property
    def num_slices(self):
        """Number of stored images (the product of the axes after the image axes)."""
        return math.prod(self._shape[self._spatial:])

    def __len__(self):
        return self._shape[0]

    def __iter__(self):
        # like numpy: the sub-arrays along axis 0 (each decodes through the cache)
        for i in range(self._shape[0]):
            yield self[i]

    # ----------------------------------------------------------------- cache

    def cache_info(self):
        """
        Statistics of the cache of decoded slices.

        Returns:
            :py:class:`CacheInfo` ``(hits, misses, entries, nbytes, limit)``
        """
        return self._cache.info()

    def clear_cache(self):
        """Empty the cache of decoded slices and reset its statistics."""
        self._cache.clear()

    # ------------------------------------------------------------- decoding

    def _decode_slice(self, flat):  # pragma: no cover - subclasses decode
        raise NotImplementedError

    def _slice(self, flat):
        cache = self._cache
        image = cache.get(flat)
        if image is None:
            image = self._decode_slice(flat)
            image.flags.writeable = False
            cache.put(flat, image)
        return image

    def _slices(self, flats):
        """Decoded slices of the flat indices ``flats``, in order."""
        if self._workers == 1 or len(flats) < 2:
            for flat in flats:
                yield self._slice(flat)
            return
        window = 2 * self._workers  # decoded slices in flight, at most
        with ThreadPoolExecutor(self._workers) as pool:
            pending = []
            it = iter(flats)
            for flat in it:
                pending.append(pool.submit(self._slice, flat))
                if len(pending) >= window:
                    break
            while pending:
                image = pending.pop(0).result()
                for flat in it:
                    pending.append(pool.submit(self._slice, flat))
                    break
                yield image

    def __getitem__(self, key):
        """
        Index like a numpy array: ints (also negative), slices (with steps),
        ``...``, ``None``, integer arrays or lists, boolean arrays.

        Only the slices the index needs are decoded.

        Returns:
            a new numpy array with numpy's result shape (a numpy scalar if
            the index picks one element)

        Raises:
            IndexError: index out of bounds, or not a valid index
            ImageArrayError: a slice needed does not decode
        """
        # The plan: the integer and array indices (numpy's "advanced" ones)
        # of the image axes and of the other ("grid") axes each collapse into
        # one axis over the distinct coordinates they pick; slices keep their
        # axes. The needed slices fill a compact array of that layout (each
        # decoded once); indexing it with the positions of the picked
        # coordinates gives the broadcast dimensions first, which then move
        # to where numpy puts them.
        shape = self._shape
        spatial = self._spatial
        grid_shape = shape[spatial:]
        entries = _parse_key(key, shape)

        advanced = [i for i, e in enumerate(entries) if e[0] in ('int', 'array')]
        try:
            arrays = np.broadcast_arrays(*[np.asarray(entries[i][2]) for i in advanced])
        except ValueError:
            shapes = ' '.join(str(np.shape(entries[i][2])) for i in advanced)
            raise IndexError('shape mismatch: indexing arrays could not be broadcast '
                             f'together with shapes {shapes}') from None
        bshape = arrays[0].shape if arrays else ()

        basic = [e for e in entries if e[0] in ('slice', 'new')]
        basic_lens = [len(e[2]) if e[0] == 'slice' else 1 for e in basic]
        # where numpy puts the broadcast dimensions: in place if the advanced
        # indices are next to each other in the key, else first
        if advanced and advanced[-1] - advanced[0] + 1 == len(advanced):
            where = sum(1 for e in entries[:advanced[0]] if e[0] in ('slice', 'new'))
        else:
            where = 0
        out_shape = tuple(basic_lens[:where]) + bshape + tuple(basic_lens[where:])
        if math.prod(out_shape) == 0:
            return np.empty(out_shape, self._dtype)

        # advanced indices of the image axes (spatial) and of the other axes
        # (grid) each become one axis over the distinct coordinates they need
        groups = {}
        for i, arr in zip(advanced, arrays):
            axis = entries[i][1]
            group = groups.setdefault(axis >= spatial, ([], []))
            group[0].append(axis)
            group[1].append(arr)
        merged = {}
        for is_grid, (axes, coords) in groups.items():
            dims = [shape[a] for a in axes]
            flat = np.ravel_multi_index(coords, dims).ravel()
            unique, inverse = np.unique(flat, return_inverse=True)
            merged[is_grid] = (axes, np.unravel_index(unique, dims), inverse.reshape(bshape))

        spatial_slices = [(e[1], e[2]) for e in basic if e[0] == 'slice' and e[1] < spatial]
        grid_slices = [(e[1], e[2]) for e in basic if e[0] == 'slice' and e[1] >= spatial]

        # how an image becomes its block of the result
        if False in merged:
            s_axes, s_coords, _ = merged[False]
            order = list(s_axes) + [a for a, _ in spatial_slices]
            crop = (slice(None),) * len(s_axes) + tuple(_as_slice(r) for _, r in spatial_slices)

            def extract(image):
                return image.transpose(order)[crop][s_coords]
        else:
            crop = tuple(_as_slice(r) for _, r in spatial_slices)

            def extract(image):
                return image[crop]

        core = []
        if True in merged:
            g_axes, g_coords, _ = merged[True]
            core.append(len(g_coords[0]))
            g_tuples = list(zip(*(c.tolist() for c in g_coords)))
        else:
            g_axes, g_tuples = [], [()]
        if False in merged:
            core.append(len(merged[False][1][0]))
        core += [len(r) for _, r in spatial_slices] + [len(r) for _, r in grid_slices]
        result = np.empty(core, self._dtype)

        # the slices needed, in the order they are filled in
        grid_axes = [a - spatial for a in g_axes]
        slice_axes = [a - spatial for a, _ in grid_slices]
        strides = [math.prod(grid_shape[a + 1:]) for a in range(len(grid_shape))]
        targets = []
        flats = []
        coord = [0] * len(grid_shape)
        grid_choices = [list(enumerate(r)) for _, r in grid_slices]
        for k, g_tuple in enumerate(g_tuples):
            for a, v in zip(grid_axes, g_tuple):
                coord[a] = v
            for choice in product(*grid_choices):
                for a, (_, v) in zip(slice_axes, choice):
                    coord[a] = v
                flats.append(sum(c * n for c, n in zip(coord, strides)))
                lead = (k,) if True in merged else ()
                targets.append((lead, tuple(pos for pos, _ in choice)))
        block = (slice(None),) * (len(core) - (1 if True in merged else 0) - len(grid_slices))
        for (lead, positions), image in zip(targets, self._slices(flats)):
            result[lead + block + positions] = extract(image)

        # the new axes, then the broadcast dimensions where numpy puts them
        if any(e[0] == 'new' for e in basic):
            lens = list(core[:len(merged)])
            sizes = iter(core[len(merged):])
            for e in basic:
                lens.append(1 if e[0] == 'new' else next(sizes))
            result = result.reshape(lens)
        if merged:
            result = result[tuple(merged[g][2] for g in (True, False) if g in merged)]
            if where and bshape:
                nb = len(bshape)
                result = np.moveaxis(result, list(range(nb)), list(range(where, where + nb)))
        if np.ndim(result) == 0:
            # numpy gives a scalar, unless the key has '...'
            if any(e[0] == 'ellipsis' for e in entries):
                return np.asarray(result)
            return result[()]
        return result

    def __array__(self, dtype=None, copy=None):
        # a fresh array in any case: the data is decoded, never shared
        array = self[...]
        if dtype is not None:
            array = array.astype(dtype, copy=False)
        return array


# -------------------------------------------------------------- ImageArray


def _image_mode(dtype, packed):
    """Pillow modes a slice may decode to."""
    if dtype == np.uint16:
        return ('I;16', 'I')  # Pillow < 10 opens 16-bit PNGs as 32-bit 'I'
    return ('RGB',) if packed else ('L',)


# per-row cost of a filtered byte for choosing a PNG filter: its magnitude as
# a signed byte (the heuristic libpng recommends)
_scratch = threading.local()


def _encode_pillow(image, fmt, options, threaded):
    pil = Image.fromarray(np.ascontiguousarray(image))  # uint16 2-d: mode I;16
    if not threaded:
        buffer = io.BytesIO()
        pil.save(buffer, fmt, **options)
        return buffer.getvalue()
    # Pillow holds the GIL while it encodes into a BytesIO, but not while it
    # encodes into a file descriptor: worker threads use a scratch file each
    scratch = getattr(_scratch, 'file', None)
    if scratch is None:
        try:
            scratch = _scratch.file = tempfile.TemporaryFile()
        except OSError:  # no usable temporary directory: encode holding the GIL
            return _encode_pillow(image, fmt, options, False)
    scratch.seek(0)
    scratch.truncate()
    pil.save(scratch, fmt, **options)
    scratch.seek(0)
    return scratch.read()


def _encode_image(image, codec, quality, threaded=False):
    if codec == 'jpeg':
        return _encode_pillow(image, 'JPEG', {'quality': quality}, threaded)
    return _encode_pillow(image, 'PNG', {'compress_level': _PNG_LEVEL}, threaded)


#: zlib level of lossless slices (Pillow's default 6 is slower for little gain)
_PNG_LEVEL = 4


def _check_encode(array, quality, lossless, color, dim_names, metadata):
    """Check the arguments of :py:meth:`ImageArray.encode` (and of :py:func:`write`)."""
    array = np.asarray(array)
    dtype = array.dtype
    if dtype.kind != 'u' or dtype.itemsize not in (1, 2):
        raise TypeError(f'ImageArray holds uint8 or uint16 arrays, not {dtype}; '
                        'convert it first, e.g. np.clip(x, 0, 255).astype(np.uint8)')
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder('='))
        dtype = array.dtype
    shape = array.shape
    if not 2 <= array.ndim <= _MAX_DIMS:
        raise ValueError(f'ImageArray needs an array of shape (H, W[, 3], *extra), '
                         f'not shape {shape}')
    if shape[0] < 1 or shape[1] < 1:
        raise ValueError(f'images of shape {shape[:2]} have no pixels (H and W must be >= 1)')
    if color is None:
        packed = array.ndim >= 3 and shape[2] == 3 and dtype == np.uint8
    elif color:
        if array.ndim < 3 or shape[2] != 3 or dtype != np.uint8:
            raise ValueError(f'color=True needs a uint8 array with axis 2 of length 3, '
                             f'not {dtype} of shape {shape}')
        packed = True
    else:
        packed = False
    if lossless:
        codec, quality = 'png', None
    else:
        if dtype != np.uint8:
            raise ValueError(f'{dtype} arrays need lossless=True (JPEG holds 8 bits)')
        if not _is_int(quality) or not 1 <= quality <= 100:
            raise ValueError(f'quality must be an int from 1 to 100, not {quality!r}')
        codec = 'jpeg'
    names = _check_dim_names(dim_names, array.ndim)
    return array, packed, codec, quality, names, _pack_metadata(metadata)


class ImageArray(_LazyArray):
    """
    An immutable, compressed array of images of shape ``(H, W[, 3], *extra)``,
    stored as one JPEG or PNG per ``H x W`` slice, with numpy-like indexing
    that decodes only the slices it needs.

    Make one with :py:meth:`encode` (from a numpy array) or :py:meth:`decode`
    (from a sample field value, see :py:meth:`to_value`). Decoded slices are
    kept in an LRU cache with a byte limit (:py:meth:`cache_info`).
    ``np.asarray(a)`` decodes everything.

    Attributes ``shape``, ``dtype``, ``ndim``, ``size``, ``dim_names`` and
    ``metadata`` are those of the array; ``len(a)`` is ``shape[0]``.
    """
    __slots__ = ('_codec', '_quality', '_metadata', '_data')

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise TypeError('make an ImageArray with ImageArray.encode(array) '
                            'or ImageArray.decode(value)')
        return super().__new__(cls)

    @classmethod
    def _make(cls, shape, dtype, packed, codec, quality, dim_names, metadata, data,
              cache_bytes, workers):
        self = cls.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(self, '_codec', codec)
        setattr_(self, '_quality', quality)
        setattr_(self, '_metadata', metadata)  # packed msgpack bytes
        setattr_(self, '_data', data)  # tuple of bytes, one per slice
        self._init_lazy(shape, dtype, packed, dim_names, cache_bytes, workers)
        return self

    @classmethod
    def encode(cls, array, quality=DEFAULT_QUALITY, lossless=False, color=None,
               dim_names=None, metadata=None, workers=1, cache_bytes=DEFAULT_CACHE_BYTES,
               progress=False):
        """
        Compress an array of shape ``(H, W[, 3], *extra)`` into one image per
        ``H x W`` slice: JPEG of the given ``quality``, or PNG if
        ``lossless``.

        ``uint8`` arrays can be lossy or lossless; ``uint16`` arrays need
        ``lossless=True`` (16-bit PNG, one image per channel). Lossless
        arrays decode to exactly the input. Other dtypes must be converted
        first (e.g. scaled to ``uint8``).

        Parameters:
            array: the array (anything ``np.asarray`` accepts), at least 2-d,
                ``H`` and ``W`` at least 1
            quality: JPEG quality, 1 (smallest) to 100 (best); ignored if
                ``lossless``
            lossless: store PNG images instead of JPEG
            color: store axis 2 (of length 3) as the colour of RGB images
                (better JPEG compression, a little colour bleeding). The
                default ``None`` does so for ``uint8`` arrays whose axis 2
                has length 3; ``False`` stores every channel as a grey image
            dim_names: optional names of the ``ndim`` axes
            metadata: optional dict of your own, stored with the array (it
                must be msgpack-able, as sample values are)
            workers: number of threads that encode slices in parallel
            cache_bytes: byte limit of the cache of decoded slices
            progress: show a progress bar while encoding

        Returns:
            ImageArray

        Raises:
            TypeError: unsupported dtype, or metadata that cannot be stored
            ValueError: unsupported shape, quality, ``color``, ``dim_names``
                or ``workers``; ``uint16`` without ``lossless``
        """
        array, packed, codec, quality, names, packed_metadata = _check_encode(
            array, quality, lossless, color, dim_names, metadata)
        _check_workers(workers)
        _check_cache_bytes(cache_bytes)
        shape = array.shape
        dtype = array.dtype
        spatial = 3 if packed else 2
        grid = shape[spatial:]
        count = math.prod(grid)
        head = (slice(None),) * spatial

        threaded = workers > 1 and count > 1

        def encode_one(flat):
            index = np.unravel_index(flat, grid) if grid else ()
            return _encode_image(array[head + tuple(index)], codec, quality, threaded)

        from .tools import make_printer
        printer = make_printer(total=count, desc='encoding slices', disable=not progress)
        try:
            if not threaded:
                data = []
                for flat in range(count):
                    data.append(encode_one(flat))
                    printer.update(1)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    data = []
                    for encoded in pool.map(encode_one, range(count)):
                        data.append(encoded)
                        printer.update(1)
        finally:
            printer.close()
        return cls._make(shape, dtype, packed, codec, quality, names, packed_metadata,
                         tuple(data), cache_bytes, workers)

    @classmethod
    def decode(cls, value, cache_bytes=DEFAULT_CACHE_BYTES, workers=1):
        """
        Read an image array back from a sample field value (as made by
        :py:meth:`to_value`, after a round trip through a dataset or not).

        The value is checked here (fields, sizes against the bytes present,
        image signatures); the images themselves are checked when they are
        decoded, by indexing.

        Parameters:
            value: the field value, a dict
            cache_bytes: byte limit of the cache of decoded slices
            workers: number of threads that decode slices in parallel when
                an index needs several

        Returns:
            ImageArray

        Raises:
            ImageArrayError: the value is not an image array, or is damaged
                or hostile
        """
        _check_cache_bytes(cache_bytes)
        _check_workers(workers)
        if not isinstance(value, dict):
            raise ImageArrayError(f'an image array value is a dict, not {type(value).__name__}')
        mark = value.get(_MARK)
        if mark is None:
            raise ImageArrayError(f'not an image array value (no {_MARK!r} field)')
        if not _is_int(mark) or mark != _VERSION:
            raise ImageArrayError(f'image array value of unknown version {mark!r} '
                                  f'(this version reads {_VERSION})')
        missing = [f for f in _FIELDS if f not in value]
        if missing:
            raise ImageArrayError(f'image array value without {", ".join(missing)}')
        shape = value['shape']
        if (not isinstance(shape, (list, tuple)) or not 2 <= len(shape) <= _MAX_DIMS
                or not all(_is_int(d) and d >= 0 for d in shape)):
            raise ImageArrayError(f'malformed image array shape {shape!r}')
        shape = tuple(shape)
        if shape[0] < 1 or shape[1] < 1:
            raise ImageArrayError(f'image array shape {shape} has images without pixels')
        dtype = _DTYPES.get(value['dtype']) if isinstance(value['dtype'], str) else None
        if dtype is None:
            raise ImageArrayError(f'unsupported image array dtype {value["dtype"]!r}')
        codec = value['codec']
        if codec not in _FORMATS:
            raise ImageArrayError(f'unsupported image array codec {codec!r}')
        quality = value['quality']
        if codec == 'jpeg':
            if dtype != np.uint8:
                raise ImageArrayError(f'JPEG slices cannot hold {dtype}')
            if not _is_int(quality) or not 1 <= quality <= 100:
                raise ImageArrayError(f'malformed JPEG quality {quality!r}')
        elif quality is not None:
            raise ImageArrayError(f'PNG slices have no quality, not {quality!r}')
        packed = value['color']
        if not isinstance(packed, bool):
            raise ImageArrayError(f'malformed color flag {packed!r}')
        if packed and (len(shape) < 3 or shape[2] != 3 or dtype != np.uint8):
            raise ImageArrayError(f'color images need uint8 and axis 2 of length 3, '
                                  f'not {dtype} of shape {shape}')
        names = _check_dim_names(value['dim_names'], len(shape), ImageArrayError)
        metadata = _pack_metadata(value['metadata'], ImageArrayError)
        slices = value['slices']
        if not isinstance(slices, (list, tuple)):
            raise ImageArrayError(f'image array slices are a list, not {type(slices).__name__}')
        spatial = 3 if packed else 2
        count = math.prod(shape[spatial:])
        if len(slices) != count:
            raise ImageArrayError(f'image array of shape {shape} needs {count} slices, '
                                  f'but {len(slices)} are present')
        raw_size = math.prod(shape[:spatial]) * dtype.itemsize
        signature = _SIGNATURES[codec]
        data = []
        for i, item in enumerate(slices):
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise ImageArrayError(f'slice {i} is not binary ({type(item).__name__})')
            item = bytes(item)
            if not item.startswith(signature):
                raise ImageArrayError(f'slice {i} is not a {_FORMATS[codec]} image')
            if raw_size > _MAX_EXPANSION * len(item):
                raise ImageArrayError(
                    f'slice {i} of {len(item)} bytes claims to decode to {raw_size} bytes '
                    f'(images of shape {shape[:spatial]}); refused as a decompression bomb'
                )
            data.append(item)
        return cls._make(shape, dtype, packed, codec, quality, names, metadata, tuple(data),
                         cache_bytes, workers)

    def to_value(self):
        """
        The image array as a sample field value: a dict of ints, strings,
        lists and bytes that :py:class:`~datadings_like.writer.FileWriter`
        can write and :py:meth:`decode` reads back.

        Returns:
            dict
        """
        return {
            _MARK: _VERSION,
            'shape': list(self._shape),
            'dtype': self._dtype.name,
            'codec': self._codec,
            'quality': self._quality,
            'color': self._packed,
            'dim_names': None if self._dim_names is None else list(self._dim_names),
            'metadata': self.metadata,
            'slices': list(self._data),
        }

    @property
    def metadata(self):
        """The metadata dict (a new copy on every access: the array is immutable)."""
        return unpackb(self._metadata)

    @property
    def lossless(self):
        """``True`` for PNG slices (exact), ``False`` for JPEG."""
        return self._codec == 'png'

    @property
    def quality(self):
        """JPEG quality, or ``None`` if lossless."""
        return self._quality

    @property
    def encoded_nbytes(self):
        """Total size of the encoded images in bytes."""
        return sum(map(len, self._data))

    def _decode_slice(self, flat):
        data = self._data[flat]
        spatial = self.slice_shape
        modes = _image_mode(self._dtype, self._packed)
        fmt = _FORMATS[self._codec]
        try:
            with Image.open(io.BytesIO(data), formats=[fmt]) as pil:
                # the header is checked before any pixels are decoded
                if pil.format != fmt or pil.size != (spatial[1], spatial[0]) or pil.mode not in modes:
                    raise ImageArrayError(
                        f'slice {flat} is a {pil.format} image of size {pil.size[1]}x{pil.size[0]} '
                        f'and mode {pil.mode}, not {spatial[0]}x{spatial[1]} {modes[0]}'
                    )
                pil.load()
                image = np.asarray(pil)
        except ImageArrayError:
            raise
        except Image.UnidentifiedImageError:
            raise ImageArrayError(f'slice {flat} is not a readable {fmt} image') from None
        except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
            raise ImageArrayError(f'slice {flat} does not decode: {exc}') from None
        if image.dtype != self._dtype:
            if image.size and (image.min() < 0 or image.max() > np.iinfo(self._dtype).max):
                raise ImageArrayError(f'slice {flat} holds values outside {self._dtype}')
            image = image.astype(self._dtype)
        if image.shape != spatial:
            raise ImageArrayError(f'slice {flat} decodes to shape {image.shape}, not {spatial}')
        return image

    def __reduce__(self):
        return (_from_value, (self.to_value(), self._cache.limit, self._workers))

    def __repr__(self):
        kind = 'PNG' if self.lossless else f'JPEG quality {self._quality}'
        return (f'ImageArray(shape={self._shape}, dtype={self._dtype.name}, {kind}, '
                f'{self.num_slices} slices, {self.encoded_nbytes} bytes)')


def _from_value(value, cache_bytes, workers):
    return ImageArray.decode(value, cache_bytes=cache_bytes, workers=workers)


# ------------------------------------------------- arrays across a dataset


def write(path, array, axis=None, step=1, quality=DEFAULT_QUALITY, lossless=False, color=None,
          dim_names=None, metadata=None, workers=1, overwrite=False, progress=True):
    """
    Write a large array as a dataset: the array is cut along one axis into
    parts of ``step`` indices, and each part is one sample, whose
    ``"array"`` field is an :py:class:`ImageArray` value.

    :py:func:`open` reads it back as one array. The samples are ordinary
    samples: every reader and tool can read them. Each has the fields
    ``key`` (the part number, zero-padded), ``part``, ``parts`` (the number
    of parts), ``axis``, ``start`` and ``stop`` (the part's range along
    ``axis``), ``shape`` (of the whole array) and ``array``; the metadata is
    stored with part 0.

    Parameters:
        path: the dataset file to write (with its index and md5 files)
        array: array of shape ``(H, W[, 3], *extra)``, as for
            :py:meth:`ImageArray.encode`
        axis: the axis to cut along, one of the axes after the image axes;
            the default is the first of them (e.g. time in
            ``(H, W, T, Z)``). An array of one image is one part.
        step: number of indices along ``axis`` per part (sample)
        quality, lossless, color, dim_names, metadata, workers: as for
            :py:meth:`ImageArray.encode` (``workers`` threads encode the
            slices of each part)
        overwrite: replace an existing dataset without asking
        progress: show a progress bar (one step per part)

    Returns:
        Path of the dataset file

    Raises:
        TypeError, ValueError: as for :py:meth:`ImageArray.encode`; an
            ``axis`` that is not one after the image axes, ``step`` < 1
        FileExistsError: the dataset exists and is not replaced
    """
    from .writer import FileWriter
    array, packed, _, _, names, _ = _check_encode(array, quality, lossless, color,
                                                  dim_names, metadata)
    _check_workers(workers)
    spatial = 3 if packed else 2
    shape = array.shape
    if axis is None:
        axis = spatial if array.ndim > spatial else None
    elif not _is_int(axis) or not -array.ndim <= axis < array.ndim:
        raise ValueError(f'axis {axis!r} is not an axis of an array of shape {shape}')
    else:
        axis = axis % array.ndim
        if axis < spatial:
            raise ValueError(f'axis {axis} is an image axis; cut along one of the axes '
                             f'{tuple(range(spatial, array.ndim))} of shape {shape}')
    if not _is_int(step) or step < 1:
        raise ValueError(f'step must be an int >= 1, not {step!r}')
    length = shape[axis] if axis is not None else 1
    parts = max(1, -(-length // step))
    width = max(8, len(str(parts - 1)))
    with FileWriter(path, overwrite=overwrite, total=parts, disable=not progress) as writer:
        for part in range(parts):
            start = part * step
            stop = min(start + step, length)
            if axis is None:
                chunk = array
            else:
                chunk = array[(slice(None),) * axis + (slice(start, stop),)]
            value = ImageArray.encode(chunk, quality=quality, lossless=lossless, color=packed,
                                      dim_names=names, metadata=metadata if part == 0 else None,
                                      workers=workers, cache_bytes=0).to_value()
            writer.write({
                'key': f'{part:0{width}d}', 'part': part, 'parts': parts, 'axis': axis,
                'start': start, 'stop': stop, 'shape': list(shape), 'array': value,
            })
    return writer.path


class DatasetArray(_LazyArray):
    """
    An image array stored across the samples of a dataset (written by
    :py:func:`write`), with the indexing of :py:class:`ImageArray`: only the
    samples and slices an index needs are read and decoded. Returned by
    :py:func:`open`; close it (or use it as a context manager) to close the
    reader.

    The parts are checked when they are first read: a sample that does not
    belong to the array raises
    :py:class:`~datadings_like.errors.DatasetError` naming the file and the
    sample.
    """
    __slots__ = ('_reader', '_path', '_axis', '_step', '_parts', '_first', '_kept', '_lock')

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise TypeError('open an image array dataset with datadings_like.arrays.open(path)')
        return super().__new__(cls)

    @classmethod
    def _open(cls, path, cache_bytes, workers):
        from .errors import DatasetError
        from .reader import MsgpackReader
        _check_cache_bytes(cache_bytes)
        _check_workers(workers)
        reader = MsgpackReader(path)
        try:
            if len(reader) == 0:
                raise DatasetError(f'{path}: has no samples, it is not an image array dataset')
            sample = reader.get(0)
            if not isinstance(sample, dict) or any(f not in sample for f in _SAMPLE_FIELDS):
                raise DatasetError(f'{path}: sample 0 is not a part of an image array '
                                   f'(it needs the fields {", ".join(_SAMPLE_FIELDS)})')
            shape, axis, parts = sample['shape'], sample['axis'], sample['parts']
            if (not isinstance(shape, list) or not 2 <= len(shape) <= _MAX_DIMS
                    or not all(_is_int(d) and d >= 0 for d in shape)):
                raise DatasetError(f'{path}: sample 0: malformed shape {shape!r}')
            shape = tuple(shape)
            if not _is_int(parts) or parts != len(reader):
                raise DatasetError(f'{path}: sample 0 says the array has {parts!r} parts, '
                                   f'but the dataset has {len(reader)} samples')
            if axis is not None and (not _is_int(axis) or not 2 <= axis < len(shape)):
                raise DatasetError(f'{path}: sample 0: malformed axis {axis!r}')
            length = shape[axis] if axis is not None else 1
            start, stop = sample['start'], sample['stop']
            step = stop - start if _is_int(start) and _is_int(stop) else None
            if (start != 0 or step is None or step < (1 if length else 0)
                    or max(1, -(-length // step) if step else 1) != parts):
                raise DatasetError(f'{path}: sample 0: part [{sample["start"]!r}, '
                                   f'{sample["stop"]!r}) does not cut axis {axis} of shape '
                                   f'{shape} into {parts} parts')
            self = cls.__new__(cls)
            setattr_ = object.__setattr__
            setattr_(self, '_reader', reader)
            setattr_(self, '_path', reader.path)
            setattr_(self, '_axis', axis)
            setattr_(self, '_step', max(step, 1))
            setattr_(self, '_parts', parts)
            setattr_(self, '_kept', OrderedDict())
            setattr_(self, '_lock', threading.Lock())
            first = self._check_part(0, sample, shape, None)
            setattr_(self, '_first', first)
            self._init_lazy(shape, first.dtype, first.color, first.dim_names, cache_bytes,
                            workers)
        except BaseException:
            reader.close()
            raise
        return self

    def _part_range(self, part, shape):
        if self._axis is None:
            return 0, 1
        start = part * self._step
        return start, min(start + self._step, shape[self._axis])

    def _check_part(self, part, sample, shape, first):
        from .errors import DatasetError
        where = f'{self._path}: sample {part}'
        if not isinstance(sample, dict) or any(f not in sample for f in _SAMPLE_FIELDS):
            raise DatasetError(f'{where} is not a part of an image array')
        start, stop = self._part_range(part, shape)
        expected = {'part': part, 'parts': self._parts, 'axis': self._axis, 'start': start,
                    'stop': stop, 'shape': list(shape)}
        for field, want in expected.items():
            if sample[field] != want or type(sample[field]) is bool:
                raise DatasetError(f'{where}: {field} is {sample[field]!r}, '
                                   f'expected {want!r} for this part')
        try:
            value = ImageArray.decode(sample['array'], cache_bytes=0)
        except ImageArrayError as exc:
            raise DatasetError(f'{where}: {exc}') from None
        part_shape = list(shape)
        if self._axis is not None:
            part_shape[self._axis] = stop - start
        if value.shape != tuple(part_shape):
            raise DatasetError(f'{where}: the part has shape {value.shape}, expected '
                               f'{tuple(part_shape)}')
        if first is not None and (value.dtype, value.color, value._codec, value.dim_names) != (
                first.dtype, first.color, first._codec, first.dim_names):
            raise DatasetError(f'{where}: the part is {value!r}, unlike part 0 ({first!r})')
        return value

    def _part(self, part):
        with self._lock:
            kept = self._kept
            value = kept.get(part)
            if value is not None:
                kept.move_to_end(part)
                return value
            if part == 0:
                value = self._first
            else:  # the reader's errors name the file and the sample
                value = self._check_part(part, self._reader.get(part), self._shape, self._first)
            kept[part] = value
            if len(kept) > _PARTS_KEPT:
                kept.popitem(last=False)
            return value

    def _decode_slice(self, flat):
        spatial = self._spatial
        grid = self._shape[spatial:]
        if self._axis is None:
            return self._part(0)._decode_slice(flat)
        coord = list(np.unravel_index(flat, grid))
        g = self._axis - spatial
        part, coord[g] = divmod(int(coord[g]), self._step)
        value = self._part(part)
        local = np.ravel_multi_index(coord, value.shape[spatial:])
        try:
            return value._decode_slice(int(local))
        except ImageArrayError as exc:
            from .errors import DatasetError
            raise DatasetError(f'{self._path}: sample {part}: {exc}') from None

    @property
    def metadata(self):
        """The metadata dict (stored with part 0; a new copy on every access)."""
        return self._first.metadata

    @property
    def lossless(self):
        """``True`` for PNG slices (exact), ``False`` for JPEG."""
        return self._first.lossless

    @property
    def quality(self):
        """JPEG quality (of part 0), or ``None`` if lossless."""
        return self._first.quality

    @property
    def path(self):
        """Path of the dataset file."""
        return self._path

    @property
    def axis(self):
        """The axis the array is cut along, or ``None`` (one part)."""
        return self._axis

    @property
    def parts(self):
        """Number of parts (samples)."""
        return self._parts

    def part(self, index):
        """
        The :py:class:`ImageArray` of one part (sample).

        Parameters:
            index: part number, ``0 <= index < parts``

        Returns:
            ImageArray

        Raises:
            IndexError: no such part
            DatasetError: the sample is not a valid part of this array
        """
        index = operator.index(index)
        if not 0 <= index < self._parts:
            raise IndexError(f'part {index} out of range for {self._parts} parts')
        return self._part(index)

    def close(self):
        """Close the reader."""
        self._reader.close()
        with self._lock:
            self._kept.clear()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def __reduce__(self):
        return (open, (self._path, self._cache.limit, self._workers))

    def __repr__(self):
        return (f'DatasetArray({str(self._path)!r}, shape={self._shape}, '
                f'dtype={self._dtype.name}, {self._parts} parts)')


def open(path, cache_bytes=DEFAULT_CACHE_BYTES, workers=1):  # noqa: A001 - the module's API
    """
    Open an image array dataset written by :py:func:`write`.

    Parameters:
        path: the dataset file
        cache_bytes: byte limit of the cache of decoded slices
        workers: number of threads that decode slices in parallel when an
            index needs several

    Returns:
        DatasetArray

    Raises:
        FileNotFoundError: no such dataset
        DatasetError: the dataset is damaged or not an image array
    """
    return DatasetArray._open(path, cache_bytes, workers)
