"""Transforms of datadings_like.stream: geometry in step, colour, config, errors."""
import io
import json
import math
import pickle

import numpy as np
import pytest
from PIL import Image

from datadings_like.stream import transforms as T

W, H = 120, 90
# object 1: a rectangle; object 2: a triangle (asymmetric, so flips and turns show)
RECT = {'type': 'rect', 'label': 1, 'tag': 7,
        'geometry': {'x': 30 / W, 'y': 20 / H, 'width': 48 / W, 'height': 36 / H}}
TRIANGLE = {'type': 'polygon', 'label': 2, 'tag': 9,
            'geometry': {'points': [{'x': 85 / W, 'y': 50 / H}, {'x': 112 / W, 'y': 84 / H},
                                    [84 / W, 80 / H]]}}
SHAPES = {'shapes': [RECT, TRIANGLE], 'comment': 'ignored'}


def encode(array, fmt='PNG', **options):
    out = io.BytesIO()
    Image.fromarray(array).save(out, fmt, **options)
    return out.getvalue()


def make_scene():
    """Image (dark blue background, red rectangle, green triangle) and its label map."""
    label = T.Shapes.parse(SHAPES)
    label.bind((W, H))
    label = label.rasterize()
    y, x = np.mgrid[0:H, 0:W]
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 2] = 60 + y
    image[..., 1] = x // 4
    image[label == 1] = (230, 20, 20)
    image[label == 2] = (20, 230, 20)
    return image, label


IMAGE, LABEL = make_scene()


def colour_class(image):
    r, g = image[..., 0].astype(int), image[..., 1].astype(int)
    return np.where((r > 128) & (g < 100), 1, np.where((g > 128) & (r < 100), 2, 0))


def interior(label):
    """Pixels whose 8 neighbours have the same label (edges excluded)."""
    padded = np.pad(label, 1, mode='edge')
    same = np.ones(label.shape, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            same &= padded[dy:dy + label.shape[0], dx:dx + label.shape[1]] == label
    return same


def sample_for(source):
    if source == 'array':
        return {'key': 'scene', 'image': IMAGE.copy(), 'label': LABEL.copy(), 'shapes': SHAPES}
    fmt, options = ('JPEG', {'quality': 95}) if source == 'jpeg' else ('PNG', {})
    return {'key': 'scene', 'image': encode(IMAGE, fmt, **options), 'label': encode(LABEL),
            'shapes': json.dumps(SHAPES).encode()}


GEOMETRIES = {
    'flip-h': [T.Flip(horizontal=True, p=1)],
    'flip-v': [T.Flip(vertical=True, p=1)],
    'transpose': [T.Flip(transpose=True, p=1)],
    'flip-random': [T.Flip(horizontal=True, vertical=True, transpose=True)],
    'scale-down': [T.Scale(0.5)],
    'scale-up': [T.Scale(1.7)],
    'zoom-out': [T.Scale(0.7, keep_size=True)],
    'zoom-in': [T.Scale(1.3, keep_size=True)],
    'scale-random': [T.Scale((0.6, 1.4))],
    'rotate-30': [T.Rotate((30, 30))],
    'rotate-90': [T.Rotate((90, 90))],
    'rotate-expand': [T.Rotate((-25, -25), expand=True)],
    'rotate-random': [T.Rotate(180)],
    'random-resized-crop': [T.RandomResizedCrop(64)],
    'random-resized-crop-rect': [T.RandomResizedCrop((40, 70), scale=(0.3, 1))],
    'resize-short': [T.Resize(50)],
    'resize-exact': [T.Resize((40, 70))],
    'center-crop': [T.CenterCrop(60)],
    'center-crop-pad': [T.CenterCrop((100, 150))],
    'clip': [T.Clip(16)],
    'clip-pad': [T.Clip(16, pad=True)],
    'clip-random': [T.Clip(32, align='random')],
    'chain': [T.Scale((0.8, 1.2)), T.Rotate(15), T.RandomResizedCrop(72),
              T.Flip(horizontal=True, vertical=True)],
    'chain-colour-between': [T.Rotate(20), T.ColorJitter(brightness=0.1), T.RandomResizedCrop(64),
                             T.Flip(transpose=True), T.Resize((50, 40))],
    'chain-big-downscale-rotate': [T.Rotate((10, 10)), T.Scale(0.2), T.Scale(2.0)],
}


@pytest.mark.parametrize('source', ['array', 'png', 'jpeg'])
@pytest.mark.parametrize('name', sorted(GEOMETRIES))
def test_geometry_keeps_annotations_in_step(name, source):
    pipeline = T.Pipeline([T.Decode('image')] + GEOMETRIES[name] + [T.Rasterize('shapes')],
                          annotate=['label', 'shapes'])
    for seed in range(3):
        out = pipeline(sample_for(source), np.random.default_rng(seed))
        image, label, shapes = out['image'], out['label'], out['shapes']
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert label.shape == image.shape[:2] == shapes.shape
        assert label.dtype == np.uint8
        # nearest-neighbour: no value that is not in the source label map
        assert set(np.unique(label)) <= {0, 1, 2}
        inner = interior(label)
        assert inner.mean() > 0.5
        agree = colour_class(image)[inner] == label[inner]
        assert agree.mean() > 0.99, (name, seed, agree.mean())
        # the vector annotations, drawn at the end, mark the same pixels
        assert (shapes[inner] == label[inner]).mean() > 0.99, (name, seed)


@pytest.mark.parametrize('name', ['flip-random', 'rotate-random', 'chain', 'random-resized-crop'])
def test_results_depend_only_on_the_rng(name):
    pipeline = T.Pipeline([T.Decode()] + GEOMETRIES[name] + [T.ColorJitter(0.3, 0.3, 0.3, 0.1)],
                          annotate=['label'])
    sample = sample_for('png')
    first = pipeline(sample, np.random.default_rng(5))
    again = pipeline(sample, np.random.default_rng(5))
    assert np.array_equal(first['image'], again['image'])
    assert np.array_equal(first['label'], again['label'])
    others = [pipeline(sample, np.random.default_rng(seed))['image'] for seed in range(6, 12)]
    assert any(o.shape != first['image'].shape or not np.array_equal(o, first['image'])
               for o in others)
    # a pickled pipeline (worker processes) gives the same results
    copy = pickle.loads(pickle.dumps(pipeline))
    assert np.array_equal(copy(sample, np.random.default_rng(5))['image'], first['image'])


def test_flips_are_exact():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    label = rng.integers(0, 5, (7, 9), dtype=np.uint8)
    for h in (False, True):
        for v in (False, True):
            for t in (False, True):
                steps = [T.Flip(horizontal=True, p=1)] * h + [T.Flip(vertical=True, p=1)] * v \
                    + [T.Flip(transpose=True, p=1)] * t
                out = T.Pipeline(steps, annotate=['label'])({'image': image, 'label': label}, 0)
                expected_image, expected_label = image, label
                if h:
                    expected_image, expected_label = expected_image[:, ::-1], expected_label[:, ::-1]
                if v:
                    expected_image, expected_label = expected_image[::-1], expected_label[::-1]
                if t:
                    expected_image = expected_image.swapaxes(0, 1)
                    expected_label = expected_label.T
                assert np.array_equal(out['image'], expected_image), (h, v, t)
                assert np.array_equal(out['label'], expected_label), (h, v, t)
                assert out['image'].flags.c_contiguous and out['image'].flags.writeable


@pytest.mark.parametrize('method', sorted(T._D8))
def test_orientation_matrices_match_pillow(method):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)
    raster = T._Raster(image, label=False, orientation=method)
    expected = np.asarray(Image.fromarray(image).transpose(getattr(Image.Transpose, method)))
    assert np.array_equal(T._materialize(raster), expected)
    raster = T._Raster(image[..., 0].copy(), label=True, orientation=method)
    assert np.array_equal(T._materialize(raster), expected[..., 0])


