"""The abstract :py:class:`Reader` every dataset reader derives from."""
from abc import ABCMeta
from abc import abstractmethod
import operator

__all__ = ('Reader',)


def _index_type_error(reader, index):
    """The error for ``reader[index]`` with an index that is not a position."""
    name = type(reader).__name__
    if isinstance(index, (str, bytes)):
        return TypeError(
            f'{name} indices are sample positions (int) or slices, not '
            f'{type(index).__name__} ({index!r}); look keys up with '
            f'reader.find_index({index!r}) (then reader[i]) or reader.seek_key({index!r})'
        )
    return TypeError(f'{name} indices must be int or slice, not {type(index).__name__}')


def _counted(iterable):
    """
    ``(iterator, consumed)``: the items of ``iterable`` and a function that
    tells how many of them the iterator has yielded (an item whose
    production raised is not counted).
    """
    count = [0]

    def items():
        for item in iterable:
            count[0] += 1
            yield item
    return items(), lambda: count[0]


class Reader(metaclass=ABCMeta):
    """
    Abstract base class for dataset readers.

    Readers should be used as context managers::

        with Reader(...) as reader:
            for sample in reader:
                [do dataset things]

    A reader has a current index. Iteration starts at the current index
    and, once the end was reached, starts again from the beginning.
    :py:meth:`next`, :py:meth:`seek` and iteration move it; the most recent
    ``iter()`` moves it as its samples are consumed, until the next
    :py:meth:`seek` or ``iter()``.

    Subclasses must implement the following methods:

    * ``__exit__``
    * ``__len__``
    * ``__contains__``
    * ``find_key``
    * ``find_index``
    * ``get``
    * ``slice``
    """
    _do_not_copy = ()
    _owner = None  # token of the iteration that moves the position

    def __init__(self):
        self._i = 0

    @abstractmethod
    def __len__(self):
        """Number of samples."""

    @abstractmethod
    def __contains__(self, key):
        """True if a sample with the given key exists."""

    def __enter__(self):
        return self

    @abstractmethod
    def __exit__(self, exc_type, exc_val, exc_tb):
        """Release resources such as open files."""

    def close(self):
        """Release resources such as open files (same as leaving ``with``)."""
        self.__exit__(None, None, None)

    def __copy__(self):
        cls = self.__class__
        reader = cls.__new__(cls)
        reader.__dict__.update(
            (k, v) for k, v in self.__dict__.items()
            if k not in cls._do_not_copy
        )
        return reader

    @abstractmethod
    def find_key(self, index):
        """
        Returns the key of the sample with the given index.
        """

    @abstractmethod
    def find_index(self, key):
        """
        Returns the index of the sample with the given key.

        Raises:
            KeyError: no sample has this key
        """

    def _normalize_index(self, index):
        n = len(self)
        if index < 0:
            index += n
        if index < 0 or index >= n:
            raise IndexError(f'index {index} out of range for length {n} reader')
        return index

    def seek_index(self, index):
        """
        Seek to the given index.

        Raises:
            IndexError: index out of range
        """
        self._i = self._normalize_index(index)
        self._owner = None

    def seek(self, index):
        """
        Seek to the given index.
        Alias for ``seek_index``.
        """
        self.seek_index(index)

    def seek_key(self, key):
        """
        Seek to the sample with the given key.

        Raises:
            KeyError: no sample has this key
        """
        self.seek_index(self.find_index(key))

    @abstractmethod
    def get(self, index, yield_key=False, raw=False, copy=True):
        """
        Returns sample at given index.

        ``copy=False`` allows the reader to use zero-copy mechanisms.
        Data may be returned as ``memoryview`` objects rather than ``bytes``.
        This can improve performance, but also drastically increase memory
        consumption, since one sample can keep the whole slice in memory.

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

    @abstractmethod
    def slice(self, start, stop=None, yield_key=False, raw=False, copy=True):
        """
        Returns a generator of samples selected by the given slice.

        ``copy=False`` allows the reader to use zero-copy mechanisms.
        Data may be returned as ``memoryview`` objects rather than ``bytes``.
        This can improve performance, but also drastically increase memory
        consumption, since one sample can keep the whole slice in memory.

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

    def next(self):
        """
        Returns the next sample.

        This can be slow for file-based readers if a lot of
        samples are to be read.
        Consider using ``iter`` instead::

            it = iter(reader)
            while 1:
                next(it)
                ...

        Or simply loop over the reader::

            for sample in reader:
                ...

        Raises:
            StopIteration: the current index is at the end
        """
        return self._next(False)

    def _next(self, raw):
        i = self._i
        if i >= len(self):
            raise StopIteration
        sample = self.get(i, raw=raw)
        self._i = i + 1
        return sample

    def __next__(self):
        return self.next()

    def rawnext(self) -> bytes:
        """
        Return the next sample msgpacked as raw bytes.

        Included for backwards compatibility and may be deprecated and
        subsequently removed in the future.

        Raises:
            StopIteration: the current index is at the end
        """
        return self._next(True)

    def __getitem__(self, index):
        """
        ``reader[i]`` returns sample ``i`` (negative counts from the end);
        ``reader[a:b:step]`` returns a list of samples.
        Keys are not indices: look them up with :py:meth:`find_index`
        or :py:meth:`seek_key`.

        Raises:
            IndexError: index out of range
            TypeError: index is neither an int nor a slice (e.g. a key)
        """
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return list(self.slice(start, stop)) if stop > start else []
            return [self.get(i) for i in range(start, stop, step)]
        try:
            index = operator.index(index)
        except TypeError:
            raise _index_type_error(self, index) from None
        return self.get(index)

    def _iter_range(self, start, stop):
        n = len(self)
        if start is None:
            if self._i >= n:
                self._i = 0
            start = self._i
        elif n or start:
            start = self._normalize_index(start)
        start, stop, _ = slice(start, stop).indices(n)
        return start, max(start, stop)

    def _iter_impl(self, start, stop, yield_key, raw, copy, chunk_size):
        self._i = start
        owner = self._owner = object()
        return self._iter_owned(owner, start, stop, yield_key, raw, copy, chunk_size)

    def _iter_owned(self, owner, start, stop, yield_key, raw, copy, chunk_size):
        i = start
        for a in range(start, stop, chunk_size):
            for sample in self.slice(a, min(a + chunk_size, stop), yield_key, raw, copy):
                i += 1
                # a seek or a newer iteration owns the position now
                if self._owner is owner:
                    self._i = i
                yield sample

    def iter(
            self,
            start=None,
            stop=None,
            yield_key=False,
            raw=False,
            copy=True,
            chunk_size=16,
    ):
        """
        Iterate over the dataset.

        ``start`` and ``stop`` behave like the parameters of the
        ``range`` function.
        Without ``start`` iteration begins at the current index,
        or at 0 if the current index is at the end.

        ``copy=False`` allows the reader to use zero-copy mechanisms.
        Data may be returned as ``memoryview`` objects rather than ``bytes``.
        This can improve performance, but also drastically increase memory
        consumption, since one sample can keep the whole slice in memory.

        Parameters:
            start: start of range; if None, current index is used
            stop: stop of range
            yield_key: if True, yields (key, sample) pairs.
            raw: if True, yields samples as msgpacked messages.
            copy: if False, allow the reader to return data as
                  ``memoryview`` objects instead of ``bytes``
            chunk_size: number of samples read at once;
                        bigger values can increase throughput,
                        but require more memory

        Returns:
            Iterator

        Raises:
            IndexError: start out of range
        """
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be positive, not {chunk_size}')
        start, stop = self._iter_range(start, stop)
        return self._iter_impl(start, stop, yield_key, raw, copy, chunk_size)

    def __iter__(self):
        return self.iter()

    def _repr_html_(self):
        """
        HTML grid of the first samples (thumbnail, key, label), shown by
        Jupyter; :py:func:`datadings_like.explore.show` does the same for
        a single sample.
        """
        # imported here: Pillow is loaded only when a notebook shows a reader
        from ._html import reader_html
        return reader_html(self)

    def rawiter(self, yield_key=False):
        """
        Create an iterator that yields samples as msgpacked messages.

        Included for backwards compatibility and may be deprecated and
        subsequently removed in the future.

        Parameters:
            yield_key: If True, yields (key, sample) pairs.

        Returns:
            Iterator
        """
        return self.iter(yield_key=yield_key, raw=True)
