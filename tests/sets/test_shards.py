"""
Tests of the shared mechanics of big conversions
(:py:mod:`datadings_like.sets.shards`): shard names and readers, the
resumable writer (killed with SIGKILL at many points, then run again: the
files must be those of an uninterrupted run, byte for byte), and reading
tar / tar.gz streams through Python's zlib or a decompressor process.
"""
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading

import pytest

from datadings_like.reader import MsgpackReader
from datadings_like.reader import ShardedReader
from datadings_like.sets import shards
from datadings_like.sets.shards import ResumableConversion
from datadings_like.sets.shards import ShardLayout
from datadings_like.tools.cli import UserError
from datadings_like.writer import FileWriter

SIDECARS = ('', '.offsets', '.keys', '.key_hashes', '.filter', '.md5')


# ----------------------------------------------------------------- helpers

def synthetic(members=12, per_member=5, val=2, size=300):
    """Items like a tar of per-class tars: the first ``val`` images of each
    member are val, the rest train; positions [member, image]."""
    for m in range(members):
        for i in range(per_member):
            split = 'val' if i < val else 'train'
            payload = bytes((m * 31 + i * 7 + j) % 251 for j in range(size + (m * i) % 17))
            yield split, [m, i], {'key': f'n{m:08d}_{i}.JPEG', 'image': payload,
                                  'label': m, 'label_tree': [m, m // 3]}


def run_job(outdir, layout=None, items=None, **kwargs):
    kwargs.setdefault('quiet', True)
    kwargs.setdefault('overwrite', True)
    with ResumableConversion(outdir, 'Test', ['val', 'train'], {'option': 1},
                             layout=layout, expected={'val': 24, 'train': 36}, **kwargs) as job:
        for split, position, sample in (items if items is not None else synthetic()):
            if job.skip(position[:1]) or not job.wanted(split, position, sample['key']):
                continue
            job.write(split, sample, position)
    return job


def files_of(directory):
    """All files in a directory (name -> bytes), hidden ones included."""
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


# ------------------------------------------------------------------- names

def test_shard_names():
    assert shards.shard_name('train', 3, 12) == 'train-00003-of-00012.msgpack'
    assert shards.parse_shard_name('train-00003-of-00012.msgpack') == ('train', 3, 12)
    assert shards.parse_shard_name('my-train-00000-of-00001.msgpack') == ('my-train', 0, 1)
    assert shards.parse_shard_name('train.msgpack') is None
    assert shards.parse_shard_name('train-3-of-12.msgpack') is None
    with pytest.raises(ValueError):
        shards.shard_name('train', 12, 12)
    assert shards.shard_pattern('train', '/data/x') == '/data/x/train-[0-9]*-of-[0-9]*.msgpack'
    assert shards.shard_pattern('a[1]') == 'a[[]1]-[0-9]*-of-[0-9]*.msgpack'


def test_find_shards_checks_completeness(tmp_path):
    from datadings_like.errors import DatasetError
    with pytest.raises(FileNotFoundError):
        shards.find_shards(tmp_path, 'train')
    for i in (0, 2):
        with FileWriter(tmp_path / shards.shard_name('train', i, 3), disable=True) as w:
            w.write({'key': str(i)})
    with pytest.raises(DatasetError, match='train-00001-of-00003.msgpack is missing'):
        shards.find_shards(tmp_path, 'train')
    with FileWriter(tmp_path / shards.shard_name('train', 0, 2), disable=True) as w:
        w.write({'key': 'x'})
    with pytest.raises(DatasetError, match='different conversions'):
        shards.find_shards(tmp_path, 'train')


def test_layout():
    assert ShardLayout().samples_per_file(100) is None
    assert not ShardLayout().sharded
    assert ShardLayout(shards=4).samples_per_file(10) == 3
    assert ShardLayout(shards=4).samples_per_file(12) == 3
    assert ShardLayout(shards=40).samples_per_file(10) == 1
    assert ShardLayout(shard_size=7).samples_per_file() == 7
    with pytest.raises(UserError, match='--shard-size'):
        ShardLayout(shards=4).samples_per_file(None)
    with pytest.raises(ValueError):
        ShardLayout(shards=2, shard_size=3)
    with pytest.raises(ValueError):
        ShardLayout(shards=0)


def test_argument_helpers():
    import argparse
    parser = argparse.ArgumentParser()
    shards.argument_shards(parser)
    shards.argument_resume(parser)
    args = parser.parse_args(['--shards', '8', '--checkpoint-interval', '2.5', '--restart'])
    layout = ShardLayout.from_args(args)
    assert (layout.shards, layout.shard_size) == (8, None)
    assert args.checkpoint_interval == 2.5 and args.restart
    args = parser.parse_args([])
    assert not ShardLayout.from_args(args).sharded and not args.restart
    for bad in (['--shards', '2', '--shard-size', '3'], ['--shards', '0'],
                ['--checkpoint-interval', '-1']):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)


# ----------------------------------------------------------- the writer

def test_single_files_are_those_of_a_file_writer(tmp_path):
    """Same samples, same bytes as FileWriter: data, index and .md5 files."""
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    run_job(ours)
    theirs.mkdir()
    writers = {s: FileWriter(theirs / f'{s}.msgpack', disable=True) for s in ('val', 'train')}
    for split, _, sample in synthetic():
        writers[split].write(sample)
    for writer in writers.values():
        writer.close()
    assert files_of(ours) == files_of(theirs)
    assert sorted(os.listdir(ours)) == sorted(f'{s}.msgpack{x}' for s in ('val', 'train')
                                              for x in SIDECARS)


def test_sharded_output_reads_as_one_dataset(tmp_path):
    run_job(tmp_path, ShardLayout(shard_size=7))
    names = sorted(n for n in os.listdir(tmp_path) if n.endswith('.msgpack'))
    assert names == [f'train-{i:05d}-of-00006.msgpack' for i in range(6)] + \
        [f'val-{i:05d}-of-00004.msgpack' for i in range(4)]
    expected = {s: [x['key'] for t, _, x in synthetic() if t == s] for s in ('train', 'val')}
    reader = ShardedReader(shards.shard_pattern('train', tmp_path))
    assert [s['key'] for s in reader] == expected['train']
    assert [len(r) for r in reader.shards] == [7, 7, 7, 7, 7, 1]
    with shards.open_split(tmp_path, 'val') as val:
        assert [s['key'] for s in val] == expected['val']
    # every shard is a complete dataset that verifies
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.commands.verify',
                           *(str(tmp_path / name) for name in names)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_torch_reads_shards_as_one_dataset(tmp_path):
    pytest.importorskip('torch')
    from datadings_like.torch import Dataset
    from datadings_like.torch import IterableDataset
    run_job(tmp_path, ShardLayout(shards=3))
    assert len([n for n in os.listdir(tmp_path) if n.startswith('train-')
                and n.endswith('.msgpack')]) == 3
    expected = [x['key'] for t, _, x in synthetic() if t == 'train']
    reader = ShardedReader(shards.shard_pattern('train', tmp_path))
    dataset = Dataset(reader)
    assert len(dataset) == len(expected)
    assert [dataset[i]['key'] for i in range(len(dataset))] == expected
    iterable = IterableDataset(reader)
    assert sorted(s['key'] for s in iterable) == sorted(expected)


def test_empty_split_gets_one_empty_file(tmp_path):
    run_job(tmp_path, items=[s for s in synthetic() if s[0] == 'val'])
    with MsgpackReader(tmp_path / 'train.msgpack') as r:
        assert len(r) == 0
    run_job(tmp_path / 'sharded', ShardLayout(shard_size=5),
            items=[s for s in synthetic() if s[0] == 'val'])
    assert (tmp_path / 'sharded' / 'train-00000-of-00001.msgpack').exists()


def test_outputs_are_not_replaced_without_permission(tmp_path):
    run_job(tmp_path)
    before = files_of(tmp_path)
    with pytest.raises(FileExistsError, match='-y'):
        run_job(tmp_path, overwrite=False)
    assert files_of(tmp_path) == before


def test_other_layout_replaces_the_old_files(tmp_path):
    run_job(tmp_path, ShardLayout(shard_size=5))
    run_job(tmp_path, ShardLayout(shard_size=7))
    assert not [n for n in os.listdir(tmp_path) if '-of-00008' in n or '-of-00005' in n]
    run_job(tmp_path)
    assert sorted(os.listdir(tmp_path)) == sorted(f'{s}.msgpack{x}' for s in ('val', 'train')
                                                  for x in SIDECARS)


def test_positions_must_increase(tmp_path):
    with pytest.raises(ValueError, match='position'):
        with ResumableConversion(tmp_path, 'Test', ['val'], {}, quiet=True) as job:
            job.write('val', {'key': 'a'}, [1, 0])
            job.write('val', {'key': 'b'}, [0, 5])
    assert not (tmp_path / 'val.msgpack').exists()


def test_second_conversion_in_the_same_directory_is_refused(tmp_path):
    with ResumableConversion(tmp_path, 'Test', ['val'], {}, quiet=True) as job:
        with pytest.raises(UserError, match='another Test conversion'):
            ResumableConversion(tmp_path, 'Test', ['val'], {}, quiet=True).open()
        job.write('val', {'key': 'a'}, [0])


# ---------------------------------------------------- killed and resumed

CHILD = textwrap.dedent('''
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from sets.test_shards import run_job
    from datadings_like.sets import shards
    from datadings_like.sets.shards import ShardLayout
    from datadings_like import index

    outdir, layout, where, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    layout = ShardLayout(shard_size=int(layout)) if layout != 'single' else None
    calls = [0]

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    def counted(function):
        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == n:
                kill()
            return function(*args, **kwargs)
        return wrapper

    if where == 'write':            # after the n-th sample
        original = shards.ResumableConversion.write
        def write(self, *args):
            original(self, *args)
            calls[0] += 1
            if calls[0] == n:
                kill()
        shards.ResumableConversion.write = write
    elif where == 'state':          # before the n-th state file is written
        shards._write_atomic = counted(shards._write_atomic)
    elif where == 'log':            # in the middle of the n-th checkpoint
        shards._packb = counted(shards._packb)
    elif where == 'publish':        # before the n-th file gets its final name
        shards._publish = counted(shards._publish)
    elif where == 'commit':         # in the n-th step of a commit's renames
        def hook(step):
            if step.startswith('renamed'):
                calls[0] += 1
                if calls[0] == n:
                    kill()
        index._commit_hook = hook
    run_job(outdir, layout, checkpoint_interval=float(sys.argv[5]))
''')


def kill_and_resume(tmp_path, layout, where, n, interval=0.0):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(tests=os.path.dirname(os.path.dirname(__file__))))
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(script), str(out), layout, where, str(n),
                           str(interval)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (out / '.Test.resume').exists()
    kept = files_of(out)
    run_job(out, ShardLayout(shard_size=int(layout)) if layout != 'single' else None,
            quiet=False)
    return out, kept


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    results = {}
    for layout in ('single', '7'):
        out = tmp_path_factory.mktemp(f'uninterrupted-{layout}')
        run_job(out, ShardLayout(shard_size=7) if layout != 'single' else None)
        results[layout] = files_of(out)
    return results


