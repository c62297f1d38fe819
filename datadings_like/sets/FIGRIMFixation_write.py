"""Create FIGRIM Fixation data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- Targets.zip (the 630 target images) from http://figrim.mit.edu/Targets.zip
- allImages_release.mat (their eye-tracking data) from
  https://github.com/cvzoya/figrim/raw/master/targetData/allImages_release.mat
- Fillers.zip (the filler images) from http://figrim.mit.edu/Fillers.zip
- allImages_fillers.mat (their eye-tracking data) from
  https://github.com/cvzoya/figrim/raw/master/fillerData/allImages_fillers.mat

No registration is needed. The zips are read as they are (do not unpack
them); the MD5 hashes of all four files are checked unless -s is given.
Reading the .mat files needs scipy: pip install '.[sets]' in the source
tree.

It writes target.msgpack (from Targets.zip and allImages_release.mat) and
filler.msgpack (from Fillers.zip and allImages_fillers.mat) to OUTDIR
(default: INDIR). "key" is the image's path in the zip (e.g.
"Targets/airport_terminal/sun_aabkzjntjfarengi.jpg"), "image" the JPEG
from the zip byte for byte. The .mat files hold a struct array allImages
whose "impath" is that path; an image that is not listed there is skipped.
"experiments" has one entry per observer who saw the image and each time
it was shown (the fields of userdata(j).fixations: enc, rec, rec2; the
fillers have fixations of enc only, their rec and rec2 are empty):
"locations" (float32 Nx2, the fixations, x and y in pixels counted from
1; 0x0 when empty) and "map" (None). Observers without fixations are left
out.

See also:
    http://figrim.mit.edu/index_eyetracking.html

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
from .types import SaliencyExperiment

__doc__ += document_keys(
    SaliencyData,
    postfix=document_keys(
        SaliencyExperiment,
        block='',
        prefix='Each experiment has the following keys:'
    )
)

__all__ = (
    'FILES_FILLER',
    'FILES_TARGET',
    'experiments_of_subjects',
    'load_mat_file',
    'main',
    'write_set',
    'write_sets',
)

BASE_URL_MIT = 'http://figrim.mit.edu/'
BASE_URL_GIT = 'https://github.com/cvzoya/figrim/raw/master/'
FILES_TARGET = {
    'mat': {
        'path': 'allImages_release.mat',
        'url': BASE_URL_GIT + 'targetData/allImages_release.mat',
        'md5': 'c72843b05e95ab27594c1d11c849c897',
    },
    'zip': {
        'path': 'Targets.zip',
        'url': BASE_URL_MIT + 'Targets.zip',
        'md5': '2ad3a42ebc377efe4b39064405568201',
    },
}
FILES_FILLER = {
    'mat': {
        'path': 'allImages_fillers.mat',
        'url': BASE_URL_GIT + 'fillerData/allImages_fillers.mat',
        'md5': 'ce4f8b4961005d62f7a21191a64cab5e',
    },
    'zip': {
        'path': 'Fillers.zip',
        'url': BASE_URL_MIT + 'Fillers.zip',
        'md5': 'dc0bc9561b5bc90e158ec32074dd1060',
    },
}

#: The struct array in the ``.mat`` files.
VARIABLE = 'allImages'


# ----------------------------------------------------------------- .mat

def _string(value):
    """A MATLAB char array as str, or None if it is not one."""
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.dtype.kind == 'U' and array.size == 1:
        return str(array.ravel()[0])
    return None


def load_mat_file(path):
    """
    Read a FIGRIM ``.mat`` file: the struct array ``allImages`` (or the
    file's only variable), one element per image with the fields
    ``impath`` (the image's path in the zip) and ``userdata`` (one element
    per observer).

    Parameters:
        path: ``allImages_release.mat`` or ``allImages_fillers.mat``

    Returns:
        dict ``impath -> userdata`` (a structured numpy array); a path
        listed twice keeps its last entry

    Raises:
        UserError: not a MATLAB file, or not the struct described above
    """
    mat = load_mat(path)
    variables = {k: v for k, v in mat.items() if not k.startswith('__')}
    if VARIABLE in variables:
        images = variables[VARIABLE]
    elif len(variables) == 1:
        images = next(iter(variables.values()))
    else:
        found = ', '.join(sorted(variables)) or 'none'
        raise UserError(f'{path}: no struct "{VARIABLE}" (variables: {found}); '
                        'is this a FIGRIM .mat file?')
    if not isinstance(images, np.ndarray) or images.dtype.names is None:
        raise UserError(f'{path}: "{VARIABLE}" is not a MATLAB struct array')
    missing = [f for f in ('impath', 'userdata') if f not in images.dtype.names]
    if missing:
        raise UserError(f'{path}: "{VARIABLE}" lacks the field(s) {", ".join(missing)}')
    locations = {}
    for i, image in enumerate(images.ravel(order='F')):
        impath = _string(image['impath'])
        if impath is None:
            raise UserError(f'{path}: {VARIABLE}({i + 1}).impath is not a file name')
        userdata = image['userdata']
        if not isinstance(userdata, np.ndarray):
            raise UserError(f'{path}: {VARIABLE}({i + 1}).userdata is not a struct array')
        locations[impath] = userdata
    return locations


def experiments_of_subjects(userdata, where='userdata'):
    """
    The experiments of one image: for each observer (element of
    ``userdata``) whose ``fixations`` is not empty, one
    :py:func:`~datadings_like.sets.types.SaliencyExperiment` per field of
    ``fixations`` (``enc``, ``rec``, ``rec2``), in that order, with the
    field's array as float32 ``locations`` (its shape kept: Nx2, or 0x0
    when empty) and ``map`` None.

    Parameters:
        userdata: the ``userdata`` struct array of an image (or an empty
            array: no observers)
        where: name for messages

    Returns:
        list of experiments

    Raises:
        UserError: ``userdata`` has no field ``fixations``, or it holds
            something other than a struct of numeric arrays
    """
    if userdata.size == 0:
        return []
    if userdata.dtype.names is None or 'fixations' not in userdata.dtype.names:
        raise UserError(f'{where}: not a struct array with a field "fixations"')
    experiments = []
    for j, subject in enumerate(userdata.ravel(order='F')):
        fixations = subject['fixations']
        if not isinstance(fixations, np.ndarray) or fixations.size == 0:
            continue  # the observer did not see this image
        here = f'{where}({j + 1}).fixations'
        if fixations.dtype.names is None:
            raise UserError(f'{here} is not a struct (of enc, rec, rec2)')
        presentations = fixations.ravel(order='F')[0]
        for name in fixations.dtype.names:
            locations = np.asarray(presentations[name])
            if locations.dtype.kind not in 'biuf':
                raise UserError(f'{here}.{name}: expected numbers, found {locations.dtype}')
            if locations.size and (locations.ndim != 2 or locations.shape[1] != 2):
                raise UserError(f'{here}.{name}: expected an Nx2 array of (x, y), '
                                f'found shape {locations.shape}')
            experiments.append(SaliencyExperiment(locations.astype(np.float32), None))
    return experiments


# ---------------------------------------------------------------- writing

def _listed_images(files, locations):
    """The images of the zip that the ``.mat`` lists, in the zip's order."""
    mat_path = files['mat']['path']
    with open_zip(files['zip']['path']) as imagezip:
        images = [name for name in imagezip.namelist() if name.endswith('.jpg')]
        names = [name for name in images if name in locations]
        if images and not names:
            raise UserError(
                f'{mat_path}: lists none of the images of {imagezip.filename} '
                f'(e.g. {images[0]}); are these the right files?')
        if not names:
            raise UserError(f'{imagezip.filename}: no .jpg images found; '
                            'is this the right archive?')
    return names


