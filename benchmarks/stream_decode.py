"""
Benchmark of datadings_like.stream decoding and transforms (issue 13).

Decode + random-resized-crop 224 + random horizontal flip of 500x375 JPEG
images (made with Pillow, quality 90), in images per second per core,
against the plain Pillow pipeline a user writes by hand (decode at full
size, crop, resize, flip) and, where they install, against decoding with
simplejpeg / PyTurboJPEG (ceilings, not dependencies). More rows show where
JPEG draft mode (DCT-domain downscaling) applies and what composing the
geometry into one resampling saves::

    python benchmarks/stream_decode.py                 # full run, about a minute
    python benchmarks/stream_decode.py --quick         # smoke run
    python benchmarks/stream_decode.py --json out.json --markdown out.md

Every pipeline runs in this process, one image at a time, over the same
images; the repetitions alternate between the pipelines. The rate is
images / CPU time of the process (``time.process_time``), so it is the rate
of one core and not disturbed much by other work on a shared machine;
ratios are medians of the per-repetition ratios to the Pillow baseline of
the same scenario. All pipelines of a scenario use the same crop boxes and
flips (the RandomResizedCrop box sampler with a per-image generator).
"""
from time import perf_counter
from time import process_time
import argparse
import io
import json
import platform
import statistics
import sys

import numpy as np
from PIL import Image

from datadings_like.stream import decode as D
from datadings_like.stream import transforms as T

BILINEAR = Image.Resampling.BILINEAR
FLIP = Image.Transpose.FLIP_LEFT_RIGHT
SEED = 20261201


# ------------------------------------------------------------ data

def photo(width, height, rng):
    """A photo-like image: smooth shapes, gradients, texture and noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for _ in range(6):
        fx, fy = rng.uniform(0.005, 0.05, 2)
        phase = rng.uniform(0, 6.3, 3)
        amplitude = rng.uniform(20, 60, 3)
        wave = np.sin(x[..., None] * fx + y[..., None] * fy + phase)
        image += amplitude * wave
    for _ in range(12):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(10, width / 4), rng.uniform(10, height / 4)
        inside = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 < 1
        image[inside] = rng.uniform(-100, 100, 3)
    image += 128 + rng.normal(0, 7, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def make_jpegs(count, width, height, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        buffer = io.BytesIO()
        Image.fromarray(photo(width, height, rng)).save(buffer, 'JPEG', quality=90)
        out.append(buffer.getvalue())
    return out


def rngs(count, seed):
    return [np.random.default_rng((seed, i)) for i in range(count)]


# ------------------------------------------------------------ pipelines

def pillow_rrc(size):
    """The hand-written Pillow pipeline: full decode, crop, resize, flip."""
    crop = T.RandomResizedCrop(size)

    def run(data, rng):
        image = Image.open(io.BytesIO(data)).convert('RGB')
        x0, y0, w, h = crop.crop_box(image.size, rng)
        image = image.crop((x0, y0, x0 + w, y0 + h)).resize((size, size), BILINEAR)
        if rng.random() < 0.5:
            image = image.transpose(FLIP)
        return np.asarray(image)
    return run


def ours(steps):
    pipeline = T.Pipeline([T.Decode('image')] + steps)

    def run(data, rng):
        return pipeline({'key': '', 'image': data}, rng)['image']
    return run


def simplejpeg_rrc(size):
    import simplejpeg
    crop = T.RandomResizedCrop(size)

    def run(data, rng):
        array = simplejpeg.decode_jpeg(data, 'RGB')
        x0, y0, w, h = crop.crop_box((array.shape[1], array.shape[0]), rng)
        image = Image.fromarray(array).resize((size, size), BILINEAR, box=(x0, y0, x0 + w, y0 + h))
        if rng.random() < 0.5:
            image = image.transpose(FLIP)
        return np.asarray(image)
    return run


def simplejpeg_scaled_rrc(size):
    """Ceiling: libjpeg-turbo's finer DCT scaling (M/8) through simplejpeg."""
    import math
    import simplejpeg
    crop = T.RandomResizedCrop(size)

    def run(data, rng):
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        x0, y0, w, h = crop.crop_box((width, height), rng)
        array = simplejpeg.decode_jpeg(data, "RGB", min_width=min(width, math.ceil(width * size / w)),
                                       min_height=min(height, math.ceil(height * size / h)))
        s = array.shape[1] / width
        box = (x0 * s, y0 * s, min(array.shape[1], (x0 + w) * s),
               min(array.shape[0], (y0 + h) * s))
        image = Image.fromarray(array).resize((size, size), BILINEAR, box=box)
        if rng.random() < 0.5:
            image = image.transpose(FLIP)
        return np.asarray(image)
    return run


