"""
:py:class:`Stream`: samples from any reader, decoded and augmented on the
fly, in batches of numpy arrays, for training loops with or without
PyTorch.

A stream reads encoded samples (in the calling process, from the reader or
its in-memory cache), hands them to workers that run the transforms
(:py:mod:`datadings_like.stream.transforms`) and assemble batches, and
yields the batches in a fixed order. The order of an epoch and the random
numbers of every sample depend only on the seed, the epoch and the sample's
position in the epoch, never on the number of workers or ranks.
"""
import copy
import numbers
import operator
import os
import sys

import numpy as np

from ..dealing import deal
from ..tools import _is_terminal
from ..tools import make_printer
from ..dealing import distributed_rank
from ..dealing import rank_count
from .sampling import Plan
from .sampling import Source
from .sampling import resolve
from .workers import PARALLEL
from .workers import ProcessExecutor
from .workers import make_executor

__all__ = ('DEFAULT_CACHE_BYTES', 'Source', 'Stream', 'load_config')

#: Byte limit of the cache for ``cache=True``.
DEFAULT_CACHE_BYTES = 1 << 30
# samples per task for streams of single samples (batch_size=None)
_CHUNK = 16
# per-field overhead added to a cached sample's size estimate
_FIELD_OVERHEAD = 64
# the label scan of stratify shows a progress bar for sources this big
_SCAN_BAR_MIN = 20000


def _nbytes(value):
    """Approximate memory of an encoded sample value."""
    if isinstance(value, (bytes, bytearray, str)):
        return len(value) + _FIELD_OVERHEAD
    if isinstance(value, memoryview):
        return value.nbytes + _FIELD_OVERHEAD
    if isinstance(value, np.ndarray):
        return value.nbytes + _FIELD_OVERHEAD
    if isinstance(value, dict):
        return sum(_nbytes(k) + _nbytes(v) for k, v in value.items()) + _FIELD_OVERHEAD
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value) + _FIELD_OVERHEAD
    return _FIELD_OVERHEAD


class _Cache:
    """Encoded samples by (source, base index), up to a byte limit."""

    def __init__(self, limit):
        self.limit = limit
        self.data = {}
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self.full = False

    def get(self, key):
        sample = self.data.get(key)
        if sample is None:
            self.misses += 1
        else:
            self.hits += 1
        return sample

    def put(self, key, sample):
        if self.full or key in self.data:
            return
        size = _nbytes(sample)
        if self.nbytes + size > self.limit:
            self.full = True  # beyond the limit the OS page cache does the work
            return
        self.data[key] = sample
        self.nbytes += size

    def info(self):
        return {'samples': len(self.data), 'bytes': self.nbytes, 'limit': self.limit,
                'hits': self.hits, 'misses': self.misses}


def _label_key(value, field, key):
    """A label as a hashable group key."""
    if isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
        value = value.item()
    try:
        hash(value)
    except TypeError:
        raise ValueError(f'sample {key!r}: field {field!r} holds a {type(value).__name__}, '
                         'which cannot be a class to stratify by (use a number or a string)') \
            from None
    return value


def _sorted_classes(classes):
    try:
        return sorted(classes)
    except TypeError:
        return sorted(classes, key=lambda c: (type(c).__name__, repr(c)))


def _check_int(name, value, low=None, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f'{name} must be an int, not {type(value).__name__}') from None
    if low is not None and value < low:
        raise ValueError(f'{name} must be at least {low}, not {value}')
    return value


def _pipeline(transforms, annotate):
    annotate = tuple([annotate] if isinstance(annotate, str) else annotate or ())
    if transforms is None or (not annotate and isinstance(transforms, (list, tuple))
                              and not transforms):
        return None, annotate
    from .transforms import Pipeline
    from .transforms import from_config
    if isinstance(transforms, Pipeline) and not annotate:
        return transforms, tuple(transforms.annotate)
    if isinstance(transforms, Pipeline):
        pipeline = Pipeline([transforms], annotate=annotate)
    elif isinstance(transforms, (dict, str, bytes)) or not hasattr(transforms, '__iter__'):
        raise TypeError(f'transforms must be a list of transforms or a Pipeline, not '
                        f'{type(transforms).__name__}')
    else:
        pipeline = Pipeline(from_config(list(transforms)), annotate=annotate)
    return pipeline, tuple(pipeline.annotate)


