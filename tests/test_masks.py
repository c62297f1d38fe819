"""
Tests of datadings_like.masks: segments round-trip through msgpack and a
dataset, the queries agree with brute force on the full masks, COCO RLE and
polygons agree with hand-computed values (and with pycocotools when it is
installed), and damaged or hostile encoded values raise SegmentsError.
"""
import copy
import os
import subprocess
import sys
import tracemalloc
import zlib
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datadings_like import masks
from datadings_like.masks import IID
from datadings_like.masks import MAX_PIXELS
from datadings_like.masks import Segments
from datadings_like.masks import SegmentsError
from datadings_like.masks import label_regions
from datadings_like.masks import polygons_to_mask
from datadings_like.masks import rle_decode
from datadings_like.masks import rle_encode
from datadings_like.msgpack import packb
from datadings_like.msgpack import unpackb
from datadings_like.reader import MsgpackReader
from datadings_like.writer import FileWriter

SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------ strategies

@st.composite
def shapes(draw, max_side=24):
    return draw(st.integers(1, max_side)), draw(st.integers(1, max_side))


@st.composite
def masks_of(draw, shape):
    """A mask: random noise of any density, or a union of rectangles (blobs
    with holes and far-apart pieces), or empty."""
    kind = draw(st.sampled_from(['noise', 'rects', 'empty', 'full']))
    h, w = shape
    if kind == 'noise':
        return draw(hnp.arrays(np.bool_, shape))
    if kind == 'empty':
        return np.zeros(shape, bool)
    if kind == 'full':
        return np.ones(shape, bool)
    mask = np.zeros(shape, bool)
    for _ in range(draw(st.integers(1, 4))):
        r0, c0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        r1, c1 = draw(st.integers(r0 + 1, h)), draw(st.integers(c0 + 1, w))
        mask[r0:r1, c0:c1] ^= True
    return mask


labels_st = st.one_of(st.none(), st.integers(-5, 2 ** 40), st.text(max_size=4),
                      st.binary(max_size=4), st.floats(allow_nan=False))
groups_st = st.one_of(st.none(), st.sampled_from(['a', 'b']),
                      st.lists(st.sampled_from(['a', 'b', 'c']), max_size=3))
iids_st = st.one_of(st.none(), st.tuples(st.sampled_from([b'wordnet', b'coco', 'text']),
                                         st.binary(max_size=3) | st.sampled_from(['x', 'y'])))


@st.composite
def segment_sets(draw, max_segments=6):
    """(shape, [(full mask, label, iid, group), ...])"""
    shape = draw(shapes())
    items = draw(st.lists(st.tuples(masks_of(shape), labels_st, iids_st, groups_st),
                          max_size=max_segments))
    return shape, items


def build(shape, items, meta=None):
    segments = Segments(shape=shape, meta=meta)
    for mask, label, iid, group in items:
        segments.add(mask, label=label, iid=iid, group=group)
    return segments


def through_msgpack(segments):
    """Encode, pack as a sample field with datadings_like's msgpack, unpack, decode."""
    sample = unpackb(packb({'key': 'k', 'segments': segments.encode()}))
    return Segments.decode(sample['segments'])


def tight_bbox(mask):
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return (0, 0, 0, 0)
    return (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)


def as_iid(iid):
    if iid is None:
        return None
    return IID(*(v.encode() if isinstance(v, str) else v for v in iid))


def group_names(group):
    if group is None:
        return ()
    return (group,) if isinstance(group, str) else tuple(dict.fromkeys(group))


def plain(value):
    """Whether value holds only plain msgpack types (no numpy, no objects)."""
    if isinstance(value, dict):
        return all(type(k) is str and plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str, bytes)


