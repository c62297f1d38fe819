"""Create the demo data set files: pictures of coloured shapes.

Needs no input files and no network: 10 classes of shapes (circle,
square, triangle, rhombus, pentagon, hexagon, star, cross, ring,
crescent) in random colours on noisy backgrounds are drawn on the spot,
64x64 pixels, JPEG encoded. The same --seed always gives the same files.

Two files are written to the output directory (default: ./demo):

- train.msgpack: 5000 samples (--train N)
- test.msgpack: 1000 samples (--test N)

Classes are balanced (every 10 consecutive samples hold each class once,
in random order). Class names are in datadings_like.sets.demo.CLASSES.

Try it:

    datadings-write demo
    datadings-cat demo/train.msgpack
    datadings-info demo/train.msgpack
"""
import math
import os
import random

from .demo import BACKGROUNDS
from .demo import CLASSES
from .demo import COLORS
from .demo import IMAGE_SIZE
from .demo import NUM_SAMPLES
from .tools import write_samples
from .tools import write_splits
from .types import ImageClassificationData
from ..tools import document_keys
from ..tools.cli import run_main

__doc__ += '\n' + document_keys(ImageClassificationData, postfix=(
    '\n    "key" is SPLIT-INDEX (e.g. "train-00042"), "image" the JPEG (or PNG)\n'
    '    data, "label" the index of the shape in CLASSES.\n'))

__all__ = ('MAX_SIZE', 'MIN_SIZE', 'draw_image', 'make_sample', 'main', 'sample_label')

SPLITS = ('train', 'test')
#: Smallest and largest ``--size``: a 4096x4096 picture takes about 150 MB
#: while it is drawn; bigger ones would need gigabytes per worker.
MIN_SIZE = 16
MAX_SIZE = 4096
_FG = tuple(COLORS.values())
_BG = tuple(BACKGROUNDS.values())


def sample_label(seed, split, index):
    """Label of sample ``index``: each block of 10 samples holds every
    class once, in an order given by seed, split and block."""
    order = list(range(len(CLASSES)))
    random.Random(f'demo:{seed}:{split}:block:{index // len(CLASSES)}').shuffle(order)
    return order[index % len(CLASSES)]


def _polygon(cx, cy, radii, angle):
    n = len(radii)
    return [(cx + r * math.cos(angle + 2 * math.pi * i / n),
             cy + r * math.sin(angle + 2 * math.pi * i / n))
            for i, r in enumerate(radii)]


def _cross(cx, cy, r, angle):
    t = 0.38 * r
    arm = [(t, -t), (r, -t), (r, t), (t, t), (t, r), (-t, r),
           (-t, t), (-r, t), (-r, -t), (-t, -t), (-t, -r), (t, -r)]
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in arm]


def _draw_shape(draw, name, cx, cy, r, angle):
    box = (cx - r, cy - r, cx + r, cy + r)
    if name == 'circle':
        draw.ellipse(box, fill=255)
    elif name == 'square':
        draw.polygon(_polygon(cx, cy, [r] * 4, angle), fill=255)
    elif name == 'triangle':
        draw.polygon(_polygon(cx, cy, [r] * 3, angle), fill=255)
    elif name == 'rhombus':
        draw.polygon(_polygon(cx, cy, [r, 0.55 * r] * 2, angle), fill=255)
    elif name == 'pentagon':
        draw.polygon(_polygon(cx, cy, [r] * 5, angle), fill=255)
    elif name == 'hexagon':
        draw.polygon(_polygon(cx, cy, [r] * 6, angle), fill=255)
    elif name == 'star':
        draw.polygon(_polygon(cx, cy, [r, 0.45 * r] * 5, angle), fill=255)
    elif name == 'cross':
        draw.polygon(_cross(cx, cy, r, angle), fill=255)
    elif name == 'ring':
        draw.ellipse(box, outline=255, width=max(2, round(0.3 * r)))
    elif name == 'crescent':
        draw.ellipse(box, fill=255)
        dx, dy = 0.55 * r * math.cos(angle), 0.55 * r * math.sin(angle)
        draw.ellipse((box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy), fill=0)
    else:  # pragma: no cover - CLASSES and this function go together
        raise ValueError(f'unknown shape {name!r}')


def draw_image(seed, split, index, label, size=IMAGE_SIZE):
    """
    Draw the picture of one sample (deterministic).

    Returns:
        Pillow RGB image of ``size`` x ``size`` pixels
    """
    import numpy as np
    from PIL import Image
    from PIL import ImageDraw

    rng = random.Random(f'demo:{seed}:{split}:{index}')
    bg = rng.choice(_BG)
    fg = rng.choice([c for c in _FG if sum(abs(a - b) for a, b in zip(c, bg)) > 120])
    r = rng.uniform(0.2, 0.34) * size
    margin = r + 1
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    angle = rng.uniform(0, 2 * math.pi)
    mask = Image.new('L', (size, size), 0)
    _draw_shape(ImageDraw.Draw(mask), CLASSES[label], cx, cy, r, angle)
    noise = np.random.default_rng(rng.getrandbits(64)).integers(
        -14, 15, (size, size, 3), dtype=np.int16)
    background = np.clip(np.array(bg, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(background)  # uint8 HxWx3: RGB
    image.paste(fg, (0, 0, size, size), mask)
    return image


def make_sample(item):
    """Create the sample for ``item = (seed, split, index, size, format)``."""
    import io
    seed, split, index, size, fmt = item
    label = sample_label(seed, split, index)
    image = draw_image(seed, split, index, label, size)
    out = io.BytesIO()
    if fmt == 'png':
        image.save(out, 'PNG', compress_level=6)
    else:
        image.save(out, 'JPEG', quality=90)
    return ImageClassificationData(f'{split}-{index:05d}', out.getvalue(), label)


def main(argv=None):
    """Write the demo dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import int_at_least
    from ..tools.argparse import non_negative_int
    from ..tools.argparse import argument_outdir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__, indir=False, outdir=False,
                         skip_verification=False, shuffle=False)
    argument_outdir(parser, default='demo',
                    help='Output directory (default: demo).')
    argument_threads(parser)
    argument_quiet(parser)
    argument_seed(parser, default=0, help='Random seed (default: 0); '
                                          'the same seed gives the same files.')
    parser.add_argument('--train', type=non_negative_int, default=NUM_SAMPLES['train'], metavar='N',
                        help=f'Number of training samples (default: {NUM_SAMPLES["train"]}).')
    parser.add_argument('--test', type=non_negative_int, default=NUM_SAMPLES['test'], metavar='N',
                        help=f'Number of test samples (default: {NUM_SAMPLES["test"]}).')
    parser.add_argument('--size', type=int_at_least(MIN_SIZE, MAX_SIZE), default=IMAGE_SIZE,
                        metavar='PIXELS',
                        help=f'Width and height of images, {MIN_SIZE} to {MAX_SIZE} '
                             f'(default: {IMAGE_SIZE}).')
    parser.add_argument('--format', choices=('jpeg', 'png'), default='jpeg',
                        help='Image format: jpeg (quality 90) or png (lossless). '
                             '(default: jpeg)')
    args = parser.parse_args(argv)
    counts = {'train': args.train, 'test': args.test}

    def write_split(split):
        items = [(args.seed, split, i, args.size, args.format) for i in range(counts[split])]
        return write_samples(os.path.join(args.outdir, split + '.msgpack'), items,
                             make_sample, args, shuffle=False)

    write_splits(SPLITS, write_split)


if __name__ == '__main__':
    run_main(main)
