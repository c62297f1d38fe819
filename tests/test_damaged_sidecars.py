"""
A damaged sidecar (.md5, .offsets, .keys, .key_hashes, .filter, legacy
.index) never leaks a bare exception from the API: every path (open,
verify_data, verify_index, find_index, ``in``, get, keys) gives the right
answer or raises DatasetError naming the dataset, and datadings-verify
reports the damage on one line per problem.
"""
import random
import shutil

import msgpack
import pytest

from datadings_like.check import verify_dataset
from datadings_like.errors import DatasetError
from datadings_like.index import load_keys
from datadings_like.index import load_offsets
from datadings_like.reader import MsgpackReader
from datadings_like.tools import load_md5file

from conftest import make_samples, write_dataset

N = 20
KEYS = [f's{i}' for i in range(N)]


def _garbage(data):
    rng = random.Random(len(data))
    return bytes(rng.randrange(256) for _ in range(max(len(data), 40)))


DAMAGES = {
    'append-0x81': lambda data: data + b'\x81',
    'not-utf8': lambda data: b'\xff\xfe' + data[2:],
    'truncated': lambda data: data[:len(data) // 2],
    'header-only': lambda data: data[:16],
    'empty': lambda data: b'',
    'longer': lambda data: data + b'\0' * 8,
    'shorter': lambda data: data[:-8],
    'garbage': _garbage,
    'first-byte': lambda data: bytes([data[0] ^ 0xFF]) + data[1:],
    'directory': None,
}
SIDECARS = ('.md5', '.offsets', '.keys', '.key_hashes', '.filter', '.index')
# damage that a reader cannot notice without hashing the file: the bytes
# still parse, with other values (only the .md5 and datadings-verify tell)
UNDETECTABLE = set()


@pytest.fixture(scope='module')
def originals(tmp_path_factory):
    base = tmp_path_factory.mktemp('sound')
    new = write_dataset(base / 'new' / 'd.msgpack', make_samples(N))
    legacy_dir = base / 'legacy'
    legacy_dir.mkdir()
    legacy = legacy_dir / 'd.msgpack'
    shutil.copy(new, legacy)
    offsets = [int(o) for o in load_offsets(new)[:-1]]
    legacy.with_name('d.msgpack.index').write_bytes(
        msgpack.packb(dict(zip(load_keys(new), offsets))))
    shutil.copy(new.with_name('d.msgpack.md5'), legacy.with_name('d.msgpack.md5'))
    return {'new': new.parent, 'legacy': legacy_dir}


def damaged(tmp_path, originals, suffix, damage):
    source = originals['legacy' if suffix == '.index' else 'new']
    work = tmp_path / 'work'
    shutil.copytree(source, work)
    target = work / ('d.msgpack' + suffix)
    data = target.read_bytes()
    target.unlink()
    if DAMAGES[damage] is None:
        target.mkdir()
    else:
        target.write_bytes(DAMAGES[damage](data))
    return work / 'd.msgpack'


def named_error(exc):
    assert isinstance(exc, (DatasetError, FileNotFoundError)), repr(exc)
    assert 'd.msgpack' in str(exc), str(exc)


def api_calls(reader):
    return {
        'verify_data': lambda: reader.verify_data(),
        'verify_index': lambda: reader.verify_index(),
        'find_index': lambda: reader.find_index('s3'),
        'find_index_missing': lambda: reader.find_index('nope'),
        'in': lambda: 's3' in reader,
        'in_missing': lambda: 'nope' in reader,
        'get': lambda: reader.get(3)['key'],
        'keys': lambda: reader.keys(),
        'iterate': lambda: [s['key'] for s in reader],
        'find_key': lambda: reader.find_key(3),
    }


EXPECTED = {
    'find_index': 3, 'in': True, 'in_missing': False, 'get': 's3', 'keys': KEYS,
    'iterate': KEYS, 'find_key': 's3',
}


@pytest.mark.parametrize('damage', sorted(DAMAGES))
@pytest.mark.parametrize('suffix', SIDECARS)
def test_damaged_sidecar_gives_right_answer_or_named_error(tmp_path, originals, suffix, damage):
    path = damaged(tmp_path, originals, suffix, damage)
    try:
        reader = MsgpackReader(path)
    except Exception as exc:
        named_error(exc)
        return
    for name, call in api_calls(reader).items():
        try:
            result = call()
        except KeyError:
            assert name == 'find_index_missing'
            continue
        except Exception as exc:
            named_error(exc)
            continue
        if name in ('verify_data', 'verify_index'):
            assert isinstance(result, bool)
            if name == 'verify_data' or suffix in ('.md5', '.index') or damage == 'directory':
                continue
            assert result is False, 'damage must fail verify_index'
        elif (suffix, damage) not in UNDETECTABLE:
            assert result == EXPECTED[name], (name, result)


@pytest.mark.parametrize('damage', sorted(DAMAGES))
@pytest.mark.parametrize('suffix', SIDECARS)
def test_verify_reports_damaged_sidecar(tmp_path, originals, suffix, damage):
    path = damaged(tmp_path, originals, suffix, damage)
    problems = verify_dataset(path)
    assert problems, 'damage must be reported'
    assert all('\n' not in p for p in problems)


def test_md5_with_byte_0x81_appended(tmp_path, originals):
    # the report: verify_data()/verify_index() raised a bare UnicodeDecodeError
    path = damaged(tmp_path, originals, '.md5', 'append-0x81')
    reader = MsgpackReader(path)
    for call in (reader.verify_data, reader.verify_index):
        with pytest.raises(DatasetError) as info:
            call()
        assert str(path) + '.md5' in str(info.value)
        assert 'UTF-8' in str(info.value)
    with pytest.raises(DatasetError, match='not an md5 line'):
        path.with_name('d.msgpack.md5').write_text('x' * 32 + '  d.msgpack\n')
        reader.verify_data()


def test_load_md5file_names_file_and_line(tmp_path):
    path = tmp_path / 'x.md5'
    path.write_bytes(b'0' * 32 + b'  a\n' + b'0' * 31 + b'\x81  b\n')
    with pytest.raises(DatasetError, match=f'{path}:2: not a text file'):
        load_md5file(path)
    path.unlink()
    path.mkdir()
    with pytest.raises(DatasetError, match='is a directory'):
        load_md5file(path)


def test_damaged_key_hashes_are_not_taken_for_missing_keys(tmp_path, originals):
    # a damaged salt makes every hash lookup miss: that must not pass for
    # "no such key" when the Bloom filter and the keys file know the key
    path = damaged(tmp_path, originals, '.key_hashes', 'first-byte')
    reader = MsgpackReader(path)
    with pytest.raises(DatasetError, match='d.msgpack.key_hashes: damaged'):
        reader.find_index('s3')
    with pytest.raises(DatasetError, match='d.msgpack.key_hashes: damaged'):
        's3' in reader
    with pytest.raises(KeyError):
        reader.find_index('nope')


@pytest.mark.parametrize('lookups', [0, 10, 100])
def test_damaged_key_hashes_found_after_many_lookups(tmp_path, originals, lookups):
    # one hash changed (its key then misses) and the .md5 left as it was:
    # also after the lookups have switched to the hash table, that key's
    # miss is checked and named, not taken for a missing key
    path = damaged(tmp_path, originals, '.key_hashes', 'first-byte')
    work = path.parent / 'd.msgpack.key_hashes'
    shutil.copy(originals['new'] / 'd.msgpack.key_hashes', work)
    data = bytearray(work.read_bytes())
    data[8 + 8 * 5] ^= 0xFF  # the hash of sample 5 (after the 8-byte salt)
    work.write_bytes(bytes(data))
    reader = MsgpackReader(path)
    for i in range(lookups):
        assert f'absent{i}' not in reader
        if i % N != 5:
            assert f's{i % N}' in reader
    with pytest.raises(DatasetError, match='d.msgpack.key_hashes: damaged'):
        's5' in reader
    with pytest.raises(DatasetError, match='d.msgpack.key_hashes: damaged'):
        reader.find_index('s5')


def test_sound_key_hashes_answer_misses_without_the_bloom_filter(tmp_path, originals, monkeypatch):
    # the key hashes match their .md5 entry: after the first few lookups,
    # misses are answered by the hashes alone (the filter is not asked)
    import datadings_like.reader.msgpack as module
    reader = MsgpackReader(originals['new'] / 'd.msgpack')
    for i in range(module._LINEAR_LOOKUPS + 1):
        assert f's{i}' in reader
    asked = []

    class Spy:
        def __contains__(self, key):
            asked.append(key)
            return False
    loaded = []
    monkeypatch.setattr(module, 'load_filter', lambda path: loaded.append(path) or Spy())
    reader.__dict__['_filter'] = Spy()
    for i in range(50):
        assert f'absent{i}' not in reader
        with pytest.raises(KeyError):
            reader.find_index(f'absent{i}')
    assert f's{N - 1}' in reader
    assert (asked, loaded) == ([], [])


def test_md5_listing_a_path_outside_the_directory(tmp_path, originals):
    path = damaged(tmp_path, originals, '.md5', 'empty')
    path.with_name('d.msgpack.md5').write_text('0' * 32 + '  d.msgpack./../../etc/passwd\n')
    with pytest.raises(DatasetError, match='outside the directory'):
        MsgpackReader(path).verify_index()


def test_datadings_verify_names_damage_without_traceback(tmp_path, originals):
    import subprocess
    import sys
    path = damaged(tmp_path, originals, '.md5', 'append-0x81')
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.commands.verify', '-q', str(path)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert proc.stdout.startswith(f'{path}: d.msgpack.md5 is damaged (d.msgpack.md5:')
