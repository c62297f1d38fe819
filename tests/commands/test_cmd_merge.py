"""datadings-merge: concat and random strategies, raw bytes, unique keys."""
from collections import Counter

import pytest

from datadings_like.commands import merge as merge_cmd
from datadings_like.writer import RawWriter


@pytest.fixture
def inputs(cli, tmp_path):
    return [cli.make(tmp_path / f'{p}.msgpack', n, prefix=p)
            for p, n in (('a', 30), ('b', 50), ('c', 5))]


def test_concat_subprocess(cli, inputs, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.run('merge', *inputs, out)
    assert result.returncode == 0, result.stderr
    assert '85 samples written' in result.stderr
    assert cli.raw(out) == sum((cli.raw(p) for p in inputs), [])
    assert cli.run('verify', '-q', out).stdout.strip().endswith('OK')


def test_random_keeps_order_within_inputs_and_reproduces(cli, inputs, tmp_path):
    a, b, c = (tmp_path / f'm{x}.msgpack' for x in 'abc')
    for out, seed in ((a, 5), (b, 5), (c, 6)):
        result = cli.call('merge', '-s', 'random', '--seed', seed, '-q', *inputs, out)
        assert result.returncode == 0, result.stderr
    assert a.read_bytes() == b.read_bytes()
    assert cli.keys(a) != cli.keys(c)
    expected = Counter()
    for p in inputs:
        expected.update(cli.raw(p))
    assert cli.multiset(a) == expected
    keys = cli.keys(a)
    for p in inputs:
        own = [k for k in keys if k[0] == p.stem]
        assert own == cli.keys(p)
    # interleaved, not concatenated
    assert keys[:30] != cli.keys(inputs[0])
    cli.verifies(a)


def test_random_proportional_to_remaining(cli, tmp_path):
    big = cli.make(tmp_path / 'big.msgpack', 90, prefix='x')
    small = cli.make(tmp_path / 'small.msgpack', 10, prefix='y')
    out = tmp_path / 'out.msgpack'
    firsts = []
    for seed in range(8):
        cli.call('merge', '-s', 'random', '--seed', seed, '-q', '-y', big, small, out)
        keys = cli.keys(out)
        firsts.append(sum(k[0] == 'y' for k in keys[:50]))
    # about 5 of the first 50 come from the small input, never all 10
    assert 1 < sum(firsts) / len(firsts) < 9


def test_shuffle_each_input(cli, inputs, tmp_path):
    out = tmp_path / 'out.msgpack'
    result = cli.call('merge', '--shuffle', '--seed', 1, '-q', *inputs, out)
    assert result.returncode == 0, result.stderr
    keys = cli.keys(out)
    assert keys[:30] != cli.keys(inputs[0])
    assert sorted(keys[:30]) == cli.keys(inputs[0])  # concat of shuffled inputs
    cli.verifies(out)


def test_user_errors(cli, inputs, tmp_path):
    a, b, _ = inputs
    out = tmp_path / 'out.msgpack'
    dup = cli.make(tmp_path / 'dup.msgpack', 3, prefix='a')
    cli.user_error(cli.run('merge', a, dup, out), words=['a0000', 'unique'])
    assert cli.dataset_files(out) == []
    cli.user_error(cli.call('merge', a, a, out), words=['more than once'])
    cli.user_error(cli.call('merge', a, b, a, '-y'), words=['same file'])
    cli.user_error(cli.call('merge', a, tmp_path / 'nope.msgpack', out), words=['nope.msgpack'])
    cli.user_error(cli.call('merge', '-s', 'zip', a, b, out), status=2)
    cli.user_error(cli.call('merge', a, b, out, '--bogus'), status=2)
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []


def test_failure_mid_write_leaves_no_output(cli, inputs, tmp_path, monkeypatch):
    out = tmp_path / 'out.msgpack'
    original = RawWriter.write
    count = [0]

    def write(self, key, raw):
        count[0] += 1
        if count[0] == 40:
            raise KeyboardInterrupt
        return original(self, key, raw)
    monkeypatch.setattr(RawWriter, 'write', write)
    with pytest.raises(KeyboardInterrupt):
        merge_cmd.main(['-s', 'random', '-q'] + [str(p) for p in inputs] + [str(out)])
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []


def test_directory_output_is_refused(cli, inputs, tmp_path):
    a, b, _ = inputs
    cli.user_error(cli.call('merge', '-q', a, b, f'{tmp_path / "newdir"}/'),
                   words=['newdir/: is a directory, not a dataset file'])
    assert list(tmp_path.glob('newdir*')) == []


def test_single_input_is_a_usage_error(cli, inputs, tmp_path):
    a, _, _ = inputs
    out = tmp_path / 'out.msgpack'
    line = cli.user_error(cli.run('merge', a, out), status=2, words=['two or more'])
    assert str(a) in line
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []
    # the help says so too
    assert 'two or more' in cli.call('merge', '-h').stdout.lower()


# ------------------------------------------- inputs are checked (issue 9, item 11)

def flip_byte(path, offset=None):
    """Damage ``path`` in place: flip one bit (by default in the middle)."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


STRATEGY_OPTIONS = [['-s', 'concat'], ['-s', 'random'],
                    ['-s', 'concat', '--shuffle'], ['-s', 'random', '--shuffle']]


@pytest.mark.parametrize('options', STRATEGY_OPTIONS)
def test_damaged_input_is_not_laundered(cli, inputs, tmp_path, options):
    a, b, c = inputs
    flip_byte(b)
    out = tmp_path / 'out.msgpack'
    line = cli.user_error(cli.call('merge', '-q', *options, *inputs, out),
                          words=[str(b), 'b.msgpack.md5', '--no-verify'])
    assert str(a) not in line and str(c) not in line
    assert cli.dataset_files(out) == []
    assert cli.temp_files(tmp_path) == []
    # --no-verify: copied as it is
    result = cli.call('merge', '-q', '--no-verify', *options, *inputs, out)
    assert result.returncode == 0, result.stderr
    assert cli.multiset(out) == sum((cli.multiset(p) for p in inputs), Counter())


@pytest.mark.parametrize('options', STRATEGY_OPTIONS)
def test_inputs_hashed_in_many_blocks(cli, inputs, tmp_path, monkeypatch, options):
    # blocks of a few hundred bytes: every block boundary and the last one count
    from datadings_like.commands import _verify_inputs
    monkeypatch.setattr(_verify_inputs, '_BLOCK_BYTES', 300)
    out = tmp_path / 'out.msgpack'
    result = cli.call('merge', '-q', '--seed', 3, *options, *inputs, out)
    assert result.returncode == 0, result.stderr
    cli.verifies(out)
    flip_byte(inputs[2], -1)  # the very last byte of the last input
    cli.user_error(cli.call('merge', '-q', '-y', *options, *inputs, out), words=[str(inputs[2])])


def test_subprocess_error_is_one_line(cli, inputs, tmp_path):
    flip_byte(inputs[0])
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.run('merge', *inputs, out), words=[str(inputs[0]), 'does not match'])
    assert cli.dataset_files(out) == []


def test_damaged_keys_file_is_reported_before_the_key_check(cli, inputs, tmp_path):
    # a damaged .keys would otherwise pass as keys of the merged dataset
    keys = tmp_path / 'c.msgpack.keys'
    flip_byte(keys, -2)
    out = tmp_path / 'out.msgpack'
    cli.user_error(cli.call('merge', '-q', *inputs, out), words=[str(inputs[2]), 'c.msgpack.keys'])
    assert cli.dataset_files(out) == []


def test_input_without_md5_warns_once(cli, inputs, tmp_path):
    (tmp_path / 'a.msgpack.md5').unlink()
    out = tmp_path / 'out.msgpack'
    result = cli.call('merge', '-q', *inputs, out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count('warning: ') == 1 and 'a.msgpack.md5' in result.stderr
    cli.verifies(out)
