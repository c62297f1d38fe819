"""
datadings_like.stream.Stream: sampling statistics, determinism across
workers, resumption, cache, DDP dealing, batches, errors, dump, torch.
"""
from collections import Counter
import errno
import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from datadings_like.dealing import deal
from datadings_like.reader import Cycler, MsgpackReader, Range, Repeater, Shuffler
from datadings_like.stream import Source, Stream, transforms as T, workers
from datadings_like.stream.batch import BatchError, collate
from datadings_like.stream.sampling import apportion, group_draws
from datadings_like.stream.stream import load_config
from datadings_like.stream.transforms import TransformError

from conftest import write_dataset


def jpeg(rng, w=40, h=30):
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, 'JPEG', quality=90)
    return buf.getvalue()


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, 'PNG')
    return buf.getvalue()


# unbalanced classes: class c has c + 1 samples per block of 15
UNBALANCED = [c for c in range(5) for _ in range(c + 1)]


def image_samples(n, labels=None, prefix='k', seed=0):
    rng = np.random.default_rng(seed)
    labels = labels or [i % 4 for i in range(n)]
    return [{'key': f'{prefix}{i}', 'image': jpeg(rng), 'label': labels[i % len(labels)]}
            for i in range(n)]


def plain_samples(n, labels=None, prefix='k'):
    labels = labels or [i % 4 for i in range(n)]
    return [{'key': f'{prefix}{i}', 'label': labels[i % len(labels)], 'value': i}
            for i in range(n)]


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    path = write_dataset(tmp_path_factory.mktemp('img') / 'images.msgpack', image_samples(60))
    with MsgpackReader(path) as reader:
        yield reader


@pytest.fixture(scope='module')
def unbalanced(tmp_path_factory):
    path = write_dataset(tmp_path_factory.mktemp('unb') / 'unbalanced.msgpack',
                         plain_samples(150, UNBALANCED))
    with MsgpackReader(path) as reader:
        yield reader


def make_reader(tmp_path, samples, name='data.msgpack'):
    return MsgpackReader(write_dataset(tmp_path / name, samples))


def keys(batches):
    return [k for b in batches for k in b['key']]


def augment():
    return [T.Decode('image'), T.RandomResizedCrop(16, scale=(0.3, 1)), T.Flip(horizontal=True),
            T.ColorJitter(brightness=0.3), T.ToArray('image', dtype='float32')]


