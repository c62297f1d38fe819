"""
Merge two or more dataset files.

Available strategies:

- concat: Concat input files in the order they are given.
- random: Choose input file to read next sample from randomly, with
  probability proportional to the number of samples it has left
  (every interleaving of the inputs is equally likely; the order within
  each input is kept unless --shuffle is given).

Samples are copied byte for byte (no re-encoding). Keys must be unique
across all inputs; this is checked before anything is written.
"""
from contextlib import ExitStack
import secrets

import numpy as np

from ..check import check_inputs_distinct
from ..check import check_outputs
from ..check import open_dataset
from ..reader.augment import Shuffler
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main
from ..writer import RawWriter

__all__ = ('cumsum', 'entry', 'main', 'merge_concat', 'merge_random')


def cumsum(it):
    """Yield the running sums of the given numbers."""
    total = 0
    for value in it:
        total += value
        yield total


def _open_all(stack, infiles, outfile):
    check_inputs_distinct(infiles)
    check_outputs(infiles, [outfile])
    readers = [stack.enter_context(open_dataset(path)) for path in infiles]
    # keys must be unique in the output: check before writing anything
    owner = {}
    for i, reader in enumerate(readers):
        for key in reader.keys():
            j = owner.setdefault(key, i)
            if j != i:
                raise UserError(
                    f'key {key!r} occurs in {infiles[j]} and {infiles[i]}; '
                    'merged datasets need unique keys'
                )
    return readers


def _iters(readers, shuffle, rng):
    its = []
    for reader in readers:
        if shuffle and len(reader):
            source = Shuffler(reader, seed=int(rng.integers(1 << 62)))
            its.append(source.iter(raw=True, yield_key=True))
        else:
            its.append(reader.iter(start=0, raw=True, yield_key=True))
    return its


def _rng(seed):
    return np.random.default_rng(seed if seed is not None else secrets.randbits(63))


def merge_concat(infiles, outfile, shuffle, overwrite=False, seed=None, quiet=False):
    """
    Write all samples of ``infiles`` to ``outfile``, one input after the other.

    Parameters:
        infiles: dataset files to merge
        outfile: new dataset file
        shuffle: shuffle each input before merging
        overwrite: replace an existing outfile without asking
        seed: random seed for ``shuffle``
        quiet: no progress bar

    Returns:
        number of samples written
    """
    rng = _rng(seed)
    with ExitStack() as stack:
        readers = _open_all(stack, infiles, outfile)
        total = sum(len(r) for r in readers)
        with RawWriter(outfile, overwrite=overwrite, total=total, disable=quiet) as writer:
            write = writer.write
            for it in _iters(readers, shuffle, rng):
                for key, data in it:
                    write(key, data)
        return total


def merge_random(infiles, outfile, shuffle=False, overwrite=False, seed=None, quiet=False):
    """
    Write all samples of ``infiles`` to ``outfile``, randomly interleaved.
    The next sample comes from an input chosen with probability proportional
    to the number of samples it has left.

    Parameters: see :py:func:`merge_concat`.

    Returns:
        number of samples written
    """
    rng = _rng(seed)
    with ExitStack() as stack:
        readers = _open_all(stack, infiles, outfile)
        lens = [len(r) for r in readers]
        total = sum(lens)
        # drawing inputs with probability proportional to their remaining
        # samples gives every interleaving the same probability: that is a
        # uniformly random permutation of the multiset of input numbers
        order = rng.permutation(np.repeat(np.arange(len(readers)), lens))
        with RawWriter(outfile, overwrite=overwrite, total=total, disable=quiet) as writer:
            write = writer.write
            nexts = [it.__next__ for it in _iters(readers, shuffle, rng)]
            for i in order.tolist():
                write(*nexts[i]())
        return total


STRATEGIES = {'concat': merge_concat, 'random': merge_random}


def main(argv=None):
    """Run ``datadings-merge`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-merge')
    parser.add_argument('infile', nargs='+', help='Two or more files to merge.')
    parser.add_argument('outfile', help='Output file.')
    parser.add_argument(
        '-s', '--strategy', choices=list(STRATEGIES), default='concat',
        help='Merging strategy to use. (default: concat)',
    )
    parser.add_argument(
        '--shuffle', action='store_true',
        help='Shuffle each dataset before merging.',
    )
    argument_no_confirm(parser)
    argument_seed(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    if len(args.infile) < 2:
        parser.error(f'give two or more input files to merge, then the output file '
                     f'(got only one input: {args.infile[0]})')
    STRATEGIES[args.strategy](
        args.infile, args.outfile, args.shuffle,
        overwrite=args.no_confirm, seed=args.seed, quiet=args.quiet,
    )


def entry():
    """Console-script entry point of ``datadings-merge``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-merge')


if __name__ == '__main__':
    entry()
