import itertools

import numpy as np
import pytest

from datadings_like.reader import (
    Cycler, MsgpackReader, QuasiShuffler, Range, Repeater, Shuffler,
)
from datadings_like.reader.augment import _gather

from conftest import make_samples, write_dataset


@pytest.fixture
def reader(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(100))
    with MsgpackReader(path) as r:
        yield r


def indices(it):
    return [int(s['key'][1:]) for s in it]


def test_range(reader):
    r = Range(reader, 10, 20)
    assert len(r) == 10
    assert indices(r) == list(range(10, 20))
    r.seek(5)
    assert indices(r) == list(range(15, 20))
    assert indices(r) == list(range(10, 20))
    assert [k for k, _ in Range(reader, -3).iter(yield_key=True)] == ['s97', 's98', 's99']
    with pytest.raises(IndexError):
        Range(reader, 100)
    with pytest.raises(IndexError):
        r.seek(10)


def test_repeater(reader):
    assert indices(Repeater(Range(reader, 90, 100), 2)) == list(range(90, 100)) * 2
    assert len(Repeater(reader, 3)) == 300
    assert indices(Repeater(reader, 3)) == list(range(100)) * 3
    rep = Repeater(reader, 2)
    rep.seek(150)
    assert indices(rep) == list(range(50, 100))
    assert list(Repeater(reader, 0)) == []


def test_cycler(reader):
    c = Cycler(reader)
    assert len(c) == 100
    got = indices(itertools.islice(c, 250))
    assert got == (list(range(100)) * 3)[:250]
    c.seek(205)
    assert indices(itertools.islice(c, 3)) == [5, 6, 7]
    raw = next(iter(c.rawiter()))
    assert isinstance(raw, bytes)


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_shufflers_are_permutations_that_change_per_epoch(reader, cls):
    s = cls(reader)
    epoch0 = indices(s)
    epoch1 = indices(s)
    assert sorted(epoch0) == list(range(100)) == sorted(epoch1)
    assert epoch0 != list(range(100))
    assert epoch0 != epoch1
    # same seed, same sequence of epochs
    again = cls(reader)
    assert indices(again) == epoch0 and indices(again) == epoch1


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_shufflers_seed_and_seek(reader, cls):
    a = indices(cls(reader, seed=1))
    b = indices(cls(reader, seed=2))
    assert a != b
    s = cls(reader, seed=1)
    s.seek(30)
    assert indices(s) == a[30:]
    s.seek(100 + 5)  # into the second epoch
    epoch1 = cls(reader, seed=1)
    indices(epoch1)
    assert indices(s) == indices(epoch1)[5:]


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_shufflers_yield_key_raw_copy(reader, cls):
    s = cls(reader)
    pairs = list(s.iter(yield_key=True, raw=True, copy=False))
    assert all(isinstance(raw, memoryview) for _, raw in pairs)
    assert sorted(k for k, _ in pairs) == sorted(f's{i}' for i in range(100))


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_shufflers_stop_and_resume_within_epoch(reader, cls):
    full = indices(cls(reader))
    s = cls(reader)
    first = indices(itertools.islice(s, 40))
    assert first == full[:40]
    assert indices(s) == full[40:]


def test_shuffler_default_seed_is_len(reader):
    assert indices(Shuffler(reader)) == indices(Shuffler(reader, seed=100))


def test_quasi_shuffler_defaults_and_buffer(reader):
    q = QuasiShuffler(reader)
    # buf_size 0.01 of 100 samples = 1, rounded up to a chunk of 16
    assert q.buf_size == 16 and q.chunk_size == 16 and q.num_chunks == 7
    assert indices(q) == indices(QuasiShuffler(reader, seed=100 * 16 * 16))
    q = QuasiShuffler(reader, buf_size=0.5, chunk_size=10)
    assert q.buf_size == 50
    assert QuasiShuffler(reader, buf_size=33, chunk_size=10).buf_size == 40
    with pytest.raises(ValueError):
        QuasiShuffler(reader, buf_size=0)


