"""
End-to-end tests of the ANP460 writer on miniature copies of its (not
public) sources, laid out as datadings 3.4.7 reads them:
``images_original.zip`` with ``images_original/<N>.jpg`` and
``wrangled_data.zip`` with ``wrangled_data/image_anp_list.json``, and for
each observer ``wrangled_data/<observer>/answer.txt`` (CSV
``x,answer,delay``, line N for image N) and ``<N>.txt`` (CSV rows whose
columns 1 and 2 are x, y). The writer runs as a separate process.
"""
import argparse
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.sets import ANP460
from datadings_like.sets import ANP460_write
from datadings_like.sets.saliency import fixation_map
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason
from sets.cli import read_samples
from sets.cli import run_writer

ANPS = {1: ['beautiful landscape', 'positive'], 2: ['dark forest', 'negative'],
        3: ['old house', 'neutral'], 4: ['happy dog', 'positive']}
OBSERVERS = ('p01', 'p02', 'p03')


def jpeg(rng, h=6, w=8):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(bio, 'JPEG')
    return bio.getvalue()


def gaze_csv(points, rng):
    rows = [f'{1000 + 16 * i},{x:.3f},{y:.3f},{rng.integers(0, 9)}'
            for i, (x, y) in enumerate(points)]
    return '\n'.join(rows) + '\n'


def make_anp460(indir, rng, missing=(), newline='\n', images=ANPS):
    """Write both zips; ``missing``: (observer, N) pairs without a gaze file.
    Returns ``{key: (jpeg, anp, type, [(observer, points, answer, delay), ...])}``."""
    truth = {}
    with zipfile.ZipFile(indir / 'images_original.zip', 'w') as zi:
        zi.writestr('images_original/', b'')
        for n, (anp, kind) in images.items():
            image = jpeg(rng)
            zi.writestr(f'images_original/{n}.jpg', image)
            truth[f'images_original/{n}.jpg'] = (image, anp, kind, [])
    with zipfile.ZipFile(indir / 'wrangled_data.zip', 'w') as zd:
        zd.writestr('wrangled_data/image_anp_list.json',
                    json.dumps({f'{n}.jpg': v for n, v in images.items()}))
        for o, observer in enumerate(OBSERVERS):
            lines = ['x,answer,delay']
            for n in range(1, max(images) + 1):
                lines.append(f'{n},{"yes" if (n + o) % 2 else "no"},{0.5 * n + o:.2f}')
            zd.writestr(f'wrangled_data/{observer}/answer.txt', newline.join(lines) + newline)
            for n in images:
                if (observer, n) in missing:
                    continue
                k = 3 + n + o  # x in 0..8, y in 0..6: inside the 6x8 images
                points = np.column_stack([rng.uniform(0, 7.9, k), rng.uniform(0, 5.9, k)]).round(3)
                zd.writestr(f'wrangled_data/{observer}/{n}.txt', gaze_csv(points, rng))
                answer, delay = lines[n].split(',')[1:]
                truth[f'images_original/{n}.jpg'][3].append(
                    (observer, points, answer, float(delay)))
    return truth


def run(args, module=True):
    return run_writer('ANP460', args, module)


read = read_samples


