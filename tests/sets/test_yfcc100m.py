"""
Tests of the YFCC100m reader, the rejection rules, the reject lists and
the scan that writes them.

The tests build miniature image packs laid out like those of the
pre-release: ``PACK.zip`` files named by ten hexadecimal digits, each
holding a directory entry ``PACK/`` and images ``PACK/HEX`` (no
extension), plus a member that is not an image. The images are made with
Pillow: JPEGs of noise, blank and nearly uniform ones, JPEGs padded with
comment segments to exact sizes (the 9218-byte placeholder, blank images
of more than 20000 bytes), cut-off JPEGs, a PNG, CMYK and greyscale
JPEGs, and bytes that are no image.

The comparisons with datadings 3.4.7 run its ``YFCC100mReader`` in the
reference interpreter on the same packs, with its module's pack counts
(``FILE_COUNTS``, ``FILES_TOTAL``) set to those of the miniature.
"""
import copy
import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.errors import DatasetError
from datadings_like.sets import YFCC100m
from datadings_like.sets import YFCC100m_counts
from datadings_like.sets.YFCC100m import YFCC100mReader
from datadings_like.sets.YFCC100m import rejection_reason
from datadings_like.sets.YFCC100m import validate_image
from sets.reference import NO_REFERENCE
from sets.reference import reference_python

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------ images

def _save(image, fmt='JPEG', **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def pad_jpeg(data, size):
    """Insert comment segments after SOI so the file has exactly ``size`` bytes."""
    assert data[:2] == b'\xff\xd8'
    missing = size - len(data)
    segments = []
    while missing > 0:
        n = min(missing, 65535 + 2)
        if 0 < missing - n < 4:  # a segment needs at least 4 bytes
            n -= 4
        segments.append(b'\xff\xfe' + (n - 2).to_bytes(2, 'big') + b'x' * (n - 4))
        missing -= n
    assert missing == 0, missing
    out = data[:2] + b''.join(segments) + data[2:]
    assert len(out) == size
    return out


def noise(w, h, seed, mode='RGB'):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)


def blocky(seed, w=8, h=6):
    """An image of 8x8 blocks of random colours (8w x 8h pixels)."""
    blocks = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(blocks.repeat(8, 0).repeat(8, 1))


