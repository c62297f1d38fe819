"""
End-to-end tests of the Cityscapes writer on miniature copies of the three
zips: ``leftImg8bit/{split}/<city>/<city>_N_N_leftImg8bit.png``,
``gtFine/...`` (labelIds, instanceIds, color, polygons), 16-bit
``disparity/..._disparity.png``, and ``README``/``license.txt`` at the top.
The writer runs as a separate process with ``-s``.
"""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from datadings_like.sets import Cityscapes
from datadings_like.sets import Cityscapes_write
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason
from sets.cli import read_samples
from sets.cli import run_writer

KEYS = {
    'train': ['train/aachen/aachen_000000_000019', 'train/aachen/aachen_000001_000019',
              'train/bochum/bochum_000000_000313'],
    'val': ['val/frankfurt/frankfurt_000000_000294', 'val/lindau/lindau_000000_000019'],
    'test': ['test/berlin/berlin_000000_000019'],
}
ZIPS = ('leftImg8bit_trainvaltest.zip', 'gtFine_trainvaltest.zip', 'disparity_trainvaltest.zip')


def png(array, mode=None):
    bio = io.BytesIO()
    Image.fromarray(array, mode).save(bio, 'PNG')
    return bio.getvalue()


def make_cityscapes(indir, rng, keys=KEYS, skip=()):
    """Write the three zips; returns ``{key: (image, labelIds, disparity)}``.
    Members named in ``skip`` are left out."""
    truth = {}
    zips = [zipfile.ZipFile(indir / name, 'w') for name in ZIPS]
    left, gt, disparity = zips
    for zf in zips:
        zf.writestr('README', 'The Cityscapes Dataset')
        zf.writestr('license.txt', 'license')

    def put(zf, name, data):
        if name not in skip:
            zf.writestr(name, data)

    for split, names in keys.items():
        for key in names:
            image = png(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8))
            label = png(rng.integers(0, 34, (4, 8), dtype=np.uint8))
            disp = png(rng.integers(0, 40000, (4, 8)).astype(np.uint16))
            put(left, f'leftImg8bit/{key}_leftImg8bit.png', image)
            put(gt, f'gtFine/{key}_gtFine_labelIds.png', label)
            put(gt, f'gtFine/{key}_gtFine_instanceIds.png', label)
            put(gt, f'gtFine/{key}_gtFine_color.png', image)
            put(gt, f'gtFine/{key}_gtFine_polygons.json', '{"objects": []}')
            put(disparity, f'disparity/{key}_disparity.png', disp)
            truth[key] = (image, label, disp)
    for zf in zips:
        zf.close()
    return truth


def run(args, module=True):
    return run_writer('Cityscapes', args, module, timeout=180)


read = read_samples


@pytest.mark.parametrize('module', [True, False], ids=['module', 'datadings-write'])
def test_writes_three_splits(tmp_path, module):
    truth = make_cityscapes(tmp_path, np.random.default_rng(1))
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-o', out, tmp_path], module)
    assert proc.returncode == 0, proc.stderr
    for split, keys in KEYS.items():
        samples = read(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == keys
        for s in samples:
            assert list(s) == ['key', 'image', 'label_image', 'disparity_image']
            assert (s['image'], s['label_image'], s['disparity_image']) == truth[s['key']]
    disparity = Image.open(io.BytesIO(samples[0]['disparity_image']))
    assert disparity.mode.startswith('I')


def test_threads_give_the_same_files(tmp_path):
    make_cityscapes(tmp_path, np.random.default_rng(2))
    for threads in (1, 2):
        proc = run(['-s', '-q', '--seed', 7, '-t', threads, '-o', tmp_path / f't{threads}',
                    tmp_path])
        assert proc.returncode == 0, proc.stderr
    for split in KEYS:
        assert (tmp_path / f't1/{split}.msgpack').read_bytes() == \
            (tmp_path / f't2/{split}.msgpack').read_bytes()


def test_y_overwrites_without_asking(tmp_path):
    # datadings 3.4.7 ignores -y here and asks (EOFError without a terminal)
    make_cityscapes(tmp_path, np.random.default_rng(3))
    assert run(['-s', '-q', '--shuffle', 'no', tmp_path]).returncode == 0
    (tmp_path / 'val.msgpack').write_bytes(b'old')
    proc = run(['-s', '-q', '-y', '--shuffle', 'no', tmp_path])
    assert proc.returncode == 0, proc.stderr
    assert [s['key'] for s in read(tmp_path / 'val.msgpack')] == KEYS['val']
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'exists' in proc.stderr and '-y' in proc.stderr and 'Traceback' not in proc.stderr


def test_missing_disparity_is_named_before_writing(tmp_path):
    missing = 'disparity/val/lindau/lindau_000000_000019_disparity.png'
    make_cityscapes(tmp_path, np.random.default_rng(4), skip={missing})
    proc = run(['-s', '-q', tmp_path])
    assert proc.returncode == 1
    assert 'disparity_trainvaltest.zip' in proc.stderr and missing in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not (tmp_path / 'train.msgpack').exists()


def test_damaged_member(tmp_path):
    make_cityscapes(tmp_path, np.random.default_rng(5))
    # replace one label by data that is no PNG
    path = tmp_path / 'gtFine_trainvaltest.zip'
    name = 'gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_labelIds.png'
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members[name] = b'not a png'
    with zipfile.ZipFile(path, 'w') as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    proc = run(['-s', '-q', '-t', 2, tmp_path])
    assert proc.returncode == 1
    assert name in proc.stderr and 'not a PNG' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'val.msgpack').exists()


