"""
Metadata of the scene parsing data of the Places Challenge 2017 (the
ADE20K scene parsing benchmark: 150 classes).

A sample's ``"label_image"`` is a PNG (mode L) of class indices into
:py:data:`CLASSES`: 0 is "other" (none of the 150 classes, unlabelled),
1-150 the classes of ``objectInfo150.txt``. Its ``"label"`` is the index
of the image's scene in :py:data:`SCENELABELS` (the scenes of ADE20K; the
scene of every image is in ``Places2017_scenelabels.json.xz``).

Attributes:
    CLASSES: the 151 class names (0 is ``'background'``), the first name
        of each class of ``objectInfo150.txt``.
    INDEXES, COUNTS: the classes that occur in the training set and, per
        class, the sum over the training label images of the class's share
        of the image's pixels (the statistics datadings 3.4.7 ships).
    WEIGHTS: ``median(COUNTS) / COUNTS[i]`` (median-frequency weights as
        datadings 3.4.7 computes them from :py:data:`COUNTS`).
    COLORS: uint8 array 151x3, the RGB colour of every class: black for 0,
        then the colours of the challenge's ``color150.mat`` (datadings
        3.4.7 ships these colours with the red channel replaced by the
        blue one).
    SCENELABELS: the scene names of ADE20K, sorted
        (:py:data:`datadings_like.sets.ADE20k.SCENELABELS`).

See also:
    https://github.com/CSAILVision/placeschallenge
"""
import numpy as np

from .ADE20k import SCENELABELS
from .ADE20k import load_statistics
from .segmentation import indices_to_colors
from .segmentation import median_frequency_weights
from .tools import load_json

__all__ = (
    'CLASSES',
    'COLORS',
    'COUNTS',
    'INDEXES',
    'SCENELABELS',
    'SCENELABELS_FILE',
    'WEIGHTS',
    'index_to_color',
    'load_scenelabels',
)

#: Package file with the scene label of every image (file name -> label).
SCENELABELS_FILE = 'Places2017_scenelabels.json.xz'

CLASSES = (
    'background',
    'wall', 'building', 'sky', 'floor', 'tree',
    'ceiling', 'road', 'bed ', 'windowpane', 'grass',
    'cabinet', 'sidewalk', 'person', 'earth', 'door',
    'table', 'mountain', 'plant', 'curtain', 'chair',
    'car', 'water', 'painting', 'sofa', 'shelf',
    'house', 'sea', 'mirror', 'rug', 'field',
    'armchair', 'seat', 'fence', 'desk', 'rock',
    'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion',
    'base', 'box', 'column', 'signboard', 'chest of drawers',
    'counter', 'sand', 'sink', 'skyscraper', 'fireplace',
    'refrigerator', 'grandstand', 'path', 'stairs', 'runway',
    'case', 'pool table', 'pillow', 'screen door', 'stairway',
    'river', 'bridge', 'bookcase', 'blind', 'coffee table',
    'toilet', 'flower', 'book', 'hill', 'bench',
    'countertop', 'stove', 'palm', 'kitchen island', 'computer',
    'swivel chair', 'boat', 'bar', 'arcade machine', 'hovel',
    'bus', 'towel', 'light', 'truck', 'tower',
    'chandelier', 'awning', 'streetlight', 'booth', 'television',
    'airplane', 'dirt track', 'apparel', 'pole', 'land',
    'bannister', 'escalator', 'ottoman', 'bottle', 'buffet',
    'poster', 'stage', 'van', 'ship', 'fountain',
    'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool',
    'stool', 'barrel', 'basket', 'waterfall', 'tent',
    'bag', 'minibike', 'cradle', 'oven', 'ball',
    'food', 'step', 'tank', 'trade name', 'microwave',
    'pot', 'animal', 'bicycle', 'lake', 'dishwasher',
    'screen', 'blanket', 'sculpture', 'hood', 'sconce',
    'vase', 'traffic light', 'tray', 'ashcan', 'fan',
    'pier', 'crt screen', 'plate', 'monitor', 'bulletin board',
    'shower', 'radiator', 'glass', 'clock', 'flag',
)

INDEXES, COUNTS = load_statistics('Places2017_counts.json.xz')
WEIGHTS = median_frequency_weights(COUNTS)
COLORS = np.array(load_json('Places2017_colors.json.xz'), dtype=np.uint8)
COLORS.setflags(write=False)


def load_scenelabels():
    """
    The scene label of every image of the challenge, as shipped.

    Returns:
        dict image file name (e.g. ``'ADE_train_00000001.jpg'``) -> index
        into :py:data:`SCENELABELS`
    """
    return load_json(SCENELABELS_FILE)


def index_to_color(array):
    """
    Colour image of a label map (:py:data:`COLORS` of each class index).

    Parameters:
        array: integer array of class indices 0-150

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        IndexError: a value is not a class index
    """
    return indices_to_colors(array, COLORS)
