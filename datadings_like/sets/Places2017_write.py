"""Create Places2017 data set files.

This tool will look for all or parts of the following files in the input
directory, depending on the given command, and download them if necessary:

- images.tar (the images of the Places Challenge 2017 scene parsing,
  instance segmentation and boundary tasks: images/training/*.jpg,
  images/validation/*.jpg)
- sceneparsing.tar (annotations_sceneparsing/{training,validation}/*.png)
- annotations_instance.tar (annotations_instance/{training,validation}/*.png)
- boundaries.tar (annotations_boundary/{training,validation}/*.mat)
- objectInfo150.txt (the 150 classes, for --classes)
- color150.mat (their colours, for --color-map)

from http://placeschallenge.csail.mit.edu/data/ChallengeData2017/ and
https://github.com/CSAILVision/placeschallenge. No registration is
needed. The tars are read as they are (do not unpack them); MD5 hashes are
checked unless -s is given.

Additionally, ADE20K_2016_07_26.zip from the ADE20k dataset is required
to extract scene labels with the ``--scenelabels`` option.

It writes training.msgpack (20210 samples) and validation.msgpack (2000
samples) to OUTDIR (default: INDIR). "key" is the image's file name (e.g.
"ADE_train_00000001.jpg"); "image" the JPEG, "label_image" the scene
parsing PNG (class indices into datadings_like.sets.Places2017.CLASSES)
and "instance_image" the instance PNG, each byte for byte from the tars;
"label" is the image's scene, an index into
datadings_like.sets.Places2017.SCENELABELS (datadings 3.4.7 swaps "label"
and "label_image"). "boundary" holds, for every mask of the image's
boundary annotation (gt.bdry), the list of its contours (int32 arrays of
x, y rows) as OpenCV 3 finds them (RETR_LIST, CHAIN_APPROX_TC89_L1); they
are computed here, OpenCV is not needed. Reading the .mat files needs
scipy: pip install '.[sets]' in the source tree. -t N converts in N worker
processes. --segments also writes "segments", the instances of the instance
PNG (G: instance, R: category) as a datadings_like.masks.Segments value.

--class-counts writes Places2017_counts.json (pixels per class of the
training label images, with median-frequency weights), --color-map
Places2017_colors.json (the colours of color150.mat, RGB, black for 0),
--scenelabels Places2017_scenelabels.json (image file name -> scene
label); --classes prints the class list. These write no dataset.

See also:
    https://github.com/CSAILVision/placeschallenge

"""
from functools import partial
import csv
import os
import posixpath
import tarfile
import zlib

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import load_mat
from .types import Places2017Data

__doc__ += document_keys(Places2017Data)

__all__ = (
    'FILES',
    'IndexedTar',
    'approximate_tc89_l1',
    'array_to_image',
    'array_to_png',
    'boundary_contours',
    'create_color_map',
    'create_counts',
    'extract_boundary',
    'extract_class',
    'extract_instance',
    'extract_scene',
    'extract_scenelabels',
    'find_contours',
    'find_sets',
    'instance_segments',
    'main',
    'print_classes',
    'trace_borders',
    'write_set',
    'write_sets',
)

BASE_URL = 'http://placeschallenge.csail.mit.edu/data/ChallengeData2017/'
COMMIT_PREFIX = 'https://raw.githubusercontent.com/CSAILVision/' \
                'placeschallenge/69bbf9dc82621bd4b4f981ac47659ba8d74e8a27/' \
                'sceneparsing/'
FILES = {
    'images': {
        'path': 'images.tar',
        'url': BASE_URL + 'images.tar',
        'md5': '5c55d03495a7541407cb940a3be07d32',
    },
    'classes': {
        'path': 'sceneparsing.tar',
        'url': BASE_URL + 'sceneparsing.tar',
        'md5': '6556305fe8a1ac817d5d426ff4cb35f3',
    },
    'instances': {
        'path': 'annotations_instance.tar',
        'url': BASE_URL + 'annotations_instance.tar',
        'md5': '4d6628c4d17f68dc36efb6a79fce30a9',
    },
    'boundaries': {
        'path': 'boundaries.tar',
        'url': BASE_URL + 'boundaries.tar',
        'md5': '7cd81ad176aad64eff1dbca02ab0550a',
    },
    'class_info': {
        'path': 'objectInfo150.txt',
        'url': COMMIT_PREFIX + 'objectInfo150.txt',
        'md5': '4fb6ef9f025e48ad9cdf451e2b96c510',
    },
    'colors': {
        'path': 'color150.mat',
        'url': COMMIT_PREFIX + 'visualizationCode/color150.mat',
        'md5': '851aba69b499726c2b8ff5da1e147d02',
    },
}
#: The files needed to write the dataset.
DATASET_FILES = ('images', 'classes', 'instances', 'boundaries')
#: Output files of --class-counts, --color-map and --scenelabels.
COUNTS_NAME = 'Places2017_counts.json'
COLORS_NAME = 'Places2017_colors.json'
SCENELABELS_NAME = 'Places2017_scenelabels.json'
#: Largest tar member that is read into memory.
MAX_MEMBER_SIZE = 1 << 30
#: Samples converted per task of a worker process (``-t N``).
BATCH = 4


