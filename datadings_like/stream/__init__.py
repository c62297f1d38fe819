"""
Training streams: samples read from any reader, decoded and augmented on
the fly, batched as numpy arrays.

- :py:mod:`datadings_like.stream.decode`: images (JPEG, PNG, any format
  Pillow reads) to numpy arrays, JPEG decoded at a reduced scale when the
  output is small enough;
- :py:mod:`datadings_like.stream.transforms`: transforms of sample dicts
  (decoding, geometric augmentation kept in step with label maps and
  vector annotations, colour, normalisation), :py:class:`Pipeline
  <datadings_like.stream.transforms.Pipeline>` and :py:func:`from_config
  <datadings_like.stream.transforms.from_config>`.
- :py:class:`Stream`: sampling (shuffled, stratified, mixed sources with
  :py:class:`Source`), caching, worker processes, batches of numpy arrays,
  a PyTorch adapter (:py:mod:`datadings_like.stream.torch`) and ``dump``.

Usage::

    from datadings_like.stream import Stream, transforms as T
"""
from . import decode
from . import transforms
from .sampling import Source
from .stream import Stream

__all__ = (
    'Source',
    'Stream',
    'decode',
    'transforms',
)
