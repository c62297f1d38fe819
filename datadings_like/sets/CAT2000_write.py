"""Create CAT2000 data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- trainSet.zip (2000 images with fixations) from http://saliency.mit.edu/trainSet.zip
- testSet.zip (2000 images without fixations) from http://saliency.mit.edu/testSet.zip

No registration is needed. The zips are read as they are (do not unpack
them); their MD5 hashes are checked unless -s is given.

It writes train.msgpack and test.msgpack to OUTDIR (default: INDIR), one
sample per image Stimuli/<category>/<NNN>.jpg ("key" is
"<category>/<NNN>.jpg"; Output folders are skipped). Every image is cropped
to its content (the grey border around it is removed), resized with the
Lanczos filter so that its longer side has 1024 pixels, and stored as JPEG
(quality 90, 4:4:4). "experiments" holds one experiment: "locations" are
the fixated pixels (x, y) of FIXATIONLOCS/<category>/<NNN>.mat, moved into
the resized image, as an Nx2 float64 array (points at (0, 0) or outside the
image are dropped; None in the test set), and "map" is None
(datadings_like.sets.saliency.fixation_map makes a saliency map).

-t N converts N images at a time (decoding, resizing and encoding run in
parallel).

See also:
    http://saliency.mit.edu/results_cat2000.html

"""
import os

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
    'SPLITS',
    'create_sample',
    'decode',
    'filter_invalid_fixpoints',
    'find_bbox',
    'find_fixpoints',
    'fixation_member',
    'load_fixlocs',
    'main',
    'stimulus_names',
    'transform_image',
    'transform_points',
    'write_set',
    'write_sets',
    'yield_samples',
)

BASE_URL = 'http://saliency.mit.edu/'
FILES = {
    'train': {
        'path': 'trainSet.zip',
        'url': BASE_URL + 'trainSet.zip',
        'md5': '56ad5c77e6c8f72ed9ef2901628d6e48',
    },
    'test': {
        'path': 'testSet.zip',
        'url': BASE_URL + 'testSet.zip',
        'md5': '903ec668df2e5a8470aef9d8654e7985',
    },
}

#: Splits in the order they are written.
SPLITS = ('train', 'test')
#: A pixel belongs to the border if no channel differs from the top-left
#: pixel by more than this.
BORDER_TOLERANCE = 10
_STIMULI = 'Stimuli'
_FIXATIONS = 'FIXATIONLOCS'


# ----------------------------------------------------------------- images

def decode(data, where='image'):
    """
    Decode JPEG data to an RGB Pillow image (grey images become RGB).

    Parameters:
        data: file contents
        where: name for messages

    Returns:
        ``PIL.Image.Image`` of mode RGB

    Raises:
        UserError: not an image, or damaged
    """
    from .tools import ImageError
    from .tools import load_image
    from .tools import open_image
    try:
        image = load_image(open_image(data))
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    return image if image.mode == 'RGB' else image.convert('RGB')


def find_bbox(image, tolerance=BORDER_TOLERANCE):
    """
    The box of an image's content inside a uniform border: the smallest
    box holding every pixel that differs from the top-left pixel by more
    than ``tolerance`` in a channel.

    Parameters:
        image: RGB or grey Pillow image (or ``HxWx3``/``HxW`` uint8 array)
        tolerance: largest difference that counts as border

    Returns:
        ``(left, upper, right, lower)`` as for ``Image.crop`` (``right``
        and ``lower`` exclusive), or ``None`` if the image is uniform
    """
    from PIL import Image
    from PIL import ImageChops
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image, np.uint8))
    if image.mode not in ('RGB', 'L'):
        image = image.convert('RGB')
    # Pillow's C loops: much faster than numpy on a 1920x1080x3 array
    border = Image.new(image.mode, image.size, image.getpixel((0, 0)))
    difference = ImageChops.difference(image, border)
    # one lookup table per band: 0 up to the tolerance, 255 above it
    table = ([0] * (tolerance + 1) + [255] * (255 - tolerance)) * len(image.getbands())
    return difference.point(table).getbbox()


