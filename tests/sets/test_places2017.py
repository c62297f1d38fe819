"""
Tests of the Places2017 writer and its contour finder.

The writer runs on miniature copies of the challenge files with the real
names and layouts: ``images.tar`` (``images/{training,validation}/ADE_*.jpg``),
``sceneparsing.tar`` (``annotations_sceneparsing/.../*.png``, mode L),
``annotations_instance.tar`` (``annotations_instance/.../*.png``),
``boundaries.tar`` (``annotations_boundary/.../*.mat``: struct ``gt`` with a
cell ``bdry`` of sparse masks), ``objectInfo150.txt`` and ``color150.mat``.
The contours must be those of OpenCV 3 (``RETR_LIST``,
``CHAIN_APPROX_TC89_L1``); with a reference interpreter that has OpenCV 3
they are compared on a few hundred random masks.
"""
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import Places2017
from datadings_like.sets import Places2017_write as P

from sets.reference import assert_same_samples
from sets.reference import decode_image
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import samples_by_key
from sets.reference import skip_reason

scipy_io = pytest.importorskip('scipy.io')
scipy_sparse = pytest.importorskip('scipy.sparse')

TARS = {'images': 'images', 'sceneparsing': 'annotations_sceneparsing',
        'annotations_instance': 'annotations_instance', 'boundaries': 'annotations_boundary'}
CLASS_NAMES = ('wall', 'building, edifice', 'sky', 'floor, flooring', 'tree', 'ceiling',
               'road, route')


# ------------------------------------------------------------ miniature

def add(tar, name, data=None):
    info = tarfile.TarInfo(name)
    info.mtime = 1234567890
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))


def png(array):
    bio = io.BytesIO()
    Image.fromarray(array).save(bio, 'PNG')
    return bio.getvalue()


def region_boundaries(rng, h, w, regions):
    """Boundary mask of a random partition into regions (thin lines)."""
    pts = rng.integers(0, [h, w], size=(regions, 2))
    yy, xx = np.mgrid[:h, :w]
    lab = ((yy[..., None] - pts[:, 0]) ** 2 + (xx[..., None] - pts[:, 1]) ** 2).argmin(-1)
    m = np.zeros((h, w), np.uint8)
    m[:-1] |= lab[:-1] != lab[1:]
    m[:, :-1] |= lab[:, :-1] != lab[:, 1:]
    return m


def boundary_mat(masks):
    cells = np.empty((len(masks), 1), object)
    for i, m in enumerate(masks):
        cells[i, 0] = scipy_sparse.csc_matrix(m)
    bio = io.BytesIO()
    scipy_io.savemat(bio, {'gt': {'bdry': cells}})
    return bio.getvalue()


def build_places(indir, seed=0, train=4, val=2, skip=(), replace=None, classes=None):
    """
    Write miniature challenge files into ``indir``.

    Parameters:
        skip: member names to leave out
        replace: dict member name -> data to store instead
        classes: dict stem -> class map to use

    Returns:
        dict key -> (split, jpeg, class map, instance image, boundary masks)
    """
    rng = np.random.default_rng(seed)
    stems = [('training', f'ADE_train_{i:08d}') for i in range(1, train + 1)] + \
            [('validation', f'ADE_val_{i:08d}') for i in range(1, val + 1)]
    truth = {}
    tars = {name: tarfile.open(os.path.join(str(indir), name + '.tar'), 'w') for name in TARS}
    for name, top in TARS.items():
        add(tars[name], top)
        for split in ('training', 'validation'):
            add(tars[name], f'{top}/{split}')
    for split, stem in stems:
        cls = (classes or {}).get(stem)
        h, w = cls.shape if cls is not None else (int(v) for v in rng.integers(8, 40, 2))
        bio = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
        image = bio.getvalue()
        if cls is None:
            cls = rng.integers(0, 151, (h, w), dtype=np.uint8)
        instance = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        masks = [region_boundaries(rng, h, w, 5), (rng.random((h, w)) < 0.3).astype(np.uint8),
                 np.zeros((h, w), np.uint8), region_boundaries(rng, h, w, 2)]
        members = {
            'images': (f'images/{split}/{stem}.jpg', image),
            'sceneparsing': (f'annotations_sceneparsing/{split}/{stem}.png', png(cls)),
            'annotations_instance': (f'annotations_instance/{split}/{stem}.png', png(instance)),
            'boundaries': (f'annotations_boundary/{split}/{stem}.mat', boundary_mat(masks)),
        }
        for tar, (member, data) in members.items():
            if member not in skip:
                add(tars[tar], member, (replace or {}).get(member, data))
        truth[stem + '.jpg'] = (split, image, cls, png(instance), masks)
    for tar in tars.values():
        tar.close()
    with open(os.path.join(str(indir), 'objectInfo150.txt'), 'w') as f:
        f.write('Idx\tRatio\tTrain\tVal\tName\n')
        for i, name in enumerate(CLASS_NAMES):
            f.write(f'{i + 1}\t0.1\t100\t10\t{name}\n')
    scipy_io.savemat(os.path.join(str(indir), 'color150.mat'),
                     {'colors': rng.integers(0, 256, (150, 3), dtype=np.uint8)})
    return truth


