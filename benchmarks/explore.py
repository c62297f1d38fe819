#!/usr/bin/env python3
"""
First-page latency of the explorer (issue 16) on a big file: the time from
a fresh :py:class:`datadings_like.explore.Explorer` (files opened, nothing
loaded) to the JSON of the grid's first page, then of a page deep in the
file, a key lookup, a sample page and the first page's thumbnails, through
the real HTTP server.

::

    python benchmarks/explore.py                    # 1M samples of 1 KB images
    python benchmarks/explore.py --samples 10000000 --repeat 3

The dataset (tiny 8x8 JPEGs with a key and a label) is written once to
``--data-dir`` (default ``benchmarks/_data/explore``) and reused. Every
repetition starts a new explorer and server, so the index is loaded anew;
the operating system's page cache is warm after the first run (drop it for
cold figures). Medians are printed in milliseconds.
"""
from pathlib import Path
from statistics import median
import argparse
import http.client
import io
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from datadings_like.explore import make_server  # noqa: E402
from datadings_like.writer import FileWriter  # noqa: E402


def make_data(path, n):
    if path.exists() and Path(str(path) + '.offsets').exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.new('RGB', (8, 8), (200, 60, 20)).save(buf, 'JPEG')
    image = buf.getvalue()
    t0 = time.perf_counter()
    with FileWriter(path, overwrite=True) as writer:
        for i in range(n):
            writer.write({'key': f'{i:09d}', 'image': image, 'label': i % 1000})
    print(f'wrote {n} samples in {time.perf_counter() - t0:.1f} s', file=sys.stderr)


def fetch(conn, target):
    conn.request('GET', target)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (target, response.status, body[:200])
    return body


def run_once(path, n):
    times = {}
    t0 = time.perf_counter()
    server = make_server([path])
    thread = server.start()
    try:
        times['open'] = time.perf_counter() - t0
        host, port = server.server_address[:2]
        conn = http.client.HTTPConnection(host, port, timeout=60)
        steps = [
            ('first page (48 tiles)', '/api/page?f=0&start=0&count=48'),
            ('page at the end', f'/api/page?f=0&start={n - 48}&count=48'),
            ('key lookup', f'/api/find?f=0&key={n // 2:09d}'),
            ('sample page', f'/api/sample?f=0&i={n // 3}'),
            ('48 thumbnails', None),
        ]
        start = time.perf_counter()
        for name, target in steps:
            t = time.perf_counter()
            if target is None:
                for i in range(48):
                    fetch(conn, f'/img?f=0&i={i}&view=thumb')
            else:
                fetch(conn, target)
            times[name] = time.perf_counter() - t
        times['open + first page'] = times['open'] + times['first page (48 tiles)']
        times['all steps'] = time.perf_counter() - start
        conn.close()
    finally:
        server.shutdown()
        server.server_close()
        server.explorer.close()
        thread.join(10)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--samples', type=int, default=1_000_000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--data-dir', type=Path,
                        default=Path(__file__).resolve().parent / '_data' / 'explore')
    args = parser.parse_args(argv)
    path = args.data_dir / f'explore-{args.samples}.msgpack'
    make_data(path, args.samples)
    runs = [run_once(path, args.samples) for _ in range(args.repeat)]
    print(f'{args.samples} samples, {path.stat().st_size / 2 ** 20:.0f} MiB, '
          f'median of {args.repeat} runs')
    for name in runs[0]:
        print(f'  {name:<22} {1000 * median(r[name] for r in runs):9.1f} ms')


if __name__ == '__main__':
    main()
