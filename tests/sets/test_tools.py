"""Writer plumbing of datadings_like.sets.tools: pool, shuffle, splits,
images, argparse helpers and the restricted unpickler."""
from types import SimpleNamespace
import argparse
import io
import pickle
import struct
import threading

import numpy as np
import pytest
from PIL import Image

from datadings_like.reader import MsgpackReader
from datadings_like.sets import tools
from datadings_like.tools.cli import UserError


def keys_of(path):
    return [s['key'] for s in MsgpackReader(path)]


def make_item(i):
    return {'key': f'k{i:04d}', 'value': i}


def square(i):  # module level: picklable for the process pool
    return {'key': f'k{i:04d}', 'value': i * i}


# ---------------------------------------------------------------- write_samples

@pytest.mark.parametrize('threads', [1, 3])
def test_order_is_kept(tmp_path, threads):
    out = tmp_path / 'a.msgpack'
    n = tools.write_samples(out, range(100), make_item, threads=threads, quiet=True)
    assert n == 100
    assert keys_of(out) == [f'k{i:04d}' for i in range(100)]


def test_process_pool(tmp_path):
    out = tmp_path / 'a.msgpack'
    tools.write_samples(out, range(50), square, threads=2, processes=True, quiet=True)
    assert [s['value'] for s in MsgpackReader(out)] == [i * i for i in range(50)]


def test_memory_is_bounded(tmp_path):
    pulled = [0]
    ahead = []
    lock = threading.Lock()

    def items():
        for i in range(200):
            with lock:
                pulled[0] += 1
            yield i

    def convert(i):
        with lock:
            ahead.append(pulled[0] - i)
        return make_item(i)

    tools.write_samples(tmp_path / 'a.msgpack', items(), convert, threads=2, window=5,
                        quiet=True)
    assert max(ahead) <= 6  # never more than the window in flight


def test_shuffle_indices_with_seed(tmp_path):
    a, b, c = (tmp_path / f'{x}.msgpack' for x in 'abc')
    args = SimpleNamespace(shuffle=True, seed=3, threads=2, no_confirm=False, quiet=True)
    tools.write_samples(a, list(range(50)), make_item, args)
    tools.write_samples(b, (i for i in range(50)), make_item, args)  # not a sequence
    tools.write_samples(c, list(range(50)), make_item, args, seed=4)
    assert keys_of(a) == keys_of(b)
    assert keys_of(a) != keys_of(c)
    assert sorted(keys_of(a)) == [f'k{i:04d}' for i in range(50)]
    assert keys_of(a) != sorted(keys_of(a))


def test_none_skips_and_errors_leave_nothing(tmp_path):
    out = tmp_path / 'a.msgpack'
    n = tools.write_samples(out, range(10), lambda i: make_item(i) if i % 2 else None,
                            threads=2, quiet=True)
    assert n == 5 and keys_of(out) == [f'k{i:04d}' for i in range(1, 10, 2)]

    def fail(i):
        if i == 7:
            raise RuntimeError('broken')
        return make_item(i)

    bad = tmp_path / 'b.msgpack'
    with pytest.raises(RuntimeError):
        tools.write_samples(bad, range(30), fail, threads=2, quiet=True)
    assert not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in tmp_path.iterdir() if p.name.startswith('a.msgpack'))


def test_existing_output_and_write_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(tools, 'stdin_is_interactive', lambda: False)
    args = SimpleNamespace(no_confirm=False, quiet=True)
    (tmp_path / 'train.msgpack').write_bytes(b'old')
    written = []

    def write(split):
        written.append(split)
        return tools.write_samples(tmp_path / f'{split}.msgpack', range(3), make_item, args)

    with pytest.raises(UserError, match='train.msgpack exists'):
        tools.write_splits(['train', 'test'], write)
    assert written == ['train', 'test']
    touched = []

    def items():
        touched.append(True)
        yield 0

    with pytest.raises(FileExistsError):  # refused before any item is read
        tools.write_samples(tmp_path / 'train.msgpack', items(), make_item, args)
    assert touched == []
    assert (tmp_path / 'train.msgpack').read_bytes() == b'old'
    assert keys_of(tmp_path / 'test.msgpack') == ['k0000', 'k0001', 'k0002']

    args.no_confirm = True
    assert tools.write_splits(['train'], write) == {'train': 3}

    def abort(split):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tools.write_splits(['train', 'test'], abort)


def test_declined_overwrite_on_a_terminal_continues(monkeypatch, capsys):
    monkeypatch.setattr(tools, 'stdin_is_interactive', lambda: True)

    def write(split):
        if split == 'a':
            raise FileExistsError(split)
        return split

    assert tools.write_splits(['a', 'b'], write) == {'b': 'b'}
    assert 'a: not overwritten' in capsys.readouterr().err


# ------------------------------------------------------------------- images

def image_bytes(array, fmt, mode=None, **kwargs):
    out = io.BytesIO()
    Image.fromarray(array, mode).save(out, fmt, **kwargs) if mode else \
        Image.fromarray(array).save(out, fmt, **kwargs)
    return out.getvalue()


def decode(data):
    return np.asarray(Image.open(io.BytesIO(data)))


RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
_Y, _X = np.mgrid[0:20, 0:30]
SMOOTH = np.dstack([_X * 8, _Y * 12, np.full_like(_X, 100)]).astype(np.uint8)


def test_jpeg_and_png_are_kept():
    jpeg = image_bytes(PIXELS, 'JPEG')
    png = image_bytes(PIXELS, 'PNG')
    assert tools.convert_image(jpeg) is jpeg
    assert tools.convert_image(png) is png
    assert tools.ensure_jpeg(jpeg) is jpeg


