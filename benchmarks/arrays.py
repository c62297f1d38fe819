#!/usr/bin/env python3
"""
Size and access time of :py:class:`datadings_like.arrays.ImageArray`.

For three synthetic, natural-looking image stacks (a grey time-lapse with
two z planes, an RGB video, a 16-bit microscopy stack) this prints:

- sizes: the raw array, ``np.savez_compressed``, ``ImageArray`` JPEG at
  quality 90 and 75 (8-bit stacks only) and lossless PNG, with the JPEG
  error (mean absolute error, PSNR);
- times: encoding (1 and 2 worker threads), reading one slice from a
  freshly decoded value (cold cache) against decoding everything
  (``np.asarray``) and against loading the ``.npz``, and the same through
  a dataset written by :py:func:`datadings_like.arrays.write` and opened
  with :py:func:`datadings_like.arrays.open`.

Times are the best of ``--repeat`` runs in this process (the least
disturbed by other programs: read them on a quiet machine). Usage::

    python benchmarks/arrays.py             # full sizes, about a minute on 2 cores
    python benchmarks/arrays.py --quick     # smoke run
    python benchmarks/arrays.py --json out.json
"""
from pathlib import Path
from time import perf_counter
import argparse
import io
import json
import os
import platform
import sys
import tempfile

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from datadings_like import arrays  # noqa: E402
from datadings_like.arrays import ImageArray  # noqa: E402


