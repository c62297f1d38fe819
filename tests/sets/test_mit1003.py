"""
End-to-end tests of the MIT1003 writer on miniature ``ALLSTIMULI.zip`` and
``DATA.zip`` laid out like the real ones: ``ALLSTIMULI/<name>.jpeg`` (plus
``Thumbs.db``) and ``DATA/<user>/<name>.mat``, one variable named after the
image: a struct whose 5th field ``DATA`` is a struct whose 3rd field
``eyeData`` is the Nx2 gaze array, or (one file of the real data) the
shorter layout with ``DATA`` first. The writer runs as a separate process
with ``-s``.
"""
import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

scipy_io = pytest.importorskip('scipy.io')

from datadings_like.sets import MIT1003  # noqa: E402
from datadings_like.sets import MIT1003_write  # noqa: E402
from datadings_like.tools.cli import UserError  # noqa: E402
from sets.reference import assert_same_samples  # noqa: E402
from sets.reference import reference_python  # noqa: E402
from sets.reference import run_reference_writer  # noqa: E402
from sets.reference import skip_reason  # noqa: E402
from sets.cli import read_samples
from sets.cli import run_writer

IMAGES = ['i05june05_static_street_boston_p1010764', 'i1000857117', 'istatic_submitted_aude',
          'i102423191']
USERS = ['CNG', 'ajs', 'emb']
# (user, image) -> layout; missing pairs have no file (that user did not see it)
SHORT = ('ajs', 'i1000857117')
MISSING = {('emb', 'i1000857117'), ('CNG', 'i102423191'), ('ajs', 'i102423191'),
           ('emb', 'i102423191')}


def jpeg(rng, size=(16, 12)):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        bio, 'JPEG', quality=90)
    return bio.getvalue()


def full_layout(name, user, gaze):
    """The usual layout: DATA is the 5th field, eyeData the 3rd of DATA."""
    data = {'user': user, 'timestamps': np.arange(3.0), 'eyeData': gaze, 'extra': 'x'}
    return {name: {'imgName': name + '.jpeg', 'userName': user, 'condition': 1.0,
                   'scale': 1.0, 'DATA': data}}


def short_layout(name, user, gaze):
    """The shorter layout: DATA first (and fewer than 5 fields)."""
    data = {'user': user, 'timestamps': np.arange(3.0), 'eyeData': gaze}
    return {name: {'DATA': data, 'imgName': name + '.jpeg'}}


def mat(variables):
    bio = io.BytesIO()
    scipy_io.savemat(bio, variables)
    return bio.getvalue()


