"""Create CityScapes data set files.

This tool will look for the following files in the input directory:

- leftImg8bit_trainvaltest.zip (11 GB, "left 8-bit images - train, val,
  and test sets", package ID 3)
- disparity_trainvaltest.zip (3.5 GB, "disparity maps - train, val, and
  test sets", package ID 7)
- gtFine_trainvaltest.zip (241 MB, "fine annotations for train and val
  sets", package ID 1)

Note:
    Registration is required to download this dataset, so the files are
    never downloaded automatically. Create an account at
    https://www.cityscapes-dataset.com/register/ (with an institutional
    e-mail address), log in, go to
    https://www.cityscapes-dataset.com/downloads/ and download the three
    packages. Put the zips, as they are (do not unpack them), into INDIR.
    Their MD5 hashes are checked unless -s is given.

It writes train.msgpack (2975 samples), val.msgpack (500) and test.msgpack
(1525) to OUTDIR (default: INDIR). "key" is the image's path without
prefix and suffix, e.g. "train/aachen/aachen_000000_000019"; "image" is
its _leftImg8bit.png, "label_image" its _gtFine_labelIds.png (label IDs,
see datadings_like.sets.Cityscapes; the test labels are the dummy maps of
the package) and "disparity_image" its _disparity.png (16 bit), all the
PNG files from the zips byte for byte. -t N reads the zips in N threads.
Every image must have its label and disparity files: that is checked
before anything is written. --segments also writes "segments", the
instances of the _gtFine_instanceIds.png (values of 1000 and more) as a
datadings_like.masks.Segments value.

See also:
    https://www.cityscapes-dataset.com/

"""
import os
import posixpath
import threading

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import open_zip
from .tools import read_member
from .types import ImageDisparitySegmentationData

__doc__ += document_keys(ImageDisparitySegmentationData)

__all__ = (
    'FILES',
    'get_keys',
    'instance_segments',
    'main',
    'write_set',
    'write_sets',
    'yield_samples',
)

_REGISTRATION = (
    'https://www.cityscapes-dataset.com/downloads/ (registration required: log '
    'in, then download "{}")'
)
FILES = {
    'left': {
        'path': 'leftImg8bit_trainvaltest.zip',
        'url': None,
        'md5': '0a6e97e94b616a514066c9e2adb0c97f',
        'help': _REGISTRATION.format('leftImg8bit_trainvaltest.zip (11GB)'),
    },
    'disparity': {
        'path': 'disparity_trainvaltest.zip',
        'url': None,
        'md5': '2c8272766993c983321f34c73daada5c',
        'help': _REGISTRATION.format('disparity_trainvaltest.zip (3.5GB)'),
    },
    'gt': {
        'path': 'gtFine_trainvaltest.zip',
        'url': None,
        'md5': '4237c19de34c8a376e9ba46b495d6f66',
        'help': _REGISTRATION.format('gtFine_trainvaltest.zip (241MB)'),
    },
}

#: Splits in the order they are written.
SPLITS = ('train', 'val', 'test')
#: Member name patterns: ``{key}`` is e.g. ``train/aachen/aachen_000000_000019``.
IMAGE_MEMBER = 'leftImg8bit/{key}_leftImg8bit.png'
LABEL_MEMBER = 'gtFine/{key}_gtFine_labelIds.png'
INSTANCE_MEMBER = 'gtFine/{key}_gtFine_instanceIds.png'
DISPARITY_MEMBER = 'disparity/{key}_disparity.png'
_IMAGE_SUFFIX = '_leftImg8bit.png'
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def get_keys(leftzip, split):
    """
    The keys of a split: the paths of its ``_leftImg8bit.png`` files in
    ``leftImg8bit/SPLIT/``, without that prefix and the suffix, in the
    order of the zip.

    Parameters:
        leftzip: open ``zipfile.ZipFile`` of leftImg8bit_trainvaltest.zip
        split: ``'train'``, ``'val'`` or ``'test'``

    Returns:
        list of str, e.g. ``['train/aachen/aachen_000000_000019', ...]``
    """
    prefix = f'leftImg8bit/{split}/'
    return [name[len('leftImg8bit/'):-len(_IMAGE_SUFFIX)]
            for name in leftzip.namelist()
            if name.startswith(prefix) and name.endswith(_IMAGE_SUFFIX)
            and posixpath.normpath(name) == name]


