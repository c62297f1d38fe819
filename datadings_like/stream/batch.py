"""
Batches: sample dicts collated into one dict of stacked numpy arrays.

A field whose values are numpy arrays, numpy scalars, bools, ints or floats
in every sample of a batch becomes one array with the batch as its first
axis; any other field (strings such as ``'key'``, bytes, dicts, ``None``)
becomes a list. All samples of a batch must have the same fields, and a
stacked field the same shape in every sample.

:py:func:`layout` and :py:func:`stack_into` let a worker process write
the stacked arrays straight into shared memory (see
:py:mod:`datadings_like.stream.stream`).
"""
import numbers

import numpy as np

__all__ = ('BatchError', 'collate', 'layout', 'stack_into')

_ALIGN = 64


class BatchError(ValueError):
    """Samples of a batch cannot be collated (a field is missing or its shapes differ)."""


def _key(sample, i):
    return sample.get('key', f'#{i} of the batch') if isinstance(sample, dict) else f'#{i}'


def _stackable(value):
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind in 'biufcmM'
    return isinstance(value, numbers.Number)


def _fields(samples):
    """The field names of the batch, in the first sample's order; checks that all agree."""
    first = samples[0]
    if not isinstance(first, dict):
        raise BatchError(f'samples must be dicts to be batched, not {type(first).__name__}')
    names = list(first)
    wanted = set(names)
    for i, sample in enumerate(samples[1:], 1):
        if not isinstance(sample, dict):
            raise BatchError(f'samples must be dicts to be batched, not {type(sample).__name__}')
        if sample.keys() != wanted:
            missing = sorted(map(str, wanted - sample.keys()))
            extra = sorted(map(str, sample.keys() - wanted))
            if missing:
                raise BatchError(
                    f'field {missing[0]!r} is missing in sample {_key(sample, i)!r}, but sample '
                    f'{_key(first, 0)!r} of the same batch has it')
            raise BatchError(
                f'field {extra[0]!r} of sample {_key(sample, i)!r} is missing in sample '
                f'{_key(first, 0)!r} of the same batch')
    return names


def _plan_field(name, values, samples):
    """``(shape, dtype)`` of the stacked field, or None for a list field."""
    if not all(_stackable(v) for v in values):
        return None
    arrays = [np.asarray(v) for v in values]
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise BatchError(
                f'field {name!r} has shape {a.shape} in sample {_key(samples[i], i)!r} but '
                f'{shape} in sample {_key(samples[0], 0)!r} of the same batch; give all samples '
                'the same size (e.g. a Resize, CenterCrop or RandomResizedCrop transform) or '
                'use batch_size=None')
    dtype = np.result_type(*arrays) if len({a.dtype for a in arrays}) > 1 else arrays[0].dtype
    return (len(values),) + shape, dtype, arrays


def layout(samples):
    """
    How a batch of ``samples`` is stored.

    Parameters:
        samples: list of sample dicts

    Returns:
        ``(arrays, lists, nbytes)``: ``arrays`` a list of ``(field, shape,
        dtype, offset, values)`` for the stacked fields, offsets into one
        buffer of ``nbytes`` bytes (aligned to 64 bytes), ``lists`` a dict
        of the other fields' value lists

    Raises:
        BatchError: a field is missing in a sample or has different shapes
    """
    names = _fields(samples)
    arrays = []
    lists = {}
    offset = 0
    for name in names:
        values = [s[name] for s in samples]
        planned = _plan_field(name, values, samples)
        if planned is None:
            lists[name] = values
            continue
        shape, dtype, converted = planned
        arrays.append((name, shape, dtype, offset, converted))
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        offset += -(-size // _ALIGN) * _ALIGN
    return arrays, lists, offset


def stack_into(arrays, buffer):
    """
    Copy the values of :py:func:`layout`'s ``arrays`` into ``buffer``.

    Returns:
        dict of field name to stacked array (views of ``buffer``)
    """
    out = {}
    for name, shape, dtype, offset, values in arrays:
        view = np.ndarray(shape, dtype=dtype, buffer=buffer, offset=offset)
        for i, v in enumerate(values):
            view[i] = v
        out[name] = view
    return out


def collate(samples):
    """
    Collate sample dicts into a batch.

    Parameters:
        samples: non-empty list of sample dicts with the same fields

    Returns:
        dict: stacked numpy arrays for numeric fields, lists for the others,
        in the order of the first sample's fields

    Raises:
        BatchError: a field is missing in a sample or has different shapes
            in two samples (the message names the field and both samples)
    """
    if not samples:
        raise BatchError('cannot collate an empty batch')
    arrays, lists, _ = layout(samples)
    stacked = {}
    for name, shape, dtype, _, values in arrays:
        out = np.empty(shape, dtype=dtype)
        for i, v in enumerate(values):
            out[i] = v
        stacked[name] = out
    return {name: stacked[name] if name in stacked else lists[name] for name in samples[0]}
