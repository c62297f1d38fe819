"""
Metadata of the CAT2000 saliency dataset (Borji & Itti, "CAT2000: A Large
Scale Fixation Dataset for Boosting Saliency Research", 2015).

CAT2000 has 4000 images of 1920x1080 pixels in 20 categories
(:py:data:`CATEGORIES`), 2000 for training (with fixations) and 2000 for
testing (without). Most images are letterboxed in a grey border; the
writer crops it and resizes the image so that its longer side has
:py:data:`IMAGE_SIZE` pixels. A sample's key is ``"<category>/<NNN>.jpg"``,
its ``"experiments"`` a single ``SaliencyExperiment``: ``"locations"`` the
fixated pixels ``(x, y)`` of all observers (from ``FIXATIONLOCS``), moved
into the resized image, as a ``float64`` ``Nx2`` array (``None`` in the test
split), and ``"map"`` is ``None``; see
:py:func:`datadings_like.sets.saliency.fixation_map` for a saliency map.

See also:
    http://saliency.mit.edu/results_cat2000.html
"""

__all__ = ('CATEGORIES', 'IMAGE_SIZE', 'JPEG_QUALITY', 'NUM_SAMPLES', 'category')

#: The 20 categories: the folders ``Stimuli/<category>/`` of the zips
#: (``Satelite`` is spelled as in the dataset).
CATEGORIES = (
    'Action',
    'Affective',
    'Art',
    'BlackWhite',
    'Cartoon',
    'Fractal',
    'Indoor',
    'Inverted',
    'Jumbled',
    'LineDrawing',
    'LowResolution',
    'Noisy',
    'Object',
    'OutdoorManMade',
    'OutdoorNatural',
    'Pattern',
    'Random',
    'Satelite',
    'Sketch',
    'Social',
)

#: Number of samples per split (100 images per category).
NUM_SAMPLES = {'train': 2000, 'test': 2000}

#: Pixels of the longer side of every written image.
IMAGE_SIZE = 1024

#: JPEG quality of the written images.
JPEG_QUALITY = 90


def category(key):
    """
    The category of a sample from its key, e.g. ``'Action'`` for
    ``'Action/001.jpg'``.

    Parameters:
        key: the sample's ``"key"``

    Returns:
        the category name (one of :py:data:`CATEGORIES` for the real data)
    """
    return key.split('/', 1)[0]
