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
