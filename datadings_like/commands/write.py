"""
Create dataset files. The following datasets are supported:

{datasets}

The help text and documentation page for each dataset contains more
information about requirements and possible options. Run

``python -m datadings_like.commands.write [dataset] -h``

or

``datadings-write [dataset] -h``

to view them.
"""
from collections import OrderedDict
import importlib
import pkgutil
import sys

from natsort import natsorted

from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main
from ._remote_outdir import run_writer

__all__ = ('entry', 'find_writers', 'format_writers', 'main', 'writer_link')

SETS_PACKAGE = 'datadings_like.sets'
SUFFIX = '_write'


def find_writers():
    """
    Find the dataset writers in :py:mod:`datadings_like.sets`: modules
    named ``NAME_write``.

    Returns:
        dict ``{NAME: module name}`` in natural order (case-sensitive,
        so ``MIT300`` comes before ``MIT1003``)
    """
    package = importlib.import_module(SETS_PACKAGE)
    names = {}
    for module in pkgutil.iter_modules(getattr(package, '__path__', [])):
        if module.name.endswith(SUFFIX) and len(module.name) > len(SUFFIX):
            names[module.name[:-len(SUFFIX)]] = f'{SETS_PACKAGE}.{module.name}'
    return OrderedDict((name, names[name]) for name in natsorted(names))


def format_writers(writers):
    """
    Format dataset names grouped by their first letter::

        C:
            CIFAR10, CIFAR100
        I:
            ILSVRC2012

    Parameters:
        writers: dataset names (or the dict from :py:func:`find_writers`)

    Returns:
        the text; ``"(no datasets are available)"`` if there are none
    """
    groups = OrderedDict()
    for name in natsorted(writers):
        groups.setdefault(name[0].upper(), []).append(name)
    if not groups:
        return '(no datasets are available)'
    lines = []
    for letter in sorted(groups):
        lines.append(f'{letter}:')
        lines.append('    ' + ', '.join(groups[letter]))
    return '\n'.join(lines)


def writer_link(w):
    """reStructuredText link to the documentation page of dataset ``w``."""
    return f':doc:`{w} <sets/{w}>`'


def _resolve(name, writers):
    if name in writers:
        return name
    matches = [w for w in writers if w.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if writers:
        raise UserError(
            f'unknown dataset {name!r}; choose from: {", ".join(writers)}'
        )
    raise UserError(f'unknown dataset {name!r}; no dataset writers are available')


def main(argv=None):
    """Run ``datadings-write`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    writers = find_writers()
    parser = make_parser_simple(
        __doc__.format(datasets=format_writers(writers)).strip(),
        prog='datadings-write',
    )
    parser.add_argument('dataset', nargs='?', help='Dataset to write.')
    # everything after the dataset name belongs to the dataset's writer
    split = next((i for i, a in enumerate(argv) if not a.startswith('-')), len(argv))
    args = parser.parse_args(argv[:split + 1])
    if args.dataset is None:
        parser.print_help()
        return 1
    name = _resolve(args.dataset, writers)
    try:
        module = importlib.import_module(writers[name])
    except ImportError as exc:
        raise UserError(f'dataset {name} cannot be loaded: {exc}') from None
    writer_main = getattr(module, 'main', None)
    if writer_main is None:
        raise UserError(f'dataset {name}: {writers[name]} has no main function')
    old_argv0 = sys.argv[0]
    # the writer's parser names itself after sys.argv[0]
    sys.argv[0] = f'datadings-write {name}'
    try:
        # -o URL: written to a local staging directory, then uploaded
        return run_writer(writer_main, argv[split + 1:])
    finally:
        sys.argv[0] = old_argv0


def entry():
    """Console-script entry point of ``datadings-write``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-write')


if __name__ == '__main__':
    entry()
