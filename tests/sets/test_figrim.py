"""
End-to-end tests of the FIGRIMFixation writer on miniature copies of its
sources: ``Targets.zip`` and ``Fillers.zip`` (``Targets/<category>/sun_*.jpg``)
and ``allImages_release.mat`` / ``allImages_fillers.mat`` with the struct
array ``allImages`` (``filename``, ``category``, ``impath``, ``userdata``,
``AMT_comb``), whose ``userdata`` has one element per observer with
``fixations`` as its 5th field: a struct of ``enc``, ``rec``, ``rec2``, or
empty for observers who did not see the image. The writer runs as a
separate process with ``-s``.
"""
import argparse
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

scipy_io = pytest.importorskip('scipy.io')

from datadings_like.sets import FIGRIMFixation  # noqa: E402
from datadings_like.sets import FIGRIMFixation_write  # noqa: E402
from datadings_like.sets.saliency import fixation_map  # noqa: E402
from sets.reference import assert_same_samples  # noqa: E402
from sets.reference import reference_python  # noqa: E402
from sets.reference import run_reference_writer  # noqa: E402
from sets.reference import skip_reason  # noqa: E402
from sets.cli import read_samples
from sets.cli import run_writer

IMAGE_FIELDS = ('filename', 'category', 'impath', 'userdata', 'AMT_comb')
USER_FIELDS = ('subject', 'trial', 'RT', 'SDT', 'fixations')
SUBJECTS = 3
SPLITS = {
    'target': ('Targets.zip', 'allImages_release.mat', 'Targets'),
    'filler': ('Fillers.zip', 'allImages_fillers.mat', 'Fillers'),
}
IMAGES = {
    'target': [('airport_terminal', 'sun_aabkzjntjfarengi'), ('airport_terminal', 'sun_abc'),
               ('highway', 'sun_bnjxztsvnercygxn')],
    'filler': [('badlands', 'sun_aaa'), ('mountain', 'sun_bbb')],
}


def jpeg(rng, h=6, w=8):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
    return bio.getvalue()


def empty():
    return np.zeros((0, 0))


def presentation_struct(enc, rec, rec2):
    s = np.empty((1, 1), dtype=[('enc', object), ('rec', object), ('rec2', object)])
    s[0, 0] = (enc, rec, rec2)
    return s


def userdata_struct(subjects):
    """``subjects``: list of None (did not see the image) or (enc, rec, rec2)."""
    u = np.empty((1, len(subjects)), dtype=[(f, object) for f in USER_FIELDS])
    for j, fix in enumerate(subjects):
        if fix is None:
            u[0, j] = (empty(), empty(), empty(), empty(), empty())
        else:
            u[0, j] = (np.array([[j + 1.0]]), np.array([[7.0]]), np.array([[0.5]]),
                       np.array([[1.0, 4.0, 4.0]]), presentation_struct(*fix))
    return u


def all_images_struct(entries):
    """``entries``: list of (impath, subjects)."""
    a = np.empty((1, len(entries)), dtype=[(f, object) for f in IMAGE_FIELDS])
    for i, (impath, subjects) in enumerate(entries):
        a[0, i] = (impath.rsplit('/', 1)[1], impath.split('/')[1], impath,
                   userdata_struct(subjects), np.array([[i + 0.5]]))
    return a


def random_subjects(rng, split, i):
    subjects = []
    for j in range(SUBJECTS):
        if (i + j) % 3 == 2:
            subjects.append(None)
            continue
        enc = rng.uniform(1, 8, (3 + j, 2)).round(2)
        if split == 'filler':
            subjects.append((enc, empty(), empty()))
        else:
            rec = rng.uniform(1, 8, (2, 2)) if j != 1 else empty()
            subjects.append((enc, rec, rng.uniform(1, 8, (1, 2))))
    return subjects