def test_flip_probability():
    flip = T.Flip(horizontal=True, p=0.25)
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    flipped = sum(T.Pipeline([flip])({'image': image}, np.random.default_rng(i))['image'][0, 0] == 2
                  for i in range(2000))
    assert 400 < flipped < 600
    assert not any(T.Pipeline([T.Flip(horizontal=True, p=0)])({'image': image}, i)['image'][0, 0]
                   for i in range(50))


def test_untouched_image_is_decoded_exactly():
    out = T.Pipeline([T.Decode()])({'key': 'k', 'image': encode(IMAGE)})
    assert np.array_equal(out['image'], IMAGE)
    # whole-pixel crops and no-op clips copy pixels without resampling
    out = T.Pipeline([T.Decode(), T.CenterCrop((50, 60)), T.Clip(10)])({'image': encode(IMAGE)})
    assert np.array_equal(out['image'], IMAGE[20:70, 30:90])


def test_composed_geometry_resamples_once():
    # scaling down and up again composes to the identity: not a blurred image
    steps = [T.Decode(), T.Scale(0.5), T.Rotate((90, 90)), T.Scale(2.0), T.Rotate((-90, -90))]
    out = T.Pipeline(steps, annotate=['label'])({'image': encode(IMAGE), 'label': encode(LABEL)})
    assert np.array_equal(out['image'], IMAGE)
    assert np.array_equal(out['label'], LABEL)
    # a colour transform in between computes the pixels: then the rest resamples them again
    steps = [T.Decode(), T.Scale(0.5), T.ColorJitter(brightness=(1, 1.0001)), T.Scale(2.0)]
    blurred = T.Pipeline(steps)({'image': encode(IMAGE)}, 0)['image']
    assert blurred.shape == IMAGE.shape and not np.array_equal(blurred, IMAGE)


def test_resize_and_crop_resample_like_pillow():
    source = Image.fromarray(IMAGE)
    out = T.Pipeline([T.Resize((40, 70))])({'image': IMAGE}, 0)['image']
    assert np.array_equal(out, np.asarray(source.resize((70, 40), Image.Resampling.BILINEAR)))
    out = T.Pipeline([T.Resize(45)])({'image': IMAGE}, 0)['image']
    assert out.shape == (45, 60, 3)
    crop = T.RandomResizedCrop(32)
    x0, y0, w, h = crop.crop_box((W, H), np.random.default_rng(3))
    out = T.Pipeline([crop])({'image': IMAGE}, np.random.default_rng(3))['image']
    expected = source.crop((x0, y0, x0 + w, y0 + h)).resize((32, 32), Image.Resampling.BILINEAR)
    assert np.abs(out.astype(int) - np.asarray(expected)).max() <= 1


