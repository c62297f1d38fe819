"""Create RIT18 data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- rit18_data.mat (1.6 GB, a MATLAB v7 file with the variables
  train_data, val_data, test_data: 7 x H x W uint16, six spectral bands
  and the mask of the orthomosaic; train_labels, val_labels: H x W uint8)
  from http://www.cis.rit.edu/~rmk6217/rit18_data.mat

No registration is needed. To download it yourself, put the file into
INDIR; its MD5 hash is checked unless -s is given.

It writes, to OUTDIR (default: INDIR), train.msgpack (one sample "train":
the whole training orthomosaic) and val.msgpack (the validation
orthomosaic cut into 384x384 tiles, "val_0", "val_1", ... row by row; the
smaller tiles at the bottom and right edges are kept). The test split has
no labels and is not written. "image" holds the six bands (uint16,
6 x H x W), "label_image" the class indices of
datadings_like.sets.RIT18.CLASSES (int64, H x W) and "mask" the 7th band
(uint8, H x W). Only the variables of one split are in memory at a time
(about 3 GB at most, for the train split). Reading the file needs scipy
(pip install '.[sets]'); a copy saved as MATLAB v7.3 also needs h5py.

See also:
    https://github.com/rmkemker/RIT-18

Warning:
    Images, labels, and masks are numpy arrays, not images!

"""
from collections.abc import Mapping
import os

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from ..tools.extras import install_hint
from .types import MaskedImageSegmentationData
from .RIT18 import CROP_SIZE
from .RIT18 import NUM_INPUT_CHANNELS

__doc__ += document_keys(MaskedImageSegmentationData)

FILES = {
    'mat': {
        'path': 'rit18_data.mat',
        'url': 'http://www.cis.rit.edu/~rmk6217/rit18_data.mat',
        'md5': '783ffe651310352e9c09b8ac389876c7',
    }
}

#: Splits that are written: split -> (data variable, labels variable).
SPLITS = {
    'train': ('train_data', 'train_labels'),
    'val': ('val_data', 'val_labels'),
}
#: Bands of a ``*_data`` variable: the spectral bands and the mask.
NUM_BANDS = NUM_INPUT_CHANNELS + 1
#: MATLAB classes of numeric arrays.
NUMERIC_CLASSES = frozenset((
    'double', 'single', 'logical', 'int8', 'uint8', 'int16', 'uint16',
    'int32', 'uint32', 'int64', 'uint64',
))


def _scipy_io():
    try:
        import scipy.io
    except ImportError:
        raise UserError('reading rit18_data.mat needs scipy, which is not installed; '
                        'install it with: ' + install_hint('sets', 'scipy')) from None
    return scipy.io


def _hdf5_variables(path):
    # MATLAB v7.3 files are HDF5: a dataset per variable, its dimensions
    # reversed (column-major), its class in the MATLAB_class attribute
    from ..tools.extras import require
    try:
        h5py = require('h5py', 'sets', f'reading MATLAB v7.3 files such as {path}')
    except ImportError as exc:
        raise UserError(str(exc)) from None
    try:
        with h5py.File(path, 'r') as f:
            variables = {}
            for name, obj in f.items():
                if name.startswith('#'):  # '#refs#', '#subsystem#': not variables
                    continue
                cls = obj.attrs.get('MATLAB_class', b'')
                cls = cls.decode('ascii', 'replace') if isinstance(cls, bytes) else str(cls)
                shape = tuple(reversed(obj.shape)) if isinstance(obj, h5py.Dataset) else ()
                variables[name] = (shape, cls)
            return variables
    except Exception as exc:  # h5py's errors for damaged files vary
        raise UserError(f'{path}: cannot read MATLAB v7.3 file ({type(exc).__name__}: '
                        f'{exc})') from None


def list_variables(path):
    """
    The variables of a .mat file, from their headers (no data is read).

    Returns:
        dict name -> ``(shape, MATLAB class)``

    Raises:
        UserError: scipy (or, for a MATLAB v7.3 file, h5py) is missing, or
            the file is not a MATLAB file
    """
    sio = _scipy_io()
    try:
        return {name: (tuple(shape), cls) for name, shape, cls in sio.whosmat(path)}
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5) files
        return _hdf5_variables(path)
    except Exception as exc:  # scipy raises many types for damaged files
        raise UserError(f'{path}: cannot read MATLAB file ({type(exc).__name__}: '
                        f'{exc})') from None


def load_variable(path, name):
    """
    Load one variable of a .mat file (MATLAB v5/v7, or v7.3 with h5py)
    with :py:func:`datadings_like.tools.matlab.loadmat`; the other
    variables are skipped, not read.

    Raises:
        UserError: the file is damaged or has no such variable
    """
    try:
        from ..tools.matlab import MatFileError
        from ..tools.matlab import loadmat
        mat = loadmat(path, variable_names=[name])
    except MatFileError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:  # a missing extra: the message says which
        raise UserError(str(exc)) from None
    if name not in mat:
        raise UserError(f'{path}: no variable {name!r}; is this the right file?')
    return mat[name]


class MatVariables(Mapping):
    """
    Read-only mapping of the variables of a .mat file that loads a
    variable only when it is looked up (and does not keep it), so that
    only the arrays in use are in memory.

    Parameters:
        path: the .mat file
    """

    def __init__(self, path):
        self.path = path
        #: dict name -> ``(shape, MATLAB class)`` (see :py:func:`list_variables`)
        self.variables = list_variables(path)

    def __getitem__(self, name):
        if name not in self.variables:
            raise KeyError(name)
        return load_variable(self.path, name)

    def __iter__(self):
        return iter(self.variables)

    def __len__(self):
        return len(self.variables)

    def shape(self, name):
        """Shape of a variable (from its header)."""
        return self.variables[name][0]