def make_image(kind, seed):
    """Image bytes of a kind, and the reason the rules give (None: kept)."""
    if kind == 'noise':            # > 20000 bytes
        return _save(noise(200, 150, seed), quality=90), None
    if kind == 'detail':           # < 20000 bytes, varies from 8x8 block to block
        return pad_jpeg(_save(blocky(seed), quality=90), 6000 + seed % 100), None
    if kind == 'tiny':             # < 2600 bytes
        return _save(noise(16, 16, seed), quality=90), 'too small'
    if kind == 'blank':            # < 20000 bytes, uniform
        data = _save(Image.new('RGB', (120, 90), (90, 120, 200)), quality=90)
        return pad_jpeg(data, 3000 + seed % 500), 'low variance'
    if kind == 'blank_big':        # uniform, but >= 20000 bytes: not tested for variance
        data = _save(Image.new('RGB', (120, 90), (30, 30, 30)), quality=90)
        return pad_jpeg(data, 20000 + seed % 100), None
    if kind == 'stripes':          # each column uniform: no variance within columns
        x = np.tile((np.arange(80) * 37 % 256).astype(np.uint8), (60, 1))
        return pad_jpeg(_save(Image.fromarray(x), quality=95), 12000), 'low variance'
    if kind == 'bands':            # each row uniform: variance within columns
        y = np.tile((np.arange(60) * 37 % 256).astype(np.uint8)[:, None], (1, 80))
        return pad_jpeg(_save(Image.fromarray(y), quality=95), 12000), None
    if kind == 'placeholder':      # exactly 9218 bytes
        return pad_jpeg(_save(noise(40, 30, seed), quality=90), 9218), 'placeholder'
    if kind == 'cut':              # cut-off JPEG
        data = _save(noise(200, 150, seed), quality=90)
        return data[:len(data) // 2], 'damaged'
    if kind == 'garbage':
        return np.random.default_rng(seed).bytes(5000), 'damaged'
    if kind == 'png':
        return _save(noise(48, 40, seed), 'PNG'), None
    if kind == 'cmyk':
        return _save(noise(200, 150, seed, 'CMYK'), quality=90), None
    if kind == 'gray':
        return pad_jpeg(_save(blocky(seed).convert('L'), quality=90), 5000), None
    if kind == 'progressive':
        data = _save(blocky(seed), quality=90, progressive=True)
        return pad_jpeg(data, 7000), None
    raise ValueError(kind)


KINDS = ('noise', 'detail', 'tiny', 'blank', 'blank_big', 'stripes', 'bands', 'placeholder',
         'cut', 'garbage', 'png', 'cmyk', 'gray', 'progressive')


# ------------------------------------------------------------------ packs

def image_name(pack, i):
    return f'{pack}/{hashlib.md5(f"{pack}-{i}".encode()).hexdigest()[:16]}'


def make_packs(directory, layout, seed=0, compression=zipfile.ZIP_STORED):
    """
    Write packs ``{name: [kind, ...]}``; returns ``(counts, truth)`` with
    ``truth = {name: [(key, data, reason), ...]}`` in member order.
    """
    os.makedirs(directory, exist_ok=True)
    truth = {}
    for p, (name, kinds) in enumerate(layout.items()):
        entries = []
        with zipfile.ZipFile(os.path.join(directory, name + '.zip'), 'w', compression) as zf:
            zf.writestr(zipfile.ZipInfo(f'{name}/'), b'')
            for i, kind in enumerate(kinds):
                data, reason = make_image(kind, seed + 100 * p + i)
                key = image_name(name, i)
                zf.writestr(key, data)
                entries.append((key, data, reason))
                if i == 1:
                    zf.writestr(f'{name}/notes.txt', b'not an image')
        truth[name] = entries
    counts = [(name, len(kinds)) for name, kinds in layout.items()]
    return counts, truth


LAYOUT = {
    '00024a73d1': ['noise', 'detail', 'tiny', 'blank', 'png', 'noise', 'cmyk', 'gray',
                   'bands', 'detail', 'noise', 'stripes'],
    '01554691b5': [],
    '01b8317e5b': ['placeholder', 'noise', 'cut', 'blank_big', 'garbage', 'progressive',
                   'noise', 'detail'],
    '021b958684': ['detail', 'noise', 'noise'],
}
# reject lists: a set {3, 9} iterates as [9, 3] in CPython
REJECTS = {'00024a73d1': [3, 9], '01b8317e5b': [0, 2, 4], '021b958684': [1]}


@pytest.fixture(scope='module')
def packs(tmp_path_factory):
    directory = tmp_path_factory.mktemp('packs')
    counts, truth = make_packs(str(directory), LAYOUT)
    rejects = directory.parent / f'{directory.name}-rejects.msgpack.xz'
    YFCC100m.write_reject_file(rejects, REJECTS)
    return directory, counts, truth, rejects


def kept(truth, rejects):
    """[(key, data)] that a reader with these rejects gives, in order."""
    return [(key, data) for name, entries in truth.items()
            for i, (key, data, _) in enumerate(entries) if i not in rejects.get(name, ())]


# ----------------------------------------------------------------- rules

@pytest.mark.parametrize('kind', KINDS)
def test_rejection_rules(kind):
    data, reason = make_image(kind, 7)
    assert rejection_reason(data) == reason, (kind, len(data))
    assert validate_image(data) == (None if reason else data)


def test_rule_thresholds():
    blank = _save(Image.new('L', (64, 64), 128), quality=90)
    assert rejection_reason(pad_jpeg(blank, 2600)) == 'low variance'
    assert rejection_reason(pad_jpeg(blank, 19999)) == 'low variance'
    assert rejection_reason(pad_jpeg(blank, 20000)) is None
    assert rejection_reason(pad_jpeg(blank, 9218)) == 'placeholder'
    detail = _save(blocky(3), quality=90)
    assert rejection_reason(detail[:2599]) == 'too small'
    assert rejection_reason(pad_jpeg(detail, 9218)) == 'placeholder'
    assert rejection_reason(pad_jpeg(detail, 9219)) is None


def test_decode_fast_scales_jpegs():
    data = _save(noise(200, 150, 1), quality=90)
    pixels = YFCC100m.decode_fast(data)
    assert pixels.shape == (19, 25) and pixels.dtype == np.uint8
    png = _save(noise(48, 40, 1), 'PNG')
    assert YFCC100m.decode_fast(png).shape == (40, 48)
    with pytest.raises(Exception):
        YFCC100m.decode_fast(b'no image')


REFERENCE_RULES = textwrap.dedent('''
    import json, sys
    import numpy as np
    from datadings.sets.YFCC100m import decode_fast, validate_image
    out = {}
    for path in sys.argv[1:]:
        data = open(path, 'rb').read()
        try:
            pixels = decode_fast(data)
            pixels = pixels.reshape(pixels.shape[:2]).tolist()
        except Exception as exc:
            pixels = None
        out[path] = [validate_image(data) is not None, pixels]
    print(json.dumps(out))
''')


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
def test_rules_same_as_datadings(tmp_path):
    files = {}
    for seed in range(3):
        for kind in KINDS:
            data, reason = make_image(kind, seed)
            path = tmp_path / f'{kind}-{seed}'
            path.write_bytes(data)
            files[str(path)] = (kind, data)
    script = tmp_path / 'rules.py'
    script.write_text(REFERENCE_RULES)
    proc = subprocess.run([reference_python(), str(script), *files], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    for path, (kind, data) in files.items():
        accepted, pixels = theirs[path]
        assert (validate_image(data) is not None) == accepted, kind
        if kind not in ('cut', 'garbage', 'cmyk'):
            # the same grey pixels at the same scale (CMYK JPEGs: libjpeg-turbo
            # and Pillow convert CMYK to grey with different rounding)
            assert YFCC100m.decode_fast(data).tolist() == pixels, kind


# ---------------------------------------------------------------- reader

def test_reader_reads_the_packs(packs):
    directory, counts, truth, rejects = packs
    expected = kept(truth, REJECTS)
    with YFCC100mReader(directory, reject_file_paths=[rejects], counts=counts) as reader:
        assert len(reader) == len(expected) == 23 - 6
        assert [(s['key'], s['image']) for s in reader] == expected
        assert [reader.get(i)['key'] for i in range(len(reader))] == [k for k, _ in expected]
        assert [reader.find_key(i) for i in range(len(reader))] == [k for k, _ in expected]
        assert [reader.find_index(k) for k, _ in expected] == list(range(len(expected)))
        assert reader[-1]['key'] == expected[-1][0]
        assert [s['key'] for s in reader[3:11]] == [k for k, _ in expected[3:11]]
        assert [s['key'] for s in reader[1:12:5]] == [k for k, _ in expected[1:12:5]]
        assert [k for k, _ in reader.slice(9, 14, yield_key=True)] == \
            [k for k, _ in expected[9:14]]
        key, raw = reader.get(4, yield_key=True, raw=True)
        from datadings_like.msgpack import unpackb
        assert unpackb(raw) == {'key': key, 'image': expected[4][1]}
        # keys that are rejected, not images or unknown
        rejected = truth['00024a73d1'][3][0]
        for key in (rejected, '00024a73d1/notes.txt', 'ffffffffff/0123', 'no key'):
            assert key not in reader
            with pytest.raises(KeyError):
                reader.find_index(key)
        assert expected[5][0] in reader
        # next() and seeking
        reader.seek_key(expected[8][0])
        assert [reader.next()['key'] for _ in range(3)] == [k for k, _ in expected[8:11]]
        reader.seek(len(reader) - 1)
        assert reader.next()['key'] == expected[-1][0]
        with pytest.raises(StopIteration):
            reader.next()
        # an iteration starts at the current index
        reader.seek(15)
        assert [s['key'] for s in reader] == [k for k, _ in expected[15:]]
        with pytest.raises(IndexError):
            reader.get(len(reader))


def test_reject_list_formats(packs, tmp_path):
    directory, counts, truth, rejects = packs
    text = tmp_path / 'rejects.txt'
    text.write_text('# rejected\n00024a73d1 9\n\n021b958684 1\n')
    other = tmp_path / 'more.msgpack.gz'
    YFCC100m.write_reject_file(other, {'00024a73d1': [3], '01b8317e5b': [0, 2, 4]})
    with YFCC100mReader(directory, reject_file_paths=[text, other], counts=counts) as reader:
        assert [(s['key'], s['image']) for s in reader] == kept(truth, REJECTS)
    with YFCC100mReader(directory, reject_file_paths=None, counts=counts) as reader:
        assert [(s['key'], s['image']) for s in reader] == kept(truth, {})
    with YFCC100mReader(directory, reject_file_paths=str(text), counts=counts) as reader:
        assert len(reader) == 21


@pytest.mark.parametrize('content,message', [
    (b'00024a73d1 x\n', 'line 1'),
    (b'00024a73d1\n', 'line 1'),
    (b'\xc1\xff\xfe', 'neither'),
    (b'\x81\xa2ab', 'damaged reject list'),
    (b'00024a73d1 12\n', 'has 12 images'),
])
def test_bad_reject_lists(packs, tmp_path, content, message):
    directory, counts, _, _ = packs
    path = tmp_path / 'bad.txt'
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message) as info:
        YFCC100mReader(directory, reject_file_paths=[path], counts=counts)
    assert str(path) in str(info.value)
    import msgpack
    path.write_bytes(msgpack.packb({'00024a73d1': ['x']}))
    with pytest.raises(DatasetError, match='not a reject list'):
        YFCC100mReader(directory, reject_file_paths=[path], counts=counts)
    with pytest.raises(FileNotFoundError):
        YFCC100mReader(directory, reject_file_paths=[tmp_path / 'missing.txt'], counts=counts)
    damaged = tmp_path / 'damaged.msgpack.xz'
    YFCC100m.write_reject_file(damaged, REJECTS)
    damaged.write_bytes(damaged.read_bytes()[:-12])
    with pytest.raises(DatasetError, match='damaged.msgpack.xz: cannot read the reject list'):
        YFCC100mReader(directory, reject_file_paths=[damaged], counts=counts)


def test_default_reject_list(packs, tmp_path):
    directory, counts, truth, rejects = packs
    work = tmp_path / 'packs'
    work.mkdir()
    for name in os.listdir(directory):
        os.symlink(directory / name, work / name)
    with pytest.raises(FileNotFoundError, match='YFCC100m_reject') as info:
        YFCC100mReader(work, counts=counts)
    assert str(work / YFCC100m.REJECTED_FILE) in str(info.value)
    os.symlink(rejects, work / YFCC100m.REJECTED_FILE)
    with YFCC100mReader(work, counts=counts) as reader:
        assert [s['key'] for s in reader] == [k for k, _ in kept(truth, REJECTS)]


def test_validating_reader(packs, tmp_path):
    directory, counts, truth, _ = packs
    errors = tmp_path / 'errors.txt'
    rejected = [(name, i) for name, entries in truth.items()
                for i, (_, _, reason) in enumerate(entries) if reason]
    good = [(k, d) for name, entries in truth.items() for k, d, reason in entries if not reason]
    reader = YFCC100mReader(directory, validator=validate_image, reject_file_paths=(),
                            error_file=errors, error_file_mode='w', counts=counts)
    with reader:
        assert len(reader) == 23
        assert [(s['key'], s['image']) for s in reader] == good
        assert len(reader) == len(good)
        for call in (lambda: reader.get(1), lambda: reader.seek(2), lambda: reader.find_key(3),
                     lambda: reader.slice(2, 5), lambda: reader.find_index(good[4][0]),
                     lambda: copy.copy(reader), lambda: pickle.dumps(reader)):
            with pytest.raises(RuntimeError):
                call()
        assert reader.find_index(good[0][0]) == 0
        assert good[4][0] in reader
    lines = errors.read_text().splitlines()
    assert lines == [f'{name} {i}' for name, i in rejected]
    # the error file is a reject list; next() validates too
    with YFCC100mReader(directory, reject_file_paths=[errors], counts=counts) as plain:
        assert [(s['key'], s['image']) for s in plain] == good
    with YFCC100mReader(directory, validator=validate_image, reject_file_paths=(),
                        counts=counts) as reader:
        assert [reader.next()['key'] for _ in range(len(good))] == [k for k, _ in good]
        with pytest.raises(StopIteration):
            reader.next()
    with pytest.raises(ValueError, match='callable'):
        YFCC100mReader(directory, validator='yes', reject_file_paths=(), counts=counts)


def test_copies_and_pickles(packs, tmp_path):
    directory, counts, truth, rejects = packs
    expected = [k for k, _ in kept(truth, REJECTS)]
    errors = tmp_path / 'errors.txt'
    errors.write_text('00024a73d1 9\n')
    reader = YFCC100mReader(directory, reject_file_paths=[rejects], counts=counts,
                            error_file=errors, error_file_mode='w')
    reader.seek(3)
    twin = copy.copy(reader)
    assert twin.next()['key'] == expected[3]
    assert reader.next()['key'] == expected[3]
    clone = pickle.loads(pickle.dumps(reader))
    assert [s['key'] for s in clone.iter(0)] == expected
    for r in (reader, twin, clone):
        r.close()


def test_packs_that_do_not_fit(packs, tmp_path):
    directory, counts, truth, _ = packs
    wrong = [(n, c + 1) if n == '021b958684' else (n, c) for n, c in counts]
    with YFCC100mReader(directory, reject_file_paths=(), counts=wrong) as reader:
        with pytest.raises(DatasetError, match='021b958684.zip: holds 3 images, the counts say 4'):
            list(reader)
    missing = counts + [('0ffffffff0', 2)]
    with YFCC100mReader(directory, reject_file_paths=(), counts=missing) as reader:
        with pytest.raises(FileNotFoundError, match='0ffffffff0.zip'):
            list(reader)
    # a damaged member (bad CRC) names pack and member
    work = tmp_path / 'damaged'
    counts2, truth2 = make_packs(str(work), {'0aaaaaaaaa': ['noise', 'noise']})
    path = work / '0aaaaaaaaa.zip'
    data = bytearray(path.read_bytes())
    second = truth2['0aaaaaaaaa'][1][1]
    at = bytes(data).find(second)
    data[at + 1000] ^= 0xff
    path.write_bytes(bytes(data))
    with YFCC100mReader(work, reject_file_paths=(), counts=counts2) as reader:
        assert reader.get(0)['image'] == truth2['0aaaaaaaaa'][0][1]
        with pytest.raises(DatasetError, match=truth2['0aaaaaaaaa'][1][0]):
            reader.get(1)


# ----------------------------------------------------------------- counts

def test_shipped_counts():
    counts = YFCC100m_counts.FILE_COUNTS
    assert len(counts) == 9456
    assert YFCC100m_counts.FILES_TOTAL == 94502424 == sum(n for _, n in counts)
    assert list(counts) == sorted(counts)
    assert counts[:2] == (('00024a73d1', 10000), ('01554691b5', 10000))
    assert all(len(name) == 10 and 0 <= n <= 10000 for name, n in counts)


def test_parse_and_scan_counts(packs):
    directory, counts, _, _ = packs
    assert YFCC100m_counts.scan_counts(directory) == tuple(counts)
    assert YFCC100m_counts.parse_counts('# c\na 3\n\nb\t0\n') == (('a', 3), ('b', 0))
    for bad, message in (('a 3\na 4\n', 'twice'), ('a -1\n', 'line 1'), ('a\n', 'line 1')):
        with pytest.raises(ValueError, match=message):
            YFCC100m_counts.parse_counts(bad)


def test_reader_defaults_to_the_shipped_counts(tmp_path):
    """The pre-release: its length is known without a single pack."""
    with YFCC100mReader(tmp_path, reject_file_paths=None) as reader:
        assert len(reader) == 94502424
        with pytest.raises(FileNotFoundError, match='00024a73d1.zip'):
            reader.get(5)


REFERENCE_DATA = textwrap.dedent('''
    import json
    from datadings.sets import YFCC100m, YFCC100m_counts
    counts = [[name, count] for name, count in YFCC100m_counts.FILE_COUNTS]
    reader = YFCC100m.YFCC100mReader('/nonexistent', reject_file_paths=(YFCC100m.REJECTED_PATH,))
    print(json.dumps({'counts': counts, 'rejected_path': YFCC100m.REJECTED_PATH,
                      'len': len(reader)}))
''')


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
def test_shipped_data_of_datadings(tmp_path):
    """Our counts are those of datadings 3.4.7, and its reject list reads as it does."""
    proc = subprocess.run([reference_python(), '-c', REFERENCE_DATA], capture_output=True,
                          text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    assert [list(c) for c in YFCC100m_counts.FILE_COUNTS] == theirs['counts']
    rejects = YFCC100m.read_reject_file(theirs['rejected_path'])
    assert len(rejects) == 9453
    assert sum(len(v) for v in rejects.values()) == 2412945
    with YFCC100mReader(tmp_path, reject_file_paths=[theirs['rejected_path']]) as reader:
        assert len(reader) == theirs['len'] == 94502424 - 2412945


# ---------------------------------------------------- parity with datadings

REFERENCE_READER = textwrap.dedent('''
    import hashlib, json, sys
    from datadings.sets import YFCC100m
    from datadings.sets.YFCC100m import YFCC100mReader, validate_image
    directory, counts, rejects, error_file = sys.argv[1], json.loads(sys.argv[2]), \\
        json.loads(sys.argv[3]), sys.argv[4]
    YFCC100m.FILE_COUNTS = counts
    YFCC100m.FILES_TOTAL = sum(n for _, n in counts)
    md5 = lambda data: hashlib.md5(data).hexdigest()
    out = {}
    reader = YFCC100mReader(directory, reject_file_paths=rejects)
    out['len'] = len(reader)
    out['iter'] = [[s['key'], md5(s['image'])] for s in reader]
    out['get'] = [reader.get(i)['key'] for i in range(len(reader))]
    out['find_key'] = [reader.find_key(i) for i in range(len(reader))]
    out['find_index'] = [reader.find_index(k) for k, _ in out['iter']]
    out['contains'] = [k in reader for k, _ in out['iter']]
    seek = []
    for k, _ in out['iter']:
        reader.seek_key(k)
        seek.append(reader.next()['key'])
    out['seek_key'] = seek
    out['order'] = {z: list(r) for z, r in reader._rejected.items()}
    validating = YFCC100mReader(directory, validator=validate_image, reject_file_paths=(),
                                error_file=error_file, error_file_mode='w')
    got = []
    try:
        for s in validating:
            got.append([s['key'], md5(s['image'])])
        out['validating_end'] = 'normal'
    except RuntimeError as exc:
        out['validating_end'] = repr(exc)
    validating._error_file.close()
    out['validating'] = got
    print(json.dumps(out))
''')


@pytest.mark.skipif(not reference_python(), reason=NO_REFERENCE)
@pytest.mark.parametrize('reject_format', ['msgpack.xz', 'text'])
def test_same_samples_as_datadings(packs, tmp_path, reject_format):
    directory, counts, truth, rejects = packs
    if reject_format == 'text':
        rejects = tmp_path / 'rejects.txt'
        rejects.write_text(''.join(f'{z} {i}\n' for z, r in REJECTS.items() for i in r))
    script = tmp_path / 'reader.py'
    script.write_text(REFERENCE_READER)
    their_errors = tmp_path / 'their-errors.txt'
    proc = subprocess.run([reference_python(), str(script), str(directory), json.dumps(counts),
                           json.dumps([str(rejects)]), str(their_errors)],
                          capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    theirs = json.loads(proc.stdout)
    expected = kept(truth, REJECTS)
    keys = [k for k, _ in expected]

    with YFCC100mReader(directory, reject_file_paths=[rejects], counts=counts) as reader:
        ours = [[s['key'], hashlib.md5(s['image']).hexdigest()] for s in reader]
        assert ours == theirs['iter'] == [[k, hashlib.md5(d).hexdigest()] for k, d in expected]
        assert len(reader) == theirs['len']
        assert theirs['contains'] == [True] * len(keys)
        assert theirs['seek_key'] == keys
        assert [reader.find_index(k) for k in keys] == list(range(len(keys)))
        assert [reader.get(i)['key'] for i in range(len(keys))] == keys
        assert [reader.find_key(i) for i in range(len(keys))] == keys

    # Documented bugs of datadings 3.4.7: find_index returns the image's
    # index within its pack; get/find_key map an index to the wrong image
    # in a pack whose reject set Python does not iterate in sorted order.
    position = {key: i for entries in truth.values() for i, (key, _, _) in enumerate(entries)}
    assert theirs['find_index'] == [position[k] for k in keys]
    unsorted = {z for z, order in theirs['order'].items() if order != sorted(order)}
    assert unsorted == {'00024a73d1'}
    wrong = 0
    for i, key in enumerate(keys):
        for what in ('get', 'find_key'):
            if key.split('/')[0] in unsorted:
                wrong += theirs[what][i] != key
            else:
                assert theirs[what][i] == key, (what, i)
    assert wrong > 0

    # validating: the same images, the same error file; datadings ends its
    # iteration with a RuntimeError once images were rejected
    our_errors = tmp_path / 'our-errors.txt'
    with YFCC100mReader(directory, validator=validate_image, reject_file_paths=(),
                        error_file=our_errors, error_file_mode='w', counts=counts) as reader:
        ours = [[s['key'], hashlib.md5(s['image']).hexdigest()] for s in reader]
    assert ours == theirs['validating']
    assert 'StopIteration' in theirs['validating_end']
    assert our_errors.read_text() == their_errors.read_text() != ''


# -------------------------------------------------------------------- scan

def run_scan(args, module='datadings_like.sets.YFCC100m_reject', **kwargs):
    return subprocess.run([sys.executable, '-m', module, *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=300, **kwargs)


def expected_rejects(truth):
    return {name: [i for i, (_, _, reason) in enumerate(entries) if reason]
            for name, entries in truth.items()
            if any(reason for _, _, reason in entries)}


@pytest.fixture
def scan_packs(tmp_path):
    directory = tmp_path / 'packs'
    counts, truth = make_packs(str(directory), LAYOUT, seed=50)
    return directory, counts, truth


@pytest.mark.parametrize('module,threads', [
    ('datadings_like.sets.YFCC100m_reject', '2'),
    ('datadings_like.sets.YFCC100m', '1'),
])
def test_scan_writes_the_reject_list(scan_packs, module, threads):
    directory, counts, truth = scan_packs
    proc = run_scan(['-t', threads, directory], module=module)
    assert proc.returncode == 0, proc.stderr
    assert '23 images in 4 packs, 6 rejected (2 damaged, 1 smaller than 2600 bytes, ' \
           '1 placeholders, 2 with low variance)' in proc.stderr
    path = directory / YFCC100m.REJECTED_FILE
    assert YFCC100m.read_reject_file(path) == expected_rejects(truth)
    assert not [n for n in os.listdir(directory) if n.startswith('.')]
    # the reader uses it by default
    good = [(k, d) for entries in truth.values() for k, d, reason in entries if not reason]
    with YFCC100mReader(directory, counts=counts) as reader:
        assert [(s['key'], s['image']) for s in reader] == good
    # an existing list is replaced only with -y
    proc = run_scan(['-t', '1', directory])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'exists' in proc.stderr and '-y' in proc.stderr
    assert run_scan(['-t', '1', '-y', '-q', '-r', directory / 'other.txt.gz', directory]
                    ).returncode == 0
    assert YFCC100m.read_reject_file(directory / 'other.txt.gz') == expected_rejects(truth)


def test_scan_summary(scan_packs):
    directory, _, truth = scan_packs
    stats = __import__('datadings_like.sets.YFCC100m_reject', fromlist=['scan_packs']) \
        .scan_packs(directory, quiet=True)
    reasons = [reason for entries in truth.values() for _, _, reason in entries if reason]
    assert stats == {'damaged': reasons.count('damaged'), 'too small': reasons.count('too small'),
                     'placeholder': reasons.count('placeholder'),
                     'low variance': reasons.count('low variance'), 'images': 23, 'packs': 4}


def test_scan_counts_damaged_members(tmp_path):
    directory = tmp_path / 'packs'
    counts, truth = make_packs(str(directory), {'0aaaaaaaaa': ['noise', 'noise', 'detail']},
                               compression=zipfile.ZIP_DEFLATED)
    path = directory / '0aaaaaaaaa.zip'
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(truth['0aaaaaaaaa'][1][0])
    data = bytearray(path.read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 100] ^= 0x55
    path.write_bytes(bytes(data))
    proc = run_scan(['-t', '1', '-q', directory])
    assert proc.returncode == 0, proc.stderr
    assert YFCC100m.read_reject_file(directory / YFCC100m.REJECTED_FILE) == {'0aaaaaaaaa': [1]}
    with YFCC100mReader(directory, counts=counts) as reader:
        assert [s['key'] for s in reader] == [truth['0aaaaaaaaa'][i][0] for i in (0, 2)]


def test_scan_errors(tmp_path):
    proc = run_scan([tmp_path / 'nowhere'])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr and 'nowhere' in proc.stderr
    proc = run_scan([tmp_path])
    assert proc.returncode == 1 and 'no image packs' in proc.stderr
    (tmp_path / '0bbbbbbbbb.zip').write_bytes(b'not a zip file')
    proc = run_scan(['-t', '1', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert '0bbbbbbbbb.zip: not a readable zip file' in proc.stderr


KILLED_SCAN = textwrap.dedent('''
    import os, signal, sys
    from datadings_like.sets import YFCC100m_reject
    original = YFCC100m_reject.scan_pack
    calls = [0]
    def scan_pack(path):
        calls[0] += 1
        if calls[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(path)
    YFCC100m_reject.scan_pack = scan_pack
    YFCC100m_reject.main(['-t', '1', '-q', sys.argv[1]])
''')


def test_killed_scan_goes_on(scan_packs, tmp_path):
    directory, counts, truth = scan_packs
    script = tmp_path / 'kill.py'
    script.write_text(KILLED_SCAN)
    proc = subprocess.run([sys.executable, str(script), str(directory), '3'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    log = directory / f'.{YFCC100m.REJECTED_FILE}.partial'
    lines = log.read_text().splitlines()
    assert len(lines) == 1 + 2  # header, two packs
    assert not (directory / YFCC100m.REJECTED_FILE).exists()
    # a line cut off by the kill is dropped
    with open(log, 'a') as f:
        f.write('021b958684\t3\t0:')
    proc = run_scan(['-t', '2', directory])
    assert proc.returncode == 0, proc.stderr
    assert 'going on with an interrupted scan: 2 of 4 packs done' in proc.stderr
    assert YFCC100m.read_reject_file(directory / YFCC100m.REJECTED_FILE) == \
        expected_rejects(truth)
    assert not log.exists()


def test_scan_log_of_other_packs(scan_packs, tmp_path):
    directory, _, _ = scan_packs
    log = directory / f'.{YFCC100m.REJECTED_FILE}.partial'
    log.write_text('# datadings_like YFCC100m reject scan 1 /somewhere/else\n')
    proc = run_scan(['-t', '1', directory])
    assert proc.returncode == 1 and '--restart' in proc.stderr
    proc = run_scan(['-t', '1', '-q', '--restart', directory])
    assert proc.returncode == 0, proc.stderr
    assert not log.exists()


def test_help():
    proc = run_scan(['-h'])
    assert proc.returncode == 0
    for text in ('IMAGE_PACKS', '--rejectfile', '2600', '9218', '20000',
                 'YFCC100m_rejected_images.msgpack.xz', '--restart', '-t'):
        assert text in proc.stdout, text


def test_manual_api():
    """The names the manual lists for datadings.sets.YFCC100m and YFCC100m_counts."""
    for name in ('DevNull', 'YFCC100mReader', 'decode_fast', 'main', 'noop', 'validate_image'):
        assert callable(getattr(YFCC100m, name)), name
    for name in ('close', 'read', 'write'):
        assert getattr(YFCC100m.DevNull(), name)() is None
    for name in ('find_index', 'find_key', 'get', 'next', 'open_error_file_', 'rawnext',
                 'seek_index', 'seek_key', 'slice'):
        assert callable(getattr(YFCC100mReader, name)), name
    assert YFCC100m.noop(b'x') == b'x'
    assert isinstance(YFCC100m_counts.FILE_COUNTS, tuple)


def test_rawnext(packs):
    from datadings_like.msgpack import unpackb
    directory, counts, truth, rejects = packs
    expected = kept(truth, REJECTS)
    with YFCC100mReader(directory, reject_file_paths=[rejects], counts=counts) as reader:
        assert unpackb(reader.rawnext()) == {'key': expected[0][0], 'image': expected[0][1]}
        assert reader.next()['key'] == expected[1][0]
        assert [k for k, _ in reader.rawiter(yield_key=True)] == [k for k, _ in expected[2:]]
