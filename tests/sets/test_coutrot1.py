"""
End-to-end tests of the Coutrot1 writer on a miniature of the real sources:

- ``ERB3_Stimuli.zip`` with the videos ``ERB3_Stimuli/clip_<N>.avi`` (the
  folder and clip names of the real zip; the clip names are the fields of
  the ``.mat``), made here with OpenCV's own ``VideoWriter`` (MJPG in AVI,
  which every OpenCV build reads): a textured square moving over a plain
  background;
- ``coutrot_database1.mat`` with the struct ``Coutrot_Database1``: one
  field per auditory condition (plus ``Header``), one field per clip, whose
  ``data`` is ``2 x frames x observers`` (x, y; NaN for no position), here
  eye positions on the square.

The writer runs as a separate process with ``-s``. The written locations
must follow the square. The comparison with datadings 3.4.7 needs OpenCV
3 (``DATADINGS_REFERENCE_PYTHON_OPENCV3``).
"""
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from datadings_like.reader import MsgpackReader
from datadings_like.sets import Coutrot1
from sets.reference import assert_same_samples
from sets.reference import decode_image
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import samples_by_key
from sets.reference import skip_reason

REPO = Path(__file__).resolve().parents[2]
MAT = 'coutrot_database1.mat'
ZIP = 'ERB3_Stimuli.zip'
OUTPUTS = sorted(['Coutrot1.msgpack'] + [f'Coutrot1.msgpack.{s}' for s in
                                         ('filter', 'key_hashes', 'keys', 'md5', 'offsets')])

# frames: width, height; the square's side; colours in OpenCV's BGR order
W, H, SIDE = 128, 80, 24
BACKGROUND = (30, 60, 150)  # red-brown: a red/blue swap shows
CLIPS = {
    # clip: (video frames, frames with eye data, observer offsets per condition)
    'clip_1': (75, 70, {'OriginalSounds': [(0, 0), (3, -2), (-4, 3)]}),
    'clip_2': (45, 45, {'OriginalSounds': [(1, 1), (-2, 2)],
                        'MovObjectsSounds': [(2, 0), (0, -3)]}),
}
ZIP_ORDER = ('clip_2', 'clip_1')
# frames written (rules of write_video): the first with 30 points, then
# at least 10 frames apart while observers have >= 30 points
WRITTEN = {'clip_1': [29, 39, 49, 59, 69], 'clip_2': [29, 39]}
# observer 2 of clip_1 has a position on odd frames only: 30 points at frame 59
EXPERIMENTS = {'clip_1': [2, 2, 2, 3, 3], 'clip_2': [2, 2]}


def square_at(k):
    """Top-left corner (x, y) of the square in frame k."""
    return 10 + k, 20 + k // 3


def centre_at(k):
    x, y = square_at(k)
    return np.array([x + SIDE / 2, y + SIDE / 2])


def texture():
    return np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def draw(k, tex):
    """Frame k (BGR)."""
    frame = np.empty((H, W, 3), np.uint8)
    frame[:] = BACKGROUND
    x, y = square_at(k)
    frame[y:y + SIDE, x:x + SIDE] = tex
    return frame


def make_video(cv2, path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 25, (W, H))
    if not writer.isOpened():
        pytest.skip('this OpenCV cannot write MJPG videos')
    tex = texture()
    for k in range(frames):
        writer.write(draw(k, tex))
    writer.release()


def eye_data(frames, offsets, gaps=()):
    """``2 x frames x observers``: observer s looks at the square's centre + offsets[s]."""
    data = np.full((2, frames, len(offsets)), np.nan)
    for s, offset in enumerate(offsets):
        for k in range(frames):
            data[:, k, s] = centre_at(k) + offset
    for s in gaps:
        data[:, ::2, s] = np.nan  # no position on even frames (blinks, saccades)
    return data


def make_mat(path, clips=CLIPS):
    from scipy.io import savemat
    conditions = {}
    for clip, (_, frames, by_condition) in clips.items():
        for condition, offsets in by_condition.items():
            gaps = (2,) if clip == 'clip_1' else ()
            conditions.setdefault(condition, {})[clip] = {
                'data': eye_data(frames, offsets, gaps),
                'info': {'fps': 25.0, 'nframe': float(frames),
                         'vidwidth': float(W), 'vidheight': float(H)},
            }
    # the Header after the conditions, as in the real file's field order
    savemat(path, {Coutrot1.MAT_VARIABLE: dict(conditions, Header='miniature')})


