"""Create ADE20k data set files.

This tool will look for the following files in the input directory
and download them if necessary:

- ADE20K_2016_07_26.zip (3.8 GB, the full ADE20K dataset of 2016-07-26)
  from http://groups.csail.mit.edu/vision/datasets/ADE20K/ADE20K_2016_07_26.zip

No registration is needed. The zip is read as it is (do not unpack it);
its MD5 hash is checked unless -s is given. Reading its index
(index_ade20k.mat) needs scipy: pip install '.[sets]' in the source tree.

It writes training.msgpack (20210 samples) and validation.msgpack (2000
samples) to OUTDIR (default: INDIR). "key" is the image's file name (e.g.
"ADE_train_00000001.jpg"), "image" the JPEG from the zip byte for byte,
"label" the index of the image's scene in the sorted scene names of
index_ade20k.mat (datadings_like.sets.ADE20k.SCENELABELS). "label_image" is
a 16-bit grey PNG of the class of every pixel, R/10*256+G of the zip's
*_seg.png; "parts_images" a list of such PNGs, one per *_parts_N.png
(parts, parts of parts, ...). -t N converts in N worker processes.

--segments also writes "segments", the instance masks (B of *_seg.png,
group "objects"; of each *_parts_N.png, groups "parts" and "parts_N") as a
datadings_like.masks.Segments value, labelled with their class numbers.

--calculate-weights writes no dataset: it counts the pixels of every class
in the training segmentation and parts maps and writes ADE20k_counts.json
(INDEXES, COUNTS as datadings 3.4.7 computes them, and median-frequency
weights) to OUTDIR. --scenelabels writes the sorted scene names of
index_ade20k.mat to ADE20k_scenelabels.json in OUTDIR.

See also:
    http://groups.csail.mit.edu/vision/datasets/ADE20K

"""
from functools import partial
import io
import os
import posixpath

import numpy as np

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import load_mat
from .types import ADE20kData

__doc__ += document_keys(ADE20kData)

__all__ = (
    'FILES',
    'array_to_image',
    'array_to_png16',
    'calculate_weights',
    'extract_scenelabels',
    'imagedata_to_segpng',
    'instance_map',
    'load_index',
    'main',
    'segmentation_map',
    'segments_field',
    'write_set',
    'write_sets',
    'yield_images',
)

BASE_URL = 'http://groups.csail.mit.edu/vision/datasets/ADE20K/'
FILES = {
    'all': {
        'url': BASE_URL + 'ADE20K_2016_07_26.zip',
        'path': 'ADE20K_2016_07_26.zip',
        'md5': '5d125f9457b1a3990adb96de45d03f60',
    },
}

#: Top directory inside the zip.
ROOT = 'ADE20K_2016_07_26'
#: The index (a MATLAB struct ``index``) inside the zip.
INDEX_MEMBER = ROOT + '/index_ade20k.mat'
#: Splits in the order they are written (directories below ``images``).
SPLITS = ('training', 'validation')
#: JPEG quality for images that are not RGB or grey JPEGs (re-encoded, 4:4:4).
REENCODE_QUALITY = 98
#: Output file of ``--calculate-weights``.
COUNTS_NAME = 'ADE20k_counts.json'
#: Output file of ``--scenelabels``.
SCENELABELS_NAME = 'ADE20k_scenelabels.json'
#: Samples converted per task of a worker process (``-t N``): fewer
#: round trips between the processes.
BATCH = 8


# ------------------------------------------------------------------ index

def _cells_to_list(cells):
    """MATLAB cell array (object array) -> list: strings as str ('' for an
    empty cell), nested cells as lists, other values as they are."""
    out = []
    for value in np.asarray(cells, dtype=object).ravel(order='F'):
        if isinstance(value, np.ndarray):
            if value.dtype.kind == 'U':
                value = str(value.ravel()[0]) if value.size else ''
            elif value.dtype == object:
                value = _cells_to_list(value)
            elif value.size == 0:
                value = ''
        out.append(value)
    return out


