"""
Metadata of the Pascal VOC 2012 segmentation dataset.

A sample's ``"label_image"`` is a PNG (mode L) of class indices: 0 is
background, 1-20 the objects in :py:data:`CLASSES`, and
:py:data:`VOID_INDEX` (255) the void border around objects and
unlabelled regions (datadings 3.4.7 writes 0 there).
:py:func:`index_to_color` turns a label map back into the colours of the
VOC devkit (:py:func:`class_color_map`).

See also:
    http://host.robots.ox.ac.uk/pascal/VOC/voc2012/
"""
import numpy as np

from .segmentation import indices_to_colors
from .segmentation import median_frequency_weights as _median_frequency_weights

__all__ = (
    'CLASSES',
    'COLORS',
    'COLOR_MAP',
    'COUNTS',
    'INDEXES',
    'NUM_SAMPLES',
    'VOID_COLOR',
    'VOID_INDEX',
    'WEIGHTS',
    'bitget',
    'class_color_map',
    'index_to_color',
    'median_frequency_weights',
)

#: Class names; a class's index is its position.
CLASSES = (
    'background',
    'aeroplane',
    'bicycle',
    'bird',
    'boat',
    'bottle',
    'bus',
    'car',
    'cat',
    'chair',
    'cow',
    'diningtable',
    'dog',
    'horse',
    'motorbike',
    'person',
    'pottedplant',
    'sheep',
    'sofa',
    'train',
    'tvmonitor',
)

#: Label of the void border and unlabelled pixels (ignore it in losses).
VOID_INDEX = 255

#: Number of samples per split.
NUM_SAMPLES = {'train': 1464, 'val': 1449}

#: Class indices of :py:data:`COUNTS` and :py:data:`WEIGHTS`.
INDEXES = tuple(range(len(CLASSES)))

#: Class statistics of the train split as datadings 3.4.7 ships them: the
#: sum over images of each class's share of the image's pixels, with the
#: void border counted as background (the colour mapping of 3.4.7). Run
#: ``datadings-write VOC2012 --calculate-weights`` for this package's
#: statistics (void ignored) and standard median-frequency weights.
COUNTS = (
    1096.41576898,
    10.3095622192,
    4.12905110457,
    12.0429902908,
    8.58478973106,
    8.43477098778,
    24.74073322,
    19.9420767928,
    37.4964065785,
    16.051006968,
    11.7559521937,
    18.2245417825,
    23.5776165031,
    12.9779183112,
    15.8809800135,
    66.9628144956,
    9.05575018634,
    12.3852355498,
    20.2024935412,
    22.2167849844,
    12.6127555631,
)


def median_frequency_weights(counts, image_pixels=None):
    """
    Median-frequency class weights ``median(freq) / freq(c)``.

    With only ``counts`` (e.g. :py:data:`COUNTS`), they are taken as the
    class frequencies up to a common factor, as datadings 3.4.7 does. With
    ``image_pixels`` (pixels of the images in which each class occurs),
    ``freq(c) = counts[c] / image_pixels[c]`` (Eigen & Fergus). A
    :py:class:`~datadings_like.sets.segmentation.ClassCounter` may be
    given instead. Classes with count 0 get weight 0.

    Parameters:
        counts: pixels or frequencies per class, or a ``ClassCounter``
        image_pixels: optional, see above

    Returns:
        list of float, one per class

    See also:
        :py:func:`datadings_like.sets.segmentation.median_frequency_weights`
    """
    return _median_frequency_weights(counts, image_pixels)


#: Weights from :py:data:`COUNTS` (as datadings 3.4.7 ships them).
WEIGHTS = tuple(median_frequency_weights(COUNTS))


def bitget(byteval, idx):
    """
    Whether bit ``idx`` of ``byteval`` is set.

    Parameters:
        byteval: int (or integer array)
        idx: bit position, 0 is the least significant

    Returns:
        bool (or bool array)
    """
    return (byteval & (1 << idx)) != 0


def class_color_map(n=256):
    """
    Create class colors as per VOC devkit: the bits of the class index are
    spread over the colour channels, most significant first
    (``bitlabel`` of the devkit's ``VOClabelcolormap.m``).

    Adapted from:
    https://gist.github.com/wllhf/a4533e0adebe57e3ed06d4b50c8419ae

    Parameters:
        n: Number of classes.

    Returns:
        Numpy array of shape (n, 3) (uint8, RGB).
    """
    index = np.arange(n, dtype=np.int64)
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for j in range(8):
        for channel in range(3):
            bit = bitget(index >> (3 * j), channel).astype(np.uint8)
            cmap[:, channel] |= bit << (7 - j)
    return cmap


#: Colours of all 256 label values; :py:data:`VOID_INDEX` is (224, 224, 192).
COLOR_MAP = class_color_map(256)
COLOR_MAP.setflags(write=False)
#: Colours of the 21 classes (rows of :py:data:`COLOR_MAP`).
COLORS = COLOR_MAP[:len(CLASSES)]
#: Colour of the void border in the devkit's label images.
VOID_COLOR = tuple(int(v) for v in COLOR_MAP[VOID_INDEX])


def index_to_color(array):
    """
    Colour image (the devkit's colours) of a label map.

    Parameters:
        array: integer array of label values 0-255 (255 is void)

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        IndexError: a value is not in 0-255
    """
    return indices_to_colors(array, COLOR_MAP)