def test_rotate_turns_counter_clockwise_like_pillow():
    out = T.Pipeline([T.Rotate((30, 30))])({'image': IMAGE}, 0)['image']
    expected = np.asarray(Image.fromarray(IMAGE).rotate(30, Image.Resampling.BILINEAR))
    inner = interior(LABEL) & (np.asarray(Image.fromarray(LABEL).rotate(30)) == LABEL)
    assert np.abs(out.astype(int) - expected)[inner].mean() < 3
    # the corners are cut off and filled
    assert (out[0, 0] == 0).all()
    filled = T.Pipeline([T.Rotate((45, 45), fill=(255, 0, 255), label_fill=255)],
                        annotate=['label'])({'image': IMAGE, 'label': LABEL}, 0)
    assert tuple(filled['image'][0, 0]) == (255, 0, 255)
    assert filled['label'][0, 0] == 255 and filled['label'][H // 2, W // 2] == LABEL[H // 2, W // 2]


def test_expanding_rotation_keeps_the_whole_image():
    out = T.Pipeline([T.Rotate((90, 90), expand=True)])({'image': IMAGE}, 0)['image']
    assert np.array_equal(out, np.rot90(IMAGE))
    out = T.Pipeline([T.Rotate((45, 45), expand=True)])({'image': IMAGE}, 0)['image']
    side = round((W + H) / math.sqrt(2))
    assert out.shape == (side, side, 3)


def test_sizes():
    def size(*steps):
        return T.Pipeline(list(steps))({'image': IMAGE}, 0)['image'].shape[:2]
    assert size(T.Scale(0.5)) == (45, 60)
    assert size(T.Scale(1.5, keep_size=True)) == (H, W)
    assert size(T.Resize(30)) == (30, 40)
    assert size(T.Resize((30, 31))) == (30, 31)
    assert size(T.CenterCrop(200)) == (200, 200)
    assert size(T.Clip(16)) == (80, 112)
    assert size(T.Clip(16, pad=True)) == (96, 128)
    assert size(T.Flip(transpose=True, p=1)) == (W, H)
    assert size(T.RandomResizedCrop((20, 30))) == (20, 30)


def test_padding_and_zoom_out_fill():
    out = T.Pipeline([T.CenterCrop((100, 140), fill=7, label_fill=255)], annotate=['label'])(
        {'image': IMAGE, 'label': LABEL}, 0)
    assert (out['image'][:5] == 7).all() and (out['label'][:5] == 255).all()
    assert np.array_equal(out['image'][5:95, 10:130], IMAGE)
    assert np.array_equal(out['label'][5:95, 10:130], LABEL)
    out = T.Pipeline([T.Scale(0.5, keep_size=True, fill=(1, 2, 3))])({'image': IMAGE}, 0)['image']
    assert tuple(out[0, 0]) == (1, 2, 3) and out.shape == IMAGE.shape
    # the last transform that sets a fill decides
    out = T.Pipeline([T.Rotate((45, 45), fill=9), T.CenterCrop(200)])({'image': IMAGE}, 0)['image']
    assert (out[0, 0] == 9).all()


def test_clip_alignment():
    image = np.arange(40 * 50, dtype=np.int32).reshape(40, 50)
    top_left = T.Pipeline([T.Clip(16, align='topleft')])({'image': image}, 0)['image']
    assert np.array_equal(top_left, image[:32, :48])
    centre = T.Pipeline([T.Clip(16)])({'image': image}, 0)['image']
    assert np.array_equal(centre, image[4:36, 1:49])
    for seed in range(20):
        out = T.Pipeline([T.Clip(16, align='random')])({'image': image}, seed)['image']
        y0, x0 = divmod(int(out[0, 0]), 50)
        assert 0 <= y0 <= 8 and 0 <= x0 <= 2 and np.array_equal(out, image[y0:y0 + 32, x0:x0 + 48])


def test_sixteen_bit_and_palette_label_maps():
    label16 = (LABEL.astype(np.uint16) * 20000)
    palette = Image.fromarray(LABEL).convert('P')
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    buffer = io.BytesIO()
    palette.save(buffer, 'PNG')
    sample = {'key': 'k', 'image': encode(IMAGE), 'label16': encode(label16),
              'palette': buffer.getvalue()}
    out = T.Pipeline([T.Decode(), T.Rotate((20, 20)), T.Resize((45, 60))],
                     annotate=['label16', 'palette'])(sample, 0)
    assert out['label16'].dtype == np.uint16 and set(np.unique(out['label16'])) <= {0, 20000, 40000}
    assert out['palette'].dtype == np.uint8 and out['palette'].ndim == 2
    assert np.array_equal(out['palette'].astype(np.uint16) * 20000, out['label16'])
    assert 40000 in out['label16']


def test_linear_resampling_of_other_dtypes():
    floats = IMAGE.astype(np.float32) / 255
    out = T.Pipeline([T.Resize((40, 70))])({'image': floats}, 0)['image']
    ref = T.Pipeline([T.Resize((40, 70))])({'image': IMAGE}, 0)['image']
    assert out.dtype == np.float32 and np.abs(out * 255 - ref).max() < 1.01
    wide = (IMAGE.astype(np.uint16) * 257)
    out = T.Pipeline([T.Rotate((10, 10)), T.Resize((40, 70))])({'image': wide}, 0)['image']
    assert out.dtype == np.uint16 and out.shape == (40, 70, 3)
    two = np.stack([IMAGE[..., 0], IMAGE[..., 1]], -1)
    out = T.Pipeline([T.Flip(horizontal=True, p=1), T.Scale(0.5)])({'image': two}, 0)['image']
    assert out.shape == (45, 60, 2) and out.dtype == np.uint8
    with pytest.raises(T.TransformError, match="Pipeline: field 'image' of sample 'k': fill .* 3 "
                                               "values for an image with 2 channels"):
        T.Pipeline([T.Rotate((5, 5), fill=(1, 2, 3))])({'key': 'k', 'image': two}, 0)


def test_exif_orientation_is_applied_on_request():
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 270 (90 clockwise) to view
    buffer = io.BytesIO()
    Image.fromarray(IMAGE).save(buffer, 'JPEG', quality=95, exif=exif)
    data = buffer.getvalue()
    plain = T.Pipeline([T.Decode()])({'image': data})['image']
    assert plain.shape == (H, W, 3)
    turned = T.Pipeline([T.Decode(exif=True)])({'image': data})['image']
    assert np.array_equal(turned, np.rot90(plain, -1))
    cropped = T.Pipeline([T.Decode(exif=True), T.CenterCrop((100, 80))])({'image': data})['image']
    assert np.array_equal(cropped, np.rot90(plain, -1)[10:110, 5:85])


# ---------------------------------------------------------------- vector annotations

def test_rasterize_pixel_exact():
    shapes = T.Shapes.parse([{'type': 'rect', 'label': 3,
                              'geometry': {'x': 0.25, 'y': 0.25, 'width': 0.5, 'height': 0.5}}])
    shapes.bind((100, 80))
    drawn = shapes.rasterize()
    assert drawn.shape == (80, 100)
    rows, cols = np.nonzero(drawn)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (20, 59, 25, 74)
    assert set(np.unique(drawn)) == {0, 3}


def test_rasterize_shapes():
    triangle = T.Shapes.parse({'shapes': [
        {'type': 'polygon', 'geometry': {'points': [[0, 0], [1, 0], [0, 1]]}}]}, )
    triangle.bind((200, 200))
    assert abs(triangle.rasterize().sum() - 200 * 200 / 2) < 200
    ellipse = T.Shapes.parse([{'type': 'ellipse', 'label': 1,
                               'geometry': {'x': 0.1, 'y': 0.2, 'width': 0.8, 'height': 0.6}}])
    ellipse.bind((300, 200))
    assert abs(ellipse.rasterize().sum() / (math.pi * 120 * 60) - 1) < 0.01
    # order: later shapes cover earlier ones; tags
    both = T.Shapes.parse([RECT, dict(RECT, label=5, tag=2,
                                      geometry=dict(RECT['geometry'], width=0.1))])
    both.bind((W, H))
    drawn = both.rasterize()
    assert set(np.unique(drawn)) == {0, 1, 5}
    assert drawn[30, 35] == 5 and drawn[30, 70] == 1
    tags = both.rasterize(value='tag', dtype='int32', fill=-1)
    assert tags.dtype == np.int32 and set(np.unique(tags)) == {-1, 2, 7}
    with pytest.raises(ValueError, match='label 300.0 does not fit dtype uint8'):
        big = T.Shapes.parse([dict(RECT, label=300)])
        big.bind((W, H))
        big.rasterize()


def test_shapes_follow_the_image():
    out = T.Pipeline([T.Flip(horizontal=True, p=1), T.Resize((45, 60))], annotate=['shapes'])(
        {'image': IMAGE, 'shapes': SHAPES}, 0)
    shapes = out['shapes']
    assert isinstance(shapes, T.Shapes) and shapes.size == (60, 45)
    boxes = shapes.boxes()
    assert boxes.shape == (2, 6)
    # the rectangle x in [30, 78) of 120 flipped: [42, 90), halved: [21, 45)
    assert np.allclose(boxes[0], [21, 10, 45, 28, 1, 7])
    label, tag, points = shapes.polygons()[1]
    assert (label, tag) == (2, 9) and points.shape == (3, 2)
    assert pickle.loads(pickle.dumps(shapes)).boxes().tolist() == boxes.tolist()


def test_rasterize_options_and_errors():
    sample = {'key': 'k7', 'image': IMAGE, 'shapes': json.dumps(SHAPES)}
    out = T.Pipeline([T.Rasterize('shapes', out_field='mask', value='tag')])(sample, 0)
    assert out['shapes'] == sample['shapes'] and out['mask'].shape == (H, W)
    assert set(np.unique(out['mask'])) == {0, 7, 9}
    out = T.Pipeline([T.Rasterize('shapes', size=(10, 20))])({'shapes': SHAPES}, 0)
    assert out['shapes'].shape == (10, 20)
    # a label map is left as it is
    out = T.Pipeline([T.Rasterize('label')])({'image': IMAGE, 'label': LABEL}, 0)
    assert out['label'] is LABEL
    with pytest.raises(T.TransformError, match=r"Rasterize: field 'shapes' of sample 'k7': .*"
                                               r"unknown type 'circle'"):
        T.Pipeline([T.Rasterize('shapes')])(dict(sample, shapes={'shapes': [{'type': 'circle'}]}))
    with pytest.raises(T.TransformError, match="field 'shapes' of sample 'k7': vector annotations "
                                               "are not valid JSON"):
        T.Pipeline([T.Rasterize('shapes')])(dict(sample, shapes=b'{"shapes": '))
    with pytest.raises(T.TransformError, match="no image 'image' to take the size from"):
        T.Pipeline([T.Rasterize('shapes')])({'key': 'k7', 'shapes': SHAPES})
    # transformed with an image of another size than the one they are drawn like
    pending = T.Pipeline([T.Resize(30)], annotate=['shapes']).apply(
        {'key': 'k7', 'image': IMAGE, 'shapes': SHAPES, 'other': IMAGE}, np.random.default_rng(0))
    with pytest.raises(T.TransformError, match="bound to 40x30 but 'other' is 120x90: list "
                                               "'shapes' in annotate"):
        T.Pipeline([T.Rasterize('shapes', like='other')])(pending)


@pytest.mark.parametrize('shapes, problem', [
    ({'shapes': 3}, '"shapes" must be a list'),
    ({'no': []}, 'no "shapes" entry'),
    ([{'type': 'polygon', 'geometry': {'points': [[0, 0], [1, 1]]}}], 'at least 3 "points"'),
    ([{'type': 'rect', 'geometry': {'x': 0, 'y': 0, 'width': 'a', 'height': 1}}],
     'shape 0: "width" must be a finite number'),
    ([{'type': 'rect', 'geometry': {'x': 0, 'y': float('nan'), 'width': 1, 'height': 1}}],
     'shape 0: "y" must be a finite number'),
    ([RECT, {'type': 'rect', 'tag': -1, 'geometry': RECT['geometry']}], 'shape 1: "tag"'),
    ([{'type': 'polygon', 'geometry': {'points': [[0, 0], [1, 1], 'x']}}], 'point 2 must be'),
    ([{'type': 'rect'}], '"geometry" must be an object'),
    (b'\xff{', 'not UTF-8'),
])
def test_bad_vector_annotations(shapes, problem):
    with pytest.raises(ValueError, match=problem):
        T.Shapes.parse(shapes)


# ---------------------------------------------------------------- colour

def test_color_jitter():
    sample = {'image': IMAGE}
    out = T.Pipeline([T.ColorJitter(brightness=(0.5, 0.5))])(sample, 0)['image']
    assert np.array_equal(out, np.rint(IMAGE * 0.5).astype(np.uint8))
    out = T.Pipeline([T.ColorJitter(brightness=(2, 2))])(sample, 0)['image']
    assert out.max() == 255 and out.dtype == np.uint8
    gray = T.Pipeline([T.ColorJitter(saturation=(0, 0))])(sample, 0)['image']
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2]).max() <= 1
    flat = T.Pipeline([T.ColorJitter(contrast=(0, 0))])(sample, 0)['image']
    assert flat.min() == flat.max()
    # a hue turn of a third maps red to green
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 200
    turned = T.Pipeline([T.ColorJitter(hue=(1 / 3, 1 / 3))])({'image': red}, 0)['image']
    assert tuple(turned[0, 0]) == (0, 200, 0)
    # floats stay floats in 0-1; alpha is kept; grey images get brightness only
    floats = T.Pipeline([T.ColorJitter(1, 1, 1, 0.5)])({'image': IMAGE / 255.0}, 1)['image']
    assert floats.dtype == np.float64 and 0 <= floats.min() and floats.max() <= 1
    rgba = np.dstack([IMAGE, np.full((H, W), 77, np.uint8)])
    out = T.Pipeline([T.ColorJitter(0.5, 0.5, 0.5, 0.2)])({'image': rgba}, 2)['image']
    assert out.shape == rgba.shape and (out[..., 3] == 77).all()
    out = T.Pipeline([T.ColorJitter(0.5, 0.5, 0.5, 0.2)])({'image': LABEL * 100}, 2)['image']
    assert out.shape == LABEL.shape
    factors = [T.Pipeline([T.ColorJitter(0.1)])({'image': np.full((1, 1), 100, np.uint8)}, s)[
        'image'][0, 0] for s in range(200)]
    assert min(factors) >= 90 and max(factors) <= 110 and len(set(factors)) > 10


