"""
Metadata of the Coutrot database 1 (Coutrot & Guyader, "How saliency,
faces, and sound influence gaze in dynamic social scenes", Journal of
Vision 14(8), 2014): eye positions of observers watching short video
clips, recorded in several auditory conditions.

``Coutrot1.msgpack`` holds video frames, not whole videos: a frame is
written (at most every :py:data:`WRITE_DELTA` frames) when at least one
observer has :py:data:`MIN_FIXPOINTS` eye positions from the last
:py:data:`MAX_FIXPOINT_AGE` frames that could be carried to it by optical
flow (pyramidal Lucas-Kanade with a forward-backward check). A sample's
``"experiments"`` holds one ``SaliencyExperiment`` per such observer:
``"locations"`` is an ``Nx2`` ``float32`` array of ``(x, y)`` positions in
the frame's pixels, ``"map"`` is ``None``; see
:py:func:`datadings_like.sets.saliency.fixation_map` for a saliency map.

Keys are made by :py:func:`frame_key` and read by :py:func:`parse_key`.

See also:
    http://antoinecoutrot.magix.net/public/databases.html
"""
import re

__all__ = (
    'IGNORED_FIELDS',
    'JPEG_QUALITY',
    'KEY_PREFIX',
    'MAT_VARIABLE',
    'MAX_FIXPOINT_AGE',
    'MIN_FIXPOINTS',
    'OUTFILE',
    'THRESHOLD_GOOD',
    'VIDEO_EXT',
    'WIN_SIZE',
    'WRITE_DELTA',
    'frame_key',
    'parse_key',
)

#: Name of the dataset file.
OUTFILE = 'Coutrot1.msgpack'

#: Variable of ``coutrot_database1.mat``: a struct with one field per
#: auditory condition (each a struct with one field per clip, e.g.
#: ``clip_1``, whose ``data`` is a ``2 x frames x observers`` array of
#: eye positions) and a ``Header``.
MAT_VARIABLE = 'Coutrot_Database1'

#: Fields of :py:data:`MAT_VARIABLE` that are not auditory conditions.
IGNORED_FIELDS = ('Header',)

#: Extension of the videos in ``ERB3_Stimuli.zip``.
VIDEO_EXT = '.avi'

#: First component of every key.
KEY_PREFIX = 'ERB3_Stimuli'

#: An observer is an experiment of a frame if this many of their eye
#: positions are tracked to it.
MIN_FIXPOINTS = 30

#: Frames between two written frames, at least.
WRITE_DELTA = 10

#: Eye positions older than this many frames are no longer tracked.
MAX_FIXPOINT_AGE = 60

#: Forward-backward check of the optical flow: a point is kept if
#: tracking it forward and back again lands within this many pixels of
#: where it started (largest of the x and y differences).
THRESHOLD_GOOD = 1.0

#: Window of the Lucas-Kanade optical flow (width, height) in pixels.
WIN_SIZE = (21, 21)

#: JPEG quality of the frames (4:4:4 chroma, as datadings 3.4.7).
JPEG_QUALITY = 95

_KEY = re.compile(r'(.*)_(\d{6,})')


def frame_key(member, index):
    """
    The key of a frame: ``ERB3_Stimuli/<member>_<index, 6 digits>``, e.g.
    ``ERB3_Stimuli/ERB3_Stimuli/clip_1.avi_000029`` for frame 29 (counted
    from 0) of the member ``ERB3_Stimuli/clip_1.avi`` of
    ``ERB3_Stimuli.zip`` (the key repeats the folder, as in datadings
    3.4.7).

    Parameters:
        member: the video's member name in the zip
        index: frame number, counted from 0

    Returns:
        str
    """
    return f'{KEY_PREFIX}/{member}_{index:06d}'


def parse_key(key):
    """
    The video and the frame number of a key (:py:func:`frame_key`).

    Parameters:
        key: a sample's ``"key"``

    Returns:
        ``(member, index)``: the video's member name in ``ERB3_Stimuli.zip``
        and the frame number (from 0)

    Raises:
        ValueError: not a key of this dataset
    """
    match = _KEY.fullmatch(key)
    if match is None or not match.group(1).startswith(KEY_PREFIX + '/'):
        raise ValueError(f'not a Coutrot1 key: {key!r}')
    return match.group(1)[len(KEY_PREFIX) + 1:], int(match.group(2))
