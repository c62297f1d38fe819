"""The 1000 ILSVRC2012 synsets (WordNet IDs) and their names, in label order;
the data lives in :py:mod:`datadings_like.sets.ILSVRC2012`."""
from .ILSVRC2012 import *  # noqa: F401,F403
from .ILSVRC2012 import __all__  # noqa: F401