def make_sources(cv2, indir, junk=False, extra_members=()):
    """The miniature mat and zip in ``indir``."""
    indir.mkdir(parents=True, exist_ok=True)
    make_mat(indir / MAT)
    videos = indir.parent / f'{indir.name}-videos'
    videos.mkdir(exist_ok=True)
    with zipfile.ZipFile(indir / ZIP, 'w', zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('ERB3_Stimuli/', b'')
        for clip in ZIP_ORDER:
            make_video(cv2, videos / f'{clip}.avi', CLIPS[clip][0])
            zf.write(videos / f'{clip}.avi', f'ERB3_Stimuli/{clip}.avi')
        if junk:
            zf.writestr('__MACOSX/ERB3_Stimuli/._clip_1.avi', b'\0\5\26\7 resource fork')
            zf.writestr('ERB3_Stimuli/readme.txt', b'not a video')
        for name, data in extra_members:
            zf.writestr(name, data)


def run(args, module=True, env=None, python=sys.executable):
    if module:
        cmd = [python, '-m', 'datadings_like.sets.Coutrot1_write']
    else:
        cmd = [python, '-m', 'datadings_like.commands.write', 'Coutrot1']
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, env=env)


def read(path):
    with MsgpackReader(path) as reader:
        return list(reader)


@pytest.fixture(scope='module')
def cv2():
    pytest.importorskip('scipy')
    return pytest.importorskip('cv2')


@pytest.fixture(scope='module')
def written(cv2, tmp_path_factory):
    """The miniature (with macOS junk members) and what the writer made of it."""
    root = tmp_path_factory.mktemp('coutrot1')
    indir = root / 'in'
    make_sources(cv2, indir, junk=True)
    out = root / 'out'
    proc = run(['-s', '-y', '-q', '-o', out, indir])
    assert proc.returncode == 0, proc.stderr
    return indir, out, read(out / 'Coutrot1.msgpack')


def frames_of(samples, clip):
    out = []
    for s in samples:
        member, index = Coutrot1.parse_key(s['key'])
        if member == f'ERB3_Stimuli/{clip}.avi':
            out.append((index, s))
    return out


# ------------------------------------------------------------------ output

def test_frames_in_video_order_not_shuffled(written):
    _, _, samples = written
    keys = [s['key'] for s in samples]
    assert keys == [Coutrot1.frame_key(f'ERB3_Stimuli/{clip}.avi', k)
                    for clip in ZIP_ORDER for k in WRITTEN[clip]]
    assert keys[0] == 'ERB3_Stimuli/ERB3_Stimuli/clip_2.avi_000029'


def test_sample_fields_and_types(written):
    _, _, samples = written
    for s in samples:
        assert list(s) == ['key', 'image', 'experiments']
        assert isinstance(s['image'], bytes) and s['image'][:2] == b'\xff\xd8'
        for e in s['experiments']:
            assert list(e) == ['locations', 'map']
            assert e['map'] is None
            loc = e['locations']
            assert isinstance(loc, np.ndarray) and loc.dtype == np.float32
            assert loc.ndim == 2 and loc.shape[1] == 2
            # 30 points at least, from the last 61 frames (ages 0-60)
            assert Coutrot1.MIN_FIXPOINTS <= len(loc) <= Coutrot1.MAX_FIXPOINT_AGE + 1


