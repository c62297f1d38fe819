"""
Tests for :py:mod:`datadings_like.msgpack`: packing identical to
msgpack + msgpack-numpy 0.4, round trips of every numpy value kind, and the
safe decoder (no pickle, no object dtypes from raw bytes, shape and buffer
size consistent, malformed descriptions are a clean ``DecodeError``).
"""
import io
import os
import pickle
import time
import tracemalloc

import msgpack
import msgpack_numpy
import numpy as np
import pytest

from datadings_like import msgpack as ddm
from datadings_like.msgpack import DecodeError
from datadings_like.msgpack import UnsafeDataError
from datadings_like.msgpack import decode
from datadings_like.msgpack import make_packer
from datadings_like.msgpack import make_unpacker
from datadings_like.msgpack import pack
from datadings_like.msgpack import packb
from datadings_like.msgpack import unpack
from datadings_like.msgpack import unpackb


def reference_packb(o):
    return msgpack.packb(o, default=msgpack_numpy.encode)


def reference_unpackb(b):
    # only ever used on data this test module made itself (never on
    # hostile bytes: msgpack_numpy.decode is unsafe)
    return msgpack.unpackb(b, object_hook=msgpack_numpy.decode, strict_map_key=False, raw=False)


def array_msg(**fields):
    """A msgpack-numpy ndarray map; ``fields`` override the defaults."""
    obj = {b'nd': True, b'type': '|u1', b'kind': b'', b'shape': [8], b'data': bytes(8)}
    for k, v in fields.items():
        obj[k.encode()] = v
    return obj


def scalar_msg(**fields):
    obj = {b'nd': False, b'type': '<f8', b'data': bytes(8)}
    for k, v in fields.items():
        obj[k.encode()] = v
    return obj


def raw_packb(obj):
    """Pack without any numpy hook (for hand-made hostile maps)."""
    return msgpack.packb(obj, use_bin_type=True)


# ---------------------------------------------------------------- values

NESTED = np.dtype([
    ('id', '<i4'),
    ('pos', [('x', '<f8'), ('y', '>f4')]),
    ('name', 'S5'),
    ('uname', '<U3'),
    ('grid', '<u2', (2, 3)),
    ('deep', [('inner', [('v', '<i8'), ('flag', '?')]), ('w', '<c8', (2,))]),
])


def _structured():
    a = np.zeros(3, dtype=NESTED)
    a['id'] = [1, -2, 3]
    a['pos']['x'] = [0.5, 1.5, 2.5]
    a['pos']['y'] = [-1, -2, -3]
    a['name'] = [b'ab', b'abcde', b'']
    a['uname'] = ['ä', 'xyz', '']
    a['grid'] = np.arange(18).reshape(3, 2, 3)
    a['deep']['inner']['v'] = [2 ** 40, -5, 0]
    a['deep']['inner']['flag'] = [True, False, True]
    a['deep']['w'] = [[1 + 2j, 3j], [0, -1], [4, 5 + 5j]]
    return a


def _arrays():
    rng = np.random.default_rng(1234)
    base = rng.integers(-1000, 1000, (4, 6, 5))
    out = {
        'bool': np.array([[True, False, True], [False, False, True]]),
        'bool_scalar_array': np.array(True),
        'uint8_image': rng.integers(0, 256, (7, 5, 3), dtype=np.uint8),
        'float16': np.linspace(-2, 2, 9).astype('<f2'),
        'float64_nan_inf': np.array([np.nan, np.inf, -np.inf, -0.0, 1e308]),
        'complex64': (rng.random(5) + 1j * rng.random(5)).astype('<c8'),
        'complex128_big_endian': (rng.random(4) + 1j).astype('>c16'),
        'unicode': np.array(['a', 'äöü', '€uro', '']),
        'unicode_big_endian': np.array(['ab', 'c'], dtype='>U2'),
        'bytes': np.array([b'ab', b'c', b'\x00\xff']),
        'structured_nested': _structured(),
        'structured_0d': _structured()[1:2].reshape(()),
        'zero_d_float': np.array(3.25),
        'zero_d_int': np.array(-7, dtype='>i2'),
        'empty_1d': np.zeros(0, dtype='<f4'),
        'empty_2d': np.zeros((0, 3), dtype='<i8'),
        'empty_middle': np.zeros((2, 0, 4), dtype='u1'),
        'empty_unicode': np.array([], dtype='<U4'),
        'empty_structured': np.zeros(0, dtype=NESTED),
        'noncontiguous_step': base[:, ::2, 1:4],
        'noncontiguous_transpose': base.T,
        'fortran_order': np.asfortranarray(base.astype('<f8')),
        'negative_strides': base[::-1, :, ::-2],
        'broadcast_view': np.broadcast_to(np.arange(3, dtype='<u4'), (4, 3)),
        'many_dims': np.arange(64, dtype='u1').reshape((2,) * 6),
    }
    for dt in ('i1', 'u1', '<i2', '>i2', '<u2', '<i4', '>u4', '<i8', '>u8', '<f4', '>f8'):
        out[f'int_float_{dt}'] = (base % 100).astype(dt)
    out['longdouble'] = np.array([1.5, -2.25], dtype=np.longdouble)
    return out


