"""Create MIT1003 data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- ALLSTIMULI.zip (the 1003 images) from
  http://people.csail.mit.edu/tjudd/WherePeopleLook/ALLSTIMULI.zip
- DATA.zip (the eye-tracking data of the 15 observers) from
  http://people.csail.mit.edu/tjudd/WherePeopleLook/DATA.zip

No registration is needed. The zips are read as they are (do not unpack
them); their MD5 hashes are checked unless -s is given.

It writes MIT1003.msgpack (1003 samples) to OUTDIR (default: INDIR), one
sample per image ALLSTIMULI/<name>.jpeg (the JPEG byte for byte; "key" is
"ALLSTIMULI/<name>.jpeg"). Its "experiments" hold one entry per observer
file DATA/<user>/<name>.mat, in the order of DATA.zip: "locations" is the
file's eyeData, an Nx2 float32 array of gaze positions (x, y) in image
pixels, and "map" is None (datadings_like.sets.saliency.fixation_map makes
a saliency map). Both layouts of the .mat files are read.

See also:
    http://people.csail.mit.edu/tjudd/WherePeopleLook/index.html

"""
from collections import defaultdict
import os
import posixpath

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import require_matlab
from .types import SaliencyData
from .types import SaliencyExperiment

__doc__ += document_keys(
    SaliencyData,
    postfix=document_keys(
        SaliencyExperiment,
        block='',
        prefix='Each experiment has the following keys:',
    ),
)

__all__ = (
    'FILES',
    'OUTFILE',
    'eye_data',
    'find_experiments',
    'main',
    'make_sample',
    'stimulus_names',
    'write_image',
    'write_sets',
)

BASE_URL = 'http://people.csail.mit.edu/tjudd/WherePeopleLook/'
FILES = {
    'stimuli': {
        'path': 'ALLSTIMULI.zip',
        'url': BASE_URL + 'ALLSTIMULI.zip',
        'md5': '0d7df8b954ecba69b6796e77b9afe4b6',
    },
    'data': {
        'path': 'DATA.zip',
        'url': BASE_URL + 'DATA.zip',
        'md5': 'ea19d74ad0a0144428c53e9d75c2d71c',
    },
}

#: Name of the dataset file.
OUTFILE = 'MIT1003.msgpack'
#: Extension of the images in ALLSTIMULI.zip.
IMAGE_EXT = '.jpeg'
# the struct fields that hold the gaze data, and where datadings 3.4.7
# expects them when they have other names: the 5th field of the file's
# struct (or the 1st, in the shorter layout), and the 3rd field of that
_DATA_FIELD = ('DATA', 4)
_EYE_FIELD = ('eyeData', 2)


def stimulus_names(imagezip):
    """
    The images of ALLSTIMULI.zip in the zip's order: members ending in
    ``.jpeg`` (``Thumbs.db`` and macOS ``__MACOSX/`` files are skipped).

    Raises:
        UserError: there are none
    """
    names = [n for n in imagezip.namelist()
             if n.endswith(IMAGE_EXT) and not n.startswith('__MACOSX/')]
    if not names:
        raise UserError(f'{imagezip.filename}: no {IMAGE_EXT} images found; '
                        'is this the right archive?')
    return names


def find_experiments(datazip):
    """
    Map image file names to their observer files: ``DATA/<user>/<name>.mat``
    belongs to the image ``<name>.jpeg``.

    Parameters:
        datazip: open ``zipfile.ZipFile`` of DATA.zip

    Returns:
        dict ``image file name -> [member names]`` in the zip's order

    Raises:
        UserError: the zip has no such files
    """
    mapping = defaultdict(list)
    for name in datazip.namelist():
        parts = name.split('/')
        if len(parts) == 3 and parts[2].endswith('.mat') and parts[0] != '__MACOSX':
            mapping[parts[2][:-len('.mat')] + IMAGE_EXT].append(name)
    if not mapping:
        raise UserError(f'{datazip.filename}: no DATA/<user>/<name>.mat files found; '
                        'is this the right archive?')
    return mapping


def _field(struct, field, where, what):
    name, position = field
    names = struct.dtype.names or ()
    if name in names:
        return struct[name]
    if not names:
        raise UserError(f'{where}: {what} is not a struct')
    # datadings 3.4.7 reads the fields by position; the shorter layout of
    # the DATA struct has it first
    if position >= len(names):
        position = 0 if field is _DATA_FIELD else None
    if position is None:
        raise UserError(f'{where}: {what} has no field {name} (fields: {", ".join(names)})')
    return struct[names[position]]


