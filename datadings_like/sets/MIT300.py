"""
Metadata of the MIT300 saliency benchmark.

MIT300 has 300 natural images (at most 1024 pixels on a side) whose
fixations (39 observers, free viewing for 3 seconds) are held back by the
benchmark's authors: the dataset has images only, ``{"key", "image"}``,
for computing the saliency maps to submit.

See also:
    http://saliency.mit.edu/results_mit300.html
"""

__all__ = ('NUM_SAMPLES', 'OBSERVERS')

#: Number of samples (images) of ``MIT300.msgpack``.
NUM_SAMPLES = 300

#: Observers whose fixations the benchmark holds back.
OBSERVERS = 39