ARRAYS = _arrays()

SCALARS = {
    'bool_true': np.bool_(True),
    'bool_false': np.bool_(False),
    'int8': np.int8(-5),
    'uint8': np.uint8(250),
    'int16': np.int16(-30000),
    'uint16': np.uint16(65000),
    'int32': np.int32(-2 ** 31),
    'uint32': np.uint32(2 ** 32 - 1),
    'int64': np.int64(-2 ** 63),
    'uint64': np.uint64(2 ** 64 - 1),
    'float16': np.float16(1.5),
    'float32': np.float32(-0.1),
    'longdouble': np.longdouble(2.5),
    'complex64': np.complex64(1 - 2j),
    'complex128': np.complex128(-3.5 + 0.25j),
}

PY_COMPLEX = {
    'simple': 1 + 2j,
    'negative_zero': complex(-0.0, -0.0),
    'pure_imag': 5j,
    'inf': complex(float('inf'), -float('inf')),
    'nan': complex(float('nan'), 1),
    'tiny': complex(5e-324, 1e308),
}


def assert_same_array(result, expected):
    assert isinstance(result, np.ndarray)
    assert result.dtype == expected.dtype
    assert result.shape == expected.shape
    assert result.tobytes() == expected.tobytes()


def assert_same_scalar(result, expected):
    assert type(result) is type(expected), (type(result), type(expected))
    assert result.dtype == expected.dtype
    assert result.tobytes() == expected.tobytes()


def assert_same_complex(result, expected):
    assert type(result) is complex
    # compare the representation: handles nan and the sign of zero
    assert repr(result) == repr(expected)


@pytest.mark.parametrize('name', sorted(ARRAYS))
def test_array_round_trip(name):
    a = ARRAYS[name]
    packed = packb(a)
    assert packed == reference_packb(a)
    result = unpackb(packed)
    assert_same_array(result, a)
    # decodes exactly like msgpack-numpy does (on safe data)
    assert_same_array(result, reference_unpackb(packed))


@pytest.mark.parametrize('name', sorted(SCALARS))
def test_numpy_scalar_round_trip(name):
    s = SCALARS[name]
    packed = packb(s)
    assert packed == reference_packb(s)
    assert_same_scalar(unpackb(packed), s)
    assert_same_scalar(unpackb(packed), reference_unpackb(packed))


def test_float64_scalar_is_packed_as_msgpack_float():
    # np.float64 subclasses float: msgpack packs it natively, no hook
    for value in (np.float64(np.pi), np.float64(-0.0), np.float64(np.inf)):
        packed = packb(value)
        assert packed == reference_packb(value)
        assert packed[:1] == b'\xcb'
        result = unpackb(packed)
        assert type(result) is float and repr(result) == repr(float(value))


def test_void_array_decodes_like_msgpack_numpy():
    # unstructured void is packed as a structured descr with one unnamed
    # field; msgpack-numpy decodes it to a one-field structured array
    a = np.array([b'\x01\x02\x03', b'xyz'], dtype='V3')
    packed = packb(a)
    assert packed == reference_packb(a)
    result = unpackb(packed)
    assert_same_array(result, reference_unpackb(packed))
    assert result.tobytes() == a.tobytes()


