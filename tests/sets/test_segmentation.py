"""
Tests of the shared segmentation tools: class counting, median-frequency
weights, statistics files, colour mapping, zip members.

The label maps are small and their counts are worked out by hand in the
comments, so the expected numbers are independent of the code under test.
"""
import io
import json
import lzma
import os
import tracemalloc
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.sets import segmentation as seg
from datadings_like.sets import tools as sets_tools
from datadings_like.sets.segmentation import ClassCounter
from datadings_like.tools.cli import UserError

# Two maps, void = 255:
#   A (2x4): 0 0 1 1 / 0 255 255 1  -> class 0: 3, class 1: 3, void 2; 6 counted
#   B (2x3): 0 2 2 / 2 2 2          -> class 0: 1, class 2: 5;         6 counted
MAP_A = np.array([[0, 0, 1, 1], [0, 255, 255, 1]], np.uint8)
MAP_B = np.array([[0, 2, 2], [2, 2, 2]], np.uint8)


def counted():
    return ClassCounter(num_classes=4, ignore_index=255).update(MAP_A).update(MAP_B)


def test_counts_of_known_maps():
    c = counted()
    assert c.pixels.tolist() == [4, 3, 5, 0]
    # class 0 occurs in A and B (6 + 6), class 1 in A, class 2 in B
    assert c.image_pixels.tolist() == [12, 6, 6, 0]
    assert c.images.tolist() == [2, 1, 1, 0]
    # shares of the counted pixels: A 3/6, 3/6; B 1/6, 5/6
    assert c.fractions.tolist() == pytest.approx([3 / 6 + 1 / 6, 3 / 6, 5 / 6, 0])
    assert c.samples == 2
    assert c.ignored == 2
    assert c.indexes() == [0, 1, 2]
    assert c.frequencies().tolist() == pytest.approx([4 / 12, 3 / 6, 5 / 6, 0])


def test_median_frequency_weights_of_known_maps():
    # freq = 1/3, 1/2, 5/6 -> median 1/2 -> weights 1.5, 1, 0.6; class 3 absent: 0
    assert counted().weights() == pytest.approx([1.5, 1.0, 0.6, 0.0])
    assert seg.median_frequency_weights(counted()) == pytest.approx([1.5, 1.0, 0.6, 0.0])
    assert seg.median_frequency_weights([4, 3, 5, 0], [12, 6, 6, 0]) == \
        pytest.approx([1.5, 1.0, 0.6, 0.0])


def test_weights_from_counts_alone_follow_datadings():
    # datadings 3.4.7: freq = counts / sum(counts), weight = median(freq) / freq
    counts = [1.0, 2.0, 4.0, 8.0]
    assert seg.median_frequency_weights(counts) == pytest.approx([3, 1.5, 0.75, 0.375])
    weights = seg.median_frequency_weights(counts)
    assert all(type(w) is float for w in weights)


def test_weights_edge_cases():
    assert seg.median_frequency_weights([0, 0]) == [0.0, 0.0]
    assert seg.median_frequency_weights([]) == []
    with pytest.raises(ValueError):
        seg.median_frequency_weights([1, -1])
    with pytest.raises(ValueError):
        seg.median_frequency_weights([1, 2], [1])


def test_without_ignore_index_every_value_counts():
    c = ClassCounter().update(MAP_A)
    assert len(c) == 256
    assert c.pixels[255] == 2 and c.pixels[0] == 3
    assert c.image_pixels[0] == 8
    assert c.ignored == 0


def test_counter_grows_and_merges():
    a = ClassCounter(ignore_index=255).update(MAP_A)
    assert len(a) == 2
    b = ClassCounter(ignore_index=255).update(MAP_B)
    a.merge(b)
    ref = counted()
    assert a.pixels.tolist() == ref.pixels[:3].tolist()
    assert a.image_pixels.tolist() == ref.image_pixels[:3].tolist()
    assert a.fractions.tolist() == pytest.approx(ref.fractions[:3].tolist())
    assert a.samples == 2 and a.ignored == 2
    with pytest.raises(ValueError):
        a.merge(ClassCounter(ignore_index=0))


