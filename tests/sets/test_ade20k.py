"""
Tests of the ADE20k writer on a miniature ``ADE20K_2016_07_26.zip`` with
the layout of the real one: ``ADE20K_2016_07_26/index_ade20k.mat`` (a
struct ``index`` with cells ``filename``, ``folder``, ``scene``, ...) and
``images/{training,validation}/<letter>/<scene>/ADE_*.jpg`` with
``_seg.png`` (class R/10*256+G, instance B), ``_parts_N.png`` and
``_atr.txt``. The writer runs as a subprocess with ``-s``.
"""
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import ADE20k
from datadings_like.sets import ADE20k_write

from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason

scipy_io = pytest.importorskip('scipy.io')

ROOT = 'ADE20K_2016_07_26'
ZIP = 'ADE20K_2016_07_26.zip'
#: (split, letter, scene, stem, number of parts images); real scene names
IMAGES = (
    ('training', 'a', 'abbey', 'ADE_train_00000001', 1),
    ('training', 'a', 'airport/airport', 'ADE_train_00000002', 0),
    ('training', 'b', 'bathroom', 'ADE_train_00000003', 2),
    ('training', 'b', 'bathroom', 'ADE_train_00000004', 0),
    ('validation', 'a', 'abbey', 'ADE_val_00000001', 1),
    ('validation', 'z', 'zoo', 'ADE_val_00000002', 0),
)
CLASSES = (0, 1, 255, 256, 300, 2978, 3145)


def seg_png(classes, rng):
    """An ADE20K-style segmentation PNG of a class map (R/10*256+G)."""
    rgb = np.zeros(classes.shape + (3,), np.uint8)
    rgb[..., 0] = classes // 256 * 10 + rng.integers(0, 10, classes.shape)
    rgb[..., 1] = classes % 256
    rgb[..., 2] = rng.integers(0, 5, classes.shape)
    bio = io.BytesIO()
    Image.fromarray(rgb).save(bio, 'PNG')
    return bio.getvalue()


def jpeg(rng, h, w):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG', quality=90)
    return bio.getvalue()


def index_mat(images):
    n = len(images)
    filename, folder, scene = (np.empty((1, n), object) for _ in range(3))
    for i, (split, letter, sc, stem, _) in enumerate(images):
        filename[0, i] = stem + '.jpg'
        folder[0, i] = f'{ROOT}/images/{split}/{letter}/{sc}'
        scene[0, i] = sc
    bio = io.BytesIO()
    scipy_io.savemat(bio, {'index': {
        'filename': filename, 'folder': folder, 'scene': scene,
        'objectnames': np.array([['wall', 'floor', 'sky']], object),
        'objectcounts': np.array([[3.0], [1.0], [2.0]]),
    }})
    return bio.getvalue()


def build_ade20k(indir, seed=0, images=IMAGES, maps=None, skip=(), in_index=None,
                 replace=None):
    """
    Write a miniature ``ADE20K_2016_07_26.zip`` into ``indir``.

    Parameters:
        maps: optional dict stem -> (class map, [parts class maps])
        skip: member names to leave out
        replace: dict member name -> data to store instead
        in_index: the images listed in the index (default: all)

    Returns:
        dict key -> (split, scene, jpeg bytes, class map, [parts maps])
    """
    rng = np.random.default_rng(seed)
    truth = {}
    path = os.path.join(str(indir), ZIP)
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr(f'{ROOT}/index_ade20k.mat', index_mat(in_index or images),
                   zipfile.ZIP_DEFLATED)
        for split, letter, scene, stem, nparts in images:
            folder = f'{ROOT}/images/{split}/{letter}/{scene}/'
            if maps and stem in maps:
                classes, parts = maps[stem]
                h, w = classes.shape
            else:
                h, w = (int(v) for v in rng.integers(5, 20, 2))
                classes = rng.choice(CLASSES, size=(h, w))
                parts = [rng.choice([0, 5, 700], size=(h, w)) for _ in range(nparts)]
            image = jpeg(rng, h, w)
            members = [(folder + stem + '.jpg', image, zipfile.ZIP_STORED),
                       (folder + stem + '_seg.png', seg_png(classes, rng), zipfile.ZIP_DEFLATED)]
            members += [(folder + f'{stem}_parts_{k + 1}.png', seg_png(p, rng),
                         zipfile.ZIP_DEFLATED) for k, p in enumerate(parts)]
            members.append((folder + stem + '_atr.txt', b'001 # 0 # 0 # wall # wall # ""\n',
                            zipfile.ZIP_DEFLATED))
            for name, data, method in members:
                if name not in skip:
                    z.writestr(name, (replace or {}).get(name, data), method)
            truth[stem + '.jpg'] = (split, scene, image, classes, parts)
    return truth


