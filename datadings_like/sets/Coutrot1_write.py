"""Create Coutrot 1 data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- coutrot_database1.mat (the eye positions) from
  http://antoinecoutrot.magix.net/public/assets/coutrot_database1.mat
- ERB3_Stimuli.zip (the videos)

See also:
    http://antoinecoutrot.magix.net/public/databases.html

Note:
    ERB3_Stimuli.zip must be downloaded manually as it is hosted on
    mega.nz: follow the link of "Coutrot Database 1" on the page above and
    put the zip into INDIR (do not unpack it). The MD5 hashes of both files
    are checked unless -s is given.

Warning:
    OpenCV (the video extra) and scipy (the sets extra) are required to
    create this dataset: pip install '.[sets,video]' in the datadings_like
    source tree, or pip install opencv-python-headless scipy

Important:
    Samples are extracted from video frames and thus NOT SHUFFLED!
    If this is not desirable the datadings-shuffle command can be used to
    create a shuffled copy.

It writes Coutrot1.msgpack to OUTDIR (default: INDIR). The eye positions of
every observer are carried from frame to frame by optical flow (OpenCV's
pyramidal Lucas-Kanade); a frame is written, at most every 10th frame, when
at least one observer has 30 positions from the last 60 frames tracked to
it. "key" is "ERB3_Stimuli/<video's path in the zip>_<frame, 6 digits>",
"image" the frame as JPEG (quality 95, 4:4:4). "experiments" holds one entry
per such observer: "locations" is an Nx2 float32 array of (x, y) positions
in frame pixels and "map" is None (datadings_like.sets.saliency.fixation_map
makes a saliency map). The videos are copied one at a time to a temporary
file in OUTDIR for OpenCV, which reads files, and removed when done.
"""
import os
import shutil
import sys
import tempfile
import zipfile
import zlib

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .Coutrot1 import IGNORED_FIELDS
from .Coutrot1 import JPEG_QUALITY
from .Coutrot1 import MAT_VARIABLE
from .Coutrot1 import MAX_FIXPOINT_AGE
from .Coutrot1 import MIN_FIXPOINTS
from .Coutrot1 import OUTFILE
from .Coutrot1 import THRESHOLD_GOOD
from .Coutrot1 import VIDEO_EXT
from .Coutrot1 import WIN_SIZE
from .Coutrot1 import WRITE_DELTA
from .Coutrot1 import frame_key
from .types import SaliencyData
from .types import SaliencyExperiment

__doc__ += '\n' + document_keys(
    SaliencyData,
    postfix=document_keys(
        SaliencyExperiment,
        block='',
        prefix='Each experiment has the following keys:',
    ),
)

__all__ = (
    'FILES',
    'LucasKanade',
    'encode_frame',
    'group_points',
    'iter_frames_with_fixpoints',
    'iter_video_frames_opencv',
    'main',
    'parse_mat',
    'pyramid_levels',
    'read_clip_data',
    'video_members',
    'write_sets',
    'write_video',
)

BASE_URL = 'http://antoinecoutrot.magix.net/public/assets/'
FILES = {
    'mat': {
        'path': 'coutrot_database1.mat',
        'url': BASE_URL + 'coutrot_database1.mat',
        'md5': 'e32e408d4970e74607234df4133a4ae2',
    },
    'videos': {
        'path': 'ERB3_Stimuli.zip',
        'url': None,  # hosted on mega.nz: downloaded by the user
        'md5': 'e0007237c8e4cdae81f31e84ad9fb241',
        'reason': 'manual download: it is hosted on mega.nz',
        'help': 'the mega.nz link of "Coutrot Database 1" on '
                'http://antoinecoutrot.magix.net/public/databases.html',
    },
}

# termination of the Lucas-Kanade iterations: 10 steps or a step < 0.03 px
_CRITERIA_COUNT = 10
_CRITERIA_EPS = 0.03


def _opencv():
    """The ``cv2`` module, or :py:class:`MissingExtraError` naming the extra."""
    from ..tools.extras import require
    return require('cv2', 'video', 'Coutrot1 (decoding videos, optical flow)',
                   package='opencv-python-headless')


# --------------------------------------------------------------- tracking

