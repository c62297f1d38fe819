"""The folder writer, end to end through python -m datadings_like.sets.folder_write,
on tiny images made here."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets.folder import load_classes
from datadings_like.sets.folder_write import assign_split
from datadings_like.sets.folder_write import parse_split


def run(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, '-m', 'datadings_like.sets.folder_write', *map(str, argv)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def ok(*argv, **kwargs):
    result = run(*argv, **kwargs)
    assert result.returncode == 0, result.stderr
    return result


def pixels(seed, shape=(6, 9, 3)):
    """Distinct, smooth pixels (JPEG-friendly) for each seed."""
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    return np.dstack([(x * 9 + seed * 37) % 256, (y * 11 + seed * 53) % 256,
                      np.full_like(x, (seed * 71) % 256)]).astype(np.uint8)


def save(path, array, fmt='PNG'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, fmt)


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def read(path):
    return {s['key']: s for s in MsgpackReader(path)}


@pytest.fixture
def tree(tmp_path):
    """bird/cat/dog tree of PNGs (and one JPEG); returns root and {key: (label name, pixels)}."""
    root = tmp_path / 'tree'
    made = {}
    n = 0
    for name, files in (('dog', ['d1.png', 'sub/d2.png', 'd10.png']),
                        ('cat', ['c1.png', 'c2.png']),
                        ('bird', ['b1.png'])):
        for f in files:
            n += 1
            array = pixels(n)
            save(root / name / f, array)
            made[f'{name}/{f}'] = (name, array)
    save(root / 'loose.png', pixels(99))  # not in a class directory
    save(root / 'cat' / '.hidden.png', pixels(98))
    (root / 'cat' / 'notes.txt').write_text('not an image')
    (root / 'dog' / 'broken.png').write_bytes(b'\x89PNG broken')
    return root, made


def test_tree(tree, tmp_path):
    root, made = tree
    out = tmp_path / 'out'
    result = ok(root, '-o', out, '--shuffle', 'no')
    assert 'loose.png' not in result.stderr and '1 images directly' in result.stderr
    assert 'broken.png' in result.stderr  # skipped with a warning
    classes = load_classes(out)
    assert classes == ['bird', 'cat', 'dog']
    samples = list(MsgpackReader(out / 'train.msgpack'))
    assert [s['key'] for s in samples] == [
        'bird/b1.png', 'cat/c1.png', 'cat/c2.png', 'dog/d1.png', 'dog/d10.png', 'dog/sub/d2.png']
    for s in samples:
        name, array = made[s['key']]
        assert set(s) == {'key', 'image', 'label'}
        assert classes[s['label']] == name
        assert np.array_equal(decode(s['image']), array)
        assert s['image'] == (root / s['key']).read_bytes()  # stored byte for byte


def test_tree_default_outdir_and_overwrite(tree):
    root, made = tree
    ok(root, '--seed', '1', '-q')
    assert set(read(root / 'train.msgpack')) == set(made)
    again = run(root, '--seed', '1', '-q')
    assert again.returncode == 1 and 'exists' in again.stderr
    ok(root, '--seed', '1', '-q', '-y')


def test_shuffle_with_seed(tree, tmp_path):
    root, made = tree
    orders = []
    for name, seed in (('a', 5), ('b', 5), ('c', 6)):
        ok(root, '-o', tmp_path / name, '--seed', seed, '-q', '-t', '2')
        orders.append([s['key'] for s in MsgpackReader(tmp_path / name / 'train.msgpack')])
    assert orders[0] == orders[1] and sorted(orders[0]) == sorted(made)
    assert orders[0] != orders[2]


def test_split_by_key_hash(tree, tmp_path):
    root, made = tree
    out = tmp_path / 'out'
    ok(root, '-o', out, '--split', 'train=0.5,val=0.5', '-q')
    bounds = parse_split('train=0.5,val=0.5')
    found = {}
    for split in ('train', 'val'):
        for key in read(out / f'{split}.msgpack'):
            found[key] = split
    assert found == {key: assign_split(key, bounds) for key in made}
    assert set(found.values()) == {'train', 'val'}
    # a new image does not move the others
    save(root / 'cat' / 'c3.png', pixels(50))
    ok(root, '-o', out, '--split', 'train=0.5,val=0.5', '-q', '-y')
    for split in ('train', 'val'):
        for key in read(out / f'{split}.msgpack'):
            assert found.get(key, split) == split


def test_parse_split():
    assert [n for n, _ in parse_split('train=0.9,val=0.1')] == ['train', 'val']
    assert parse_split('val') == [('val', 2.0)]
    for bad in ('train=0.5', 'a=0.5,a=0.5', '../x=1', 'a=x', '', 'a=0,b=1'):
        with pytest.raises(ValueError):
            parse_split(bad)
    result = run('.', '--split', 'train=0.7,val=0.7')
    assert result.returncode == 2 and 'add up' in result.stderr


def test_im2rec_list_multilabel_and_root(tmp_path):
    images = tmp_path / 'images'
    made = {}
    for i in range(4):
        made[f'x/{i}.png'] = pixels(i)
        save(images / 'x' / f'{i}.png', pixels(i))
    lst = tmp_path / 'lists' / 'train.lst'
    lst.parent.mkdir()
    lst.write_text(
        '0\t3.000000\t1.5\tx/0.png\n'
        '1\t464.000000\t2\tx/1.png\n'
        '\n'
        '2\t7\t0\tx/2.png\n'
        '3\t1\t1\tx/3.png\n'
    )
    out = tmp_path / 'out'
    ok(lst, '--root', images, '-o', out, '--shuffle', 'no', '-q')
    samples = list(MsgpackReader(out / 'train.msgpack'))
    assert [s['key'] for s in samples] == ['x/0.png', 'x/1.png', 'x/2.png', 'x/3.png']
    assert [s['label'] for s in samples] == [[3, 1.5], [464, 2], [7, 0], [1, 1]]
    assert type(samples[1]['label'][0]) is int
    for s in samples:
        assert np.array_equal(decode(s['image']), made[s['key']])
    assert not (out / 'classes.txt').exists()  # numeric labels: no class names


def test_list_files_are_splits(tmp_path):
    for i in range(4):
        save(tmp_path / f'{i}.png', pixels(i))
    (tmp_path / 'train.lst').write_text('0\t0\t0.png\n1\t1\t1.png\n2\t1\t2.png\n')
    (tmp_path / 'val.lst').write_text('0\t0\t3.png\n')
    ok(tmp_path / 'train.lst', tmp_path / 'val.lst', '-q', '--shuffle', 'no')
    assert {k: s['label'] for k, s in read(tmp_path / 'train.msgpack').items()} == \
        {'0.png': 0, '1.png': 1, '2.png': 1}
    assert list(read(tmp_path / 'val.msgpack')) == ['3.png']


def test_csv_with_class_names(tmp_path):
    for i in range(3):
        save(tmp_path / 'img' / f'{i}.jpg', pixels(i, (16, 16, 3)), 'JPEG')
    csv = tmp_path / 'labels.csv'
    csv.write_text('path,label\nimg/0.jpg,zebra\nimg/1.jpg,ant\n"img/2.jpg",zebra\n')
    out = tmp_path / 'out'
    ok(csv, '-o', out, '--shuffle', 'no', '-q')
    assert load_classes(out) == ['ant', 'zebra']
    samples = read(out / 'labels.msgpack')
    assert {k: s['label'] for k, s in samples.items()} == \
        {'img/0.jpg': 1, 'img/1.jpg': 0, 'img/2.jpg': 1}
    assert samples['img/1.jpg']['image'] == (tmp_path / 'img' / '1.jpg').read_bytes()
    # pinned classes keep labels; unknown names are an error
    (tmp_path / 'pinned.txt').write_text('zebra\nant\nbee\n')
    ok(csv, '-o', tmp_path / 'out2', '--classes', tmp_path / 'pinned.txt', '-q')
    assert {k: s['label'] for k, s in read(tmp_path / 'out2' / 'labels.msgpack').items()} == \
        {'img/0.jpg': 0, 'img/1.jpg': 1, 'img/2.jpg': 0}
    (tmp_path / 'short.txt').write_text('ant\n')
    result = run(csv, '-o', tmp_path / 'out3', '--classes', tmp_path / 'short.txt')
    assert result.returncode == 1 and 'zebra' in result.stderr


def test_make_list_round_trip(tree, tmp_path):
    root, made = tree
    lists = tmp_path / 'lists'
    result = ok(root, '-o', lists, '--split', 'train=0.6,test=0.4', '--make-list')
    assert sorted(os.listdir(lists)) == ['classes.txt', 'test.lst', 'train.lst']
    assert 'convert with' in result.stderr
    lines = (lists / 'train.lst').read_text().splitlines()
    assert all(len(line.split('\t')) == 3 for line in lines)
    assert not any(lists.glob('*.msgpack'))
    # converting the lists gives what converting the tree gives
    direct = tmp_path / 'direct'
    ok(root, '-o', direct, '--split', 'train=0.6,test=0.4', '-q')
    via = tmp_path / 'via'
    ok(lists / 'train.lst', lists / 'test.lst', '--root', root, '-o', via, '-q')
    for split in ('train', 'test'):
        a = read(direct / f'{split}.msgpack')
        b = read(via / f'{split}.msgpack')
        assert {k: (s['label'], s['image']) for k, s in a.items()} == \
            {k: (s['label'], s['image']) for k, s in b.items()}


def test_resize_and_compress(tmp_path):
    root = tmp_path / 'tree'
    save(root / 'a' / 'wide.png', pixels(1, (40, 80, 3)))
    save(root / 'b' / 'tall.jpg', pixels(2, (60, 30, 3)), 'JPEG')
    out = tmp_path / 'out'
    ok(root, '-o', out, '--resize', '20', '-q')
    samples = read(out / 'train.msgpack')
    assert decode(samples['a/wide.png']['image']).shape == (20, 40, 3)
    assert samples['a/wide.png']['image'][:4] == b'\x89PNG'
    assert decode(samples['b/tall.jpg']['image']).shape == (40, 20, 3)
    out2 = tmp_path / 'out2'
    ok(root, '-o', out2, '--compress', '90', '--subsampling', '444', '-q')
    samples = read(out2 / 'train.msgpack')
    wide = samples['a/wide.png']['image']
    assert Image.open(io.BytesIO(wide)).format == 'JPEG'
    assert np.abs(decode(wide).astype(int) - pixels(1, (40, 80, 3))).mean() < 4


@pytest.mark.parametrize('content, message', [
    ('0\t1\tmissing.png\n', 'not found'),
    ('0\t1 x.png\n', ':1: expected index'),
    ('0\t1\tx.png\n1\t2\tx.png\n', 'listed twice'),
])
def test_list_errors(tmp_path, content, message):
    save(tmp_path / 'x.png', pixels(0))
    (tmp_path / 'bad.lst').write_text(content)
    result = run(tmp_path / 'bad.lst')
    assert result.returncode == 1
    assert message in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'bad.msgpack').exists()


def test_empty_and_missing_inputs(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 1 and 'no class directories' in result.stderr
    (tmp_path / 'cls').mkdir()
    result = run(tmp_path)
    assert result.returncode == 1 and 'no images' in result.stderr
    result = run(tmp_path / 'nothing.lst')
    assert result.returncode == 1 and 'nothing.lst' in result.stderr


def test_help():
    result = run('-h')
    assert result.returncode == 0
    for text in ('{LABEL}', 'index<TAB>label', 'path,label', '--split', '--make-list',
                 '--resize', '--compress', '--subsampling', '--root', '"label"', 'classes.txt'):
        assert text in result.stdout


# ---------------------------------------------------------- QA regressions

def _outputs(directory):
    return sorted(p.name for p in directory.iterdir()
                  if p.name.endswith(('.msgpack', '.txt', '.lst', '.tmp')) or '.msgpack.' in p.name
                  or p.name.startswith('.'))


@pytest.mark.parametrize('name', ['some.jpg', 'train.msgpack', 'labels.csv', 'nul.lst'])
def test_binary_file_is_not_a_list_file(tmp_path, name):
    path = tmp_path / name
    if name == 'train.msgpack':
        from datadings_like.writer import FileWriter
        with FileWriter(path, disable=True) as writer:
            writer.write({'key': 'a', 'image': b'\xff\xd8\xff', 'label': 1})
    elif name == 'nul.lst':
        path.write_bytes(b'0\t1\tx.png\x00\n')
    else:
        save(path, pixels(1), 'JPEG')
    result = run(path, '-o', tmp_path / 'out')
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f'{name}: not a list file (not UTF-8 text)' in lines[0], lines
    assert not (tmp_path / 'out').exists()


def test_resize_is_bounded(tmp_path):
    save(tmp_path / 'photos' / 'a' / '1.png', pixels(1))
    result = run(tmp_path / 'photos', '--resize', '100000')
    assert result.returncode == 2
    assert 'at most 16384' in result.stderr and 'Traceback' not in result.stderr
    assert _outputs(tmp_path / 'photos') == []
    assert '16384' in run('-h').stdout


def test_resize_of_a_very_long_image_is_skipped(tmp_path):
    # resizing by the shorter side would make it 64 x 6400000 pixels
    save(tmp_path / 'photos' / 'a' / 'long.png', np.zeros((1, 100000, 3), np.uint8))
    save(tmp_path / 'photos' / 'a' / 'ok.png', pixels(1))
    result = ok(tmp_path / 'photos', '--resize', '64', '-q')
    assert 'long.png' in result.stderr and 'pixels' in result.stderr
    samples = read(tmp_path / 'photos' / 'train.msgpack')
    assert list(samples) == ['a/ok.png']
    assert decode(samples['a/ok.png']['image']).shape[:2] == (64, 96)


@pytest.mark.parametrize('split', [None, 'train=0.5,val=0.5'])
def test_no_readable_image_is_an_error(tmp_path, split):
    root = tmp_path / 'bad'
    for i in range(4):
        (root / ('a', 'b')[i % 2]).mkdir(parents=True, exist_ok=True)
        (root / ('a', 'b')[i % 2] / f'{i}.jpg').write_bytes(b'not an image %d' % i)
    args = [root, '-y'] + (['--split', split] if split else [])
    result = run(*args)
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'none of the 4 images could be converted' in lines[0], lines
    # nothing written: no datasets, no classes.txt, no temp files
    assert _outputs(root) == []


def test_split_without_readable_images_is_skipped(tmp_path):
    root = tmp_path / 'photos'
    save(root / 'a' / 'good.png', pixels(1))
    (root / 'b').mkdir()
    (root / 'b' / 'bad.png').write_bytes(b'broken')
    (tmp_path / 'good.lst').write_text('0\ta\tphotos/a/good.png\n')
    (tmp_path / 'bad.lst').write_text('0\tb\tphotos/b/bad.png\n')
    result = ok(tmp_path / 'good.lst', tmp_path / 'bad.lst', '-o', tmp_path / 'out')
    assert 'bad: none of its 1 images could be converted' in result.stderr
    assert 'bad.png' in result.stderr  # listed with the skipped images
    assert sorted(p.name for p in (tmp_path / 'out').glob('*.msgpack')) == ['good.msgpack']
    assert load_classes(tmp_path / 'out') == ['a', 'b']


INTERRUPT = '''
import os, signal, sys
import datadings_like.sets.folder_write as fw
_convert = fw.convert_image
_count = [0]
def convert_image(*args, **kwargs):
    _count[0] += 1
    if _count[0] == {n}:
        os.kill(os.getpid(), signal.SIGINT)
    return _convert(*args, **kwargs)
fw.convert_image = convert_image
from datadings_like.tools.cli import run_main
run_main(fw.main, {argv!r}, prog='datadings-write folder')
'''


@pytest.mark.parametrize('n', [3, 12])  # in the first split, in the second
def test_interrupted_run_leaves_no_classes_file(tmp_path, n):
    root = tmp_path / 'many'
    for i in range(16):
        save(root / f'c{i % 3}' / f'{i}.png', pixels(i))
    out = tmp_path / 'mo'
    argv = [str(root), '-o', str(out), '--split', 'train=0.5,val=0.5', '-q']
    result = subprocess.run([sys.executable, '-c', INTERRUPT.format(n=n, argv=argv)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 130, result.stderr
    assert 'Traceback' not in result.stderr
    assert not (out / 'classes.txt').exists()
    # interrupted in the first split: nothing; in the second: train is complete
    assert (out / 'train.msgpack').exists() == (n == 12)
    assert not (out / 'val.msgpack').exists()
    assert not out.exists() or not [p for p in out.iterdir() if p.name.startswith('.')]
    # without the interruption it is written, after the datasets
    ok(*argv, '-y')
    assert load_classes(out) == ['c0', 'c1', 'c2']


def test_classes_file_is_checked_before_writing(tmp_path):
    root = tmp_path / 'photos'
    save(root / 'a' / '1.png', pixels(1))
    (root / 'classes.txt').write_text('other\n')
    result = run(root)
    assert result.returncode == 1 and 'other class names' in result.stderr
    assert _outputs(root) == ['classes.txt']
    assert (root / 'classes.txt').read_text() == 'other\n'


# ------------------------------------------- issue 9, item 10: robustness

def _bytes_path(*parts):
    return os.path.join(*(os.fsencode(p) for p in parts))


def test_names_not_utf8_are_skipped(tmp_path):
    root = tmp_path / 'photos'
    save(root / 'a' / 'ok.png', pixels(1))
    save(root / 'b' / 'fine.png', pixels(2))
    try:
        for where in (('a', b'bad\xff.png'), (b'class\xfe', 'x.png'), ('a', b'sub\xfd', 'y.png')):
            path = _bytes_path(root, *where)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write((root / 'a' / 'ok.png').read_bytes())
    except OSError:  # pragma: no cover - a file system that only takes UTF-8 names
        pytest.skip('this file system refuses names that are not UTF-8')
    out = tmp_path / 'out'
    result = ok(root, '-o', out, '--shuffle', 'no')
    assert 'Traceback' not in result.stderr
    for shown in (r'a/bad\xff.png', r'class\xfe', r'a/sub\xfd'):
        assert shown in result.stderr and 'not valid UTF-8' in result.stderr, result.stderr
    assert list(read(out / 'train.msgpack')) == ['a/ok.png', 'b/fine.png']
    assert load_classes(out) == ['a', 'b']
    # --make-list too
    lists = tmp_path / 'lists'
    result = ok(root, '-o', lists, '--make-list')
    assert r'a/bad\xff.png' in result.stderr and 'Traceback' not in result.stderr
    assert [line.split('\t')[-1] for line in (lists / 'train.lst').read_text().splitlines()] \
        == ['a/ok.png', 'b/fine.png']


def _png_rgb16(path, array):
    """A 16-bit RGB PNG (Pillow cannot write one)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + \
            struct.pack('>I', zlib.crc32(kind + data))
    h, w, _ = array.shape
    rows = b''.join(b'\0' + array[y].astype('>u2').tobytes() for y in range(h))
    data = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