def _png(zf, name):
    data = read_member(zf, name)
    if not data.startswith(_PNG_SIGNATURE):
        raise UserError(f'{zf.filename}: {name} is not a PNG file')
    return data


def make_sample(key, leftzip, disparityzip, gtzip, segments=False):
    """The sample of one key, read from the three zips; with ``segments``
    also the field ``segments`` (:py:func:`instance_segments`)."""
    sample = ImageDisparitySegmentationData(
        key,
        _png(leftzip, IMAGE_MEMBER.format(key=key)),
        _png(gtzip, LABEL_MEMBER.format(key=key)),
        _png(disparityzip, DISPARITY_MEMBER.format(key=key)),
    )
    if segments:
        name = INSTANCE_MEMBER.format(key=key)
        sample['segments'] = instance_segments(_png(gtzip, name), f'{gtzip.filename}: {name}')
    return sample


def instance_segments(data, where='instanceIds image'):
    """
    The instances of a ``_gtFine_instanceIds.png`` as a
    :py:class:`datadings_like.masks.Segments` value (``encode()``). Its
    pixels are ``label ID * 1000 + instance`` for objects of classes with
    instances, and the plain label ID (below 1000) elsewhere (other classes,
    and crowds of a class with instances, e.g. a group of cars). One
    segment per value of 1000 and more, in the group ``'instances'``,
    labelled with its label ID (value // 1000), with the iid
    ``(b'instances', value)``, e.g. ``(b'instances', b'26001')``.

    Parameters:
        data: the PNG file's contents
        where: name for messages

    Returns:
        dict (the encoded Segments)

    Raises:
        UserError: the data is not a grey image, naming ``where``
    """
    import numpy as np
    from ..masks import Segments
    from .segmentation import decode_label_map

    ids = decode_label_map(data, where)
    if ids.ndim != 2 or ids.dtype.kind not in 'iu':
        raise UserError(f'{where}: expected a grey image of instance IDs')
    ids = np.where(ids >= 1000, ids, 0)
    segments = Segments.from_label_image(ids, labels=ids // 1000, group='instances',
                                         domain='instances')
    return segments.encode()


def yield_samples(keys, leftzip, disparityzip, gtzip):
    """
    Yield ``(key, image, label_image, disparity_image)`` for each key
    (PNG data from the zips).

    Parameters:
        keys: keys from :py:func:`get_keys`
        leftzip, disparityzip, gtzip: open ``zipfile.ZipFile`` objects

    Raises:
        UserError: a file is missing or damaged (naming zip and member)
    """
    for key in keys:
        sample = make_sample(key, leftzip, disparityzip, gtzip)
        yield key, sample['image'], sample['label_image'], sample['disparity_image']


#: Zips opened by :py:class:`SampleReader` in this process, by paths.
_OPEN_ZIPS = {}
_OPEN_LOCK = threading.Lock()


class SampleReader:
    """
    ``convert`` function for worker threads (or processes: it pickles):
    ``reader(key)`` returns the sample of the key. The zips are opened once
    per process, on first use, and shared by its threads (``zipfile``
    reads members of one archive from several threads safely); a process
    pool, which unpickles the reader for every task, finds them open too.

    Parameters:
        left, disparity, gt: paths of the three zips
        segments: also write the field ``segments`` (:py:func:`make_sample`)
    """

    def __init__(self, left, disparity, gt, segments=False):
        self.paths = (str(left), str(disparity), str(gt))
        self.segments = bool(segments)

    def open(self):
        """
        The open zips ``(left, disparity, gt)`` of this process (opened on
        the first call).

        Raises:
            UserError: a zip cannot be read
        """
        with _OPEN_LOCK:
            zips = _OPEN_ZIPS.get(self.paths)
            if zips is None:
                zips = _OPEN_ZIPS[self.paths] = tuple(open_zip(p) for p in self.paths)
            return zips

    def __call__(self, key):
        left, disparity, gt = self.open()
        return make_sample(key, left, disparity, gt, self.segments)

    def close(self):
        """Close the zips opened in this process."""
        with _OPEN_LOCK:
            zips = _OPEN_ZIPS.pop(self.paths, ())
        for zf in zips:
            zf.close()


