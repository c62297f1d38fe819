"""
Read samples that are held in a list of dicts, e.g. before conversion.

:py:class:`ListReader` is also the base of
:py:class:`~datadings_like.reader.directory.DirectoryReader` and
:py:class:`~datadings_like.reader.zipfile.ZipFileReader`.
"""
from os import PathLike
from pathlib import Path
from typing import Callable
from typing import Iterable
from typing import Optional
from typing import Sequence
from typing import Union

from natsort import natsorted

from ..msgpack import packb
from .reader import Reader

__all__ = ('ListReader', 'load_lines', 'noop', 'sorted_labels')


def noop(_):
    """Does nothing; the default ``initfun`` and ``convertfun``."""


def load_lines(path):
    """
    Read a UTF-8 text file and return its non-empty lines.

    Line endings (``\\n`` and ``\\r\\n``) are removed, other whitespace is
    kept, since it may be part of a label.

    Parameters:
        path: path to the text file

    Returns:
        list of lines (str)

    Raises:
        FileNotFoundError: file does not exist
    """
    with open(path, encoding='utf-8') as f:
        lines = (line.rstrip('\r\n') for line in f)
        return [line for line in lines if line]


def _is_multi(label):
    return isinstance(label, (list, tuple))


def sorted_labels(samples):
    """
    Collect the labels of all samples and return them natsorted.

    Samples without a ``"label"`` are ignored.
    If a label is a list or tuple (multi-label sample),
    each element counts as a label.
    Sorting uses :py:func:`natsort.natsorted`, so ``'2'`` comes before
    ``'10'``.

    Parameters:
        samples: iterable of sample dicts

    Returns:
        natsorted list of distinct labels

    Raises:
        ValueError: a label is ``None``; ``None`` cannot be sorted,
            the list of labels must be given to use it
        TypeError: a label is not hashable
    """
    labels = set()
    for sample in samples:
        try:
            label = sample['label']
        except KeyError:
            continue
        values = label if _is_multi(label) else (label,)
        for value in values:
            if value is None:
                raise ValueError(
                    f'sample {sample.get("key", "")!r} has None as label; labels '
                    'must be given to the reader to use None'
                )
            try:
                labels.add(value)
            except TypeError:
                raise TypeError(
                    f'sample {sample.get("key", "")!r} has an unhashable label '
                    f'of type {type(value).__name__}: {value!r}'
                ) from None
    return natsorted(labels)


def _call(fun, sample):
    """Apply ``fun`` to sample in place; a returned dict replaces it."""
    result = fun(sample)
    return sample if result is None else result


