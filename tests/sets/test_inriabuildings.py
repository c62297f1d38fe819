"""
Tests of the InriaBuildings writer on a miniature ``AerialImageDataset``
laid out like the unpacked download: ``train/images/<city><N>.tif`` and
``train/gt/<city><N>.tif`` for the five training cities, ``test/images``
for the five test cities, N = 1..36 (RGB and 0/255 GeoTIFFs written with
tifffile). Most images are tiny; ``vienna1`` (val) and ``bellingham1``
(test) are big enough for whole 384x384 tiles.

datadings 3.4.7 reads GeoTIFFs with GDAL, which cannot be installed here;
the parity test runs it with the Pillow stand-in for ``osgeo.gdal`` of
test_vaihingen.py (it compares the writers' logic, not GDAL's decoding).
"""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason

tifffile = pytest.importorskip('tifffile')

from datadings_like.sets.InriaBuildings import TEST_IDS  # noqa: E402
from datadings_like.sets.InriaBuildings import TEST_LOCATIONS  # noqa: E402
from datadings_like.sets.InriaBuildings import TRAIN_IDS  # noqa: E402
from datadings_like.sets.InriaBuildings import TRAIN_LOCATIONS  # noqa: E402
from datadings_like.sets.InriaBuildings import VAL_IDS  # noqa: E402
from datadings_like.sets.InriaBuildings_write import array2imagedata  # noqa: E402
from sets.test_vaihingen import gdal_stand_in  # noqa: E402

ROOT = 'AerialImageDataset'
# file name -> (height, width); the others are SMALL
SIZES = {'vienna1.tif': (400, 800), 'bellingham1.tif': (390, 400), 'vienna6.tif': (40, 50)}
SMALL = (6, 7)


def image_arrays(name):
    """(RGB image HxWx3 uint8, ground truth HxW uint8 0/255), smooth enough for JPEG."""
    h, w = SIZES.get(name, SMALL)
    seed = sum(map(ord, name))
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 90 * np.sin(x / 9.0 + seed)
    g = 128 + 90 * np.cos(y / 11.0 + seed)
    b = 255 * (x + y) / (w + h)
    image = np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    gt = np.where(rng.random((h, w)) < 0.3, 255, 0).astype(np.uint8)
    gt[0, :3] = (255, 0, 255)
    return image, gt


def make_inria(indir):
    """Write the miniature; returns {(split, file name): (image, gt or None)}."""
    root = os.path.join(indir, ROOT)
    for sub in ('train/images', 'train/gt', 'test/images'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    arrays = {}
    for location in TRAIN_LOCATIONS:
        for i in range(1, 37):
            name = f'{location}{i}.tif'
            image, gt = arrays['train', name] = image_arrays(name)
            tifffile.imwrite(os.path.join(root, 'train', 'images', name), image,
                             photometric='rgb')
            tifffile.imwrite(os.path.join(root, 'train', 'gt', name), gt)
    for location in TEST_LOCATIONS:
        for i in TEST_IDS:
            name = f'{location}{i}.tif'
            image, _ = image_arrays(name)
            arrays['test', name] = image, None
            tifffile.imwrite(os.path.join(root, 'test', 'images', name), image,
                             photometric='rgb')
    return arrays


def run(args, via_command=False):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'InriaBuildings']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.InriaBuildings_write']
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


def read_all(path):
    with MsgpackReader(path) as reader:
        return [reader.get(i) for i in range(len(reader))]


def decode(data):
    image = Image.open(io.BytesIO(data))
    return image, np.asarray(image)


def assert_close_jpeg(data, expected):
    image, pixels = decode(data)
    assert image.format == 'JPEG' and image.mode == 'RGB'
    assert pixels.shape == expected.shape
    diff = np.abs(pixels.astype(np.int16) - expected.astype(np.int16))
    assert diff.mean() < 2.5, diff.mean()


@pytest.fixture(scope='module')
def inria(tmp_path_factory):
    indir = tmp_path_factory.mktemp('inria')
    return indir, make_inria(str(indir))


@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_splits(inria, tmp_path, via_command):
    indir, arrays = inria
    proc = run(['-o', tmp_path, indir], via_command=via_command)
    assert proc.returncode == 0, proc.stderr

    train = read_all(tmp_path / 'train.msgpack')
    assert [s['key'] for s in train] == \
        [f'{loc}{i}.tif' for loc in TRAIN_LOCATIONS for i in TRAIN_IDS]
    sample = train[0]
    assert sample['key'] == 'vienna6.tif'
    assert sorted(sample) == ['image', 'key', 'label_image']
    image, gt = arrays['train', 'vienna6.tif']
    assert_close_jpeg(sample['image'], image)
    label, pixels = decode(sample['label_image'])
    assert label.format == 'PNG' and label.mode == '1'
    np.testing.assert_array_equal(pixels, gt == 255)

    # val: vienna1 (400x800) has 2x1 whole tiles in a 2x3 grid, the others none
    val = read_all(tmp_path / 'val.msgpack')
    assert [s['key'] for s in val] == ['vienna1.tif_0', 'vienna1.tif_1']
    image, gt = arrays['train', 'vienna1.tif']
    for sample, left in zip(val, (0, 384)):
        assert_close_jpeg(sample['image'], image[:384, left:left + 384])
        label, pixels = decode(sample['label_image'])
        assert label.mode == '1'
        np.testing.assert_array_equal(pixels, gt[:384, left:left + 384] == 255)

    test = read_all(tmp_path / 'test.msgpack')
    assert [s['key'] for s in test] == ['bellingham1.tif_0']
    assert sorted(test[0]) == ['image', 'key']
    assert_close_jpeg(test[0]['image'], arrays['test', 'bellingham1.tif'][0][:384, :384])


