"""
Readers give access to datasets: :py:class:`MsgpackReader` for dataset
files, :py:class:`ShardedReader` for several of them,
:py:class:`ListReader`, :py:class:`DirectoryReader` and
:py:class:`ZipFileReader` for samples that are not converted yet, and the
augments (:py:class:`Range`, :py:class:`Repeater`, :py:class:`Cycler`,
:py:class:`Shuffler`, :py:class:`QuasiShuffler`) that change the order.
"""
from .reader import Reader
from .msgpack import MsgpackReader
from .sharded import ShardedReader
from .augment import Cycler
from .augment import QuasiShuffler
from .augment import Range
from .augment import Repeater
from .augment import Shuffler

__all__ = [
    'Cycler',
    'MsgpackReader',
    'QuasiShuffler',
    'Range',
    'Reader',
    'Repeater',
    'ShardedReader',
    'Shuffler',
]

try:  # readers for unconverted samples (list, directory tree, zip file)
    from .list import ListReader
    from .directory import DirectoryReader
    from .zipfile import ZipFileReader
    __all__ += ['DirectoryReader', 'ListReader', 'ZipFileReader']
except ImportError:  # pragma: no cover - modules are being written
    pass
