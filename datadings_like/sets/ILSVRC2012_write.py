"""Create ILSVRC 2012 challenge data set files.

This tool will look for the following files in the input directory:

- ILSVRC2012_img_train.tar (138 GiB, 1281167 images: a tar of 1000
  per-synset tars nXXXXXXXX.tar with nXXXXXXXX_N.JPEG images)
- ILSVRC2012_img_val.tar (6.3 GiB, 50000 images ILSVRC2012_val_000NNNNN.JPEG)
- ILSVRC2012_devkit_t12.tar.gz (2.5 MiB, the development kit for
  task 1 & 2: data/meta.mat has the synsets (class names),
  data/ILSVRC2012_validation_ground_truth.txt the validation labels)

Note:
    Registration is required to download this dataset, so the files are
    never downloaded automatically. Create an account at
    https://image-net.org/ (sign up with an institutional e-mail address and
    accept the terms of access), then go to
    https://image-net.org/download-images.php, choose "ILSVRC 2012" and
    download "Training images (Task 1 & 2)", "Validation images (all
    tasks)" and "Development kit (Task 1 & 2)". Put the three files, as they
    are (do not unpack them), into INDIR. Their MD5 hashes are checked
    unless -s is given; hashing the train tar takes a few minutes.

It writes val.msgpack (50000 samples) and train.msgpack (1281167 samples)
to OUTDIR (default: INDIR), in this order. "key" is the image's file name,
e.g., "n01440764_10026.JPEG" or "ILSVRC2012_val_00000001.JPEG".
"label" is the index of the image's synset ID (WNID) in the sorted list of
the 1000 WNIDs of the devkit (0 is n01440764, tench); that list and the
class names are in datadings_like.sets.ILSVRC2012 (SYNSET_LIST, CLASSES).
Note that these labels differ from the devkit's ILSVRC2012_ID numbers.

"image" is the JPEG file from the archive, byte for byte. A few training
images are not RGB JPEGs (22 CMYK JPEGs, one PNG file named .JPEG) and some
are greyscale JPEGs; these are converted to RGB JPEG (quality 95, no chroma
subsampling), so every sample decodes the same way.
--compress [QUALITY] re-encodes images with more than 93750 pixels (half of
500x375) with that JPEG quality (default 85) and --subsampling (default
422); images with more than 281250 pixels (1.5 times 500x375) are first
downscaled (Lanczos) so that their longer side is 500 pixels. Smaller RGB
JPEGs are kept as they are: re-encoding would only lose detail.
--subsampling Gray (with --compress) stores every image as a grey JPEG.

The tars are read in the order they are stored, as streams: nothing is
extracted to disk, and member names are only used as keys. -t N converts
images in N threads. Samples are written in the order of the tars
(grouped by class for train) unless --shuffle yes is given. --shuffle yes
first writes a temporary file in stream order (in OUTDIR, as big as the
result), then copies the samples byte for byte into the final file in a
random order (random reads: use an SSD). Alternatively use
datadings-shuffle on the result later.

--shards N (or --shard-size N) writes each split as shards,
SPLIT-00000-of-000NN.msgpack ... and the shard list SPLIT.shards, which
ShardedReader and datadings_like.torch read as one dataset: the same
samples in the same order as SPLIT.msgpack (--shuffle yes: the same
order for the same --seed, shuffled across all shards). Each shard is one
task: train shards are groups of per-class tars (of about equal size),
val shards runs of images; the tars are indexed first (their headers are
read). --scheduler ADDRESS runs the tasks on a Dask cluster whose workers
see INDIR and OUTDIR at the same paths (--scheduler local:N: N worker
processes here). A run that failed or was killed is run again with the
same options to write only the shards that are missing.

Expected time and size (estimates): without --compress, about as big as the
source tars (train ~137 GiB, val ~6.3 GiB); writing is limited by the
disks, roughly 15-40 minutes for train on SSDs, 1-3 hours on one HDD.
--compress 85 gives train ~45-75 GB, val ~2-3 GB, and costs about
5-10 ms CPU time per image (2-4 CPU hours for train; -t N divides that
by up to N). --shuffle yes needs the same space again temporarily and
adds a copy. Memory: a few hundred MB, whatever the dataset size.

See also:
    https://image-net.org/challenges/LSVRC/2012/

"""
from functools import partial
import io
import os
import posixpath
import re
import sys
import tarfile
import tempfile
import zlib

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.extras import install_hint
from ..tools.cli import run_main
from .types import ImageClassificationData

