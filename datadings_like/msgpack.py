"""
msgpack with transparent, **safe** support for numpy arrays.

Packing is byte-identical to datadings 3.x (msgpack >= 1.0 defaults with
``msgpack_numpy.encode`` as ``default`` hook).
Encoding is always UTF-8, bin type is enabled and ``strict_map_key=False``.

Unpacking uses a decoder of our own instead of msgpack-numpy's,
because dataset files are untrusted input (see the file format page):

- object arrays (kind ``b'O'``, pickled) are refused unless the caller passes
  ``allow_pickle=True``;
- dtypes that contain Python objects are always refused when they would be
  built from raw bytes (that would turn bytes into pointers);
- the shape must describe exactly the bytes that are present.

Violations raise :py:class:`UnsafeDataError` or :py:class:`DecodeError`,
both subclasses of :py:class:`ValueError`.
"""
import pickle

import msgpack as _msgpack
import numpy as np
from msgpack_numpy import encode as _encode

__all__ = (
    'DecodeError',
    'UnsafeDataError',
    'decode',
    'decode_trusted',
    'object_hook',
    'make_packer',
    'make_unpacker',
    'pack',
    'packb',
    'unpack',
    'unpackb',
)


class DecodeError(ValueError):
    """A msgpack message or an encoded numpy value is malformed."""


class UnsafeDataError(DecodeError):
    """Decoding would run code (pickle) or build Python objects from bytes."""


_ND = b'nd'
_DATA = b'data'
_ARRAY_FIELDS = (b'type', b'shape', _DATA)
_PICKLED_FIELDS = (_DATA,)
_SCALAR_FIELDS = (b'type', _DATA)
# arrays of zero-size items need no data: their element count is capped
_MAX_EMPTY_ITEMS = 1 << 24
_MAX_DIMS = 32  # numpy < 2 allows 32 dimensions, numpy 2 allows 64
_COMPLEX = b'complex'


def _as_str(value):
    if isinstance(value, bytes):
        return value.decode('utf-8')
    return value


def _safe_dtype(descr):
    """Build a dtype from an encoded descr, refusing object dtypes."""
    try:
        if isinstance(descr, (list, tuple)):
            fields = []
            for field in descr:
                if not isinstance(field, (list, tuple)) or len(field) < 2:
                    raise DecodeError(f'malformed structured dtype field {field!r}')
                name = _as_str(field[0])
                sub = field[1]
                sub = _safe_dtype(sub) if isinstance(sub, (list, tuple)) else _as_str(sub)
                rest = tuple(tuple(r) if isinstance(r, list) else r for r in field[2:])
                fields.append((name, sub) + rest)
            dtype = np.dtype(fields)
        elif isinstance(descr, (str, bytes)):
            dtype = np.dtype(_as_str(descr))
        else:
            raise DecodeError(f'malformed dtype {descr!r}')
    except DecodeError:
        raise
    except Exception as exc:  # numpy raises TypeError/ValueError/...
        raise DecodeError(f'invalid dtype {descr!r}: {exc}') from None
    if dtype.hasobject:
        raise UnsafeDataError(
            f'refusing to build an array of dtype {dtype} (it holds Python '
            'objects) from raw bytes'
        )
    return dtype


def _check_shape(shape):
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (list, tuple)):
        raise DecodeError(f'malformed array shape {shape!r}')
    if len(shape) > _MAX_DIMS:
        raise DecodeError(f'array shape {shape!r} has more than {_MAX_DIMS} dimensions')
    count = 1
    for dim in shape:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise DecodeError(f'malformed array shape {shape!r}')
        count *= dim
    if count >= 2 ** 63:
        raise DecodeError(f'array shape {shape!r} is too large')
    return tuple(shape), count


def _decode_ndarray(obj, allow_pickle):
    kind = obj.get(b'kind', b'')
    data = obj.get(b'data')
    if kind == b'O':
        if not allow_pickle:
            raise UnsafeDataError(
                'refusing to unpickle an object array: pickled data can run '
                'arbitrary code; pass allow_pickle=True only for files you trust'
            )
        return pickle.loads(data)  # reached only with allow_pickle=True
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError('array data is not binary')
    dtype = _safe_dtype(obj.get(b'type'))
    shape, count = _check_shape(obj.get(b'shape'))
    if dtype.itemsize == 0 and count > _MAX_EMPTY_ITEMS:
        raise DecodeError(f'array of shape {shape} with zero-size items {dtype} is too large')
    expected = count * dtype.itemsize
    if expected != len(data):
        raise DecodeError(
            f'array of shape {shape} and dtype {dtype} needs {expected} bytes, '
            f'but {len(data)} are present'
        )
    try:
        return np.ndarray(buffer=data, dtype=dtype, shape=shape)
    except (ValueError, TypeError) as exc:  # e.g. too many dimensions
        raise DecodeError(f'cannot build array of shape {shape} and dtype {dtype}: {exc}') from None


