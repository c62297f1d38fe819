"""Tests for :py:mod:`datadings_like.tools` and ``tools.compression``."""
from pathlib import Path
import builtins
import gzip
import hashlib
import lzma
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from tqdm import tqdm

from datadings_like import tools
from datadings_like.tools import document_keys
from datadings_like.tools import hash_md5hex
from datadings_like.tools import hash_string
from datadings_like.tools import hash_string_bytes
from datadings_like.tools import load_md5file
from datadings_like.tools import make_printer
from datadings_like.tools import path_append
from datadings_like.tools import path_append_suffix
from datadings_like.tools import query_user
from datadings_like.tools import split_array
from datadings_like.tools import yield_process
from datadings_like.tools import yield_threaded
from datadings_like.tools.compression import open_comp


# ------------------------------------------------------------ hashing

@pytest.mark.parametrize('s', ['', 'a', 'key-0001', 'äöü€', '\U0001f600' * 50, 'x' * 10000])
@pytest.mark.parametrize('salt', [b'', b'\x00', b'12345678', hashlib.blake2s(b'0').digest()[:8]])
def test_hash_string(s, salt):
    digest = hashlib.blake2s(s.encode('utf-8'), salt=salt).digest()
    assert hash_string_bytes(s, salt) == digest[:8]
    assert hash_string_bytes(s, salt=salt) == digest[:8]
    assert hash_string(s, salt) == int.from_bytes(digest[:8], 'big')
    assert 0 <= hash_string(s, salt) < 2 ** 64
    assert isinstance(hash_string(s, salt), int)


def test_hash_string_default_salt():
    assert hash_string_bytes('abc') == hashlib.blake2s(b'abc').digest()[:8]
    assert hash_string('abc') == int.from_bytes(hashlib.blake2s(b'abc').digest()[:8], 'big')
    # the dataset salt of attempt 0
    assert hash_string_bytes('0') == hashlib.blake2s(b'0').digest()[:8]


def test_hash_string_salt_too_long():
    with pytest.raises(ValueError):
        hash_string('abc', b'123456789')


