"""
PyTorch adapter of :py:class:`~datadings_like.stream.Stream`: batches of
tensors, used instead of a ``DataLoader`` or inside one.

Instead of a DataLoader (the stream's own workers do the work)::

    for batch in stream.torch():
        images, labels = batch['image'], batch['label']   # torch.Tensor

Inside a DataLoader (its workers do the work; each DataLoader worker takes
every ``num_workers``-th batch, and the DataLoader yields them in the
stream's order again). Pass ``batch_size=None``, since the stream batches::

    loader = DataLoader(stream.torch(), batch_size=None, num_workers=4,
                        persistent_workers=True)
    for epoch in range(epochs):
        loader.dataset.set_epoch(epoch)
        for batch in loader:
            ...

In DataLoader workers the stream transforms in the worker itself (its own
``workers`` are not started). Call :py:meth:`TorchStream.set_epoch` before
every epoch, as for a ``DistributedSampler``: the DataLoader's workers hold
copies of the stream, which do not know what the others did.

Arrays become tensors without a copy (``torch.from_numpy``); lists (e.g.
``'key'``) stay lists.

This module needs PyTorch; :py:mod:`datadings_like.stream` itself does not.
"""
from ..tools.extras import install_hint

try:
    import torch
    from torch.utils.data import IterableDataset as _TorchIterableDataset
    from torch.utils.data import get_worker_info
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        'datadings_like.stream.torch needs PyTorch, which is not installed '
        f'({_exc}); install it with: {install_hint("torch", "torch")} '
        '(see https://pytorch.org/get-started/)'
    ) from _exc

import numpy as np

__all__ = ('TorchStream', 'to_tensors')

# slots of the state shared with DataLoader workers
_GEN, _EPOCH, _START, _SEED = range(4)


def _tensor(value, pin_memory):
    if isinstance(value, np.ndarray):
        if value.dtype.kind in 'biufc':
            t = torch.from_numpy(value if value.flags.writeable else value.copy())
            return t.pin_memory() if pin_memory else t
        return value
    if isinstance(value, np.generic) and value.dtype.kind in 'biufc':
        return torch.as_tensor(value)
    return value


def to_tensors(batch, pin_memory=False):
    """
    The arrays of a batch (or sample) dict as tensors.

    Parameters:
        batch: dict of numpy arrays and other values
        pin_memory: pin the tensors' memory (only where a GPU is available)

    Returns:
        dict with ``torch.Tensor`` for numeric arrays, other values as they are
    """
    pin = bool(pin_memory) and torch.cuda.is_available()
    return {k: _tensor(v, pin) for k, v in batch.items()}


class TorchStream(_TorchIterableDataset):
    """
    A ``torch.utils.data.IterableDataset`` of a stream's batches as
    tensors (see the module documentation).

    Parameters:
        stream: the :py:class:`~datadings_like.stream.Stream`
        pin_memory: pin the tensors' memory (only where a GPU is available)
    """

    def __init__(self, stream, pin_memory=False):
        self.stream = stream
        self.pin_memory = bool(pin_memory)
        state = torch.tensor([0, stream.epoch, 0, stream.seed], dtype=torch.int64)
        self._shared = state.share_memory_()
        self._seen = 0  # generation of the shared state this copy follows

    def _publish(self):
        state = self.stream.state_dict()
        self._shared[_EPOCH] = self.stream.epoch
        self._shared[_START] = self.stream._start
        self._shared[_SEED] = state['seed']
        self._shared[_GEN] += 1
        self._seen = int(self._shared[_GEN])

    def set_epoch(self, epoch):
        """Start the next iteration (also in DataLoader workers) at the beginning of ``epoch``."""
        self.stream.set_epoch(epoch)
        self._publish()

    def load_state_dict(self, state):
        """Continue from a :py:meth:`state_dict` (also in DataLoader workers)."""
        self.stream.load_state_dict(state)
        self._publish()

    def state_dict(self, batches_seen=None):
        """
        The position in the epoch, for checkpoints.

        Parameters:
            batches_seen: with a DataLoader: batches it yielded since the
                last :py:meth:`set_epoch` or :py:meth:`load_state_dict` (the
                stream in this process does not see them); without one,
                leave it None

        Returns:
            ``{'epoch': int, 'samples_seen': int, 'seed': int}``
        """
        if batches_seen is None:
            return self.stream.state_dict()
        s = self._shared.tolist()
        stream = self.stream
        per_round = (stream.batch_size or 1) * stream.world_size
        seen = min(stream.epoch_length, s[_START] + int(batches_seen) * per_round)
        epoch = s[_EPOCH]
        if seen and stream._finished(seen):
            epoch, seen = epoch + 1, 0
        return {'epoch': epoch, 'samples_seen': seen, 'seed': s[_SEED]}

    def __len__(self):
        """Batches per epoch on this rank."""
        return len(self.stream)

    def __iter__(self):
        info = get_worker_info()
        stream = self.stream
        if info is None:
            batches = stream._iterate()
        else:
            s = self._shared.tolist()
            if s[_GEN] != self._seen:
                self._seen = s[_GEN]
                stream.load_state_dict({'epoch': s[_EPOCH], 'samples_seen': s[_START],
                                        'seed': s[_SEED]})
            batches = stream._iterate(stride=info.num_workers, offset=info.id, inprocess=True)
        pin = self.pin_memory
        for batch in batches:
            yield to_tensors(batch, pin) if isinstance(batch, dict) else batch
