"""
Splits one dataset into several smaller ones.

For example two split positions A and B produce three output files:

    [.....file1.....|A|.....file2.....|B|.....file3.....]

File 1 contains samples 0 to A-1.
File 2 contains samples A to B-1.
File 3 contains samples B to end of input.

Split positions must increase and lie strictly inside the dataset;
negative positions count from the end (-1000 puts the last 1000 samples
into the last file). Output names default to the input name with -0, -1, ...
appended to the stem (train.msgpack -> train-0.msgpack, train-1.msgpack).
Samples are copied byte for byte (no re-encoding). The input is checked
against its .md5 file as it is copied; if it does not match, none of the
outputs is written (--no-verify copies it anyway).
"""
from pathlib import Path
import shutil
import sys

from ..check import check_outputs
from ..check import confirm_overwrite
from ..check import open_dataset
from ..remote import is_url
from ..remote import redact
from ..remote import staging_path
from ..remote import upload_datasets
from ..tools import make_printer
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_no_confirm
from ..tools.argparse import argument_outfiles
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main
from ..writer import RawWriter
from ._verify_inputs import InputVerifier
from ._verify_inputs import argument_no_verify

__all__ = ('default_outfiles', 'entry', 'main', 'normalize_splits', 'split_dataset')

_REPORT_EVERY = 256


def default_outfiles(infile, count):
    """
    ``dir/name.msgpack`` -> ``dir/name-0.msgpack``, ``dir/name-1.msgpack``, ...
    (for a URL the same names next to it, as URLs)
    """
    if is_url(infile):
        base, _, name = infile.rpartition('/')
        dot = name.rfind('.')
        stem, suffix = (name[:dot], name[dot:]) if dot > 0 else (name, '')
        return [f'{base}/{stem}-{i}{suffix}' for i in range(count)]
    infile = Path(infile)
    suffix = infile.suffix
    stem = infile.name[:-len(suffix)] if suffix else infile.name
    return [infile.with_name(f'{stem}-{i}{suffix}') for i in range(count)]


def normalize_splits(splits, n):
    """
    Check split positions against the dataset length ``n`` and turn
    negative ones into positive ones.

    Raises:
        UserError: a position is outside 1..n-1 or positions do not increase
    """
    result = []
    for s in splits:
        pos = s + n if s < 0 else s
        if not 0 < pos < n:
            raise UserError(
                f'split position {s} is outside the dataset: it has {n} samples, '
                f'positions must be in 1..{n - 1} (or -{n - 1}..-1 from the end)'
                if n > 1 else
                f'split position {s}: a dataset with {n} sample(s) cannot be split'
            )
        if result and pos <= result[-1]:
            raise UserError(
                f'split positions must increase: {s} (sample {pos}) does not come '
                f'after sample {result[-1]}'
            )
        result.append(pos)
    return result


def split_dataset(infile, outfiles, splits, overwrite, quiet=False, verify=True,
                  storage_options=None):
    """
    Split a dataset at the given positions.

    All outputs are opened (and existing files confirmed) before anything
    is written; if anything fails, none of the outputs is created.
    Outputs may be URLs: they are written locally and uploaded together
    once all parts are complete (sidecars first, data files last); if an
    upload fails, none of the URL outputs is left behind.

    Parameters:
        infile: dataset to split (a path or URL)
        outfiles: output files, one more than splits; None for the defaults
        splits: split positions (sample indices; negative from the end)
        overwrite: replace existing outputs without asking
        quiet: no progress bars
        verify: check ``infile`` against its ``.md5`` file while copying
        storage_options: fsspec options for URLs

    Returns:
        list of (outfile, number of samples)

    Raises:
        UserError: ``infile`` does not match its ``.md5`` file (no output
            is written), or bad split positions or outputs
        FileExistsError: an output URL exists and ``overwrite`` is false
    """
    if not splits:
        raise UserError('give at least one split position')
    if outfiles is None:
        outfiles = default_outfiles(infile, len(splits) + 1)
    if len(outfiles) != len(splits) + 1:
        raise UserError(
            f'{len(splits)} split position(s) make {len(splits) + 1} files, '
            f'but {len(outfiles)} output file(s) were given'
        )
    check_outputs([infile], outfiles)  # before Path() drops a trailing slash
    outfiles = [out if is_url(out) else Path(out) for out in outfiles]
    urls = [out for out in outfiles if is_url(out)]
    with open_dataset(infile, storage_options) as reader:
        n = len(reader)
        bounds = [0] + normalize_splits(splits, n) + [n]
        inputs = InputVerifier([reader], verify=verify)
        parts = list(zip(bounds, bounds[1:]))
        # one question (or error) for all existing outputs, before any writing;
        # URL outputs are written to local staging files and uploaded at the end
        confirm_overwrite([out for out in outfiles if not is_url(out)], overwrite)
        staged = {}
        writers = []
        try:
            for url in urls:
                staged[url] = staging_path(url, overwrite, storage_options)
            with make_printer(total=n, desc=f'split {_name(infile)}',
                              disable=quiet) as printer:
                for out, (a, b) in zip(outfiles, parts):
                    writer = RawWriter(staged.get(out, out), overwrite=True, disable=True)
                    writers.append(writer)
                    write = writer.write
                    # parts are consecutive: the input is hashed as it passes
                    for i, (key, data) in enumerate(inputs.iter(0, a, b), 1):
                        write(key, data)
                        if not i % _REPORT_EVERY:
                            printer.update(_REPORT_EVERY)
                    printer.update((b - a) % _REPORT_EVERY)
                inputs.finish()
                # all parts are complete: only now do they get their names
                for writer in writers:
                    writer.close()
            if staged:
                upload_datasets([(staged[url], url) for url in urls], storage_options)
        except BaseException:
            for writer in writers:
                writer.abort()  # no-op for writers already closed
            raise
        finally:
            for path in staged.values():
                shutil.rmtree(path.parent, ignore_errors=True)
        if not quiet:
            for out, (a, b) in zip(outfiles, parts):
                where = redact(out) if is_url(out) else out
                print(f'{b - a} samples written to {where}', file=sys.stderr)
        return [(out, b - a) for out, (a, b) in zip(outfiles, parts)]


def _name(path):
    return path.rpartition('/')[2] if is_url(path) else Path(path).name


def main(argv=None):
    """Run ``datadings-split`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-split')
    argument_infile(parser, help='File to split.')
    parser.add_argument('split', type=int, nargs='+', help='Index where infile is split.')
    argument_outfiles(parser)
    argument_no_confirm(parser)
    argument_quiet(parser)
    argument_no_verify(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    split_dataset(args.infile, args.outfiles, args.split, args.no_confirm, quiet=args.quiet,
                  verify=args.verify, storage_options=args.storage_options)


def entry():
    """Console-script entry point of ``datadings-split``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-split')


if __name__ == '__main__':
    entry()