def test_add():
    out = T.Pipeline([T.Add([0, 0, 10])])({'image': IMAGE}, 0)['image']
    assert np.array_equal(out[..., :2], IMAGE[..., :2])
    delta = out[..., 2].astype(int) - IMAGE[..., 2]
    assert len(np.unique(delta)) == 1 and abs(delta[0, 0]) <= 10
    floats = T.Pipeline([T.Add(0.5)])({'image': np.zeros((2, 2, 3), np.float32)}, 0)['image']
    assert floats.dtype == np.float32 and np.abs(floats).max() <= 0.5
    with pytest.raises(T.TransformError, match="has 3 channels but range gives 2 values"):
        T.Pipeline([T.Add([1, 2])])({'key': 'k', 'image': IMAGE}, 0)


def test_convert_color_matches_pillow():
    source = Image.fromarray(IMAGE)
    hsv = T.Pipeline([T.ConvertColor('RGB2HSV')])({'image': IMAGE})['image']
    expected = np.asarray(source.convert('HSV')).astype(int)
    hue = np.abs(hsv[..., 0].astype(int) - expected[..., 0])
    assert np.minimum(hue, 255 - hue).max() <= 1
    assert np.abs(hsv[..., 1:].astype(int) - expected[..., 1:]).max() <= 1
    gray = T.Pipeline([T.ConvertColor('rgb2gray')])({'image': IMAGE})['image']
    assert gray.ndim == 2 and np.abs(gray.astype(int) - np.asarray(source.convert('L'))).max() <= 1
    ycc = T.Pipeline([T.ConvertColor('RGB2YCbCr')])({'image': IMAGE})['image']
    assert np.abs(ycc.astype(int) - np.asarray(source.convert('YCbCr'))).max() <= 1
    bgr = T.Pipeline([T.ConvertColor('RGB2BGR')])({'image': IMAGE})['image']
    assert np.array_equal(bgr, IMAGE[..., ::-1])


