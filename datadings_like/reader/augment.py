"""
An Augment wraps a :py:class:`~datadings_like.reader.reader.Reader` and
changes how samples are iterated over.
How readers are used is largely unaffected.

Warning:
    Augments are not thread safe!
"""
from abc import ABCMeta
from abc import abstractmethod
from itertools import chain
from math import ceil
import hashlib

import numpy as np

from .reader import _counted

__all__ = ('Augment', 'Cycler', 'QuasiShuffler', 'Range', 'Repeater', 'Shuffler')

# shufflers gather this many samples per batch of indices
_GATHER = 1024


def _gather(reader, indices, yield_key, raw, copy):
    """
    ``(samples, consumed)``: the samples at ``indices`` (int array), using
    the reader's fast path, and a function that tells how many of them
    were yielded.
    """
    fast = getattr(reader, '_gather', None)
    if fast is not None:
        return fast(indices, yield_key=yield_key, raw=raw, copy=copy, counted=True)
    get = reader.get
    return _counted(get(i, yield_key=yield_key, raw=raw, copy=copy) for i in indices.tolist())


def _seed_entropy(seed):
    """Any int (negative too), or a str/bytes/float, as a non-negative int."""
    if isinstance(seed, int):
        return seed % (1 << 128)
    return int.from_bytes(hashlib.blake2s(repr(seed).encode('utf-8')).digest()[:16], 'big')


class Augment(metaclass=ABCMeta):
    """
    Base class for augments. Wraps a reader, forwards ``len`` and the
    context manager protocol to it.

    Parameters:
        reader: the reader to wrap
    """

    def __init__(self, reader):
        self._reader = reader

    @property
    def reader(self):
        """The wrapped reader."""
        return self._reader

    def __enter__(self):
        self._reader.__enter__()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return self._reader.__exit__(exc_type, exc_val, exc_tb)

    def __len__(self):
        return len(self._reader)

    def __iter__(self):
        return self.iter()

    @abstractmethod
    def iter(self, yield_key=False, raw=False, copy=True, chunk_size=16):
        """
        Create an iterator.

        Parameters:
            yield_key: if True, yields (key, sample) pairs.
            raw: if True, yields samples as msgpacked messages.
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of bytes
            chunk_size: number of samples read at once;
                        bigger values can increase throughput,
                        but also memory

        Returns:
            Iterator
        """

    def rawiter(self, yield_key=False):
        """Create an iterator that yields msgpacked samples."""
        return self.iter(yield_key=yield_key, raw=True)

    @abstractmethod
    def seek(self, index):
        """Seek to the given index of the augmented order."""


class Range(Augment):
    """
    Extract a range of samples from a given reader.

    ``start`` and ``stop`` behave like the parameters of the ``range``
    function.

    Parameters:
        reader: reader to sample from
        start: start of range
        stop: stop of range

    Raises:
        IndexError: start out of range
    """

    def __init__(self, reader, start=0, stop=None):
        super().__init__(reader)
        n = len(reader)
        if start < 0:
            start += n
        if start < 0 or start >= n:
            raise IndexError(f'index {start} out of range for length {n} reader')
        self.start, self.stop, _ = slice(start, stop).indices(n)
        self.stop = max(self.start, self.stop)
        self._pos = 0

    def __len__(self):
        return self.stop - self.start

    def iter(self, yield_key=False, raw=False, copy=True, chunk_size=16):
        """
        Iterate over the range, from the position set by :py:meth:`seek`
        (the start of the range by default).
        """
        start = self.start + self._pos
        self._pos = 0
        return self._reader.iter(
            start=start,
            stop=self.stop,
            yield_key=yield_key,
            raw=raw,
            copy=copy,
            chunk_size=chunk_size,
        )

    def seek(self, index):
        """
        Seek to the given index within the range.

        Raises:
            IndexError: index out of range
        """
        n = len(self)
        if index < 0:
            index += n
        if index < 0 or index >= n:
            raise IndexError(f'index {index} out of range for length {n} range')
        self._pos = index