def check_sample(sample, truth):
    image, anp, kind, experiments = truth[sample['key']]
    assert list(sample) == ['key', 'image', 'experiments', 'anp', 'type']
    assert sample['image'] == image
    assert sample['anp'] == anp and sample['type'] == kind
    assert len(sample['experiments']) == len(experiments)
    for e, (_, points, answer, delay) in zip(sample['experiments'], experiments):
        assert list(e) == ['locations', 'map', 'answer', 'duration']
        assert e['map'] is None
        assert e['locations'].dtype == np.float32 and e['locations'].shape == points.shape
        assert np.array_equal(e['locations'], points.astype(np.float32))
        assert e['answer'] == answer and isinstance(e['answer'], str)
        assert e['duration'] == delay and isinstance(e['duration'], float)


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_anp460(tmp_path, module):
    truth = make_anp460(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    samples = read(out / 'ANP460.msgpack')
    assert [s['key'] for s in samples] == list(truth)
    for s in samples:
        check_sample(s, truth)


def test_answers_go_with_their_observer(tmp_path):
    # p01 has no gaze file for image 2: p02's and p03's experiments still
    # get their own answers (datadings 3.4.7 pairs them by position)
    truth = make_anp460(tmp_path, np.random.default_rng(2), missing={('p01', 2)},
                        newline='\r\n')
    assert run(['-q', tmp_path]).returncode == 0
    samples = {s['key']: s for s in read(tmp_path / 'ANP460.msgpack')}
    assert len(samples['images_original/2.jpg']['experiments']) == 2
    for s in samples.values():
        check_sample(s, truth)


def test_one_row_and_empty_gaze_files(tmp_path):
    truth = make_anp460(tmp_path, np.random.default_rng(3))
    with zipfile.ZipFile(tmp_path / 'wrangled_data.zip', 'a') as zd:
        with pytest.warns(UserWarning, match='Duplicate name'):
            zd.writestr('wrangled_data/p01/1.txt', '5,1.5,2.5,0\n')
            zd.writestr('wrangled_data/p02/1.txt', '')
    assert run(['-q', '--shuffle', 'no', tmp_path]).returncode == 0
    experiments = read(tmp_path / 'ANP460.msgpack')[0]['experiments']
    assert experiments[0]['locations'].tolist() == [[1.5, 2.5]]
    assert experiments[1]['locations'].shape == (0, 2)
    assert experiments[1]['locations'].dtype == np.float32
    assert experiments[2]['answer'] == truth['images_original/1.jpg'][3][2][2]


def test_existing_output_needs_y(tmp_path):
    make_anp460(tmp_path, np.random.default_rng(4))
    assert run(['-q', tmp_path]).returncode == 0
    before = (tmp_path / 'ANP460.msgpack').read_bytes()
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr and 'exists' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert (tmp_path / 'ANP460.msgpack').read_bytes() == before
    assert run(['-q', '-y', '-s', tmp_path]).returncode == 0


def test_shuffle_seed(tmp_path):
    truth = make_anp460(tmp_path, np.random.default_rng(5))
    a, b = tmp_path / 'a', tmp_path / 'b'
    for out in (a, b):
        proc = run(['-q', '--seed', 5, '-o', out, tmp_path])
        assert proc.returncode == 0, proc.stderr
    assert (a / 'ANP460.msgpack').read_bytes() == (b / 'ANP460.msgpack').read_bytes()
    assert sorted(s['key'] for s in read(a / 'ANP460.msgpack')) == sorted(truth)


def test_missing_sources_are_named(tmp_path):
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    for name in ('images_original.zip', 'wrangled_data.zip'):
        assert f'{name} is needed, but cannot be downloaded' in proc.stderr
    assert 'not public' in proc.stderr


@pytest.mark.parametrize('change, message', [
    ({'wrangled_data/image_anp_list.json': '{"1.jpg": '}, 'image_anp_list.json: not valid JSON'),
    ({'wrangled_data/image_anp_list.json': '{"1.jpg": ["a", "b"]}'},
     'image_anp_list.json has no entry for 2.jpg, 3.jpg, 4.jpg'),
    ({'wrangled_data/p02/answer.txt': 'x,answer,delay\n1,yes,0.5'},
     'wrangled_data/p02/answer.txt: no line 2 (for image 2.jpg)'),
    ({'wrangled_data/p02/answer.txt': 'x,answer,delay\n1,yes,0.5\n2,no\n'},
     'wrangled_data/p02/answer.txt: line 2 is not "x,answer,delay"'),
    ({'wrangled_data/p03/3.txt': '1,2\n3,4\n'},
     'wrangled_data/p03/3.txt: expected at least 3 columns, found 2'),
    ({'wrangled_data/p03/3.txt': '1,a,b\n'}, 'wrangled_data/p03/3.txt: not a CSV table of numbers'),
], ids=['json', 'anp-entry', 'answer-line', 'answer-fields', 'columns', 'numbers'])
def test_bad_data_is_named(tmp_path, change, message):
    make_anp460(tmp_path, np.random.default_rng(6))
    with zipfile.ZipFile(tmp_path / 'wrangled_data.zip', 'a') as zd:
        with pytest.warns(UserWarning, match='Duplicate name'):
            for name, text in change.items():
                zd.writestr(name, text)
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1
    assert 'wrangled_data.zip' in proc.stderr and message in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / 'ANP460.msgpack').exists()


