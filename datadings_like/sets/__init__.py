"""
This package contains modules to create dataset files for all supported
datasets, as well as metadata required to work with them.

For a dataset called ``NAME`` there are two modules: ``NAME`` holds its
metadata (class names, colours, ...) and ``NAME_write`` its writer, which
runs as ``python -m datadings_like.sets.NAME_write`` or
``datadings-write NAME`` (``-h`` lists the source files, where to get
them, and the keys of the samples).

Datasets:

- ``demo``: a small labelled image set (coloured shapes, 64x64 pixels)
  drawn on the spot; needs no input and no network.
- ``folder``: your own images, from a class-per-folder tree or an im2rec
  list file (``index<TAB>label[<TAB>label...]<TAB>path``, or CSV
  ``path,label``).
- ``CIFAR10``, ``CIFAR100``: CIFAR-10 and CIFAR-100 (downloaded).
- ``ILSVRC2012``: the ImageNet 2012 challenge (registration required).

Type functions that create samples (:py:mod:`datadings_like.sets.types`),
e.g. :py:func:`ImageClassificationData`, can be imported from here.
Shared plumbing for writers is in :py:mod:`datadings_like.sets.tools`.
"""
from .types import *  # noqa: F401,F403
from .types import __all__  # noqa: F401
