"""
PyTorch integration: :py:class:`Dataset` (map-style) and
:py:class:`IterableDataset` over any datadings reader, :py:class:`Compose`
for transforms that share random parameters, and the small helpers
:py:class:`CompressedToPIL`, :py:func:`dict2tuple` and :py:func:`no_rng`.

:py:class:`IterableDataset` goes beyond the datadings reference:
reproducible shuffling derived from ``(seed, epoch)`` only, a global sample
order that does not depend on the number of ranks or workers, elastic
mid-epoch resumption (:py:meth:`IterableDataset.state_dict` and
:py:meth:`IterableDataset.load_state_dict`), and the same number of batches
on every rank, so distributed training cannot deadlock.

This module needs PyTorch; install it with
``pip install '.[torch]'`` (in the source tree).

Warning:
    Like the reference, this integration is young; its interface may
    still change.
"""
from functools import partial
from io import BytesIO
import inspect
import operator
import warnings

from .tools.extras import MissingExtraError
from .tools.extras import install_hint

try:
    import torch
    from torch.utils.data import Dataset as _TorchDataset
    from torch.utils.data import IterableDataset as _TorchIterableDataset
    from torch.utils.data import get_worker_info
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess
    raise MissingExtraError(
        'datadings_like.torch needs PyTorch, which is not installed '
        f'({_exc}); install it with: {install_hint("torch", "torch")} '
        '(see https://pytorch.org/get-started/)'
    ) from _exc

import numpy as np
from PIL import Image

from .reader.augment import Augment
from .reader.augment import QuasiShuffler
from .reader.augment import Range
from .reader.augment import Shuffler
from .dealing import deal as _deal
from .dealing import rank_count as _rank_count

__all__ = (
    'Compose',
    'CompressedToPIL',
    'Dataset',
    'DatasetBase',
    'IterableDataset',
    'dict2tuple',
    'no_rng',
)

# samples read per call of a reader's batched ``_gather``
_GATHER = 1024


# ----------------------------------------------------------------- Compose

def _describe(f):
    """Human-readable name of a transform for messages."""
    if isinstance(f, partial):
        return f'functools.partial({_describe(f.func)}, ...)'
    name = getattr(f, '__qualname__', None) or getattr(f, '__name__', None)
    if name is None or not (inspect.isfunction(f) or inspect.ismethod(f)
                            or inspect.isbuiltin(f) or inspect.isclass(f)):
        return repr(f)
    return name


class _MissingParameter(KeyError):
    """A transform needs a parameter that the rng dict does not provide."""

    def __str__(self):
        return self.args[0]


def _param_spec(f):
    """
    How to call transform ``f``: ``None`` for a nested :py:class:`Compose`
    (it gets the whole parameter dict), otherwise a tuple of
    ``(name, positional_only, required, default)`` for every parameter
    after the first (the value).
    """
    if isinstance(f, Compose):
        return None
    if not callable(f):
        raise TypeError(f'transform must be callable, not {f!r}')
    try:
        # bound methods, callable objects (``self`` is skipped), classes
        # and functools.partial all get their effective signature here
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        warnings.warn(
            f'cannot read the signature of {_describe(f)}; '
            'it will only receive sample values', stacklevel=4,
        )
        return ()
    params = list(sig.parameters.values())
    P = inspect.Parameter
    if not params or params[0].kind in (P.KEYWORD_ONLY, P.VAR_KEYWORD):
        raise ValueError(
            f'transform {_describe(f)} must accept the value as its first '
            f'positional argument, but its signature is {sig}'
        )
    if params[0].kind is P.VAR_POSITIONAL:
        # e.g. torchvision transforms (nn.Module.__call__(*args, **kwargs))
        rest = [p for p in params[1:] if p.kind is P.KEYWORD_ONLY]
        if not rest:
            warnings.warn(
                f'{_describe(f)} only accepts varargs, '
                'so it will only receive sample values', stacklevel=4,
            )
    else:
        rest = params[1:]
    return tuple(
        (p.name, p.kind is P.POSITIONAL_ONLY, p.default is P.empty, p.default)
        for p in rest
        if p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD)
    )


