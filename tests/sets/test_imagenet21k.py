"""
End-to-end tests of the ImageNet21k writer and ImageNet21k_create_meta.

The tests build a miniature ``winter21_whole.tar.gz`` with the layout of
the real one: a gzip-compressed tar with the directory ``winter21_whole/``
and one tar per synset, ``winter21_whole/nXXXXXXXX.tar``, holding
``nXXXXXXXX_N.JPEG`` images in no particular order. Among them a PNG file
named ``.JPEG``, a CMYK JPEG, a greyscale JPEG and a gzip-compressed JPEG
(the odd ones of the real archive), a synset that is not among the 10450
classes, and a stray text file. The miniature tree file
``imagenet21k_miil_tree.pth`` is made with ``torch.save`` (zip and legacy
format) or, without PyTorch, as the zip + pickle layout it has.

The writer runs as a separate process with ``-s``: the MD5 hash of the
miniature cannot match the official one.
"""
from collections import OrderedDict
import gzip
import io
import json
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from PIL import JpegImagePlugin

from datadings_like.reader import ShardedReader
from datadings_like.sets import ImageNet21k
from sets.reference import NO_REFERENCE
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.cli import files_of
from sets.cli import read_samples
from sets.cli import run_writer

ARCHIVE = 'winter21_whole.tar.gz'
# synset -> number of images; real WNIDs with label trees of several levels
SYNSETS = {
    'n00288384': 57,   # label 10, tree [10, 9, 66, 65, 144]; 50 val + 7 train
    'n09999999': 5,    # not a class of ImageNet-21K-P: skipped
    'n00434075': 12,   # fewer than 50 images: all val
    'n01440764': 61,   # tench
}
# odd images: (synset, number) -> kind
ODD = {
    ('n00288384', 7): 'png',     # '..._7.JPEG' sorts after '..._57.JPEG': train
    ('n00288384', 3): 'cmyk',    # val
    ('n00434075', 5): 'gray',
    ('n01440764', 8): 'gz',      # train (sorted after _61)
    ('n01440764', 12): 'cmyk',   # val
}
CONVERTED = {f'{w}_{n}.JPEG' for (w, n), kind in ODD.items() if kind in ('png', 'cmyk', 'gray')}


def pixels(w, h, seed):
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 100 * np.sin(x / (5.0 + seed % 7) + seed)
    g = 128 + 100 * np.cos(y / (6.0 + seed % 5))
    b = 255 * (x + y) / (w + h)
    return np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)


def encode(kind, seed):
    """Returns (file data, expected RGB pixels)."""
    w, h = 16 + seed % 9, 12 + seed % 5
    rgb = pixels(w, h, seed)
    im = Image.fromarray(rgb)
    out = io.BytesIO()
    if kind in ('rgb', 'gz'):
        im.save(out, 'JPEG', quality=90)
    elif kind == 'cmyk':
        im.convert('CMYK').save(out, 'JPEG', quality=95)
    elif kind == 'gray':
        im = im.convert('L')
        im.save(out, 'JPEG', quality=95)
    elif kind == 'png':
        im.save(out, 'PNG')
    data = out.getvalue()
    expected = np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))
    if kind == 'gz':
        data = gzip.compress(data, mtime=0)
    return data, expected


def add(tar, name, data=None, kind=tarfile.REGTYPE):
    info = tarfile.TarInfo(name)
    info.mtime = 1234567890
    info.type = kind
    if kind == tarfile.DIRTYPE:
        info.mode = 0o755
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))


