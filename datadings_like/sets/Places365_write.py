"""Create Places365 data set files.
You can choose between any combination of

- high or low resolution images and
- standard or challenge (extended) training data set

This tool will look for the following files in the input directory
depending on the chosen version and download them if necessary:

- standard (large)

    - train_large_places365standard.tar (105 GB)
    - val_large.tar (2.1 GB)
    - test_large.tar (19 GB)
- standard (small)

    - train_256_places365standard.tar (24 GB)
    - val_256.tar (501 MB)
    - test_256.tar (4.4 GB)
- challenge (large)

    - train_large_places365challenge.tar (476 GB)
    - val_large.tar (2.1 GB)
    - test_large.tar (19 GB)
- challenge (small)

    - train_256_places365challenge.tar (108 GB)
    - val_256.tar (501 MB)
    - test_256.tar (4.4 GB)

and, for the validation labels, filelist_places365-standard.tar (the
file lists; also for the challenge version). The MD5 hashes of the files
are checked unless -s is given (reading them all once more: use -s if you
checked them already).

It writes training.msgpack (1803460 samples; 8026628 with -c),
validation.msgpack (36500) and testing.msgpack (328500) to OUTDIR
(default: INDIR), in this order. "key" is the name of the image in its
tar, e.g., "data_large/a/airfield/00000001.jpg" or
"val_large/Places365_val_00000001.jpg". "label" is the index of the
image's class in datadings_like.sets.Places365.CLASSES: for training
images the class is the directory below the initial letter
("apartment_building/outdoor" for data_large/a/apartment_building/outdoor/),
for validation images it is given by places365_val.txt of the file
lists. Test samples have no label. "image" is the JPEG file from the
tar, byte for byte.

The tars are read once each, as streams, in the order they are stored:
nothing is unpacked to disk and memory does not grow with their size.
--splits writes only some of the splits (only their tars are needed).

Important:
    For performance reasons shuffling is not available. It is recommended
    to use the datadings-shuffle command to create a shuffled copy.

A conversion of the train tar takes hours. If it is killed or fails, run
the same command again: it goes on from its last checkpoint (at most
--checkpoint-interval seconds of work are lost). A split that was
complete is not read again; the tar of the split that was being written
is read again from its start, but what was converted is skipped. Until
the end, the output is in hidden files in OUTDIR (.Places365.resume and
.*.partial); the final files, the same as those of an uninterrupted run,
get their names at the end. --restart discards what an interrupted run
kept.

--shards N or --shard-size N write each split as shards,
training-00000-of-000NN.msgpack ..., which ShardedReader and
datadings_like.torch read as one dataset. Use them for the challenge
train set: a single file keeps the keys of all its samples in memory
while it is written (about 150 bytes per sample).

--scheduler ADDRESS (with --shards or --shard-size) writes the same
shards on a Dask cluster whose workers see INDIR and OUTDIR at the same
paths (--scheduler local:N: N worker processes here): the tars are
indexed (their headers are read), and each shard is one task reading its
run of images; SPLIT.shards lists the shards. A run that failed is run
again with the same options to write only the missing shards (instead of
the checkpoints above).

See also:
    http://places2.csail.mit.edu/index.html

"""
import argparse
import posixpath
import tarfile
import zlib

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .types import ImageClassificationData
from .types import ImageData

__doc__ += document_keys(ImageClassificationData)

#: Where the files are downloaded from.
BASE_URL = 'http://data.csail.mit.edu/places/places365/'
#: Splits in the order they are written.
SPLITS = ('training', 'validation', 'testing')
#: Members of the file list tar that are read.
VAL_LIST = 'places365_val.txt'
CATEGORIES = 'categories_places365.txt'
#: Largest image and file list read into memory.
MAX_IMAGE_SIZE = 256 << 20
MAX_LIST_SIZE = 256 << 20


def file_spec(path, md5, total=None):
    """
    Description of a source file for
    :py:func:`~datadings_like.tools.download.prepare_indir`.

    Parameters:
        path: file name (also the last part of its URL)
        md5: its MD5 hash
        total: number of images it holds (progress bars)

    Returns:
        dict with ``url``, ``path``, ``md5`` (and ``total``)
    """
    spec = {'url': BASE_URL + path, 'path': path, 'md5': md5}
    if total is not None:
        spec['total'] = total
    return spec


