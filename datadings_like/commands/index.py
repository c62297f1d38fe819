"""
Rebuild the index of dataset files by scanning their data.

The recovery tool for a data file whose index is lost or damaged: every
FILE is read message by message (without decoding anything but the
samples' "key"), and its .offsets, .keys, .key_hashes, .filter and .md5
files are written anew. Existing index files are replaced only with -y
(or after confirmation on a terminal). The files are written under
temporary names and renamed at the end, in one commit. A write of FILE
that was killed while it renamed its files is completed first (with a
warning).

The data file must consist of whole msgpack maps with unique str "key"s;
otherwise nothing is written and the problem is reported.
"""
import sys

from ..check import rebuild_index
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_quiet
from ..tools.argparse import make_parser_simple
from ..tools.cli import run_main

__all__ = ('entry', 'index', 'main')


def index(paths, overwrite=False, quiet=False):
    """Rebuild the index of each dataset; returns the sample counts."""
    counts = []
    for path in paths:
        n, warnings = rebuild_index(path, progress=not quiet, overwrite=overwrite)
        for warning in warnings:
            print(f'warning: {warning}', file=sys.stderr)
        if not quiet:
            print(f'{path}: indexed {n} samples', file=sys.stderr)
        counts.append(n)
    return counts


def main(argv=None):
    """Run ``datadings-index`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-index')
    parser.add_argument('infile', nargs='+', metavar='FILE', help='Dataset files to index.')
    argument_no_confirm(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    index(args.infile, overwrite=args.no_confirm, quiet=args.quiet)


def entry():
    """Console-script entry point of ``datadings-index``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-index')


if __name__ == '__main__':
    entry()
