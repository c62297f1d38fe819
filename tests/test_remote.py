"""Datasets at URLs: S3 (moto's server) and HTTP servers on 127.0.0.1 started here."""
import copy
import os
import pickle
import random
import sys
from pathlib import Path

import pytest

pytest.importorskip('fsspec')
pytest.importorskip('aiohttp')

sys.path.insert(0, str(Path(__file__).parent / 'remote'))
from servers import start_http  # noqa: E402

from datadings_like.reader import MsgpackReader  # noqa: E402
from datadings_like.reader import ShardedReader  # noqa: E402
from datadings_like.reader import Shuffler  # noqa: E402
from datadings_like.remote import RemoteFile  # noqa: E402
from datadings_like.remote import is_url  # noqa: E402
from datadings_like.remote import redact  # noqa: E402
from datadings_like.writer import FileWriter  # noqa: E402

N = 600


def _samples(n=N, seed=0, size=300):
    rng = random.Random(seed)
    return [{'key': f's{i}', 'data': rng.randbytes(rng.randrange(size // 2, size)), 'label': i}
            for i in range(n)]


def _write(path, samples):
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for sample in samples:
            writer.write(sample)


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp('remote_data')
    _write(root / 'train.msgpack', _samples())
    for k in range(3):
        _write(root / f'shard-{k}.msgpack', _samples(50, seed=k + 1))
    return root


@pytest.fixture(scope='module')
def http(data_dir):
    server = start_http(data_dir)
    yield server
    server.shutdown()


@pytest.fixture(scope='module')
def flaky_http(data_dir):
    server = start_http(data_dir, flaky=3)
    yield server
    server.shutdown()


# ------------------------------------------------------------------ S3 (moto)

@pytest.fixture(scope='module')
def s3(data_dir):
    pytest.importorskip('s3fs')
    moto_server = pytest.importorskip('moto.server')
    from werkzeug.serving import make_server
    import threading
    app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
    log = []
    # hook(method, path) -> None, or an HTTP status to answer instead of moto
    hooks = []

    def counting(environ, start_response):
        method, path = environ['REQUEST_METHOD'], environ.get('PATH_INFO')
        log.append((method, path, environ.get('HTTP_RANGE')))
        for hook in list(hooks):
            status = hook(method, path)
            if status is not None:
                environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
                start_response(f'{status} Refused', [('Content-Type', 'application/xml'),
                                                     ('Content-Length', '0')])
                return [b'']
        return app(environ, start_response)
    server = make_server('127.0.0.1', 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f'http://127.0.0.1:{server.server_address[1]}'
    saved = {k: os.environ.get(k) for k in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY',
                                             'AWS_DEFAULT_REGION')}
    os.environ.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='s3cr3t-value',
                      AWS_DEFAULT_REGION='us-east-1')
    options = {'endpoint_url': endpoint}
    import s3fs
    import urllib.request
    # moto keeps its buckets per process: start from none (another module's
    # fixture may have run its server before)
    urllib.request.urlopen(urllib.request.Request(f'{endpoint}/moto-api/reset', method='POST'))
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    fs.mkdir('bucket')
    for path in sorted(data_dir.iterdir()):
        fs.put_file(str(path), f'bucket/{path.name}')
    yield {'options': options, 'log': log, 'fs': fs, 'endpoint': endpoint, 'hooks': hooks}
    server.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _gets(log, start=0, name='train.msgpack'):
    return [entry for entry in log[start:] if entry[0] == 'GET' and entry[1].endswith('/' + name)]


def test_is_url_and_redact():
    assert is_url('s3://b/k') and is_url('https://h/x') and is_url('gs://b/k')
    assert not is_url('/data/train.msgpack') and not is_url('train.msgpack')
    assert not is_url(Path('s3://b/k'))
    assert redact('https://user:pw@host/p/x?X-Amz-Signature=abc') == 'https://host/p/x'


def test_s3_read_random_and_sequential(s3, data_dir):
    expected = _samples()
    url = 's3://bucket/train.msgpack'
    with MsgpackReader(url, storage_options=s3['options']) as reader:
        assert len(reader) == N and reader.path == url
        start = len(s3['log'])
        assert reader.get(123) == expected[123]
        gets = _gets(s3['log'], start)
        assert len(gets) == 1 and gets[0][2] is not None  # one range request
        assert len(s3['log']) - start == 1  # and nothing else
        a, b = (int(x) for x in gets[0][2][len('bytes='):].split('-'))
        assert b - a + 1 < 400
        assert reader[-1] == expected[-1]
        assert reader.find_index('s42') == 42 and 's42' in reader and 'nope' not in reader
        start = len(s3['log'])
        assert list(reader) == expected
        assert len(_gets(s3['log'], start)) <= 3  # whole blocks, not one per sample
        order = list(Shuffler(reader, seed=3))
        assert sorted(order, key=lambda s: s['label']) == expected
        assert reader.get(7, raw=True, copy=False) == (data_dir / 'train.msgpack').read_bytes()[
            int(reader._offsets[7]):int(reader._offsets[8])]
        assert reader.verify_data() and reader.verify_index()


def test_s3_sharded_glob_and_list(s3):
    expected = sum((_samples(50, seed=k + 1) for k in range(3)), [])
    opts = s3['options']
    reader = ShardedReader('s3://bucket/shard-*.msgpack', storage_options=opts)
    assert len(reader) == 150 and list(reader) == expected
    assert reader.get(120) == expected[120]
    urls = [f's3://bucket/shard-{k}.msgpack' for k in range(3)]
    assert list(ShardedReader(urls, storage_options=opts)) == expected
    with pytest.raises(FileNotFoundError, match='shard-9'):
        ShardedReader('s3://bucket/shard-9*.msgpack', storage_options=opts)


def test_s3_cache_second_epoch_makes_no_requests(s3, tmp_path):
    expected = _samples()
    url = 's3://bucket/train.msgpack'
    reader = MsgpackReader(url, storage_options=s3['options'], cache_dir=tmp_path / 'c',
                           block_size=32 * 1024)
    assert list(reader) == expected
    assert reader._mm.cached  # complete, checked against the .md5
    start = len(s3['log'])
    assert list(reader) == expected
    assert [reader.get(i) for i in (5, 99, 400)] == [expected[i] for i in (5, 99, 400)]
    assert s3['log'][start:] == []
    # a new reader on the same cache reads the data locally too
    again = MsgpackReader(url, storage_options=s3['options'], cache_dir=tmp_path / 'c',
                          block_size=32 * 1024)
    start = len(s3['log'])
    assert list(again) == expected
    assert _gets(s3['log'], start) == []


def test_cache_limit_evicts_other_files(s3, tmp_path):
    opts = s3['options']
    cache = tmp_path / 'c'
    size = (s3['fs'].info('bucket/shard-0.msgpack')['size'])
    limit = int(size * 1.8)
    for k in range(3):
        reader = MsgpackReader(f's3://bucket/shard-{k}.msgpack', storage_options=opts,
                               cache_dir=cache, cache_limit=limit, block_size=4096)
        assert list(reader) == _samples(50, seed=k + 1)
        reader.close()
    data = [p for p in cache.rglob('*') if p.is_file() and (p.parent.name == 'blocks'
                                                             or p.name == 'data')]
    assert sum(p.stat().st_size for p in data) <= limit
    # the least recently used file went first; the last one is complete
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert len(entries) < 3
    assert any((p / 'data').exists() for p in entries)


def test_cache_rejects_data_not_matching_md5(s3, tmp_path, data_dir):
    fs = s3['fs']
    fs.put_file(str(data_dir / 'train.msgpack.md5'), 'bucket/bad.msgpack.md5')
    for suffix in ('.offsets', '.keys', '.key_hashes', '.filter'):
        fs.put_file(str(data_dir / f'train.msgpack{suffix}'), f'bucket/bad.msgpack{suffix}')
    damaged = bytearray((data_dir / 'train.msgpack').read_bytes())
    damaged[10] ^= 0xFF
    fs.pipe_file('bucket/bad.msgpack', bytes(damaged))
    md5 = (data_dir / 'train.msgpack.md5').read_text().replace('train.msgpack', 'bad.msgpack')
    fs.pipe_file('bucket/bad.msgpack.md5', md5.encode())
    reader = MsgpackReader('s3://bucket/bad.msgpack', storage_options=s3['options'],
                           cache_dir=tmp_path / 'c', block_size=1 << 20)
    with pytest.raises(Exception, match='does not match its .md5'):
        reader.get(len(reader) - 1)
        list(reader.slice(0, 10, raw=True))


def test_s3_write_and_read_back(s3):
    samples = _samples(40, seed=9)
    url = 's3://bucket/written/new.msgpack'
    with FileWriter(url, storage_options=s3['options'], disable=True) as writer:
        for sample in samples:
            writer.write(sample)
    names = sorted(p.rsplit('/', 1)[1] for p in s3['fs'].ls('bucket/written', refresh=True))
    assert names == ['new.msgpack', 'new.msgpack.filter', 'new.msgpack.key_hashes',
                     'new.msgpack.keys', 'new.msgpack.md5', 'new.msgpack.offsets']
    # the data file was put last
    puts = [e[1] for e in s3['log'] if e[0] == 'PUT' and '/written/' in e[1]]
    assert puts[-1].endswith('/new.msgpack')
    reader = MsgpackReader(url, storage_options=s3['options'])
    assert list(reader) == samples and reader.verify_data()
    with pytest.raises(FileExistsError, match='written/new.msgpack'):
        FileWriter(url, storage_options=s3['options'], disable=True)


def test_s3_failed_write_leaves_nothing(s3):
    url = 's3://bucket/failed/x.msgpack'
    with pytest.raises(RuntimeError):
        with FileWriter(url, storage_options=s3['options'], disable=True) as writer:
            writer.write({'key': 'a'})
            raise RuntimeError('boom')
    assert not s3['fs'].exists('bucket/failed/x.msgpack')


def test_s3_missing_and_denied(s3):
    with pytest.raises(FileNotFoundError) as info:
        MsgpackReader('s3://bucket/missing.msgpack', storage_options=s3['options'])
    assert str(info.value) == 's3://bucket/missing.msgpack: not found'
    from moto import settings
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # unknown keys are refused from now on
    try:
        with pytest.raises(PermissionError) as info:
            MsgpackReader('s3://bucket/train.msgpack', storage_options=s3['options'])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = saved
    message = str(info.value)
    assert message.startswith('s3://bucket/train.msgpack: access denied')
    assert 's3cr3t' not in message and 'testing' not in message


def test_pickle_and_copy(s3):
    expected = _samples()
    reader = MsgpackReader('s3://bucket/train.msgpack', storage_options=s3['options'])
    reader.get(0)
    clone = pickle.loads(pickle.dumps(reader))
    assert clone.get(17) == expected[17] and clone._remote is not reader._remote
    assert clone._mm is not reader._mm
    assert copy.copy(reader).get(18) == expected[18]


def _label_only(sample):
    return {'label': sample['label']}


def test_torch_dataloader_workers(s3):
    torch = pytest.importorskip('torch')
    from datadings_like.torch import Dataset
    reader = MsgpackReader('s3://bucket/train.msgpack', storage_options=s3['options'])
    reader.get(0)  # the parent has a live connection and buffer before the fork
    loader = torch.utils.data.DataLoader(Dataset(reader, transforms=_label_only),
                                         batch_size=50, num_workers=2)
    labels = torch.cat([batch['label'] for batch in loader]).tolist()
    assert labels == list(range(N))


# --------------------------------------------------------------------- HTTP

def test_http_get_is_one_small_range_request(http):
    expected = _samples()
    reader = MsgpackReader(http.url + '/train.msgpack')
    for i in (3, 300, 599):
        start = len(http.log)
        assert reader.get(i) == expected[i]
        entries = http.log[start:]
        assert len(entries) == 1 and entries[0][0] == 'GET' and entries[0][2].startswith('bytes=')
    start = len(http.log)
    batch = list(reader._gather([9, 1, 500, 77]))
    assert batch == [expected[i] for i in (9, 1, 500, 77)]
    assert len(http.log) - start == 4


def test_http_sequential_reads_in_blocks(http):
    expected = _samples()
    reader = MsgpackReader(http.url + '/train.msgpack', block_size=64 * 1024)
    start = len(http.log)
    assert list(reader) == expected
    assert 1 <= len(http.log) - start <= 6
    assert list(reader.iter(yield_key=True, raw=True)) and True


def test_http_flaky_server_still_correct(flaky_http):
    expected = _samples()
    reader = MsgpackReader(flaky_http.url + '/train.msgpack', block_size=16 * 1024)
    reader.remote.backoff = 0.001
    assert list(reader) == expected
    assert [reader.get(i) for i in range(0, N, 37)] == expected[::37]
    assert flaky_http.failures >= 4


def test_http_missing_and_denied(http):
    with pytest.raises(FileNotFoundError, match='nope.msgpack: not found'):
        MsgpackReader(http.url + '/nope.msgpack')
    with pytest.raises(PermissionError, match='forbidden/x.msgpack: access denied'):
        MsgpackReader(http.url + '/forbidden/x.msgpack')


def test_remote_file_resumes_short_reads(http, data_dir):
    remote = RemoteFile(http.url + '/train.msgpack')
    data = (data_dir / 'train.msgpack').read_bytes()
    assert remote.read_range(100, 5000) == data[100:5000]
    with pytest.raises(OSError, match='file ends before'):
        remote.retries = 1
        remote.backoff = 0
        remote.read_range(len(data) - 10, len(data) + 10)


def test_local_path_unchanged(data_dir):
    reader = MsgpackReader(str(data_dir / 'train.msgpack'))
    assert type(reader) is MsgpackReader
    assert list(reader) == _samples()


# -------------------------------------------------------------------- tools

def _tool(name, *args):
    import subprocess
    return subprocess.run([sys.executable, '-m', f'datadings_like.commands.{name}', *args],
                          capture_output=True, text=True, timeout=120)


def test_tools_read_urls(http, data_dir):
    url = http.url + '/train.msgpack'
    done = _tool('cat', '-n', '2', '--keys', url)
    assert done.returncode == 0 and done.stdout.split() == ['s0', 's1']
    done = _tool('info', url)
    assert done.returncode == 0 and done.stdout.splitlines()[0] == url
    assert f'samples:  {N}' in done.stdout
    done = _tool('verify', url)
    assert done.returncode == 0 and done.stdout.strip() == f'{url}: OK'
    done = _tool('bench', '-r', url)
    assert done.returncode == 0 and 'samples/s' in done.stdout


def test_tools_report_remote_problems_in_one_line(http, data_dir):
    missing = http.url + '/missing.msgpack'
    for tool in ('cat', 'info', 'bench'):
        done = _tool(tool, missing)
        assert done.returncode != 0
        assert done.stderr.strip().endswith(f'{missing}: not found'), done.stderr
        assert 'Traceback' not in done.stderr
    done = _tool('verify', missing)
    assert done.returncode != 0 and done.stdout.strip() == f'{missing}: file not found'
    # a damaged copy: verify names the URL and the problem
    damaged = bytearray((data_dir / 'train.msgpack').read_bytes())
    damaged[-5] ^= 0xFF
    (data_dir / 'damaged.msgpack').write_bytes(bytes(damaged))
    for suffix in ('.offsets', '.keys', '.key_hashes', '.filter'):
        (data_dir / f'damaged.msgpack{suffix}').write_bytes(
            (data_dir / f'train.msgpack{suffix}').read_bytes())
    md5 = (data_dir / 'train.msgpack.md5').read_text().replace('train.msgpack', 'damaged.msgpack')
    (data_dir / 'damaged.msgpack.md5').write_text(md5)
    done = _tool('verify', http.url + '/damaged.msgpack')
    assert done.returncode != 0
    assert f'{http.url}/damaged.msgpack: ' in done.stdout and 'OK' not in done.stdout


def test_writing_tools_read_url_inputs(http, tmp_path):
    # URL outputs: tests/test_remote_write.py
    out = tmp_path / 'small.msgpack'
    done = _tool('sample', http.url + '/train.msgpack', str(out), '5')
    assert done.returncode == 0, done.stderr
    assert list(MsgpackReader(out)) == _samples()[:5]


def test_unpickled_without_the_parents_sidecars(http):
    import shutil
    reader = MsgpackReader(http.url + '/train.msgpack')
    state = pickle.dumps(reader)
    shutil.rmtree(reader._path.parent)  # as if the parent process were gone
    clone = pickle.loads(state)
    assert clone.get(33) == _samples()[33] and clone._path.parent.is_dir()
