"""
Compatibility module: the datadings API has the msgpack helpers under
``tools.msgpack``. Everything here is :py:mod:`datadings_like.msgpack`.
"""
from ..msgpack import *  # noqa: F401,F403
from ..msgpack import __all__  # noqa: F401
