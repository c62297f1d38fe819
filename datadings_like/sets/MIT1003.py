"""
Metadata of the MIT1003 eye-tracking dataset (Judd et al., "Learning to
predict where humans look", ICCV 2009).

MIT1003 has 1003 images (at most 1024 pixels on a side) viewed freely
for 3 seconds by 15 observers. A sample's ``"experiments"`` holds one
``SaliencyExperiment`` per observer ``.mat`` file of ``DATA.zip``:
``"locations"`` is that observer's ``eyeData``, an ``Nx2`` ``float32``
array of gaze positions ``(x, y)`` in image pixels (the MATLAB
coordinates of the source, top-left pixel centre at ``(1, 1)``), and
``"map"`` is ``None``; see :py:func:`datadings_like.sets.saliency.fixation_map`
for a saliency map.

See also:
    http://people.csail.mit.edu/tjudd/WherePeopleLook/index.html
"""

__all__ = ('NUM_SAMPLES', 'USERS')

#: Number of samples (images) of ``MIT1003.msgpack``.
NUM_SAMPLES = 1003

#: The observers: the folders ``DATA/<user>/`` of ``DATA.zip``.
USERS = ('CNG', 'ajs', 'emb', 'ems', 'ff', 'hp', 'jcw', 'jw', 'kae', 'krl', 'po',
         'tmj', 'tu', 'ya', 'zb')
