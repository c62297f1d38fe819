"""
Tests for :py:mod:`datadings_like.index`: suffix handling, write/load round
trips, the key hash salt rule, and clean errors for damaged index files.
"""
from pathlib import Path
import hashlib
import struct
import tracemalloc

import msgpack
import numpy as np
import pytest
from simplebloom import BloomFilter

from datadings_like import index
from datadings_like.errors import DatasetError
from datadings_like.index import data_path
from datadings_like.index import hash_keys
from datadings_like.index import keys_len
from datadings_like.index import legacy_index_len
from datadings_like.index import legacy_load_index
from datadings_like.index import load_filter
from datadings_like.index import load_key_hashes
from datadings_like.index import load_keys
from datadings_like.index import load_offsets
from datadings_like.index import offsets_len
from datadings_like.index import write_filter
from datadings_like.index import write_key_hashes
from datadings_like.index import write_keys
from datadings_like.index import write_offsets

KEYS = ['a', 'b', 'äöü', '']
OFFSETS = [0, 5, 9, 20, 21]

# files written by datadings 3.4.7 for KEYS and OFFSETS
REFERENCE = {
    '.keys': '94a161a162a6c3a4c3b6c3bca0',
    '.key_hashes': '652e530edee5893b953ffc3d1368ba7472f9046833a279821685ed02641fc137'
                   'f8078c18cdbe676b',
    '.filter': '53494d50424c4f4f000000000000002200000000000000043fd0000000000000f155',
    '.offsets': '0000000000000000000000000000000500000000000000090000000000000014'
                '0000000000000015',
}


def salt_for(attempt):
    return hashlib.blake2s(str(attempt).encode('utf-8')).digest()[:8]


def key_hash(key, salt):
    return int.from_bytes(hashlib.blake2s(key.encode('utf-8'), salt=salt).digest()[:8], 'big')


WRITERS = {
    '.offsets': lambda p: write_offsets(OFFSETS, p),
    '.keys': lambda p: write_keys(KEYS, p),
    '.key_hashes': lambda p: write_key_hashes(KEYS, p),
    '.filter': lambda p: write_filter(KEYS, p),
}


# ------------------------------------------------------------ suffixes

@pytest.mark.parametrize('suffix', sorted(WRITERS))
def test_write_appends_suffix_to_data_path(tmp_path, suffix):
    written = WRITERS[suffix](tmp_path / 'd.msgpack')
    assert written == tmp_path / f'd.msgpack{suffix}'
    assert written.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'd.msgpack{suffix}']


@pytest.mark.parametrize('suffix', sorted(WRITERS))
def test_write_keeps_exact_suffix(tmp_path, suffix):
    written = WRITERS[suffix](tmp_path / f'd.msgpack{suffix}')
    assert written == tmp_path / f'd.msgpack{suffix}'
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'd.msgpack{suffix}']


@pytest.mark.parametrize('suffix', sorted(WRITERS))
def test_write_appends_to_other_suffix(tmp_path, suffix):
    # like datadings: a different suffix is not replaced, the right one is appended
    other = '.keys' if suffix != '.keys' else '.offsets'
    written = WRITERS[suffix](tmp_path / f'd.msgpack{other}')
    assert written == tmp_path / f'd.msgpack{other}{suffix}'
    written = WRITERS[suffix](tmp_path / 'd.txt')
    assert written == tmp_path / f'd.txt{suffix}'


@pytest.mark.parametrize('suffix', sorted(WRITERS))
def test_write_accepts_str_paths(tmp_path, suffix):
    written = WRITERS[suffix](str(tmp_path / 'd.msgpack'))
    assert Path(written) == tmp_path / f'd.msgpack{suffix}'


@pytest.mark.parametrize('suffix', sorted(WRITERS))
def test_files_are_byte_identical_to_datadings(tmp_path, suffix):
    written = WRITERS[suffix](tmp_path / 'd.msgpack')
    assert written.read_bytes().hex() == REFERENCE[suffix]


