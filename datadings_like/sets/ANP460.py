"""
Metadata of the ANP460 eye-tracking dataset.

ANP460 has images of adjective-noun pairs (ANPs, e.g. "beautiful
landscape") with the gaze of the observers who looked at them and their
answer to each image. The dataset is not public; the writer reads the
files as datadings 3.4.7 does (see the ANP460 page of the manual).

A sample (:py:func:`~datadings_like.sets.types.ANP460Data`) has the
image's ``"anp"`` and ``"type"`` from ``image_anp_list.json`` and one
:py:func:`~datadings_like.sets.types.ANP460Experiment` per observer:
``"locations"`` (float32 Nx2, the gaze points ``(x, y)`` from columns 2
and 3 of the observer's CSV file, as it gives them; the source does not
say where they count from), ``"map"`` (None), ``"answer"`` (str) and
``"duration"`` (float).

A saliency map of all observers (check that the points lie in the image
first: their origin is not documented)::

    import numpy as np
    from datadings_like.sets.saliency import fixation_map

    points = np.concatenate([e['locations'] for e in sample['experiments']])
    target = fixation_map(points, image.shape[:2], sigma=0.03 * max(image.shape[:2]))
"""

__all__ = ('OUTFILE',)

#: The file the writer writes (one file, no splits).
OUTFILE = 'ANP460.msgpack'