def make_mit1003(indir, rng, replace=None, layouts=None):
    """
    Write both zips; returns ``{key: (JPEG data, [eyeData per user in DATA.zip order])}``.
    ``replace``: ``{member: data}`` written instead of the generated data.
    """
    replace = replace or {}
    layouts = layouts or {}
    truth = {}
    with zipfile.ZipFile(indir / 'ALLSTIMULI.zip', 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('ALLSTIMULI/', b'')
        for name in IMAGES:
            member = f'ALLSTIMULI/{name}.jpeg'
            data = replace.get(member) or jpeg(rng)
            zf.writestr(member, data)
            truth[member] = (data, [])
        zf.writestr('ALLSTIMULI/Thumbs.db', b'\0' * 32)
    with zipfile.ZipFile(indir / 'DATA.zip', 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('DATA/', b'')
        for user in USERS:
            zf.writestr(f'DATA/{user}/', b'')
            for name in IMAGES + ['i_no_such_image']:
                if (user, name) in MISSING:
                    continue
                n = int(rng.integers(3, 12))
                gaze = np.round(rng.uniform(-20, 1100, (n, 2)), 2)
                gaze[0] = np.nan  # lost samples come as NaN
                layout = layouts.get((user, name)) or \
                    (short_layout if (user, name) == SHORT else full_layout)
                member = f'DATA/{user}/{name}.mat'
                zf.writestr(member, replace.get(member) or mat(layout(name, user, gaze)))
                if name in IMAGES:
                    truth[f'ALLSTIMULI/{name}.jpeg'][1].append(gaze)
            zf.writestr(f'DATA/{user}/Thumbs.db', b'\0' * 32)
    return truth


def run(args, module=True):
    return run_writer('MIT1003', args, module)


read = read_samples


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_images_with_experiments(tmp_path, module):
    truth = make_mit1003(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    samples = read(out / 'MIT1003.msgpack')
    assert [s['key'] for s in samples] == [f'ALLSTIMULI/{n}.jpeg' for n in IMAGES]
    for s in samples:
        assert list(s) == ['key', 'image', 'experiments']
        image, gazes = truth[s['key']]
        assert s['image'] == image
        assert len(s['experiments']) == len(gazes)
        for experiment, gaze in zip(s['experiments'], gazes):
            assert list(experiment) == ['locations', 'map'] and experiment['map'] is None
            locations = experiment['locations']
            assert locations.dtype == np.float32 and locations.shape == gaze.shape
            assert np.array_equal(locations, gaze.astype(np.float32), equal_nan=True)
    counts = {s['key'].split('/')[1]: len(s['experiments']) for s in samples}
    assert counts == {IMAGES[0] + '.jpeg': 3, IMAGES[1] + '.jpeg': 2,
                      IMAGES[2] + '.jpeg': 3, IMAGES[3] + '.jpeg': 0}


def test_both_layouts():
    gaze = np.array([[1.5, 2], [3, 4]])
    for layout in (full_layout, short_layout):
        locations = MIT1003_write.eye_data(mat(layout('img', 'u', gaze)), 'x.mat', 'img')
        assert locations.dtype == np.float32 and locations.tolist() == [[1.5, 2], [3, 4]]


def test_layout_by_position_when_names_differ():
    # datadings 3.4.7 reads fields by position: the 5th, then its 3rd
    gaze = np.array([[7.0, 8.0]])
    inner = {'a': 1.0, 'b': 2.0, 'samples': gaze}
    variables = {'img': {'f1': 0.0, 'f2': 0.0, 'f3': 0.0, 'f4': 0.0, 'data': inner}}
    assert MIT1003_write.eye_data(mat(variables), 'x.mat', 'img').tolist() == [[7, 8]]


def test_empty_eye_data():
    locations = MIT1003_write.eye_data(mat(full_layout('img', 'u', np.zeros((0, 0)))),
                                       'x.mat', 'img')
    assert locations.dtype == np.float32 and locations.shape == (0, 0)


@pytest.mark.parametrize('variables, message', [
    ({'img': {'DATA': {'user': 'u', 'when': 1.0}}}, 'DATA has no field eyeData'),
    ({'img': {'DATA': {'a': 1.0, 'b': 2.0, 'eyeData': np.ones((3, 3))}}},
     'eyeData must be an Nx2 array'),
    ({'img': {'DATA': {'a': 1.0, 'b': 2.0, 'eyeData': 'text'}}}, 'not a numeric array'),
    ({'img': 3.0}, 'is not a (non-empty) struct'),
    ({'a': 1.0, 'b': 2.0}, 'expected one variable, found 2'),
])
def test_unexpected_layouts(variables, message):
    with pytest.raises(UserError, match=f'^DATA.zip: x.mat: .*{message}'.replace('(', r'\(')
                       .replace(')', r'\)')):
        MIT1003_write.eye_data(mat(variables), 'DATA.zip: x.mat', 'img')


def test_damaged_mat_file(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(2),
                 replace={'DATA/emb/istatic_submitted_aude.mat': b'MATLAB 5.0 broken'})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'DATA.zip: DATA/emb/istatic_submitted_aude.mat: not a readable MATLAB' in proc.stderr
    assert not (tmp_path / 'MIT1003.msgpack').exists()


def test_damaged_image(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(3),
                 replace={'ALLSTIMULI/i1000857117.jpeg': b'GIF89a not a jpeg'})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'ALLSTIMULI.zip: ALLSTIMULI/i1000857117.jpeg' in proc.stderr
    assert not (tmp_path / 'MIT1003.msgpack').exists()


def test_wrong_archives(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(4))
    with zipfile.ZipFile(tmp_path / 'DATA.zip', 'w') as zf:
        zf.writestr('DATA/readme.txt', 'nothing')
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'DATA.zip: no DATA/<user>/<name>.mat files found' in proc.stderr


def test_shuffled_with_seed(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(5))
    for out in ('a', 'b'):
        assert run(['-s', '-q', '--seed', 3, '-o', tmp_path / out, tmp_path]).returncode == 0
    assert (tmp_path / 'a/MIT1003.msgpack').read_bytes() == \
        (tmp_path / 'b/MIT1003.msgpack').read_bytes()


def test_existing_output_needs_y(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(6))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'exists' in proc.stderr and 'Traceback' not in proc.stderr
    assert run(['-s', '-q', '-y', tmp_path]).returncode == 0


def test_without_scipy_one_line_before_any_download(tmp_path):
    code = (
        "import sys; sys.modules['scipy'] = None\n"  # as if scipy were not installed
        "from datadings_like.tools.cli import run_main\n"
        "from datadings_like.sets.MIT1003_write import main\n"
        "run_main(main, sys.argv[1:])\n")
    # a dead mirror: if the check came too late, no download would reach the internet
    env = {**os.environ, 'DATADINGS_LIKE_MIRROR': 'http://127.0.0.1:9/'}
    proc = subprocess.run([sys.executable, '-c', code, '-q', str(tmp_path)], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert "pip install '.[sets]'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing downloaded or written


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write MIT1003 [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}]'), usage
    for text in ('ALLSTIMULI.zip', 'DATA.zip', '"experiments"', '"locations"', '"map"',
                 'http://people.csail.mit.edu/tjudd/WherePeopleLook/DATA.zip'):
        assert text in proc.stdout


def test_metadata():
    assert MIT1003.NUM_SAMPLES == 1003 and len(MIT1003.USERS) == 15


def test_saliency_map_of_a_sample(tmp_path):
    from datadings_like.sets.saliency import fixation_map
    make_mit1003(tmp_path, np.random.default_rng(7))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    sample = {s['key']: s for s in read(tmp_path / 'MIT1003.msgpack')}[
        f'ALLSTIMULI/{IMAGES[0]}.jpeg']
    with Image.open(io.BytesIO(sample['image'])) as image:
        w, h = image.size
    locations = np.concatenate([e['locations'] for e in sample['experiments']]) - 0.5
    m = fixation_map(locations, (h, w), sigma=2)
    assert m.shape == (h, w)
    inside = ((locations >= 0) & (locations < (w, h))).all(axis=1).sum()
    assert m.sum() == pytest.approx(1.0 if inside else 0.0)


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    make_mit1003(tmp_path, np.random.default_rng(8))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    assert run(['-s', '-q', '-o', ours, tmp_path]).returncode == 0
    run_reference_writer(reference_python(), 'MIT1003', ['-s', '-y', '-o', theirs, tmp_path])

    def nan_aware(key, field, a, b):
        if field != 'experiments':
            return False
        assert len(a) == len(b), f'{key}: {len(a)} experiments, datadings {len(b)}'
        for x, y in zip(a, b):
            assert sorted(x) == sorted(y) == ['locations', 'map'] and x['map'] is y['map'] is None
            assert x['locations'].dtype == y['locations'].dtype == np.float32
            assert x['locations'].shape == y['locations'].shape
            assert np.array_equal(x['locations'], y['locations'], equal_nan=True), key
        return True

    # the JPEGs are copied: compared byte for byte
    assert assert_same_samples(ours / 'MIT1003.msgpack', theirs / 'MIT1003.msgpack',
                               images=(), expected=nan_aware) == len(IMAGES)
