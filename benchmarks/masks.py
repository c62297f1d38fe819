#!/usr/bin/env python3
"""
Size of segment masks stored as a :py:class:`datadings_like.masks.Segments`
field, against storing each mask as a full-size PNG and as zlib of its
packed bits (issue 15), for sparse and dense masks; and the time to encode
and decode them.

::

    python benchmarks/masks.py                 # 1024 x 1024, the default cases
    python benchmarks/masks.py --size 512 --repeat 5

Cases (each a list of masks over one image, drawn with a fixed seed):

- ``sparse objects``: 20 small objects (ellipses of 10-40 px) in the image,
  one segment each;
- ``scattered``: one mask of 60 small blobs spread over the whole image;
- ``dense partition``: the image cut into 50 instances (Voronoi cells), one
  segment each, covering every pixel;
- ``large overlapping``: 10 large ellipses (a quarter to half of the image)
  that overlap;
- ``noise 1%`` / ``noise 30%``: one mask of random pixels (the worst case
  for every method: nothing to compress).

Columns: bytes of the msgpack-packed ``Segments.encode()`` value (the whole
field: table, regions, bounding boxes), the sum of the masks as full-size
1-bit PNGs (Pillow, default compression level 6), and the sum of
``zlib.compress(np.packbits(mask), 9)`` of the full-size masks; then the
median times of ``Segments`` building + encoding, decoding the value
(table only), and decoding every mask.
"""
from statistics import median
import argparse
import io
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datadings_like.masks import Segments  # noqa: E402
from datadings_like.msgpack import packb  # noqa: E402
from datadings_like.msgpack import unpackb  # noqa: E402


def ellipse(shape, cy, cx, ry, rx):
    yy, xx = np.ogrid[:shape[0], :shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def make_cases(size, seed=0):
    rng = np.random.default_rng(seed)
    shape = (size, size)
    cases = {}
    cases['sparse objects'] = [
        ellipse(shape, *rng.uniform(0, size, 2), *rng.uniform(5, 20, 2)) for _ in range(20)]
    blobs = np.zeros(shape, bool)
    for _ in range(60):
        blobs |= ellipse(shape, *rng.uniform(0, size, 2), *rng.uniform(2, 8, 2))
    cases['scattered'] = [blobs]
    seeds = rng.uniform(0, size, (50, 2))
    yy, xx = np.mgrid[:size, :size]
    cells = np.full(shape, -1)
    best = np.full(shape, np.inf)
    for i, (sy, sx) in enumerate(seeds):
        d = (yy - sy) ** 2 + (xx - sx) ** 2
        closer = d < best
        cells[closer], best[closer] = i, d[closer]
    cases['dense partition'] = [cells == i for i in range(50)]
    cases['large overlapping'] = [
        ellipse(shape, *rng.uniform(0, size, 2), *rng.uniform(size / 8, size / 4, 2))
        for _ in range(10)]
    cases['noise 1%'] = [rng.random(shape) < 0.01]
    cases['noise 30%'] = [rng.random(shape) < 0.30]
    return cases


def png_size(mask):
    bio = io.BytesIO()
    Image.fromarray(mask).save(bio, 'PNG')
    return len(bio.getvalue())


def zlib_size(mask):
    return len(zlib.compress(np.packbits(mask).tobytes(), 9))


def timed(fun, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fun()
        times.append(time.perf_counter() - start)
    return result, median(times)


def measure(masks, repeat):
    def build():
        segments = Segments(shape=masks[0].shape)
        for i, mask in enumerate(masks):
            segments.add(mask, label=i)
        return packb(segments.encode())

    packed, t_encode = timed(build, repeat)
    value = unpackb(packed)
    _, t_table = timed(lambda: Segments.decode(value), repeat)

    def all_masks():
        segments = Segments.decode(value)
        return [entry.full_mask() for entry in segments]

    decoded, t_masks = timed(all_masks, repeat)
    assert all((a == b).all() for a, b in zip(decoded, masks))
    regions = sum(len(r) for r in value['regions'])
    return {
        'segments': len(packed),
        'png': sum(png_size(m) for m in masks),
        'zlib': sum(zlib_size(m) for m in masks),
        'regions': regions,
        'pixels': int(sum(m.sum() for m in masks)),
        't_encode': t_encode, 't_table': t_table, 't_masks': t_masks,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, default=1024, help='image side in pixels')
    parser.add_argument('--repeat', type=int, default=3, help='repetitions for the times')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    print(f'image {args.size}x{args.size}, median of {args.repeat} runs; sizes in bytes')
    head = (f'{"case":<18} {"masks":>5} {"regions":>7} {"set px":>8} {"Segments":>9} '
            f'{"PNG":>9} {"zlib":>9} {"vs PNG":>7} {"vs zlib":>7} '
            f'{"encode":>8} {"table":>8} {"masks":>8}')
    print(head)
    print('-' * len(head))
    for name, masks in make_cases(args.size, args.seed).items():
        r = measure(masks, args.repeat)
        print(f'{name:<18} {len(masks):>5} {r["regions"]:>7} {r["pixels"]:>8} '
              f'{r["segments"]:>9} {r["png"]:>9} {r["zlib"]:>9} '
              f'{r["segments"] / r["png"]:>7.2f} {r["segments"] / r["zlib"]:>7.2f} '
              f'{r["t_encode"] * 1e3:>6.1f}ms {r["t_table"] * 1e6:>6.0f}us '
              f'{r["t_masks"] * 1e3:>6.1f}ms')


if __name__ == '__main__':
    main()
