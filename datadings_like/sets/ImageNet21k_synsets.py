"""The 10450 synsets of ImageNet21k (ImageNet-21K-P, winter 2021), their
words and label trees, in label order, and the sample counts of the splits;
the data lives in :py:mod:`datadings_like.sets.ImageNet21k`."""
from .ImageNet21k import *  # noqa: F401,F403
from .ImageNet21k import __all__  # noqa: F401