def test_quasi_shuffler_is_chunk_local(reader):
    # with a buffer of one chunk, a sample is yielded at most one buffer
    # length after its chunk started: the order is a local shuffle of chunks
    q = QuasiShuffler(reader, buf_size=10, chunk_size=10, seed=3)
    order = q.order()
    chunks_first_seen = []
    for i in order.tolist():
        c = i // 10
        if c not in chunks_first_seen:
            chunks_first_seen.append(c)
    assert sorted(chunks_first_seen) == list(range(10))
    assert chunks_first_seen != list(range(10))
    positions = {i: p for p, i in enumerate(order.tolist())}
    for c in range(10):
        span = [positions[i] for i in range(c * 10, c * 10 + 10)]
        assert max(span) - min(span) < 100


def test_quasi_shuffler_iter_chunk_size_override(reader):
    q = QuasiShuffler(reader, chunk_size=16)
    assert sorted(indices(q.iter(chunk_size=5))) == list(range(100))


class PlainReader:
    """A reader with ``get`` only: no batched fast path."""

    def __init__(self, reader):
        self._reader = reader

    def __len__(self):
        return len(self._reader)

    def get(self, i, yield_key=False, raw=False, copy=True):
        return self._reader.get(i, yield_key=yield_key, raw=raw, copy=copy)


@pytest.mark.parametrize('fast', [True, False], ids=['fast-path', 'get-only'])
@pytest.mark.parametrize('raw', [False, True])
def test_gather_counts_what_was_yielded(reader, fast, raw):
    source = reader if fast else PlainReader(reader)
    samples, consumed = _gather(source, np.array([3, 1, 2, 7]), True, raw, True)
    assert consumed() == 0
    first = [next(samples), next(samples)]
    assert [k for k, _ in first] == ['s3', 's1']
    assert consumed() == 2
    rest = list(samples)
    assert [k for k, _ in rest] == ['s2', 's7']
    assert consumed() == 4
    if raw:
        assert rest[0][1] == reader.get(2, raw=True)
    else:
        assert rest[0][1]['label'] == reader.get(2)['label']


@pytest.fixture
def big_reader(tmp_path):
    """More samples than one batch of indices (_GATHER) holds."""
    path = write_dataset(tmp_path / 'big.msgpack', [{'key': f's{i}'} for i in range(2600)])
    with MsgpackReader(path) as r:
        yield r


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
@pytest.mark.parametrize('wrap', [False, True], ids=['fast-path', 'get-only'])
@pytest.mark.parametrize('stop', [1, 1023, 1024, 1025, 2048, 2599])
def test_shufflers_resume_across_batches(big_reader, cls, wrap, stop):
    source = PlainReader(big_reader) if wrap else big_reader
    full = indices(cls(source).iter(raw=False))
    s = cls(source)
    assert indices(itertools.islice(s.iter(), stop)) == full[:stop]
    # the abandoned iterator is not closed: the position is where it stopped
    assert indices(s.iter()) == full[stop:]
    # the epoch ended: the next pass is the next epoch's order
    assert indices(itertools.islice(s.iter(), 5)) == s.epoch_order(1)[:5].tolist()


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_newest_iteration_owns_the_position(big_reader, cls):
    full = indices(cls(big_reader))
    s = cls(big_reader)
    old = s.iter()
    assert indices(itertools.islice(old, 1500)) == full[:1500]
    new = s.iter()  # takes over at 1500
    assert indices(itertools.islice(new, 10)) == full[1500:1510]
    # the older iterator goes on in its own order but no longer moves the position
    assert indices(itertools.islice(old, 700)) == full[1500:2200]
    assert indices(itertools.islice(s.iter(), 3)) == full[1510:1513]


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_seek_after_partial_iteration(big_reader, cls):
    full = indices(cls(big_reader))
    s = cls(big_reader)
    it = s.iter()
    indices(itertools.islice(it, 1200))
    s.seek(100)
    assert indices(itertools.islice(s.iter(), 5)) == full[100:105]
    s.seek(2600 + 7)  # second epoch
    assert indices(itertools.islice(s.iter(), 3)) == s.epoch_order(1)[7:10].tolist()


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_shuffler_position_stays_at_a_damaged_sample(tmp_path, cls):
    from datadings_like.errors import DatasetError
    from datadings_like.writer import RawWriter
    good = write_dataset(tmp_path / 'good.msgpack', [{'key': f's{i}'} for i in range(2600)])
    order = cls(MsgpackReader(good)).order().tolist()
    bad_index = order[1500]
    damaged = tmp_path / 'damaged.msgpack'
    with RawWriter(damaged, disable=True) as writer:
        for i, raw in enumerate(MsgpackReader(good).iter(raw=True)):
            writer.write(f's{i}', b'\xc1' if i == bad_index else raw)
    s = cls(MsgpackReader(damaged))
    got = []
    with pytest.raises(DatasetError, match=f'sample {bad_index} cannot be decoded'):
        for sample in s.iter():
            got.append(int(sample['key'][1:]))
    assert got == order[:1500]
    # a new iteration tries the damaged sample again instead of skipping it
    with pytest.raises(DatasetError, match=f'sample {bad_index} '):
        next(s.iter())
    s.seek(1501)
    assert indices(itertools.islice(s.iter(), 2)) == order[1501:1503]