def test_load_functions_handle_suffixes(tmp_path):
    data = tmp_path / 'd.msgpack'
    for writer in WRITERS.values():
        writer(data)
    for path in (data, str(data)):
        assert load_keys(path) == KEYS
        assert load_offsets(path).tolist() == OFFSETS
        assert load_key_hashes(path)[0] == salt_for(0)
        assert keys_len(path) == len(KEYS)
        assert offsets_len(path) == len(KEYS)
        assert all(k in load_filter(path) for k in KEYS)
    # the exact suffix is used as is
    assert load_keys(tmp_path / 'd.msgpack.keys') == KEYS
    assert keys_len(tmp_path / 'd.msgpack.keys') == len(KEYS)
    assert load_offsets(tmp_path / 'd.msgpack.offsets').tolist() == OFFSETS
    assert offsets_len(tmp_path / 'd.msgpack.offsets') == len(KEYS)
    assert load_key_hashes(tmp_path / 'd.msgpack.key_hashes')[0] == salt_for(0)
    assert 'a' in load_filter(tmp_path / 'd.msgpack.filter')
    # another suffix: the right one is appended, so that file is missing
    with pytest.raises(FileNotFoundError):
        load_keys(tmp_path / 'd.msgpack.offsets')
    with pytest.raises(FileNotFoundError):
        load_offsets(tmp_path / 'd.msgpack.keys')
    with pytest.raises(FileNotFoundError):
        load_key_hashes(tmp_path / 'd.msgpack.keys')
    with pytest.raises(FileNotFoundError):
        load_filter(tmp_path / 'd.msgpack.keys')
    with pytest.raises(FileNotFoundError):
        keys_len(tmp_path / 'd.msgpack.offsets')
    with pytest.raises(FileNotFoundError):
        offsets_len(tmp_path / 'd.msgpack.keys')


def test_missing_files_raise_file_not_found(tmp_path):
    data = tmp_path / 'missing.msgpack'
    for fn in (load_keys, load_offsets, load_key_hashes, load_filter, keys_len, offsets_len,
               legacy_index_len, legacy_load_index):
        with pytest.raises(FileNotFoundError):
            fn(data)


@pytest.mark.parametrize('name,expected', [
    ('d.msgpack', 'd.msgpack'),
    ('d.msgpack.offsets', 'd.msgpack'),
    ('d.msgpack.keys', 'd.msgpack'),
    ('d.msgpack.key_hashes', 'd.msgpack'),
    ('d.msgpack.filter', 'd.msgpack'),
    ('d.msgpack.index', 'd.msgpack'),
    ('d.msgpack.md5', 'd.msgpack'),
    ('d.other', 'd.other'),
])
def test_data_path(tmp_path, name, expected):
    assert data_path(tmp_path / name) == tmp_path / expected


# ------------------------------------------------------------ round trips

@pytest.mark.parametrize('offsets', [[0], [0, 1], OFFSETS, [0, 2 ** 40, 2 ** 63 + 5]])
def test_offsets_round_trip(tmp_path, offsets):
    path = write_offsets(offsets, tmp_path / 'd.msgpack')
    assert path.read_bytes() == b''.join(struct.pack('>Q', o) for o in offsets)
    loaded = load_offsets(tmp_path / 'd.msgpack')
    assert isinstance(loaded, np.ndarray)
    assert loaded.tolist() == offsets
    assert offsets_len(tmp_path / 'd.msgpack') == len(offsets) - 1
    # numpy input works too
    write_offsets(np.array(offsets, dtype=np.uint64), tmp_path / 'e.msgpack')
    assert (tmp_path / 'e.msgpack.offsets').read_bytes() == path.read_bytes()


@pytest.mark.parametrize('keys', [[], ['only'], KEYS, [f'k{i}' for i in range(1000)],
                                  ['x' * 70000, '\u20ac\U0001f600']])
def test_keys_round_trip(tmp_path, keys):
    path = write_keys(keys, tmp_path / 'd.msgpack')
    assert path.read_bytes() == msgpack.packb(keys, use_bin_type=True)
    assert load_keys(tmp_path / 'd.msgpack') == keys
    assert keys_len(tmp_path / 'd.msgpack') == len(keys)
    # any iterable of keys
    write_keys(iter(keys), tmp_path / 'e.msgpack')
    assert load_keys(tmp_path / 'e.msgpack') == keys