def run(args, via_command=False, timeout=180):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'Places2017'] + list(args)
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.Places2017_write'] + list(args)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def read_all(path):
    with MsgpackReader(str(path)) as reader:
        return [reader.get(i) for i in range(len(reader))]


def as_lists(contours):
    return [c.tolist() for c in contours]


# -------------------------------------------------------------- contours

# results of OpenCV 3.4.18: cv2.findContours(m, RETR_LIST, CHAIN_APPROX_*)
def test_trace_borders_like_opencv():
    assert P.trace_borders(np.ones((3, 3))) == [
        [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]]
    assert P.trace_borders([[0, 0, 0], [0, 1, 0], [0, 0, 0]]) == [[(1, 1)]]
    # the borders are listed last found first
    assert P.trace_borders([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]) == [
        [(2, 2), (3, 2)], [(0, 0), (1, 0)]]
    # a ring: the border of the hole (found second) comes first
    ring = [[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]]
    assert P.trace_borders(ring) == [
        [(0, 1), (1, 0), (2, 0), (3, 1), (2, 2), (1, 2)],
        [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (3, 2), (3, 1), (3, 0), (2, 0), (1, 0)]]
    assert P.trace_borders(np.zeros((0, 4))) == []
    with pytest.raises(ValueError):
        P.trace_borders(np.zeros(4))


def test_find_contours_like_opencv():
    assert as_lists(P.find_contours(np.array([[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]))) == [
        [[3, 2]], [[1, 0]]]
    ring = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 1, 1]], np.uint8)
    contours = P.find_contours(ring)
    assert as_lists(contours) == [[[0, 1], [3, 1]], [[0, 0], [0, 2], [3, 2], [3, 0]]]
    assert all(c.dtype == np.int32 and c.ndim == 2 and c.shape[1] == 2 for c in contours)
    assert as_lists(P.find_contours(np.array([[5, 0, 7]]))) == [[[2, 0]], [[0, 0]]]
    assert P.find_contours(np.zeros((4, 5))) == []


def test_find_contours_of_sparse_and_shifted_masks():
    rng = np.random.default_rng(1)
    mask = region_boundaries(rng, 40, 50, 6)
    mask[:5] = 0
    mask[:, :7] = 0
    dense = as_lists(P.find_contours(mask))
    assert dense and as_lists(P.find_contours(scipy_sparse.csc_matrix(mask))) == dense
    assert as_lists(P.find_contours(mask.astype(bool))) == dense
    assert as_lists(P.find_contours(mask.astype(np.float64) * 3)) == dense
    # the mask cropped to its content gives the same contours, shifted
    shifted = as_lists(P.find_contours(mask[5:, 7:]))
    assert [[[x + 7, y + 5] for x, y in c] for c in shifted] == dense


def test_approximate_tc89_l1_keeps_corners_of_a_rectangle():
    mask = np.zeros((10, 12), np.uint8)
    mask[2:8, 3:10] = 1
    assert as_lists(P.find_contours(mask)) == [[[3, 2], [3, 7], [9, 7], [9, 2]]]