GREY16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000 + 7)


@pytest.fixture
def deep_tree(tmp_path):
    tifffile = pytest.importorskip('tifffile')
    root = tmp_path / 'deep'
    (root / 'a').mkdir(parents=True)
    Image.fromarray(GREY16).save(root / 'a' / 'p16.png')
    tifffile.imwrite(root / 'a' / 'be16.tif', GREY16.astype('>u2'), byteorder='>')
    Image.fromarray(GREY16.astype(np.int32)).save(root / 'a' / 'i32.tif')
    Image.fromarray(GREY16.astype(np.float32)).save(root / 'a' / 'f32.tif')
    Image.fromarray(GREY16.astype(np.int32) * 100).save(root / 'a' / 'i32big.tif')
    Image.fromarray(GREY16.astype(np.float32) / 65535).save(root / 'a' / 'f32unit.tif')
    rgb16 = np.dstack([GREY16, GREY16[::-1], GREY16.T])
    tifffile.imwrite(root / 'a' / 'rgb16.tif', rgb16)
    _png_rgb16(root / 'a' / 'rgb16.png', rgb16)
    assert Image.open(root / 'a' / 'be16.tif').mode == 'I;16B'
    return root


def _image(sample):
    image = Image.open(io.BytesIO(sample['image']))
    return image.format, np.asarray(image)


