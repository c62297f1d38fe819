"""
Labelled segment masks as a sample field.

A :py:class:`Segments` value is a set of segments over an image: each a
binary mask placed on the image by its bounding box, with a label, an
optional IID (an identifier ``(domain, address)`` of two byte strings) and
any number of groups. There is no limit to the number of segments or to how
they overlap. :py:meth:`Segments.encode` turns it into plain msgpack values
(a dict of lists, ints and bytes) that are stored in an ordinary sample
field, e.g. ``sample['segments']``, and that every reader and shell tool
reads like any other field; :py:meth:`Segments.decode` reads such a value
back::

    from datadings_like.masks import Segments

    segments = Segments(shape=(480, 640))
    segments.add(mask, label=3, iid=(b'wordnet', b'n02084071'), group='objects')
    sample = {'key': 'img1', 'image': jpeg, 'segments': segments.encode()}

    segments = Segments.decode(sample['segments'])     # masks not decoded yet
    for entry in segments.at(320, 200):                 # x (column), y (row)
        print(entry.key, entry.label, entry.bbox, entry.area)

Storage: each mask is split into its connected regions (8-connected) when
that is smaller, each region with its own bounding box and bit buffer
(``np.packbits`` of the region's pixels, row by row, compressed with
deflate when that is shorter), so large scattered masks stay small. Decoding is
lazy: :py:meth:`Segments.decode` reads the table (bounding boxes, areas,
labels, IIDs, groups); the bits of a segment are decompressed when its mask
is first used.

Bounding boxes are ``(minr, minc, maxr, maxc)``: rows ``minr`` to
``maxr - 1`` and columns ``minc`` to ``maxc - 1``. The stored bounding box of
a segment is always the tight box around its pixels; an empty segment has
the box ``(0, 0, 0, 0)``.

Encoded values are untrusted input: a damaged or hostile value (a bounding
box outside the image, a region buffer of the wrong length, sizes beyond
:py:data:`MAX_PIXELS` or beyond what the data present can hold) raises
:py:class:`SegmentsError`; no array is allocated from a size before it has
been checked. The table is checked by :py:meth:`Segments.decode`, the
regions of a segment when its mask is first used (:py:meth:`Segments.check`
checks everything at once).

COCO: masks come from COCO polygons (:py:func:`polygons_to_mask`) and COCO
RLE (:py:func:`rle_decode`) and go to COCO RLE (:py:func:`rle_encode`), the
interchange format of this field; pycocotools is not needed.
"""
from collections import namedtuple
import numbers
import zlib

import msgpack
import numpy as np

__all__ = (
    'FORMAT',
    'IID',
    'MAX_PIXELS',
    'Segment',
    'Segments',
    'SegmentsError',
    'VERSION',
    'label_regions',
    'polygons_to_mask',
    'rle_decode',
    'rle_encode',
)

#: Value of the ``'format'`` entry of an encoded :py:class:`Segments`.
FORMAT = 'segments'
#: Version of the encoding written by :py:meth:`Segments.encode`.
VERSION = 1
#: Largest image (and bounding box, and COCO RLE) in pixels that is
#: accepted, 2**28 (16384 x 16384). Raise it for larger images, as
#: ``PIL.Image.MAX_IMAGE_PIXELS``.
MAX_PIXELS = 1 << 28
# deflate cannot expand a stream by more than this factor (258-byte matches
# coded in 1 bit, distances in 1 bit); a region claiming more is damaged
_ZLIB_MAX_RATIO = 1032
_ZLIB_LEVEL = 9
# the least number of bytes a region costs in an encoded value (fixarray,
# four ints, bin header, one byte of data): used to skip splitting masks of
# many tiny pieces, which cannot be smaller
_MIN_REGION_BYTES = 8
# polygon edge crossings computed at a time (bounds the temporary arrays)
_CROSSINGS = 1 << 18


class SegmentsError(ValueError):
    """
    A :py:class:`Segments` value, or a mask, box, label image, polygon or RLE
    given to build one, is malformed, inconsistent or too large. The message
    names the segment (by key) and the problem.
    """


#: Individual identifier of a segment: ``domain`` (the context, e.g. a
#: vocabulary) and ``address`` (the name in that context), both bytes.
IID = namedtuple('IID', 'domain address')


# ------------------------------------------------------------ checking