@pytest.mark.parametrize('keys', [[], ['only'], KEYS, [f'k{i}' for i in range(500)]])
def test_key_hashes_round_trip(tmp_path, keys):
    path = write_key_hashes(keys, tmp_path / 'd.msgpack')
    salt = salt_for(0)
    expected = salt + b''.join(key_hash(k, salt).to_bytes(8, 'big') for k in keys)
    assert path.read_bytes() == expected
    loaded_salt, hashes = load_key_hashes(tmp_path / 'd.msgpack')
    assert loaded_salt == salt
    assert [int(h) for h in hashes] == [key_hash(k, salt) for k in keys]
    assert hashes.dtype == np.uint64 and hashes.dtype.isnative


@pytest.mark.parametrize('keys', [[], ['only'], KEYS, [f'k{i}' for i in range(500)]])
def test_filter_round_trip(tmp_path, keys):
    path = write_filter(keys, tmp_path / 'd.msgpack')
    bf = BloomFilter(max(2, len(keys)))
    for k in keys:
        bf += k
    assert path.read_bytes() == bytes(bf.dumps())
    loaded = load_filter(tmp_path / 'd.msgpack')
    assert isinstance(loaded, BloomFilter)
    assert all(k in loaded for k in keys)


# ------------------------------------------------------------ hashing

def test_hash_keys_salt_rule():
    salt, hashes = hash_keys(KEYS)
    assert salt == hashlib.blake2s(b'0').digest()[:8]
    assert len(salt) == 8
    assert [int(h) for h in hashes] == [key_hash(k, salt) for k in KEYS]
    assert len(hashes) == len(KEYS)


def test_hash_keys_empty():
    salt, hashes = hash_keys([])
    assert salt == salt_for(0)
    assert len(hashes) == 0


class _CollidingBlake2s:
    """Stand-in for ``hashlib`` whose blake2s collides for some salts."""

    def __init__(self, bad_salts, calls):
        self.bad_salts = set(bad_salts)
        self.calls = calls

    def __getattr__(self, name):
        return getattr(hashlib, name)

    def blake2s(self, data=b'', *, salt=b'', **kwargs):
        self.calls.append(bytes(salt))
        return _Digest(hashlib.blake2s(data, salt=salt, **kwargs), salt in self.bad_salts)


class _Digest:
    def __init__(self, h, collide):
        self.h = h
        self.collide = collide

    def update(self, data):
        self.h.update(data)

    def copy(self):
        return _Digest(self.h.copy(), self.collide)

    def digest(self):
        return bytes(32) if self.collide else self.h.digest()

    def hexdigest(self):
        return self.digest().hex()


def _force_collisions(monkeypatch, bad_salts):
    """Make all key hashes collide under ``bad_salts``."""
    calls = []
    fake = _CollidingBlake2s(bad_salts, calls)
    monkeypatch.setattr(index, 'hashlib', fake)
    if hasattr(index, '_hash_all'):
        original = index._hash_all

        def colliding(keys, salt):
            if salt in fake.bad_salts:
                calls.append(bytes(salt))
                return np.zeros(len(keys), dtype='>u8')
            return original(keys, salt)
        monkeypatch.setattr(index, '_hash_all', colliding)
    return calls


def test_hash_keys_collision_uses_next_salt(monkeypatch):
    calls = _force_collisions(monkeypatch, {salt_for(0)})
    salt, hashes = hash_keys(KEYS)
    assert salt_for(0) in calls  # the first salt was tried
    assert salt == salt_for(1)
    assert [int(h) for h in hashes] == [key_hash(k, salt_for(1)) for k in KEYS]


def test_hash_keys_collision_twice(monkeypatch):
    _force_collisions(monkeypatch, {salt_for(0), salt_for(1)})
    salt, hashes = hash_keys(KEYS)
    assert salt == salt_for(2)
    assert [int(h) for h in hashes] == [key_hash(k, salt_for(2)) for k in KEYS]