def write_set(outdir, split, gen, total, args=None):
    """
    Write ``OUTDIR/SPLIT.msgpack`` from ``(key, image, label_image,
    disparity_image)`` tuples.

    Parameters:
        outdir: output directory
        split: split name
        gen: iterable of sample tuples (e.g. :py:func:`yield_samples`)
        total: number of samples (progress bar)
        args: parsed arguments (``no_confirm``, ``quiet``), or None

    Returns:
        number of samples written
    """
    from .tools import write_samples
    return write_samples(os.path.join(outdir, split + '.msgpack'), gen,
                         lambda t: ImageDisparitySegmentationData(*t), args,
                         total=total, threads=1, shuffle=False)


def check_members(keys, zips, segments=False):
    """
    Check that every key has its three files (and with ``segments`` its
    ``_gtFine_instanceIds.png``) before anything is written.

    Parameters:
        keys: all keys
        zips: ``(leftzip, disparityzip, gtzip)``
        segments: check the instance files too

    Raises:
        UserError: naming the first missing members and their zip
    """
    left, disparity, gt = zips
    patterns = ((left, IMAGE_MEMBER), (gt, LABEL_MEMBER), (disparity, DISPARITY_MEMBER))
    if segments:
        patterns += ((gt, INSTANCE_MEMBER),)
    for zf, pattern in patterns:
        names = set(zf.namelist())
        missing = [pattern.format(key=k) for k in keys if pattern.format(key=k) not in names]
        if missing:
            more = f' and {len(missing) - 3} more' if len(missing) > 3 else ''
            raise UserError(f'{zf.filename}: {", ".join(missing[:3])}{more} not found; '
                            'is this the right archive?')


def write_sets(files, outdir, args):
    """
    Write the train, val and test splits (existing files: see
    :py:func:`~datadings_like.sets.tools.write_splits`), reading in
    ``args.threads`` threads. Threads, not processes: a sample is three
    files copied from the zips, and decompressing (zlib) and checksumming
    run without Python's GIL, whereas worker processes would have to send
    every sample (several MB) through a pipe.

    Raises:
        UserError: a zip is not readable, holds no images, or lacks a file
    """
    from .tools import write_samples
    from .tools import write_splits

    paths = tuple(files[name]['path'] for name in ('left', 'disparity', 'gt'))
    # the zips are opened once: their directories (about 1 kB per member)
    # are the biggest part of the memory used
    reader = SampleReader(*paths, segments=getattr(args, 'segments', False))
    try:
        left, disparity, gt = reader.open()
        keys = {split: get_keys(left, split) for split in SPLITS}
        if not any(keys.values()):
            raise UserError(f'{paths[0]}: no leftImg8bit/{{train,val,test}}/*{_IMAGE_SUFFIX} '
                            'files; is this the right archive?')
        check_members([k for split in SPLITS for k in keys[split]], (left, disparity, gt),
                      reader.segments)
        threads = max(1, int(getattr(args, 'threads', 1) or 1))
        return write_splits(list(SPLITS), lambda split: write_samples(
            os.path.join(outdir, split + '.msgpack'), keys[split], reader, args,
            threads=threads, window=2 * threads))
    finally:
        reader.close()


def main(argv=None):
    """Write the Cityscapes dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
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
    parser.add_argument(
        '--segments',
        action='store_true',
        help='Also write the field "segments": the masks of the instances of the '
             '_gtFine_instanceIds.png (datadings_like.masks.Segments).',
    )
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