def _show(value, limit=60):
    """repr for messages, cut short: values may come from hostile files."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _int(value, what):
    if not _is_int(value):
        raise SegmentsError(f'{what} must be an integer, not {_show(value)}')
    return int(value)


def _check_pixels(pixels, what):
    if pixels > MAX_PIXELS:
        raise SegmentsError(f'{what} has {pixels} pixels, more than MAX_PIXELS = {MAX_PIXELS}')


def _check_shape(shape, what='image shape'):
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise SegmentsError(f'{what} must be (height, width), not {_show(shape)}')
    h, w = (_int(v, what) for v in shape)
    if h < 0 or w < 0:
        raise SegmentsError(f'{what} {_show(shape)} is negative')
    _check_pixels(h * w, f'{what} {h}x{w}')
    return h, w


def _check_bbox(bbox, shape, what='bbox'):
    if not isinstance(bbox, (tuple, list, np.ndarray)) or len(bbox) != 4:
        raise SegmentsError(f'{what} must be (minr, minc, maxr, maxc), not {_show(bbox)}')
    r0, c0, r1, c1 = (_int(v, what) for v in bbox)
    if not (0 <= r0 <= r1 and 0 <= c0 <= c1):
        raise SegmentsError(f'{what} {(r0, c0, r1, c1)} is not a box '
                            '(need 0 <= minr <= maxr and 0 <= minc <= maxc)')
    if shape is not None and (r1 > shape[0] or c1 > shape[1]):
        raise SegmentsError(f'{what} {(r0, c0, r1, c1)} is outside the image of shape {shape}')
    _check_pixels((r1 - r0) * (c1 - c0), f'{what} {(r0, c0, r1, c1)}')
    return r0, c0, r1, c1


def _as_bytes(value, what):
    if isinstance(value, str):
        return value.encode('utf-8')
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise SegmentsError(f'{what} must be bytes or str, not {_show(value)}')


def _check_iid(iid, what='iid'):
    if iid is None:
        return None
    if not isinstance(iid, (tuple, list)) or len(iid) != 2:
        raise SegmentsError(f'{what} must be (domain, address), not {_show(iid)}')
    return IID(_as_bytes(iid[0], f'{what} domain'), _as_bytes(iid[1], f'{what} address'))


_LABEL_TYPES = (str, bytes, float, bool)


def _check_label(label, what='label'):
    if label is None or isinstance(label, _LABEL_TYPES):
        return label
    if _is_int(label):
        return int(label)
    if isinstance(label, np.floating):
        return float(label)
    if isinstance(label, np.bool_):
        return bool(label)
    raise SegmentsError(f'{what} must be None, int, float, str or bytes, not {_show(label)}')


def _check_groups(group):
    if group is None:
        return ()
    if isinstance(group, str):
        group = (group,)
    try:
        groups = tuple(group)
    except TypeError:
        raise SegmentsError(f'group must be a str or a list of str, not {_show(group)}') from None
    for name in groups:
        if not isinstance(name, str):
            raise SegmentsError(f'group names must be str, not {_show(name)}')
    return tuple(dict.fromkeys(groups))


def _as_mask(mask, what='mask'):
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise SegmentsError(f'{what} must be 2-D, not of shape {mask.shape}')
    if mask.dtype.kind not in 'biuf':
        raise SegmentsError(f'{what} must be a bool or numeric array, not {mask.dtype}')
    _check_pixels(mask.size, f'{what} of shape {mask.shape}')
    return mask if mask.dtype == np.bool_ else mask != 0


# ------------------------------------------------------- region buffers

def _pack(bits):
    raw = np.packbits(bits, axis=None).tobytes()
    # raw deflate: zlib's header and checksum would cost 6 bytes per region
    deflater = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, -15)
    packed = deflater.compress(raw) + deflater.flush()
    # the length tells the two apart: raw buffers have exactly the length
    # of the packed bits, compressed ones are shorter
    return packed if len(packed) < len(raw) else raw


def _check_buffer(data, height, width, what):
    """Whether a buffer can hold a region (without decompressing it):
    the number of bytes of its packed bits."""
    expected = (height * width + 7) // 8
    if len(data) != expected and (len(data) > expected
                                  or expected > _ZLIB_MAX_RATIO * len(data)):
        raise SegmentsError(f'{what}: a buffer of {len(data)} bytes cannot hold the '
                            f'{expected} bytes of a {height}x{width} region')
    return expected


def _unpack(data, height, width, what):
    """The bits of a region from its buffer; every size is checked first."""
    pixels = height * width
    expected = _check_buffer(data, height, width, what)
    if len(data) == expected:
        raw = data
    else:
        inflater = zlib.decompressobj(-15)
        try:
            raw = inflater.decompress(data, expected)
        except zlib.error as exc:
            raise SegmentsError(f'{what}: damaged region buffer ({exc})') from None
        if len(raw) != expected or not inflater.eof or inflater.unconsumed_tail \
                or inflater.unused_data:
            raise SegmentsError(f'{what}: the region buffer does not decompress to the '
                                f'{expected} bytes of a {height}x{width} region')
    bits = np.unpackbits(np.frombuffer(raw, np.uint8), count=pixels)
    return bits.reshape(height, width).view(np.bool_)


# ------------------------------------------------ connected components

def _runs(mask):
    """Row, start and end (exclusive) of every run of set pixels, row-major."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    rows, starts = np.nonzero(change == 1)
    _, ends = np.nonzero(change == -1)
    return rows, starts, ends


def _label_runs(mask, connectivity=8):
    """
    Connected components of the runs of a mask: ``(rows, starts, ends,
    component of each run, number of components)``. Components are numbered
    in the raster order of their first pixel.
    """
    rows, starts, ends = _runs(mask)
    n = len(rows)
    if n == 0:
        return rows, starts, ends, np.zeros(0, np.intp), 0
    stride = mask.shape[1] + 2
    reach = 1 if connectivity == 8 else 0
    start_keys = rows * stride + starts
    end_keys = rows * stride + ends
    below = (rows + 1) * stride
    # runs j of the next row touch run i if start_j <= end_i - 1 + reach and
    # end_j - 1 >= start_i - reach; they are consecutive in raster order
    lo = np.searchsorted(end_keys, below + starts + 1 - reach, 'left')
    hi = np.searchsorted(start_keys, below + ends - 1 + reach, 'right')
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    parent = np.arange(n)
    if total:
        a = np.repeat(np.arange(n), counts)
        first = np.cumsum(counts) - counts
        b = np.repeat(lo, counts) + (np.arange(total) - np.repeat(first, counts))
        # hook every root onto the smallest root it touches, then compress
        # the paths; parent[x] <= x always, so there are no cycles
        while True:
            ra, rb = parent[a], parent[b]
            different = ra != rb
            if not different.any():
                break
            small = np.minimum(ra, rb)[different]
            large = np.maximum(ra, rb)[different]
            np.minimum.at(parent, large, small)
            while True:
                grand = parent[parent]
                if np.array_equal(grand, parent):
                    break
                parent = grand
    roots, component = np.unique(parent, return_inverse=True)
    return rows, starts, ends, component.ravel(), len(roots)


def _paint_runs(shape, rows, starts, ends, values, dtype):
    out = np.zeros(shape, dtype)
    lengths = ends - starts
    total = int(lengths.sum())
    if total:
        first = np.cumsum(lengths) - lengths
        positions = np.repeat(rows * shape[1] + starts - first, lengths) + np.arange(total)
        out.ravel()[positions] = np.repeat(values, lengths)
    return out


def label_regions(mask, connectivity=8):
    """
    Label the connected regions of a binary mask (pure numpy; the same
    result as ``scipy.ndimage.label``).

    Parameters:
        mask: 2-D array, non-zero pixels are set
        connectivity: 8 (pixels touching at corners are connected) or 4

    Returns:
        ``(labels, n)``: int32 array of the mask's shape with 0 for unset
        pixels and 1 to ``n`` for the regions, numbered in raster order of
        their first pixel; and the number of regions

    Raises:
        SegmentsError: the mask is not 2-D, or connectivity is not 4 or 8
    """
    if connectivity not in (4, 8):
        raise SegmentsError(f'connectivity must be 4 or 8, not {_show(connectivity)}')
    mask = _as_mask(mask)
    rows, starts, ends, component, n = _label_runs(mask, connectivity)
    return _paint_runs(mask.shape, rows, starts, ends, component + 1, np.int32), n


