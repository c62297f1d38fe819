"""
The commit of a dataset's six files is all or nothing: a writer killed
between any two steps of the commit leaves the old dataset or the new one
under the final name, never a mix, for a reader opening it, for the next
writer, for datadings-verify and for datadings-index.
"""
import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from datadings_like import index as index_module
from datadings_like.check import rebuild_index
from datadings_like.check import verify_dataset
from datadings_like.check import write_index
from datadings_like.check import scan_data
from datadings_like.errors import DatasetError
from datadings_like.index import commit_files
from datadings_like.index import journal_path
from datadings_like.index import recover_commit
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

from conftest import make_samples, write_dataset

SUFFIXES = ('', '.offsets', '.keys', '.key_hashes', '.filter', '.md5')
OLD = make_samples(5, prefix='old')
NEW = make_samples(7, prefix='new')
# every step of the commit after which a writer can die: before the
# journal, with the journal in place, after each of the six renames, at the end
STEPS = ['prepared', 'journal'] + [
    f'renamed a.msgpack{s}' for s in ('.offsets', '.keys', '.key_hashes', '.filter', '', '.md5')
] + ['done']


class Killed(BaseException):
    """Stands for the end of the process: nothing below the hook runs."""


def files(path):
    return {s: path.with_name(path.name + s).read_bytes() for s in SUFFIXES
            if path.with_name(path.name + s).exists()}


@pytest.fixture(scope='module')
def versions(tmp_path_factory):
    """The six files of the old and of the new dataset, written without interruption."""
    base = tmp_path_factory.mktemp('versions')
    return {'old': files(write_dataset(base / 'old' / 'a.msgpack', OLD)),
            'new': files(write_dataset(base / 'new' / 'a.msgpack', NEW)),
            'third': files(write_dataset(base / 'third' / 'a.msgpack', make_samples(3, 'x')))}


def kill_at(monkeypatch, step):
    def hook(name):
        if name == step:
            raise Killed(name)
    monkeypatch.setattr(index_module, '_commit_hook', hook)


def interrupted_write(tmp_path, monkeypatch, step, existing=True):
    path = tmp_path / 'a.msgpack'
    if existing:
        write_dataset(path, OLD)
    kill_at(monkeypatch, step)
    with pytest.raises(Killed):
        write_dataset(path, NEW, overwrite=True)
    monkeypatch.setattr(index_module, '_commit_hook', None)
    return path


def expected_version(step, existing=True):
    if step == 'prepared':
        return 'old' if existing else None
    return 'new'


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith('.'))


def keys_of(path):
    with MsgpackReader(path) as reader:
        return reader.keys(), [s['key'] for s in reader]


# --------------------------------------------------------- in-process kills

@pytest.mark.parametrize('existing', [True, False])
@pytest.mark.parametrize('step', STEPS)
def test_reader_sees_old_or_new_after_kill(tmp_path, monkeypatch, versions, step, existing):
    path = interrupted_write(tmp_path, monkeypatch, step, existing)
    version = expected_version(step, existing)
    if version is None:
        with pytest.raises(FileNotFoundError):
            MsgpackReader(path)
        assert files(path) == {}
        return
    with _maybe_warns(step):
        reader = MsgpackReader(path)
    keys = [s['key'] for s in (OLD if version == 'old' else NEW)]
    assert reader.keys() == keys
    assert [s['key'] for s in reader] == keys
    assert reader.find_index(keys[-1]) == len(keys) - 1 and keys[0] in reader
    assert reader.verify_data() and reader.verify_index()
    # byte for byte the files of an uninterrupted write: the journal leaves no trace
    assert files(path) == versions[version]
    assert not journal_path(path).exists()
    if step != 'prepared':  # (a real kill there leaves the writer's temporary files)
        assert leftovers(tmp_path) == []


def _maybe_warns(step):
    if step in STEPS[1:-1]:
        return pytest.warns(UserWarning, match='interrupted')
    return contextlib.nullcontext()


@pytest.mark.parametrize('existing', [True, False])
@pytest.mark.parametrize('step', STEPS)
def test_next_writer_after_kill(tmp_path, monkeypatch, versions, step, existing):
    path = interrupted_write(tmp_path, monkeypatch, step, existing)
    write_dataset(path, make_samples(3, 'x'), overwrite=True)
    assert files(path) == versions['third']
    if step != 'prepared':
        assert leftovers(tmp_path) == []