@pytest.mark.parametrize('layout', ['single', '7'])
@pytest.mark.parametrize('where,n', [
    ('write', 1), ('write', 37), ('state', 17), ('log', 9), ('publish', 2), ('commit', 9),
])
def test_killed_conversion_goes_on(tmp_path, uninterrupted, layout, where, n):
    out, kept = kill_and_resume(tmp_path, layout, where, n)
    assert files_of(out) == uninterrupted[layout]


def test_resumed_run_skips_what_was_kept(tmp_path, uninterrupted, capfd):
    """The second run converts only the samples after the last checkpoint."""
    out, kept = kill_and_resume(tmp_path, '7', 'write', 40)
    assert files_of(out) == uninterrupted['7']
    err = capfd.readouterr().err
    assert 'going on with an interrupted conversion' in err
    # checkpoints after every sample: all 40 samples were kept (16 val, 24 train)
    assert '16 val, 24 train samples kept' in err


def test_kept_data_is_checked_against_the_checkpoint(tmp_path):
    """Data written after the last checkpoint is truncated and redone; a
    part that is shorter than its checkpoint cannot be used."""
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(tests=os.path.dirname(os.path.dirname(__file__))))
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(script), str(out), 'single', 'write', '30',
                           '3600'], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    state = json.loads((out / '.Test.resume').read_text())
    # a long interval: only the first checkpoint (empty) exists
    assert all(not s['parts'] for s in state['splits'].values())
    run_job(out)
    expected = tmp_path / 'expected'
    run_job(expected)
    assert files_of(out) == files_of(expected)

    # a kept part made shorter than its checkpoint
    out2 = tmp_path / 'out2'
    proc = subprocess.run([sys.executable, str(script), str(out2), 'single', 'write', '30',
                           '0'], capture_output=True, text=True, timeout=120)
    partial = out2 / '.train.msgpack.partial'
    partial.write_bytes(partial.read_bytes()[:100])
    with pytest.raises(UserError, match='shorter than at its last checkpoint'):
        run_job(out2)


