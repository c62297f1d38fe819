"""
Dealing an epoch's sample order across distributed ranks and workers.

Pure Python and numpy, no PyTorch: :py:class:`datadings_like.torch.IterableDataset`
and :py:class:`datadings_like.stream.Stream` share these functions, so both
give a rank the same samples for the same epoch order.

The order of an epoch is a sequence of ``n`` positions (``0 .. n-1``). The
positions not yet seen, ``start .. n-1``, are cut into blocks of ``block``
positions (a batch); global block ``b`` goes to rank ``b % world_size`` and,
within the rank, its ``j``-th block to worker ``j % num_workers``. Collected
round-robin from the workers and the ranks, the blocks are the epoch's order
again, whatever the number of ranks and workers.
"""
import os
import sys

import numpy as np

__all__ = ('deal', 'distributed_rank', 'rank_count')


def _last_round(remaining, block, world_size, drop_last):
    """(full rounds, samples per rank of the last incomplete round)."""
    per_round = block * world_size
    full = remaining // per_round
    tail = remaining - full * per_round
    last = 0 if drop_last or not tail else -(-tail // world_size)
    return full, last


def deal(n, start, block, world_size, rank, num_workers, worker, drop_last):
    """
    Positions in the epoch's order (``0 .. n-1``) that one worker of one
    rank yields, in the order it yields them.

    The positions not yet seen, ``start .. n-1``, are cut into blocks of
    ``block`` positions. Global block ``b`` goes to rank ``b % world_size``;
    within the rank its ``j``-th block goes to worker ``j % num_workers``.
    A last incomplete round of ``block * world_size`` positions is either
    dropped (``drop_last``) or split evenly among the ranks, padded (with
    fewer than ``world_size`` positions) by wrapping around to the start of
    the order, so that every rank gets the same number of positions.

    Parameters:
        n: length of the epoch's order
        start: positions already seen (by all ranks together)
        block: positions per block (the batch size; 1 for single samples)
        world_size: number of ranks
        rank: this rank, ``0 <= rank < world_size``
        num_workers: number of workers of the rank
        worker: this worker, ``0 <= worker < num_workers``
        drop_last: drop the last incomplete round instead of padding it

    Returns:
        ``int64`` numpy array of positions
    """
    remaining = max(0, n - start)
    per_round = block * world_size
    full, last = _last_round(remaining, block, world_size, drop_last)
    js = np.arange(worker, full, num_workers, dtype=np.int64)
    pos = (((js * world_size + rank) * block)[:, None]
           + np.arange(block, dtype=np.int64)).reshape(-1)
    if last and full % num_workers == worker:
        a = full * per_round + rank * last
        pos = np.concatenate([pos, np.arange(a, a + last, dtype=np.int64)])
    pos += start
    if last:
        over = pos >= n
        if over.any():
            pos[over] = (pos[over] - n) % n
    return pos


def rank_count(n, start, block, world_size, drop_last):
    """
    Number of positions every rank yields (see :py:func:`deal`).

    Parameters:
        n: length of the epoch's order
        start: positions already seen (by all ranks together)
        block: positions per block
        world_size: number of ranks
        drop_last: drop the last incomplete round instead of padding it

    Returns:
        int
    """
    full, last = _last_round(max(0, n - start), block, world_size, drop_last)
    return full * block + last


def distributed_rank():
    """
    ``(rank, world_size)`` of this process in the default
    ``torch.distributed`` process group if PyTorch was imported and the
    group is initialised, else from the ``RANK`` and ``WORLD_SIZE``
    environment variables that ``torchrun`` sets, else ``(0, 1)``.
    PyTorch is never imported here.

    Returns:
        tuple ``(rank, world_size)``

    Raises:
        ValueError: ``RANK`` or ``WORLD_SIZE`` is set but not a valid number
    """
    torch = sys.modules.get('torch')
    dist = getattr(torch, 'distributed', None)
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    rank = os.environ.get('RANK')
    world_size = os.environ.get('WORLD_SIZE')
    if rank is None or world_size is None:
        return 0, 1
    try:
        rank, world_size = int(rank), int(world_size)
    except ValueError:
        raise ValueError(f'environment variables RANK={rank!r} and WORLD_SIZE={world_size!r} '
                         'must be integers') from None
    if not 0 <= rank < world_size:
        raise ValueError(f'environment variable RANK={rank} is not in [0, WORLD_SIZE={world_size})')
    return rank, world_size
