"""
datadings_like.arrays: compressed N-d image arrays as sample fields.

Indexing is checked against numpy with random arrays and random index
expressions (lossless, so results must be equal), including which slices
get decoded; lossy arrays against the error bound the manual states; field
values through a dataset and back; damaged and hostile values; arrays
split across the samples of a dataset.
"""
import io
import math
import pickle
import struct
import threading
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from PIL import Image

from datadings_like import arrays
from datadings_like.arrays import DatasetArray
from datadings_like.arrays import ImageArray
from datadings_like.arrays import ImageArrayError
from datadings_like.errors import DatasetError
from datadings_like.msgpack import DecodeError
from datadings_like.msgpack import packb
from datadings_like.msgpack import unpackb
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter
from datadings_like.writer import RawWriter

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


def natural_image(h=256, w=256, channels=0, seed=0):
    """
    A natural-looking test image: smooth shading and blobs, a few objects
    with sharp edges, sensor noise (sigma 2.5). The manual's JPEG error
    figures are measured on it.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(max(channels, 1)):
        img = 110 + 50 * np.sin(x / rng.uniform(20, 50) + c) * np.cos(y / rng.uniform(20, 50))
        for _ in range(12):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r, amp = rng.uniform(4, 40), rng.uniform(-60, 60)
            img += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        planes.append(img)
    for _ in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 30)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        for img in planes:
            img[inside] += rng.uniform(-50, 50)
    img = np.stack(planes, axis=-1) if channels else planes[0]
    img += rng.normal(0, 2.5, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def random_array(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, 'PNG')
    return buffer.getvalue()


def jpeg(array, quality=90):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, 'JPEG', quality=quality)
    return buffer.getvalue()


# ------------------------------------------------------ random index keys

@st.composite
def array_shapes(draw):
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    shape = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
    if dtype == np.uint8 and draw(st.booleans()):
        shape.append(3)  # stored as RGB images
    shape += draw(st.lists(st.integers(0, 4), max_size=3))
    return tuple(shape), dtype


@st.composite
def axis_index(draw, shape):
    """
    One key component for the leading axes of shape: returns (component,
    number of axes it indexes). Sometimes out of bounds.
    """
    n = shape[0]
    kind = draw(st.sampled_from(['int', 'slice', 'list', 'array', 'array2d', 'zero_d',
                                 'bool', 'full']))
    if kind in ('int', 'zero_d'):
        if n and draw(st.integers(0, 9)):
            i = draw(st.integers(-n, n - 1))
        else:
            i = draw(st.sampled_from([n, -n - 1]))  # out of bounds
        return (np.array(i) if kind == 'zero_d' else i), 1
    if kind == 'slice':
        bound = st.none() | st.integers(-n - 2, n + 2)
        step = st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3])
        return slice(draw(bound), draw(bound), draw(step)), 1
    if kind in ('list', 'array', 'array2d'):
        items = draw(st.lists(st.integers(-n, n - 1), max_size=3)) if n else []
        if kind == 'list':
            return items, 1
        dtype = draw(st.sampled_from([np.intp, np.int16, np.uint8])) if min(items, default=0) >= 0 \
            else np.intp
        arr = np.array(items, dtype=dtype)
        if kind == 'array2d':
            arr = arr.reshape((1, -1) if draw(st.booleans()) else (-1, 1))
        return arr, 1
    if kind == 'bool':
        count = draw(st.integers(1, min(2, len(shape))))
        sub = shape[:count]
        mask = draw(st.lists(st.booleans(), min_size=math.prod(sub), max_size=math.prod(sub)))
        return np.array(mask, dtype=bool).reshape(sub), count
    return slice(None), 1


@st.composite
def index_keys(draw, shape):
    """A random numpy index expression for shape (valid or not)."""
    ndim = len(shape)
    prefix = draw(st.integers(0, ndim))
    use_ellipsis = draw(st.booleans())
    suffix = draw(st.integers(0, ndim - prefix)) if use_ellipsis else 0

    def components(axes):
        out = []
        i = 0
        while i < len(axes):
            comp, used = draw(axis_index(tuple(shape[a] for a in axes[i:])))
            out.append(comp)
            i += used
            if draw(st.integers(0, 5)) == 0:
                out.append(None)
        return out

    key = components(list(range(prefix)))
    if use_ellipsis:
        key += [Ellipsis] + components(list(range(ndim - suffix, ndim)))
    if draw(st.integers(0, 6)) == 0:
        key.insert(draw(st.integers(0, len(key))), None)
    if len(key) == 1 and draw(st.booleans()):
        return key[0]
    return tuple(key)


@st.composite
def arrays_and_keys(draw):
    shape, dtype = draw(array_shapes())
    seed = draw(st.integers(0, 2 ** 16))
    return random_array(shape, dtype, seed), draw(index_keys(shape))


def slices_touched(a, key):
    """The flat slice numbers numpy reads for key (brute force over a slice-number grid)."""
    spatial = 3 if a.color else 2
    grid = a.shape[spatial:]
    numbers = np.arange(math.prod(grid)).reshape((1,) * spatial + grid)
    return set(np.unique(np.broadcast_to(numbers, a.shape)[key]).tolist())


def check_like_numpy(a, expected_source, key):
    try:
        expected = expected_source[key]
    except IndexError:
        with pytest.raises(IndexError):
            a[key]
        return
    a.clear_cache()
    got = a[key]
    assert type(got) is type(expected)
    assert np.shape(got) == np.shape(expected)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    if isinstance(got, np.ndarray):
        assert got.flags.writeable
    # only the slices the index needs were decoded
    assert a.cache_info().misses == len(slices_touched(a, key))


@settings(max_examples=600, **SETTINGS)
@given(arrays_and_keys())
def test_indexing_matches_numpy(case):
    x, key = case
    a = ImageArray.encode(x, lossless=True)
    check_like_numpy(a, x, key)


@settings(max_examples=80, **SETTINGS)
@given(arrays_and_keys(), st.integers(2, 3))
def test_indexing_with_worker_threads_matches_numpy(case, workers):
    x, key = case
    a = ImageArray.decode(ImageArray.encode(x, lossless=True).to_value(), workers=workers)
    check_like_numpy(a, x, key)


@pytest.mark.parametrize('key, touched', [
    ((Ellipsis, 2, 3), 1),
    ((Ellipsis, 3), 6),
    ((5, 5, [1, 2], 0), 2),
    ((slice(None), slice(None), [0, 1, 2], [0, 1, 2]), 3),   # a diagonal, not 3 x 3
    ((slice(None), slice(None), slice(None, None, 2), -1), 3),
    ((0, 0), 24),
    ((slice(0, 0),), 0),
])
def test_only_needed_slices_are_decoded(key, touched):
    x = random_array((8, 8, 6, 4), np.uint8)
    a = ImageArray.encode(x, lossless=True)
    np.testing.assert_array_equal(a[key], x[key])
    assert a.cache_info().misses == touched


def test_index_errors_like_numpy():
    a = ImageArray.encode(random_array((4, 5, 2), np.uint8), lossless=True)
    for key in [(4,), (0, -6), (..., ...), (0, 0, 0, 0), ([0, 9],), ([[0, 1]], [0, 1, 2]),
                (True,), (np.array(False),), (0.5,), ('a',), ([slice(1)],),
                (np.zeros((4, 4), bool),)]:
        with pytest.raises(IndexError):
            a[key]
    with pytest.raises(ValueError):
        a[::0]


# ---------------------------------------------------------- round trips

@pytest.mark.parametrize('shape, dtype', [
    ((7, 9), np.uint8), ((7, 9, 3), np.uint8), ((7, 9, 3, 4), np.uint8),
    ((7, 9, 2, 3), np.uint8), ((7, 9), np.uint16), ((7, 9, 3, 2), np.uint16),
    ((7, 9, 0, 2), np.uint8), ((1, 1, 1), np.uint16),
])
def test_lossless_round_trips_exactly(shape, dtype):
    x = random_array(shape, dtype, seed=3)
    a = ImageArray.encode(x, lossless=True)
    assert a.shape == shape and a.dtype == dtype and a.ndim == len(shape)
    assert a.size == x.size and a.nbytes == x.nbytes and len(a) == shape[0]
    assert a.lossless and a.quality is None
    back = np.asarray(a)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, x)
    np.testing.assert_array_equal(np.array(a, dtype=np.float32), x.astype(np.float32))
    np.testing.assert_array_equal(np.stack(list(a)), x)  # iteration along axis 0
    again = ImageArray.decode(unpackb(packb(a.to_value())))
    np.testing.assert_array_equal(np.asarray(again), x)


def test_extremes_and_byte_order_round_trip():
    x = np.array([[0, 65535], [1, 65534]], dtype='>u2')
    a = ImageArray.encode(x, lossless=True)
    assert a.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(a), x)
    y = np.array([[0, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(ImageArray.encode(y, lossless=True)), y)


@pytest.mark.parametrize('channels, mae, psnr', [(0, 2.0, 40.0), (3, 2.5, 38.0)])
@pytest.mark.parametrize('seed', range(3))
def test_lossy_error_stays_within_the_stated_bound(channels, mae, psnr, seed):
    """The manual: at quality 90, mean absolute error <= 2.0 (grey) / 2.5 (RGB)
    and PSNR >= 40 dB / 38 dB on this natural-looking test image."""
    x = natural_image(channels=channels, seed=seed)
    a = ImageArray.encode(x, quality=90)
    assert not a.lossless and a.quality == 90 and a.color == bool(channels)
    diff = np.asarray(a).astype(np.float64) - x
    assert np.abs(diff).mean() <= mae
    assert 10 * np.log10(255 ** 2 / np.mean(diff ** 2)) >= psnr
    assert a.encoded_nbytes < x.nbytes / 4


def test_lower_quality_is_smaller_and_worse():
    x = natural_image(128, 128)
    low, high = ImageArray.encode(x, quality=30), ImageArray.encode(x, quality=95)
    assert low.encoded_nbytes < high.encoded_nbytes
    err = [np.abs(np.asarray(a).astype(int) - x).mean() for a in (low, high)]
    assert err[0] > err[1]


def test_color_axis_is_packed_into_rgb_images():
    x = natural_image(64, 64, channels=3)
    stack = np.stack([x, x[::-1]], axis=-1)  # (64, 64, 3, 2)
    a = ImageArray.encode(stack, quality=90)
    assert a.color and a.num_slices == 2 and a.slice_shape == (64, 64, 3)
    grey = ImageArray.encode(stack, quality=90, color=False)
    assert not grey.color and grey.num_slices == 6 and grey.slice_shape == (64, 64)
    assert np.abs(np.asarray(grey).astype(int) - stack).mean() < 3
    sixteen = ImageArray.encode(stack.astype(np.uint16) * 257, lossless=True)
    assert not sixteen.color and sixteen.num_slices == 6


def test_value_is_a_sample_field(tmp_path):
    x = random_array((6, 5, 3, 2), np.uint8)
    a = ImageArray.encode(x, lossless=True, dim_names=('y', 'x', 'c', 't'),
                          metadata={'um_per_px': 0.25, 'tags': ['a', 'b'], 'n': np.int64(3)})
    path = tmp_path / 'd.msgpack'
    with FileWriter(path, disable=True) as writer:
        writer.write({'key': 'a', 'stack': a.to_value(), 'label': 1})
    with MsgpackReader(path) as reader:
        sample = reader[0]
        raw = reader.get(0, raw=True)
    value = sample['stack']
    assert set(value) == {'imagearray', 'shape', 'dtype', 'codec', 'quality', 'color',
                          'dim_names', 'metadata', 'slices'}
    assert all(type(s) is bytes for s in value['slices'])
    back = ImageArray.decode(value)
    np.testing.assert_array_equal(back[:, :, 1], x[:, :, 1])
    assert back.dim_names == ('y', 'x', 'c', 't')
    assert back.metadata == {'um_per_px': 0.25, 'tags': ['a', 'b'], 'n': 3}
    # the value holds no pickled or numpy-encoded data: plain msgpack decodes it
    import msgpack
    plain = msgpack.unpackb(raw, raw=False)
    assert plain['stack']['shape'] == [6, 5, 3, 2]


def test_immutable_and_results_are_independent():
    x = random_array((4, 4, 2), np.uint8)
    a = ImageArray.encode(x, lossless=True, metadata={'k': [1]})
    for name in ('shape', '_data', 'new'):
        with pytest.raises(AttributeError):
            setattr(a, name, 1)
    with pytest.raises(AttributeError):
        del a.shape
    meta = a.metadata
    meta['k'].append(2)
    assert a.metadata == {'k': [1]}
    r = a[:, :, 0]
    r[:] = 0
    np.testing.assert_array_equal(a[:, :, 0], x[:, :, 0])
    with pytest.raises(TypeError):
        ImageArray(x)


@pytest.mark.parametrize('channels, dtype', [(0, np.uint8), (3, np.uint8), (0, np.uint16)])
def test_threaded_png_encoding_is_exact(channels, dtype):
    """Worker threads encode through a scratch file (Pillow then runs without
    the GIL): the same bytes as in memory, read back exactly."""
    x = natural_image(64, 48, channels=channels, seed=4).astype(dtype)
    if dtype == np.uint16:
        x = x * 257 + random_array(x.shape, np.uint8).astype(np.uint16)
    data = arrays._encode_image(x, 'png', None, threaded=True)
    assert data == arrays._encode_image(x, 'png', None, threaded=False)
    with Image.open(io.BytesIO(data)) as image:
        back = np.asarray(image)
    np.testing.assert_array_equal(back.astype(dtype), x)


def test_threaded_jpeg_encoding_gives_the_same_bytes():
    x = natural_image(40, 30, channels=3)
    assert arrays._encode_image(x, 'jpeg', 85, True) == arrays._encode_image(x, 'jpeg', 85, False)
    assert arrays._encode_image(x[..., 0], 'jpeg', 85, True) == jpeg(x[..., 0], 85)


def test_workers_encode_the_same_bytes():
    x = natural_image(32, 32)
    stack = np.stack([np.roll(x, i, axis=1) for i in range(12)], axis=-1)
    one = ImageArray.encode(stack, quality=80, workers=1).to_value()
    four = ImageArray.encode(stack, quality=80, workers=4).to_value()
    assert one == four


def test_parallel_encode_runs_in_threads(monkeypatch):
    seen = set()
    real = arrays._encode_image

    def spy(*args):
        seen.add(threading.get_ident())
        time.sleep(0.01)
        return real(*args)

    monkeypatch.setattr(arrays, '_encode_image', spy)
    ImageArray.encode(random_array((8, 8, 16), np.uint8), workers=4)
    assert len(seen) > 1


def test_pickle_round_trip():
    x = random_array((5, 4, 3), np.uint16)
    a = ImageArray.encode(x, lossless=True, dim_names=('a', 'b', 'c'), cache_bytes=1000)
    b = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(np.asarray(b), x)
    assert b.dim_names == a.dim_names and b.cache_info().limit == 1000


def test_repr_and_properties():
    a = ImageArray.encode(random_array((4, 6, 5), np.uint8), quality=70)
    assert repr(a).startswith('ImageArray(shape=(4, 6, 5), dtype=uint8, JPEG quality 70, 5 slices')
    assert a.encoded_nbytes == sum(map(len, a.to_value()['slices']))
    assert a.dim_names is None and a.metadata == {}


@pytest.mark.parametrize('kwargs, array, error', [
    ({}, np.zeros((4, 4), np.float32), TypeError),
    ({}, np.zeros((4, 4), np.int16), TypeError),
    ({}, np.zeros((4, 4), bool), TypeError),
    ({}, np.zeros((4, 4), np.uint16), ValueError),          # 16 bit needs lossless
    ({}, np.zeros(4, np.uint8), ValueError),
    ({}, np.zeros((0, 4), np.uint8), ValueError),
    ({'quality': 0}, np.zeros((4, 4), np.uint8), ValueError),
    ({'quality': 101}, np.zeros((4, 4), np.uint8), ValueError),
    ({'quality': 9.5}, np.zeros((4, 4), np.uint8), ValueError),
    ({'color': True}, np.zeros((4, 4, 2), np.uint8), ValueError),
    ({'color': True, 'lossless': True}, np.zeros((4, 4, 3), np.uint16), ValueError),
    ({'dim_names': ('a',)}, np.zeros((4, 4), np.uint8), ValueError),
    ({'dim_names': 'ab'}, np.zeros((4, 4), np.uint8), ValueError),
    ({'metadata': [1]}, np.zeros((4, 4), np.uint8), TypeError),
    ({'metadata': {'f': object()}}, np.zeros((4, 4), np.uint8), TypeError),
    ({'workers': 0}, np.zeros((4, 4), np.uint8), ValueError),
    ({'cache_bytes': -1}, np.zeros((4, 4), np.uint8), ValueError),
])
def test_encode_rejects_what_it_cannot_store(kwargs, array, error):
    with pytest.raises(error):
        ImageArray.encode(array, **kwargs)


# ----------------------------------------------------------------- cache

def test_cache_holds_at_most_its_byte_limit():
    x = random_array((10, 10, 6), np.uint8)  # 100-byte slices
    a = ImageArray.decode(ImageArray.encode(x, lossless=True).to_value(), cache_bytes=250)
    a[:, :, 0], a[:, :, 1], a[:, :, 2]
    info = a.cache_info()
    assert (info.entries, info.nbytes, info.misses, info.limit) == (2, 200, 3, 250)
    a[:, :, 2]                       # most recent: a hit
    assert a.cache_info().hits == 1
    a[:, :, 0]                       # evicted (least recently used): decoded again
    assert a.cache_info().misses == 4
    a[:, :, 2]                       # still there
    assert a.cache_info().hits == 2
    a[:, :, 1]
    assert a.cache_info().misses == 5
    a.clear_cache()
    assert a.cache_info() == (0, 0, 0, 0, 250)


def test_cache_disabled_and_slices_larger_than_the_limit():
    x = random_array((10, 10, 3), np.uint8)
    for limit in (0, 99):
        a = ImageArray.decode(ImageArray.encode(x, lossless=True, color=False).to_value(),
                              cache_bytes=limit)
        a[0, 0, 0]
        a[0, 0, 0]
        info = a.cache_info()
        assert info.misses == 2 and info.entries == 0 and info.nbytes == 0


def test_cached_slices_are_read_only_and_not_returned():
    a = ImageArray.encode(random_array((3, 3, 2), np.uint8), lossless=True)
    first = a[:, :, 0]
    cached = a._slice(0)
    assert not cached.flags.writeable
    assert not np.shares_memory(first, cached)


# ----------------------------------------------------- hostile values

def good_value(dtype=np.uint8, lossless=True, shape=(4, 5, 3)):
    return ImageArray.encode(random_array(shape, dtype), lossless=lossless,
                             color=False).to_value()


def mutated(**changes):
    value = good_value()
    value.update(changes)
    return value


@pytest.mark.parametrize('value', [
    None, [1, 2], b'bytes', {'shape': [1, 1]},
    mutated(imagearray=2), mutated(imagearray=True), mutated(imagearray='1'),
    {k: v for k, v in good_value().items() if k != 'slices'},
    mutated(shape=[4, 5]), mutated(shape=[4, 5, 4]), mutated(shape=[4, 5, -3]),
    mutated(shape=[4, 5, True, 3]), mutated(shape=[4.0, 5, 3]), mutated(shape='4,5,3'),
    mutated(shape=[4]), mutated(shape=[0, 5, 3]), mutated(shape=[4, 5] + [1] * 40),
    mutated(shape=[4, 5, 3, 10 ** 30]), mutated(shape=[4, 5, 2 ** 64]),
    mutated(dtype='float64'), mutated(dtype='object'), mutated(dtype=b'uint8'),
    mutated(dtype='|O'), mutated(codec='gif'), mutated(codec=None),
    mutated(quality=90), mutated(codec='jpeg', quality=None),
    mutated(codec='jpeg', quality=101), mutated(codec='jpeg', dtype='uint16'),
    mutated(color=1), mutated(color=True), mutated(dim_names=['a']),
    mutated(dim_names='abc'), mutated(dim_names=[1, 2, 3]), mutated(metadata=[]),
    mutated(slices=b'abc'), mutated(slices=None), mutated(slices=[]),
    mutated(slices=good_value()['slices'] * 2), mutated(slices=[1, 2, 3]),
    mutated(slices=[b'GIF89a' + b'\0' * 100] * 3),
    mutated(slices=[jpeg(np.zeros((4, 5), np.uint8))] * 3),   # not PNG as it says
])
def test_malformed_values_raise_the_documented_error(value):
    with pytest.raises(ImageArrayError) as info:
        ImageArray.decode(value)
    assert isinstance(info.value, DecodeError) and isinstance(info.value, ValueError)


def test_absurd_sizes_are_refused_before_anything_is_allocated():
    tiny = png(np.zeros((1, 1), np.uint8))
    hostile = [
        mutated(shape=[2 ** 20, 2 ** 20, 3]),          # 1 TiB of pixels in 3 tiny PNGs
        mutated(shape=[65536, 65536, 1], slices=[tiny]),
        mutated(shape=[4, 5, 2 ** 40], slices=[tiny]),
    ]
    tracemalloc.start()
    try:
        for value in hostile:
            with pytest.raises(ImageArrayError):
                ImageArray.decode(value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def crafted_png(width, height, payload=b'\0' * 16):
    """A PNG whose header declares width x height grey pixels, with little data."""
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', header)
            + png_chunk(b'IDAT', zlib.compress(payload)) + png_chunk(b'IEND', b''))


def test_decompression_bomb_in_a_slice_is_refused():
    bomb = crafted_png(50000, 50000)  # 2.5 GB of pixels in about 70 bytes
    value = mutated(shape=[50000, 50000, 1], slices=[bomb])
    tracemalloc.start()
    try:
        with pytest.raises(ImageArrayError, match='decompression bomb'):
            ImageArray.decode(value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_slices_that_compress_as_well_as_png_can_are_accepted():
    x = np.zeros((1500, 1500), np.uint8)  # deflate's best ratio, about 1000:1
    a = ImageArray.encode(x, lossless=True)
    assert a.encoded_nbytes * 900 < x.nbytes
    np.testing.assert_array_equal(np.asarray(ImageArray.decode(a.to_value())), x)


def test_slice_header_that_lies_about_its_size_is_refused_before_decoding():
    value = good_value()
    value['slices'][2] = crafted_png(5, 3000, payload=b'\0' * 4000)  # plausible size
    value['shape'] = [3000, 5, 3]
    value['slices'][:2] = [png(np.zeros((3000, 5), np.uint8))] * 2
    a = ImageArray.decode(value)
    np.testing.assert_array_equal(a[:, :, 0], np.zeros((3000, 5), np.uint8))
    with pytest.raises(ImageArrayError, match='slice 2 does not decode'):
        a[:, :, 2]   # the stream is too short for the pixels it declares


@pytest.mark.parametrize('make_slice, dtype, lossless, match', [
    (lambda: png(np.zeros((5, 4), np.uint8)), np.uint8, True, 'size'),        # transposed
    (lambda: png(np.zeros((4, 5, 3), np.uint8)), np.uint8, True, 'mode'),     # RGB for grey
    (lambda: png(np.zeros((4, 5), np.uint16)), np.uint8, True, 'mode'),       # 16 bit for 8
    (lambda: png(np.zeros((4, 5), np.uint8)), np.uint16, True, 'mode'),       # 8 bit for 16
    (lambda: png(np.zeros((4, 5), bool)), np.uint8, True, 'mode'),            # 1 bit
    (lambda: png(random_array((4, 5), np.uint8))[:50], np.uint8, True, 'truncated'),
    (lambda: png(random_array((4, 5), np.uint8))[:20], np.uint8, True, 'decode'),
    (lambda: jpeg(np.zeros((4, 5, 3), np.uint8)), np.uint8, False, 'mode'),
    (lambda: jpeg(np.zeros((4, 5), np.uint8))[:-40] + b'\0' * 40, np.uint8, False, 'slice 1'),
    (lambda: b'\xff\xd8\xff' + bytes(range(256)) * 4, np.uint8, False, 'readable'),
])
def test_damaged_slices_raise_when_decoded(make_slice, dtype, lossless, match):
    value = good_value(dtype, lossless)
    value['slices'][1] = make_slice()
    a = ImageArray.decode(value)  # the header is checked when the slice is decoded
    np.testing.assert_array_equal(a[:, :, 0].shape, (4, 5))
    with pytest.raises(ImageArrayError, match=match):
        a[:, :, 1]
    with pytest.raises(ImageArrayError):
        np.asarray(a)


def test_hostile_values_read_through_a_dataset(tmp_path):
    """What a crafted dataset gives the reader is refused by decode, as above."""
    path = tmp_path / 'h.msgpack'
    value = mutated(shape=[1 << 30, 1 << 30, 3])
    with RawWriter(path, disable=True) as writer:
        writer.write('x', packb({'key': 'x', 'v': value}))
    with MsgpackReader(path) as reader:
        with pytest.raises(ImageArrayError):
            ImageArray.decode(reader[0]['v'])


# ------------------------------------------------------ arrays in datasets

def test_write_and_open_a_dataset(tmp_path):
    x = random_array((6, 5, 7, 2), np.uint8, seed=5)
    path = arrays.write(tmp_path / 'big.msgpack', x, step=3, lossless=True,
                        dim_names=('y', 'x', 't', 'z'), metadata={'who': 'me'}, progress=False)
    assert path == tmp_path / 'big.msgpack'
    with MsgpackReader(path) as reader:
        samples = list(reader)
    assert [s['key'] for s in samples] == ['00000000', '00000001', '00000002']
    assert [(s['start'], s['stop']) for s in samples] == [(0, 3), (3, 6), (6, 7)]
    assert all(s['axis'] == 2 and s['parts'] == 3 and s['shape'] == [6, 5, 7, 2]
               for s in samples)
    np.testing.assert_array_equal(np.asarray(ImageArray.decode(samples[1]['array'])),
                                  x[:, :, 3:6])
    with arrays.open(path) as d:
        assert isinstance(d, DatasetArray)
        assert (d.shape, d.dtype, d.ndim, d.size, len(d)) == (x.shape, x.dtype, 4, x.size, 6)
        assert d.dim_names == ('y', 'x', 't', 'z') and d.metadata == {'who': 'me'}
        assert d.parts == 3 and d.axis == 2 and d.lossless and d.path == path
        np.testing.assert_array_equal(np.asarray(d), x)
        np.testing.assert_array_equal(d[:, :, 4, 1], x[:, :, 4, 1])
        np.testing.assert_array_equal(d.part(2)[...], x[:, :, 6:])
        with pytest.raises(IndexError):
            d.part(3)
        assert repr(d).startswith('DatasetArray(')


@settings(max_examples=120, **SETTINGS)
@given(st.data())
def test_dataset_indexing_matches_numpy(tmp_path_factory, data):
    shape, dtype = data.draw(array_shapes())
    x = random_array(shape, dtype, data.draw(st.integers(0, 100)))
    spatial = 3 if len(shape) > 2 and shape[2] == 3 and dtype == np.uint8 else 2
    axis = data.draw(st.none() | st.sampled_from(range(spatial, len(shape)))
                     if len(shape) > spatial else st.none())
    step = data.draw(st.integers(1, 3))
    path = tmp_path_factory.mktemp('ds') / 'a.msgpack'
    arrays.write(path, x, axis=axis, step=step, lossless=True, progress=False)
    with arrays.open(path, workers=data.draw(st.sampled_from([1, 2]))) as d:
        assert d.shape == x.shape
        check_like_numpy(d, x, data.draw(index_keys(shape)))


def test_dataset_lossy_and_colour(tmp_path):
    x = np.stack([natural_image(48, 40, channels=3, seed=s) for s in range(5)], axis=-1)
    arrays.write(tmp_path / 'c.msgpack', x, quality=90, workers=2, progress=False)
    with arrays.open(tmp_path / 'c.msgpack') as d:
        assert d.color and d.parts == 5 and d.quality == 90 and not d.lossless
        assert np.abs(np.asarray(d).astype(int) - x).mean() < 5
        single = ImageArray.encode(x, quality=90)
        np.testing.assert_array_equal(d[..., 2], single[..., 2])


@pytest.mark.parametrize('shape, axis', [((5, 4), None), ((5, 4, 3), None), ((5, 4, 0), 2)])
def test_dataset_of_one_part(tmp_path, shape, axis):
    x = random_array(shape, np.uint8)
    arrays.write(tmp_path / 'one.msgpack', x, lossless=True, progress=False)
    with arrays.open(tmp_path / 'one.msgpack') as d:
        assert d.parts == 1 and d.axis == axis and d.shape == shape
        np.testing.assert_array_equal(np.asarray(d), x)


def test_write_rejects_bad_arguments(tmp_path):
    x = random_array((4, 4, 3, 2), np.uint8)
    for kwargs, error in [({'axis': 1}, ValueError), ({'axis': 2}, ValueError),
                          ({'axis': 4}, ValueError), ({'axis': 1.0}, ValueError),
                          ({'step': 0}, ValueError), ({'quality': 0}, ValueError),
                          ({'workers': 0}, ValueError)]:
        with pytest.raises(error):
            arrays.write(tmp_path / 'x.msgpack', x, progress=False, **kwargs)
    with pytest.raises(TypeError):
        arrays.write(tmp_path / 'x.msgpack', x.astype(float), progress=False)
    assert not list(tmp_path.iterdir())  # nothing left behind
    arrays.write(tmp_path / 'x.msgpack', x, axis=-1, progress=False)  # the last axis is fine
    with pytest.raises(FileExistsError):
        arrays.write(tmp_path / 'x.msgpack', x, progress=False)
    arrays.write(tmp_path / 'x.msgpack', x[..., :1], overwrite=True, progress=False)
    with arrays.open(tmp_path / 'x.msgpack') as d:
        assert d.shape == (4, 4, 3, 1)


def test_write_shows_progress(tmp_path, capsys):
    arrays.write(tmp_path / 'p.msgpack', random_array((4, 4, 5), np.uint8), lossless=True)
    assert '5 samples written to' in capsys.readouterr().err


def _write_parts(path, samples):
    with FileWriter(path, disable=True) as writer:
        for s in samples:
            writer.write(s)


def _parts(tmp_path):
    x = random_array((4, 4, 6), np.uint8)
    path = arrays.write(tmp_path / 'src.msgpack', x, step=2, lossless=True, progress=False)
    with MsgpackReader(path) as reader:
        return list(reader)


@pytest.mark.parametrize('damage', [
    lambda s: s.__setitem__(1, {**s[1], 'start': 3}),
    lambda s: s.__setitem__(1, {**s[1], 'part': 5}),
    lambda s: s.__setitem__(1, {**s[1], 'shape': [4, 4, 7]}),
    lambda s: s.__setitem__(2, {**s[2], 'parts': 4}),
    lambda s: s.__setitem__(2, {**s[2], 'array': {**s[2]['array'], 'shape': [4, 4, 3]}}),
    lambda s: s.__setitem__(1, {k: v for k, v in s[1].items() if k != 'axis'}),
    lambda s: s.__setitem__(1, {**s[1], 'array': ImageArray.encode(
        np.zeros((4, 4, 2), np.uint16), lossless=True).to_value()}),          # other dtype
])
def test_damaged_parts_raise_dataset_error_naming_the_file(tmp_path, damage):
    samples = _parts(tmp_path)
    damage(samples)
    path = tmp_path / 'bad.msgpack'
    _write_parts(path, samples)
    with arrays.open(path) as d:
        with pytest.raises(DatasetError, match='bad.msgpack: sample'):
            np.asarray(d)


@pytest.mark.parametrize('damage', [
    lambda s: s[:2],                                         # a part missing
    lambda s: [{**s[0], 'parts': 'x'}] + s[1:],
    lambda s: [{**s[0], 'shape': 'x'}] + s[1:],
    lambda s: [{**s[0], 'axis': 0}] + s[1:],
    lambda s: [{**s[0], 'start': 1}] + s[1:],
    lambda s: [{**s[0], 'stop': None}] + s[1:],
    lambda s: [{**s[0], 'array': {'imagearray': 1}}] + s[1:],
    lambda s: [{'key': 'a', 'image': b'x'}],
    lambda s: [],
])
def test_what_is_not_an_image_array_dataset_is_refused_on_open(tmp_path, damage):
    samples = damage(_parts(tmp_path))
    path = tmp_path / 'bad.msgpack'
    _write_parts(path, samples)
    with pytest.raises(DatasetError, match='bad.msgpack'):
        arrays.open(path)


def test_open_missing_dataset(tmp_path):
    with pytest.raises(FileNotFoundError):
        arrays.open(tmp_path / 'nothing.msgpack')


def test_dataset_array_pickles_and_reads_parts_lazily(tmp_path):
    x = random_array((4, 4, 8), np.uint8)
    path = arrays.write(tmp_path / 'l.msgpack', x, lossless=True, progress=False)
    with arrays.open(path, cache_bytes=0) as d:
        reads = []
        reader = d._reader
        object.__setattr__(d, '_reader', type('R', (), {
            'get': lambda self, i, **kw: reads.append(i) or reader.get(i, **kw),
            'close': lambda self: reader.close()})())
        d[:, :, 5]
        d[0, 0, 5]
        assert reads == [5]  # part 0 was read on open; part 5 once (kept)
        e = pickle.loads(pickle.dumps(d))
        with e:
            np.testing.assert_array_equal(np.asarray(e), x)