def test_write_key_hashes_collision_writes_second_salt(monkeypatch, tmp_path):
    _force_collisions(monkeypatch, {salt_for(0)})
    path = write_key_hashes(KEYS, tmp_path / 'd.msgpack')
    monkeypatch.undo()
    salt, hashes = load_key_hashes(path)
    assert salt == salt_for(1)
    assert [int(h) for h in hashes] == [key_hash(k, salt_for(1)) for k in KEYS]


def test_hash_keys_gives_up_after_max_tries(monkeypatch):
    _force_collisions(monkeypatch, {salt_for(i) for i in range(5)})
    with pytest.raises(RuntimeError):
        hash_keys(KEYS, max_tries=5)
    assert hash_keys(KEYS, max_tries=6)[0] == salt_for(5)


def test_hash_keys_duplicate_keys_never_succeed():
    with pytest.raises(RuntimeError):
        hash_keys(['same', 'same'], max_tries=3)


# ------------------------------------------------------------ damaged files

def write_raw(tmp_path, suffix, content):
    path = tmp_path / f'd.msgpack{suffix}'
    path.write_bytes(content)
    return tmp_path / 'd.msgpack', path


@pytest.mark.parametrize('content', [b'', b'\x00' * 7, b'\x00' * 12, b'\x00' * 17])
def test_offsets_size_not_multiple_of_8(tmp_path, content):
    data, path = write_raw(tmp_path, '.offsets', content)
    with pytest.raises(DatasetError) as info:
        load_offsets(data)
    assert str(path) in str(info.value)
    with pytest.raises(DatasetError) as info:
        offsets_len(data)
    assert str(path) in str(info.value)


