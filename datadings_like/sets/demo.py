"""
Metadata of the demo dataset: small pictures of coloured shapes, drawn on
the spot by :py:mod:`datadings_like.sets.demo_write` (no download, no input).

Every image shows one shape in one colour on a noisy background of
another colour. The shape is the class; a sample's ``"label"`` is an
index into :py:data:`CLASSES`. Colour, size, position and rotation vary
at random, deterministically per seed, split and index.
"""

__all__ = ('BACKGROUNDS', 'CLASSES', 'COLORS', 'IMAGE_SIZE', 'NUM_SAMPLES')

#: Class names in label order.
CLASSES = (
    'circle',
    'square',
    'triangle',
    'rhombus',
    'pentagon',
    'hexagon',
    'star',
    'cross',
    'ring',
    'crescent',
)

#: Colours of the shapes (RGB).
COLORS = {
    'red': (220, 40, 40),
    'orange': (245, 140, 20),
    'yellow': (240, 220, 40),
    'green': (50, 170, 60),
    'cyan': (40, 200, 210),
    'blue': (40, 80, 220),
    'purple': (140, 60, 190),
    'magenta': (220, 60, 170),
    'white': (245, 245, 245),
    'black': (20, 20, 20),
}

#: Background colours (RGB); a shape never has the colour of its background.
BACKGROUNDS = {
    'grey': (128, 128, 128),
    'dark': (45, 45, 55),
    'light': (215, 215, 205),
    'navy': (25, 35, 80),
    'olive': (110, 115, 50),
    'sand': (200, 180, 140),
}

#: Width and height of the images in pixels (``--size`` changes it).
IMAGE_SIZE = 64

#: Default number of samples per split (``--train``/``--test`` change it).
NUM_SAMPLES = {'train': 5000, 'test': 1000}
