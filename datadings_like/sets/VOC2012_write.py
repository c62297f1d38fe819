"""Create Pascal VOC 2012 dataset files.

This tool will look for the following files in the input directory
and download them if necessary:

- VOCtrainval_11-May-2012.tar (1.9 GiB, the "training/validation data")
  from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar

No registration is needed. The tar is read as it is (do not unpack it);
its MD5 hash is checked unless -s is given.

It writes train.msgpack (1464 samples) and val.msgpack (1449 samples), the
images of ImageSets/Segmentation/{train,val}.txt, to OUTDIR (default:
INDIR). "key" is the image ID (e.g. "2007_000032"), "image" the JPEG from
the tar byte for byte, "label_image" a PNG (mode L) of class indices: 0
background, 1-20 the classes of datadings_like.sets.VOC2012.CLASSES, and
255 the void border and unlabelled pixels, as in the devkit's palette PNGs
(datadings 3.4.7 writes 0, background, there).

--calculate-weights writes no dataset: it counts the pixels of every class
in the train and val label images (void ignored) and writes
VOC2012_train_counts.json and VOC2012_val_counts.json to OUTDIR, with
median-frequency class weights (Eigen & Fergus); it also prints them.

See also:
    http://host.robots.ox.ac.uk/pascal/VOC/voc2012/

"""
import io
import os
from pathlib import Path
import posixpath
import tarfile
import zlib

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .segmentation import colors_to_indices
from .segmentation import count_classes
from .segmentation import print_statistics
from .segmentation import print_values
from .segmentation import sorted_values
from .segmentation import write_statistics
from .types import ImageSegmentationData

__doc__ += document_keys(ImageSegmentationData)

__all__ = (
    'FILES',
    'array_to_imagedata',
    'calculate_set_weights',
    'class_counts',
    'extract',
    'extractmember',
    'get_imageset',
    'imagedata_to_array',
    'main',
    'map_color_image',
    'print_values',
    'single_value',
    'sorted_values',
    'write_image',
    'write_set',
    'write_sets',
)

BASE_URL = 'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/'
FILES = {
    'trainval': {
        'path': 'VOCtrainval_11-May-2012.tar',
        'url': BASE_URL + 'VOCtrainval_11-May-2012.tar',
        'md5': '6cd6e144f989b92b3379bac3b3de84fd',
    },
}

#: Directory of the dataset inside the tar.
ROOT_DIR = 'VOCdevkit/VOC2012'
SETS_DIR = ROOT_DIR + '/ImageSets/Segmentation'
IMAGE_DIR = ROOT_DIR + '/JPEGImages'
SEG_DIR = ROOT_DIR + '/SegmentationClass'
#: Splits in the order they are written.
SPLITS = ('train', 'val')
#: Largest member that is read (the real images are < 1 MiB).
MAX_MEMBER_SIZE = 64 << 20


# ------------------------------------------------------------- label images

def imagedata_to_array(data):
    """
    Decode image data to an RGB array.

    Parameters:
        data: image file contents

    Returns:
        uint8 array HxWx3

    Raises:
        ImageError: the data cannot be decoded
    """
    from .tools import load_image
    from .tools import open_image
    return np.asarray(load_image(open_image(data)).convert('RGB'))


def array_to_imagedata(im, format, **kwargs):
    """
    Encode a 2-d uint8 array as a grey (mode L) image.

    Parameters:
        im: uint8 array HxW
        format: Pillow format name, e.g. ``'PNG'``
        kwargs: options of Pillow's ``save``

    Returns:
        bytes
    """
    from PIL import Image
    bio = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(im, np.uint8), 'L').save(bio, format, **kwargs)
    return bio.getvalue()


def single_value(a):
    """
    Pack RGB colours into one integer each: ``r << 16 | g << 8 | b``.

    Parameters:
        a: uint8 array ...x3

    Returns:
        uint32 array of shape ``a.shape[:-1]``
    """
    a = np.asarray(a)
    return (a[..., 0].astype(np.uint32) << 16) | (a[..., 1].astype(np.uint32) << 8) \
        | a[..., 2].astype(np.uint32)


