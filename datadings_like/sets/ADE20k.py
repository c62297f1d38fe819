"""
Metadata of the ADE20K dataset (release 2016-07-26).

A sample's ``"label_image"`` and its ``"parts_images"`` are 16-bit grey
PNGs of class numbers: the class of a pixel of the dataset's
``*_seg.png`` (RGB) is ``R / 10 * 256 + G`` (integer division, see
:py:func:`datadings_like.sets.ADE20k_write.segmentation_map`); 0 means
unlabelled. Its ``"label"`` is the index of the image's scene in
:py:data:`SCENELABELS`, the sorted scene names of ``index_ade20k.mat``.

Attributes:
    INDEXES: the class numbers that occur in the training set, ascending
        (2603 of them); positions in this list are "compact" indices.
    COUNTS: for each class of :py:data:`INDEXES`, the sum over the training
        segmentation and parts maps of the class's share of the map's
        pixels (the statistics datadings 3.4.7 ships).
    WEIGHTS: ``median(COUNTS) / COUNTS[i]`` for each class of
        :py:data:`INDEXES` (median-frequency weights as datadings 3.4.7
        computes them from :py:data:`COUNTS`). ``datadings-write ADE20k
        --calculate-weights`` writes standard median-frequency weights.
    SCENELABELS: the 872 scene names, sorted; ``SCENELABELS[label]`` is
        the scene of a sample.

See also:
    http://groups.csail.mit.edu/vision/datasets/ADE20K
"""
import os

import numpy as np

from .segmentation import median_frequency_weights
from .segmentation import read_statistics
from .tools import ROOT_DIR
from .tools import load_json

__all__ = (
    'COUNTS',
    'INDEXES',
    'SCENELABELS',
    'WEIGHTS',
    'class_to_color',
    'index_to_color',
    'load_statistics',
)

#: Package file with the class statistics (``INDEXES``, ``COUNTS``).
COUNTS_FILE = 'ADE20k_counts.json.xz'
#: Package file with the sorted scene names.
SCENELABELS_FILE = 'ADE20k_scenelabels.json.xz'


def load_statistics(name):
    """
    Load class statistics: ``INDEXES`` (class numbers) and ``COUNTS``.

    Parameters:
        name: name of a file shipped in ``datadings_like.sets`` (e.g.
            ``'ADE20k_counts.json.xz'``), or the path of a statistics file,
            e.g. the ``ADE20k_counts.json`` that ``datadings-write ADE20k
            --calculate-weights`` writes (plain, gzip or xz compressed JSON)

    Returns:
        ``(INDEXES, COUNTS)``, two lists of the same length

    Raises:
        UserError: the file is missing, damaged or no statistics file
    """
    path = name if os.path.isabs(name) or os.path.exists(name) else os.path.join(ROOT_DIR, name)
    stats = read_statistics(path)
    return stats['INDEXES'], stats['COUNTS']


INDEXES, COUNTS = load_statistics(COUNTS_FILE)
WEIGHTS = median_frequency_weights(COUNTS)
SCENELABELS = load_json(SCENELABELS_FILE)

_INDEX_ARRAY = np.array(INDEXES, np.uint16)
_INDEX_ARRAY.setflags(write=False)


def class_to_color(array):
    """
    Colour image of a map of class numbers (the values of a sample's
    ``label_image`` or ``parts_images``), in the colour code of the
    dataset's ``*_seg.png`` files: red ``class // 256 * 10``, green
    ``class % 256``, blue 0.

    Parameters:
        array: integer array of class numbers 0-6655

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        ValueError: a value is negative or above 6655 (no 8-bit colour)
    """
    array = np.asarray(array)
    if array.size and (array.min() < 0 or array.max() > 25 * 256 + 255):
        raise ValueError('class numbers must be 0-6655 to have a colour')
    array = array.astype(np.int64, copy=False)
    image = np.zeros(array.shape + (3,), dtype=np.uint8)
    image[..., 0] = array // 256 * 10
    image[..., 1] = array % 256
    return image


def index_to_color(array, _index_array=_INDEX_ARRAY):
    """
    Colour image of a map of compact class indices (positions in
    :py:data:`INDEXES`, e.g. the output of a network with one channel per
    class of :py:data:`INDEXES`): each index is replaced by its class
    number, which is coloured like :py:func:`class_to_color`.
    For the class numbers stored in the samples use
    :py:func:`class_to_color`.

    Parameters:
        array: integer array of positions in ``_index_array``
        _index_array: class number of each position (default
            :py:data:`INDEXES`)

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        IndexError: an index is out of range
    """
    return class_to_color(np.take(np.asarray(_index_array), np.asarray(array)))
