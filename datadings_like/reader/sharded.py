"""Read several dataset files (shards) as one dataset."""
from bisect import bisect_right
from glob import glob
from itertools import chain
from pathlib import Path
from typing import Iterable
from typing import Union

from natsort import natsorted

from ..remote import glob_urls
from ..remote import is_url
from .msgpack import MsgpackReader
from .reader import Reader

__all__ = ('ShardedReader',)


class ShardedReader(Reader):
    """
    A Reader that combines several shards into one.
    Shards can be specified either as a glob pattern ``dir/*.msgpack``
    for msgpack files (matches are natsorted), or an iterable of individual
    shards. Each shard can be a string, ``Path``, or ``Reader``.
    Shard readers stay open for the life of the ShardedReader.

    Parameters:
        shards: glob pattern or a list of strings, Path objects or Readers;
            patterns and strings may be URLs (``s3://bucket/train-*.msgpack``)
        reader_options: keyword arguments for each
            :py:class:`MsgpackReader` made here (e.g. ``cache_dir=``,
            ``storage_options=`` for URLs)

    Raises:
        FileNotFoundError: the pattern matches no file (an empty list of
            shards gives an empty reader)
    """

    def __init__(self, shards: Union[str, Path, Iterable[Union[str, Path, Reader]]],
                 **reader_options):
        super().__init__()
        if isinstance(shards, (str, Path)):
            pattern = str(shards)
            if is_url(pattern):
                paths = natsorted(glob_urls(pattern, reader_options.get('storage_options')))
            else:
                paths = natsorted(glob(pattern))
            if not paths:
                raise FileNotFoundError(f'{pattern}: no shard matches this pattern')
            shards = paths
        readers = []
        for shard in shards:
            if isinstance(shard, Reader):
                readers.append(shard)
            else:
                readers.append(MsgpackReader(shard, **reader_options))
        self._shards = readers
        self._starts = [0]
        for reader in readers:
            self._starts.append(self._starts[-1] + len(reader))
        self._len = self._starts[-1]

    @property
    def shards(self):
        """The shard readers."""
        return list(self._shards)

    def __len__(self):
        return self._len

    def __contains__(self, key):
        return any(key in shard for shard in self._shards)

    def __exit__(self, exc_type, exc_val, exc_tb):
        for shard in self._shards:
            shard.__exit__(exc_type, exc_val, exc_tb)

    def _locate(self, index):
        index = self._normalize_index(index)
        shard = bisect_right(self._starts, index) - 1
        return shard, index - self._starts[shard]

    def find_key(self, index):
        """Returns the key of the sample with the given index."""
        shard, local = self._locate(index)
        return self._shards[shard].find_key(local)

    def find_index(self, key):
        """
        Returns the index of the sample with the given key.

        Raises:
            KeyError: no shard has this key
        """
        for start, shard in zip(self._starts, self._shards):
            if key in shard:
                return start + shard.find_index(key)
        raise KeyError(key)

    def get(self, index, yield_key=False, raw=False, copy=True):
        """Returns sample at given index (see :py:meth:`Reader.get`)."""
        shard, local = self._locate(index)
        return self._shards[shard].get(local, yield_key=yield_key, raw=raw, copy=copy)

    def slice(self, start, stop=None, yield_key=False, raw=False, copy=True):
        """Returns a generator of samples selected by the given slice."""
        start, stop, _ = slice(start, stop).indices(self._len)
        parts = []
        for i, shard in enumerate(self._shards):
            a, b = self._starts[i], self._starts[i + 1]
            lo, hi = max(start, a), min(stop, b)
            if lo < hi:
                parts.append(shard.slice(lo - a, hi - a, yield_key=yield_key, raw=raw, copy=copy))
        return chain.from_iterable(parts)