def test_missing_zip_says_where_to_get_it(tmp_path):
    make_cityscapes(tmp_path, np.random.default_rng(6))
    (tmp_path / 'disparity_trainvaltest.zip').unlink()
    proc = run(['-q', tmp_path])
    assert proc.returncode == 1
    assert 'disparity_trainvaltest.zip' in proc.stderr
    assert 'https://www.cityscapes-dataset.com/downloads/' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_help():
    proc = run(['-h'], module=False)
    assert proc.returncode == 0
    usage = ' '.join(proc.stdout.split('\n\n')[0].split())
    assert usage.startswith('usage: datadings-write Cityscapes [-h] [-o PATH] [-y] [-s] '
                            '[--shuffle {yes,no}] [-t N]'), usage
    for text in ZIPS + ('"disparity_image"', 'Registration', 'cityscapes-dataset.com'):
        assert text in proc.stdout


def test_get_keys_and_yield_samples(tmp_path):
    truth = make_cityscapes(tmp_path, np.random.default_rng(7))
    left, gt, disparity = (zipfile.ZipFile(tmp_path / name) for name in ZIPS)
    with left, gt, disparity:
        assert Cityscapes_write.get_keys(left, 'val') == KEYS['val']
        samples = list(Cityscapes_write.yield_samples(KEYS['test'], left, disparity, gt))
    key = KEYS['test'][0]
    assert samples == [(key,) + truth[key]]
    # the manual's write_set(outdir, split, gen, total)
    assert Cityscapes_write.write_set(tmp_path / 'api', 'test', iter(samples), 1) == 1
    written = read(tmp_path / 'api' / 'test.msgpack')
    assert [(s['key'], s['image'], s['label_image'], s['disparity_image'])
            for s in written] == samples


def test_metadata():
    assert Cityscapes.used_class_indices == [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24,
                                             25, 26, 27, 28, 31, 32, 33]
    assert Cityscapes.ignored_class_indices == [0, 1, 2, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18,
                                                29, 30, -1]
    assert len(Cityscapes.CLASSES) == 19
    assert Cityscapes.CLASSES[0] == 'road' and Cityscapes.CLASSES[18] == 'bicycle'
    ids = np.array([[7, 0], [33, 26]], np.uint8)
    assert Cityscapes.label_to_train_id(ids).tolist() == [[0, 255], [18, 13]]
    assert Cityscapes.index_to_color(ids).tolist() == [[[128, 64, 128], [0, 0, 0]],
                                                       [[119, 11, 32], [0, 0, 142]]]
    assert Cityscapes.train_id_to_color(Cityscapes.label_to_train_id(ids)).tolist() == \
        Cityscapes.index_to_color(np.array([[7, 0], [33, 26]])).tolist()


# ------------------------------------------------------------------ parity

