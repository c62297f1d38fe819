"""Tests for datadings_like.torch (skipped when PyTorch is not installed)."""
from functools import partial
from io import BytesIO
import json
import os
from pathlib import Path
import random
import socket
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip('torch')

from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from datadings_like.reader import Cycler  # noqa: E402
from datadings_like.reader import MsgpackReader  # noqa: E402
from datadings_like.reader import QuasiShuffler  # noqa: E402
from datadings_like.reader import Range  # noqa: E402
from datadings_like.reader import Repeater  # noqa: E402
from datadings_like.reader import ShardedReader  # noqa: E402
from datadings_like.reader import Shuffler  # noqa: E402
from datadings_like.torch import Compose  # noqa: E402
from datadings_like.torch import CompressedToPIL  # noqa: E402
from datadings_like.torch import Dataset  # noqa: E402
from datadings_like.torch import IterableDataset  # noqa: E402
from datadings_like.torch import dict2tuple  # noqa: E402
from datadings_like.torch import no_rng  # noqa: E402
from datadings_like.writer import FileWriter  # noqa: E402

# the machines that run this suite have few cores; torch warns about 3 workers
pytestmark = pytest.mark.filterwarnings('ignore:This DataLoader will create')


def write(path, samples):
    with FileWriter(path, disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    return path


def numbered(n):
    return [{'key': f'{i:05d}', 'label': i} for i in range(n)]


@pytest.fixture
def make_reader(tmp_path):
    def make(n, name='data'):
        return MsgpackReader(write(tmp_path / f'{name}{n}.msgpack', numbered(n)))
    return make


def labels(batch):
    return batch['label'].tolist()


def global_order(per_rank):
    """Interleave the batches of all ranks like the training loop sees them:
    step k takes batch k of rank 0, 1, ..."""
    assert len({len(b) for b in per_rank}) == 1, 'ranks got different batch counts'
    out = []
    for step in zip(*per_rank):
        for batch in step:
            out.extend(batch)
    return out


def run_ranks(ds_factory, world_size, num_workers, batch_size, epoch=None, limit=None):
    """Iterate one epoch on each of ``world_size`` simulated ranks, each with
    a real DataLoader; returns the list of batches (label lists) per rank."""
    per_rank = []
    for rank in range(world_size):
        ds = ds_factory()
        ds.rank, ds.world_size = rank, world_size
        if epoch is not None:
            ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers)
        batches = []
        for batch in loader:
            batches.append(labels(batch))
            if limit is not None and len(batches) == limit:
                break
        per_rank.append(batches)
    return per_rank


# ---------------------------------------------------------------- Compose

def add(v, number):
    return v + number


def sub(x, value):
    return x - value


def scale(v, factor=2):
    return v * factor


def test_compose_passes_named_parameters():
    params = {'number': 5, 'value': 2, 'unused': 0}
    assert Compose(add)(1, params) == 6
    assert Compose(sub)(1, params) == -1
    assert Compose((add, sub))(1, params) == 4
    assert Compose(add, sub)(1, params) == 4
    assert Compose([add, sub]).param_names == [('number',), ('value',)]


def test_compose_prefix():
    c = Compose(add, prefix='mask_')
    assert c.param_names == [('mask_number',)]
    assert c(1, {'mask_number': 3, 'number': 100}) == 4


def test_compose_defaults_are_optional():
    assert Compose(scale)(3, {}) == 6
    assert Compose(scale)(3, {'factor': 10}) == 30
    assert Compose(scale)(3) == 6


def test_compose_partial_constant_and_override():
    c = Compose(partial(add, number=7))
    assert c(1, {}) == 8
    assert c(1, {'number': 1}) == 2  # the rng dict wins over the bound default
    assert Compose(partial(sub, value=1))(5, {}) == 4


def test_compose_callable_object_skips_self():
    class Shift:
        def __call__(self, v, amount):
            return v + amount

    c = Compose(Shift())
    assert c.param_names == [('amount',)]
    assert c(1, {'amount': 2}) == 3


def test_compose_varargs_only_gets_value_and_warns():
    class Opaque:
        def __call__(self, *args):
            assert len(args) == 1
            return args[0] * 2

    with pytest.warns(UserWarning, match='only accepts varargs'):
        c = Compose(Opaque())
    assert c(4, {'anything': 1}) == 8


