"""Create CIFAR 100 data set files.

This tool will look for the following file in the input directory
and download it if necessary:

- cifar-100-python.tar.gz (161 MiB, the "CIFAR-100 python version")
  from https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz

No registration is needed. To download it yourself (e.g., on a machine
without internet access), put the file into INDIR; its MD5 hash is checked
unless -s is given. The archive is read as it is: do not unpack it.

It writes train.msgpack (50000 samples) and test.msgpack (10000 samples)
to OUTDIR (default: INDIR). Images are stored as lossless PNG (32x32 RGB).
"label" is the fine label, an index into
datadings_like.sets.CIFAR100.CLASSES (100 classes), "coarse_label" an index
into datadings_like.sets.CIFAR100.COARSE_CLASSES (20 superclasses).
"key" is the image's file name from the archive, e.g.,
"bos_taurus_s_000507.png". The archive repeats some file names in a split;
their second, third, ... occurrence gets a counter appended to the key
("x.png2", "x.png3"), counted in archive order.

The archive holds Python pickles. They are read with a restricted
unpickler that only creates plain data and numpy arrays: a tampered
archive cannot run code.

With --shuffle yes (the default) the pixel data of one split is held in
memory (about 150 MiB for train) and samples are written in a random
order of their indices; with --shuffle no samples keep the archive's order.
-t N encodes the PNG images in N worker processes.

See also:
    https://www.cs.toronto.edu/~kriz/cifar.html

"""
from ..tools import document_keys
from ..tools.cli import run_main
from .CIFAR10_write import add_arguments
from .CIFAR10_write import row2image
from .CIFAR10_write import write_cifar_sets
from .types import ImageCoarseClassificationData

__doc__ += document_keys(ImageCoarseClassificationData)

BASE_URL = 'https://www.cs.toronto.edu/~kriz/'
FILES = {
    'all': {
        'path': 'cifar-100-python.tar.gz',
        'url': BASE_URL + 'cifar-100-python.tar.gz',
        'md5': 'eb9058c3a382ffc7106e4002c42a8d85',
    },
}

#: Directory inside the archive.
PREFIX = 'cifar-100-python'
#: Pickles (members of PREFIX) of each split.
SPLITS = {'train': ('train',), 'test': ('test',)}
#: Pickle with the class names.
META = 'meta'


def make_sample(item):
    """Work item ``(key, row, fine label, coarse label)`` -> sample."""
    key, row, label, coarse_label = item
    return ImageCoarseClassificationData(key, row2image(row), label, coarse_label)


def main(argv=None):
    """Write the CIFAR100 dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import make_parser
    from .CIFAR100 import CLASSES
    from .CIFAR100 import COARSE_CLASSES
    from .CIFAR100 import NUM_SAMPLES

    parser = make_parser(__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir

    files = prepare_indir(FILES, args)
    write_cifar_sets(
        files, outdir, args, PREFIX, SPLITS,
        label_fields=[('fine_labels', len(CLASSES)),
                      ('coarse_labels', len(COARSE_CLASSES))],
        convert=make_sample,
        totals=NUM_SAMPLES,
        meta=(META, [('fine_label_names', CLASSES),
                     ('coarse_label_names', COARSE_CLASSES)]),
    )


if __name__ == '__main__':
    run_main(main)
