"""
``datadings-write NAME -o URL``: a dataset writer writes into a local
staging directory, and what it wrote is uploaded to the directory URL when
it is done (:py:func:`~datadings_like.remote.upload_directory`: all or
nothing, each dataset's sidecars before its data file). The writers
themselves know nothing of URLs.
"""
import argparse
import sys

from ..remote import is_url
from ..remote import redact
from ..remote import stage_directory
from ..remote import unstage_directory
from ..remote import upload_directory
from ..tools.argparse import argument_storage_options

__all__ = ('run_writer',)


def _options(argv):
    """``(outdir, storage options, the other arguments)`` of a writer's ``argv``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, prog='datadings-write')
    parser.add_argument('-o', '--outdir', default=None)
    argument_storage_options(parser)
    known, rest = parser.parse_known_args(argv)  # -h and the rest go to the writer
    return known.outdir, known.storage_options, rest


def run_writer(writer_main, argv):
    """
    Run a dataset writer's ``main`` with ``argv``. If ``-o/--outdir`` is a
    URL, the writer writes to a local staging directory, which is uploaded
    to the URL (with ``--storage-option`` options) when the writer returns
    without an error and removed in any case; an existing file at the URL
    is replaced only with ``-y``.

    Parameters:
        writer_main: the writer's ``main(argv)``
        argv: the writer's arguments

    Returns:
        what ``writer_main`` returns

    Raises:
        FileExistsError: a file the writer wrote exists at the URL and
            ``-y`` was not given (nothing is uploaded)
        PermissionError: access to the URL is denied
        RemoteError: an upload failed (nothing is left at the URL)
    """
    outdir, storage_options, rest = _options(argv)
    if outdir is None or not is_url(outdir):
        if storage_options is not None and outdir is not None:
            rest += ['--outdir', outdir]
        elif storage_options is None:
            rest = list(argv)
        return writer_main(rest)
    overwrite = any(a in ('-y', '--no-confirm') for a in rest)
    quiet = any(a in ('-q', '--quiet') for a in rest)
    staging = stage_directory(outdir)
    try:
        status = writer_main(rest + ['--outdir', str(staging)])
        if not status:
            urls = upload_directory(staging, outdir, overwrite=overwrite,
                                    storage_options=storage_options)
            if not quiet:
                names = ', '.join(u.rpartition('/')[2] for u in urls) or 'no datasets'
                print(f'uploaded to {redact(outdir)}: {names}', file=sys.stderr)
        return status
    finally:
        unstage_directory(staging)