class Repeater(Augment):
    """
    Repeat a Reader a fixed number of times.

    Parameters:
        reader: reader to repeat
        times: how many times
    """

    def __init__(self, reader, times):
        super().__init__(reader)
        if times < 0:
            raise ValueError(f'times must not be negative, not {times}')
        self.times = times
        self._rep = 0

    def __len__(self):
        return len(self._reader) * self.times

    def iter(self, yield_key=False, raw=False, copy=True, chunk_size=16):
        """Iterate over all repetitions, from the current position."""
        first, self._rep = self._rep, 0
        return self._iter(first, yield_key, raw, copy, chunk_size)

    def _iter(self, first, yield_key, raw, copy, chunk_size):
        for _ in range(first, self.times):
            yield from self._reader.iter(
                yield_key=yield_key, raw=raw, copy=copy, chunk_size=chunk_size,
            )

    def seek(self, index):
        """Seek to ``index`` of the repeated sequence."""
        n = len(self._reader)
        if index < 0 or index >= len(self):
            raise IndexError(f'index {index} out of range for length {len(self)} repeater')
        self._rep = index // n
        self._reader.seek(index % n)


class Cycler(Augment):
    """
    Infinitely cycle a Reader.

    Parameters:
        reader: reader to cycle
    """

    def iter(self, yield_key=False, raw=False, copy=True, chunk_size=16):
        """Iterate forever, starting at the reader's current index."""
        if len(self._reader) == 0:
            return iter(())
        return self._iter(yield_key, raw, copy, chunk_size)

    def _iter(self, yield_key, raw, copy, chunk_size):
        while True:
            yield from self._reader.iter(
                yield_key=yield_key, raw=raw, copy=copy, chunk_size=chunk_size,
            )

    def seek(self, index):
        """Seek to ``index`` (taken modulo the length of the reader)."""
        self._reader.seek(index % len(self._reader))


