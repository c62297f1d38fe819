"""
Remote reading (issue #17): a sequential epoch in MB/s and the latency of
random ``get(i)`` over a local HTTP server and a local S3 server (moto),
against reading the same file locally, plus a second epoch from the cache;
and the same workload with WebDataset (tar shards over the same HTTP
server) and Mosaic Streaming (MDS shards over the same S3 server).

Both servers run on 127.0.0.1 in this process (the HTTP server of the
tests, ``tests/remote/servers.py``; moto's S3 if ``moto[server]`` and s3fs
are installed). WebDataset and Mosaic Streaming are measured where they
import (``pip install 'datadings_like[bench]'``); otherwise the table says
so. MB/s counts the samples' payload bytes (the same for every format), so
container overhead (tar headers, MDS shard index) is not counted as speed.

    python benchmarks/remote.py [--samples 4000] [--size 16384] [--gets 300]
"""
from pathlib import Path
import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / 'tests' / 'remote'))

from servers import start_http  # noqa: E402

from datadings_like.reader import MsgpackReader  # noqa: E402
from datadings_like.writer import FileWriter  # noqa: E402

NAN = float('nan')
# samples per shard for WebDataset and bytes per shard for Mosaic: shards of
# about 8 MiB, the block size of the remote reader
_SHARD_BYTES = 8 << 20


def _sample_data(n, size):
    rng = random.Random(0)
    for i in range(n):
        yield str(i), rng.randbytes(size), i % 10


def _write(path, n, size):
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for key, data, label in _sample_data(n, size):
            writer.write({'key': key, 'data': data, 'label': label})


def _stats(times):
    """Median, 95th percentile and maximum in milliseconds."""
    times = sorted(times)
    return (statistics.median(times) * 1e3, times[int(len(times) * 0.95)] * 1e3,
            times[-1] * 1e3)


def _timed_epoch(iterable):
    t = time.perf_counter()
    count = 0
    for _ in iterable:
        count += 1
    return time.perf_counter() - t, count


def _timed_gets(get, indices):
    times = []
    for i in indices:
        t = time.perf_counter()
        get(i)
        times.append(time.perf_counter() - t)
    return _stats(times)


def _measure(name, make, payload, indices, rows, note=''):
    seconds, _ = _timed_epoch(make().iter(raw=True))
    rows.append((name, payload / seconds / 1e6, *_timed_gets(make().get, indices), note))


