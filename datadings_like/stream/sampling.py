"""
The order in which a :py:class:`~datadings_like.stream.Stream` visits its
samples: plain or shuffled passes, stratified sampling by a label field and
mixing of several sources with proportions.

Every order is a pure function of the seed and the epoch, so it is the same
on every rank and in every process, and any position of any epoch can be
computed again when a stream resumes.

Sources are numbered ``0 .. S-1``; source ``s`` holds ``n_s`` items (its
sample positions). An epoch's *plan* is a pair of arrays ``(source, item)``
of equal length: the ``i``-th sample of the epoch is item ``item[i]`` of
source ``source[i]``.

Stratified and mixed plans draw from *groups* (a class, a source, or a class
of a source). A group of ``m`` items with ``c`` draws per epoch goes through
its items in cycles: draw ``k`` (counted over all epochs, ``k = epoch * c +
j``) is item ``perm[k % m]`` of the permutation of cycle ``k // m``. So no
item of a group repeats before all its items were drawn, and an epoch's
draws continue where the previous epoch stopped.
"""
from collections.abc import Mapping

import numpy as np

from ..reader.augment import Augment
from ..reader.augment import Cycler
from ..reader.augment import QuasiShuffler
from ..reader.augment import Range
from ..reader.augment import Repeater
from ..reader.augment import Shuffler

__all__ = ('Source', 'apportion', 'group_draws')

# tags that keep the random streams of orders apart from the per-sample
# generators, which are seeded with [seed, epoch, position] (position < 2**63)
_TAG_ORDER = 2 ** 64 + 1
_TAG_INTERLEAVE = 2 ** 64 + 2
_TAG_CYCLE = 2 ** 64 + 3
# permutations of a group's cycles are made this many items at a time
_CYCLE_BLOCK_ITEMS = 1 << 12


class Source:
    """
    One input of a :py:class:`~datadings_like.stream.Stream`: a reader (or
    augment), its share of the stream, and how its labels change.

    Mixing a background set into a training set, as PicPac's ``mixin``
    does, with labels of its own::

        Stream([Source(train, weight=0.8),
                Source(background, weight=0.2, label=0)], ...)

    Parameters:
        reader: a :py:class:`~datadings_like.reader.Reader`, or an augment
            of one (:py:class:`~datadings_like.reader.Range`; the
            order-defining augments ``Shuffler``, ``QuasiShuffler``,
            ``Repeater`` and ``Cycler`` only as the single source of a stream
            without ``shuffle``, ``stratify`` or weights)
        weight: share of the stream's samples drawn from this source
            (relative to the other sources' weights); ``None`` for all
            sources pools them, so every sample is drawn once per epoch
        label_offset: added to the value of ``field`` of every sample (e.g.
            to give a second dataset class numbers of its own)
        label: if not ``None``, replaces the value of ``field`` of every
            sample (PicPac's ``mixin_group_reset``); ``label_offset`` is
            added to it
        field: the label field that ``label`` and ``label_offset`` change
        labels: the values of the stratification field of the samples, in
            the source's order, if they are known; saves reading every sample
            once when the stream is stratified (``label`` and
            ``label_offset`` are applied to them)

    Raises:
        ValueError: weight is negative or not a finite number
    """

    def __init__(self, reader, weight=None, label_offset=0, label=None, field='label',
                 labels=None):
        if isinstance(reader, Source):
            raise TypeError('reader is already a Source')
        if weight is not None:
            weight = float(weight)
            if not 0 <= weight < float('inf'):
                raise ValueError(f'weight must be a finite number >= 0, not {weight!r}')
        self.reader = reader
        self.weight = weight
        self.label_offset = label_offset
        self.label = label
        self.field = field
        self.labels = None if labels is None else list(labels)

    @property
    def changes_labels(self):
        """True if ``label`` or ``label_offset`` change the samples."""
        return self.label is not None or bool(self.label_offset)

    def relabel(self, value):
        """The label ``value`` as this source changes it."""
        if self.label is not None:
            value = self.label
        if self.label_offset:
            value = value + self.label_offset
        return value

    def apply(self, sample, key=None):
        """
        Change the label field of ``sample`` (in place).

        Raises:
            ValueError: the sample has no such field
        """
        if self.changes_labels:
            if self.label is None and self.field not in sample:
                raise ValueError(
                    f'sample {sample.get("key", key)!r} has no field {self.field!r}, '
                    'which the label_offset of its Source changes')
            sample[self.field] = self.relabel(sample.get(self.field))
        return sample

    def __repr__(self):
        return (f'Source({self.reader!r}, weight={self.weight!r}, '
                f'label_offset={self.label_offset!r}, label={self.label!r}, field={self.field!r})')


