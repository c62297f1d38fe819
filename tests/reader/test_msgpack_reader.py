import copy
import pickle

import msgpack
import numpy as np
import pytest

from datadings_like.errors import DatasetError
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

from conftest import make_samples, write_dataset


def keys(samples):
    return [s['key'] for s in samples]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k]


def test_len_and_iteration(dataset):
    path, samples = dataset
    with MsgpackReader(path) as reader:
        assert len(reader) == 100
        read = list(reader)
    assert len(read) == 100
    for a, b in zip(read, samples):
        assert_same(a, b)


def test_get_getitem_negative_and_out_of_range(dataset):
    path, samples = dataset
    reader = MsgpackReader(path)
    assert reader.get(5)['key'] == 's5'
    assert reader[5]['key'] == 's5'
    assert reader[-1]['key'] == 's99'
    assert reader.get(3, yield_key=True)[0] == 's3'
    with pytest.raises(IndexError):
        reader.get(100)
    with pytest.raises(IndexError):
        reader[-101]


def test_getitem_slices_return_lists(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert keys(reader[2:5]) == ['s2', 's3', 's4']
    assert keys(reader[95:]) == ['s95', 's96', 's97', 's98', 's99']
    assert keys(reader[10:20:5]) == ['s10', 's15']
    assert reader[5:2] == []


def test_raw_and_copy(dataset):
    path, samples = dataset
    reader = MsgpackReader(path)
    raw = reader.get(7, raw=True)
    assert isinstance(raw, bytes)
    assert msgpack.unpackb(raw)['key'] == 's7'
    view = reader.get(7, raw=True, copy=False)
    assert isinstance(view, memoryview) and bytes(view) == raw
    assert all(isinstance(r, memoryview) for r in reader.iter(raw=True, copy=False))
    assert all(isinstance(r, bytes) for r in reader.rawiter())
    offsets = np.fromfile(str(path) + '.offsets', dtype='>u8')
    data = path.read_bytes()
    assert [bytes(r) for r in reader.iter(0, raw=True)] == [
        data[a:b] for a, b in zip(offsets[:-1], offsets[1:])
    ]


def test_iter_start_stop_yield_key_chunks(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert [k for k, _ in reader.iter(10, 13, yield_key=True)] == ['s10', 's11', 's12']
    assert keys(reader.iter(-2)) == ['s98', 's99']
    for chunk_size in (1, 3, 16, 1000):
        assert keys(reader.iter(0, chunk_size=chunk_size)) == [f's{i}' for i in range(100)]
    with pytest.raises(IndexError):
        reader.iter(100)
    with pytest.raises(ValueError):
        reader.iter(chunk_size=0)


def test_slice(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert keys(reader.slice(3, 6)) == ['s3', 's4', 's5']
    assert keys(reader.slice(98)) == ['s98', 's99']
    assert [k for k, raw in reader.slice(0, 2, yield_key=True, raw=True)] == ['s0', 's1']


def test_iteration_continues_at_current_index_and_wraps(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    it = iter(reader)
    first = [next(it)['key'] for _ in range(10)]
    assert first == [f's{i}' for i in range(10)]
    del it
    assert reader.next()['key'] == 's10'
    rest = keys(reader)
    assert rest[0] == 's11' and rest[-1] == 's99'
    # at the end: next iteration starts from the beginning
    assert keys(reader)[:2] == ['s0', 's1']


def test_break_mid_iteration_then_resume(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    for i, sample in enumerate(reader):
        if i == 41:
            break
    assert keys(reader)[0] == 's42'


def test_next_rawnext_seek(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    reader.seek(50)
    assert reader.next()['key'] == 's50'
    assert msgpack.unpackb(reader.rawnext())['key'] == 's51'
    reader.seek_index(-1)
    assert reader.next()['key'] == 's99'
    with pytest.raises(StopIteration):
        reader.next()
    reader.seek_key('s20')
    assert next(reader)['key'] == 's20'
    with pytest.raises(IndexError):
        reader.seek(100)
    with pytest.raises(KeyError):
        reader.seek_key('nope')


def test_find_key_find_index_contains(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    for i in (0, 17, 99, 17, 3, 42, 88, 1, 99):  # beyond the linear-scan lookups
        assert reader.find_index(f's{i}') == i
        assert reader.find_key(i) == f's{i}'
        assert f's{i}' in reader
    assert reader.find_key(-1) == 's99'
    assert 'missing' not in reader
    assert 5 not in reader
    with pytest.raises(KeyError):
        reader.find_index('missing')
    assert reader.keys()[:2] == ['s0', 's1']


def test_open_is_lazy(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert '_keys' not in reader.__dict__ and '_offsets' not in reader.__dict__
    reader.find_index('s3')
    assert '_keys' not in reader.__dict__


def test_pickle_and_copy_keep_position(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    reader.get(0)
    reader.seek(10)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.next()['key'] == 's10'
    other = copy.copy(reader)
    assert other.next()['key'] == 's10'
    assert reader.next()['key'] == 's10'


def test_missing_data_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.msgpack'):
        MsgpackReader(tmp_path / 'nope.msgpack')


def test_missing_index_names_files_looked_for(dataset):
    path, _ = dataset
    path.with_name('data.msgpack.offsets').unlink()
    with pytest.raises(FileNotFoundError, match=r'data\.msgpack\.offsets.*data\.msgpack\.index'):
        MsgpackReader(path)


def test_truncated_data_file_is_detected_on_open(dataset):
    path, _ = dataset
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(DatasetError, match=f'{path}.*offsets end at byte {len(data)}'):
        MsgpackReader(path)


def test_keys_count_mismatch_is_detected_on_open(tmp_path, dataset):
    path, _ = dataset
    other = write_dataset(tmp_path / 'other.msgpack', make_samples(3))
    path.with_name('data.msgpack.keys').write_bytes(other.with_name('other.msgpack.keys').read_bytes())
    with pytest.raises(DatasetError, match='lists 100 samples.*3'):
        MsgpackReader(path)


def test_key_hashes_size_mismatch_is_detected_on_open(dataset):
    path, _ = dataset
    hashes = path.with_name('data.msgpack.key_hashes')
    hashes.write_bytes(hashes.read_bytes()[:-8])
    with pytest.raises(DatasetError, match='key_hashes'):
        MsgpackReader(path)


def test_missing_optional_index_files_warn_and_fall_back(dataset):
    path, _ = dataset
    path.with_name('data.msgpack.filter').unlink()
    path.with_name('data.msgpack.key_hashes').unlink()
    reader = MsgpackReader(path)
    assert reader.find_index('s42') == 42
    assert 's42' in reader and 'x' not in reader
    path.with_name('data.msgpack.keys').unlink()
    with pytest.warns(UserWarning, match='keys'):
        reader = MsgpackReader(path)
    assert reader.get(3)['key'] == 's3'
    with pytest.raises(FileNotFoundError, match='datadings-index'):
        reader.find_key(3)


def write_legacy(path, samples):
    """A dataset with only the legacy .index (as datadings < 3 wrote)."""
    packed = [msgpack.packb(s) for s in samples]
    path.write_bytes(b''.join(packed))
    index, pos = {}, 0
    for s, p in zip(samples, packed):
        index[s['key']] = pos
        pos += len(p)
    path.with_name(path.name + '.index').write_bytes(msgpack.packb(index))
    return path


def test_legacy_index(tmp_path):
    samples = [{'key': f'k{i}', 'v': i} for i in range(30)]
    path = write_legacy(tmp_path / 'old.msgpack', samples)
    reader = MsgpackReader(path)
    assert len(reader) == 30
    assert list(reader) == samples
    assert reader.find_index('k7') == 7 and 'k7' in reader and 'x' not in reader
    assert reader.find_key(9) == 'k9'
    assert reader.get(29) == samples[29]


def test_legacy_index_not_matching_data(tmp_path):
    samples = [{'key': f'k{i}', 'v': i} for i in range(5)]
    path = write_legacy(tmp_path / 'old.msgpack', samples)
    path.write_bytes(path.read_bytes() + b'\x00')
    with pytest.raises(DatasetError):
        MsgpackReader(path).get(4)  # the legacy index has no end offset


def test_verify_data_and_index(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert reader.verify_data()
    assert reader.verify_index()
    keys_file = path.with_name('data.msgpack.keys')
    keys_file.write_bytes(keys_file.read_bytes()[:-1] + b'X')
    assert not reader.verify_index()
    data = bytearray(path.read_bytes())
    data[5] ^= 0xFF
    path.write_bytes(bytes(data))
    assert not MsgpackReader(path).verify_data()


def test_verify_index_legacy(tmp_path):
    from datadings_like.tools import hash_md5hex
    samples = [{'key': f'k{i}'} for i in range(5)]
    path = write_legacy(tmp_path / 'old.msgpack', samples)
    index = path.with_name('old.msgpack.index')
    path.with_name('old.msgpack.md5').write_text(
        f'{hash_md5hex(path)}  old.msgpack\n{hash_md5hex(index)}  old.msgpack.index\n')
    reader = MsgpackReader(path)
    assert reader.verify_data() and reader.verify_index()
    index.write_bytes(index.read_bytes() + b'')
    path.with_name('old.msgpack.md5').write_text(f'{hash_md5hex(path)}  old.msgpack\n{"0" * 32}  old.msgpack.index\n')
    assert not reader.verify_index()


def test_zero_copy_views_survive_close(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    view = reader.get(1, raw=True, copy=False)
    reader.close()
    assert msgpack.unpackb(view)['key'] == 's1'


def test_allow_pickle_opt_in(tmp_path):
    arr = np.array([{'a': 1}, None], dtype=object)
    with FileWriter(tmp_path / 'obj.msgpack', disable=True) as writer:
        writer.write({'key': 'o', 'arr': arr})
    with pytest.raises(ValueError, match='obj.msgpack.*allow_pickle'):
        MsgpackReader(tmp_path / 'obj.msgpack').get(0)
    sample = MsgpackReader(tmp_path / 'obj.msgpack', allow_pickle=True).get(0)
    assert sample['arr'][0] == {'a': 1}


@pytest.fixture
def large_samples_dataset(tmp_path):
    """Samples large enough to be decoded one by one (no Unpacker)."""
    samples = [{'key': f'L{i}', 'data': bytes([i]) * 70_000} for i in range(40)]
    return write_dataset(tmp_path / 'large.msgpack', samples), samples


def test_large_samples_iterate_and_resume(large_samples_dataset):
    path, samples = large_samples_dataset
    reader = MsgpackReader(path)
    assert list(reader) == samples
    for i, _ in enumerate(reader):
        if i == 24:
            break
    assert reader.next()['key'] == 'L25'
    assert [k for k, _ in reader.iter(37, yield_key=True)] == ['L37', 'L38', 'L39']
    assert [s['key'] for s in reader.slice(10, 13)] == ['L10', 'L11', 'L12']


def test_damaged_large_sample_names_file_and_index(large_samples_dataset):
    from datadings_like.writer import RawWriter
    path, samples = large_samples_dataset
    damaged = path.with_name('damaged.msgpack')
    with RawWriter(damaged, disable=True) as writer:
        for i, raw in enumerate(MsgpackReader(path).iter(raw=True)):
            writer.write(f'L{i}', raw[:-1] if i == 30 else raw)
    reader = MsgpackReader(damaged)
    with pytest.raises(DatasetError, match=r'damaged\.msgpack: sample 30'):
        list(reader)
    with pytest.raises(DatasetError, match='sample 30'):
        list(reader.slice(28, 35))


@pytest.mark.parametrize('array', [False, True])
def test_small_samples_with_and_without_numpy_values(tmp_path, array):
    # chunks without numpy values are decoded without the numpy hook
    samples = [{'key': str(i), 'v': (np.arange(3) if array and i == 77 else i)} for i in range(100)]
    path = write_dataset(tmp_path / 'a.msgpack', samples)
    read = list(MsgpackReader(path))
    assert isinstance(read[77]['v'], np.ndarray) is array
    assert [s['key'] for s in read] == [str(i) for i in range(100)]


@pytest.fixture
def big(tmp_path):
    samples = [{'key': f'b{i}', 'v': i} for i in range(10000)]
    return write_dataset(tmp_path / 'big.msgpack', samples)


@pytest.mark.parametrize('raw', [False, True])
def test_seek_during_iteration_sticks_across_chunks(big, raw):
    reader = MsgpackReader(big)
    it = reader.iter(raw=raw)
    for _ in range(4090):  # just before the first internal chunk ends
        next(it)
    reader.seek(100)
    for _ in range(20):  # the old iterator crosses a chunk boundary
        next(it)
    assert reader._i == 100
    assert reader.next()['key'] == 'b100'


def test_newest_iterator_owns_the_position(big):
    reader = MsgpackReader(big)
    first = iter(reader)
    next(first)
    second = reader.iter(5000)
    next(second)
    for _ in range(5000):
        next(first)
    assert reader._i == 5001


def test_list_reader_seek_during_iteration_sticks():
    from datadings_like.reader import ListReader
    reader = ListReader([{'key': str(i)} for i in range(50)])
    it = iter(reader)
    next(it)
    reader.seek(30)
    next(it)
    assert reader.next()['key'] == '30'


@pytest.mark.parametrize('raw', [False, True])
def test_live_iterator_survives_close(big, raw):
    reader = MsgpackReader(big)
    it = reader.iter(raw=raw)
    next(it)
    reader.close()
    assert len(list(it)) == 9999
    assert reader.get(3)['key'] == 'b3'  # reopens


def test_reader_with_loaded_filter_pickles(dataset):
    path, _ = dataset
    reader = MsgpackReader(path)
    assert 's3' in reader
    clone = pickle.loads(pickle.dumps(reader))
    assert 's3' in clone and 'nope' not in clone
    copy.deepcopy(reader)


def test_position_after_a_decode_error_is_the_bad_sample(tmp_path):
    from datadings_like.writer import RawWriter
    path = tmp_path / 'bad.msgpack'
    with RawWriter(path, disable=True) as writer:
        for i in range(10):
            writer.write(str(i), msgpack.packb({'key': str(i)}) if i != 5 else b'\xc1')
    reader = MsgpackReader(path)
    with pytest.raises(DatasetError, match=r'sample 5 cannot be decoded: \w+'):
        list(reader)
    assert reader._i == 5


def test_numpy_keys_in_bin16_encoding_are_decoded_while_iterating(tmp_path):
    from datadings_like.msgpack import packb
    from datadings_like.writer import RawWriter
    packed = packb({'key': 'a', 'v': np.arange(3, dtype='u1')}).replace(b'\xc4\x02nd', b'\xc5\x00\x02nd')
    path = tmp_path / 'b16.msgpack'
    with RawWriter(path, disable=True) as writer:
        writer.write('a', packed)
    reader = MsgpackReader(path)
    assert isinstance(reader.get(0)['v'], np.ndarray)
    assert isinstance(next(iter(reader))['v'], np.ndarray)
    assert isinstance(next(reader.slice(0, 1))['v'], np.ndarray)


def test_legacy_index_for_data_file_with_other_suffix(tmp_path):
    samples = [{'key': f'k{i}', 'v': i} for i in range(4)]
    packed = [msgpack.packb(s) for s in samples]
    path = tmp_path / 'old.bin'
    path.write_bytes(b''.join(packed))
    index, pos = {}, 0
    for s, p in zip(samples, packed):
        index[s['key']] = pos
        pos += len(p)
    (tmp_path / 'old.bin.index').write_bytes(msgpack.packb(index))
    assert list(MsgpackReader(path)) == samples


def test_key_as_index_explains_find_index(dataset):
    from datadings_like.reader import ListReader
    path, samples = dataset
    reader = MsgpackReader(path)
    for call in (lambda: reader['s3'], lambda: reader.get('s3')):
        with pytest.raises(TypeError) as info:
            call()
        message = str(info.value)
        assert "find_index('s3')" in message and "seek_key('s3')" in message
        assert '<' not in message
    with pytest.raises(TypeError, match='must be int or slice, not float'):
        reader[1.5]
    assert reader[np.int64(3)]['key'] == 's3'
    assert reader[reader.find_index('s3')]['key'] == 's3'
    with pytest.raises(TypeError, match='find_index'):
        ListReader([{'key': 'a'}])['a']


def test_opening_records_files_and_stays_cheap(dataset):
    # opening reads only sizes and headers, and finds no journal
    path, _ = dataset
    reader = MsgpackReader(path)
    assert set(reader._ids) >= {'', '.offsets', '.keys', '.key_hashes', '.filter'}
    assert not path.with_name('.data.msgpack.commit').exists()
    assert '_keys' not in reader.__dict__ and '_offsets' not in reader.__dict__


def test_pickled_reader_refuses_a_replaced_dataset(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5, prefix='a'))
    reader = MsgpackReader(path)
    state = pickle.dumps(reader)
    write_dataset(path, make_samples(5, prefix='b'), overwrite=True)
    worker = pickle.loads(state)  # e.g. a DataLoader worker started later
    with pytest.raises(DatasetError, match='replaced since'):
        worker.get(0)


@pytest.fixture
def large_dataset(tmp_path):
    rng = np.random.default_rng(5)
    samples = [{'key': f'l{i}', 'image': rng.bytes(70_000 + i), 'label': i, 'thumb': b't' * 10,
                'mask': rng.integers(0, 9, (40, 50), dtype=np.uint8)} for i in range(6)]
    path = tmp_path / 'large.msgpack'
    with FileWriter(path, disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    return path, samples


def test_decoded_zero_copy_of_large_samples_equals_copies(large_dataset):
    path, samples = large_dataset
    reader = MsgpackReader(path)
    views = list(reader.iter(copy=False))
    sliced = list(reader.slice(1, 4, copy=False))
    got = [reader.get(i, copy=False) for i in range(len(samples))]
    for batch in (views, got, sliced):
        for sample in batch:
            assert isinstance(sample['image'], memoryview)
            assert isinstance(sample['thumb'], bytes)
    for batch, expected in ((views, samples), (got, samples), (sliced, samples[1:4])):
        for sample, original in zip(batch, expected):
            assert bytes(sample['image']) == original['image']
            assert sample['label'] == original['label'] and sample['thumb'] == original['thumb']
            np.testing.assert_array_equal(sample['mask'], original['mask'])
    # copy=True (the default) still gives bytes
    assert all(isinstance(s['image'], bytes) for s in reader.iter())


def test_decoded_zero_copy_views_survive_close(large_dataset):
    path, samples = large_dataset
    reader = MsgpackReader(path)
    sample = reader.get(2, copy=False)
    reader.close()
    del reader
    assert bytes(sample['image']) == samples[2]['image']


def test_decoded_zero_copy_of_a_damaged_sample_names_it(large_dataset):
    path, samples = large_dataset
    data = bytearray(path.read_bytes())
    first = MsgpackReader(path)._offsets[3]
    data[int(first)] = 0xc1  # the never-used type byte where sample 3 starts
    damaged = path.with_name('damaged.msgpack')
    damaged.write_bytes(bytes(data))
    for suffix in ('.offsets', '.keys', '.key_hashes', '.filter'):
        damaged.with_name('damaged.msgpack' + suffix).write_bytes(
            path.with_name('large.msgpack' + suffix).read_bytes())
    reader = MsgpackReader(damaged)
    with pytest.raises(DatasetError, match='damaged.msgpack: sample 3'):
        reader.get(3, copy=False)
    with pytest.raises(DatasetError, match='damaged.msgpack: sample 3'):
        list(reader.iter(copy=False))


def test_first_lookups_scan_the_mapped_key_hashes(dataset):
    # open + the first find_index / "in" read no sidecar into memory: the
    # key hashes file is mapped and scanned as it is
    import datadings_like.reader.msgpack as module
    path, samples = dataset
    reader = MsgpackReader(path)
    for i in range(module._LINEAR_LOOKUPS):
        key = samples[(7 * i) % len(samples)]['key']
        assert reader.find_index(key) == (7 * i) % len(samples)
    assert '_hashes' not in reader.__dict__ and '_keys' not in reader.__dict__
    # then the hash table, with the same answers
    for i, sample in enumerate(samples):
        assert reader.find_index(sample['key']) == i
    assert '_hashes' in reader.__dict__
    with pytest.raises(KeyError):
        reader.find_index('no such key')


def test_first_lookup_with_a_key_hashes_file_of_the_wrong_size(dataset, tmp_path):
    import shutil
    path, samples = dataset
    work = tmp_path / 'w'
    shutil.copytree(path.parent, work)
    hashes = work / (path.name + '.key_hashes')
    hashes.write_bytes(hashes.read_bytes()[:-8])
    with pytest.raises(DatasetError, match='key_hashes has 800 bytes instead of 808'):
        MsgpackReader(work / path.name).find_index(samples[0]['key'])


class _IdentityHash:
    """Stands in for the salted key hash: key ``'123'`` hashes to 123."""

    def copy(self):
        return self

    def update(self, data):
        self._value = int(data)

    def digest(self):
        return self._value.to_bytes(8, 'big') + bytes(24)


@pytest.mark.parametrize('layout', ['clustered-top', 'clustered-bottom', 'with-zero', 'spread'])
def test_hash_table_answers_every_lookup(tmp_path, layout):
    # hashes crafted to crowd slots: runs in one home slot, a run past the
    # last home slot, a key hashing to 0 (which an empty slot also reads as)
    import datadings_like.reader.msgpack as module
    n = 64
    path = write_dataset(tmp_path / 'h.msgpack', [{'key': f'k{i}'} for i in range(n)])
    top = 2 ** 64 - 1
    rng = np.random.default_rng(3)
    values = {
        'clustered-top': [top - i for i in range(n)],
        'clustered-bottom': [1 + i for i in range(n)],
        'with-zero': [0] + [i << 58 for i in range(1, n)],
        'spread': rng.integers(1, 2 ** 63, n).tolist(),
    }[layout]
    hashes = np.array(rng.permutation(values), dtype=np.uint64)
    reader = MsgpackReader(path)
    reader.__dict__['_hashes'] = (b'12345678', hashes)
    reader.__dict__['_hasher'] = _IdentityHash()
    reader.__dict__['_hashes_verified'] = True
    reader._lookups = module._LINEAR_LOOKUPS
    for i, h in enumerate(hashes.tolist()):
        assert str(h) in reader
        assert reader.find_index(str(h)) == i
    absent = {0, 1, 2, top, top - n, 2 ** 63, 12345} - set(hashes.tolist())
    for h in absent:
        assert str(h) not in reader
        with pytest.raises(KeyError):
            reader.find_index(str(h))
