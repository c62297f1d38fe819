"""
datadings_like.parallel with an fsspec URL as the output: S3 served by moto
on 127.0.0.1, in this process and on a real Dask LocalCluster.
"""
import hashlib
import logging
import os
import sys
import threading

import pytest

pytest.importorskip('fsspec')
pytest.importorskip('s3fs')
moto_server = pytest.importorskip('moto.server')
distributed = pytest.importorskip('distributed')
cloudpickle = pytest.importorskip('cloudpickle')

from datadings_like.parallel import SHARD_LIST_SUFFIX  # noqa: E402
from datadings_like.parallel import ShardTaskError  # noqa: E402
from datadings_like.parallel import read_shard_list  # noqa: E402
from datadings_like.parallel import write_shards  # noqa: E402
from datadings_like.reader import ShardedReader  # noqa: E402
from datadings_like.sets.shards import shard_name  # noqa: E402

# the task functions below are sent to the workers by value: the workers
# cannot import this test module
cloudpickle.register_pickle_by_value(sys.modules[__name__])

TASKS = [(0, 10), (10, 20), (20, 27)]
# global shuffle: the samples of two parts permuted into two shards
SHUFFLE_TASKS = [(0, 13), (13, 27)]
BUCKET = 'parallel-remote'
SIDECARS = ('.offsets', '.keys', '.key_hashes', '.filter', '.md5')


def numbers(task):
    """Samples ``k{i}`` for i in the range of the task."""
    start, stop = task
    for i in range(start, stop):
        yield {'key': f'k{i:03d}', 'value': i, 'data': bytes([i % 256]) * (i % 7)}