def _decode_scalar(obj):
    data = obj.get(b'data')
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError('scalar data is not binary')
    dtype = _safe_dtype(obj.get(b'type'))
    if dtype.itemsize == 0:
        raise DecodeError(f'scalar of zero-size dtype {dtype}')
    if dtype.itemsize != len(data):
        raise DecodeError(
            f'scalar of dtype {dtype} needs {dtype.itemsize} bytes, '
            f'but {len(data)} are present'
        )
    return np.frombuffer(data, dtype=dtype)[0]


def _decode_complex(obj):
    try:
        return complex(_as_str(obj[b'data']))
    except Exception:
        raise DecodeError(f'malformed complex value {obj.get(b"data")!r}') from None


def decode(obj, allow_pickle=False):
    """
    ``object_hook`` that turns msgpack-numpy maps back into numpy values.

    Plain maps are returned unchanged.

    Parameters:
        obj: a decoded msgpack map
        allow_pickle: unpickle object arrays (runs code from the file!)

    Returns:
        numpy array, numpy scalar, complex, or ``obj`` itself

    Raises:
        UnsafeDataError: pickled or object-dtype data without opt-in
        DecodeError: malformed array description
    """
    # maps without the fields of an encoded value are returned unchanged,
    # as msgpack-numpy does
    if _ND in obj:
        nd = obj[_ND]
        if nd is True:
            required = _PICKLED_FIELDS if obj.get(b'kind') == b'O' else _ARRAY_FIELDS
            if all(field in obj for field in required):
                return _decode_ndarray(obj, allow_pickle)
        elif nd is False and all(field in obj for field in _SCALAR_FIELDS):
            return _decode_scalar(obj)
        return obj
    if _COMPLEX in obj and obj[_COMPLEX] is True and _DATA in obj:
        return _decode_complex(obj)
    return obj


def decode_trusted(obj):
    """Like :py:func:`decode`, but unpickles object arrays (trusted files only)."""
    return decode(obj, allow_pickle=True)


def object_hook(allow_pickle=False):
    """The ``object_hook`` for msgpack that decodes numpy values (safely,
    unless ``allow_pickle``)."""
    return decode_trusted if allow_pickle else decode


PACK_KWARGS = dict(default=_encode)
UNPACK_KWARGS = dict(strict_map_key=False, raw=False)


def make_packer(**kwargs):
    """
    Create a ``msgpack.Packer`` that encodes numpy values like datadings.

    Parameters:
        kwargs: further arguments for ``msgpack.Packer``

    Returns:
        Packer
    """
    return _msgpack.Packer(**{**PACK_KWARGS, **kwargs})


def make_unpacker(file_like=None, allow_pickle=False, **kwargs):
    """
    Create a ``msgpack.Unpacker`` that decodes numpy values safely.

    Parameters:
        file_like: optional stream to read from
        allow_pickle: allow pickled object arrays (trusted files only)
        kwargs: further arguments for ``msgpack.Unpacker``

    Returns:
        Unpacker
    """
    options = {**UNPACK_KWARGS, 'object_hook': object_hook(allow_pickle), **kwargs}
    return _msgpack.Unpacker(file_like, **options)


def pack(o, stream, **kwargs):
    """Pack object ``o`` and write it to ``stream``."""
    stream.write(packb(o, **kwargs))


def packb(o, **kwargs):
    """Pack object ``o`` and return the bytes."""
    return _msgpack.packb(o, **{**PACK_KWARGS, **kwargs})


def unpack(stream, allow_pickle=False, **kwargs):
    """Unpack one object from ``stream`` (reads all of it)."""
    return unpackb(stream.read(), allow_pickle=allow_pickle, **kwargs)


def unpackb(packed, allow_pickle=False, **kwargs):
    """
    Unpack one object from bytes.

    Parameters:
        packed: bytes-like object holding exactly one message
        allow_pickle: allow pickled object arrays (trusted files only)
        kwargs: further arguments for ``msgpack.unpackb``

    Returns:
        the unpacked object

    Raises:
        UnsafeDataError: pickled or object-dtype data without opt-in
        DecodeError: malformed numpy description
        ValueError: malformed msgpack data (``msgpack`` exceptions)
    """
    options = {**UNPACK_KWARGS, 'object_hook': object_hook(allow_pickle), **kwargs}
    return _msgpack.unpackb(packed, **options)



# ------------------------------------------------------------ zero copy