def tar_bytes(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in members:
            add(tar, name, data)
    return out.getvalue()


def make_archive(indir, synsets=SYNSETS, seed=0):
    """Write the miniature archive; returns {key: (wnid, kind, data, pixels)}."""
    rng = random.Random(seed)
    truth = {}
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode='w') as tar:
        add(tar, 'winter21_whole', kind=tarfile.DIRTYPE)
        n = 0
        for wnid, count in synsets.items():
            numbers = list(range(1, count + 1))
            rng.shuffle(numbers)  # not sorted in the tar
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode='w') as t:
                for number in numbers:
                    n += 1
                    kind = ODD.get((wnid, number), 'rgb')
                    data, expected = encode(kind, n + seed)
                    key = f'{wnid}_{number}.JPEG'
                    add(t, key, data)
                    truth[key] = (wnid, kind, data, expected)
            add(tar, f'winter21_whole/{wnid}.tar', inner.getvalue())
            if wnid == 'n00288384':
                # 6 MB that do not compress, of a synset that is not a class:
                # a stream cut in the middle leaves the writer waiting here
                # (decompressors read ahead in blocks of up to about a megabyte)
                filler = tar_bytes([('n09999998_1.JPEG', os.urandom(6 << 20))])
                add(tar, 'winter21_whole/n09999998.tar', filler)
        add(tar, 'winter21_whole/README.txt', b'not a synset\n')
    path = os.path.join(indir, ARCHIVE)
    with open(path, 'wb') as f:
        f.write(gzip.compress(outer.getvalue(), mtime=0))
    return truth


def expected_splits(truth):
    """{split: [keys in the order they are written]}"""
    splits = {'val': [], 'train': []}
    for wnid in SYNSETS:
        if wnid not in ImageNet21k.SYNSETS:
            continue
        keys = sorted(k for k, v in truth.items() if v[0] == wnid)
        splits['val'] += keys[:50]
        splits['train'] += keys[50:]
    return splits


def run(args, via_command=False, env=None, **kwargs):
    return run_writer('ImageNet21k', args, not via_command, timeout=300, env=env, **kwargs)


read_all = read_samples


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    indir = tmp_path_factory.mktemp('in21k')
    return indir, make_archive(str(indir))


@pytest.fixture(scope='module')
def converted(archive, tmp_path_factory):
    """One uninterrupted conversion with the default options."""
    indir, truth = archive
    out = tmp_path_factory.mktemp('out')
    proc = run(['-s', '-y', '-o', out, indir], env={'DATADINGS_LIKE_GUNZIP': 'python'})
    assert proc.returncode == 0, proc.stderr
    return out, proc


# ------------------------------------------------------------------ samples

