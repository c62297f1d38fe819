"""
Running shell tools: user mistakes become one line on stderr and an exit
status, never a traceback.
"""
import errno
import os
import signal
import sys

from ..errors import DatasetError
from ..errors import DuplicateKeyError
from ..msgpack import DecodeError

__all__ = ('UserError', 'run_main')


class UserError(Exception):
    """
    A mistake the user can fix (bad argument, missing input, ...).
    Shell tools print its message on one line and exit with status 1.
    """


# what a user can cause and fix: shown as one line, exit status 1
_USER_ERRORS = (UserError, DatasetError, DecodeError, DuplicateKeyError, FileNotFoundError, FileExistsError,
                IsADirectoryError, NotADirectoryError, PermissionError)


def _silence_stdout():
    # stdout was closed by the reader (``| head``): stop writing quietly
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
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


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def _exit_cleanly_on(*signals):
    # unwinding (instead of dying) lets writers remove their temporary files
    for signum in signals:
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _terminate)
        except (ValueError, OSError):  # not the main thread, or no such signal
            pass


def run_main(main, argv=None, prog=None):
    """
    Call ``main(argv)`` and turn expected errors into an exit status.

    - user mistakes (:py:class:`UserError`, missing files, damaged datasets,
      existing output) print ``PROG: error: MESSAGE`` and exit with 1;
    - Ctrl-C prints nothing more and exits with 130;
    - a closed stdout pipe ends the program quietly with 0;
    - SIGTERM and SIGHUP unwind the program like an exception (exit status
      128 + signal), so that no temporary files are left behind.

    Parameters:
        main: function taking an argv list (or None for ``sys.argv[1:]``)
        argv: arguments to pass on
        prog: program name for messages; defaults to ``sys.argv[0]``'s name

    Returns:
        never; calls ``sys.exit``
    """
    prog = prog or os.path.basename(sys.argv[0])
    _prepare_streams()
    _exit_cleanly_on(signal.SIGTERM, signal.SIGHUP)
    try:
        status = main(argv)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        sys.exit(130)
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
    sys.exit(status or 0)