def test_other_options_discard_or_refuse(tmp_path):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(tests=os.path.dirname(os.path.dirname(__file__))))
    out = tmp_path / 'out'
    subprocess.run([sys.executable, str(script), str(out), 'single', 'write', '20', '0'],
                   capture_output=True, timeout=120)
    # another layout, no -y and no terminal: refused, nothing changed (the
    # lock file a killed run leaves is not a problem: a lock is on the file)
    kept = files_of(out)
    kept.pop('.Test.resume.lock')
    with pytest.raises(FileExistsError, match='interrupted Test conversion'):
        run_job(out, ShardLayout(shard_size=7), overwrite=False)
    assert files_of(out) == kept
    # the same options, without -y: goes on (there is nothing to replace)
    run_job(out, overwrite=False)
    expected = tmp_path / 'expected'
    run_job(expected)
    assert files_of(out) == files_of(expected)


def test_restart_discards_what_was_kept(tmp_path, capfd):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(tests=os.path.dirname(os.path.dirname(__file__))))
    out = tmp_path / 'out'
    subprocess.run([sys.executable, str(script), str(out), 'single', 'write', '20', '0'],
                   capture_output=True, timeout=120)
    run_job(out, restart=True, quiet=False)
    assert 'going on' not in capfd.readouterr().err
    assert not [n for n in os.listdir(out) if n.startswith('.')]