def test_other_formats_become_png_losslessly():
    bmp = image_bytes(PIXELS, 'BMP')
    out = tools.convert_image(bmp)
    assert out.startswith(b'\x89PNG')
    assert np.array_equal(decode(out), PIXELS)


def test_cmyk_and_png_become_rgb_jpeg():
    cmyk = Image.fromarray(PIXELS).convert('CMYK')
    data = io.BytesIO()
    cmyk.save(data, 'JPEG', quality=95)
    out = tools.convert_image(data.getvalue())
    assert Image.open(io.BytesIO(out)).mode == 'RGB'
    cmyk = Image.fromarray(SMOOTH).convert('CMYK')
    data = io.BytesIO()
    cmyk.save(data, 'JPEG', quality=95)
    out = tools.convert_image(data.getvalue())
    assert np.abs(decode(out).astype(int) - SMOOTH).mean() < 4
    rgba = np.dstack([SMOOTH, np.full(SMOOTH.shape[:2], 128, np.uint8)])
    out = tools.ensure_jpeg(image_bytes(rgba, 'PNG'))
    im = Image.open(io.BytesIO(out))
    assert im.format == 'JPEG' and im.mode == 'RGB'
    assert np.abs(decode(out).astype(int) - SMOOTH).mean() < 3


def test_compress_resize_and_gray():
    png = image_bytes(PIXELS, 'PNG')
    out = tools.convert_image(png, quality=80, subsampling='444')
    assert Image.open(io.BytesIO(out)).format == 'JPEG'
    out = tools.convert_image(png, resize=10)
    assert out.startswith(b'\x89PNG') and decode(out).shape == (10, 15, 3)
    out = tools.convert_image(image_bytes(PIXELS, 'JPEG'), resize=40)
    assert Image.open(io.BytesIO(out)).format == 'JPEG' and decode(out).shape == (40, 60, 3)
    out = tools.convert_image(png, quality=90, subsampling='Gray')
    assert Image.open(io.BytesIO(out)).mode == 'L'


def test_resize_shorter_side():
    im = Image.new('RGB', (300, 200))
    assert tools.resize_shorter_side(im, 100).size == (150, 100)
    assert tools.resize_shorter_side(Image.new('P', (10, 40)), 20).size == (20, 80)
    assert tools.resize_shorter_side(im, 200) is im


def test_broken_image():
    with pytest.raises(tools.ImageError):
        tools.convert_image(b'definitely not an image')
    truncated = image_bytes(PIXELS, 'PNG')[:60]
    with pytest.raises(tools.ImageError):
        tools.convert_image(truncated, resize=8)


def test_argparse_helpers():
    parser = argparse.ArgumentParser()
    tools.argument_compress(parser)
    tools.argument_subsampling(parser)
    tools.argument_resize(parser)
    args = parser.parse_args([])
    assert (args.compress, args.subsampling, args.resize) == (None, '422', None)
    assert parser.parse_args(['--compress']).compress == tools.COMPRESS_QUALITY
    assert parser.parse_args(['--compress', '70', '--resize', '32']).compress == 70
    assert parser.parse_args(['--subsampling', 'Gray']).subsampling == 'Gray'
    for bad in (['--compress', '0'], ['--compress', '101'], ['--subsampling', '411'],
                ['--resize', '0'], ['--compress', 'high']):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


def test_load_json():
    assert 'ImageData' in tools.load_json('types.json')['types']


# ------------------------------------------------------------------ pickles

class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (BINSTRING), like CIFAR's pickles."""
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj):
    out = io.BytesIO()
    _Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue()


def cifar_like():
    return {
        b'batch_label': b'training batch 1 of 5',
        b'labels': [3, 1, 4],
        b'data': np.arange(3 * 3072, dtype=np.uint8).reshape(3, 3072),
        b'filenames': [b'a.png', b'b.png', b'c.png'],
    }


def test_safe_unpickle_py2_cifar():
    data = py2_pickle(cifar_like())
    assert b'_codecs' not in data
    batch = tools.safe_unpickle(io.BytesIO(data))
    assert batch['labels'] == [3, 1, 4]
    assert batch['filenames'] == ['a.png', 'b.png', 'c.png']
    assert batch['data'].dtype == np.uint8
    assert np.array_equal(batch['data'], cifar_like()[b'data'])


@pytest.mark.parametrize('protocol', [3, 4])
def test_safe_unpickle_py3(protocol):
    obj = {'data': np.ones((2, 2), np.float32), 'fine_labels': [1, 2], 'x': (1.5, None, True)}
    out = tools.safe_unpickle(pickle.dumps(obj, protocol), encoding='ASCII')
    assert out['fine_labels'] == [1, 2] and out['x'] == (1.5, None, True)
    assert np.array_equal(out['data'], obj['data'])


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.path}',)


class _EvilEval:
    def __reduce__(self):
        return eval, ('1 + 1',)


def test_safe_unpickle_refuses_code(tmp_path):
    marker = tmp_path / 'pwned'
    for obj in (_Evil(marker), {'a': [_Evil(marker)]}, _EvilEval(), _Evil):
        with pytest.raises(pickle.UnpicklingError, match='refusing'):
            tools.safe_unpickle(pickle.dumps(obj, 2))
    assert not marker.exists()
    # bytes of protocol 2 pickles go through _codecs.encode: not allowed by default
    with pytest.raises(pickle.UnpicklingError):
        tools.safe_unpickle(pickle.dumps(b'xyz', 2))
    assert tools.safe_unpickle(pickle.dumps(b'xyz', 2),
                               allowed={('_codecs', 'encode')}) == b'xyz'