def pyramid_levels(shape, win_size=WIN_SIZE):
    """
    The ``maxLevel`` of the optical flow for frames of this shape: the
    largest ``L`` for which the smallest pyramid level (the frame shrunk
    ``2**L`` times) is still as big as the window, at least 1.

    Parameters:
        shape: ``(height, width, ...)`` of a frame
        win_size: ``(width, height)`` of the flow window

    Returns:
        int ``>= 1``
    """
    size = min(int(shape[0]), int(shape[1]))
    target = max(win_size)
    levels = 0
    while target << (levels + 1) <= size:
        levels += 1
    return max(levels, 1)


def _gray(cv2, frame):
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f'LucasKanade: frames must be uint8, not {frame.dtype}')
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise ValueError(f'LucasKanade: frames must be HxWx3 (BGR) or HxW (grey), '
                     f'not shape {frame.shape}')


class LucasKanade:
    """
    Carry points from frame to frame with OpenCV's pyramidal Lucas-Kanade
    optical flow (``cv2.calcOpticalFlowPyrLK``: a 21x21 window, at most 10
    iterations or a step below 0.03 pixels, :py:func:`pyramid_levels`
    levels). Each point is tracked forward to the new frame and back again;
    it is kept if it comes back within :py:data:`THRESHOLD_GOOD` pixels of
    where it started (in x and in y) and dropped otherwise.

    ``points`` is the dict ``point id -> (x, y)`` of the points tracked so
    far; ``frame_gray`` the last frame (grey), ``frame_idx`` the number of
    frames seen.

    Parameters:
        win_size: ``(width, height)`` of the flow window
        threshold: largest forward-backward error of a kept point, pixels
    """

    def __init__(self, win_size=WIN_SIZE, threshold=THRESHOLD_GOOD):
        self.frame_gray = None
        self.points = {}
        self.frame_idx = 0
        self.win_size = tuple(int(v) for v in win_size)
        self.threshold = float(threshold)

    def track(self, xy, pointid):
        """
        Start tracking a point (or move it, if ``pointid`` is tracked
        already). It is carried along from the next :py:meth:`update` on.
        Points with a NaN or infinite coordinate (no eye position) are
        ignored.

        Parameters:
            xy: ``(x, y)`` in pixels of the frame of the next update
            pointid: any hashable id
        """
        x, y = float(xy[0]), float(xy[1])
        if np.isfinite(x) and np.isfinite(y):
            self.points[pointid] = (x, y)

    def update(self, frame):
        """
        Update the tracking result for a new frame.

        Parameters:
            frame: Next frame (``HxWx3`` BGR as OpenCV decodes it, or
                ``HxW`` grey; ``uint8``).

        Returns:
            Dict of (point, (x, y)) pairs.

        Raises:
            ValueError: not a ``uint8`` frame of one or three channels
            MissingExtraError: OpenCV is not installed (an ``ImportError``)
        """
        cv2 = _opencv()
        gray = _gray(cv2, frame)
        if self.frame_gray is not None and self.points:
            ids = list(self.points)
            p0 = np.array([self.points[i] for i in ids], np.float32).reshape(-1, 1, 2)
            params = dict(
                winSize=self.win_size,
                maxLevel=pyramid_levels(gray.shape, self.win_size),
                criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT,
                          _CRITERIA_COUNT, _CRITERIA_EPS),
            )
            p1, _, _ = cv2.calcOpticalFlowPyrLK(self.frame_gray, gray, p0, None, **params)
            back, _, _ = cv2.calcOpticalFlowPyrLK(gray, self.frame_gray, p1, None, **params)
            # the status of the flow is not used: the round trip decides
            # (a NaN error fails the comparison, so such points are dropped)
            error = np.abs(p0 - back).reshape(-1, 2).max(axis=1)
            moved = p1.reshape(-1, 2)
            self.points = {i: moved[k] for k, i in enumerate(ids) if error[k] < self.threshold}
        self.frame_gray = gray
        self.frame_idx += 1
        return dict(self.points)


def group_points(points):
    """
    The tracked points of each observer.

    Parameters:
        points: dict ``(observer, frame) -> (x, y)``
            (:py:meth:`LucasKanade.update`)

    Returns:
        list of ``Nx2`` ``float32`` arrays, one per observer with points,
        in the order in which the observers first appear in ``points``
    """
    groups = {}
    for (observer, _), xy in points.items():
        groups.setdefault(observer, []).append(xy)
    return [np.array(group, np.float32).reshape(-1, 2) for group in groups.values()]


# ------------------------------------------------------------ eye positions