def test_aligned_structured_array_decodes_like_msgpack_numpy():
    a = np.zeros(3, dtype=np.dtype([('a', 'u1'), ('b', '<f8')], align=True))
    a['a'] = [1, 2, 3]
    a['b'] = [0.5, 1.5, 2.5]
    packed = packb(a)
    assert packed == reference_packb(a)
    result = unpackb(packed)
    assert_same_array(result, reference_unpackb(packed))
    assert result['a'].tolist() == [1, 2, 3]
    assert result['b'].tolist() == [0.5, 1.5, 2.5]


@pytest.mark.parametrize('name', sorted(PY_COMPLEX))
def test_python_complex_round_trip(name):
    z = PY_COMPLEX[name]
    packed = packb(z)
    assert packed == reference_packb(z)
    assert_same_complex(unpackb(packed), z)


def test_sample_with_everything_round_trip():
    sample = {
        'key': 'sample-0',
        'image': ARRAYS['uint8_image'],
        'struct': ARRAYS['structured_nested'],
        'label': 3,
        'score': np.float32(0.75),
        'z': 1 - 1j,
        'text': 'äöü',
        'raw': b'\x00\x01',
        'nested': {'list': [ARRAYS['bool'], np.int16(4), {'deeper': ARRAYS['empty_2d']}],
                   1: 'int key', b'bin': None},
    }
    packed = packb(sample)
    assert packed == reference_packb(sample)
    result = unpackb(packed)
    assert list(result) == list(sample)  # map order is kept
    assert result['key'] == 'sample-0'
    assert_same_array(result['image'], sample['image'])
    assert_same_array(result['struct'], sample['struct'])
    assert result['label'] == 3
    assert_same_scalar(result['score'], sample['score'])
    assert_same_complex(result['z'], sample['z'])
    assert result['text'] == 'äöü' and result['raw'] == b'\x00\x01'
    nested = result['nested']
    assert_same_array(nested['list'][0], sample['nested']['list'][0])
    assert_same_scalar(nested['list'][1], np.int16(4))
    assert_same_array(nested['list'][2]['deeper'], sample['nested']['list'][2]['deeper'])
    assert nested[1] == 'int key' and nested[b'bin'] is None


def test_packing_matches_datadings_conventions():
    o = {'s': 'str', 'b': b'bin', 'a': np.arange(3, dtype='<i4')}
    packed = packb(o)
    assert packed == reference_packb(o)
    # str stays str, bytes become bin (use_bin_type=True)
    assert b'\xa3str' in packed
    assert b'\xc4\x03bin' in packed
    # the array map in msgpack-numpy 0.4 order
    a = msgpack.unpackb(packed, raw=False)['a']
    assert list(a) == [b'nd', b'type', b'kind', b'shape', b'data']
    assert a == {b'nd': True, b'type': '<i4', b'kind': b'', b'shape': [3],
                 b'data': np.arange(3, dtype='<i4').tobytes()}


def test_structured_array_packs_descr():
    a = ARRAYS['structured_nested']
    raw = msgpack.unpackb(packb(a), raw=False)
    assert raw[b'kind'] == b'V'
    assert isinstance(raw[b'type'], list)
    assert raw[b'type'][0] == ['id', '<i4']


def test_scalar_and_complex_maps():
    assert msgpack.unpackb(packb(np.float32(1.0)), raw=False) == {
        b'nd': False, b'type': '<f4', b'data': np.float32(1.0).tobytes()}
    assert msgpack.unpackb(packb(1 + 2j), raw=False) == {b'complex': True, b'data': '(1+2j)'}


def test_pack_stream_and_packer_identical():
    o = {'key': 'k', 'a': ARRAYS['structured_nested'], 'z': 3j}
    stream = io.BytesIO()
    pack(o, stream)
    assert stream.getvalue() == reference_packb(o)
    assert make_packer().pack(o) == reference_packb(o)
    assert unpack(io.BytesIO(stream.getvalue()))['key'] == 'k'


def test_tools_msgpack_is_the_same_module():
    import importlib
    tools_msgpack = importlib.import_module('datadings_like.tools.msgpack')
    for name in ('packb', 'unpackb', 'pack', 'unpack', 'make_packer', 'make_unpacker',
                 'DecodeError', 'UnsafeDataError', 'decode'):
        assert getattr(tools_msgpack, name) is getattr(ddm, name)