def test_written_locations_follow_the_square(written):
    """Every tracked point of an observer is where that observer looks in
    the written frame, however many frames ago it was recorded: the
    points moved with the square (up to 60 frames, i.e. 60 pixels)."""
    _, _, samples = written
    for clip, (_, _, by_condition) in CLIPS.items():
        offsets = list(by_condition.values())[-1]  # the last condition's data
        frames = frames_of(samples, clip)
        assert [k for k, _ in frames] == WRITTEN[clip]
        assert [len(s['experiments']) for _, s in frames] == EXPERIMENTS[clip]
        for k, s in frames:
            for e, offset in zip(s['experiments'], offsets):
                target = centre_at(k) + offset
                # a new point is carried by the flow from the previous frame
                # (as datadings 3.4.7): one frame of motion, (1, 1/3) px, ahead
                error = np.abs(e['locations'] - target).max()
                assert error < 2.0, (s['key'], error, e['locations'].mean(0), target)
            if k >= 40:
                # points recorded 40+ frames ago are >= 40 px from where they were
                oldest = k - Coutrot1.MAX_FIXPOINT_AGE if k > 60 else 0
                assert centre_at(k)[0] - centre_at(oldest)[0] >= 40


def test_frames_are_rgb_jpegs_of_the_video(written):
    _, _, samples = written
    tex = texture()
    for clip in CLIPS:
        for k, s in frames_of(samples, clip):
            image = decode_image(s['image']).astype(int)
            bgr = draw(k, tex).astype(int)
            assert image.shape == (H, W, 3)
            assert np.abs(image - bgr[:, :, ::-1]).mean() < 6  # MJPG + JPEG losses
            assert np.abs(image - bgr).mean() > 30  # not stored as BGR
            # the plain background is exact up to compression
            assert np.abs(image[:8, -8:] - np.array(BACKGROUND[::-1])).max() <= 4


def test_last_auditory_condition_gives_the_positions(written):
    """clip_2 is in OriginalSounds and MovObjectsSounds: the last one is used."""
    _, _, samples = written
    k, s = frames_of(samples, 'clip_2')[0]
    means = [e['locations'].mean(0) - centre_at(k) for e in s['experiments']]
    assert np.allclose(means, [(2, 0), (0, -3)], atol=1.5), means


def test_nothing_extracted_or_left_behind(written):
    indir, out, _ = written
    assert sorted(os.listdir(out)) == OUTPUTS
    assert sorted(os.listdir(indir)) == [ZIP, MAT]


def test_saliency_map_of_a_frame(written):
    from datadings_like.sets.saliency import fixation_map
    _, _, samples = written
    k, s = frames_of(samples, 'clip_1')[0]
    h, w = decode_image(s['image']).shape[:2]
    locations = np.concatenate([e['locations'] for e in s['experiments']])
    saliency = fixation_map(locations, (h, w), sigma=3)
    assert saliency.shape == (H, W) and np.isclose(saliency.sum(), 1)
    row, col = np.unravel_index(saliency.argmax(), saliency.shape)
    assert np.abs(np.array([col, row]) - centre_at(k)).max() <= 4


def test_through_datadings_write(cv2, tmp_path):
    make_sources(cv2, tmp_path / 'in')
    proc = run(['-s', '-y', '-q', tmp_path / 'in'], module=False)
    assert proc.returncode == 0, proc.stderr
    samples = read(tmp_path / 'in' / 'Coutrot1.msgpack')
    assert len(samples) == sum(len(v) for v in WRITTEN.values())


def test_progress_bar_counts_frames(cv2, tmp_path):
    make_sources(cv2, tmp_path / 'in')
    proc = run(['-s', '-y', '-o', tmp_path / 'out', tmp_path / 'in'])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith('Coutrot1.msgpack 100%') and 'frame/s' in lines[0]
    assert lines[-1] == f'7 samples written to {tmp_path / "out" / "Coutrot1.msgpack"}'


def test_existing_output_needs_y(cv2, tmp_path):
    make_sources(cv2, tmp_path)
    assert run(['-s', '-q', tmp_path]).returncode == 0
    before = (tmp_path / 'Coutrot1.msgpack').read_bytes()
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'Coutrot1.msgpack' in proc.stderr and 'Traceback' not in proc.stderr
    assert (tmp_path / 'Coutrot1.msgpack').read_bytes() == before


# ------------------------------------------------------------------ errors

def one_line_error(proc):
    assert proc.returncode == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_missing_zip_says_where_to_get_it(cv2, tmp_path):
    make_mat(tmp_path / MAT)
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path]))
    assert ZIP in line and 'manual download' in line and 'mega.nz' in line
    assert 'http://antoinecoutrot.magix.net/public/databases.html' in line
    assert str(tmp_path.absolute() / ZIP) in line
    assert not (tmp_path / 'out').exists()


