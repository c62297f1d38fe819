"""Create CIFAR 10 data set files.

This tool will look for the following file in the input directory
and download it if necessary:

- cifar-10-python.tar.gz (163 MiB, the "CIFAR-10 python version")
  from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz

No registration is needed. To download it yourself (e.g., on a machine
without internet access), put the file into INDIR; its MD5 hash is checked
unless -s is given. The archive is read as it is: do not unpack it.

It writes train.msgpack (50000 samples, from data_batch_1 to 5) and
test.msgpack (10000 samples, from test_batch) to OUTDIR (default: INDIR).
Images are stored as lossless PNG (32x32 RGB). "label" is an index into
datadings_like.sets.CIFAR10.CLASSES; "key" is the image's file name from
the archive, e.g., "leptodactylus_pentadactylus_s_000004.png".

The archive holds Python pickles. They are read with a restricted
unpickler that only creates plain data and numpy arrays: a tampered
archive cannot run code.

With --shuffle yes (the default) the pixel data of one split is held in
memory (about 150 MiB for train) and samples are written in a random
order of their indices; with --shuffle no only one batch (30 MiB) is
held at a time and samples keep the archive's order. -t N encodes the
PNG images in N worker processes.

See also:
    https://www.cs.toronto.edu/~kriz/cifar.html

"""
import io
import os
import pickle
import sys
import tarfile
import zlib

from ..tools import document_keys
from ..tools.cli import UserError
from ..tools.cli import run_main
from .tools import write_samples
from .types import ImageClassificationData

__doc__ += document_keys(ImageClassificationData)

BASE_URL = 'https://www.cs.toronto.edu/~kriz/'
FILES = {
    'all': {
        'path': 'cifar-10-python.tar.gz',
        'url': BASE_URL + 'cifar-10-python.tar.gz',
        'md5': 'c58f30108f718f92721af3b95e74349a',
    },
}

#: Directory inside the archive.
PREFIX = 'cifar-10-batches-py'
#: Pickles (members of PREFIX) of each split, in order.
SPLITS = {
    'train': tuple(f'data_batch_{i}' for i in range(1, 6)),
    'test': ('test_batch',),
}
#: Pickle with the class names.
META = 'batches.meta'
#: Length of one image row: 3 colour planes of 32x32 pixels (R, G, B).
ROW_LENGTH = 3 * 32 * 32
#: Largest pickle that is read (the real ones are 31 MiB).
MAX_PICKLE_SIZE = 1 << 30


# ----------------------------------------------------------------- reading
# (shared with CIFAR100_write)

def read_pickle(tar, member_name, archive):
    """
    Load one pickle from the archive with the restricted unpickler.

    Parameters:
        tar: open ``tarfile.TarFile``
        member_name: path of the member in the archive
        archive: archive path for messages

    Returns:
        the unpickled object

    Raises:
        UserError: the member is missing or not a regular file, or the
            pickle is damaged or refers to anything but plain data and
            numpy arrays (nothing from it is executed)
    """
    from .tools import safe_unpickle

    where = f'{archive}: {member_name}'
    try:
        member = tar.getmember(member_name)
    except KeyError:
        raise UserError(f'{where} not found; is this the right archive?') from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise UserError(f'{archive}: damaged archive ({exc})') from None
    if not member.isreg():
        raise UserError(f'{where} is not a regular file; is this the right archive?')
    if member.size > MAX_PICKLE_SIZE:
        raise UserError(f'{where} is too big ({member.size} bytes) for a CIFAR pickle')
    f = tar.extractfile(member)
    try:
        return safe_unpickle(f, encoding='latin1')
    except pickle.UnpicklingError as exc:
        raise UserError(f'{where}: refused to load pickle: {exc}') from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError, RecursionError, tarfile.TarError) as exc:
        raise UserError(f'{where}: damaged pickle ({type(exc).__name__}: {exc})') from None


def require_members(tar, member_names, archive):
    """
    Check that the archive has all the given members (regular files)
    before anything is written.

    Raises:
        UserError: listing the missing members
    """
    missing = []
    for name in member_names:
        try:
            member = tar.getmember(name)
        except KeyError:
            missing.append(name)
            continue
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise UserError(f'{archive}: damaged archive ({exc})') from None
        if not member.isreg():
            missing.append(name)
    if missing:
        raise UserError(f'{archive}: {", ".join(missing)} not found; '
                        'is this the right archive?')