def test_16_and_32_bit_images_are_kept_losslessly(deep_tree, tmp_path):
    result = ok(deep_tree, '-o', tmp_path / 'out', '-q')
    samples = read(tmp_path / 'out' / 'train.msgpack')
    # 16-bit PNGs byte for byte, 16-bit and 32-bit grey TIFFs whose values
    # fit: 16-bit PNGs with the same values
    assert samples['a/p16.png']['image'] == (deep_tree / 'a' / 'p16.png').read_bytes()
    assert samples['a/rgb16.png']['image'] == (deep_tree / 'a' / 'rgb16.png').read_bytes()
    for name in ('be16.tif', 'i32.tif', 'f32.tif'):
        fmt, array = _image(samples['a/' + name])
        assert fmt == 'PNG' and array.astype(np.int64).tolist() == GREY16.tolist(), name
        assert Image.open(io.BytesIO(samples['a/' + name]['image'])).mode in ('I;16', 'I')
    # the others are skipped, saying why (never scaled to 8 bits)
    assert set(samples) == {'a/p16.png', 'a/rgb16.png', 'a/be16.tif', 'a/i32.tif', 'a/f32.tif'}
    err = result.stderr
    assert 'skipped 3 images' in err and 'unreadable' not in err
    assert 'i32big.tif: 32-bit integer pixels from 700 to 6300700 do not fit into 16 bits' in err
    assert 'f32unit.tif: 32-bit floating point pixels' in err and 'not all whole numbers' in err
    assert 'rgb16.tif: 16-bit colour TIFF' in err