class Stream:
    """
    Samples of one or more readers, transformed and batched, in an order
    given by the seed and the epoch.

    ::

        from datadings_like.reader import MsgpackReader
        from datadings_like.stream import Stream, transforms as T

        stream = Stream(
            MsgpackReader('train.msgpack'),
            transforms=[T.Decode('image'), T.RandomResizedCrop(224),
                        T.Flip(horizontal=True), T.ToArray('image', dtype='float32')],
            batch_size=64, shuffle=True, loop=True, stratify='label',
            cache=True, workers=2, seed=0)
        for batch in stream:   # {'image': (64, 224, 224, 3) float32, 'label': (64,), 'key': [...]}
            ...

    **Order.** An epoch visits every sample once, in file order or, with
    ``shuffle=True``, in a new permutation per epoch. ``stratify='label'``
    draws the classes of that field evenly (or by ``class_weights``); a
    list of :py:class:`Source` objects with weights mixes several readers
    in proportion. Stratified and mixed epochs have ``epoch_size``
    samples (default: all samples of all sources); every class (or source)
    cycles through its samples, so none repeats before all were drawn. The
    order depends only on ``seed`` and the epoch.

    **Epochs.** Iterating yields the rest of the current epoch and moves on
    to the next one; with ``loop=True`` it never ends. :py:meth:`set_epoch`
    chooses the epoch, :py:meth:`state_dict` and :py:meth:`load_state_dict`
    save and restore the position within one.

    **Transforms** run in ``workers`` processes (``parallel='process'``) or
    threads (``parallel='thread'``), or, with ``workers=0``, in the calling
    thread. Every sample gets its own generator,
    ``numpy.random.default_rng([seed, epoch, position])``, so batches are
    the same whatever the number of workers. Batches come back from worker
    processes through shared memory, without further copies.

    **Batches** are dicts: fields that hold arrays or numbers in every
    sample become stacked numpy arrays (first axis: the batch), other
    fields (``'key'``, strings, bytes) lists. ``batch_size=None`` yields
    single samples.

    **Distributed training.** The epoch's order is dealt across ranks in
    blocks of ``batch_size`` as by :py:class:`datadings_like.torch.IterableDataset`:
    global batch ``b`` goes to rank ``b % world_size``. Every rank yields the
    same number of batches (a last incomplete round is padded from the
    start of the order, or dropped with ``drop_last``).

    Parameters:
        source: a reader or augment, a :py:class:`Source`, or a list of them
        transforms: list of transforms (or their config entries, see
            :py:func:`~datadings_like.stream.transforms.from_config`), or a
            :py:class:`~datadings_like.stream.transforms.Pipeline`
        annotate: fields that geometric transforms change in step with the
            image (label maps, vector annotations)
        batch_size: samples per batch, or None for single samples
        shuffle: a new random order every epoch
        loop: iterate endlessly, epoch after epoch
        stratify: name of a label field: draw its classes evenly
        class_weights: with ``stratify``, a dict of class to weight (every
            class needs one) instead of even draws
        epoch_size: samples per epoch (all ranks together); changes the
            epoch length of stratified or mixed streams, or makes a plain
            stream draw that many samples in cycles
        cache: keep the encoded samples in memory once read: ``True`` (up
            to :py:data:`DEFAULT_CACHE_BYTES`) or a byte limit
        workers: worker processes or threads; 0 transforms in the caller
        parallel: ``'process'`` or ``'thread'``
        prefetch: batches in flight per worker
        seed: seed of the order and of the samples' generators
            (0 <= seed < 2**63)
        epoch: the first epoch
        rank: this process's rank; default from ``torch.distributed`` or
            the ``RANK`` environment variable, else 0
        world_size: number of ranks; default as for ``rank``
        drop_last: drop a last incomplete batch (round of batches, with
            several ranks) instead of yielding it smaller; default: True
            with ``loop``, else False
        dump: write the images and annotation overlays of the first
            ``dump`` batches as PNG files to ``dump_dir`` (see
            :py:mod:`datadings_like.stream.dump`)
        dump_dir: directory for ``dump``
        start_method: ``multiprocessing`` start method of worker processes;
            default: the platform's
        shared_memory: let worker processes pass batches through shared
            memory (``/dev/shm``) where there is one

    Attributes:
        classes: with ``stratify``, the classes found, sorted (None without)
        rank: this process's rank
        world_size: the number of ranks
        pipeline: the :py:class:`~datadings_like.stream.transforms.Pipeline`
            (None without transforms)
        annotate: the annotation fields (tuple)

    Raises:
        TypeError: a source cannot be read at random, or an option has the
            wrong type
        ValueError: an option has a bad value, a transform or config entry is
            bad, or the stratification field is missing in a sample
    """

    def __init__(
            self,
            source,
            transforms=None,
            annotate=(),
            batch_size=None,
            shuffle=False,
            loop=False,
            stratify=None,
            class_weights=None,
            epoch_size=None,
            cache=False,
            workers=0,
            parallel='process',
            prefetch=2,
            seed=0,
            epoch=0,
            rank=None,
            world_size=None,
            drop_last=None,
            dump=0,
            dump_dir='stream_dump',
            start_method=None,
            shared_memory=True,
    ):
        self.batch_size = _check_int('batch_size', batch_size, 1, allow_none=True)
        self.workers = _check_int('workers', workers, 0)
        self.prefetch = _check_int('prefetch', prefetch, 1)
        self.dump = _check_int('dump', dump, 0)
        self.seed = _check_int('seed', seed, 0)
        if self.seed >= 2 ** 63:
            raise ValueError(f'seed must be in [0, 2**63), not {seed}')
        self._epoch = _check_int('epoch', epoch, 0)
        self._start = 0
        epoch_size = _check_int('epoch_size', epoch_size, 0, allow_none=True)
        if parallel not in PARALLEL:
            raise ValueError(f'parallel must be one of {", ".join(PARALLEL)}, not {parallel!r}')
        self.parallel = parallel
        self.start_method = start_method
        self.shared_memory = bool(shared_memory)
        self.dump_dir = os.fspath(dump_dir)
        self.shuffle = bool(shuffle)
        self.loop = bool(loop)
        if stratify is not None and not isinstance(stratify, str):
            raise TypeError(f'stratify must be the name of a field, not {stratify!r}')
        self.stratify = stratify
        if class_weights is not None and stratify is None:
            raise ValueError('class_weights needs stratify (the field whose classes they weigh)')
        self.class_weights = None if class_weights is None else dict(class_weights)
        self.pipeline, self.annotate = _pipeline(transforms, annotate)
        self._sources = self._make_sources(source)
        self._views = [resolve(s.reader) for s in self._sources]
        if any(v.endless for v in self._views):
            self.loop = True  # a Cycler streams endlessly
        self.drop_last = self.loop if drop_last is None else bool(drop_last)
        if rank is None or world_size is None:
            auto_rank, auto_world = distributed_rank()
            rank = auto_rank if rank is None else rank
            world_size = auto_world if world_size is None else world_size
        self.world_size = _check_int('world_size', world_size, 1)
        self.rank = _check_int('rank', rank, 0)
        if self.rank >= self.world_size:
            raise ValueError(f'rank must be less than world_size={self.world_size}, not {rank}')
        if cache is True:
            limit = DEFAULT_CACHE_BYTES
        elif cache is False or cache is None:
            limit = 0
        elif isinstance(cache, numbers.Real) and cache >= 0:
            limit = int(cache)
        else:
            raise ValueError(f'cache must be True, False or a byte limit, not {cache!r}')
        self._cache = _Cache(limit) if limit else None
        self._executor = None
        self._generation = 0
        self._dumped = 0
        self._read_count = 0
        self._copy_cached = True
        self.classes = None
        self._plan = self._make_plan(epoch_size)

    # ------------------------------------------------------------ setup

    @staticmethod
    def _make_sources(source):
        if isinstance(source, (list, tuple)):
            items = list(source)
            if not items:
                raise ValueError('source is an empty list: a stream needs at least one reader')
        else:
            items = [source]
        return [s if isinstance(s, Source) else Source(s) for s in items]

    def _make_plan(self, epoch_size):
        sources, views = self._sources, self._views
        weights = [s.weight for s in sources]
        mixed = any(w is not None for w in weights)
        if mixed and any(w is None for w in weights):
            raise ValueError('give every Source a weight, or none of them (then the sources '
                             'are pooled and every sample is drawn once per epoch)')
        ordered = [v for v in views if v.order is not None]
        if ordered:
            what = ordered[0].what
            if len(views) > 1 or self.shuffle or self.stratify or mixed or epoch_size is not None:
                raise ValueError(
                    f'a {what} defines the order itself; it can only be the single source of a '
                    'stream without shuffle, stratify, weights or epoch_size (pass the plain '
                    'reader and let the stream shuffle instead)')
        sizes = [v.length for v in views]
        if self.stratify is None:
            if not mixed:
                return Plan(sizes, self.shuffle, self.seed, epoch_size=epoch_size)
            offsets = np.concatenate(([0], np.cumsum(sizes)))
            groups = [np.arange(offsets[i], offsets[i + 1], dtype=np.int64)
                      for i in range(len(sizes))]
            return Plan(sizes, self.shuffle, self.seed, groups, weights, epoch_size)
        return self._stratified_plan(sizes, weights, mixed, epoch_size)

    def _labels(self, s):
        """Class of every item of source ``s`` (reads the samples unless they are known)."""
        source, view = self._sources[s], self._views[s]
        field = self.stratify
        relabel = source.changes_labels and source.field == field
        if source.labels is not None:
            if len(source.labels) != view.length:
                raise ValueError(f'source {s} has {view.length} samples but {len(source.labels)} '
                                 'labels')
            values = source.labels
            return [_label_key(source.relabel(v) if relabel else v, field, f'#{i}')
                    for i, v in enumerate(values)]
        labels = []
        indices = view.to_base(0, np.arange(view.length, dtype=np.int64))
        # reading a big dataset takes a while: a bar where someone watches
        quiet = view.length < _SCAN_BAR_MIN or not _is_terminal(sys.stderr)
        printer = make_printer(total=view.length, desc=f'stratify: labels of source {s}',
                               disable=quiet, leave=False)
        for index, sample in zip(indices.tolist(), self._read_base(s, indices)):
            printer.update(1)
            if self._cache is not None:
                self._cache.put((s, index), sample)
            if relabel:
                value = source.relabel(sample.get(field)) if source.label is not None \
                    else source.relabel(self._field(sample, field, s, index))
            else:
                value = self._field(sample, field, s, index)
            labels.append(_label_key(value, field, sample.get('key', index)))
        printer.close()
        return labels

    @staticmethod
    def _field(sample, field, s, index):
        try:
            return sample[field]
        except KeyError:
            raise ValueError(
                f'sample {sample.get("key", index)!r} (source {s}, index {index}) has no field '
                f'{field!r} to stratify by (it has {", ".join(map(repr, sample))})') from None

    def _stratified_plan(self, sizes, weights, mixed, epoch_size):
        per_source = [self._labels(s) for s in range(len(sizes))]
        classes = _sorted_classes({c for labels in per_source for c in labels})
        cw = self.class_weights
        if cw is not None:
            cw = {_label_key(k, self.stratify, 'class_weights'): v for k, v in cw.items()}
            for c in classes:
                if c not in cw:
                    raise ValueError(f'class_weights has no weight for class {c!r} of field '
                                     f'{self.stratify!r}')
            for c, w in cw.items():
                if c not in classes:
                    raise ValueError(f'class_weights names class {c!r}, which no sample has in '
                                     f'field {self.stratify!r}')
                if not 0 <= float(w) < float('inf'):
                    raise ValueError(f'class_weights: weight of class {c!r} must be a finite '
                                     f'number >= 0, not {w!r}')
        index = {c: j for j, c in enumerate(classes)}
        offsets = np.concatenate(([0], np.cumsum(sizes)))
        groups, group_weights = [], []
        if mixed:
            for s, labels in enumerate(per_source):
                codes = np.fromiter((index[c] for c in labels), dtype=np.int64, count=len(labels))
                present = np.unique(codes).tolist()
                cws = [1.0 if cw is None else float(cw[classes[j]]) for j in present]
                total = sum(cws)
                for j, w in zip(present, cws):
                    groups.append(np.flatnonzero(codes == j) + offsets[s])
                    group_weights.append(weights[s] * w / total if total else 0.0)
        else:
            codes = np.fromiter((index[c] for labels in per_source for c in labels),
                                dtype=np.int64, count=int(offsets[-1]))
            order = np.argsort(codes, kind='stable')
            bounds = np.searchsorted(codes[order], np.arange(len(classes) + 1))
            for j, c in enumerate(classes):
                groups.append(order[bounds[j]:bounds[j + 1]].astype(np.int64))
                group_weights.append(1.0 if cw is None else float(cw[c]))
        self.classes = classes
        return Plan(sizes, self.shuffle, self.seed, groups, group_weights, epoch_size)

    # ------------------------------------------------------------ reading

    def _read_base(self, s, indices):
        """Samples at ``indices`` of source ``s``'s base reader, as read."""
        base = self._views[s].base
        self._read_count += len(indices)
        gather = getattr(base, '_gather', None)
        if gather is not None:
            return gather(np.asarray(indices, dtype=np.int64))
        get = base.get
        return (get(int(i)) for i in indices)

    def _read(self, epoch, sources, items):
        """The samples at plan entries ``(sources, items)``, relabelled, ready to transform."""
        out = [None] * len(items)
        cache = self._cache
        fresh_copy = cache is not None and self._copy_cached
        for s in np.unique(sources).tolist():
            where = np.flatnonzero(sources == s)
            view, source = self._views[s], self._sources[s]
            indices = view.to_base(epoch, items[where])
            missing = []
            for j, index in zip(where.tolist(), indices.tolist()):
                sample = cache.get((s, index)) if cache is not None else None
                if sample is None:
                    missing.append((j, index))
                else:
                    out[j] = copy.deepcopy(sample) if fresh_copy else sample
            if missing:
                read = self._read_base(s, np.array([i for _, i in missing], dtype=np.int64))
                for (j, index), sample in zip(missing, read):
                    if cache is not None:
                        cache.put((s, index), sample)
                        if fresh_copy:
                            sample = copy.deepcopy(sample)
                    out[j] = sample
            if source.changes_labels:
                for j in where.tolist():
                    out[j] = source.apply(dict(out[j]))  # a copy: the cached sample stays
        return out

    # ------------------------------------------------------------ epochs and state

    @property
    def epoch(self):
        """The epoch the next iteration starts in (or the current one, while iterating)."""
        return self._epoch

    @property
    def epoch_length(self):
        """Samples per epoch, all ranks together."""
        return self._plan.length

    @property
    def sources(self):
        """The :py:class:`Source` objects of the stream."""
        return list(self._sources)

    def set_epoch(self, epoch):
        """
        Start the next iteration at the beginning of ``epoch``.

        Raises:
            ValueError: epoch is negative
        """
        self._epoch = _check_int('epoch', epoch, 0)
        self._start = 0
        self._generation += 1

    def _block(self):
        return self.batch_size or 1

    def _finished(self, seen):
        """True if nothing of the epoch is left after ``seen`` samples."""
        remaining = self._plan.length - seen
        if self.drop_last:
            return remaining < self._block() * self.world_size
        return remaining <= 0

    def state_dict(self):
        """
        The position of the stream, for checkpoints: the epoch and the
        samples of its order that all ranks together have been given
        (batches this process yielded, assuming every rank got as many).

        Returns:
            ``{'epoch': int, 'samples_seen': int, 'seed': int}``; a finished
            epoch gives the next epoch and ``samples_seen=0``
        """
        epoch, seen = self._epoch, self._start
        if seen and self._finished(seen):
            epoch, seen = epoch + 1, 0
        return {'epoch': epoch, 'samples_seen': seen, 'seed': self.seed}

    def load_state_dict(self, state):
        """
        Continue from a :py:meth:`state_dict`: the next iteration yields the
        rest of that epoch, exactly the samples not seen yet, in the same
        order and with the same random numbers (the number of workers or
        ranks may differ).

        Parameters:
            state: dict with ``epoch``, ``samples_seen`` and ``seed``

        Raises:
            KeyError: a key is missing
            ValueError: a value is out of range
        """
        epoch = _check_int('epoch', state['epoch'], 0)
        seen = _check_int('samples_seen', state['samples_seen'], 0)
        seed = _check_int('seed', state['seed'], 0)
        if seed >= 2 ** 63:
            raise ValueError(f'seed must be in [0, 2**63), not {seed}')
        if seed != self.seed:
            self.seed = seed
            self._plan.seed = seed
            self._plan._cache = None
        self._epoch = epoch
        self._start = min(seen, self._plan.length)
        self._generation += 1

    def __len__(self):
        """
        Batches (single samples with ``batch_size=None``) this rank yields
        in one whole epoch.
        """
        count = self.samples_per_epoch
        if self.batch_size is None:
            return count
        return -(-count // self.batch_size)

    @property
    def samples_per_epoch(self):
        """Samples this rank yields in one whole epoch."""
        return rank_count(self._plan.length, 0, self._block(), self.world_size, self.drop_last)

    def cache_info(self):
        """
        What the cache holds.

        Returns:
            dict with ``samples``, ``bytes``, ``limit``, ``hits`` and
            ``misses``, or None without a cache
        """
        return None if self._cache is None else self._cache.info()

    @property
    def samples_read(self):
        """Samples read from the readers so far (cache hits do not count)."""
        return self._read_count

    # ------------------------------------------------------------ iteration

    def _executor_for(self, inprocess):
        if inprocess:
            return make_executor(self.pipeline, 0)
        if getattr(self._executor, 'broken', False):
            self.close()
        if self._executor is None:
            self._executor = make_executor(self.pipeline, self.workers, self.parallel,
                                           self.start_method, self.shared_memory)
        return self._executor

    def __iter__(self):
        """
        Iterate over the rest of the current epoch (every epoch from then
        on with ``loop``).

        Yields:
            batch dicts, or single samples with ``batch_size=None``
        """
        return self._iterate()

    def _iterate(self, stride=1, offset=0, inprocess=False):
        """
        The stream's batches; with ``stride`` > 1 only batches ``j`` with
        ``j % stride == offset`` (for DataLoader workers, which the
        DataLoader interleaves again).
        """
        self._generation += 1
        generation = self._generation
        executor = self._executor_for(inprocess)
        executor.drain()
        # samples from the cache go to the transforms as copies, unless a
        # worker process gets them (pickled) anyway
        self._copy_cached = not isinstance(executor, ProcessExecutor)
        pending = []
        try:
            while True:
                if self._start and self._finished(self._start):
                    self._epoch, self._start = self._epoch + 1, 0
                epoch, start = self._epoch, self._start
                tasks = self._tasks(epoch, start, stride, offset)
                depth = self.prefetch * max(1, executor.workers)
                produced = False
                for handle, info in self._pipelined(executor, tasks, depth, pending):
                    if self._generation != generation:
                        return  # a newer iteration, set_epoch or load_state_dict took over
                    produced = True
                    result = handle.result()
                    yield from self._deliver(result, info, generation)
                    if self._generation != generation:
                        return
                if self._generation != generation:
                    return
                self._epoch, self._start = epoch + 1, 0
                if not self.loop:
                    return
                if not produced and start == 0:
                    raise ValueError(self._empty_epoch())
        except GeneratorExit:
            raise  # results still pending are dropped when the next iteration starts
        except BaseException:
            # an error or Ctrl-C: stop the workers now rather than wait for them
            if self._generation == generation and not inprocess:
                self.close()
            raise
        finally:
            if inprocess:
                executor.close()

    def _empty_epoch(self):
        return (f'the stream has no batches to loop over: {self._plan.length} samples per epoch, '
                f'batch_size={self.batch_size}, world_size={self.world_size}, '
                f'drop_last={self.drop_last}')

    def _pipelined(self, executor, tasks, depth, pending):
        """Submit tasks ahead, ``depth`` in flight; yield (handle, info) in order."""
        pending.clear()
        for task, info in tasks:
            pending.append((executor.submit(task), info))
            if len(pending) >= depth:
                yield pending.pop(0)
        while pending:
            yield pending.pop(0)

    def _tasks(self, epoch, start, stride, offset):
        """The tasks of the rest of the epoch: ``(task, (epoch, start, end_seen))``."""
        plan = self._plan
        n = plan.length
        block = self._block()
        positions = deal(n, start, block, self.world_size, self.rank, 1, 0, self.drop_last)
        if not len(positions):
            return
        sources, items = plan.epoch(epoch)
        per_round = block * self.world_size
        size = self.batch_size or _CHUNK
        batched = self.batch_size is not None
        for j, a in enumerate(range(0, len(positions), size)):
            if j % stride != offset:
                continue
            pos = positions[a:a + size]
            samples = self._read(epoch, sources[pos], items[pos])
            # samples of the epoch seen by all ranks once this chunk was yielded
            blocks = j + 1 if batched else 0
            task = (j, self.seed, epoch, pos.tolist(), samples, batched)
            yield task, (epoch, start, blocks, a, per_round, n)

    def _deliver(self, result, info, generation):
        epoch, start, blocks, a, per_round, n = info
        if self.batch_size is not None:
            self._start = min(n, start + blocks * per_round)
            if self._finished_chunk(self._start, n):
                self._start = n
            self._maybe_dump(result)
            yield result
            return
        for k, sample in enumerate(result):
            if self._generation != generation:
                return
            self._start = min(n, start + (a + k + 1) * per_round)
            if self._finished_chunk(self._start, n):
                self._start = n
            self._maybe_dump_sample(sample)
            yield sample

    def _finished_chunk(self, seen, n):
        return seen >= n or self._finished(seen)

    # ------------------------------------------------------------ dump

    def _label_fields(self):
        """The annotation fields and the label images that Rasterize transforms make."""
        fields = list(self.annotate)
        todo = list(getattr(self.pipeline, 'transforms', ()))
        while todo:
            transform = todo.pop(0)
            todo.extend(getattr(transform, 'transforms', ()))  # nested pipelines
            if type(transform).__name__ == 'Rasterize':
                fields.append(transform.out_field or transform.field)
        return fields

    def _maybe_dump(self, batch):
        if self._dumped < self.dump:
            from .dump import dump_batch
            dump_batch(batch, self._dumped, self.dump_dir, self._label_fields())
            self._dumped += 1

    def _maybe_dump_sample(self, sample):
        if self._dumped < self.dump and isinstance(sample, dict):
            batch = {k: (v[None] if isinstance(v, np.ndarray) else [v]) for k, v in sample.items()}
            self._maybe_dump(batch)

    # ------------------------------------------------------------ adapters, life

    def torch(self, pin_memory=False):
        """
        The stream as a ``torch.utils.data.IterableDataset`` that yields
        batches of tensors (see :py:class:`datadings_like.stream.torch.TorchStream`).

        Parameters:
            pin_memory: pin the tensors' memory (for fast copies to a GPU)

        Returns:
            :py:class:`~datadings_like.stream.torch.TorchStream`
        """
        from .torch import TorchStream
        return TorchStream(self, pin_memory=pin_memory)

    def close(self):
        """Stop the workers (the stream starts them again if it is iterated again)."""
        self._generation += 1
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_executor'] = None
        return state

    def __repr__(self):
        return (f'{type(self).__name__}({len(self._sources)} source(s), '
                f'batch_size={self.batch_size}, shuffle={self.shuffle}, loop={self.loop}, '
                f'stratify={self.stratify!r}, workers={self.workers}, seed={self.seed})')

    # ------------------------------------------------------------ config

    @classmethod
    def options(cls):
        """Names of the keyword options (what a config file may set)."""
        import inspect
        names = list(inspect.signature(cls.__init__).parameters)
        return [n for n in names if n not in ('self', 'source')]

    @classmethod
    def from_config(cls, config, sources=None, where='config'):
        """
        Make a stream from a config: a dict of the keyword options (as read
        from a JSON or YAML file, :py:func:`load_config`), ``transforms``
        as a list of config entries, plus ``sources``: a list of
        ``{"path": ..., "weight": ..., "label_offset": ..., "label": ...,
        "field": ...}`` (dataset files, opened with
        :py:class:`~datadings_like.reader.MsgpackReader`).

        Parameters:
            config: the dict
            sources: readers or :py:class:`Source` objects to use instead of
                the config's ``sources``
            where: name of the config in messages (e.g. its file name)

        Returns:
            :py:class:`Stream`

        Raises:
            ValueError: an unknown option, a bad value or transform; the
                message starts with ``where`` and names the option
            TypeError: an option has the wrong type
        """
        if not isinstance(config, dict):
            raise ValueError(f'{where}: must be a mapping of options, not {type(config).__name__}')
        options = dict(config)
        declared = options.pop('sources', None)
        known = cls.options()
        for name in options:
            if name not in known:
                raise ValueError(f'{where}: unknown option {name!r} (options: '
                                 f'{", ".join(["sources"] + known)})')
        if sources is None:
            sources = _config_sources(declared, where)
        try:
            return cls(sources, **options)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f'{where}: {exc}') from None


