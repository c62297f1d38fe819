"""Create ImageNet21k winter release data set files.

This tool will look for the following files in the input directory:

- winter21_whole.tar.gz (about 1.2 TB: a tar of 19167 tars
  winter21_whole/nXXXXXXXX.tar, one per WordNet synset, with its
  nXXXXXXXX_N.JPEG images)

Note:
    Registration is required to download this dataset, so it is never
    downloaded automatically. Log in at https://image-net.org/ and download
    winter21_whole.tar.gz of the winter 2021 release from
    https://image-net.org/download-images.php. If you experience issues
    downloading you may consider using BitTorrent:
    https://academictorrents.com/details/8ec0d8df0fbb507594557bce993920442f4f6477
    Put the file into INDIR as it is (do not unpack it). Its MD5 hash is
    checked unless -s is given (reading 1.2 TB once more: use -s if you
    checked it already). The semantic tree imagenet21k_miil_tree.pth is
    not needed: the classes and their tree are shipped
    (datadings_like.sets.ImageNet21k).

Only the 10450 synsets of ImageNet-21K-P (those with more than 500
images, as processed by Alibaba MIIL) are converted; the others are
skipped. The images of each synset are sorted by file name: the first 50
go to val.msgpack (522500 samples), the rest to train.msgpack (11060239
samples), as in MIIL's preprocessing. "key" is the image's file name,
e.g., "n00005787_1234.JPEG"; "label" is the index of its synset in
datadings_like.sets.ImageNet21k.SYNSET_LIST, "label_tree" the labels of the
synset and its ancestors (SYNSET_TREE_LIST[label]).

"image" is the file from the archive, byte for byte, if it is an RGB
JPEG. Other images (CMYK and greyscale JPEGs, PNG files named .JPEG) are
converted to RGB JPEG (quality 95, no chroma subsampling); images stored
gzip-compressed are decompressed first. --compress [QUALITY] re-encodes
images with more than 93750 pixels (half of 500x375) with that quality
(default 85) and --subsampling (default 422), after downscaling those
with more than 281250 pixels to a longer side of 500 pixels.

Important:
    The archive is read once, as a stream, in the order it is stored:
    nothing is unpacked to disk, and memory holds one synset's images at a
    time. gzip decompression runs in igzip or pigz, in a separate process
    and so in parallel, when one of them is installed (igzip is also
    faster than Python's zlib; DATADINGS_LIKE_GUNZIP=python uses zlib,
    in a background thread). Samples are written in the
    order of the archive, grouped by class: shuffle them before training
    (datadings-shuffle, or the samplers of datadings_like.torch).

A conversion takes many hours. If it is killed or fails, run the same
command again: it goes on from its last checkpoint (at most
--checkpoint-interval seconds of work are lost; the archive is read
again from the start, but what was converted is skipped). Until it ends,
the output is in hidden files in OUTDIR (.ImageNet21k.resume and
.*.partial); the final files, the same as those of an uninterrupted run,
get their names at the end. --restart discards what an interrupted run
kept.

--shards N or --shard-size N write each split as shards,
train-00000-of-000NN.msgpack ..., which ShardedReader and
datadings_like.torch read as one dataset.

See also:
    https://image-net.org/download-images.php
    https://github.com/Alibaba-MIIL/ImageNet21K

"""
from functools import partial
import io
import os
import posixpath
import tarfile
import zlib

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .ImageNet21k import DATA_FILE
from .types import ImageNet21kData

__doc__ += document_keys(ImageNet21kData)

#: The source file the writer needs (the semantic tree is shipped).
FILES = {'data': dict(DATA_FILE)}
#: Splits, in the order of their progress bars.
SPLITS = ('val', 'train')
#: Largest image and synset tar read into memory.
MAX_IMAGE_SIZE = 256 << 20
MAX_SYNSET_SIZE = 4 << 30
#: Work items converted per pool task.
BATCH = 8


# ------------------------------------------------------------------ reading

