"""
``cached_property``: computed once per instance, then cached as attribute.

This is :py:func:`functools.cached_property`, kept here because the
datadings API has this module.
"""
from functools import cached_property
from typing import TypeVar

__all__ = ('T', 'cached_property')

#: Type of the cached value, as in the datadings API.
T = TypeVar('T')