def test_unpackb_options():
    packed = packb({1: 'int key', 'x': b'b'})
    # strict_map_key=False by default: int keys are fine
    assert unpackb(packed) == {1: 'int key', 'x': b'b'}
    # raw=False: str are str
    assert type(unpackb(packb('äöü'))) is str
    # further msgpack options pass through
    assert unpackb(packb([1, 2]), use_list=False) == (1, 2)


def test_plain_maps_are_left_alone():
    assert decode({b'a': 1}) == {b'a': 1}
    assert decode({'nd': True}) == {'nd': True}  # str key, not bytes
    assert decode({b'nd': 1}) == {b'nd': 1}  # neither True nor False
    assert decode({b'complex': False, b'data': 'x'}) == {b'complex': False, b'data': 'x'}
    assert unpackb(raw_packb({'nd': True, 'type': 'u1'})) == {'nd': True, 'type': 'u1'}


# ---------------------------------------------------------------- streaming

def test_make_unpacker_streaming():
    objects = [
        {'key': 'a', 'x': ARRAYS['uint8_image']},
        ARRAYS['structured_nested'],
        np.float32(2.5),
        4j,
        [1, 'two', {3: b'four'}],
    ]
    data = b''.join(packb(o) for o in objects)
    unpacker = make_unpacker(io.BytesIO(data))
    results = list(unpacker)
    assert len(results) == len(objects)
    assert_same_array(results[0]['x'], objects[0]['x'])
    assert_same_array(results[1], objects[1])
    assert_same_scalar(results[2], objects[2])
    assert_same_complex(results[3], objects[3])
    assert results[4] == [1, 'two', {3: b'four'}]

    # feeding in small pieces works too
    unpacker = make_unpacker()
    got = []
    for i in range(0, len(data), 7):
        unpacker.feed(data[i:i + 7])
        got.extend(unpacker)
    assert len(got) == len(objects)
    assert_same_array(got[1], objects[1])


def test_make_unpacker_is_safe(tmp_path):
    marker = tmp_path / 'marker'
    data = packb({'key': 'ok'}) + raw_packb({'a': pickle_array_msg(marker)})
    unpacker = make_unpacker(io.BytesIO(data))
    assert next(unpacker) == {'key': 'ok'}
    with pytest.raises(UnsafeDataError):
        next(unpacker)
    assert not marker.exists()
    unpacker = make_unpacker(io.BytesIO(data), allow_pickle=True)
    list(unpacker)
    assert marker.exists()


# ---------------------------------------------------------------- security

class _MakeMarker:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.mkdir, (self.path,)


def pickle_array_msg(marker):
    return array_msg(type=[['', '|O']], kind=b'O', shape=[1],
                     data=pickle.dumps(_MakeMarker(marker), protocol=2))


def test_pickle_payload_is_refused(tmp_path):
    marker = tmp_path / 'marker'
    packed = raw_packb({'key': 'evil', 'a': pickle_array_msg(marker)})
    with pytest.raises(UnsafeDataError) as info:
        unpackb(packed)
    assert isinstance(info.value, DecodeError)
    assert isinstance(info.value, ValueError)
    assert 'pickle' in str(info.value)
    assert not marker.exists()
    with pytest.raises(UnsafeDataError):
        decode(pickle_array_msg(marker))
    with pytest.raises(UnsafeDataError):
        unpack(io.BytesIO(packed))
    assert not marker.exists()


def test_pickle_payload_runs_only_with_allow_pickle(tmp_path):
    marker = tmp_path / 'marker'
    packed = raw_packb({'key': 'evil', 'a': pickle_array_msg(marker)})
    unpackb(packed, allow_pickle=True)
    assert marker.exists()


def test_object_array_round_trip_with_allow_pickle():
    a = np.array([1, 'a', None, [1, 2]], dtype=object)
    packed = packb(a)
    assert packed == reference_packb(a)
    with pytest.raises(UnsafeDataError):
        unpackb(packed)
    result = unpackb(packed, allow_pickle=True)
    assert result.dtype == object
    assert result.tolist() == a.tolist()
    result = decode(msgpack.unpackb(packed, raw=False), allow_pickle=True)
    assert result.tolist() == a.tolist()