def flood_labels(mask, connectivity):
    """Brute-force connected components: breadth-first flood fill."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 8:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    n = 0
    for r in range(h):
        for c in range(w):
            if mask[r, c] and not labels[r, c]:
                n += 1
                labels[r, c] = n
                queue = deque([(r, c)])
                while queue:
                    y, x = queue.popleft()
                    for dy, dx in steps:
                        v, u = y + dy, x + dx
                        if 0 <= v < h and 0 <= u < w and mask[v, u] and not labels[v, u]:
                            labels[v, u] = n
                            queue.append((v, u))
    return labels, n


# ------------------------------------------------- connected components

@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), connectivity=st.sampled_from([4, 8]))
def test_label_regions_matches_flood_fill(data, connectivity):
    shape = data.draw(shapes(max_side=20))
    mask = data.draw(masks_of(shape))
    labels, n = label_regions(mask, connectivity)
    expected, m = flood_labels(mask, connectivity)
    assert n == m
    assert labels.dtype == np.int32 and labels.tolist() == expected.tolist()


def test_label_regions_matches_scipy():
    ndimage = pytest.importorskip('scipy.ndimage')
    rng = np.random.default_rng(3)
    for _ in range(100):
        h, w = rng.integers(1, 60, 2)
        mask = rng.random((h, w)) < rng.random()
        for connectivity, structure in ((4, None), (8, np.ones((3, 3)))):
            labels, n = label_regions(mask, connectivity)
            expected, m = ndimage.label(mask, structure=structure)
            assert n == m and (labels == expected).all()


def test_label_regions_spiral_and_errors():
    # a long spiral is one region (many rounds of union-find)
    mask = np.zeros((41, 41), bool)
    top, left, bottom, right = 0, 0, 40, 40
    while top <= bottom and left <= right:
        mask[top, left:right + 1] = mask[top:bottom + 1, right] = True
        mask[bottom, left:right + 1] = True
        mask[top + 2:bottom + 1, left] = True
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
        if top <= bottom:
            mask[top, left - 2:left] = True
    labels, n = label_regions(mask, 4)
    assert n == flood_labels(mask, 4)[1]
    with pytest.raises(SegmentsError):
        label_regions(mask, 6)
    with pytest.raises(SegmentsError):
        label_regions(np.zeros((2, 2, 2)))


# ------------------------------------------------------------ round trip

@settings(max_examples=150, **SETTINGS)
@given(segment_sets())
def test_random_masks_round_trip(case):
    shape, items = case
    meta = {'camera': 'x', 'focal': 1.5, 'n': [1, 2]}
    encoded = build(shape, items, meta).encode()
    assert plain(encoded)
    segments = through_msgpack(build(shape, items, meta))
    assert len(segments) == len(items) and segments.shape == shape and segments.meta == meta
    groups = {}
    for key, (mask, label, iid, group) in enumerate(items):
        entry = segments[key]
        assert entry.key == key
        assert entry.bbox == tight_bbox(mask)
        assert entry.area == int(mask.sum())
        assert entry.label == label and entry.iid == as_iid(iid)
        assert entry.groups == tuple(g for g in dict.fromkeys(
            g for k, (_, _, _, gr) in enumerate(items) for g in group_names(gr))
            if g in group_names(group))
        r0, c0, r1, c1 = entry.bbox
        assert entry.mask.shape == (r1 - r0, c1 - c0)
        assert entry.mask.tolist() == mask[r0:r1, c0:c1].tolist()
        assert entry.full_mask().tolist() == mask.tolist()
        assert not entry.mask.flags.writeable
        for g in group_names(group):
            groups.setdefault(g, []).append(key)
    assert segments.groups == {g: tuple(k) for g, k in groups.items()}
    # encoding a decoded value gives the same value again
    assert through_msgpack(segments).encode() == encoded


@settings(max_examples=100, **SETTINGS)
@given(data=st.data())
def test_add_with_bbox_places_the_mask(data):
    h, w = data.draw(shapes())
    r0, c0 = data.draw(st.integers(0, h)), data.draw(st.integers(0, w))
    r1, c1 = data.draw(st.integers(r0, h)), data.draw(st.integers(c0, w))
    part = data.draw(hnp.arrays(np.uint8, (r1 - r0, c1 - c0), elements=st.integers(0, 3)))
    segments = Segments(shape=(h, w))
    segments.add(part, bbox=(r0, c0, r1, c1))
    full = np.zeros((h, w), bool)
    full[r0:r1, c0:c1] = part != 0
    entry = through_msgpack(segments)[0]
    assert entry.full_mask().tolist() == full.tolist()
    assert entry.bbox == tight_bbox(full) and entry.area == int(full.sum())


def test_shape_comes_from_the_first_full_size_mask():
    segments = Segments()
    segments.add(np.ones((2, 3)), bbox=(5, 5, 7, 8))       # no shape: any box
    assert segments.shape is None
    segments.add(np.zeros((10, 12)))
    assert segments.shape == (10, 12)
    with pytest.raises(SegmentsError, match='image shape'):
        segments.add(np.zeros((10, 11)))
    assert len(segments) == 2


# --------------------------------------------------------- storage

def test_scattered_mask_is_split_into_regions():
    mask = np.zeros((400, 400), bool)
    mask[10:30, 10:40] = True
    mask[350:390, 300:330] = True
    mask[200, 5] = True
    segments = Segments()
    segments.add(mask)
    regions = segments.encode()['regions'][0]
    # [minr, minc, height, width, buffer]
    assert sorted(tuple(r[:4]) for r in regions) == [
        (10, 10, 20, 30), (200, 5, 1, 1), (350, 300, 40, 30)]
    # each region holds only its own pixels, compressed where that is shorter
    for a, b, h, w, data in regions:
        size = (h * w + 7) // 8
        assert len(data) < size or data == np.packbits(mask[a:a + h, b:b + w]).tobytes()
        assert masks._unpack(data, h, w, '').tolist() == mask[a:a + h, b:b + w].tolist()
    single = len(zlib.compress(np.packbits(mask[10:390, 5:330]).tobytes(), 9))
    assert len(packb(regions)) < single


def test_noise_is_kept_as_one_region():
    mask = np.random.default_rng(0).random((200, 200)) < 0.05
    segments = Segments()
    segments.add(mask)
    assert len(segments.encode()['regions'][0]) == 1
    assert through_msgpack(segments)[0].full_mask().tolist() == mask.tolist()


def test_decoding_is_lazy(monkeypatch):
    mask = np.zeros((400, 400), bool)
    mask[1:5, 1:5] = mask[300:310, 300:315] = True
    segments = Segments()
    segments.add(mask, label=1)
    segments.add(np.eye(400, dtype=bool), label=2)
    value = unpackb(packb(segments.encode()))
    calls = []
    real = masks._unpack
    monkeypatch.setattr(masks, '_unpack', lambda *a: calls.append(a[1:3]) or real(*a))
    decoded = Segments.decode(value)
    assert calls == [] and [e.area for e in decoded] == [16 + 150, 400]
    assert decoded.fetch(segs=False)[0].bbox == (1, 1, 310, 315) and calls == []
    # a point query decodes only the region under the point
    assert [e.key for e in decoded.at(2, 2)] == [0, 1]
    assert sorted(calls) == [(4, 4), (400, 400)]
    calls.clear()
    decoded.fetch(keys=[0])
    assert calls == [(10, 15)]     # the other region; the first was decoded already


# ------------------------------------------------------------- queries

def brute_overlap(full):
    graph = {}
    for a in range(len(full)):
        for b in range(a + 1, len(full)):
            n = int((full[a] & full[b]).sum())
            if n:
                graph[(a, b)] = n
    return graph


@settings(max_examples=120, **SETTINGS)
@given(case=segment_sets(), data=st.data())
def test_queries_agree_with_brute_force(case, data):
    shape, items = case
    h, w = shape
    segments = through_msgpack(build(shape, items))
    full = [m.astype(bool) for m, _, _, _ in items]
    keys = list(range(len(items)))

    x, y = data.draw(st.integers(-2, w + 1)), data.draw(st.integers(-2, h + 1))
    inside = 0 <= x < w and 0 <= y < h
    assert [e.key for e in segments.at(x, y)] == [k for k in keys if inside and full[k][y, x]]
    assert all(segments[k].covers(x, y) == (inside and bool(full[k][y, x])) for k in keys)

    r0, c0 = data.draw(st.integers(0, h)), data.draw(st.integers(0, w))
    r1, c1 = data.draw(st.integers(r0, h + 2)), data.draw(st.integers(c0, w + 2))
    assert [e.key for e in segments.region((r0, c0, r1, c1))] == \
        [k for k in keys if full[k][r0:r1, c0:c1].any()]

    def boxes_meet(k):
        a, b, c, d = tight_bbox(full[k])
        return full[k].any() and a < r1 and c > r0 and b < c1 and d > c0
    assert [e.key for e in segments.region((r0, c0, r1, c1), exact=False)] == \
        [k for k in keys if boxes_meet(k)]

    assert segments.compute_overlap() == brute_overlap(full)
    some = data.draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
    assert segments.compute_overlap(entries=some) == {
        (a, b): n for (a, b), n in brute_overlap(full).items() if a in some and b in some}

    low = data.draw(st.none() | st.integers(0, h * w))
    high = data.draw(st.none() | st.integers(0, h * w))
    group = data.draw(st.sampled_from([None, 'a', ['a', 'c'], 'nope']))
    wanted = None if group is None else set(group_names(group))

    def in_group(k):
        return wanted is None or bool(wanted & set(group_names(items[k][3])))
    assert [e.key for e in segments.filter(groups=group, area=(low, high))] == [
        k for k in keys if in_group(k) and (low is None or full[k].sum() >= low)
        and (high is None or full[k].sum() <= high)]
    assert [e.key for e in segments.fetch(groups=group, keys=some)] == \
        [k for k in sorted(some) if in_group(k)]

    address = data.draw(st.sampled_from([b'x', 'y', b'', b'\x00']))
    expected = [k for k in keys if items[k][2] is not None
                and as_iid(items[k][2]).address == (address.encode()
                                                    if isinstance(address, str) else address)]
    assert [e.key for e in segments.look_for([address])] == expected
    assert [e.key for e in segments.look_for(address, domain=b'coco')] == [
        k for k in expected if as_iid(items[k][2]).domain == b'coco']


def test_fetch_without_iids_and_filter_of_entries():
    segments = Segments(shape=(4, 4))
    for i in range(4):
        mask = np.zeros((4, 4), bool)
        mask[i, :i + 1] = True
        segments.add(mask, label=i % 2, iid=('d', str(i)), group='even' if i % 2 == 0 else 'odd')
    entries = segments.fetch(keys=range(3), iids=False, segs=False)
    assert [e.iid for e in entries] == [None] * 3 and [e.area for e in entries] == [1, 2, 3]
    assert [e.key for e in segments.filter(entries=entries, groups='even')] == [0, 2]
    assert [e.key for e in segments.filter(labels=[1])] == [1, 3]
    assert [e.key for e in segments.at(0, 3, entries=[1, 2])] == []
    assert segments.look_for([b'2', 'nope'])[0].iid == IID(b'd', b'2')
    with pytest.raises(IndexError):
        segments.fetch(keys=[4])
    with pytest.raises(IndexError):
        segments[-1]
    with pytest.raises(SegmentsError):
        segments.at(1.5, 2)


# -------------------------------------------------------- label images

@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_label_image_round_trip(data):
    shape = data.draw(shapes())
    image = data.draw(hnp.arrays(data.draw(st.sampled_from([np.uint8, np.uint16, np.int32])),
                                 shape, elements=st.integers(0, 6)))
    segments = through_msgpack(Segments.from_label_image(image, group='instances', domain='inst'))
    values = sorted(set(image.ravel().tolist()) - {0})
    assert [e.label for e in segments] == values
    assert [e.iid for e in segments] == [IID(b'inst', str(v).encode()) for v in values]
    assert segments.groups == ({'instances': tuple(range(len(values)))} if values else {})
    out = segments.to_label_image()
    assert out.shape == shape and out.tolist() == image.tolist()
    keys = segments.to_label_image(value='key', dtype=np.int64, background=-1)
    lookup = {v: k + 1 for k, v in enumerate(values)}
    assert keys.tolist() == [[lookup.get(v, -1) for v in row] for row in image.tolist()]


def test_label_image_with_classes_takes_the_most_frequent():
    instances = np.array([[1, 1, 1, 0], [2, 2, 0, 0]])
    classes = np.array([[7, 7, 5, 9], [3, 4, 9, 9]])
    segments = Segments.from_label_image(instances, labels=classes)
    assert [e.label for e in segments] == [7, 3]           # tie 3/4 -> 3
    assert segments.to_label_image().tolist() == [[7, 7, 7, 0], [3, 3, 0, 0]]
    with pytest.raises(SegmentsError):
        Segments.from_label_image(instances, labels=classes[:1])
    with pytest.raises(SegmentsError):
        Segments.from_label_image(np.zeros((2, 2), np.float32))


def test_to_label_image_last_segment_wins_and_needs_int_labels():
    segments = Segments(shape=(3, 3))
    segments.add(np.ones((3, 3)), label=1)
    segments.add(np.eye(3), label=300)
    out = segments.to_label_image()
    assert out.dtype == np.uint16 and out.tolist() == [[300, 1, 1], [1, 300, 1], [1, 1, 300]]
    segments.add(np.eye(3), label='cat')
    with pytest.raises(SegmentsError, match="value='key'"):
        segments.to_label_image()
    assert segments.to_label_image(value='key').max() == 3
    with pytest.raises(SegmentsError, match='shape'):
        Segments().to_label_image()


# ---------------------------------------------------------------- COCO

def test_rle_known_values():
    assert rle_encode(np.array([[0, 1], [1, 1]])) == {'size': [2, 2], 'counts': '13'}
    assert rle_encode(np.array([[0, 1], [1, 1]]), compressed=False) == \
        {'size': [2, 2], 'counts': [1, 3]}
    column = np.array([0] * 5 + [1] * 2 + [0] * 3 + [1]).reshape(11, 1)
    assert rle_encode(column)['counts'] == '523O'     # the last count as a difference, -1
    half = np.zeros((100, 100), bool)
    half[:, 50:] = True
    assert rle_encode(half)['counts'] == 'Xl4Xl4'
    assert rle_encode(np.ones((2, 2)), compressed=False)['counts'] == [0, 4]
    assert rle_encode(np.zeros((0, 3)), compressed=False)['counts'] == [0]
    for mask in (column, half, np.ones((3, 2), bool)):
        assert rle_decode(rle_encode(mask)).tolist() == mask.astype(bool).tolist()
    assert rle_decode({'size': [2, 2], 'counts': b'13'}).tolist() == [[False, True], [True, True]]


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_rle_round_trip(data):
    mask = data.draw(masks_of(data.draw(shapes(max_side=40))))
    for compressed in (True, False):
        rle = rle_encode(mask, compressed)
        assert rle_decode(rle).tolist() == mask.tolist()
        assert sum(rle_encode(mask, False)['counts']) == mask.size


def test_polygon_known_values():
    square = polygons_to_mask([[1, 1, 4, 1, 4, 3, 1, 3]], 5, 5)
    expected = np.zeros((5, 5), bool)
    expected[1:3, 1:4] = True
    assert square.tolist() == expected.tolist()
    # a triangle left of x = y: the centres (c + 0.5, r + 0.5) on that (right)
    # edge are outside
    triangle = polygons_to_mask([[0, 0, 4, 4, 0, 4]], 4, 4)
    assert triangle.astype(int).tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0],
                                             [1, 1, 1, 0]]
    # ... and those on the mirrored (left) edge inside
    mirrored = polygons_to_mask([[4, 0, 0, 4, 4, 4]], 4, 4)
    assert mirrored.astype(int).tolist() == [[0, 0, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1],
                                             [1, 1, 1, 1]]
    # two polygons: the union; partly outside the image: clipped
    both = polygons_to_mask([[0, 0, 2, 0, 2, 2, 0, 2], [-3, 3, 9, 3, 9, 9, -3, 9]], 5, 4)
    assert both.astype(int).tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0],
                                         [1, 1, 1, 1], [1, 1, 1, 1]]
    assert not polygons_to_mask([[0, 0, 3, 3]], 4, 4).any()          # not an area
    for bad in ([[0, 0, 1]], [[0, 0, 1, float('nan'), 2, 2]], [['a', 'b']], 'x'):
        with pytest.raises(SegmentsError):
            polygons_to_mask(bad, 4, 4)


def test_polygon_crossings_in_parts_give_the_same_mask(monkeypatch):
    rng = np.random.default_rng(8)
    polygons = [rng.uniform(-3, 43, 60).tolist(), rng.uniform(0, 40, 8).tolist()]
    whole = polygons_to_mask(polygons, 40, 40)
    assert 0 < whole.sum() < whole.size
    monkeypatch.setattr(masks, '_CROSSINGS', 5)
    assert polygons_to_mask(polygons, 40, 40).tolist() == whole.tolist()


def test_coco_annotations_round_trip():
    rle = rle_encode(np.eye(6, dtype=bool)[:, ::-1])
    annotations = [
        {'id': 11, 'category_id': 3, 'iscrowd': 0, 'segmentation': [[1, 1, 4, 1, 4, 3, 1, 3]]},
        {'id': 12, 'category_id': 5, 'iscrowd': 1, 'segmentation': rle},
        {'category_id': 5, 'segmentation': {'size': [6, 6], 'counts': [6, 30]}},
    ]
    segments = through_msgpack(Segments.from_coco(annotations, shape=(6, 6)))
    assert [e.label for e in segments] == [3, 5, 5]
    assert [e.iid for e in segments] == [IID(b'coco', b'11'), IID(b'coco', b'12'), None]
    assert segments.groups == {'crowd': (1,)}
    assert segments[1].to_coco_rle() == rle
    out = segments.to_coco()
    assert out[0]['bbox'] == [1, 1, 3, 2] and out[0]['area'] == 6 and out[0]['id'] == '11'
    assert [a['iscrowd'] for a in out] == [0, 1, 0] and out[1]['segmentation'] == rle
    assert 'id' not in out[2] and out[2]['area'] == 30
    with pytest.raises(SegmentsError, match='annotation 0'):
        Segments.from_coco([{'segmentation': [[1, 2, 3]]}], shape=(4, 4))
    with pytest.raises(SegmentsError, match='does not fit'):
        Segments(shape=(5, 6)).add_coco(rle)
    with pytest.raises(SegmentsError, match='shape'):
        Segments().add_coco([[1, 1, 4, 1, 4, 3]])


@pytest.mark.parametrize('rle', [
    {'size': [2, 2], 'counts': [1, 2]},                 # 3 of 4 pixels
    {'size': [2, 2], 'counts': [1, -1, 4]},
    {'size': [2, 2], 'counts': '1'},
    {'size': [2, 2], 'counts': '1\x7f'},                # invalid character
    {'size': [2, 2], 'counts': 'o'},                    # continuation, then nothing
    {'size': [2, 2], 'counts': 'oooooooooooooooooooooooo1'},   # absurd number
    {'size': [2, 2], 'counts': 'é'},
    {'size': [-1, 2], 'counts': []},
    {'size': [2 ** 20, 2 ** 20], 'counts': [2 ** 40]},  # beyond MAX_PIXELS
    {'size': [2, 2]},
    {'size': [2, 2], 'counts': 4},
    [1, 2],
])
def test_bad_rle_raises(rle):
    with pytest.raises(SegmentsError):
        rle_decode(rle)


@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_rle_and_polygons_match_pycocotools():
    coco = pytest.importorskip('pycocotools.mask')
    rng = np.random.default_rng(5)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        mask = rng.random((h, w)) < rng.random()
        ref = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle_encode(mask) == {'size': list(ref['size']), 'counts': ref['counts'].decode()}
        assert rle_decode(ref).tolist() == mask.tolist()
    # rasterisation rules differ only for pixels whose centre is within half a
    # pixel of the outline
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(5, 60, 2))
        n = int(rng.integers(3, 9))
        poly = np.c_[rng.uniform(-5, w + 5, n), rng.uniform(-5, h + 5, n)]
        if rng.random() < 0.5:
            poly = np.round(poly)
        ref = coco.decode(coco.merge(coco.frPyObjects([poly.ravel().tolist()], h, w)))
        ours = polygons_to_mask([poly.ravel().tolist()], h, w)
        a, d = poly, np.roll(poly, -1, 0) - poly
        for r, c in zip(*np.nonzero(ref.astype(bool) != ours)):
            p = np.array([c + 0.5, r + 0.5])
            t = np.clip(((p - a) * d).sum(1) / np.maximum((d * d).sum(1), 1e-12), 0, 1)
            assert np.hypot(*(p - a - t[:, None] * d).T).min() < 0.5


# ---------------------------------------------------------- bad input

def test_add_rejects_bad_input_and_adds_nothing():
    segments = Segments(shape=(4, 5))
    bad = [
        dict(mask=np.ones((4, 4))),                                  # not the image shape
        dict(mask=np.ones((2, 2)), bbox=(3, 3, 5, 5)),               # outside the image
        dict(mask=np.ones((2, 2)), bbox=(0, 0, 2, 3)),               # shape != box
        dict(mask=np.ones((2, 2)), bbox=(2, 2, 0, 0)),
        dict(mask=np.ones((2, 2)), bbox=(-1, 0, 1, 2)),
        dict(mask=np.ones((2, 2)), bbox=(0, 0, 2.0, 2)),
        dict(mask=np.ones((2, 2)), bbox=(0, 0, 2)),
        dict(mask=np.ones(5)),
        dict(mask=np.array([['a']])),
        dict(mask=np.ones((4, 5)), label={'a': 1}),
        dict(mask=np.ones((4, 5)), iid=b'address'),
        dict(mask=np.ones((4, 5)), iid=(1, 2)),
        dict(mask=np.ones((4, 5)), group=3),
        dict(mask=np.ones((4, 5)), group=['a', 3]),
    ]
    for kwargs in bad:
        with pytest.raises(SegmentsError):
            segments.add(**kwargs)
    assert len(segments) == 0 and segments.groups == {}
    for shape in ((3,), (-1, 2), (1 << 15, 1 << 14 | 1), (2.0, 3)):
        with pytest.raises(SegmentsError):
            Segments(shape=shape)
    with pytest.raises(SegmentsError):
        Segments(meta=[1])


def valid_value():
    """Segment 0: two rectangles (two regions), 1: stripes with holes (one
    compressed region), 2: empty."""
    mask = np.zeros((40, 60), bool)
    mask[2:6, 3:9] = True
    mask[30:38, 45:55] = True
    segments = Segments(shape=(40, 60), meta={'a': 1})
    segments.add(mask, label=1, iid=('d', 'a'), group='g')
    stripes = np.indices((20, 30)).sum(0) % 3 == 0
    stripes[np.random.default_rng(0).random((20, 30)) < 0.1] = False
    segments.add(stripes, bbox=(1, 2, 21, 32), label='x')
    segments.add(np.zeros((40, 60)))
    value = unpackb(packb(segments.encode()))
    assert len(value['regions'][0]) == 2 and len(value['regions'][1]) == 1
    assert len(value['regions'][1][0][4]) < 75
    return value


def _set(path, new):
    def change(value):
        value = copy.deepcopy(value)
        target = value
        for part in path[:-1]:
            target = target[part]
        if new is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = new(target[path[-1]]) if callable(new) else new
        return value
    return change


_DELETE = object()
_BOMB = zlib.compress(bytes(1 << 20), 9)
HOSTILE = {
    'not a dict': lambda v: [v],
    'wrong format': _set(['format'], 'iid'),
    'future version': _set(['version'], 2),
    'bool version': _set(['version'], True),
    'no regions': _set(['regions'], _DELETE),
    'shape of 3': _set(['shape'], [20, 30, 3]),
    'absurd shape': _set(['shape'], [1 << 20, 1 << 20]),
    'negative shape': _set(['shape'], [-20, 30]),
    'meta not a dict': _set(['meta'], [1]),
    'bboxes not a list': _set(['bboxes'], {'0': 1}),
    'uneven columns': _set(['areas'], [1]),
    'bbox outside image': _set(['bboxes', 0], [2, 3, 38, 61]),
    'bbox of 3': _set(['bboxes', 0], [2, 3, 18]),
    'bbox of floats': _set(['bboxes', 0], [2.0, 3, 18, 28]),
    'bbox of bools': _set(['bboxes', 0], [True, 3, 18, 28]),
    'inverted bbox': _set(['bboxes', 0], [18, 28, 2, 3]),
    'area above bbox': _set(['areas', 0], 10 ** 6),
    'negative area': _set(['areas', 1], -1),
    'area of empty box': _set(['areas', 2], 1),
    'empty box elsewhere': _set(['bboxes', 2], [5, 5, 5, 5]),
    'label is a dict': _set(['labels', 0], {'a': 1}),
    'iid of 3': _set(['iids', 0], [b'a', b'b', b'c']),
    'iid of ints': _set(['iids', 0], [1, 2]),
    'group not a list': _set(['groups', 'g'], 0),
    'group key out of range': _set(['groups', 'g'], [0, 3]),
    'group key negative': _set(['groups', 'g'], [-1]),
    'regions of a segment not a list': _set(['regions', 0], b'x'),
}
# damage found when the mask is first used
HOSTILE_REGIONS = {
    'region of 4': _set(['regions', 0, 0], lambda r: r[:4]),
    'region buffer as str': _set(['regions', 0, 0, 4], 'abc'),
    'region outside segment': _set(['regions', 0, 0, 0], 1),
    'empty region': _set(['regions', 0, 0], lambda r: [r[0], r[1], 0, r[3], r[4]]),
    'negative region size': _set(['regions', 0, 0, 3], -2),
    'region bbox not tight': _set(['regions', 0], lambda rs: rs[:1]),
    'buffer too long': _set(['regions', 0, 0, 4], lambda d: d + bytes(4)),
    'buffer too short': _set(['regions', 0, 0, 4], lambda d: d[:-1]),
    'buffer damaged': _set(['regions', 1, 0, 4], lambda d: d[:5] + bytes(5) + d[10:]),
    'trailing garbage': _set(['regions', 1, 0, 4], lambda d: d[:-3] + b'xyz'),
    'zip bomb': _set(['regions', 1, 0, 4], _BOMB),
    'extra region': _set(['regions', 0], lambda rs: rs + [[6, 3, 1, 1, b'\x80']]),
    'area does not match': _set(['areas', 0], 23),
    'area but no regions': _set(['regions', 0], []),
}


@pytest.mark.parametrize('name', sorted(HOSTILE))
def test_hostile_table_raises_on_decode(name):
    value = HOSTILE[name](valid_value())
    with pytest.raises(SegmentsError):
        Segments.decode(value)


@pytest.mark.parametrize('name', sorted(HOSTILE_REGIONS))
def test_hostile_regions_raise_on_first_use(name):
    value = HOSTILE_REGIONS[name](valid_value())
    segments = Segments.decode(value)   # the table is fine
    with pytest.raises(SegmentsError, match='segment'):
        segments.check()
    with pytest.raises(SegmentsError):
        Segments.decode(value).encode()
    with pytest.raises(SegmentsError):
        [e.mask for e in Segments.decode(value)]


def test_hostile_sizes_allocate_nothing_large():
    value = valid_value()
    # a region claiming 16384x16384 pixels (32 MiB of bits) from 7 bytes, and
    # a segment box that size
    big = 1 << 14
    value['shape'] = [big, big]
    value['bboxes'][0] = [0, 0, big, big]
    value['regions'][0] = [[0, 0, big, big, zlib.compress(b'\xff' * 3)[2:-4]]]
    value['areas'][0] = 1
    segments = Segments.decode(value)
    tracemalloc.start()
    try:
        with pytest.raises(SegmentsError, match='cannot hold'):
            segments.at(5, 5)
        with pytest.raises(SegmentsError, match='cannot hold'):
            segments.check()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    # a box beyond MAX_PIXELS without an image shape
    value = valid_value()
    value['shape'] = None
    value['bboxes'][0] = [0, 0, 1 << 20, 1 << 20]
    with pytest.raises(SegmentsError, match='MAX_PIXELS'):
        Segments.decode(value)
    assert MAX_PIXELS == 1 << 28


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-3, 1 << 70), st.floats(),
                  st.binary(max_size=20), st.text(max_size=5),
                  st.lists(st.integers(-2, 40), max_size=6))


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_fuzzed_values_decode_or_raise_segments_error(data):
    value = valid_value()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(value) if p]
        path = data.draw(st.sampled_from(paths))
        target = value
        for part in path[:-1]:
            target = target[part]
        old = target[path[-1]]
        if isinstance(old, bytes) and data.draw(st.booleans()):
            cut = data.draw(st.integers(0, len(old)))
            new = old[:cut] + data.draw(st.binary(max_size=4)) + old[cut + 1:]
        else:
            new = data.draw(_leaf)
        target[path[-1]] = new
    try:
        segments = Segments.decode(value)
        segments.check()
        segments.at(4, 3)
        segments.region((0, 0, 10, 10))
        segments.compute_overlap()
        encoded = segments.encode()
    except SegmentsError:
        return
    assert plain(encoded)


# ------------------------------------------------------- in a dataset

def _segments_dataset(path):
    image = np.zeros((16, 24), np.uint16)
    image[2:6, 2:10] = 1000
    image[8:15, 1:4] = 7
    image[9:12, 15:22] = 65535
    segments = Segments.from_label_image(image, group='instances', domain='ids')
    segments.meta['source'] = 'test'
    with FileWriter(path, disable=True) as writer:
        writer.write({'key': 'a', 'label': 1, 'segments': segments.encode()})
    return image


def test_field_in_a_dataset_reads_with_every_reader(tmp_path):
    path = tmp_path / 'seg.msgpack'
    image = _segments_dataset(path)
    with MsgpackReader(path) as reader:
        sample = reader[0]
        raw = reader.get(0, raw=True)
    segments = Segments.decode(sample['segments'])
    assert segments.to_label_image().tolist() == image.tolist()
    assert segments.meta == {'source': 'test'}
    assert Segments.decode(unpackb(raw)['segments']).encode() == sample['segments']
    for tool, args in (('cat', ['-n', '1']), ('info', []), ('verify', [])):
        proc = subprocess.run([sys.executable, '-m', f'datadings_like.commands.{tool}',
                               *args, str(path)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        assert proc.returncode == 0, (tool, proc.stderr)
    proc = subprocess.run([sys.executable, '-m', 'datadings_like.commands.cat', '--json', '-n',
                           '1', str(path)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0 and '"segments"' in proc.stdout


def test_field_reads_with_datadings(tmp_path):
    reference = os.environ.get('DATADINGS_REFERENCE_PYTHON')
    if not reference:
        pytest.skip('DATADINGS_REFERENCE_PYTHON is not set')
    path = tmp_path / 'seg.msgpack'
    _segments_dataset(path)
    script = ('import sys\nfrom datadings.reader import MsgpackReader\n'
              'r = MsgpackReader(sys.argv[1])\ns = r.get(0)["segments"]\n'
              'print(s["format"], s["areas"], s["labels"], len(s["regions"][0][0][4]) > 0)\n')
    proc = subprocess.run([reference, '-c', script, str(path)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ['segments', '[21,', '32,', '21]', '[7,', '1000,', '65535]',
                                   'True']


# ------------------------------------------------------------ the manual

def test_manual_examples_print_what_they_say(tmp_path, monkeypatch, capsys):
    """The Python examples of docs/masks.rst run, and print what their
    comments after ``print(...)`` say."""
    import re
    from pathlib import Path
    page = Path(__file__).resolve().parent.parent / 'docs' / 'masks.rst'
    if not page.exists():
        pytest.skip('docs/masks.rst is not there')
    blocks = re.findall(r'\.\. code-block:: python\n\n((?:    .*\n|\n)+)', page.read_text())
    monkeypatch.chdir(tmp_path)
    ran = 0
    for block in blocks:
        code = '\n'.join(line[4:] for line in block.split('\n'))
        if 'data/ade20k' in code:      # needs the real dataset
            continue
        expected, after_print = [], False
        for line in code.split('\n'):
            text, _, comment = line.partition('  # ')
            if line.strip().startswith('# ') and after_print:
                expected.append(line.strip()[2:])
            elif 'print(' in text and comment:
                expected.append(comment.strip())
            after_print = 'print(' in text
        exec(compile(code, str(page), 'exec'), {})
        printed = capsys.readouterr().out.splitlines()
        for want in expected:
            assert any(line.strip() == want for line in printed), (want, printed)
        ran += 1
    assert ran == 3