def test_16_bit_images_stay_16_bit_when_resized(deep_tree, tmp_path):
    result = ok(deep_tree, '-o', tmp_path / 'out', '-q', '--resize', '4')
    samples = read(tmp_path / 'out' / 'train.msgpack')
    expected = np.asarray(Image.fromarray(GREY16.astype(np.int32)).resize((4, 4), Image.LANCZOS))
    for name in ('p16.png', 'be16.tif', 'i32.tif', 'f32.tif'):
        fmt, array = _image(samples['a/' + name])
        assert fmt == 'PNG' and array.shape == (4, 4) and array.max() > 255, name
        assert np.abs(array.astype(np.int64) - expected).max() <= 1, name
    assert set(samples) == {'a/p16.png', 'a/be16.tif', 'a/i32.tif', 'a/f32.tif'}
    assert 'rgb16.png: 16-bit colour PNG' in result.stderr and '--resize' in result.stderr


def test_16_bit_images_become_8_bit_jpeg_with_compress(deep_tree, tmp_path):
    result = ok(deep_tree, '-o', tmp_path / 'out', '-q', '--compress', '95')
    samples = read(tmp_path / 'out' / 'train.msgpack')
    for name in ('p16.png', 'be16.tif', 'i32.tif', 'f32.tif'):
        fmt, array = _image(samples['a/' + name])
        assert fmt == 'JPEG' and array.dtype == np.uint8, name
        assert np.abs(array.astype(int) - (GREY16 >> 8)).mean() < 2, name
    for name in ('rgb16.png', 'rgb16.tif'):  # asked for: 8-bit colour JPEG
        fmt, array = _image(samples['a/' + name])
        assert fmt == 'JPEG' and array.shape == (8, 8, 3)
        assert np.abs(array[..., 0].astype(int) - (GREY16 >> 8)).mean() < 3, name
    # values that have no 8-bit meaning are still refused
    assert 'a/i32big.tif' not in samples and 'a/f32unit.tif' not in samples
    assert 'not all whole numbers' in result.stderr and 'do not fit into 16 bits' in result.stderr