def test_video_without_eye_data_is_named(cv2, tmp_path):
    make_sources(cv2, tmp_path, extra_members=[('ERB3_Stimuli/clip_9.avi', b'x')])
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path]))
    assert 'ERB3_Stimuli/clip_9.avi' in line and 'no eye positions' in line
    assert not (tmp_path / 'out').exists()


def test_damaged_video_is_named(cv2, tmp_path):
    (tmp_path / 'in').mkdir()
    make_mat(tmp_path / 'in' / MAT)
    junk = np.random.default_rng(3).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    with zipfile.ZipFile(tmp_path / 'in' / ZIP, 'w') as zf:
        zf.writestr('ERB3_Stimuli/clip_1.avi', junk)
    out = tmp_path / 'out'
    line = one_line_error(run(['-s', '-o', out, tmp_path / 'in']))
    assert f'{ZIP}: ERB3_Stimuli/clip_1.avi' in line and 'cannot open this video' in line
    assert os.listdir(out) == []  # no dataset, no temporary video


def test_damaged_zip_member_is_named(cv2, tmp_path):
    make_sources(cv2, tmp_path / 'in')
    data = bytearray((tmp_path / 'in' / ZIP).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo('ERB3_Stimuli/clip_1.avi')
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 100, start + 140):
        data[i] ^= 0xFF
    (tmp_path / 'in' / ZIP).write_bytes(bytes(data))
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path / 'in']))
    assert 'ERB3_Stimuli/clip_1.avi' in line and 'damaged' in line
    assert not (tmp_path / 'out' / 'Coutrot1.msgpack').exists()
    assert [n for n in os.listdir(tmp_path / 'out') if n.startswith('.')] == []


def test_not_a_zip(cv2, tmp_path):
    make_mat(tmp_path / MAT)
    (tmp_path / ZIP).write_bytes(b'no zip here')
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path]))
    assert ZIP in line


def test_no_videos_in_zip(cv2, tmp_path):
    make_mat(tmp_path / MAT)
    with zipfile.ZipFile(tmp_path / ZIP, 'w') as zf:
        zf.writestr('ERB3_Stimuli/readme.txt', b'hello')
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path]))
    assert 'no .avi videos' in line


def test_damaged_mat_is_named(cv2, tmp_path):
    make_sources(cv2, tmp_path)
    (tmp_path / MAT).write_bytes(b'MATLAB 5.0 MAT-file' + bytes(200))
    line = one_line_error(run(['-s', '-o', tmp_path / 'out', tmp_path]))
    assert MAT in line


def test_mat_layout_errors_name_the_field(tmp_path):
    pytest.importorskip('scipy')
    from scipy.io import savemat
    from datadings_like.sets.Coutrot1_write import read_clip_data
    from datadings_like.tools.cli import UserError
    path = tmp_path / MAT
    savemat(path, {'Other': np.zeros((2, 2))})
    with pytest.raises(UserError, match='no variable Coutrot_Database1'):
        read_clip_data(path)
    savemat(path, {'Coutrot_Database1': {'OriginalSounds': {'clip_1': {'info': 1.0}}}})
    with pytest.raises(UserError,
                       match=r'Coutrot_Database1\.OriginalSounds\.clip_1 has no field data'):
        read_clip_data(path)
    savemat(path, {'Coutrot_Database1': {
        'OriginalSounds': {'clip_1': {'data': np.zeros((1, 5, 2))}}}})
    with pytest.raises(UserError, match=r'clip_1\.data must be a 2 x frames x observers'):
        read_clip_data(path)
    savemat(path, {'Coutrot_Database1': {'OriginalSounds': 'text'}})
    with pytest.raises(UserError,
                       match=r'Coutrot_Database1\.OriginalSounds is not a MATLAB struct'):
        read_clip_data(path)


