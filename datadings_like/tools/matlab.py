"""
Read MATLAB ``.mat`` files: :py:func:`loadmat` and :py:func:`iter_fields`.

MATLAB v4, v6 and v7 files are read with :py:func:`scipy.io.loadmat`,
MATLAB v7.3 files (HDF5 inside) with h5py, and both come back in the same
layout, scipy's (see :py:func:`loadmat`).
scipy and h5py belong to the ``sets`` extra (``pip install '.[sets]'`` in
the source tree); importing this module without scipy raises a
:py:class:`~datadings_like.tools.extras.MissingExtraError` that says so.

Reading a ``.mat`` file never runs code from it: both readers parse the
data, nothing is unpickled. MATLAB objects and function handles in v7.3
files are refused (see :py:func:`loadmat`).
"""
from collections.abc import Mapping
import io
import mmap
import os
import struct
import zlib

import numpy as np

from .extras import require

_sio = require('scipy.io', 'sets', 'datadings_like.tools.matlab (reading MATLAB .mat files)')

__all__ = ('MatFileError', 'iter_fields', 'loadmat')

# keyword arguments of scipy.io.loadmat (and of the MAT-file readers it makes)
_SCIPY_OPTIONS = frozenset((
    'mdict', 'appendmat', 'spmatrix', 'byte_order', 'mat_dtype', 'squeeze_me',
    'chars_as_strings', 'matlab_compatible', 'struct_as_record',
    'verify_compressed_data_integrity', 'simplify_cells', 'variable_names',
    'uint16_codec',
))
# the ones that reading a v7.3 file honours
_HDF5_OPTIONS = frozenset(('squeeze_me', 'chars_as_strings', 'variable_names'))
_NUMERIC = {
    'double': np.float64, 'single': np.float32,
    'int8': np.int8, 'uint8': np.uint8, 'int16': np.int16, 'uint16': np.uint16,
    'int32': np.int32, 'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
    # scipy reads logical arrays as uint8; v7.3 files give the same
    'logical': np.uint8,
}
# deeper than any real file; a damaged one may hold a reference loop
_MAX_DEPTH = 100
# data types of MAT v5 elements (miINT8 ... miUTF32); 8, 10 and 11 are reserved
_MI_TYPES = frozenset((1, 2, 3, 4, 5, 6, 7, 9, 12, 13, 14, 15, 16, 17, 18))
_MI_MATRIX = 14
_MI_COMPRESSED = 15


class MatFileError(ValueError):
    """A file is not a MATLAB ``.mat`` file, or it is damaged or holds
    something that cannot be read; the message names the file."""


def _source(mat):
    """(what the readers get, name for messages)"""
    if isinstance(mat, (str, os.PathLike)):
        path = os.fspath(mat)
        return path, path
    if isinstance(mat, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(mat)), '<.mat data>'
    if hasattr(mat, 'read') and hasattr(mat, 'seek'):
        return mat, str(getattr(mat, 'name', None) or '<.mat file object>')
    raise TypeError(
        f'loadmat: need a path, a file object or bytes, not {type(mat).__name__}'
    )


