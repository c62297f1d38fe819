"""
End-to-end tests of the CIFAR-10 and CIFAR-100 writers.

The tests build miniature ``cifar-10-python.tar.gz`` and
``cifar-100-python.tar.gz`` archives with the layout of the real
downloads: the same member paths, and pickles written the way Python 2
wrote them (``str`` as byte strings, ``numpy.core.multiarray`` globals),
so that ``pickle.load(f, encoding='bytes')`` yields ``bytes`` keys like
``b'data'``. The writers run as separate processes with ``-s`` (skip
verification): the MD5 hashes of the miniature archives cannot match the
official ones, and verification itself is tested with the download tools.
"""
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import CIFAR10
from datadings_like.sets import CIFAR100


class Py2StylePickler(pickle._Pickler):
    """
    Write pickles like Python 2's cPickle did for the CIFAR files:
    every ``str``/``bytes`` becomes a byte string (``BINSTRING``) and numpy
    globals use their Python 2 module names.
    """
    dispatch = dict(pickle._Pickler.dispatch)

    def save_string(self, obj, *args):
        data = obj.encode('latin-1') if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_string
    dispatch[bytes] = save_string

    def save_global(self, obj, name=None):
        module = getattr(obj, '__module__', None) or 'builtins'
        name = name or obj.__qualname__
        module = module.replace('numpy._core', 'numpy.core')
        self.write(pickle.GLOBAL + f'{module}\n{name}\n'.encode('ascii'))
        self.memoize(obj)


def py2_pickle(obj):
    bio = io.BytesIO()
    Py2StylePickler(bio, protocol=2).dump(obj)
    return bio.getvalue()


def add_member(tar, name, data=None):
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


def make_rows(rng, n):
    # smooth-ish random images; rows are channel-major like the real data:
    # 1024 red, then 1024 green, then 1024 blue values
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def row_to_hwc(row):
    return row.reshape(3, 32, 32).transpose(1, 2, 0)