class View:
    """
    A source resolved into the reader that has the samples (``base``) and a
    map from the source's item positions in a pass to ``base`` indices.

    Parameters:
        base: reader with random access (``get``)
        start: index in ``base`` of item 0 (a ``Range``)
        length: items per pass
        order: ``None``, or a function ``order(epoch, items) -> base-relative
            positions`` for sources whose order changes every pass
        endless: the source is a ``Cycler``
        what: name of the outermost augment, for messages
    """

    def __init__(self, base, start, length, order=None, endless=False, what=None):
        self.base = base
        self.start = start
        self.length = length
        self.order = order
        self.endless = endless
        self.what = what

    def to_base(self, epoch, items):
        """Base reader indices of ``items`` (int64 array) in pass ``epoch``."""
        items = np.asarray(items, dtype=np.int64)
        if self.order is not None:
            items = self.order(epoch, items)
        return items + self.start


def _shuffler_order(shuffler, inner):
    cache = {}

    def order(epoch, items):
        perm = cache.get(epoch)
        if perm is None:
            cache.clear()
            perm = cache[epoch] = np.asarray(shuffler.epoch_order(epoch), dtype=np.int64)
        return _inner(inner, epoch, perm[items])
    return order


def _inner(view, epoch, items):
    return items if view.order is None else view.order(epoch, items)


def _repeater_order(times, inner):
    n = inner.length

    def order(epoch, items):
        passes = epoch * times + items // n
        local = items % n
        if inner.order is None:
            return local
        out = np.empty_like(local)
        for p in np.unique(passes).tolist():
            sel = passes == p
            out[sel] = inner.order(p, local[sel])
        return out
    return order


def resolve(reader):
    """
    Resolve a reader or augment into a :py:class:`View`.

    Raises:
        TypeError: the reader has no random access (``get``) or is an
            augment this module does not know
    """
    if isinstance(reader, Range):
        inner = resolve(reader.reader)
        if inner.order is not None or inner.endless:
            raise TypeError(f'a Range of a {inner.what} cannot be streamed; '
                            'put the Range inside, next to the reader')
        return View(inner.base, inner.start + reader.start, len(reader), what='Range')
    if isinstance(reader, (Shuffler, QuasiShuffler)):
        inner = resolve(reader.reader)
        if inner.endless:
            raise TypeError(f'a {type(reader).__name__} of a Cycler cannot be streamed')
        return View(inner.base, inner.start, inner.length, _shuffler_order(reader, inner),
                    what=type(reader).__name__)
    if isinstance(reader, Repeater):
        inner = resolve(reader.reader)
        if inner.endless:
            raise TypeError('a Repeater of a Cycler cannot be streamed')
        return View(inner.base, inner.start, inner.length * reader.times,
                    _repeater_order(reader.times, inner), what='Repeater')
    if isinstance(reader, Cycler):
        inner = resolve(reader.reader)
        return View(inner.base, inner.start, inner.length, inner.order, endless=True,
                    what='Cycler')
    if isinstance(reader, (Augment, Mapping)) or not callable(getattr(reader, 'get', None)) \
            or not hasattr(reader, '__len__'):
        raise TypeError(
            f'a Stream cannot read {type(reader).__name__}: it needs a reader with random '
            'access (a Reader such as MsgpackReader, get(index)), optionally wrapped in '
            'Range, Shuffler, QuasiShuffler, Repeater or Cycler')
    return View(reader, 0, len(reader))


def apportion(weights, total):
    """
    Split ``total`` draws among groups in proportion to ``weights``
    (largest remainder; ties go to the earlier group).

    Parameters:
        weights: non-negative numbers with a positive sum
        total: number of draws

    Returns:
        int64 array of counts that sum to ``total``
    """
    w = np.asarray(weights, dtype=np.float64)
    exact = w / w.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = int(total - counts.sum())
    if short > 0:
        rest = exact - counts
        order = np.lexsort((np.arange(len(w)), -rest))
        counts[order[:short]] += 1
    return counts