def _struct(value, where):
    """The (first) element of a MATLAB struct (array) from loadmat."""
    if isinstance(value, np.void) and value.dtype.names is not None:
        return value
    if not isinstance(value, np.ndarray) or value.dtype.names is None:
        raise UserError(f'{where} is not a MATLAB struct')
    if not value.size:
        raise UserError(f'{where} is an empty struct')
    return value.flat[0]


def _positions(data, where):
    if not isinstance(data, np.ndarray) or data.dtype.kind not in 'iuf':
        kind = f'a {data.dtype} array' if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f'{where} must be a numeric array of eye positions, not {kind}')
    if data.ndim == 2:
        data = data[:, :, None]  # MATLAB drops the last dimension of one observer
    if data.ndim != 3 or data.shape[0] < 2:
        raise UserError(f'{where} must be a 2 x frames x observers array of (x, y), '
                        f'not shape {data.shape}')
    # observers x frames x (x, y)
    return np.ascontiguousarray(data[:2].transpose((2, 1, 0)), np.float64)


def parse_mat(mat, where=MAT_VARIABLE):
    """
    The eye positions of each clip in the struct of ``coutrot_database1.mat``.

    The struct has one field per auditory condition (and a ``Header``,
    which is ignored), each a struct with one field per clip, whose field
    ``data`` is an array ``2 x frames x observers`` of eye positions
    ``(x, y)`` in video pixels (NaN: no position). A clip that appears in
    several conditions gets the data of the last one, as in datadings 3.4.7.

    Parameters:
        mat: the variable ``Coutrot_Database1`` as :py:func:`loadmat` gives
            it (or its first element)
        where: name for messages

    Returns:
        dict ``clip name -> float64 array observers x frames x 2``

    Raises:
        UserError: not this layout (the message names the field)
    """
    top = _struct(mat, where)
    clips = {}
    for condition in top.dtype.names:
        if condition in IGNORED_FIELDS:
            continue
        here = f'{where}.{condition}'
        fields = _struct(top[condition], here)
        for clip in fields.dtype.names:
            clip_where = f'{here}.{clip}'
            record = _struct(fields[clip], clip_where)
            if 'data' not in record.dtype.names:
                raise UserError(f'{clip_where} has no field data '
                                f'(fields: {", ".join(record.dtype.names)})')
            clips[clip] = _positions(record['data'], f'{clip_where}.data')
    return clips


def read_clip_data(path):
    """
    Read ``coutrot_database1.mat`` (see :py:func:`parse_mat`).

    Parameters:
        path: the ``.mat`` file

    Returns:
        dict ``clip name -> float64 array observers x frames x 2``

    Raises:
        UserError: not a readable MATLAB file, or not its layout; the
            message names the file
    """
    from .tools import load_mat
    mat = load_mat(path, variable_names=[MAT_VARIABLE])
    if MAT_VARIABLE not in mat:
        raise UserError(f'{path}: no variable {MAT_VARIABLE}; is this the right file?')
    return parse_mat(mat[MAT_VARIABLE], f'{path}: {MAT_VARIABLE}')


# ------------------------------------------------------------------ videos

def iter_video_frames_opencv(path, where=None):
    """
    Decode a video with OpenCV.

    Parameters:
        path: the video file
        where: name of the video for messages (default: ``path``)

    Returns:
        Yields ``(index, frame)``: the frame number from 0 and the frame,
        a ``uint8`` array ``HxWx3`` in OpenCV's BGR order. Decoding ends at
        the first frame that cannot be read; if that is before the number
        of frames the video announces, a warning says so on stderr.

    Raises:
        UserError: OpenCV cannot open the video, or not one frame can be
            decoded
        MissingExtraError: OpenCV is not installed (an ``ImportError``)
    """
    cv2 = _opencv()
    where = where or os.fspath(path)
    video = cv2.VideoCapture(os.fspath(path))
    try:
        if not video.isOpened():
            raise UserError(f'{where}: OpenCV {cv2.__version__} cannot open this video '
                            '(damaged, or a codec this OpenCV cannot decode)')
        index = 0
        while True:
            ok, frame = video.read()
            if not ok or frame is None:
                break
            yield index, frame
            index += 1
        if not index:
            raise UserError(f'{where}: OpenCV {cv2.__version__} cannot decode a frame '
                            'of this video')
        announced = video.get(cv2.CAP_PROP_FRAME_COUNT)
        if announced and index < announced:
            # decoding stops at the first frame that cannot be read
            print(f'warning: {where}: decoded {index} of the {int(announced)} frames the '
                  'video announces (damaged?)', file=sys.stderr)
    finally:
        video.release()


