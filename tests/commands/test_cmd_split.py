"""datadings-split: positions, default names, all-or-nothing output."""
import pytest

from datadings_like.commands import split as split_cmd
from datadings_like.writer import RawWriter


def test_split_default_names(cli, data, tmp_path):
    result = cli.run('split', data, 10, 45, '-q')
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    outs = [tmp_path / f'data-{i}.msgpack' for i in range(3)]
    raw = cli.raw(data)
    assert cli.raw(outs[0]) == raw[:10]
    assert cli.raw(outs[1]) == raw[10:45]
    assert cli.raw(outs[2]) == raw[45:]
    assert cli.run('verify', '-q', *outs).returncode == 0


def test_split_outfiles_and_negative_position(cli, data, tmp_path):
    train, val = tmp_path / 'train.msgpack', tmp_path / 'sub' / 'val.msgpack'
    result = cli.call('split', data, '-10', '-o', train, val)
    assert result.returncode == 0, result.stderr
    assert '50 samples written' in result.stderr and '10 samples written' in result.stderr
    raw = cli.raw(data)
    assert cli.raw(train) == raw[:50]
    assert cli.raw(val) == raw[50:]
    cli.verifies(train)
    cli.verifies(val)


@pytest.mark.parametrize('positions, words', [
    (['0'], ['outside']),
    (['60'], ['outside']),
    (['70'], ['outside']),
    (['-60'], ['outside']),
    (['30', '20'], ['increase']),
    (['30', '30'], ['increase']),
])
def test_bad_positions(cli, data, tmp_path, positions, words):
    cli.user_error(cli.call('split', data, *positions), words=words)
    assert sorted(p.name for p in tmp_path.iterdir() if 'data-' in p.name) == []


def test_user_errors(cli, data, tmp_path):
    cli.user_error(cli.run('split', data, 100), words=['outside', '60 samples'])
    cli.user_error(cli.call('split', data, 10, '-o', tmp_path / 'x.msgpack'),
                   words=['2 files'])
    cli.user_error(cli.call('split', data, 10, '-o', tmp_path / 'x.msgpack', data, '-y'),
                   words=['same file'])
    cli.user_error(cli.call('split', data, 'ten'), status=2)
    cli.user_error(cli.call('split', tmp_path / 'none.msgpack', 3), words=['none.msgpack'])
    # an existing second output: refused before the first one is written
    second = tmp_path / 'data-1.msgpack'
    second.write_bytes(b'old')
    cli.user_error(cli.run('split', data, 10), words=['exists'])
    assert not (tmp_path / 'data-0.msgpack').exists()
    assert second.read_bytes() == b'old'
    assert cli.temp_files(tmp_path) == []


def test_failure_in_last_part_leaves_no_output(cli, data, tmp_path, monkeypatch):
    original = RawWriter.write
    count = [0]

    def write(self, key, raw):
        count[0] += 1
        if count[0] == 55:
            raise RuntimeError('boom')
        return original(self, key, raw)
    monkeypatch.setattr(RawWriter, 'write', write)
    with pytest.raises(RuntimeError):
        split_cmd.main([str(data), '20', '40', '-q'])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in cli.dataset_files(data))


def test_trailing_slash_output_is_refused(cli, data, tmp_path):
    new = tmp_path / 'newdir'
    cli.user_error(cli.run('split', data, '1', '-o', tmp_path / 'a.msgpack', f'{new}/'),
                   words=['newdir/: is a directory'])
    assert not new.exists() and not (tmp_path / 'a.msgpack').exists()


# ------------------------------------------- inputs are checked (issue 9, item 11)

def flip_byte(path, offset=None):
    """Damage ``path`` in place: flip one bit (by default in the middle)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('offset', [0, None, -1])
def test_damaged_input_gives_no_output_at_all(cli, data, tmp_path, offset):
    flip_byte(data, offset)
    result = cli.run('split', data, 10, 45, '-q')
    cli.user_error(result, words=[str(data), 'data.msgpack.md5', '--no-verify'])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('data-')] == []
    assert cli.temp_files(tmp_path) == []
    result = cli.call('split', data, 10, 45, '-q', '--no-verify')
    assert result.returncode == 0, result.stderr
    assert cli.raw(tmp_path / 'data-1.msgpack') == cli.raw(data)[10:45]


def test_input_hashed_in_many_blocks(cli, data, tmp_path, monkeypatch):
    from datadings_like.commands import _verify_inputs
    monkeypatch.setattr(_verify_inputs, '_BLOCK_BYTES', 250)
    result = cli.call('split', data, 7, -3, '-q')
    assert result.returncode == 0, result.stderr
    for i in range(3):
        cli.verifies(tmp_path / f'data-{i}.msgpack')
    flip_byte(data, -1)
    cli.user_error(cli.call('split', data, 7, -3, '-q', '-y'), words=[str(data)])


def test_damaged_index_file_is_an_error(cli, data, tmp_path):
    flip_byte(tmp_path / 'data.msgpack.key_hashes', 30)
    cli.user_error(cli.call('split', data, 10, '-q'), words=['data.msgpack.key_hashes'])
    assert not (tmp_path / 'data-0.msgpack').exists()
