"""
End-to-end tests of the ILSVRC2012 writer.

The tests build a miniature ImageNet with the layout of the real files:

- ``ILSVRC2012_img_train.tar``: a tar of per-synset tars ``nXXXXXXXX.tar``
  holding ``nXXXXXXXX_N.JPEG`` files; among them a CMYK JPEG, a PNG file
  named ``.JPEG`` and a greyscale JPEG, like the odd ones in the real set;
- ``ILSVRC2012_img_val.tar``: ``ILSVRC2012_val_000000NN.JPEG`` files;
- ``ILSVRC2012_devkit_t12.tar.gz``: ``ILSVRC2012_devkit_t12/data/meta.mat``
  (a ``synsets`` struct array with leaf classes and their parents, like the
  real one) and ``data/ILSVRC2012_validation_ground_truth.txt``.

The writer runs as a separate process with ``-s``: the MD5 hashes of the
miniature files cannot match the official ones.
"""
import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image
from PIL import JpegImagePlugin

from datadings_like.reader import MsgpackReader

scipy_io = pytest.importorskip('scipy.io')

# ILSVRC2012_ID -> (WNID, words), deliberately not in WNID order
CLASSES = {
    1: ('n02119789', 'kit fox, Vulpes macrotis'),
    2: ('n02100735', 'English setter'),
    3: ('n01440764', 'tench, Tinca tinca'),
    4: ('n04592741', 'wing'),
}
# labels are indices into the sorted WNIDs
SORTED = sorted(w for w, _ in CLASSES.values())
LABEL_OF_ID = {i: SORTED.index(w) for i, (w, _) in CLASSES.items()}
LABEL_OF_WNID = {w: SORTED.index(w) for w, _ in CLASSES.values()}
assert LABEL_OF_ID == {1: 2, 2: 1, 3: 0, 4: 3}

# train images: synset -> [(name, kind, width, height)], in tar order
TRAIN = {
    'n02119789': [('n02119789_1.JPEG', 'rgb', 64, 48),
                  ('n02119789_22.JPEG', 'cmyk', 40, 30)],
    'n01440764': [('n01440764_10026.JPEG', 'rgb', 800, 600),
                  ('n01440764_3.JPEG', 'png', 48, 40),
                  ('n01440764_7.JPEG', 'gray', 56, 42)],
    'n04592741': [('n04592741_5.JPEG', 'rgb', 120, 90)],
    'n02100735': [('n02100735_8.JPEG', 'rgb', 400, 300),
                  ('n02100735_9.JPEG', 'rgb', 300, 400)],
}
# val images in tar order: (number, ILSVRC2012_ID, width, height)
VAL = [(1, 3, 50, 40), (2, 1, 64, 64), (4, 4, 40, 50), (3, 2, 70, 30), (5, 3, 33, 44)]


def pixels(w, h, seed):
    """Smooth RGB content: JPEG keeps it close to the original."""
    y, x = np.mgrid[0:h, 0:w]
    r = 128 + 100 * np.sin(x / (7.0 + seed) + seed)
    g = 128 + 100 * np.cos(y / (9.0 + seed))
    b = 255 * (x + y) / (w + h)
    return np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)


def encode(kind, w, h, seed):
    """Returns (file data, expected RGB pixels)."""
    rgb = pixels(w, h, seed)
    im = Image.fromarray(rgb)
    out = io.BytesIO()
    if kind == 'rgb':
        im.save(out, 'JPEG', quality=92)
    elif kind == 'cmyk':
        im.convert('CMYK').save(out, 'JPEG', quality=95)
    elif kind == 'gray':
        im.convert('L').save(out, 'JPEG', quality=95)
    elif kind == 'png':
        im.save(out, 'PNG')
    data = out.getvalue()
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == {'rgb': 'RGB', 'cmyk': 'CMYK', 'gray': 'L', 'png': 'RGB'}[kind]
    if kind == 'png':
        assert decoded.format == 'PNG'
    return data, np.asarray(decoded.convert('RGB'))


def add_member(tar, name, data=None, **kwargs):
    info = tarfile.TarInfo(name)
    info.mtime = 1234567890
    for k, v in kwargs.items():
        setattr(info, k, v)
    if data is None and info.type == tarfile.REGTYPE:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    elif data is None:
        tar.addfile(info)
    else:
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))