@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_samples(archive, converted, tmp_path, via_command):
    indir, truth = archive
    if via_command:
        proc = run(['-s', '-y', '-o', tmp_path, indir], via_command=True)
        assert proc.returncode == 0, proc.stderr
        out = tmp_path
    else:
        out, proc = converted
    # n09999998, n09999999 and README.txt
    assert 'skipped' in proc.stderr and '3 members' in proc.stderr
    expected = expected_splits(truth)
    for split in ('val', 'train'):
        samples = read_all(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == expected[split]
        for sample in samples:
            key = sample['key']
            wnid, kind, source, pixels_ = truth[key]
            assert set(sample) == {'key', 'image', 'label', 'label_tree'}
            label = ImageNet21k.SYNSETS[wnid]
            assert sample['label'] == label
            assert sample['label_tree'] == list(ImageNet21k.SYNSET_TREE_LIST[label])
            assert sample['label_tree'][0] == label
            image = Image.open(io.BytesIO(sample['image']))
            assert (image.format, image.mode) == ('JPEG', 'RGB'), key
            if kind == 'rgb':
                assert sample['image'] == source, key
            elif kind == 'gz':
                assert sample['image'] == gzip.decompress(source), key
            else:
                assert mean_abs_diff(np.asarray(image), pixels_) < 3, key
                assert JpegImagePlugin.get_sampling(image) == 0, key  # 4:4:4
    assert ImageNet21k.SYNSET_TREE_LIST[ImageNet21k.SYNSETS['n00288384']] == (10, 9, 66, 65, 144)
    assert not [n for n in os.listdir(out) if n.startswith('.')]


def test_threads_and_decompressors_give_the_same_files(archive, converted, tmp_path):
    indir, _ = archive
    reference = files_of(converted[0])
    for threads, gunzip in (('2', 'gzip'), ('1', 'auto')):
        out = tmp_path / f'{threads}-{gunzip}'
        proc = run(['-s', '-y', '-q', '-t', threads, '-o', out, indir],
                   env={'DATADINGS_LIKE_GUNZIP': gunzip})
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ''  # -q
        assert files_of(out) == reference


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
def test_same_samples_as_datadings(archive, converted, tmp_path):
    indir, truth = archive
    refin = tmp_path / 'in'
    refin.mkdir()
    os.symlink(indir / ARCHIVE, refin / ARCHIVE)
    # datadings 3.4.7 wants the tree file although it never reads it
    (refin / 'imagenet21k_miil_tree.pth').write_bytes(b'not read')
    ref = tmp_path / 'ref'
    run_reference_writer(reference_python(), 'ImageNet21k', ['-s', '-y', '-o', ref, refin])
    out = converted[0]

    def documented(key, field, ours, theirs):
        # re-encoded images: ours RGB JPEG quality 95, datadings quality 98
        # (greyscale JPEGs stay grey in datadings)
        if field != 'image' or key not in CONVERTED:
            return False
        a = np.asarray(Image.open(io.BytesIO(ours)))
        b = np.asarray(Image.open(io.BytesIO(theirs)).convert('RGB'))
        assert a.shape == b.shape, key
        assert mean_abs_diff(a, b) < 3, key
        return True
    counts = {split: assert_same_samples(out / f'{split}.msgpack', ref / f'{split}.msgpack',
                                         expected=documented)
              for split in ('val', 'train')}
    assert counts == {'val': 50 + 12 + 50, 'train': 7 + 11}
    # with one thread datadings writes in archive order too
    for split in ('val', 'train'):
        assert [s['key'] for s in read_all(out / f'{split}.msgpack')] == \
            [s['key'] for s in read_all(ref / f'{split}.msgpack')]


# ---------------------------------------------------------------- sharding

def test_sharded_output(archive, converted, tmp_path):
    indir, truth = archive
    proc = run(['-s', '-y', '-q', '--shard-size', '20', '-o', tmp_path, indir])
    assert proc.returncode == 0, proc.stderr
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.msgpack'))
    assert names == ['train-00000-of-00001.msgpack'] + \
        [f'val-{i:05d}-of-00006.msgpack' for i in range(6)]
    for split in ('val', 'train'):
        single = read_all(converted[0] / f'{split}.msgpack')
        with ShardedReader(str(tmp_path / f'{split}-*-of-*.msgpack')) as reader:
            assert [reader.get(i) for i in range(len(reader))] == single


def test_shards_option(archive, tmp_path, monkeypatch):
    """--shards N makes N shards of a split of the expected size."""
    from datadings_like.sets import ImageNet21k_write
    indir, truth = archive
    splits = expected_splits(truth)
    counts = {split: len(keys) for split, keys in splits.items()}
    monkeypatch.setitem(ImageNet21k._load(), 'NUM_SAMPLES', counts)
    monkeypatch.setenv('DATADINGS_LIKE_GUNZIP', 'python')
    ImageNet21k_write.main(['-s', '-y', '-q', '--shards', '3', '-o', str(tmp_path), str(indir)])
    for split, keys in splits.items():
        paths = [tmp_path / f'{split}-{i:05d}-of-00003.msgpack' for i in range(3)]
        with ShardedReader(paths) as reader:
            assert [s['key'] for s in reader] == keys
            assert [len(r) for r in reader.shards] == [-(-len(keys) // 3)] * 2 + \
                [len(keys) - 2 * -(-len(keys) // 3)]


def test_torch_reads_the_shards(archive, tmp_path):
    pytest.importorskip('torch')
    from datadings_like.torch import Dataset
    indir, truth = archive
    proc = run(['-s', '-y', '-q', '--shard-size', '25', '-o', tmp_path, indir])
    assert proc.returncode == 0, proc.stderr
    dataset = Dataset(ShardedReader(str(tmp_path / 'val-*-of-*.msgpack')))
    assert [dataset[i]['key'] for i in range(len(dataset))] == expected_splits(truth)['val']


# --------------------------------------------------------------- resuming

def kill_half_way(indir, outdir, args, env):
    """
    Run the writer on a FIFO that gets the first half of the archive, wait
    until it has checkpointed samples and waits for more input, then kill
    it (and its decompressor) with SIGKILL.
    """
    source = indir / ARCHIVE
    data = source.read_bytes()
    work = outdir.parent / 'fifo-in'
    work.mkdir()
    fifo = work / ARCHIVE
    os.mkfifo(fifo)

    def feed():
        try:
            with open(fifo, 'wb') as f:
                f.write(data[:len(data) // 2])
                done.wait(60)
        except BrokenPipeError:
            pass
    done = threading.Event()
    feeder = threading.Thread(target=feed)
    feeder.start()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'datadings_like.sets.ImageNet21k_write', '-s', '-y', '-q',
         '--checkpoint-interval', '0', *args, '-o', str(outdir), str(work)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, **env}, start_new_session=True)
    state_path = outdir / '.ImageNet21k.resume'
    last, stable_since, deadline = None, None, time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1].decode()
            state = state_path.read_bytes() if state_path.exists() else None
            if state != last:
                last, stable_since = state, time.monotonic()
            elif state is not None and time.monotonic() - stable_since > 1.0:
                kept = json.loads(state)
                if any(p['samples'] for s in kept['splits'].values() for p in s['parts']):
                    break
            time.sleep(0.05)
        else:
            pytest.fail('the writer did not checkpoint anything')
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done.set()
        feeder.join()
    assert proc.returncode == -signal.SIGKILL
    shutil.rmtree(work)
    return json.loads(last)


@pytest.mark.parametrize('args,gunzip', [
    ([], 'python'),
    (['--shard-size', '20'], 'gzip'),
    (['-t', '2'], 'auto'),
], ids=['single-zlib', 'shards-gzip-process', 'threads'])
def test_killed_conversion_goes_on(archive, tmp_path, args, gunzip):
    indir, truth = archive
    env = {'DATADINGS_LIKE_GUNZIP': gunzip}
    whole = tmp_path / 'whole'
    proc = run(['-s', '-y', '-q', *args, '-o', whole, indir], env=env)
    assert proc.returncode == 0, proc.stderr

    out = tmp_path / 'out'
    state = kill_half_way(indir, out, args, env)
    kept = {split: sum(p['samples'] for p in s['parts']) for split, s in state['splits'].items()}
    assert 0 < sum(kept.values()) < 50 + 12 + 50 + 7 + 11
    assert not (out / 'val.msgpack').exists() and not (out / 'train.msgpack').exists()
    assert (out / '.ImageNet21k.resume').exists()

    proc = run(['-s', '-y', *args, '-o', out, indir], env=env)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r'going on with an interrupted conversion \((\d+) val, (\d+) train', proc.stderr)
    assert match, proc.stderr
    assert (int(match[1]), int(match[2])) == (kept['val'], kept['train'])
    assert files_of(out) == files_of(whole)


def test_other_options_do_not_resume(archive, tmp_path):
    indir, _ = archive
    out = tmp_path / 'out'
    kill_half_way(indir, out, [], {'DATADINGS_LIKE_GUNZIP': 'python'})
    # without -y nobody can be asked: one line, nothing discarded
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.sets.ImageNet21k_write',
                           '-s', '--compress', '80', '-o', str(out), str(indir)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'interrupted ImageNet21k conversion' in proc.stderr and '-y' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert (out / '.ImageNet21k.resume').exists()
    # --restart -y starts over and cleans up
    proc = run(['-s', '-y', '--restart', '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    assert 'going on' not in proc.stderr
    assert not [n for n in os.listdir(out) if n.startswith('.')]


# ------------------------------------------------------------------ errors

def test_registration_needed(tmp_path):
    proc = run(['-y', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert ARCHIVE in proc.stderr and 'registration' in proc.stderr
    assert 'image-net.org' in proc.stderr
    # the tree file is not needed, and not downloaded
    assert 'imagenet21k_miil_tree.pth' not in proc.stderr
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_y(archive, converted, tmp_path):
    indir, _ = archive
    shutil.copy(converted[0] / 'val.msgpack', tmp_path / 'val.msgpack')
    proc = run(['-s', '-o', tmp_path, indir])
    assert proc.returncode == 1
    assert 'val.msgpack exists' in proc.stderr and '-y' in proc.stderr
    assert os.listdir(tmp_path) == ['val.msgpack']


def damaged_copy(indir, tmp_path, change):
    bad = tmp_path / 'bad'
    bad.mkdir()
    data = gzip.decompress((indir / ARCHIVE).read_bytes())
    (bad / ARCHIVE).write_bytes(change(data))
    return bad


def test_truncated_archive(archive, tmp_path):
    indir, _ = archive
    data = (indir / ARCHIVE).read_bytes()
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / ARCHIVE).write_bytes(data[:len(data) * 2 // 3])
    for gunzip in ('python', 'gzip'):
        proc = run(['-s', '-y', '-o', tmp_path / 'out', bad], env={'DATADINGS_LIKE_GUNZIP': gunzip})
        assert proc.returncode == 1, proc.stderr
        last = proc.stderr.strip().splitlines()[-1]
        assert ARCHIVE in last and ('damaged' in last or 'truncated' in last), proc.stderr
        assert 'Traceback' not in proc.stderr
        assert not (tmp_path / 'out' / 'train.msgpack').exists()


def test_undecodable_image_names_the_member(archive, tmp_path):
    indir, truth = archive
    key = 'n00434075_9.JPEG'
    source = truth[key][2]

    def change(data):
        # the same number of bytes, so the tar headers stay valid
        return data.replace(source, b'x' * len(source))
    bad = damaged_copy(indir, tmp_path, change)
    proc = run(['-s', '-y', '-o', tmp_path / 'out', bad])
    assert proc.returncode == 1
    assert 'n00434075.tar' in proc.stderr and key in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_damaged_synset_tar_names_the_member(archive, tmp_path):
    indir, _ = archive

    def change(data):
        # break the header checksum of the first image in n01440764.tar
        start = data.index(b'winter21_whole/n01440764.tar') + 512
        return data[:start] + b'\xff' * 100 + data[start + 100:]
    bad = damaged_copy(indir, tmp_path, change)
    proc = run(['-s', '-y', '-o', tmp_path / 'out', bad])
    assert proc.returncode == 1
    assert 'n01440764.tar' in proc.stderr and 'Traceback' not in proc.stderr


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    for word in (ARCHIVE, 'egistration', 'image-net.org', '"key"', '"image"', '"label"',
                 '"label_tree"', '--compress', '--subsampling', '--threads', '--shards',
                 '--shard-size', '--restart', '--checkpoint-interval', '--skip-verification'):
        assert word in proc.stdout, word


# ---------------------------------------------------------------- metadata

def test_shipped_metadata():
    from datadings_like.sets import ImageNet21k_synsets
    assert len(ImageNet21k.SYNSET_LIST) == ImageNet21k.NUM_VALID_SYNSETS == 10450
    assert ImageNet21k.SYNSETS['n00005787'] == 0
    assert ImageNet21k.SYNSET_WORDS['n01440764'] == ImageNet21k.CLASSES[ImageNet21k.SYNSETS['n01440764']]
    assert ImageNet21k.NUM_SAMPLES == {'train': 11060239, 'val': 522500}
    assert ImageNet21k.NUM_VAL_SAMPLES == 50 * 10450
    for label, tree in enumerate(ImageNet21k.SYNSET_TREE_LIST):
        assert tree[0] == label
        # the tree of a parent is the rest of its child's tree
        if len(tree) > 1:
            assert ImageNet21k.SYNSET_TREE_LIST[tree[1]] == tree[1:]
    assert ImageNet21k_synsets.SYNSETS is ImageNet21k.SYNSETS


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
def test_shipped_metadata_is_that_of_datadings():
    script = ('import json, datadings.sets.ImageNet21k_synsets as m; print(json.dumps('
              '[m.SYNSET_LIST, m.SYNSET_TREE_LIST, m.SYNSET_WORDS, m.NUM_TRAIN_SAMPLES, '
              'm.NUM_VAL_SAMPLES, m.SYNSETS]))')
    proc = subprocess.run([reference_python(), '-c', script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    wnids, trees, words, train, val, labels = json.loads(proc.stdout)
    assert list(ImageNet21k.SYNSET_LIST) == wnids
    assert [list(t) for t in ImageNet21k.SYNSET_TREE_LIST] == trees
    assert ImageNet21k.SYNSET_WORDS == words
    assert ImageNet21k.SYNSETS == labels
    assert (ImageNet21k.NUM_TRAIN_SAMPLES, ImageNet21k.NUM_VAL_SAMPLES) == (train, val)


def test_parse_synsets_rejects_bad_lists():
    good = '# samples: train=5 val=2\nn00000001\t0\tone\nn00000002\t1,0\ttwo\n'
    words, trees, counts = ImageNet21k.parse_synsets(good)
    assert list(words) == ['n00000001', 'n00000002'] and trees == [(0,), (1, 0)]
    assert counts == {'train': 5, 'val': 2}
    for bad in ('n00000001\t1\tone\n', 'n00000001\t0,7\tone\n', 'n00000001 0 one\n',
                'n00000001\t0\tone\nn00000001\t1\tone\n'):
        with pytest.raises(ValueError):
            ImageNet21k.parse_synsets(bad)


# ------------------------------------------------------------- create_meta

# a miniature tree: 4 classes, 'n01440764' under 'n00434075' under 'n00288384'
TREE_WNIDS = ['n00288384', 'n00434075', 'n01440764', 'n00005787']
TREE_LISTS = [[0], [1, 0], [2, 1, 0], [3]]
TREE_WORDS = ['piaffe', 'gymnastics', 'tench, Tinca tinca', 'benthos']


def tree_object(kind):
    trees = [[np.int64(v) for v in t] for t in TREE_LISTS]
    if kind == 'tensor':
        import torch
        trees = [torch.tensor(t) for t in TREE_LISTS]
    elif kind == 'plain':
        trees = [list(t) for t in TREE_LISTS]
    return {
        'class_list': np.array(TREE_WNIDS),
        'child_2_parent': {'n00434075': 'n00288384', 'n01440764': 'n00434075'},
        'class_tree_list': trees,
        'class_description': OrderedDict(zip(TREE_WNIDS, TREE_WORDS)),
    }


def write_tree(path, fmt):
    """``fmt``: torch-zip, torch-legacy, torch-tensors, or handmade (no torch)."""
    if fmt.startswith('torch'):
        torch = pytest.importorskip('torch')
        obj = tree_object('tensor' if fmt == 'torch-tensors' else 'numpy')
        torch.save(obj, path, _use_new_zipfile_serialization=fmt != 'torch-legacy')
    else:
        # the layout of torch.save: a zip with ARCHIVE/data.pkl (protocol 2)
        stem = os.path.splitext(os.path.basename(path))[0]
        with zipfile.ZipFile(path, 'w') as z:
            z.writestr(f'{stem}/data.pkl', pickle.dumps(tree_object('numpy'), protocol=2))
            z.writestr(f'{stem}/version', b'3\n')
            z.writestr(f'{stem}/byteorder', b'little')


def run_meta(args):
    return subprocess.run([sys.executable, '-m', 'datadings_like.sets.ImageNet21k_create_meta',
                           *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize('fmt', ['torch-zip', 'torch-legacy', 'torch-tensors', 'handmade'])
def test_convert_semantic_tree(tmp_path, fmt):
    from datadings_like.sets.ImageNet21k_create_meta import convert_semantic_tree
    path = tmp_path / 'imagenet21k_miil_tree.pth'
    write_tree(path, fmt)
    meta = convert_semantic_tree(path)
    assert list(meta['class_description'].items()) == list(zip(TREE_WNIDS, TREE_WORDS))
    assert meta['class_tree_list'] == TREE_LISTS
    assert all(type(v) is int for t in meta['class_tree_list'] for v in t)
    assert set(meta) == {'class_description', 'class_tree_list'}


def test_create_meta(tmp_path):
    indir = tmp_path / 'in'
    indir.mkdir()
    write_tree(indir / 'imagenet21k_miil_tree.pth', 'handmade')
    make_archive(str(indir))
    # n00005787 is a class of the tree but not in the archive
    proc = run_meta(['-s', '-y', '-o', tmp_path / 'out', indir])
    assert proc.returncode == 1
    assert 'missing' in proc.stderr and 'n00005787' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'out' / 'ImageNet21k_synsets.tsv.xz').exists()
    # without the synset that is not in the archive
    other = tmp_path / 'in2'
    other.mkdir()
    shutil.copy(indir / ARCHIVE, other / ARCHIVE)
    torch_free_tree(other / 'imagenet21k_miil_tree.pth', TREE_WNIDS[:3])
    proc = run_meta(['-s', '-y', other])
    assert proc.returncode == 0, proc.stderr
    assert 'DIFFER' in proc.stderr  # a miniature tree
    import lzma
    text = lzma.decompress((other / 'ImageNet21k_synsets.tsv.xz').read_bytes()).decode()
    words, trees, counts = ImageNet21k.parse_synsets(text)
    assert counts == {'val': 50 + 12 + 50, 'train': 7 + 0 + 11}
    assert list(words) == TREE_WNIDS[:3]
    # an existing output is not replaced without -y
    proc = run_meta(['-s', other])
    assert proc.returncode == 1 and 'exists' in proc.stderr and 'Traceback' not in proc.stderr


def torch_free_tree(path, wnids):
    obj = tree_object('plain')
    keep = [TREE_WNIDS.index(w) for w in wnids]
    obj['class_description'] = OrderedDict((w, obj['class_description'][w]) for w in wnids)
    obj['class_tree_list'] = [TREE_LISTS[i] for i in keep]
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('tree/data.pkl', pickle.dumps(obj, protocol=2))


def test_create_meta_without_counts_needs_no_archive(tmp_path):
    write_tree(tmp_path / 'imagenet21k_miil_tree.pth', 'handmade')
    proc = run_meta(['-s', '-y', '--no-counts', tmp_path])
    assert proc.returncode == 0, proc.stderr
    import lzma
    text = lzma.decompress((tmp_path / 'ImageNet21k_synsets.tsv.xz').read_bytes()).decode()
    assert ImageNet21k.parse_synsets(text)[2] == ImageNet21k.NUM_SAMPLES


class _Evil:
    def __reduce__(self):
        return (os.system, (f'touch {self.target}',))


def test_tree_file_cannot_run_code(tmp_path):
    target = tmp_path / 'PWNED'
    evil = _Evil()
    evil.target = target
    obj = tree_object('plain')
    obj['class_list'] = evil
    with zipfile.ZipFile(tmp_path / 'imagenet21k_miil_tree.pth', 'w') as z:
        z.writestr('tree/data.pkl', pickle.dumps(obj, protocol=2))
    proc = run_meta(['-s', '-y', '--no-counts', tmp_path])
    assert proc.returncode == 1
    assert 'refusing to load' in proc.stderr and 'system' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not target.exists()
    # nor is a file that is no PyTorch file at all read as one
    (tmp_path / 'imagenet21k_miil_tree.pth').write_bytes(b'GARBAGE' * 10)
    proc = run_meta(['-s', '-y', '--no-counts', tmp_path])
    assert proc.returncode == 1 and 'imagenet21k_miil_tree.pth' in proc.stderr
    assert 'Traceback' not in proc.stderr