def _where(files, name):
    return f'{os.path.basename(files["mat"]["path"])}: {name}: userdata'


def _prepare(files):
    """Read and check the ``.mat`` file and the zip's member list:
    ``(locations, names)``."""
    locations = load_mat_file(files['mat']['path'])
    names = _listed_images(files, locations)
    for name in names:
        experiments_of_subjects(locations[name], _where(files, name))  # raises if malformed
    return locations, names


def write_set(split, files, outdir, args, prepared=None):
    """
    Write ``OUTDIR/SPLIT.msgpack``: the images of ``files['zip']`` that
    ``files['mat']`` lists, in the zip's order (or shuffled), with their
    experiments (see :py:func:`experiments_of_subjects`). Images the
    ``.mat`` file does not list are skipped.

    Parameters:
        split: ``'target'`` or ``'filler'``
        files: located source files, keys ``mat`` and ``zip``
        outdir: output directory
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)
        prepared: the sources read and checked already (as
            :py:func:`write_sets` does before writing anything); default:
            read them here

    Returns:
        number of samples written

    Raises:
        UserError: damaged sources, or no image of the zip is listed in
            the ``.mat`` file
    """
    from .tools import write_samples

    locations, names = prepared or _prepare(files)
    with open_zip(files['zip']['path']) as imagezip:

        def convert(name):
            experiments = experiments_of_subjects(locations[name], _where(files, name))
            return SaliencyData(name, read_member(imagezip, name), experiments)

        return write_samples(os.path.join(outdir, split + '.msgpack'), names, convert, args)


def write_sets(files_target, files_filler, outdir, args):
    """
    Write ``target.msgpack`` and ``filler.msgpack``. Both ``.mat`` files
    and zips are read and checked before anything is written; existing
    output files: see :py:func:`~datadings_like.sets.tools.write_splits`.

    Parameters:
        files_target: located source files of the targets (keys ``mat``, ``zip``)
        files_filler: the same for the fillers
        outdir: output directory
        args: parsed arguments

    Returns:
        dict ``split -> number of samples written``
    """
    from .tools import write_splits

    files = {'target': files_target, 'filler': files_filler}
    prepared = {split: _prepare(f) for split, f in files.items()}
    return write_splits(list(files), lambda split: write_set(
        split, files[split], outdir, args, prepared[split]))


def main(argv=None):
    """Write the FIGRIM Fixation dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
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

    files_target = prepare_indir(FILES_TARGET, args)
    files_filler = prepare_indir(FILES_FILLER, args)
    write_sets(files_target, files_filler, outdir, args)


if __name__ == '__main__':
    run_main(main)