def _void_map():
    from .VOC2012 import VOID_COLOR
    from .VOC2012 import VOID_INDEX
    return {VOID_COLOR: VOID_INDEX}


def map_color_image(im):
    """
    Map a VOC colour label image to class indices: the colours of
    :py:data:`~datadings_like.sets.VOC2012.COLORS` become 0-20, the void
    colour (224, 224, 192) becomes 255.

    Parameters:
        im: uint8 array HxWx3

    Returns:
        uint8 array HxW

    Raises:
        ValueError: a colour is neither a class nor void
    """
    from .VOC2012 import COLORS
    return colors_to_indices(im, COLORS, extra=_void_map())


def label_image(data, where):
    """
    The class indices of a SegmentationClass PNG (see
    :py:func:`map_color_image`) as a Pillow image of mode L. Palette images
    are mapped through their palette (a lookup table applied by Pillow),
    which gives the same result as mapping their RGB colours, faster.

    Parameters:
        data: PNG file contents
        where: name of the file for messages

    Returns:
        ``PIL.Image.Image`` (mode L)

    Raises:
        UserError: not an image, or a colour that is neither class nor void
    """
    from PIL import Image
    from .tools import ImageError
    from .tools import load_image
    from .tools import open_image

    try:
        image = load_image(open_image(data))
        if image.mode == 'P' and 'transparency' not in image.info:
            palette = np.zeros((256, 3), np.uint8)
            raw = np.asarray(image.getpalette() or [], np.uint8)
            raw = raw[:raw.size - raw.size % 3].reshape(-1, 3)[:256]
            palette[:len(raw)] = raw
            used = [index for _, index in image.getcolors(256)]
            lut = np.zeros(256, np.uint8)
            lut[used] = map_color_image(palette[used][None])[0]
            indices = Image.frombytes('L', image.size, image.tobytes())
            return indices.point(lut.tolist())
        return Image.fromarray(map_color_image(np.asarray(image.convert('RGB'))), 'L')
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    except ValueError as exc:
        raise UserError(f'{where}: {exc} of VOC2012 (nor the void colour)') from None


def label_indices(data, where):
    """
    Class indices of a SegmentationClass PNG (see :py:func:`label_image`).

    Returns:
        uint8 array HxW
    """
    return np.asarray(label_image(data, where))


def write_image(writer, filename, im, seg):
    """
    Write one sample.

    Parameters:
        writer: :py:class:`~datadings_like.writer.FileWriter`
        filename: the key (image ID)
        im: JPEG data, written as it is
        seg: SegmentationClass PNG data, converted to class indices
    """
    writer.write(make_sample(filename, im, seg, filename))


def make_sample(key, image, seg, where, image_where=None):
    """
    The sample of one image and its SegmentationClass PNG data.

    Parameters:
        key: the image ID
        image: JPEG data (written as it is; its header is checked)
        seg: SegmentationClass PNG data
        where: name of the PNG for messages
        image_where: name of the JPEG for messages

    Raises:
        UserError: the JPEG is not one, the PNG cannot be mapped, or their
            sizes differ
    """
    from .tools import ImageError
    from .tools import open_image

    image_where = image_where or key
    try:
        header = open_image(image)
    except ImageError as exc:
        raise UserError(f'{image_where}: {exc}') from None
    if header.format != 'JPEG':
        raise UserError(f'{image_where}: not a JPEG image ({header.format})')
    label = label_image(seg, where)
    if label.size != header.size:
        raise UserError(f'{where}: {label.size[0]}x{label.size[1]} pixels, but the image '
                        f'has {header.size[0]}x{header.size[1]}')
    bio = io.BytesIO()
    label.save(bio, 'PNG', optimize=True)
    return ImageSegmentationData(key, image, bio.getvalue())


# ---------------------------------------------------------------- the tar

