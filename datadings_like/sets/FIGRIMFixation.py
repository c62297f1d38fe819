"""
Metadata of the FIGRIM Fixation dataset (FIne-GRained Image Memorability).

FIGRIM shows scenes of the SUN database (1000x1000 pixels, 21 scene
categories) to observers in a memory game while an eye tracker records
their fixations: the 630 *target* images were each shown three times
(encoding, first and second recognition), the *filler* images once.
Samples have one :py:func:`~datadings_like.sets.types.SaliencyExperiment`
per observer who saw the image and per presentation, in the order of
:py:data:`PRESENTATIONS`: ``experiments[3 * j + p]`` is presentation ``p``
of the ``j``-th of these observers (the fillers' ``rec`` and ``rec2`` are
empty, 0x0). ``"locations"`` are the fixations ``(x, y)`` in pixels as
MATLAB counts them, from 1.

A saliency map of the encoding fixations
(``datadings_like.sets.saliency.fixation_map`` counts pixels from 0, so
subtract 1)::

    import numpy as np
    from datadings_like.sets.saliency import fixation_map
    from datadings_like.sets.FIGRIMFixation import IMAGE_SIZE

    enc = [e['locations'] for e in sample['experiments'][0::3]]
    target = fixation_map(np.concatenate(enc) - 1, IMAGE_SIZE, sigma=30)

See also:
    http://figrim.mit.edu/index_eyetracking.html
"""

__all__ = ('IMAGE_SIZE', 'PRESENTATIONS', 'SPLITS')

#: Splits (output files without ``.msgpack``), in the order they are written.
SPLITS = ('target', 'filler')

#: The presentations of an image, the fields of ``userdata(j).fixations``:
#: encoding, first and second recognition.
PRESENTATIONS = ('enc', 'rec', 'rec2')

#: ``(height, width)`` of the images, the ``size`` of
#: :py:func:`~datadings_like.sets.saliency.fixation_map`.
IMAGE_SIZE = (1000, 1000)
