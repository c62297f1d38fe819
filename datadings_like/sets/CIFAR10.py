"""
Metadata of the CIFAR-10 dataset.

CIFAR-10 has 60000 colour images of 32x32 pixels in 10 classes,
50000 for training and 10000 for testing.
A sample's ``"label"`` is an index into :py:data:`CLASSES`.

See also:
    https://www.cs.toronto.edu/~kriz/cifar.html
"""

__all__ = ('CLASSES', 'IMAGE_SHAPE', 'NUM_SAMPLES')

#: Class names in label order (from ``batches.meta``, ``label_names``).
CLASSES = (
    'airplane',
    'automobile',
    'bird',
    'cat',
    'deer',
    'dog',
    'frog',
    'horse',
    'ship',
    'truck',
)

#: Shape of every decoded image (height, width, channels).
IMAGE_SHAPE = (32, 32, 3)

#: Number of samples per split.
NUM_SAMPLES = {'train': 50000, 'test': 10000}