def test_jpeg_settings():
    """Quality 95 without chroma subsampling (like simplejpeg's defaults in datadings)."""
    from PIL import JpegImagePlugin
    image, _ = image_arrays('vienna6.tif')
    jpeg = Image.open(io.BytesIO(array2imagedata(image.transpose(2, 0, 1))))
    assert JpegImagePlugin.get_sampling(jpeg) == 0  # 4:4:4
    assert jpeg.size == (50, 40)


@pytest.mark.parametrize('shape', [(5, 12), (3, 8), (17, 1), (1, 9)])
def test_label_png_keeps_the_labels(shape):
    rng = np.random.default_rng(sum(shape))
    labels = rng.random(shape) < 0.5
    labels[0, 0] = True
    image, pixels = decode(array2imagedata(labels))
    assert image.mode == '1' and image.size == shape[::-1]
    np.testing.assert_array_equal(pixels, labels)


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_datadings_label_png_is_garbled(tmp_path):
    """The documented difference: datadings 3.4.7 hands a bool array to
    ``Image.fromarray(array, '1')``, which reads it as packed bits."""
    labels = np.zeros((5, 12), bool)
    labels[1:3, 2:9] = True
    np.save(tmp_path / 'labels.npy', labels)
    script = ('import sys, numpy as np\n'
              'from datadings.sets.InriaBuildings_write import array2imagedata\n'
              'data = array2imagedata(np.load(sys.argv[1]))\n'
              'open(sys.argv[2], "wb").write(data)\n')
    subprocess.run([reference_python(), '-c', script, tmp_path / 'labels.npy',
                    tmp_path / 'theirs.png'], check=True, timeout=60)
    _, theirs = decode((tmp_path / 'theirs.png').read_bytes())
    _, ours = decode(array2imagedata(labels))
    np.testing.assert_array_equal(ours, labels)
    assert theirs.shape == labels.shape and not np.array_equal(theirs, labels)


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_as_datadings_with_gdal_stand_in(inria, tmp_path, monkeypatch):
    """Same keys, fields and images (up to the JPEG encoder) as datadings
    3.4.7; its garbled label PNGs are the documented difference."""
    indir, arrays = inria
    proc = run(['-o', tmp_path / 'ours', indir])
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv('PYTHONPATH', gdal_stand_in(tmp_path / 'gdal'))
    run_reference_writer(reference_python(), 'InriaBuildings', ['-o', tmp_path / 'theirs', indir])
    source = {name: image for (_, name), (image, _) in arrays.items()}

    def source_pixels(key):
        name, _, index = key.partition('_')
        image = source[name]
        if not index:
            return image
        row, col = divmod(int(index), -(-image.shape[1] // 384))
        return image[row * 384:(row + 1) * 384, col * 384:(col + 1) * 384]

    def documented(key, field, ours, theirs):
        if field == 'image':
            # simplejpeg (datadings) and Pillow encode JPEG (quality 95, 4:4:4)
            # a little differently: close to each other, and ours is as close
            # to the source pixels as theirs
            a, b = decode(ours)[1].astype(int), decode(theirs)[1].astype(int)
            pixels = source_pixels(key).astype(int)
            assert a.shape == b.shape == pixels.shape, key
            assert np.abs(a - b).mean() < 2.5, key
            assert np.abs(a - pixels).mean() <= np.abs(b - pixels).mean() + 0.5, key
            return True
        if field == 'label_image':
            assert decode(ours)[0].mode == decode(theirs)[0].mode == '1'
            assert decode(ours)[1].shape == decode(theirs)[1].shape
            return True  # theirs are garbled (test_datadings_label_png_is_garbled)
        return False

    counts = {}
    for split in ('train', 'val', 'test'):
        counts[split] = assert_same_samples(tmp_path / 'ours' / f'{split}.msgpack',
                                            tmp_path / 'theirs' / f'{split}.msgpack',
                                            expected=documented)
    assert counts == {'train': 155, 'val': 2, 'test': 1}


def test_tiles_drop_partial_ones_keeping_numbers(inria, tmp_path):
    """In-process with 96x96 tiles: the grid numbering skips dropped tiles."""
    import argparse
    from datadings_like.sets.InriaBuildings_write import write_sets
    indir, _ = inria
    args = argparse.Namespace(no_confirm=False, quiet=True)
    write_sets(str(indir), str(tmp_path / 'out'), args, crop_size=(96, 96))
    val = read_all(tmp_path / 'out' / 'val.msgpack')
    # vienna1 400x800: a 5x9 grid, 4x8 whole tiles; the small images have none
    assert [s['key'] for s in val] == \
        [f'vienna1.tif_{r * 9 + c}' for r in range(4) for c in range(8)]
    sample = val[9]
    assert sample['key'] == 'vienna1.tif_10'  # row 1, column 1
    image, gt = image_arrays('vienna1.tif')
    np.testing.assert_array_equal(decode(sample['label_image'])[1], gt[96:192, 96:192] == 255)
    assert_close_jpeg(sample['image'], image[96:192, 96:192])
    test = read_all(tmp_path / 'out' / 'test.msgpack')
    # bellingham1 390x400: a 5x5 grid, 4x4 whole tiles
    assert [s['key'] for s in test] == \
        [f'bellingham1.tif_{r * 5 + c}' for r in range(4) for c in range(4)]


def test_missing_directory(tmp_path):
    proc = run([tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert ROOT in proc.stderr and 'registration' in proc.stderr
    assert 'project.inria.fr' in proc.stderr
    assert os.listdir(tmp_path) == []


def test_missing_files_before_any_work(tmp_path):
    make_inria(str(tmp_path))
    os.remove(tmp_path / ROOT / 'train' / 'gt' / 'austin36.tif')
    os.remove(tmp_path / ROOT / 'test' / 'images' / 'sfo3.tif')
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert 'train/gt/austin36.tif and 1 more file not found' in proc.stderr
    assert not (tmp_path / 'out').exists()


def test_damaged_tiff_is_named(tmp_path):
    make_inria(str(tmp_path))
    with open(tmp_path / ROOT / 'test' / 'images' / 'innsbruck7.tif', 'wb') as f:
        f.write(b'not a TIFF at all')
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert 'test/images/innsbruck7.tif: cannot read TIFF' in proc.stderr
    assert not (tmp_path / 'out').exists()


def test_gt_size_must_match(tmp_path):
    make_inria(str(tmp_path))
    tifffile.imwrite(tmp_path / ROOT / 'train' / 'gt' / 'kitsap9.tif', np.zeros((3, 3), np.uint8))
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'train/gt/kitsap9.tif: ground truth is 3x3 pixels' in proc.stderr
    assert not (tmp_path / 'out' / 'train.msgpack').exists()


def test_existing_output_needs_yes(inria, tmp_path):
    indir, _ = inria
    (tmp_path / 'val.msgpack').write_bytes(b'old')
    proc = run(['-o', tmp_path, indir])
    # the other splits are written, the refused one is reported
    assert proc.returncode == 1
    assert 'val.msgpack exists; replace it with -y' in proc.stderr
    assert (tmp_path / 'val.msgpack').read_bytes() == b'old'
    assert len(read_all(tmp_path / 'train.msgpack')) == 155
    assert len(read_all(tmp_path / 'test.msgpack')) == 1
    proc = run(['-y', '-o', tmp_path, indir])
    assert proc.returncode == 0, proc.stderr
    assert len(read_all(tmp_path / 'val.msgpack')) == 2


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    assert proc.stdout.startswith('usage: InriaBuildings_write.py [-h] [-o PATH] [-y] [INDIR]')
    for word in (ROOT, 'train/images', 'train/gt', 'test/images', 'egistration',
                 'project.inria.fr', 'NOT SHUFFLED', '"key"', '"image"', '"label_image"'):
        assert word in proc.stdout, word
    for option in ('--shuffle', '--skip-verification', '--threads'):
        assert option not in proc.stdout


def test_metadata():
    from datadings_like.sets import InriaBuildings
    assert InriaBuildings.CLASSES == ['background', 'building']
    assert (InriaBuildings.IMAGE_SIZE, InriaBuildings.CROP_SIZE,
            InriaBuildings.NUM_INPUT_CHANNELS) == (5000, 384, 3)
    assert len(TRAIN_IDS) == 31 and len(VAL_IDS) == 5 and len(TEST_IDS) == 36


def test_each_file_is_read_once_and_tiled_lazily(inria, tmp_path, monkeypatch):
    import argparse
    from datadings_like.sets import tiles
    from datadings_like.sets.InriaBuildings_write import write_sets

    indir, _ = inria
    reads = []
    real_read = tiles.read_tiff
    monkeypatch.setattr(tiles, 'read_tiff', lambda path, *a, **k: (
        reads.append(os.path.relpath(path, indir)), real_read(path, *a, **k))[1])
    views = []
    real_iter = tiles.iter_tiles

    def watching_iter(arrays, *args, **kwargs):
        for index, parts in real_iter(arrays, *args, **kwargs):
            views.append(all(np.shares_memory(p, a) for p, a in zip(parts, arrays)))
            yield index, parts

    monkeypatch.setattr(tiles, 'iter_tiles', watching_iter)
    write_sets(str(indir), str(tmp_path), argparse.Namespace(no_confirm=False, quiet=True),
               crop_size=(96, 96))
    assert len(reads) == len(set(reads)) == 2 * 36 * 5 + 36 * 5
    assert len(views) == 32 + 16 and all(views)
