"""datadings-index: rebuild the index and .md5 by scanning the data."""
import msgpack

SUFFIXES = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def sidecars(path):
    return {s: path.with_name(path.name + s).read_bytes() for s in SUFFIXES}


def test_rebuild_lost_index(cli, data):
    originals = sidecars(data)
    for s in SUFFIXES:
        data.with_name(data.name + s).unlink()
    result = cli.run('index', data)
    assert result.returncode == 0, result.stderr
    assert 'indexed 60 samples' in result.stderr
    assert sidecars(data) == originals  # byte-identical to the writer's
    assert cli.run('verify', '-q', data).returncode == 0


def test_rebuild_damaged_index_needs_y(cli, data, tmp_path):
    originals = sidecars(data)
    offsets = data.with_name('data.msgpack.offsets')
    offsets.write_bytes(offsets.read_bytes()[:-16])
    cli.user_error(cli.call('index', data), words=['exists', '-y'])
    assert offsets.read_bytes() != originals['.offsets']
    other = cli.make(tmp_path / 'other.msgpack', 4, prefix='o')
    result = cli.call('index', '-y', '-q', data, other)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    assert sidecars(data) == originals
    cli.verifies(other)


def test_changed_data_gets_warning(cli, tmp_path):
    path = tmp_path / 'x.msgpack'
    path.write_bytes(msgpack.packb({'key': 'a', 'v': 1}) + msgpack.packb({'key': 'b'}))
    path.with_name('x.msgpack.md5').write_text('0' * 32 + '  x.msgpack\n')
    result = cli.call('index', '-q', path)
    assert result.returncode == 0, result.stderr
    assert 'warning' in result.stderr and 'old .md5' in result.stderr
    assert cli.keys(path) == ['a', 'b']
    cli.verifies(path)


def test_unindexable_data_writes_nothing(cli, data, tmp_path):
    cut = tmp_path / 'cut.msgpack'
    cut.write_bytes(data.read_bytes()[:-5])
    cli.user_error(cli.run('index', cut), words=['sample 59', 'middle of a sample'])
    dup = tmp_path / 'dup.msgpack'
    dup.write_bytes(msgpack.packb({'key': 'a'}) * 2)
    cli.user_error(cli.call('index', dup), words=['duplicate'])
    nokey = tmp_path / 'nokey.msgpack'
    nokey.write_bytes(msgpack.packb({'id': 'a'}))
    cli.user_error(cli.call('index', nokey), words=['no "key"'])
    intkey = tmp_path / 'intkey.msgpack'
    intkey.write_bytes(msgpack.packb({'key': 5}))
    cli.user_error(cli.call('index', intkey), words=['not str'])
    text = tmp_path / 'text.msgpack'
    text.write_text('plain text')
    cli.user_error(cli.call('index', text), words=['not a msgpack map'])
    cli.user_error(cli.call('index', tmp_path / 'gone.msgpack'), words=['gone.msgpack'])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ['cut.msgpack', 'dup.msgpack', 'nokey.msgpack', 'intkey.msgpack', 'text.msgpack']
        + [p.name for p in cli.dataset_files(data)])
    cli.user_error(cli.call('index', '--bogus', text), status=2)


def test_interrupted_commit_is_completed_first(cli, data):
    import subprocess
    import sys
    script = f'''
import os, signal
from datadings_like import index
from datadings_like.writer import FileWriter
index._commit_hook = lambda step: step == 'renamed data.msgpack' and os.kill(os.getpid(), signal.SIGKILL)
with FileWriter({str(data)!r}, overwrite=True, disable=True) as writer:
    writer.write({{'key': 'only'}})
'''
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode < 0, proc.stderr
    result = cli.run('index', '-y', '-q', data)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f'warning: {data}: completed the last write, which was '
                             'interrupted while it renamed its files\n')
    assert cli.keys(data) == ['only'] and cli.temp_files(data.parent) == []
    assert cli.run('verify', '-q', data).returncode == 0