# ------------------------------------------------------------------- tars

class IndexedTar:
    """
    Random access to the regular files of an uncompressed tar by name:
    the headers are read once (only names, offsets and sizes are kept),
    then members are read with a seek. Nothing is extracted to disk.

    Parameters:
        path: the tar file

    Raises:
        UserError: not a (plain, uncompressed) tar, or damaged
    """

    def __init__(self, path):
        self.path = str(path)
        self.members = {}
        try:
            with tarfile.open(self.path, mode='r:') as tar:
                for info in tar:
                    if info.isreg():
                        self.members[posixpath.normpath(info.name)] = (info.offset_data, info.size)
        except FileNotFoundError:
            raise
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise UserError(f'{self.path}: cannot read tar archive ({exc}); '
                            'expected an uncompressed tar') from None
        self._file = open(self.path, 'rb')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the file."""
        self._file.close()

    def names(self):
        """Names of the regular files, in the order of the tar."""
        return list(self.members)

    def __contains__(self, name):
        return name in self.members

    def read(self, name):
        """
        Contents of a member.

        Raises:
            UserError: no such member, too big, or truncated
        """
        entry = self.members.get(name)
        if entry is None:
            raise UserError(f'{self.path}: {name} not found; is this the right archive?')
        offset, size = entry
        if size > MAX_MEMBER_SIZE:
            raise UserError(f'{self.path}: {name} is too big ({size} bytes)')
        self._file.seek(offset)
        data = self._file.read(size)
        if len(data) != size:
            raise UserError(f'{self.path}: {name} is truncated')
        return data


def find_sets(tarfp):
    """
    The splits of a tar: member names ``DIR/SPLIT/FILE`` grouped by
    ``SPLIT`` (``training``, ``validation``), in the order of the tar.

    Parameters:
        tarfp: :py:class:`IndexedTar`

    Returns:
        dict split -> list of member names
    """
    sets = {}
    for name in tarfp.names():
        parts = name.split('/')
        if len(parts) == 3:
            sets.setdefault(parts[1], []).append(name)
    return sets


def _gt(name, directory, extension):
    # images/training/ADE_train_00000001.jpg ->
    # annotations_DIRECTORY/training/ADE_train_00000001.EXTENSION
    _, split, filename = name.split('/')
    stem = filename[:-len('.jpg')] if filename.endswith('.jpg') else filename
    return f'annotations_{directory}/{split}/{stem}{extension}'


def extract_class(classtar, name):
    """The scene parsing PNG of the image ``name`` (bytes)."""
    return classtar.read(_gt(name, 'sceneparsing', '.png'))


def extract_instance(instancetar, name):
    """The instance PNG of the image ``name`` (bytes)."""
    return instancetar.read(_gt(name, 'instance', '.png'))


def extract_boundary(boundarytar, name):
    """The boundary contours of the image ``name`` (see :py:func:`boundary_contours`)."""
    member = _gt(name, 'boundary', '.mat')
    return boundary_contours(boundarytar.read(member), f'{boundarytar.path}: {member}')


def extract_scene(scenes, name):
    """
    The scene label of the image ``name``.

    Parameters:
        scenes: dict image file name -> label
        name: member name of the image

    Raises:
        UserError: no label for this image
    """
    key = posixpath.basename(name)
    try:
        return scenes[key]
    except KeyError:
        raise UserError(f'{name}: no scene label for {key} (not an image of the '
                        'Places Challenge 2017?)') from None


# ----------------------------------------------------------------- images

def array_to_image(array, format, dtype, mode, **kwargs):
    """
    Encode an array as an image file (see
    :py:func:`datadings_like.sets.ADE20k_write.array_to_image`).
    """
    from .ADE20k_write import array_to_image as encode
    return encode(array, format, dtype, mode, **kwargs)


def array_to_png(array):
    """Encode a 2-D array of values 0-255 as an 8-bit grey PNG (mode L)."""
    return array_to_image(array, 'png', np.uint8, 'L')


def boundary_contours(data, where='boundary annotation'):
    """
    The contours of the boundary masks of a ``.mat`` file of
    ``boundaries.tar``: the struct ``gt`` holds in ``bdry`` a cell array of
    (sparse) masks. For each mask, in MATLAB's order, the list of its
    contours as :py:func:`find_contours` finds them.

    Parameters:
        data: the ``.mat`` file's contents
        where: name for messages

    Returns:
        list (one entry per mask) of lists of int32 arrays of shape (K, 2)

    Raises:
        UserError: not such a file, naming ``where``
    """
    mat = load_mat(data, where)
    gt = mat.get('gt')
    if not isinstance(gt, np.ndarray) or gt.dtype.names is None or 'bdry' not in gt.dtype.names \
            or gt.size != 1:
        raise UserError(f'{where}: no struct "gt" with a field "bdry"')
    cells = gt['bdry'].ravel()[0]
    if not isinstance(cells, np.ndarray) or cells.dtype != object:
        cells = np.array([cells], dtype=object)
    boundaries = []
    for i, mask in enumerate(cells.ravel(order='F')):
        try:
            boundaries.append(find_contours(mask))
        except (TypeError, ValueError) as exc:
            raise UserError(f'{where}: gt.bdry{{{i + 1}}}: {exc}') from None
    return boundaries


# ------------------------------------------------------------- boundaries
#
# The boundaries of a sample are the contours of its boundary masks as
# OpenCV 3 finds them with cv2.findContours(mask, cv2.RETR_LIST,
# cv2.CHAIN_APPROX_TC89_L1). OpenCV 4.10 and later approximate the
# contours differently (other points for about a third of random masks),
# so this module finds them itself: border following after Suzuki & Abe
# (1985) with the conventions of OpenCV's implementation, then the
# dominant points of Teh & Chin (1989) with the 1-curvature measure.
# tests/sets/test_places2017.py compares the result with OpenCV 3.4.

# Freeman chain codes: 0 is +x (right), counting counter-clockwise on the
# screen (y points down), so 2 is up and 6 is down.
_CODE_STEPS = ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
# index (dy + 1) * 3 + (dx + 1) -> chain code of the step (dx, dy)
_STEP_CODES = (3, 2, 1, 4, -1, 0, 5, 6, 7)
# 1-curvature: how far two chain codes are apart (0-4)
_CODE_DISTANCE = (0, 1, 2, 3, 4, 3, 2, 1)


def trace_borders(mask):
    """
    All borders of the foreground (non-zero pixels, 8-connected) of a
    mask, found by raster scan and border following (Suzuki & Abe): the
    outer border of every component and the border of every hole, each as
    the sequence of its pixels, as OpenCV's ``findContours`` with
    ``RETR_LIST`` and ``CHAIN_APPROX_NONE`` returns them (same pixels,
    same start, same direction, same order of the borders). Pixels outside
    the mask count as background.

    Parameters:
        mask: 2-D array (any numeric or bool dtype)

    Returns:
        list of borders, each a list of ``(x, y)`` tuples

    Raises:
        ValueError: the mask is not 2-D
    """
    a = np.asarray(mask)
    if a.ndim != 2:
        raise ValueError(f'a boundary mask must be 2-D, not of shape {a.shape}')
    height, width = a.shape
    if not a.size:
        return []
    # one pixel of background around the mask; 1 = foreground not yet on
    # a border, 2 = on a traced border, -2 = on a border and its right
    # neighbour is background (Suzuki & Abe's -NBD); flat indices
    stride = width + 2
    padded = np.zeros((height + 2, stride), np.int8)
    padded[1:-1, 1:-1] = a != 0
    # borders start where the scan passes between background and
    # foreground; tracing never changes which pixels are background, so
    # these places can be found at once
    fg = padded != 0
    rows, cols = np.nonzero(fg[:, 1:] != fg[:, :-1])
    starts = (rows * stride + cols + 1).tolist()
    pixels = padded.ravel().tolist()
    step = tuple(dx + dy * stride for dx, dy in _CODE_STEPS)
    borders = []
    for here in starts:
        if pixels[here - 1] == 0 and pixels[here] == 1:
            start, toward = here, 4      # outer border; background on the left
        elif pixels[here] == 0 and pixels[here - 1] > 0:
            start, toward = here - 1, 0  # hole border; the hole on the right
        else:
            continue
        borders.append(_follow(pixels, step, start, toward))
    # OpenCV lists the borders last found first
    borders.reverse()
    return [[(i % stride - 1, i // stride - 1) for i in border] for border in borders]


def _follow(pixels, step, start, toward):
    # the neighbour before the start: clockwise from the background
    # neighbour in direction ``toward``, the first foreground pixel
    d = toward
    for _ in range(7):
        d = (d - 1) & 7
        if pixels[start + step[d]]:
            break
    else:
        pixels[start] = -2  # a lone pixel
        return [start]
    last = start + step[d]
    border = []
    here = start
    back = d  # direction from here to the previous pixel of the border
    while True:
        # counter-clockwise from the previous pixel to the next one
        d = back
        right_is_background = False
        while True:
            d = (d + 1) & 7
            if pixels[here + step[d]]:
                break
            if d == 0:
                right_is_background = True
        if right_is_background:
            pixels[here] = -2
        elif pixels[here] == 1:
            pixels[here] = 2
        border.append(here)
        following = here + step[d]
        if following == start and here == last:
            return border
        back = (d + 4) & 7
        here = following


def _support(xs, ys, i, n):
    # region of support (Teh & Chin): grow k while the chord
    # p[i-k] p[i+k] gets longer and the distance of p[i] from it relative
    # to its length (the same sign) does not shrink
    x0, y0 = xs[i], ys[i]
    prev_len = prev_dist = 0
    k = 1
    while True:
        a, b = (i - k) % n, (i + k) % n
        dx, dy = xs[b] - xs[a], ys[b] - ys[a]
        length = dx * dx + dy * dy                   # squared chord length
        dist = (x0 - xs[a]) * dy - (y0 - ys[a]) * dx  # distance * chord length
        if k > 1:
            if prev_len >= length:
                break
            # sign of prev_dist / prev_len - dist / length
            change = prev_dist * length - dist * prev_len
            if (prev_dist > 0 and change <= 0) or (prev_dist < 0 and change >= 0):
                break
        prev_len, prev_dist = length, dist
        k += 1
    return k - 1


#: Contours with more candidate points than this find their regions of
#: support with numpy (for all candidates at once) rather than one by one.
_VECTOR_MIN = 24


def _supports(xs, ys, candidates):
    # _support for many candidates at once: one round per k for those
    # whose region has not ended yet
    n = len(xs)
    xs = np.asarray(xs, np.int64)
    ys = np.asarray(ys, np.int64)
    centre = np.asarray(candidates, np.int64)
    result = np.zeros(len(centre), np.int64)
    active = np.arange(len(centre))
    prev_len = prev_dist = None
    k = 1
    while active.size:
        i = centre[active]
        a, b = (i - k) % n, (i + k) % n
        dx, dy = xs[b] - xs[a], ys[b] - ys[a]
        length = dx * dx + dy * dy
        dist = (xs[i] - xs[a]) * dy - (ys[i] - ys[a]) * dx
        if k > 1:
            change = prev_dist * length - dist * prev_len
            stop = (prev_len >= length) | ((prev_dist > 0) & (change <= 0)) \
                | ((prev_dist < 0) & (change >= 0))
            result[active[stop]] = k - 1
            go_on = ~stop
            active, length, dist = active[go_on], length[go_on], dist[go_on]
        prev_len, prev_dist = length, dist
        k += 1
    return result.tolist()


def approximate_tc89_l1(border):
    """
    Dominant points of a closed digital curve (Teh & Chin, 1989, with the
    1-curvature as the measure of significance), as OpenCV's
    ``CHAIN_APPROX_TC89_L1`` (before OpenCV 4.10) selects them:

    1. candidates are the points where the chain code changes; their
       significance is the 1-curvature (0-4);
    2. each candidate's region of support is found (see the paper);
    3. candidates that are not maximal within half their region of
       support are dropped, in curve order;
    4. candidates with a region of support of 1 are dropped unless more
       significant than both neighbours;
    5. of two adjacent survivors the more significant one is kept (on a
       tie the one with the smaller region of support, the first on a
       tie of these), of longer runs of adjacent survivors the first and
       the last.

    Parameters:
        border: the points of the curve in order, ``(x, y)`` tuples of
            successive 8-neighbours (a :py:func:`trace_borders` border)

    Returns:
        list of the dominant points, ``(x, y)`` tuples
    """
    n = len(border)
    if n < 2:
        return list(border)
    xs = [p[0] for p in border]
    ys = [p[1] for p in border]
    codes = [_STEP_CODES[(ys[(i + 1) % n] - ys[i] + 1) * 3 + xs[(i + 1) % n] - xs[i] + 1]
             for i in range(n)]
    curvature = [_CODE_DISTANCE[(codes[i] - codes[i - 1]) & 7] for i in range(n)]
    candidates = [i for i in range(n) if curvature[i]]
    if len(candidates) > _VECTOR_MIN:
        support = dict(zip(candidates, _supports(xs, ys, candidates)))
    else:
        support = {i: _support(xs, ys, i, n) for i in candidates}

    # non-maximum suppression; a dropped point no longer counts for the
    # points after it
    kept = []
    for i, k in support.items():
        c = curvature[i]
        if any(curvature[(i - j) % n] > c or curvature[(i + j) % n] > c
               for j in range(1, k // 2 + 1)):
            curvature[i] = 0
        else:
            kept.append(i)
    survivors = []
    for i in kept:
        if support[i] == 1 and (curvature[i] <= curvature[i - 1]
                                or curvature[i] <= curvature[(i + 1) % n]):
            curvature[i] = 0
        else:
            survivors.append(i)
    points = [(xs[i], ys[i]) for i in survivors]
    order = _thin_runs(survivors, curvature, support, n)
    if order is None:
        return points
    return [(xs[i % n], ys[i % n]) for i in order]


def _thin_runs(survivors, curvature, support, n):
    # step 5: runs of survivors at successive positions of the curve;
    # returns the positions kept, in output order (a position n stands for
    # 0 moved behind n - 1), or None to keep all survivors as they are
    if not survivors:
        return survivors
    if curvature[0] and curvature[n - 1]:
        # a run across the start of the curve: it is treated as one run
        head = 0
        while head + 1 < n and curvature[head + 1]:
            head += 1
        if head == n - 1:
            return None  # every point survived
        tail = n - 1
        while tail - 1 > 0 and curvature[tail - 1]:
            tail -= 1
        if head == 0 and tail == n - 1:
            # just two points: move the start behind the end, so that the
            # pair is adjacent
            survivors = survivors[1:] + [n]
            curvature = curvature + [curvature[0]]
            support = dict(support)
            support[n] = support[0]
        else:
            # keep the first (tail) and the last (head) of the run; the
            # output starts with the last
            survivors = [i for i in survivors if head <= i <= tail]
    # a singly linked list, as the run rule of OpenCV works on one: after
    # a pair whose second point was dropped, dropping the first point of
    # a following pair does not take effect
    nxt = dict(zip(survivors, survivors[1:] + [None]))
    head_node = -1
    nxt[head_node] = survivors[0]
    before = previous = head_node
    node = survivors[0]
    count = 1
    while node is not None:
        following = nxt[node]
        if following is None or following - node != 1:
            if count == 2:
                if curvature[previous] > curvature[node] or (
                        curvature[previous] == curvature[node]
                        and support[previous] <= support[node]):
                    nxt[previous] = following      # drop the second
                else:
                    nxt[before] = node             # drop the first
            elif count > 2:
                nxt[nxt[before]] = node            # keep first and last
            before = node
            count = 1
        else:
            count += 1
        previous = node
        node = nxt[node]
    order = []
    node = nxt[head_node]
    while node is not None:
        order.append(node)
        node = nxt[node]
    return order


def _crop(mask):
    # the bounding box of the non-zero pixels as a bool array, and its
    # position: (crop, x0, y0), or None for an empty mask; reads scipy
    # sparse matrices without making them dense
    if hasattr(mask, 'tocoo'):
        coo = mask.tocoo()
        if len(coo.shape) != 2:
            raise ValueError(f'a boundary mask must be 2-D, not of shape {coo.shape}')
        nonzero = coo.data != 0
        rows, cols = coo.row[nonzero], coo.col[nonzero]
        if not rows.size:
            return None
        y0, x0 = int(rows.min()), int(cols.min())
        crop = np.zeros((int(rows.max()) - y0 + 1, int(cols.max()) - x0 + 1), bool)
        crop[rows - y0, cols - x0] = True
        return crop, x0, y0
    a = np.asarray(mask)
    if a.dtype == object or a.dtype.kind not in 'biufc':
        raise TypeError(f'a boundary mask must be a numeric array, not {type(mask).__name__} '
                        f'of {a.dtype}')
    if a.ndim != 2:
        raise ValueError(f'a boundary mask must be 2-D, not of shape {a.shape}')
    nonzero = a != 0
    rows = np.flatnonzero(nonzero.any(axis=1))
    if not rows.size:
        return None
    cols = np.flatnonzero(nonzero.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    return nonzero[y0:y1 + 1, x0:x1 + 1], x0, y0


def find_contours(mask):
    """
    The contours of a boundary mask as OpenCV 3 gives them for
    ``cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_TC89_L1)``
    (each contour reshaped to Kx2): the borders of
    :py:func:`trace_borders`, each reduced to its dominant points by
    :py:func:`approximate_tc89_l1`. Needs no OpenCV.

    Parameters:
        mask: 2-D array or scipy sparse matrix; non-zero pixels are the
            boundary

    Returns:
        list of int32 arrays of shape (K, 2), ``(x, y)`` per row

    Raises:
        TypeError: not a numeric array
        ValueError: not 2-D
    """
    cropped = _crop(mask)
    if cropped is None:
        return []
    crop, x0, y0 = cropped
    offset = np.array([x0, y0], np.int32)
    return [np.array(approximate_tc89_l1(b), np.int32).reshape(-1, 2) + offset
            for b in trace_borders(crop)]


# ---------------------------------------------------------------- writing

def _check_image(data, where):
    from .tools import ImageError
    from .tools import open_image
    try:
        open_image(data)
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    return data


def make_sample(item, segments=False):
    """
    Work item -> sample (runs in a worker process with ``-t N``):
    checks the images (their headers) and finds the boundary contours.

    Parameters:
        item: ``(key, image, scene label, scene parsing PNG, instance PNG,
            boundary .mat data, [member names for messages])``
        segments: also write the field ``segments``
            (:py:func:`instance_segments`)
    """
    key, image, label, label_image, instance_image, boundary, where = item
    sample = Places2017Data(
        key,
        _check_image(image, where[0]),
        label,
        _check_image(label_image, where[1]),
        _check_image(instance_image, where[2]),
        boundary_contours(boundary, where[3]),
    )
    if segments:
        sample['segments'] = instance_segments(instance_image, where[2])
    return sample


def instance_segments(data, where='instance image'):
    """
    The instances of an instance PNG of ``annotations_instance.tar`` as a
    :py:class:`datadings_like.masks.Segments` value (``encode()``). In these
    PNGs the red channel is the category of the 100 instance categories of
    the challenge and the green channel the instance (0: none). One segment
    per instance, in the group ``'instances'``, labelled with its category
    (the most frequent one should its pixels differ), with the iid
    ``(b'instances', green value)``, e.g. ``(b'instances', b'3')``.

    Parameters:
        data: the PNG file's contents
        where: name for messages

    Returns:
        dict (the encoded Segments)

    Raises:
        UserError: the data is not an image, naming ``where``
    """
    from ..masks import Segments
    from .ADE20k_write import _rgb_array

    rgb = _rgb_array(data, where)
    segments = Segments(shape=rgb.shape[:2])
    segments.add_label_image(rgb[..., 1], rgb[..., 0], group='instances', domain='instances')
    return segments.encode()


def _member_names(name):
    return (name, _gt(name, 'sceneparsing', '.png'), _gt(name, 'instance', '.png'),
            _gt(name, 'boundary', '.mat'))


def _read_items(tars, members, scenes):
    for name in members:
        label = extract_scene(scenes, name)
        data = [tar.read(member) for tar, member in zip(tars, _member_names(name))]
        where = [f'{tar.path}: {member}' for tar, member in zip(tars, _member_names(name))]
        yield (posixpath.basename(name), data[0], label, data[1], data[2], data[3], where)


def check_members(tars, members):
    """
    Check, before anything is written, that the annotation tars hold the
    scene parsing PNG, the instance PNG and the boundary file of every
    image.

    Raises:
        UserError: naming the first missing members
    """
    for position, tar in enumerate(tars[1:], 1):
        missing = [m for m in (_member_names(name)[position] for name in members)
                   if m not in tar]
        if missing:
            more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
            raise UserError(f'{tar.path}: {", ".join(missing[:3])}{more} not found; '
                            'is this the right archive?')


def write_set(imagetar, classtar, instancetar, boundarytar, outdir, name,
              members, scenes, overwrite, args=None):
    """
    Write the samples of one split to ``OUTDIR/NAME.msgpack``, in the
    order of ``members``.

    The main process reads the members (in a background thread); with
    ``args.threads`` > 1 the boundaries are computed in that many worker
    processes.

    Parameters:
        imagetar, classtar, instancetar, boundarytar: :py:class:`IndexedTar`
            of the four tars
        outdir: output directory
        name: the split (``'training'`` or ``'validation'``)
        members: names of the split's images in ``imagetar``
        scenes: dict image file name -> scene label
        overwrite: replace an existing file without asking
        args: parsed arguments (``threads``, ``quiet``, ``segments``), or None

    Returns:
        number of samples written
    """
    from ..tools import yield_threaded
    from .tools import write_samples

    tars = (imagetar, classtar, instancetar, boundarytar)
    threads = max(1, int(getattr(args, 'threads', 1) or 1))
    items = yield_threaded(_read_items(tars, members, scenes),
                           maxsize=2 * BATCH * threads + 2)
    outfile = os.path.join(outdir, name + '.msgpack')
    convert = partial(make_sample, segments=True) if getattr(args, 'segments', False) \
        else make_sample
    return write_samples(outfile, items, convert, total=len(members), shuffle=False,
                         threads=threads, processes=True, window=2 * threads, batch=BATCH,
                         overwrite=overwrite, quiet=bool(getattr(args, 'quiet', False)))


def write_sets(files, outdir, args):
    """
    Write one dataset file per split of ``images.tar`` (``training``,
    ``validation``), in the order of the tar. With ``args.shuffle`` the
    samples of each are written in the order of a random permutation
    (``args.seed``).
    """
    from .Places2017 import load_scenelabels
    from .tools import write_splits

    scenes = load_scenelabels()
    tars = [IndexedTar(files[name]['path']) for name in DATASET_FILES]
    try:
        sets = {split: [m for m in members if m.endswith('.jpg')]
                for split, members in find_sets(tars[0]).items()}
        sets = {split: members for split, members in sets.items() if members}
        if not sets:
            raise UserError(f'{tars[0].path}: no images/SPLIT/*.jpg found; '
                            'is this the right archive?')
        for members in sets.values():
            for name in members:
                try:
                    extract_scene(scenes, name)
                except UserError as exc:
                    raise UserError(f'{tars[0].path}: {exc}') from None
            check_members(tars, members)
        rng = np.random.default_rng(getattr(args, 'seed', None))

        def write(split):
            members = sets[split]
            if args.shuffle:
                members = [members[i] for i in rng.permutation(len(members)).tolist()]
            return write_set(*tars, outdir, split, members, scenes, args.no_confirm, args)

        return write_splits(list(sets), write)
    finally:
        for tar in tars:
            tar.close()


# ------------------------------------------------------------ statistics

def _label_maps(segtar, names):
    from .segmentation import decode_label_map
    for name in names:
        where = f'{segtar.path}: {name}'
        label_map = decode_label_map(segtar.read(name), where)
        if label_map.ndim != 2:
            raise UserError(f'{where}: expected a grey (mode L) label image')
        yield label_map


def create_counts(files, outdir, args=None):
    """
    Count the pixels of every class in the training label images of
    ``sceneparsing.tar`` in one streaming pass and write them, with
    median-frequency weights, to ``OUTDIR/Places2017_counts.json`` (see
    :py:func:`datadings_like.sets.segmentation.write_statistics`:
    ``INDEXES`` and ``COUNTS`` as datadings 3.4.7 computes them, the
    standard weights in ``WEIGHTS``).

    Returns:
        the statistics dict written
    """
    from ..tools import yield_threaded
    from .segmentation import count_classes
    from .segmentation import write_statistics

    quiet = bool(getattr(args, 'quiet', False))
    with IndexedTar(files['classes']['path']) as segtar:
        names = find_sets(segtar).get('training', [])
        if not names:
            raise UserError(f'{segtar.path}: no annotations_sceneparsing/training/*.png found')
        counter = count_classes(yield_threaded(_label_maps(segtar, names), maxsize=8),
                                total=len(names), desc='Places2017 class counts', quiet=quiet)
    path = os.path.join(outdir, COUNTS_NAME)
    stats = write_statistics(path, counter, overwrite=bool(getattr(args, 'no_confirm', False)))
    print(f'{path}: {counter.samples} label images, {len(stats["INDEXES"])} classes')
    return stats


def create_color_map(files, outdir, args=None):
    """
    Write the class colours of ``color150.mat`` (a 150x3 array ``colors``,
    RGB) to ``OUTDIR/Places2017_colors.json``: a JSON list of 151
    ``[R, G, B]``, black for class 0.

    Returns:
        the list written
    """
    from .segmentation import write_json

    path = files['colors']['path']
    with open(path, 'rb') as f:
        mat = load_mat(f.read(), path)
    colors = mat.get('colors')
    if not isinstance(colors, np.ndarray) or colors.ndim != 2 or colors.shape[1] != 3 \
            or colors.dtype.kind not in 'iuf' or colors.size == 0 \
            or colors.min() < 0 or colors.max() > 255:
        raise UserError(f'{path}: no array "colors" of N x 3 values 0-255')
    colors = [[0, 0, 0]] + [[int(v) for v in row] for row in colors]
    out = os.path.join(outdir, COLORS_NAME)
    write_json(out, colors, bool(getattr(args, 'no_confirm', False)))
    print(f'{out}: {len(colors)} colours')
    return colors


def read_classes(path):
    """
    The class names of ``objectInfo150.txt`` (tab-separated, with a
    ``Name`` column of comma-separated synonyms): the first name of each.

    Raises:
        UserError: not such a file
    """
    try:
        with open(path, encoding='utf-8', newline='') as f:
            rows = list(csv.DictReader(f, dialect='excel-tab'))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise UserError(f'{path}: cannot read the class list ({exc})') from None
    if not rows or 'Name' not in rows[0] or any(row.get('Name') is None for row in rows):
        raise UserError(f'{path}: no tab-separated table with a "Name" column')
    return [row['Name'].split(', ')[0] for row in rows]


def print_classes(files, file=None):
    """
    Print the class list, ``'background'`` and the classes of
    ``objectInfo150.txt``, as Python source (five names a line).

    Returns:
        the list of class names
    """
    from .segmentation import print_values

    classes = read_classes(files['class_info']['path'])
    rows = [', '.join(map(repr, classes[i:i + 5])) for i in range(0, len(classes), 5)]
    print_values('CLASSES', [repr('background')] + rows, file=file)
    return ['background'] + classes


def extract_scenelabels(files, outdir, args=None):
    """
    Write the scene label of every image of ``ADE20K_2016_07_26.zip`` (the
    index of its scene in :py:data:`datadings_like.sets.ADE20k.SCENELABELS`)
    to ``OUTDIR/Places2017_scenelabels.json``, a JSON object
    ``{image file name: label}``.

    Returns:
        the dict written
    """
    from .ADE20k import SCENELABELS
    from .ADE20k_write import INDEX_MEMBER
    from .ADE20k_write import load_index
    from .segmentation import write_json
    from .tools import open_zip

    with open_zip(files['all']['path']) as imagezip:
        filenames, scenes = load_index(imagezip, 'filename', 'scene')
        where = f'{imagezip.filename}: {INDEX_MEMBER}'
    labels = {scene: i for i, scene in enumerate(SCENELABELS)}
    out = {}
    for filename, scene in zip(filenames, scenes):
        if scene not in labels:
            raise UserError(f'{where}: {filename}: unknown scene {scene!r} (not in '
                            'datadings_like.sets.ADE20k.SCENELABELS)')
        out[posixpath.basename(str(filename))] = labels[scene]
    path = os.path.join(outdir, SCENELABELS_NAME)
    write_json(path, out, bool(getattr(args, 'no_confirm', False)))
    print(f'{path}: {len(out)} images')
    return out


# ------------------------------------------------------------------- main

def main(argv=None):
    """Write the Places2017 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import _cpu_count
    from ..tools.argparse import make_parser
    from .ADE20k_write import FILES as FILES_ADE20K
    from .ADE20k_write import add_arguments

    parser = make_parser(__doc__)
    parser.add_argument(
        '--class-counts',
        action='store_true',
        help='Count pixels per class and write to Places2017_counts.json.',
    )
    parser.add_argument(
        '--color-map',
        action='store_true',
        help='Create color map and write to Places2017_colors.json.',
    )
    parser.add_argument(
        '--classes',
        action='store_true',
        help='Print the class list.',
    )
    parser.add_argument(
        '--scenelabels',
        action='store_true',
        help='Extract the scene labels from ADE20k dataset '
             'and write to Places2017_scenelabels.json. '
             'This will look for ADE20K_2016_07_26.zip '
             'in indir and download if necessary.',
    )
    parser.add_argument(
        '--segments',
        action='store_true',
        help='Also write the field "segments": the masks of the instances of the '
             'instance PNG (datadings_like.masks.Segments).',
    )
    add_arguments(parser, min(8, _cpu_count()))
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    if args.class_counts:
        create_counts(prepare_indir({'classes': FILES['classes']}, args), outdir, args)
    elif args.color_map:
        create_color_map(prepare_indir({'colors': FILES['colors']}, args), outdir, args)
    elif args.classes:
        print_classes(prepare_indir({'class_info': FILES['class_info']}, args))
    elif args.scenelabels:
        extract_scenelabels(prepare_indir(FILES_ADE20K, args), outdir, args)
    else:
        files = prepare_indir({name: FILES[name] for name in DATASET_FILES}, args)
        write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