def test_compose_positional_only_and_keyword_only():
    def f(v, a, /, b=1, *, c):
        return (v, a, b, c)

    assert Compose(f)(0, {'a': 1, 'c': 3}) == (0, 1, 1, 3)
    assert Compose(f)(0, {'a': 1, 'b': 2, 'c': 3}) == (0, 1, 2, 3)


def test_compose_missing_parameter_names_function_and_parameter():
    c = Compose(add, sub)
    with pytest.raises(KeyError, match=r"sub.*'value'"):
        c(1, {'number': 1})
    with pytest.raises(KeyError, match=r"add.*'mask_number'"):
        Compose(add, prefix='mask_')(1, {'number': 1})


def test_compose_nested_gets_whole_dict():
    inner = Compose(sub, prefix='i_')
    c = Compose(add, inner)
    assert c(0, {'number': 5, 'i_value': 1}) == 4


def test_compose_rejects_bad_transforms():
    with pytest.raises(TypeError):
        Compose(add, 3)
    with pytest.raises(TypeError):
        Compose(3)
    with pytest.raises(ValueError, match='first'):
        Compose(lambda: 1)

    def kwonly(*, v):
        return v
    with pytest.raises(ValueError, match='first'):
        Compose(kwonly)


def test_compose_unreadable_signature_falls_back_to_value():
    class Weird:
        __signature__ = 'not a signature'

        def __call__(self, v):
            return -v

    with pytest.warns(UserWarning, match='cannot read the signature'):
        c = Compose(Weird())
    assert c(3, {'x': 1}) == -3
    assert Compose(abs)(-3, {}) == 3  # builtins with a signature work


# ---------------------------------------------------------------- helpers

def test_no_rng_and_dict2tuple():
    assert no_rng({'a': 1}) == {}
    samples = [{'image': i, 'label': -i, 'x': 0} for i in range(3)]
    assert list(dict2tuple(samples)) == [(0, 0), (1, -1), (2, -2)]
    assert list(dict2tuple(samples, keys=('x', 'image'))) == [(0, 0), (0, 1), (0, 2)]


def encode(img, fmt):
    buf = BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize('fmt,mode', [('JPEG', 'RGB'), ('JPEG', 'L'), ('PNG', 'RGBA'),
                                      ('PNG', 'P'), ('BMP', 'RGB'), ('GIF', 'P')])
def test_compressed_to_pil(fmt, mode):
    img = Image.new(mode, (7, 5), color=200 if mode in ('L', 'P') else None)
    data = encode(img, fmt)
    t = CompressedToPIL()
    for buf in (data, bytearray(data), memoryview(data)):
        out = t(buf)
        assert isinstance(out, Image.Image)
        assert out.mode == 'RGB'
        assert out.size == (7, 5)
    assert repr(t) == 'CompressedToPIL()'


def test_compressed_to_pil_garbage():
    with pytest.raises(OSError):
        CompressedToPIL()(b'not an image')


def test_compressed_to_pil_from_dataset(tmp_path):
    red = encode(Image.new('RGB', (4, 3), (255, 0, 0)), 'PNG')
    reader = MsgpackReader(write(tmp_path / 'img.msgpack', [{'key': 'a', 'image': red, 'label': 1}]))
    for copy in (True, False):
        ds = IterableDataset(reader, transforms={'image': Compose(CompressedToPIL())}, copy=copy)
        (sample,) = list(ds)
        assert sample['image'].getpixel((0, 0)) == (255, 0, 0)


# ------------------------------------------------------------- Dataset

def test_dataset_manual_example(tmp_path):
    samples = [{'key': str(i), 'a': 0, 'b': 0, 'c': 0} for i in range(10)]
    reader = MsgpackReader(write(tmp_path / 'abc.msgpack', samples))
    drawn = []

    def rng(sample):
        params = {'number': random.randrange(1, 10), 'value': random.randrange(1, 10)}
        drawn.append(params)
        return params

    transforms = {'a': Compose(add), 'b': Compose(sub), 'c': Compose((add, sub))}
    ds = Dataset(reader, transforms=transforms, rng=rng)
    assert len(ds) == 10
    for i in range(len(ds)):
        s = ds[i]
        p = drawn[-1]
        assert (s['a'], s['b'], s['c']) == (p['number'], -p['value'], p['number'] - p['value'])
        assert s['key'] == str(i)


