"""
End-to-end tests of the SALICON2015 and SALICON2017 writers on miniature
``image.zip`` and ``fixations.zip``: the real member paths
(``images/{train,val,test}/COCO_<split>2014_N.jpg``,
``{train,val}/COCO_...mat`` with ``image``, ``resolution`` and the struct
array ``gaze`` of ``location``, ``timestamp`` and ``fixations``),
optionally ``test/*.mat`` without ``gaze``. The writers run as separate
processes with ``-s``.
"""
import argparse
import io
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

scipy_io = pytest.importorskip('scipy.io')

from datadings_like.reader import MsgpackReader  # noqa: E402
from datadings_like.sets import SALICON2015  # noqa: E402
from datadings_like.sets import SALICON2015_write  # noqa: E402
from datadings_like.sets import SALICON2017  # noqa: E402
from datadings_like.sets import SALICON2017_write  # noqa: E402
from datadings_like.sets.saliency import fixation_map  # noqa: E402
from sets.reference import assert_same_samples  # noqa: E402
from sets.reference import reference_python  # noqa: E402
from sets.reference import run_reference_writer  # noqa: E402
from sets.reference import skip_reason  # noqa: E402

NAMES = ('SALICON2015', 'SALICON2017')
COUNTS = {'train': 3, 'val': 2, 'test': 2}
GAZE_DTYPE = [('location', object), ('timestamp', object), ('fixations', object)]


def jpeg(rng, h=6, w=8):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
    return bio.getvalue()


def savemat(data):
    bio = io.BytesIO()
    scipy_io.savemat(bio, data)
    return bio.getvalue()


def gaze_struct(subjects, column=False):
    """The struct array ``gaze`` (1xK, or Kx1 with ``column``) of
    ``[(location, timestamp, fixations), ...]``."""
    shape = (len(subjects), 1) if column else (1, len(subjects))
    gaze = np.empty(shape, dtype=GAZE_DTYPE)
    for i, (location, timestamp, fixations) in enumerate(subjects):
        gaze.flat[i] = (location, timestamp, fixations)
    return gaze


def random_subjects(rng, k):
    subjects = []
    for i in range(k):
        n = 4 + i
        location = rng.uniform(1, 8, (n, 2))
        if i == 1:
            location = location.round().astype(np.int16)  # stored as integers
        timestamp = np.cumsum(rng.integers(1, 20, n)).astype(np.float64)[:, None]
        fixations = rng.uniform(1, 8, (i, 2)) if i else np.zeros((0, 0))
        subjects.append((location, timestamp, fixations))
    return subjects


def image_mat(gaze=None, name='COCO_x'):
    data = {'image': name, 'resolution': np.array([[6, 8]], np.uint16)}
    if gaze is not None:
        data['gaze'] = gaze
    return savemat(data)


def key_of(split, i):
    return f'{split}/COCO_{split}2014_{i + 9:012d}'


def make_salicon(indir, rng, counts=COUNTS, test_mats=False, column=False, extra=None):
    """Write image.zip and fixations.zip; returns ``{key: (jpeg, subjects)}``."""
    truth = {}
    with zipfile.ZipFile(indir / 'image.zip', 'w') as images, \
            zipfile.ZipFile(indir / 'fixations.zip', 'w') as fixations:
        images.writestr('images/', b'')
        for split, n in counts.items():
            images.writestr(f'images/{split}/', b'')
            for i in range(n):
                key = key_of(split, i)
                image = jpeg(rng)
                images.writestr(f'images/{key}.jpg', image)
                subjects = []
                if split != 'test':
                    subjects = random_subjects(rng, 2 + i)
                    fixations.writestr(key + '.mat', image_mat(gaze_struct(subjects, column)))
                elif test_mats:
                    fixations.writestr(key + '.mat', image_mat())
                truth[key] = (image, subjects)
        for name, data in (extra or {}).items():
            fixations.writestr(name, data)
    return truth


def run(name, args, module=True):
    if module:
        cmd = [sys.executable, '-m', f'datadings_like.sets.{name}_write']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', name]
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def read(path):
    with MsgpackReader(path) as reader:
        return list(reader)


