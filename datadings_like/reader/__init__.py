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
from .directory import DirectoryReader
from .list import ListReader
from .zipfile import ZipFileReader

__all__ = [
    'Cycler',
    'DirectoryReader',
    'ListReader',
    'MsgpackReader',
    'QuasiShuffler',
    'Range',
    'Reader',
    'Repeater',
    'ShardedReader',
    'Shuffler',
    'ZipFileReader',
]