def iter_members(outer):
    """
    Go through the members of the outer tar (a stream) and yield
    ``(index, member, wnid)`` for each regular file, where ``index``
    counts the regular files from 0 (the same in every run) and ``wnid``
    is the synset of a synset tar ``.../nXXXXXXXX.tar`` (None for other
    files). The caller may read a member with ``outer.extractfile``
    before asking for the next one; otherwise it is skipped.

    Parameters:
        outer: ``tarfile.TarFile`` in stream mode
    """
    from .shards import stream_members
    index = -1
    for member in stream_members(outer):
        if not member.isreg():
            continue
        index += 1
        wnid, ext = posixpath.splitext(posixpath.basename(member.name))
        yield index, member, wnid if ext == '.tar' else None


def read_synset(outer, member, path):
    """
    Read the images of a synset tar into memory, sorted by file name (as
    ``ls`` or ``glob`` would list them), without unpacking anything to
    disk. The synset tar is read with one read and parsed in memory:
    ``tarfile`` in stream mode copies its buffer on every small read.
    Memory peaks at twice the synset tar's size.

    Parameters:
        outer: the outer ``tarfile.TarFile``, positioned at ``member``
        member: the synset tar's ``TarInfo``
        path: name of the archive, for messages

    Returns:
        list of ``(name, data)``

    Raises:
        UserError: the synset tar is damaged, too big, or has an image
            name twice
    """
    where = f'{path}: {member.name}'
    if member.size > MAX_SYNSET_SIZE:
        raise UserError(f'{where}: too big to sort in memory ({member.size} bytes)')
    blob = outer.extractfile(member).read()
    if len(blob) != member.size:
        raise UserError(f'{where}: damaged synset tar (the archive ends inside it)')
    images = []
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode='r:') as inner:
            for image in inner:
                if not image.isreg():
                    continue
                if image.size > MAX_IMAGE_SIZE:
                    raise UserError(f'{where}: {image.name} is too big ({image.size} bytes)')
                start = image.offset_data
                data = blob[start:start + image.size]
                if len(data) != image.size:
                    raise UserError(f'{where}: {image.name} is truncated')
                images.append((image.name, data))
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(f'{where}: damaged synset tar ({exc})') from None
    del blob
    images.sort(key=lambda item: item[0])
    for (a, _), (b, _) in zip(images, images[1:]):
        if a == b:
            raise UserError(f'{where}: the image {a} occurs twice')
    return images


class SynsetReader:
    """
    Iterable over the synsets of ``winter21_whole.tar.gz`` in archive
    order: ``(index, member name, wnid, images)`` with the images sorted
    by name (see :py:func:`read_synset`). Synset tars for which
    ``skip(index)`` is true are passed over without being read. After the
    iteration, :py:attr:`skipped` is the number of regular members that
    are not synset tars of the list.

    Parameters:
        path: path of the archive
        synsets: container of the WNIDs to read
        skip: optional function ``index -> bool``
        decompressor: see :py:func:`datadings_like.sets.shards.find_decompressor`
    """

    def __init__(self, path, synsets, skip=None, decompressor=None):
        self.path = path
        self.synsets = synsets
        self.skip = skip
        self.decompressor = decompressor
        self.skipped = 0

    def __iter__(self):
        from .shards import open_tar_stream
        self.skipped = 0
        with open_tar_stream(self.path, self.decompressor) as outer:
            for index, member, wnid in iter_members(outer):
                if wnid not in self.synsets:
                    self.skipped += 1
                elif self.skip is None or not self.skip(index):
                    yield index, member.name, wnid, read_synset(outer, member, self.path)


def split_of(position):
    """``'val'`` for the first :py:data:`~datadings_like.sets.ImageNet21k.VAL_SAMPLES_PER_SYNSET`
    images of a synset (by name), ``'train'`` for the rest."""
    from .ImageNet21k import VAL_SAMPLES_PER_SYNSET
    return 'val' if position < VAL_SAMPLES_PER_SYNSET else 'train'


def yield_samples(infile):
    """
    Yield ``(split, key, data, label, label_tree)`` for every image of the
    synsets of the shipped list, in archive order, validation images
    (the first 50 of each synset by name) before training images.

    Parameters:
        infile: path of ``winter21_whole.tar.gz``
    """
    from .ImageNet21k import SYNSETS
    from .ImageNet21k import SYNSET_TREE_LIST
    for _, _, wnid, images in SynsetReader(infile, SYNSETS):
        label = SYNSETS[wnid]
        tree = list(SYNSET_TREE_LIST[label])
        for i, (name, data) in enumerate(images):
            yield split_of(i), name, data, label, tree


