"""
Convert the legacy index of a dataset to the new style.

Reads NAME.msgpack.index and writes NAME.msgpack.offsets, .keys,
.key_hashes and .filter plus a new NAME.msgpack.md5 (which does not need to
exist beforehand; the data file is hashed). If an old .md5 lists the data
file, the data must still match it. The data file is scanned first: every
offset of the legacy index must start a whole sample and the keys must
be the samples' "key" values, otherwise nothing is written. The legacy
.index file is kept. All files are written under temporary names first
and renamed at the end.
"""
from pathlib import Path

from ..check import raise_index_mismatch
from ..check import scan_data
from ..check import confirm_overwrite
from ..check import index_outputs
from ..check import write_index
from ..errors import DatasetError
from ..index import legacy_load_index
from ..tools import load_md5file
from ..tools import path_append
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_outdir
from ..tools.argparse import argument_quiet
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('convert_index', 'entry', 'main')


def convert_index(path, outdir=None, overwrite=False, progress=False):
    """
    Write new-style index files and an ``.md5`` file for a dataset that
    has only a legacy ``.index`` file.

    Parameters:
        path: the data file (or its ``.index`` file)
        outdir: where to write; defaults to the data file's directory
        overwrite: replace existing new-style index files without asking
        progress: show a progress bar while scanning the data file

    Returns:
        the paths written

    Raises:
        FileNotFoundError: data file or legacy index missing
        DatasetError: the legacy index is damaged or does not describe the
            data file, or the data file does not match an existing ``.md5``
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f'{path}: is a directory, not a dataset file')
    if path.name.endswith('.index'):
        path = path.with_name(path.name[:-len('.index')])
    if path.is_dir():
        raise UserError(f'{path}: is a directory, not a dataset file')
    if not path.exists():
        raise FileNotFoundError(f'{path}: dataset file not found')
    index_path = path_append(path, '.index')
    if not index_path.exists():
        raise UserError(f'{path}: has no legacy index {index_path.name} to convert')
    keys, offsets = legacy_load_index(path)
    # the .md5 is replaced anyway (it gets the new files); ask for the rest
    confirm_overwrite(index_outputs(path, outdir)[:-1], overwrite)
    # one pass: message boundaries, sample keys and the MD5 of the data
    scanned_keys, scanned_offsets, data_md5 = scan_data(path, progress=progress)
    old_md5 = path_append(path, '.md5')
    if old_md5.exists():
        try:
            expected = load_md5file(old_md5).get(path.name)
        except (ValueError, UnicodeDecodeError):
            expected = None
        if expected is not None and expected != data_md5:
            raise DatasetError(
                f'{path}: data file does not match {old_md5.name}; '
                'check it with datadings-verify (or rebuild the index with datadings-index)'
            )
    # the offsets must land on whole messages and the keys must be the
    # samples' keys: the new .md5 must not vouch for a wrong index
    raise_index_mismatch(path, keys, offsets, scanned_keys, scanned_offsets,
                         what=f'legacy index {index_path.name}')
    return write_index(path, keys, offsets, data_md5=data_md5, outdir=outdir)


def main(argv=None):
    """Run ``datadings-convert-index`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-convert-index')
    argument_infile(parser)
    argument_outdir(parser, help='Output directory. Defaults to the directory of infile.')
    argument_no_confirm(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    paths = convert_index(args.infile, args.outdir, overwrite=args.no_confirm,
                          progress=not args.quiet)
    if not args.quiet:
        for p in paths:
            print(f'wrote {p}')


def entry():
    """Console-script entry point of ``datadings-convert-index``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-convert-index')


if __name__ == '__main__':
    entry()