def random_masks(seed, count):
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(count):
        h, w = (int(v) for v in rng.integers(2, 48, 2))
        kind = i % 4
        if kind == 0:
            m = rng.random((h, w)) < rng.uniform(0.05, 0.8)
        elif kind == 1:
            m = region_boundaries(rng, h, w, int(rng.integers(2, 12)))
        elif kind == 2:
            m = np.zeros((h, w), bool)
            for _ in range(int(rng.integers(1, 6))):
                y0, x0, y1, x1 = (int(v) for v in rng.integers(0, [h, w, h, w]))
                m[min(y0, y1):max(y0, y1) + 1, min(x0, x1):max(x0, x1) + 1] ^= True
        else:
            yy, xx = np.mgrid[:h, :w]
            m = np.zeros((h, w), bool)
            for _ in range(int(rng.integers(1, 5))):
                cy, cx = rng.integers(0, [h, w])
                r = rng.uniform(1, max(h, w) / 2)
                m |= np.abs(np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) - r) < rng.uniform(0.4, 2)
        masks.append(m.astype(np.uint8))
    return masks


OPENCV_SCRIPT = '''
import json, sys
import cv2, numpy as np
masks = np.load(sys.argv[1])
json.dump([[c.reshape(-1, 2).tolist() for c in
            cv2.findContours(masks[k], cv2.RETR_LIST, cv2.CHAIN_APPROX_TC89_L1)[-2]]
           for k in masks.files], open(sys.argv[2], 'w'))
'''


@pytest.mark.skipif(not reference_python('opencv3'), reason=skip_reason('opencv3'))
def test_find_contours_equal_opencv3_on_random_masks(tmp_path):
    masks = random_masks(7, 400)
    np.savez(tmp_path / 'masks.npz', *masks)
    (tmp_path / 'cv.py').write_text(OPENCV_SCRIPT)
    subprocess.run([reference_python('opencv3'), str(tmp_path / 'cv.py'),
                    str(tmp_path / 'masks.npz'), str(tmp_path / 'cv.json')], check=True,
                   timeout=300)
    expected = json.loads((tmp_path / 'cv.json').read_text())
    contours = 0
    for i, (mask, want) in enumerate(zip(masks, expected)):
        assert as_lists(P.find_contours(mask)) == want, f'mask {i}'
        contours += len(want)
    assert contours > 5000


def test_trace_borders_equal_installed_opencv():
    # CHAIN_APPROX_NONE is the same in OpenCV 3, 4 and 5 (TC89_L1 is not)
    cv2 = pytest.importorskip('cv2')
    for i, mask in enumerate(random_masks(3, 200)):
        want = [[tuple(p) for p in c.reshape(-1, 2).tolist()] for c in
                cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)[-2]]
        assert P.trace_borders(mask) == want, f'mask {i}'


# ------------------------------------------------------------ the writer

