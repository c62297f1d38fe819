"""
Metadata of the SALICON 2015 dataset (the LSUN 2015 saliency challenge).

SALICON ("saliency in context") has 20000 images of MS COCO, 640x480
pixels, with the mouse movements of the observers who explored them:
10000 train and 5000 val images with data, 5000 test images without.
Each sample's ``"experiments"`` holds one
:py:func:`~datadings_like.sets.types.SaliencyTimeseriesExperiment` per
observer: ``"locations"`` (float32 Nx2, the mouse positions ``(x, y)``
in pixels counted from 1, as MATLAB counts), ``"timestamps"`` (float32
N), ``"fixations"`` (float32 Mx2, the fixations inferred from the
positions, ``(x, y)`` counted from 1) and ``"map"`` (None).

A saliency map from them (``datadings_like.sets.saliency.fixation_map``
counts pixels from 0, so subtract 1)::

    import numpy as np
    from datadings_like.sets.saliency import fixation_map
    from datadings_like.sets.SALICON2015 import IMAGE_SIZE

    points = np.concatenate([e['fixations'] for e in sample['experiments']]) - 1
    target = fixation_map(points, IMAGE_SIZE, sigma=19)

See also:
    http://salicon.net/challenge-2015/
"""

__all__ = ('IMAGE_SIZE', 'NUM_SAMPLES', 'SPLITS')

#: Splits, in the order they are written.
SPLITS = ('train', 'val', 'test')

#: Number of samples per split.
NUM_SAMPLES = {'train': 10000, 'val': 5000, 'test': 5000}

#: ``(height, width)`` of every image, the ``size`` of
#: :py:func:`~datadings_like.sets.saliency.fixation_map`.
IMAGE_SIZE = (480, 640)