def scene(h, w, frames, channels=0, seed=0, noise=2.5, peak=255.0):
    """
    Frames of a natural-looking scene: smooth shading, soft blobs drifting
    over time, a few sharp-edged objects, sensor noise. Returns float
    frames of shape (h, w[, channels], frames) in 0..peak.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = max(channels, 1)
    base = [0.43 + 0.2 * np.sin(x / rng.uniform(30, 80) + c) * np.cos(y / rng.uniform(30, 80))
            for c in range(planes)]
    blobs = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(6, w / 8),
              rng.uniform(-0.25, 0.25, planes), rng.uniform(-1.5, 1.5, 2)) for _ in range(14)]
    discs = [(rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, w / 12),
              rng.uniform(-0.2, 0.2, planes)) for _ in range(6)]
    out = np.empty((h, w, planes, frames), np.float32)
    for t in range(frames):
        img = np.stack(base, axis=-1).copy()
        for cx, cy, r, amp, (vx, vy) in blobs:
            g = np.exp(-((x - cx - vx * t) ** 2 + (y - cy - vy * t) ** 2) / (2 * r * r))
            img += g[..., None] * amp
        for cx, cy, r, amp in discs:
            img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] += amp
        out[..., t] = img * peak
    out += rng.normal(0, noise, out.shape).astype(np.float32)
    return out if channels else out[:, :, 0]


def stacks(quick):
    s = 2 if quick else 1
    grey = scene(512 // s, 512 // s, 2 * (32 // s), seed=1)
    grey = grey.reshape(grey.shape[:2] + (32 // s, 2), order='F')  # (H, W, T, Z)
    rgb = scene(256 // s, 256 // s, 64 // s, channels=3, seed=2)
    micro = scene(256 // s, 256 // s, 32 // s, seed=3, noise=150, peak=40000.0)
    return [
        ('grey time-lapse', np.clip(np.rint(grey), 0, 255).astype(np.uint8), (slice(None),) * 2 + (5, 1)),
        ('RGB video', np.clip(np.rint(rgb), 0, 255).astype(np.uint8), (Ellipsis, 7)),
        ('16-bit stack', np.clip(np.rint(micro), 0, 65535).astype(np.uint16), (Ellipsis, 7)),
    ]


def timed(fn, repeat):
    best = float('inf')
    for _ in range(repeat):
        start = perf_counter()
        fn()
        best = min(best, perf_counter() - start)
    return best


def npz_bytes(x):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x)
    return buffer.getvalue()


def measure(name, x, key, repeat, tmp):
    row = {'name': name, 'shape': list(x.shape), 'dtype': x.dtype.name, 'raw': x.nbytes}
    npz = npz_bytes(x)
    row['npz'] = len(npz)
    row['npz_load_s'] = timed(lambda: np.load(io.BytesIO(npz))['x'], repeat)
    variants = [('png', dict(lossless=True))]
    if x.dtype == np.uint8:
        variants = [('jpeg90', dict(quality=90)), ('jpeg75', dict(quality=75))] + variants
    for label, kwargs in variants:
        result = {}
        for workers in (1, 2):
            result[f'encode_w{workers}_s'] = timed(
                lambda: ImageArray.encode(x, workers=workers, **kwargs), max(1, repeat // 2))
        a = ImageArray.encode(x, **kwargs)
        value = a.to_value()
        result['bytes'] = a.encoded_nbytes
        result['slices'] = a.num_slices
        result['one_slice_s'] = timed(lambda: ImageArray.decode(value)[key], repeat)
        result['all_s'] = timed(lambda: np.asarray(ImageArray.decode(value)), repeat)
        result['all_w2_s'] = timed(lambda: np.asarray(ImageArray.decode(value, workers=2)),
                                   repeat)
        decoded = np.asarray(a)
        assert decoded.shape == x.shape
        if kwargs.get('lossless'):
            assert np.array_equal(decoded, x)
        else:
            diff = decoded.astype(np.float64) - x
            result['mae'] = float(np.abs(diff).mean())
            result['psnr'] = float(10 * np.log10(255 ** 2 / np.mean(diff ** 2)))
        row[label] = result
    # the same array across the samples of a dataset: one sample per index
    # of the first axis after the image axes (time)
    label, kwargs = variants[0]
    path = Path(tmp) / f'{name.replace(" ", "_")}.msgpack'
    start = perf_counter()
    arrays.write(path, x, overwrite=True, progress=False, **kwargs)
    dataset = {'write_s': perf_counter() - start, 'file_bytes': path.stat().st_size}
    with arrays.open(path) as d:
        dataset['parts'] = d.parts

    def one():
        with arrays.open(path) as d:
            d[key]

    def everything():
        with arrays.open(path) as d:
            np.asarray(d)

    dataset['one_slice_s'] = timed(one, repeat)
    dataset['all_s'] = timed(everything, repeat)
    row['dataset'] = dataset
    row['dataset']['codec'] = label
    return row


def mb(n):
    return f'{n / 1e6:.2f} MB'


def ms(s):
    return f'{s * 1e3:.1f} ms'


def report(rows):
    lines = []
    for row in rows:
        raw = row['raw']
        lines.append(f"\n{row['name']}: {row['dtype']} {tuple(row['shape'])}, raw {mb(raw)}")
        lines.append(f"  np.savez_compressed   {mb(row['npz']):>10}  {raw / row['npz']:5.1f}x smaller"
                     f"   load all {ms(row['npz_load_s'])}")
        for label in ('jpeg90', 'jpeg75', 'png'):
            if label not in row:
                continue
            r = row[label]
            name = {'jpeg90': 'JPEG quality 90', 'jpeg75': 'JPEG quality 75',
                    'png': 'PNG (lossless)'}[label]
            error = (f"   MAE {r['mae']:.2f}, PSNR {r['psnr']:.1f} dB" if 'mae' in r else '   exact')
            lines.append(f"  ImageArray {name:<17}{mb(r['bytes']):>10}  "
                         f"{raw / r['bytes']:5.1f}x smaller{error}")
            lines.append(f"      encode {ms(r['encode_w1_s'])} (2 workers: {ms(r['encode_w2_s'])}); "
                         f"one slice {ms(r['one_slice_s'])}, all {r['slices']} slices "
                         f"{ms(r['all_s'])} (2 workers: {ms(r['all_w2_s'])}): "
                         f"{r['all_s'] / r['one_slice_s']:.0f}x")
        d = row['dataset']
        lines.append(f"  dataset, {d['parts']} samples ({d['codec']}): file {mb(d['file_bytes'])}, "
                     f"write {ms(d['write_s'])}; open + one slice {ms(d['one_slice_s'])}, "
                     f"open + all {ms(d['all_s'])}")
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='small stacks (smoke run)')
    parser.add_argument('--repeat', type=int, default=5, help='runs per timing (the best counts)')
    parser.add_argument('--json', metavar='FILE', help='also write the results as JSON')
    args = parser.parse_args()
    import PIL
    load = ', load average %.1f' % os.getloadavg()[0] if hasattr(os, 'getloadavg') else ''
    print(f'{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}{load}, '
          f'Python {platform.python_version()}, numpy {np.__version__}, Pillow {PIL.__version__}')
    rows = []
    with tempfile.TemporaryDirectory(prefix='arrays-bench-') as tmp:
        for name, x, key in stacks(args.quick):
            rows.append(measure(name, x, key, args.repeat, tmp))
    print(report(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