def transform_image(image, bbox, size=None):
    """
    Crop an image to ``bbox`` and resize it (Lanczos filter) so that its
    longer side has ``size`` pixels (up or down).

    Parameters:
        image: Pillow image
        bbox: ``(left, upper, right, lower)``, or ``None`` for the whole image
        size: pixels of the longer side (default
            :py:data:`datadings_like.sets.CAT2000.IMAGE_SIZE`, 1024)

    Returns:
        ``(scale factor, resized image)``; the new size is
        ``round(w * scale), round(h * scale)`` of the cropped size ``w, h``
    """
    from PIL import Image
    from .CAT2000 import IMAGE_SIZE
    size = IMAGE_SIZE if size is None else size
    cropped = image.crop(bbox) if bbox is not None else image
    w, h = cropped.size
    r = size / max(w, h)
    new = (max(1, int(round(w * r))), max(1, int(round(h * r))))
    return r, cropped.resize(new, Image.LANCZOS)


# --------------------------------------------------------------- fixations

def load_fixlocs(data, where='fixation file'):
    """
    The binary fixation map ``fixLocs`` of a ``FIXATIONLOCS`` ``.mat`` file.

    Parameters:
        data: file contents
        where: name for messages

    Returns:
        2-d numeric array, nonzero where an observer fixated

    Raises:
        UserError: not a MATLAB file, no ``fixLocs``, or not a 2-d numeric array
    """
    from .tools import load_mat
    arr = load_mat(data, where, variable_names=['fixLocs']).get('fixLocs')
    if arr is None:
        raise UserError(f'{where}: no variable fixLocs')
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or not (
            np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) \
            or np.iscomplexobj(arr):
        raise UserError(f'{where}: fixLocs is not a 2-d numeric array')
    return arr


def find_fixpoints(arr):
    """
    The fixated pixels of a binary fixation map.

    Parameters:
        arr: 2-d array, nonzero where fixated

    Returns:
        ``float32`` array ``Nx2`` of ``(x, y)`` = (column, row), in row-major order
    """
    rows, cols = np.nonzero(arr)
    return np.stack([cols, rows], axis=1).astype(np.float32)


def transform_points(points, offset, scale_factor):
    """
    Move points into a cropped and resized image.

    Parameters:
        points: ``Nx2`` array of ``(x, y)``
        offset: the crop box ``(left, upper, ...)`` (its first two values
            are used), or ``None`` for no crop
        scale_factor: the resize factor

    Returns:
        ``float64`` array ``Nx2``: ``(points - (left, upper)) * scale_factor``
    """
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if offset is not None:
        points = points - np.asarray(offset[:2], np.float64)
    return points * scale_factor


def filter_invalid_fixpoints(points, size):
    """
    Drop points outside an image and points at ``(0, 0)``.

    A point ``(x, y)`` is kept if ``0 <= x < w`` and ``0 <= y < h`` and it is
    not ``(0, 0)`` (the fixation maps mark lost fixations in the corner).

    Parameters:
        points: ``Nx2`` array of ``(x, y)``
        size: ``(w, h)`` of the image (as Pillow's ``Image.size``)

    Returns:
        the points kept, in their order
    """
    w, h = size
    x, y = points[:, 0], points[:, 1]
    keep = (x >= 0) & (y >= 0) & (x < w) & (y < h) & ((x > 0) | (y > 0))
    return points[keep]


# ------------------------------------------------------------------ zips

def _parts(name):
    return name.split('/')


def stimulus_names(imagezip):
    """
    The stimuli of a CAT2000 zip in the zip's order: ``.jpg`` members below
    a ``Stimuli`` folder, without the ``Output`` folders (and macOS
    ``__MACOSX`` files).

    Raises:
        UserError: there are none
    """
    names = []
    for name in imagezip.namelist():
        parts = _parts(name)
        if name.endswith('.jpg') and _STIMULI in parts[:-1] and 'Output' not in parts[:-1] \
                and parts[0] != '__MACOSX':
            names.append(name)
    if not names:
        raise UserError(f'{imagezip.filename}: no Stimuli/<category>/*.jpg images found; '
                        'is this the right archive?')
    keys = [_key(n) for n in names]
    if len(set(keys)) != len(keys):
        raise UserError(f'{imagezip.filename}: two stimuli have the same category and '
                        'file name')
    return names


def fixation_member(stimuluspath):
    """
    The ``FIXATIONLOCS`` file of a stimulus, e.g.
    ``trainSet/FIXATIONLOCS/Action/001.mat`` for
    ``trainSet/Stimuli/Action/001.jpg``.
    """
    parts = _parts(stimuluspath)
    i = len(parts) - 1 - parts[::-1].index(_STIMULI)
    parts[i] = _FIXATIONS
    parts[-1] = parts[-1][:-len('.jpg')] + '.mat'
    return '/'.join(parts)


def has_fixations(imagezip):
    """Whether a zip has a ``FIXATIONLOCS`` folder (the train set)."""
    return any(_FIXATIONS in _parts(n)[:-1] for n in imagezip.namelist())