@pytest.mark.parametrize('size', [0, 1, 100, 4096, 70000])
def test_hash_md5hex(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / 'file.bin'
    path.write_bytes(data)
    expected = hashlib.md5(data).hexdigest()
    assert hash_md5hex(path) == expected
    assert hash_md5hex(str(path)) == expected
    assert hash_md5hex(path, read_size=7) == expected
    if size <= 4096:
        assert hash_md5hex(path, read_size=1) == expected


def test_hash_md5hex_progress(tmp_path, capsys):
    path = tmp_path / 'file.bin'
    path.write_bytes(b'x' * 5000)
    assert hash_md5hex(path, read_size=1000, progress=True) == hashlib.md5(b'x' * 5000).hexdigest()
    captured = capsys.readouterr()
    assert captured.out == ''


def test_hash_md5hex_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        hash_md5hex(tmp_path / 'missing')


# ------------------------------------------------------------ md5 files

MD5_A = 'd41d8cd98f00b204e9800998ecf8427e'
MD5_B = '0cc175b9c0f1b6a831c399e269772661'


def test_load_md5file_two_spaces(tmp_path):
    path = tmp_path / 'd.msgpack.md5'
    path.write_text(f'{MD5_A}  d.msgpack\n{MD5_B}  d.msgpack.offsets\n', encoding='utf-8')
    assert load_md5file(path) == {'d.msgpack': MD5_A, 'd.msgpack.offsets': MD5_B}
    assert load_md5file(str(path)) == {'d.msgpack': MD5_A, 'd.msgpack.offsets': MD5_B}


def test_load_md5file_binary_marker(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_text(f'{MD5_A} *file one.bin\n{MD5_B}  other\n', encoding='utf-8')
    assert load_md5file(path) == {'file one.bin': MD5_A, 'other': MD5_B}


def test_load_md5file_no_trailing_newline_and_crlf(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_bytes(f'{MD5_A}  a\r\n{MD5_B}  b'.encode())
    assert load_md5file(path) == {'a': MD5_A, 'b': MD5_B}


def test_load_md5file_names_with_spaces_and_unicode(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_text(f'{MD5_A}  name with  spaces\n{MD5_B}  äöü.bin\n', encoding='utf-8')
    assert load_md5file(path) == {'name with  spaces': MD5_A, 'äöü.bin': MD5_B}


def test_load_md5file_empty(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_text('', encoding='utf-8')
    assert load_md5file(path) == {}


def test_load_md5file_as_written_by_the_writer(tmp_path):
    from datadings_like.writer import FileWriter
    data = tmp_path / 'd.msgpack'
    with FileWriter(data, disable=True) as writer:
        writer.write({'key': 'a'})
    hashes = load_md5file(tmp_path / 'd.msgpack.md5')
    assert list(hashes) == ['d.msgpack', 'd.msgpack.offsets', 'd.msgpack.keys',
                            'd.msgpack.key_hashes', 'd.msgpack.filter']
    for name, md5 in hashes.items():
        assert md5 == hashlib.md5((tmp_path / name).read_bytes()).hexdigest()


@pytest.mark.parametrize('bad', ['nothing', MD5_A, f'{MD5_A[:-1]}  short', f'{MD5_A}  ',
                                 f'{MD5_A}x  toolong'])
def test_load_md5file_bad_line(tmp_path, bad):
    path = tmp_path / 'x.md5'
    path.write_text(f'{MD5_A}  good\n{bad}\n', encoding='utf-8')
    with pytest.raises(ValueError) as info:
        load_md5file(path)
    assert f'{path}:2' in str(info.value)


def test_load_md5file_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_md5file(tmp_path / 'missing.md5')


# ------------------------------------------------------------ paths

def test_path_append():
    assert path_append(Path('a/b.txt'), '.gz') == Path('a/b.txt.gz')
    assert path_append(Path('b'), 'x') == Path('bx')
    assert path_append('a/b.msgpack', '.keys') == Path('a/b.msgpack.keys')
    assert path_append(Path('/abs/d.msgpack'), '') == Path('/abs/d.msgpack')


@pytest.mark.parametrize('path', [Path('/'), Path(''), Path('.'), '/'])
def test_path_append_empty_name(path):
    with pytest.raises(ValueError):
        path_append(path, '.x')


def test_path_append_suffix_manual_examples():
    assert path_append_suffix(Path('some.file'), '.file') == Path('some.file')
    assert path_append_suffix(Path('some.file'), '.txt') == Path('some.file.txt')
    assert path_append_suffix(Path('some.file'), 'txt') == Path('some.filetxt')


def test_path_append_suffix_more():
    assert path_append_suffix('d.msgpack', '.keys') == Path('d.msgpack.keys')
    assert path_append_suffix(Path('d.msgpack.keys'), '.keys') == Path('d.msgpack.keys')
    assert path_append_suffix(Path('dir.keys/d.msgpack'), '.keys') == \
        Path('dir.keys/d.msgpack.keys')
    assert path_append_suffix(Path('d.msgpack.offsets'), '.keys') == Path('d.msgpack.offsets.keys')
    assert path_append_suffix(Path('a/x.tar.gz'), '.gz') == Path('a/x.tar.gz')
    assert path_append_suffix(Path('a/x.tar.gz'), '.tar.gz') == Path('a/x.tar.gz')


def test_path_append_suffix_empty_name():
    with pytest.raises(ValueError):
        path_append_suffix(Path('/'), '.x')


# ------------------------------------------------------------ query_user

def _no_input(*args, **kwargs):
    raise AssertionError('input() must not be called without a terminal')


def test_query_user_non_interactive_returns_default(monkeypatch):
    monkeypatch.setattr(tools, 'stdin_is_interactive', lambda: False)
    monkeypatch.setattr(builtins, 'input', _no_input)
    assert query_user('Overwrite?') == 'yes'
    assert query_user('Overwrite?', default='no') == 'no'
    assert query_user('Overwrite?', default='abort') == 'abort'
    assert query_user('Pick', default='b', answers=('a', 'b')) == 'b'


def test_query_user_non_interactive_without_default(monkeypatch):
    monkeypatch.setattr(tools, 'stdin_is_interactive', lambda: False)
    monkeypatch.setattr(builtins, 'input', _no_input)
    with pytest.raises(EOFError):
        query_user('Overwrite?', default=None)


def test_query_user_under_pytest_never_reads_stdin(monkeypatch):
    # pytest's stdin is not a terminal (unless run with -s from one): the
    # real check must say so
    try:
        if sys.stdin.isatty():
            pytest.skip('standard input is a terminal')
    except (AttributeError, ValueError):
        pass
    monkeypatch.setattr(builtins, 'input', _no_input)
    assert not tools.stdin_is_interactive()
    assert query_user('Overwrite?') == 'yes'


def test_stdin_is_interactive_without_stdin(monkeypatch):
    monkeypatch.setattr(sys, 'stdin', None)
    assert tools.stdin_is_interactive() is False


class _Answers:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, prompt=''):
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


def _interactive(monkeypatch, *answers):
    fake = _Answers(*answers)
    monkeypatch.setattr(tools, 'stdin_is_interactive', lambda: True)
    monkeypatch.setattr(builtins, 'input', fake)
    return fake


@pytest.mark.parametrize('typed,expected', [
    ('y', 'yes'), ('ye', 'yes'), ('yes', 'yes'), ('Y', 'yes'), ('YES', 'yes'),
    ('n', 'no'), ('no', 'no'), ('N', 'no'),
    ('a', 'abort'), ('ab', 'abort'), ('abort', 'abort'),
])
def test_query_user_prefixes(monkeypatch, capsys, typed, expected):
    fake = _interactive(monkeypatch, typed)
    assert query_user('Overwrite?') == expected
    assert len(fake.answers) == 0


def test_query_user_empty_is_default(monkeypatch):
    _interactive(monkeypatch, '')
    assert query_user('Overwrite?') == 'yes'
    _interactive(monkeypatch, '')
    assert query_user('Overwrite?', default='no') == 'no'


def test_query_user_invalid_then_valid(monkeypatch, capsys):
    fake = _interactive(monkeypatch, 'maybe', 'x', 'yess', 'n')
    assert query_user('Overwrite?') == 'no'
    assert fake.answers == []
    out = ''.join(fake.prompts) + capsys.readouterr().out
    assert 'Overwrite?' in out
    assert 'yes, no, abort' in out


def test_query_user_no_default_requires_answer(monkeypatch):
    fake = _interactive(monkeypatch, '', '', 'a')
    assert query_user('Continue?', default=None) == 'abort'
    assert fake.answers == []


def test_query_user_custom_answers(monkeypatch):
    _interactive(monkeypatch, 'r')
    assert query_user('Which?', default='left', answers=('left', 'right')) == 'right'


def test_query_user_input_closed(monkeypatch):
    _interactive(monkeypatch)
    with pytest.raises(EOFError):
        query_user('Overwrite?')


# ------------------------------------------------------------ background generators

def _count(n):
    yield from range(n)


def _failing(n, exc):
    yield from range(n)
    raise exc


def test_yield_threaded_order():
    assert list(yield_threaded(_count(1000))) == list(range(1000))
    assert list(yield_threaded(iter([]))) == []
    assert list(yield_threaded(x for x in 'abc')) == ['a', 'b', 'c']


def test_yield_threaded_exception():
    got = []
    with pytest.raises(KeyError) as info:
        for x in yield_threaded(_failing(5, KeyError('boom'))):
            got.append(x)
    assert got == list(range(5))
    assert 'boom' in str(info.value)


def test_yield_threaded_early_close_stops_thread():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = set(threading.enumerate())
    gen = yield_threaded(endless())
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra:
            break
        time.sleep(0.02)
    assert not extra, 'the background thread still runs after close()'
    count = len(produced)
    time.sleep(0.1)
    assert len(produced) == count


def test_yield_threaded_break_stops_thread():
    before = set(threading.enumerate())
    for x in yield_threaded(_count(10 ** 9)):
        if x == 10:
            break
    # the loop's generator is collected and closed here
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t not in before and t.is_alive()]:
            break
        time.sleep(0.02)
    assert not [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_yield_process_order():
    assert list(yield_process(_count(500))) == list(range(500))
    assert list(yield_process(iter([]))) == []
    data = [{'a': np.arange(3)}, b'bytes', 'str']
    got = list(yield_process(iter(data)))
    assert got[1:] == data[1:]
    assert got[0]['a'].tolist() == [0, 1, 2]


def test_yield_process_exception():
    got = []
    with pytest.raises(ValueError) as info:
        for x in yield_process(_failing(3, ValueError('bad thing'))):
            got.append(x)
    assert got == [0, 1, 2]
    assert 'bad thing' in str(info.value)


def test_yield_process_early_close():
    gen = yield_process(_count(10 ** 9))
    assert next(gen) == 0
    gen.close()  # must not hang


# ------------------------------------------------------------ split_array

def _reassemble(tiles, rows, cols, va, ha):
    it = iter(tiles)
    return np.concatenate(
        [np.concatenate([next(it) for _ in range(cols)], axis=ha) for _ in range(rows)],
        axis=va)


@pytest.mark.parametrize('shape,v,h', [
    ((3, 8, 6), 4, 3),  # divisible
    ((3, 10, 7), 4, 3),  # not divisible
    ((1, 5, 5), 5, 5),  # one tile
    ((2, 3, 4), 10, 10),  # tile larger than image
    ((2, 7, 9), 1, 2),
])
def test_split_array_default_axes(shape, v, h):
    img = np.arange(np.prod(shape)).reshape(shape)
    tiles = list(split_array(img, v, h))
    rows = -(-shape[1] // v)
    cols = -(-shape[2] // h)
    assert len(tiles) == rows * cols
    # row by row, full tiles except at the right and bottom edges
    for n, tile in enumerate(tiles):
        r, c = divmod(n, cols)
        assert tile.shape[0] == shape[0]
        assert tile.shape[1] == min(v, shape[1] - r * v)
        assert tile.shape[2] == min(h, shape[2] - c * h)
        assert np.array_equal(tile, img[:, r * v:r * v + v, c * h:c * h + h])
    assert np.array_equal(_reassemble(tiles, rows, cols, 1, 2), img)


def test_split_array_other_axes():
    img = np.arange(10 * 7 * 3).reshape(10, 7, 3)  # HWC
    tiles = list(split_array(img, 4, 3, indices=(0, 1)))
    assert len(tiles) == 3 * 3
    assert tiles[0].shape == (4, 3, 3)
    assert tiles[-1].shape == (2, 1, 3)
    assert np.array_equal(_reassemble(tiles, 3, 3, 0, 1), img)


def test_split_array_matches_datadings_shapes():
    # shapes datadings 3.4.7 yields for this input
    img = np.arange(3 * 10 * 7).reshape(3, 10, 7)
    assert [t.shape for t in split_array(img, 4, 3)] == [
        (3, 4, 3), (3, 4, 3), (3, 4, 1), (3, 4, 3), (3, 4, 3), (3, 4, 1),
        (3, 2, 3), (3, 2, 3), (3, 2, 1)]


# ------------------------------------------------------------ document_keys

def ImageData(key, image, label):
    return {'key': key, 'image': image, 'label': label}


def test_document_keys():
    doc = document_keys(ImageData)
    assert doc == (
        'Important:\n'
        '    Samples have the following keys:\n'
        '\n'
        '    - ``"key"``\n'
        '    - ``"image"``\n'
        '    - ``"label"``\n'
    )


def test_document_keys_custom():
    def Pair(a, b):
        return {'key': a, 'value': b}
    doc = document_keys(Pair, block='Note:', prefix='Keys:', postfix='The end.')
    assert doc == 'Note:\n    Keys:\n\n    - ``"key"``\n    - ``"value"``\nThe end.'


# ------------------------------------------------------------ open_comp

@pytest.mark.parametrize('name,magic', [('f.gz', b'\x1f\x8b'), ('f.xz', b'\xfd7zXZ\x00'),
                                        ('f.bin', b'hello')])
def test_open_comp_binary(tmp_path, name, magic):
    path = tmp_path / name
    data = b'hello world\n' * 100
    with open_comp(path, 'wb') as f:
        f.write(data)
    assert path.read_bytes().startswith(magic)
    with open_comp(path) as f:
        assert f.read() == data
    with open_comp(str(path), 'rb') as f:
        assert f.read() == data


def test_open_comp_really_compresses(tmp_path):
    data = b'a' * 100000
    with open_comp(tmp_path / 'f.gz', 'wb') as f:
        f.write(data)
    with open_comp(tmp_path / 'f.xz', 'wb') as f:
        f.write(data)
    assert gzip.decompress((tmp_path / 'f.gz').read_bytes()) == data
    assert lzma.decompress((tmp_path / 'f.xz').read_bytes()) == data
    assert (tmp_path / 'f.gz').stat().st_size < 1000
    assert (tmp_path / 'f.xz').stat().st_size < 1000


@pytest.mark.parametrize('name', ['f.gz', 'f.xz', 'f.txt'])
@pytest.mark.parametrize('encoding', ['utf-8', 'latin-1', 'utf-16-le'])
def test_open_comp_text(tmp_path, name, encoding):
    path = tmp_path / name
    text = 'äöü ß\nzweite Zeile\n'
    with open_comp(path, 'wt', encoding=encoding) as f:
        f.write(text)
    with open_comp(path, 'rt', encoding=encoding) as f:
        assert f.read() == text
    with open_comp(path, 'rb') as f:
        raw = f.read()
    assert raw == text.encode(encoding)


@pytest.mark.parametrize('name', ['f.gz', 'f.xz'])
def test_open_comp_level(tmp_path, name):
    data = bytes(range(256)) * 200
    with open_comp(tmp_path / name, 'wb', level=1) as f:
        f.write(data)
    with open_comp(tmp_path / name) as f:
        assert f.read() == data


def test_open_comp_reads_other_tools_files(tmp_path):
    (tmp_path / 'a.gz').write_bytes(gzip.compress(b'from gzip'))
    (tmp_path / 'a.xz').write_bytes(lzma.compress(b'from xz'))
    with open_comp(tmp_path / 'a.gz') as f:
        assert f.read() == b'from gzip'
    with open_comp(tmp_path / 'a.xz') as f:
        assert f.read() == b'from xz'


def test_open_comp_missing(tmp_path):
    for name in ('m.gz', 'm.xz', 'm.txt'):
        with pytest.raises(FileNotFoundError):
            open_comp(tmp_path / name)


# ------------------------------------------------------------ make_printer

def test_make_printer_is_tqdm_on_stderr(capsys):
    printer = make_printer(total=10, desc='progress-desc', mininterval=0)
    assert isinstance(printer, tqdm)
    for _ in range(10):
        printer.update(1)
    printer.close()
    captured = capsys.readouterr()
    assert captured.out == ''
    assert 'progress-desc' in captured.err
    assert '100%' in captured.err


def test_make_printer_disable(capsys):
    printer = make_printer(total=3, desc='silent', disable=True)
    printer.update(3)
    printer.close()
    captured = capsys.readouterr()
    assert 'silent' not in captured.err and captured.out == ''


def test_make_printer_no_monitor_thread():
    before = set(threading.enumerate())
    printer = make_printer(total=10, desc='x', disable=False)
    try:
        assert [t for t in threading.enumerate() if t not in before] == []
    finally:
        printer.close()


# ------------------------------------------------------------ module

def test_module_attribute_errors_and_lazy_imports():
    code = (
        'import datadings_like.tools as t\n'
        'try:\n'
        '    t.no_such_name\n'
        'except AttributeError:\n'
        '    pass\n'
        'else:\n'
        '    raise SystemExit("no AttributeError")\n'
        'from datadings_like.tools import msgpack\n'
        'assert callable(t.prepare_indir)\n'
        'assert callable(t.download_if_not_found)\n'
        'assert not hasattr(t, "also_missing")\n'
    )
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def _with_lambda():
    yield 1
    yield lambda: 2
    yield 3


class _Unpicklable(Exception):
    def __init__(self):
        super().__init__('holds a lock')
        self.lock = threading.Lock()


def _raises_unpicklable():
    yield 1
    raise _Unpicklable()


def _dies():
    yield 1
    os._exit(3)


def test_yield_process_unpicklable_item_is_an_error():
    with pytest.raises(Exception, match='pickle|lambda'):
        list(yield_process(_with_lambda()))


def test_yield_process_unpicklable_exception_does_not_hang():
    with pytest.raises(RuntimeError, match='_Unpicklable'):
        list(yield_process(_raises_unpicklable()))


def test_yield_process_dead_child_is_an_error():
    with pytest.raises(RuntimeError, match='exit code 3'):
        list(yield_process(_dies()))


def test_manual_names_exist():
    from datadings_like import tools
    for name in ('SentinelEnd', 'SentinelError', 'Yielder', 'YielderProc', 'tiff_to_nd_array'):
        assert name in tools.__all__ and hasattr(tools, name)


def test_tiff_to_nd_array(tmp_path):
    from PIL import Image
    from datadings_like.tools import tiff_to_nd_array
    pages = [Image.new('L', (5, 4), color=v) for v in (10, 20, 30)]
    path = tmp_path / 'multi.tif'
    pages[0].save(path, save_all=True, append_images=pages[1:])
    arr = tiff_to_nd_array(path)
    assert arr.shape == (3, 4, 5) and arr.dtype == np.uint8
    assert arr[:, 0, 0].tolist() == [10, 20, 30]
    assert tiff_to_nd_array(path, type=np.float32).dtype == np.float32


@pytest.mark.parametrize('reader', ['tifffile', 'pillow'])
def test_tiff_to_nd_array_puts_bands_first_like_gdal(tmp_path, monkeypatch, reader):
    import sys
    from PIL import Image
    from datadings_like.tools import tiff_to_nd_array
    if reader == 'pillow':
        monkeypatch.setitem(sys.modules, 'tifffile', None)
    else:
        pytest.importorskip('tifffile')
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    path = tmp_path / 'rgb.tif'
    Image.fromarray(rgb).save(path)
    arr = tiff_to_nd_array(path)
    assert arr.shape == (3, 4, 5)
    assert arr[:, 2, 3].tolist() == [10, 20, 30]