def make_figrim(indir, rng, unlisted=True):
    """Write the four files; returns ``{split: {key: (jpeg, subjects)}}``."""
    truth = {}
    for split, (zipname, matname, top) in SPLITS.items():
        truth[split] = {}
        entries = []
        with zipfile.ZipFile(indir / zipname, 'w') as zf:
            zf.writestr(f'{top}/', b'')
            for i, (category, name) in enumerate(IMAGES[split]):
                path = f'{top}/{category}/{name}.jpg'
                image = jpeg(rng)
                zf.writestr(path, image)
                subjects = random_subjects(rng, split, i)
                entries.append((path, subjects))
                truth[split][path] = (image, subjects)
            if unlisted:
                # an image without eye-tracking data, and a macOS resource fork
                zf.writestr(f'{top}/highway/sun_unlisted.jpg', jpeg(rng))
                zf.writestr(f'__MACOSX/{top}/highway/._sun_unlisted.jpg', b'\0\5\26\7')
        scipy_io.savemat(indir / matname, {'allImages': all_images_struct(entries)})
    return truth


def expected_experiments(subjects):
    out = []
    for fix in subjects:
        if fix is not None:
            out.extend(fix)
    return out


def check_experiments(experiments, subjects):
    expected = expected_experiments(subjects)
    assert len(experiments) == len(expected)
    for e, locations in zip(experiments, expected):
        assert list(e) == ['locations', 'map'] and e['map'] is None
        assert e['locations'].dtype == np.float32
        assert e['locations'].shape == locations.shape
        assert np.array_equal(e['locations'], locations.astype(np.float32))


def run(args, module=True):
    return run_writer('FIGRIMFixation', args, module)


read = read_samples


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_target_and_filler(tmp_path, module):
    truth = make_figrim(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    for split in SPLITS:
        samples = read(out / f'{split}.msgpack')
        # in the zip's order; the unlisted image is skipped
        assert [s['key'] for s in samples] == list(truth[split])
        for s in samples:
            assert list(s) == ['key', 'image', 'experiments']
            image, subjects = truth[split][s['key']]
            assert s['image'] == image
            check_experiments(s['experiments'], subjects)
    # fillers: enc with data, rec and rec2 empty (0x0)
    filler = read(out / 'filler.msgpack')[0]
    shapes = [e['locations'].shape for e in filler['experiments']]
    assert shapes[1:3] == [(0, 0), (0, 0)] and shapes[0][1] == 2


def test_observers_without_fixations_are_left_out(tmp_path):
    truth = make_figrim(tmp_path, np.random.default_rng(2))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    samples = {s['key']: s for s in read(tmp_path / 'target.msgpack')}
    for key, (_, subjects) in truth['target'].items():
        seen = sum(s is not None for s in subjects)
        assert seen < SUBJECTS
        assert len(samples[key]['experiments']) == 3 * seen


def test_existing_output_needs_y(tmp_path):
    make_figrim(tmp_path, np.random.default_rng(3))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    before = (tmp_path / 'filler.msgpack').read_bytes()
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr and 'exists' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (tmp_path / 'filler.msgpack').read_bytes() == before
    assert run(['-s', '-q', '-y', tmp_path]).returncode == 0


def test_shuffle_seed(tmp_path):
    truth = make_figrim(tmp_path, np.random.default_rng(4))
    a, b = tmp_path / 'a', tmp_path / 'b'
    for out in (a, b):
        proc = run(['-s', '-q', '--seed', 5, '-o', out, tmp_path])
        assert proc.returncode == 0, proc.stderr
    assert (a / 'target.msgpack').read_bytes() == (b / 'target.msgpack').read_bytes()
    assert sorted(s['key'] for s in read(a / 'target.msgpack')) == sorted(truth['target'])


def test_sources_are_verified_without_s(tmp_path):
    make_figrim(tmp_path, np.random.default_rng(5))
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1
    assert 'allImages_release.mat has the wrong MD5 hash' in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_paths_that_match_no_image(tmp_path):
    make_figrim(tmp_path, np.random.default_rng(6))
    entries = [(f'/Users/someone/figrim/{p}', []) for p in ('Fillers/badlands/sun_aaa.jpg',)]
    scipy_io.savemat(tmp_path / 'allImages_fillers.mat', {'allImages': all_images_struct(entries)})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'allImages_fillers.mat: lists none of the images of' in proc.stderr, proc.stderr
    assert 'Fillers.zip' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'filler.msgpack').exists()