def loadmat(mat, **kwargs):
    """
    Load a Matlab "mat" file.

    The result is the layout of :py:func:`scipy.io.loadmat` with its
    defaults, as in datadings: a dict from variable name to value, plus
    ``"__header__"``, ``"__version__"`` and ``"__globals__"``.
    Nothing is squeezed: numeric and logical arrays are at least 2-D numpy
    arrays (a scalar is ``array([[x]])``, logical arrays are ``uint8``),
    a char array is a 1-D array of strings (one per row), a cell array is
    an object array of values, a struct (array) is a structured array with
    one object field per struct field (a scalar struct has shape
    ``(1, 1)``: ``s['field'][0, 0]`` is the value; see
    :py:func:`iter_fields`), a sparse matrix is a
    :py:class:`scipy.sparse.csc_matrix`.

    MATLAB v7.3 files (HDF5) are read with h5py into the same layout, so
    a file saved with ``-v7`` and with ``-v7.3`` gives the same result.
    MATLAB objects and function handles cannot be read from v7.3 files:
    pass ``variable_names`` to read the other variables.

    Parameters:
        mat: Path, file-like object (binary, seekable), or data (bytes).
        kwargs: options of :py:func:`scipy.io.loadmat`, e.g.
            ``squeeze_me=True``, ``variable_names=[...]``.
            For v7.3 files, ``squeeze_me``, ``chars_as_strings`` and
            ``variable_names`` are honoured; other options raise
            :py:class:`MatFileError` there.

    Returns:
        Contents of the Matlab file.

    Raises:
        FileNotFoundError: the file does not exist
        MatFileError: not a MATLAB file, damaged, or holds something that
            cannot be read; the message names the file (a ``ValueError``)
        MissingExtraError: a v7.3 file and h5py is not installed; the
            message names the extra to install (an ``ImportError``)
        TypeError: an unknown option, or ``mat`` is of a wrong type
    """
    unknown = sorted(set(kwargs) - _SCIPY_OPTIONS)
    if unknown:
        raise TypeError(f'loadmat: unknown option(s) {", ".join(unknown)}')
    source, name = _source(mat)
    _check_v5(source, name)
    try:
        return _sio.loadmat(source, **kwargs)
    except NotImplementedError:
        pass  # scipy's answer to v7.3 files: read below
    except MemoryError:
        raise
    except Exception as exc:  # what a damaged file makes scipy raise varies
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # missing file, no permission, I/O error: not the format
        raise MatFileError(
            f'{name}: not a readable MATLAB .mat file ({type(exc).__name__}: {exc})'
        ) from exc
    return _load_hdf5(source, name, kwargs)


# ------------------------------------------------------------ MATLAB v5/v7

def _check_v5(source, name):
    """
    Walk the tagged elements of a MATLAB v5/v6/v7 file before scipy reads
    it: scipy (1.17) crashes the interpreter on some damaged files (an
    unknown data type, a sub-element that the array's class or flags
    announce but that is missing), so such a file must be refused first.
    Other files (v4, v7.3, too short) are left to the readers to judge.
    """
    if isinstance(source, str):
        try:
            f = open(source, 'rb')
        except OSError:
            return  # scipy reports it (and tries the .mat suffix)
        with f:
            if os.fstat(f.fileno()).st_size < 128:
                return
            # mapped, not read: a big file is not held in memory twice
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    _check_buffer(view, name)
                finally:
                    view.release()
        return
    position = source.tell()
    data = source.read()
    source.seek(position)
    if isinstance(data, bytes):  # else not a binary file: scipy reports it
        _check_buffer(memoryview(data), name)


def _check_buffer(data, name):
    if len(data) < 128 or data[:4] == b'\0\0\0\0':
        return  # not v5 (v4 files start with a small type code)
    order = {b'IM': '<', b'MI': '>'}.get(bytes(data[126:128]))
    if order is None:
        return
    version = struct.unpack(order + 'H', data[124:126])[0]
    if version != 0x0100:
        return
    _check_level(data, 128, len(data), order, name, 0)


def _bad(name, problem):
    return MatFileError(f'{name}: not a readable MATLAB .mat file ({problem})')


def _elements(buf, start, end, order, name, top):
    """The tagged elements between start and end: (pos, type, body, size)."""
    out = []
    pos = start
    while pos < end:
        if end - pos < 8:
            if top:
                break  # trailing bytes: scipy ignores or reports them
            raise _bad(name, f'truncated element at byte {pos}')
        word, size = struct.unpack_from(order + 'II', buf, pos)
        small = word >> 16
        if small and not top:
            # small element: type in the low, size in the high 16 bits
            mtype, size, body, following = word & 0xFFFF, small, pos + 4, pos + 8
            if size > 4:
                raise _bad(name, f'small element of {size} bytes at byte {pos}')
        else:
            mtype, body = word, pos + 8
            following = body + size
            if not top:
                following += -size % 8  # sub-elements are 8-byte aligned
        if mtype not in _MI_TYPES:
            raise _bad(name, f'unknown data type {mtype} at byte {pos}')
        if body + size > end:
            raise _bad(name, f'element at byte {pos} runs past its end')
        out.append((pos, mtype, body, size))
        pos = following
    return out