def test_to_uint16():
    from datadings_like.sets.tools import ImageError
    from datadings_like.sets.tools import encode_png
    from datadings_like.sets.tools import to_uint16
    from datadings_like.sets.tools import resize_shorter_side
    whole = Image.fromarray(np.array([[0, 65535]], np.float32))
    assert to_uint16(whole).mode == 'I;16'
    assert np.asarray(to_uint16(whole)).tolist() == [[0, 65535]]
    for array, message in ((np.array([[0.5]], np.float32), 'whole numbers'),
                           (np.array([[np.nan]], np.float32), 'NaN'),
                           (np.array([[-1]], np.int32), 'do not fit'),
                           (np.array([[65536]], np.int32), 'do not fit')):
        with pytest.raises(ImageError, match=message):
            to_uint16(Image.fromarray(array))
        with pytest.raises(ImageError, match=message):
            encode_png(Image.fromarray(array))
    with pytest.raises(ValueError):
        to_uint16(Image.new('RGB', (1, 1)))
    png = encode_png(Image.fromarray(np.array([[1, 60000]], np.int32)))
    assert np.asarray(Image.open(io.BytesIO(png))).tolist() == [[1, 60000]]
    assert resize_shorter_side(Image.fromarray(GREY16), 4).mode == 'I;16'


