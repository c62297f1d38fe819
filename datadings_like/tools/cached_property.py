"""
``cached_property``: computed once per instance, then cached as attribute.

This is :py:func:`functools.cached_property`, kept here because the
datadings API has this module.
"""
from functools import cached_property

__all__ = ('cached_property',)