@pytest.mark.parametrize('step', STEPS[1:-1])
def test_next_writer_asks_about_what_the_commit_left(tmp_path, monkeypatch, step):
    # a write to a new name was killed while committing: the next writer
    # completes it first, so the name is taken (no silent overwrite)
    path = interrupted_write(tmp_path, monkeypatch, step, existing=False)
    with pytest.raises(FileExistsError):
        FileWriter(path, disable=True)
    assert keys_of(path)[0] == [s['key'] for s in NEW]


@pytest.mark.parametrize('step', STEPS)
def test_verify_and_index_complete_the_commit(tmp_path, monkeypatch, versions, step):
    path = interrupted_write(tmp_path, monkeypatch, step)
    other = tmp_path / 'b'
    other.mkdir()
    copy = other / 'a.msgpack'
    for name in os.listdir(tmp_path):
        if name != 'b':
            os.link(tmp_path / name, other / name)
    version = expected_version(step)
    assert verify_dataset(path) == []
    assert files(path) == versions[version]
    n, warnings = rebuild_index(copy, overwrite=True)
    assert n == len(OLD if version == 'old' else NEW)
    assert any('interrupted' in w for w in warnings) == (step in STEPS[1:-1])
    assert files(copy) == versions[version]
    assert not journal_path(copy).exists()


@pytest.mark.parametrize('step', STEPS[1:-1])
def test_datadings_verify_and_index_commands(tmp_path, monkeypatch, step):
    from datadings_like.commands.index import main as index_main
    from datadings_like.commands.verify import main as verify_main
    for tool in ('verify', 'index'):
        (tmp_path / tool).mkdir()
        path = interrupted_write(tmp_path / tool, monkeypatch, step)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if tool == 'verify':
                assert verify_main(['-q', str(path)]) == 0
            else:
                index_main(['-y', '-q', str(path)])
        if tool == 'verify':
            assert out.getvalue() == f'{path}: OK\n'
        assert 'interrupted' in err.getvalue()
        assert keys_of(path)[0] == [s['key'] for s in NEW]
        assert leftovers(path.parent) == []