# extents of msgpack values by their first byte: (header bytes, length
# field bytes, children per count, extra bytes); for fix types the count
# or length is in the first byte itself
_FIXED = {0xc0: 1, 0xc2: 1, 0xc3: 1, 0xca: 5, 0xcb: 9, 0xcc: 2, 0xcd: 3, 0xce: 5, 0xcf: 9,
          0xd0: 2, 0xd1: 3, 0xd2: 5, 0xd3: 9, 0xd4: 3, 0xd5: 4, 0xd6: 6, 0xd7: 10, 0xd8: 18}
_SIZED = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0), 0xd9: (1, 0), 0xda: (2, 0), 0xdb: (4, 0),
          0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1)}  # (length bytes, type byte)
_COUNTED = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2), 0xdf: (4, 2)}  # (count bytes, per count)
_BIN = {0xc4: 1, 0xc5: 2, 0xc6: 4}
# a value with more nested items than this is decoded by msgpack instead
_MAX_SKIP_ITEMS = 256


def _value_end(buf, pos, end):
    """
    End of the msgpack value at ``buf[pos]`` (before ``end``), without
    decoding it; None if it is malformed, runs past ``end`` or nests more
    than ``_MAX_SKIP_ITEMS`` items.
    """
    pending = 1
    items = 0
    while pending:
        if pos >= end or items > _MAX_SKIP_ITEMS:
            return None
        t = buf[pos]
        pending -= 1
        items += 1
        if t <= 0x7f or t >= 0xe0:
            pos += 1
        elif t <= 0x8f:
            pending += 2 * (t & 0x0f)
            pos += 1
        elif t <= 0x9f:
            pending += t & 0x0f
            pos += 1
        elif t <= 0xbf:
            pos += 1 + (t & 0x1f)
        elif t in _FIXED:
            pos += _FIXED[t]
        elif t in _SIZED:
            width, extra = _SIZED[t]
            length = int.from_bytes(buf[pos + 1:pos + 1 + width], 'big')
            pos += 1 + width + extra + length
        elif t in _COUNTED:
            width, per = _COUNTED[t]
            pending += per * int.from_bytes(buf[pos + 1:pos + 1 + width], 'big')
            pos += 1 + width
        else:  # 0xc1 is never used
            return None
    return pos if pos <= end else None


def unpack_map_zero_copy(buf, view, start, end, allow_pickle=False, min_bytes=4096):
    """
    Decode the map ``buf[start:end]`` (a sample) like :py:func:`unpackb`,
    but hand out its top-level binary values of at least ``min_bytes``
    bytes as ``memoryview`` slices of ``view`` instead of copies. Smaller
    and nested values are decoded by msgpack as usual (numpy values too).

    Parameters:
        buf: the bytes (``mmap``, ``bytes``: indexing gives ints)
        view: a ``memoryview`` of ``buf``
        start: where the map starts
        end: where the message ends
        allow_pickle: allow pickled object arrays (trusted files only)
        min_bytes: binary values at least this large are not copied

    Returns:
        the sample, or None when it is no map, is malformed or nests deeply
        (the caller then decodes it with :py:func:`unpackb`, which raises
        the proper error for malformed data)
    """
    if start >= end:
        return None
    t = buf[start]
    if 0x80 <= t <= 0x8f:
        count = t & 0x0f
        pos = start + 1
    elif t == 0xde or t == 0xdf:
        width = 2 if t == 0xde else 4
        count = int.from_bytes(buf[start + 1:start + 1 + width], 'big')
        pos = start + 1 + width
    else:
        return None
    if count > end - pos:  # at least a byte per key and value
        return None
    hook = object_hook(allow_pickle)
    unpack = _msgpack.unpackb
    out = {}
    for _ in range(count):
        key_end = _value_end(buf, pos, end)
        if key_end is None:
            return None
        key = unpack(view[pos:key_end], strict_map_key=False, object_hook=hook)
        pos = key_end
        if pos >= end:
            return None
        t = buf[pos]
        width = _BIN.get(t)
        if width is not None:
            length = int.from_bytes(buf[pos + 1:pos + 1 + width], 'big')
            data = pos + 1 + width
            value_end = data + length
            if value_end > end:
                return None
            value = view[data:value_end] if length >= min_bytes else bytes(buf[data:value_end])
        else:
            value_end = _value_end(buf, pos, end)
            if value_end is None:
                return None
            value = unpack(view[pos:value_end], strict_map_key=False, object_hook=hook)
        try:
            out[key] = value
        except TypeError:  # an unhashable key: msgpack's own error then
            return None
        pos = value_end
    if pos != end:
        return None
    return hook(out)
