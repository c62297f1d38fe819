"""datadings-verify: md5, offsets parse to whole messages, keys agree."""
import hashlib

import msgpack

from datadings_like.index import write_keys
from datadings_like.index import write_offsets


def rewrite_md5(path):
    """Make the .md5 agree with the files as they are now."""
    md5 = path.with_name(path.name + '.md5')
    lines = []
    for line in md5.read_text().splitlines():
        _, name = line.split('  ', 1)
        digest = hashlib.md5(path.with_name(name).read_bytes()).hexdigest()
        lines.append(f'{digest}  {name}\n')
    md5.write_text(''.join(lines))


def test_sound_files(cli, data, tmp_path):
    other = cli.make(tmp_path / 'other.msgpack', 5, prefix='o')
    result = cli.run('verify', data, other)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f'{data}: OK', f'{other}: OK']


def test_damaged_data_byte(cli, data, tmp_path):
    sound = cli.make(tmp_path / 'sound.msgpack', 5, prefix='o')
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    result = cli.run('verify', '-q', sound, data)
    assert result.returncode == 1
    assert f'{sound}: OK' in result.stdout
    problems = [line for line in result.stdout.splitlines() if line.startswith(f'{data}:')]
    assert problems and all('OK' not in p for p in problems)
    assert any('data.msgpack does not match its MD5' in p for p in problems)
    assert 'Traceback' not in result.stderr


def test_missing_md5_and_missing_file(cli, data, tmp_path):
    data.with_name('data.msgpack.md5').unlink()
    result = cli.call('verify', '-q', data, tmp_path / 'gone.msgpack')
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any('md5 is missing' in line for line in lines)
    assert f'{tmp_path / "gone.msgpack"}: file not found' in lines


def test_keys_disagree_with_samples(cli, data):
    keys = cli.keys(data)
    keys[3], keys[4] = keys[4], keys[3]
    write_keys(keys, data)
    rewrite_md5(data)
    result = cli.call('verify', '-q', data)
    assert result.returncode == 1
    assert 'disagree' in result.stdout and "'s0004' != 's0003'" in result.stdout
    assert len(result.stdout.splitlines()) == 1  # hashes still match the samples


def test_offsets_do_not_parse_to_messages(cli, data):
    with open(data.with_name('data.msgpack.offsets'), 'rb') as f:
        raw = f.read()
    offsets = [int.from_bytes(raw[i:i + 8], 'big') for i in range(0, len(raw), 8)]
    offsets[5] += 3
    write_offsets(offsets, data)
    rewrite_md5(data)
    result = cli.call('verify', '-q', data)
    assert result.returncode == 1
    assert 'offset of sample 5' in result.stdout and 'whole messages' in result.stdout


def test_garbage_and_truncated_data(cli, data, tmp_path):
    truncated = tmp_path / 'cut.msgpack'
    cli.make(truncated, 60)  # then cut the data file short
    truncated.write_bytes(truncated.read_bytes()[:-10])
    text = tmp_path / 'text.msgpack'
    text.write_bytes(b'hello world')
    result = cli.call('verify', '-q', truncated, text)
    assert result.returncode == 1
    out = result.stdout
    assert 'file ends in the middle of a sample' in out
    assert 'not a msgpack map' in out
    assert 'no index' in out


def test_duplicate_keys_in_data(cli, tmp_path):
    path = tmp_path / 'dup.msgpack'
    path.write_bytes(msgpack.packb({'key': 'a'}) + msgpack.packb({'key': 'a'}))
    result = cli.call('verify', '-q', path)
    assert result.returncode == 1
    assert 'duplicate' in result.stdout


def test_usage_errors(cli):
    cli.user_error(cli.call('verify'), status=2)
    cli.user_error(cli.call('verify', '--bogus', 'x'), status=2)


KILLED_COMMIT = '''
import os, signal
from datadings_like import index
from datadings_like.writer import FileWriter

def hook(name):
    if name == 'renamed {name}.keys':
        os.kill(os.getpid(), signal.SIGKILL)
index._commit_hook = hook
with FileWriter({path!r}, overwrite=True, disable=True) as writer:
    for i in range(9):
        writer.write({{'key': f'new{{i}}'}})
'''


def killed_while_committing(cli, path):
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, '-c', KILLED_COMMIT.format(name=path.name, path=str(path))],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode < 0, proc.stderr
    assert path.with_name(f'.{path.name}.commit').exists()


def test_interrupted_commit_is_completed(cli, data):
    killed_while_committing(cli, data)
    result = cli.run('verify', '-q', data)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f'{data}: OK\n'
    assert result.stderr == f'{data}: note: completed the last write, which was interrupted ' \
        'while it renamed its files\n'
    assert cli.keys(data) == [f'new{i}' for i in range(9)]
    assert cli.temp_files(data.parent) == []


def test_interrupted_commit_without_write_access_is_a_problem(cli, data):
    killed_while_committing(cli, data)
    read_only = '''
import errno, os
def refuse(*args, **kwargs):
    raise PermissionError(errno.EACCES, 'Permission denied', args[0])
os.replace = os.rename = os.unlink = refuse
'''
    result = cli.run_patched('verify', ['-q', data], read_only)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f'{data}: data.msgpack: the last write of this dataset was interrupted')
    assert 'write access' in lines[0]
    assert len(lines) > 1  # the mixed files do not pass either
    assert cli.run('verify', '-q', data).returncode == 0  # with write access