def _first_element(value, where, what):
    if not isinstance(value, np.ndarray) or value.dtype.names is None or not value.size:
        raise UserError(f'{where}: {what} is not a (non-empty) struct')
    return value.flat[0]


def eye_data(mat_data, where, stem=None):
    """
    The gaze positions of one observer file of DATA.zip: the ``eyeData``
    of the (first) ``DATA`` struct of the file's variable. Both layouts of
    the files are read: the variable's struct has ``DATA`` as its 5th
    field, or (one file) as its first.

    Parameters:
        mat_data: contents of the ``.mat`` file
        where: name for messages (archive and member)
        stem: the image's name without extension; the variable of that
            name is read if the file has several

    Returns:
        ``float32`` array ``Nx2`` of ``(x, y)`` (``0x0``/``0x2`` for no data)

    Raises:
        UserError: not a MATLAB file, or not the layout described
    """
    from .tools import load_mat
    variables = {k: v for k, v in load_mat(mat_data, where).items() if not k.startswith('__')}
    if stem in variables:
        value = variables[stem]
    elif len(variables) == 1:
        value = next(iter(variables.values()))
    else:
        raise UserError(f'{where}: expected one variable, found {len(variables)} '
                        f'({", ".join(sorted(variables)) or "none"})')
    top = _first_element(value, where, 'the variable')
    data = _first_element(_field(top, _DATA_FIELD, where, 'the variable'), where, 'DATA')
    gaze = _field(data, _EYE_FIELD, where, 'DATA')
    if not isinstance(gaze, np.ndarray) or not (
            np.issubdtype(gaze.dtype, np.number) or gaze.dtype == np.bool_) \
            or np.iscomplexobj(gaze):
        raise UserError(f'{where}: eyeData is not a numeric array')
    if gaze.ndim != 2 or (gaze.size and gaze.shape[1] != 2):
        raise UserError(f'{where}: eyeData must be an Nx2 array of (x, y), '
                        f'found shape {gaze.shape}')
    return gaze.astype(np.float32)


def make_sample(imagezip, datazip, mat_files, stimuluspath):
    """
    The sample of one image: the JPEG as it is and one experiment per
    observer file.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of ALLSTIMULI.zip
        datazip: open ``zipfile.ZipFile`` of DATA.zip
        mat_files: :py:func:`find_experiments` of DATA.zip
        stimuluspath: member name of the image

    Returns:
        ``SaliencyData``

    Raises:
        UserError: a member is missing, damaged or not what it should be
    """
    from .MIT300_write import check_jpeg
    from .tools import read_member
    image = check_jpeg(read_member(imagezip, stimuluspath),
                       f'{imagezip.filename}: {stimuluspath}')
    filename = posixpath.basename(stimuluspath)
    stem = filename[:-len(IMAGE_EXT)]
    experiments = [
        SaliencyExperiment(
            eye_data(read_member(datazip, member), f'{datazip.filename}: {member}', stem),
            None)
        for member in mat_files.get(filename, ())
    ]
    key = '/'.join(stimuluspath.split('/')[-2:])
    return SaliencyData(key, image, experiments)


def write_image(imagezip, datazip, mat_files, stimuluspath, writer):
    """
    Write the sample of one image (see :py:func:`make_sample`).

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of ALLSTIMULI.zip
        datazip: open ``zipfile.ZipFile`` of DATA.zip
        mat_files: :py:func:`find_experiments` of DATA.zip
        stimuluspath: member name of the image
        writer: :py:class:`~datadings_like.writer.FileWriter`
    """
    writer.write(make_sample(imagezip, datazip, mat_files, stimuluspath))


def write_sets(files, outdir, args):
    """
    Write ``OUTDIR/MIT1003.msgpack`` (existing file: see
    :py:func:`~datadings_like.sets.tools.write_splits`).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from .tools import open_zip
    from .tools import write_samples
    from .tools import write_splits

    with open_zip(files['stimuli']['path']) as imagezip, \
            open_zip(files['data']['path']) as datazip:
        mat_files = find_experiments(datazip)
        names = stimulus_names(imagezip)
        keys = ['/'.join(n.split('/')[-2:]) for n in names]
        if len(set(keys)) != len(keys):
            raise UserError(f'{imagezip.filename}: two images have the same folder and '
                            'file name')
        written = write_splits(['MIT1003'], lambda _: write_samples(
            os.path.join(outdir, OUTFILE), names,
            lambda name: make_sample(imagezip, datazip, mat_files, name), args, threads=1))
    return written.get('MIT1003', 0)


def main(argv=None):
    """Write the MIT1003 dataset file; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    require_matlab()

    files = prepare_indir(FILES, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