class Compose:
    """
    Compose a sequence of transform functions.
    Functions must accept the intended value from samples
    as first argument.
    They may have an arbitrary number of positional and
    keyword arguments.

    The signature of each function is read once: every parameter after the
    first is looked up by name (plus ``prefix``) in the parameter dict
    returned by the dataset's ``rng`` callable and passed to the function.
    Parameters with a default value are optional; parameters that a
    ``functools.partial`` binds are used unless the dict overrides them.
    Callable objects receive the value as the first argument after
    ``self``. Callables that only accept ``*args`` (e.g. torchvision's
    transform classes) only receive the value (with a warning).
    A nested Compose receives the whole parameter dict.

    Example usage with :py:class:`Dataset`::

        import random
        from datadings_like.torch import Compose
        from datadings_like.torch import Dataset

        def add(v, number):
            return v + number

        def sub(x, value):
            return x - value

        def rng(_):
            return {
                'number': random.randrange(1, 10),
                'value': random.randrange(1, 10),
            }

        transforms = {
            'a': Compose(add),
            'b': Compose(sub),
            'c': Compose((add, sub)),
        }
        dataset = Dataset(reader, transforms=transforms, rng=rng)
        for i in range(len(dataset)):
            print(dataset[i])

    Parameters:
        transforms: sequence of transform functions,
                    either one iterable or varargs
        prefix: string prefix for parameter names, i.e.,
                if a function normally requires parameter
                ``size`` given ``prefix='mask_'``
                the parameter ``'mask_size'``

    Raises:
        TypeError: a transform is not callable
        ValueError: a transform cannot accept a value as first argument
    """

    def __init__(self, *transforms, prefix=''):
        if len(transforms) == 1 and not callable(transforms[0]):
            try:
                transforms = tuple(transforms[0])
            except TypeError:
                raise TypeError(f'transform must be callable, not {transforms[0]!r}') from None
        self.transforms = tuple(transforms)
        self.prefix = prefix
        self._specs = tuple(self._make_spec(f) for f in self.transforms)

    def _make_spec(self, f):
        spec = _param_spec(f)
        if spec is None:
            return None
        prefix = self.prefix
        return tuple(
            (name, prefix + name, posonly, required, default)
            for name, posonly, required, default in spec
        )

    @property
    def param_names(self):
        """For each transform the tuple of parameter names (with prefix)
        it takes from the parameter dict; ``None`` for a nested Compose."""
        return [
            None if spec is None else tuple(key for _, key, _, _, _ in spec)
            for spec in self._specs
        ]

    def _missing(self, f, name, key):
        shown = repr(key) if key == name else f'{key!r} (parameter {name!r} with prefix {self.prefix!r})'
        return _MissingParameter(
            f'transform {_describe(f)} needs parameter {shown}, but the '
            'parameter dict does not contain it; return it from the rng '
            'callable or bind it with functools.partial'
        )

    def __call__(self, value, params=None):
        """
        Apply all transforms in order.

        Parameters:
            value: the value to transform
            params: dict of parameters, usually returned by ``rng``

        Returns:
            The transformed value.

        Raises:
            KeyError: a required parameter is missing from ``params``;
                      the message names the transform and the parameter
        """
        if params is None:
            params = {}
        for f, spec in zip(self.transforms, self._specs):
            if spec is None:
                value = f(value, params)
            elif not spec:
                value = f(value)
            else:
                args = [value]
                kwargs = {}
                for name, key, posonly, required, default in spec:
                    if key in params:
                        v = params[key]
                    elif required:
                        raise self._missing(f, name, key)
                    elif posonly:
                        v = default
                    else:
                        continue
                    if posonly:
                        args.append(v)
                    else:
                        kwargs[name] = v
                value = f(*args, **kwargs)
        return value

    def __repr__(self):
        inner = ', '.join(repr(f) if not inspect.isfunction(f) else f.__name__
                          for f in self.transforms)
        return f'{type(self).__name__}({inner}, prefix={self.prefix!r})'


def no_rng(_):
    """
    Default ``rng``: no random parameters.

    Returns:
        An empty dict.
    """
    return {}


def _noop(sample):
    return sample


class CompressedToPIL:
    """
    Compatible torchvision transform that takes a compressed
    image as bytes (or similar) and returns a PIL image.

    Decodes JPEG, PNG and any other format Pillow can open;
    the result is always converted to RGB.
    """

    def __call__(self, buf):
        """
        Decode an image.

        Parameters:
            buf: compressed image as ``bytes``, ``bytearray`` or
                 ``memoryview``

        Returns:
            RGB ``PIL.Image.Image``

        Raises:
            PIL.UnidentifiedImageError: Pillow cannot read the data
        """
        with Image.open(BytesIO(buf)) as img:
            return img.convert('RGB')

    def __repr__(self):
        return self.__class__.__name__ + '()'