def test_augment_context_manager_closes_reader(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5))
    reader = MsgpackReader(path)
    with Shuffler(reader) as s:
        assert len(list(s)) == 5
    assert '_mm' not in reader.__dict__


def test_augments_on_empty_reader(tmp_path):
    path = write_dataset(tmp_path / 'e.msgpack', [])
    reader = MsgpackReader(path)
    assert list(Shuffler(reader)) == []
    assert list(QuasiShuffler(reader)) == []
    assert list(Cycler(reader)) == []


def buffer_shuffle_reference(q, seed):
    """The QuasiShuffler algorithm step by step, as the docstring tells it."""
    from math import ceil
    rng = np.random.default_rng(seed)
    n, cs = q._n, q.chunk_size
    chunk_order = rng.permutation(ceil(n / cs)).tolist()
    sequence = [i for c in chunk_order for i in range(c * cs, min(n, (c + 1) * cs))]
    fill = sum(min(cs, n - c * cs) for c in chunk_order[:max(1, q.buf_size // cs)])
    buffer, rest = sequence[:fill], sequence[fill:]
    picks = rng.integers(0, len(buffer), size=len(rest)).tolist()
    out = []
    for pick, index in zip(picks, rest):
        out.append(buffer[pick])
        buffer[pick] = index
    return out + [buffer[i] for i in rng.permutation(len(buffer)).tolist()]


@pytest.mark.parametrize('n, buf_size, chunk_size', [
    (1000, 0.01, 16), (1001, 5, 7), (17, 100, 4), (500, 250, 3), (50, 0.5, 1), (3, 1, 16),
])
@pytest.mark.parametrize('seed', [0, 7])
def test_quasi_shuffler_order_matches_step_by_step_algorithm(tmp_path, n, buf_size, chunk_size, seed):
    class Sized:
        def __len__(self):
            return n
    q = QuasiShuffler(Sized(), buf_size=buf_size, chunk_size=chunk_size, seed=seed)
    assert q.order().tolist() == buffer_shuffle_reference(q, seed)


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
def test_epoch_order_depends_only_on_seed_and_epoch(reader, cls):
    s = cls(reader, seed=5)
    first, second = indices(s), indices(s)
    fresh = cls(reader, seed=5)
    assert fresh.epoch_order(1).tolist() == [int(k) for k in second]
    assert fresh.epoch_order(0).tolist() == [int(k) for k in first]
    assert fresh.order().tolist() == [int(k) for k in first]


@pytest.mark.parametrize('cls', [Shuffler, QuasiShuffler])
@pytest.mark.parametrize('seed', [-1, 0.5, 'abc', 2 ** 80])
def test_shufflers_accept_any_seed(reader, cls, seed):
    a = indices(cls(reader, seed=seed))
    assert sorted(a) == list(range(100))
    assert indices(cls(reader, seed=seed)) == a