def get_field(d, name, where):
    """
    Value of key ``name`` in an unpickled CIFAR dict; keys may be
    ``str`` (Python 2 pickles read with ``encoding='latin1'``)
    or ``bytes`` (``encoding='bytes'``, or Python 3 pickles).
    """
    if not isinstance(d, dict):
        raise UserError(f'{where}: expected a dict, found {type(d).__name__}')
    for k in (name, name.encode('ascii')):
        if k in d:
            return d[k]
    raise UserError(f'{where}: key {name!r} is missing; is this the right archive?')


def _as_str(value, where):
    if isinstance(value, bytes):
        value = value.decode('utf-8', 'replace')
    if not isinstance(value, str):
        raise UserError(f'{where}: expected a file name, found {type(value).__name__}')
    return value


def _labels(values, n, limit, name, where):
    if not isinstance(values, (list, tuple)) and not hasattr(values, 'tolist'):
        raise UserError(f'{where}: {name!r} is not a list')
    values = values.tolist() if hasattr(values, 'tolist') else list(values)
    if len(values) != n:
        raise UserError(f'{where}: {len(values)} {name!r} for {n} images')
    for v in values:
        if type(v) is not int or not 0 <= v < limit:
            raise UserError(f'{where}: {name!r} holds {v!r}, expected an int 0-{limit - 1}')
    return values


def read_batch(tar, member_name, archive, label_fields):
    """
    Load and check one batch pickle.

    Parameters:
        tar: open ``tarfile.TarFile``
        member_name: path of the member in the archive
        archive: archive path for messages
        label_fields: sequence of ``(field name, number of classes)``

    Returns:
        ``(rows, filenames, labels)``: a uint8 array of shape (n, 3072),
        a list of n file names and one list of n ints per label field
    """
    import numpy as np

    where = f'{archive}: {member_name}'
    d = read_pickle(tar, member_name, archive)
    rows = get_field(d, 'data', where)
    if not isinstance(rows, np.ndarray) or rows.dtype != np.uint8 \
            or rows.ndim != 2 or rows.shape[1] != ROW_LENGTH:
        desc = f'array of {rows.dtype} {rows.shape}' if isinstance(rows, np.ndarray) \
            else type(rows).__name__
        raise UserError(f"{where}: 'data' must be a uint8 array of shape (n, {ROW_LENGTH}), "
                        f'found {desc}')
    n = rows.shape[0]
    filenames = get_field(d, 'filenames', where)
    if not isinstance(filenames, (list, tuple)) or len(filenames) != n:
        raise UserError(f"{where}: 'filenames' must be a list of {n} names")
    filenames = [_as_str(f, where) for f in filenames]
    labels = [_labels(get_field(d, name, where), n, limit, name, where)
              for name, limit in label_fields]
    return rows, filenames, labels


def check_names(tar, member_name, archive, fields):
    """
    Compare the class names in a meta pickle with the shipped ones;
    differences are reported on stderr (the labels are written as they are).

    Parameters:
        tar: open ``tarfile.TarFile``
        member_name: path of the meta pickle in the archive
        archive: archive path for messages
        fields: sequence of ``(field name, expected names)``
    """
    where = f'{archive}: {member_name}'
    d = read_pickle(tar, member_name, archive)
    for name, expected in fields:
        names = [_as_str(v, where) for v in get_field(d, name, where)]
        if tuple(names) != tuple(expected):
            print(f'warning: {where}: {name!r} differ from the class names '
                  'this package ships', file=sys.stderr)


class UniqueKeys:
    """
    Make keys from file names unique: the n-th (n > 1) occurrence of
    a name gets the counter appended, e.g., ``x.png``, ``x.png2``
    (CIFAR-100 repeats some names). Counted in archive order, so keys do
    not depend on ``--shuffle``.
    """

    def __init__(self):
        self._seen = {}

    def __call__(self, name):
        count = self._seen.get(name, 0) + 1
        self._seen[name] = count
        return name if count == 1 else f'{name}{count}'


def row2image(row):
    """
    Encode one CIFAR row (3072 bytes: the red, green and blue
    32x32 planes) as PNG.
    """
    from PIL import Image

    arr = row.reshape((3, 32, 32)).transpose((1, 2, 0))
    bio = io.BytesIO()
    Image.fromarray(arr).save(bio, 'PNG', optimize=True)  # uint8 HxWx3: RGB
    return bio.getvalue()