def test_offsets_first_not_zero(tmp_path):
    data, path = write_raw(tmp_path, '.offsets', struct.pack('>3Q', 1, 5, 9))
    with pytest.raises(DatasetError) as info:
        load_offsets(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('offsets', [[0, 5, 3], [0, 5, 5], [0, 0], [0, 2 ** 64 - 1, 3]])
def test_offsets_not_increasing(tmp_path, offsets):
    data, path = write_raw(tmp_path, '.offsets', struct.pack(f'>{len(offsets)}Q', *offsets))
    with pytest.raises(DatasetError) as info:
        load_offsets(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('content', [
    msgpack.packb({'a': 1}),
    msgpack.packb('abc'),
    msgpack.packb(5),
    msgpack.packb(None),
])
def test_keys_not_a_list(tmp_path, content):
    data, path = write_raw(tmp_path, '.keys', content)
    with pytest.raises(DatasetError) as info:
        load_keys(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('keys', [[1, 2], ['a', b'b'], ['a', None], [['a']], ['a', 1.5], [True]])
def test_keys_not_str(tmp_path, keys):
    data, path = write_raw(tmp_path, '.keys', msgpack.packb(keys, use_bin_type=True))
    with pytest.raises(DatasetError) as info:
        load_keys(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('content', [
    b'', b'\xc1', b'\x92\xa1a', b'\x91\xa1a\xa1b', b'\xdd\xff\xff\xff\xff',
    b'\x91\xa2\xff\xfe', bytes(range(256)), b'\x91' * 5000 + b'\x90',
], ids=['empty', 'reserved', 'truncated', 'extra', 'huge-header', 'bad-utf8', 'bytes', 'deep'])
def test_keys_garbage(tmp_path, content):
    data, path = write_raw(tmp_path, '.keys', content)
    with pytest.raises(DatasetError) as info:
        load_keys(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('content', [b'', b'\xc1', msgpack.packb({'a': 1}), msgpack.packb('x')],
                         ids=['empty', 'reserved', 'map', 'str'])
def test_keys_len_garbage(tmp_path, content):
    data, path = write_raw(tmp_path, '.keys', content)
    with pytest.raises(DatasetError) as info:
        keys_len(data)
    assert str(path) in str(info.value)


def test_keys_len_reads_only_the_header(tmp_path):
    # the header says 3 keys; the rest is never looked at
    data, _ = write_raw(tmp_path, '.keys', b'\x93' + b'\xc1' * 100)
    assert keys_len(data) == 3
    data, _ = write_raw(tmp_path, '.keys', b'\xdd\x00\x01\x00\x00')
    assert keys_len(data) == 65536


@pytest.mark.parametrize('size', [0, 1, 7, 9, 15, 17])
def test_key_hashes_bad_size(tmp_path, size):
    data, path = write_raw(tmp_path, '.key_hashes', bytes(size))
    with pytest.raises(DatasetError) as info:
        load_key_hashes(data)
    assert str(path) in str(info.value)


def test_key_hashes_salt_only(tmp_path):
    data, _ = write_raw(tmp_path, '.key_hashes', b'saltsalt')
    salt, hashes = load_key_hashes(data)
    assert salt == b'saltsalt' and len(hashes) == 0


@pytest.mark.parametrize('content', [
    b'', b'garbage', bytes(100), b'SIMPBLOO', b'SIMPBLOO' + bytes(24),
    b'SIMPBLOO' + struct.pack('>QQd', 34, 4, 2.0) + bytes(2),  # bad probability
    b'SIMPBLOO' + struct.pack('>QQd', 34, 0, 0.25) + bytes(2),  # bad count
])
def test_filter_garbage(tmp_path, content):
    data, path = write_raw(tmp_path, '.filter', content)
    with pytest.raises(DatasetError) as info:
        load_filter(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('cut', [2, 1])
def test_truncated_filter_is_refused(tmp_path, cut):
    good = write_filter(KEYS, tmp_path / 'good.msgpack').read_bytes()
    data, path = write_raw(tmp_path, '.filter', good[:-cut])
    with pytest.raises(DatasetError) as info:
        load_filter(data)
    assert str(path) in str(info.value)


def test_filter_with_extra_bytes_is_refused(tmp_path):
    good = write_filter(KEYS, tmp_path / 'good.msgpack').read_bytes()
    data, path = write_raw(tmp_path, '.filter', good + b'\x00')
    try:
        bf = load_filter(data)
    except DatasetError as exc:
        assert str(path) in str(exc)
    else:
        assert all(k in bf for k in KEYS)


def test_filter_header_claiming_huge_size_does_not_allocate(tmp_path):
    good = write_filter(KEYS, tmp_path / 'good.msgpack').read_bytes()
    claimed = 1 << 27  # 128 MiB, for a file of 34 bytes
    content = good[:8] + struct.pack('>Q', claimed) + good[16:]
    data, path = write_raw(tmp_path, '.filter', content)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            load_filter(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 16 << 20


# ------------------------------------------------------------ legacy index

def write_legacy(tmp_path, pairs, data_size=30, raw=None):
    """Write a data file of ``data_size`` bytes and a legacy index by hand:
    one msgpack map key -> start offset, in order."""
    data = tmp_path / 'd.msgpack'
    data.write_bytes(b'\x80' * data_size)
    if raw is None:
        raw = msgpack.packb(dict(pairs))
    path = tmp_path / 'd.msgpack.index'
    path.write_bytes(raw)
    return data, path


def _map(pairs):
    """A msgpack map from pairs (allows duplicate keys and any types)."""
    out = bytearray(b'\xdf' + len(pairs).to_bytes(4, 'big'))
    for k, v in pairs:
        out += msgpack.packb(k) + msgpack.packb(v)
    return bytes(out)


def test_legacy_index_round_trip(tmp_path):
    data, path = write_legacy(tmp_path, [('a', 0), ('b', 10), ('äöü', 11), ('', 29)])
    assert legacy_index_len(data) == 4
    assert legacy_index_len(path) == 4
    keys, offsets = legacy_load_index(data)
    assert keys == ['a', 'b', 'äöü', '']
    assert list(offsets) == [0, 10, 11, 29, 30]
    keys2, offsets2 = legacy_load_index(path)
    assert keys2 == keys and list(offsets2) == list(offsets)


def test_legacy_index_keeps_file_order(tmp_path):
    pairs = [('zeta', 0), ('alpha', 3), ('mid', 7), ('b', 12), ('a', 13)]
    data, _ = write_legacy(tmp_path, pairs, raw=_map(pairs))
    keys, offsets = legacy_load_index(data)
    assert keys == [k for k, _ in pairs]
    assert list(offsets) == [o for _, o in pairs] + [30]


def test_legacy_index_other_suffix(tmp_path):
    write_legacy(tmp_path, [('a', 0)])
    with pytest.raises(FileNotFoundError):
        legacy_load_index(tmp_path / 'd.msgpack.keys')


def test_legacy_index_missing_data_file(tmp_path):
    _, path = write_legacy(tmp_path, [('a', 0)])
    (tmp_path / 'd.msgpack').unlink()
    with pytest.raises(FileNotFoundError):
        legacy_load_index(path)


@pytest.mark.parametrize('pairs', [
    [('a', 0), ('b', 10), ('c', 10)],
    [('a', 0), ('b', 20), ('c', 10)],
    [('a', 5), ('b', 10)],
    [('a', 0), ('b', 30)],  # ends at the data file size: empty last sample
    [('a', 0), ('b', 31)],  # beyond the data file
    [],
], ids=['equal', 'decreasing', 'first-not-zero', 'last-at-end', 'beyond-end', 'empty'])
def test_legacy_index_non_increasing(tmp_path, pairs):
    data, path = write_legacy(tmp_path, pairs, raw=_map(pairs))
    with pytest.raises(DatasetError) as info:
        legacy_load_index(data)
    assert str(path) in str(info.value)


def test_legacy_index_duplicate_keys(tmp_path):
    pairs = [('a', 0), ('b', 10), ('a', 20)]
    data, path = write_legacy(tmp_path, pairs, raw=_map(pairs))
    assert legacy_index_len(data) == 3
    with pytest.raises(DatasetError) as info:
        legacy_load_index(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('pairs', [
    [(1, 0)],
    [(b'a', 0)],
    [('a', '0')],
    [('a', 0.0)],
    [('a', False)],
    [('a', None)],
    [('a', [0])],
    [('a', {'x': 0})],
    [(None, 0)],
], ids=repr)
def test_legacy_index_wrong_types(tmp_path, pairs):
    data, path = write_legacy(tmp_path, pairs, raw=_map(pairs))
    with pytest.raises(DatasetError) as info:
        legacy_load_index(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('raw', [
    msgpack.packb([['a', 0], ['b', 10]]),
    msgpack.packb([('a', 0)]),
    msgpack.packb([[]]),
    msgpack.packb('abc'),
    msgpack.packb(5),
    b'',
    b'\xc1',
    b'\x82\xa1a\x00',  # truncated
    _map([('a', 0)]) + b'\x00',  # extra data
    b'\xdf\xff\xff\xff\xff',  # huge header, nothing behind it
], ids=['list-of-lists', 'list-of-tuples', 'nested-empty', 'str', 'int', 'empty',
        'reserved', 'truncated', 'extra', 'huge-header'])
def test_legacy_index_garbage(tmp_path, raw):
    data, path = write_legacy(tmp_path, [], raw=raw)
    with pytest.raises(DatasetError) as info:
        legacy_load_index(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('raw', [msgpack.packb([1, 2]), b'', b'\xc1', msgpack.packb('x')],
                         ids=['array', 'empty', 'reserved', 'str'])
def test_legacy_index_len_garbage(tmp_path, raw):
    data, path = write_legacy(tmp_path, [], raw=raw)
    with pytest.raises(DatasetError) as info:
        legacy_index_len(data)
    assert str(path) in str(info.value)


@pytest.mark.parametrize('suffix, function', [
    ('.offsets', offsets_len), ('.offsets', load_offsets), ('.keys', keys_len),
    ('.keys', load_keys), ('.key_hashes', load_key_hashes), ('.filter', load_filter),
    ('.index', legacy_index_len), ('.index', legacy_load_index),
])
def test_index_file_that_is_a_directory(tmp_path, suffix, function):
    (tmp_path / 'd.msgpack').write_bytes(b'')
    (tmp_path / ('d.msgpack' + suffix)).mkdir()
    with pytest.raises(DatasetError, match=f'd.msgpack{suffix}: is a directory'):
        function(tmp_path / 'd.msgpack')


def test_journal_path_is_hidden_beside_the_dataset(tmp_path):
    assert index.journal_path(tmp_path / 'x' / 'a.msgpack') == tmp_path / 'x' / '.a.msgpack.commit'
