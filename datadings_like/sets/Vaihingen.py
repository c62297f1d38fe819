"""
Metadata of the ISPRS 2D semantic labeling benchmark, Vaihingen.

True orthophotos (9 cm resolution; bands near infrared, red, green) of
33 areas of Vaihingen, 16 of them with ground truth, and a digital surface
model (DSM) of each. The ground truth colours map to class indices with
:py:data:`COLOR_TO_CLASS_MAP`; ``"label_image"`` holds these indices.

See also:
    https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-vaihingen.aspx
"""

__all__ = (
    'CLASSES',
    'COLORS',
    'COLOR_TO_CLASS_MAP',
    'CROP_SIZE',
    'TRAIN_AREAS',
    'VAL_AREAS',
    'index_to_color',
)

#: Height and width of the tiles of the val split.
CROP_SIZE = 384

#: Class names in label order (index 6, "unclassified", has no name here,
#: as in datadings).
CLASSES = [
    'Impervious surfaces',
    'Buildings',
    'Low vegetation',
    'Tree',
    'Car',
    'Clutter',
]

#: Ground truth colour (R, G, B) -> class index.
#: Pixels of any other colour get index 0.
COLOR_TO_CLASS_MAP = {
    (255, 255, 255): 0,  # Impervious surfaces (white)
    (0, 0, 255): 1,      # Buildings (blue)
    (0, 255, 255): 2,    # Low vegetation (cyan)
    (0, 255, 0): 3,      # Tree (green)
    (255, 255, 0): 4,    # Car (yellow)
    (255, 0, 0): 5,      # Clutter (red)
    (0, 0, 0): 6,        # Unclassified (black)
}

#: Areas written whole to ``Vaihingen_train.msgpack``, in order.
TRAIN_AREAS = (1, 3, 5, 7, 13, 17, 21, 23, 26, 32, 37)
#: Areas written as tiles to ``Vaihingen_val.msgpack``, in order.
VAL_AREAS = (11, 15, 28, 30, 34)


#: Colour of each class index 0-6 (row ``i`` is the colour of index ``i``).
COLORS = tuple(color for color, _ in sorted(COLOR_TO_CLASS_MAP.items(), key=lambda kv: kv[1]))


def index_to_color(array):
    """
    Colour image of a label map, with the ground truth colours.

    Parameters:
        array: integer array of class indices 0-6

    Returns:
        uint8 array of shape ``array.shape + (3,)``

    Raises:
        IndexError: a value is not a class index
    """
    import numpy as np
    from .segmentation import indices_to_colors
    return indices_to_colors(array, np.array(COLORS, np.uint8))