def yield_items(tar, archive, members, label_fields):
    """
    Yield work items ``(key, row, label, ...)`` batch by batch in archive
    order; only one batch is held in memory at a time.
    """
    unique = UniqueKeys()
    for member in members:
        rows, filenames, labels = read_batch(tar, member, archive, label_fields)
        for i, name in enumerate(filenames):
            yield (unique(name), rows[i]) + tuple(label[i] for label in labels)


def load_items(tar, archive, members, label_fields):
    """
    All work items of a split as a list (for ``--shuffle yes``).
    Rows are views of the batches' pixel arrays, not encoded images.
    """
    return list(yield_items(tar, archive, members, label_fields))


# ----------------------------------------------------------------- writing

def make_sample(item):
    """Work item ``(key, row, label)`` -> sample (runs in the pool)."""
    key, row, label = item
    return ImageClassificationData(key, row2image(row), label)


#: Rows converted per pool task: a 32x32 PNG takes only ~0.2 ms, so
#: single-row tasks would cost more in pool overhead than they gain.
CHUNK_SIZE = 64


def write_items(outfile, items, convert, args, total=None):
    """
    Convert work items to samples and write them to ``outfile``.

    With ``args.shuffle``, ``items`` (rows are views of the pixel arrays,
    not encoded images) are written in the random order of a permutation
    of their indices, given by ``args.seed`` (random if None).
    ``args.quiet`` disables the progress bar. With ``args.threads > 1`` batches of
    :py:data:`CHUNK_SIZE` items are converted in a pool of that many
    processes (PNG encoding of small images is mostly Python work that
    threads cannot run in parallel); samples are written in order.

    Returns:
        number of samples written
    """
    return write_samples(outfile, items, convert, args, total=total,
                         shuffle=bool(args.shuffle), seed=getattr(args, 'seed', None),
                         quiet=bool(getattr(args, 'quiet', False)),
                         processes=True, batch=CHUNK_SIZE, window=2 * max(1, args.threads))


def write_cifar_sets(files, outdir, args, prefix, splits, label_fields,
                     convert, totals, meta=None):
    """
    Write the splits of a CIFAR archive (shared with CIFAR100_write).

    Parameters:
        files: located source files (``prepare_indir`` result)
        outdir: output directory
        args: parsed arguments
        prefix: directory in the archive
        splits: dict split -> member names (in PREFIX)
        label_fields: sequence of ``(field name, number of classes)``
        convert: work item -> sample
        totals: dict split -> expected number of samples (progress bar)
        meta: optional ``(member name, [(field, expected names), ...])``
    """
    from .tools import write_splits

    archive = files['all']['path']
    try:
        tar = tarfile.open(archive, 'r:gz')
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UserError(f'{archive}: cannot read archive ({exc})') from None
    with tar:
        require_members(tar, [f'{prefix}/{name}' for names in splits.values() for name in names]
                        + ([f'{prefix}/{meta[0]}'] if meta is not None else []), archive)
        if meta is not None:
            check_names(tar, f'{prefix}/{meta[0]}', archive, meta[1])

        def write_split(split):
            members = [f'{prefix}/{name}' for name in splits[split]]
            outfile = os.path.join(outdir, split + '.msgpack')
            if args.shuffle:
                items = load_items(tar, archive, members, label_fields)
            else:
                items = yield_items(tar, archive, members, label_fields)
            return write_items(outfile, items, convert, args, total=totals.get(split))

        write_splits(list(splits), write_split)


def add_arguments(parser):
    """Options besides ``make_parser``'s: ``-t``, ``--seed`` (the order
    of ``--shuffle yes``) and ``-q`` (no progress bars); shared with
    CIFAR100_write."""
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_threads
    argument_threads(parser)
    argument_seed(parser, help='Random seed for --shuffle yes (an integer >= 0); the '
                               'same seed gives byte-identical files. (default: random)')
    argument_quiet(parser)


def main(argv=None):
    """Write the CIFAR10 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import make_parser
    from .CIFAR10 import CLASSES
    from .CIFAR10 import NUM_SAMPLES

    parser = make_parser(__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    write_cifar_sets(
        files, outdir, args, PREFIX, SPLITS,
        label_fields=[('labels', len(CLASSES))],
        convert=make_sample,
        totals=NUM_SAMPLES,
        meta=(META, [('label_names', CLASSES)]),
    )


if __name__ == '__main__':
    run_main(main)