_SOURCE_OPTIONS = ('path', 'weight', 'label_offset', 'label', 'field')


def _config_sources(declared, where):
    from ..reader.msgpack import MsgpackReader
    if not declared:
        raise ValueError(f'{where}: no sources (give dataset files, or a "sources" list of '
                         '{"path": ...} entries)')
    if not isinstance(declared, list):
        raise ValueError(f'{where}: sources must be a list, not {type(declared).__name__}')
    out = []
    for i, entry in enumerate(declared):
        if isinstance(entry, str):
            entry = {'path': entry}
        if not isinstance(entry, dict) or 'path' not in entry:
            raise ValueError(f'{where}: sources entry {i} must be a path or '
                             f'{{"path": ..., "weight": ...}}, not {entry!r}')
        for name in entry:
            if name not in _SOURCE_OPTIONS:
                raise ValueError(f'{where}: sources entry {i}: unknown option {name!r} '
                                 f'(options: {", ".join(_SOURCE_OPTIONS)})')
        kwargs = {k: v for k, v in entry.items() if k != 'path'}
        out.append(Source(MsgpackReader(entry['path']), **kwargs))
    return out


def load_config(path):
    """
    Read a stream config file: JSON, or YAML (``.yaml``, ``.yml``; needs
    PyYAML, read with ``yaml.safe_load``).

    Parameters:
        path: the file

    Returns:
        the dict of options

    Raises:
        FileNotFoundError: no such file
        ValueError: the file cannot be parsed or is no mapping (the message
            names the file)
    """
    path = os.fspath(path)
    with open(path, 'rb') as f:
        data = f.read()
    if path.lower().endswith(('.yaml', '.yml')):
        try:
            import yaml
        except ImportError:
            raise ValueError(f'{path}: reading YAML configs needs PyYAML (pip install pyyaml); '
                             'or write the config as JSON') from None
        try:
            config = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise ValueError(f'{path}: not valid YAML: {" ".join(str(exc).split())}') from None
    else:
        import json
        try:
            config = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f'{path}: not valid JSON: {exc}') from None
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError(f'{path}: a stream config must be a mapping of options, not '
                         f'{type(config).__name__}')
    return config
