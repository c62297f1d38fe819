"""
Extract samples from a dataset.

Strategies:

- sequential: the first NUMBER samples.
- random: NUMBER samples chosen uniformly at random without replacement;
  they keep their order in the input (use datadings-shuffle for a random
  order). The same --seed gives the same selection.

Samples are copied byte for byte (no re-encoding). The whole input is
checked against its .md5 file (hashed while the samples are copied); if it
does not match, nothing is written (--no-verify copies it anyway, and
spares reading the rest of a big input).
"""
import secrets

import numpy as np

from ..check import check_outputs
from ..check import open_dataset
from ..tools.argparse import positive_int
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_outfile_positional
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main
from ..writer import RawWriter
from ._verify_inputs import InputVerifier
from ._verify_inputs import argument_no_verify

__all__ = ('entry', 'main', 'sample')

STRATEGIES = ('sequential', 'random')


def sample(infile, outfile, number, strategy, overwrite=False, seed=None, quiet=False,
           verify=True, storage_options=None):
    """
    Write ``number`` samples of ``infile`` to ``outfile``.

    Parameters:
        infile: dataset to sample from
        outfile: new dataset file
        number: how many samples; at most the length of the dataset
        strategy: ``'sequential'`` (the first samples) or ``'random'``
        overwrite: replace an existing outfile without asking
        seed: random seed for the ``'random'`` strategy
        quiet: no progress bar
        verify: check ``infile`` against its ``.md5`` file (all of it is
            read for that)
        storage_options: fsspec options for URLs (``infile`` and ``outfile``
            may be URLs; a URL output is written locally and uploaded once
            it is complete)

    Raises:
        UserError: ``infile`` does not match its ``.md5`` file (nothing is
            written), or a bad argument
    """
    if strategy not in STRATEGIES:
        raise UserError(f'unknown strategy {strategy!r}; choose from {", ".join(STRATEGIES)}')
    if number < 1:
        raise UserError(f'number of samples must be at least 1, not {number}')
    check_outputs([infile], [outfile])
    with open_dataset(infile, storage_options) as reader, \
            InputVerifier([reader], verify=verify, background=True) as inputs:
        n = len(reader)
        if number > n:
            raise UserError(
                f'cannot extract {number} samples: {infile} has only {n}'
            )
        if strategy == 'sequential':
            samples = reader.iter(start=0, stop=number, raw=True, yield_key=True)
        else:
            rng = np.random.default_rng(seed if seed is not None else secrets.randbits(63))
            indices = np.sort(rng.choice(n, size=number, replace=False))
            samples = reader._gather(indices, yield_key=True, raw=True)
        with RawWriter(outfile, overwrite=overwrite, total=number, disable=quiet,
                       storage_options=storage_options) as writer:
            write = writer.write
            for key, data in samples:
                write(key, data)
            inputs.finish(progress=not quiet)  # before the output is committed


def main(argv=None):
    """Run ``datadings-sample`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-sample')
    argument_infile(parser)
    argument_outfile_positional(parser)
    parser.add_argument('number', type=positive_int, help='Number of samples to extract.')
    parser.add_argument(
        '-s', '--strategy', choices=STRATEGIES, default='sequential',
        help='Sampling strategy to use. (default: sequential)',
    )
    argument_no_confirm(parser)
    argument_seed(parser)
    argument_quiet(parser)
    argument_no_verify(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    sample(args.infile, args.outfile, args.number, args.strategy,
           overwrite=args.no_confirm, seed=args.seed, quiet=args.quiet, verify=args.verify,
           storage_options=args.storage_options)


def entry():
    """Console-script entry point of ``datadings-sample``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-sample')


if __name__ == '__main__':
    entry()