class _Counter:
    """Stands in for the writer's progress bar: counts what it is told."""
    made = []

    def __init__(self, total=None, **kwargs):
        self.total, self.n = total, 0
        self.made.append(self)

    def update(self, n=1):
        self.n += n

    def __getattr__(self, name):  # close(), refresh(), ...
        return lambda *args, **kwargs: None


@pytest.mark.parametrize('threads', ['1', '2'])
def test_progress_bar_reaches_total_when_images_are_skipped(tmp_path, monkeypatch, threads):
    import datadings_like.writer
    from datadings_like.sets import folder_write
    root = tmp_path / 'photos'
    for i in range(6):
        save(root / 'a' / f'{i}.png', pixels(i))
    for i in range(3):
        (root / 'a' / f'broken{i}.png').write_bytes(b'not an image')
    monkeypatch.setattr(_Counter, 'made', [])
    monkeypatch.setattr(datadings_like.writer, 'make_printer', _Counter)
    folder_write.main([str(root), '-o', str(tmp_path / 'out'), '-t', threads, '-y'])
    assert len(read(tmp_path / 'out' / 'train.msgpack')) == 6
    bar, = _Counter.made
    assert bar.total == 9 and bar.n == 9


def test_symlinked_sub_directories_are_followed(tmp_path):
    root = tmp_path / 'photos'
    elsewhere = tmp_path / 'elsewhere'
    save(root / 'a' / 'x.png', pixels(1))
    save(root / 'b' / 'b.png', pixels(2))
    save(elsewhere / 'y.png', pixels(3))
    save(elsewhere / 'sub' / 'z.png', pixels(4))
    try:
        os.symlink(elsewhere, root / 'a' / 'more')
        os.symlink('.', root / 'a' / 'self')  # loops
        os.symlink('..', root / 'a' / 'up')
        os.symlink('..', elsewhere / 'sub' / 'back')  # to what a/more leads to
        os.symlink('.', root / 'c')  # a class that is the root
    except OSError:  # pragma: no cover
        pytest.skip('no symbolic links here')
    result = run(root, '-o', tmp_path / 'out', '--shuffle', 'no')
    assert result.returncode == 0, result.stderr
    assert list(read(tmp_path / 'out' / 'train.msgpack')) == [
        'a/x.png', 'a/more/y.png', 'a/more/sub/z.png', 'b/b.png']
    err = result.stderr
    assert 'a/self: symbolic link back to' in err and 'a/up: symbolic link back to' in err
    assert 'photos/c: symbolic link back to' in err
    assert 'a/more/sub/back: symbolic link back to' in err
    assert 'loop' in err and 'Traceback' not in err
    assert load_classes(tmp_path / 'out') == ['a', 'b', 'c']  # an empty class