def load_index(imagezip, *keys):
    """
    Read ``index_ade20k.mat`` from the zip: the struct ``index`` with the
    fields ``filename``, ``folder``, ``scene``, ``objectnames``, ... Cell
    arrays of strings become lists of str, cell arrays of cells nested
    lists; other fields stay numpy arrays.

    Parameters:
        imagezip: open ``zipfile.ZipFile`` of ``ADE20K_2016_07_26.zip``
        keys: the fields to return (default: all)

    Returns:
        with ``keys``, a list of their values in this order; without, a
        dict field -> value

    Raises:
        UserError: the index is missing or damaged, or lacks a field
    """
    from .tools import read_member

    where = f'{imagezip.filename}: {INDEX_MEMBER}'
    mat = load_mat(read_member(imagezip, INDEX_MEMBER), where)
    index = mat.get('index')
    if not isinstance(index, np.ndarray) or index.dtype.names is None or index.size != 1:
        raise UserError(f'{where}: no struct "index"; is this the ADE20K 2016 release?')
    missing = [k for k in keys if k not in index.dtype.names]
    if missing:
        raise UserError(f'{where}: the index lacks the field(s) {", ".join(missing)}')
    fields = {}
    for name in (keys or index.dtype.names):
        value = index[name].ravel()[0]
        fields[name] = _cells_to_list(value) if isinstance(value, np.ndarray) \
            and value.dtype == object else value
    if keys:
        return [fields[k] for k in keys]
    return fields


def scene_labels(imagezip):
    """
    The label of every image: the index of its scene in the sorted set of
    the scenes of the index.

    Returns:
        ``(labels, scenes)``: dict image file name -> label, and the sorted
        scene names
    """
    filenames, scenes = load_index(imagezip, 'filename', 'scene')
    where = f'{imagezip.filename}: {INDEX_MEMBER}'
    if len(filenames) != len(scenes):
        raise UserError(f'{where}: {len(filenames)} file names but {len(scenes)} scenes')
    if not all(isinstance(s, str) for s in scenes) or \
            not all(isinstance(f, str) for f in filenames):
        raise UserError(f'{where}: "filename" and "scene" must be cell arrays of strings')
    names = sorted(set(scenes))
    label = {scene: i for i, scene in enumerate(names)}
    return {posixpath.basename(f): label[s] for f, s in zip(filenames, scenes)}, names


# ----------------------------------------------------------------- images

def array_to_image(array, format, dtype, mode, **kwargs):
    """
    Encode an array as an image file.

    Parameters:
        array: numpy array (converted to ``dtype`` first)
        format: Pillow format name, e.g. ``'png'``
        dtype: numpy dtype of the pixels
        mode: Pillow mode of the image, e.g. ``'L'`` or ``'I;16'``; the
            image is converted to it if the array gives another mode
        kwargs: options of the encoder (``Image.save``)

    Returns:
        bytes
    """
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(np.asarray(array).astype(dtype)))
    if mode and image.mode != mode:
        image = image.convert(mode)
    bio = io.BytesIO()
    image.save(bio, format=format, **kwargs)
    return bio.getvalue()