def test_failed_rename_leaves_a_commit_that_the_next_open_completes(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    real_replace = os.replace

    def failing(src, dst, **kwargs):
        if str(dst).endswith('.keys'):
            raise OSError(errno.EIO, 'Input/output error', str(dst))
        return real_replace(src, dst, **kwargs)
    monkeypatch.setattr(os, 'replace', failing)
    with pytest.raises(OSError, match='Input/output'):
        write_dataset(path, NEW, overwrite=True)
    monkeypatch.setattr(os, 'replace', real_replace)
    assert journal_path(path).exists()  # the temporary files were kept for it
    with pytest.warns(UserWarning, match='interrupted'):
        assert keys_of(path)[1] == [s['key'] for s in NEW]
    assert leftovers(tmp_path) == []


def test_write_index_commit_is_atomic_too(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    before = files(path)
    keys, offsets, md5 = scan_data(path)
    kill_at(monkeypatch, 'renamed a.msgpack.keys')
    with pytest.raises(Killed):
        write_index(path, keys, offsets, md5)
    monkeypatch.setattr(index_module, '_commit_hook', None)
    assert journal_path(path).exists()
    with pytest.warns(UserWarning):
        MsgpackReader(path)
    assert files(path) == before and leftovers(tmp_path) == []


# ------------------------------------------------------------- real kills

KILL_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from conftest import make_samples, write_dataset
    from datadings_like import index

    def hook(name):
        if name == {step!r}:
            os.kill(os.getpid(), signal.SIGKILL)
    index._commit_hook = hook
    write_dataset({path!r}, make_samples(7, prefix='new'), overwrite=True)
''')


@pytest.mark.parametrize('step', STEPS)
def test_sigkill_at_each_step(tmp_path, versions, step):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    script = KILL_SCRIPT.format(tests=os.path.dirname(__file__), step=step, path=str(path))
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    version = expected_version(step)
    # a second process: first a reader, then the next writer
    check = textwrap.dedent(f'''
        import warnings
        warnings.simplefilter('ignore')
        from datadings_like.reader import MsgpackReader
        r = MsgpackReader({str(path)!r})
        print(len(r), r.keys()[0], r.verify_data(), r.verify_index())
    ''')
    proc = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, proc.stderr
    n, first = (5, 'old0') if version == 'old' else (7, 'new0')
    assert proc.stdout.split() == [str(n), first, 'True', 'True']
    assert files(path) == versions[version]
    assert not journal_path(path).exists()
    if step != 'prepared':
        assert leftovers(tmp_path) == []
    else:  # killed before the commit began: only its hidden temporary files remain
        assert all('.tmp' in name for name in leftovers(tmp_path))


@pytest.mark.parametrize('name', ['a.msgpack.offsets', 'a.msgpack.keys', 'a.msgpack',
                                  'a.msgpack.md5'])
def test_sigkill_right_after_a_rename(tmp_path, versions, name):
    # no hook: the process dies right after os.replace() put this file in place
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    script = textwrap.dedent(f'''
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from conftest import make_samples, write_dataset
        real = os.replace

        def replace(src, dst, **kwargs):
            real(src, dst, **kwargs)
            if os.path.basename(dst) == {name!r}:
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
        write_dataset({str(path)!r}, make_samples(7, prefix='new'), overwrite=True)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with pytest.warns(UserWarning, match='interrupted'):
        assert keys_of(path) == ([s['key'] for s in NEW],) * 2
    assert files(path) == versions['new'] and leftovers(tmp_path) == []


@pytest.mark.parametrize('step', ['journal', 'renamed a.msgpack.key_hashes', 'renamed a.msgpack'])
def test_sigkill_then_next_writer_process(tmp_path, versions, step):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    script = KILL_SCRIPT.format(tests=os.path.dirname(__file__), step=step, path=str(path))
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    write_dataset(path, make_samples(3, 'x'), overwrite=True)
    assert files(path) == versions['third'] and leftovers(tmp_path) == []


# ------------------------------------------------------- read-only readers

def read_only(monkeypatch):
    """Renames and removals in the directory fail as for a user who may not write there."""
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied', str(args[0]))
    for name in ('replace', 'rename', 'unlink', 'link'):
        monkeypatch.setattr(os, name, refuse)


@pytest.mark.parametrize('step', STEPS[1:-1])
def test_read_only_reader_gets_a_clear_error_not_a_mix(tmp_path, monkeypatch, versions, step):
    path = interrupted_write(tmp_path, monkeypatch, step)
    with monkeypatch.context() as m:
        read_only(m)
        with pytest.raises(DatasetError) as info:
            MsgpackReader(path)
        message = str(info.value)
        assert str(path) in message and 'write access' in message and 'interrupted' in message
        problems = verify_dataset(path)
        assert problems and 'write access' in problems[0]
    # a user who may write there completes it
    with pytest.warns(UserWarning):
        assert keys_of(path)[0] == [s['key'] for s in NEW]
    assert files(path) == versions['new']


def test_read_only_reader_of_a_sound_dataset_is_not_bothered(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    read_only(monkeypatch)
    assert keys_of(path)[0] == [s['key'] for s in OLD]


# ---------------------------------------------------------- concurrency

PAUSE_SCRIPT = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, {tests!r})
    from conftest import make_samples, write_dataset
    from datadings_like import index

    def hook(name):
        if name == {step!r}:
            open({marker!r}, 'w').close()
            time.sleep({pause})
    index._commit_hook = hook
    write_dataset({path!r}, make_samples(7, prefix='new'), overwrite=True)
''')


def paused_writer(tmp_path, path, step, pause=1.5):
    marker = tmp_path / 'paused'
    script = PAUSE_SCRIPT.format(tests=os.path.dirname(__file__), step=step, path=str(path),
                                 marker=str(marker), pause=pause)
    proc = subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


@pytest.mark.parametrize('step', ['journal', 'renamed a.msgpack.keys', 'renamed a.msgpack'])
def test_reader_opening_during_a_commit_waits_for_it(tmp_path, step):
    work = tmp_path / 'data'
    work.mkdir()
    path = write_dataset(work / 'a.msgpack', OLD)
    proc = paused_writer(tmp_path, path, step)
    try:
        start = time.monotonic()
        reader = MsgpackReader(path)  # the writer holds the journal: wait
        waited = time.monotonic() - start
        assert reader.keys() == [s['key'] for s in NEW]
        assert [s['key'] for s in reader] == reader.keys()
        assert waited > 0.5
    finally:
        assert proc.wait(timeout=60) == 0, proc.communicate()
    assert leftovers(work) == []


def test_concurrent_writers_to_one_name_take_turns(tmp_path, versions):
    work = tmp_path / 'data'
    work.mkdir()
    path = write_dataset(work / 'a.msgpack', OLD)
    proc = paused_writer(tmp_path, path, 'renamed a.msgpack.offsets')
    try:
        write_dataset(path, make_samples(3, 'x'), overwrite=True)  # commits after it
    finally:
        assert proc.wait(timeout=60) == 0, proc.communicate()
    assert files(path) == versions['third'] and leftovers(work) == []


def test_commit_while_the_reader_opens_is_seen(tmp_path, monkeypatch, versions):
    # a whole commit between two reads of the opening reader: it must not
    # combine the old offsets with the new keys (the same sizes, so no
    # size check could tell)
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5, prefix='a'))
    from datadings_like.reader import msgpack as reader_module
    real = reader_module.keys_len
    calls = []

    def keys_len(p):
        if not calls:
            write_dataset(path, make_samples(5, prefix='b'), overwrite=True)
        calls.append(p)
        return real(p)
    monkeypatch.setattr(reader_module, 'keys_len', keys_len)
    reader = MsgpackReader(path)
    assert len(calls) == 2  # looked again
    assert reader.keys() == [f'b{i}' for i in range(5)]
    assert [s['key'] for s in reader] == reader.keys()


def test_files_replaced_after_opening_are_refused_not_mixed(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5, prefix='a'))
    reader = MsgpackReader(path)
    first = MsgpackReader(path)
    assert first.get(0)['key'] == 'a0'  # data mapped, offsets loaded
    write_dataset(path, make_samples(5, prefix='b'), overwrite=True)  # same sizes
    with pytest.raises(DatasetError, match='replaced since'):
        reader.get(0)
    with pytest.raises(DatasetError, match='replaced since'):
        first.keys()
    with pytest.raises(DatasetError, match='replaced since'):
        'b1' in first
    assert MsgpackReader(path).keys()[0] == 'b0'


# ------------------------------------------------------- damaged journals

def journal_after_kill(tmp_path, monkeypatch, step='renamed a.msgpack.keys'):
    path = interrupted_write(tmp_path, monkeypatch, step)
    return path, journal_path(path)


@pytest.mark.parametrize('damage', [
    lambda data: data[:len(data) // 2],
    lambda data: b'\x81' + data,
    lambda data: b'[]',
    lambda data: data.replace(b'"version": 1', b'"version": 9'),
    lambda data: data.replace(b'"dataset": "a.msgpack"', b'"dataset": "b.msgpack"'),
    lambda data: data.replace(b'"to": "a.msgpack.filter"', b'"to": "../outside"'),
    lambda data: data.replace(b'"to": "a.msgpack.filter"', b'"to": "a.msgpack.keys"'),
    lambda data: data.replace(b'"from": ".a.msgpack.', b'"from": "../.a.msgpack.', 1),
    lambda data: data.replace(b'"md5": "', b'"md5": "x', 1),
    lambda data: b' ' * (1 << 17),
    lambda data: b'[' * 60000,
    lambda data: data.replace(b'"to": "a.msgpack.filter"', b'"to": ["a.msgpack.filter"]'),
], ids=['truncated', 'not-utf8', 'not-a-journal', 'version', 'other-dataset', 'outside',
        'twice', 'from-outside', 'bad-md5', 'huge', 'deep', 'to-not-str'])
def test_damaged_journal_is_a_clear_error_and_moves_nothing(tmp_path, monkeypatch, damage):
    path, journal = journal_after_kill(tmp_path, monkeypatch)
    journal.write_bytes(damage(journal.read_bytes()))
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    with pytest.raises(DatasetError) as info:
        MsgpackReader(path)
    assert str(journal) in str(info.value) and 'datadings-verify' in str(info.value)
    problems = verify_dataset(path)
    assert problems and journal.name in problems[0]
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before


@pytest.mark.parametrize('kind', ['directory', 'symlink'])
def test_journal_that_is_not_a_file(tmp_path, kind):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    if kind == 'directory':
        journal_path(path).mkdir()
    else:  # never followed: it could point anywhere
        journal_path(path).symlink_to(tmp_path / 'a.msgpack.md5')
    with pytest.raises(DatasetError, match=r'\.a\.msgpack\.commit: (not a commit|cannot read)'):
        MsgpackReader(path)
    assert verify_dataset(path)[0].startswith('.a.msgpack.commit')


def test_files_changed_after_the_kill_are_not_overwritten(tmp_path, monkeypatch):
    # a program that ignores journals (e.g. datadings 3.4.7) rewrote the
    # dataset after the interrupted commit: completing it would mix the two
    path, journal = journal_after_kill(tmp_path, monkeypatch, 'journal')
    time.sleep(0.05)
    keys = path.with_name('a.msgpack.keys')
    keys.write_bytes(keys.read_bytes())
    with pytest.raises(DatasetError, match='changed after the interrupted write'):
        MsgpackReader(path)
    assert journal.exists()


def test_missing_new_file_is_a_clear_error(tmp_path, monkeypatch):
    path, journal = journal_after_kill(tmp_path, monkeypatch, 'renamed a.msgpack.keys')
    entries = json.loads(journal.read_text())['files']
    # a new file that was not moved yet disappears (someone cleaned up)
    (tmp_path / entries[3]['from']).unlink()
    with pytest.raises(DatasetError, match='is missing'):
        MsgpackReader(path)


def test_journal_survives_copy_that_keeps_times(tmp_path, monkeypatch, versions):
    # cp -p / rsync -a of an interrupted commit: inodes change, sizes and
    # times do not; the copy is completed like the original
    import shutil
    path, journal = journal_after_kill(tmp_path, monkeypatch)
    copy = tmp_path.parent / (tmp_path.name + '-copy')
    shutil.copytree(tmp_path, copy)
    with pytest.warns(UserWarning):
        MsgpackReader(copy / 'a.msgpack')
    assert files(copy / 'a.msgpack') == versions['new']


# ----------------------------------------------------------------- misc

def test_commit_refuses_a_directory_in_the_way(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    keys = path.with_name('a.msgpack.keys')
    keys.unlink()
    keys.mkdir()
    with pytest.raises(IsADirectoryError, match='a.msgpack.keys'):
        write_dataset(path, NEW, overwrite=True)
    assert not journal_path(path).exists()
    assert path.read_bytes() == write_dataset(tmp_path / 'o.msgpack', OLD).read_bytes()


def test_commit_without_hard_links(tmp_path, monkeypatch, versions):
    # file systems without link() (FAT, some network ones) rename the journal
    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, 'Operation not permitted')
    monkeypatch.setattr(os, 'link', no_links)
    path = write_dataset(tmp_path / 'a.msgpack', NEW)
    assert files(path) == versions['new'] and leftovers(tmp_path) == []


def test_commit_holds_back_signals(tmp_path, monkeypatch):
    # Ctrl-C, SIGTERM and SIGHUP during the renames take effect after them
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    seen = []

    def hook(name):
        if name == 'renamed a.msgpack.keys':
            os.kill(os.getpid(), signal.SIGINT)
            seen.append(name)
    monkeypatch.setattr(index_module, '_commit_hook', hook)
    if threading.current_thread() is not threading.main_thread():
        pytest.skip('signals are held back in the main thread only')
    with pytest.raises(KeyboardInterrupt):
        write_dataset(path, NEW, overwrite=True)
    assert seen and not journal_path(path).exists()
    monkeypatch.setattr(index_module, '_commit_hook', None)
    assert keys_of(path)[0] == [s['key'] for s in NEW]


def test_recover_commit_without_journal_does_nothing(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    assert recover_commit(path) is False
    assert recover_commit(tmp_path / 'missing.msgpack') is False


def test_commit_files_refuses_moves_between_directories(tmp_path):
    (tmp_path / 'x').mkdir()
    tmp = tmp_path / 'x' / '.a.msgpack.1.tmp'
    tmp.write_bytes(b'')
    with pytest.raises(ValueError, match='within'):
        commit_files(tmp_path / 'a.msgpack', [(tmp, tmp_path / 'a.msgpack', '0' * 32)])


def test_datadings_reads_a_recovered_dataset(tmp_path, monkeypatch):
    reference = os.environ.get('DATADINGS_REFERENCE_PYTHON')
    if not reference:
        pytest.skip('DATADINGS_REFERENCE_PYTHON is not set')
    path, journal = journal_after_kill(tmp_path, monkeypatch)
    # datadings 3.4.7 ignores the journal; once completed, it reads the new dataset
    with pytest.warns(UserWarning):
        MsgpackReader(path)
    script = (f'from datadings.reader import MsgpackReader as R; r = R({str(path)!r}); '
              'print(len(r), r.verify_data(), r.get(6, yield_key=True)[0])')
    proc = subprocess.run([reference, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['7', 'True', 'new6']


@pytest.mark.parametrize('links', [True, False])
def test_commit_that_slipped_in_is_not_recorded_as_old(tmp_path, monkeypatch, versions, links):
    # another commit finished between recording the files to replace and
    # putting the journal in place: the journal is written again
    path = write_dataset(tmp_path / 'a.msgpack', OLD)
    if not links:
        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, 'Operation not permitted')
        monkeypatch.setattr(os, 'link', no_links)
    real_body = index_module._journal_body
    calls = []

    def journal_body(*args):
        result = real_body(*args)
        if not calls:
            with monkeypatch.context() as m:
                m.setattr(index_module, '_journal_body', real_body)
                write_dataset(path, make_samples(3, 'x'), overwrite=True)
        calls.append(1)
        return result
    monkeypatch.setattr(index_module, '_journal_body', journal_body)
    write_dataset(path, NEW, overwrite=True)
    assert len(calls) == 2
    assert files(path) == versions['new'] and leftovers(tmp_path) == []