def test_changed_source_is_detected(tmp_path):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(tests=os.path.dirname(os.path.dirname(__file__))))
    out = tmp_path / 'out'
    subprocess.run([sys.executable, str(script), str(out), 'single', 'write', '20', '0'],
                   capture_output=True, timeout=120)
    changed = [(split, pos, dict(sample, key=sample['key'].replace('n', 'm')))
               for split, pos, sample in synthetic()]
    with pytest.raises(UserError, match='source differs'):
        run_job(out, items=changed)
    # a source that ends before the kept position
    with pytest.raises(UserError, match='ends before'):
        run_job(out, items=list(synthetic(members=1)))
    # the kept files are still usable with the right source
    run_job(out)
    expected = tmp_path / 'expected'
    run_job(expected)
    assert files_of(out) == files_of(expected)


def test_failure_keeps_the_checkpoint(tmp_path, capfd):
    """An exception (not a kill) keeps what was checkpointed, too."""
    def failing():
        for n, item in enumerate(synthetic()):
            if n == 30:
                raise UserError('damaged image')
            yield item
    out = tmp_path / 'out'
    with pytest.raises(UserError, match='damaged image'):
        run_job(out, items=failing(), checkpoint_interval=0, quiet=False)
    assert 'run the same command again' in capfd.readouterr().err
    assert not (out / 'train.msgpack').exists()
    run_job(out)
    expected = tmp_path / 'expected'
    run_job(expected)
    assert files_of(out) == files_of(expected)


