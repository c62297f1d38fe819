"""datadings-shuffle: exact bytes, reproducible seeds, atomic output."""
import pytest

from datadings_like.commands import shuffle as shuffle_cmd
from datadings_like.writer import RawWriter

INTERRUPT = '''
import os, signal
from datadings_like.writer import RawWriter
_write = RawWriter.write
_count = [0]
def write(self, key, data):
    _count[0] += 1
    if _count[0] == 5:
        os.kill(os.getpid(), signal.SIGINT)
    return _write(self, key, data)
RawWriter.write = write
'''


def test_shuffle_subprocess(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.run('shuffle', data, out, '--seed', 1, '-q')
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''  # -q: no progress bar, no chatter
    assert cli.multiset(out) == cli.multiset(data)
    assert cli.keys(out) != cli.keys(data)
    assert cli.run('verify', '-q', out).returncode == 0


@pytest.mark.parametrize('options', [[], ['--true-shuffle'], ['--buf-size', '0.2', '--chunk-size', '4']])
def test_shuffle_keeps_bytes_and_seed_reproduces(cli, tmp_path, options):
    data = cli.make(tmp_path / 'data.msgpack', 200)
    a, b, c = (tmp_path / f'{x}.msgpack' for x in 'abc')
    for out, seed in ((a, 1), (b, 1), (c, 2)):
        result = cli.call('shuffle', data, out, '--seed', seed, '-q', *options)
        assert result.returncode == 0, result.stderr
    assert cli.multiset(a) == cli.multiset(data)
    assert a.read_bytes() == b.read_bytes()
    assert cli.keys(a) != cli.keys(c)
    assert cli.keys(a) != cli.keys(data)
    cli.verifies(a)
    cli.verifies(c)


def test_progress_bar_and_default_seed(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.call('shuffle', data, out)
    assert result.returncode == 0, result.stderr
    assert '100%' in result.stderr and '60 samples written' in result.stderr
    assert cli.multiset(out) == cli.multiset(data)


def test_quasi_shuffle_mixes_small_datasets(cli, data, tmp_path):
    # default buffer covers these 60 samples: they must not stay in chunk order
    out = tmp_path / 'out.msgpack'
    cli.call('shuffle', data, out, '--seed', 3, '-q')
    keys = cli.keys(out)
    runs = sum(1 for x, y in zip(keys, keys[1:]) if int(y[1:]) == int(x[1:]) + 1)
    assert runs < 20


def test_same_file_and_existing_output(cli, data, tmp_path):
    before = data.read_bytes()
    cli.user_error(cli.run('shuffle', data, data, '-y'), words=['same file'])
    link = tmp_path / 'link.msgpack'
    link.symlink_to(data)
    cli.user_error(cli.call('shuffle', data, link, '-y'), words=['same file'])
    assert data.read_bytes() == before
    out = tmp_path / 'out.msgpack'
    out.write_bytes(b'old')
    cli.user_error(cli.run('shuffle', data, out), words=['exists'])
    assert out.read_bytes() == b'old'
    assert cli.call('shuffle', data, out, '-y', '-q').returncode == 0
    cli.verifies(out)


def test_bad_options(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.call('shuffle', data, out, '--buf-size', '0'), status=2)
    cli.user_error(cli.call('shuffle', data, out, '--chunk-size', 'x'), status=2)
    cli.user_error(cli.run('shuffle', data, out, '--bogus'), status=2, words=['--bogus'])
    cli.user_error(cli.call('shuffle', tmp_path / 'nope.msgpack', out), words=['nope.msgpack'])
    assert not out.exists()


def test_ctrl_c_leaves_no_output(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.run_patched('shuffle', [data, out, '-q'], INTERRUPT)
    assert result.returncode == 130, result.stderr
    assert 'Traceback' not in result.stderr
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []


def test_exception_keeps_existing_output(cli, data, tmp_path, monkeypatch):
    out = tmp_path / 'out.msgpack'
    cli.make(out, 3, prefix='old')
    old = {p.name: p.read_bytes() for p in cli.dataset_files(out)}
    calls = []

    def failing(self, key, raw):
        calls.append(key)
        if len(calls) == 10:
            raise RuntimeError('disk on fire')
        return original(self, key, raw)
    original = RawWriter.write
    monkeypatch.setattr(RawWriter, 'write', failing)
    with pytest.raises(RuntimeError):
        shuffle_cmd.main([str(data), str(out), '-y', '-q'])
    assert {p.name: p.read_bytes() for p in cli.dataset_files(out)} == old
    assert cli.temp_files(tmp_path) == []


def test_directory_output_is_refused_before_writing(cli, data, tmp_path):
    # a trailing slash names a directory: no file "newdir" appears
    new = tmp_path / 'newdir'
    line = cli.user_error(cli.run('shuffle', '-q', data, f'{new}/'),
                          words=['newdir/: is a directory, not a dataset file'])
    assert 'Traceback' not in line
    assert not new.exists()
    assert list(tmp_path.glob('newdir*')) == []
    # an existing directory: refused, nothing written into or next to it
    new.mkdir()
    cli.user_error(cli.call('shuffle', '-q', data, new), words=['is a directory'])
    cli.user_error(cli.call('shuffle', '-q', '-y', data, f'{new}/'), words=['is a directory'])
    assert list(new.iterdir()) == [] and list(tmp_path.glob('newdir.*')) == []
    assert cli.temp_files(tmp_path) == []


def test_output_below_a_file_is_refused(cli, data, tmp_path):
    for target in (data / 'x.msgpack', data / 'a' / 'b' / 'x.msgpack'):
        cli.user_error(cli.run('shuffle', data, target), words=['is not a directory', str(data)])
    cli.verifies(data)
    assert cli.temp_files(tmp_path) == []


# ------------------------------------------- inputs are checked (issue 9, item 11)

def flip_byte(path, offset=None):
    """Damage ``path`` in place: flip one bit (by default in the middle)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('options', [[], ['--true-shuffle'], ['--buf-size', '0.1', '--chunk-size', '2']])
def test_damaged_input_is_not_laundered(cli, data, tmp_path, options):
    # raw copying never decodes the damaged byte: only the .md5 can tell
    flip_byte(data)
    out = tmp_path / 'out.msgpack'
    line = cli.user_error(cli.run('shuffle', data, out, '-q', *options),
                          words=[str(data), 'data.msgpack.md5', '--no-verify'])
    assert 'does not match' in line
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []


def test_no_verify_copies_a_damaged_input(cli, data, tmp_path):
    flip_byte(data)
    out = tmp_path / 'out.msgpack'
    result = cli.call('shuffle', data, out, '-q', '--no-verify', '--seed', 1)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert cli.multiset(out) == cli.multiset(data)


def test_damaged_input_keeps_the_existing_output(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    cli.make(out, 3, prefix='old')
    old = {p.name: p.read_bytes() for p in cli.dataset_files(out)}
    flip_byte(data, -1)  # the last byte: read last by a sequential pass
    cli.user_error(cli.call('shuffle', data, out, '-y', '-q'), words=[str(data)])
    assert {p.name: p.read_bytes() for p in cli.dataset_files(out)} == old
    assert cli.temp_files(tmp_path) == []


@pytest.mark.parametrize('suffix, offset', [
    ('.keys', 20), ('.offsets', -9), ('.key_hashes', 20), ('.filter', 20),
])
def test_damaged_index_file_stops_before_writing(cli, data, tmp_path, suffix, offset):
    # (-9: the next to last offset; the reader itself checks the last one)
    flip_byte(tmp_path / f'data.msgpack{suffix}', offset)
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.call('shuffle', data, out, '-q'), words=[str(data), f'data.msgpack{suffix}'])
    assert cli.dataset_files(out) == []


def test_damaged_md5_file_is_an_error(cli, data, tmp_path):
    md5 = tmp_path / 'data.msgpack.md5'
    md5.write_bytes(md5.read_bytes() + b'\x81')
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.run('shuffle', data, out, '-q'), words=[str(md5), 'damaged', '--no-verify'])
    assert cli.dataset_files(out) == []
    assert cli.call('shuffle', data, out, '-q', '--no-verify').returncode == 0


def test_input_without_md5_is_copied_with_one_warning(cli, data, tmp_path):
    (tmp_path / 'data.msgpack.md5').unlink()
    out = tmp_path / 'out.msgpack'
    result = cli.run('shuffle', data, out, '-q')
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('warning: ') and 'data.msgpack.md5' in lines[0]
    assert 'Traceback' not in result.stderr
    cli.verifies(out)
    assert cli.call('shuffle', data, out, '-y', '-q', '--no-verify').stderr == ''


def test_renamed_input_is_copied_with_one_warning(cli, data, tmp_path):
    # its .md5 still names the old file: it cannot be checked, but it is no damage
    renamed = tmp_path / 'renamed.msgpack'
    for path in cli.dataset_files(data):
        path.rename(renamed.with_name('renamed' + path.name[len('data'):]))
    out = tmp_path / 'out.msgpack'
    result = cli.call('shuffle', renamed, out, '-q')
    assert result.returncode == 0, result.stderr
    assert result.stderr.count('warning: ') == 1 and 'lists no MD5 for renamed.msgpack' in result.stderr
    cli.verifies(out)


def test_sound_input_passes_with_a_slow_check(cli, data, tmp_path, monkeypatch):
    # the check runs in a thread beside the copying: the tool waits for it
    from datadings_like.commands import _verify_inputs
    monkeypatch.setattr(_verify_inputs, '_READ_SIZE', 7)
    out = tmp_path / 'out.msgpack'
    result = cli.call('shuffle', data, out, '-q')
    assert result.returncode == 0, result.stderr
    cli.verifies(out)
    flip_byte(data, -1)
    cli.user_error(cli.call('shuffle', data, out, '-y', '-q'), words=[str(data)])