def run(args, via_command=False, timeout=180):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'ADE20k'] + list(args)
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.ADE20k_write'] + list(args)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def read_all(path):
    with MsgpackReader(str(path)) as reader:
        return [reader.get(i) for i in range(len(reader))]


def decode(data):
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == 'PNG'
        return np.asarray(image)


def scene_label(scene):
    scenes = sorted({sc for _, _, sc, _, _ in IMAGES})
    return scenes.index(scene)


# ------------------------------------------------------------ unit tests

def test_segmentation_map_decodes_class_numbers():
    im = np.array([[[0, 0, 7], [10, 5, 0], [259 // 256 * 10 + 9, 3, 1], [250, 255, 0]]], np.uint8)
    assert ADE20k_write.segmentation_map(im).tolist() == [[0, 256 + 5, 256 + 3, 25 * 256 + 255]]
    assert ADE20k_write.instance_map(im).tolist() == [[7, 0, 1, 0]]


def test_array_to_png16_keeps_16_bit_values():
    # datadings 3.4.7 writes mode I, which Pillow >= 10 cannot save as PNG
    array = np.array([[0, 255, 256, 3145], [6655, 65535, 1, 2]], np.int64)
    data = ADE20k_write.array_to_png16(array)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == 'PNG' and image.mode.startswith('I')
        assert np.asarray(image).tolist() == array.tolist()
    with pytest.raises(ValueError):
        ADE20k_write.array_to_png16(np.array([[65536]]))
    with pytest.raises(ValueError):
        ADE20k_write.array_to_png16(np.zeros((2, 2, 3)))


def test_yield_images_groups_parts_without_gaps():
    names = ['a/x.jpg', 'a/x_seg.png', 'a/x_parts_1.png', 'a/x_parts_2.png', 'a/x_parts_4.png',
             'a/y.jpg', 'a/y_seg.png', 'a/y_atr.txt']
    assert list(ADE20k_write.yield_images(names)) == [
        ('a/x.jpg', 'a/x_seg.png', ['a/x_parts_1.png', 'a/x_parts_2.png']),
        ('a/y.jpg', 'a/y_seg.png', []),
    ]


def test_metadata():
    assert len(ADE20k.INDEXES) == len(ADE20k.COUNTS) == len(ADE20k.WEIGHTS) == 2603
    assert ADE20k.INDEXES[:4] == [0, 1, 3, 4] and ADE20k.INDEXES[-1] == 3145
    assert len(ADE20k.SCENELABELS) == 872 and ADE20k.SCENELABELS == sorted(ADE20k.SCENELABELS)
    assert ADE20k.SCENELABELS[0] == 'abbey'
    median = float(np.median(ADE20k.COUNTS))
    assert ADE20k.WEIGHTS[1] == pytest.approx(median / ADE20k.COUNTS[1])
    # compact index 2 is class 3; class 3145 is R = 12 * 10, G = 73
    assert ADE20k.index_to_color([[2, 2602]]).tolist() == [[[0, 3, 0], [120, 73, 0]]]
    assert ADE20k.class_to_color([3145]).tolist() == [[120, 73, 0]]
    with pytest.raises(IndexError):
        ADE20k.index_to_color([2603])
    indexes, counts = ADE20k.load_statistics('ADE20k_counts.json.xz')
    assert indexes == ADE20k.INDEXES and counts == ADE20k.COUNTS


# ------------------------------------------------------------ the writer

@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_writes_samples(tmp_path, via_command):
    truth = build_ade20k(tmp_path)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--shuffle', 'no', '-t', '1', '-o', str(out), str(tmp_path)],
               via_command=via_command)
    assert proc.returncode == 0, proc.stderr
    for split in ('training', 'validation'):
        samples = read_all(out / f'{split}.msgpack')
        expected = [k for k, v in truth.items() if v[0] == split]
        assert [s['key'] for s in samples] == expected  # zip order without --shuffle
        for s in samples:
            _, scene, image, classes, parts = truth[s['key']]
            assert list(s) == ['key', 'image', 'label', 'label_image', 'parts_images']
            assert s['image'] == image
            assert s['label'] == scene_label(scene)
            label_image = decode(s['label_image'])
            assert label_image.dtype == np.uint16 and label_image.tolist() == classes.tolist()
            assert [decode(p).tolist() for p in s['parts_images']] == [p.tolist() for p in parts]


def test_processes_and_shuffle_give_the_same_samples(tmp_path):
    build_ade20k(tmp_path)
    a, b = tmp_path / 'a', tmp_path / 'b'
    proc = run(['-s', '-y', '--shuffle', 'no', '-t', '1', '-o', str(a), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    proc = run(['-s', '-y', '--shuffle', 'yes', '--seed', '5', '-t', '2', '-o', str(b),
                str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    for split in ('training', 'validation'):
        assert assert_same_samples(a / f'{split}.msgpack', b / f'{split}.msgpack',
                                   images=()) > 0


def test_calculate_weights_on_known_counts(tmp_path):
    # class 1 covers 12 of 16 pixels of the first map and all of the parts
    # map, class 300 the other 4; the second image is all class 3145
    first = np.ones((4, 4), np.int64)
    first[0] = 300
    maps = {'ADE_train_00000001': (first, [np.ones((4, 4), np.int64)]),
            'ADE_train_00000002': (np.full((2, 4), 3145), []),
            'ADE_val_00000001': (np.full((3, 3), 7), [])}
    images = (IMAGES[0][:4] + (1,), IMAGES[1], IMAGES[4])
    build_ade20k(tmp_path, images=images, maps=maps)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--calculate-weights', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert not (out / 'training.msgpack').exists()
    stats = json.loads((out / 'ADE20k_counts.json').read_text())
    assert stats['INDEXES'] == [1, 300, 3145]          # validation (7) not counted
    assert stats['COUNTS'] == [1 + 12 / 16, 4 / 16, 1.0]
    assert stats['PIXELS'] == [28, 4, 8]
    assert stats['SAMPLES'] == 3
    # frequencies 28/32, 4/16, 8/8; median 7/8
    freq = [28 / 32, 4 / 16, 1.0]
    assert stats['WEIGHTS'] == pytest.approx([0.875 / f for f in freq])
    indexes, counts = ADE20k.load_statistics(str(out / 'ADE20k_counts.json'))
    assert indexes == [1, 300, 3145] and counts == stats['COUNTS']


def test_scenelabels(tmp_path):
    build_ade20k(tmp_path)
    proc = run(['-s', '-y', '--scenelabels', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    scenes = json.loads((tmp_path / 'out' / 'ADE20k_scenelabels.json').read_text())
    assert scenes == ['abbey', 'airport/airport', 'bathroom', 'zoo']


def test_missing_segmentation_is_one_line_error(tmp_path):
    missing = f'{ROOT}/images/training/b/bathroom/ADE_train_00000003_seg.png'
    build_ade20k(tmp_path, skip=(missing,))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-t', '1', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 1
    assert missing in proc.stderr and 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()[-1]) > 0
    assert not (out / 'training.msgpack').exists()


def test_image_not_in_index_is_an_error(tmp_path):
    build_ade20k(tmp_path, in_index=IMAGES[1:])
    proc = run(['-s', '-y', '-t', '1', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 1
    assert 'ADE_train_00000001.jpg is not in' in proc.stderr and 'Traceback' not in proc.stderr


def test_damaged_image_names_the_member(tmp_path):
    member = f'{ROOT}/images/validation/z/zoo/ADE_val_00000002_seg.png'
    build_ade20k(tmp_path, replace={member: b'not an image'})
    proc = run(['-s', '-y', '-t', '1', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert member in proc.stderr
    assert not (tmp_path / 'out' / 'validation.msgpack').exists()


def test_existing_output_needs_y(tmp_path):
    build_ade20k(tmp_path)
    out = tmp_path / 'out'
    assert run(['-s', '-y', '-t', '1', '-o', str(out), str(tmp_path)]).returncode == 0
    proc = run(['-s', '-t', '1', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'training.msgpack' in proc.stderr
    proc = run(['-s', '-y', '--calculate-weights', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    proc = run(['-s', '--calculate-weights', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 1 and 'ADE20k_counts.json' in proc.stderr


def test_help_shows_usage_and_files():
    proc = run(['-h'], via_command=True)
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    assert '[-t N] [--seed INT] [-q] [--calculate-weights] [--scenelabels]' in text
    assert 'ADE20K_2016_07_26.zip' in text
    for key in ('"key"', '"image"', '"label"', '"label_image"', '"parts_images"'):
        assert key in text


# -------------------------------------------------- parity with datadings

@pytest.mark.skipif(not reference_python('pillow9'), reason=skip_reason('pillow9'))
def test_same_samples_as_datadings(tmp_path):
    build_ade20k(tmp_path)
    ours, ref = tmp_path / 'ours', tmp_path / 'ref'
    proc = run(['-s', '-y', '-t', '2', '-o', str(ours), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python('pillow9'), 'ADE20k', ['-s', '-y', '-o', ref, tmp_path])
    for split, n in (('training', 4), ('validation', 2)):
        assert assert_same_samples(ours / f'{split}.msgpack', ref / f'{split}.msgpack',
                                   images=('image', 'label_image', 'parts_images')) == n


@pytest.mark.skipif(not reference_python('pillow9'), reason=skip_reason('pillow9'))
def test_same_counts_as_datadings(tmp_path):
    build_ade20k(tmp_path)
    ours, ref = tmp_path / 'ours', tmp_path / 'ref'
    ref.mkdir()
    proc = run(['-s', '-y', '--calculate-weights', '-o', str(ours), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python('pillow9'), 'ADE20k',
                         ['-s', '-y', '--calculate-weights', '-o', ref, tmp_path])
    a = json.loads((ours / 'ADE20k_counts.json').read_text())
    b = json.loads((ref / 'ADE20k_counts.json').read_text())
    assert a['INDEXES'] == b['INDEXES'] and a['COUNTS'] == b['COUNTS']


# ------------------------------------------------------------ --segments

def _instances_of(rgb, group):
    """Brute force: {instance value: (mask, class)} of a _seg.png / _parts_N.png."""
    classes = ADE20k_write.segmentation_map(rgb)
    out = {}
    for value in sorted(set(rgb[..., 2].ravel().tolist()) - {0}):
        mask = rgb[..., 2] == value
        found, counts = np.unique(classes[mask], return_counts=True)
        out[(group, str(value).encode())] = (mask, int(found[np.argmax(counts)]))
    return out


@pytest.mark.parametrize('threads', ['1', '2'])
def test_segments_option_writes_instance_masks(tmp_path, threads):
    from datadings_like.masks import Segments
    build_ade20k(tmp_path)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--shuffle', 'no', '-t', threads, '--segments', '-o', str(out),
                str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    members = {}
    with zipfile.ZipFile(tmp_path / ZIP) as z:
        for name in z.namelist():
            if name.endswith('.png'):
                with Image.open(io.BytesIO(z.read(name))) as image:
                    members[name.rsplit('/', 1)[-1]] = np.asarray(image.convert('RGB'))
    checked = 0
    for split in ('training', 'validation'):
        for s in read_all(out / f'{split}.msgpack'):
            assert list(s) == ['key', 'image', 'label', 'label_image', 'parts_images',
                               'segments']
            stem = s['key'][:-len('.jpg')]
            seg = members[stem + '_seg.png']
            expected = _instances_of(seg, b'objects')
            for level in range(1, len(s['parts_images']) + 1):
                expected.update(_instances_of(members[f'{stem}_parts_{level}.png'],
                                              f'parts_{level}'.encode()))
            segments = Segments.decode(s['segments'])
            assert segments.shape == seg.shape[:2]
            assert {tuple(e.iid) for e in segments} == set(expected)
            for entry in segments:
                mask, label = expected[tuple(entry.iid)]
                assert entry.full_mask().tolist() == mask.tolist()
                assert entry.label == label and entry.area == int(mask.sum())
                group = entry.iid.domain.decode()
                assert entry.groups == (('objects',) if group == 'objects'
                                        else ('parts', group))
            checked += len(segments)
    assert checked > 0


def test_segments_field_of_parts_with_another_size_is_an_error():
    from datadings_like.masks import Segments
    from datadings_like.tools.cli import UserError
    seg = np.zeros((4, 5, 3), np.uint8)
    seg[1:3, 1:3] = (0, 7, 2)
    value = ADE20k_write.segments_field(seg)
    assert [(e.label, e.area, e.groups) for e in Segments.decode(value)] == [(7, 4, ('objects',))]
    with pytest.raises(UserError, match='x_parts_1.png'):
        ADE20k_write.segments_field(seg, [np.ones((5, 5, 3), np.uint8)],
                                    ['x_seg.png', 'x_parts_1.png'])


def test_help_shows_the_segments_option():
    proc = run(['-h'], via_command=True)
    assert proc.returncode == 0 and '--segments' in proc.stdout
