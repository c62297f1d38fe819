"""
Writing tools with URL outputs, storage options on the command line, and
messages about damaged remote sidecars: against moto's S3 server and the
HTTP server of tests/remote/servers.py, both on 127.0.0.1.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip('fsspec')
pytest.importorskip('aiohttp')

from test_remote import _samples  # noqa: E402
from test_remote import _write  # noqa: E402
from test_remote import data_dir  # noqa: E402,F401  (fixture)
from test_remote import http  # noqa: E402,F401  (fixture)
from test_remote import s3  # noqa: E402,F401  (fixture)
from test_damaged_sidecars import DAMAGES  # noqa: E402
from test_damaged_sidecars import api_calls  # noqa: E402

from datadings_like.errors import DatasetError  # noqa: E402
from datadings_like.reader import MsgpackReader  # noqa: E402
from datadings_like.remote import upload_dataset  # noqa: E402
from datadings_like.remote import upload_datasets  # noqa: E402
from datadings_like.tools.argparse import parse_storage_option  # noqa: E402

SECRET = 'Sup3r-s3cret-VALUE'


def _tool(name, *args, env=None):
    return subprocess.run([sys.executable, '-m', f'datadings_like.commands.{name}', *args],
                          capture_output=True, text=True, timeout=180, env=env)


def _opt(s3):
    return ['--storage-option', f'endpoint_url={s3["endpoint"]}']


def _listing(s3, prefix):
    fs = s3['fs']
    try:
        return sorted(p.rsplit('/', 1)[1] for p in fs.ls(f'bucket/{prefix}', refresh=True))
    except FileNotFoundError:
        return []


def _read(s3, url):
    with MsgpackReader(url, storage_options=s3['options']) as reader:
        assert reader.verify_data() and reader.verify_index()
        return list(reader)


DATASET_FILES = ['{0}', '{0}.filter', '{0}.key_hashes', '{0}.keys', '{0}.md5', '{0}.offsets']


def _files(name):
    return sorted(f.format(name) for f in DATASET_FILES)


@pytest.fixture
def hooks(s3):
    yield s3['hooks']
    s3['hooks'].clear()


def _refuse(pattern, status=403, then=None):
    """A hook: answer ``status`` to PUTs whose path ends with ``pattern``."""
    def hook(method, path):
        if method == 'PUT' and path.endswith(pattern):
            if then is not None:
                then()
            return status
        return None
    return hook


# ------------------------------------------------------ writing tools to URLs

def test_sample_shuffle_merge_write_to_s3(s3):
    src = 's3://bucket/train.msgpack'
    out = 's3://bucket/tools/sample.msgpack'
    done = _tool('sample', src, out, '7', *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert _read(s3, out) == _samples()[:7]
    assert f'7 samples written to {out}' in done.stderr
    assert 'datadings-upload-' not in done.stderr  # the staging copy is not named
    puts = [e[1] for e in s3['log'] if e[0] == 'PUT' and '/tools/sample' in e[1]]
    assert puts[-1].endswith('/tools/sample.msgpack')  # the data file last
    assert not Path('s3:').exists()

    out = 's3://bucket/tools/shuffled.msgpack'
    done = _tool('shuffle', src, out, '--seed', '3', *_opt(s3))
    assert done.returncode == 0, done.stderr
    shuffled = _read(s3, out)
    assert shuffled != _samples() and sorted(shuffled, key=lambda s: s['label']) == _samples()

    out = 's3://bucket/tools/merged.msgpack'
    other = [dict(s, key=f'm{i}') for i, s in enumerate(_samples(30, seed=5))]
    upload_dataset_from(s3, 's3://bucket/other.msgpack', other)
    done = _tool('merge', 's3://bucket/shard-0.msgpack', 's3://bucket/other.msgpack', out,
                 *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert _read(s3, out) == _samples(50, seed=1) + other
    assert _listing(s3, 'tools') == sorted(_files('merged.msgpack') + _files('sample.msgpack')
                                           + _files('shuffled.msgpack'))


def test_split_to_s3_and_local(s3, tmp_path):
    local = tmp_path / 'part-1.msgpack'
    outs = ['s3://bucket/split/part-0.msgpack', str(local), 's3://bucket/split/part-2.msgpack']
    done = _tool('split', 's3://bucket/train.msgpack', '100', '400', '-o', *outs, *_opt(s3))
    assert done.returncode == 0, done.stderr
    expected = _samples()
    assert _read(s3, outs[0]) == expected[:100]
    assert list(MsgpackReader(local)) == expected[100:400]
    assert _read(s3, outs[2]) == expected[400:]
    assert f'100 samples written to {outs[0]}' in done.stderr
    # the default names of a URL input are URLs beside it
    done = _tool('split', 's3://bucket/shard-2.msgpack', '20', *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert _read(s3, 's3://bucket/shard-2-1.msgpack') == _samples(50, seed=3)[20:]


def test_existing_url_output_needs_y(s3):
    out = 's3://bucket/exists/x.msgpack'
    assert _tool('sample', 's3://bucket/train.msgpack', out, '3', *_opt(s3)).returncode == 0
    done = _tool('sample', 's3://bucket/train.msgpack', out, '5', *_opt(s3))
    assert done.returncode == 1 and 'Traceback' not in done.stderr
    assert done.stderr.strip().endswith(f'{out}: exists (pass overwrite=True, or -y, to replace it)')
    assert len(_read(s3, out)) == 3
    done = _tool('sample', 's3://bucket/train.msgpack', out, '5', '-y', *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert len(_read(s3, out)) == 5


def test_url_outputs_checked_before_writing(s3, http):
    src = 's3://bucket/train.msgpack'
    for args, message in (
            ([src, src, '3'], 'input and output are the same file'),
            ([src, 's3://bucket/x/', '3'], 's3://bucket/x/: is a directory'),
            ([src, src + '.keys', '3'], 'would replace train.msgpack.keys'),
    ):
        done = _tool('sample', *args, *_opt(s3))
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert 'Traceback' not in done.stderr
    done = _tool('split', src, '5', '-o', 's3://bucket/twice.msgpack', 's3://bucket/twice.msgpack',
                 *_opt(s3))
    assert done.returncode == 1 and 'given more than once' in done.stderr
    # an HTTP server takes no uploads: one line naming the URL
    done = _tool('sample', src, http.url + '/upload/x.msgpack', '3', *_opt(s3))
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    assert f'{http.url}/upload/x.msgpack' in done.stderr and 'upload failed' in done.stderr


# --------------------------------------------------------- failed uploads

def test_failed_upload_of_data_file_leaves_nothing(s3, hooks):
    hooks.append(_refuse('/failed/out.msgpack'))
    done = _tool('sample', 's3://bucket/train.msgpack', 's3://bucket/failed/out.msgpack', '9',
                 *_opt(s3))
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    assert done.stderr.strip().endswith('s3://bucket/failed/out.msgpack: access denied '
                                        '(check the credentials of this storage backend)')
    assert _listing(s3, 'failed') == []  # the sidecars uploaded first were removed again


def test_failed_upload_of_a_sidecar_keeps_the_old_dataset_away(s3, hooks):
    # replacing a dataset: a failure after some new sidecars were put must
    # not leave the old data file with them (it no longer matches them)
    url = 's3://bucket/replace/r.msgpack'
    upload_dataset_from(s3, url, _samples(20, seed=4))
    hooks.append(_refuse('/replace/r.msgpack.md5'))
    done = _tool('sample', 's3://bucket/train.msgpack', url, '9', '-y', *_opt(s3))
    assert done.returncode == 1, done.stderr
    assert _listing(s3, 'replace') == []


def test_refused_first_upload_leaves_the_old_dataset(s3, hooks):
    # nothing was replaced when the first upload is refused: the old dataset stays
    url = 's3://bucket/keep/k.msgpack'
    upload_dataset_from(s3, url, _samples(20, seed=6))
    hooks.append(_refuse('/keep/k.msgpack.offsets'))
    done = _tool('sample', 's3://bucket/train.msgpack', url, '9', '-y', *_opt(s3))
    assert done.returncode == 1 and 'access denied' in done.stderr, done.stderr
    hooks.clear()
    assert _read(s3, url) == _samples(20, seed=6)


def upload_dataset_from(s3, url, samples):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / url.rpartition('/')[2]
        _write(path, samples)
        upload_dataset(path, url, s3['options'])


def test_split_uploads_all_or_nothing(s3, hooks):
    hooks.append(_refuse('/allornot/p-2.msgpack'))
    outs = [f's3://bucket/allornot/p-{i}.msgpack' for i in range(3)]
    done = _tool('split', 's3://bucket/train.msgpack', '100', '200', '-o', *outs, *_opt(s3))
    assert done.returncode == 1, done.stderr
    # p-0 and p-1 were complete when p-2 failed: they are gone too
    assert _listing(s3, 'allornot') == []


def test_transient_upload_failures_are_retried(s3, hooks):
    count = []

    def flaky(method, path):
        if method == 'PUT' and path.endswith('/flaky/f.msgpack') and len(count) < 2:
            count.append(path)
            return 503
        return None
    hooks.append(flaky)
    done = _tool('sample', 's3://bucket/train.msgpack', 's3://bucket/flaky/f.msgpack', '4',
                 *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert len(count) == 2 and _read(s3, 's3://bucket/flaky/f.msgpack') == _samples()[:4]


def test_interrupted_upload_leaves_nothing(s3, hooks):
    proc = None

    def interrupt():
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.3)
    hooks.append(_refuse('/interrupted/i.msgpack', status=503, then=interrupt))
    proc = subprocess.Popen([sys.executable, '-m', 'datadings_like.commands.sample',
                             's3://bucket/train.msgpack', 's3://bucket/interrupted/i.msgpack',
                             '11', *_opt(s3)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr
    assert 'interrupted' in stderr and 'Traceback' not in stderr
    hooks.clear()
    assert _listing(s3, 'interrupted') == []


def test_upload_datasets_removes_what_it_put(s3, hooks, tmp_path):
    paths = []
    for k in range(2):
        path = tmp_path / f'u{k}.msgpack'
        _write(path, _samples(10, seed=k))
        paths.append(path)
    hooks.append(_refuse('/api/u1.msgpack'))
    with pytest.raises(PermissionError, match='s3://bucket/api/u1.msgpack: access denied'):
        upload_datasets([(p, f's3://bucket/api/{p.name}') for p in paths], s3['options'])
    assert _listing(s3, 'api') == []
    hooks.clear()
    upload_datasets([(p, f's3://bucket/api/{p.name}') for p in paths], s3['options'])
    assert _listing(s3, 'api') == sorted(_files('u0.msgpack') + _files('u1.msgpack'))


# -------------------------------------------------------- datadings-write -o URL

def test_datadings_write_to_url(s3, tmp_path):
    out = 's3://bucket/demo'
    args = ['demo', '-o', out, '--train', '20', '--test', '10', *_opt(s3)]
    done = _tool('write', *args)
    assert done.returncode == 0, done.stderr
    assert _listing(s3, 'demo') == sorted(_files('train.msgpack') + _files('test.msgpack'))
    assert len(_read(s3, f'{out}/train.msgpack')) == 20
    assert len(_read(s3, f'{out}/test.msgpack')) == 10
    assert '20 samples written to s3://bucket/demo/train.msgpack' in done.stderr
    assert 'datadings-upload-' not in done.stderr and not Path('s3:').exists()
    # the files exist: refused without -y, nothing changed
    done = _tool('write', 'demo', '-o', out, '--train', '5', '--test', '5', *_opt(s3))
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    assert 'pass -y to replace them' in done.stderr
    assert len(_read(s3, f'{out}/train.msgpack')) == 20
    done = _tool('write', 'demo', '-o', out, '--train', '5', '--test', '5', '-y', *_opt(s3))
    assert done.returncode == 0, done.stderr
    assert len(_read(s3, f'{out}/train.msgpack')) == 5
    # a local -o is untouched by all this
    done = _tool('write', 'demo', '-o', str(tmp_path / 'd'), '--train', '3', '--test', '2', '-q')
    assert done.returncode == 0, done.stderr
    assert len(MsgpackReader(tmp_path / 'd' / 'train.msgpack')) == 3


def test_datadings_write_failed_upload_leaves_nothing(s3, hooks):
    hooks.append(_refuse('/demofail/train.msgpack'))
    done = _tool('write', 'demo', '-o', 's3://bucket/demofail', '--train', '4', '--test', '4',
                 *_opt(s3))
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    assert _listing(s3, 'demofail') == []


# ------------------------------------------------------------ storage options

def test_parse_storage_option():
    import argparse
    assert parse_storage_option('endpoint_url=http://127.0.0.1:9000') == {
        'endpoint_url': 'http://127.0.0.1:9000'}
    assert parse_storage_option('anon=true') == {'anon': True}
    assert parse_storage_option('n=12') == {'n': 12}
    assert parse_storage_option('kw={"a": [1]}') == {'kw': {'a': [1]}}
    assert parse_storage_option('key=a=b') == {'key': 'a=b'}
    assert parse_storage_option('key=') == {'key': ''}
    for bad in (SECRET, '=x', f'kw={{{SECRET}'):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            parse_storage_option(bad)
        assert SECRET not in str(info.value)


def test_tools_take_storage_options(s3, tmp_path):
    url = 's3://bucket/train.msgpack'
    done = _tool('cat', '-n', '2', '--keys-only', url, *_opt(s3))
    assert done.returncode == 0 and done.stdout.split() == ['s0', 's1'], done.stderr
    done = _tool('info', url, '-q', *_opt(s3))
    assert done.returncode == 0 and done.stdout.splitlines()[0] == url, done.stderr
    done = _tool('verify', url, '-q', *_opt(s3))
    assert done.returncode == 0 and done.stdout.strip() == f'{url}: OK', done.stderr
    done = _tool('bench', '-r', '-q', url, *_opt(s3))
    assert done.returncode == 0 and 'samples/s' in done.stdout, done.stderr
    # the same from a JSON file
    options = tmp_path / 'options.json'
    options.write_text(json.dumps(s3['options']))
    done = _tool('cat', '-n', '1', '--keys-only', url, '--storage-option', f'@{options}')
    assert done.returncode == 0 and done.stdout.split() == ['s0'], done.stderr


def test_credentials_never_printed(s3, tmp_path):
    url = 's3://bucket/train.msgpack'
    creds = ['--storage-option', 'key=AKIDSECRETKEYID', '--storage-option', f'secret={SECRET}']
    from moto import settings
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # unknown keys are refused from now on
    try:
        results = [_tool(name, *args, *creds, *_opt(s3)) for name, args in (
            ('cat', [url]), ('info', [url]), ('verify', [url]), ('bench', [url]),
            ('sample', [url, str(tmp_path / 'o.msgpack'), '2']),
            ('sample', ['s3://bucket/shard-0.msgpack', 's3://bucket/secret/o.msgpack', '2']),
            ('write', ['demo', '-o', 's3://bucket/secretdemo', '--train', '2', '--test', '2']),
        )]
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
    for done in results:
        assert done.returncode == 1, done.stdout + done.stderr
        text = done.stdout + done.stderr
        assert 'access denied' in text and 'Traceback' not in text, text
        assert SECRET not in text and 'AKIDSECRETKEYID' not in text, text
    # a malformed option is one line, without its value
    done = _tool('cat', url, '--storage-option', SECRET)
    assert done.returncode == 2 and 'expected KEY=VALUE or @FILE' in done.stderr
    assert SECRET not in done.stderr
    done = _tool('cat', url, '--storage-option', f'@{tmp_path / "missing.json"}')
    assert done.returncode == 2 and 'missing.json: cannot be read' in done.stderr
    bad = tmp_path / 'bad.json'
    bad.write_text(f'{{"secret": "{SECRET}",')
    done = _tool('cat', url, '--storage-option', f'@{bad}')
    assert done.returncode == 2 and 'bad.json: not valid JSON' in done.stderr
    assert SECRET not in done.stderr


# --------------------------------------- damaged remote sidecars name the URL

@pytest.fixture(scope='module')
def damaged_http(tmp_path_factory):
    from servers import start_http
    root = tmp_path_factory.mktemp('damaged_remote')
    sound = root / 'sound'
    _write(sound / 'd.msgpack', [{'key': f's{i}', 'label': i} for i in range(20)])
    for suffix in ('.md5', '.offsets', '.keys', '.key_hashes', '.filter'):
        for damage in ('truncated', 'garbage', 'first-byte', 'append-0x81', 'longer'):
            work = root / f'{suffix[1:]}-{damage}'
            shutil.copytree(sound, work)
            target = work / f'd.msgpack{suffix}'
            target.write_bytes(DAMAGES[damage](target.read_bytes()))
    server = start_http(root)
    yield server
    server.shutdown()


@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'first-byte', 'append-0x81', 'longer'])
@pytest.mark.parametrize('suffix', ['.md5', '.offsets', '.keys', '.key_hashes', '.filter'])
def test_damaged_remote_sidecar_named_by_url(damaged_http, suffix, damage):
    url = f'{damaged_http.url}/{suffix[1:]}-{damage}/d.msgpack'
    errors = []
    try:
        reader = MsgpackReader(url)
    except (DatasetError, FileNotFoundError) as exc:
        errors.append(exc)
    else:
        local = str(reader._path.parent)
        for name, call in api_calls(reader).items():
            try:
                call()
            except KeyError:
                continue
            except (DatasetError, OSError) as exc:
                assert local not in str(exc), (name, str(exc))
                errors.append(exc)
    for exc in errors:
        assert url in str(exc) and 'datadings-remote-' not in str(exc), str(exc)


def test_copy_tool_names_url_of_damaged_remote_sidecar(damaged_http, tmp_path):
    url = f'{damaged_http.url}/offsets-first-byte/d.msgpack'
    done = _tool('sample', url, str(tmp_path / 'o.msgpack'), '2')
    assert done.returncode == 1 and 'Traceback' not in done.stderr, done.stderr
    assert f'{url}: d.msgpack.offsets does not match its MD5' in done.stderr
    assert 'datadings-remote-' not in done.stderr
    url = f'{damaged_http.url}/md5-garbage/d.msgpack'
    done = _tool('sample', url, str(tmp_path / 'o.msgpack'), '2')
    assert done.returncode == 1, done.stderr
    assert f'{url}.md5: damaged' in done.stderr and 'datadings-remote-' not in done.stderr


def test_missing_remote_keys_warning_names_url(damaged_http, tmp_path):
    root = damaged_http.root / 'nokeys'
    shutil.copytree(damaged_http.root / 'sound', root)
    (root / 'd.msgpack.keys').unlink()
    url = f'{damaged_http.url}/nokeys/d.msgpack'
    with pytest.warns(UserWarning) as caught:
        reader = MsgpackReader(url)
    text = ' '.join(str(w.message) for w in caught)
    assert f'{url}.keys not found' in text and str(reader._path.parent) not in text
