"""
Metadata of the Cityscapes dataset (fine annotations).

A sample's ``"label_image"`` is the ``_gtFine_labelIds.png`` of the
image: 8-bit label IDs 0-33 (:py:data:`LABELS`). Training and evaluation
use the 19 classes of :py:data:`used_class_indices`; the other IDs are
ignored (:py:data:`ignored_class_indices`). :py:func:`label_to_train_id`
maps label IDs to the 19 train IDs (255 = ignored), and
:py:func:`index_to_color` gives the colours of the official scripts.
``"disparity_image"`` is a 16-bit PNG: disparity ``d = (p - 1) / 256``
for pixel values ``p > 0``, 0 where unknown.

Label names, IDs, train IDs and colours are those of ``labels.py`` of the
official cityscapesScripts.

See also:
    - https://www.cityscapes-dataset.com/
    - https://github.com/mcordts/cityscapesScripts
"""
import numpy as np

from .segmentation import indices_to_colors

__all__ = (
    'CLASSES',
    'COLORS',
    'IGNORE_INDEX',
    'LABELS',
    'NUM_SAMPLES',
    'TRAIN_COLORS',
    'TRAIN_IDS',
    'ignored_class_indices',
    'index_to_color',
    'label_to_train_id',
    'train_id_to_color',
    'used_class_indices',
)

#: ``(label ID, name, train ID, RGB colour)`` of every label; train ID 255
#: is ignored in training and evaluation. ``license plate`` (-1) does not
#: occur in the label ID images.
LABELS = (
    (0, 'unlabeled', 255, (0, 0, 0)),
    (1, 'ego vehicle', 255, (0, 0, 0)),
    (2, 'rectification border', 255, (0, 0, 0)),
    (3, 'out of roi', 255, (0, 0, 0)),
    (4, 'static', 255, (0, 0, 0)),
    (5, 'dynamic', 255, (111, 74, 0)),
    (6, 'ground', 255, (81, 0, 81)),
    (7, 'road', 0, (128, 64, 128)),
    (8, 'sidewalk', 1, (244, 35, 232)),
    (9, 'parking', 255, (250, 170, 160)),
    (10, 'rail track', 255, (230, 150, 140)),
    (11, 'building', 2, (70, 70, 70)),
    (12, 'wall', 3, (102, 102, 156)),
    (13, 'fence', 4, (190, 153, 153)),
    (14, 'guard rail', 255, (180, 165, 180)),
    (15, 'bridge', 255, (150, 100, 100)),
    (16, 'tunnel', 255, (150, 120, 90)),
    (17, 'pole', 5, (153, 153, 153)),
    (18, 'polegroup', 255, (153, 153, 153)),
    (19, 'traffic light', 6, (250, 170, 30)),
    (20, 'traffic sign', 7, (220, 220, 0)),
    (21, 'vegetation', 8, (107, 142, 35)),
    (22, 'terrain', 9, (152, 251, 152)),
    (23, 'sky', 10, (70, 130, 180)),
    (24, 'person', 11, (220, 20, 60)),
    (25, 'rider', 12, (255, 0, 0)),
    (26, 'car', 13, (0, 0, 142)),
    (27, 'truck', 14, (0, 0, 70)),
    (28, 'bus', 15, (0, 60, 100)),
    (29, 'caravan', 255, (0, 0, 90)),
    (30, 'trailer', 255, (0, 0, 110)),
    (31, 'train', 16, (0, 80, 100)),
    (32, 'motorcycle', 17, (0, 0, 230)),
    (33, 'bicycle', 18, (119, 11, 32)),
    (-1, 'license plate', -1, (0, 0, 142)),
)

#: Train ID of ignored labels.
IGNORE_INDEX = 255

#: Label IDs that are ignored in training and evaluation (as in
#: datadings 3.4.7, including -1).
ignored_class_indices = [i for i, _, t, _ in LABELS if t in (255, -1)]
#: Label IDs of the 19 classes used in training and evaluation, ascending
#: (the label ID of train ID ``k`` is ``used_class_indices[k]``).
used_class_indices = [i for i, _, t, _ in LABELS if t not in (255, -1)]

#: Names of the 19 classes, in train ID order.
CLASSES = tuple(name for _, name, t, _ in sorted(
    (x for x in LABELS if x[2] not in (255, -1)), key=lambda x: x[2]))

#: Train ID of every label ID 0-255 (IDs that are no label map to 255).
TRAIN_IDS = np.full(256, IGNORE_INDEX, np.uint8)
for _id, _, _train, _ in LABELS:
    if _id >= 0:
        TRAIN_IDS[_id] = _train
TRAIN_IDS.setflags(write=False)

#: Colour of every label ID 0-255 (black for IDs that are no label).
COLORS = np.zeros((256, 3), np.uint8)
for _id, _, _, _color in LABELS:
    if _id >= 0:
        COLORS[_id] = _color
COLORS.setflags(write=False)

#: Colour of every train ID 0-255 (black for 255, the ignored ones).
TRAIN_COLORS = np.zeros((256, 3), np.uint8)
for _id in used_class_indices:
    TRAIN_COLORS[TRAIN_IDS[_id]] = COLORS[_id]
TRAIN_COLORS.setflags(write=False)
del _id, _train, _color

#: Number of samples per split.
NUM_SAMPLES = {'train': 2975, 'val': 500, 'test': 1525}


def label_to_train_id(array):
    """
    Map a label ID map (``"label_image"``) to train IDs 0-18, with 255
    for ignored labels.

    Parameters:
        array: integer array of label IDs 0-255

    Returns:
        uint8 array of the same shape
    """
    return TRAIN_IDS[np.asarray(array)]


def index_to_color(array):
    """
    Colour image of a label ID map, in the colours of the official
    scripts.

    Parameters:
        array: integer array of label IDs 0-255

    Returns:
        uint8 array of shape ``array.shape + (3,)``
    """
    return indices_to_colors(array, COLORS)


def train_id_to_color(array):
    """
    Colour image of a train ID map (the output of
    :py:func:`label_to_train_id`, or a model's prediction).

    Parameters:
        array: integer array of train IDs 0-255

    Returns:
        uint8 array of shape ``array.shape + (3,)``
    """
    return indices_to_colors(array, TRAIN_COLORS)
