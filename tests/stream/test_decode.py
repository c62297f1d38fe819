"""Decoding of datadings_like.stream: formats, dtypes, draft mode, bombs."""
import io
import math
import pickle

import numpy as np
import pytest
from PIL import Image

from datadings_like.stream import decode as D
from datadings_like.stream import transforms as T


def photo(width, height, seed=0):
    """Smooth colour gradients with a little noise: compresses like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([128 + 100 * np.sin(x / 37 + y / 53), 128 + 100 * np.cos(x / 23),
                      128 + 80 * np.sin(y / 17)], -1) + rng.normal(0, 4, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(image, fmt='PNG', **options):
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(autouse=True)
def clear_stats():
    D.stats.clear()


@pytest.mark.parametrize('fmt', ['PNG', 'BMP', 'TIFF', 'GIF', 'WEBP', 'PPM'])
def test_lossless_formats_decode_exactly(fmt):
    image = photo(40, 30)
    if fmt == 'GIF':
        image = np.asarray(Image.fromarray(image).quantize(64).convert('RGB'))
    options = {'lossless': True} if fmt == 'WEBP' else {}
    array = D.decode(encode(image, fmt, **options))
    assert array.dtype == np.uint8 and array.shape == (30, 40, 3)
    assert np.array_equal(array, image)
    assert array.flags.writeable and array.flags.c_contiguous


def test_jpeg_and_channels():
    image = photo(64, 48)
    data = encode(image, 'JPEG', quality=95)
    rgb = D.decode(data)
    assert rgb.shape == (48, 64, 3)
    assert np.array_equal(rgb, np.asarray(Image.open(io.BytesIO(data)).convert('RGB')))
    gray = D.decode(data, channels=1)
    assert gray.shape == (48, 64) and gray.dtype == np.uint8
    expected = np.asarray(Image.fromarray(rgb).convert('L')).astype(int)
    assert np.abs(gray.astype(int) - expected).mean() < 2
    rgba = D.decode(data, channels=4)
    assert rgba.shape == (48, 64, 4) and (rgba[..., 3] == 255).all()
    # a grey JPEG made RGB
    grey_data = encode(Image.fromarray(image).convert('L'), 'JPEG')
    assert D.decode(grey_data).shape == (48, 64, 3)
    assert D.decode(grey_data, channels='keep').shape == (48, 64)
    cmyk = encode(Image.fromarray(image).convert('CMYK'), 'JPEG', quality=95)
    assert D.decode(cmyk).shape == (48, 64, 3)
    assert D.decode(cmyk, channels='keep').shape == (48, 64, 4)


def test_label_maps_keep_their_values():
    values = (np.arange(30 * 40).reshape(30, 40) * 50 % 65536).astype(np.uint16)
    sixteen = encode(Image.fromarray(values))
    kept = D.decode(sixteen, channels='keep')
    assert kept.dtype == np.uint16 and np.array_equal(kept, values)
    assert D.decode(sixteen).dtype == np.uint8  # 3 channels: top 8 bits
    assert np.array_equal(D.decode(sixteen, channels=1), (values >> 8).astype(np.uint8))
    indices = (np.arange(30 * 40).reshape(30, 40) % 7).astype(np.uint8)
    palette = Image.fromarray(indices).convert('P')
    palette.putpalette(list(range(0, 255, 12)) * 3)
    assert np.array_equal(D.decode(encode(palette), channels='keep'), indices)
    assert D.decode(encode(palette)).shape == (30, 40, 3)
    bilevel = Image.fromarray(indices > 3).convert('1')
    ones = D.decode(encode(bilevel), channels='keep')
    assert ones.dtype == np.uint8 and np.array_equal(ones, (indices > 3).astype(np.uint8))
    rgba = np.dstack([photo(40, 30), np.full((30, 40), 9, np.uint8)])
    assert np.array_equal(D.decode(encode(rgba), channels='keep'), rgba)
    assert np.array_equal(D.decode(encode(rgba)), rgba[..., :3])


def test_image_to_array_dtypes():
    big_endian = Image.frombytes('I;16B', (3, 2), np.arange(6, dtype='>u2').tobytes())
    array = D.image_to_array(big_endian)
    assert array.dtype == np.dtype('uint16') and array.dtype.isnative
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]
    floats = D.image_to_array(Image.fromarray(np.full((2, 2), 0.5, np.float32)))
    assert floats.dtype == np.float32 and floats.flags.writeable
    ints = D.image_to_array(Image.fromarray(np.full((2, 2), -5, np.int32)))
    assert ints.dtype == np.int32 and ints[0, 0] == -5


def test_draft_scale():
    assert D.draft_scale((500, 375), 1.9) == 1
    assert D.draft_scale((500, 375), 2.0) == 2
    assert D.draft_scale((500, 375), 7.99) == 4
    assert D.draft_scale((500, 375), 100) == 8
    assert D.draft_scale((6, 500), 100) == 4  # at least one pixel left


def test_jpeg_is_decoded_at_a_reduced_scale():
    data = encode(photo(1600, 1200), 'JPEG', quality=90)
    encoded = D.EncodedImage(data)
    assert (encoded.size, encoded.mode, encoded.format) == ((1600, 1200), 'RGB', 'JPEG')
    for scale in (1, 2, 4, 8):
        image, actual = D.EncodedImage(data).decode(3, scale)
        assert actual == scale and image.size == (1600 // scale, 1200 // scale)
    assert D.stats['draft'] == 3 and D.stats['images'] == 4
    # the convenience function: at least the size asked for
    assert D.decode(data, size=(300, 200)).shape == (300, 400, 3)
    assert D.decode(data, size=(201, 150)).shape == (300, 400, 3)
    assert D.decode(data, size=(200, 150)).shape == (150, 200, 3)
    # formats without DCT scaling are decoded at full size
    png = encode(photo(160, 120))
    image, actual = D.EncodedImage(png).decode(3, 8)
    assert actual == 1 and image.size == (160, 120)


def test_pipeline_uses_draft_when_the_output_is_small():
    data = encode(photo(500, 375), 'JPEG', quality=90)
    sample = {'key': 'k', 'image': data}
    out = T.Pipeline([T.Decode(), T.Resize(60)])(sample)
    assert out['image'].shape == (60, 80, 3)
    # 375 / 60 = 6.25 stored pixels per output pixel: decoded at 1/4
    assert D.stats['draft'] == 1 and D.stats['pixels'] == 125 * 94
    D.stats.clear()
    # 500x375 to 224: no reduction leaves enough pixels (375 / 224 < 2)
    T.Pipeline([T.Decode(), T.RandomResizedCrop(224), T.Flip(horizontal=True)])(sample, 0)
    assert D.stats['draft'] == 0 and D.stats['pixels'] == 500 * 375
    D.stats.clear()
    T.Pipeline([T.Decode(draft=False), T.Resize(60)])(sample)
    assert D.stats['draft'] == 0 and D.stats['pixels'] == 500 * 375


def test_random_resized_crop_chooses_the_box_before_decoding():
    width, height, size = 800, 600, 100
    data = encode(photo(width, height, seed=3), 'JPEG', quality=90)
    crop = T.RandomResizedCrop(size)
    pipeline = T.Pipeline([T.Decode(), crop, T.Flip(horizontal=True)])
    reduced = 0
    for seed in range(40):
        D.stats.clear()
        pipeline({'key': 'k', 'image': data}, np.random.default_rng(seed))
        _, _, w, h = crop.crop_box((width, height), np.random.default_rng(seed))
        scale = D.draft_scale((width, height), min(w / size, h / size))
        assert D.stats['pixels'] == math.ceil(width / scale) * math.ceil(height / scale), seed
        assert w / scale >= size and h / scale >= size
        reduced += scale > 1
    assert reduced > 20


@pytest.mark.parametrize('steps', [
    [T.Resize(100)],
    [T.RandomResizedCrop(64)],
    [T.Rotate((20, 20)), T.Resize((90, 120))],
    [T.CenterCrop(400), T.Resize(50), T.Flip(transpose=True, p=1)],
], ids=['resize', 'crop', 'rotate', 'crop-resize-transpose'])
def test_draft_gives_nearly_the_full_decode(steps):
    data = encode(photo(800, 600, seed=1), 'JPEG', quality=90)
    rng = np.random.default_rng
    fast = T.Pipeline([T.Decode()] + steps)({'image': data}, rng(4))['image']
    assert D.stats['draft'] == 1
    full = T.Pipeline([T.Decode(draft=False)] + steps)({'image': data}, rng(4))['image']
    assert fast.shape == full.shape
    assert np.abs(fast.astype(int) - full).mean() < 2.5


def test_gray_jpeg_in_draft_mode():
    data = encode(photo(800, 600), 'JPEG', quality=90)
    out = T.Pipeline([T.Decode(channels=1), T.Resize(100)])({'image': data})['image']
    assert out.shape == (100, 133) and D.stats['draft'] == 1


def test_decompression_bombs_are_refused(monkeypatch):
    data = encode(photo(100, 100))
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 1000)
    with pytest.raises(D.ImageError, match='decompression bomb'):
        D.EncodedImage(data)
    with pytest.raises(T.TransformError, match="Decode: field 'image' of sample 'bomb': "
                                               "cannot decode the image: .*decompression bomb"):
        T.Pipeline([T.Decode()])({'key': 'bomb', 'image': data})
    # annotations too, and nothing was decoded
    with pytest.raises(T.TransformError, match="Resize: field 'label' of sample 'bomb': .*bomb"):
        T.Pipeline([T.Resize(3)], annotate=['label'])(
            {'key': 'bomb', 'image': np.zeros((100, 100), np.uint8), 'label': data})
    assert D.stats['images'] == 0


def test_damaged_data():
    with pytest.raises(D.ImageError, match='not an image'):
        D.EncodedImage(b'\x00' * 100)
    data = encode(photo(200, 100), 'JPEG')
    encoded = D.EncodedImage(data[:len(data) // 2])
    with pytest.raises(D.ImageError, match='cannot decode image'):
        encoded.decode()
    with pytest.raises(ValueError, match='scale must be one of'):
        D.EncodedImage(data).decode(3, 3)
    with pytest.raises(ValueError, match='channels must be one of'):
        D.EncodedImage(data).decode(2)


def test_encoded_image_pickles_and_decodes_again():
    data = encode(photo(50, 40))
    encoded = D.EncodedImage(memoryview(data))
    copy = pickle.loads(pickle.dumps(encoded))
    assert copy.size == (50, 40) and copy.data == data
    assert np.array_equal(D.image_to_array(copy.decode(3)[0]), photo(50, 40))
    # decoding twice works (the file is opened again)
    assert encoded.decode(3)[0].size == encoded.decode(3)[0].size == (50, 40)
    assert 'PNG RGB 50x40' in repr(encoded)


def test_orientation():
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(photo(30, 20), 'JPEG', exif=exif)
    assert D.EncodedImage(data).orientation() == 8
    assert D.EncodedImage.orientation_method(8) == 'ROTATE_90'
    assert D.EncodedImage(encode(photo(30, 20), 'JPEG')).orientation() == 1
    assert D.EncodedImage.orientation_method(1) is None