def tar_bytes(members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in members:
            add_member(tar, name, data)
    return out.getvalue()


def make_meta_mat():
    """A ``synsets`` struct array like the real meta.mat: leaf classes
    (num_children 0) first, then ancestors with higher IDs."""
    fields = ['ILSVRC2012_ID', 'WNID', 'words', 'gloss', 'num_children',
              'children', 'wordnet_height', 'num_train_images']
    counts = {w: len(images) for w, images in TRAIN.items()}
    rows = [(i, w, words, f'gloss of {words}', 0, np.zeros((1, 0)), 0, counts[w])
            for i, (w, words) in CLASSES.items()]
    rows.append((5, 'n02118333', 'fox', 'alert carnivorous mammal', 1,
                 np.array([[1]]), 1, 0))
    rows.append((6, 'n00001740', 'entity', 'that which is perceived', 4,
                 np.array([[5, 2, 3, 4]]), 2, 0))
    arr = np.empty((len(rows), 1), dtype=[(f, 'O') for f in fields])
    for r, row in enumerate(rows):
        for f, v in zip(fields, row):
            if isinstance(v, int):
                v = np.array([[v]], dtype=np.uint16)
            elif isinstance(v, str):
                v = np.array([v])
            arr[r, 0][f] = v
    out = io.BytesIO()
    scipy_io.savemat(out, {'synsets': arr})
    return out.getvalue()


def make_imagenet(indir):
    """Write the three source files; returns the expected samples:
    {split: [(key, label, kind, source data, expected pixels), ...]}."""
    truth = {'train': [], 'val': []}
    outer = []
    seed = 0
    for wnid, images in TRAIN.items():
        inner = []
        for name, kind, w, h in images:
            seed += 1
            data, expected = encode(kind, w, h, seed)
            inner.append((name, data))
            truth['train'].append((name, LABEL_OF_WNID[wnid], kind, data, expected))
        outer.append((f'{wnid}.tar', tar_bytes(inner)))
    with open(os.path.join(indir, 'ILSVRC2012_img_train.tar'), 'wb') as f:
        f.write(tar_bytes(outer))

    val = []
    for number, ilsvrc_id, w, h in VAL:
        seed += 1
        name = f'ILSVRC2012_val_{number:08d}.JPEG'
        data, expected = encode('rgb', w, h, seed)
        val.append((name, data))
        truth['val'].append((name, LABEL_OF_ID[ilsvrc_id], 'rgb', data, expected))
    with open(os.path.join(indir, 'ILSVRC2012_img_val.tar'), 'wb') as f:
        f.write(tar_bytes(val))

    ground_truth = {number: ilsvrc_id for number, ilsvrc_id, _, _ in VAL}
    gt = ''.join(f'{ground_truth[n]}\n' for n in sorted(ground_truth)).encode()
    top = 'ILSVRC2012_devkit_t12'
    with tarfile.open(os.path.join(indir, 'ILSVRC2012_devkit_t12.tar.gz'), 'w:gz') as tar:
        add_member(tar, top)
        add_member(tar, f'{top}/COPYING', b'license\n')
        add_member(tar, f'{top}/readme.txt', b'ILSVRC2012 devkit\n')
        add_member(tar, f'{top}/data')
        add_member(tar, f'{top}/data/meta.mat', make_meta_mat())
        add_member(tar, f'{top}/data/ILSVRC2012_validation_ground_truth.txt', gt)
        add_member(tar, f'{top}/evaluation')
        add_member(tar, f'{top}/evaluation/demo_eval.m', b'% demo\n')
    return truth



def run(args, via_command=False):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'ILSVRC2012']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.ILSVRC2012_write']
    return subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)


def read_all(path):
    with MsgpackReader(path) as reader:
        return [reader.get(i) for i in range(len(reader))]


def decode_rgb_jpeg(data):
    im = Image.open(io.BytesIO(data))
    assert im.format == 'JPEG'
    assert im.mode == 'RGB'
    return im, np.asarray(im)


def mean_abs_diff(a, b):
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.fixture(scope='module')
def imagenet(tmp_path_factory):
    indir = tmp_path_factory.mktemp('imagenet')
    return indir, make_imagenet(str(indir))


def _via():
    return [pytest.param(False, id='module'),
            pytest.param(True, id='datadings-write')]


@pytest.mark.parametrize('via_command', _via())
def test_stream_order(imagenet, tmp_path, via_command):
    indir, truth = imagenet
    proc = run(['-s', '-y', '-t', '2', '-o', str(tmp_path), str(indir)], via_command)
    assert proc.returncode == 0, proc.stderr.decode()
    # the miniature devkit has other classes than the real one
    assert 'differ' in proc.stderr.decode()
    for split in ('val', 'train'):
        samples = read_all(tmp_path / f'{split}.msgpack')
        assert [s['key'] for s in samples] == [t[0] for t in truth[split]]
        for sample, (key, label, kind, source, expected) in zip(samples, truth[split]):
            assert set(sample) == {'key', 'image', 'label'}
            assert sample['label'] == label, key
            im, got = decode_rgb_jpeg(sample['image'])
            if kind == 'rgb':
                # RGB JPEGs are stored byte for byte
                assert sample['image'] == source, key
            else:
                # CMYK, PNG and grey images become RGB JPEGs
                assert sample['image'] != source
                assert got.shape == expected.shape, key
                assert mean_abs_diff(got, expected) < 2.5, key
                # converted with full chroma resolution
                assert JpegImagePlugin.get_sampling(im) == 0, key
    assert sorted(os.listdir(tmp_path)) == sorted(
        f'{split}.msgpack{suffix}' for split in ('train', 'val')
        for suffix in ('', '.filter', '.key_hashes', '.keys', '.md5', '.offsets'))