def check_fixations(imagezip, names):
    """
    Check that every stimulus has its ``FIXATIONLOCS`` file.

    Raises:
        UserError: naming the first missing files
    """
    members = set(imagezip.namelist())
    missing = [fixation_member(n) for n in names if fixation_member(n) not in members]
    if missing:
        more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
        raise UserError(f'{imagezip.filename}: {", ".join(missing[:3])}{more} not found '
                        '(the fixations of a stimulus); is this the right archive?')


def _key(stimuluspath):
    return '/'.join(_parts(stimuluspath)[-2:])


def load_item(imagezip, stimuluspath, fixations=True):
    """
    Read one stimulus and its fixation map.

    Parameters:
        imagezip: open ``zipfile.ZipFile``
        stimuluspath: member name of the stimulus
        fixations: read the ``FIXATIONLOCS`` file (``False``: ``None``)

    Returns:
        ``(stimuluspath, image data, fixation map or None)``

    Raises:
        UserError: a member is missing or damaged
    """
    from .tools import read_member
    data = read_member(imagezip, stimuluspath)
    response = None
    if fixations:
        member = fixation_member(stimuluspath)
        response = load_fixlocs(read_member(imagezip, member), f'{imagezip.filename}: {member}')
    return stimuluspath, data, response


def yield_samples(imagezip, names):
    """
    Read stimuli and their fixation maps (see :py:func:`load_item`); the
    maps are read if the zip has a ``FIXATIONLOCS`` folder.

    Parameters:
        imagezip: open ``zipfile.ZipFile``
        names: member names of the stimuli

    Returns:
        yields ``(stimuluspath, image data, fixation map or None)``
    """
    fixations = has_fixations(imagezip)
    for name in names:
        yield load_item(imagezip, name, fixations)


def create_sample(item, where=None):
    """
    The sample of one stimulus: cropped, resized, encoded as JPEG; its
    fixations moved into the resized image.

    Parameters:
        item: ``(stimuluspath, image data, fixation map or None)``
        where: name of the stimulus for messages (default: ``stimuluspath``)

    Returns:
        ``SaliencyData`` with one ``SaliencyExperiment``

    Raises:
        UserError: the image cannot be decoded, or the fixation map has
            another size than the image
    """
    from .CAT2000 import JPEG_QUALITY
    from .tools import encode_jpeg
    stimuluspath, data, response = item
    where = where or stimuluspath
    image = decode(data, where)
    if response is not None and response.shape != (image.height, image.width):
        raise UserError(f'{where}: the fixation map is {response.shape[1]}x{response.shape[0]} '
                        f'pixels, the image {image.width}x{image.height}')
    bbox = find_bbox(image)
    r, resized = transform_image(image, bbox)
    locations = None
    if response is not None:
        locations = filter_invalid_fixpoints(
            transform_points(find_fixpoints(response), bbox, r), resized.size)
    return SaliencyData(
        _key(stimuluspath),
        encode_jpeg(resized, quality=JPEG_QUALITY, subsampling='444'),
        [SaliencyExperiment(locations, None)],
    )


# ---------------------------------------------------------------- writing

def _prepare(imagezip):
    names = stimulus_names(imagezip)
    fixations = has_fixations(imagezip)
    if fixations:
        check_fixations(imagezip, names)
    return names, fixations


def write_set(imagezip, outdir, split, args):
    """
    Write ``OUTDIR/SPLIT.msgpack``.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of the split
        outdir: output directory
        split: ``'train'`` or ``'test'``
        args: parsed arguments (``threads``, ``shuffle``, ``seed``,
            ``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from .tools import write_samples

    names, fixations = _prepare(imagezip)

    def convert(name):
        return create_sample(load_item(imagezip, name, fixations),
                             f'{imagezip.filename}: {name}')

    return write_samples(os.path.join(outdir, split + '.msgpack'), names, convert, args)


def write_sets(files, outdir, args):
    """Write the train and test splits (existing files: see
    :py:func:`~datadings_like.sets.tools.write_splits`)."""
    from .tools import open_zip
    from .tools import write_splits

    zips = {}
    try:
        for split in SPLITS:
            zips[split] = open_zip(files[split]['path'])
            _prepare(zips[split])  # both zips are what they should be before writing
        return write_splits(list(SPLITS),
                            lambda split: write_set(zips[split], outdir, split, args))
    finally:
        for zf in zips.values():
            zf.close()


def main(argv=None):
    """Write the CAT2000 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    argument_threads(parser)
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