@pytest.mark.parametrize('descr', [
    '|O', 'O', '<O', 'O8', b'|O', '(2,)O', 'f8,O', 'T',
], ids=repr)
def test_object_dtype_from_raw_bytes_is_refused(descr):
    # building this with msgpack_numpy would take the bytes as pointers and
    # crash the interpreter; it must never be built
    msg = array_msg(type=descr, kind=b'', shape=[2], data=b'\x41' * 64)
    with pytest.raises(UnsafeDataError):
        unpackb(raw_packb({'a': msg}))
    with pytest.raises(UnsafeDataError):
        decode(msg)
    # even allow_pickle does not allow pointers from bytes
    with pytest.raises(UnsafeDataError):
        decode(msg, allow_pickle=True)


@pytest.mark.parametrize('descr', [
    [['a', '<i4'], ['b', '|O']],
    [['a', '|O', [2]]],
    [['outer', [['inner', '|O']]]],
    [['outer', [['x', '<f8'], ['deeper', [['o', 'O']]]]]],
    [[b'a', b'|O']],
], ids=repr)
def test_structured_dtype_with_object_field_is_refused(descr):
    msg = array_msg(type=descr, kind=b'V', shape=[1], data=b'\x41' * 64)
    with pytest.raises(UnsafeDataError):
        unpackb(raw_packb({'a': msg}))
    with pytest.raises(UnsafeDataError):
        decode(msg, allow_pickle=True)
    # the kind does not matter: a descr list is never turned into objects
    with pytest.raises(UnsafeDataError):
        decode({**msg, b'kind': b''})


def test_object_scalar_is_refused():
    with pytest.raises(UnsafeDataError):
        decode(scalar_msg(type='|O', data=b'\x41' * 8))


def test_huge_shape_fails_fast_without_allocating():
    msg = raw_packb({'a': array_msg(type='<u8', shape=[2 ** 40], data=bytes(8))})
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DecodeError):
            unpackb(msg)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1
    assert peak < 1 << 20


@pytest.mark.parametrize('shape', [
    [2 ** 40], [2 ** 31, 2 ** 31], [2 ** 63 - 1], [2 ** 64 - 1], [3], [1, 2], [1, 2, 1], [0],
], ids=repr)
def test_shape_larger_than_data_is_refused(shape):
    with pytest.raises(DecodeError):
        decode(array_msg(type='<u8', shape=shape, data=bytes(8)))


@pytest.mark.parametrize('shape,data', [
    ([4], bytes(8)), ([0], bytes(1)), ([], bytes(2)), ([2, 0], bytes(8)), ([1], bytes(9)),
], ids=repr)
def test_data_larger_than_shape_is_refused(shape, data):
    with pytest.raises(DecodeError):
        decode(array_msg(type='|u1', shape=shape, data=data))


@pytest.mark.parametrize('shape', [
    [-1], [8, -1], -8, [True], True, [False, 8], 'ab', b'\x08', ['8'], [8.0], 8.0,
    None, {8: 8}, [[8]], [None],
], ids=repr)
def test_malformed_shape_is_refused(shape):
    with pytest.raises(DecodeError):
        decode(array_msg(type='|u1', shape=shape, data=bytes(8)))
    with pytest.raises(DecodeError):
        unpackb(raw_packb({'a': array_msg(type='|u1', shape=shape, data=bytes(8))}))


@pytest.mark.parametrize('ndim', [65, 100])
def test_too_many_dimensions_is_decode_error(ndim):
    with pytest.raises(DecodeError):
        decode(array_msg(type='|u1', shape=[1] * ndim, data=bytes(1)))


@pytest.mark.parametrize('descr', [
    'zz', '<i3', 'not a dtype', '', b'\xff\xfe', 5, 1.5, None, True, {'a': 1},
    '<U99999999999', '(1099511627776,)u1', [['a']], [['a', 5]], [[1, '<f8']],
    [['a', '<f8'], ['a', '<f8']], [['a', '<f8', [-1]]], [['a', '<f8', [1], 5]],
    [[b'\xff', '<f8']], [None], ['<f8'],
], ids=repr)
def test_malformed_dtype_is_refused(descr):
    with pytest.raises(DecodeError):
        decode(array_msg(type=descr, shape=[1], data=bytes(8)))
    with pytest.raises(DecodeError):
        decode(scalar_msg(type=descr, data=bytes(8)))