def test_without_opencv_one_line_names_the_extra(tmp_path):
    from sets.test_vaihingen import run_without
    proc = run_without('cv2', 'Coutrot1_write', ['-s', '-o', tmp_path / 'out', tmp_path])
    line = one_line_error(proc)
    assert 'opencv-python-headless' in line and "pip install '.[video]'" in line
    assert not (tmp_path / 'out').exists()
    # the module imports without OpenCV: the help works
    proc = run_without('cv2', 'Coutrot1_write', ['-h'])
    assert proc.returncode == 0 and 'ERB3_Stimuli.zip' in proc.stdout, proc.stderr


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0, proc.stderr
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage == 'usage: Coutrot1_write.py [-h] [-o PATH] [-y] [-s] [-q] [INDIR]'
    for text in (MAT, ZIP, 'mega.nz', 'NOT SHUFFLED', 'datadings-shuffle', '"locations"',
                 "pip install '.[sets,video]'", 'fixation_map'):
        assert text in proc.stdout, text


# ------------------------------------------------------------ module parts

def test_metadata_keys():
    key = Coutrot1.frame_key('ERB3_Stimuli/clip_1.avi', 29)
    assert key == 'ERB3_Stimuli/ERB3_Stimuli/clip_1.avi_000029'
    assert Coutrot1.parse_key(key) == ('ERB3_Stimuli/clip_1.avi', 29)
    assert Coutrot1.parse_key(Coutrot1.frame_key('a_1.avi', 1234567)) == ('a_1.avi', 1234567)
    with pytest.raises(ValueError):
        Coutrot1.parse_key('MIT1003/x.jpeg')
    assert (Coutrot1.MIN_FIXPOINTS, Coutrot1.WRITE_DELTA, Coutrot1.MAX_FIXPOINT_AGE) == (30, 10, 60)
    assert Coutrot1.OUTFILE == 'Coutrot1.msgpack'


def test_pyramid_levels_like_datadings():
    from math import floor, log
    from datadings_like.sets.Coutrot1_write import pyramid_levels
    for size in range(1, 3000):
        assert pyramid_levels((size, size + 7)) == max(int(floor(log(size / 21, 2))), 1), size
    assert pyramid_levels((576, 720, 3)) == 4


def textured(rng, h=60, w=80):
    from scipy.ndimage import gaussian_filter
    noise = gaussian_filter(rng.random((h, w)), 1.0)
    return (255 * (noise - noise.min()) / np.ptp(noise)).astype(np.uint8)


def test_lucas_kanade_moves_points_with_the_image(cv2):
    from datadings_like.sets.Coutrot1_write import LucasKanade
    rng = np.random.default_rng(4)
    big = textured(rng, 90, 110)
    first, second = big[10:70, 10:90], big[8:68, 7:87]  # content moves by (+3, +2)
    tracker = LucasKanade()
    tracker.track((40.0, 30.0), 'a')
    tracker.track((float('nan'), 5.0), 'no position')
    tracker.track(np.array([20.5, 25.0, 1.0]), ('b', 0))  # extra values are ignored
    assert set(tracker.points) == {'a', ('b', 0)}
    assert tracker.update(np.dstack([first] * 3)) == {'a': (40.0, 30.0), ('b', 0): (20.5, 25.0)}
    points = tracker.update(second)  # grey frames work too
    assert np.allclose(points['a'], (43, 32), atol=0.1)
    assert np.allclose(points[('b', 0)], (23.5, 27), atol=0.1)
    assert tracker.frame_idx == 2
    with pytest.raises(ValueError, match='uint8'):
        tracker.update(second.astype(np.float32))