# ------------------------------------------------------------ tar streams

def make_tar(members, compress=False):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


MEMBERS = [(f'dir/file{i}.bin', os.urandom(1000 + i * 100)) for i in range(20)]


def read_members(path, decompressor=None):
    with shards.open_tar_stream(path, decompressor) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in shards.stream_members(tar)
                if m.isreg()]


@pytest.mark.parametrize('decompressor', ['python', 'gzip', 'auto'])
@pytest.mark.parametrize('compress', [False, True])
def test_open_tar_stream(tmp_path, decompressor, compress):
    path = tmp_path / ('a.tar.gz' if compress else 'a.tar')
    path.write_bytes(make_tar(MEMBERS, compress))
    assert read_members(path, decompressor) == MEMBERS


def test_decompressor_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(shards.DECOMPRESSOR_VARIABLE, 'python')
    assert shards.find_decompressor() is None
    monkeypatch.setenv(shards.DECOMPRESSOR_VARIABLE, 'gzip')
    assert os.path.basename(shards.find_decompressor()[0]) == 'gzip'
    monkeypatch.setenv(shards.DECOMPRESSOR_VARIABLE, 'no-such-gunzip')
    with pytest.raises(UserError, match='no-such-gunzip'):
        shards.find_decompressor()
    monkeypatch.delenv(shards.DECOMPRESSOR_VARIABLE)
    monkeypatch.setenv('PATH', str(tmp_path))  # neither igzip nor pigz
    assert shards.find_decompressor() is None
    (tmp_path / 'pigz').write_text('#!/bin/sh\nexec gzip "$@"\n')
    (tmp_path / 'pigz').chmod(0o755)
    assert shards.find_decompressor() == [str(tmp_path / 'pigz'), '-dc']


@pytest.mark.parametrize('decompressor', ['python', 'gzip'])
def test_damaged_gzip_names_the_file(tmp_path, decompressor):
    data = make_tar(MEMBERS, compress=True)
    truncated = tmp_path / 'truncated.tar.gz'
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(UserError, match='truncated.tar.gz: damaged archive'):
        read_members(truncated, decompressor)
    corrupt = tmp_path / 'corrupt.tar.gz'
    corrupt.write_bytes(data[:100] + bytes(200) + data[300:])
    with pytest.raises(UserError, match='corrupt.tar.gz: '):
        read_members(corrupt, decompressor)
    notgz = tmp_path / 'plain.tar.gz'
    notgz.write_bytes(b'\x1f\x8b' + b'garbage' * 100)
    with pytest.raises(UserError, match='plain.tar.gz: not a tar archive'):
        read_members(notgz, decompressor)


@pytest.mark.parametrize('where', ['start', 'middle'])
def test_damaged_tar_while_the_decompressor_still_writes(tmp_path, where):
    """A bad tar header found while the decompressor is blocked on a full
    pipe (megabytes still to come) is reported, and nothing hangs."""
    good = b''
    if where == 'middle':  # members, then a broken header instead of the end blocks
        for name, member in MEMBERS:
            info = tarfile.TarInfo(name)
            info.size = len(member)
            good += info.tobuf() + member + bytes(-len(member) % 512)
    data = good + b'\xff' * 512 + os.urandom(8 << 20)
    path = tmp_path / 'bad.tar.gz'
    path.write_bytes(gzip.compress(data, compresslevel=1))
    errors = []

    def read():
        try:
            read_members(path, 'gzip')
        except UserError as exc:
            errors.append(str(exc))
    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), 'hangs'
    assert len(errors) == 1 and 'bad.tar.gz' in errors[0], errors