def iter_frames_with_fixpoints(frame_gen, experiments):
    """
    Pair each frame with the eye position of every observer.

    Parameters:
        frame_gen: yields ``(index, frame)``, e.g.
            :py:func:`iter_video_frames_opencv`
        experiments: per observer, a sequence of ``(x, y)`` per frame
            (an array observers x frames x 2 of :py:func:`parse_mat`)

    Returns:
        Yields ``(index, frame, positions)``: ``positions`` holds one
        ``(x, y)`` per observer, ``(nan, nan)`` where the observer has no
        position for the frame.
    """
    missing = (float('nan'), float('nan'))
    for index, frame in frame_gen:
        yield index, frame, [tuple(ex[index][:2]) if index < len(ex) else missing
                             for ex in experiments]


def encode_frame(frame, quality=JPEG_QUALITY):
    """
    A decoded frame as JPEG (4:4:4 chroma).

    Parameters:
        frame: ``uint8`` array ``HxWx3`` in OpenCV's BGR order (stored as
            RGB), or ``HxW`` grey
        quality: JPEG quality 1-100

    Returns:
        bytes
    """
    from PIL import Image
    from .tools import encode_jpeg
    frame = np.asarray(frame)
    if frame.ndim == 3:
        frame = frame[:, :, 2::-1]  # BGR -> RGB
    return encode_jpeg(Image.fromarray(np.ascontiguousarray(frame)), quality, '444')


def write_video(name_prefix, frame_gen, experiments, writer,
                min_fixpoints=MIN_FIXPOINTS, write_delta=WRITE_DELTA,
                max_fixpoint_age=MAX_FIXPOINT_AGE):
    """
    Track the eye positions of a video through its frames and write the
    frames that have enough of them.

    For every frame, each observer's eye position for it (if there is one)
    starts a new tracked point, points older than ``max_fixpoint_age``
    frames are dropped, and all points are carried to the frame by
    :py:meth:`LucasKanade.update` (so a new point is moved by the flow from
    the previous frame, as in datadings 3.4.7). A frame is written if at
    least ``write_delta`` frames have passed since the last written one
    (or since frame 0) and at least one observer has ``min_fixpoints``
    tracked points: one ``SaliencyExperiment`` per such observer, its
    points as ``locations``.

    Parameters:
        name_prefix: the video's name, for keys (:py:func:`~datadings_like.sets.Coutrot1.frame_key`)
        frame_gen: yields ``(index, frame)`` (:py:func:`iter_video_frames_opencv`)
        experiments: per observer, a sequence of ``(x, y)`` per frame
            (:py:func:`parse_mat`); NaN means no position
        writer: :py:class:`~datadings_like.writer.FileWriter`
        min_fixpoints: points an observer needs in a written frame
        write_delta: frames between written frames, at least
        max_fixpoint_age: frames a point is tracked

    Returns:
        number of samples written
    """
    tracker = LucasKanade()
    last_written = 0
    written = 0
    for index, frame in frame_gen:
        for observer, positions in enumerate(experiments):
            if index < len(positions):
                tracker.track(positions[index], (observer, index))
        for pointid in [p for p in tracker.points if index - p[1] > max_fixpoint_age]:
            del tracker.points[pointid]
        points = tracker.update(frame)
        if index - last_written < write_delta:
            continue
        found = [SaliencyExperiment(locations, None) for locations in group_points(points)
                 if len(locations) >= min_fixpoints]
        if not found:
            continue
        writer.write(SaliencyData(frame_key(name_prefix, index), encode_frame(frame), found))
        last_written = index
        written += 1
    return written


# -------------------------------------------------------------------- zip

