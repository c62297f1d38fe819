"""Running a dataset writer as its module or through datadings-write, and reading what it wrote."""
import os
import subprocess
import sys

from datadings_like.reader import MsgpackReader


def run_writer(name, args, module=True, timeout=120, env=None, **kwargs):
    """
    Run the writer of dataset ``name`` with ``args`` (no terminal on stdin):
    as ``python -m datadings_like.sets.NAME_write`` or, with ``module=False``,
    as ``datadings-write NAME``; ``env`` is added to the environment, other
    keywords go to ``subprocess.run``. Returns the finished process (text output).
    """
    if module:
        cmd = [sys.executable, '-m', f'datadings_like.sets.{name}_write']
    else:
        cmd = [sys.executable, '-m', 'datadings_like.commands.write', name]
    return subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **kwargs)


def read_samples(path):
    """All samples of a dataset file, in order."""
    with MsgpackReader(path) as reader:
        return list(reader)


def files_of(directory):
    """The files of ``directory`` by name, with their bytes."""
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}