class Archive:
    """
    The VOC tar, opened for reading members by name (seeking in the
    uncompressed tar; nothing is unpacked).

    Parameters:
        path: the tar file, or an open ``tarfile.TarFile`` (not closed by
            :py:meth:`close` then)
    """

    def __init__(self, path):
        self._own = not isinstance(path, tarfile.TarFile)
        self.path = str(path if self._own else (path.name or 'archive'))
        try:
            self.tar = tarfile.open(self.path, 'r') if self._own else path
            self.members = {posixpath.normpath(m.name): m for m in self.tar.getmembers()}
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise UserError(f'{self.path}: cannot read archive ({exc})') from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the tar (if this object opened it)."""
        if self._own:
            self.tar.close()

    def member(self, name):
        """
        The ``TarInfo`` of a regular file.

        Raises:
            UserError: no such file in the tar
        """
        member = self.members.get(name)
        if member is None or not member.isreg():
            raise UserError(f'{self.path}: {name} not found; is this the right archive?')
        return member

    def read(self, name):
        """
        Contents of a member.

        Raises:
            UserError: missing, too big, or the tar is damaged
        """
        return extractmember(self.tar, self.member(name), self.path)

    def require(self, names):
        """
        Check that all members exist before anything is written.

        Raises:
            UserError: naming the first missing members
        """
        missing = [n for n in names if n not in self.members or not self.members[n].isreg()]
        if missing:
            more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
            raise UserError(f'{self.path}: {", ".join(missing[:3])}{more} not found; '
                            'is this the right archive?')


def extractmember(tar, member, where=None):
    """
    Read the contents of a tar member.

    Parameters:
        tar: open ``tarfile.TarFile``
        member: its ``TarInfo``
        where: archive name for messages

    Returns:
        bytes

    Raises:
        UserError: too big, not a file, or the tar is damaged
    """
    where = where or getattr(tar, 'name', None) or 'archive'
    if member.size > MAX_MEMBER_SIZE:
        raise UserError(f'{where}: {member.name} is too big ({member.size} bytes)')
    try:
        f = tar.extractfile(member)
        if f is None:
            raise UserError(f'{where}: {member.name} is not a regular file')
        data = f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UserError(f'{where}: {member.name}: damaged archive ({exc})') from None
    if len(data) != member.size:
        raise UserError(f'{where}: {member.name} is truncated')
    return data


def extract(tar, path):
    """
    Read the contents of the member ``path`` of a tar.

    Raises:
        UserError: there is no such member, or it cannot be read
    """
    where = getattr(tar, 'name', None) or 'archive'
    try:
        member = tar.getmember(path)
    except KeyError:
        raise UserError(f'{where}: {path} not found; is this the right archive?') from None
    return extractmember(tar, member, where)


def parse_imageset(data, where):
    """Image IDs of an ImageSets text file (one per line)."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise UserError(f'{where}: not a text file') from None
    ids = [line.strip() for line in text.splitlines() if line.strip()]
    for name in ids:
        if '/' in name or ' ' in name or name in ('.', '..'):
            raise UserError(f'{where}: {name!r} is not an image ID')
    if len(set(ids)) != len(ids):
        raise UserError(f'{where}: image IDs are repeated')
    return ids


def get_imageset(tar, path):
    """
    The image IDs of an image set file in the tar.

    Parameters:
        tar: open ``tarfile.TarFile`` (or :py:class:`Archive`)
        path: member name, e.g. ``VOCdevkit/VOC2012/ImageSets/Segmentation/train.txt``

    Returns:
        list of str
    """
    data = tar.read(path) if isinstance(tar, Archive) else extract(tar, path)
    return parse_imageset(data, path)


# ---------------------------------------------------------------- writing

def _paths(name):
    return f'{IMAGE_DIR}/{name}.jpg', f'{SEG_DIR}/{name}.png'


def _split_ids(archive, split):
    ids = get_imageset(archive, f'{SETS_DIR}/{split}.txt')
    archive.require([path for name in ids for path in _paths(name)])
    return ids