@pytest.mark.parametrize('mat, message', [
    ({'other': np.zeros((1, 1)), 'more': np.zeros((1, 1))}, 'no struct "allImages"'),
    ({'allImages': np.zeros((1, 2))}, '"allImages" is not a MATLAB struct array'),
    ({'allImages': np.zeros((1, 1), dtype=[('impath', object)])},
     '"allImages" lacks the field(s) userdata'),
], ids=['no-struct', 'not-a-struct', 'no-userdata'])
def test_bad_mat_is_named(tmp_path, mat, message):
    make_figrim(tmp_path, np.random.default_rng(7))
    scipy_io.savemat(tmp_path / 'allImages_release.mat', mat)
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'allImages_release.mat' in proc.stderr and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_damaged_mat_and_bad_fixations(tmp_path):
    make_figrim(tmp_path, np.random.default_rng(8))
    (tmp_path / 'allImages_fillers.mat').write_bytes(b'MATLAB 5.0 MAT-file' + bytes(200))
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'allImages_fillers.mat' in proc.stderr
    assert 'Traceback' not in proc.stderr
    # both .mat files are read before anything is written
    assert not list(tmp_path.glob('*.msgpack'))
    make_figrim(tmp_path, np.random.default_rng(8))
    # fixations with three columns
    bad = [(np.ones((2, 3)), empty(), empty())]
    entries = [('Targets/airport_terminal/sun_abc.jpg', bad)]
    scipy_io.savemat(tmp_path / 'allImages_release.mat', {'allImages': all_images_struct(entries)})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'allImages_release.mat: Targets/airport_terminal/sun_abc.jpg: userdata(1).fixations.enc' \
        in proc.stderr, proc.stderr
    assert 'found shape (2, 3)' in proc.stderr
    assert not (tmp_path / 'target.msgpack').exists()


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write FIGRIMFixation [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}]'), usage
    assert usage.endswith('[INDIR]'), usage
    for text in ('Targets.zip', 'allImages_release.mat', 'Fillers.zip', 'allImages_fillers.mat',
                 'http://figrim.mit.edu/index_eyetracking.html', '"locations"', '"map"'):
        assert text in proc.stdout, text


def test_module_functions(tmp_path):
    truth = make_figrim(tmp_path, np.random.default_rng(9))
    locations = FIGRIMFixation_write.load_mat_file(tmp_path / 'allImages_release.mat')
    assert list(locations) == list(truth['target'])
    key = next(iter(truth['target']))
    check_experiments(FIGRIMFixation_write.experiments_of_subjects(locations[key]),
                      truth['target'][key][1])
    assert FIGRIMFixation_write.experiments_of_subjects(np.zeros((0, 0))) == []

    def located(files):
        return {k: dict(v, path=str(tmp_path / v['path'])) for k, v in files.items()}
    args = argparse.Namespace(shuffle=False, seed=None, no_confirm=True, quiet=True)
    assert FIGRIMFixation_write.write_set('target', located(FIGRIMFixation_write.FILES_TARGET),
                                          tmp_path / 'api', args) == 3
    assert FIGRIMFixation_write.write_sets(located(FIGRIMFixation_write.FILES_TARGET),
                                           located(FIGRIMFixation_write.FILES_FILLER),
                                           tmp_path / 'all', args) == {'target': 3, 'filler': 2}


def test_metadata_and_saliency_map(tmp_path):
    assert FIGRIMFixation.SPLITS == ('target', 'filler')
    assert FIGRIMFixation.PRESENTATIONS == ('enc', 'rec', 'rec2')
    assert FIGRIMFixation.IMAGE_SIZE == (1000, 1000)
    truth = make_figrim(tmp_path, np.random.default_rng(10))
    assert run(['-s', '-q', '--shuffle', 'no', tmp_path]).returncode == 0
    sample = read(tmp_path / 'target.msgpack')[0]
    subjects = [s for s in truth['target'][sample['key']][1] if s is not None]
    # experiments come in threes: enc, rec, rec2 of each observer
    enc = [e['locations'] for e in sample['experiments'][0::3]]
    assert all(np.array_equal(a, s[0].astype(np.float32)) for a, s in zip(enc, subjects))
    points = np.concatenate(enc) - 1
    target = fixation_map(points, (6, 8), sigma=1.5)
    assert target.shape == (6, 8) and target.sum() == pytest.approx(1)


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    truth = make_figrim(tmp_path, np.random.default_rng(11))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    proc = run(['-s', '-q', '-o', ours, tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'FIGRIMFixation', ['-s', '-y', '-o', theirs, tmp_path])
    for split in SPLITS:
        n = assert_same_samples(ours / f'{split}.msgpack', theirs / f'{split}.msgpack')
        assert n == len(truth[split])