__doc__ += document_keys(ImageClassificationData)

_REGISTRATION = (
    'https://image-net.org/download-images.php (registration required: '
    'log in, choose "ILSVRC 2012", then "{}")'
)
FILES = {
    'train': {
        'path': 'ILSVRC2012_img_train.tar',
        'url': None,
        'md5': '1d675b47d978889d74fa0da5fadfb00e',
        'help': _REGISTRATION.format('Training images (Task 1 & 2)'),
    },
    'val': {
        'path': 'ILSVRC2012_img_val.tar',
        'url': None,
        'md5': '29b22e2961454d5413ddabcf34fc5622',
        'help': _REGISTRATION.format('Validation images (all tasks)'),
    },
    'devkit': {
        'path': 'ILSVRC2012_devkit_t12.tar.gz',
        'url': None,
        'md5': 'fa75699e90414af021442c21a62c3abf',
        'help': _REGISTRATION.format('Development kit (Task 1 & 2)'),
    },
}

#: Members of the devkit that are read (relative to its top directory).
DEVKIT_META = 'data/meta.mat'
DEVKIT_VAL_TRUTH = 'data/ILSVRC2012_validation_ground_truth.txt'
#: Splits in the order they are written.
SPLITS = ('val', 'train')
#: Read buffer for the tars.
READ_SIZE = 4 * 1024 * 1024
#: Largest devkit member and image that are read into memory.
MAX_DEVKIT_MEMBER = 64 << 20
MAX_IMAGE_SIZE = 256 << 20
#: Images are compared to this size (500x375 pixels) for --compress.
TARGET_LONG_SIDE = 500
TARGET_SHORT_SIDE = 375
TARGET_PIXELS = TARGET_LONG_SIDE * TARGET_SHORT_SIDE

_WNID = re.compile(r'n\d{8}')
_VAL_NAME = re.compile(r'ILSVRC2012_val_(\d{8})\.JPEG')


# ------------------------------------------------------------------ devkit

class Devkit:
    """
    What the writer needs from the development kit.

    Attributes:
        synsets: list of ``(WNID, words)`` of the 1000 classes,
            sorted by WNID; the label of a class is its index here
        labels: dict WNID -> label
        val_labels: label of each validation image;
            ``val_labels[i]`` belongs to ``ILSVRC2012_val_{i+1:08d}.JPEG``
        num_train: number of training images the devkit lists
    """

    def __init__(self, synsets, labels, val_labels, num_train):
        self.synsets = synsets
        self.labels = labels
        self.val_labels = val_labels
        self.num_train = num_train


def _devkit_path(name):
    # "ILSVRC2012_devkit_t12/data/meta.mat" -> "data/meta.mat"
    parts = [p for p in name.split('/') if p not in ('', '.')]
    return '/'.join(parts[1:]) if len(parts) > 1 else None


def read_devkit_members(path, wanted):
    """
    Read members of the devkit archive into memory, matched by their path
    below the archive's top directory. Nothing is extracted to disk.

    Returns:
        dict relative path -> bytes

    Raises:
        UserError: the archive is damaged, or a member is missing
    """
    found = {}
    try:
        with tarfile.open(path, mode='r|*', bufsize=READ_SIZE) as tar:
            for member in tar:
                rel = _devkit_path(member.name)
                if rel not in wanted or not member.isreg() or rel in found:
                    continue
                if member.size > MAX_DEVKIT_MEMBER:
                    raise UserError(f'{path}: {member.name} is too big ({member.size} bytes)')
                found[rel] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise UserError(f'{path}: cannot read the devkit archive ({exc})') from None
    missing = [w for w in wanted if w not in found]
    if missing:
        raise UserError(f'{path}: {", ".join(missing)} not found; is this the '
                        'ILSVRC2012 devkit (task 1 & 2)?')
    return found