FILES_META = {
    'meta': file_spec('filelist_places365-standard.tar', '35a0585fee1fa656440f3ab298f8479c'),
}
FILES_LARGE_VAL_TEST = {
    'validation': file_spec('val_large.tar', '9b71c4993ad89d2d8bcbdc4aef38042f', 36500),
    'testing': file_spec('test_large.tar', '41a4b6b724b1d2cd862fb3871ed59913', 328500),
    **FILES_META,
}
FILES_256_VAL_TEST = {
    'validation': file_spec('val_256.tar', 'e27b17d8d44f4af9a78502beb927f808', 36500),
    'testing': file_spec('test_256.tar', 'f532f6ad7b582262a2ec8009075e186b', 328500),
    **FILES_META,
}
FILES_LARGE_STANDARD = {
    'training': file_spec('train_large_places365standard.tar',
                          '67e186b496a84c929568076ed01a8aa1', 1803460),
    **FILES_LARGE_VAL_TEST,
}
FILES_LARGE_CHALLENGE = {
    'training': file_spec('train_large_places365challenge.tar',
                          '605f18e68e510c82b958664ea134545f', 8026628),
    **FILES_LARGE_VAL_TEST,
}
FILES_256_STANDARD = {
    'training': file_spec('train_256_places365standard.tar',
                          '53ca1c756c3d1e7809517cc47c5561c5', 1803460),
    **FILES_256_VAL_TEST,
}
FILES_256_CHALLENGE = {
    'training': file_spec('train_256_places365challenge.tar',
                          '741915038a5e3471ec7332404dfb64ef', 8026628),
    **FILES_256_VAL_TEST,
}
#: ``(low_res, challenge)`` -> the files of that version.
FILES = {
    (False, False): FILES_LARGE_STANDARD,
    (False, True): FILES_LARGE_CHALLENGE,
    (True, False): FILES_256_STANDARD,
    (True, True): FILES_256_CHALLENGE,
}


def get_files(challenge, low_res):
    """
    The source files of a version of Places365.

    Parameters:
        challenge: the challenge (extended) train set instead of the standard one
        low_res: the 256x256 images instead of the large ones

    Returns:
        dict ``'training'``, ``'validation'``, ``'testing'``, ``'meta'`` -> file description
    """
    return FILES[(bool(low_res), bool(challenge))]


# ------------------------------------------------------------- file lists

def _top_name(name):
    parts = [p for p in name.split('/') if p not in ('', '.')]
    return '/'.join(parts)


def read_filelist(path, wanted):
    """
    Read members of the file list tar into memory by their names at its
    top (``places365_val.txt`` ...), without unpacking anything to disk.

    Parameters:
        path: path of ``filelist_places365-standard.tar``
        wanted: member names

    Returns:
        dict name -> text of the members found

    Raises:
        UserError: the archive is damaged, a member is too big or not UTF-8
    """
    from .shards import open_tar_stream
    from .shards import stream_members

    found = {}
    with open_tar_stream(path) as tar:
        for member in stream_members(tar):
            name = _top_name(member.name)
            if name not in wanted or not member.isreg() or name in found:
                continue
            if member.size > MAX_LIST_SIZE:
                raise UserError(f'{path}: {member.name} is too big ({member.size} bytes)')
            try:
                data = tar.extractfile(member).read()
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                raise UserError(f'{path}: {member.name}: damaged archive member '
                                f'({exc})') from None
            try:
                found[name] = data.decode('utf-8')
            except UnicodeDecodeError:
                raise UserError(f'{path}: {member.name} is not a UTF-8 text file') from None
    return found


def parse_val_list(text, where):
    """
    Parse ``places365_val.txt``: ``Places365_val_00000001.jpg 165``, one
    line per image.

    Parameters:
        text: the file's content
        where: name of the file for messages

    Returns:
        dict image file name -> label

    Raises:
        UserError: a line is malformed, a label out of range, a name repeated
    """
    from .Places365 import NUM_CLASSES
    labels = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            name, label = fields
            label = int(label)
        except ValueError:
            raise UserError(f'{where}, line {lineno}: {line.strip()[:80]!r} is not '
                            '"NAME LABEL"') from None
        if not 0 <= label < NUM_CLASSES:
            raise UserError(f'{where}, line {lineno}: label {label} is not in 0-{NUM_CLASSES - 1}')
        if name in labels:
            raise UserError(f'{where}, line {lineno}: {name} is listed twice')
        labels[name] = label
    if not labels:
        raise UserError(f'{where}: lists no images')
    return labels


def check_categories(text, where):
    """
    Make sure the classes of ``categories_places365.txt`` are those
    shipped in :py:mod:`datadings_like.sets.Places365` (the labels of the
    training images come from the shipped list, those of the validation
    images from the file lists).

    Raises:
        UserError: malformed, or other classes
    """
    from .Places365 import CLASSES
    from .Places365 import parse_categories
    try:
        classes = parse_categories(text, where)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if classes != CLASSES:
        raise UserError(f'{where}: its {len(classes)} classes differ from the '
                        f'{len(CLASSES)} of datadings_like.sets.Places365; is this the '
                        'Places365 file list?')