def test_lucas_kanade_forward_backward_check(cv2, monkeypatch):
    """Points are kept if tracking them back lands < 1 px (in x and y) from
    where they started; the flow's own status is not used (as datadings)."""
    from datadings_like.sets import Coutrot1_write
    calls = []
    back_errors = np.array([[0.0, 0.0], [0.99, -0.5], [1.0, 0.0], [0.2, -1.5], [np.nan, 0]],
                           np.float32).reshape(-1, 1, 2)

    class FakeCV2:
        COLOR_BGR2GRAY = cv2.COLOR_BGR2GRAY
        TERM_CRITERIA_EPS = cv2.TERM_CRITERIA_EPS
        TERM_CRITERIA_COUNT = cv2.TERM_CRITERIA_COUNT
        cvtColor = staticmethod(cv2.cvtColor)

        @staticmethod
        def calcOpticalFlowPyrLK(img0, img1, points, next_points, **params):
            calls.append(params)
            status = np.zeros((len(points), 1), np.uint8)  # "lost": ignored
            if len(calls) % 2:  # forward: everything moves by (3, 2)
                return points + np.float32([3, 2]), status, None
            return points - np.float32([3, 2]) + back_errors, status, None

    monkeypatch.setattr(Coutrot1_write, '_opencv', lambda: FakeCV2)
    tracker = Coutrot1_write.LucasKanade()
    frame = np.zeros((100, 200), np.uint8)
    tracker.update(frame)
    for i in range(5):
        tracker.track((10.0 * i, 5.0), i)
    points = tracker.update(frame)
    assert sorted(points) == [0, 1]
    assert np.allclose(points[1], (13, 7))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.03)
    assert calls == [dict(winSize=(21, 21), maxLevel=2, criteria=criteria)] * 2


def test_write_video_rules(cv2):
    """Static frames: points never move; which frames are written follows
    from min_fixpoints, write_delta and max_fixpoint_age."""
    from datadings_like.sets.Coutrot1_write import write_video

    class Collect:
        def __init__(self):
            self.samples = []

        def write(self, sample):
            self.samples.append(sample)

    frame = np.dstack([textured(np.random.default_rng(6))] * 3)
    frames = ((k, frame) for k in range(20))
    positions = np.full((2, 16, 2), np.nan)  # observer 1 never looks
    positions[0] = (40, 30)
    writer = Collect()
    n = write_video('ERB3_Stimuli/clip_1.avi', frames, positions, writer,
                    min_fixpoints=5, write_delta=3, max_fixpoint_age=4)
    keys = [Coutrot1.parse_key(s['key'])[1] for s in writer.samples]
    # 5 points (ages 0-4) from frame 4 on, until the data ends after frame
    # 15: frame 16 has 4 points left, ... frame 19 one
    assert keys == [4, 7, 10, 13] and n == 4
    assert [[len(e['locations']) for e in s['experiments']] for s in writer.samples] == [[5]] * 4
    for s in writer.samples:
        assert np.allclose(s['experiments'][0]['locations'], (40, 30), atol=0.05)
    writer = Collect()
    write_video('v.avi', ((k, frame) for k in range(20)), positions, writer,
                min_fixpoints=1, write_delta=3, max_fixpoint_age=4)
    # frame 0 counts as written: the first frame is 3
    assert [Coutrot1.parse_key(s['key'])[1] for s in writer.samples] == [3, 6, 9, 12, 15, 18]
    assert [len(s['experiments'][0]['locations']) for s in writer.samples] == [4, 5, 5, 5, 5, 2]


def test_iter_frames_with_fixpoints():
    from datadings_like.sets.Coutrot1_write import iter_frames_with_fixpoints
    experiments = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    out = list(iter_frames_with_fixpoints(((k, f'frame {k}') for k in range(4)), experiments))
    assert [o[:2] for o in out] == [(k, f'frame {k}') for k in range(4)]
    assert out[1][2] == [(2.0, 3.0), (8.0, 9.0)]
    assert all(np.isnan(v).all() for v in out[3][2])  # no data for frame 3


def test_parse_mat_single_observer_and_conditions(tmp_path):
    pytest.importorskip('scipy')
    from scipy.io import savemat
    from datadings_like.sets.Coutrot1_write import read_clip_data
    one = np.array([[1.0, 2.0, np.nan], [4.0, 5.0, 6.0]])  # 2 x frames: one observer
    savemat(tmp_path / MAT, {'Coutrot_Database1': {
        'A': {'clip_1': {'data': np.zeros((2, 3, 2))}, 'clip_2': {'data': one}},
        'B': {'clip_1': {'data': np.ones((2, 4, 3))}},
        'Header': {'whatever': 1.0},
    }})
    clips = read_clip_data(tmp_path / MAT)
    assert sorted(clips) == ['clip_1', 'clip_2']
    assert clips['clip_1'].shape == (3, 4, 2) and (clips['clip_1'] == 1).all()  # B is last
    assert clips['clip_2'].shape == (1, 3, 2)
    np.testing.assert_array_equal(clips['clip_2'][0], one.T)


