"""
Remote reading (issue #17): a sequential epoch in MB/s and the latency of
random ``get(i)`` over a local HTTP server and a local S3 server (moto),
against reading the same file locally, plus a second epoch from the cache.

Both servers run on 127.0.0.1 in this process (the HTTP server of the
tests, ``tests/remote/servers.py``; moto's S3 if ``moto[server]`` and s3fs
are installed). Mosaic Streaming and WebDataset are measured over the same
HTTP server where they are installed; otherwise the table says so.

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


def _write(path, n, size):
    rng = random.Random(0)
    with FileWriter(path, overwrite=True, disable=True) as writer:
        for i in range(n):
            writer.write({'key': str(i), 'data': rng.randbytes(size), 'label': i % 10})


def _epoch(reader):
    t = time.perf_counter()
    for _ in reader.iter(raw=True):
        pass
    return time.perf_counter() - t


def _gets(reader, indices):
    times = []
    for i in indices:
        t = time.perf_counter()
        reader.get(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, sorted(times)[int(len(times) * 0.95)] * 1e3


def _measure(name, make, size, indices, rows):
    reader = make()
    seconds = _epoch(reader)
    median, p95 = _gets(make(), indices)
    rows.append((name, size / seconds / 1e6, median, p95))


def _start_s3(path):
    try:
        import s3fs
        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server
    except ImportError:
        return None
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
    return options


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--samples', type=int, default=4000)
    parser.add_argument('--size', type=int, default=16384, help='bytes per sample')
    parser.add_argument('--gets', type=int, default=300, help='random gets measured')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'data' / 'bench.msgpack'
        path.parent.mkdir()
        _write(path, args.samples, args.size)
        size = path.stat().st_size
        indices = random.Random(1).sample(range(args.samples), min(args.gets, args.samples))
        rows = []
        _measure('local file (mmap)', lambda: MsgpackReader(path), size, indices, rows)
        http = start_http(path.parent)
        url = f'{http.url}/{path.name}'
        _measure('HTTP 127.0.0.1', lambda: MsgpackReader(url), size, indices, rows)
        cache = Path(tmp) / 'cache'
        cached = MsgpackReader(url, cache_dir=cache)
        _epoch(cached)
        rows.append(('HTTP, 2nd epoch from cache', size / _epoch(cached) / 1e6,
                     *_gets(cached, indices)))
        options = _start_s3(path)
        if options is not None:
            s3url = f's3://bench/{path.name}'
            _measure('S3 (moto) 127.0.0.1',
                     lambda: MsgpackReader(s3url, storage_options=options), size, indices, rows)
        else:
            rows.append(('S3 (moto): not installed', float('nan'), float('nan'), float('nan')))
        for module, label in (('streaming', 'Mosaic Streaming'), ('webdataset', 'WebDataset')):
            try:
                __import__(module)
                rows.append((f'{label}: installed, not measured here', float('nan'),
                             float('nan'), float('nan')))
            except ImportError:
                rows.append((f'{label}: not installed', float('nan'), float('nan'),
                             float('nan')))
        http.shutdown()
    print(f'{args.samples} samples of {args.size} bytes ({size / 1e6:.1f} MB)')
    print(f'{"source":34} {"epoch MB/s":>11} {"get median ms":>14} {"get p95 ms":>11}')
    for name, mbs, median, p95 in rows:
        print(f'{name:34} {mbs:11.1f} {median:14.3f} {p95:11.3f}')


if __name__ == '__main__':
    main()
