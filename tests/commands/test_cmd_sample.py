"""datadings-sample: sequential and random strategies."""
import pytest


def test_sequential(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.run('sample', data, out, 7)
    assert result.returncode == 0, result.stderr
    assert '7 samples written' in result.stderr
    assert cli.raw(out) == cli.raw(data)[:7]
    assert cli.run('verify', out).stdout == f'{out}: OK\n'


def test_random_subset_in_order_and_reproducible(cli, data, tmp_path):
    a, b, c = (tmp_path / f'{x}.msgpack' for x in 'abc')
    for out, seed in ((a, 9), (b, 9), (c, 10)):
        result = cli.call('sample', '-s', 'random', '--seed', seed, '-q', data, out, 20)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ''
    raw = cli.raw(data)
    picked = cli.raw(a)
    assert len(picked) == 20 and len(set(picked)) == 20
    assert picked == [s for s in raw if s in set(picked)]  # input order kept
    assert picked != raw[:20]
    assert a.read_bytes() == b.read_bytes()
    assert cli.keys(a) != cli.keys(c)
    cli.verifies(a)
    # the whole dataset is allowed
    assert cli.call('sample', '-s', 'random', '-q', data, c, 60, '-y').returncode == 0
    assert cli.raw(c) == raw


def test_user_errors(cli, data, tmp_path):
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.run('sample', data, out, 61), words=['61', '60'])
    cli.user_error(cli.call('sample', data, out, 0), status=2)
    cli.user_error(cli.call('sample', data, out, -3), status=2)
    cli.user_error(cli.call('sample', data, out, 'x'), status=2)
    cli.user_error(cli.call('sample', '-s', 'best', data, out, 3), status=2)
    cli.user_error(cli.call('sample', data, data, 3, '-y'), words=['same file'])
    cli.user_error(cli.call('sample', tmp_path / 'no.msgpack', out, 3), words=['no.msgpack'])
    assert cli.dataset_files(out) == []
    out.write_bytes(b'x')
    cli.user_error(cli.call('sample', data, out, 3), words=['exists'])
    assert out.read_bytes() == b'x'


def test_directory_output_is_refused(cli, data, tmp_path):
    cli.user_error(cli.call('sample', '-q', data, f'{tmp_path / "newdir"}/', 3),
                   words=['newdir/: is a directory, not a dataset file'])
    assert list(tmp_path.glob('newdir*')) == []
    cli.user_error(cli.call('sample', '-q', data, data / 'x.msgpack', 3),
                   words=['is not a directory'])


# ------------------------------------------- inputs are checked (issue 9, item 11)


def flip_byte(path, offset=None):
    """Damage ``path`` in place: flip one bit (by default in the middle)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('strategy', ['sequential', 'random'])
def test_damaged_input_is_not_laundered(cli, data, tmp_path, strategy):
    # damage far behind the samples taken: the whole input is checked
    flip_byte(data, -1)
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.run('sample', '-s', strategy, data, out, 3),
                   words=[str(data), 'data.msgpack.md5', '--no-verify'])
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []
    result = cli.call('sample', '-s', strategy, '--seed', 1, '--no-verify', '-q', data, out, 3)
    assert result.returncode == 0, result.stderr
    assert set(cli.raw(out)) <= set(cli.raw(data))


def test_sound_input_with_a_slow_check(cli, data, tmp_path, monkeypatch):
    # copying 2 samples is quick; the tool waits for the check to finish
    from datadings_like.commands import _verify_inputs
    monkeypatch.setattr(_verify_inputs, '_READ_SIZE', 5)
    out = tmp_path / 'out.msgpack'
    result = cli.call('sample', '-q', data, out, 2)
    assert result.returncode == 0, result.stderr
    assert cli.raw(out) == cli.raw(data)[:2]


def test_input_without_md5_warns_once(cli, data, tmp_path):
    (tmp_path / 'data.msgpack.md5').unlink()
    out = tmp_path / 'out.msgpack'
    result = cli.call('sample', '-q', data, out, 2)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count('warning: ') == 1 and 'data.msgpack.md5' in result.stderr