@pytest.mark.parametrize('space', ['HSV', 'LAB', 'YCBCR', 'BGR', 'GRAY'])
def test_convert_color_round_trips(space):
    back = T.Pipeline([T.ConvertColor(f'RGB2{space}'), T.ConvertColor(f'{space}2RGB')])(
        {'image': IMAGE})['image']
    expected = IMAGE if space != 'GRAY' else np.repeat(
        T.Pipeline([T.ConvertColor('RGB2GRAY')])({'image': IMAGE})['image'][..., None], 3, -1)
    # 8-bit L*a*b* steps are coarse in dark blues
    assert back.dtype == np.uint8
    assert np.abs(back.astype(int) - expected).max() <= (12 if space == 'LAB' else 3)
    floats = IMAGE.astype(np.float32) / 255
    back = T.Pipeline([T.ConvertColor(f'RGB2{space}'), T.ConvertColor(f'{space}2RGB')])(
        {'image': floats})['image']
    assert back.dtype == np.float32 and np.abs(back * 255 - expected).max() < 1.01


def test_convert_color_lab_values():
    colours = np.array([[[1, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]], np.float32)
    lab = T.Pipeline([T.ConvertColor('RGB2LAB')])({'image': colours})['image']
    expected = [[53.24, 80.09, 67.20], [32.30, 79.19, -107.86], [100, 0, 0], [0, 0, 0]]
    assert np.abs(lab[0] - expected).max() < 0.05


def test_convert_color_lab_matches_opencv():
    cv2 = pytest.importorskip('cv2')
    floats = IMAGE.astype(np.float32) / 255
    lab = T.Pipeline([T.ConvertColor('RGB2LAB')])({'image': floats})['image']
    # OpenCV approximates the gamma curve
    assert np.abs(lab - cv2.cvtColor(floats, cv2.COLOR_RGB2Lab)).max() < 0.5
    lab8 = T.Pipeline([T.ConvertColor('RGB2LAB')])({'image': IMAGE})['image']
    assert np.abs(lab8.astype(int) - cv2.cvtColor(IMAGE, cv2.COLOR_RGB2Lab)).max() <= 2
    hsv = T.Pipeline([T.ConvertColor('RGB2HSV')])({'image': floats})['image']
    expected = cv2.cvtColor(floats, cv2.COLOR_RGB2HSV)
    assert np.abs(hsv[..., 0] * 360 - expected[..., 0]).max() < 0.05
    assert np.abs(hsv[..., 1:] - expected[..., 1:]).max() < 1e-5


def test_normalize():
    out = T.Pipeline([T.Normalize(mean=[0.5, 0.25, 0], std=[0.5, 0.25, 1])])({'image': IMAGE})['image']
    assert out.dtype == np.float32
    assert np.allclose(out[..., 0], (IMAGE[..., 0] / 255 - 0.5) / 0.5, atol=1e-6)
    assert np.allclose(out[..., 2], IMAGE[..., 2] / 255, atol=1e-6)
    out = T.Pipeline([T.Normalize(100, 2, scale=1, dtype='float64')])({'image': IMAGE})['image']
    assert out.dtype == np.float64 and np.allclose(out, (IMAGE - 100.0) / 2)
    sixteen = np.full((2, 2), 65535, np.uint16)
    assert T.Pipeline([T.Normalize(0, 1)])({'image': sixteen})['image'].max() == 1
    with pytest.raises(T.TransformError, match="has 3 channels but mean gives 2 values"):
        T.Pipeline([T.Normalize([1, 2], 1)])({'key': 'k', 'image': IMAGE})


def test_to_array():
    sample = {'key': 'k', 'image': encode(IMAGE), 'label': 3, 'weights': [1, 2]}
    out = T.Pipeline([T.Decode(), T.ToArray('image', dtype='float32', channels_first=True),
                      T.ToArray('label', dtype='int64'), T.ToArray('weights')])(sample)
    assert out['image'].shape == (3, H, W) and out['image'].dtype == np.float32
    assert np.array_equal(out['image'][0], IMAGE[..., 0])
    assert out['label'].dtype == np.int64 and out['label'].shape == ()
    assert out['weights'].tolist() == [1, 2]
    gray = T.Pipeline([T.ToArray(channels_first=True)])({'image': LABEL})['image']
    assert gray.shape == (1, H, W)
    with pytest.raises(T.TransformError, match=r"ToArray: field 'image' of sample 'k': holds "
                                               r"encoded data \(\d+ bytes\); decode it first with "
                                               r"Decode\('image'\)"):
        T.Pipeline([T.ToArray()])(sample)
    with pytest.raises(T.TransformError, match="field 'label' of sample 'k': cannot be made"):
        T.Pipeline([T.ToArray('label')])(dict(sample, label={'a': 1}))


# ---------------------------------------------------------------- errors

def test_missing_fields_name_field_and_key():
    with pytest.raises(T.TransformError, match=r"Decode: sample 'img7' has no field 'image' "
                                               r"\(its fields: 'key', 'jpeg'\)"):
        T.Pipeline([T.Decode()])({'key': 'img7', 'jpeg': b''})
    with pytest.raises(T.TransformError, match="RandomResizedCrop: sample 'img7' has no field "
                                               "'label_image'"):
        T.Pipeline([T.Decode(), T.RandomResizedCrop(32)], annotate=['label_image'])(
            {'key': 'img7', 'image': encode(IMAGE)})
    with pytest.raises(T.TransformError, match="ColorJitter: sample 'img7' has no field 'rgb'"):
        T.Pipeline([T.ColorJitter(0.1, field='rgb')])({'key': 'img7', 'image': IMAGE})
    with pytest.raises(T.TransformError, match='a sample without "key" has no field'):
        T.Pipeline([T.Resize(3)])({})


def test_bad_field_contents_name_field_and_key():
    def fails(steps, sample, match, annotate=()):
        with pytest.raises(T.TransformError, match=match):
            T.Pipeline(steps, annotate=annotate)(dict(sample, key='s1'), 0)
    fails([T.Resize(10)], {'image': encode(IMAGE)},
          r"Resize: field 'image' of sample 's1': holds encoded data .* Decode\('image'\)")
    fails([T.Decode()], {'image': b'not an image'},
          "Decode: field 'image' of sample 's1': cannot decode the image: not an image")
    jpeg = encode(IMAGE, 'JPEG')
    fails([T.Decode()], {'image': jpeg[:300]},
          "Decode: field 'image' of sample 's1': cannot decode the image: cannot read image")
    # the header is fine, the pixels are cut off: found when they are decoded
    fails([T.Decode(), T.Resize(10)], {'image': jpeg[:len(jpeg) // 2]},
          "Decode: field 'image' of sample 's1': cannot decode the image: cannot decode image")
    fails([T.Resize(10)], {'image': IMAGE, 'label': encode(LABEL)[:-30]},
          "Resize: field 'label' of sample 's1': cannot decode the image", ['label'])
    fails([T.Decode()], {'image': 42}, "field 'image' of sample 's1': holds int, not encoded")
    fails([T.Decode()], {'image': '{"shapes": []}'},
          "field 'image' of sample 's1': holds vector annotations")
    fails([T.Resize(10)], {'image': IMAGE, 'label': LABEL[:50]},
          "Resize: field 'label' of sample 's1': is 120x50 but 'image' is 120x90", ['label'])
    fails([T.Resize(10)], {'image': IMAGE, 'label': b'junk'},
          "Resize: field 'label' of sample 's1': cannot decode the image", ['label'])
    fails([T.Resize(10)], {'image': np.zeros((0, 3))}, "holds an array of shape")
    fails([T.Clip(128)], {'image': IMAGE},
          r"Clip: field 'image' of sample 's1': the image \(120x90\) is smaller than the stride 128")
    fails([T.ConvertColor('HSV2RGB')], {'image': LABEL}, "not a 3-channel HSV image")
    fails([T.ColorJitter(0.2)], {'image': IMAGE.astype(np.int16)}, 'int16 pixels')
    fails([T.ToArray('shapes')], {'shapes': T.Shapes.parse(SHAPES)},
          r"holds vector annotations; draw them first with Rasterize\('shapes'\)")


@pytest.mark.parametrize('make, problem', [
    (lambda: T.Flip(), 'Flip: enable at least one of the options horizontal, vertical, transpose'),
    (lambda: T.Flip(horizontal=1), "Flip: option 'horizontal' must be true or false"),
    (lambda: T.Flip(horizontal=True, p=2), "Flip: option 'p' must be at most 1"),
    (lambda: T.RandomResizedCrop(0), "RandomResizedCrop: option 'size' must be at least 1"),
    (lambda: T.RandomResizedCrop((1, 2, 3)), "option 'size' must be a positive integer or"),
    (lambda: T.RandomResizedCrop(5, scale=(0.5, 0.1)), "option 'scale' must be .*low <= high"),
    (lambda: T.RandomResizedCrop(5, ratio=(0, 1)), "option 'ratio' must be greater than 0"),
    (lambda: T.Rotate('x'), "Rotate: option 'degrees' must be a number or a pair"),
    (lambda: T.Scale(0), "Scale: option 'factor' must be greater than 0"),
    (lambda: T.Scale((0, 1)), "Scale: option 'factor' must be greater than 0"),
    (lambda: T.Resize(-3), "Resize: option 'size' must be at least 1"),
    (lambda: T.Clip(16, align='middle'), "Clip: option 'align' must be one of 'center'"),
    (lambda: T.ColorJitter(hue=0.7), "ColorJitter: option 'hue' must be at most 0.5"),
    (lambda: T.ColorJitter(brightness=-1), "ColorJitter: option 'brightness' must be at least 0"),
    (lambda: T.Decode(channels=2), "Decode: option 'channels' must be one of 1, 3, 4, 'keep'"),
    (lambda: T.Decode(field=''), "Decode: option 'field' must be a field name"),
    (lambda: T.Resize(3, field=['a', 'a']), "Resize: option 'field' names a field twice"),
    (lambda: T.ToArray(dtype='float33'), "ToArray: option 'dtype' is not a numpy dtype"),
    (lambda: T.ToArray(dtype='U3'), "ToArray: option 'dtype' must be a boolean, integer"),
    (lambda: T.Normalize(0, 0), "Normalize: option 'std' must not be 0"),
    (lambda: T.Normalize(0, 1, dtype='int8'), "Normalize: option 'dtype' must be a floating"),
    (lambda: T.ConvertColor('RGB2XYZ'), "ConvertColor: option 'code' names an unknown colour "
                                        "space 'XYZ'"),
    (lambda: T.ConvertColor('RGB'), "ConvertColor: option 'code' must be \"SRC2DST\""),
    (lambda: T.Rasterize('s', value='colour'), "Rasterize: option 'value' must be one of"),
    (lambda: T.CenterCrop(5, fill='red'), "CenterCrop: option 'fill' must be a number or a list"),
    (lambda: T.Pipeline([T.Decode(), 3]), r"Pipeline: transform 1 \(3\) has no apply"),
    (lambda: T.Pipeline(T.Decode()), "Pipeline: option 'transforms' must be a list"),
])
def test_bad_options_name_transform_and_option(make, problem):
    with pytest.raises(ValueError, match=problem):
        make()


# ---------------------------------------------------------------- config and pipeline

def test_from_config():
    config = [
        {'Decode': {'field': 'image'}},
        {'RandomResizedCrop': {'size': 32, 'scale': [0.5, 1]}},
        {'type': 'Flip', 'horizontal': True},
        {'Rasterize': {'field': 'shapes'}},
        {'ColorJitter': None},
        {'ToArray': {'dtype': 'float32'}},
    ]
    transforms = T.from_config(config)
    assert [type(t).__name__ for t in transforms] == ['Decode', 'RandomResizedCrop', 'Flip',
                                                      'Rasterize', 'ColorJitter', 'ToArray']
    assert transforms[1].scale == (0.5, 1.0)
    # config() round trip, through JSON
    again = T.from_config(json.loads(json.dumps([t.config() for t in transforms])))
    assert again == transforms and repr(again) == repr(transforms)
    pipeline = T.Pipeline(config, annotate=['shapes'])
    out = pipeline({'key': 'k', 'image': encode(IMAGE), 'shapes': SHAPES}, 3)
    assert out['image'].shape == (32, 32, 3) and out['shapes'].shape == (32, 32)
    nested = T.from_config([pipeline.config()])[0]
    assert nested == pipeline
    assert T.from_config(['Decode', transforms[2]])[1] is transforms[2]


@pytest.mark.parametrize('config, problem', [
    ({'Decode': {}}, 'must be a list of transforms, not dict'),
    ([{'Decoder': {}}], r"entry 0: unknown transform 'Decoder' \(known: Add, CenterCrop, .*Decode"),
    ([{'Decode': {}}, {'RandomResizedCrop': {'sise': 3}}],
     r"entry 1: RandomResizedCrop: unknown option 'sise' \(options: size, scale, ratio, field\)"),
    ([{'RandomResizedCrop': {}}], "entry 0: RandomResizedCrop: missing option 'size'"),
    ([{'RandomResizedCrop': {'size': 'big'}}],
     "entry 0: RandomResizedCrop: option 'size' must be a positive integer"),
    ([{'Flip': [1]}], 'entry 0: the options of Flip must be a mapping'),
    ([{'Flip': {}, 'Resize': {}}], 'entry 0: must be {"Name": {options}} or "Name"'),
    ([7], 'entry 0: must be'),
    ([{'type': 'Nope'}], "unknown transform 'Nope'"),
])
def test_bad_config(config, problem):
    with pytest.raises(ValueError, match=problem):
        T.from_config(config)


def test_register_custom_transforms():
    class Invert(T.Transform):
        def __init__(self, field='image'):
            self.field = field

        def apply(self, sample, rng, annotate=()):
            sample[self.field] = 255 - self._array(sample, self.field)
            return sample

    with pytest.raises(ValueError, match="unknown transform 'Invert'"):
        T.from_config(['Invert'])
    T.register(Invert)
    try:
        pipeline = T.Pipeline([{'Invert': {}}])
        assert np.array_equal(pipeline({'image': IMAGE})['image'], 255 - IMAGE)
        with pytest.raises(ValueError, match="a transform named 'Invert' is registered already"):
            T.register(type('Invert', (T.Transform,), {}))
    finally:
        del T._REGISTRY['Invert']
    with pytest.raises(TypeError, match='needs a Transform subclass'):
        T.register(dict)


def test_pipeline_leaves_the_callers_sample_alone():
    data = encode(IMAGE)
    sample = {'key': 'k', 'image': data, 'label': LABEL}
    out = T.Pipeline([T.Decode(), T.Resize(30)], annotate='label')(sample, 0)
    assert sample == {'key': 'k', 'image': data, 'label': LABEL}
    assert out['label'].shape == (30, 40)
    with pytest.raises(T.TransformError, match='a sample must be a dict, not list'):
        T.Pipeline([T.Decode()])([1, 2])

    class Broken(T.Transform):
        def apply(self, sample, rng, annotate=()):
            return None

    with pytest.raises(T.TransformError, match='returned NoneType, not the sample dict'):
        T.Pipeline([Broken()])(sample)


def test_annotate_of_apply_adds_to_the_pipelines():
    pipeline = T.Pipeline([T.Flip(horizontal=True, p=1)], annotate=['a'])
    out = pipeline.apply({'image': IMAGE, 'a': LABEL, 'b': LABEL}, np.random.default_rng(0), ('b',))
    assert np.array_equal(out['a'], LABEL[:, ::-1]) and np.array_equal(out['b'], LABEL[:, ::-1])
    out = pipeline({'image': IMAGE, 'a': LABEL, 'b': LABEL})
    assert out['b'] is LABEL


def test_several_image_fields_and_pending_values_pickle():
    sample = {'key': 'k', 'image': encode(IMAGE), 'second': encode(IMAGE[::-1].copy())}
    steps = [T.Decode(), T.Decode('second'), T.Rotate((30, 30), field=['image', 'second'])]
    pending = sample
    for step in steps:
        pending = step.apply(pending, np.random.default_rng(0), ())
    assert isinstance(pending['image'], T._Raster)
    pending = pickle.loads(pickle.dumps(pending))
    out = T.finalize(pending)
    reference = T.Pipeline([T.Rotate((30, 30))])({'image': IMAGE[::-1].copy()})['image']
    assert np.array_equal(out['second'], reference)
    assert out['image'].shape == reference.shape
