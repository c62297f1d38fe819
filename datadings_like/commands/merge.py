"""
Merge two or more dataset files.

Available strategies:

- concat: Concat input files in the order they are given.
- random: Choose input file to read next sample from randomly, with
  probability proportional to the number of samples it has left
  (every interleaving of the inputs is equally likely; the order within
  each input is kept unless --shuffle is given).

Samples are copied byte for byte (no re-encoding). Keys must be unique
across all inputs; this is checked before anything is written. Each input
is checked against its .md5 file while it is copied; if one does not
match, nothing is written (--no-verify copies them anyway).
"""
from contextlib import ExitStack
import bisect
import random
import secrets

import numpy as np

from ..check import check_inputs_distinct
from ..check import check_outputs
from ..check import open_dataset
from ..reader.augment import Shuffler
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main
from ..writer import RawWriter
from ._verify_inputs import InputVerifier
from ._verify_inputs import argument_no_verify

__all__ = ('cumsum', 'entry', 'main', 'merge_concat', 'merge_random', 'select_set',
           'setup_ranges')


def cumsum(it):
    """Yield the running sums of the given numbers."""
    total = 0
    for value in it:
        total += value
        yield total


def setup_ranges(lens):
    """
    Cumulative shares of the inputs in the total number of samples: the
    borders with which :py:func:`select_set` picks an input with
    probability proportional to its number of samples.

    Parameters:
        lens: number of samples (left) in each input

    Returns:
        list of borders in ``(0, 1]``, the last one ``1.0``

    Raises:
        ValueError: there are no samples
    """
    lens = list(lens)
    total = sum(lens)
    if total <= 0:
        raise ValueError('zero samples found')
    return [count / total for count in cumsum(lens)]


def select_set(ranges, rng=None):
    """
    Pick an input at random with the borders from :py:func:`setup_ranges`;
    an input without samples is never picked.

    Parameters:
        ranges: borders from :py:func:`setup_ranges`
        rng: anything with a ``random()`` method returning a float in
            ``[0, 1)`` (``random.Random``, ``numpy.random.Generator``);
            default: the :py:mod:`random` module

    Returns:
        index of the picked input
    """
    draw = (rng or random).random()
    return min(bisect.bisect_right(ranges, draw), len(ranges) - 1)


def _open_all(stack, infiles, outfile, verify, shuffle, storage_options):
    check_inputs_distinct(infiles)
    check_outputs(infiles, [outfile])
    readers = [stack.enter_context(open_dataset(path, storage_options)) for path in infiles]
    # damaged index files are found before their keys are looked at; the
    # data files are hashed while they are copied (shuffled: in a thread)
    inputs = stack.enter_context(InputVerifier(readers, verify=verify, background=shuffle))
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
    return readers, inputs


def _iters(readers, shuffle, rng, inputs):
    its = []
    for i, reader in enumerate(readers):
        if shuffle and len(reader):
            source = Shuffler(reader, seed=int(rng.integers(1 << 62)))
            its.append(source.iter(raw=True, yield_key=True))
        else:
            its.append(inputs.iter(i))  # in order: hashed as the bytes pass
    return its


def _rng(seed):
    return np.random.default_rng(seed if seed is not None else secrets.randbits(63))


def merge_concat(infiles, outfile, shuffle, overwrite=False, seed=None, quiet=False,
                 verify=True, storage_options=None):
    """
    Write all samples of ``infiles`` to ``outfile``, one input after the other.

    Parameters:
        infiles: dataset files to merge
        outfile: new dataset file
        shuffle: shuffle each input before merging
        overwrite: replace an existing outfile without asking
        seed: random seed for ``shuffle``
        quiet: no progress bar
        verify: check each input against its ``.md5`` file while copying
        storage_options: fsspec options for URLs (inputs and ``outfile``
            may be URLs; a URL output is written locally and uploaded once
            it is complete)

    Returns:
        number of samples written

    Raises:
        UserError: an input does not match its ``.md5`` file (nothing is
            written), inputs share keys, or bad arguments
    """
    rng = _rng(seed)
    with ExitStack() as stack:
        readers, inputs = _open_all(stack, infiles, outfile, verify, shuffle, storage_options)
        total = sum(len(r) for r in readers)
        with RawWriter(outfile, overwrite=overwrite, total=total, disable=quiet,
                       storage_options=storage_options) as writer:
            write = writer.write
            for it in _iters(readers, shuffle, rng, inputs):
                for key, data in it:
                    write(key, data)
            inputs.finish(progress=not quiet)  # before the output is committed
        return total


def merge_random(infiles, outfile, shuffle=False, overwrite=False, seed=None, quiet=False,
                 verify=True, storage_options=None):
    """
    Write all samples of ``infiles`` to ``outfile``, randomly interleaved.
    The next sample comes from an input chosen with probability proportional
    to the number of samples it has left.

    Parameters: see :py:func:`merge_concat`.

    Returns:
        number of samples written

    Raises:
        UserError: see :py:func:`merge_concat`
    """
    rng = _rng(seed)
    with ExitStack() as stack:
        readers, inputs = _open_all(stack, infiles, outfile, verify, shuffle, storage_options)
        lens = [len(r) for r in readers]
        total = sum(lens)
        # drawing inputs with probability proportional to their remaining
        # samples gives every interleaving the same probability: that is a
        # uniformly random permutation of the multiset of input numbers
        order = rng.permutation(np.repeat(np.arange(len(readers)), lens))
        with RawWriter(outfile, overwrite=overwrite, total=total, disable=quiet,
                       storage_options=storage_options) as writer:
            write = writer.write
            nexts = [it.__next__ for it in _iters(readers, shuffle, rng, inputs)]
            for i in order.tolist():
                write(*nexts[i]())
            inputs.finish(progress=not quiet)  # before the output is committed
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
    argument_no_verify(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    if len(args.infile) < 2:
        parser.error(f'give two or more input files to merge, then the output file '
                     f'(got only one input: {args.infile[0]})')
    STRATEGIES[args.strategy](
        args.infile, args.outfile, args.shuffle,
        overwrite=args.no_confirm, seed=args.seed, quiet=args.quiet, verify=args.verify,
        storage_options=args.storage_options,
    )


def entry():
    """Console-script entry point of ``datadings-merge``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-merge')


if __name__ == '__main__':
    entry()