def test_stopping_early_ends_the_decompressor(tmp_path):
    path = tmp_path / 'big.tar.gz'
    path.write_bytes(make_tar([(f'f{i}', os.urandom(200_000)) for i in range(30)], True))
    with shards.open_tar_stream(path, 'gzip') as tar:
        first = next(iter(tar))
        assert first.name == 'f0'
    # no error: the caller stopped, the process was ended


def test_fifo_is_read_as_a_stream(tmp_path):
    fifo = tmp_path / 'stream.tar.gz'
    os.mkfifo(fifo)
    data = make_tar(MEMBERS, compress=True)

    def feed():
        with open(fifo, 'wb') as f:
            f.write(data)
    for decompressor in ('python', 'gzip'):
        thread = threading.Thread(target=feed)
        thread.start()
        assert read_members(fifo, decompressor) == MEMBERS
        thread.join()


# ------------------------------------------------------------- map_ordered

@pytest.mark.parametrize('threads,batch', [(1, 1), (2, 1), (3, 4)])
def test_map_ordered_keeps_the_order(threads, batch):
    import random
    import time

    def slow(x):
        time.sleep(random.random() / 1000)
        return x * x
    assert list(shards.map_ordered(slow, range(200), threads, batch=batch)) == \
        [x * x for x in range(200)]


def test_map_ordered_bounds_what_is_in_flight():
    import time
    taken = []

    def items():
        for i in range(1000):
            taken.append(i)
            yield i
    for threads in (1, 2):
        taken.clear()
        results = shards.map_ordered(lambda x: x, items(), threads=threads, window=3, batch=2)
        assert next(results) == 0
        time.sleep(0.3)  # the reading thread runs ahead as far as it may
        # the window, one task waiting to be queued, one being built
        assert len(taken) <= (3 + 2) * 2 + 1
        results.close()


def test_map_ordered_yields_what_is_done_while_the_source_waits():
    """Results come out while reading blocks (a slow or stalled archive)."""
    release = threading.Event()

    def items():
        yield from range(10)
        release.wait(10)
        yield from range(10, 12)
    results = shards.map_ordered(lambda x: x * 2, items(), threads=2, batch=3)
    assert [next(results) for _ in range(9)] == [x * 2 for x in range(9)]
    release.set()
    assert list(results) == [x * 2 for x in range(9, 12)]


def test_map_ordered_raises_the_reading_error():
    def items():
        yield 1
        raise UserError('damaged archive')
    for threads in (1, 2):
        with pytest.raises(UserError, match='damaged archive'):
            list(shards.map_ordered(lambda x: x, items(), threads=threads))


def test_map_ordered_raises_the_conversion_error():
    def convert(x):
        if x == 50:
            raise ValueError('bad item')
        return x
    with pytest.raises(ValueError, match='bad item'):
        list(shards.map_ordered(convert, range(100), threads=2))


# ------------------------------------------- splits from separate sources

def run_per_split_sources(outdir, fail_after=None, read=None, **kwargs):
    """A conversion whose splits come from separate sources (one tar per
    split): a split declared complete is not read again by the next run.
    ``read`` collects the splits whose source was read."""
    kwargs.setdefault('quiet', True)
    kwargs.setdefault('overwrite', True)
    by_split = {'val': [], 'train': []}
    for split, position, sample in synthetic():
        by_split[split].append(sample)
    written = 0
    with ResumableConversion(outdir, 'Test', ['val', 'train'], {'option': 1},
                             checkpoint_interval=0, **kwargs) as job:
        for split in ('val', 'train'):
            if job.split_complete(split):
                continue
            if read is not None:
                read.append(split)
            for i, sample in enumerate(by_split[split]):
                if not job.wanted(split, [i], sample['key']):
                    continue
                if fail_after is not None and written == fail_after:
                    raise RuntimeError('stopped')
                job.write(split, sample, [i])
                written += 1
            job.complete_split(split)
            assert job.split_complete(split)
    return job