def check_variables(path, variables):
    """
    Check that the data and label variables of the written splits are
    there with matching shapes, before anything is written.

    Parameters:
        path: the .mat file (for messages)
        variables: dict name -> ``(shape, MATLAB class)``

    Raises:
        UserError: a variable is missing, not numeric, or of the wrong shape
    """
    for data_name, labels_name in SPLITS.values():
        for name in (data_name, labels_name):
            if name not in variables:
                raise UserError(f'{path}: no variable {name!r}; is this the right file?')
            shape, cls = variables[name]
            if cls not in NUMERIC_CLASSES:
                raise UserError(f'{path}: {name!r} is a MATLAB {cls}, expected a numeric array')
        data_shape, labels_shape = variables[data_name][0], variables[labels_name][0]
        if len(data_shape) != 3 or data_shape[0] != NUM_BANDS:
            raise UserError(f'{path}: {data_name!r} has shape {data_shape}, expected '
                            f'({NUM_BANDS}, height, width)')
        if labels_shape != data_shape[1:]:
            raise UserError(f'{path}: {labels_name!r} has shape {labels_shape}, but '
                            f'{data_name!r} is {data_shape}')


def _check_arrays(split, data, labels):
    if data.ndim != 3 or data.shape[0] != NUM_BANDS or labels.shape != data.shape[1:]:
        raise UserError(f'{split}: data of shape {data.shape} and labels of shape '
                        f'{labels.shape} do not fit ({NUM_BANDS} x H x W and H x W)')


def make_sample(key, data, labels):
    """
    A sample from bands ``7 x H x W`` (six spectral bands and the mask)
    and labels ``H x W``: ``image`` uint16 ``6 x H x W``, ``label_image``
    int64, ``mask`` uint8, each C-contiguous.
    """
    import numpy as np
    return MaskedImageSegmentationData(
        key,
        np.ascontiguousarray(data[:NUM_INPUT_CHANNELS], dtype=np.uint16),
        np.ascontiguousarray(labels, dtype=np.int64),
        np.ascontiguousarray(data[-1], dtype=np.uint8),
    )


def write(writer, img, labels, mask, filename):
    """Write one sample with ``writer``."""
    writer.write(MaskedImageSegmentationData(filename, img, labels, mask))


def _write(outfile, samples, args, total):
    from .tools import write_samples
    return write_samples(outfile, samples, None, args, total=total, shuffle=False)


def write_train(outdir, dataset, args):
    """
    Write ``train.msgpack``: the whole training orthomosaic as one sample.

    Parameters:
        outdir: output directory
        dataset: mapping with ``train_data`` and ``train_labels`` (a dict,
            or :py:class:`MatVariables` to load them only once the output
            file may be written)
        args: parsed arguments (``no_confirm``)
    """
    def samples():
        data, labels = dataset['train_data'], dataset['train_labels']
        _check_arrays('train', data, labels)
        sample = make_sample('train', data, labels)
        del data, labels  # the sample holds copies: free the loaded arrays
        yield sample

    return _write(os.path.join(outdir, 'train.msgpack'), samples(), args, total=1)


def _tiles(split, labels, data, crop_size):
    from .tiles import iter_tiles
    _check_arrays(split, data, labels)
    for index, (sub_data, sub_labels) in iter_tiles([data, labels], crop_size):
        yield make_sample(f'{split}_{index}', sub_data, sub_labels)


def write_set(outdir, split, labels, data, args, crop_size):
    """
    Write ``SPLIT.msgpack``: the orthomosaic cut into tiles of
    ``crop_size``, keys ``SPLIT_0``, ``SPLIT_1``, ... (row by row; the
    smaller tiles at the bottom and right edges are kept).

    Parameters:
        outdir: output directory
        split: split name
        labels: labels ``H x W``
        data: bands ``7 x H x W``
        args: parsed arguments (``no_confirm``)
        crop_size: ``(height, width)`` of the tiles
    """
    from .tiles import count_tiles
    total = count_tiles(*data.shape[1:], *crop_size)
    return _write(os.path.join(outdir, split + '.msgpack'),
                  _tiles(split, labels, data, crop_size), args, total)


def write_sets(files, outdir, args, crop_size=(CROP_SIZE, CROP_SIZE)):
    """
    Write ``train.msgpack`` and ``val.msgpack`` from ``rit18_data.mat``,
    loading only the variables of the split being written.

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory
        args: parsed arguments (``no_confirm``)
        crop_size: ``(height, width)`` of the val tiles

    Raises:
        UserError: the file is damaged or not the RIT-18 file
    """
    from .tiles import count_tiles
    from .tools import write_splits

    path = files['mat']['path']
    dataset = MatVariables(path)
    check_variables(path, dataset.variables)

    def write_split(split):
        if split == 'train':
            return write_train(outdir, dataset, args)
        data_name, labels_name = SPLITS[split]

        def samples():
            yield from _tiles(split, dataset[labels_name], dataset[data_name], crop_size)

        total = count_tiles(*dataset.shape(data_name)[1:], *crop_size)
        return _write(os.path.join(outdir, split + '.msgpack'), samples(), args, total)

    return write_splits(list(SPLITS), write_split)


def main(argv=None):
    """Write the RIT18 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__, shuffle=False)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    _scipy_io()  # before a download that could not be read
    files = prepare_indir(FILES, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