def check_experiments(experiments, subjects):
    assert len(experiments) == len(subjects)
    for e, (location, timestamp, fixations) in zip(experiments, subjects):
        assert list(e) == ['locations', 'map', 'timestamps', 'fixations']
        assert e['map'] is None
        for field in ('locations', 'timestamps', 'fixations'):
            assert e[field].dtype == np.float32, field
        assert e['locations'].shape == location.shape
        assert np.array_equal(e['locations'], location.astype(np.float32))
        assert e['timestamps'].shape == (len(timestamp),)
        assert np.array_equal(e['timestamps'], timestamp.ravel().astype(np.float32))
        assert e['fixations'].shape == (len(fixations), 2)
        assert np.array_equal(e['fixations'], fixations.astype(np.float32).reshape(-1, 2))


@pytest.mark.parametrize('test_mats', [False, True], ids=['no-test-mats', 'test-mats'])
@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_three_splits(tmp_path, module, test_mats):
    truth = make_salicon(tmp_path, np.random.default_rng(1), test_mats=test_mats)
    out = tmp_path / 'out'
    proc = run('SALICON2015', ['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    for split, n in COUNTS.items():
        samples = read(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == [key_of(split, i) for i in range(n)]
        for s in samples:
            assert list(s) == ['key', 'image', 'experiments']
            image, subjects = truth[s['key']]
            assert s['image'] == image
            check_experiments(s['experiments'], subjects)
            if split == 'test':
                assert s['experiments'] == []


def test_salicon2017_is_the_same_writer(tmp_path):
    truth = make_salicon(tmp_path, np.random.default_rng(2))
    proc = run('SALICON2017', ['-s', '-q', '--shuffle', 'no', tmp_path], module=False)
    assert proc.returncode == 0, proc.stderr
    samples = read(tmp_path / 'val.msgpack')
    assert [s['key'] for s in samples] == [key_of('val', 0), key_of('val', 1)]
    for s in samples:
        check_experiments(s['experiments'], truth[s['key']][1])
    # only the fixations differ
    assert SALICON2017_write.FILES['images'] == SALICON2015_write.FILES['images']
    assert SALICON2015_write.FILES['fixations']['md5'] == '9a22db9d718200fb90252e5010c004c4'
    assert SALICON2017_write.FILES['fixations']['md5'] == '462b70f4f9e8ea446ac628e46cea8d3d'
    assert SALICON2017_write.write_sets is SALICON2015_write.write_sets


@pytest.mark.parametrize('name', NAMES)
def test_sources_are_verified_without_s(tmp_path, name):
    make_salicon(tmp_path, np.random.default_rng(3))
    proc = run(name, ['-q', tmp_path])
    assert proc.returncode == 1
    assert 'image.zip has the wrong MD5 hash' in proc.stderr, proc.stderr
    assert 'eb2a1bb706633d1b31fc2e01422c5757' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'train.msgpack').exists()


def test_test_mat_with_gaze_is_read(tmp_path):
    rng = np.random.default_rng(4)
    subjects = random_subjects(rng, 2)
    key = key_of('test', 1)
    make_salicon(tmp_path, rng, extra={key + '.mat': image_mat(gaze_struct(subjects))})
    assert run('SALICON2015', ['-s', '-q', tmp_path]).returncode == 0
    samples = {s['key']: s for s in read(tmp_path / 'test.msgpack')}
    assert samples[key_of('test', 0)]['experiments'] == []
    check_experiments(samples[key]['experiments'], subjects)


def test_gaze_as_a_column_gives_every_observer(tmp_path):
    truth = make_salicon(tmp_path, np.random.default_rng(5), column=True)
    assert run('SALICON2015', ['-s', '-q', tmp_path]).returncode == 0
    for s in read(tmp_path / 'train.msgpack'):
        assert len(s['experiments']) >= 2
        check_experiments(s['experiments'], truth[s['key']][1])


def test_existing_output_needs_y(tmp_path):
    make_salicon(tmp_path, np.random.default_rng(6))
    assert run('SALICON2015', ['-s', '-q', tmp_path]).returncode == 0
    before = (tmp_path / 'train.msgpack').read_bytes()
    proc = run('SALICON2015', ['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr and 'exists' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (tmp_path / 'train.msgpack').read_bytes() == before
    proc = run('SALICON2015', ['-s', '-q', '-y', '--seed', 3, tmp_path])
    assert proc.returncode == 0, proc.stderr
    assert sorted(s['key'] for s in read(tmp_path / 'train.msgpack')) == \
        [key_of('train', i) for i in range(COUNTS['train'])]


def test_shuffle_seed(tmp_path):
    make_salicon(tmp_path, np.random.default_rng(7), counts={'train': 6, 'val': 1, 'test': 1})
    a, b = tmp_path / 'a', tmp_path / 'b'
    for out in (a, b):
        proc = run('SALICON2015', ['-s', '-q', '--seed', 5, '-o', out, tmp_path])
        assert proc.returncode == 0, proc.stderr
    assert (a / 'train.msgpack').read_bytes() == (b / 'train.msgpack').read_bytes()
    keys = [s['key'] for s in read(a / 'train.msgpack')]
    assert sorted(keys) == [key_of('train', i) for i in range(6)]


def test_missing_mat_is_named_before_writing(tmp_path):
    make_salicon(tmp_path, np.random.default_rng(8))
    with zipfile.ZipFile(tmp_path / 'image.zip', 'a') as images:
        images.writestr('images/val/COCO_val2014_000000999999.jpg', jpeg(np.random.default_rng(0)))
    proc = run('SALICON2015', ['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'fixations.zip' in proc.stderr and 'val/COCO_val2014_000000999999.mat' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not list(tmp_path.glob('*.msgpack*'))


@pytest.mark.parametrize('data, message', [
    (b'not a mat file', 'not a readable MATLAB .mat file'),
    (image_mat(np.zeros((1, 2))), '"gaze" is not a MATLAB struct array'),
    (image_mat(np.zeros((1, 1), dtype=[('location', object), ('fixations', object)])),
     '"gaze" lacks the field(s) timestamp'),
    (image_mat(gaze_struct([(np.ones((2, 3)), np.ones((2, 1)), np.ones((1, 2)))])),
     'gaze(1).location: expected an Nx2 array of (x, y), found shape (2, 3)'),
    (image_mat(gaze_struct([(np.ones((2, 2)), np.ones((2, 2)), np.ones((1, 2)))])),
     'gaze(1).timestamp: expected an Nx1 array, found shape (2, 2)'),
    (image_mat(gaze_struct([(np.ones((2, 2)), np.ones((2, 1)), 'text')])),
     'gaze(1).fixations: expected numbers'),
], ids=['damaged', 'not-a-struct', 'no-timestamp', 'location-shape', 'timestamp-shape',
        'not-numbers'])
def test_bad_mat_is_named(tmp_path, data, message):
    key = key_of('train', 1)
    make_salicon(tmp_path, np.random.default_rng(9))
    with zipfile.ZipFile(tmp_path / 'fixations.zip', 'a') as fixations:
        with pytest.warns(UserWarning, match='Duplicate name'):
            fixations.writestr(key + '.mat', data)  # the last copy counts
    proc = run('SALICON2015', ['-s', '-q', '--shuffle', 'no', tmp_path])
    assert proc.returncode == 1
    assert f'fixations.zip: {key}.mat' in proc.stderr and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / 'train.msgpack').exists()


def test_wrong_archives(tmp_path):
    make_salicon(tmp_path, np.random.default_rng(10), counts={'train': 1, 'val': 1, 'test': 0})
    proc = run('SALICON2015', ['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'no images/test/*.jpg found' in proc.stderr
    (tmp_path / 'fixations.zip').write_bytes(b'nothing')
    proc = run('SALICON2015', ['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'fixations.zip: cannot read zip archive' in proc.stderr
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('name', NAMES)
def test_help(name):
    proc = run(name, ['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith(f'usage: datadings-write {name} [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}]'), usage
    assert usage.endswith('[INDIR]'), usage
    year = name[-4:]
    for text in ('image.zip', 'fixations.zip', f'http://salicon.net/challenge-{year}/',
                 '"timestamps"', '"fixations"', '"locations"', 'experiments'):
        assert text in proc.stdout, text


def test_module_functions(tmp_path):
    truth = make_salicon(tmp_path, np.random.default_rng(11))
    with zipfile.ZipFile(tmp_path / 'image.zip') as imagezip, \
            zipfile.ZipFile(tmp_path / 'fixations.zip') as fixationzip:
        keys = SALICON2015_write.get_keys(imagezip, 'val')
        assert keys == [key_of('val', 0), key_of('val', 1)]
        samples = list(SALICON2015_write.yield_samples(keys, imagezip, fixationzip))
        assert [s['key'] for s in samples] == keys
        for s in samples:
            assert s['image'] == truth[s['key']][0]
            check_experiments(s['experiments'], truth[s['key']][1])
        args = argparse.Namespace(no_confirm=True, quiet=True)
        assert SALICON2015_write.write_set('val', iter(samples), tmp_path / 'api', 2, args) == 2
    assert [s['key'] for s in read(tmp_path / 'api' / 'val.msgpack')] == keys
    assert SALICON2015_write.experiments_from_mat({'image': 'x'}) == []
    files = SALICON2015_write.FILES
    located = {k: dict(v, path=str(tmp_path / v['path'])) for k, v in files.items()}
    args = argparse.Namespace(shuffle=False, seed=None, no_confirm=True, quiet=True)
    written = SALICON2015_write.write_sets(located, tmp_path / 'all', args)
    assert written == COUNTS


def test_metadata_and_saliency_map(tmp_path):
    assert SALICON2015.SPLITS == SALICON2017.SPLITS == ('train', 'val', 'test')
    assert SALICON2015.NUM_SAMPLES == {'train': 10000, 'val': 5000, 'test': 5000}
    assert SALICON2017.IMAGE_SIZE == SALICON2015.IMAGE_SIZE == (480, 640)
    # the recipe of the manual page: fixations count from 1
    location = np.array([[1.0, 1.0], [2.0, 1.0]])
    subjects = [(location, np.ones((2, 1)), np.array([[3.0, 2.0], [3.0, 2.0]])),
                (location, np.ones((2, 1)), np.array([[8.0, 6.0]]))]
    key = key_of('train', 0)
    make_salicon(tmp_path, np.random.default_rng(12), counts={'train': 1, 'val': 1, 'test': 1},
                 extra={})
    with zipfile.ZipFile(tmp_path / 'fixations.zip', 'a') as fixations:
        with pytest.warns(UserWarning, match='Duplicate name'):
            fixations.writestr(key + '.mat', image_mat(gaze_struct(subjects)))
    assert run('SALICON2015', ['-s', '-q', tmp_path]).returncode == 0
    sample = read(tmp_path / 'train.msgpack')[0]
    points = np.concatenate([e['fixations'] for e in sample['experiments']]) - 1
    counts = fixation_map(points, (6, 8), sigma=0, normalize=None)
    assert counts[1, 2] == 2 and counts[5, 7] == 1 and counts.sum() == 3


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
@pytest.mark.parametrize('name', NAMES)
def test_same_samples_as_datadings(tmp_path, name):
    # datadings 3.4.7 needs a .mat for every test image
    make_salicon(tmp_path, np.random.default_rng(13), test_mats=True)
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    proc = run(name, ['-s', '-q', '-o', ours, tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), name, ['-s', '-o', theirs, tmp_path])
    for split, n in COUNTS.items():
        assert assert_same_samples(ours / f'{split}.msgpack', theirs / f'{split}.msgpack') == n


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_datadings_reads_one_observer_of_a_column(tmp_path):
    # the documented difference: of a Kx1 gaze array datadings 3.4.7 reads
    # the first row only, i.e. the first observer; here all of them
    truth = make_salicon(tmp_path, np.random.default_rng(14), test_mats=True, column=True)
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    assert run('SALICON2015', ['-s', '-q', '-o', ours, tmp_path]).returncode == 0
    run_reference_writer(reference_python(), 'SALICON2015', ['-s', '-o', theirs, tmp_path])

    def first_observer_only(key, field, a, b):
        if field != 'experiments':
            return False
        check_experiments(a, truth[key][1])
        assert len(b) == 1 and len(a) > 1
        for x, y in zip(a[0].values(), b[0].values()):
            assert (x is None and y is None) or np.array_equal(x, y)
        return True

    assert assert_same_samples(ours / 'train.msgpack', theirs / 'train.msgpack',
                               expected=first_observer_only) == COUNTS['train']
