"""
End-to-end tests of the VOC2012 writer on a miniature
``VOCtrainval_11-May-2012.tar``: the real member paths under
``VOCdevkit/VOC2012/`` (segmentation image sets, JPEGs, palette PNGs with
the VOC colour map and a void border of index 255), plus members the writer
does not read (annotations, object masks, detection-only images).
The writer runs as a separate process with ``-s``.
"""
import argparse
import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import VOC2012
from datadings_like.sets import VOC2012_write
from sets.reference import assert_same_samples
from sets.reference import decode_image
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason

ROOT = 'VOCdevkit/VOC2012/'
TAR = 'VOCtrainval_11-May-2012.tar'
IDS = {'train': ['2007_000032', '2007_000039', '2008_000002'], 'val': ['2007_000033', '2009_000123']}


def add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1234567890
    tar.addfile(info, io.BytesIO(data))


def palette_png(indices):
    image = Image.fromarray(indices, 'P')
    image.putpalette(VOC2012.class_color_map(256).tobytes())
    bio = io.BytesIO()
    image.save(bio, 'PNG')
    return bio.getvalue()


def jpeg(rng, h, w):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
    return bio.getvalue()


def label_map(rng, h, w, cls):
    """Background, an object of class ``cls`` with a void border of 255,
    and a strip of person (15) at the bottom."""
    a = np.zeros((h, w), np.uint8)
    a[2:h - 3, 2:w - 3] = 255
    a[3:h - 4, 3:w - 4] = cls
    a[h - 1, :] = 15
    return a