def _check_level(buf, start, end, order, name, depth):
    """Check the top level of a file or of a decompressed element."""
    for pos, mtype, body, size in _elements(buf, start, end, order, name, top=True):
        if mtype == _MI_MATRIX:
            _check_matrix(buf, pos, body, size, order, name, depth + 1)
        elif mtype == _MI_COMPRESSED:
            if depth:
                raise _bad(name, f'compressed element inside compressed data at byte {pos}')
            try:
                inner = zlib.decompress(buf[body:body + size])
            except zlib.error as exc:
                raise _bad(name, f'damaged compressed element at byte {pos}: {exc}') from None
            _check_level(memoryview(inner), 0, len(inner), order, name, depth + 1)


def _check_matrix(buf, pos, body, size, order, name, depth):
    """
    Check that an array element holds the sub-elements its class and
    flags announce: scipy reads them without looking, past the end of
    the data if one is missing.
    """
    if depth > _MAX_DEPTH:
        raise _bad(name, 'arrays nested too deeply')
    subs = _elements(buf, body, body + size, order, name, top=False)
    if not subs:
        return  # an empty array
    if len(subs) < 3:
        raise _bad(name, f'array at byte {pos} without flags, dimensions and name')
    (_, ftype, fbody, fsize), (_, dtype_, dbody, dsize) = subs[0], subs[1]
    if ftype not in (5, 6) or fsize < 4 or dtype_ not in (5, 6) or dsize < 4 or dsize % 4:
        raise _bad(name, f'array at byte {pos} has damaged flags or dimensions')
    flags = struct.unpack_from(order + 'I', buf, fbody)[0]
    cls, is_complex = flags & 0xFF, bool(flags & 0x800)
    count = 1
    for d in struct.unpack_from(order + f'{dsize // 4}i', buf, dbody):
        if d < 0:
            raise _bad(name, f'array at byte {pos} has a negative dimension')
        count *= d
    rest = subs[3:]

    def need(k, what):
        if len(rest) < k:
            raise _bad(name, f'array at byte {pos}: {what} missing')

    def data_elements(k, what):
        need(k, what)
        if any(t in (_MI_MATRIX, _MI_COMPRESSED) for _, t, _, _ in rest[:k]):
            raise _bad(name, f'array at byte {pos}: {what} is not data')

    def arrays(first, k, what):
        need(first + k, what)
        for p, t, b, n in rest[first:first + k]:
            if t != _MI_MATRIX:
                raise _bad(name, f'array at byte {pos}: {what} is not an array')
            _check_matrix(buf, p, b, n, order, name, depth + 1)

    if 6 <= cls <= 15:  # numeric
        data_elements(1 + is_complex, 'imaginary part' if is_complex else 'data')
    elif cls == 4:  # char
        data_elements(1, 'text')
    elif cls == 5:  # sparse: row indices, column pointers, values
        data_elements(3 + is_complex, 'sparse matrix data')
    elif cls == 1:  # cell
        arrays(0, count, 'cell contents')
    elif cls in (2, 3):  # struct, object (after its class name)
        first = 1 if cls == 3 else 0
        data_elements(first + 2, 'field names')
        _, ltype, lbody, lsize = rest[first]
        if lsize < 4:
            raise _bad(name, f'array at byte {pos}: damaged field name length')
        length = struct.unpack_from(order + 'i', buf, lbody)[0]
        names_size = rest[first + 1][3]
        if length <= 0 and names_size or length < 0:
            raise _bad(name, f'array at byte {pos}: damaged field name length')
        fields = names_size // length if length else 0
        arrays(first + 2, count * fields, 'field values')
    elif cls == 16:  # function handle
        arrays(0, 1, 'function')
    elif cls == 17:  # opaque object: type system, class name, contents
        data_elements(2, 'object class')
        arrays(2, 1, 'object contents')
    else:
        raise _bad(name, f'array at byte {pos} has unknown class {cls}')