def write_set(tar, split, outdir, args):
    """
    Write ``OUTDIR/SPLIT.msgpack``.

    Parameters:
        tar: :py:class:`Archive`, an open ``tarfile.TarFile`` or the path of the tar
        split: ``'train'`` or ``'val'``
        outdir: output directory
        args: parsed arguments (``shuffle``, ``seed``, ``no_confirm``, ``quiet``)

    Returns:
        number of samples written
    """
    from .tools import write_samples

    if not isinstance(tar, Archive):
        with Archive(tar) as archive:
            return write_set(archive, split, outdir, args)
    ids = _split_ids(tar, split)

    def convert(name):
        image_path, seg_path = _paths(name)
        return make_sample(name, tar.read(image_path), tar.read(seg_path),
                           f'{tar.path}: {seg_path}', f'{tar.path}: {image_path}')

    return write_samples(os.path.join(outdir, split + '.msgpack'), ids, convert, args,
                         threads=1)


def write_sets(files, outdir, args):
    """Write the train and val splits (existing files: see
    :py:func:`~datadings_like.sets.tools.write_splits`)."""
    from .tools import write_splits

    with Archive(files['trainval']['path']) as archive:
        for split in SPLITS:
            _split_ids(archive, split)  # everything is there before writing
        return write_splits(list(SPLITS), lambda split: write_set(archive, split, outdir, args))


# ------------------------------------------------------------- statistics

def class_counts(gen, ignore_index=None, **kwargs):
    """
    Count the classes of label maps (integer arrays) in one pass
    (datadings 3.4.7's function; see
    :py:func:`~datadings_like.sets.segmentation.count_classes` for the
    counter with the standard statistics).

    Parameters:
        gen: iterable of label maps
        ignore_index: label that counts for no class (e.g. 255), or None
        kwargs: ``total``, ``desc``, ``quiet`` of the progress bar

    Returns:
        dict ``class index -> sum over maps of the class's share of the
        map's (counted) pixels``, for the classes that occur (the
        ``COUNTS`` of datadings 3.4.7)
    """
    counter = count_classes(gen, ignore_index=ignore_index, **kwargs)
    return {c: float(counter.fractions[c]) for c in counter.indexes()}


def counts_path(outdir, split):
    """Where :py:func:`calculate_set_weights` writes a split's statistics."""
    return os.path.join(outdir, f'VOC2012_{split}_counts.json')


def calculate_set_weights(files, outdir=None, args=None):
    """
    Count the classes of the train and val label images (void ignored)
    and compute median-frequency weights; print them and write
    ``VOC2012_{train,val}_counts.json`` to ``outdir`` (see
    :py:func:`~datadings_like.sets.segmentation.write_statistics`).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory; None: the tar's directory
        args: parsed arguments (``no_confirm``, ``quiet``), or None

    Returns:
        dict ``split -> statistics dict``
    """
    from ..writer import _confirm_overwrite
    from .VOC2012 import CLASSES
    from .VOC2012 import VOID_INDEX
    from .tools import write_splits

    path = files['trainval']['path']
    outdir = os.path.dirname(path) if outdir is None else outdir
    overwrite = bool(getattr(args, 'no_confirm', False))
    quiet = bool(getattr(args, 'quiet', False))
    with Archive(path) as archive:
        ids = {split: _split_ids(archive, split) for split in SPLITS}

        def calculate(split):
            target = counts_path(outdir, split)
            _confirm_overwrite(Path(target), overwrite)  # ask before counting
            maps = (label_indices(archive.read(_paths(name)[1]),
                                  f'{archive.path}: {_paths(name)[1]}')
                    for name in ids[split])
            counter = count_classes(maps, num_classes=len(CLASSES), ignore_index=VOID_INDEX,
                                    total=len(ids[split]), desc=f'{split} class counts',
                                    quiet=quiet)
            stats = write_statistics(target, counter, overwrite=True,
                                     extra={'CLASSES': list(CLASSES)})
            print_statistics(split, stats)
            return stats

        return write_splits(list(SPLITS), calculate)


def main(argv=None):
    """Write the VOC2012 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_calculate_weights
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    argument_calculate_weights(
        parser, help='Calculate median-frequency class weights: write '
                     'VOC2012_{train,val}_counts.json to OUTDIR instead of the dataset.')
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    if args.calculate_weights:
        calculate_set_weights(files, outdir, args)
    else:
        write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