def _start_s3(path):
    try:
        import s3fs
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError:
        return None, None
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'bench')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'bench')
    os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1')
    import logging
    logging.getLogger('werkzeug').setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server('127.0.0.1', 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = {'endpoint_url': f'http://127.0.0.1:{server.server_address[1]}'}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    fs.mkdir('bench')
    for p in sorted(path.parent.iterdir()):
        fs.put_file(str(p), f'bench/{p.name}')
    return options, fs


# ------------------------------------------------------------------ WebDataset

def _webdataset(root, http, n, size, payload, rows):
    """Tar shards of the same samples, read over the same HTTP server (curl)."""
    try:
        import webdataset as wds
    except ImportError:
        rows.append(('WebDataset: not installed', NAN, NAN, NAN, NAN, ''))
        return
    shard_dir = root / 'wds'
    shard_dir.mkdir()
    per_shard = max(1, _SHARD_BYTES // size)
    pattern = str(shard_dir / 'shard-%06d.tar')
    with wds.ShardWriter(pattern, maxcount=per_shard, verbose=0) as sink:
        for key, data, label in _sample_data(n, size):
            sink.write({'__key__': key, 'data': data, 'cls': str(label).encode()})
    urls = [f'{http.url}/wds/{p.name}' for p in sorted(shard_dir.iterdir())]
    dataset = wds.WebDataset(urls, shardshuffle=False, empty_check=False)
    seconds, count = _timed_epoch(dataset)
    if count != n:
        raise RuntimeError(f'WebDataset read {count} of {n} samples')
    rows.append(('WebDataset, HTTP (curl)', payload / seconds / 1e6, NAN, NAN, NAN,
                 'no random access'))


# ------------------------------------------------------------- Mosaic Streaming

def _mosaic(root, s3fs_fs, options, n, size, payload, indices, rows):
    """MDS shards of the same samples, read from the same S3 server."""
    try:
        from streaming import MDSWriter
        from streaming import StreamingDataset
    except ImportError as exc:
        rows.append((f'Mosaic Streaming: not installed ({type(exc).__name__})',
                     NAN, NAN, NAN, NAN, ''))
        return
    if s3fs_fs is None:
        rows.append(('Mosaic Streaming: needs the S3 server (moto)', NAN, NAN, NAN, NAN, ''))
        return
    os.environ['S3_ENDPOINT_URL'] = options['endpoint_url']
    mds = root / 'mds'
    columns = {'key': 'str', 'data': 'bytes', 'label': 'int'}
    with MDSWriter(out=str(mds), columns=columns, size_limit=_SHARD_BYTES) as out:
        for key, data, label in _sample_data(n, size):
            out.write({'key': key, 'data': data, 'label': label})
    for p in sorted(mds.iterdir()):
        s3fs_fs.put_file(str(p), f'bench/mds/{p.name}')
    remote = 's3://bench/mds'
    counter = [0]

    def fresh():
        counter[0] += 1
        local = root / f'mds-cache-{counter[0]}'
        return StreamingDataset(remote=remote, local=str(local), shuffle=False, batch_size=1)

    dataset = fresh()
    seconds, count = _timed_epoch(dataset)
    if count != n:
        raise RuntimeError(f'Mosaic Streaming read {count} of {n} samples')
    rows.append(('Mosaic Streaming, S3 (moto)', payload / seconds / 1e6,
                 *_timed_gets(fresh().get_item, indices),
                 'a get fetches its whole shard'))
    seconds, _ = _timed_epoch(dataset)
    rows.append(('Mosaic, 2nd epoch (local shards)', payload / seconds / 1e6,
                 *_timed_gets(dataset.get_item, indices), ''))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--samples', type=int, default=4000)
    parser.add_argument('--size', type=int, default=16384, help='bytes per sample')
    parser.add_argument('--gets', type=int, default=300, help='random gets measured')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / 'data'
        root.mkdir()
        path = root / 'bench.msgpack'
        _write(path, args.samples, args.size)
        payload = args.samples * args.size
        indices = random.Random(1).sample(range(args.samples), min(args.gets, args.samples))
        rows = []
        _measure('datadings_like, local file (mmap)', lambda: MsgpackReader(path), payload,
                 indices, rows)
        options, fs = _start_s3(path)  # before more files appear beside the dataset
        http = start_http(root)
        url = f'{http.url}/{path.name}'
        _measure('datadings_like, HTTP', lambda: MsgpackReader(url), payload, indices, rows,
                 'a get is one range request')
        cache = Path(tmp) / 'cache'
        cached = MsgpackReader(url, cache_dir=cache)
        _timed_epoch(cached.iter(raw=True))
        seconds, _ = _timed_epoch(cached.iter(raw=True))
        rows.append(('datadings_like, HTTP, 2nd epoch (cache)', payload / seconds / 1e6,
                     *_timed_gets(cached.get, indices), ''))
        if options is not None:
            s3url = f's3://bench/{path.name}'
            _measure('datadings_like, S3 (moto)',
                     lambda: MsgpackReader(s3url, storage_options=options), payload, indices,
                     rows, 'a get is one range request')
        else:
            rows.append(('S3 (moto): not installed', NAN, NAN, NAN, NAN, ''))
        _webdataset(root, http, args.samples, args.size, payload, rows)  # served from root
        _mosaic(Path(tmp), fs, options or {}, args.samples, args.size, payload, indices, rows)
        http.shutdown()
    print(f'{args.samples} samples of {args.size} bytes ({payload / 1e6:.1f} MB payload), '
          f'{len(indices)} random gets')
    print(f'{"source":42} {"epoch MB/s":>10} {"get median ms":>13} {"p95 ms":>8} '
          f'{"max ms":>8}  note')
    for name, mbs, median, p95, worst, note in rows:
        print(f'{name:42} {mbs:10.1f} {median:13.3f} {p95:8.3f} {worst:8.1f}  {note}')


if __name__ == '__main__':
    main()