def array_to_png16(array):
    """
    Encode a 2-D array of values 0-65535 as a 16-bit grey PNG (Pillow
    mode ``I;16``). Works with every Pillow version; datadings 3.4.7 saves
    an ``I`` image, which Pillow 10 and later refuse to write as PNG.

    Raises:
        ValueError: values outside 0-65535, or not 2-D
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f'a 16-bit PNG needs a 2-D array, not shape {array.shape}')
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise ValueError('values of a 16-bit PNG must be 0-65535')
    return array_to_image(array, 'png', np.uint16, 'I;16')


def segmentation_map(im):
    """
    Class numbers of an ADE20K ``*_seg.png`` (or ``*_parts_N.png``)
    decoded as RGB: ``R / 10 * 256 + G`` (integer division).

    Parameters:
        im: uint8 array HxWx3

    Returns:
        uint16 array HxW
    """
    im = np.asarray(im)
    segmap = (im[:, :, 0] // 10).astype(np.uint16)
    segmap *= 256
    segmap += im[:, :, 1]
    return segmap


def instance_map(im):
    """
    Instance masks of an ADE20K ``*_seg.png`` decoded as RGB: the blue
    channel (0 where there is no object).

    Parameters:
        im: uint8 array HxWx3

    Returns:
        uint8 array HxW
    """
    return np.asarray(im)[:, :, 2]


def _rgb_array(data, where):
    from .tools import ImageError
    from .tools import load_image
    from .tools import open_image
    try:
        image = load_image(open_image(data))
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    return np.asarray(image.convert('RGB'))


def imagedata_to_segpng(data, where='segmentation image'):
    """
    Convert the data of an ADE20K ``*_seg.png`` or ``*_parts_N.png`` to a
    16-bit grey PNG of class numbers (:py:func:`segmentation_map`).

    Parameters:
        data: PNG file contents
        where: name for messages

    Returns:
        bytes of the 16-bit PNG

    Raises:
        UserError: the data is not an image, naming ``where``
    """
    return array_to_png16(segmentation_map(_rgb_array(data, where)))


def prepare_image(data, where):
    """
    The image as stored: RGB and grey JPEGs byte for byte; anything else
    (CMYK JPEG, other formats) as an RGB JPEG of quality
    :py:data:`REENCODE_QUALITY`, 4:4:4.

    Raises:
        UserError: the data is not an image, naming ``where``
    """
    from .tools import ImageError
    from .tools import encode_jpeg
    from .tools import load_image
    from .tools import open_image
    try:
        image = open_image(data)
        if image.format == 'JPEG' and image.mode in ('RGB', 'L'):
            return data
        image = load_image(image)
    except ImageError as exc:
        raise UserError(f'{where}: {exc}') from None
    return encode_jpeg(image.convert('RGB'), REENCODE_QUALITY, '444')


# ------------------------------------------------------------------ names

def yield_images(names):
    """
    Group the member names of the zip by image: for every ``.jpg``, in
    the given order, yield ``(image, segmentation, parts)``: its name, the
    name of its ``_seg.png`` and the names of its ``_parts_1.png``,
    ``_parts_2.png``, ... (as many as there are without a gap).

    Parameters:
        names: member names
    """
    names = list(names)
    parts = {n for n in names if '_parts_' in n and n.endswith('.png')}
    for name in names:
        if not name.endswith('.jpg'):
            continue
        prefix = name[:-len('.jpg')]
        found = []
        while f'{prefix}_parts_{len(found) + 1}.png' in parts:
            found.append(f'{prefix}_parts_{len(found) + 1}.png')
        yield name, prefix + '_seg.png', found


def split_names(names, split):
    """The member names below ``ADE20K_2016_07_26/images/SPLIT/``."""
    prefix = f'{ROOT}/images/{split}/'
    return [n for n in names if n.startswith(prefix)]


def split_images(imagezip, split):
    """``(image, segmentation, parts)`` of every image of a split, in zip order."""
    return list(yield_images(split_names(imagezip.namelist(), split)))


# ---------------------------------------------------------------- writing

def make_sample(item, segments=False):
    """
    Work item -> sample (runs in a worker process with ``-t N``).

    Parameters:
        item: ``(key, image data, segmentation data, [parts data], label,
            [member names for messages])``
        segments: also write the field ``segments``
            (:py:func:`segments_field`)
    """
    key, image, seg, parts, label, where = item
    image = prepare_image(image, where[0])
    seg = _rgb_array(seg, where[1])
    parts = [_rgb_array(p, w) for p, w in zip(parts, where[2:])]
    sample = ADE20kData(
        key,
        image,
        label,
        array_to_png16(segmentation_map(seg)),
        [array_to_png16(segmentation_map(p)) for p in parts],
    )
    if segments:
        sample['segments'] = segments_field(seg, parts, where[1:])
    return sample


def segments_field(seg, parts=(), where=()):
    """
    The instances of an image as a :py:class:`datadings_like.masks.Segments`
    value (``encode()``): one segment per instance (blue value other than 0)
    of the ``*_seg.png``, in the group ``'objects'``, and one per instance
    of each ``*_parts_N.png``, in the groups ``'parts'`` and
    ``'parts_N'``. The label of a segment is its class number
    (:py:func:`segmentation_map`; the most frequent one should its pixels
    differ), its iid ``(group, blue value)``, e.g. ``(b'objects', b'3')``.

    Parameters:
        seg: the ``*_seg.png`` as RGB array HxWx3
        parts: the ``*_parts_N.png`` as RGB arrays, in the order of N
        where: names of the files for messages (segmentation, parts...)

    Returns:
        dict (the encoded Segments)

    Raises:
        UserError: a parts image of another size than the segmentation
    """
    from ..masks import Segments
    from ..masks import SegmentsError

    segments = Segments(shape=seg.shape[:2])
    segments.add_label_image(instance_map(seg), segmentation_map(seg), group='objects',
                             domain='objects')
    for level, part in enumerate(parts, 1):
        try:
            segments.add_label_image(instance_map(part), segmentation_map(part),
                                     group=['parts', f'parts_{level}'],
                                     domain=f'parts_{level}')
        except SegmentsError as exc:
            name = where[level] if level < len(where) else f'parts image {level}'
            raise UserError(f'{name}: {exc}') from None
    return segments.encode()


def _read_items(imagezip, triples, scenelabels):
    from .tools import read_member
    archive = imagezip.filename
    for image, seg, parts in triples:
        key = posixpath.basename(image)
        label = scenelabels.get(key)
        if label is None:
            raise UserError(f'{archive}: {image} is not in {INDEX_MEMBER}')
        names = [image, seg] + parts
        data = [read_member(imagezip, n) for n in names]
        yield key, data[0], data[1], data[2:], label, [f'{archive}: {n}' for n in names]


def write_set(imagezip, outdir, split, scenelabels, args):
    """
    Write the samples of one split to ``OUTDIR/SPLIT.msgpack``.

    The main process reads the members (in a background thread); with
    ``args.threads`` > 1 the images are converted in that many worker
    processes. With ``args.shuffle`` the images are written in the order
    of a random permutation (``args.seed``); only the member names are
    held for that, never image data.

    Parameters:
        imagezip: open ``zipfile.ZipFile``
        outdir: output directory
        split: ``'training'`` or ``'validation'``
        scenelabels: dict image file name -> label
        args: parsed arguments (``threads``, ``shuffle``, ``seed``,
            ``no_confirm``, ``quiet``, ``segments``)

    Returns:
        number of samples written
    """
    from ..tools import yield_threaded
    from .tools import write_samples

    triples = split_images(imagezip, split)
    if not triples:
        raise UserError(f'{imagezip.filename}: no images in {ROOT}/images/{split}/')
    if args.shuffle:
        order = np.random.default_rng(getattr(args, 'seed', None)).permutation(len(triples))
        triples = [triples[i] for i in order.tolist()]
    threads = max(1, int(getattr(args, 'threads', 1) or 1))
    items = yield_threaded(_read_items(imagezip, triples, scenelabels),
                           maxsize=2 * BATCH * threads + 2)
    outfile = os.path.join(outdir, split + '.msgpack')
    convert = partial(make_sample, segments=True) if getattr(args, 'segments', False) \
        else make_sample
    return write_samples(outfile, items, convert, args, total=len(triples), shuffle=False,
                         threads=threads, processes=True, window=2 * threads, batch=BATCH,
                         quiet=bool(getattr(args, 'quiet', False)))


def write_sets(files, outdir, args):
    """Write ``training.msgpack`` and ``validation.msgpack``."""
    from .tools import open_zip
    from .tools import write_splits

    with open_zip(files['all']['path']) as imagezip:
        scenelabels, _ = scene_labels(imagezip)
        return write_splits(SPLITS, lambda split: write_set(
            imagezip, outdir, split, scenelabels, args))


# ------------------------------------------------------------- statistics

def _training_maps(imagezip):
    from .tools import read_member
    archive = imagezip.filename
    for _, seg, parts in split_images(imagezip, 'training'):
        for name in parts + [seg]:
            yield segmentation_map(_rgb_array(read_member(imagezip, name), f'{archive}: {name}'))


def calculate_weights(files, outdir, args=None):
    """
    Count the pixels of every class in the segmentation and parts maps of
    the training images, in one streaming pass, and write them with
    median-frequency weights to ``OUTDIR/ADE20k_counts.json`` (see
    :py:func:`datadings_like.sets.segmentation.write_statistics`:
    ``INDEXES`` and ``COUNTS`` as datadings 3.4.7 computes them, the
    standard weights in ``WEIGHTS``).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory
        args: parsed arguments (``no_confirm``, ``quiet``), or None

    Returns:
        the statistics dict written
    """
    from ..tools import yield_threaded
    from .segmentation import count_classes
    from .tools import open_zip
    from .segmentation import write_statistics

    quiet = bool(getattr(args, 'quiet', False))
    path = os.path.join(outdir, COUNTS_NAME)
    with open_zip(files['all']['path']) as imagezip:
        total = sum(1 + len(parts) for _, _, parts in split_images(imagezip, 'training'))
        counter = count_classes(yield_threaded(_training_maps(imagezip), maxsize=8),
                                total=total, desc='ADE20k class counts', quiet=quiet)
    stats = write_statistics(path, counter, overwrite=bool(getattr(args, 'no_confirm', False)))
    print(f'{path}: {counter.samples} maps, {len(stats["INDEXES"])} classes')
    return stats


def extract_scenelabels(files, outdir, args=None):
    """
    Write the sorted scene names of ``index_ade20k.mat`` to
    ``OUTDIR/ADE20k_scenelabels.json`` (a JSON list; the label of a sample
    is the index of its scene in it).

    Returns:
        the list of scene names
    """
    from .tools import open_zip

    with open_zip(files['all']['path']) as imagezip:
        _, scenes = scene_labels(imagezip)
    path = os.path.join(outdir, SCENELABELS_NAME)
    from .segmentation import write_json
    write_json(path, scenes, bool(getattr(args, 'no_confirm', False)))
    print(f'{path}: {len(scenes)} scenes')
    return scenes


# ------------------------------------------------------------------- main

def add_arguments(parser, threads_default):
    """``-t`` (worker processes), ``--seed`` and ``-q``; shared with
    Places2017_write."""
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_threads
    action = argument_threads(parser, default=threads_default)
    action.help = ('Number of worker processes for conversion. 0 uses all available '
                   f'CPUs. (default: {threads_default})')
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives the same order. (default: random)')
    argument_quiet(parser)


def main(argv=None):
    """Write the ADE20k dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import _cpu_count
    from ..tools.argparse import argument_calculate_weights
    from ..tools.argparse import make_parser

    parser = make_parser(__doc__)
    add_arguments(parser, min(8, _cpu_count()))
    argument_calculate_weights(parser)
    parser.add_argument(
        '--scenelabels',
        action='store_true',
        help='extract list of scene labels',
    )
    parser.add_argument(
        '--segments',
        action='store_true',
        help='Also write the field "segments": the masks of the object and part '
             'instances (datadings_like.masks.Segments).',
    )
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    if args.calculate_weights:
        calculate_weights(files, outdir, args)
    elif args.scenelabels:
        extract_scenelabels(files, outdir, args)
    else:
        write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
