"""
Run a read benchmark on a given dataset.

Support reading from msgpack files or directory trees.
Files named *.msgpack (or that have an index) are read with MsgpackReader,
anything else (a glob pattern like 'some_dir/{LABEL}/**' or a list file
with one 'path<TAB>label<TAB>extra...' line per sample) with
DirectoryReader.

Note:
    For directory trees, please refer to the DirectoryReader
    documentation for details on how to specify the dataset structure.

Prints the number of samples read, the time taken, samples/s and MB/s
(1 MB = 10^6 bytes of msgpack data; decoded directory samples count the
bytes of their values).
"""
from pathlib import Path
import os
import secrets
import sys
import time

import numpy as np

from ..msgpack import DecodeError
from ..reader.directory import _is_glob
from ..tools import make_printer
from ..tools.argparse import non_negative_int
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_seed
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('bench', 'entry', 'main', 'reader_directory', 'reader_msgpack')

_REPORT_EVERY = 256


def reader_msgpack(args):
    """MsgpackReader for ``args.infile`` (``args.buffering``, ``args.storage_options`` for a URL)."""
    from ..check import open_dataset
    reader = open_dataset(args.infile, getattr(args, 'storage_options', None))
    if getattr(args, 'buffering', None):
        reader._buffering = args.buffering
    return reader


def reader_directory(args):
    """DirectoryReader for ``args.infile`` with the DirectoryReader options."""
    from ..reader.directory import DirectoryReader
    kwargs = {}
    if args.separator is not None:
        kwargs['separator'] = args.separator
    if args.root_dir is not None:
        kwargs['root_dir'] = args.root_dir
    if args.include:
        kwargs['include'] = args.include
    if args.exclude:
        kwargs['exclude'] = args.exclude
    try:
        return DirectoryReader([args.infile], **kwargs)
    except ValueError as exc:
        # the list or pattern is unusable (not a text file, no entries,
        # duplicate keys, ...): the message names the file
        raise UserError(str(exc)) from None


def _nbytes(sample):
    if isinstance(sample, (bytes, bytearray)):
        return len(sample)
    if isinstance(sample, memoryview):
        return sample.nbytes
    if isinstance(sample, dict):
        return sum(_nbytes(v) for v in sample.values())
    if isinstance(sample, np.ndarray):
        return sample.nbytes
    if isinstance(sample, str):
        return len(sample)
    if isinstance(sample, (list, tuple)):
        return sum(_nbytes(v) for v in sample)
    return 8


def bench(readerfun, args, file=None):
    """
    Read all samples of a dataset and report the speed.

    Parameters:
        readerfun: :py:func:`reader_msgpack` or :py:func:`reader_directory`
        args: namespace with ``infile``, ``raw``, ``shuffle``, ``seed``,
            ``quiet`` and the reader options
        file: where to print the result; defaults to stdout

    Returns:
        dict with ``samples``, ``seconds``, ``samples_per_s``, ``mb_per_s``
        and ``setup_seconds``
    """
    from ..reader.augment import Shuffler
    out = file if file is not None else sys.stdout
    raw = getattr(args, 'raw', False)
    t0 = time.perf_counter()
    reader = readerfun(args)
    setup = time.perf_counter() - t0
    with reader:
        n = len(reader)
        offsets = getattr(reader, '_offsets', None)
        if getattr(args, 'shuffle', False):
            seed = args.seed if getattr(args, 'seed', None) is not None else secrets.randbits(63)
            source = Shuffler(reader, seed=seed)
            it = source.iter(raw=raw)
        else:
            it = reader.iter(start=0, raw=raw)
        count = 0
        nbytes = 0
        measure = offsets is None
        with make_printer(total=n, desc=f'bench {Path(str(args.infile)).name}',
                          disable=getattr(args, 'quiet', False)) as printer:
            t0 = time.perf_counter()
            pending = 0
            try:
                for sample in it:
                    count += 1
                    if measure:
                        nbytes += _nbytes(sample)
                    pending += 1
                    if pending >= _REPORT_EVERY:
                        printer.update(pending)
                        pending = 0
            except DecodeError as exc:
                raise UserError(str(exc)) from None
            seconds = time.perf_counter() - t0
            printer.update(pending)
        if not measure:
            # every sample was read once: the whole data file
            nbytes = int(offsets[-1]) if count == n else nbytes
    rate = count / seconds if seconds > 0 else float('inf')
    mbs = nbytes / 1e6 / seconds if seconds > 0 else float('inf')
    print(f'setup time: {setup:.3f} seconds', file=out)
    print(f'{count} samples read in {seconds:.2f} seconds, '
          f'{rate:.2f} samples/s, {mbs:.2f} MB/s', file=out)
    return {'samples': count, 'seconds': seconds, 'samples_per_s': rate,
            'mb_per_s': mbs, 'setup_seconds': setup}