def _encode_mask(mask, r_origin, c_origin):
    """
    Regions of a mask placed at (r_origin, c_origin): ``(regions, tight
    bbox, area)``; regions are ``(minr, minc, maxr, maxc, buffer)`` tuples in
    image coordinates, split into connected regions when that is smaller.
    """
    any_row = np.flatnonzero(mask.any(axis=1))
    if not len(any_row):
        return [], (0, 0, 0, 0), 0
    any_col = np.flatnonzero(mask.any(axis=0))
    r0, r1 = int(any_row[0]), int(any_row[-1]) + 1
    c0, c1 = int(any_col[0]), int(any_col[-1]) + 1
    crop = mask[r0:r1, c0:c1]
    area = int(np.count_nonzero(crop))
    box = (r0 + r_origin, c0 + c_origin, r1 + r_origin, c1 + c_origin)
    whole = [box + (_pack(crop),)]
    rows, starts, ends, component, n = _label_runs(crop)
    if n == 1 or n * _MIN_REGION_BYTES >= _region_bytes(whole):
        return whole, box, area
    labels = _paint_runs(crop.shape, rows, starts, ends, component + 1, np.int32)
    order = np.argsort(component, kind='stable')
    first = np.flatnonzero(np.r_[True, np.diff(component[order]) != 0])
    rmin = np.minimum.reduceat(rows[order], first)
    rmax = np.maximum.reduceat(rows[order], first) + 1
    cmin = np.minimum.reduceat(starts[order], first)
    cmax = np.maximum.reduceat(ends[order], first)
    split = []
    for k in range(n):
        a, b, c, d = int(rmin[k]), int(cmin[k]), int(rmax[k]), int(cmax[k])
        bits = labels[a:c, b:d] == k + 1
        split.append((a + box[0], b + box[1], c + box[0], d + box[1], _pack(bits)))
    if _region_bytes(split) < _region_bytes(whole):
        return split, box, area
    return whole, box, area


def _stored_region(region):
    # regions are stored as [minr, minc, height, width, buffer]: small sizes
    # take one byte in msgpack where maxr and maxc would take three
    a, b, c, d, data = region
    return [a, b, c - a, d - b, data]


def _region_bytes(regions):
    return len(msgpack.packb([_stored_region(r) for r in regions], use_bin_type=True))


# ------------------------------------------------------------- COCO

def rle_encode(mask, compressed=True):
    """
    COCO run-length encoding of a full-size binary mask, as
    ``pycocotools.mask.encode`` computes it (column-major runs, starting
    with a run of unset pixels).

    Parameters:
        mask: 2-D array of the image's shape, non-zero pixels are set
        compressed: counts as the compact string of COCO files (else a list
            of ints, the uncompressed RLE of ``iscrowd`` annotations)

    Returns:
        ``{'size': [height, width], 'counts': str or list of int}``

    Raises:
        SegmentsError: the mask is not 2-D or too large
    """
    mask = _as_mask(mask)
    h, w = mask.shape
    flat = mask.T.ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts.insert(0, 0)
    return {'size': [h, w], 'counts': _counts_to_string(counts) if compressed else counts}


def _counts_to_string(counts):
    # COCO's compact counts: from the third count on, the difference to the
    # count two before; each number in little-endian groups of 5 bits, the
    # sixth bit says another group follows; characters from '0' (48)
    out = bytearray()
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        while True:
            c = x & 0x1f
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(c + 48)
            if not more:
                break
    return out.decode('ascii')


def _string_to_counts(text, total):
    if isinstance(text, str):
        try:
            text = text.encode('ascii')
        except UnicodeEncodeError:
            raise SegmentsError('RLE counts string is not ASCII') from None
    text = bytes(text)
    counts = []
    pos, n = 0, len(text)
    while pos < n:
        x, shift = 0, 0
        while True:
            if pos >= n:
                raise SegmentsError('RLE counts string is truncated')
            c = text[pos] - 48
            if not 0 <= c < 64:
                raise SegmentsError(f'RLE counts string has an invalid character at {pos}')
            if shift > 60:
                raise SegmentsError('RLE counts string holds a number too large for an image')
            x |= (c & 0x1f) << shift
            pos += 1
            shift += 5
            if not c & 0x20:
                if c & 0x10:
                    x |= -1 << shift
                break
        if len(counts) > 2:
            x += counts[-2]
        if not 0 <= x <= total:
            raise SegmentsError(f'RLE count {x} is outside 0..{total} (the pixels of the image)')
        counts.append(x)
    return counts


def rle_decode(rle):
    """
    Decode a COCO RLE (compressed or not) to a binary mask.

    Parameters:
        rle: ``{'size': [height, width], 'counts': str, bytes or list of int}``

    Returns:
        bool array of shape ``(height, width)``

    Raises:
        SegmentsError: malformed RLE, counts that do not add up to the
            image's pixels, or an image larger than :py:data:`MAX_PIXELS`
    """
    if not isinstance(rle, dict) or 'size' not in rle or 'counts' not in rle:
        raise SegmentsError("an RLE must be a dict with 'size' and 'counts'")
    h, w = _check_shape(rle['size'], 'RLE size')
    total = h * w
    counts = rle['counts']
    if isinstance(counts, (str, bytes, bytearray, memoryview)):
        counts = _string_to_counts(counts, total)
    elif isinstance(counts, (list, tuple)):
        counts = [_int(c, 'RLE count') for c in counts]
        if any(c < 0 for c in counts):
            raise SegmentsError('RLE counts must not be negative')
    else:
        raise SegmentsError(f'RLE counts must be a string or a list of ints, not {_show(counts)}')
    if sum(counts) != total:
        raise SegmentsError(f'RLE counts add up to {sum(counts)} pixels, but the image '
                            f'{h}x{w} has {total}')
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


def _polygon_coords(polygon):
    try:
        coords = np.asarray(polygon, dtype=np.float64)
    except (TypeError, ValueError):
        raise SegmentsError(f'a polygon must be a list of numbers x1, y1, x2, y2, ..., '
                            f'not {_show(polygon)}') from None
    if coords.ndim != 1 or coords.size % 2:
        raise SegmentsError(f'a polygon must be a flat list of an even number of '
                            f'coordinates, not of shape {coords.shape}')
    if not np.isfinite(coords).all():
        raise SegmentsError('polygon coordinates must be finite')
    return coords.reshape(-1, 2)


