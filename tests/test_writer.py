import os
import signal
import subprocess
import sys
import textwrap

import msgpack
import numpy as np
import pytest

from datadings_like import writer as writer_module
from datadings_like.reader import MsgpackReader
from datadings_like.tools import load_md5file, hash_md5hex
from datadings_like.writer import FileWriter, RawWriter

from conftest import make_samples, write_dataset

SIDECARS = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def dataset_files(path):
    return [path] + [path.with_name(path.name + s) for s in SIDECARS]


def test_writes_all_six_files(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(10))
    assert all(p.exists() for p in dataset_files(path))
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in dataset_files(path))


def test_md5_file_lists_every_file_in_order(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(10))
    lines = path.with_name('a.msgpack.md5').read_text().splitlines()
    names = [line.split('  ')[1] for line in lines]
    assert names == ['a.msgpack'] + ['a.msgpack' + s for s in SIDECARS[:-1]]
    for name, md5 in load_md5file(path.with_name('a.msgpack.md5')).items():
        assert hash_md5hex(tmp_path / name) == md5


def test_offsets_and_keys_describe_data(tmp_path):
    samples = make_samples(20)
    path = write_dataset(tmp_path / 'a.msgpack', samples)
    offsets = np.fromfile(str(path) + '.offsets', dtype='>u8')
    assert offsets[0] == 0 and offsets[-1] == path.stat().st_size
    assert len(offsets) == 21
    keys = msgpack.unpackb(path.with_name('a.msgpack.keys').read_bytes())
    assert keys == [s['key'] for s in samples]


def test_written_count_and_path(tmp_path):
    with FileWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        for sample in make_samples(7):
            writer.write(sample)
        assert writer.written == 7
    assert writer.path == tmp_path / 'a.msgpack'


def test_small_flush_buffer_gives_same_bytes(tmp_path):
    samples = make_samples(50)
    a = write_dataset(tmp_path / 'a.msgpack', samples)
    b = write_dataset(tmp_path / 'b.msgpack', samples, buffering=10)
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / 'a.msgpack.offsets').read_bytes() == (tmp_path / 'b.msgpack.offsets').read_bytes()


def test_empty_dataset(tmp_path):
    path = write_dataset(tmp_path / 'empty.msgpack', [])
    with MsgpackReader(path) as reader:
        assert len(reader) == 0
        assert list(reader) == []
        assert 'x' not in reader


def test_duplicate_key_raises_naming_key_and_writes_nothing(tmp_path):
    path = tmp_path / 'a.msgpack'
    with pytest.raises(ValueError, match="duplicate key 'dup'"):
        with FileWriter(path, disable=True) as writer:
            writer.write({'key': 'dup'})
            writer.write({'key': 'dup'})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('sample, error, message', [
    ([1, 2], TypeError, 'must be a dict'),
    ({'image': b''}, ValueError, 'no "key"'),
    ({'key': 3}, TypeError, 'key must be str'),
    ({'key': b'bytes'}, TypeError, 'key must be str'),
    ({'key': 'a', 'nd': 1}, ValueError, "reserved top-level key \\('nd'\\)"),
    ({'key': 'a', 'complex': 1}, ValueError, 'reserved'),
])
def test_invalid_samples_are_refused(tmp_path, sample, error, message):
    with FileWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        with pytest.raises(error, match=message):
            writer.write(sample)
        writer.write({'key': 'ok'})
    with MsgpackReader(tmp_path / 'a.msgpack') as reader:
        assert [s['key'] for s in reader] == ['ok']


def test_raw_writer_checks_key_type(tmp_path):
    with RawWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        with pytest.raises(TypeError):
            writer.write(5, msgpack.packb({'key': 5}))
        writer.write('x', memoryview(msgpack.packb({'key': 'x'})))
    assert MsgpackReader(tmp_path / 'a.msgpack').get(0) == {'key': 'x'}


def test_exception_in_block_leaves_nothing(tmp_path):
    path = tmp_path / 'a.msgpack'
    with pytest.raises(RuntimeError):
        with FileWriter(path, disable=True) as writer:
            writer.write({'key': 'a'})
            raise RuntimeError('boom')
    assert os.listdir(tmp_path) == []