def test_all_void_map_counts_as_a_sample():
    c = ClassCounter(3, ignore_index=255).update(np.full((2, 2), 255, np.uint8))
    assert c.samples == 1 and c.ignored == 4
    assert c.pixels.tolist() == [0, 0, 0]


@pytest.mark.parametrize('bad', [
    np.zeros((2, 2), np.float32),
    np.array([[0, -1]], np.int16),
    np.array([[1 << 20]], np.int32),
])
def test_bad_label_maps(bad):
    with pytest.raises(ValueError):
        ClassCounter().update(bad)


def test_bool_and_16bit_maps():
    c = ClassCounter().update(np.array([[True, False]]))
    assert c.pixels.tolist() == [1, 1]
    c = ClassCounter().update(np.array([[3000, 3000, 1]], np.uint16))
    assert c.pixels[3000] == 2 and len(c) == 3001


def test_count_classes_streams(capsys):
    gen = (MAP_A if i % 2 else MAP_B for i in range(10))
    c = seg.count_classes(gen, num_classes=3, ignore_index=255, quiet=True)
    assert c.samples == 10
    assert c.pixels.tolist() == [5 * 4, 5 * 3, 5 * 5]


def test_memory_does_not_grow_with_the_number_of_maps():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 150, size=(64, 64), dtype=np.uint8)

    def peak(n):
        tracemalloc.start()
        seg.count_classes((m for _ in range(n)), num_classes=150, quiet=True)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak(50), peak(2000)
    assert big < small * 1.5 + 65536, (small, big)


def test_statistics_file_round_trip(tmp_path):
    path = tmp_path / 'sub' / 'X_counts.json'
    stats = seg.write_statistics(path, counted(), extra={'CLASSES': ['a', 'b', 'c', 'd']})
    on_disk = json.loads(path.read_text())
    assert on_disk == stats
    assert on_disk['INDEXES'] == [0, 1, 2]
    assert on_disk['COUNTS'] == pytest.approx([4 / 6, 3 / 6, 5 / 6])
    assert on_disk['PIXELS'] == [4, 3, 5]
    assert on_disk['IMAGE_PIXELS'] == [12, 6, 6]
    assert on_disk['WEIGHTS'] == pytest.approx([1.5, 1.0, 0.6])
    assert on_disk['IGNORE_INDEX'] == 255 and on_disk['SAMPLES'] == 2
    assert on_disk['CLASSES'] == ['a', 'b', 'c', 'd']
    assert os.listdir(path.parent) == ['X_counts.json']
    assert seg.read_statistics(path)['COUNTS'] == on_disk['COUNTS']
    # no terminal: an existing file is not replaced without overwrite
    with pytest.raises(FileExistsError):
        seg.write_statistics(path, ClassCounter(1).update(np.zeros((1, 1), np.uint8)))
    assert json.loads(path.read_text()) == stats
    seg.write_statistics(path, ClassCounter(1).update(np.zeros((1, 1), np.uint8)),
                         overwrite=True)
    assert json.loads(path.read_text())['SAMPLES'] == 1


def test_read_statistics_of_datadings_files(tmp_path):
    path = tmp_path / 'ADE20k_counts.json.xz'
    with lzma.open(path, 'wt') as f:
        json.dump({'INDEXES': [0, 5], 'COUNTS': [1.5, 2.5]}, f)
    assert seg.read_statistics(path) == {'INDEXES': [0, 5], 'COUNTS': [1.5, 2.5]}
    bad = tmp_path / 'bad.json'
    bad.write_text('{"INDEXES": [1]}')
    with pytest.raises(UserError, match='bad.json'):
        seg.read_statistics(bad)
    bad.write_text('{')
    with pytest.raises(UserError, match='bad.json'):
        seg.read_statistics(bad)