class ListReader(Reader):
    """
    Reader that holds a list of samples.
    Functions can be given to load data on the fly and/or perform further
    conversion steps.

    Two special keys ``"key"`` and ``"label"`` in samples are used:

    - ``"key"`` is a unique identifier for samples.
      The sample index (as ``str``) is used if it is missing.
    - ``"label"`` holds an optional label.
      Replaced by a numeric index to the list of labels if
      ``numeric_labels`` is true.
      The original label is retained as ``"_label"``.
      A list or tuple of labels (multi-label sample) becomes a list
      of indices.
      Samples without ``"label"`` are left as they are.

    Note:
        If ``labels`` argument is not given, the list of all labels will be
        extracted from all samples.
        The list of all labels is ``natsorted`` to determine numerical
        labels, e.g., ``'2'`` comes before ``'10'``.
        The list is available as the ``labels`` attribute.

    Note:
        ``initfun`` is applied to the samples during initialization and
        its changes thus remain for the life of the reader.
        ``convertfun`` is applied to a shallow copy of the sample every time
        before it is returned.
        Both modify the sample in place; if they return something other
        than ``None`` it replaces the sample.
        The reader keeps shallow copies of the given samples, so the
        caller's dicts are never modified.

    Important:
        Since ``None`` is not sortable, the ``labels`` argument must be given
        to use ``None`` as a label.

    Parameters:
        samples: Sequence of samples (dicts).
            Must be indexable, so no generators or one-time iterators.
        labels: Optional. List of labels in desired order, or path to file
            with one label per line (see :py:func:`load_lines`).
            If ``None``, get ``"label"`` keys from samples, if any, and sort.
        numeric_labels: If true, convert labels to numeric index to list of
            all labels.
        initfun: Callable ``initfun(sample: dict)`` to modify samples
            in-place during initialization.
        convertfun: Callable ``convertfun(sample: dict)`` to modify a
            shallow copy of samples in-place before they are returned.

    Raises:
        TypeError: a sample is not a dict
        ValueError: a label is not in the given list of labels, the list of
            labels has duplicates, or a label is ``None`` and no labels were
            given
    """

    def __init__(
            self,
            samples: Sequence[dict],
            labels: Optional[Union[Iterable, Path]] = None,
            numeric_labels=True,
            initfun: Callable = noop,
            convertfun: Callable = noop,
    ):
        super().__init__()
        self._convertfun = convertfun
        self._numeric_labels = numeric_labels
        self._index = None
        copies = []
        for i, sample in enumerate(samples):
            if not isinstance(sample, dict):
                raise TypeError(f'sample {i} must be a dict, not {type(sample).__name__}')
            sample = _call(initfun, dict(sample))
            if 'key' not in sample:
                sample['key'] = str(i)
            copies.append(sample)
        self._samples = copies
        if labels is None:
            labels = sorted_labels(copies)
        elif isinstance(labels, (str, PathLike)):
            labels = load_lines(labels)
        else:
            labels = list(labels)
        self.labels = labels
        if numeric_labels:
            self._convert_labels()

    def _convert_labels(self):
        index = {}
        for i, label in enumerate(self.labels):
            if label in index:
                raise ValueError(f'label {label!r} appears more than once in the list of labels')
            index[label] = i

        def lookup(value, sample):
            try:
                return index[value]
            except (KeyError, TypeError):
                raise ValueError(
                    f'sample {sample["key"]!r} has label {value!r}, which is not '
                    f'in the list of {len(index)} labels'
                ) from None

        for sample in self._samples:
            if 'label' not in sample:
                continue
            label = sample['label']
            if _is_multi(label):
                sample['label'] = [lookup(v, sample) for v in label]
            else:
                sample['label'] = lookup(label, sample)
            sample['_label'] = label

    # ----------------------------------------------------------------- state

    def __len__(self):
        return len(self._samples)

    def __exit__(self, exc_type, exc_val, exc_tb):
        pass

    def _key_index(self):
        index = self._index
        if index is None:
            index = {}
            for i, sample in enumerate(self._samples):
                key = sample['key']
                if key in index:
                    raise ValueError(
                        f'duplicate key {key!r} (samples {index[key]} and {i})'
                    )
                index[key] = i
            self._index = index
        return index

    def __contains__(self, key):
        try:
            return key in self._key_index()
        except TypeError:  # unhashable key
            return False

    def find_key(self, index):
        """
        Returns the key of the sample with the given index.

        Raises:
            IndexError: index out of range
        """
        return self._samples[self._normalize_index(index)]['key']

    def find_index(self, key):
        """
        Returns the index of the sample with the given key.
        The lookup table is built on first use.

        Raises:
            KeyError: no sample has this key
            ValueError: two samples have the same key
        """
        try:
            return self._key_index()[key]
        except TypeError:  # unhashable key
            raise KeyError(key) from None

    # ---------------------------------------------------------------- access

    def _load(self, sample, index):
        """Hook for subclasses: add data to the copy of sample ``index``
        before ``convertfun`` sees it."""
        return sample

    def _get(self, index, yield_key, raw):
        stored = self._samples[index]
        sample = _call(self._convertfun, self._load(dict(stored), index))
        if raw:
            sample = packb(sample)
        if yield_key:
            return stored['key'], sample
        return sample

    def get(self, index, yield_key=False, raw=False, copy=True):
        """
        Returns sample at given index.

        ``copy`` has no effect; samples are always returned as new objects.

        Parameters:
            index: Index of the sample
            yield_key: If True, returns (key, sample)
            raw: If True, returns sample as msgpacked message
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of ``bytes``

        Returns:
            Sample as index.

        Raises:
            IndexError: index out of range
        """
        return self._get(self._normalize_index(index), yield_key, raw)

    def slice(self, start, stop=None, yield_key=False, raw=False, copy=True):
        """
        Returns a generator of samples selected by the given slice.

        ``copy`` has no effect; samples are always returned as new objects.

        Parameters:
            start: start index of slice
            stop: stop index of slice
            yield_key: if True, yield (key, sample)
            raw: if True, returns sample as msgpacked message
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of ``bytes``

        Returns:
            Iterator of selected samples
        """
        start, stop, _ = slice(start, stop).indices(len(self._samples))
        return (self._get(i, yield_key, raw) for i in range(start, stop))