@pytest.mark.parametrize('obj', [
    {b'nd': True},
    {b'nd': False},
    {b'nd': True, b'type': '|u1', b'data': b''},  # no shape
    {b'nd': True, b'shape': [0], b'data': b''},  # no type
    {b'nd': True, b'kind': b'O'},  # no data to unpickle
    {b'nd': True, b'x': 1},
    {b'complex': True},
])
def test_maps_without_the_fields_of_an_encoded_value_stay_maps(obj):
    # as msgpack-numpy does: such maps are plain data, e.g. written by users
    assert decode(obj) is obj
    assert unpackb(raw_packb({'m': obj})) == {'m': obj}
    assert unpackb(raw_packb({'m': obj})) == msgpack.unpackb(
        raw_packb({'m': obj}), object_hook=msgpack_numpy.decode, strict_map_key=False)


@pytest.mark.parametrize('data', ['abcdefgh', 8, None, [0] * 8, True, 1.5], ids=repr)
def test_non_binary_data_is_refused(data):
    with pytest.raises(DecodeError):
        decode(array_msg(type='|u1', shape=[8], data=data))
    with pytest.raises(DecodeError):
        decode(scalar_msg(type='<f8', data=data))


@pytest.mark.parametrize('data', [b'', bytes(4), bytes(7), bytes(9), bytes(16)], ids=repr)
def test_scalar_with_wrong_byte_count_is_refused(data):
    with pytest.raises(DecodeError):
        decode(scalar_msg(type='<f8', data=data))
    with pytest.raises(DecodeError):
        unpackb(raw_packb(scalar_msg(type='<f8', data=data)))


@pytest.mark.parametrize('descr', ['|S0', '|V0', '<U0'])
def test_zero_size_scalar_is_decode_error(descr):
    with pytest.raises(DecodeError):
        decode(scalar_msg(type=descr, data=b''))


def test_zero_size_items_round_trip():
    a = np.zeros((4, 2), dtype=[])
    assert a.dtype.itemsize == 0
    assert_same_array(unpackb(packb(a)), a)


def test_huge_arrays_of_zero_size_items_are_refused():
    with pytest.raises(DecodeError, match='too large'):
        decode(array_msg(type='|V0', kind=b'', shape=[2 ** 60], data=b''))
    assert decode(array_msg(type='|V0', kind=b'', shape=[3], data=b'')).shape == (3,)


def test_zero_size_items_with_overflowing_shape_is_decode_error():
    with pytest.raises(DecodeError):
        decode(array_msg(type=[], kind=b'V', shape=[2 ** 63, 2 ** 63], data=b''))


@pytest.mark.parametrize('data', [b'\xff\xfe', 'not complex', '', None, b'1+2', [1, 2], '(1+2j'],
                         ids=repr)
def test_malformed_complex_is_refused(data):
    with pytest.raises(DecodeError):
        decode({b'complex': True, b'data': data})
    with pytest.raises(DecodeError):
        unpackb(raw_packb({'z': {b'complex': True, b'data': data}}))


def test_errors_are_value_errors():
    assert issubclass(DecodeError, ValueError)
    assert issubclass(UnsafeDataError, DecodeError)



# ---------------------------------------------------------------- fuzzing

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_DTYPE_STRINGS = [
    '|u1', '<i2', '>i4', '<u8', '<f4', '>f8', '<c8', '|b1', '?', '<U3', '|S4', '|V2',
    '<M8[s]', '>m8[D]', 'f8,i4', '(2,)u1', '|O', 'O', 'T', 'zz', '', '<U0x',
]
_descr = st.recursive(
    st.sampled_from(_DTYPE_STRINGS) | st.binary(max_size=6) | st.text(max_size=6),
    lambda inner: st.lists(
        st.tuples(st.text(max_size=3), inner).map(list)
        | st.tuples(st.text(max_size=3), inner,
                    st.lists(st.integers(-1, 3), max_size=3)).map(list),
        max_size=3),
    max_leaves=6,
)
_shape = (st.lists(st.integers(-2, 2 ** 20) | st.sampled_from([0, 1, 2, 2 ** 40, 2 ** 64 - 1]),
                   max_size=8)
          | st.integers(-2, 10) | st.none() | st.text(max_size=2) | st.booleans())