# ------------------------------------------------------------ MATLAB v7.3

def _read_header(source):
    if isinstance(source, str):
        with open(source, 'rb') as f:
            head = f.read(128)
    else:
        source.seek(0)
        head = source.read(128)
        source.seek(0)
    text = head[:116].rstrip(b' \0')
    version = head[124:126]
    if head[126:128] == b'IM':
        version = version[::-1]
    major, minor = (version[0], version[1]) if len(version) == 2 else (2, 0)
    return text, f'{major}.{minor}'


def _attr_str(value):
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tobytes()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode('ascii', 'replace')
    return str(value)


def _squeeze(arr):
    # what scipy's squeeze_me does: no unit dimensions, empty arrays 1-D,
    # one element becomes that element (a struct stays a 0-d array)
    if not arr.size:
        return np.array([], dtype=arr.dtype)
    squeezed = np.squeeze(arr)
    if not squeezed.shape and squeezed.dtype.names is None:
        return squeezed.item()
    return squeezed


class _Hdf5Reader:
    """Convert the MATLAB layout inside a v7.3 file to scipy's layout."""

    def __init__(self, h5py, file, name, squeeze_me=False, chars_as_strings=True):
        self.h5py = h5py
        self.file = file
        self.name = name
        self.squeeze = squeeze_me
        self.chars_as_strings = chars_as_strings

    def error(self, where, problem):
        return MatFileError(f'{self.name}: {where}: {problem}')

    def deref(self, ref, where):
        try:
            return self.file[ref]
        except Exception as exc:
            raise self.error(where, f'broken reference ({exc})') from None

    def convert(self, obj, where, depth=0):
        if depth > _MAX_DEPTH:
            raise self.error(where, 'nested too deeply (a reference loop?)')
        value = self._convert(obj, where, depth)
        if self.squeeze and isinstance(value, np.ndarray):
            value = _squeeze(value)
        return value

    def _convert(self, obj, where, depth):
        attrs = obj.attrs
        cls = _attr_str(attrs.get('MATLAB_class'))
        if isinstance(obj, self.h5py.Group):
            if 'MATLAB_sparse' in attrs:
                return self.sparse(obj, cls, where)
            if cls == 'struct':
                return self.struct(obj, where, depth)
            raise self.unsupported(obj, cls, where)
        if attrs.get('MATLAB_empty', 0):
            return self.empty(obj, cls, where)
        if cls == 'cell':
            return self.cell(obj, where, depth)
        if cls == 'char':
            return self.char(obj[()], where)
        if cls in _NUMERIC:
            return self.numeric(obj[()], cls, where)
        raise self.unsupported(obj, cls, where)

    def unsupported(self, obj, cls, where):
        if cls is None:
            return self.error(where, 'no MATLAB_class attribute: not a MATLAB variable')
        if 'MATLAB_object_decode' in obj.attrs or cls == 'function_handle':
            return self.error(
                where, f'a MATLAB {cls} object, which cannot be read from v7.3 files '
                       '(pass variable_names to read the other variables)')
        return self.error(where, f'MATLAB class {cls!r} is not supported')

    def numeric(self, data, cls, where):
        data = np.asarray(data)
        if data.dtype.names:
            if set(data.dtype.names) != {'real', 'imag'}:
                raise self.error(where, f'unexpected compound type {data.dtype}')
            data = data['real'] + 1j * data['imag']
        elif data.dtype.kind not in 'biuf':
            raise self.error(where, f'{cls} array stored as {data.dtype}')
        else:
            data = data.astype(_NUMERIC[cls], copy=False)
        # MATLAB stores arrays column-major: HDF5 dimensions are reversed
        return np.atleast_2d(data).T if data.ndim < 2 else data.T

    def char(self, data, where):
        codes = np.asarray(data)
        if codes.dtype.kind not in 'iu':
            raise self.error(where, f'char array stored as {codes.dtype}')
        codes = np.atleast_2d(codes).T
        if not self.chars_as_strings:
            chars = [chr(c) for c in codes.ravel().tolist()]
            return np.array(chars, dtype='<U1').reshape(codes.shape)
        rows = codes.reshape(-1, codes.shape[-1])
        strings = [row.astype('<u2').tobytes().decode('utf-16-le', 'replace') for row in rows]
        width = max([len(s) for s in strings] + [1])
        return np.array(strings, dtype=f'<U{width}').reshape(codes.shape[:-1])

    def empty(self, obj, cls, where):
        # an empty array holds its MATLAB dimensions instead of data
        dims = np.asarray(obj[()]).ravel()
        if dims.dtype.kind not in 'iu' or np.any(dims < 0) or not np.any(dims == 0):
            raise self.error(where, 'empty array with invalid dimensions')
        shape = tuple(int(d) for d in dims)
        if cls == 'char':
            return np.array([], dtype='<U1')
        if cls == 'cell':
            return np.empty(shape, dtype=object)
        if cls == 'struct':
            fields = self.field_names(obj, where)
            return np.empty(shape, dtype=[(f, object) for f in fields])
        if cls in _NUMERIC:
            return np.empty(shape, dtype=_NUMERIC[cls])
        raise self.unsupported(obj, cls, where)

    def cell(self, obj, where, depth):
        refs = np.asarray(obj[()])
        if refs.dtype != self.h5py.ref_dtype:
            raise self.error(where, f'cell array stored as {refs.dtype}')
        refs = np.atleast_2d(refs).T
        out = np.empty(refs.shape, dtype=object)
        for index in np.ndindex(refs.shape):
            here = f'{where}{{{",".join(str(i + 1) for i in index)}}}'
            out[index] = self.convert(self.deref(refs[index], here), here, depth + 1)
        return out

    def field_names(self, obj, where):
        fields = obj.attrs.get('MATLAB_fields')
        if fields is None:
            return list(obj.keys()) if isinstance(obj, self.h5py.Group) else []
        try:
            return [_attr_str(np.asarray(f)) for f in fields]
        except Exception as exc:
            raise self.error(where, f'unreadable field names ({exc})') from None

    def struct(self, group, where, depth):
        names = self.field_names(group, where)
        names += [n for n in group.keys() if n not in names]
        members = {}
        for n in names:
            if n not in group:
                raise self.error(where, f'field {n!r} is listed but missing')
            members[n] = group[n]
        # a struct array keeps one dataset of references per field, without
        # MATLAB_class; a scalar struct keeps the field values themselves
        is_array = bool(members) and all(
            isinstance(m, self.h5py.Dataset) and 'MATLAB_class' not in m.attrs
            and m.dtype == self.h5py.ref_dtype for m in members.values()
        )
        dtype = [(n, object) for n in names]
        if not is_array:
            out = np.empty((1, 1), dtype=dtype)
            for n, member in members.items():
                out[n][0, 0] = self.convert(member, f'{where}.{n}', depth + 1)
            return out
        refs = {n: np.atleast_2d(np.asarray(m[()])).T for n, m in members.items()}
        shapes = {r.shape for r in refs.values()}
        if len(shapes) != 1:
            raise self.error(where, 'struct array fields differ in shape')
        shape = shapes.pop()
        out = np.empty(shape, dtype=dtype)
        for index in np.ndindex(shape):
            position = ','.join(str(i + 1) for i in index)
            for n, r in refs.items():
                here = f'{where}({position}).{n}'
                out[n][index] = self.convert(self.deref(r[index], here), here, depth + 1)
        return out

    def sparse(self, group, cls, where):
        from scipy.sparse import csc_matrix
        if cls not in _NUMERIC:
            raise self.unsupported(group, cls, where)
        nrows = int(np.asarray(group.attrs['MATLAB_sparse']).ravel()[0])
        jc = np.asarray(group['jc'][()]).ravel().astype(np.int64)
        ncols = len(jc) - 1
        if ncols < 0:
            raise self.error(where, 'sparse matrix without column pointers')
        if 'data' in group:
            ir = np.asarray(group['ir'][()]).ravel().astype(np.int64)
            data = np.asarray(group['data'][()]).ravel()
            if data.dtype.names:
                data = data['real'] + 1j * data['imag']
            else:
                data = data.astype(_NUMERIC[cls], copy=False)
        else:  # all zeros
            ir = np.zeros(0, np.int64)
            data = np.zeros(0, _NUMERIC[cls])
        matrix = csc_matrix((data, ir, jc), shape=(nrows, ncols))
        matrix.check_format(full_check=True)
        return matrix