@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_samples_as_datadings(tmp_path):
    make_cityscapes(tmp_path, np.random.default_rng(8))
    ours, theirs = tmp_path / 'ours', tmp_path / 'theirs'
    proc = run(['-s', '-q', '-t', 2, '-o', ours, tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'Cityscapes', ['-s', '-o', theirs, tmp_path])
    for split in KEYS:
        # all three fields are files from the zips: compared byte for byte
        n = assert_same_samples(ours / f'{split}.msgpack', theirs / f'{split}.msgpack', images=())
        assert n == len(KEYS[split])


def test_sample_reader_opens_the_zips_once(tmp_path):
    import pickle
    truth = make_cityscapes(tmp_path, np.random.default_rng(9))
    reader = Cityscapes_write.SampleReader(*(tmp_path / name for name in
                                             (ZIPS[0], ZIPS[2], ZIPS[1])))
    key = KEYS['val'][1]
    try:
        sample = reader(key)
        zips = Cityscapes_write._OPEN_ZIPS[reader.paths]
        # a pool unpickles the reader for every task: the zips stay open
        again = pickle.loads(pickle.dumps(reader))
        assert again(key) == sample
        assert Cityscapes_write._OPEN_ZIPS[reader.paths] is zips
    finally:
        reader.close()
    assert reader.paths not in Cityscapes_write._OPEN_ZIPS
    assert all(zf.fp is None for zf in zips)
    assert (sample['image'], sample['label_image'], sample['disparity_image']) == truth[key]


# ------------------------------------------------------------ --segments

INSTANCE = 'gtFine/{}_gtFine_instanceIds.png'


def _add_instance_maps(indir, rng, keys):
    """Replace the instanceIds PNGs by 16-bit maps with instances
    (label ID * 1000 + n) and plain label IDs; returns ``{key: map}``."""
    path = indir / 'gtFine_trainvaltest.zip'
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    maps = {}
    for key in keys:
        ids = rng.choice([0, 7, 11, 24000, 24001, 26001, 26002, 33000], size=(4, 8))
        maps[key] = ids.astype(np.uint16)
        members[INSTANCE.format(key)] = png(maps[key])
    with zipfile.ZipFile(path, 'w') as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return maps


def test_segments_option_writes_instance_masks(tmp_path):
    from datadings_like.masks import Segments
    rng = np.random.default_rng(11)
    truth = make_cityscapes(tmp_path, rng)
    maps = _add_instance_maps(tmp_path, rng, [k for keys in KEYS.values() for k in keys])
    out = tmp_path / 'out'
    proc = run(['-s', '-y', '-q', '--shuffle', 'no', '-t', 2, '--segments', '-o', out, tmp_path])
    assert proc.returncode == 0, proc.stderr
    checked = 0
    for split, keys in KEYS.items():
        samples = read(out / f'{split}.msgpack')
        assert [s['key'] for s in samples] == keys
        for s in samples:
            assert list(s) == ['key', 'image', 'label_image', 'disparity_image', 'segments']
            assert (s['image'], s['label_image'], s['disparity_image']) == truth[s['key']]
            ids = maps[s['key']]
            values = sorted(set(ids.ravel().tolist()) - {0, 7, 11})
            segments = Segments.decode(s['segments'])
            assert segments.shape == ids.shape
            assert [e.iid for e in segments] == [(b'instances', str(v).encode()) for v in values]
            for entry, value in zip(segments, values):
                assert entry.label == value // 1000 and entry.groups == ('instances',)
                assert entry.full_mask().tolist() == (ids == value).tolist()
            checked += len(segments)
    assert checked > 0


def test_segments_option_needs_the_instance_files(tmp_path):
    missing = INSTANCE.format('val/lindau/lindau_000000_000019')
    make_cityscapes(tmp_path, np.random.default_rng(12), skip={missing})
    assert run(['-s', '-q', '-o', tmp_path / 'plain', tmp_path]).returncode == 0
    proc = run(['-s', '-q', '--segments', '-o', tmp_path / 'seg', tmp_path])
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'gtFine_trainvaltest.zip' in proc.stderr and missing in proc.stderr
    assert not (tmp_path / 'seg' / 'train.msgpack').exists()


def test_instance_segments_rejects_colour_images():
    with pytest.raises(Cityscapes_write.UserError, match='x.png'):
        Cityscapes_write.instance_segments(png(np.zeros((2, 2, 3), np.uint8)), 'x.png')