def _cycle_perms(seed, group, m, first, last, shuffle):
    """Permutations of cycles ``first .. last`` of a group of ``m`` items, stacked."""
    cycles = last - first + 1
    if not shuffle:
        return np.broadcast_to(np.arange(m, dtype=np.int64), (cycles, m))
    per_block = max(1, _CYCLE_BLOCK_ITEMS // m)
    out = []
    block = first // per_block
    while block * per_block <= last:
        rng = np.random.default_rng([seed, block, _TAG_CYCLE, group])
        b0 = block * per_block
        rows = per_block
        if m == 1:
            perms = np.zeros((rows, 1), dtype=np.int64)
        elif rows == 1:
            perms = rng.permutation(m)[None]
        else:
            perms = np.argsort(rng.random((rows, m)), axis=1, kind='stable').astype(np.int64)
        lo = max(first, b0) - b0
        hi = min(last, b0 + rows - 1) - b0 + 1
        out.append(perms[lo:hi])
        block += 1
    return np.concatenate(out)


def group_draws(seed, group, members, count, epoch, shuffle):
    """
    The ``count`` members a group gives in ``epoch`` (see the module
    documentation: cycles through the members, a new permutation per cycle).

    Parameters:
        seed: the stream's seed
        group: number of the group (it selects its random stream)
        members: array of the group's items
        count: draws per epoch
        epoch: the epoch
        shuffle: permute each cycle (else take the members in order)

    Returns:
        array of ``count`` members
    """
    m = len(members)
    if count == 0:
        return members[:0]
    k0 = epoch * count
    k1 = k0 + count - 1
    first, last = k0 // m, k1 // m
    perms = _cycle_perms(seed, group, m, first, last, shuffle).reshape(-1)
    start = k0 - first * m
    return members[perms[start:start + count]]


class Plan:
    """
    How a stream samples: from the sources' sizes and, for stratified or
    mixed streams, their groups, the order of every epoch.

    Items of all sources are numbered consecutively (source 0 first); a
    group's members are such global numbers.

    Parameters:
        sizes: items per source
        shuffle: shuffle (plain: a new permutation per epoch; groups:
            permuted cycles and randomly interleaved draws)
        seed: the stream's seed
        groups: ``None`` (every item once per epoch), or a list of int64
            arrays of global item numbers
        weights: one weight per group (with ``groups``)
        epoch_size: samples per epoch; default: all items of all sources.
            Without ``groups`` a different size makes all items one group.
    """

    def __init__(self, sizes, shuffle, seed, groups=None, weights=None, epoch_size=None):
        self.sizes = [int(n) for n in sizes]
        self.offsets = np.concatenate(([0], np.cumsum(self.sizes, dtype=np.int64)))
        self.total = int(self.offsets[-1])
        self.shuffle = bool(shuffle)
        self.seed = seed
        if groups is None and epoch_size is not None and epoch_size != self.total:
            groups, weights = [np.arange(self.total, dtype=np.int64)], [1.0]
        self.groups = groups
        if groups is None:
            self.length = self.total
            self.counts = None
        else:
            self.length = self.total if epoch_size is None else int(epoch_size)
            w = np.asarray(weights, dtype=np.float64)
            w = np.where([len(m) > 0 for m in groups], w, 0.0)
            if self.length and not w.sum() > 0:
                raise ValueError('no group with samples has a weight > 0: nothing to draw')
            self.counts = apportion(w, self.length) if self.length else np.zeros(len(w), np.int64)
        self._cache = None

    def epoch(self, epoch):
        """
        The plan of ``epoch``.

        Returns:
            ``(source, item)``: two int64 arrays of length :py:attr:`length`
        """
        cache = self._cache
        if cache is not None and cache[0] == epoch:
            return cache[1]
        if self.groups is None:
            if self.shuffle:
                gid = np.random.default_rng([self.seed, epoch, _TAG_ORDER]).permutation(self.total)
            else:
                gid = np.arange(self.total, dtype=np.int64)
        else:
            gid = self._grouped(epoch)
        if len(self.sizes) == 1:
            plan = (np.zeros(len(gid), dtype=np.int64), gid)
        else:
            source = np.searchsorted(self.offsets, gid, side='right') - 1
            plan = (source, gid - self.offsets[source])
        self._cache = (epoch, plan)
        return plan

    def _grouped(self, epoch):
        counts = self.counts
        which = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        if self.shuffle:
            np.random.default_rng([self.seed, epoch, _TAG_INTERLEAVE]).shuffle(which)
        else:
            # spread every group evenly over the epoch
            rank = np.concatenate([(np.arange(c) + 0.5) / c for c in counts.tolist() if c]
                                  or [np.zeros(0)])
            which = which[np.argsort(rank, kind='stable')]
        slots = np.argsort(which, kind='stable')
        gid = np.empty(len(which), dtype=np.int64)
        at = 0
        for g, (members, c) in enumerate(zip(self.groups, counts.tolist())):
            if c:
                gid[slots[at:at + c]] = group_draws(self.seed, g, members, c, epoch, self.shuffle)
                at += c
        return gid
