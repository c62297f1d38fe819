"""
datadings_like: turn machine-learning datasets into msgpack files
(the datadings 3.x format) and read them back fast.
"""
from ._signals import startup_for_module_run as _startup_for_module_run

__version__ = '0.1.0'

# ``python -m datadings_like.commands.NAME``: handle Ctrl-C from here on,
# before the tool imports numpy & co. (nothing happens on a plain import)
_startup_for_module_run(__name__)