def test_compress_and_shuffle(imagenet, tmp_path):
    indir, truth = imagenet
    proc = run(['-s', '-y', '-t', '2', '--shuffle', 'yes', '--compress', '90',
                '--subsampling', '420', '-o', str(tmp_path), str(indir)])
    assert proc.returncode == 0, proc.stderr.decode()
    for split in ('val', 'train'):
        samples = read_all(tmp_path / f'{split}.msgpack')
        expected = {t[0]: t for t in truth[split]}
        assert sorted(s['key'] for s in samples) == sorted(expected)
        for sample in samples:
            key, label, kind, source, pixels_ = expected[sample['key']]
            assert sample['label'] == label
            im, got = decode_rgb_jpeg(sample['image'])
            h, w = pixels_.shape[:2]
            if w * h > 1.5 * 500 * 375:
                # big images are downscaled to a longer side of 500
                assert im.size == (500, 375), key
                small = np.asarray(Image.fromarray(pixels_).resize((500, 375), Image.LANCZOS))
                assert mean_abs_diff(got, small) < 4, key
                assert JpegImagePlugin.get_sampling(im) == 2, key  # 4:2:0
            elif w * h > 0.5 * 500 * 375:
                # medium images are re-encoded with the given quality
                assert sample['image'] != source
                assert im.size == (w, h)
                assert mean_abs_diff(got, pixels_) < 4, key
                assert JpegImagePlugin.get_sampling(im) == 2, key
            elif kind == 'rgb':
                # small RGB JPEGs are kept as they are
                assert sample['image'] == source, key
            else:
                assert im.size == (w, h)
                assert mean_abs_diff(got, pixels_) < 3, key
                assert JpegImagePlugin.get_sampling(im) == 0, key
    # the temporary stream-order files are gone
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]


def test_member_names_are_not_paths(tmp_path):
    """Names in the tars become keys, never paths; odd members are skipped."""
    indir = tmp_path / 'in'
    indir.mkdir()
    make_imagenet(str(indir))
    # replace the val tar: a member with "../" in its name, a symlink and
    # a directory, besides a normal image
    data, _ = encode('rgb', 32, 32, 1)
    with tarfile.open(indir / 'ILSVRC2012_img_val.tar', 'w') as tar:
        add_member(tar, 'val')
        add_member(tar, '../../ILSVRC2012_val_00000002.JPEG', data)
        add_member(tar, 'link.JPEG', type=tarfile.SYMTYPE, linkname='/etc/passwd')
        add_member(tar, '/tmp/ILSVRC2012_val_00000003.JPEG', data)
    out = tmp_path / 'out'
    before = set(os.listdir(tmp_path))
    proc = run(['-s', '-y', '-o', str(out), str(indir)])
    assert proc.returncode == 0, proc.stderr.decode()
    samples = read_all(out / 'val.msgpack')
    assert [s['key'] for s in samples] == ['ILSVRC2012_val_00000002.JPEG',
                                          'ILSVRC2012_val_00000003.JPEG']
    assert [s['label'] for s in samples] == [LABEL_OF_ID[1], LABEL_OF_ID[2]]
    assert all(s['image'] == data for s in samples)
    assert set(os.listdir(tmp_path)) == before | {'out'}
    assert not os.path.exists('/tmp/ILSVRC2012_val_00000003.JPEG') or \
        open('/tmp/ILSVRC2012_val_00000003.JPEG', 'rb').read() != data


def test_registration_needed(tmp_path):
    proc = run(['-y', str(tmp_path)])
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert 'Traceback' not in err, err
    for name in ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar',
                 'ILSVRC2012_devkit_t12.tar.gz'):
        assert name in err
    assert 'registration' in err
    assert 'image-net.org' in err
    assert os.listdir(tmp_path) == []


def test_unknown_synset_in_train_tar(tmp_path):
    make_imagenet(str(tmp_path))
    data, _ = encode('rgb', 16, 16, 1)
    with open(tmp_path / 'ILSVRC2012_img_train.tar', 'wb') as f:
        f.write(tar_bytes([('n09999999.tar', tar_bytes([('n09999999_1.JPEG', data)]))]))
    proc = run(['-s', '-y', str(tmp_path)])
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert 'Traceback' not in err, err
    assert 'n09999999.tar' in err
    # val was written before, train was not
    assert (tmp_path / 'val.msgpack').exists()
    assert not (tmp_path / 'train.msgpack').exists()


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for word in ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar',
                 'ILSVRC2012_devkit_t12.tar.gz', 'egistration', 'image-net.org',
                 '"key"', '"image"', '"label"', '--compress', '--subsampling',
                 '--threads', '--shuffle', '--skip-verification'):
        assert word in text, word


