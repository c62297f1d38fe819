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
- ``InriaBuildings``: Inria aerial images with building labels, val and
  test in 384x384 tiles (registration required).
- ``Vaihingen``: ISPRS Vaihingen orthophotos with labels and DSM, val in
  384x384 tiles (on request).
- ``RIT18``: RIT-18 six-band drone images with 18 classes, val in 384x384
  tiles (downloaded).
- ``VOC2012``: Pascal VOC 2012 semantic segmentation (downloaded).
- ``CAMVID``: CamVid road scenes, 11 classes (downloaded).
- ``Cityscapes``: urban scenes with fine labels and disparity maps
  (registration required).
- ``ADE20k``: ADE20K scene parsing, 16-bit class maps and parts maps of
  about 3000 classes, scene labels (downloaded).
- ``Places2017``: Places Challenge 2017 scene parsing (150 classes) with
  instance images and boundary contours (downloaded).
- ``MIT1003``: 1003 images with the gaze of 15 observers each, one
  experiment per observer (downloaded).
- ``MIT300``: the 300 images of the MIT300 saliency benchmark, no
  fixations (downloaded).
- ``CAT2000``: 4000 images in 20 categories, border cropped and resized to
  1024 pixels, fixations moved with them; ``-t`` (downloaded).
- ``SALICON2015``, ``SALICON2017``: SALICON mouse tracking on MS COCO
  images, timestamped positions and fixations per observer (downloaded).
- ``FIGRIMFixation``: FIGRIM eye fixations on SUN scenes, target and
  filler sets, one experiment per observer and presentation (downloaded).
- ``ANP460``: images of adjective-noun pairs with gaze, answers and
  delays of the observers (not public).
- ``ImageNet21k``: ImageNet-21K-P, the 10450 classes of the winter 2021
  release with their label trees, streamed from the 1.2 TB
  ``winter21_whole.tar.gz``; resumable, optionally sharded
  (registration required).
- ``Places365``: Places365 scene classification, 365 classes, large or
  256x256 images, standard or challenge train set; resumable, ``--shards``
  (downloaded).
- ``YFCC100m``: no writer; ``YFCC100mReader`` reads the images straight
  from the zip packs of the pre-release, skipping those on a reject list
  that ``python -m datadings_like.sets.YFCC100m_reject`` makes.
- ``Coutrot1``: Coutrot database 1, video frames with the eye positions
  of the observers carried along by optical flow; not shuffled (eye data
  downloaded, videos a manual download; needs OpenCV).

Type functions that create samples (:py:mod:`datadings_like.sets.types`),
e.g. :py:func:`ImageClassificationData`, can be imported from here.
Shared plumbing for writers is in :py:mod:`datadings_like.sets.tools`;
sharded, resumable conversions of big archives use
:py:mod:`datadings_like.sets.shards`.
"""
from .types import *  # noqa: F401,F403
from .types import __all__  # noqa: F401