def _value(v):
    # loadmat(squeeze_me=True) gives scalars, str, or 0-d/1-element arrays
    import numpy as np
    while isinstance(v, np.ndarray):
        if v.size != 1:
            raise ValueError(f'expected one value, found an array of shape {v.shape}')
        v = v.reshape(()).item() if v.dtype != object else v.reshape(())[()]
    return v


def parse_meta(data, where):
    """
    Parse ``meta.mat`` of the devkit: a struct array ``synsets`` with
    fields ``ILSVRC2012_ID``, ``WNID``, ``words``, ``num_children``,
    ``num_train_images`` (among others). The 1000 classes are the synsets
    without children (``num_children == 0``); the others are their
    ancestors in WordNet.

    Returns:
        list of ``(ILSVRC2012_ID, WNID, words, num_train_images)`` of the
        classes, in the order of the file
    """
    try:
        from scipy.io import loadmat
    except ImportError:
        raise UserError(
            'reading the ILSVRC2012 devkit (meta.mat) needs scipy: '
            + install_hint('sets', 'scipy')
        ) from None
    import numpy as np
    try:
        mat = loadmat(io.BytesIO(data), squeeze_me=True)
    except Exception as exc:  # scipy raises many types for damaged files
        raise UserError(f'{where}: cannot read MATLAB file ({type(exc).__name__}: {exc})') from None
    synsets = mat.get('synsets')
    if not isinstance(synsets, np.ndarray) or synsets.dtype.names is None:
        raise UserError(f'{where}: no "synsets" struct array; is this the ILSVRC2012 devkit?')
    needed = ('ILSVRC2012_ID', 'WNID', 'words', 'num_children')
    missing = [n for n in needed if n not in synsets.dtype.names]
    if missing:
        raise UserError(f'{where}: synsets lack the fields {", ".join(missing)}')
    has_count = 'num_train_images' in synsets.dtype.names
    classes = []
    for i, s in enumerate(synsets.ravel()):
        try:
            num_children = int(_value(s['num_children']))
            if num_children:
                continue
            ilsvrc_id = int(_value(s['ILSVRC2012_ID']))
            wnid = str(_value(s['WNID']))
            words = str(_value(s['words']))
            count = int(_value(s['num_train_images'])) if has_count else 0
        except (ValueError, TypeError) as exc:
            raise UserError(f'{where}: synset {i} is malformed ({exc})') from None
        if not _WNID.fullmatch(wnid):
            raise UserError(f'{where}: synset {i} has an invalid WNID {wnid!r}')
        classes.append((ilsvrc_id, wnid, words, count))
    if not classes:
        raise UserError(f'{where}: no classes (synsets without children) found')
    for index in (0, 1):
        values = [c[index] for c in classes]
        if len(set(values)) != len(values):
            what = 'ILSVRC2012_ID' if index == 0 else 'WNID'
            raise UserError(f'{where}: repeated {what} among the classes')
    return classes


def parse_val_truth(data, id_to_label, where):
    """
    Parse ``ILSVRC2012_validation_ground_truth.txt``: one ILSVRC2012_ID per
    line, line i for validation image i.

    Returns:
        list of labels (indices into the sorted WNIDs)
    """
    labels = []
    try:
        text = data.decode('ascii')
    except UnicodeDecodeError:
        raise UserError(f'{where}: not a text file of class IDs') from None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            labels.append(id_to_label[int(line)])
        except (ValueError, KeyError):
            raise UserError(f'{where}: line {lineno}: {line[:20]!r} is not the '
                            'ILSVRC2012_ID of a class in meta.mat') from None
    return labels


def load_devkit(path):
    """
    Read the classes and the validation labels from the devkit archive.

    Parameters:
        path: path of ``ILSVRC2012_devkit_t12.tar.gz``

    Returns:
        :py:class:`Devkit`
    """
    members = read_devkit_members(path, (DEVKIT_META, DEVKIT_VAL_TRUTH))
    classes = parse_meta(members[DEVKIT_META], f'{path}: {DEVKIT_META}')
    by_wnid = sorted(classes, key=lambda c: c[1])
    labels = {c[1]: i for i, c in enumerate(by_wnid)}
    id_to_label = {c[0]: labels[c[1]] for c in classes}
    val_labels = parse_val_truth(members[DEVKIT_VAL_TRUTH], id_to_label,
                                 f'{path}: {DEVKIT_VAL_TRUTH}')
    synsets = [(c[1], c[2]) for c in by_wnid]
    return Devkit(synsets, labels, val_labels, sum(c[3] for c in classes))