def test_print_values(capsys):
    seg.print_values('COUNTS', [1, 2.5])
    assert capsys.readouterr().out == 'COUNTS = [\n    1,\n    2.5,\n]\n'
    seg.print_statistics('train', counted().statistics())
    out = capsys.readouterr().out
    assert out.startswith('train weights\n2 samples analyzed\nINDEXES = [\n    0,\n')
    assert 'WEIGHTS = [\n    1.5,\n    1.0,\n    0.6' in out
    assert seg.sorted_values({2: 'b', 1: 'a'}) == ['a', 'b']


def test_colors_to_indices():
    colors = [(0, 0, 0), (128, 0, 0), (0, 128, 0)]
    image = np.array([[(0, 0, 0), (0, 128, 0)], [(224, 224, 192), (128, 0, 0)]], np.uint8)
    out = seg.colors_to_indices(image, colors, extra={(224, 224, 192): 255})
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 2], [255, 1]]
    with pytest.raises(ValueError, match=r'\(224, 224, 192\)'):
        seg.colors_to_indices(image, colors)
    assert seg.colors_to_indices(image, colors, unmatched=9).tolist() == [[0, 2], [9, 1]]
    # a colour listed twice maps to its first class
    assert seg.colors_to_indices(image[:1, :1], [(1, 1, 1), (0, 0, 0), (0, 0, 0)]).tolist() == [[1]]
    assert seg.indices_to_colors(out[:1], [(0, 0, 0), (128, 0, 0), (0, 128, 0)]).tolist() == \
        [[[0, 0, 0], [0, 128, 0]]]


def _png(image):
    bio = io.BytesIO()
    image.save(bio, 'PNG')
    return bio.getvalue()


def test_decode_label_map():
    p = Image.fromarray(np.array([[0, 5], [255, 1]], np.uint8), 'P')
    p.putpalette([7] * 768)
    assert seg.decode_label_map(_png(p)).tolist() == [[0, 5], [255, 1]]
    rgba = Image.fromarray(np.full((1, 2, 4), 9, np.uint8), 'RGBA')
    assert seg.decode_label_map(_png(rgba)).shape == (1, 2, 3)
    i16 = Image.fromarray(np.array([[3000, 1]], np.uint16))
    assert seg.decode_label_map(_png(i16)).tolist() == [[3000, 1]]
    with pytest.raises(UserError, match='member.png'):
        seg.decode_label_map(b'no image', 'member.png')


def test_zip_members(tmp_path):
    path = tmp_path / 'a.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('dir/x.txt', b'hello')
    with sets_tools.open_zip(path) as zf:
        assert sets_tools.read_member(zf, 'dir/x.txt') == b'hello'
        with pytest.raises(UserError, match='dir/y.txt not found'):
            sets_tools.read_member(zf, 'dir/y.txt')
        with pytest.raises(UserError, match='too big'):
            sets_tools.read_member(zf, 'dir/x.txt', max_size=2)
    damaged = tmp_path / 'damaged.zip'
    data = bytearray(path.read_bytes())
    start = data.index(b'hello')
    data[start:start + 5] = b'HELLO'
    damaged.write_bytes(bytes(data))
    with sets_tools.open_zip(damaged) as zf:
        with pytest.raises(UserError, match='damaged.zip: dir/x.txt'):
            sets_tools.read_member(zf, 'dir/x.txt')
    (tmp_path / 'no.zip').write_bytes(b'not a zip')
    with pytest.raises(UserError, match='no.zip'):
        sets_tools.open_zip(tmp_path / 'no.zip')


def test_write_json(tmp_path):
    path = tmp_path / 'scenes.json'
    seg.write_json(path, ['café', 'bar'])
    assert json.loads(path.read_text(encoding='utf-8')) == ['café', 'bar']
    with pytest.raises(FileExistsError):
        seg.write_json(path, [])
    seg.write_json(path, [], overwrite=True)
    assert json.loads(path.read_text()) == []
    with pytest.raises(TypeError):
        seg.write_json(path, {1j}, overwrite=True)
    assert json.loads(path.read_text()) == [] and os.listdir(tmp_path) == ['scenes.json']
    with pytest.raises(UserError, match='is a directory'):
        seg.write_json(tmp_path, [], overwrite=True)
