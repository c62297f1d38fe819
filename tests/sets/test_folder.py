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
