"""
Look at datasets in a web browser.

Serves a local web page with an overview of each file (samples, size,
fields and their types, index state, md5 check, label histogram), a grid
of samples (thumbnails, keys, labels; jump to an index, look up a key,
filter by label, random pages), a page per sample with every field (label
maps over their image, segments, fixations, image arrays), and a preview
of training streams. Read-only: only the files given are served.

The page is at http://127.0.0.1:8765/ unless --host or --port say
otherwise (when port 8765 is taken, a free one is chosen); the address is
printed, and the browser opens it when there is a display (--no-browser
keeps it closed). Ctrl-C stops the server. Class names and colours come
from the dataset's module in datadings_like.sets, guessed from the file's
directory or name (demo/train.msgpack: demo) or given with --set.
"""
import errno
import os
import sys

from ..tools.argparse import int_at_least
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('DEFAULT_PORT', 'entry', 'has_display', 'main')

#: port tried first; a free one is taken when it is in use
DEFAULT_PORT = 8765


def has_display():
    """True if a browser window can be opened (macOS, Windows, or X11/Wayland)."""
    if sys.platform in ('darwin', 'win32'):
        return True
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def _bind(paths, host, port, set_name, max_pixels, verbose):
    from ..explore.server import make_server
    try:
        return make_server(paths, host, DEFAULT_PORT if port is None else port, set_name,
                           max_pixels, verbose=verbose)
    except OSError as exc:
        if port is None and exc.errno == errno.EADDRINUSE:
            return make_server(paths, host, 0, set_name, max_pixels, verbose=verbose)
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise
        what = f'{host}:{DEFAULT_PORT if port is None else port}'
        raise UserError(f'cannot listen on {what}: {exc.strerror or exc}') from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


def main(argv=None):
    """Run ``datadings-explore`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-explore')
    parser.add_argument('infiles', nargs='+', metavar='FILE', help='Dataset files to explore.')
    parser.add_argument('--host', default='127.0.0.1',
                        help='Address to listen on (default: 127.0.0.1, this machine only).')
    parser.add_argument('--port', type=int_at_least(0, 65535), default=None,
                        help=f'Port to listen on (default: {DEFAULT_PORT}, or a free one if it '
                             'is taken; 0: a free one).')
    parser.add_argument('--no-browser', action='store_true',
                        help='Do not open the page in a browser.')
    parser.add_argument('--set', dest='set_name', metavar='NAME',
                        help='Dataset module for class names and colours (e.g. CIFAR10; '
                             'default: guessed from the file path).')
    parser.add_argument('--max-pixels', type=int_at_least(1), default=None, metavar='N',
                        help='Largest image decoded, in pixels (default: Pillow\'s '
                             'decompression-bomb limit).')
    parser.add_argument('-v', '--verbose', action='store_true', help='Log every request.')
    args = parser.parse_args(argv)
    server = _bind(args.infiles, args.host, args.port, args.set_name, args.max_pixels,
                   args.verbose)
    try:
        n = len(server.explorer.files)
        print(f'datadings-explore: serving {n} file{"s" if n != 1 else ""} at {server.url} '
              '(Ctrl-C stops)', flush=True)
        if not args.no_browser and has_display():
            import webbrowser
            webbrowser.open(server.url)
        server.serve_forever()
    finally:
        server.server_close()
        server.explorer.close()


def entry():
    """Console-script entry point of ``datadings-explore``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-explore')


if __name__ == '__main__':
    entry()
