"""The demo writer, end to end through python -m datadings_like.sets.demo_write."""
from collections import Counter
import io
import subprocess
import sys

import numpy as np
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import demo
from datadings_like.sets import demo_write
from datadings_like.tools import hash_md5hex


def run(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, '-m', 'datadings_like.sets.demo_write', *argv],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def test_default_quick_start(tmp_path):
    result = run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for split, n in demo.NUM_SAMPLES.items():
        reader = MsgpackReader(tmp_path / 'demo' / f'{split}.msgpack')
        assert len(reader) == n
        sample = reader[0]
        assert set(sample) == {'key', 'image', 'label'}
        assert decode(sample['image']).shape == (demo.IMAGE_SIZE, demo.IMAGE_SIZE, 3)
    labels = Counter(s['label'] for s in MsgpackReader(tmp_path / 'demo' / 'train.msgpack'))
    assert labels == {i: 500 for i in range(len(demo.CLASSES))}
    # again without -y: nothing can be asked, so it is an error and nothing changes
    before = hash_md5hex(tmp_path / 'demo' / 'train.msgpack')
    again = run(cwd=tmp_path)
    assert again.returncode == 1
    assert 'exists' in again.stderr and 'Traceback' not in again.stderr
    assert hash_md5hex(tmp_path / 'demo' / 'train.msgpack') == before


def test_samples_are_what_was_drawn(tmp_path):
    out = tmp_path / 'out'
    result = run('-o', str(out), '--train', '30', '--test', '20', '--seed', '7',
                 '--format', 'png', '-q', '-t', '2')
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    for split, n in (('train', 30), ('test', 20)):
        samples = list(MsgpackReader(out / f'{split}.msgpack'))
        assert [s['key'] for s in samples] == [f'{split}-{i:05d}' for i in range(n)]
        for i, sample in enumerate(samples):
            label = demo_write.sample_label(7, split, i)
            assert sample['label'] == label
            drawn = np.asarray(demo_write.draw_image(7, split, i, label))
            assert np.array_equal(decode(sample['image']), drawn)
        # the first 10 samples hold each class once
        assert sorted(s['label'] for s in samples[:10]) == list(range(10))


def test_deterministic_jpeg(tmp_path):
    for name, seed in (('a', '0'), ('b', '0'), ('c', '1')):
        result = run('-o', str(tmp_path / name), '--train', '40', '--test', '0',
                     '--seed', seed, '-y', '-q')
        assert result.returncode == 0, result.stderr
    md5 = {n: hash_md5hex(tmp_path / n / 'train.msgpack') for n in 'abc'}
    assert md5['a'] == md5['b'] != md5['c']
    sample = MsgpackReader(tmp_path / 'a' / 'train.msgpack')[5]
    assert sample['image'][:2] == b'\xff\xd8'
    drawn = np.asarray(demo_write.draw_image(0, 'train', 5, sample['label']))

    def blocks(a):  # 8x8 block means: JPEG keeps them, not the pixel noise
        return a.astype(float).reshape(8, 8, 8, 8, 3).mean(axis=(1, 3))

    assert np.abs(blocks(decode(sample['image'])) - blocks(drawn)).max() < 12


def test_help_lists_files_and_keys():
    result = run('-h')
    assert result.returncode == 0
    for text in ('train.msgpack', 'test.msgpack', '"key"', '"image"', '"label"',
                 '--seed', '--threads', 'datadings-cat'):
        assert text in result.stdout


def test_size_is_bounded(tmp_path):
    out = tmp_path / 'out'
    result = run('--size', '100000', '--train', '1', '--test', '1', '-o', str(out))
    assert result.returncode == 2
    assert 'at most 4096' in result.stderr and 'Traceback' not in result.stderr
    result = run('--size', '8', '-o', str(out))
    assert result.returncode == 2 and 'at least 16' in result.stderr
    assert not out.exists()
    assert '4096' in run('-h').stdout
    assert (demo_write.MIN_SIZE, demo_write.MAX_SIZE) == (16, 4096)