def turbojpeg_crop_rrc(size):
    """FFCV-style ceiling: lossless DCT crop to the box, scaled decode, resize."""
    from turbojpeg import TurboJPEG
    from turbojpeg import TJPF_RGB
    jpeg = TurboJPEG()
    factors = sorted(f for f in jpeg.scaling_factors if f[0] <= f[1])
    crop = T.RandomResizedCrop(size)

    def run(data, rng):
        width, height, subsample, _ = jpeg.decode_header(data)
        x0, y0, w, h = crop.crop_box((width, height), rng)
        mcu = 16  # 4:2:0: crops start on 16-pixel MCU boundaries
        ax, ay = x0 // mcu * mcu, y0 // mcu * mcu
        part = jpeg.crop(data, ax, ay, x0 + w - ax, y0 + h - ay)
        scale = (1, 1)
        for num, den in factors:  # the smallest scale that keeps the crop >= size
            if w * num / den >= size and h * num / den >= size:
                scale = (num, den)
                break
        array = jpeg.decode(part, pixel_format=TJPF_RGB, scaling_factor=scale)
        s = scale[0] / scale[1]
        box = ((x0 - ax) * s, (y0 - ay) * s, min(array.shape[1], (x0 - ax + w) * s),
               min(array.shape[0], (y0 - ay + h) * s))
        image = Image.fromarray(array).resize((size, size), BILINEAR, box=box)
        if rng.random() < 0.5:
            image = image.transpose(FLIP)
        return np.asarray(image)
    return run


def pillow_decode_only(data, rng):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def simplejpeg_decode_only(data, rng):
    import simplejpeg
    return simplejpeg.decode_jpeg(data, 'RGB')


def pillow_val(data, rng):
    """Validation preprocessing by hand: full decode, shorter side 256, centre 224."""
    image = Image.open(io.BytesIO(data)).convert('RGB')
    w, h = image.size
    new = (256, round(h * 256 / w)) if w <= h else (round(w * 256 / h), 256)
    image = image.resize(new, BILINEAR)
    x0, y0 = round((new[0] - 224) / 2), round((new[1] - 224) / 2)
    return np.asarray(image.crop((x0, y0, x0 + 224, y0 + 224)))


def separately(steps):
    """Each geometric step computes the pixels (ToArray between): no composition."""
    interleaved = []
    for step in steps:
        interleaved += [step, T.ToArray('image')]
    return ours(interleaved)


def available(module):
    try:
        __import__(module)
        if module == 'turbojpeg':
            from turbojpeg import TurboJPEG
            TurboJPEG()
        return True
    except Exception:  # not installed, or no usable libjpeg-turbo
        return False


# ------------------------------------------------------------ measuring

def run_pass(function, images, seed):
    generators = rngs(len(images), seed)
    D.stats.clear()
    cpu, wall = process_time(), perf_counter()
    for data, rng in zip(images, generators):
        function(data, rng)
    cpu, wall = process_time() - cpu, perf_counter() - wall
    return {'cpu': cpu, 'wall': wall, 'stats': dict(D.stats)}


def measure(scenarios, repeat, seed, log):
    results = []
    for scenario in scenarios:
        images, rows = scenario['images'], scenario['rows']
        for name, function in rows:  # warm-up
            function(images[0], np.random.default_rng(0))
        passes = {name: [] for name, _ in rows}
        for rep in range(repeat):
            order = rows if rep % 2 == 0 else rows[::-1]
            for name, function in order:
                passes[name].append(run_pass(function, images, seed + rep))
        base = passes[rows[0][0]]
        for name, _ in rows:
            runs = passes[name]
            rate = statistics.median(len(images) / r['cpu'] for r in runs)
            ratios = [b['cpu'] / r['cpu'] for b, r in zip(base, runs)]
            stats = runs[-1]['stats']
            row = {
                'scenario': scenario['name'], 'pipeline': name, 'images': len(images),
                'rate': rate, 'ratio': statistics.median(ratios),
                'ratio_min': min(ratios), 'ratio_max': max(ratios),
                'wall_rate': statistics.median(len(images) / r['wall'] for r in runs),
                'draft': (stats.get('draft', 0) / stats['images']) if stats.get('images') else None,
                'decoded': (stats['pixels'] / stats['stored_pixels'])
                if stats.get('stored_pixels') else None,
            }
            results.append(row)
            log(format_row(row))
    return results


