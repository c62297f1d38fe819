"""datadings-info: samples, size, keys with types, label histogram."""
import json
import shutil


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
