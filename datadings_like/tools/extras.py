"""
Optional dependencies: features that need more than the base install
belong to an *extra* of the package (``torch``, ``sets``, ...), installed
from the source tree with ``pip install '.[EXTRA]'``.

:py:func:`require` imports such a module, or raises one clear line that
names the extra to install.
"""
import importlib

__all__ = ('MissingExtraError', 'install_hint', 'require')


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def install_hint(extra, package=None):
    """
    How to install an extra, e.g. ``pip install '.[sets]' (in the
    datadings_like source tree), or pip install scipy``.

    Parameters:
        extra: name of the extra in ``pyproject.toml``
        package: the PyPI package that provides the module, if it can be
            installed on its own
    """
    hint = f"pip install '.[{extra}]' (in the datadings_like source tree)"
    if package:
        hint += f', or pip install {package}'
    return hint


def require(module, extra, purpose, package=None):
    """
    Import an optional dependency.

    Parameters:
        module: module name, e.g. ``'scipy.io'``
        extra: the extra of datadings_like that installs it, e.g. ``'sets'``
        purpose: what needs it, for the message, e.g. ``'reading .mat files'``
        package: PyPI package name if it differs from the module's first
            component (default: that component)

    Returns:
        the imported module

    Raises:
        MissingExtraError: the module cannot be imported; the message is
            one line naming the extra to install
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = package or module.split('.')[0]
        raise MissingExtraError(
            f'{purpose} needs {package}, which is not installed ({exc}); '
            f'install it with: {install_hint(extra, package)}'
        ) from None