def test_dataset_callable_transform_and_errors(make_reader):
    reader = make_reader(5)
    ds = Dataset(reader, transforms=lambda s: {'y': s['label'] * 2})
    assert ds[-1] == {'y': 8}
    with pytest.warns(UserWarning, match='rng'):
        Dataset(reader, transforms=lambda s: s, rng=no_rng)
    with pytest.raises(TypeError):
        Dataset(reader, transforms=3)
    with pytest.raises(KeyError, match='image'):
        Dataset(reader, transforms={'image': Compose(add)})[0]
    with pytest.raises(IndexError):
        Dataset(reader)[5]
    with pytest.raises(TypeError, match='random access'):
        Dataset(Shuffler(reader))


@pytest.mark.parametrize('num_workers', [0, 2])
def test_dataset_with_shuffling_dataloader(make_reader, num_workers):
    reader = make_reader(50)
    ds = Dataset(reader, transforms={'label': Compose(scale)})
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=num_workers)
    got = [v for batch in loader for v in labels(batch)]
    assert sorted(got) == [2 * i for i in range(50)]


def test_dataset_getitems(make_reader, tmp_path):
    reader = make_reader(20)
    ds = Dataset(reader)
    assert [s['label'] for s in ds.__getitems__([3, 0, 19, -1])] == [3, 0, 19, 19]
    assert ds.__getitems__([]) == []
    with pytest.raises(IndexError):
        ds.__getitems__([1, 20])
    # readers without a batched read path
    sharded = ShardedReader([reader, make_reader(5, 'other')])
    assert [s['label'] for s in Dataset(sharded).__getitems__([24, 0])] == [4, 0]


# ------------------------------------------------------- IterableDataset

def test_iterable_plain_iteration_and_transforms(make_reader):
    reader = make_reader(10)
    ds = IterableDataset(reader, transforms={'label': Compose(add)}, rng=lambda s: {'number': 100})
    assert [s['label'] for s in ds] == list(range(100, 110))
    assert len(ds) == 10
    ds = IterableDataset(reader, transforms=lambda s: s['label'])
    assert list(ds) == list(range(10))


@pytest.mark.parametrize('shuffle', [False, True])
def test_epoch_order_independent_of_workers_and_ranks(make_reader, shuffle):
    n, bs = 37, 4
    reader = make_reader(n)
    orders = {}
    for world_size, num_workers in [(1, 0), (1, 2), (1, 3), (2, 0), (2, 3), (3, 2)]:
        per_rank = run_ranks(
            lambda: IterableDataset(reader, batch_size=bs, shuffle=shuffle, seed=3),
            world_size, num_workers, bs, epoch=1,
        )
        order = global_order(per_rank)
        # every sample exactly once, then fewer than world_size pads that
        # repeat the start of the epoch's order
        assert sorted(order[:n]) == list(range(n))
        assert order[n:] == order[:len(order) - n]
        assert len(order) - n < world_size
        # every batch but each rank's last is full
        for batches in per_rank:
            assert all(len(b) == bs for b in batches[:-1])
        orders[world_size, num_workers] = order[:n]
    assert len({tuple(o) for o in orders.values()}) == 1
    if not shuffle:
        assert orders[1, 0] == list(range(n))
    else:
        assert orders[1, 0] != list(range(n))


def test_drop_last(make_reader):
    n, bs = 37, 4
    reader = make_reader(n)
    full = global_order(run_ranks(lambda: IterableDataset(reader, batch_size=bs, shuffle=True),
                                  1, 0, bs))
    for world_size, num_workers in [(1, 2), (2, 3), (3, 0)]:
        per_rank = run_ranks(
            lambda: IterableDataset(reader, batch_size=bs, shuffle=True, drop_last=True),
            world_size, num_workers, bs,
        )
        order = global_order(per_rank)
        kept = n // (bs * world_size) * bs * world_size
        assert order == full[:kept]
        assert all(len(b) == bs for batches in per_rank for b in batches)