def raise_once(task, marker):
    """Task (10, 20) raises the first time, after yielding some samples."""
    for sample in numbers(task):
        if task[0] == 10 and sample['value'] == 15 and not os.path.exists(marker):
            open(marker, 'w').close()
            raise RuntimeError('disk on fire')
        yield sample


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope='module')
def s3():
    """
    moto's S3 on 127.0.0.1 behind a request log; ``hooks`` may refuse
    requests. No AWS credentials in the environment: the keys, the
    endpoint and the region reach fsspec (here and on the workers) only
    through the storage options.
    """
    import s3fs
    from werkzeug.serving import make_server
    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    app = moto_server.DomainDispatcherApplication(moto_server.create_backend_app)
    log = []
    hooks = []  # hook(method, path) -> None, or an HTTP status to answer instead

    def logged(environ, start_response):
        method, path = environ['REQUEST_METHOD'], environ.get('PATH_INFO', '')
        log.append((method, path))
        for hook in list(hooks):
            status = hook(method, path)
            if status is not None:
                environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
                start_response(f'{status} Refused', [('Content-Type', 'application/xml'),
                                                     ('Content-Length', '0')])
                return [b'']
        return app(environ, start_response)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith('AWS_')}
    server = make_server('127.0.0.1', 0, logged, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = {'endpoint_url': f'http://127.0.0.1:{server.server_address[1]}',
               'key': 'testing', 'secret': 'not-a-real-secret',
               'client_kwargs': {'region_name': 'eu-west-1'}}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    # moto keeps its buckets per process (other test modules use it too)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    try:
        yield {'options': options, 'fs': fs, 'log': log, 'hooks': hooks}
    finally:
        server.shutdown()
        thread.join()
        os.environ.update(saved)


@pytest.fixture(scope='module')
def cluster(s3):
    """A LocalCluster of one worker process (started after the environment was cleaned)."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host='127.0.0.1', dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """The same jobs written to a local directory: plain, and shuffled."""
    root = tmp_path_factory.mktemp('parallel_local')
    write_shards(TASKS, numbers, root / 'plain', quiet=True)
    write_shards(SHUFFLE_TASKS, numbers, root / 'shuffled', quiet=True, shuffle=True, seed=3,
                 shards=2)
    return root


@pytest.fixture
def prefix(request, s3):
    """A fresh prefix in the bucket (fsspec path and URL)."""
    path = f'{BUCKET}/{request.node.name}'
    s3['hooks'].clear()
    return path, f's3://{path}'


# ------------------------------------------------------------------ helpers

def files(fs, path):
    """Names and MD5 of the objects under ``path``."""
    fs.invalidate_cache()
    return {p[len(path) + 1:]: hashlib.md5(fs.cat_file(p)).hexdigest()
            for p in fs.find(path, withdirs=False)}


def local_files(directory):
    return {name: hashlib.md5((directory / name).read_bytes()).hexdigest()
            for name in os.listdir(directory)}


def raw_samples(reader):
    with reader:
        return [reader.get(i, yield_key=True, raw=True) for i in range(len(reader))]


def check_same_as_local(s3, prefix, local_dir, count=len(TASKS), read=False, glob=False):
    """
    The objects at the URL are the local files byte for byte, the shard
    list names them; with ``read`` they are read through the shard list
    (with ``glob`` also through the glob of their URLs) as the local files.
    (Opening a remote reader costs a few requests: not in every test.)
    """
    path, url = prefix
    assert files(s3['fs'], path) == local_files(local_dir)
    options = s3['options']
    shards = read_shard_list(f'{url}/train{SHARD_LIST_SUFFIX}', options)
    assert shards == [f'{url}/{shard_name("train", i, count)}' for i in range(count)]
    if not read:
        return
    expected = raw_samples(ShardedReader(str(local_dir / 'train-*-of-*.msgpack')))
    assert raw_samples(ShardedReader(shards, storage_options=options)) == expected
    if glob:
        assert raw_samples(ShardedReader(f'{url}/train-*-of-*.msgpack',
                                         storage_options=options)) == expected


def puts(log, start=0):
    """Names of the objects PUT since ``log[start]``, in order."""
    return [p.rpartition('/')[2] for m, p in log[start:] if m == 'PUT']


# --------------------------------------------------------------------- tests

def test_url_output_in_process(s3, reference, prefix):
    start = len(s3['log'])
    urls = write_shards(TASKS, numbers, prefix[1], quiet=True, storage_options=s3['options'])
    assert urls == [f'{prefix[1]}/{shard_name("train", i, 3)}' for i in range(3)]
    # the job state and nothing else hidden is gone; the rest equals the local run
    check_same_as_local(s3, prefix, reference / 'plain', read=True, glob=True)
    put = puts(s3['log'], start)
    assert '.train.parallel' in put
    for i in range(3):
        data = shard_name('train', i, 3)
        # every sidecar went up before the data file, which came once and last
        assert put.count(data) == 1
        assert all(put.index(data + s) < put.index(data) for s in SIDECARS)
    assert put.index('train.shards') > max(put.index(shard_name('train', i, 3)) for i in range(3))


def test_failed_shards_are_redone_alone_over_url(s3, reference, prefix, tmp_path):
    """
    Task 1 raises, the upload of shard 2's data file is refused: neither
    leaves anything at its URL, and the re-run writes only these two.
    """
    from functools import partial
    path, url = prefix
    fn = partial(raise_once, marker=str(tmp_path / 'marker'))
    kept, failed, refused = (shard_name('train', i, 3) for i in range(3))
    s3['hooks'].append(lambda method, p: 403 if (method, p) == ('PUT', f'/{path}/{refused}')
                       else None)
    with pytest.raises(ShardTaskError, match=r'task 1 \(\(10, 20\)\): RuntimeError: disk on '
                       r'fire.*task 2 .*access denied') as info:
        write_shards(TASKS, fn, url, quiet=True, storage_options=s3['options'])
    assert sorted(f[0] for f in info.value.failures) == [1, 2]
    present = set(files(s3['fs'], path))
    # the sidecars that went up before the refused data file were removed again
    assert not [n for n in present if n.startswith((failed, refused))]
    # the job state waits for the re-run; there is no shard list yet
    assert present == {kept, '.train.parallel'} | {kept + s for s in SIDECARS}
    s3['hooks'].clear()
    # and a data file without its sidecars (an upload cut short by other
    # means, a copy by hand) is no shard: it is redone too
    s3['fs'].pipe_file(f'{path}/{failed}', (reference / 'plain' / failed).read_bytes()[:-3])
    start = len(s3['log'])
    write_shards(TASKS, fn, url, quiet=True, storage_options=s3['options'])
    assert sorted(puts(s3['log'], start)) == sorted(
        [n + s for n in (failed, refused) for s in ('',) + SIDECARS] + ['train.shards'])
    # the kept shard was not touched, not even asked for (listings tell)
    assert not [(m, p) for m, p in s3['log'][start:] if p.rpartition('/')[2].startswith(kept)]
    check_same_as_local(s3, prefix, reference / 'plain')


def test_other_job_at_url_is_replaced_only_when_asked(s3, prefix):
    path, url = prefix
    options = s3['options']
    write_shards(TASKS[:2], numbers, url, quiet=True, storage_options=options)
    before = files(s3['fs'], path)
    with pytest.raises(FileExistsError, match='train-00000-of-00002.msgpack'):
        write_shards(TASKS[2:], numbers, url, quiet=True, storage_options=options)
    assert files(s3['fs'], path) == before
    write_shards(TASKS[2:], numbers, url, quiet=True, storage_options=options, overwrite=True)
    shard = shard_name('train', 0, 1)
    assert set(files(s3['fs'], path)) == {shard, 'train.shards'} | {shard + s for s in SIDECARS}
    assert read_shard_list(f'{url}/train.shards', options) == [f'{url}/{shard}']


def test_global_shuffle_over_url_in_process(s3, reference, prefix):
    path, url = prefix
    write_shards(SHUFFLE_TASKS, numbers, url, quiet=True, storage_options=s3['options'],
                 shuffle=True, seed=3, shards=2)
    # the temporary parts went to OUTDIR/.train.shuffle/ and are gone again
    assert any('/.train.shuffle/part-' in p for m, p in s3['log'] if m == 'PUT')
    check_same_as_local(s3, prefix, reference / 'shuffled', count=2, read=True)


def test_url_output_on_cluster(s3, reference, prefix, cluster, tmp_path):
    from functools import partial
    path, url = prefix
    fn = partial(raise_once, marker=str(tmp_path / 'marker'))
    with pytest.raises(ShardTaskError, match='task 1'):
        write_shards(TASKS, fn, url, client=cluster, quiet=True, storage_options=s3['options'])
    start = len(s3['log'])
    write_shards(TASKS, fn, url, client=cluster, quiet=True, storage_options=s3['options'])
    assert shard_name('train', 0, 3) not in puts(s3['log'], start)
    check_same_as_local(s3, prefix, reference / 'plain')


def test_global_shuffle_over_url_on_cluster(s3, reference, prefix, cluster):
    write_shards(SHUFFLE_TASKS, numbers, prefix[1], client=cluster, quiet=True,
                 storage_options=s3['options'], shuffle=True, seed=3, shards=2)
    check_same_as_local(s3, prefix, reference / 'shuffled', count=2)


def test_storage_options_with_local_outdir_and_shuffle(reference, tmp_path):
    """Options meant for URLs do not reach the readers of local parts."""
    write_shards(SHUFFLE_TASKS, numbers, tmp_path, quiet=True, shuffle=True, seed=3,
                 shards=2, storage_options={'anon': True})
    assert local_files(tmp_path) == local_files(reference / 'shuffled')