def test_complete_split_is_not_read_again(tmp_path):
    expected = tmp_path / 'expected'
    run_per_split_sources(expected)
    out = tmp_path / 'out'
    # all 24 val samples and 5 train samples, then a failure
    with pytest.raises(RuntimeError, match='stopped'):
        run_per_split_sources(out, fail_after=29)
    state = json.loads((out / '.Test.resume').read_text())
    assert state['splits']['val']['complete'] is True
    assert state['splits']['train']['complete'] is False
    read = []
    run_per_split_sources(out, read=read)
    assert read == ['train']
    assert files_of(out) == files_of(expected)


def test_complete_split_checks_the_source(tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        run_per_split_sources(out, fail_after=10)
    val = [sample for split, _, sample in synthetic() if split == 'val']
    # the val source now ends before the 10th sample, where the first run stopped
    with pytest.raises(UserError, match='ends before the val sample'):
        with ResumableConversion(out, 'Test', ['val', 'train'], {'option': 1}, quiet=True,
                                 overwrite=True) as job:
            for i, sample in enumerate(val[:5]):
                assert not job.wanted('val', [i], sample['key'])
            job.complete_split('val')
    assert (out / '.Test.resume').exists()


def test_no_samples_after_complete_split(tmp_path):
    with pytest.raises(ValueError, match='declared complete'):
        with ResumableConversion(tmp_path, 'Test', ['val'], {}, quiet=True) as job:
            job.write('val', {'key': 'a'}, [0])
            job.complete_split('val')
            assert not job.wanted('val', [1], 'b')
            job.write('val', {'key': 'b'}, [1])
    assert not (tmp_path / 'val.msgpack').exists()


def test_stream_members_keeps_no_members(tmp_path):
    path = tmp_path / 'many.tar'
    with tarfile.open(path, 'w') as tar:
        for i in range(300):
            data = f'member {i}'.encode()
            info = tarfile.TarInfo(f'd/{i:05d}.txt')
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    seen = []
    with shards.open_tar_stream(path) as tar:
        for member in shards.stream_members(tar):
            seen.append((member.name, tar.extractfile(member).read()))
            assert len(tar.members) == 0
    assert seen == [(f'd/{i:05d}.txt', f'member {i}'.encode()) for i in range(300)]


@pytest.mark.parametrize('compress', [False, True], ids=['tar', 'tar.gz'])
@pytest.mark.parametrize('damage', ['cut at a member', 'cut in a header', 'bad header'])
def test_stream_members_needs_the_end_of_the_archive(tmp_path, damage, compress):
    """tarfile takes a cut-off or garbled header for the end of the archive."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for i in range(5):
            info = tarfile.TarInfo(f'd/{i}.jpg')
            info.size = 700  # header + 2 blocks per member
            tar.addfile(info, io.BytesIO(bytes(range(256)) * 3))
    data = out.getvalue()
    cut = 3 * 3 * 512
    data = {'cut at a member': data[:cut], 'cut in a header': data[:cut + 100],
            'bad header': data[:cut] + b'\x01' * 512 + data[cut + 512:]}[damage]
    path = tmp_path / ('d.tar.gz' if compress else 'd.tar')
    path.write_bytes(gzip.compress(data) if compress else data)
    names = []
    with pytest.raises(UserError, match=f'{path.name}: damaged archive'):
        with shards.open_tar_stream(path, 'python') as tar:
            for member in shards.stream_members(tar):
                names.append(member.name)
                tar.extractfile(member).read()
    assert names == ['d/0.jpg', 'd/1.jpg', 'd/2.jpg']
