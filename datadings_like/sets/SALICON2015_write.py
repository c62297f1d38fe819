"""Create SALICON 2015 challenge data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- image.zip (the 20000 images: 10000 train, 5000 val, 5000 test)
- fixations.zip (the 2015 mouse-tracking data: one .mat per train and
  val image)
"""
import os

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import load_mat
from .tools import open_zip
from .tools import read_member
from .types import SaliencyData
from .types import SaliencyTimeseriesExperiment

#: Help text shared by SALICON2015_write and SALICON2017_write.
HELP = """
Both are on Google Drive, linked from http://salicon.net/challenge-2017/
(scroll to "Download"); no registration is needed. If the download
fails (Google Drive may answer with a web page instead of the file),
download them in a browser and put them into INDIR. The zips are read
as they are (do not unpack them); their MD5 hashes are checked unless -s
is given. Reading the .mat files needs scipy: pip install '.[sets]' in
the source tree.

It writes train.msgpack, val.msgpack and test.msgpack to OUTDIR
(default: INDIR). "key" is the image's path in image.zip without
"images/" and ".jpg" (e.g. "train/COCO_train2014_000000000009"), "image"
the JPEG from the zip byte for byte. "experiments" has one entry per
observer of the image: "locations" (float32 Nx2, the mouse positions,
x and y in pixels counted from 1), "timestamps" (float32 N, the time of
each position), "fixations" (float32 Mx2, the fixations inferred from
them) and "map" (None). Test images have no fixation data: their "experiments" is
empty (a .mat of a test image in fixations.zip is read if there is one).

SALICON2015 and SALICON2017 write files of the same names: give each its
own OUTDIR (-o).
"""


def describe_keys():
    """The sample keys for the help text (``document_keys``)."""
    return document_keys(
        SaliencyData,
        postfix=document_keys(
            SaliencyTimeseriesExperiment,
            block='',
            prefix='Each experiment has the following keys:'
        )
    )


__doc__ += HELP + """
See also:
    http://salicon.net/challenge-2015/

""" + describe_keys()

__all__ = (
    'FILES',
    'HELP',
    'describe_keys',
    'experiments_from_mat',
    'get_keys',
    'main',
    'make_sample',
    'run',
    'write_set',
    'write_sets',
    'yield_samples',
)

BASE_URL = 'https://drive.usercontent.google.com/download?export=download&confirm=t&id='
FILES = {
    'images': {
        'path': 'image.zip',
        'url': BASE_URL + '1g8j-hTT-51IG1UFwP0xTGhLdgIUCW5e5',
        'md5': 'eb2a1bb706633d1b31fc2e01422c5757',
    },
    'fixations': {
        'path': 'fixations.zip',
        'url': BASE_URL + '1WVEiXba-I4GN33f0uUl4KhaN1rK7qzs6',
        'md5': '9a22db9d718200fb90252e5010c004c4',
    },
}

#: Directory of the images in ``image.zip``.
IMAGE_DIR = 'images'
#: Splits in the order they are written.
SPLITS = ('train', 'val', 'test')
#: Splits whose every image must have a ``.mat`` in ``fixations.zip``.
ANNOTATED_SPLITS = ('train', 'val')
#: Fields of a ``gaze`` element, in the order of the samples' keys.
GAZE_FIELDS = ('location', 'timestamp', 'fixations')


# ------------------------------------------------------------------ zips

def _zip_name(zf):
    return os.path.basename(zf.filename or '') or 'zip archive'


def _has(zf, name):
    try:
        zf.getinfo(name)
    except KeyError:
        return False
    return True


# ------------------------------------------------------------ fixations

def _numeric(value, where):
    array = np.asarray(value)
    if array.dtype.kind not in 'biuf':
        raise UserError(f'{where}: expected numbers, found {array.dtype} of shape {array.shape}')
    return array


def _points(value, where):
    """An Nx2 array of float32 points (0x2 if empty)."""
    array = _numeric(value, where)
    if array.size == 0:
        return np.zeros((0, 2), np.float32)
    if array.ndim != 2 or array.shape[1] != 2:
        raise UserError(f'{where}: expected an Nx2 array of (x, y), found shape {array.shape}')
    return array.astype(np.float32)


def _vector(value, where):
    """A 1-d float32 array of an Nx1 or 1xN array."""
    array = _numeric(value, where)
    if sum(n != 1 for n in array.shape) > 1:
        raise UserError(f'{where}: expected an Nx1 array, found shape {array.shape}')
    return array.astype(np.float32).reshape(-1)


def experiments_from_mat(mat, where='.mat file'):
    """
    The experiments of one SALICON ``.mat`` file: one
    :py:func:`~datadings_like.sets.types.SaliencyTimeseriesExperiment`
    per element of its struct array ``gaze`` (in MATLAB's order), with
    ``locations`` (float32 Nx2, from ``location``), ``timestamps`` (float32
    N, from ``timestamp``), ``fixations`` (float32 Mx2) and ``map`` None.
    Empty arrays become 0x2 (0 for timestamps).

    Parameters:
        mat: the dict of :py:func:`~datadings_like.tools.matlab.loadmat`
        where: name of the file for messages

    Returns:
        list of experiments; empty if there is no ``gaze`` (test images)

    Raises:
        UserError: ``gaze`` is not a struct with the fields ``location``,
            ``timestamp`` and ``fixations``, or they are not numeric
            arrays of the expected shapes
    """
    gaze = mat.get('gaze')
    if gaze is None:
        return []
    if not isinstance(gaze, np.ndarray) or gaze.dtype.names is None:
        raise UserError(f'{where}: "gaze" is not a MATLAB struct array')
    missing = [f for f in GAZE_FIELDS if f not in gaze.dtype.names]
    if missing:
        raise UserError(f'{where}: "gaze" lacks the field(s) {", ".join(missing)}')
    experiments = []
    for i, subject in enumerate(gaze.ravel(order='F')):
        here = f'{where}: gaze({i + 1})'
        experiments.append(SaliencyTimeseriesExperiment(
            _points(subject['location'], here + '.location'),
            None,
            _vector(subject['timestamp'], here + '.timestamp'),
            _points(subject['fixations'], here + '.fixations'),
        ))
    return experiments