_data = (st.binary(max_size=64) | st.none() | st.text(max_size=4)
         | st.integers(-2 ** 63, 2 ** 64 - 1))


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(descr=_descr, shape=_shape, data=_data, kind=st.sampled_from([b'', b'V', b'O', b'x']),
       nd=st.sampled_from([True, False]))
def test_fuzzed_numpy_maps_decode_or_raise_decode_error(descr, shape, data, kind, nd):
    if kind == b'O' and nd:
        # never hand a pickle to the decoder with allow_pickle: only check refusal
        with pytest.raises(UnsafeDataError):
            decode({b'nd': True, b'type': descr, b'kind': kind, b'shape': shape, b'data': data})
        return
    obj = {b'nd': nd, b'type': descr, b'kind': kind, b'shape': shape, b'data': data}
    try:
        result = unpackb(raw_packb(obj))
    except DecodeError:
        return
    assert isinstance(result, (np.ndarray, np.generic))
    assert not result.dtype.hasobject
    if isinstance(result, np.ndarray):
        assert result.nbytes == len(data)


# ------------------------------------------------------------ zero copy

from datadings_like.msgpack import unpack_map_zero_copy  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=40) | st.binary(max_size=300),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                 max_size=4),
    max_leaves=12)


def _materialized(value):
    if isinstance(value, memoryview):
        return bytes(value)
    return value


@settings(max_examples=300, deadline=None, database=None)
@given(sample=st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), _values, max_size=8),
       min_bytes=st.sampled_from([0, 1, 16, 200, 4096]))
def test_zero_copy_map_equals_unpackb(sample, min_bytes):
    data = packb(sample)
    out = unpack_map_zero_copy(data, memoryview(data), 0, len(data), min_bytes=min_bytes)
    if out is None:  # only for values nested too deeply to be skipped
        return
    expected = unpackb(data)
    assert {k: _materialized(v) for k, v in out.items()} == expected
    for key, value in out.items():
        if isinstance(value, memoryview):
            assert isinstance(expected[key], bytes) and len(value) >= min_bytes
        elif isinstance(expected[key], bytes):
            assert len(value) < min_bytes


def test_zero_copy_map_hands_out_views_of_the_buffer():
    sample = {'key': 'a', 'image': b'\x01' * 10000, 'label': 3, 'small': b'yy',
              'arr': np.arange(6, dtype='<u2').reshape(2, 3), 'nested': {'a': [1, {'b': 2.5}]}}
    data = bytearray(packb(sample))
    out = unpack_map_zero_copy(data, memoryview(data), 0, len(data))
    assert isinstance(out['image'], memoryview) and isinstance(out['small'], bytes)
    np.testing.assert_array_equal(out['arr'], sample['arr'])
    assert out['nested'] == sample['nested'] and out['label'] == 3
    data[data.index(b'\x01' * 10)] = 2  # a view, not a copy
    assert out['image'][0] == 2


@pytest.mark.parametrize('data', [
    b'', b'\x93\x01\x02\x03', b'\xc0', packb({'a': 1})[:-1], packb({'a': b'x' * 5000})[:-1],
    b'\x82\xa1a\x01',  # two entries announced, one present
    b'\x81\xa1a\xc1',  # the never-used type byte
    b'\x81\x91\x01\x02',  # an array as key: unhashable
    b'\xdf\xff\xff\xff\xff\xa1a',  # a huge count
    packb({'a': 1}) + b'\x00',  # trailing bytes
    packb({'deep': [[[[[[[[[[1] * 30] * 2] * 2] * 2] * 2]]]]]}),  # too many items to skip
])
def test_zero_copy_map_gives_up_on_what_msgpack_must_decide(data):
    assert unpack_map_zero_copy(data, memoryview(data), 0, len(data)) is None


def test_zero_copy_map_refuses_pickles_and_decodes_them_when_allowed():
    arr = np.array([{'x': 1}, None], dtype=object)
    data = packb({'key': 'o', 'arr': arr, 'image': b'z' * 5000})
    with pytest.raises(UnsafeDataError):
        unpack_map_zero_copy(data, memoryview(data), 0, len(data))
    out = unpack_map_zero_copy(data, memoryview(data), 0, len(data), allow_pickle=True)
    assert out['arr'][0] == {'x': 1}
