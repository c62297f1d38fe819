"""datadings_like.parallel: shards written by tasks, here and on a real Dask LocalCluster."""
from functools import partial
import hashlib
import os
import signal
import sys

import numpy as np
import pytest

from datadings_like.parallel import SHARD_LIST_SUFFIX
from datadings_like.parallel import ShardTaskError
from datadings_like.parallel import Skipped
from datadings_like.parallel import read_shard_list
from datadings_like.parallel import write_shards
from datadings_like.reader import MsgpackReader
from datadings_like.reader import ShardedReader
from datadings_like.tools.extras import MissingExtraError

distributed = pytest.importorskip('distributed')
cloudpickle = pytest.importorskip('cloudpickle')
# the task functions below are sent to the workers by value: the workers
# cannot import this test module
cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope='module')
def cluster():
    """One LocalCluster of 2 worker processes for the whole module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host='127.0.0.1', dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield cluster, client


# ------------------------------------------------------------- task helpers

def numbers(task):
    """Samples ``k{i}`` for i in the range of the task."""
    start, stop = task
    for i in range(start, stop):
        yield {'key': f'k{i:03d}', 'value': i, 'data': bytes([i % 256]) * (i % 7)}


def skipping(task):
    for sample in numbers(task):
        if sample['value'] % 5 == 0:
            yield Skipped(f'{sample["key"]}: multiple of 5')
        else:
            yield sample


def raise_once(task, marker):
    """Task (10, 20) raises the first time, after writing some samples."""
    for sample in numbers(task):
        if task[0] == 10 and sample['value'] == 15 and not os.path.exists(marker):
            open(marker, 'w').close()
            raise RuntimeError('disk on fire')
        yield sample


def killed_once(task, marker):
    """The worker running task (10, 20) is killed the first time, mid-task."""
    for sample in numbers(task):
        if task[0] == 10 and sample['value'] == 15 and not os.path.exists(marker):
            open(marker, 'w').close()
            os.kill(os.getpid(), signal.SIGKILL)
        yield sample


TASKS = [(0, 10), (10, 20), (20, 26), (26, 40)]


def keys(outdir, name='train'):
    with ShardedReader(read_shard_list(os.path.join(outdir, name + SHARD_LIST_SUFFIX))) as r:
        return [s['key'] for s in r]


def digests(outdir):
    """MD5 of every file of the output (hidden files too)."""
    return {name: hashlib.md5((outdir / name).read_bytes()).hexdigest()
            for name in sorted(os.listdir(outdir)) if (outdir / name).is_file()}


def stats(outdir):
    return {name: (st.st_ino, st.st_mtime_ns) for name in os.listdir(outdir)
            for st in [os.stat(outdir / name)]}


# --------------------------------------------------------------------- tests

def test_local_path_writes_one_shard_per_task(tmp_path):
    paths = write_shards(TASKS, numbers, tmp_path, quiet=True)
    assert [os.path.basename(p) for p in paths] == [
        f'train-0000{i}-of-00004.msgpack' for i in range(4)]
    assert [len(MsgpackReader(p)) for p in paths] == [10, 10, 6, 14]
    assert keys(tmp_path) == [f'k{i:03d}' for i in range(40)]
    assert (tmp_path / 'train.shards').read_text() == ''.join(
        os.path.basename(p) + '\n' for p in paths)
    # the glob of the shard names reads the same, and nothing else is left
    assert [s['key'] for s in ShardedReader(str(tmp_path / 'train-*-of-*.msgpack'))] == \
        keys(tmp_path)
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.')]


def test_dask_gives_the_same_shards_byte_for_byte(cluster, tmp_path):
    _, client = cluster
    write_shards(TASKS, numbers, tmp_path / 'here', quiet=True)
    write_shards(TASKS, numbers, tmp_path / 'dask', client=client, quiet=True)
    assert digests(tmp_path / 'here') == digests(tmp_path / 'dask')
    # a LocalCluster of one worker, started by its address ('local:1')
    write_shards(TASKS, numbers, tmp_path / 'one', scheduler='local:1', quiet=True)
    assert digests(tmp_path / 'one') == digests(tmp_path / 'here')


def test_scheduler_address(cluster, tmp_path):
    local, _ = cluster
    write_shards(TASKS, skipping, tmp_path, scheduler=local.scheduler_address, quiet=True)
    assert keys(tmp_path) == [f'k{i:03d}' for i in range(40) if i % 5]


def test_skipped_items_are_reported(tmp_path, capsys):
    write_shards(TASKS, skipping, tmp_path)
    err = capsys.readouterr().err
    assert 'skipped 8 items' in err and 'k015: multiple of 5' in err
    assert '4/4 shards' in err and 'samples/s' in err


def test_global_shuffle_depends_only_on_the_seed(cluster, tmp_path):
    _, client = cluster
    expected = [f'k{i:03d}' for i in np.random.default_rng(7).permutation(40)]
    other_cut = [(0, 3), (3, 30), (30, 40)]
    write_shards(TASKS, numbers, tmp_path / 'a', shuffle=True, seed=7, quiet=True)
    write_shards(other_cut, numbers, tmp_path / 'b', shuffle=True, seed=7, shards=4,
                 quiet=True)
    write_shards(TASKS, numbers, tmp_path / 'c', shuffle=True, seed=7, client=client,
                 quiet=True)
    assert keys(tmp_path / 'a') == expected
    assert digests(tmp_path / 'a') == digests(tmp_path / 'b') == digests(tmp_path / 'c')
    # a permutation across shards: every shard has samples of many tasks
    shards = [[s['value'] for s in MsgpackReader(p)]
              for p in read_shard_list(tmp_path / 'a' / 'train.shards')]
    assert [len(s) for s in shards] == [10, 10, 10, 10]
    assert all(len({v // 10 for v in shard}) >= 3 for shard in shards)
    write_shards(TASKS, numbers, tmp_path / 'd', shuffle=True, seed=8, quiet=True)
    assert keys(tmp_path / 'd') != expected and sorted(keys(tmp_path / 'd')) == sorted(expected)
    assert not (tmp_path / 'a' / '.train.shuffle').exists()


def test_task_that_raises_once_is_redone_alone(cluster, tmp_path):
    _, client = cluster
    out = tmp_path / 'out'
    fn = partial(raise_once, marker=str(tmp_path / 'marker'))
    with pytest.raises(ShardTaskError) as info:
        write_shards(TASKS, fn, out, client=client, quiet=True)
    message = str(info.value)
    assert 'task 1 ((10, 20))' in message and 'RuntimeError: disk on fire' in message
    assert [f[0] for f in info.value.failures] == [1]
    names = os.listdir(out)
    # no partial shard: the failed one is absent, temporary files are gone
    assert 'train-00001-of-00004.msgpack' not in names and 'train.shards' not in names
    assert not [n for n in names if '.tmp' in n]
    assert {'train-00000-of-00004.msgpack', 'train-00002-of-00004.msgpack',
            'train-00003-of-00004.msgpack', '.train.parallel'} <= set(names)
    before = stats(out)
    write_shards(TASKS, fn, out, client=client, quiet=True)
    after = stats(out)
    for i in (0, 2, 3):  # not written again
        name = f'train-0000{i}-of-00004.msgpack'
        assert after[name] == before[name]
    assert keys(out) == [f'k{i:03d}' for i in range(40)]
    assert not [n for n in os.listdir(out) if n.startswith('.')]
    write_shards(TASKS, numbers, tmp_path / 'ref', quiet=True)
    assert digests(out) == digests(tmp_path / 'ref')


def test_worker_killed_mid_task_leaves_no_partial_shard(cluster, tmp_path):
    _, client = cluster
    out = tmp_path / 'out'
    fn = partial(killed_once, marker=str(tmp_path / 'marker'))
    # Dask runs the task of the killed worker again on another worker
    write_shards(TASKS, fn, out, client=client, quiet=True)
    assert (tmp_path / 'marker').exists()
    assert keys(out) == [f'k{i:03d}' for i in range(40)]
    write_shards(TASKS, numbers, tmp_path / 'ref', quiet=True)
    assert digests(out) == digests(tmp_path / 'ref')
    client.wait_for_workers(2, timeout=60)


def test_interrupted_shuffle_goes_on(tmp_path):
    out = tmp_path / 'out'
    fn = partial(raise_once, marker=str(tmp_path / 'marker'))
    with pytest.raises(ShardTaskError):
        write_shards(TASKS, fn, out, shuffle=True, quiet=True)  # a random seed, kept
    assert not [n for n in os.listdir(out) if n.endswith('.msgpack')]
    parts = sorted(os.listdir(out / '.train.shuffle'))
    assert 'part-00001-of-00004.msgpack' not in parts and 'part-00000-of-00004.msgpack' in parts
    write_shards(TASKS, fn, out, shuffle=True, quiet=True)
    assert sorted(keys(out)) == [f'k{i:03d}' for i in range(40)]
    assert keys(out) != sorted(keys(out))
    assert not [n for n in os.listdir(out) if n.startswith('.')]


def test_other_job_is_replaced_only_when_allowed(tmp_path):
    write_shards(TASKS, numbers, tmp_path, quiet=True)
    with pytest.raises(FileExistsError, match='train-00000-of-00004.msgpack'):
        write_shards(TASKS[:2], numbers, tmp_path, quiet=True)
    write_shards(TASKS[:2], numbers, tmp_path, quiet=True, overwrite=True)
    assert sorted(n for n in os.listdir(tmp_path) if n.endswith('.msgpack')) == [
        'train-00000-of-00002.msgpack', 'train-00001-of-00002.msgpack']
    assert keys(tmp_path) == [f'k{i:03d}' for i in range(20)]
    # a complete job is not silently taken for done either
    with pytest.raises(FileExistsError):
        write_shards(TASKS[:2], numbers, tmp_path, quiet=True)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='at least one task'):
        write_shards([], numbers, tmp_path)
    with pytest.raises(ValueError, match='one shard per task'):
        write_shards(TASKS, numbers, tmp_path, shards=3)
    with pytest.raises(ValueError, match='seed'):
        write_shards(TASKS, numbers, tmp_path, shuffle=True, seed=-1)
    (tmp_path / 'empty.shards').write_text('\n')
    with pytest.raises(Exception, match='names no shard'):
        read_shard_list(tmp_path / 'empty.shards')


def test_without_dask_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'distributed', None)
    with pytest.raises(MissingExtraError, match=r"\.\[dist\]"):
        write_shards(TASKS, numbers, tmp_path, scheduler='local:1', quiet=True)
    # without a scheduler nothing needs Dask
    write_shards(TASKS, numbers, tmp_path / 'here', quiet=True)
    assert len(keys(tmp_path / 'here')) == 40


def test_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    import datadings_like.parallel
    from datadings_like.tools.cli import UserError
    monkeypatch.setattr(datadings_like.parallel, '_CONNECT_TIMEOUT', '2s')
    with pytest.raises(UserError, match='cannot connect to the Dask scheduler'):
        write_shards(TASKS, numbers, tmp_path, scheduler='tcp://127.0.0.1:9', quiet=True)


# --------------------------------------------------------------- the writers

def folder_tree(root, n=24):
    from PIL import Image
    for i in range(n):
        path = root / f'class{i % 3}' / f'{i}.png'
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.full((4, 5, 3), (i * 37) % 256, np.uint8)
        pixels[0, 0] = i
        Image.fromarray(pixels).save(path)
    (root / 'class1' / 'broken.png').write_bytes(b'\x89PNG not really')


def samples(path_or_pattern):
    if str(path_or_pattern).endswith('.shards'):
        path_or_pattern = read_shard_list(path_or_pattern)
    reader = MsgpackReader(path_or_pattern) if str(path_or_pattern).endswith('.msgpack') \
        else ShardedReader(path_or_pattern)
    with reader:
        return [reader.get(i) for i in range(len(reader))]


@pytest.mark.parametrize('shuffle', ['no', 'yes'])
def test_folder_writer_on_the_cluster(cluster, tmp_path, shuffle):
    from datadings_like.sets import folder_write
    local, _ = cluster
    tree = tmp_path / 'tree'
    folder_tree(tree)
    common = ['--shuffle', shuffle, '--seed', '3', '-q', '-y']
    folder_write.main([str(tree), '-o', str(tmp_path / 'one'), *common])
    folder_write.main([str(tree), '-o', str(tmp_path / 'dask'), *common, '--shards', '3',
                       '--scheduler', local.scheduler_address])
    folder_write.main([str(tree), '-o', str(tmp_path / 'here'), *common, '--shards', '3'])
    single = samples(tmp_path / 'one' / 'train.msgpack')
    assert len(single) == 24
    assert samples(tmp_path / 'dask' / 'train.shards') == single
    assert digests(tmp_path / 'dask') == digests(tmp_path / 'here')
    assert (tmp_path / 'dask' / 'classes.txt').read_text() == 'class0\nclass1\nclass2\n'
    assert len(read_shard_list(tmp_path / 'dask' / 'train.shards')) == 3


def test_folder_scheduler_needs_shards(tmp_path, capsys):
    from datadings_like.sets import folder_write
    folder_tree(tmp_path)
    with pytest.raises(SystemExit):
        folder_write.main([str(tmp_path), '--scheduler', 'local'])
    assert '--scheduler needs --shards' in capsys.readouterr().err


@pytest.mark.parametrize('shuffle', ['no', 'yes'])
def test_ilsvrc2012_writer_on_the_cluster(cluster, tmp_path, shuffle):
    pytest.importorskip('scipy.io')
    from sets.test_ilsvrc2012 import make_imagenet
    from datadings_like.sets import ILSVRC2012_write
    local, _ = cluster
    indir = tmp_path / 'in'
    indir.mkdir()
    make_imagenet(str(indir))
    common = ['-s', '-y', '-q', '--shuffle', shuffle, '--seed', '5', str(indir)]
    ILSVRC2012_write.main(['-o', str(tmp_path / 'one'), *common])
    ILSVRC2012_write.main(['-o', str(tmp_path / 'dask'), '--shards', '2',
                           '--scheduler', local.scheduler_address, *common])
    for split in ('train', 'val'):
        single = samples(tmp_path / 'one' / f'{split}.msgpack')
        assert samples(tmp_path / 'dask' / f'{split}.shards') == single, split
        assert len(read_shard_list(tmp_path / 'dask' / f'{split}.shards')) == 2
    if shuffle == 'no':
        # train shards are groups of whole classes
        parts = read_shard_list(tmp_path / 'dask' / 'train.shards')
        labels = [{s['label'] for s in samples(p)} for p in parts]
        assert not labels[0] & labels[1]
    assert not [n for n in os.listdir(tmp_path / 'dask') if n.startswith('.')]


def test_ilsvrc2012_compressed_train_tar_cannot_be_split(tmp_path):
    import gzip
    from datadings_like.sets.ILSVRC2012_write import train_tasks
    from datadings_like.tools.cli import UserError
    path = tmp_path / 'ILSVRC2012_img_train.tar'
    path.write_bytes(gzip.compress(b'\0' * 1024))
    with pytest.raises(UserError, match='compressed'):
        train_tasks(str(path), {}, 2)


def test_places365_writer_on_the_cluster(cluster, tmp_path):
    from sets.test_places365 import make_places
    from datadings_like.sets import Places365_write
    local, _ = cluster
    indir = tmp_path / 'in'
    indir.mkdir()
    make_places(str(indir))
    common = ['-s', '-y', '-q', '--shard-size', '7', str(indir)]
    Places365_write.main(['-o', str(tmp_path / 'one'), *common])
    Places365_write.main(['-o', str(tmp_path / 'dask'), *common,
                          '--scheduler', local.scheduler_address])
    shards = {n: d for n, d in digests(tmp_path / 'dask').items() if '.msgpack' in n}
    # the same shards, byte for byte, as the resumable conversion on one machine
    assert shards == digests(tmp_path / 'one')
    for split in ('training', 'validation', 'testing'):
        assert [os.path.basename(p) for p in
                read_shard_list(tmp_path / 'dask' / f'{split}{SHARD_LIST_SUFFIX}')] == \
            sorted(n for n in shards if n.startswith(split + '-') and n.endswith('.msgpack'))