def make_cifar10(indir, rng, per_batch=2, n_test=3):
    """Returns {split: [(filename, label, row), ...]} in file order."""
    truth = {'train': [], 'test': []}
    members = []
    for b in range(1, 6):
        rows = make_rows(rng, per_batch)
        labels = [int(x) for x in rng.integers(0, 10, per_batch)]
        names = [f'batch{b}_img{i}_s_{b:03d}{i:03d}.png' for i in range(per_batch)]
        members.append((f'cifar-10-batches-py/data_batch_{b}', py2_pickle({
            'batch_label': f'training batch {b} of 5',
            'labels': labels,
            'data': rows,
            'filenames': names,
        })))
        truth['train'].extend(zip(names, labels, rows))
    rows = make_rows(rng, n_test)
    labels = [int(x) for x in rng.integers(0, 10, n_test)]
    names = [f'test_img{i}_s_{i:06d}.png' for i in range(n_test)]
    members.append(('cifar-10-batches-py/test_batch', py2_pickle({
        'batch_label': 'testing batch 1 of 1',
        'labels': labels,
        'data': rows,
        'filenames': names,
    })))
    truth['test'].extend(zip(names, labels, rows))
    members.append(('cifar-10-batches-py/batches.meta', py2_pickle({
        'num_cases_per_batch': 10000,
        'label_names': list(CIFAR10.CLASSES),
        'num_vis': 3072,
    })))
    members.append(('cifar-10-batches-py/readme.html', b'<html></html>\n'))
    # the real archive does not store the batches in name order
    order = [0, 7, 5, 2, 6, 1, 4, 3]
    path = os.path.join(indir, 'cifar-10-python.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        add_member(tar, 'cifar-10-batches-py')
        for i in order:
            add_member(tar, *members[i])
    return truth


def make_cifar100(indir, rng, n_train=7, n_test=4):
    truth = {}
    members = []
    for split, n in (('train', n_train), ('test', n_test)):
        rows = make_rows(rng, n)
        fine = [int(x) for x in rng.integers(0, 100, n)]
        coarse = [CIFAR100.FINE_TO_COARSE[f] for f in fine]
        names = [f'{split}_thing_s_{i:06d}.png' for i in range(n)]
        if split == 'train':
            # the real train set repeats some file names
            names[4] = names[1]
            names[6] = names[1]
        members.append((f'cifar-100-python/{split}', py2_pickle({
            'filenames': names,
            'batch_label': f'{split}ing batch 1 of 1',
            'fine_labels': fine,
            'coarse_labels': coarse,
            'data': rows,
        })))
        truth[split] = list(zip(names, fine, coarse, rows))
    members.append(('cifar-100-python/meta', py2_pickle({
        'fine_label_names': list(CIFAR100.CLASSES),
        'coarse_label_names': list(CIFAR100.COARSE_CLASSES),
    })))
    members.append(('cifar-100-python/file.txt~', b''))
    path = os.path.join(indir, 'cifar-100-python.tar.gz')
    with tarfile.open(path, 'w:gz') as tar:
        add_member(tar, 'cifar-100-python')
        for m in (members[2], members[1], members[3], members[0]):
            add_member(tar, *m)
    return truth



def run(args, via_command=None, **kwargs):
    """Run a writer: ``args[0]`` is the dataset name."""
    name, rest = args[0], list(args[1:])
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', name] + rest
    else:
        cmd = [sys.executable, '-m', f'datadings_like.sets.{name}_write'] + rest
    return subprocess.run(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, timeout=120, **kwargs
    )


def read_all(path):
    with MsgpackReader(path) as reader:
        return [reader.get(i) for i in range(len(reader))]


def decode_png(data):
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    im = Image.open(io.BytesIO(data))
    assert im.format == 'PNG'
    assert im.mode == 'RGB'
    assert im.size == (32, 32)
    return np.asarray(im)


def _via():
    return [pytest.param(False, id='module'), pytest.param(True, id='datadings-write')]


@pytest.mark.parametrize('via_command', _via())
def test_cifar10_in_order(tmp_path, via_command):
    truth = make_cifar10(str(tmp_path), np.random.default_rng(10))
    out = tmp_path / 'out'
    proc = run(['CIFAR10', '-s', '-y', '--shuffle', 'no', '-t', '2',
                '-o', str(out), str(tmp_path)], via_command=via_command)
    assert proc.returncode == 0, proc.stderr.decode()
    for split in ('train', 'test'):
        samples = read_all(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == [t[0] for t in truth[split]]
        for sample, (name, label, row) in zip(samples, truth[split]):
            assert set(sample) == {'key', 'image', 'label'}
            assert sample['label'] == label
            assert type(sample['label']) is int
            np.testing.assert_array_equal(decode_png(sample['image']), row_to_hwc(row))
    # nothing but the datasets (and their index/md5 files) was written
    names = sorted(os.listdir(out))
    assert all(n.startswith(('train.msgpack', 'test.msgpack')) for n in names), names


def test_cifar10_shuffled(tmp_path):
    truth = make_cifar10(str(tmp_path), np.random.default_rng(11), per_batch=4)
    proc = run(['CIFAR10', '-s', '-y', str(tmp_path)])
    assert proc.returncode == 0, proc.stderr.decode()
    samples = read_all(tmp_path / 'train.msgpack')
    expected = {name: (label, row) for name, label, row in truth['train']}
    assert sorted(s['key'] for s in samples) == sorted(expected)
    for sample in samples:
        label, row = expected[sample['key']]
        assert sample['label'] == label
        np.testing.assert_array_equal(decode_png(sample['image']), row_to_hwc(row))
    assert len(read_all(tmp_path / 'test.msgpack')) == 3
    # no temporary files are left behind
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]


@pytest.mark.parametrize('shuffle', ['no', 'yes'])
def test_cifar100(tmp_path, shuffle):
    truth = make_cifar100(str(tmp_path), np.random.default_rng(100))
    proc = run(['CIFAR100', '-s', '-y', '--shuffle', shuffle, str(tmp_path)])
    assert proc.returncode == 0, proc.stderr.decode()
    for split in ('train', 'test'):
        samples = read_all(tmp_path / f'{split}.msgpack')
        # repeated file names get a counter appended: x.png, x.png2, x.png3
        keys, seen = [], {}
        for name, *_ in truth[split]:
            seen[name] = seen.get(name, 0) + 1
            keys.append(name if seen[name] == 1 else f'{name}{seen[name]}')
        expected = dict(zip(keys, truth[split]))
        if shuffle == 'no':
            assert [s['key'] for s in samples] == keys
        assert sorted(s['key'] for s in samples) == sorted(keys)
        for sample in samples:
            _, fine, coarse, row = expected[sample['key']]
            assert set(sample) == {'key', 'image', 'label', 'coarse_label'}
            assert sample['label'] == fine
            assert sample['coarse_label'] == coarse
            np.testing.assert_array_equal(decode_png(sample['image']), row_to_hwc(row))


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.mark.parametrize('payload', ['os.system', 'builtins.eval', 'nested'])
def test_hostile_pickle_is_refused(tmp_path, payload):
    marker = tmp_path / 'pwned'
    if payload == 'os.system':
        evil = py2_pickle({'batch_label': 'training batch 1 of 5', 'data': Evil(marker)})
        # the payload is live: a plain unpickler runs it
        control = tmp_path / 'control'
        pickle.loads(py2_pickle({'data': Evil(control)}), encoding='latin1')
        assert control.exists()
        words = ('posix.system', 'os.system')
    elif payload == 'builtins.eval':
        class EvalEvil:
            def __reduce__(self):
                return eval, (f"open({str(marker)!r}, 'w')",)
        evil = pickle.dumps(EvalEvil(), protocol=4)
        words = ('builtins.eval',)
    else:
        # a real-looking batch whose (object) array smuggles a call
        data = np.empty(1, dtype=object)
        data[0] = Evil(marker)
        evil = py2_pickle({'batch_label': 'training batch 1 of 5', 'labels': [1],
                           'filenames': ['a.png'], 'data': data})
        words = ('posix.system', 'os.system')
    path = tmp_path / 'cifar-10-python.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        add_member(tar, 'cifar-10-batches-py')
        add_member(tar, 'cifar-10-batches-py/batches.meta', py2_pickle({
            'label_names': list(CIFAR10.CLASSES)}))
        for b in range(1, 6):
            add_member(tar, f'cifar-10-batches-py/data_batch_{b}', evil)
        add_member(tar, 'cifar-10-batches-py/test_batch', evil)
    proc = run(['CIFAR10', '-s', '-y', '--shuffle', 'no', str(tmp_path)])
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert 'Traceback' not in err, err
    assert 'data_batch_1' in err, err
    assert any(w in err for w in words), err
    assert not marker.exists()
    assert not (tmp_path / 'train.msgpack').exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]