def dict2tuple(it, keys=('image', 'label')):
    """
    Utility function that extracts and yields the given keys
    from each sample in the given iterator.

    Parameters:
        it: iterable of dicts, e.g. a ``DataLoader``
        keys: keys to extract, in this order

    Returns:
        Generator of tuples.
    """
    for sample in it:
        yield tuple(sample[k] for k in keys)


# ------------------------------------------------------------ datasets

class DatasetBase:
    """
    Shared part of :py:class:`Dataset` and :py:class:`IterableDataset`:
    the reader and how transforms are applied.

    Parameters:
        reader: the datadings reader instance
        transforms: dict of per-key transforms ``t(value, params)``,
                    or one callable ``f(sample: dict) -> dict``
        rng: callable ``rng(sample: dict) -> dict`` that returns
             parameters for the transforms (dict form only)

    Raises:
        TypeError: transforms is neither dict, callable nor None,
                   or rng is not callable
    """

    def __init__(self, reader, transforms=None, rng=None):
        self.reader = reader
        if rng is not None and not callable(rng):
            raise TypeError(f'rng must be callable, not {rng!r}')
        self._rng = rng or no_rng
        self._transforms = transforms
        if transforms is None:
            self.transform = _noop
        elif isinstance(transforms, dict):
            for key, f in transforms.items():
                if not callable(f):
                    raise TypeError(f'transform for key {key!r} must be callable, not {f!r}')
            self.transform = self._transform
        elif callable(transforms):
            if rng is not None:
                warnings.warn(
                    'rng is only used with a dict of transforms; '
                    'a single transform callable receives the sample only',
                    stacklevel=3,
                )
            self.transform = transforms
        else:
            raise TypeError(
                'transforms must be a dict of callables or a callable, '
                f'not {type(transforms).__name__}'
            )

    def _transform(self, sample):
        params = self._rng(sample)
        for key, f in self._transforms.items():
            try:
                value = sample[key]
            except KeyError:
                raise KeyError(
                    f'there is a transform for key {key!r}, but the sample '
                    f'has no such key (it has {sorted(map(str, sample))})'
                ) from None
            sample[key] = f(value, params)
        return sample

    def __len__(self):
        return len(self.reader)


def _random_access(reader, what):
    if isinstance(reader, Augment) or not callable(getattr(reader, 'get', None)):
        raise TypeError(
            f'{what} needs a reader with random access (reader.get), but '
            f'{type(reader).__name__} only iterates; wrap the plain reader and '
            'let the DataLoader shuffle (shuffle=True or a sampler), or use '
            'IterableDataset, which accepts Shuffler, QuasiShuffler and Range'
        )


class Dataset(DatasetBase, _TorchDataset):
    """
    Implementation of ``torch.utils.data.Dataset``.

    Implements ``__getitems__``, so a ``DataLoader`` reads a whole batch
    at once (with the reader's fast batched read where it has one).

    .. warning::
        :py:class:`Dataset` can be significantly slower than
        :py:class:`IterableDataset`, since it reads samples in random order.

    Example usage with the PyTorch ``DataLoader``::

        path = '.../train.msgpack'
        batch_size = 256
        reader = MsgpackReader(path)
        transforms = {'image': Compose(
            CompressedToPIL(),
            ...,
            ToTensor(),
        )}
        ds = Dataset(reader, transforms=transforms)
        train = DataLoader(dataset=ds, batch_size=batch_size, shuffle=True)
        for epoch in range(3):
            for x, y in dict2tuple(tqdm(train)):
                pass

    Parameters:
        reader: the datadings reader instance; needs random access
                (augments such as :py:class:`~datadings_like.reader.Shuffler`
                only iterate and are refused)
        transforms: Transforms applied to samples before they are returned.
                    Either a dict of transform functions or callable with
                    signature ``f(sample: dict) -> dict`` that is applied
                    directly to samples.
                    In the dict form keys correspond to keys in the sample
                    and values are callables with signature
                    ``t(value: any, params: dict) -> any`` (e.g., an
                    instance of :py:class:`Compose`) with ``params`` the
                    value returned by the ``rng`` callable.
        rng: callable with signature ``rng(sample: dict) -> dict`` that
             returns a dict of parameters applied to transforms

    Raises:
        TypeError: the reader has no random access
    """

    def __init__(self, reader, transforms=None, rng=None):
        _random_access(reader, 'Dataset')
        DatasetBase.__init__(self, reader, transforms, rng)

    def __getitem__(self, index):
        """
        Returns the transformed sample at ``index``.

        Raises:
            IndexError: index out of range
        """
        return self.transform(self.reader.get(operator.index(index)))

    def __getitems__(self, indices):
        """
        Returns the list of transformed samples at ``indices``
        (used by the ``DataLoader`` to fetch a batch).

        Raises:
            IndexError: an index is out of range
        """
        gather = getattr(self.reader, '_gather', None)
        if gather is None:
            get = self.reader.get
            samples = [get(operator.index(i)) for i in indices]
        else:
            idx = np.asarray(indices, dtype=np.int64).reshape(-1)
            n = len(self.reader)
            if len(idx):
                idx = np.where(idx < 0, idx + n, idx)
                bad = (idx < 0) | (idx >= n)
                if bad.any():
                    raise IndexError(
                        f'index {np.asarray(indices).reshape(-1)[bad][0]} '
                        f'out of range for length {n} reader'
                    )
            samples = list(gather(idx))
        transform = self.transform
        if transform is _noop:
            return samples
        return [transform(s) for s in samples]


