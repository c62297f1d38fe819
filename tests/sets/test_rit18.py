"""
Tests of the RIT18 writer on a miniature ``rit18_data.mat`` with the
variables of the real file (``train_data``, ``val_data``, ``test_data``:
7 x H x W uint16, six bands and the mask; ``train_labels``, ``val_labels``:
H x W uint8; ``band_centers``, ``band_center_units``, ``sensor``,
``classes``, ``info``), written with ``scipy.io.savemat`` in the format of
the real file (MATLAB v5/v7, compressed; the dataset's own reader uses
``scipy.io.loadmat``).

The writer runs as a separate process with ``-s``: the MD5 hash of the
miniature cannot match the official one.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

from datadings_like.reader import MsgpackReader
from sets.reference import assert_same_samples
from sets.reference import reference_python
from sets.reference import run_reference_writer
from sets.reference import skip_reason

sio = pytest.importorskip('scipy.io')

MAT = 'rit18_data.mat'
TRAIN = (50, 40)
VAL = (390, 780)  # 2x3 tiles of 384x384, the partial ones kept


def bands(rng, shape):
    return np.concatenate([rng.integers(0, 65536, (6,) + shape, dtype=np.uint16),
                           rng.integers(0, 2, (1,) + shape, dtype=np.uint16)])


def make_variables(seed=0):
    rng = np.random.default_rng(seed)
    return {
        'train_data': bands(rng, TRAIN),
        'train_labels': rng.integers(0, 19, TRAIN, dtype=np.uint8),
        'val_data': bands(rng, VAL),
        'val_labels': rng.integers(0, 19, VAL, dtype=np.uint8),
        'test_data': bands(rng, (9, 11)),
        'band_centers': np.array([[490., 550., 680., 720., 800., 900.]]),
        'band_center_units': 'nm',
        'sensor': 'Tetracam Micro-MCA6',
        'classes': np.array(['Road Markings', 'Tree'], dtype=object),
        'info': 'miniature RIT-18',
    }


def make_mat(indir, variables=None, compress=False):
    """Write the miniature; compressed like the real file if ``compress``
    (slower: most tests do not need it)."""
    variables = make_variables() if variables is None else variables
    sio.savemat(os.path.join(indir, MAT), variables, do_compression=compress)
    return variables


def run(args, via_command=False):
    if via_command:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', 'RIT18']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.sets.RIT18_write']
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)


def read_all(path):
    with MsgpackReader(path) as reader:
        return [reader.get(i) for i in range(len(reader))]


def assert_sample(sample, key, data, labels):
    assert sample['key'] == key
    assert sorted(sample) == ['image', 'key', 'label_image', 'mask']
    for field, dtype, expected in (('image', np.uint16, data[:6]),
                                   ('label_image', np.int64, labels),
                                   ('mask', np.uint8, data[6])):
        assert isinstance(sample[field], np.ndarray), field
        assert sample[field].dtype == dtype, field
        np.testing.assert_array_equal(sample[field], expected.astype(dtype))


@pytest.mark.parametrize('via_command', [False, True], ids=['module', 'datadings-write'])
def test_train_whole_and_val_tiles(tmp_path, via_command):
    variables = make_mat(tmp_path, compress=via_command)
    proc = run(['-s', '-o', tmp_path / 'out', tmp_path], via_command=via_command)
    assert proc.returncode == 0, proc.stderr
    # arrays decode with the safe decoder (no pickle, plain numeric dtypes)
    train = read_all(tmp_path / 'out' / 'train.msgpack')
    assert len(train) == 1
    assert_sample(train[0], 'train', variables['train_data'], variables['train_labels'])
    val = read_all(tmp_path / 'out' / 'val.msgpack')
    data, labels = variables['val_data'], variables['val_labels']
    bounds = [(0, 384, 0, 384), (0, 384, 384, 768), (0, 384, 768, 780),
              (384, 390, 0, 384), (384, 390, 384, 768), (384, 390, 768, 780)]
    assert len(val) == len(bounds)
    for i, (sample, (t, b, l, r)) in enumerate(zip(val, bounds)):
        assert_sample(sample, f'val_{i}', data[:, t:b, l:r], labels[t:b, l:r])
    assert not (tmp_path / 'out' / 'test.msgpack').exists()


@pytest.mark.skipif(not reference_python(), reason=skip_reason())
def test_same_as_datadings(tmp_path):
    make_mat(tmp_path, compress=True)
    proc = run(['-s', '-o', tmp_path / 'ours', tmp_path])
    assert proc.returncode == 0, proc.stderr
    run_reference_writer(reference_python(), 'RIT18', ['-s', '-o', tmp_path / 'theirs', tmp_path])
    for name, n in (('train.msgpack', 1), ('val.msgpack', 6)):
        assert assert_same_samples(tmp_path / 'ours' / name, tmp_path / 'theirs' / name,
                                   images=()) == n
        # neither writer shuffles: the files are the same, byte for byte
        assert (tmp_path / 'ours' / name).read_bytes() == (tmp_path / 'theirs' / name).read_bytes()


def test_write_functions_with_arrays(tmp_path):
    """The module functions of the manual, with a dict and a small crop size."""
    from datadings_like.sets.RIT18_write import write_set
    from datadings_like.sets.RIT18_write import write_train
    variables = make_variables(1)
    args = argparse.Namespace(no_confirm=False, quiet=True)
    write_train(str(tmp_path), variables, args)
    assert_sample(read_all(tmp_path / 'train.msgpack')[0], 'train',
                  variables['train_data'], variables['train_labels'])
    data, labels = variables['val_data'][:, :10, :7], variables['val_labels'][:10, :7]
    write_set(str(tmp_path), 'val', labels, data, args, (4, 4))
    val = read_all(tmp_path / 'val.msgpack')
    assert [s['key'] for s in val] == [f'val_{i}' for i in range(6)]
    assert_sample(val[5], 'val_5', data[:, 8:10, 4:7], labels[8:10, 4:7])


def test_loads_one_split_at_a_time(tmp_path, monkeypatch):
    """Only the variables of the split being written are loaded, each once;
    the test split is never read."""
    from datadings_like.sets import RIT18_write
    make_mat(tmp_path)
    loaded = []
    real = RIT18_write.load_variable
    monkeypatch.setattr(RIT18_write, 'load_variable',
                        lambda path, name: (loaded.append(name), real(path, name))[1])
    args = argparse.Namespace(no_confirm=False, quiet=True)
    RIT18_write.write_sets({'mat': {'path': str(tmp_path / MAT)}}, str(tmp_path / 'out'),
                           args, crop_size=(100, 100))
    assert loaded == ['train_data', 'train_labels', 'val_labels', 'val_data']
    assert len(read_all(tmp_path / 'out' / 'val.msgpack')) == 4 * 8


def test_md5_is_checked(tmp_path):
    make_mat(tmp_path)
    proc = run(['-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert MAT in proc.stderr and 'MD5' in proc.stderr and '-s' in proc.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('change, message', [
    (lambda v: v.pop('val_labels'), "no variable 'val_labels'"),
    (lambda v: v.update(train_data=v['train_data'][:6]), "'train_data' has shape (6, 50, 40)"),
    (lambda v: v.update(val_labels=v['val_labels'][:, :5]), "'val_labels' has shape (390, 5)"),
    (lambda v: v.update(train_labels=np.array(['a', 'b'], dtype=object)),
     "'train_labels' is a MATLAB cell"),
])
def test_wrong_variables(tmp_path, change, message):
    variables = make_variables()
    change(variables)
    make_mat(tmp_path, variables)
    proc = run(['-s', '-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert MAT in proc.stderr and message in proc.stderr, proc.stderr
    assert not (tmp_path / 'out').exists()


def save_v73(path, variables):
    """Save the numeric variables as MATLAB 7.3 does: HDF5 (after a
    512-byte user block with the MATLAB header), dimensions reversed."""
    h5py = pytest.importorskip('h5py')
    with h5py.File(path, 'w', userblock_size=512) as f:
        for name, value in variables.items():
            if isinstance(value, np.ndarray) and value.dtype.kind in 'uif':
                dataset = f.create_dataset(name, data=value.T)
                dataset.attrs['MATLAB_class'] = np.bytes_(
                    {'u2': 'uint16', 'u1': 'uint8', 'f8': 'double'}[value.dtype.str[1:]])
    header = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .'.ljust(116)
    with open(path, 'r+b') as f:
        f.write(header + b'\0' * 8 + b'\x00\x02IM')


def test_matlab_v73_file_gives_the_same_samples(tmp_path):
    """The real file is MATLAB v7 (scipy); a v7.3 (HDF5) copy is read too."""
    variables = make_mat(tmp_path)
    proc = run(['-s', '-o', tmp_path / 'v7', tmp_path])
    assert proc.returncode == 0, proc.stderr
    os.remove(tmp_path / MAT)
    save_v73(tmp_path / MAT, variables)
    assert sio.matlab.matfile_version(str(tmp_path / MAT)) == (2, 0)
    proc = run(['-s', '-o', tmp_path / 'v73', tmp_path])
    assert proc.returncode == 0, proc.stderr
    for name in ('train.msgpack', 'val.msgpack'):
        assert (tmp_path / 'v7' / name).read_bytes() == (tmp_path / 'v73' / name).read_bytes()


def test_hdf5_file_without_matlab_variables(tmp_path):
    h5py = pytest.importorskip('h5py')
    with h5py.File(tmp_path / MAT, 'w', userblock_size=512) as f:
        f.create_dataset('something', data=np.zeros(3))
    with open(tmp_path / MAT, 'r+b') as f:
        f.write(b'MATLAB 7.3 MAT-file'.ljust(116) + b'\0' * 8 + b'\x00\x02IM')
    proc = run(['-s', '-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert "no variable 'train_data'" in proc.stderr


def test_damaged_file(tmp_path):
    make_mat(tmp_path)
    data = (tmp_path / MAT).read_bytes()
    (tmp_path / MAT).write_bytes(data[:len(data) // 2])
    proc = run(['-s', '-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert MAT in proc.stderr
    assert not (tmp_path / 'out' / 'val.msgpack').exists()


def test_existing_output_needs_yes(tmp_path):
    make_mat(tmp_path)
    (tmp_path / 'train.msgpack').write_bytes(b'old')
    proc = run(['-s', tmp_path])
    assert proc.returncode == 1
    assert 'train.msgpack exists; replace it with -y' in proc.stderr
    assert (tmp_path / 'train.msgpack').read_bytes() == b'old'
    assert len(read_all(tmp_path / 'val.msgpack')) == 6
    proc = run(['-s', '-y', tmp_path])
    assert proc.returncode == 0, proc.stderr
    assert len(read_all(tmp_path / 'train.msgpack')) == 1


def test_help():
    proc = run(['-h'])
    assert proc.returncode == 0
    assert proc.stdout.startswith('usage: RIT18_write.py [-h] [-o PATH] [-y] [-s] [INDIR]')
    for word in (MAT, 'http://www.cis.rit.edu/~rmk6217/rit18_data.mat', 'numpy arrays',
                 '"key"', '"image"', '"label_image"', '"mask"', 'github.com/rmkemker/RIT-18'):
        assert word in proc.stdout, word
    for option in ('--shuffle', '--threads'):
        assert option not in proc.stdout


def test_metadata():
    from datadings_like.sets import RIT18
    assert len(RIT18.CLASSES) == 19 and RIT18.CLASSES[18] == '18. Asphalt (Parking Lot/Walkway)'
    assert (RIT18.NUM_INPUT_CHANNELS, RIT18.CROP_SIZE) == (6, 384)


def test_without_scipy_one_line_names_the_extra(tmp_path):
    from sets.test_vaihingen import run_without
    make_mat(tmp_path)
    proc = run_without('scipy', 'RIT18_write', ['-s', '-o', tmp_path / 'out', tmp_path])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert 'scipy' in proc.stderr and "pip install '.[sets]'" in proc.stderr
    assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('partial', [True, False])
def test_tile_grid_numbers_like_datadings(partial):
    """datadings_like.sets.tiles: row-major numbers over the full grid;
    dropped partial tiles leave gaps; counts match; tiles are views."""
    from datadings_like.sets.tiles import count_tiles, iter_tiles, tile_grid
    grid = list(tile_grid(10, 12, 4, 5, partial=partial))
    if partial:
        assert [g[0] for g in grid] == list(range(9))
        assert grid[2] == (2, 0, 10, 4, 12) and grid[8] == (8, 8, 10, 10, 12)
    else:
        assert grid == [(0, 0, 0, 4, 5), (1, 0, 5, 4, 10), (3, 4, 0, 8, 5), (4, 4, 5, 8, 10)]
    assert count_tiles(10, 12, 4, 5, partial=partial) == len(grid)
    image, labels = np.arange(3 * 10 * 12).reshape(3, 10, 12), np.arange(120).reshape(10, 12)
    tiles = list(iter_tiles([image, labels], (4, 5), partial=partial))
    assert [i for i, _ in tiles] == [g[0] for g in grid]
    for (index, (a, b)), (_, t, l, bottom, r) in zip(tiles, grid):
        np.testing.assert_array_equal(a, image[:, t:bottom, l:r])
        np.testing.assert_array_equal(b, labels[t:bottom, l:r])
        assert np.shares_memory(a, image) and np.shares_memory(b, labels)
    with pytest.raises(ValueError):
        list(iter_tiles([image, labels[:, :5]], (4, 5)))
