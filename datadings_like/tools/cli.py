"""
Running shell tools: user mistakes become one line on stderr and an exit
status, never a traceback.
"""
import errno
import os
import signal
import sys

from .. import _signals
from ..errors import DatasetError
from ..errors import DuplicateKeyError
from ..errors import RemoteError
from ..msgpack import DecodeError

__all__ = ('UserError', 'run_main')


class UserError(Exception):
    """
    A mistake the user can fix (bad argument, missing input, ...).
    Shell tools print its message on one line and exit with status 1.
    """


# what a user can cause and fix: shown as one line, exit status 1
_USER_ERRORS = (UserError, DatasetError, DecodeError, DuplicateKeyError, FileNotFoundError, FileExistsError,
                IsADirectoryError, NotADirectoryError, PermissionError, RemoteError)


def _silence_stdout():
    # stdout was closed by the reader (``| head``): stop writing quietly
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _say(text):
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):  # no stderr, or closed
        pass


def _prepare_streams():
    # a closed stdout (``>&-``) is None in Python; text that the terminal's
    # encoding cannot show is escaped instead of raising
    if sys.stdout is None:
        sys.stdout = open(os.devnull, 'w')
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors='backslashreplace')
        except (AttributeError, ValueError):
            pass


def run_main(main, argv=None, prog=None):
    """
    Call ``main(argv)`` and turn expected errors into an exit status.

    - user mistakes (:py:class:`UserError`, missing files, damaged datasets,
      existing output) print ``PROG: error: MESSAGE`` and exit with 1;
    - Ctrl-C unwinds the program (writers remove their temporary files),
      prints ``PROG: interrupted`` and exits with 130; a second Ctrl-C
      during the clean-up is ignored, so the clean-up always finishes;
    - a closed stdout pipe ends the program quietly with 0;
    - SIGTERM and SIGHUP unwind the program like an exception (exit status
      128 + signal), so that no temporary files are left behind.

    Signal handling (module ``datadings_like._signals``) is set up only
    in the main thread, and only for signals whose handlers are Python's
    defaults. The previous handlers are restored on return, unless the
    process is a shell tool started through its console script or
    ``python -m``: that one ignores signals while the interpreter exits.

    Parameters:
        main: function taking an argv list (or None for ``sys.argv[1:]``)
        argv: arguments to pass on
        prog: program name for messages; defaults to ``sys.argv[0]``'s name

    Returns:
        never; calls ``sys.exit``
    """
    prog = prog or os.path.basename(sys.argv[0])
    _prepare_streams()
    try:
        status, interrupted = _signals.call(main, argv)
    except KeyboardInterrupt:
        status, interrupted = None, signal.SIGINT
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(0)
    except _USER_ERRORS as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
            message = f'{exc.filename}: {message}'
        print(f'{prog}: error: {message}', file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _silence_stdout()
            sys.exit(0)
        if exc.errno == errno.ENOSPC:
            print(f'{prog}: error: no space left on device ({exc.filename or ""})',
                  file=sys.stderr)
            sys.exit(1)
        raise
    if interrupted:  # main caught it (or Ctrl-C came through KeyboardInterrupt)
        if interrupted == signal.SIGINT:
            _say(_signals.interrupted_line(prog))
        sys.exit(128 + interrupted)
    sys.exit(status or 0)