def _load_hdf5(source, name, kwargs):
    unsupported = sorted(set(kwargs) - _HDF5_OPTIONS)
    if unsupported:
        raise MatFileError(
            f'{name}: a MATLAB v7.3 (HDF5) file; option(s) {", ".join(unsupported)} '
            'work only for MATLAB v4-v7 files'
        )
    h5py = require('h5py', 'sets', f'reading MATLAB v7.3 files such as {name}')
    header, version = _read_header(source)
    try:
        file = h5py.File(source, 'r')
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise MatFileError(
            f'{name}: a MATLAB v7.3 header, but not a readable HDF5 file ({exc})'
        ) from exc
    names = kwargs.get('variable_names')
    if isinstance(names, str):
        names = [names]
    reader = _Hdf5Reader(h5py, file, name, kwargs.get('squeeze_me', False),
                         kwargs.get('chars_as_strings', True))
    out = {'__header__': header, '__version__': version, '__globals__': []}
    try:
        with file:
            for var in file.keys():
                if var.startswith('#') or (names is not None and var not in names):
                    continue  # '#refs#' and '#subsystem#' hold what variables refer to
                obj = file[var]
                out[var] = reader.convert(obj, var)
                if obj.attrs.get('MATLAB_global', 0):
                    out['__globals__'].append(var)
    except (MatFileError, MemoryError):
        raise
    except Exception as exc:  # h5py's errors for damaged files vary
        raise MatFileError(
            f'{name}: damaged MATLAB v7.3 file ({type(exc).__name__}: {exc})'
        ) from exc
    return out