def test_observer_without_answers(tmp_path):
    make_anp460(tmp_path, np.random.default_rng(7))
    with zipfile.ZipFile(tmp_path / 'wrangled_data.zip', 'a') as zd:
        zd.writestr('wrangled_data/p09/4.txt', '1,2,3\n')
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1
    assert 'wrangled_data/p09/answer.txt not found' in proc.stderr, proc.stderr
    assert not (tmp_path / 'ANP460.msgpack').exists()


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write ANP460 [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}]'), usage
    assert usage.endswith('[INDIR]'), usage
    for text in ('images_original.zip', 'wrangled_data.zip', 'image_anp_list.json',
                 '"anp"', '"type"', '"answer"', '"duration"'):
        assert text in proc.stdout, text


def test_module_functions(tmp_path):
    truth = make_anp460(tmp_path, np.random.default_rng(8))
    with zipfile.ZipFile(tmp_path / 'images_original.zip') as imagezip, \
            zipfile.ZipFile(tmp_path / 'wrangled_data.zip') as datazip:
        anp_list = ANP460_write.get_anp_list(datazip)
        assert anp_list == {f'{n}.jpg': v for n, v in ANPS.items()}
        txt_files = ANP460_write.find_all_experiments(datazip)
        assert txt_files['answers'] == [f'wrangled_data/{o}/answer.txt' for o in OBSERVERS]
        assert txt_files['2.jpg'] == [f'wrangled_data/{o}/2.txt' for o in OBSERVERS]

        class Writer:
            samples = []

            def write(self, sample):
                self.samples.append(sample)

        writer = Writer()
        ANP460_write.write_image(imagezip, datazip, anp_list, txt_files,
                                 'images_original/3.jpg', writer)
        check_sample(writer.samples[0], truth)
    args = argparse.Namespace(seed=None, no_confirm=True, quiet=True)
    assert ANP460_write.write_sets(tmp_path, tmp_path / 'api', shuffle=False, args=args) == 4
    assert [s['key'] for s in read(tmp_path / 'api' / 'ANP460.msgpack')] == list(truth)


def test_saliency_map_recipe(tmp_path):
    assert ANP460.OUTFILE == 'ANP460.msgpack'
    truth = make_anp460(tmp_path, np.random.default_rng(9))
    assert run(['-q', '--shuffle', 'no', tmp_path]).returncode == 0
    sample = read(tmp_path / 'ANP460.msgpack')[0]
    points = np.concatenate([e['locations'] for e in sample['experiments']])
    target = fixation_map(points, (6, 8), sigma=0, normalize=None)
    expected = sum(len(p) for _, p, _, _ in truth[sample['key']][3])
    assert target.sum() == expected  # all points lie in the 6x8 image


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    truth = make_anp460(tmp_path, np.random.default_rng(10))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    proc = run(['-q', '-o', ours, tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'ANP460', ['-o', theirs, tmp_path])
    assert assert_same_samples(ours / 'ANP460.msgpack', theirs / 'ANP460.msgpack') == len(truth)


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_datadings_pairs_answers_by_position(tmp_path):
    # the documented difference: an observer without the gaze file of an
    # image shifts the answers of the next observers in datadings 3.4.7
    truth = make_anp460(tmp_path, np.random.default_rng(11), missing={('p01', 2)})
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    assert run(['-q', '-o', ours, tmp_path]).returncode == 0
    run_reference_writer(reference_python(), 'ANP460', ['-o', theirs, tmp_path])

    def shifted(key, field, a, b):
        if key != 'images_original/2.jpg' or field != 'experiments':
            return False
        answers = [(e['answer'], e['duration']) for e in a]
        assert answers == [(x[2], x[3]) for x in truth[key][3]]   # p02, p03
        # datadings gives them the answers of p01 and p02
        assert [(e['answer'], e['duration']) for e in b] == [('no', 1.0), ('yes', 2.0)]
        for x, y in zip(a, b):
            assert np.array_equal(x['locations'], y['locations'])
        return True

    assert assert_same_samples(ours / 'ANP460.msgpack', theirs / 'ANP460.msgpack',
                               expected=shifted) == len(truth)
