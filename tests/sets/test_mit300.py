"""
End-to-end tests of the MIT300 writer on a miniature ``BenchmarkIMAGES.zip``
laid out like the real one: ``BenchmarkIMAGES/iN.jpg`` plus the
``__MACOSX/BenchmarkIMAGES/._iN.jpg`` files of a zip made on a Mac.
The writer runs as a separate process with ``-s``.
"""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.sets import MIT300
from datadings_like.sets import MIT300_write
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason
from sets.cli import read_samples
from sets.cli import run_writer

NAMES = ['i1', 'i2', 'i10', 'i300']


def jpeg(rng, size=(12, 9)):
    bio = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        bio, 'JPEG', quality=90)
    return bio.getvalue()


def make_mit300(indir, rng, names=NAMES, replace=None):
    """Write the miniature zip; returns ``{key: JPEG data}``."""
    truth = {}
    replace = replace or {}
    with zipfile.ZipFile(indir / 'BenchmarkIMAGES.zip', 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('BenchmarkIMAGES/', b'')
        for name in names:
            member = f'BenchmarkIMAGES/{name}.jpg'
            data = replace.get(member, jpeg(rng))
            zf.writestr(member, data)
            zf.writestr(f'__MACOSX/BenchmarkIMAGES/._{name}.jpg', b'\0\5\26\7' + b'\0' * 60)
            truth[member] = data
        zf.writestr('BenchmarkIMAGES/SM/i1_SM.jpg', jpeg(rng))  # not a benchmark image
        zf.writestr('BenchmarkIMAGES/Thumbs.db', b'\0' * 16)
    return truth


def run(args, module=True):
    return run_writer('MIT300', args, module)


read = read_samples


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_the_images(tmp_path, module):
    truth = make_mit300(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    samples = read(out / 'MIT300.msgpack')
    assert [s['key'] for s in samples] == [f'BenchmarkIMAGES/{n}.jpg' for n in NAMES]
    for s in samples:
        assert list(s) == ['key', 'image']
        assert s['image'] == truth[s['key']]


def test_shuffled_with_seed(tmp_path):
    make_mit300(tmp_path, np.random.default_rng(2), names=[f'i{n}' for n in range(1, 30)])
    for out in ('a', 'b'):
        assert run(['-s', '-q', '--seed', 3, '-o', tmp_path / out, tmp_path]).returncode == 0
    a = (tmp_path / 'a/MIT300.msgpack').read_bytes()
    assert a == (tmp_path / 'b/MIT300.msgpack').read_bytes()
    keys = [s['key'] for s in read(tmp_path / 'a/MIT300.msgpack')]
    assert sorted(keys) == sorted(f'BenchmarkIMAGES/i{n}.jpg' for n in range(1, 30))
    assert keys != sorted(keys, key=lambda k: int(k.split('/i')[1][:-4]))


def test_existing_output_needs_y(tmp_path):
    make_mit300(tmp_path, np.random.default_rng(3))
    assert run(['-s', '-q', tmp_path]).returncode == 0
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'exists' in proc.stderr and 'Traceback' not in proc.stderr
    assert run(['-s', '-q', '-y', tmp_path]).returncode == 0


def test_damaged_image(tmp_path):
    make_mit300(tmp_path, np.random.default_rng(4),
                replace={'BenchmarkIMAGES/i10.jpg': b'\x89PNG\r\n\x1a\n not really'})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'BenchmarkIMAGES.zip: BenchmarkIMAGES/i10.jpg' in proc.stderr
    assert not (tmp_path / 'MIT300.msgpack').exists()


def test_wrong_archive(tmp_path):
    with zipfile.ZipFile(tmp_path / 'BenchmarkIMAGES.zip', 'w') as zf:
        zf.writestr('readme.txt', 'no images')
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'no .jpg images found' in proc.stderr


def test_not_a_zip(tmp_path):
    (tmp_path / 'BenchmarkIMAGES.zip').write_bytes(b'not a zip')
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'BenchmarkIMAGES.zip: cannot read zip archive' in proc.stderr


def test_is_image():
    assert MIT300_write.is_image('BenchmarkIMAGES/i1.jpg')
    assert not MIT300_write.is_image('__MACOSX/BenchmarkIMAGES/._i1.jpg')
    assert not MIT300_write.is_image('BenchmarkIMAGES/i1_SM.jpg')
    assert not MIT300_write.is_image('BenchmarkIMAGES/Thumbs.db')


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write MIT300 [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}]'), usage
    for text in ('BenchmarkIMAGES.zip', 'http://saliency.mit.edu/BenchmarkIMAGES.zip',
                 '"key"', '"image"', 'MIT300.msgpack'):
        assert text in proc.stdout


def test_metadata():
    assert MIT300.NUM_SAMPLES == 300


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    make_mit300(tmp_path, np.random.default_rng(8))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    assert run(['-s', '-q', '-o', ours, tmp_path]).returncode == 0
    run_reference_writer(reference_python(), 'MIT300', ['-s', '-y', '-o', theirs, tmp_path])
    # the JPEGs are copied: compared byte for byte, not by pixels
    assert assert_same_samples(ours / 'MIT300.msgpack', theirs / 'MIT300.msgpack',
                               images=()) == len(NAMES)