# ------------------------------------------------------------------ fields

def iter_fields(arr, ignore=()):
    """
    Iterate over the fields of a structured numpy array
    (i.e., an array with a complex data type).
    Each iteration yields (fieldname, value).

    This is how MATLAB structs come out of :py:func:`loadmat`; the value
    is ``arr[fieldname]``, e.g. a ``(1, 1)`` object array for a scalar
    struct. Also accepted: a dict from :py:func:`loadmat` (its variables,
    without ``"__header__"``, ``"__version__"`` and ``"__globals__"``) and
    the struct objects of ``loadmat(..., struct_as_record=False)``.

    Parameters:
        arr: A structured array.
        ignore: Fields to ignore.

    Returns:
        Yields individual fields from the array.

    Raises:
        TypeError: ``arr`` has no fields
    """
    if isinstance(ignore, str):
        ignore = (ignore,)
    ignore = set(ignore)
    if isinstance(arr, (np.ndarray, np.void)) and arr.dtype.names is not None:
        items = ((name, arr[name]) for name in arr.dtype.names)
    elif isinstance(arr, Mapping):
        items = ((k, v) for k, v in arr.items()
                 if not (isinstance(k, str) and k.startswith('__') and k.endswith('__')))
    elif hasattr(arr, '_fieldnames'):  # scipy's mat_struct
        items = ((name, getattr(arr, name)) for name in arr._fieldnames)
    else:
        raise TypeError(
            f'iter_fields: need a structured array (a MATLAB struct), not '
            f'{type(arr).__name__}'
            + (f' of dtype {arr.dtype}' if isinstance(arr, np.ndarray) else '')
        )
    for name, value in items:
        if name not in ignore:
            yield name, value