def test_equal_batch_counts_and_len(make_reader):
    for n in (0, 1, 5, 17, 40):
        reader = make_reader(n)
        for world_size in (1, 2, 3):
            for drop_last in (False, True):
                def factory():
                    return IterableDataset(reader, batch_size=4, drop_last=drop_last)
                per_rank = run_ranks(factory, world_size, 2, 4)
                counts = {len(b) for b in per_rank}
                assert len(counts) == 1, (n, world_size, drop_last)
                ds = factory()
                ds.world_size = world_size
                loader = DataLoader(ds, batch_size=4)
                assert len(loader) == len(per_rank[0])
                assert len(ds) == sum(map(len, per_rank[0]))


def test_batch_size_none_deals_single_samples(make_reader):
    n = 11
    reader = make_reader(n)
    per_rank = run_ranks(lambda: IterableDataset(reader, shuffle=True), 3, 0, 2)
    order = global_order(per_rank)
    assert sorted(order[:n]) == list(range(n))
    assert len(order) == 12
    # with one worker per rank, step k of the loaders (any batch size)
    # covers samples k*bs*world_size ... of the epoch's order
    ref = global_order(run_ranks(lambda: IterableDataset(reader, shuffle=True), 1, 0, 1))
    ref += ref[:1]  # the pad
    assert sorted(order) == sorted(ref)
    for k in range(2):
        step = [v for batches in per_rank for v in batches[k]]
        assert sorted(step) == sorted(ref[k * 6:(k + 1) * 6])


def test_reproducible_and_varies(make_reader):
    reader = make_reader(30)

    def epoch_order(seed, epoch, num_workers=0):
        ds = IterableDataset(reader, batch_size=5, shuffle=True, seed=seed)
        ds.set_epoch(epoch)
        return [v for b in DataLoader(ds, batch_size=5, num_workers=num_workers) for v in labels(b)]

    a = epoch_order(0, 0)
    assert a == epoch_order(0, 0, num_workers=2)
    assert a != epoch_order(0, 1)
    assert a != epoch_order(1, 0)
    assert sorted(a) == list(range(30))
    ds = IterableDataset(reader, batch_size=5, shuffle=True, epoch=1)
    assert [s['label'] for s in ds] == epoch_order(0, 1)


def test_persistent_workers_follow_set_epoch_and_advance(make_reader):
    reader = make_reader(24)

    def order(epoch):
        ds = IterableDataset(reader, batch_size=4, shuffle=True, seed=9, epoch=epoch)
        return [s['label'] for s in ds]

    ds = IterableDataset(reader, batch_size=4, shuffle=True, seed=9)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)

    def run():
        return [v for b in loader for v in labels(b)]

    # without set_epoch the epoch advances (as in the reference)
    assert run() == order(0)
    assert ds.epoch == 0
    assert run() == order(1)
    assert ds.epoch == 1
    # set_epoch reaches the persistent workers
    ds.set_epoch(5)
    assert ds.epoch == 5
    assert run() == order(5)
    ds.set_epoch(5)
    assert run() == order(5)
    assert run() == order(6)
    # and the main process (num_workers=0) advances too
    ds0 = IterableDataset(reader, batch_size=4, shuffle=True, seed=9)
    assert [list(s['label'] for s in ds0) for _ in range(2)] == [order(0), order(1)]