class _EpochShuffler(Augment):
    """Shared mechanics: an order per epoch, a position, batched reads."""

    def __init__(self, reader, seed):
        super().__init__(reader)
        self._n = len(reader)
        self._seed = seed
        self._pos = 0
        self._offset = 0
        # (first, consumed) while an iteration owns the position: it is at
        # first + consumed(), which follows the consumer with no Python
        # code per sample
        self._cursor = None
        self._owner = None

    @property
    def _i(self):
        """Position in the current epoch's order."""
        cursor = self._cursor
        if cursor is None:
            return self._pos
        return cursor[0] + cursor[1]()

    @_i.setter
    def _i(self, index):
        self._cursor = None
        self._owner = None
        self._pos = index

    def seek(self, index):
        """
        Seek to the given index. Indices beyond the length of the reader
        continue into the following epochs' orders.

        Raises:
            IndexError: negative index
        """
        if index < 0:
            raise IndexError('index must be >= 0')
        if self._n == 0:
            return
        self._i = index % self._n
        self._offset = index // self._n * self._n

    @abstractmethod
    def _order(self, rng, chunk_size):
        """Return the order of sample indices for one epoch."""

    def epoch_order(self, epoch, chunk_size=None):
        """
        The sample indices of pass number ``epoch`` (0 for the first pass
        over the data), in iteration order. It depends only on the seed and
        the epoch.
        """
        rng = np.random.default_rng([_seed_entropy(self._seed), epoch])
        return self._order(rng, chunk_size)

    def order(self, chunk_size=None):
        """The sample indices of the current epoch, in iteration order."""
        return self.epoch_order(self._offset // self._n if self._n else 0, chunk_size)

    def iter(self, yield_key=False, raw=False, copy=True, chunk_size=None):
        """
        Iterate over the current epoch's order from the current position.
        Each completed pass moves on to the next epoch's order.
        """
        if self._n == 0:
            return iter(())
        order = self.order(chunk_size)
        return self._iter(order, yield_key, raw, copy)

    def _iter(self, order, yield_key, raw, copy):
        start = self._i
        owner = self._owner = object()
        return chain.from_iterable(self._chunks(order, start, owner, yield_key, raw, copy))

    def _chunks(self, order, a, owner, yield_key, raw, copy):
        """Iterators over ``_GATHER`` samples each; the most recent
        iteration (``owner``) moves the position."""
        reader = self._reader
        n = self._n
        while a < n:
            b = min(n, a + _GATHER)
            samples, consumed = _gather(reader, order[a:b], yield_key, raw, copy)
            if self._owner is owner:
                self._cursor = (a, consumed)
            yield samples
            a = b
        if self._owner is owner:
            self._i = 0
            self._offset += n


class Shuffler(_EpochShuffler):
    """
    Iterate over a Reader in random order.
    Every pass over the data (epoch) uses a new permutation, derived from
    ``seed`` and the epoch.

    Parameters:
        reader: The reader to augment.
        seed: optional random seed; defaults to ``len(reader)``

    Warning:
        Augments are not thread safe!
    """

    def __init__(self, reader, seed=None):
        n = len(reader)
        super().__init__(reader, n if seed is None else seed)

    def _order(self, rng, chunk_size):
        return rng.permutation(self._n)


class QuasiShuffler(_EpochShuffler):
    """
    A slightly less random than a true
    :py:class:`~datadings_like.reader.augment.Shuffler`, but much faster
    on slow storage, since it reads contiguous chunks.

    The dataset is divided into equal-size chunks that are read in random
    order. Shuffling follows these steps:

    1. Fill the buffer with chunks.
    2. Read the next chunk.
    3. Select a random sample from the buffer and yield it.
    4. Replace the sample with the next sample from the current chunk.
    5. If there are chunks left, goto 2.
    6. Yield the rest of the buffer in random order.

    This means there are typically more samples from the current chunk
    in the buffer than there would be if a true shuffle was used.
    This effect is more pronounced for smaller fractions :math:`\\frac{B}{C}`
    where :math:`C` is the chunk size and :math:`B` the buffer size.
    As a rule of thumb it is sufficient to keep :math:`\\frac{B}{C}`
    roughly equal to the number of classes in the dataset.

    Parameters:
        reader: the reader to wrap
        buf_size: size of the buffer; values less than 1 are interpreted
                  as fractions of the dataset length; bigger values improve
                  randomness, but use more memory
        chunk_size: size of each chunk; bigger values improve performance,
                    but reduce randomness
        seed: random seed to use; defaults to
              ``len(reader) * self.buf_size * chunk_size``
    """

    def __init__(self, reader, buf_size=0.01, chunk_size=16, seed=None):
        n = len(reader)
        if buf_size <= 0:
            raise ValueError(f'buf_size must be positive, not {buf_size}')
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be positive, not {chunk_size}')
        if buf_size < 1:
            buf_size = ceil(n * buf_size)
        chunk_size = int(chunk_size)
        # buffer size is a multiple of chunk_size
        self.buf_size = max(1, ceil(int(buf_size) / chunk_size)) * chunk_size
        self.chunk_size = chunk_size
        self.num_chunks = ceil(n / chunk_size)
        if seed is None:
            seed = n * self.buf_size * chunk_size
        super().__init__(reader, seed)

    def _order(self, rng, chunk_size=None):
        n = self._n
        chunk_size = chunk_size or self.chunk_size
        num_chunks = ceil(n / chunk_size)
        chunk_order = rng.permutation(num_chunks)
        # 32-bit indices while they fit: half the memory to fill and move
        dtype = np.int32 if n <= np.iinfo(np.int32).max else np.intp
        # sample indices in chunk order
        sequence = (chunk_order.astype(dtype)[:, None] * dtype(chunk_size)
                    + np.arange(chunk_size, dtype=dtype)).ravel()
        if n % chunk_size:
            sequence = sequence[sequence < n]
        buf_chunks = max(1, self.buf_size // chunk_size)
        fill = min(n, sum(
            min(chunk_size, n - c * chunk_size) for c in chunk_order[:buf_chunks].tolist()
        ))
        buffer = sequence[:fill]
        rest = sequence[fill:]
        if not len(buffer):
            return rest.astype(np.intp)
        steps_total = len(rest)
        size = len(buffer)
        out = np.empty(n, dtype=np.intp)
        # step t yields what slot picks[t] holds and puts rest[t] there.
        # Vectorised: group the steps by slot (stable, so in time order);
        # each step yields the item of the previous step of its group, the
        # first of a group yields the slot's initial item.
        picks = rng.integers(0, size, size=steps_total)
        final = buffer
        if steps_total:
            keys = picks.astype(np.uint16) if size <= 1 << 16 else picks
            steps = np.argsort(keys, kind='stable')
            counts = np.bincount(picks, minlength=size)
            used = np.flatnonzero(counts)  # slots picked at all, ascending
            ends = np.cumsum(counts)[used]  # where their groups end in steps
            yielded = np.empty(steps_total, dtype=dtype)
            yielded[1:] = rest[steps[:-1]]
            yielded[ends - counts[used]] = buffer[used]
            out[steps] = yielded
            # what each slot holds at the end: the last item put there
            final = buffer.copy()
            final[used] = rest[steps[ends - 1]]
        # drain the buffer in random order too (in buffer order, samples
        # of the last chunks would come out unshuffled)
        out[steps_total:] = final[rng.permutation(size)]
        return out
