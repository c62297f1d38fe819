"""
Shuffle an existing dataset file.

By default a fast "quasi" shuffle is used: the file is read in contiguous
chunks (--chunk-size) in random order, and samples are drawn at random from
a buffer (--buf-size) that the chunks fill. --true-shuffle uses a uniformly
random permutation instead; it reads samples in random order, which is
slower on slow storage. If the buffer would hold the whole dataset, the
true shuffle is used. The same --seed gives the same result.

Samples are copied byte for byte (no re-encoding). The input is checked
against its .md5 file while it is copied; if it does not match, nothing is
written (--no-verify copies it anyway).
"""
import math
import secrets

from ..check import check_outputs
from ..check import open_dataset
from ..reader.augment import QuasiShuffler
from ..reader.augment import Shuffler
from ..tools.argparse import positive_int
from ..tools.argparse import positive_float
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_outfile_positional
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import run_main
from ..writer import RawWriter
from ._verify_inputs import InputVerifier
from ._verify_inputs import argument_no_verify

__all__ = ('DEFAULT_BUF_FRACTION', 'DEFAULT_CHUNK_SIZE', 'MIN_DEFAULT_BUF',
           'entry', 'main', 'shuffle')

DEFAULT_BUF_FRACTION = 0.01
MIN_DEFAULT_BUF = 1024
DEFAULT_CHUNK_SIZE = 16




def _defaults(args):
    for name, value in (('true_shuffle', False), ('buf_size', None),
                        ('chunk_size', None), ('seed', None),
                        ('no_confirm', False), ('quiet', False), ('verify', True),
                        ('storage_options', None)):
        if not hasattr(args, name):
            setattr(args, name, value)
    return args


def shuffle(infile, outfile, args):
    """
    Write the samples of ``infile`` to ``outfile`` in random order.

    Parameters:
        infile: dataset to shuffle
        outfile: new dataset file
        args: namespace with ``true_shuffle``, ``buf_size``, ``chunk_size``,
            ``seed``, ``no_confirm``, ``quiet``, ``verify`` and
            ``storage_options``; missing attributes take their defaults
            (``buf_size=None``: 1% of the dataset, at least 1024 samples;
            ``chunk_size=None``: 16; ``seed=None``: random; ``verify=True``:
            check ``infile`` against its ``.md5`` file while copying;
            ``storage_options=None``: fsspec options for URLs, which
            ``infile`` and ``outfile`` may be)

    Returns:
        the seed that was used

    Raises:
        UserError: ``infile`` does not match its ``.md5`` file (nothing is
            written), or a bad argument
    """
    args = _defaults(args)
    check_outputs([infile], [outfile])
    seed = args.seed if args.seed is not None else secrets.randbits(63)
    with open_dataset(infile, args.storage_options) as reader, \
            InputVerifier([reader], verify=args.verify, background=True) as inputs:
        n = len(reader)
        if args.true_shuffle:
            augment = Shuffler(reader, seed=seed)
        else:
            chunk_size = args.chunk_size or DEFAULT_CHUNK_SIZE
            buf_size = args.buf_size
            if buf_size is None:
                buf_size = min(max(math.ceil(n * DEFAULT_BUF_FRACTION), MIN_DEFAULT_BUF), max(n, 1))
            augment = QuasiShuffler(reader, buf_size=buf_size, chunk_size=chunk_size, seed=seed)
            if augment.buf_size >= n:
                # the buffer holds the whole dataset: the quasi shuffle would
                # only permute chunks; a true shuffle costs no more here
                augment = Shuffler(reader, seed=seed)
        with RawWriter(outfile, overwrite=args.no_confirm, total=n,
                       disable=args.quiet, storage_options=args.storage_options) as writer:
            if n:
                write = writer.write
                for key, data in augment.iter(raw=True, yield_key=True):
                    write(key, data)
            inputs.finish(progress=not args.quiet)  # before the output is committed
    return seed


def main(argv=None):
    """Run ``datadings-shuffle`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-shuffle')
    argument_infile(parser)
    argument_outfile_positional(parser)
    argument_no_confirm(parser)
    parser.add_argument(
        '--true-shuffle', action='store_true',
        help='Use slower but more random shuffling algorithm',
    )
    parser.add_argument(
        '--buf-size', type=positive_float, default=None, metavar='BUF_SIZE',
        help='size of the shuffling buffer for fast shuffling; values less than 1 '
             'are interpreted as fractions of the dataset length; bigger values '
             'improve randomness, but use more memory '
             f'(default: {DEFAULT_BUF_FRACTION:g}, at least {MIN_DEFAULT_BUF} samples)',
    )
    parser.add_argument(
        '--chunk-size', type=positive_int, default=DEFAULT_CHUNK_SIZE, metavar='CHUNK_SIZE',
        help='size of chunks read by the fast shuffling algorithm; bigger values '
             'improve performance, but reduce randomness '
             f'(default: {DEFAULT_CHUNK_SIZE})',
    )
    argument_seed(parser)
    argument_quiet(parser)
    argument_no_verify(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    shuffle(args.infile, args.outfile, args)


def entry():
    """Console-script entry point of ``datadings-shuffle``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-shuffle')


if __name__ == '__main__':
    entry()