# ---------------------------------------------------- datadings 3.4.7 parity

def _compare_experiments(ours, theirs, where, atol):
    assert len(ours) == len(theirs), where
    for e, f in zip(ours, theirs):
        assert list(e) == list(f) == ['locations', 'map'], where
        assert e['map'] is None and f['map'] is None
        # datadings 3.4.7 stores a list of (2,) float32 arrays, one per point
        stacked = np.array(f['locations'])
        assert all(isinstance(p, np.ndarray) and p.dtype == np.float32 and p.shape == (2,)
                   for p in f['locations'])
        assert e['locations'].dtype == stacked.dtype == np.float32, where
        assert e['locations'].shape == stacked.shape, where
        if atol:
            np.testing.assert_allclose(e['locations'], stacked, atol=atol, rtol=0,
                                       err_msg=where)
        else:
            assert np.array_equal(e['locations'], stacked), where


def _compare_images(ours, theirs, where):
    a, b = decode_image(ours).astype(int), decode_image(theirs).astype(int)
    assert a.shape == b.shape, where
    # datadings 3.4.7 encodes OpenCV's BGR frames as if they were RGB
    assert np.abs(a - b[:, :, ::-1]).mean() < 3, where
    assert np.abs(a - b).mean() > 30, where


#: Largest difference of a location (pixels) between OpenCV 3.4 (the
#: reference) and today's OpenCV: their optical flow differs slightly.
OPENCV_TOLERANCE = 0.5


@pytest.mark.skipif(not reference_python('opencv3'), reason=skip_reason('opencv3'))
def test_same_samples_as_datadings(cv2, tmp_path):
    indir = tmp_path / 'in'
    make_sources(cv2, indir)
    proc = run(['-s', '-y', '-q', '-o', tmp_path / 'ours', indir])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python('opencv3'), 'Coutrot1',
                         ['-s', '-y', '-o', tmp_path / 'ref', indir])

    def expected(key, field, ours, theirs):
        if field == 'image':
            _compare_images(ours, theirs, key)
        elif field == 'experiments':
            _compare_experiments(ours, theirs, key, OPENCV_TOLERANCE)
        else:
            return False
        return True

    n = assert_same_samples(tmp_path / 'ours' / 'Coutrot1.msgpack',
                            tmp_path / 'ref' / 'Coutrot1.msgpack', images=(), expected=expected)
    assert n == sum(len(v) for v in WRITTEN.values())
    ours, theirs = (list(samples_by_key(tmp_path / d / 'Coutrot1.msgpack'))
                    for d in ('ours', 'ref'))
    assert ours == theirs  # the same order: not shuffled


@pytest.mark.skipif(not reference_python('opencv3'), reason=skip_reason('opencv3'))
def test_same_locations_as_datadings_with_the_same_opencv(cv2, tmp_path):
    """Our writer run with the reference's OpenCV 3.4 gives bit-identical
    locations: the tracking is the same, only OpenCV's flow differs."""
    python = reference_python('opencv3')
    env = dict(os.environ, PYTHONPATH=str(REPO))
    probe = subprocess.run([python, '-c', 'import datadings_like.sets.Coutrot1_write, cv2, scipy'],
                           capture_output=True, text=True, env=env, timeout=60)
    if probe.returncode:
        pytest.skip(f'datadings_like does not import with {python}: {probe.stderr[-300:]}')
    indir = tmp_path / 'in'
    make_sources(cv2, indir)
    proc = run(['-s', '-y', '-q', '-o', tmp_path / 'ours', indir], env=env, python=python)
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(python, 'Coutrot1', ['-s', '-y', '-o', tmp_path / 'ref', indir])

    def expected(key, field, ours, theirs):
        if field == 'image':
            _compare_images(ours, theirs, key)
        elif field == 'experiments':
            _compare_experiments(ours, theirs, key, atol=0)
        else:
            return False
        return True

    assert assert_same_samples(tmp_path / 'ours' / 'Coutrot1.msgpack',
                               tmp_path / 'ref' / 'Coutrot1.msgpack', images=(),
                               expected=expected) > 0