def format_row(row):
    draft = '—' if row['draft'] is None else f"{row['draft']:.0%}"
    decoded = '—' if row['decoded'] is None else f"{row['decoded']:.0%}"
    return (f"| {row['scenario']} | {row['pipeline']} | {row['rate']:.0f} | "
            f"{row['ratio']:.2f}x ({row['ratio_min']:.2f}-{row['ratio_max']:.2f}) | "
            f"{draft} | {decoded} |")


HEADER = ('| scenario | pipeline | images/s per core | vs Pillow: median (min-max) | '
          'draft decodes | pixels decoded |\n|---|---|---|---|---|---|')


def machine():
    import os
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {'python': sys.version.split()[0], 'platform': platform.platform(),
            'processor': platform.processor() or platform.machine(), 'cpus': os.cpu_count(),
            'numpy': np.__version__, 'pillow': Image.__version__, 'load': load}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=None, help='images per scenario (200)')
    parser.add_argument('--repeat', type=int, default=None, help='repetitions (5)')
    parser.add_argument('--quick', action='store_true', help='smoke run: 30 images, 2 repetitions')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--markdown', help='write the table to this file')
    args = parser.parse_args(argv)
    count = args.images or (30 if args.quick else 200)
    repeat = args.repeat or (2 if args.quick else 5)

    small = make_jpegs(count, 500, 375, SEED)
    large = make_jpegs(count, 1000, 750, SEED + 1)
    composed = [T.Scale((0.9, 1.1)), T.Rotate(10), T.RandomResizedCrop(224),
                T.Flip(horizontal=True)]
    rrc224 = [('Pillow: full decode, crop, resize, flip', pillow_rrc(224)),
              ('datadings_like.stream', ours([T.RandomResizedCrop(224), T.Flip(horizontal=True)]))]
    if available('simplejpeg'):
        rrc224.append(('ceiling: simplejpeg full decode + Pillow resize', simplejpeg_rrc(224)))
        rrc224.append(('ceiling: simplejpeg M/8-scaled decode + Pillow resize',
                       simplejpeg_scaled_rrc(224)))
    if available('turbojpeg'):
        rrc224.append(('PyTurboJPEG lossless DCT crop + scaled decode + Pillow resize',
                       turbojpeg_crop_rrc(224)))
    rrc224.append(('decode only: Pillow', pillow_decode_only))
    if available('simplejpeg'):
        rrc224.append(('decode only: simplejpeg', simplejpeg_decode_only))
    scenarios = [
        {'name': '500x375 -> RandomResizedCrop 224 + flip', 'images': small, 'rows': rrc224},
        {'name': '500x375 -> RandomResizedCrop 128 + flip', 'images': small, 'rows': [
            ('Pillow: full decode, crop, resize, flip', pillow_rrc(128)),
            ('datadings_like.stream', ours([T.RandomResizedCrop(128), T.Flip(horizontal=True)])),
        ]},
        {'name': '1000x750 -> RandomResizedCrop 224 + flip', 'images': large, 'rows': [
            ('Pillow: full decode, crop, resize, flip', pillow_rrc(224)),
            ('datadings_like.stream', ours([T.RandomResizedCrop(224), T.Flip(horizontal=True)])),
        ] + ([('ceiling: simplejpeg full decode + Pillow resize', simplejpeg_rrc(224))]
             if available('simplejpeg') else [])},
        {'name': '1000x750 -> Resize 256 + CenterCrop 224', 'images': large, 'rows': [
            ('Pillow: full decode, resize, crop', pillow_val),
            ('datadings_like.stream', ours([T.Resize(256), T.CenterCrop(224)])),
        ]},
        {'name': '500x375 -> Scale + Rotate + RandomResizedCrop 224 + flip', 'images': small,
         'rows': [
             ('each step resampled (ToArray between)', separately(composed)),
             ('datadings_like.stream, composed', ours(composed)),
         ]},
    ]
    print(json.dumps(machine()))
    print(f'{count} images per scenario (JPEG quality 90, mean '
          f'{statistics.mean(map(len, small)) / 1000:.0f} kB at 500x375, '
          f'{statistics.mean(map(len, large)) / 1000:.0f} kB at 1000x750), {repeat} repetitions')
    print(HEADER)
    results = measure(scenarios, repeat, SEED, print)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'machine': machine(), 'images': count, 'repeat': repeat,
                       'results': results}, f, indent=1)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(HEADER + '\n' + '\n'.join(map(format_row, results)) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
