"""datadings-cat: one line per sample, --json, --keys-only, closed pipes."""
import json
import subprocess
import sys

import msgpack
import numpy as np

from commands.handmade import DEPTH
from commands.handmade import damaged_dataset
from commands.handmade import deep_dataset
from commands.handmade import raw_dataset
from commands.handmade import sample_bytes
from datadings_like.commands.cat import _dumps
from datadings_like.commands.cat import format_sample
from datadings_like.commands.cat import jsonable


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


# ------------------------------------------------- deep nesting (issue 9.6)

def test_deep_nesting_is_printed_in_every_mode(cli, tmp_path):
    path = deep_dataset(tmp_path / 'deep.msgpack')
    deep_list = '[' * DEPTH + ']' * DEPTH
    deep_map_text = "{'a': " * (DEPTH - 1) + '{}' + '}' * (DEPTH - 1)
    deep_map_json = '{"a": ' * (DEPTH - 1) + '{}' + '}' * (DEPTH - 1)
    for args in ([], ['-s', '0'], ['--start', '1', '-n', '2']):
        result = (cli.run if not args else cli.call)('cat', *args, path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ''
        lines = result.stdout.splitlines()
        if not args or args[0] == '-s':
            assert lines[0] == "{'key': 'first', 'nest': [1, 2]}"
            assert lines[3] == "{'key': 'last', 'nest': {'x': 1}}"
            lines = lines[1:3]
        assert lines == [f"{{'key': 'deep-list', 'nest': {deep_list}}}",
                         f"{{'key': 'deep-map', 'nest': {deep_map_text}}}"]
    result = cli.run('cat', '--json', path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        '{"key": "first", "nest": [1, 2]}',
        f'{{"key": "deep-list", "nest": {deep_list}}}',
        f'{{"key": "deep-map", "nest": {deep_map_json}}}',
        '{"key": "last", "nest": {"x": 1}}',
    ]
    for args, expected in ((['--keys-only'], ['first', 'deep-list', 'deep-map', 'last']),
                           (['--keys-only', '--json'],
                            ['"first"', '"deep-list"', '"deep-map"', '"last"'])):
        result = cli.call('cat', *args, path)
        assert result.returncode == 0 and result.stdout.splitlines() == expected, result


def test_format_and_jsonable_have_no_depth_limit():
    value = []
    for _ in range(5000):  # far deeper than the recursion limit
        value = [value, b'xy']
    sample = {'key': 'k', 'v': value}
    line = format_sample(sample)
    assert line.startswith("{'key': 'k', 'v': [[[") and line.endswith("], b'xy']}")
    assert line.count("b'xy'") == 5000
    converted = jsonable(sample)
    inner = converted['v']
    for _ in range(4999):
        assert inner[1] == 2  # bytes become their length
        inner = inner[0]
    assert inner == [[], 2]
    text = _dumps(converted)
    assert text.startswith('{"key": "k", "v": [[[') and text.endswith('], 2]}')
    assert text.count(', 2]') == 5000


def test_jsonable_conversions_and_order():
    point = np.zeros((), dtype=[('x', '<i4'), ('y', '<f8')])[()]
    sample = {'key': 'k', b'raw': 1, 3: (1, 2j), 'nan': float('nan'),
              'scalar': np.float32(1.5), 'point': point, 'arr': np.zeros((2, 3), np.uint8),
              'mem': memoryview(b'abcd'), 'none': None}
    assert jsonable(sample) == {
        'key': 'k', 'raw': 1, '3': [1, [0.0, 2.0]], 'nan': 'nan', 'scalar': 1.5,
        'point': [0, 0.0], 'arr': {'dtype': 'uint8', 'shape': [2, 3]}, 'mem': 4, 'none': None}
    assert list(jsonable(sample)) == list(map(str, [k.decode() if isinstance(k, bytes) else k
                                                    for k in sample]))
    # a later key that converts to the same string wins, as in a dict
    assert jsonable({'a': 1, b'a': 2}) == {'a': 2}
    assert _dumps(jsonable({'k': [1, 'é']})) == '{"k": [1, "é"]}'
    # format_sample keeps tuples and reprs of keys
    assert format_sample({(1, 2): (3, [4])}) == '{(1, 2): (3, [4])}'
    assert format_sample({'e': [], 'm': {}, 't': ()}) == "{'e': [], 'm': {}, 't': ()}"


# --------------------------------------------- damaged samples (issue 9.9)

def test_damaged_sample_names_sample_and_offset(cli, tmp_path):
    path = tmp_path / 'dmg.msgpack'
    offset = damaged_dataset(path)
    for args in ([], ['--json'], ['--start', '6', '-n', '1'], ['-s', '0']):
        result = (cli.run if not args else cli.call)('cat', *args, path)
        line = cli.user_error(result, words=[str(path), f'sample 6 at byte {offset}',
                                             'damaged sample', 'FormatError'])
        assert line.startswith('datadings-cat: error: ')
        # the samples before it are printed
        printed = result.stdout.splitlines()
        assert len(printed) == (0 if '--start' in args else 6)
        if printed:
            assert 'k5' in printed[-1]
    # the samples after it are fine
    result = cli.call('cat', '--start', '7', path)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 3, result.stderr


def test_sample_that_ends_early_names_sample_and_offset(cli, tmp_path):
    path = tmp_path / 'short.msgpack'
    offset = damaged_dataset(path, bad=3, how='short')
    result = cli.call('cat', path)
    cli.user_error(result, words=[str(path), f'sample 3 at byte {offset}', 'index'])
    assert len(result.stdout.splitlines()) == 3


def test_pickled_array_is_refused_with_its_place(cli, tmp_path):
    evil = {'key': 'evil', 'a': {b'nd': True, b'type': '|O', b'kind': b'O',
                                 b'shape': [1], b'data': b'not even a pickle'}}
    path = raw_dataset(tmp_path / 'evil.msgpack', [
        sample_bytes('good', 'a', msgpack.packb(1)), msgpack.packb(evil, use_bin_type=True)])
    result = cli.run('cat', path)
    cli.user_error(result, words=[str(path), f'sample 1 at byte {len(sample_bytes("good", "a", msgpack.packb(1)))}',
                                  'unpickle'])
    assert result.stdout.splitlines() == ["{'key': 'good', 'a': 1}"]