def load_val_labels(path):
    """
    The validation labels from the file list tar; its
    ``categories_places365.txt``, if there, is checked against the
    shipped classes.

    Parameters:
        path: path of ``filelist_places365-standard.tar``

    Returns:
        dict image file name -> label
    """
    members = read_filelist(path, (VAL_LIST, CATEGORIES))
    if VAL_LIST not in members:
        raise UserError(f'{path}: {VAL_LIST} not found; is this the Places365 file list '
                        '(filelist_places365-standard.tar)?')
    if CATEGORIES in members:
        check_categories(members[CATEGORIES], f'{path}: {CATEGORIES}')
    return parse_val_list(members[VAL_LIST], f'{path}: {VAL_LIST}')


# ------------------------------------------------------------------- tars

def training_label(name, where):
    """
    The label of a training image from its member name:
    ``data_large/a/apartment_building/outdoor/00000001.jpg`` is in class
    ``apartment_building/outdoor``.

    Raises:
        UserError: the directory is not a class
    """
    from .Places365 import CLASS_TO_ID
    parts = [p for p in name.split('/') if p not in ('', '.')]
    label = CLASS_TO_ID.get('/'.join(parts[2:-1]))
    if label is None:
        raise UserError(f'{where}: unexpected member {name!r}: expected '
                        'data_*/x/CLASS/NNNNNNNN.jpg with one of the 365 classes of '
                        'datadings_like.sets.Places365')
    return label


def iter_split(split, path, val_labels=None, wanted=None):
    """
    Yield ``(position, sample)`` for every image (``*.jpg`` member) of a
    split's tar, in the order they are stored; the tar is read as a
    stream. ``position`` is ``[n]`` for the n-th regular file of the tar.

    Parameters:
        split: ``training``, ``validation`` or ``testing``
        path: path of the split's tar
        val_labels: dict image file name -> label (validation)
        wanted: optional function ``(position, key) -> bool``; the data of
            members for which it is false is not read, nothing is yielded

    Raises:
        UserError: a damaged tar, an image too big, a training image in
            no class, a validation image without label
    """
    from .shards import open_tar_stream
    from .shards import stream_members

    index = -1
    with open_tar_stream(path) as tar:
        for member in stream_members(tar):
            if not member.isreg():
                continue
            index += 1
            name = member.name
            if not name.endswith('.jpg'):
                continue
            if split == 'training':
                label = training_label(name, path)
            elif split == 'validation':
                label = val_labels.get(posixpath.basename(name))
                if label is None:
                    raise UserError(f'{path}: {name} is not listed in {VAL_LIST} of the '
                                    'file lists')
            if wanted is not None and not wanted([index], name):
                continue
            if member.size > MAX_IMAGE_SIZE:
                raise UserError(f'{path}: {name} is too big ({member.size} bytes)')
            try:
                data = tar.extractfile(member).read()
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                raise UserError(f'{path}: {name}: damaged archive member ({exc})') from None
            if split == 'testing':
                yield [index], ImageData(name, data)
            else:
                yield [index], ImageClassificationData(name, data, label)


# ------------------------------------------------------------- shard tasks

def split_tasks(split, path, val_labels, per_task):
    """
    Tasks of a split for :py:func:`datadings_like.parallel.write_shards`
    (``--scheduler``): runs of ``per_task`` images of the split's tar in the
    order they are stored, each a list of ``[name, data offset, size,
    label]`` (label None for testing), so that the shards are those of
    ``--shards`` without a scheduler. Only the tar's headers are read.
    """
    from .shards import index_tar
    members = []
    for name, offset, size in index_tar(path):
        if not name.endswith('.jpg'):
            continue
        label = None
        if split == 'training':
            label = training_label(name, path)
        elif split == 'validation':
            label = val_labels.get(posixpath.basename(name))
            if label is None:
                raise UserError(f'{path}: {name} is not listed in {VAL_LIST} of the '
                                'file lists')
        if size > MAX_IMAGE_SIZE:
            raise UserError(f'{path}: {name} is too big ({size} bytes)')
        members.append([name, offset, size, label])
    return [members[i:i + per_task] for i in range(0, len(members), per_task)] or [[]]


def convert_task(task, path):
    """The samples of a task of :py:func:`split_tasks` (runs on a worker)."""
    with open(path, 'rb') as f:
        for name, offset, size, label in task:
            f.seek(offset)
            data = f.read(size)
            if len(data) != size:
                raise UserError(f'{path}: ends inside {name} (truncated?)')
            if label is None:
                yield ImageData(name, data)
            else:
                yield ImageClassificationData(name, data, label)


def _describe_task(task):
    return f'{len(task)} images {task[0][0]} ... {task[-1][0]}' if task else 'no images'