@pytest.mark.parametrize('before,after', [(2, 3), (0, 2), (3, 0)])
def test_resume_with_different_worker_count(make_reader, before, after):
    n, bs, k = 50, 4, 5
    reader = make_reader(n)

    def dataset():
        return IterableDataset(reader, batch_size=bs, shuffle=True, seed=11)

    ds = dataset()
    ds.set_epoch(2)
    full = [v for b in DataLoader(ds, batch_size=bs) for v in labels(b)]
    ds = dataset()
    ds.set_epoch(2)
    first = []
    for i, batch in enumerate(DataLoader(ds, batch_size=bs, num_workers=before)):
        first.extend(labels(batch))
        if i + 1 == k:
            break
    state = ds.state_dict((i + 1) * bs)
    assert state == {'epoch': 2, 'samples_seen': k * bs, 'seed': 11}
    state = json.loads(json.dumps(state))  # checkpoints go through files

    ds = IterableDataset(reader, batch_size=bs, shuffle=True, seed=0)
    ds.load_state_dict(state)
    assert ds.seed == 11
    ds.set_epoch(2)  # the usual set_epoch keeps the loaded position
    loader = DataLoader(ds, batch_size=bs, num_workers=after)
    assert len(loader) == -(-(n - k * bs) // bs)
    rest = [v for b in loader for v in labels(b)]
    assert first + rest == full
    # continue counting from the resumption; the epoch is then complete
    assert ds.state_dict(len(rest)) == {'epoch': 3, 'samples_seen': 0, 'seed': 11}
    assert ds.state_dict(n, from_beginning=True)['epoch'] == 3
    # the next iteration is the whole next epoch
    assert len(ds) == n
    assert sorted(s['label'] for s in ds) == list(range(n))
    assert ds.epoch == 3


def test_resume_with_different_rank_count(make_reader):
    n, bs = 45, 3
    reader = make_reader(n)

    def dataset():
        return IterableDataset(reader, batch_size=bs, shuffle=True, seed=4)

    full = global_order(run_ranks(dataset, 1, 0, bs))
    # 2 ranks run 4 steps, then the job restarts with 3 ranks and 2 workers
    per_rank = run_ranks(dataset, 2, 2, bs, limit=4)
    first = global_order(per_rank)
    ds = dataset()
    ds.world_size = 2
    state = ds.state_dict(4 * bs * 2)
    assert state['samples_seen'] == len(first) == 24

    def resumed():
        ds = dataset()
        ds.load_state_dict(state)
        return ds
    per_rank = run_ranks(resumed, 3, 2, bs)
    rest = global_order(per_rank)
    assert first + rest[:n - len(first)] == full
    assert len(rest) - (n - len(first)) < 3


def test_load_state_dict_reaches_persistent_workers(make_reader):
    reader = make_reader(30)
    ds = IterableDataset(reader, batch_size=4, shuffle=True)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    ds.set_epoch(1)
    full = [v for b in loader for v in labels(b)]
    ds.load_state_dict({'epoch': 1, 'samples_seen': 12, 'seed': 0})
    assert len(ds) == 18
    assert [v for b in loader for v in labels(b)] == full[12:]
    # set_epoch for another epoch discards a loaded position
    ds.load_state_dict({'epoch': 1, 'samples_seen': 12, 'seed': 0})
    ds.set_epoch(0)
    assert len(ds) == 30
    assert sorted(v for b in loader for v in labels(b)) == list(range(30))


def test_state_dict_details(make_reader):
    reader = make_reader(20)
    ds = IterableDataset(reader, batch_size=4, epoch=3, seed=2)
    assert ds.state_dict() == {'epoch': 3, 'samples_seen': 0, 'seed': 2}
    assert ds.state_dict(8) == {'epoch': 3, 'samples_seen': 8, 'seed': 2}
    assert ds.state_dict(1000) == {'epoch': 4, 'samples_seen': 0, 'seed': 2}
    with pytest.raises(ValueError):
        ds.state_dict(-1)
    with pytest.raises(ValueError):
        ds.load_state_dict({'epoch': -1, 'samples_seen': 0, 'seed': 0})
    with pytest.raises(KeyError):
        ds.load_state_dict({'epoch': 0})
    # resuming past the end: the epoch has nothing left
    ds.load_state_dict({'epoch': 0, 'samples_seen': 25, 'seed': 2})
    assert list(ds) == []
    # drop_last: a finished epoch is one whose rest would be dropped
    ds = IterableDataset(reader, batch_size=4, drop_last=True)
    ds.world_size = 3
    assert ds.state_dict(12) == {'epoch': 1, 'samples_seen': 0, 'seed': 0}
    ds.epoch = 7
    assert ds.epoch == 7


def test_bad_arguments(make_reader):
    reader = make_reader(5)
    for kwargs in (dict(batch_size=0), dict(chunk_size=0), dict(seed=-1), dict(epoch=-1),
                   dict(batch_size=2.5)):
        with pytest.raises(ValueError):
            IterableDataset(reader, **kwargs)
    with pytest.raises(TypeError, match='Cycler'):
        IterableDataset(Cycler(reader))
    with pytest.raises(TypeError):
        IterableDataset(Repeater(reader, 2))
    with pytest.raises(ValueError, match='already'):
        IterableDataset(Shuffler(reader), shuffle=True)


@pytest.mark.parametrize('make_aug', [
    lambda r: Shuffler(r),
    lambda r: Shuffler(r, seed=5),
    lambda r: QuasiShuffler(r, buf_size=8, chunk_size=4),
])
def test_shuffler_wrapped_reader(make_reader, make_aug):
    n = 29
    reader = make_reader(n)
    # the shuffler's own passes define the epochs' orders
    passes = make_aug(make_reader(n, 'copy'))
    expected = [[s['label'] for s in passes] for _ in range(2)]
    assert expected[0] != expected[1]
    for epoch in range(2):
        per_rank = run_ranks(lambda: IterableDataset(make_aug(reader), batch_size=3),
                             2, 2, 3, epoch=epoch)
        assert global_order(per_rank)[:n] == expected[epoch]


def test_range_reader(make_reader):
    reader = make_reader(30)
    ds = IterableDataset(Range(reader, 5, 17), batch_size=4)
    assert [v for b in DataLoader(ds, batch_size=4, num_workers=2) for v in labels(b)] \
        == list(range(5, 17))
    ds = IterableDataset(Range(reader, 5, 17), batch_size=4, shuffle=True)
    assert sorted(s['label'] for s in ds) == list(range(5, 17))


def test_rng_transforms_in_workers(make_reader):
    reader = make_reader(16)

    ds = IterableDataset(
        reader,
        transforms={'label': Compose(add, scale)},
        rng=_rng_number,
        batch_size=4,
    )
    got = {}
    for batch in DataLoader(ds, batch_size=4, num_workers=2):
        for key, value in zip(batch['key'], labels(batch)):
            got[key] = value
    assert sorted(got) == [f'{i:05d}' for i in range(16)]
    assert all((v // 2 - int(k)) == 1000 for k, v in got.items())


def _rng_number(sample):
    return {'number': 1000}


def test_generic_reader_without_gather(make_reader):
    sharded = ShardedReader([make_reader(7), make_reader(6, 'b')])
    ds = IterableDataset(sharded, batch_size=2, shuffle=True)
    assert sorted(s['label'] for s in ds) == sorted(list(range(7)) + list(range(6)))


# -------------------------------------------------------- without torch

def test_import_without_torch_explains_install():
    code = textwrap.dedent('''
        import sys
        sys.modules['torch'] = None  # makes "import torch" fail
        import datadings_like, datadings_like.reader  # fine without torch
        try:
            import datadings_like.torch
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit('no ImportError')
    ''')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert 'pip install' in proc.stdout
    assert "pip install '.[torch]'" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


# ------------------------------------------------- two-process gloo group

RANK_SCRIPT = '''
import json
import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from datadings_like.reader import MsgpackReader
from datadings_like.torch import IterableDataset

path, out, state = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dist.init_process_group('gloo', timeout=timedelta(seconds=30))
world_size = dist.get_world_size()
ds = IterableDataset(MsgpackReader(path), batch_size=4, shuffle=True, seed=7,
                     transforms=lambda s: s['label'])
assert (ds.rank, ds.world_size) == (dist.get_rank(), world_size)
loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)


def run():
    batches = []
    for batch in loader:
        # stand-in for DDP's gradient all-reduce: deadlocks if ranks
        # disagree on the number of batches
        t = torch.ones(1)
        dist.all_reduce(t)
        assert t.item() == world_size
        batches.append(batch.tolist())
    return batches


result = {'epochs': []}
for epoch in range(2):
    ds.set_epoch(epoch)
    result['epochs'].append(run())
ds.load_state_dict(state)
ds.set_epoch(state['epoch'])
result['resumed'] = run()
result['after'] = ds.state_dict(len(result['resumed']) * 4 * world_size)
dist.barrier()
dist.destroy_process_group()
with open(out, 'w') as f:
    json.dump(result, f)
'''


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_gloo_group(make_reader, tmp_path):
    if not torch.distributed.is_available():
        pytest.skip('torch.distributed is not available')
    n, bs = 37, 4
    reader = make_reader(n)

    def single(epoch, **kwargs):
        ds = IterableDataset(reader, batch_size=bs, shuffle=True, seed=7)
        ds.set_epoch(epoch)
        return [v for b in DataLoader(ds, batch_size=bs, **kwargs) for v in labels(b)]

    # single process, 3 workers: 3 batches of epoch 1, then checkpoint
    ds = IterableDataset(reader, batch_size=bs, shuffle=True, seed=7)
    ds.set_epoch(1)
    first = []
    for i, batch in enumerate(DataLoader(ds, batch_size=bs, num_workers=3)):
        first.extend(labels(batch))
        if i == 2:
            break
    state = ds.state_dict(3 * bs)

    script = tmp_path / 'rank.py'
    script.write_text(RANK_SCRIPT)
    env = dict(os.environ, MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
               WORLD_SIZE='2', PYTHONWARNINGS='ignore')
    if Path('/sys/class/net/lo').exists():
        env.setdefault('GLOO_SOCKET_IFNAME', 'lo')
    procs = []
    outs = []
    try:
        for rank in range(2):
            out = tmp_path / f'rank{rank}.json'
            outs.append(out)
            procs.append(subprocess.Popen(
                [sys.executable, str(script), str(reader.path), str(out), json.dumps(state)],
                env=dict(env, RANK=str(rank)),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))
        logs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log
    results = [json.loads(out.read_text()) for out in outs]

    for epoch in range(2):
        per_rank = [r['epochs'][epoch] for r in results]
        order = global_order(per_rank)  # also checks equal batch counts
        assert sorted(order[:n]) == list(range(n))
        assert order[n:] == order[:len(order) - n]
        # identical to the order a single process sees
        assert order[:n] == single(epoch)
    assert results[0]['epochs'][0] != results[0]['epochs'][1]

    rest = global_order([r['resumed'] for r in results])
    assert first + rest[:n - len(first)] == single(1)
    assert all(r['after'] == {'epoch': 2, 'samples_seen': 0, 'seed': 7} for r in results)


def test_docs_examples_run(tmp_path, monkeypatch):
    """The code blocks of docs/extra/torch.rst run as written."""
    doc = Path(__file__).resolve().parents[1] / 'docs' / 'extra' / 'torch.rst'
    if not doc.exists():
        pytest.skip('docs not found')
    blocks = []
    lines = doc.read_text(encoding='utf-8').splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == '.. code-block:: python':
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith('    ')):
                block.append(lines[i][4:])
                i += 1
            blocks.append('\n'.join(block))
        else:
            i += 1
    assert blocks
    monkeypatch.chdir(tmp_path)
    script = tmp_path / 'doc_example.py'
    script.write_text('\n\n'.join(blocks))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deal_properties():
    """The dealing scheme on its own, over many configurations."""
    from datadings_like.torch import _deal
    for n in (0, 1, 7, 24, 25):
        for block in (1, 3, 4):
            for world_size in (1, 2, 3):
                for num_workers in (1, 2, 3):
                    for start in (0, 5, n):
                        for drop_last in (False, True):
                            per_rank = []
                            for rank in range(world_size):
                                streams = [_deal(n, start, block, world_size, rank,
                                                 num_workers, w, drop_last).tolist()
                                           for w in range(num_workers)]
                                # loader: batches round-robin over workers
                                batches = []
                                chunks = [[s[i:i + block] for i in range(0, len(s), block)]
                                          for s in streams]
                                for k in range(max(map(len, chunks))):
                                    for c in chunks:
                                        if k < len(c):
                                            batches.append(c[k])
                                per_rank.append(batches)
                            order = global_order(per_rank)
                            rest = max(0, n - start)
                            if drop_last:
                                kept = rest // (block * world_size) * block * world_size
                                assert order == list(range(start, start + kept))
                            else:
                                assert order[:rest] == list(range(start, n))
                                pad = order[rest:]
                                assert len(pad) < world_size
                                assert pad == [i % n for i in range(len(pad))]