def check_shipped_synsets(devkit, path):
    """
    Warn if the devkit's classes differ from those in
    :py:mod:`datadings_like.sets.ILSVRC2012` (then class names looked up
    there would not match the labels written).
    """
    from .ILSVRC2012 import SYNSET_LIST
    if tuple(w for w, _ in devkit.synsets) != tuple(SYNSET_LIST):
        print(f'warning: {path}: the classes of this devkit differ from the '
              f'{len(SYNSET_LIST)} in datadings_like.sets.ILSVRC2012; labels '
              'follow the devkit', file=sys.stderr)


# ------------------------------------------------------------------- tars

def _read_member(tar, member, where):
    if member.size > MAX_IMAGE_SIZE:
        raise UserError(f'{where}: {member.name} is too big ({member.size} bytes)')
    return tar.extractfile(member).read()


def _open_stream(path_or_fileobj, where):
    try:
        if isinstance(path_or_fileobj, (str, bytes, os.PathLike)):
            return tarfile.open(path_or_fileobj, mode='r|', bufsize=READ_SIZE)
        return tarfile.open(fileobj=path_or_fileobj, mode='r|', bufsize=READ_SIZE)
    except tarfile.TarError as exc:
        raise UserError(f'{where}: not a tar archive ({exc})') from None


def yield_train(path, labels):
    """
    Yield ``(key, data, label)`` for every image of the train tar, in the
    order they are stored: the outer tar holds one tar per synset
    (``nXXXXXXXX.tar``), which holds that synset's images. Both are read
    as streams; member names are only used as keys.

    Parameters:
        path: path of ``ILSVRC2012_img_train.tar``
        labels: dict WNID -> label
    """
    try:
        with _open_stream(path, path) as outer:
            for synset in outer:
                if not synset.isreg():
                    continue
                label = _synset_label(path, synset.name, labels)
                yield from _yield_synset(outer.extractfile(synset), label,
                                         f'{path}: {synset.name}')
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(f'{path}: damaged tar archive ({exc})') from None


def _synset_label(path, name, labels):
    wnid, ext = posixpath.splitext(posixpath.basename(name))
    if ext != '.tar' or wnid not in labels:
        raise UserError(f'{path}: unexpected member {name!r}: expected '
                        'one nXXXXXXXX.tar per class of the devkit')
    return labels[wnid]


def _yield_synset(fileobj, label, where):
    """``(key, data, label)`` of the images of one per-synset tar, read as a stream."""
    with _open_stream(fileobj, where) as inner:
        for image in inner:
            if image.isreg():
                key = posixpath.basename(image.name)
                yield key, _read_member(inner, image, where), label


def yield_val(path, val_labels):
    """
    Yield ``(key, data, label)`` for every image of the val tar, in the
    order they are stored. The label of ``ILSVRC2012_val_000NNNNN.JPEG``
    is ``val_labels[NNNNN - 1]``.
    """
    try:
        with _open_stream(path, path) as tar:
            for image in tar:
                if not image.isreg():
                    continue
                key = posixpath.basename(image.name)
                label = _val_label(path, image.name, val_labels)
                yield key, _read_member(tar, image, path), label
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(f'{path}: damaged tar archive ({exc})') from None


def _val_label(path, name, val_labels):
    match = _VAL_NAME.fullmatch(posixpath.basename(name))
    index = int(match.group(1)) - 1 if match else -1
    if not 0 <= index < len(val_labels):
        raise UserError(f'{path}: unexpected member {name!r}: expected '
                        'ILSVRC2012_val_NNNNNNNN.JPEG with a label in the devkit')
    return val_labels[index]


# ------------------------------------------------------------- shard tasks