class CountingReader(MsgpackReader):
    """Counts the samples read (get and the batched _gather)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reads = 0

    def get(self, index, *args, **kwargs):
        self.reads += 1
        return super().get(index, *args, **kwargs)

    def _gather(self, indices, *args, **kwargs):
        self.reads += len(indices)
        return super()._gather(indices, *args, **kwargs)


# ------------------------------------------------------------------ batches

def test_batches_are_dicts_of_stacked_arrays(images):
    stream = Stream(images, transforms=augment(), batch_size=8)
    batches = list(stream)
    assert len(batches) == len(stream) == 8  # 60 samples: 7 full batches and 4
    first = batches[0]
    assert list(first) == ['key', 'image', 'label']
    assert first['image'].shape == (8, 16, 16, 3) and first['image'].dtype == np.float32
    assert first['label'].shape == (8,) and first['label'].dtype.kind == 'i'
    assert first['key'] == [f'k{i}' for i in range(8)]
    assert batches[-1]['image'].shape == (4, 16, 16, 3)
    assert keys(batches) == [f'k{i}' for i in range(60)]


def test_single_samples_without_batch_size(images):
    samples = list(Stream(Range(images, 0, 5), transforms=augment()))
    assert [s['key'] for s in samples] == ['k0', 'k1', 'k2', 'k3', 'k4']
    assert samples[0]['image'].shape == (16, 16, 3)


def test_no_transforms_gives_the_samples_as_read(unbalanced):
    batch = next(iter(Stream(unbalanced, batch_size=4)))
    assert batch['value'].tolist() == [0, 1, 2, 3]
    assert batch['key'] == ['k0', 'k1', 'k2', 'k3']


def test_collate_lists_and_dtypes():
    batch = collate([{'key': 'a', 'x': 1, 'f': 0.5, 'b': True, 'raw': b'x', 'm': None},
                     {'key': 'b', 'x': 2, 'f': 1, 'b': False, 'raw': b'y', 'm': {'a': 1}}])
    assert batch['key'] == ['a', 'b'] and batch['raw'] == [b'x', b'y']
    assert batch['x'].tolist() == [1, 2] and batch['f'].dtype == np.float64
    assert batch['b'].dtype == bool and batch['m'] == [None, {'a': 1}]


def test_mismatched_shapes_name_the_field_and_samples():
    with pytest.raises(BatchError, match=r"field 'image' has shape \(3, 4\) in sample 'b' but "
                                         r"\(2, 4\) in sample 'a'"):
        collate([{'key': 'a', 'image': np.zeros((2, 4))}, {'key': 'b', 'image': np.zeros((3, 4))}])


def test_missing_field_in_a_batch_is_named():
    with pytest.raises(BatchError, match="field 'label' is missing in sample 'b'"):
        collate([{'key': 'a', 'label': 1}, {'key': 'b'}])


@pytest.mark.parametrize('workers', [0, 2])
def test_mismatched_shapes_in_a_stream_give_one_clear_error(tmp_path, workers):
    rng = np.random.default_rng(0)
    samples = [{'key': f's{i}', 'image': png(rng.integers(0, 255, (10 + i % 2, 12, 3), np.uint8))}
               for i in range(6)]
    stream = Stream(make_reader(tmp_path, samples), transforms=[T.Decode('image'), T.ToArray()],
                    batch_size=3, workers=workers)
    with pytest.raises(BatchError, match=r"field 'image' has shape \(11, 12, 3\) in sample 's1'"):
        list(stream)
    stream.close()


# ------------------------------------------------------------------ sampling statistics

@pytest.mark.parametrize('shuffle', [False, True])
def test_every_sample_once_per_epoch(unbalanced, shuffle):
    stream = Stream(unbalanced, batch_size=7, shuffle=shuffle, seed=3)
    epochs = [keys(stream) for _ in range(3)]
    for got in epochs:
        assert sorted(got) == sorted(f'k{i}' for i in range(150))
    if shuffle:
        assert epochs[0] != epochs[1] != epochs[2]  # a fresh order every epoch
        assert epochs[0] != sorted(epochs[0], key=lambda k: int(k[1:]))
    else:
        assert epochs[0] == epochs[1] == [f'k{i}' for i in range(150)]


def test_pooled_sources_every_sample_once(tmp_path):
    a = make_reader(tmp_path, plain_samples(30, prefix='a'), 'a.msgpack')
    b = make_reader(tmp_path, plain_samples(20, prefix='b'), 'b.msgpack')
    got = keys(Stream([a, b], batch_size=8, shuffle=True))
    assert sorted(got) == sorted([f'a{i}' for i in range(30)] + [f'b{i}' for i in range(20)])
    assert got[:10] != sorted(got[:10])


def test_stratified_classes_are_drawn_evenly(unbalanced):
    stream = Stream(unbalanced, batch_size=10, shuffle=True, stratify='label', loop=True, seed=1)
    counts = Counter()
    per_batch = []
    for i, batch in enumerate(stream):
        c = Counter(batch['label'].tolist())
        counts.update(c)
        per_batch.append(c[0])
        if i == 399:
            break
    total = sum(counts.values())
    assert total == 4000
    # source frequencies are 1/15 .. 5/15; stratified they are 1/5 each
    for c in range(5):
        assert abs(counts[c] / total - 0.2) < 0.01, counts
    assert 1.5 < np.mean(per_batch) < 2.5
    assert len(set(per_batch)) > 1  # drawn at random, not in a fixed pattern


def test_stratified_epoch_counts_are_exact_and_rare_samples_cycle(unbalanced):
    stream = Stream(unbalanced, batch_size=10, shuffle=True, stratify='label', seed=0)
    assert stream.classes == [0, 1, 2, 3, 4]
    batches = list(stream)
    labels = Counter(x for b in batches for x in b['label'].tolist())
    assert labels == {c: 30 for c in range(5)}
    # class 0 has 10 samples: drawn 30 times per epoch, each sample exactly 3 times
    zero = Counter(k for b in batches for k, lab in zip(b['key'], b['label']) if lab == 0)
    assert sorted(zero.values()) == [3] * 10
    # class 4 has 50 samples: 30 distinct per epoch, the next epoch continues the cycle
    four = [k for b in batches for k, lab in zip(b['key'], b['label']) if lab == 4]
    four2 = [k for b in stream for k, lab in zip(b['key'], b['label']) if lab == 4]
    assert len(set(four)) == 30
    assert len(set(four + four2[:20])) == 50


def test_stratified_with_class_weights(unbalanced):
    weights = {0: 4, 1: 1, 2: 1, 3: 1, 4: 3}
    stream = Stream(unbalanced, batch_size=10, shuffle=True, stratify='label',
                    class_weights=weights, epoch_size=1000, seed=2)
    counts = Counter(x for b in stream for x in b['label'].tolist())
    assert counts == {0: 400, 1: 100, 2: 100, 3: 100, 4: 300}


def test_class_weights_must_cover_the_classes(unbalanced):
    with pytest.raises(ValueError, match="class_weights has no weight for class 4 of field 'label'"):
        Stream(unbalanced, stratify='label', class_weights={0: 1, 1: 1, 2: 1, 3: 1})
    with pytest.raises(ValueError, match="class_weights names class 9"):
        Stream(unbalanced, stratify='label', class_weights={**{c: 1 for c in range(5)}, 9: 1})


def test_mixing_proportions_and_label_offset(tmp_path):
    train = make_reader(tmp_path, plain_samples(40, prefix='t'), 't.msgpack')
    background = make_reader(tmp_path, plain_samples(500, [0], prefix='bg'), 'bg.msgpack')
    stream = Stream([Source(train, weight=0.8), Source(background, weight=0.2, label_offset=10)],
                    batch_size=10, shuffle=True, loop=True, seed=4, epoch_size=200)
    assert stream.epoch_length == 200
    counts = Counter()
    fractions = []
    for i, batch in enumerate(stream):
        bg = [k.startswith('bg') for k in batch['key']]
        fractions.append(np.mean(bg))
        for k, lab in zip(batch['key'], batch['label'].tolist()):
            counts['bg' if k.startswith('bg') else 't'] += 1
            if k.startswith('bg'):
                assert lab == 10
            else:
                assert lab < 4
        if i == 199:
            break
    assert counts['bg'] == 400 and counts['t'] == 1600  # exact per epoch of 200
    assert 0.15 < np.mean(fractions) < 0.25 and len(set(fractions)) > 1


def test_mixin_label_reset_and_stratify_over_all_groups(tmp_path):
    # PicPac's mixin: the background set gets a group of its own
    train = make_reader(tmp_path, plain_samples(40, [1, 2], prefix='t'), 't.msgpack')
    background = make_reader(tmp_path, plain_samples(300, [5, 6, 7], prefix='bg'), 'bg.msgpack')
    stream = Stream([train, Source(background, label=0)], batch_size=10, shuffle=True,
                    stratify='label', epoch_size=300, seed=0)
    assert stream.classes == [0, 1, 2]
    counts = Counter(x for b in stream for x in b['label'].tolist())
    assert counts == {0: 100, 1: 100, 2: 100}


def test_mixing_weights_with_stratify_inside_each_source(tmp_path):
    a = make_reader(tmp_path, plain_samples(60, [0, 0, 0, 1], prefix='a'), 'a.msgpack')
    b = make_reader(tmp_path, plain_samples(60, [2], prefix='b'), 'b.msgpack')
    stream = Stream([Source(a, weight=3), Source(b, weight=1)], batch_size=20, shuffle=True,
                    stratify='label', epoch_size=400)
    counts = Counter(x for batch in stream for x in batch['label'].tolist())
    assert counts == {0: 150, 1: 150, 2: 100}


def test_some_weights_missing_is_an_error(unbalanced):
    with pytest.raises(ValueError, match='give every Source a weight, or none'):
        Stream([Source(unbalanced, weight=1), unbalanced])


def test_unshuffled_groups_are_interleaved_evenly(unbalanced):
    stream = Stream(unbalanced, batch_size=5, stratify='label', epoch_size=50)
    batches = list(stream)
    assert all(sorted(b['label'].tolist()) == [0, 1, 2, 3, 4] for b in batches)


def test_apportion_and_group_cycles():
    assert apportion([1, 1, 1], 10).tolist() == [4, 3, 3]
    assert apportion([0.8, 0.2], 7).tolist() == [6, 1]
    members = np.arange(100, 107)
    draws = np.concatenate([group_draws(5, 0, members, 3, e, True) for e in range(7)])
    # 21 draws of 7 members: three full cycles, each a permutation
    for c in range(3):
        assert sorted(draws[c * 7:(c + 1) * 7].tolist()) == list(range(100, 107))
    assert len({tuple(draws[c * 7:(c + 1) * 7]) for c in range(3)}) == 3
    again = group_draws(5, 0, members, 3, 4, True)
    assert again.tolist() == draws[12:15].tolist()  # any epoch computes alone


# ------------------------------------------------------------------ determinism

def test_same_seed_same_stream_other_seed_other(images):
    a = [b['image'] for b in Stream(images, transforms=augment(), batch_size=16, shuffle=True, seed=5)]
    b = [b['image'] for b in Stream(images, transforms=augment(), batch_size=16, shuffle=True, seed=5)]
    c = [b['image'] for b in Stream(images, transforms=augment(), batch_size=16, shuffle=True, seed=6)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_results_do_not_depend_on_the_workers(images):
    def run(**kw):
        with Stream(images, transforms=augment(), batch_size=8, shuffle=True, stratify='label',
                    seed=9, **kw) as stream:
            return [list(stream) for _ in range(2)]  # two epochs, persistent workers

    expected = run(workers=0)
    for kw in ({'workers': 1}, {'workers': 2}, {'workers': 3, 'prefetch': 1},
               {'workers': 2, 'parallel': 'thread'}, {'workers': 2, 'shared_memory': False}):
        got = run(**kw)
        for epoch_a, epoch_b in zip(expected, got):
            assert len(epoch_a) == len(epoch_b)
            for x, y in zip(epoch_a, epoch_b):
                assert x['key'] == y['key'], kw
                assert np.array_equal(x['image'], y['image']), kw
                assert np.array_equal(x['label'], y['label']), kw


def test_spawned_workers_give_the_same_batches(images):
    expected = list(Stream(images, transforms=augment(), batch_size=30, seed=1))
    with Stream(images, transforms=augment(), batch_size=30, seed=1, workers=2,
                start_method='spawn') as stream:
        got = list(stream)
    assert all(np.array_equal(x['image'], y['image']) for x, y in zip(expected, got))


def test_per_sample_generator_is_seed_epoch_position(images):
    class Draw:
        def apply(self, sample, rng, annotate=()):
            sample['r'] = rng.integers(1 << 62)
            return sample

    stream = Stream(images, transforms=[Draw()], batch_size=10, shuffle=True, seed=7, epoch=2)
    batch = next(iter(stream))
    expected = [np.random.default_rng([7, 2, p]).integers(1 << 62) for p in range(10)]
    assert batch['r'].tolist() == expected


def test_batches_from_workers_live_in_shared_memory_and_are_writable(images, shm_root):
    with Stream(images, transforms=[T.Decode('image'), T.ToArray()], batch_size=30,
                workers=2) as stream:
        batch = next(iter(stream))
        assert batch['image'].flags.writeable
        batch['image'][:] = 0
        assert [n for n in os.listdir(shm_root) if n.startswith('datadings-stream-')]
    assert os.listdir(shm_root) == []


def test_shm_root_follows_the_variable(monkeypatch, shm_root):
    assert workers.shm_root() == shm_root


def test_shm_root_defaults_to_dev_shm(monkeypatch):
    monkeypatch.delenv(workers.SHM_DIR_VARIABLE, raising=False)
    assert workers.shm_root() == '/dev/shm'
    monkeypatch.setenv(workers.SHM_DIR_VARIABLE, '')
    assert workers.shm_root() == '/dev/shm'


def _big_task(n=4):
    samples = [{'key': f'k{i}', 'x': np.full((64, 64, 8), i, np.uint8)} for i in range(n)]
    return (0, 7, 0, list(range(n)), samples, True)


def test_full_shared_memory_sends_the_batch_through_the_pipe(tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(os, 'posix_fallocate', full, raising=False)
    kind, batch = workers.run_task(None, _big_task(), str(tmp_path))
    assert kind == 'batch'
    assert batch['key'] == ['k0', 'k1', 'k2', 'k3']
    assert batch['x'].shape == (4, 64, 64, 8) and batch['x'][3].min() == 3
    assert os.listdir(tmp_path) == []  # the half-made file is gone


def test_other_errors_of_shared_memory_are_raised(tmp_path, monkeypatch):
    def broken(fd, offset, length):
        raise OSError(errno.EIO, 'Input/output error')
    monkeypatch.setattr(os, 'posix_fallocate', broken, raising=False)
    with pytest.raises(OSError) as info:
        workers.run_task(None, _big_task(), str(tmp_path))
    assert info.value.errno == errno.EIO
    assert os.listdir(tmp_path) == []


def test_batch_in_shared_memory_has_its_space_reserved(tmp_path):
    result = workers.run_task(None, _big_task(), str(tmp_path))
    assert result[0] == 'shm'
    path, nbytes = result[1], result[2]
    assert os.path.getsize(path) == nbytes
    if hasattr(os, 'posix_fallocate'):
        assert os.stat(path).st_blocks * 512 >= nbytes  # allocated, not sparse
    batch = workers.receive(result)
    assert batch['x'][2].max() == 2 and batch['key'][1] == 'k1'


# ------------------------------------------------------------------ epochs, loop, resumption

def test_loop_runs_epoch_after_epoch_with_full_batches(unbalanced):
    stream = Stream(unbalanced, batch_size=40, shuffle=True, loop=True)
    it = iter(stream)
    got = [next(it) for _ in range(9)]  # 150 samples: 3 full batches per epoch (drop_last)
    assert all(len(b['key']) == 40 for b in got)
    assert [stream.epoch for _ in range(1)] == [2]
    first = keys(got[:3])
    assert len(set(first)) == 120 and keys(got[3:6]) != first


def test_resume_mid_epoch_gives_the_rest(images):
    def make(**kw):
        kw = {'seed': 2, **kw}
        return Stream(images, transforms=augment(), batch_size=8, shuffle=True, epoch=1, **kw)

    full = list(make())
    stream = make()
    it = iter(stream)
    seen = [next(it) for _ in range(3)]
    state = stream.state_dict()
    assert state == {'epoch': 1, 'samples_seen': 24, 'seed': 2}
    state = json.loads(json.dumps(state))
    resumed = make(workers=2, seed=0)  # the seed comes from the state
    resumed.load_state_dict(state)
    rest = list(resumed)
    resumed.close()
    assert keys(seen + rest) == keys(full)
    for x, y in zip(full[3:], rest):
        assert np.array_equal(x['image'], y['image'])
    assert resumed.state_dict() == {'epoch': 2, 'samples_seen': 0, 'seed': 2}


def test_resume_stratified_with_other_rank_count(unbalanced):
    def make(**kw):
        return Stream(unbalanced, batch_size=5, shuffle=True, stratify='label', seed=3, **kw)

    full = keys(make())
    stream = make()
    it = iter(stream)
    head = keys([next(it) for _ in range(4)])
    state = stream.state_dict()
    ranks = [make(rank=r, world_size=2) for r in range(2)]
    for r in ranks:
        r.load_state_dict(state)
    parts = [list(r) for r in ranks]
    interleaved = [b for pair in zip(*parts) for b in pair]
    assert head + keys(interleaved) == full


def test_state_after_the_last_batch_is_the_next_epoch(unbalanced):
    stream = Stream(unbalanced, batch_size=50)
    list(stream)
    assert stream.state_dict() == {'epoch': 1, 'samples_seen': 0, 'seed': 0}
    stream.set_epoch(5)
    assert stream.epoch == 5 and len(list(stream)) == 3


def test_new_iteration_replaces_an_unfinished_one(images):
    stream = Stream(images, transforms=augment(), batch_size=10, workers=2)
    old = iter(stream)
    next(old)
    fresh = list(stream)  # starts where the old one stopped: after batch 0
    assert keys(fresh) == [f'k{i}' for i in range(10, 60)]
    assert list(old) == []
    stream.close()


# ------------------------------------------------------------------ cache

def test_cache_reads_each_sample_from_disk_once(tmp_path):
    path = write_dataset(tmp_path / 'c.msgpack', image_samples(24))
    reader = CountingReader(path)
    stream = Stream(reader, transforms=augment(), batch_size=6, shuffle=True, cache=True)
    first = list(stream)
    assert reader.reads == 24
    second = list(stream)
    third = list(stream)
    assert reader.reads == 24  # no second read from disk
    info = stream.cache_info()
    assert info['samples'] == 24 and info['hits'] == 48 and info['bytes'] > 24 * 500
    assert keys(first) != keys(second) and sorted(keys(third)) == sorted(keys(first))
    # cached samples are not changed by the transforms
    again = Stream(reader, transforms=augment(), batch_size=6, shuffle=True)
    again.set_epoch(2)
    assert all(np.array_equal(x['image'], y['image']) for x, y in zip(third, again))


def test_cache_with_workers_and_stratify_reads_once(tmp_path):
    path = write_dataset(tmp_path / 'c.msgpack', image_samples(24))
    reader = CountingReader(path)
    with Stream(reader, transforms=augment(), batch_size=6, shuffle=True, stratify='label',
                cache=True, workers=2) as stream:
        list(stream)
        list(stream)
    assert reader.reads == 24  # the stratification scan filled the cache


def test_cache_byte_limit(tmp_path):
    path = write_dataset(tmp_path / 'c.msgpack', image_samples(20))
    reader = CountingReader(path)
    one = len(reader.get(0)['image'])
    reader.reads = 0
    stream = Stream(reader, batch_size=5, cache=int(one * 5.5))
    list(stream)
    list(stream)
    info = stream.cache_info()
    assert 2 <= info['samples'] <= 5 and info['bytes'] <= info['limit']
    assert reader.reads == 40 - info['samples']
    assert Stream(reader).cache_info() is None


# ------------------------------------------------------------------ distributed

@pytest.mark.parametrize('drop_last', [False, True])
def test_ranks_get_the_order_dealt_like_torch(unbalanced, drop_last):
    whole = keys(Stream(unbalanced, batch_size=8, shuffle=True, seed=1))
    streams = [Stream(unbalanced, batch_size=8, shuffle=True, seed=1, rank=r, world_size=3,
                      drop_last=drop_last) for r in range(3)]
    parts = [list(s) for s in streams]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(streams[0])
    order = np.array(whole)
    for r, part in enumerate(parts):
        expected = order[deal(150, 0, 8, 3, r, 1, 0, drop_last)].tolist()
        assert keys(part) == expected
    if drop_last:
        assert sum(len(keys(p)) for p in parts) == 144
    else:
        union = set().union(*map(set, map(keys, parts)))
        assert union == set(whole)


def test_rank_from_the_environment(unbalanced, monkeypatch):
    monkeypatch.setenv('RANK', '1')
    monkeypatch.setenv('WORLD_SIZE', '2')
    stream = Stream(unbalanced, batch_size=10)
    assert (stream.rank, stream.world_size) == (1, 2)
    assert next(iter(stream))['key'] == [f'k{i}' for i in range(10, 20)]
    with pytest.raises(ValueError, match='rank must be less than world_size=2'):
        Stream(unbalanced, rank=2)


# ------------------------------------------------------------------ sources

def test_augments_as_sources(unbalanced):
    shuffler = Shuffler(unbalanced, seed=3)
    got = keys(Stream(shuffler, batch_size=10))
    assert got == [f'k{i}' for i in shuffler.epoch_order(0)]
    assert keys(Stream(Range(unbalanced, 5, 25), batch_size=10)) == [f'k{i}' for i in range(5, 25)]
    assert len(keys(Stream(Repeater(Range(unbalanced, 0, 10), 3), batch_size=10))) == 30
    cycled = Stream(Cycler(Range(unbalanced, 0, 10)), batch_size=4)
    assert cycled.loop
    it = iter(cycled)
    assert len(keys([next(it) for _ in range(10)])) == 40
    with pytest.raises(ValueError, match='a Shuffler defines the order itself'):
        Stream(shuffler, shuffle=True)


def test_source_without_random_access_is_refused():
    with pytest.raises(TypeError, match='needs a reader with random access'):
        Stream([{'key': 'a'}])


def test_stratify_field_missing_names_field_and_key(tmp_path):
    samples = plain_samples(5)
    del samples[3]['label']
    with pytest.raises(ValueError, match=r"sample 'k3' \(source 0, index 3\) has no field 'label' "
                                         "to stratify by"):
        Stream(make_reader(tmp_path, samples), stratify='label')


def test_label_offset_needs_the_field(tmp_path):
    samples = plain_samples(4)
    del samples[2]['label']
    stream = Stream(Source(make_reader(tmp_path, samples), label_offset=5), batch_size=2)
    with pytest.raises(ValueError, match="sample 'k2' has no field 'label', which the "
                                         "label_offset of its Source changes"):
        list(stream)


def test_known_labels_skip_the_scan(tmp_path):
    path = write_dataset(tmp_path / 'c.msgpack', plain_samples(20))
    reader = CountingReader(path)
    stream = Stream(Source(reader, labels=[i % 4 for i in range(20)]), stratify='label', batch_size=4)
    assert reader.reads == 0
    assert Counter(x for b in stream for x in b['label'].tolist()) == {0: 5, 1: 5, 2: 5, 3: 5}


# ------------------------------------------------------------------ errors

def test_unknown_transform_is_named(images):
    with pytest.raises(ValueError, match="unknown transform 'Blur'"):
        Stream(images, transforms=[{'Decode': {'field': 'image'}}, {'Blur': {}}])


def test_field_missing_in_a_sample_is_named(images):
    for workers in (0, 2):
        with Stream(images, transforms=[T.Decode('picture')], batch_size=4,
                    workers=workers) as stream:
            with pytest.raises(TransformError, match="picture") as info:
                list(stream)
            assert "'k0'" in str(info.value)


def test_bad_options(images):
    with pytest.raises(ValueError, match='batch_size must be at least 1'):
        Stream(images, batch_size=0)
    with pytest.raises(ValueError, match="parallel must be one of process, thread"):
        Stream(images, parallel='gpu')
    with pytest.raises(ValueError, match='class_weights needs stratify'):
        Stream(images, class_weights={0: 1})
    with pytest.raises(TypeError, match='stratify must be the name of a field'):
        Stream(images, stratify=['label'])
    with pytest.raises(ValueError, match='cache must be True, False or a byte limit'):
        Stream(images, cache='lots')


class Boom:
    def apply(self, sample, rng, annotate=()):
        if sample['key'] == 'k13':
            raise KeyError('boom')
        return sample


class Crash:
    def apply(self, sample, rng, annotate=()):
        if sample['key'] == 'k5':
            os._exit(3)
        return sample


def test_a_dying_worker_is_an_error_and_the_next_iteration_restarts(images):
    with Stream(images, transforms=[Crash()], batch_size=4, workers=2) as stream:
        with pytest.raises(RuntimeError, match=r'stream worker process 1 \(pid \d+\) died '
                                               r'unexpectedly \(exit code 3\)'):
            list(stream)
        stream.set_epoch(0)
        it = iter(stream)
        assert next(it)['key'] == ['k0', 'k1', 'k2', 'k3']


def test_worker_errors_keep_their_type_and_note(images):
    with Stream(images, transforms=[Boom()], batch_size=4, workers=2) as stream:
        with pytest.raises(KeyError, match='boom') as info:
            list(stream)
    if hasattr(info.value, '__notes__'):
        assert "while transforming sample 'k13'" in info.value.__notes__[0]


# ------------------------------------------------------------------ config

def test_from_config_and_load_config(tmp_path, images):
    config = {'transforms': [{'Decode': {'field': 'image'}}, {'Resize': {'size': 12}},
                             {'CenterCrop': {'size': 12}}, 'ToArray'],
              'batch_size': 5, 'shuffle': True, 'seed': 3,
              'sources': [{'path': str(images._path)}]}
    (tmp_path / 'c.json').write_text(json.dumps(config))
    stream = Stream.from_config(load_config(tmp_path / 'c.json'))
    batch = next(iter(stream))
    assert batch['image'].shape == (5, 12, 12, 3)
    pytest.importorskip('yaml')
    (tmp_path / 'c.yaml').write_text('batch_size: 5\nstratify: label\n')
    assert load_config(tmp_path / 'c.yaml') == {'batch_size': 5, 'stratify': 'label'}
    with pytest.raises(ValueError, match="c.yaml: unknown option 'bach_size'"):
        Stream.from_config({'bach_size': 3}, sources=[images], where='c.yaml')
    with pytest.raises(ValueError, match="c.json: batch_size must be at least 1"):
        Stream.from_config({'batch_size': 0}, sources=[images], where='c.json')
    (tmp_path / 'bad.json').write_text('{"batch_size": ')
    with pytest.raises(ValueError, match='bad.json: not valid JSON'):
        load_config(tmp_path / 'bad.json')
    (tmp_path / 'list.json').write_text('[1]')
    with pytest.raises(ValueError, match='must be a mapping of options'):
        load_config(tmp_path / 'list.json')


def test_stream_pickles_without_its_workers(images):
    stream = Stream(images, transforms=augment(), batch_size=10, workers=1)
    expected = list(stream)
    copy = pickle.loads(pickle.dumps(stream))
    copy.set_epoch(0)
    assert all(np.array_equal(x['image'], y['image']) for x, y in zip(expected, copy))
    stream.close()


# ------------------------------------------------------------------ dump

def test_dump_writes_images_and_overlays(tmp_path):
    h, w = 24, 32
    label = np.zeros((h, w), np.uint8)
    label[4:12, 6:20] = 1
    label[14:22, 20:30] = 2
    image = np.zeros((h, w, 3), np.uint8)
    image[label == 1] = (255, 0, 0)
    samples = [{'key': f's{i}', 'image': png(image), 'seg': png(label)} for i in range(6)]
    stream = Stream(make_reader(tmp_path, samples),
                    transforms=[T.Decode('image'), T.Decode('seg'), T.Flip(horizontal=True),
                                T.ToArray('image'), T.ToArray('seg')],
                    annotate=['seg'], batch_size=3, dump=1, dump_dir=tmp_path / 'dump', seed=1)
    batches = list(stream)
    names = sorted(os.listdir(tmp_path / 'dump'))
    assert names == sorted([f'0000_{i:03d}_{f}.png' for i in range(3)
                            for f in ('image', 'seg', 'seg_overlay')] + ['batch_0000.png'])
    with Image.open(tmp_path / 'dump' / '0000_000_image.png') as im:
        assert np.array_equal(np.asarray(im), batches[0]['image'][0])
    with Image.open(tmp_path / 'dump' / '0000_000_seg_overlay.png') as im:
        overlay = np.asarray(im)
    seg = batches[0]['seg'][0]
    assert overlay.shape == (h, w, 3)
    assert np.array_equal(overlay[seg == 0], batches[0]['image'][0][seg == 0])
    assert not np.array_equal(overlay[seg == 2], batches[0]['image'][0][seg == 2])


def test_dump_overlays_rasterized_shapes(tmp_path):
    shapes = json.dumps({'shapes': [{'type': 'rect', 'label': 3,
                                     'geometry': {'x': 0.25, 'y': 0.25, 'width': 0.5, 'height': 0.5}}]})
    rng = np.random.default_rng(0)
    samples = [{'key': f's{i}', 'image': jpeg(rng, 32, 32), 'shapes': shapes} for i in range(2)]
    stream = Stream(make_reader(tmp_path, samples),
                    transforms=[T.Decode('image'), T.Flip(vertical=True),
                                T.Rasterize('shapes', out_field='mask'), T.ToArray()],
                    annotate=['shapes'], batch_size=2, dump=1, dump_dir=tmp_path / 'd')
    batch = next(iter(stream))
    assert batch['mask'].shape == (2, 32, 32) and set(np.unique(batch['mask'])) == {0, 3}
    assert '0000_001_mask_overlay.png' in os.listdir(tmp_path / 'd')


def test_dump_scales_float_images(tmp_path, images):
    stream = Stream(Range(images, 0, 2), transforms=augment() + [T.Normalize(mean=0.5, std=0.2)],
                    batch_size=2, dump=5, dump_dir=tmp_path / 'd')
    list(stream)
    with Image.open(tmp_path / 'd' / '0000_000_image.png') as im:
        pixels = np.asarray(im)
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and pixels.max() == 255


# ------------------------------------------------------------------ torch

def test_stream_imports_without_torch():
    code = ('import sys; sys.modules["torch"] = None\n'
            'from datadings_like.stream import Stream, transforms\n'
            'import datadings_like.stream.stream\n'
            'try:\n    import datadings_like.stream.torch\n'
            'except ImportError as e:\n    print("hint:", e)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'hint: datadings_like.stream.torch needs PyTorch' in out.stdout


def test_torch_adapter_instead_of_a_dataloader(images):
    torch = pytest.importorskip('torch')
    stream = Stream(images, transforms=augment(), batch_size=16, seed=1)
    expected = list(stream)
    stream.set_epoch(0)
    got = list(stream.torch())
    assert isinstance(got[0]['image'], torch.Tensor) and got[0]['image'].dtype == torch.float32
    assert got[0]['key'] == expected[0]['key']
    assert all(np.array_equal(x['image'], y['image'].numpy()) for x, y in zip(expected, got))
    assert got[0]['label'].dtype == torch.int64


@pytest.mark.parametrize('num_workers', [0, 2])
def test_torch_adapter_inside_a_dataloader(images, num_workers):
    torch = pytest.importorskip('torch')
    from torch.utils.data import DataLoader
    stream = Stream(images, transforms=augment(), batch_size=8, shuffle=True, seed=4, workers=2)
    expected = [list(stream) for _ in range(2)]
    dataset = stream.torch()
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers,
                        persistent_workers=bool(num_workers))
    for epoch in range(2):
        dataset.set_epoch(epoch)
        got = list(loader)
        assert [b['key'] for b in got] == [b['key'] for b in expected[epoch]]
        assert all(torch.equal(b['image'], torch.from_numpy(e['image']))
                   for b, e in zip(got, expected[epoch]))
    assert dataset.state_dict(batches_seen=3) == {'epoch': 1, 'samples_seen': 24, 'seed': 4}
    assert len(dataset) == 8
    stream.close()


def test_large_tasks_and_results_through_pipes_do_not_deadlock(tmp_path):
    # tasks and results far larger than a pipe's buffer, several in flight per worker
    rng = np.random.default_rng(0)
    samples = [{'key': f's{i}', 'blob': rng.bytes(300_000), 'image': jpeg(rng)} for i in range(24)]
    reader = make_reader(tmp_path, samples)
    big = [T.Decode('image'), T.Resize([200, 200]), T.ToArray(dtype='float32')]
    expected = list(Stream(reader, transforms=big, batch_size=4))
    for kw in ({'shared_memory': False, 'batch_size': 4}, {'batch_size': None}):
        with Stream(reader, transforms=big, workers=2, prefetch=3, **kw) as stream:
            got = list(stream)
        if kw['batch_size'] is None:
            got = [collate(got[i:i + 4]) for i in range(0, 24, 4)]
        assert all(np.array_equal(x['image'], y['image']) for x, y in zip(expected, got))
        assert all(x['blob'] == y['blob'] for x, y in zip(expected, got))


def test_loop_without_any_batch_is_an_error(unbalanced):
    stream = Stream(Range(unbalanced, 0, 5), batch_size=10, loop=True)
    with pytest.raises(ValueError, match='no batches to loop over'):
        next(iter(stream))