def make_voc(indir, rng, ids=IDS, label=None):
    """Write the miniature tar; returns ``{id: (jpeg bytes, label map)}``."""
    truth = {}
    with tarfile.open(indir / TAR, 'w') as tar:
        for split, names in ids.items():
            add(tar, ROOT + f'ImageSets/Segmentation/{split}.txt',
                ''.join(n + '\n' for n in names).encode())
            add(tar, ROOT + f'ImageSets/Main/{split}.txt', b'2010_000001\n')
        add(tar, ROOT + 'ImageSets/Segmentation/trainval.txt',
            ''.join(n + '\n' for names in ids.values() for n in names).encode())
        add(tar, ROOT + 'JPEGImages/2010_000001.jpg', jpeg(rng, 5, 5))
        add(tar, ROOT + 'Annotations/2010_000001.xml', b'<annotation/>')
        for i, name in enumerate(n for names in ids.values() for n in names):
            h, w = 10 + i, 12 + 2 * i
            image = jpeg(rng, h, w)
            indices = label_map(rng, h, w, 1 + i % 20)
            add(tar, ROOT + f'JPEGImages/{name}.jpg', image)
            data = label(name, indices) if label else palette_png(indices)
            add(tar, ROOT + f'SegmentationClass/{name}.png', data)
            add(tar, ROOT + f'SegmentationObject/{name}.png', palette_png(indices // 2))
            add(tar, ROOT + f'Annotations/{name}.xml', b'<annotation/>')
            truth[name] = (image, indices)
    return truth


def run(args, module=True):
    if module:
        cmd = [sys.executable, '-m', 'datadings_like.sets.VOC2012_write']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'VOC2012']
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def read(path):
    with MsgpackReader(path) as reader:
        return list(reader)


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_train_and_val(tmp_path, module):
    truth = make_voc(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    for split, names in IDS.items():
        samples = read(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == names
        for s in samples:
            assert list(s) == ['key', 'image', 'label_image']
            image, indices = truth[s['key']]
            assert s['image'] == image
            label = Image.open(io.BytesIO(s['label_image']))
            assert label.format == 'PNG' and label.mode == 'L'
            assert np.array_equal(np.asarray(label), indices)
    assert not (out / 'VOC2012_train_counts.json').exists()


def test_void_border_stays_255(tmp_path):
    truth = make_voc(tmp_path, np.random.default_rng(2))
    proc = run(['-s', '-y', '-q', tmp_path])
    assert proc.returncode == 0, proc.stderr
    for s in read(tmp_path / 'train.msgpack'):
        label = decode_image(s['label_image'])
        void = truth[s['key']][1] == 255
        assert void.any()
        assert (label[void] == 255).all()
        assert set(np.unique(label[~void])) <= set(range(21))


def test_shuffle_seed(tmp_path):
    make_voc(tmp_path, np.random.default_rng(3))
    a, b = tmp_path / 'a', tmp_path / 'b'
    for out in (a, b):
        proc = run(['-s', '-q', '--seed', 5, '-o', out, tmp_path])
        assert proc.returncode == 0, proc.stderr
    assert (a / 'train.msgpack').read_bytes() == (b / 'train.msgpack').read_bytes()
    assert sorted(s['key'] for s in read(a / 'train.msgpack')) == sorted(IDS['train'])


def test_existing_output_needs_y(tmp_path):
    make_voc(tmp_path, np.random.default_rng(4))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    before = (tmp_path / 'val.msgpack').read_bytes()
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr and 'exists' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (tmp_path / 'val.msgpack').read_bytes() == before
    assert run(['-s', '-q', '-y', '--shuffle', 'no', tmp_path]).returncode == 0


def test_calculate_weights(tmp_path):
    # two maps whose counts are known: A 4x4 (8 background, 4 void, 4 cat),
    # B 2x4 (6 background, 2 person)
    a = np.array([[0, 0, 0, 0], [0, 255, 255, 0], [0, 255, 255, 0], [8, 8, 8, 8]], np.uint8)
    b = np.array([[0, 0, 0, 0], [0, 0, 15, 15]], np.uint8)
    maps = {'2007_000032': a, '2007_000039': b, '2007_000033': b}
    make_voc(tmp_path, np.random.default_rng(5),
             ids={'train': ['2007_000032', '2007_000039'], 'val': ['2007_000033']},
             label=lambda name, _: palette_png(maps[name]))
    out = tmp_path / 'out'
    proc = run(['-s', '-q', '--calculate-weights', '-o', out, tmp_path])
    assert proc.returncode == 0, proc.stderr
    assert not (out / 'train.msgpack').exists()
    stats = json.loads((out / 'VOC2012_train_counts.json').read_text())
    assert stats['INDEXES'] == [0, 8, 15]
    assert stats['PIXELS'] == [14, 4, 2]
    # background occurs in both maps (12 + 8 counted pixels), cat in A, person in B
    assert stats['IMAGE_PIXELS'] == [20, 12, 8]
    assert stats['IGNORED_PIXELS'] == 4 and stats['IGNORE_INDEX'] == 255
    # freq = 14/20, 4/12, 2/8; median 1/3
    assert stats['FREQUENCIES'] == pytest.approx([0.7, 1 / 3, 0.25])
    assert stats['WEIGHTS'] == pytest.approx([(1 / 3) / 0.7, 1.0, (1 / 3) / 0.25])
    # datadings-style COUNTS: per-map shares of the counted pixels, summed
    assert stats['COUNTS'] == pytest.approx([8 / 12 + 6 / 8, 4 / 12, 2 / 8])
    assert stats['CLASSES'] == list(VOC2012.CLASSES)
    val = json.loads((out / 'VOC2012_val_counts.json').read_text())
    assert val['INDEXES'] == [0, 15] and val['SAMPLES'] == 1
    assert 'train weights\n2 samples analyzed\nINDEXES = [\n    0,\n    8,\n    15,\n]' in proc.stdout
    assert 'val weights' in proc.stdout
    # the files exist now: not replaced without -y
    proc = run(['-s', '-q', '--calculate-weights', '-o', out, tmp_path])
    assert proc.returncode == 1 and 'VOC2012_train_counts.json' in proc.stderr
    assert run(['-s', '-q', '-y', '--calculate-weights', '-o', out, tmp_path]).returncode == 0


def test_unknown_colour_is_an_error(tmp_path):
    def rgb(name, indices):
        colors = VOC2012.index_to_color(indices)
        if name == '2007_000039':
            colors[0, 0] = (1, 2, 3)
        bio = io.BytesIO()
        Image.fromarray(colors).save(bio, 'PNG')
        return bio.getvalue()
    make_voc(tmp_path, np.random.default_rng(6), label=rgb)
    proc = run(['-s', '-q', '--shuffle', 'no', tmp_path])
    assert proc.returncode == 1
    assert 'SegmentationClass/2007_000039.png' in proc.stderr
    assert '(1, 2, 3)' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'train.msgpack').exists()


def test_rgb_label_images_give_the_same_indices(tmp_path):
    def rgb(name, indices):
        bio = io.BytesIO()
        Image.fromarray(VOC2012.index_to_color(indices)).save(bio, 'PNG')
        return bio.getvalue()
    truth = make_voc(tmp_path, np.random.default_rng(7), label=rgb)
    assert run(['-s', '-q', tmp_path]).returncode == 0
    for s in read(tmp_path / 'val.msgpack'):
        assert np.array_equal(decode_image(s['label_image']), truth[s['key']][1])


def test_missing_member_is_named_before_writing(tmp_path):
    ids = {'train': ['2007_000032'], 'val': ['2007_000033']}
    make_voc(tmp_path, np.random.default_rng(8), ids=ids)
    # val.txt lists an image that is not in the tar
    with tarfile.open(tmp_path / TAR, 'a') as tar:
        add(tar, ROOT + 'ImageSets/Segmentation/val.txt', b'2007_000033\n2011_999999\n')
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'JPEGImages/2011_999999.jpg' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'train.msgpack').exists()


def test_not_a_tar(tmp_path):
    (tmp_path / TAR).write_bytes(b'nothing')
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and TAR in proc.stderr and 'Traceback' not in proc.stderr


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write VOC2012 [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}] [--calculate-weights]'), usage
    assert usage.endswith('[INDIR]'), usage
    for text in (TAR, 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/', '--calculate-weights',
                 '"label_image"', '255'):
        assert text in proc.stdout