def write_on_cluster(files, outdir, args, splits):
    """``--scheduler``: each shard of each split is one task of
    :py:func:`datadings_like.parallel.write_shards`."""
    import os
    from functools import partial
    from ..parallel import write_shards
    from .Places365 import NUM_SAMPLES
    from .shards import ShardLayout

    layout = ShardLayout.from_args(args)
    val_labels = load_val_labels(files['meta']['path']) if 'validation' in splits else None
    for split in splits:
        path = os.path.abspath(files[split]['path'])
        per = layout.samples_per_file(NUM_SAMPLES[split, bool(args.challenge)])
        tasks = split_tasks(split, path, val_labels, per)
        write_shards(tasks, partial(convert_task, path=path), outdir, split,
                     scheduler=args.scheduler, overwrite=args.no_confirm, quiet=args.quiet,
                     describe=_describe_task, config=conversion_config(args, splits))


# ---------------------------------------------------------------- writing

def conversion_config(args, splits):
    """What an interrupted conversion must share with the next run to be continued."""
    import hashlib
    from importlib import resources
    from .Places365 import CLASSES_FILE
    classes = resources.files(__package__).joinpath(CLASSES_FILE).read_bytes()
    return {
        'writer': 'Places365', 'version': 1,
        'low_res': bool(args.low_res), 'challenge': bool(args.challenge),
        'splits': list(splits),
        'classes': hashlib.md5(classes).hexdigest(),
    }


def _selected_splits(args):
    chosen = getattr(args, 'splits', None) or SPLITS
    return [split for split in SPLITS if split in chosen]


def needed_files(args):
    """The source files needed for the splits chosen in ``args``."""
    files = get_files(args.challenge, args.low_res)
    splits = _selected_splits(args)
    names = list(splits) + (['meta'] if 'validation' in splits else [])
    return {name: files[name] for name in names}


def write_sets(indir, outdir, args):
    """
    Download (if missing) and verify the source files, then convert the
    splits chosen in ``args`` (default: all three), resumably (see
    :py:class:`~datadings_like.sets.shards.ResumableConversion`).

    Parameters:
        indir: directory of the source files
        outdir: output directory
        args: parsed arguments (``low_res``, ``challenge``, ``no_confirm``,
            ``skip_verification``, ``splits``, ``shards``, ``shard_size``,
            ``restart``, ``checkpoint_interval``, ``quiet``)
    """
    from ..tools import prepare_indir
    from ..tools import yield_threaded
    from .Places365 import NUM_SAMPLES
    from .shards import ResumableConversion
    from .shards import ShardLayout

    splits = _selected_splits(args)
    files = prepare_indir(needed_files(args), argparse.Namespace(**{**vars(args), 'indir': indir}))
    expected = {split: NUM_SAMPLES[split, bool(args.challenge)] for split in splits}
    if getattr(args, 'scheduler', None) is not None:
        return write_on_cluster(files, outdir, args, splits)
    with ResumableConversion(outdir, 'Places365', splits, conversion_config(args, splits),
                             layout=ShardLayout.from_args(args), expected=expected,
                             args=args) as job:
        if job.done:
            return
        val_labels = None
        if 'validation' in splits and not job.split_complete('validation'):
            val_labels = load_val_labels(files['meta']['path'])

        def items():
            for split in splits:
                if job.split_complete(split):
                    continue

                def wanted(position, key, split=split):
                    return job.wanted(split, position, key)
                for position, sample in iter_split(split, files[split]['path'],
                                                   val_labels, wanted):
                    yield split, position, sample
                yield split, None, None  # the tar was read to its end

        # the tars are read in a background thread while samples are written
        for split, position, sample in yield_threaded(items(), maxsize=64):
            if position is None:
                job.complete_split(split)
            else:
                job.write(split, sample, position)


def main(argv=None):
    """Write the Places365 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import make_parser
    from .shards import argument_resume
    from .shards import argument_scheduler
    from .shards import argument_shards

    parser = make_parser(__doc__, shuffle=False)
    parser.add_argument(
        '-l', '--low-res',
        action='store_true',
        help='Download the resized and cropped images (256x256). '
             'Default are images with minimum dimension of 512 and preserved '
             'aspect ratio.',
    )
    parser.add_argument(
        '-c', '--challenge',
        action='store_true',
        help='Download the extended challenge training dataset. Validation and '
             'testing are the same.',
    )
    parser.add_argument(
        '--splits', nargs='+', choices=SPLITS, default=list(SPLITS), metavar='SPLIT',
        help='Splits to write: training, validation and/or testing; only their '
             'files are needed (the file lists for validation). '
             '(default: all three)',
    )
    argument_shards(parser)
    argument_scheduler(parser)
    argument_resume(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    if args.scheduler is not None and args.shards is None and args.shard_size is None:
        parser.error('--scheduler needs --shards N or --shard-size N')
    outdir = args.outdir or args.indir
    write_sets(args.indir, outdir, args)


if __name__ == '__main__':
    run_main(main)
