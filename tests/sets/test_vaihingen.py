"""
Tests of the Vaihingen writer on a miniature ``ISPRS_semantic_labeling_Vaihingen``
directory laid out like the real one: ``top/top_mosaic_09cm_areaN.tif``
(3-band uint8 GeoTIFFs), ``gts_for_participants/top_mosaic_09cm_areaN.tif``
(colour ground truth) and ``dsm/dsm_09cm_matching_areaN.tif`` (float32 DSM)
for the 16 areas with ground truth, written with tifffile.

datadings 3.4.7 reads GeoTIFFs with GDAL, which cannot be installed here.
The parity test runs it with a stand-in ``osgeo.gdal`` (below) that reads
the miniature's plain TIFFs with Pillow and hands out bands like GDAL's
``ReadAsArray``: it compares the writers' logic (areas, tiling, keys,
colour mapping, dtypes), not GDAL's TIFF decoding.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from datadings_like.reader import MsgpackReader
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason

tifffile = pytest.importorskip('tifffile')

from datadings_like.sets.Vaihingen import COLOR_TO_CLASS_MAP  # noqa: E402
from datadings_like.sets.Vaihingen import COLORS  # noqa: E402
from datadings_like.sets.Vaihingen import TRAIN_AREAS  # noqa: E402
from datadings_like.sets.Vaihingen import VAL_AREAS  # noqa: E402
from datadings_like.sets.Vaihingen import index_to_color  # noqa: E402

ROOT = 'ISPRS_semantic_labeling_Vaihingen'
REAL_DSM = 'dsm_09cm_matching_area{}.tif'
DATADINGS_DSM = 'dsm_mosaic_09cm_area{}.tif'
# area -> (height, width); the others are small
SIZES = {11: (400, 800), 1: (30, 20)}
SMALL = (9, 13)
# a colour that is no class colour: becomes 0 like in datadings
ODD_COLOR = (10, 20, 30)

GDAL_STAND_IN = '''\
"""Stand-in for GDAL's Python API (osgeo.gdal), enough for datadings'
tiff_to_nd_array: reads plain TIFFs with Pillow."""
import numpy as np
from PIL import Image

GA_ReadOnly = 0


class _Band:
    def __init__(self, array):
        self._array = array

    def ReadAsArray(self):
        return self._array.copy()


class _Dataset:
    def __init__(self, path):
        with Image.open(path) as image:
            array = np.asarray(image)
        if array.ndim == 2:
            self._bands = [array]
        else:
            self._bands = [array[..., i] for i in range(array.shape[2])]
        self.RasterCount = len(self._bands)

    def GetRasterBand(self, number):
        return _Band(self._bands[number - 1])


def Open(path, mode=GA_ReadOnly):
    return _Dataset(path)
'''


def gdal_stand_in(directory):
    """Write the stand-in ``osgeo`` package into ``directory``; returns it."""
    package = os.path.join(directory, 'osgeo')
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, '__init__.py'), 'w') as f:
        f.write('')
    with open(os.path.join(package, 'gdal.py'), 'w') as f:
        f.write(GDAL_STAND_IN)
    return str(directory)


def area_arrays(area):
    """(image HxWx3 uint8, colour labels HxWx3 uint8, class indices, dsm float32)."""
    h, w = SIZES.get(area, SMALL)
    rng = np.random.default_rng(area)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    palette = np.array(list(COLORS) + [ODD_COLOR], np.uint8)
    choice = rng.integers(0, len(palette), (h, w))
    colors = palette[choice]
    classes = np.where(choice < len(COLORS), choice, 0).astype(np.int64)
    dsm = rng.normal(260, 15, (h, w)).astype(np.float32)
    dsm[0, 0] = -3.7  # truncated towards zero: -3
    dsm[0, 1] = 271.9  # 271
    return image, colors, classes, dsm


def make_vaihingen(indir, dsm_name=REAL_DSM, areas=TRAIN_AREAS + VAL_AREAS):
    """Write the miniature; returns {area: (image, colors, classes, dsm)}."""
    root = os.path.join(indir, ROOT)
    for sub in ('top', 'gts_for_participants', 'dsm'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    arrays = {}
    for area in areas:
        image, colors, classes, dsm = arrays[area] = area_arrays(area)
        name = f'top_mosaic_09cm_area{area}.tif'
        tifffile.imwrite(os.path.join(root, 'top', name), image, photometric='rgb')
        tifffile.imwrite(os.path.join(root, 'gts_for_participants', name), colors,
                         photometric='rgb')
        tifffile.imwrite(os.path.join(root, 'dsm', dsm_name.format(area)), dsm)
    return arrays


def run(args, via_command=False, **kwargs):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'Vaihingen']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.Vaihingen_write']
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, **kwargs)


def read_all(path):
    with MsgpackReader(path) as reader:
        return [reader.get(i) for i in range(len(reader))]


@pytest.fixture(scope='module')
def vaihingen(tmp_path_factory):
    indir = tmp_path_factory.mktemp('vaihingen')
    return indir, make_vaihingen(str(indir))


@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_train_whole_and_val_tiles(vaihingen, tmp_path, via_command):
    indir, arrays = vaihingen
    proc = run(['-o', tmp_path, indir], via_command=via_command)
    assert proc.returncode == 0, proc.stderr
    train = read_all(tmp_path / 'Vaihingen_train.msgpack')
    assert [s['key'] for s in train] == [f'top_mosaic_09cm_area{a}.tif' for a in TRAIN_AREAS]
    for sample, area in zip(train, TRAIN_AREAS):
        image, _, classes, dsm = arrays[area]
        assert sorted(sample) == ['image', 'key', 'label_image', 'mask']
        assert sample['image'].dtype == np.uint8
        np.testing.assert_array_equal(sample['image'], image.transpose(2, 0, 1))
        assert sample['label_image'].dtype == np.int64
        np.testing.assert_array_equal(sample['label_image'], classes)
        assert sample['mask'].dtype == np.int32
        np.testing.assert_array_equal(sample['mask'], dsm.astype(np.int32))
        assert sample['mask'][0, 0] == -3 and sample['mask'][0, 1] == 271

    val = read_all(tmp_path / 'Vaihingen_val.msgpack')
    # area 11 is 400x800: 2x3 tiles of 384x384, the partial ones kept
    keys = [s['key'] for s in val]
    assert keys[:6] == [f'top_mosaic_09cm_area11.tif_{i}' for i in range(6)]
    assert keys[6:] == [f'top_mosaic_09cm_area{a}.tif_0' for a in VAL_AREAS[1:]]
    image, _, classes, dsm = arrays[11]
    bounds = [(0, 384, 0, 384), (0, 384, 384, 768), (0, 384, 768, 800),
              (384, 400, 0, 384), (384, 400, 384, 768), (384, 400, 768, 800)]
    for sample, (t, b, l, r) in zip(val, bounds):
        np.testing.assert_array_equal(sample['image'], image.transpose(2, 0, 1)[:, t:b, l:r])
        np.testing.assert_array_equal(sample['label_image'], classes[t:b, l:r])
        np.testing.assert_array_equal(sample['mask'], dsm[t:b, l:r].astype(np.int32))
        assert (sample['image'].dtype, sample['label_image'].dtype, sample['mask'].dtype) \
            == (np.uint8, np.int64, np.int32)
    small = val[6]
    np.testing.assert_array_equal(small['label_image'], arrays[15][2])


def test_finds_datadings_dsm_name(tmp_path):
    indir = tmp_path / 'in'
    arrays = make_vaihingen(str(indir), dsm_name=DATADINGS_DSM)
    proc = run(['-o', tmp_path / 'out', indir])
    assert proc.returncode == 0, proc.stderr
    train = read_all(tmp_path / 'out' / 'Vaihingen_train.msgpack')
    np.testing.assert_array_equal(train[0]['mask'], arrays[1][3].astype(np.int32))


def test_missing_dsm_names_the_real_file(tmp_path):
    make_vaihingen(str(tmp_path))
    os.remove(tmp_path / ROOT / 'dsm' / REAL_DSM.format(28))
    proc = run(['-y', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert REAL_DSM.format(28) in proc.stderr
    assert 'request' in proc.stderr
    assert not any(name.endswith('.msgpack') for name in os.listdir(tmp_path))


def test_missing_directory(tmp_path):
    proc = run([tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert ROOT in proc.stderr and 'isprs.org' in proc.stderr
    assert os.listdir(tmp_path) == []


def test_damaged_tiff(tmp_path):
    make_vaihingen(str(tmp_path))
    with open(tmp_path / ROOT / 'gts_for_participants' / 'top_mosaic_09cm_area5.tif', 'wb') as f:
        f.write(b'II*\x00 this is not a TIFF')
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert 'gts_for_participants/top_mosaic_09cm_area5.tif' in proc.stderr
    assert 'cannot read TIFF' in proc.stderr
    # a failed split leaves nothing behind under its name
    assert not (tmp_path / 'out' / 'Vaihingen_train.msgpack').exists()


def test_sizes_must_match(tmp_path):
    make_vaihingen(str(tmp_path))
    tifffile.imwrite(tmp_path / ROOT / 'dsm' / REAL_DSM.format(3), np.zeros((5, 5), np.float32))
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert REAL_DSM.format(3) in proc.stderr and '5x5 pixels' in proc.stderr


def test_yes_overwrites_both_splits(vaihingen, tmp_path):
    indir, _ = vaihingen
    for name in ('Vaihingen_train.msgpack', 'Vaihingen_val.msgpack'):
        (tmp_path / name).write_bytes(b'old')
    # without -y and without a terminal both splits are refused alike
    # (datadings 3.4.7 passes no overwrite to the val writer)
    proc = run(['-o', tmp_path, indir])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    for name in ('Vaihingen_train.msgpack', 'Vaihingen_val.msgpack'):
        assert f'{name} exists; replace it with -y' in proc.stderr
        assert (tmp_path / name).read_bytes() == b'old'
    proc = run(['-y', '-o', tmp_path, indir])
    assert proc.returncode == 0, proc.stderr
    assert len(read_all(tmp_path / 'Vaihingen_train.msgpack')) == len(TRAIN_AREAS)
    assert len(read_all(tmp_path / 'Vaihingen_val.msgpack')) == 6 + len(VAL_AREAS) - 1


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    assert proc.stdout.startswith('usage: Vaihingen_write.py [-h] [-o PATH] [-y] [INDIR]')
    for word in (ROOT, 'top_mosaic_09cm_areaN.tif', 'gts_for_participants',
                 'dsm_09cm_matching_areaN.tif', 'dsm_mosaic_09cm_areaN.tif', 'isprs.org',
                 '"key"', '"image"', '"label_image"', '"mask"', 'numpy arrays'):
        assert word in proc.stdout, word
    for option in ('--shuffle', '--skip-verification', '--threads'):
        assert option not in proc.stdout


def test_color_mapping():
    from datadings_like.sets.Vaihingen_write import map_color_values_to_class_indices
    colors = np.array([[c for c in COLOR_TO_CLASS_MAP] + [ODD_COLOR]], np.uint8)
    indices = map_color_values_to_class_indices(colors)
    assert indices.dtype == np.uint8
    assert indices.tolist() == [[0, 1, 2, 3, 4, 5, 6, 0]]
    np.testing.assert_array_equal(index_to_color(indices[:, :7]), colors[:, :7])


def test_areas_are_read_once_and_tiled_lazily(tmp_path, monkeypatch):
    """Each area is read once; tiles are views of it, made one at a time."""
    import argparse
    from datadings_like.sets import Vaihingen_write
    from datadings_like.sets import tiles

    make_vaihingen(str(tmp_path))
    reads = []
    real_read = tiles.read_tiff

    def counting_read(path, *args, **kwargs):
        reads.append(os.path.relpath(path, tmp_path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(tiles, 'read_tiff', counting_read)
    views = []
    real_iter = tiles.iter_tiles

    def watching_iter(arrays, *args, **kwargs):
        for index, parts in real_iter(arrays, *args, **kwargs):
            views.append(all(np.shares_memory(p, a) for p, a in zip(parts, arrays)))
            yield index, parts

    monkeypatch.setattr(tiles, 'iter_tiles', watching_iter)
    args = argparse.Namespace(no_confirm=False, quiet=True)
    Vaihingen_write.write_sets(str(tmp_path), str(tmp_path / 'out'), args, crop_size=(4, 5))
    # every file once: orthophoto, ground truth and DSM of each area
    assert len(reads) == len(set(reads)) == 3 * (len(TRAIN_AREAS) + len(VAL_AREAS))
    assert views and all(views)
    val = read_all(tmp_path / 'out' / 'Vaihingen_val.msgpack')
    # 400x800 in 4x5 tiles: 100x160; a small area 9x13: 3x3
    assert len(val) == 100 * 160 + 4 * 9


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_as_datadings_with_gdal_stand_in(tmp_path, monkeypatch):
    """Same samples as datadings 3.4.7 (GDAL replaced by a Pillow stand-in),
    on a miniature with the DSM name datadings looks for."""
    indir = tmp_path / 'in'
    make_vaihingen(str(indir), dsm_name=DATADINGS_DSM)
    proc = run(['-o', tmp_path / 'ours', indir])
    assert proc.returncode == 0, proc.stderr
    monkeypatch.setenv('PYTHONPATH', gdal_stand_in(tmp_path / 'gdal'))
    run_reference_writer(reference_python(), 'Vaihingen', ['-o', tmp_path / 'theirs', indir])
    for name in ('Vaihingen_train.msgpack', 'Vaihingen_val.msgpack'):
        n = assert_same_samples(tmp_path / 'ours' / name, tmp_path / 'theirs' / name, images=())
        assert n == (len(TRAIN_AREAS) if 'train' in name else 6 + len(VAL_AREAS) - 1)


def test_gdal_stand_in_reads_like_tifffile(tmp_path):
    """The stand-in hands out the same bands as our reader."""
    from datadings_like.sets.tiles import read_tiff
    make_vaihingen(str(tmp_path), areas=(1,))
    sys.path.insert(0, gdal_stand_in(tmp_path / 'gdal'))
    try:
        from osgeo import gdal
        for sub, name in (('top', 'top_mosaic_09cm_area1.tif'),
                          ('dsm', REAL_DSM.format(1))):
            path = str(tmp_path / ROOT / sub / name)
            dataset = gdal.Open(path, gdal.GA_ReadOnly)
            bands = np.array([dataset.GetRasterBand(i + 1).ReadAsArray()
                              for i in range(dataset.RasterCount)])
            np.testing.assert_array_equal(bands, read_tiff(path))
    finally:
        sys.path.remove(str(tmp_path / 'gdal'))
        for name in ('osgeo.gdal', 'osgeo'):
            sys.modules.pop(name, None)



def run_without(module, writer, args):
    """Run a writer as if ``module`` were not installed."""
    script = ('import runpy, sys\n'
              f'sys.modules[{module!r}] = None\n'
              f'sys.argv = [{writer + ".py"!r}] + sys.argv[1:]\n'
              f'runpy.run_module("datadings_like.sets.{writer}", run_name="__main__")\n')
    return subprocess.run([sys.executable, '-c', script] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def test_without_tifffile_one_line_names_the_extra(vaihingen, tmp_path):
    indir, _ = vaihingen
    proc = run_without('tifffile', 'Vaihingen_write', ['-o', tmp_path / 'out', indir])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert 'tifffile' in proc.stderr and "pip install '.[sets]'" in proc.stderr
    assert not (tmp_path / 'out').exists()