def _is_msgpack(infile):
    path = Path(infile)
    return path.name.endswith('.msgpack') or (path.is_file() and any(
        path.with_name(path.name + s).exists() for s in ('.offsets', '.index')
    ))


def _is_list_file(infile):
    return not _is_glob(infile) and os.path.isfile(infile)


def _list_file_error(exc, args):
    """
    UserError for a problem with the list file ``args.infile`` (or a file
    it lists) that says the file was read as a list, and which line failed.
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        # a listed file: strerror names the list file and line
        detail = f'{exc.filename}: {exc.strerror}'
        if (isinstance(exc, FileNotFoundError) and not getattr(args, 'root_dir', None)
                and not os.path.isabs(exc.filename)):
            detail += '; relative paths start in the current directory (see --root-dir)'
    else:
        detail = str(exc) or type(exc).__name__
    return UserError(
        f'{detail}; read {args.infile} as a list file (one path<TAB>label... per '
        'line) because it is not named *.msgpack and has no index beside it'
    )



def main(argv=None):
    """Run ``datadings-bench`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-bench')
    argument_infile(parser)
    parser.add_argument(
        '-r', '--raw', action='store_true',
        help='Do not decode samples. This is representative of performance '
             'in a multi-process environment, where workers take over decoding.',
    )
    parser.add_argument('-s', '--shuffle', action='store_true', help='Shuffle the reader.')
    parser.add_argument(
        '-b', '--buffering', type=non_negative_int, default=0,
        help='MsgpackReader only: Buffer size of reader (kept for compatibility: '
             'files are memory-mapped, so it has no effect).',
    )
    parser.add_argument(
        '--separator', type=str, default='\t',
        help='DirectoryReader only: separator for file input mode (default: tab).',
    )
    parser.add_argument(
        '--root-dir', type=str, default=None,
        help='DirectoryReader only: root directory for file input mode.',
    )
    parser.add_argument(
        '--include', type=str, nargs='+', default=(),
        help='DirectoryReader only: Include patterns.',
    )
    parser.add_argument(
        '--exclude', type=str, nargs='+', default=(),
        help='DirectoryReader only: Exclude patterns.',
    )
    argument_seed(parser, help='Random seed for --shuffle.')
    argument_quiet(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    if _is_msgpack(args.infile):
        bench(reader_msgpack, args)
    elif _is_list_file(args.infile):
        try:
            bench(reader_directory, args)
        except (OSError, UserError) as exc:
            raise _list_file_error(exc, args) from None
    elif not os.path.exists(args.infile) and not _is_glob(args.infile):
        raise UserError(
            f'{args.infile}: no such file (expected a dataset, a list file '
            'or a glob pattern such as some_dir/{LABEL}/**)'
        )
    else:
        bench(reader_directory, args)


def entry():
    """Console-script entry point of ``datadings-bench``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-bench')


if __name__ == '__main__':
    entry()
