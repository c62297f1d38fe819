"""datadings-cat: one line per sample, --json, --keys-only, closed pipes."""
import json
import subprocess
import sys

from datadings_like.commands.cat import format_sample


def test_one_line_per_sample_abbreviated(cli, data):
    result = cli.run('cat', data)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 60
    assert "'key': 's0000'" in lines[0]
    # long str values are shortened to head...tail
    long_line = lines[29]
    assert "'word word" in long_line and '...' in long_line
    assert 'word ' * 29 not in long_line
    # -s 0 shows everything
    full = cli.call('cat', '-s', '0', '-n', '30', data).stdout.splitlines()
    assert repr('word ' * 29) in full[29]


def test_maxstring_limits_value_length():
    sample = {'key': 'k', 'text': 'y' * 100, 'blob': b'x' * 1000}
    line = format_sample(sample, maxstring=10)
    assert "'yy...yyy'" in line
    assert '(1000 bytes)' in line
    assert 'y' * 20 not in line


def test_limit_start_keys_only(cli, data):
    result = cli.run('cat', '--keys-only', '--start', '10', '-n', '3', data)
    assert result.stdout.split() == ['s0010', 's0011', 's0012']
    result = cli.call('cat', '--keys-only', '--start', '-2', data)
    assert result.stdout.split() == ['s0058', 's0059']
    assert cli.call('cat', '-n', '0', data).stdout == ''


def test_json_lines(cli, data):
    result = cli.run('cat', '--json', '-n', '5', data)
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    samples = cli.samples(5)
    assert [o['key'] for o in objects] == [s['key'] for s in samples]
    for obj, sample in zip(objects, samples):
        assert obj['image'] == len(sample['image'])  # bytes shown as their length
        assert obj['label'] == sample['label']
        assert obj['text'] == sample['text']
        assert obj['array'] == {'dtype': 'float32', 'shape': list(sample['array'].shape)}
        assert obj['meta']['index'] == sample['meta']['index']
    keys = cli.call('cat', '--json', '--keys-only', '-n', '2', data).stdout.splitlines()
    assert [json.loads(k) for k in keys] == ['s0000', 's0001']


def test_closed_pipe_is_quiet(cli, tmp_path):
    path = cli.make(tmp_path / 'big.msgpack', 3000)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'datadings_like.commands.cat', str(path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=30) == 0
    assert b's0000' in first
    assert stderr == ''


def test_user_errors(cli, tmp_path, data):
    cli.user_error(cli.run('cat', tmp_path / 'missing.msgpack'), words=['missing.msgpack'])
    text = tmp_path / 'notes.txt'
    text.write_text('hello\n')
    cli.user_error(cli.call('cat', text), words=['notes.txt'])
    cli.user_error(cli.call('cat', tmp_path), words=['directory'])
    cli.user_error(cli.run('cat', '--bogus', data), status=2, words=['--bogus'])
    cli.user_error(cli.call('cat', '-n', '-1', data), status=2)


def test_negative_maxstring_is_a_usage_error(cli, data):
    cli.user_error(cli.call('cat', '-s', '-1', data), status=2, words=['maxstring'])
    cli.user_error(cli.call('cat', '--maxstring=-5', data), status=2, words=['maxstring'])
    # 0 still means "show everything"
    assert cli.call('cat', '-s', '0', '-n', '1', data).returncode == 0