def video_members(videozip, clips=None):
    """
    The videos of ERB3_Stimuli.zip in the zip's order: members ending in
    ``.avi`` (macOS ``__MACOSX/`` and ``._`` files are skipped).

    Parameters:
        videozip: open ``zipfile.ZipFile``
        clips: if given, the clip names with eye positions
            (:py:func:`parse_mat`): every video must be one of them

    Returns:
        list of ``(ZipInfo, clip name)``; the clip name is the file name
        without ``.avi``

    Raises:
        UserError: no videos, or videos without eye positions (named)
    """
    where = videozip.filename or 'ERB3_Stimuli.zip'
    found = []
    for info in videozip.infolist():
        name = info.filename
        base = name.rsplit('/', 1)[-1]
        if info.is_dir() or not name.endswith(VIDEO_EXT) or name.startswith('__MACOSX/') \
                or base.startswith('._'):
            continue
        found.append((info, base[:-len(VIDEO_EXT)]))
    if not found:
        raise UserError(f'{where}: no {VIDEO_EXT} videos found; is this the right archive?')
    if clips is not None:
        missing = [info.filename for info, clip in found if clip not in clips]
        if missing:
            more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
            raise UserError(f'{where}: {", ".join(missing[:3])}{more}: no eye positions '
                            f'for this clip in {MAT_VARIABLE}; is this the right archive?')
    return found


def _copy_member(videozip, info, directory):
    """Copy a member to a new file in ``directory``; returns its path."""
    where = f'{videozip.filename}: {info.filename}'
    fd, path = tempfile.mkstemp(suffix=VIDEO_EXT, dir=directory)
    try:
        with os.fdopen(fd, 'wb') as out, videozip.open(info) as member:
            shutil.copyfileobj(member, out, 1 << 20)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        os.remove(path)
        raise UserError(f'{where}: damaged archive member ({exc})') from None
    except BaseException:
        os.remove(path)
        raise
    return path


def _counted(frames, bar):
    """Pass frames on, counting them on the progress bar."""
    for item in frames:
        yield item
        if bar.total is not None and bar.n + 1 > bar.total:
            bar.total = bar.n + 1  # more frames than expected: never above 100%
        bar.update(1)


def write_sets(files, indir, outdir, args):
    """
    Write ``OUTDIR/Coutrot1.msgpack`` (an existing file: see
    :py:func:`~datadings_like.sets.tools.write_splits`).

    Everything is checked before the first frame is decoded: the ``.mat``
    is read and every video of the zip must have eye positions in it.
    Each video is then copied to a temporary file in ``outdir`` (OpenCV
    reads files, not zip members), decoded and removed. The progress bar
    counts frames (its total is corrected as each video's real number of
    frames becomes known).

    Parameters:
        files: located source files (``prepare_indir`` result)
        indir: the input directory (not used: nothing is written there)
        outdir: output directory
        args: parsed arguments (``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from ..tools import make_printer
    from ..writer import FileWriter
    from .tools import open_zip
    from .tools import write_splits

    clips = read_clip_data(files['mat']['path'])
    quiet = bool(getattr(args, 'quiet', False))
    outfile = os.path.join(outdir, OUTFILE)
    with open_zip(files['videos']['path']) as videozip:
        videos = video_members(videozip, clips)

        def write(_):
            # the writer's own bar would count samples, whose number is not
            # known before: this one counts frames, expecting one per entry
            # of the eye data
            expected = [clips[clip].shape[1] for _, clip in videos]
            with FileWriter(outfile, overwrite=bool(args.no_confirm), disable=True) as writer, \
                    make_printer(desc=OUTFILE, unit='frame', disable=quiet,
                                 total=sum(expected)) as bar, \
                    tempfile.TemporaryDirectory(prefix='.Coutrot1-videos-', dir=outdir) as tmp:
                try:
                    for i, (info, clip) in enumerate(videos):
                        path = _copy_member(videozip, info, tmp)
                        try:
                            frames = iter_video_frames_opencv(
                                path, where=f'{videozip.filename}: {info.filename}')
                            write_video(info.filename, _counted(frames, bar), clips[clip],
                                        writer)
                        finally:
                            os.remove(path)
                        bar.total = bar.n + sum(expected[i + 1:])
                        bar.refresh()
                except BaseException:
                    bar.leave = False  # the error message is the last line
                    raise
            if not quiet:
                n = writer.written
                print(f'{n} sample{"" if n == 1 else "s"} written to {outfile}', file=sys.stderr)
            return writer.written

        written = write_splits(['Coutrot1'], write)
    return written.get('Coutrot1', 0)


def main(argv=None):
    """Write the Coutrot1 dataset file; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import make_parser
    from ..tools.extras import MissingExtraError

    parser = make_parser(__doc__, shuffle=False)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    try:
        _opencv()  # before anything is downloaded
    except MissingExtraError as exc:
        raise UserError(str(exc)) from None

    files = prepare_indir(FILES, args)
    write_sets(files, args.indir, outdir, args)


if __name__ == '__main__':
    run_main(main)