# shared state slots of IterableDataset (an int64 tensor in shared memory)
_EPOCH, _START, _SEED, _GEN, _CUR_EPOCH, _CUR_START, _ITER_GEN = range(7)
_STATE_SLOTS = 7


def _resolve(reader):
    """
    Split ``reader`` into (base reader, index offset, length, shuffler).
    Accepted: Reader, Range(Reader), Shuffler/QuasiShuffler(Reader or
    Range(Reader)).
    """
    shuffler = None
    inner = reader
    if isinstance(inner, (Shuffler, QuasiShuffler)):
        shuffler = inner
        inner = inner.reader
    offset = 0
    length = None
    if isinstance(inner, Range):
        offset = inner.start
        length = len(inner)
        inner = inner.reader
    if isinstance(inner, Augment) or not callable(getattr(inner, 'get', None)) \
            or not callable(getattr(inner, 'iter', None)):
        raise TypeError(
            f'IterableDataset cannot read {type(reader).__name__}: it needs a '
            'reader with random access (a Reader such as MsgpackReader), '
            'optionally wrapped in one Shuffler or QuasiShuffler and/or a '
            'Range. Cycler and Repeater change what an epoch is; iterate '
            'over several epochs instead'
        )
    if length is None:
        length = len(inner)
    return inner, offset, length, shuffler