# ----------------------------------------------------------------- images

def unwrap_gzip(data, where):
    """
    Some images of the archive are stored gzip-compressed: return their
    decompressed bytes (other data unchanged).

    Raises:
        UserError: damaged gzip data, or more than the size limit
    """
    if data[:2] != b'\x1f\x8b':
        return data
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_IMAGE_SIZE + 1)
    except zlib.error as exc:
        raise UserError(f'{where}: damaged gzip-compressed image ({exc})') from None
    if len(out) > MAX_IMAGE_SIZE:
        raise UserError(f'{where}: gzip-compressed image too big when decompressed')
    if not d.eof:
        raise UserError(f'{where}: truncated gzip-compressed image')
    return out


def make_sample(item, quality=None, subsampling='422'):
    """
    Work item ``(split, position, where, key, data, label, label_tree)``
    -> ``(split, position, sample)`` (runs in the pool).
    """
    from .ILSVRC2012_write import prepare_image
    split, position, where, key, data, label, tree = item
    data = unwrap_gzip(data, f'{where}: {key}')
    try:
        image = prepare_image(data, quality, subsampling, key)
    except UserError as exc:
        raise UserError(f'{where}: {exc}') from None
    return split, position, ImageNet21kData(key, image, label, tree)


# ---------------------------------------------------------------- writing

def conversion_config(args):
    """What an interrupted conversion must share with the next run to be continued."""
    import hashlib
    from importlib import resources
    import PIL
    from .ImageNet21k import SYNSETS_FILE
    synsets = resources.files(__package__).joinpath(SYNSETS_FILE).read_bytes()
    return {
        'writer': 'ImageNet21k', 'version': 1,
        'compress': args.compress,
        'subsampling': args.subsampling,
        'synsets': hashlib.md5(synsets).hexdigest(),
        # re-encoded images depend on the encoder
        'pillow': PIL.__version__,
    }


def write_sets(files, outdir, args):
    """
    Convert ``winter21_whole.tar.gz`` into ``val`` and ``train`` (one file
    each, or shards), resumably (see
    :py:class:`~datadings_like.sets.shards.ResumableConversion`).

    Parameters:
        files: ``{'data': {'path': ...}}``
        outdir: output directory
        args: parsed arguments

    Returns:
        dict ``split -> list of paths written``
    """
    import sys
    from . import ImageNet21k
    from .shards import ResumableConversion
    from .shards import ShardLayout
    from .shards import map_ordered

    path = files['data']['path']
    synsets = ImageNet21k.SYNSETS
    trees = ImageNet21k.SYNSET_TREE_LIST
    expected = ImageNet21k.NUM_SAMPLES
    convert = partial(make_sample, quality=args.compress, subsampling=args.subsampling)
    with ResumableConversion(outdir, 'ImageNet21k', SPLITS, conversion_config(args),
                             layout=ShardLayout.from_args(args), expected=expected,
                             args=args) as job:
        if job.done:
            return None
        reader = SynsetReader(path, synsets, skip=lambda index: job.skip([index]))

        def items():
            for index, name, wnid, images in reader:
                label = synsets[wnid]
                tree = list(trees[label])
                where = f'{path}: {name}'
                for i, (key, data) in enumerate(images):
                    split = split_of(i)
                    if job.wanted(split, [index, i], key):
                        yield split, [index, i], where, key, data, label, tree
                # the images of this synset may go
                images.clear()

        # the archive is read in a background thread while images are converted
        for split, position, sample in map_ordered(convert, items(), args.threads, batch=BATCH):
            job.write(split, sample, position)
        if reader.skipped and not job.quiet:
            print(f'{reader.skipped} members of {os.path.basename(path)} are not among the '
                  f'{len(synsets)} synsets of ImageNet-21K-P: skipped', file=sys.stderr)
    return None


def main(argv=None):
    """Write the ImageNet21k dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser
    from .shards import argument_resume
    from .shards import argument_shards
    from .ILSVRC2012_write import argument_image_compression

    parser = make_parser(__doc__, shuffle=False)
    argument_threads(parser)
    argument_image_compression(parser)
    argument_shards(parser)
    argument_resume(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    files = prepare_indir(FILES, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