def test_metadata():
    cmap = VOC2012.class_color_map()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    # colours of VOClabelcolormap.m
    assert cmap[1].tolist() == [128, 0, 0]
    assert cmap[2].tolist() == [0, 128, 0]
    assert cmap[15].tolist() == [192, 128, 128]
    assert cmap[20].tolist() == [0, 64, 128]
    assert cmap[255].tolist() == [224, 224, 192]
    assert VOC2012.class_color_map(3).tolist() == cmap[:3].tolist()
    assert VOC2012.VOID_COLOR == (224, 224, 192)
    assert len(VOC2012.CLASSES) == 21 == len(VOC2012.COLORS)
    assert VOC2012.bitget(5, 0) and not VOC2012.bitget(5, 1) and VOC2012.bitget(5, 2)
    a = np.array([[0, 15], [255, 1]], np.uint8)
    assert VOC2012.index_to_color(a).tolist() == [[[0, 0, 0], [192, 128, 128]],
                                                  [[224, 224, 192], [128, 0, 0]]]
    # weights of the shipped COUNTS, as datadings 3.4.7 has them
    assert VOC2012.WEIGHTS[0] == pytest.approx(0.014484450573229297)
    assert VOC2012.WEIGHTS[14] == pytest.approx(1.0)
    assert VOC2012.median_frequency_weights([1, 3, 2]) == pytest.approx([2, 2 / 3, 1])


def test_write_module_functions():
    rgb = VOC2012.index_to_color(np.array([[0, 255, 20]], np.uint8))
    assert VOC2012_write.single_value(rgb).tolist() == [[0, 224 << 16 | 224 << 8 | 192, 64 << 8 | 128]]
    assert VOC2012_write.map_color_image(rgb).tolist() == [[0, 255, 20]]
    png = VOC2012_write.array_to_imagedata(np.array([[1, 2]], np.uint8), 'PNG')
    assert np.asarray(Image.open(io.BytesIO(png))).tolist() == [[1, 2]]
    assert VOC2012_write.imagedata_to_array(png).shape == (1, 2, 3)
    counts = VOC2012_write.class_counts(iter([np.array([[0, 0, 1, 255]], np.uint8)]),
                                        ignore_index=255, quiet=True)
    assert counts == pytest.approx({0: 2 / 3, 1: 1 / 3})