def test_wrong_archive_layout(tmp_path):
    path = tmp_path / 'cifar-100-python.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        add_member(tar, 'cifar-100-python')
        add_member(tar, 'cifar-100-python/test', py2_pickle({'fine_labels': [1]}))
    proc = run(['CIFAR100', '-s', '-y', '--shuffle', 'no', str(tmp_path)])
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert 'Traceback' not in err, err
    assert 'cifar-100-python/train' in err, err


@pytest.mark.parametrize('name', ['CIFAR10', 'CIFAR100'])
def test_help(name):
    proc = run([name, '-h'])
    assert proc.returncode == 0
    text = proc.stdout.decode()
    archive = 'cifar-10-python.tar.gz' if name == 'CIFAR10' else 'cifar-100-python.tar.gz'
    assert archive in text
    assert 'https://www.cs.toronto.edu/~kriz/cifar.html' in text
    for key in ('"key"', '"image"', '"label"'):
        assert key in text
    assert ('"coarse_label"' in text) == (name == 'CIFAR100')
    for option in ('--shuffle', '--threads', '--skip-verification', '--outdir'):
        assert option in text


def test_class_metadata():
    assert len(CIFAR10.CLASSES) == 10
    assert len(CIFAR100.CLASSES) == 100 and len(set(CIFAR100.CLASSES)) == 100
    assert len(CIFAR100.COARSE_CLASSES) == 20
    assert sorted(CIFAR100.COARSE_MEMBERS) == sorted(CIFAR100.COARSE_CLASSES)
    for coarse, members in CIFAR100.COARSE_MEMBERS.items():
        assert len(members) == 5
        for fine in members:
            assert CIFAR100.FINE_TO_COARSE[CIFAR100.CLASSES.index(fine)] == \
                CIFAR100.COARSE_CLASSES.index(coarse)


@pytest.mark.parametrize('name', ['CIFAR10', 'CIFAR100'])
def test_quiet_and_seed_in_help(name):
    text = run([name, '-h']).stdout.decode()
    for option in ('-q', '--quiet', '--seed'):
        assert option in text, option


def test_cifar10_seed_gives_identical_files(tmp_path):
    make_cifar10(str(tmp_path), np.random.default_rng(12), per_batch=6)
    outputs = {}
    for name, seed in (('a', '5'), ('b', '5'), ('c', '6')):
        out = tmp_path / name
        proc = run(['CIFAR10', '-s', '-y', '-q', '--shuffle', 'yes', '--seed', seed,
                    '-t', '2', '-o', str(out), str(tmp_path)])
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stderr == b''  # -q: no progress bars
        outputs[name] = {split: (out / f'{split}.msgpack').read_bytes()
                         for split in ('train', 'test')}
    assert outputs['a'] == outputs['b']  # byte-identical
    keys = {name: [s['key'] for s in read_all(tmp_path / name / 'train.msgpack')]
            for name in outputs}
    assert keys['a'] != keys['c'] and sorted(keys['a']) == sorted(keys['c'])
    in_order = [f'batch{b}_img{i}_s_{b:03d}{i:03d}.png' for b in range(1, 6) for i in range(6)]
    assert keys['a'] != in_order and sorted(keys['a']) == sorted(in_order)


def test_cifar100_seed_and_quiet(tmp_path):
    make_cifar100(str(tmp_path), np.random.default_rng(101), n_train=20)
    data = []
    for name in ('a', 'b'):
        proc = run(['CIFAR100', '-s', '-y', '--quiet', '--seed', '3', '-o',
                    str(tmp_path / name), str(tmp_path)])
        assert proc.returncode == 0, proc.stderr.decode()
        assert proc.stderr == b''
        data.append((tmp_path / name / 'train.msgpack').read_bytes())
    assert data[0] == data[1]


def test_seed_must_be_a_non_negative_integer(tmp_path):
    proc = run(['CIFAR10', '-s', '--seed', '-1', str(tmp_path)])
    assert proc.returncode == 2 and b'--seed' in proc.stderr
