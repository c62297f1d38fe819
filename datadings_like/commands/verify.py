"""
Check dataset files thoroughly.

For every FILE: all files listed in its .md5 exist and match their MD5
(the data and index files must be listed), the data file is a sequence
of whole msgpack messages, the index offsets point exactly at them, the
keys in the index agree with the samples' "key" values, the key hashes
match the keys and the Bloom filter contains every key.

A write of FILE that was killed while it renamed its files is completed
first (a note on stderr says so); without write access to the directory
that is a problem.

Prints "FILE: OK" for sound files and "FILE: PROBLEM" lines otherwise.
Exit status 0 only when all files are sound, 1 otherwise.
"""
import sys

from ..check import verify_dataset
from ..errors import DatasetError
from ..index import recover_commit
from ..remote import download_dataset
from ..remote import is_url
from ..remote import redact
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import run_main

__all__ = ('entry', 'main', 'verify')


def verify(paths, progress=False, file=None, storage_options=None):
    """
    Verify datasets and print one line per problem (or ``FILE: OK``).
    A URL is downloaded to a temporary directory and checked there
    (``storage_options`` are passed to fsspec).

    Returns:
        True if all datasets are sound
    """
    out = file if file is not None else sys.stdout
    ok = True
    for path in paths:
        if is_url(path):
            problems = _verify_url(path, progress, storage_options)
            for problem in problems or ['OK']:
                print(f'{redact(path)}: {problem}', file=out, flush=True)
            ok = ok and not problems
            continue
        try:
            if recover_commit(path):
                print(f'{path}: note: completed the last write, which was interrupted '
                      'while it renamed its files', file=sys.stderr, flush=True)
        except DatasetError:
            pass  # verify_dataset reports it
        problems = verify_dataset(path, progress=progress)
        if problems:
            ok = False
            for problem in problems:
                print(f'{path}: {problem}', file=out, flush=True)
        else:
            print(f'{path}: OK', file=out, flush=True)
    return ok


def _verify_url(url, progress, storage_options=None):
    """Download a remote dataset to a temporary directory and check it there."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix='datadings-verify-') as tmp:
        try:
            local = download_dataset(url, tmp, progress=progress,
                                     storage_options=storage_options)
        except FileNotFoundError:
            return ['file not found']
        problems = verify_dataset(local, progress=progress)
        return [p.replace(str(local), redact(url)) for p in problems]


def main(argv=None):
    """Run ``datadings-verify`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-verify')
    parser.add_argument('infile', nargs='+', metavar='FILE', help='Dataset files to check.')
    argument_quiet(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    return 0 if verify(args.infile, progress=not args.quiet,
                       storage_options=args.storage_options) else 1


def entry():
    """Console-script entry point of ``datadings-verify``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-verify')


if __name__ == '__main__':
    entry()