def _cut(weights, count):
    """Cut ``range(len(weights))`` into at most ``count`` consecutive, non-empty
    runs of about equal total weight; returns the runs' (start, stop)."""
    total = sum(weights) or 1
    count = max(1, min(count, len(weights)))
    bounds, acc, k = [0], 0, 1
    for i, w in enumerate(weights):
        acc += w
        # close the run once its share is reached, leaving an item for each run left
        if k < count and acc >= total * k / count and len(weights) - (i + 1) >= count - k:
            bounds.append(i + 1)
            k += 1
    bounds.append(len(weights))
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def train_tasks(path, labels, count):
    """
    Tasks of the train split for :py:func:`datadings_like.parallel.write_shards`:
    the per-synset tars of the (uncompressed) train tar in ``count``
    consecutive groups of about equal size, each a list of
    ``[member name, data offset, size, label]``. Only the headers of the
    outer tar are read.
    """
    from .shards import index_tar
    members = [[name, offset, size, _synset_label(path, name, labels)]
               for name, offset, size in index_tar(path)]
    if not members:
        raise UserError(f'{path}: holds no per-class tars')
    return [members[a:b] for a, b in _cut([m[2] for m in members], count)]


def val_tasks(path, val_labels, per_task):
    """
    Tasks of the val split: runs of ``per_task`` images of the val tar in
    the order they are stored, each a list of ``[key, data offset, size,
    label]``.
    """
    from .shards import index_tar
    members = []
    for name, offset, size in index_tar(path):
        if size > MAX_IMAGE_SIZE:
            raise UserError(f'{path}: {name} is too big ({size} bytes)')
        members.append([posixpath.basename(name), offset, size,
                        _val_label(path, name, val_labels)])
    return [members[i:i + per_task] for i in range(0, len(members), per_task)]


def convert_train_task(task, path, quality=None, subsampling='422'):
    """The samples of a task of :py:func:`train_tasks` (runs on a worker)."""
    from .shards import MemberReader
    with open(path, 'rb') as f:
        for name, offset, size, label in task:
            for item in _yield_synset(MemberReader(f, offset, size), label, f'{path}: {name}'):
                yield make_sample(item, quality, subsampling)


def convert_val_task(task, path, quality=None, subsampling='422'):
    """The samples of a task of :py:func:`val_tasks` (runs on a worker)."""
    with open(path, 'rb') as f:
        for key, offset, size, label in task:
            f.seek(offset)
            data = f.read(size)
            if len(data) != size:
                raise UserError(f'{path}: ends inside {key} (truncated?)')
            yield make_sample((key, data, label), quality, subsampling)


def _describe_task(task):
    return f'{task[0][0]} ... {task[-1][0]}' if len(task) > 1 else task[0][0]


