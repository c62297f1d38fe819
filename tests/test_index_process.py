"""The second process that hashes keys while a writer writes samples."""
import gc

import numpy as np
import pytest

import datadings_like._index_process as index_process
import datadings_like.writer as writer_module
from datadings_like.errors import DuplicateKeyError
from datadings_like.index import _bloom_filter
from datadings_like.index import _hash_all
from datadings_like.index import _key_hash_salt
from datadings_like.index import _merge_filters
from datadings_like.index import write_filter
from datadings_like.index import write_key_hashes
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

from conftest import write_dataset

SIDECARS = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')
N = 3000


def samples(n=N):
    return [{'key': f'sample{i:06d}', 'label': i % 7, 'data': bytes([i % 251]) * 20}
            for i in range(n)]


@pytest.fixture
def background(monkeypatch):
    """A background process from 1000 keys on, fed in batches of 256; the
    results it gave, one per writer."""
    if not index_process.background_index_possible():
        pytest.skip('one CPU: writers hash keys themselves')
    monkeypatch.setattr(writer_module, '_BACKGROUND_MIN_KEYS', 1000)
    monkeypatch.setattr(writer_module, '_BACKGROUND_BATCH', 256)
    results = []
    original = index_process.BackgroundIndex.result

    def result(self):
        results.append(original(self))
        return results[-1]
    monkeypatch.setattr(index_process.BackgroundIndex, 'result', result)
    return results


def in_process(monkeypatch, path, data):
    with monkeypatch.context() as m:
        m.setattr(writer_module, '_BACKGROUND_MIN_KEYS', 10 ** 12)
        return write_dataset(path, data, buffering=1000)


def same_files(a, b):
    for suffix in ('',) + SIDECARS[:-1]:
        assert (a.parent / (a.name + suffix)).read_bytes() == \
            (b.parent / (b.name + suffix)).read_bytes(), suffix


def test_sidecars_are_byte_identical(tmp_path, monkeypatch, background):
    data = samples()
    ours = write_dataset(tmp_path / 'bg.msgpack', data, buffering=1000)
    assert background == [True]
    plain = in_process(monkeypatch, tmp_path / 'plain.msgpack', data)
    same_files(ours, plain)
    reader = MsgpackReader(ours)
    assert reader.verify_data() and reader.verify_index()
    assert all(s['key'] in reader for s in data)
    assert reader.find_index('sample002999') == 2999


def test_raw_writer_uses_it_too(tmp_path, monkeypatch, background):
    from datadings_like.writer import RawWriter
    plain = in_process(monkeypatch, tmp_path / 'plain.msgpack', samples())
    out = tmp_path / 'raw.msgpack'
    with RawWriter(out, disable=True, buffering=1000) as w:
        for key, raw in MsgpackReader(plain).iter(yield_key=True, raw=True):
            w.write(key, raw)
    assert background == [True]
    same_files(out, plain)


def test_small_datasets_start_no_process(tmp_path, monkeypatch, background):
    started = []
    monkeypatch.setattr(writer_module, 'BackgroundIndex',
                        lambda: started.append(1) or pytest.fail('started'))
    write_dataset(tmp_path / 'small.msgpack', samples(999), buffering=1000)
    assert started == [] and background == []


def test_one_cpu_starts_no_process(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, '_BACKGROUND_MIN_KEYS', 10)
    monkeypatch.setattr(index_process.os, 'sched_getaffinity', lambda pid: {0}, raising=False)
    monkeypatch.setattr(index_process.os, 'cpu_count', lambda: 1)
    assert not index_process.background_index_possible()
    with FileWriter(tmp_path / 'one.msgpack', disable=True, buffering=100) as w:
        for s in samples(500):
            w.write(s)
        assert w._background is None


def test_a_dead_process_changes_nothing(tmp_path, monkeypatch, background):
    data = samples()
    out = tmp_path / 'killed.msgpack'
    with FileWriter(out, disable=True, buffering=1000) as w:
        for i, s in enumerate(data):
            w.write(s)
            if i == 2000:
                assert w._background is not None
                w._background._proc.kill()
                w._background._proc.wait()
    assert background == [False]  # the writer made the files itself
    same_files(out, in_process(monkeypatch, tmp_path / 'plain.msgpack', data))


def test_a_process_that_cannot_start_changes_nothing(tmp_path, monkeypatch, background):
    def refuse():
        raise OSError('no processes here')
    monkeypatch.setattr(writer_module, 'BackgroundIndex', refuse)
    data = samples()
    out = write_dataset(tmp_path / 'refused.msgpack', data, buffering=1000)
    same_files(out, in_process(monkeypatch, tmp_path / 'plain.msgpack', data))


def test_abort_stops_the_process(tmp_path, background):
    out = tmp_path / 'aborted.msgpack'
    with pytest.raises(DuplicateKeyError):
        with FileWriter(out, disable=True, buffering=1000) as w:
            for s in samples():
                w.write(s)
            proc = w._background._proc
            w.write(samples(1)[0])
    assert proc.poll() is not None
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_forgotten_writer_stops_the_process(tmp_path, background):
    w = FileWriter(tmp_path / 'forgotten.msgpack', disable=True, buffering=1000)
    for s in samples():
        w.write(s)
    proc = w._background._proc
    del w
    gc.collect()
    assert proc.wait(timeout=10) is not None
    assert list(tmp_path.iterdir()) == []


def test_finish_index_falls_back_on_colliding_first_hashes(tmp_path):
    keys = [f'k{i}' for i in range(500)]
    colliding = np.zeros(len(keys), dtype='>u8')  # every first hash the same
    hashes_path, filter_path = tmp_path / 'a.key_hashes', tmp_path / 'a.filter'
    index_process.finish_index(keys, colliding, hashes_path, filter_path, len(keys))
    # as hash_keys does on a collision: the next salt
    salt = _key_hash_salt(1)
    assert hashes_path.read_bytes() == salt + _hash_all(keys, salt).tobytes()
    write_filter(keys, tmp_path / 'b.filter')
    assert filter_path.read_bytes() == (tmp_path / 'b.filter').read_bytes()


def test_finish_index_uses_the_first_hashes(tmp_path):
    keys = [f'k{i}' for i in range(500)]
    first = _hash_all(keys, _key_hash_salt(0))
    hashes_path, filter_path = tmp_path / 'a.key_hashes', tmp_path / 'a.filter'
    index_process.finish_index(keys, first, hashes_path, filter_path, 200)
    write_key_hashes(keys, tmp_path / 'b.key_hashes')
    assert hashes_path.read_bytes() == (tmp_path / 'b.key_hashes').read_bytes()
    assert filter_path.read_bytes() == _bloom_filter(keys[:200], len(keys)).dumps()
    # they are taken as they are, not made again
    fake = np.arange(1, 501, dtype='>u8')
    index_process.finish_index(keys, fake, hashes_path, filter_path, 200)
    assert hashes_path.read_bytes() == _key_hash_salt(0) + fake.tobytes()


@pytest.mark.parametrize('split', [0, 1, 250, 499, 500])
def test_filters_of_parts_merge_into_the_filter_of_all(split):
    keys = [f'k{i}' for i in range(500)]
    whole = _bloom_filter(keys).dumps()
    a = _bloom_filter(keys[:split], len(keys)).dumps()
    b = _bloom_filter(keys[split:], len(keys)).dumps()
    assert _merge_filters(a, b) == whole


def test_filters_of_different_capacity_do_not_merge():
    with pytest.raises(ValueError, match='different sizes'):
        _merge_filters(_bloom_filter(['a'], 10).dumps(), _bloom_filter(['a'], 1000).dumps())
