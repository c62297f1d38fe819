"""datadings-info: samples, size, keys with types, label histogram."""
import json
import shutil
import subprocess
from pathlib import Path

import msgpack
import pytest

from commands.handmade import damaged_dataset
from commands.handmade import deep_dataset
from commands.handmade import raw_dataset
from commands.handmade import sample_bytes


def test_text(cli, tmp_path):
    path = cli.make(tmp_path / 'img.msgpack', 40, labels=4, jpeg=True)
    result = cli.run('info', path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'samples:  40' in out
    assert f'({path.stat().st_size} bytes' in out
    assert 'image: bytes (JPEG 32x24 typical' in out
    assert 'label: int 0..3' in out
    assert 'array: ndarray float32' in out
    assert 'meta:  map' in out
    assert 'labels:   4 distinct, 10 samples each' in out
    assert '0: 10 #' in out
    assert 'index:    present' in out and 'md5:      present' in out


def test_json(cli, data):
    result = cli.call('info', '--json', '-q', data)
    assert result.returncode == 0, result.stderr
    d = json.loads(result.stdout)
    assert d['samples'] == 60 and d['examined'] == 60
    assert d['size'] == data.stat().st_size
    assert d['labels'] == {str(i): 12 for i in range(5)}
    assert d['keys']['label']['int_min'] == 0 and d['keys']['label']['int_max'] == 4
    assert d['keys']['image']['types'] == {'bytes': 60}
    assert d['keys']['text']['types'] == {'str': 60}
    assert d['index'] == 'new' and d['md5'] is True
    limited = json.loads(cli.call('info', '--json', '-q', '-n', '7', data).stdout)
    assert limited['examined'] == 7 and limited['samples'] == 60


def test_without_index_and_legacy(cli, data, tmp_path):
    bare = tmp_path / 'bare.msgpack'
    shutil.copy(data, bare)
    d = json.loads(cli.call('info', '--json', '-q', bare).stdout)
    assert d['samples'] == 60 and d['index'] == 'missing' and d['md5'] is False
    text = cli.call('info', '-q', bare).stdout
    assert 'index:    missing' in text and 'datadings-index' in text
    legacy = tmp_path / 'legacy.msgpack'
    shutil.copy(data, legacy)
    legacy.with_name('legacy.msgpack.index').write_bytes(b'\x80')  # damaged: empty map
    d = json.loads(cli.call('info', '--json', '-q', legacy).stdout)
    assert d['samples'] == 60 and d['index'] == 'damaged'


def test_user_errors(cli, tmp_path):
    cli.user_error(cli.run('info', tmp_path / 'none.msgpack'), words=['none.msgpack'])
    text = tmp_path / 'notes.txt'
    text.write_text('just text')
    cli.user_error(cli.call('info', text), words=['not a msgpack map'])
    cli.user_error(cli.call('info', tmp_path), words=['directory'])
    cli.user_error(cli.call('info', '-n', '0', text), status=2)


def test_missing_offsets_hint_once(cli, data, tmp_path):
    # the other index files are there, the offsets are not
    data.with_name(data.name + '.offsets').unlink()
    text = cli.call('info', '-q', data).stdout
    line = next(l for l in text.splitlines() if l.strip().startswith('index:'))
    assert line.count('datadings-index') == 1, line
    assert 'damaged' in line
    # other index problems still get the hint
    data.with_name(data.name + '.offsets').write_bytes(b'\0' * 8)
    line = next(l for l in cli.call('info', '-q', data).stdout.splitlines()
                if l.strip().startswith('index:'))
    assert line.count('datadings-index') == 1, line


def test_deep_nesting(cli, tmp_path):
    # samples nested as deep as msgpack allows (1024 containers) are described
    path = deep_dataset(tmp_path / 'deep.msgpack')
    result = cli.run('info', path)
    assert result.returncode == 0, result.stderr
    assert 'Traceback' not in result.stderr
    assert 'samples:  4' in result.stdout
    assert 'nest: list (length 1..2) | map (a, x)\n' in result.stdout, result.stdout
    d = json.loads(cli.call('info', '--json', path).stdout)
    assert d['keys']['nest']['types'] == {'list': 2, 'map': 2}
    # -n 3 examines samples 0, 2 (the deep map) and 3
    d = json.loads(cli.call('info', '--json', '-n', '3', path).stdout)
    assert d['examined'] == 3 and d['keys']['nest']['types'] == {'map': 2, 'list': 1}
    assert 'nest: map (a, x) | list (length 2)' in cli.call('info', '-q', '-n', '3', path).stdout


def test_damaged_sample_names_sample_and_offset(cli, tmp_path):
    path = tmp_path / 'dmg.msgpack'
    offset = damaged_dataset(path)
    for args in ([], ['--json'], ['-n', '10'], ['-q']):
        result = (cli.run if not args else cli.call)('info', *args, path)
        line = cli.user_error(result, words=[str(path), f'sample 6 at byte {offset}',
                                             'damaged sample', 'FormatError'])
        assert line.startswith('datadings-info: error: ')
        assert result.stdout == ''
    # -n 2 examines samples 0 and 9 only
    assert cli.call('info', '-q', '-n', '2', path).returncode == 0
    # without an index the scan of the data file says the same
    for suffix in ('.offsets', '.keys', '.key_hashes', '.filter'):
        path.with_name(path.name + suffix).unlink()
    cli.user_error(cli.call('info', '-q', path), words=[str(path), f'sample 6 at byte {offset}'])


def test_sample_that_is_not_a_map(cli, tmp_path):
    first = sample_bytes('a', 'v', msgpack.packb(1))
    path = raw_dataset(tmp_path / 'odd.msgpack', [first, sample_bytes('b', 'v', msgpack.packb(2))])
    # the index stays, the second sample becomes a list of the same length
    data = bytearray(path.read_bytes())
    data[len(first)] = 0x94  # map of 2 items -> array of 4 items
    path.write_bytes(bytes(data))
    cli.user_error(cli.call('info', '-q', path),
                   words=[str(path), f'sample 1 at byte {len(first)}', 'list, not a map'])


def test_quick_start_output_is_git_ignored():
    # README: `datadings-write demo -y` writes into ./demo/ of the clone
    root = Path(__file__).resolve().parents[2]
    ignore = root / '.gitignore'
    if not ignore.exists():
        pytest.skip('not a source tree')
    assert '/demo/' in ignore.read_text().splitlines()
    try:
        proc = subprocess.run(['git', '-C', str(root), 'check-ignore', '--no-index', '-v',
                               'demo/train.msgpack', 'docs/demo/x.png'],
                              capture_output=True, text=True, timeout=30)
    except OSError:
        pytest.skip('no git')
    if proc.returncode == 128:
        pytest.skip('not a git work tree')
    ignored = [line.split('\t')[-1] for line in proc.stdout.splitlines()]
    assert ignored == ['demo/train.msgpack']  # anchored: only the top-level demo/