def write_sharded(split, outdir, files, devkit, args):
    """
    Write a split as shards (``--shards``/``--shard-size``, ``--scheduler``)
    through :py:func:`datadings_like.parallel.write_shards`: train as
    groups of per-class tars, val as runs of images; ``--shuffle yes``
    shuffles across all shards.
    """
    from functools import partial
    from ..parallel import write_shards
    from .shards import ShardLayout

    layout = ShardLayout.from_args(args)
    path = os.path.abspath(files[split]['path'])
    if split == 'val':
        total = len(devkit.val_labels)
        tasks = val_tasks(path, devkit.val_labels, layout.samples_per_file(total))
        fn = convert_val_task
    else:
        total = devkit.num_train or len(devkit.labels)
        count = layout.shards or -(-total // layout.shard_size)
        tasks = train_tasks(path, devkit.labels, count)
        fn = convert_train_task
    fn = partial(fn, path=path, quality=args.compress, subsampling=args.subsampling)
    return write_shards(tasks, fn, outdir, split, shuffle=bool(args.shuffle), seed=args.seed,
                        scheduler=getattr(args, 'scheduler', None), overwrite=args.no_confirm,
                        quiet=bool(getattr(args, 'quiet', False)), describe=_describe_task,
                        config={'writer': 'ILSVRC2012', 'version': 1, 'path': path,
                                'compress': args.compress, 'subsampling': args.subsampling})


# ----------------------------------------------------------------- images

def prepare_image(data, quality=None, subsampling='422', key='image'):
    """
    Return image data that decodes as an RGB JPEG (grey with
    ``subsampling='Gray'``):

    - without ``quality``: RGB JPEGs are returned unchanged; anything else
      (CMYK or greyscale JPEG, PNG, ...) is converted to an RGB JPEG of
      quality :py:data:`~datadings_like.sets.tools.REENCODE_QUALITY` with
      full chroma resolution (4:4:4);
    - with ``quality`` (``--compress``): images with more than half of
      500x375 pixels are re-encoded with ``quality`` and ``subsampling``,
      after downscaling those with more than 1.5 times 500x375 pixels to a
      longer side of 500 pixels; smaller RGB JPEGs are returned unchanged,
      smaller other images are converted with ``quality`` and 4:4:4.

    Parameters:
        data: bytes of the image file
        quality: None, or JPEG quality 1-100
        subsampling: ``444``, ``422``, ``420`` or ``Gray``
        key: name for messages

    Raises:
        UserError: the image cannot be decoded
    """
    from PIL import Image
    from .tools import REENCODE_QUALITY
    from .tools import ImageError
    from .tools import encode_jpeg
    from .tools import load_image
    from .tools import open_image
    from .tools import to_rgb

    try:
        image = open_image(data)
    except ImageError as exc:
        raise UserError(f'image {key}: {exc}') from None
    gray = subsampling == 'Gray' and quality is not None
    rgb_jpeg = image.format == 'JPEG' and image.mode == 'RGB'
    w, h = image.size
    pixels = w * h
    size = None
    if quality is None:
        if rgb_jpeg:
            return data
        quality, subsampling = REENCODE_QUALITY, '444'
    elif pixels <= TARGET_PIXELS / 2:
        if rgb_jpeg and not gray:
            return data
        subsampling = 'Gray' if gray else '444'
    elif pixels > 1.5 * TARGET_PIXELS:
        r = TARGET_LONG_SIDE / max(w, h)
        size = max(1, round(w * r)), max(1, round(h * r))
        if image.format == 'JPEG':
            # let libjpeg decode at 1/2, 1/4 or 1/8 scale if still big enough
            image.draft(image.mode if image.mode in ('L', 'RGB') else None, size)
    try:
        image = load_image(image)
    except ImageError as exc:
        raise UserError(f'image {key}: {exc}') from None
    target_mode = 'L' if subsampling == 'Gray' else 'RGB'
    if image.mode != target_mode:
        if image.mode in ('RGBA', 'RGBa', 'LA', 'La', 'PA') or \
                (image.mode == 'P' and 'transparency' in image.info):
            # put transparent images on white rather than black
            image = image.convert('RGBA')
            background = Image.new('RGBA', image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, image)
        else:
            # CMYK, palette, 1-bit, 16-bit ... -> RGB or L (8 bit)
            image = to_rgb(image)
        image = image.convert(target_mode)
    if size is not None:
        image = image.resize(size, Image.LANCZOS)
    return encode_jpeg(image, quality, subsampling)


def make_sample(item, quality=None, subsampling='422'):
    """Work item ``(key, data, label)`` -> sample (runs in the pool)."""
    key, data, label = item
    return ImageClassificationData(key, prepare_image(data, quality, subsampling, key), label)


# ---------------------------------------------------------------- writing

def write_shuffled(outfile, items, convert, args, total):
    """
    ``--shuffle yes`` for a source that can only be read in stream order:
    write the samples in stream order to a temporary dataset next to
    ``outfile``, then copy them byte for byte, in the random order of a
    permutation of their indices, into ``outfile``. Memory holds only the
    permutation, keys and offsets, never the images. Needs temporary disk
    space as big as the result.
    """
    from pathlib import Path
    import numpy as np
    from ..index import load_keys
    from ..index import load_offsets
    from ..writer import RawWriter
    from .tools import write_samples

    quiet = getattr(args, 'quiet', False)
    outdir = os.path.dirname(os.path.abspath(outfile))
    name = os.path.basename(outfile)
    # the final file is opened first: the question whether to overwrite it
    # comes before hours of work
    with RawWriter(outfile, overwrite=args.no_confirm, total=total, disable=quiet,
                   desc=f'{name} (2/2: shuffled copy)') as writer:
        with tempfile.TemporaryDirectory(prefix=f'.{name}.', suffix='.tmp', dir=outdir) as tmp:
            tmpfile = os.path.join(tmp, name)
            write_samples(tmpfile, items, convert, args, total=total, shuffle=False,
                          overwrite=True, quiet=quiet, desc=f'{name} (1/2: stream order)')
            keys = load_keys(Path(tmpfile))
            offsets = load_offsets(Path(tmpfile)).tolist()
            rng = np.random.default_rng(getattr(args, 'seed', None))
            # plain reads, no mmap: the page cache is not charged to us
            with open(tmpfile, 'rb', buffering=0) as f:
                for index in rng.permutation(len(keys)).tolist():
                    start = offsets[index]
                    f.seek(start)
                    data = f.read(offsets[index + 1] - start)
                    writer.write(keys[index], data)
        return writer.written


def write_split(split, outdir, items, total, args):
    """Convert and write the samples of one split."""
    from ..tools import yield_threaded
    from .tools import write_samples

    convert = partial(make_sample, quality=args.compress, subsampling=args.subsampling)
    outfile = os.path.join(outdir, split + '.msgpack')
    # read the tar in a background thread while images are converted
    items = yield_threaded(items, maxsize=64)
    if args.shuffle:
        return write_shuffled(outfile, items, convert, args, total)
    return write_samples(outfile, items, convert, args, total=total, shuffle=False,
                         quiet=bool(getattr(args, 'quiet', False)))


def write_sets(files, outdir, args):
    """Read the devkit, then write the splits in ``args.splits`` (default:
    val and train)."""
    from .tools import write_splits

    devkit = load_devkit(files['devkit']['path'])
    check_shipped_synsets(devkit, files['devkit']['path'])

    def write(split):
        if getattr(args, 'shards', None) is not None or \
                getattr(args, 'shard_size', None) is not None:
            return write_sharded(split, outdir, files, devkit, args)
        if split == 'val':
            items = yield_val(files['val']['path'], devkit.val_labels)
            total = len(devkit.val_labels)
        else:
            items = yield_train(files['train']['path'], devkit.labels)
            total = devkit.num_train or None
        return write_split(split, outdir, items, total, args)

    splits = getattr(args, 'splits', None) or SPLITS
    return write_splits([split for split in SPLITS if split in splits], write)


def argument_image_compression(parser):
    """
    Add ``--compress`` and ``--subsampling`` with the rules of
    :py:func:`prepare_image` (also used by the ImageNet21k writer).

    Parameters:
        parser: the ``argparse`` parser
    """
    from .tools import argument_compress
    from .tools import argument_subsampling
    argument_compress(
        parser,
        help='Re-encode images bigger than half of 500x375 pixels as JPEG with '
             'this quality 1-100 (default: 85 if given without a value); '
             'images bigger than 1.5 times 500x375 are first downscaled to a '
             'longer side of 500 pixels.',
    )
    argument_subsampling(
        parser,
        help='Chroma subsampling used with --compress. 444 is forced for small '
             'and converted images to preserve details; Gray stores grey images. '
             '(default: 422)',
    )


def main(argv=None):
    """Write the ILSVRC2012 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_shuffle
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser
    from .shards import argument_scheduler
    from .shards import argument_shards

    parser = make_parser(__doc__, shuffle=False)
    argument_shuffle(
        parser, default='no',
        help='Write samples in random order; needs temporary space as big as '
             'the output. (default: no, the order of the tars)',
    )
    argument_threads(parser)
    argument_image_compression(parser)
    parser.add_argument(
        '--splits', nargs='+', choices=SPLITS, default=list(SPLITS), metavar='SPLIT',
        help='Splits to write: val and/or train; only their source files and '
             'the devkit are needed. (default: val train)',
    )
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives the same order. (default: random)')
    argument_shards(parser)
    argument_scheduler(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    if args.scheduler is not None and args.shards is None and args.shard_size is None:
        parser.error('--scheduler needs --shards N or --shard-size N')
    outdir = args.outdir or args.indir

    needed = {name: meta for name, meta in FILES.items()
              if name == 'devkit' or name in args.splits}
    files = prepare_indir(needed, args)
    write_sets(files, outdir, args)


if __name__ == '__main__':
    run_main(main)
