"""
How the shell tools end on Ctrl-C (SIGINT), SIGTERM and SIGHUP: with one
line on stderr, exit status 128 + signal number (130 for Ctrl-C), no
traceback and no temporary files left behind.

Only the standard library is imported here, so that the console scripts can
set this up before numpy, msgpack and the rest of the package are imported.
A tool goes through three phases:

1. **Start-up** (:py:func:`startup`, from the first line of the console
   script until :py:func:`~datadings_like.tools.cli.run_main` calls the
   tool's ``main``): nothing has been written yet, so Ctrl-C prints
   ``PROG: interrupted`` and ends the process at once.
2. **Running** (:py:func:`call`): the first signal unwinds the program like
   an exception (``KeyboardInterrupt`` for Ctrl-C, ``SystemExit(128 + n)``
   for SIGTERM/SIGHUP), so writers remove their temporary files. Every later
   signal (a second Ctrl-C, or the same Ctrl-C sent to the whole process
   group) is ignored: clean-up always runs to its end. A signal that the
   main thread holds back (blocks, as writers do while they set up and
   commit) is delivered when it lets go, even if another thread (a reader's
   or writer's helper thread) received it.
3. **Exiting** (after ``main``): signals are ignored while the interpreter
   shuts down (joins threads, runs finalizers).

Code that calls ``run_main`` in its own process (tests, a program of its
own) gets its previous signal handlers back when ``run_main`` ends.
"""
import os
import signal
import sys
import threading

__all__ = ('STOP_SIGNALS', 'call', 'interrupted_line', 'startup', 'startup_for_module_run')

#: signals that end a shell tool
STOP_SIGNALS = tuple(getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGHUP')
                     if hasattr(signal, name))

_CLEAR_LINE = '\r\033[K'  # on a terminal: wipe the echoed ^C
_HAVE_MASKS = hasattr(signal, 'pthread_sigmask') and hasattr(signal, 'pthread_kill')


class _State:
    owner = False       # startup() ran: this process is a shell tool
    prog = 'datadings'  # name for the start-up message
    depth = 0           # nested call()s
    running = False     # inside the tool's main: signals unwind it
    stopping = 0        # the signal that ends the program (0: none yet)
    interrupted = 0     # ... if it arrived while main ran
    previous = {}       # handlers to restore (not for owners)


_state = _State()


def interrupted_line(prog, stream=None) -> str:
    """
    The one line a tool prints when it is interrupted: ``PROG: interrupted``.
    On a terminal it starts by clearing the current line (the echoed ``^C``).
    """
    stream = sys.stderr if stream is None else stream
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return f'{_CLEAR_LINE if tty else ""}{prog}: interrupted\n'


def _startup_handler(signum, frame):
    # nothing is written during start-up: end at once, without unwinding
    # through half-imported modules (whose tracebacks nobody wants)
    try:
        line = f'{_CLEAR_LINE if os.isatty(2) else ""}{_state.prog}: interrupted\n'
        os.write(2, line.encode('utf-8', 'backslashreplace'))
    except OSError:
        pass
    os._exit(128 + signum)


def startup(prog):
    """
    Called first by a console script: from now on Ctrl-C ends the process
    quietly (one line, exit status 130) until the tool's ``main`` runs, and
    the process keeps ignoring signals while it exits.

    Parameters:
        prog: program name for the message, e.g. ``'datadings-shuffle'``
    """
    if threading.current_thread() is not threading.main_thread():
        return
    _state.owner = True
    _state.prog = prog
    if hasattr(signal, 'SIGINT') and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _startup_handler)


def _module_after_m(argv):
    """The module named by ``-m`` in an interpreter command line, or None."""
    args = iter(argv[1:])
    for arg in args:
        if arg == '--check-hash-based-pycs':  # the one long option with a value
            next(args, None)
            continue
        if not arg.startswith('-') or arg == '-' or arg.startswith('--'):
            return None  # a script, stdin, or --help & co.
        for i, char in enumerate(arg[1:], 2):
            if char in 'mcWX':
                value = arg[i:] or next(args, '')
                if char == 'm':
                    return value or None
                if char == 'c':
                    return None
                break  # -W/-X took the rest as their value
    return None


def startup_for_module_run(package):
    """
    Call :py:func:`startup` if Python runs a module of ``package`` as the
    main program (``python -m datadings_like.commands.shuffle``). Called
    when ``package`` is imported, which ``-m`` does before it runs the module.

    Parameters:
        package: name of the top-level package
    """
    # while -m locates the module, sys.argv[0] is '-m' (Python documents it)
    if sys.argv[:1] != ['-m'] or not hasattr(sys, 'orig_argv'):
        return
    module = _module_after_m(sys.orig_argv)
    if not module or not module.startswith(package + '.'):
        return
    parent, _, name = module.rpartition('.')
    if parent == f'{package}.commands':
        prog = 'datadings-' + name.replace('_', '-')
    else:
        prog = name
    startup(prog)


def _held_back(signum) -> bool:
    # a writer blocks the signal in the main thread while it sets up or
    # commits; it reached us anyway because another thread received it
    return _HAVE_MASKS and signum in signal.pthread_sigmask(signal.SIG_BLOCK, ())


def _handler(signum, frame):
    state = _state
    if state.stopping:
        return  # already ending: let the clean-up run to its end
    if _held_back(signum):
        # pending for the main thread until the writer unblocks it
        signal.pthread_kill(threading.main_thread().ident, signum)
        return
    state.stopping = signum
    if not state.running:
        return  # main has finished: its outcome stands
    state.interrupted = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _install():
    if threading.current_thread() is not threading.main_thread():
        return False
    if _state.depth == 0:
        _state.previous = {}
        _state.stopping = _state.interrupted = 0
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current is _startup_handler:
                signal.signal(signum, _handler)
            elif current is (signal.default_int_handler if signum == signal.SIGINT
                             else signal.SIG_DFL):
                _state.previous[signum] = current
                signal.signal(signum, _handler)
    _state.depth += 1
    return True


def _uninstall():
    _state.depth -= 1
    if _state.depth:
        return
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not _handler:
            continue
        if _state.owner:
            # the interpreter is about to exit: ignore signals while it
            # joins threads and runs finalizers (they would print tracebacks)
            signal.signal(signum, signal.SIG_IGN)
        else:
            signal.signal(signum, _state.previous[signum])


def call(main, argv):
    """
    Run ``main(argv)`` as the body of a shell tool (see the module
    description): the first stop signal unwinds it, later ones are ignored.
    Does nothing special outside the main thread.

    Parameters:
        main: the tool's main function
        argv: its arguments

    Returns:
        what ``main`` returns, and the number of a signal that arrived while
        ``main`` ran, if ``main`` caught the exception and returned (else 0)

    Raises:
        KeyboardInterrupt: Ctrl-C while ``main`` ran
        SystemExit: SIGTERM or SIGHUP while ``main`` ran (status 128 + n)
    """
    installed = _install()
    if not installed:
        return main(argv), 0
    try:
        outer = _state.running
        _state.running = True
        try:
            result = main(argv)
        finally:
            _state.running = outer
        return result, (0 if outer else _state.interrupted)
    finally:
        _uninstall()