def test_module_functions_on_the_tar(tmp_path):
    truth = make_voc(tmp_path, np.random.default_rng(9))
    with tarfile.open(tmp_path / TAR) as tar:
        path = ROOT + 'ImageSets/Segmentation/val.txt'
        assert VOC2012_write.get_imageset(tar, path) == IDS['val']
        assert VOC2012_write.extract(tar, ROOT + 'JPEGImages/2007_000033.jpg') == \
            truth['2007_000033'][0]
        with pytest.raises(Exception, match='nothing.jpg not found'):
            VOC2012_write.extract(tar, ROOT + 'nothing.jpg')
        args = argparse.Namespace(shuffle=False, seed=None, no_confirm=True, quiet=True)
        assert VOC2012_write.write_set(tar, 'val', tmp_path / 'api', args) == 2
    assert [s['key'] for s in read(tmp_path / 'api' / 'val.msgpack')] == IDS['val']
    # the manual's signature: the statistics go next to the tar
    files = {'trainval': {'path': str(tmp_path / TAR)}}
    stats = VOC2012_write.calculate_set_weights(files)
    assert stats['val']['SAMPLES'] == 2
    assert json.loads((tmp_path / 'VOC2012_val_counts.json').read_text()) == stats['val']


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    truth = make_voc(tmp_path, np.random.default_rng(10))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    proc = run(['-s', '-q', '-o', ours, tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'VOC2012', ['-s', '-y', '-o', theirs, tmp_path])

    def void_fixed(key, field, a, b):
        # the documented difference: void is 255 here, background (0) in 3.4.7
        if field != 'label_image':
            return False
        x, y = decode_image(a), decode_image(b)
        void = truth[key][1] == 255
        assert (x[void] == 255).all() and (y[void] == 0).all()
        assert np.array_equal(x[~void], y[~void])
        return True

    for split in IDS:
        n = assert_same_samples(ours / f'{split}.msgpack', theirs / f'{split}.msgpack',
                                images=('image', 'label_image'), expected=void_fixed)
        assert n == len(IDS[split])


def _parse_printed(text, split, name):
    block = text.split(f'{split} weights\n', 1)[1]
    block = block.split(f'{name} = [\n', 1)[1].split(']', 1)[0]
    return [float(v.strip().rstrip(',')) for v in block.strip().splitlines()]


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_counts_match_datadings_where_void_is_not_involved(tmp_path):
    # without void pixels, datadings 3.4.7 prints the same COUNTS
    maps = {'2007_000032': np.array([[0, 0, 3, 3], [0, 7, 7, 7]], np.uint8),
            '2007_000039': np.array([[0, 0, 0], [0, 0, 3]], np.uint8),
            '2007_000033': np.array([[1, 1], [0, 0]], np.uint8)}
    make_voc(tmp_path, np.random.default_rng(11),
             ids={'train': ['2007_000032', '2007_000039'], 'val': ['2007_000033']},
             label=lambda name, _: palette_png(maps[name]))
    out = tmp_path / 'out'
    proc = run(['-s', '-q', '--calculate-weights', '-o', out, tmp_path])
    assert proc.returncode == 0, proc.stderr
    ref = run_reference_writer(reference_python(), 'VOC2012',
                               ['-s', '-y', '--calculate-weights', tmp_path])
    for split in ('train', 'val'):
        stats = json.loads((out / f'VOC2012_{split}_counts.json').read_text())
        assert [int(i) for i in _parse_printed(ref.stdout, split, 'INDEXES')] == stats['INDEXES']
        assert _parse_printed(ref.stdout, split, 'COUNTS') == pytest.approx(stats['COUNTS'])


def test_image_and_label_must_match(tmp_path):
    def smaller(name, indices):
        return palette_png(indices[1:] if name == '2007_000033' else indices)
    make_voc(tmp_path, np.random.default_rng(12), label=smaller)
    proc = run(['-s', '-q', '-y', tmp_path])
    assert proc.returncode == 1
    assert 'SegmentationClass/2007_000033.png' in proc.stderr and 'pixels' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'val.msgpack').exists()


def test_image_must_be_a_jpeg(tmp_path):
    make_voc(tmp_path, np.random.default_rng(13))
    with tarfile.open(tmp_path / TAR, 'a') as tar:
        add(tar, ROOT + 'JPEGImages/2007_000039.jpg', palette_png(np.zeros((3, 3), np.uint8)))
    proc = run(['-s', '-q', '-y', tmp_path])
    assert proc.returncode == 1
    assert 'JPEGImages/2007_000039.jpg: not a JPEG' in proc.stderr, proc.stderr
