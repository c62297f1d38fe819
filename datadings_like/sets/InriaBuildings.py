"""
Metadata of the Inria Aerial Image Labeling dataset (InriaBuildings).

Orthorectified colour aerial images of 0.3 m resolution (5000x5000 pixels
each, 810 square km in all) of ten regions, with a building / not building
ground truth for the five training regions.
A sample's ``"label_image"`` is a 1-bit PNG: pixel value 1 (``True``) is
:py:data:`CLASSES` ``[1]`` (building), 0 is background.

See also:
    https://project.inria.fr/aerialimagelabeling/
"""

__all__ = (
    'CLASSES',
    'CROP_SIZE',
    'IMAGE_SIZE',
    'NUM_INPUT_CHANNELS',
    'TEST_IDS',
    'TEST_LOCATIONS',
    'TRAIN_IDS',
    'TRAIN_LOCATIONS',
    'VAL_IDS',
)

#: Bands of the images (red, green, blue).
NUM_INPUT_CHANNELS = 3
#: Height and width of every source image in pixels.
IMAGE_SIZE = 5000
#: Height and width of the tiles of the val and test splits.
CROP_SIZE = 384

#: Class names in label order.
CLASSES = [
    'background',
    'building',
]

#: Cities with ground truth (``train/images``, ``train/gt``), in writing order.
TRAIN_LOCATIONS = ('vienna', 'kitsap', 'tyrol-w', 'chicago', 'austin')
#: Cities without ground truth (``test/images``), in writing order.
TEST_LOCATIONS = ('bellingham', 'bloomington', 'innsbruck', 'sfo', 'tyrol-e')
#: Image numbers of each training city written whole to ``train.msgpack``.
TRAIN_IDS = tuple(range(6, 37))
#: Image numbers of each training city written as tiles to ``val.msgpack``
#: (the first five, as in the dataset's paper).
VAL_IDS = tuple(range(1, 6))
#: Image numbers of each test city (written as tiles to ``test.msgpack``).
TEST_IDS = tuple(range(1, 37))