def test_exception_keeps_existing_dataset_intact(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5))
    before = {p.name: p.read_bytes() for p in dataset_files(path)}
    with pytest.raises(RuntimeError):
        with FileWriter(path, overwrite=True, disable=True) as writer:
            writer.write({'key': 'new'})
            raise RuntimeError('boom')
    assert {p.name: p.read_bytes() for p in dataset_files(path)} == before
    assert sorted(os.listdir(tmp_path)) == sorted(before)


class NoSpace:
    """A data file whose disk is full."""

    def __init__(self, fileobj):
        self._file = fileobj

    def write(self, data):
        raise OSError(28, 'No space left on device')

    def close(self):
        self._file.close()


def test_full_disk_leaves_no_dataset(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(5))
    before = path.read_bytes()
    with pytest.raises(OSError, match='No space'):
        with FileWriter(path, overwrite=True, disable=True, buffering=1) as writer:
            writer._sink._file = NoSpace(writer._sink._file)
            for i in range(20):
                writer.write({'key': str(i), 'data': b'1' * 100})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in dataset_files(path))


def test_write_after_close_is_refused(tmp_path):
    with FileWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        writer.write({'key': 'a'})
    with pytest.raises(ValueError, match='closed'):
        writer.write({'key': 'b'})
    assert len(MsgpackReader(tmp_path / 'a.msgpack')) == 1


def test_full_disk_while_writing_index_leaves_no_dataset(tmp_path, monkeypatch):
    def no_space(keys, path):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(writer_module, 'write_filter', no_space)
    with pytest.raises(OSError):
        with FileWriter(tmp_path / 'a.msgpack', disable=True) as writer:
            writer.write({'key': 'x'})
    assert os.listdir(tmp_path) == []