# -------------------------------------------------------------- samples

def get_keys(imagezip, split):
    """
    The keys of a split's images, in the order of ``image.zip``: the
    member names ``images/SPLIT/NAME.jpg`` without ``images/`` and
    ``.jpg`` (e.g. ``train/COCO_train2014_000000000009``).

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of ``image.zip``
        split: ``'train'``, ``'val'`` or ``'test'``

    Returns:
        list of str
    """
    prefix = f'{IMAGE_DIR}/{split}/'
    return [name[len(IMAGE_DIR) + 1:-len('.jpg')] for name in imagezip.namelist()
            if name.startswith(prefix) and name.endswith('.jpg')
            and len(name) > len(prefix) + len('.jpg')]


def _image_member(key):
    return f'{IMAGE_DIR}/{key}.jpg'


def _mat_member(key):
    return key + '.mat'


def make_sample(key, imagezip, fixationzip):
    """
    The sample of one image: its JPEG from ``image.zip`` and the
    experiments of ``KEY.mat`` in ``fixations.zip`` (none if there is no
    such file).

    Parameters:
        key: sample key (see :py:func:`get_keys`)
        imagezip: open ``zipfile.ZipFile`` of ``image.zip``
        fixationzip: open ``zipfile.ZipFile`` of ``fixations.zip``

    Returns:
        :py:func:`~datadings_like.sets.types.SaliencyData` dict

    Raises:
        UserError: a missing or damaged member (named)
    """
    image = read_member(imagezip, _image_member(key))
    name = _mat_member(key)
    if _has(fixationzip, name):
        where = f'{_zip_name(fixationzip)}: {name}'
        experiments = experiments_from_mat(load_mat(read_member(fixationzip, name), where,
                                                                 variable_names=['gaze']), where)
    else:
        experiments = []
    return SaliencyData(key, image, experiments)


def yield_samples(keys, imagezip, fixationzip):
    """
    Generate the samples of ``keys``, reading each image and ``.mat`` as
    it is needed (see :py:func:`make_sample`).

    Parameters:
        keys: sample keys (see :py:func:`get_keys`)
        imagezip: open ``zipfile.ZipFile`` of ``image.zip``
        fixationzip: open ``zipfile.ZipFile`` of ``fixations.zip``

    Returns:
        generator of :py:func:`~datadings_like.sets.types.SaliencyData` dicts
    """
    for key in keys:
        yield make_sample(key, imagezip, fixationzip)


def write_set(split, gen, outdir, total, args=None):
    """
    Write the samples of ``gen`` to ``OUTDIR/SPLIT.msgpack`` in the
    order they come.

    Parameters:
        split: split name, the file name without ``.msgpack``
        gen: iterable of samples
        outdir: output directory
        total: number of samples (for the progress bar)
        args: parsed arguments (``no_confirm``, ``quiet``), or None: an
            existing file is then only replaced if the user says so

    Returns:
        number of samples written
    """
    from .tools import write_samples
    return write_samples(os.path.join(outdir, split + '.msgpack'), gen, None, args,
                         total=total, shuffle=False)


def _check_fixations(keys, fixationzip):
    for split in ANNOTATED_SPLITS:
        missing = [_mat_member(k) for k in keys[split] if not _has(fixationzip, _mat_member(k))]
        if missing:
            more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
            raise UserError(
                f'{fixationzip.filename}: {", ".join(missing[:3])}{more} not found '
                f'(the fixations of {split} images); is this the right archive?'
            )


def write_sets(files, outdir, args):
    """
    Write ``train.msgpack``, ``val.msgpack`` and ``test.msgpack``. Before
    anything is written, every split must have images and every train and
    val image its ``.mat`` file. Existing output files: see
    :py:func:`~datadings_like.sets.tools.write_splits`.

    Parameters:
        files: located source files (``prepare_indir`` result, keys
            ``images`` and ``fixations``)
        outdir: output directory
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)

    Returns:
        dict ``split -> number of samples written``
    """
    from .tools import write_samples
    from .tools import write_splits

    with open_zip(files['images']['path']) as imagezip, \
            open_zip(files['fixations']['path']) as fixationzip:
        keys = {split: get_keys(imagezip, split) for split in SPLITS}
        for split, names in keys.items():
            if not names:
                raise UserError(f'{imagezip.filename}: no {IMAGE_DIR}/{split}/*.jpg found; '
                                'is this the right archive?')
        _check_fixations(keys, fixationzip)

        def convert(key):
            return make_sample(key, imagezip, fixationzip)

        return write_splits(list(SPLITS), lambda split: write_samples(
            os.path.join(outdir, split + '.msgpack'), keys[split], convert, args))


def run(files, description, argv=None):
    """
    The command line of a SALICON writer: parse ``argv``, fetch and verify
    ``files``, write the splits. SALICON2015 and SALICON2017 differ only
    in their ``files`` (the fixations).

    Parameters:
        files: the source files (like :py:data:`FILES`)
        description: help text
        argv: command line arguments (default: ``sys.argv[1:]``)
    """
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import make_parser

    parser = make_parser(description)
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    located = prepare_indir(files, args)
    write_sets(located, outdir, args)


def main(argv=None):
    """Write the SALICON 2015 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    run(FILES, __doc__, argv)


if __name__ == '__main__':
    run_main(main)