@pytest.mark.parametrize('mode', ['RGBA', 'P', 'PA', 'LA', 'L', '1', 'I;16', 'CMYK'])
@pytest.mark.parametrize('quality', [None, 80])
def test_prepare_image_modes(mode, quality):
    """Whatever the image, the result decodes as an RGB JPEG of the same size."""
    from datadings_like.sets.ILSVRC2012_write import prepare_image
    rgb = Image.fromarray(pixels(40, 30, 3))
    if mode == 'I;16':
        im = Image.fromarray((np.asarray(rgb.convert('L')).astype(np.uint16) * 257))
        assert im.mode.startswith('I;16')
    elif mode == 'PA':
        im = rgb.convert('P').convert('PA')
    else:
        im = rgb.convert(mode)
    out = io.BytesIO()
    im.save(out, 'TIFF' if mode in ('CMYK', 'PA') else 'PNG')
    data = prepare_image(out.getvalue(), quality)
    result, got = decode_rgb_jpeg(data)
    assert result.size == (40, 30)
    if mode in ('RGBA', 'L', 'LA', 'I;16'):
        # same pixels as a plain conversion (opaque alpha, 16 -> 8 bit)
        expected = np.asarray(rgb.convert('L').convert('RGB') if mode in ('L', 'LA', 'I;16')
                              else rgb)
        assert mean_abs_diff(got, expected) < 3


@pytest.mark.parametrize('size', [(16, 16), (1000, 800)])
def test_prepare_image_transparent_on_white(size):
    from datadings_like.sets.ILSVRC2012_write import prepare_image
    im = Image.new('RGBA', size, (0, 0, 0, 0))
    out = io.BytesIO()
    im.save(out, 'PNG')
    result, got = decode_rgb_jpeg(prepare_image(out.getvalue(), 85))
    assert got.min() > 245
    assert max(result.size) == min(max(size), 500)


def test_shipped_synsets():
    from datadings_like.sets import ILSVRC2012
    assert len(ILSVRC2012.SYNSET_LIST) == 1000
    assert list(ILSVRC2012.SYNSET_LIST) == sorted(ILSVRC2012.SYNSET_LIST)
    assert ILSVRC2012.SYNSETS['n01440764'] == 0
    assert ILSVRC2012.CLASSES[0].startswith('tench')
    assert ILSVRC2012.SYNSET_WORDS['n02119789'].startswith('kit fox')
    assert len(ILSVRC2012.CLASSES) == 1000


def test_val_split_alone_needs_no_train_tar(imagenet, tmp_path):
    import shutil
    indir, truth = imagenet
    only_val = tmp_path / 'in'
    only_val.mkdir()
    for name in ('ILSVRC2012_img_val.tar', 'ILSVRC2012_devkit_t12.tar.gz'):
        shutil.copy(os.path.join(str(indir), name), only_val / name)
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '--splits', 'val', '-o', str(out), str(only_val)])
    assert proc.returncode == 0, proc.stderr.decode()
    assert [s['key'] for s in read_all(out / 'val.msgpack')] == [t[0] for t in truth['val']]
    assert not (out / 'train.msgpack').exists()
    # without --splits the missing train tar is a user error that says where to get it
    proc = run(['-s', '-y', '-o', str(out), str(only_val)])
    assert proc.returncode == 1
    stderr = proc.stderr.decode()
    assert 'ILSVRC2012_img_train.tar' in stderr and 'Traceback' not in stderr


def test_quiet_and_seed(imagenet, tmp_path):
    indir, truth = imagenet
    data = {}
    for name, seed in (('a', '9'), ('b', '9'), ('c', '10')):
        out = tmp_path / name
        proc = run(['-s', '-y', '-q', '--shuffle', 'yes', '--seed', seed, '--splits', 'train',
                    '-o', str(out), str(indir)])
        assert proc.returncode == 0, proc.stderr.decode()
        # -q: no progress bars; only the warning about the miniature devkit
        lines = proc.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and 'differ' in lines[0], lines
        data[name] = (out / 'train.msgpack').read_bytes()
    assert data['a'] == data['b']
    keys = {name: [s['key'] for s in read_all(tmp_path / name / 'train.msgpack')]
            for name in data}
    expected = [t[0] for t in truth['train']]
    assert sorted(keys['a']) == sorted(expected)
    assert keys['a'] != keys['c']  # another seed, another order
    help_text = run(['-h']).stdout.decode()
    assert '--seed' in help_text and '--quiet' in help_text
