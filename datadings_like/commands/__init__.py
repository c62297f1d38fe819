"""
The shell tools, one module each (``datadings_like.commands.shuffle`` is
``datadings-shuffle``), each with ``main(argv)`` and ``entry()``.

The console scripts start through the launchers below (``datadings_NAME``):
they set up Ctrl-C handling (``datadings_like._signals.startup``)
before the tool's module, and with it numpy and msgpack, is imported, so an
early Ctrl-C ends a tool with one line instead of a traceback.
"""
from importlib import import_module

from .._signals import startup

__all__ = (
    'datadings_bench', 'datadings_cat', 'datadings_convert_index', 'datadings_explore',
    'datadings_index',
    'datadings_info', 'datadings_merge', 'datadings_sample', 'datadings_shuffle',
    'datadings_split', 'datadings_stream', 'datadings_verify', 'datadings_write',
)


def _launch(name):
    startup('datadings-' + name.replace('_', '-'))
    return import_module(f'{__name__}.{name}').entry()


def datadings_bench():
    """Console script ``datadings-bench``."""
    return _launch('bench')


def datadings_cat():
    """Console script ``datadings-cat``."""
    return _launch('cat')


def datadings_convert_index():
    """Console script ``datadings-convert-index``."""
    return _launch('convert_index')


def datadings_explore():
    """Console script ``datadings-explore``."""
    return _launch('explore')


def datadings_index():
    """Console script ``datadings-index``."""
    return _launch('index')


def datadings_info():
    """Console script ``datadings-info``."""
    return _launch('info')


def datadings_merge():
    """Console script ``datadings-merge``."""
    return _launch('merge')


def datadings_sample():
    """Console script ``datadings-sample``."""
    return _launch('sample')


def datadings_shuffle():
    """Console script ``datadings-shuffle``."""
    return _launch('shuffle')


def datadings_split():
    """Console script ``datadings-split``."""
    return _launch('split')


def datadings_stream():
    """Console script ``datadings-stream``."""
    return _launch('stream')


def datadings_verify():
    """Console script ``datadings-verify``."""
    return _launch('verify')


def datadings_write():
    """Console script ``datadings-write``."""
    return _launch('write')