def _tiff_too_many_samples(path):
    tifffile = pytest.importorskip('tifffile')
    tifffile.imwrite(path, np.zeros((4, 4, 8), np.uint8), photometric='minisblack',
                     planarconfig='contig')


@pytest.mark.parametrize('threads', ['1', '2'])
def test_pillow_warnings_do_not_leak(tmp_path, threads):
    root = tmp_path / 'photos'
    palette = Image.fromarray(np.arange(16, dtype=np.uint8).reshape(4, 4)).convert('P')
    (root / 'a').mkdir(parents=True)
    palette.save(root / 'a' / 'palette.png', transparency=bytes(range(16)))
    _tiff_too_many_samples(root / 'a' / 'samples.tif')
    save(root / 'a' / 'plain.png', pixels(1))
    result = run(root, '-o', tmp_path / 'out', '--compress', '-t', threads)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert 'Warning' not in err and 'warnings.warn' not in err, err
    # reported once, at the end, with the image it is about
    lines = err.splitlines()
    assert 'warning: Pillow reported 2 problems while converting:' in lines
    assert any(line.endswith('palette.png: Palette images with Transparency expressed '
                             'in bytes should be converted to RGBA images') for line in lines)
    assert any('samples.tif: More samples per pixel than can be decoded' in line
               for line in lines)
    assert 'samples.tif: not an image' in err  # and skipped
    assert sorted(read(tmp_path / 'out' / 'train.msgpack')) == ['a/palette.png', 'a/plain.png']