def polygons_to_mask(polygons, height, width):
    """
    Rasterise COCO polygons: a pixel is set if its centre lies inside one
    of the polygons (even-odd rule; centres on a left or top edge are
    inside, on a right or bottom edge outside). Coordinates are COCO's:
    ``x`` to the right, ``y`` down, the pixel ``(row r, column c)`` covering
    ``[c, c + 1) x [r, r + 1)``.

    Parameters:
        polygons: list of polygons, each a flat list ``[x1, y1, x2, y2, ...]``
        height, width: image size

    Returns:
        bool array of shape ``(height, width)``, the union of the polygons

    Raises:
        SegmentsError: malformed polygon, or image larger than
            :py:data:`MAX_PIXELS`
    """
    h, w = _check_shape((height, width))
    if not isinstance(polygons, (list, tuple)):
        raise SegmentsError('polygons must be a list of lists of coordinates, not '
                            f'{_show(polygons)}')
    mask = np.zeros((h, w), np.bool_)
    for polygon in polygons:
        coords = _polygon_coords(polygon)
        if len(coords) < 3 or not h or not w:
            continue
        x0, y0 = coords[:, 0], coords[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        ylo, yhi = np.minimum(y0, y1), np.maximum(y0, y1)
        # rows whose centre r + 0.5 is in [ylo, yhi)
        first = np.clip(np.ceil(ylo - 0.5), 0, h).astype(np.int64)
        stop = np.clip(np.ceil(yhi - 0.5), 0, h).astype(np.int64)
        counts = np.maximum(stop - first, 0)
        ends = np.cumsum(counts)
        if not ends[-1]:
            continue
        # every crossing of an edge with a row's centre line flips insideness
        # for the pixels whose centre is right of it; the crossings are
        # computed for a bounded number at a time
        flips = np.zeros((h, w + 1), np.int32)
        cuts = np.searchsorted(ends, np.arange(_CROSSINGS, int(ends[-1]), _CROSSINGS))
        for lo, hi in zip([0] + cuts.tolist(), cuts.tolist() + [len(counts)]):
            part = counts[lo:hi]
            total = int(part.sum())
            if not total:
                continue
            edge = np.repeat(np.arange(lo, hi), part)
            offset = np.cumsum(part) - part
            row = np.repeat(first[lo:hi], part) + (np.arange(total) - np.repeat(offset, part))
            yc = row + 0.5
            x = x0[edge] + (yc - y0[edge]) * (x1[edge] - x0[edge]) / (y1[edge] - y0[edge])
            col = np.clip(np.ceil(x - 0.5), 0, w).astype(np.int64)
            np.add.at(flips, (row, col), 1)
        mask |= (np.cumsum(flips, axis=1)[:, :w] & 1).astype(np.bool_)
    return mask


# ----------------------------------------------------------- entries

class Segment:
    """
    One segment of a :py:class:`Segments` (an entry of its table), as the
    queries return it. Its mask is decoded when it is first used.

    Attributes:
        key: its position in the table (int)
        iid: its :py:class:`IID`, or None (none given, or fetched with
            ``iids=False``)
    """

    __slots__ = ('_owner', 'key', 'iid')

    def __init__(self, owner, key, iid=True):
        self._owner = owner
        self.key = key
        self.iid = owner._iids[key] if iid else None

    @property
    def label(self):
        """The label (int, float, str, bytes or None)."""
        return self._owner._labels[self.key]

    @property
    def bbox(self):
        """Tight bounding box ``(minr, minc, maxr, maxc)`` of its pixels."""
        return self._owner._bboxes[self.key]

    @property
    def area(self):
        """Number of pixels of the mask."""
        return self._owner._areas[self.key]

    @property
    def groups(self):
        """Names of the groups it belongs to (tuple, in the order of the groups)."""
        return self._owner._groups_of(self.key)

    @property
    def mask(self):
        """
        The mask inside the bounding box: a read-only bool array of shape
        ``(maxr - minr, maxc - minc)``.

        Raises:
            SegmentsError: the stored regions are damaged
        """
        return self._owner._mask(self.key)

    def full_mask(self, shape=None):
        """
        The mask placed on the whole image.

        Parameters:
            shape: image shape ``(height, width)`` (default: the shape of the
                :py:class:`Segments`)

        Returns:
            bool array of the image's shape

        Raises:
            SegmentsError: no shape known, or the segment lies outside it
        """
        return self._owner._full_mask(self.key, shape)

    def covers(self, x, y):
        """Whether the mask covers the pixel in column ``x`` and row ``y``."""
        return self._owner._covers(self.key, y, x)

    def to_coco_rle(self, shape=None, compressed=True):
        """
        The mask as COCO RLE (see :py:func:`rle_encode`).

        Parameters:
            shape: image shape (default: the shape of the :py:class:`Segments`)
            compressed: counts as a string (else a list of ints)
        """
        return rle_encode(self.full_mask(shape), compressed)

    def __eq__(self, other):
        return isinstance(other, Segment) and other._owner is self._owner \
            and other.key == self.key

    def __hash__(self):
        return hash((id(self._owner), self.key))

    def __repr__(self):
        return (f'Segment(key={self.key}, label={self.label!r}, iid={self.iid!r}, '
                f'bbox={self.bbox}, area={self.area}, groups={self.groups})')


# ---------------------------------------------------------- segments

class Segments:
    """
    A set of labelled segments over an image (see the module documentation
    and the manual page on segment masks).

    Parameters:
        shape: image shape ``(height, width)``; None takes it from the first
            full-size mask added (boxes are then only checked against
            :py:data:`MAX_PIXELS`)
        meta: metadata dict (msgpack-able values: camera parameters, the
            source of the masks, ...); stored with the segments

    Attributes:
        shape: the image shape, or None
        meta: the metadata dict

    Raises:
        SegmentsError: invalid shape or meta
    """

    def __init__(self, shape=None, meta=None):
        self.shape = None if shape is None else _check_shape(shape)
        if meta is not None and not isinstance(meta, dict):
            raise SegmentsError(f'meta must be a dict, not {_show(meta)}')
        self.meta = {} if meta is None else dict(meta)
        self._iids = []
        self._labels = []
        self._bboxes = []
        self._areas = []
        self._groups = {}       # name -> list of keys, ascending
        self._group_sets = None
        self._regions = []      # per key: list of checked region tuples, or the raw value
        self._checked = []      # per key: the regions are checked
        self._verified = []     # per key: buffers and area checked
        self._masks = {}
        self._region_bits = {}
        self._table = None

    # ------------------------------------------------------------ building

    def add(self, mask, bbox=None, label=None, iid=None, group=None):
        """
        Add a segment.

        Parameters:
            mask: 2-D array, non-zero pixels belong to the segment: the whole
                image (``bbox`` None) or the part of the image inside ``bbox``
            bbox: ``(minr, minc, maxr, maxc)`` where the mask is placed; the
                mask's shape must be ``(maxr - minr, maxc - minc)``
            label: None, int, float, str or bytes
            iid: ``(domain, address)`` (bytes, or str stored as UTF-8), or None
            group: a group name or a list of them (str), or None

        Returns:
            the key of the new segment (its position)

        Raises:
            SegmentsError: a mask, box, label, iid or group that does not fit
                (e.g. a box outside the image); nothing is added then
        """
        mask = _as_mask(mask)
        label = _check_label(label)
        iid = _check_iid(iid)
        groups = _check_groups(group)
        shape = self.shape
        if bbox is None:
            if shape is not None and mask.shape != shape:
                raise SegmentsError(f'a mask without bbox must have the image shape {shape}, '
                                    f'not {mask.shape}')
            origin = (0, 0)
            shape = mask.shape
        else:
            r0, c0, r1, c1 = _check_bbox(bbox, shape)
            if mask.shape != (r1 - r0, c1 - c0):
                raise SegmentsError(f'a mask of shape {mask.shape} does not fit the bbox '
                                    f'{(r0, c0, r1, c1)} (need {(r1 - r0, c1 - c0)})')
            origin = (r0, c0)
        regions, box, area = _encode_mask(mask, *origin)
        self.shape = shape
        return self._append(iid, label, box, area, groups, regions, True)

    def _append(self, iid, label, box, area, groups, regions, verified):
        key = len(self._bboxes)
        self._iids.append(iid)
        self._labels.append(label)
        self._bboxes.append(box)
        self._areas.append(area)
        self._regions.append(regions)
        self._checked.append(verified)
        self._verified.append(verified)
        for name in groups:
            self._groups.setdefault(name, []).append(key)
        self._group_sets = None
        self._table = None
        return key

    def add_label_image(self, image, labels=None, background=0, group=None, domain=None):
        """
        Add one segment per value of an instance (or label) map.

        Parameters:
            image: 2-D integer array of the image's shape; every value other
                than ``background`` is a segment (in ascending order of the
                values)
            labels: optional array of the same shape (e.g. the class map):
                the label of a segment is the most frequent value of
                ``labels`` under its mask (the smallest one on a tie); without
                it the label is the segment's value in ``image``
            background: the value that is no segment
            group: group name(s) of the new segments
            domain: if given (bytes or str), the iid of each segment is
                ``(domain, value as decimal digits)``

        Returns:
            list of the new keys

        Raises:
            SegmentsError: not a 2-D integer array, shapes that differ from
                each other or from the image shape
        """
        image = np.asarray(image)
        if image.dtype == np.bool_:
            image = image.view(np.uint8)
        if image.ndim != 2 or image.dtype.kind not in 'biu':
            raise SegmentsError(f'a label image must be a 2-D integer array, not '
                                f'{image.dtype} of shape {image.shape}')
        _check_pixels(image.size, f'label image of shape {image.shape}')
        if self.shape is not None and image.shape != self.shape:
            raise SegmentsError(f'a label image of shape {image.shape} does not fit the image '
                                f'shape {self.shape}')
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != image.shape or labels.dtype.kind not in 'biu':
                raise SegmentsError(f'labels must be an integer array of shape {image.shape}, '
                                    f'not {labels.dtype} of shape {labels.shape}')
        groups = _check_groups(group)
        if domain is not None:
            domain = _as_bytes(domain, 'domain')
        if self.shape is None:
            self.shape = image.shape
        width = image.shape[1]
        flat = image.ravel()
        label_flat = None if labels is None else labels.ravel()
        positions = np.flatnonzero(flat != background)
        values = flat[positions]
        order = np.argsort(values, kind='stable')
        positions, values = positions[order], values[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if len(values) else []
        stops = list(starts[1:]) + [len(values)]
        keys = []
        for start, stop in zip(starts, stops):
            value = values[start].item()
            where = positions[start:stop]
            rows, cols = where // width, where % width
            r0, c0 = int(rows.min()), int(cols.min())
            crop = np.zeros((int(rows.max()) + 1 - r0, int(cols.max()) + 1 - c0), np.bool_)
            crop[rows - r0, cols - c0] = True
            if labels is None:
                label = value
            else:
                classes, counts = np.unique(label_flat[where], return_counts=True)
                label = classes[np.argmax(counts)].item()
            iid = None if domain is None else IID(domain, str(value).encode('ascii'))
            regions, box, area = _encode_mask(crop, r0, c0)
            keys.append(self._append(iid, label, box, area, groups, regions, True))
        return keys

    @classmethod
    def from_label_image(cls, image, labels=None, background=0, group=None, domain=None,
                         meta=None):
        """
        Segments of an instance or label map: one per value other than
        ``background``, labelled with that value (or by ``labels``); see
        :py:meth:`add_label_image`. :py:meth:`to_label_image` gives the map
        back.

        Returns:
            :py:class:`Segments` with the map's shape
        """
        shape = np.shape(image)
        segments = cls(shape=shape if len(shape) == 2 else None, meta=meta)
        segments.add_label_image(image, labels, background, group, domain)
        return segments

    def add_coco(self, segmentation, label=None, iid=None, group=None):
        """
        Add a segment from a COCO annotation's ``segmentation``: polygons
        (a list of flat coordinate lists, see :py:func:`polygons_to_mask`;
        the image shape must be known) or RLE (a dict, compressed or not,
        see :py:func:`rle_decode`; its size must be the image shape).

        Returns:
            the key of the new segment

        Raises:
            SegmentsError: malformed segmentation, or no image shape for
                polygons
        """
        if isinstance(segmentation, dict):
            mask = rle_decode(segmentation)
            if self.shape is not None and mask.shape != self.shape:
                raise SegmentsError(f'RLE of size {list(mask.shape)} does not fit the image '
                                    f'shape {self.shape}')
        else:
            if self.shape is None:
                raise SegmentsError('COCO polygons need the image shape: Segments(shape=...)')
            mask = polygons_to_mask(segmentation, *self.shape)
        return self.add(mask, label=label, iid=iid, group=group)

    @classmethod
    def from_coco(cls, annotations, shape, domain='coco', meta=None):
        """
        Segments of the COCO annotations of one image: for each annotation
        its ``segmentation`` (polygons or RLE), ``category_id`` as label,
        ``(domain, id)`` as iid (when it has an ``id``) and the group
        ``'crowd'`` when ``iscrowd`` is set.

        Parameters:
            annotations: list of COCO annotation dicts
            shape: image shape ``(height, width)`` (the image's ``height``
                and ``width``)
            domain: iid domain of the annotation ids
            meta: metadata dict

        Returns:
            :py:class:`Segments`

        Raises:
            SegmentsError: an annotation without segmentation, or a
                malformed one
        """
        segments = cls(shape=shape, meta=meta)
        for i, ann in enumerate(annotations):
            if not isinstance(ann, dict) or 'segmentation' not in ann:
                raise SegmentsError(f'COCO annotation {i} has no segmentation')
            iid = None if ann.get('id') is None else (domain, str(ann['id']))
            group = 'crowd' if ann.get('iscrowd') else None
            try:
                segments.add_coco(ann['segmentation'], ann.get('category_id'), iid, group)
            except SegmentsError as exc:
                raise SegmentsError(f'COCO annotation {i}: {exc}') from None
        return segments

    def to_coco(self, keys=None):
        """
        The segments as COCO annotations: ``segmentation`` (compressed RLE),
        ``area``, ``bbox`` (``[x, y, width, height]``), ``iscrowd`` (1 in
        group ``'crowd'``), and ``category_id`` (the label) and ``id`` (the
        iid address as str) where they exist.

        Parameters:
            keys: the segments to convert (default: all)

        Returns:
            list of dicts
        """
        out = []
        for key in self._keys(keys):
            r0, c0, r1, c1 = self._bboxes[key]
            ann = {'segmentation': rle_encode(self._full_mask(key, None)),
                   'area': self._areas[key], 'bbox': [c0, r0, c1 - c0, r1 - r0],
                   'iscrowd': int('crowd' in self._groups_of(key))}
            if self._labels[key] is not None:
                ann['category_id'] = self._labels[key]
            if self._iids[key] is not None:
                ann['id'] = self._iids[key].address.decode('utf-8', 'replace')
            out.append(ann)
        return out

    def to_label_image(self, shape=None, value='label', dtype=None, background=0):
        """
        Paint the segments into a map, in the order of their keys (where
        segments overlap, the last one wins).

        Parameters:
            shape: image shape (default: the shape of the Segments)
            value: ``'label'`` paints the (integer) labels, ``'key'`` the
                keys plus 1
            dtype: dtype of the map (default: the smallest that holds the
                values and ``background``)
            background: value of pixels without a segment

        Returns:
            2-D array

        Raises:
            SegmentsError: no shape, a segment outside it, or a label that is
                not an int
        """
        shape = self._shape_for(shape)
        if value == 'label':
            values = []
            for key, label in enumerate(self._labels):
                if not _is_int(label):
                    raise SegmentsError(f'segment {key}: label {_show(label)} is not an int; '
                                        "use value='key'")
                values.append(label)
        elif value == 'key':
            values = list(range(1, len(self) + 1))
        else:
            raise SegmentsError(f"value must be 'label' or 'key', not {_show(value)}")
        if dtype is None:
            lo, hi = min(values + [background]), max(values + [background])
            dtype = np.result_type(np.min_scalar_type(lo), np.min_scalar_type(hi))
            if dtype.kind == 'O':
                raise SegmentsError(f'no numeric dtype holds the values {lo} to {hi}')
        dtype = np.dtype(dtype)
        if dtype.kind not in 'biuf':
            raise SegmentsError(f'cannot paint into dtype {dtype}')
        out = np.full(shape, background, dtype)
        for key, v in enumerate(values):
            r0, c0, r1, c1 = self._inside(key, shape)
            out[r0:r1, c0:c1][self._mask(key)] = v
        return out

    # ------------------------------------------------------------ encoding

    def encode(self):
        """
        The segments as a msgpack-able value for a sample field: a dict of
        lists, ints, str and bytes (see the manual page for the layout).
        Every segment is checked first.

        Returns:
            dict

        Raises:
            SegmentsError: a damaged segment (of a decoded value)
        """
        self.check()
        return {
            'format': FORMAT,
            'version': VERSION,
            'shape': None if self.shape is None else list(self.shape),
            'meta': dict(self.meta),
            'groups': {name: list(keys) for name, keys in self._groups.items()},
            'iids': [None if iid is None else [iid.domain, iid.address] for iid in self._iids],
            'labels': list(self._labels),
            'bboxes': [list(b) for b in self._bboxes],
            'areas': list(self._areas),
            'regions': [[_stored_region(r) for r in self._checked_regions(key)]
                        for key in range(len(self))],
        }

    @classmethod
    def decode(cls, value):
        """
        Read an encoded value back (lazily: the table is read and checked,
        the masks are decoded when first used).

        Parameters:
            value: the value of :py:meth:`encode`, as read from a dataset

        Returns:
            :py:class:`Segments`

        Raises:
            SegmentsError: not such a value, or a damaged or hostile one
        """
        if not isinstance(value, dict) or value.get('format') != FORMAT:
            raise SegmentsError('not an encoded Segments value (no "format": "segments")')
        version = value.get('version')
        if version != VERSION or not _is_int(version):
            raise SegmentsError(f'unsupported Segments version {_show(version)} (this '
                                f'datadings_like reads version {VERSION})')
        missing = [k for k in ('shape', 'meta', 'groups', 'iids', 'labels', 'bboxes', 'areas',
                               'regions') if k not in value]
        if missing:
            raise SegmentsError(f'encoded Segments lack {", ".join(missing)}')
        shape = value['shape']
        shape = None if shape is None else _check_shape(shape)
        meta = value['meta']
        if not isinstance(meta, dict):
            raise SegmentsError('encoded Segments: "meta" is not a dict')
        columns = {k: value[k] for k in ('iids', 'labels', 'bboxes', 'areas', 'regions')}
        for name, column in columns.items():
            if not isinstance(column, list):
                raise SegmentsError(f'encoded Segments: "{name}" is not a list')
        n = len(columns['bboxes'])
        uneven = [name for name, column in columns.items() if len(column) != n]
        if uneven:
            raise SegmentsError(f'encoded Segments: {", ".join(uneven)} do not have one entry '
                                f'for each of the {n} bboxes')
        segments = cls(shape=shape, meta=meta)
        for key in range(n):
            what = f'segment {key}'
            box = _check_bbox(columns['bboxes'][key], shape, f'{what}: bbox')
            area = columns['areas'][key]
            pixels = (box[2] - box[0]) * (box[3] - box[1])
            if not _is_int(area) or not (0 <= area <= pixels) or (area == 0) != (pixels == 0):
                raise SegmentsError(f'{what}: area {_show(area)} does not fit the bbox {box}')
            if pixels == 0 and box != (0, 0, 0, 0):
                raise SegmentsError(f'{what}: an empty segment must have the bbox (0, 0, 0, 0), '
                                    f'not {box}')
            if not isinstance(columns['regions'][key], list):
                raise SegmentsError(f'{what}: regions are not a list')
            segments._append(_check_iid(columns['iids'][key], f'{what}: iid'),
                             _check_label(columns['labels'][key], f'{what}: label'),
                             box, area, (), columns['regions'][key], False)
        groups = value['groups']
        if not isinstance(groups, dict):
            raise SegmentsError('encoded Segments: "groups" is not a dict')
        for name, keys in groups.items():
            if not isinstance(name, str) or not isinstance(keys, list):
                raise SegmentsError(f'encoded Segments: group {_show(name)} is not a list of keys')
            for key in keys:
                if not _is_int(key) or not 0 <= key < n:
                    raise SegmentsError(f'encoded Segments: group {_show(name)}: '
                                        f'no segment {_show(key)}')
            segments._groups[name] = sorted(set(keys))
        return segments

    def check(self):
        """
        Decode and check every segment now (decoded values are otherwise
        checked segment by segment when the masks are first used).

        Returns:
            self

        Raises:
            SegmentsError: a damaged segment
        """
        for key in range(len(self)):
            if not self._verified[key]:
                self._mask(key)
        return self

    # --------------------------------------------------------- regions

    def _checked_regions(self, key):
        if self._checked[key]:
            return self._regions[key]
        raw = self._regions[key]
        r0, c0, r1, c1 = self._bboxes[key]
        what = f'segment {key}'
        regions = []
        bounds = [None, None, None, None]
        for i, region in enumerate(raw):
            where = f'{what}: region {i}'
            if not isinstance(region, list) or len(region) != 5:
                raise SegmentsError(f'{where}: not [minr, minc, height, width, buffer]')
            data = region[4]
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise SegmentsError(f'{where}: the buffer is not bytes')
            a, b, height, width = (_int(v, f'{where}: bbox') for v in region[:4])
            if height < 1 or width < 1:
                raise SegmentsError(f'{where}: size {height}x{width} is empty')
            a, b, c, d = _check_bbox((a, b, a + height, b + width), None, f'{where}: bbox')
            if a < r0 or b < c0 or c > r1 or d > c1:
                raise SegmentsError(f'{where}: bbox {(a, b, c, d)} is outside the segment '
                                    f'bbox {(r0, c0, r1, c1)}')
            regions.append((a, b, c, d, bytes(data)))
            bounds = [min(a, bounds[0] if bounds[0] is not None else a),
                      min(b, bounds[1] if bounds[1] is not None else b),
                      max(c, bounds[2] if bounds[2] is not None else c),
                      max(d, bounds[3] if bounds[3] is not None else d)]
        if regions and tuple(bounds) != (r0, c0, r1, c1):
            raise SegmentsError(f'{what}: bbox {(r0, c0, r1, c1)} is not the bounding box '
                                f'{tuple(bounds)} of its regions')
        if not regions and self._areas[key]:
            raise SegmentsError(f'{what}: area {self._areas[key]} but no regions')
        self._regions[key] = regions
        self._checked[key] = True
        return regions

    def _bits(self, key, index):
        cached = self._region_bits.get((key, index))
        if cached is None:
            a, b, c, d, data = self._checked_regions(key)[index]
            cached = _unpack(data, c - a, d - b, f'segment {key}: region {index}')
            self._region_bits[(key, index)] = cached
        return cached

    def _mask(self, key):
        mask = self._masks.get(key)
        if mask is not None:
            return mask
        r0, c0, r1, c1 = self._bboxes[key]
        regions = self._checked_regions(key)
        # the mask is allocated only once the buffers can hold the regions
        for i, (a, b, c, d, data) in enumerate(regions):
            _check_buffer(data, c - a, d - b, f'segment {key}: region {i}')
        mask = np.zeros((r1 - r0, c1 - c0), np.bool_)
        for i, (a, b, c, d, data) in enumerate(regions):
            bits = self._region_bits.pop((key, i), None)
            if bits is None:
                bits = _unpack(data, c - a, d - b, f'segment {key}: region {i}')
            mask[a - r0:c - r0, b - c0:d - c0] |= bits
        area = int(np.count_nonzero(mask))
        if area != self._areas[key]:
            raise SegmentsError(f'segment {key}: area {self._areas[key]}, but its regions '
                                f'cover {area} pixels')
        mask.flags.writeable = False
        self._masks[key] = mask
        self._verified[key] = True
        return mask

    def _shape_for(self, shape):
        if shape is None:
            shape = self.shape
        if shape is None:
            raise SegmentsError('the image shape is not known: pass shape=(height, width)')
        return _check_shape(shape)

    def _inside(self, key, shape):
        r0, c0, r1, c1 = self._bboxes[key]
        if r1 > shape[0] or c1 > shape[1]:
            raise SegmentsError(f'segment {key}: bbox {(r0, c0, r1, c1)} is outside the image '
                                f'of shape {shape}')
        return r0, c0, r1, c1

    def _full_mask(self, key, shape):
        shape = self._shape_for(shape)
        r0, c0, r1, c1 = self._inside(key, shape)
        mask = self._mask(key)
        out = np.zeros(shape, np.bool_)
        out[r0:r1, c0:c1] = mask
        return out

    def _covers(self, key, row, col):
        if not (_is_int(row) and _is_int(col)):
            raise SegmentsError(f'pixel coordinates must be integers, not {_show((col, row))}')
        r0, c0, r1, c1 = self._bboxes[key]
        if not (r0 <= row < r1 and c0 <= col < c1):
            return False
        mask = self._masks.get(key)
        if mask is not None:
            return bool(mask[row - r0, col - c0])
        for i, (a, b, c, d, _) in enumerate(self._checked_regions(key)):
            if a <= row < c and b <= col < d and self._bits(key, i)[row - a, col - b]:
                return True
        return False

    def _intersects(self, key, box):
        ra, ca, rb, cb = box
        r0, c0, r1, c1 = self._bboxes[key]
        top, left, bottom, right = max(ra, r0), max(ca, c0), min(rb, r1), min(cb, c1)
        if top >= bottom or left >= right:
            return False
        mask = self._masks.get(key)
        if mask is not None:
            return bool(mask[top - r0:bottom - r0, left - c0:right - c0].any())
        for i, (a, b, c, d, _) in enumerate(self._checked_regions(key)):
            t, l, bo, ri = max(top, a), max(left, b), min(bottom, c), min(right, d)
            if t < bo and l < ri and self._bits(key, i)[t - a:bo - a, l - b:ri - b].any():
                return True
        return False

    # ------------------------------------------------------------ table

    def __len__(self):
        return len(self._bboxes)

    def __iter__(self):
        return (Segment(self, key) for key in range(len(self)))

    def __getitem__(self, key):
        if not _is_int(key):
            raise TypeError(f'segment keys are ints, not {_show(key)}')
        key = int(key)
        if not 0 <= key < len(self):
            raise IndexError(f'no segment {key} (there are {len(self)})')
        return Segment(self, key)

    def __repr__(self):
        return (f'Segments(shape={self.shape}, segments={len(self)}, '
                f'groups={sorted(self._groups)})')

    @property
    def groups(self):
        """The groups: dict name -> tuple of keys (a copy)."""
        return {name: tuple(keys) for name, keys in self._groups.items()}

    def _groups_of(self, key):
        if self._group_sets is None:
            self._group_sets = {name: set(keys) for name, keys in self._groups.items()}
        return tuple(name for name, keys in self._group_sets.items() if key in keys)

    def _arrays(self):
        if self._table is None:
            self._table = (np.array(self._bboxes, np.int64).reshape(-1, 4),
                           np.array(self._areas, np.int64))
        return self._table

    def _keys(self, keys=None):
        if keys is None:
            return range(len(self))
        out = []
        for key in keys:
            key = key.key if isinstance(key, Segment) else key
            if not _is_int(key) or not 0 <= key < len(self):
                raise IndexError(f'no segment {_show(key)} (there are {len(self)})')
            out.append(int(key))
        return sorted(set(out))

    def _in_groups(self, groups):
        if isinstance(groups, str):
            groups = (groups,)
        keys = set()
        for name in groups:
            keys.update(self._groups.get(name, ()))
        return keys

    # ------------------------------------------------------------ queries

    def fetch(self, groups=None, keys=None, iids=True, segs=True):
        """
        Selective loading: the entries of some groups and/or keys.

        Parameters:
            groups: group name(s); None: no restriction (an unknown group
                has no segments)
            keys: iterable of keys; None: no restriction (with ``groups``
                too: the keys that are also in the groups)
            iids: give the entries their iids (False: ``entry.iid`` is None)
            segs: decode (and check) the masks of the entries now; False
                decodes them when first used

        Returns:
            list of :py:class:`Segment`, in the order of the keys

        Raises:
            IndexError: a key that is no segment
            SegmentsError: a damaged mask (with ``segs``)
        """
        selected = self._keys(keys)
        if groups is not None:
            members = self._in_groups(groups)
            selected = [k for k in selected if k in members]
        entries = [Segment(self, key, iids) for key in selected]
        if segs:
            for key in selected:
                self._mask(key)
        return entries

    def look_for(self, addresses, domain=None):
        """
        The entries whose iid address is one of ``addresses``.

        Parameters:
            addresses: an address or a list of them (bytes, or str as UTF-8)
            domain: only iids of this domain (default: any)

        Returns:
            list of :py:class:`Segment`
        """
        if isinstance(addresses, (str, bytes, bytearray)):
            addresses = [addresses]
        wanted = {_as_bytes(a, 'address') for a in addresses}
        domain = None if domain is None else _as_bytes(domain, 'domain')
        return [Segment(self, key) for key, iid in enumerate(self._iids)
                if iid is not None and iid.address in wanted
                and (domain is None or iid.domain == domain)]

    def filter(self, groups=None, area=None, labels=None, entries=None):
        """
        The entries in any of ``groups`` with an area in ``area`` (and a
        label in ``labels``).

        Parameters:
            groups: group name(s), or None for all
            area: ``(min, max)``, both inclusive, either None for no bound
            labels: a list of labels, or None for all
            entries: filter these (entries or keys) instead of all segments

        Returns:
            list of :py:class:`Segment`
        """
        selected = self._keys(entries)
        if groups is not None:
            members = self._in_groups(groups)
            selected = [k for k in selected if k in members]
        if area is not None:
            low, high = area
            selected = [k for k in selected if (low is None or self._areas[k] >= low)
                        and (high is None or self._areas[k] <= high)]
        if labels is not None:
            labels = list(labels)
            selected = [k for k in selected if self._labels[k] in labels]
        return [Segment(self, key) for key in selected]

    def _candidates(self, box, entries):
        bboxes, _ = self._arrays()
        ra, ca, rb, cb = box
        hit = (bboxes[:, 0] < rb) & (bboxes[:, 2] > ra) & (bboxes[:, 1] < cb) & (bboxes[:, 3] > ca)
        keys = np.flatnonzero(hit).tolist()
        if entries is not None:
            allowed = set(self._keys(entries))
            keys = [k for k in keys if k in allowed]
        return keys

    def at(self, x, y, entries=None):
        """
        The entries whose mask covers the pixel in column ``x`` and row
        ``y`` (not just their bounding box). Only the regions under the
        point are decoded.

        Parameters:
            x, y: column and row (ints); outside the image nothing covers them
            entries: search these (entries or keys) instead of all segments

        Returns:
            list of :py:class:`Segment`

        Raises:
            SegmentsError: non-integer coordinates, or a damaged region
        """
        if not (_is_int(x) and _is_int(y)):
            raise SegmentsError(f'pixel coordinates must be integers, not {_show((x, y))}')
        x, y = int(x), int(y)
        keys = self._candidates((y, x, y + 1, x + 1), entries)
        return [Segment(self, k) for k in keys if self._covers(k, y, x)]

    def region(self, bbox, exact=True, entries=None):
        """
        The entries that intersect a box.

        Parameters:
            bbox: ``(minr, minc, maxr, maxc)``
            exact: the mask must have a pixel in the box (False: the
                bounding boxes intersect)
            entries: search these (entries or keys) instead of all segments

        Returns:
            list of :py:class:`Segment`

        Raises:
            SegmentsError: not a box
        """
        box = _check_bbox(bbox, None, 'region bbox')
        keys = self._candidates(box, entries)
        if exact:
            keys = [k for k in keys if self._intersects(k, box)]
        return [Segment(self, k) for k in keys]

    def compute_overlap(self, entries=None):
        """
        The overlap graph: which segments share pixels, and how many.

        Parameters:
            entries: only these (entries or keys; default: all segments)

        Returns:
            dict ``{(key_a, key_b): pixels}`` with ``key_a < key_b``, for every
            pair that shares at least one pixel

        Raises:
            SegmentsError: a damaged mask
        """
        keys = np.asarray(self._keys(entries), np.int64)
        bboxes, areas = self._arrays()
        graph = {}
        if not len(keys):
            return graph
        boxes = bboxes[keys]
        nonempty = areas[keys] > 0
        for i in range(len(keys)):
            if not nonempty[i]:
                continue
            r0, c0, r1, c1 = boxes[i]
            rest = slice(i + 1, None)
            hit = (boxes[rest, 0] < r1) & (boxes[rest, 2] > r0) & (boxes[rest, 1] < c1) \
                & (boxes[rest, 3] > c0) & nonempty[rest]
            a = int(keys[i])
            for j in (np.flatnonzero(hit) + i + 1).tolist():
                b = int(keys[j])
                br0, bc0, br1, bc1 = boxes[j]
                top, left = max(r0, br0), max(c0, bc0)
                bottom, right = min(r1, br1), min(c1, bc1)
                pixels = int(np.count_nonzero(
                    self._mask(a)[top - r0:bottom - r0, left - c0:right - c0]
                    & self._mask(b)[top - br0:bottom - br0, left - bc0:right - bc0]))
                if pixels:
                    graph[(a, b)] = pixels
        return graph