@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_writes_samples(tmp_path, via_command):
    truth = build_places(tmp_path)
    scenes = Places2017.load_scenelabels()
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--shuffle', 'no', '-t', '1', '-o', str(out), str(tmp_path)],
               via_command=via_command)
    assert proc.returncode == 0, proc.stderr
    for split in ('training', 'validation'):
        samples = read_all(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == [k for k, v in truth.items() if v[0] == split]
        for s in samples:
            _, image, cls, instance, masks = truth[s['key']]
            assert list(s) == ['key', 'image', 'label', 'label_image', 'instance_image',
                               'boundary']
            assert s['image'] == image
            assert s['label'] == scenes[s['key']] and isinstance(s['label'], int)
            assert decode_image(s['label_image']).tolist() == cls.tolist()
            assert s['instance_image'] == instance
            assert len(s['boundary']) == len(masks)
            for got, mask in zip(s['boundary'], masks):
                assert as_lists(got) == as_lists(P.find_contours(mask))
            assert s['boundary'][2] == []  # the empty mask


def test_processes_and_shuffle_give_the_same_samples(tmp_path):
    build_places(tmp_path)
    a, b = tmp_path / 'a', tmp_path / 'b'
    assert run(['-s', '-y', '--shuffle', 'no', '-t', '1', '-o', str(a),
                str(tmp_path)]).returncode == 0
    proc = run(['-s', '-y', '--seed', '2', '-t', '2', '-o', str(b), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    for split in ('training', 'validation'):
        assert assert_same_samples(a / f'{split}.msgpack', b / f'{split}.msgpack', images=()) > 0


def test_missing_boundary_stops_before_writing(tmp_path):
    member = 'annotations_boundary/training/ADE_train_00000003.mat'
    build_places(tmp_path, skip=(member,))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-t', '1', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert member in proc.stderr and 'boundaries.tar' in proc.stderr
    assert not out.exists() or not list(out.iterdir())


def test_damaged_boundary_names_the_member(tmp_path):
    member = 'annotations_boundary/validation/ADE_val_00000002.mat'
    build_places(tmp_path, replace={member: b'MATLAB 5.0 MAT-file, damaged'})
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-t', '2', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert member in proc.stderr
    assert not (out / 'validation.msgpack').exists()


def test_image_without_scene_label(tmp_path):
    build_places(tmp_path, train=1, val=0)
    with tarfile.open(tmp_path / 'images.tar', 'a') as tar:
        add(tar, 'images/training/not_in_the_challenge.jpg', b'\xff\xd8')
    proc = run(['-s', '-y', '-t', '1', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'not_in_the_challenge' in proc.stderr


def test_class_counts_on_known_counts(tmp_path):
    first = np.zeros((4, 4), np.uint8)
    first[0] = 3          # 4 of 16 pixels class 3, 12 class 0
    second = np.full((2, 5), 150, np.uint8)
    build_places(tmp_path, train=2, val=1, classes={'ADE_train_00000001': first,
                                                    'ADE_train_00000002': second,
                                                    'ADE_val_00000001': np.ones((3, 3), np.uint8)})
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--class-counts', '-o', str(out), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert not (out / 'training.msgpack').exists()
    stats = json.loads((out / 'Places2017_counts.json').read_text())
    assert stats['INDEXES'] == [0, 3, 150]
    assert stats['COUNTS'] == [12 / 16, 4 / 16, 1.0]
    assert stats['PIXELS'] == [12, 4, 10]
    freq = [12 / 16, 4 / 16, 1.0]
    assert stats['WEIGHTS'] == pytest.approx([0.75 / f for f in freq])


def test_color_map_is_rgb(tmp_path):
    build_places(tmp_path)
    proc = run(['-s', '-y', '--color-map', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    colors = json.loads((tmp_path / 'out' / 'Places2017_colors.json').read_text())
    expected = scipy_io.loadmat(str(tmp_path / 'color150.mat'))['colors'].tolist()
    assert colors == [[0, 0, 0]] + expected


def test_classes(tmp_path):
    build_places(tmp_path)
    proc = run(['-s', '--classes', str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'CLASSES = [',
        "    'background',",
        "    'wall', 'building', 'sky', 'floor', 'tree',",
        "    'ceiling', 'road',",
        ']',
    ]


def test_scenelabels_from_ade20k(tmp_path):
    from sets.test_ade20k import build_ade20k
    build_ade20k(tmp_path)
    proc = run(['-s', '-y', '--scenelabels', '-o', str(tmp_path / 'out'), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    labels = json.loads((tmp_path / 'out' / 'Places2017_scenelabels.json').read_text())
    index = {name: i for i, name in enumerate(Places2017.SCENELABELS)}
    assert labels == {'ADE_train_00000001.jpg': index['abbey'],
                      'ADE_train_00000002.jpg': index['airport/airport'],
                      'ADE_train_00000003.jpg': index['bathroom'],
                      'ADE_train_00000004.jpg': index['bathroom'],
                      'ADE_val_00000001.jpg': index['abbey'],
                      'ADE_val_00000002.jpg': index['zoo']}


def test_metadata():
    assert len(Places2017.CLASSES) == 151 and Places2017.CLASSES[70] == 'bench'
    assert Places2017.COLORS.shape == (151, 3) and Places2017.COLORS.dtype == np.uint8
    assert Places2017.COLORS[:3].tolist() == [[0, 0, 0], [120, 120, 120], [180, 120, 120]]
    assert Places2017.index_to_color([[2, 0]]).tolist() == [[[180, 120, 120], [0, 0, 0]]]
    assert len(Places2017.INDEXES) == len(Places2017.WEIGHTS) == 151
    scenes = Places2017.load_scenelabels()
    assert len(scenes) == 22210 and scenes['ADE_train_00000001.jpg'] == 8
    assert max(scenes.values()) < len(Places2017.SCENELABELS)


def test_help_shows_usage_and_files():
    proc = run(['-h'], via_command=True)
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    assert '[--class-counts] [--color-map] [--classes] [--scenelabels]' in text
    for name in ('images.tar', 'sceneparsing.tar', 'annotations_instance.tar', 'boundaries.tar',
                 'objectInfo150.txt', 'color150.mat', 'ADE20K_2016_07_26.zip'):
        assert name in text


# -------------------------------------------------- parity with datadings

def _swapped(ours, theirs):
    # datadings 3.4.7 swaps label (scene) and label_image (scene parsing PNG)
    a, b = samples_by_key(ours), samples_by_key(theirs)
    for key in a:
        assert a[key]['label'] == b[key]['label_image'] and isinstance(a[key]['label'], int)
        assert np.array_equal(decode_image(a[key]['label_image']), decode_image(b[key]['label']))


@pytest.mark.skipif(not reference_python('opencv3'), reason=skip_reason('opencv3'))
def test_same_samples_as_datadings(tmp_path):
    build_places(tmp_path)
    ours, ref = tmp_path / 'ours', tmp_path / 'ref'
    proc = run(['-s', '-y', '-t', '2', '-o', str(ours), str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python('opencv3'), 'Places2017',
                         ['-s', '-y', '-o', ref, tmp_path])
    for split, n in (('training', 4), ('validation', 2)):
        assert assert_same_samples(ours / f'{split}.msgpack', ref / f'{split}.msgpack',
                                   images=('image', 'instance_image'),
                                   ignore=('label', 'label_image')) == n
        _swapped(ours / f'{split}.msgpack', ref / f'{split}.msgpack')


@pytest.mark.skipif(not reference_python('opencv3'), reason=skip_reason('opencv3'))
def test_same_counts_and_scenelabels_as_datadings(tmp_path):
    from sets.test_ade20k import build_ade20k
    build_places(tmp_path)
    build_ade20k(tmp_path)
    ours, ref = tmp_path / 'ours', tmp_path / 'ref'
    ref.mkdir()
    for option in ('--class-counts', '--scenelabels'):
        proc = run(['-s', '-y', option, '-o', str(ours), str(tmp_path)])
        assert proc.returncode == 0, proc.stderr
        run_reference_writer(reference_python('opencv3'), 'Places2017',
                             ['-s', '-y', option, '-o', ref, tmp_path])
    a = json.loads((ours / 'Places2017_counts.json').read_text())
    b = json.loads((ref / 'Places2017_counts.json').read_text())
    assert a['INDEXES'] == b['INDEXES'] and a['COUNTS'] == b['COUNTS']
    assert json.loads((ours / 'Places2017_scenelabels.json').read_text()) == \
        json.loads((ref / 'Places2017_scenelabels.json').read_text())


# ------------------------------------------------------------ --segments

@pytest.mark.parametrize('threads', ['1', '2'])
def test_segments_option_writes_instance_masks(tmp_path, threads):
    from datadings_like.masks import Segments
    truth = build_places(tmp_path)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--shuffle', 'no', '-t', threads, '--segments', '-o', str(out),
                str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    checked = 0
    for split in ('training', 'validation'):
        for s in read_all(out / f'{split}.msgpack'):
            assert list(s) == ['key', 'image', 'label', 'label_image', 'instance_image',
                               'boundary', 'segments']
            rgb = decode_image(truth[s['key']][3])
            segments = Segments.decode(s['segments'])
            values = sorted(set(rgb[..., 1].ravel().tolist()) - {0})
            assert [e.iid for e in segments] == [(b'instances', str(v).encode()) for v in values]
            for entry, value in zip(segments, values):
                mask = rgb[..., 1] == value
                found, counts = np.unique(rgb[..., 0][mask], return_counts=True)
                assert entry.full_mask().tolist() == mask.tolist()
                assert entry.label == int(found[np.argmax(counts)])
                assert entry.groups == ('instances',)
            checked += len(segments)
    assert checked > 0


def test_instance_segments_of_a_known_image():
    from datadings_like.masks import Segments
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[0, :2] = (12, 1, 0)
    rgb[2, 1:] = (40, 7, 0)
    rgb[1, 3] = (41, 7, 0)            # one pixel of another category
    segments = Segments.decode(P.instance_segments(png(rgb)))
    assert [(e.label, e.area, e.bbox, e.iid.address) for e in segments] == [
        (12, 2, (0, 0, 1, 2), b'1'), (40, 4, (1, 1, 3, 4), b'7')]
    with pytest.raises(P.UserError, match='inst.png'):
        P.instance_segments(b'not a png', 'inst.png')


def test_help_shows_the_segments_option():
    proc = run(['-h'], via_command=True)
    assert proc.returncode == 0 and '--segments' in proc.stdout