def _distributed(group):
    dist = getattr(torch, 'distributed', None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


# noinspection PyAbstractClass
class IterableDataset(DatasetBase, _TorchIterableDataset):
    """
    Implementation of ``torch.utils.data.IterableDataset`` to use
    with datadings readers.

    **Sharding.** With distributed training the data is divided among
    ``world_size * num_workers`` dataloader workers; ranks and world size
    come from ``torch.distributed`` when it is initialised (``group``
    selects the process group). Each epoch has a global order: the
    sample indices in file order, or with ``shuffle=True`` a permutation
    derived from ``(seed, epoch)`` only, identical on every rank whatever
    the number of ranks or workers. The order is dealt in blocks of
    ``batch_size`` samples: global block ``b`` goes to rank
    ``b % world_size``, and the rank's ``j``-th block to worker
    ``j % num_workers``. The ``DataLoader`` collects batches from its
    workers round-robin, so the first ``k`` batches it yields on all ranks
    together are exactly the first ``k * batch_size * world_size`` samples
    of the epoch's order, whatever ``num_workers`` is (pass the
    ``DataLoader``'s ``batch_size``; with ``batch_size=None`` blocks are
    single samples and this holds only with ``num_workers`` 0 or 1).

    **Equal batch counts.** Every rank yields the same number of batches,
    so collective operations cannot deadlock. When the samples do not fill
    the last round of ``batch_size * world_size``, ``drop_last=False``
    (default) splits the rest evenly among the ranks, padding it with
    fewer than ``world_size`` samples taken from the start of the epoch's
    order (as ``DistributedSampler`` does); each rank's last batch may then
    be smaller than ``batch_size``. ``drop_last=True`` drops the rest:
    all batches are full and no sample repeats, but up to
    ``batch_size * world_size - 1`` samples are skipped per epoch.

    **Epochs.** Call :py:meth:`set_epoch` before each epoch (like
    ``DistributedSampler.set_epoch``); the value reaches persistent workers
    too, since the dataset keeps its state in shared memory. Without it,
    the epoch advances by one per iteration in the main process
    (``num_workers=0``) and with ``persistent_workers=True``, as in the
    reference; fresh (non-persistent) workers would repeat the epoch.

    **Resumption.** ``state_dict(samples_seen)`` returns the epoch, the
    number of samples of the epoch's order seen by all ranks together and
    the seed; after :py:meth:`load_state_dict` the next iteration continues
    that epoch with exactly the samples not seen yet, in the same order,
    even if ``num_workers`` or the number of ranks changed.

    **Shuffling readers.** The reader may be wrapped in a
    :py:class:`~datadings_like.reader.Shuffler` or
    :py:class:`~datadings_like.reader.QuasiShuffler` (its seed and order
    for pass ``epoch`` define the epoch's order; its current position is
    ignored) or a :py:class:`~datadings_like.reader.Range`. Other augments
    are refused.

    Example usage with the PyTorch ``DataLoader``::

        path = '.../train.msgpack'
        batch_size = 256
        reader = MsgpackReader(path)
        transforms = {'image': Compose(
            CompressedToPIL(),
            ...,
            ToTensor(),
        )}
        ds = IterableDataset(
            reader,
            transforms=transforms,
            batch_size=batch_size,
            shuffle=True,
        )
        train = DataLoader(
            dataset=ds,
            batch_size=batch_size,
            num_workers=4,
            persistent_workers=True,
        )
        for epoch in range(3):
            print('Epoch', epoch)
            ds.set_epoch(epoch)
            for x, y in dict2tuple(tqdm(train)):
                pass

    Parameters:
        reader: the datadings reader instance
        transforms: Transforms applied to samples before they are returned.
                    Either a dict of transform functions or callable with
                    signature ``f(sample: dict) -> dict`` that is applied
                    directly to samples.
                    In the dict form keys correspond to keys in the sample
                    and values are callables with signature
                    ``t(value: any, params: dict) -> any`` (e.g., an
                    instance of :py:class:`Compose`) with ``params`` the
                    value returned by the ``rng`` callable.
        rng: callable with signature ``rng(sample: dict) -> dict`` that
             returns a dict of parameters applied to transforms
        batch_size: same batch size as given to the ``DataLoader``
        epoch: starting epoch, zero indexed; only relevant when resuming
        copy: see :py:meth:`datadings_like.reader.reader.Reader.iter`
        chunk_size: see :py:meth:`datadings_like.reader.reader.Reader.iter`
        group: distributed process group to use (if not using the default)
        shuffle: if True, every epoch visits a random permutation
                 derived from ``seed`` and the epoch
        seed: seed for ``shuffle`` (0 <= seed < 2**63)
        drop_last: if False, pad the last round so every rank gets
                   the same number of batches; if True, drop it

    Attributes:
        rank: rank of this process in ``group``
        world_size: number of ranks in ``group``

    Raises:
        TypeError: the reader cannot be read by index
        ValueError: invalid batch_size, chunk_size, epoch or seed, or
                    ``shuffle=True`` with a reader that already shuffles
    """

    def __init__(
            self,
            reader,
            transforms=None,
            rng=None,
            batch_size=None,
            epoch=0,
            copy=True,
            chunk_size=16,
            group=None,
            shuffle=False,
            seed=0,
            drop_last=False,
    ):
        base, offset, length, shuffler = _resolve(reader)
        DatasetBase.__init__(self, reader, transforms, rng)
        if shuffle and shuffler is not None:
            raise ValueError(
                f'the reader is already a {type(shuffler).__name__}; pass the '
                'plain reader with shuffle=True, or keep the shuffler and '
                'use shuffle=False'
            )
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f'batch_size must be a positive int or None, not {batch_size!r}')
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be positive, not {chunk_size}')
        _check_epoch(epoch)
        _check_seed(seed)
        self._base = base
        self._offset = offset
        self._n = length
        self._shuffler = shuffler
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.copy = copy
        self.chunk_size = chunk_size
        self.rank, self.world_size = _distributed(group)
        # state shared with DataLoader workers (also persistent ones):
        # set_epoch/load_state_dict write the "set" slots, every iteration
        # records what it used in the "current" slots
        state = torch.zeros(_STATE_SLOTS, dtype=torch.int64)
        state[_EPOCH] = epoch
        state[_SEED] = seed
        state[_CUR_EPOCH] = epoch
        state[_ITER_GEN] = -1
        try:
            state = state.share_memory_()
        except RuntimeError as exc:  # pragma: no cover - no shared memory
            warnings.warn(
                f'cannot put the dataset state in shared memory ({exc}); '
                'set_epoch and load_state_dict will not reach DataLoader '
                'workers that already run', stacklevel=2,
            )
        self._state = state
        self._last = None  # (generation, epoch) of this copy's last iteration
        self._order_cache = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state['_order_cache'] = None
        return state

    # ------------------------------------------------------------- state

    def _snapshot(self):
        return self._state.tolist()

    @property
    def _block(self):
        return self.batch_size or 1

    @property
    def seed(self):
        """Seed of the shuffled order (changed by :py:meth:`load_state_dict`)."""
        return self._snapshot()[_SEED]

    @property
    def epoch(self):
        """
        The epoch of the current (or last) iteration, or, after
        :py:meth:`set_epoch` or :py:meth:`load_state_dict`, the epoch the
        next iteration will use. Assigning to it calls :py:meth:`set_epoch`.
        """
        s = self._snapshot()
        return s[_EPOCH] if s[_ITER_GEN] != s[_GEN] else s[_CUR_EPOCH]

    @epoch.setter
    def epoch(self, epoch):
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        """
        Set the epoch the next iteration uses (call it before each epoch).
        The next iteration visits the whole epoch, unless a state loaded
        with :py:meth:`load_state_dict` for the same epoch was not iterated
        yet: then that epoch is resumed where it stopped.

        Parameters:
            epoch: epoch number, zero indexed

        Raises:
            ValueError: epoch is negative
        """
        _check_epoch(epoch)
        s = self._snapshot()
        if s[_ITER_GEN] != s[_GEN] and s[_EPOCH] == epoch:
            return  # pending, not yet iterated: keep a loaded position
        self._write_set(epoch, 0, s[_SEED], s)

    def _write_set(self, epoch, start, seed, s):
        state = self._state
        state[_EPOCH] = epoch
        state[_START] = start
        state[_SEED] = seed
        state[_GEN] = s[_GEN] + 1

    def _exhausted(self, seen):
        remaining = self._n - seen
        if self.drop_last:
            return remaining < self._block * self.world_size
        return remaining <= 0

    def state_dict(self, samples_seen=0, from_beginning=False):
        """
        The position in the current epoch, for checkpoints.

        Parameters:
            samples_seen: samples consumed by all ranks together since the
                current iteration began (e.g. ``batches * batch_size *
                world_size``); counts beyond the epoch are fine
            from_beginning: if True, ``samples_seen`` counts from the start
                of the epoch rather than from where this iteration resumed

        Returns:
            ``{'epoch': int, 'samples_seen': int, 'seed': int}``, where
            ``samples_seen`` counts from the start of the epoch; a finished
            epoch gives the next epoch and ``samples_seen=0``.

        Raises:
            ValueError: samples_seen is negative
        """
        samples_seen = operator.index(samples_seen)
        if samples_seen < 0:
            raise ValueError(f'samples_seen must not be negative, not {samples_seen}')
        s = self._snapshot()
        if s[_ITER_GEN] != s[_GEN]:
            epoch, start = s[_EPOCH], s[_START]
        else:
            epoch, start = s[_CUR_EPOCH], s[_CUR_START]
        seen = samples_seen if from_beginning else start + samples_seen
        seen = min(seen, self._n)
        if seen > 0 and self._exhausted(seen):
            epoch, seen = epoch + 1, 0
        return {'epoch': epoch, 'samples_seen': seen, 'seed': s[_SEED]}

    def load_state_dict(self, state):
        """
        Resume from a state returned by :py:meth:`state_dict`: the next
        iteration continues its epoch with the samples not yet seen, in
        the same order (the number of workers or ranks may differ).

        Parameters:
            state: dict with ``epoch``, ``samples_seen`` and ``seed``

        Raises:
            KeyError: a key is missing
            ValueError: a value is out of range
        """
        epoch = operator.index(state['epoch'])
        seen = operator.index(state['samples_seen'])
        seed = operator.index(state['seed'])
        _check_epoch(epoch)
        _check_seed(seed)
        if seen < 0:
            raise ValueError(f'samples_seen must not be negative, not {seen}')
        self._write_set(epoch, min(seen, self._n), seed, self._snapshot())

    # --------------------------------------------------------- iteration

    def _begin(self):
        """Decide epoch and start of the iteration that begins now."""
        s = self._snapshot()
        gen = s[_GEN]
        last = self._last
        if get_worker_info() is None:
            # main process: iterations never overlap, so a set/loaded state
            # that was iterated already (here or by workers) is used up
            if s[_ITER_GEN] != gen:
                epoch, start = s[_EPOCH], s[_START]
            else:
                epoch, start = s[_CUR_EPOCH] + 1, 0
        elif last is None or last[0] != gen:
            # fresh worker, or a persistent one after set_epoch/load_state_dict
            epoch, start = s[_EPOCH], s[_START]
        else:
            # persistent worker, nothing set since its last iteration
            epoch, start = last[1] + 1, 0
        seed = s[_SEED]
        self._last = (gen, epoch)
        state = self._state
        state[_CUR_EPOCH] = epoch
        state[_CUR_START] = start
        state[_ITER_GEN] = gen
        return epoch, start, seed

    def _epoch_order(self, epoch, seed):
        """Sample indices of the epoch in order, or None for file order."""
        if self._shuffler is None and not self.shuffle:
            return None
        cache = self._order_cache
        if cache is not None and cache[0] == (epoch, seed):
            return cache[1]
        if self._shuffler is not None:
            # the order the shuffler uses for its pass number ``epoch``
            order = np.asarray(self._shuffler.epoch_order(epoch), dtype=np.int64)
        else:
            order = np.random.default_rng([seed, epoch]).permutation(self._n)
        self._order_cache = ((epoch, seed), order)
        return order

    def _worker(self):
        info = get_worker_info()
        if info is None:
            return 1, 0
        return info.num_workers, info.id

    def _indices(self, epoch, start, seed, num_workers, worker):
        """Reader indices this worker yields."""
        pos = _deal(self._n, start, self._block, self.world_size, self.rank,
                    num_workers, worker, self.drop_last)
        order = self._epoch_order(epoch, seed)
        if order is not None:
            pos = order[pos]
        return pos + self._offset, order is None

    def __len__(self):
        """
        Number of samples this rank yields in the next iteration
        (or the one that was set or loaded and not yet iterated).
        """
        s = self._snapshot()
        start = s[_START] if s[_ITER_GEN] != s[_GEN] else 0
        return _rank_count(self._n, start, self._block, self.world_size, self.drop_last)

    def __iter__(self):
        epoch, start, seed = self._begin()
        num_workers, worker = self._worker()
        indices, contiguous = self._indices(epoch, start, seed, num_workers, worker)
        samples = self._read(indices, contiguous)
        if self.transform is _noop:
            return samples
        return map(self.transform, samples)

    def _read(self, indices, contiguous):
        reader = self._base
        copy = self.copy
        if not len(indices):
            return iter(())
        if contiguous:
            cuts = np.flatnonzero(np.diff(indices) != 1) + 1
            starts = indices[np.concatenate(([0], cuts))].tolist()
            stops = (indices[np.concatenate((cuts - 1, [len(indices) - 1]))] + 1).tolist()
            return self._read_runs(reader, starts, stops, copy)
        return self._read_gather(reader, indices, copy)

    def _read_runs(self, reader, starts, stops, copy):
        chunk_size = self.chunk_size
        for a, b in zip(starts, stops):
            yield from reader.iter(a, b, copy=copy, chunk_size=chunk_size)

    def _read_gather(self, reader, indices, copy):
        gather = getattr(reader, '_gather', None)
        step = max(_GATHER, self.chunk_size)
        for a in range(0, len(indices), step):
            chunk = indices[a:a + step]
            if gather is not None:
                yield from gather(chunk, copy=copy)
            else:
                get = reader.get
                for i in chunk.tolist():
                    yield get(i, copy=copy)


def _check_epoch(epoch):
    if operator.index(epoch) < 0:
        raise ValueError(f'epoch must not be negative, not {epoch}')


def _check_seed(seed):
    seed = operator.index(seed)
    if not 0 <= seed < 2 ** 63:
        raise ValueError(f'seed must be in [0, 2**63), not {seed}')
