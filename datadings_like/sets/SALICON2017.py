"""
Metadata of the SALICON 2017 dataset (the LSUN 2017 saliency challenge).

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
    from datadings_like.sets.SALICON2017 import IMAGE_SIZE

    points = np.concatenate([e['fixations'] for e in sample['experiments']]) - 1
    target = fixation_map(points, IMAGE_SIZE, sigma=19)

The images are those of SALICON 2015 (the same ``image.zip``); the
mouse-tracking data was revised for 2017 (another ``fixations.zip``), so
the metadata is the same as :py:mod:`datadings_like.sets.SALICON2015`'s.

See also:
    http://salicon.net/challenge-2017/
"""
from .SALICON2015 import IMAGE_SIZE
from .SALICON2015 import NUM_SAMPLES
from .SALICON2015 import SPLITS

__all__ = ('IMAGE_SIZE', 'NUM_SAMPLES', 'SPLITS')