def test_killed_writer_leaves_no_dataset(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(3))
    before = path.read_bytes()
    script = textwrap.dedent(f'''
        import os, signal, sys
        from datadings_like.writer import FileWriter
        w = FileWriter({str(path)!r}, overwrite=True, disable=True, buffering=1)
        for i in range(1000):
            w.write({{'key': str(i), 'data': b'x' * 1000}})
        print('written', flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == -signal.SIGKILL
    assert 'written' in proc.stdout
    assert path.read_bytes() == before
    with MsgpackReader(path) as reader:
        assert len(reader) == 3


def test_non_interactive_existing_file_raises_with_hint(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    monkeypatch.setattr(writer_module, 'stdin_is_interactive', lambda: False)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        FileWriter(path, disable=True)


def test_non_interactive_subprocess_does_not_block(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    script = f'from datadings_like.writer import FileWriter; FileWriter({str(path)!r})'
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode != 0
    assert 'FileExistsError' in proc.stderr and '-y' in proc.stderr


@pytest.mark.parametrize('answer, error', [('no', FileExistsError), ('abort', KeyboardInterrupt)])
def test_interactive_prompt_decline_and_abort(tmp_path, monkeypatch, answer, error):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    before = path.read_bytes()
    monkeypatch.setattr(writer_module, 'stdin_is_interactive', lambda: True)
    monkeypatch.setattr(writer_module, 'query_user', lambda question: answer)
    with pytest.raises(error):
        FileWriter(path, disable=True)
    assert path.read_bytes() == before
    assert not any(name.endswith('.tmp') for name in os.listdir(tmp_path))


def test_interactive_prompt_accept_overwrites(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    monkeypatch.setattr(writer_module, 'stdin_is_interactive', lambda: True)
    monkeypatch.setattr(writer_module, 'query_user', lambda question: 'yes')
    write_dataset(path, make_samples(5))
    assert len(MsgpackReader(path)) == 5


def test_overwrite_replaces_dataset(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(10))
    write_dataset(path, make_samples(4, prefix='new'), overwrite=True)
    with MsgpackReader(path) as reader:
        assert [s['key'] for s in reader] == ['new0', 'new1', 'new2', 'new3']
        assert reader.verify_data() and reader.verify_index()


def test_files_get_normal_permissions(tmp_path):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_creates_parent_directories(tmp_path):
    path = write_dataset(tmp_path / 'x' / 'y' / 'a.msgpack', make_samples(2))
    assert path.exists()


def test_progress_bar_total_and_summary(tmp_path, capsys):
    with FileWriter(tmp_path / 'a.msgpack', total=3) as writer:
        for sample in make_samples(3):
            writer.write(sample)
    err = capsys.readouterr().err
    assert '3 samples written' in err
    assert '100%' in err


@pytest.mark.parametrize('existing', [True, False])
@pytest.mark.parametrize('fail_at', ['.offsets', '.keys', '.filter', 'a.msgpack', '.md5'])
def test_interrupted_commit_gives_new_dataset_never_a_mix(tmp_path, monkeypatch, existing, fail_at):
    # a rename that fails once the commit's journal is in place leaves the
    # commit pending; the next open completes it (see tests/test_commit.py)
    path = tmp_path / 'a.msgpack'
    if existing:
        write_dataset(path, make_samples(5))
    expected = write_dataset(tmp_path / 'expected' / 'a.msgpack', make_samples(7, prefix='new'))
    real_replace = os.replace

    def interrupted(src, dst):
        if str(dst).endswith(fail_at):
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(writer_module.os, 'replace', interrupted)
    with pytest.raises(KeyboardInterrupt):
        with FileWriter(path, overwrite=True, disable=True) as writer:
            for sample in make_samples(7, prefix='new'):
                writer.write(sample)
    monkeypatch.setattr(writer_module.os, 'replace', real_replace)
    with pytest.warns(UserWarning, match='interrupted'):
        reader = MsgpackReader(path)
    assert [s['key'] for s in reader] == [f'new{i}' for i in range(7)]
    assert {p.name: p.read_bytes() for p in dataset_files(path)} == \
        {p.name: p.read_bytes() for p in dataset_files(expected)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in dataset_files(path)] + ['expected'])


def test_disk_full_names_the_dataset_file(tmp_path):
    path = tmp_path / 'a.msgpack'
    with pytest.raises(OSError) as info:
        with FileWriter(path, disable=True, buffering=1) as writer:
            writer._sink._file = NoSpace(writer._sink._file)
            for i in range(20):
                writer.write({'key': str(i), 'data': b'1' * 100})
    assert info.value.errno == 28 and info.value.filename == str(path)
    assert str(path) in str(info.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('suffix, function', [('.offsets', 'write_offsets'),
                                              ('.keys', 'write_keys'),
                                              ('.filter', 'write_filter')])
def test_disk_full_while_writing_index_names_the_file(tmp_path, monkeypatch, suffix, function):
    def no_space(values, path):
        path.write_bytes(b'')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(writer_module, function, no_space)
    path = tmp_path / 'a.msgpack'
    with pytest.raises(OSError) as info:
        with FileWriter(path, disable=True) as writer:
            writer.write({'key': 'x'})
    assert info.value.errno == 28 and info.value.filename == str(path) + suffix
    assert os.listdir(tmp_path) == []


def test_disk_full_message_of_a_tool_names_the_file(tmp_path):
    script = textwrap.dedent(f'''
        from datadings_like.tools.cli import run_main
        from datadings_like import writer as w

        def main(argv):
            w.write_keys = lambda keys, path: (_ for _ in ()).throw(OSError(28, 'No space left on device'))
            with w.FileWriter({str(tmp_path / 'a.msgpack')!r}, disable=True) as f:
                f.write({{'key': 'x'}})
        run_main(main, [], prog='datadings-x')
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f'datadings-x: error: no space left on device ({tmp_path / "a.msgpack"}.keys)'


def test_unclosed_writer_at_exit_leaves_no_temporary_files(tmp_path):
    script = textwrap.dedent(f'''
        from datadings_like.writer import FileWriter
        w = FileWriter({str(tmp_path / 'g.msgpack')!r}, disable=True, buffering=1000)
        for i in range(20000):
            w.write({{'key': f'k{{i}}', 'v': b'x' * 100}})
    ''')
    for _ in range(3):
        proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        assert 'Fatal' not in proc.stderr and 'Exception ignored' not in proc.stderr
        assert os.listdir(tmp_path) == []


def test_str_subclass_keys_are_stored_as_str(tmp_path):
    with FileWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        writer.write({'key': np.str_('numpy-key'), 'v': 1})
    reader = MsgpackReader(tmp_path / 'a.msgpack')
    assert reader.keys() == ['numpy-key'] and reader.find_index('numpy-key') == 0


def test_raw_writer_refuses_non_bytes_data(tmp_path):
    with RawWriter(tmp_path / 'a.msgpack', disable=True) as writer:
        with pytest.raises(TypeError):
            writer.write('a', 5)
        writer.write('b', bytearray(msgpack.packb({'key': 'b'})))
    assert MsgpackReader(tmp_path / 'a.msgpack').get(0) == {'key': 'b'}


def test_bad_progress_bar_argument_fails_cleanly(tmp_path):
    script = (f'from datadings_like.writer import FileWriter\n'
              f'try:\n    FileWriter({str(tmp_path / "a.msgpack")!r}, bogus=1)\n'
              f'except Exception as e:\n    print(type(e).__name__)\n')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    assert proc.stdout.strip() == 'TqdmKeyError'
    assert 'Exception ignored' not in proc.stderr
    assert os.listdir(tmp_path) == []


def test_ctrl_d_at_the_prompt_declines(tmp_path, monkeypatch):
    path = write_dataset(tmp_path / 'a.msgpack', make_samples(2))
    monkeypatch.setattr(writer_module, 'stdin_is_interactive', lambda: True)

    def eof(question):
        raise EOFError
    monkeypatch.setattr(writer_module, 'query_user', eof)
    with pytest.raises(FileExistsError, match='exists, not replaced'):
        FileWriter(path, disable=True)


def test_output_path_problems_are_named(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(NotADirectoryError, match='file: is not a directory'):
        FileWriter(tmp_path / 'file' / 'a.msgpack', disable=True)
    (tmp_path / 'dir.msgpack').mkdir()
    with pytest.raises(IsADirectoryError, match='is a directory'):
        FileWriter(tmp_path / 'dir.msgpack', disable=True)
    assert sorted(os.listdir(tmp_path)) == ['dir.msgpack', 'file']


def test_progress_without_total_shows_count(tmp_path, capsys):
    with FileWriter(tmp_path / 'a.msgpack') as writer:
        writer.write({'key': 'only'})
    err = capsys.readouterr().err
    assert '%' not in err and '1 sample written' in err


@pytest.mark.parametrize('size', [100, 20_000, 300_000])
def test_data_file_and_md5_for_small_and_large_samples(tmp_path, size):
    # small samples are joined before they are written and hashed, large
    # ones (16 KiB and more on average) are handed on as they are
    import hashlib
    from datadings_like.msgpack import make_packer
    samples = [{'key': f'k{i}', 'data': bytes([i % 251]) * size} for i in range(40)]
    path = write_dataset(tmp_path / f'{size}.msgpack', samples, buffering=100_000)
    pack = make_packer().pack
    data = path.read_bytes()
    assert data == b''.join(pack(s) for s in samples)
    md5 = (tmp_path / f'{size}.msgpack.md5').read_text().split('\n')[0].split()[0]
    assert md5 == hashlib.md5(data).hexdigest()
    reader = MsgpackReader(path)
    assert reader.verify_data()
    assert [s['key'] for s in reader] == [s['key'] for s in samples]


def test_data_reaches_the_disk_while_it_is_written(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(writer_module, '_SYNC_BYTES', 50_000)
    monkeypatch.setattr(writer_module, '_fdatasync', lambda fd: synced.append(os.fstat(fd).st_size))
    samples = [{'key': f'k{i}', 'data': bytes(20_000)} for i in range(20)]
    path = write_dataset(tmp_path / 'synced.msgpack', samples, buffering=30_000)
    assert len(synced) >= 5
    assert synced == sorted(synced) and synced[-1] <= path.stat().st_size
    assert MsgpackReader(path).verify_data()
