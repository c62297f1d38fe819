"""
Read samples from the files in a ZIP file, without extracting it.
"""
from pathlib import Path
from typing import Callable
from typing import Sequence
from typing import Union
import os
import zipfile as _zipfile

from .directory import _Pattern
from .directory import _is_glob
from .directory import _list_sample
from .directory import _normalize_patterns
from .directory import _split_lines
from .directory import check_included
from .list import ListReader
from .list import noop

__all__ = ('ZipFileReader', 'glob_pattern', 'yield_zipfile')


def _member_name(info):
    return info if isinstance(info, str) else info.filename


def _is_dir_member(info):
    if isinstance(info, str):
        return info.endswith('/')
    return info.is_dir()


def glob_pattern(infos, pattern):
    """
    Find members of a ZIP file that match a glob pattern.

    The pattern works like for
    :py:func:`datadings_like.reader.directory.glob_pattern`, with member
    names as paths: ``*``, ``?`` and ``[...]`` match within one path
    component, ``**`` matches any number of directories, wildcards do not
    match names that start with a dot, ``{LABEL}`` marks the level whose
    name is used as label. Directory entries are never returned.

    Parameters:
        infos: :py:class:`zipfile.ZipInfo` objects (or member names),
            e.g. from :py:meth:`zipfile.ZipFile.infolist`
        pattern: glob pattern, e.g., ``{LABEL}/**``

    Returns:
        List of samples (dicts with ``"key"``, ``"label"`` if the pattern
        has ``{LABEL}``, ``"path"`` (the member name) and empty
        ``"_additional_info"``) in the order of ``infos``, i.e. the
        archive's own member order, as in datadings 3.4.7.
    """
    compiled = _Pattern(os.fspath(pattern).replace(os.sep, '/'))
    if not compiled.components:
        return []
    prefix = compiled.prefix.lstrip('/')
    if prefix:
        prefix += '/'
    samples = []
    for info in infos:
        if _is_dir_member(info):
            continue
        name = _member_name(info)
        if not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        m = compiled.match(rel)
        if m is None:
            continue
        key, label = m
        sample = {'key': key}
        if label is not None:
            sample['label'] = label
        sample['path'] = name
        sample['_additional_info'] = []
        samples.append(sample)
    return samples


def _read_list_file(zipfile_, pattern, names):
    """Lines (bytes) of a list file, a member of the ZIP file or on disk."""
    if pattern in names:
        return zipfile_.read(pattern).splitlines(keepends=True)
    if os.path.isfile(pattern):
        with open(pattern, 'rb') as f:
            return f.readlines()
    raise FileNotFoundError(
        f'{pattern}: not a glob pattern, and neither a member of '
        f'{zipfile_.filename} nor a list file'
    )


def yield_zipfile(zipfile_, patterns, separator='\t'):
    """
    Yield samples for one or more search patterns from an open ZIP file.

    Each pattern is either a glob pattern (see :py:func:`glob_pattern`)
    or a list file.
    A pattern with wildcards or ``{LABEL}`` is a glob pattern.
    Otherwise it names a list file, read from the ZIP file if it has a
    member of that name, else from the filesystem.
    Each line of a list file holds a member name, optionally followed by
    label and further columns, separated by ``separator``
    (see :py:func:`datadings_like.reader.directory.yield_file`).
    Glob matches come in the archive's member order
    (:py:meth:`zipfile.ZipFile.infolist`), list files keep their order,
    patterns are used in the given order.

    Parameters:
        zipfile_: open :py:class:`zipfile.ZipFile`
        patterns: one or more search patterns
        separator: column separator for list files

    Returns:
        Iterator of samples

    Raises:
        FileNotFoundError: a glob pattern matches no member, a list file
            does not exist, or it names a file that is not in the ZIP file
            (the message names the line)
        ValueError: a list file has no entries or is not UTF-8 text
    """
    infos = [info for info in zipfile_.infolist() if not info.is_dir()]
    names = None
    for pattern in _normalize_patterns(patterns):
        if _is_glob(pattern):
            samples = glob_pattern(infos, pattern)
            if not samples:
                raise FileNotFoundError(
                    f'{pattern}: no member of {zipfile_.filename} matches this pattern'
                )
            yield from samples
            continue
        if names is None:
            names = {info.filename for info in infos}
        empty = True
        lines = _read_list_file(zipfile_, pattern, names)
        for lineno, fields in _split_lines(lines, separator, pattern):
            path = fields[0]
            if path not in names:
                raise FileNotFoundError(
                    f'{pattern}, line {lineno}: lists {path!r}, which is not a '
                    f'file in {zipfile_.filename}'
                )
            empty = False
            yield _list_sample(fields, path)
        if empty:
            raise ValueError(f'{pattern}: list file has no entries')


class ZipFileReader(ListReader):
    """
    Reader that reads files from a ZIP file.

    Note:
        Functionally identical to the
        :py:class:`~datadings_like.reader.directory.DirectoryReader`,
        except it reads from ZIP files instead of filesystem directories.
        Please refer to its documentation for more detailed explanations.

    Search patterns are matched against member names, e.g.,
    ``{LABEL}/**`` (the default) uses the top-level directories of the ZIP
    file as labels and the member names as keys.
    Samples come in the archive's own member order
    (:py:meth:`zipfile.ZipFile.infolist`), as in datadings 3.4.7, not
    sorted by name like the matches of a
    :py:class:`~datadings_like.reader.directory.DirectoryReader`;
    ``get``, ``find_index``, ``iter`` and ``seek`` use this order.
    A pattern without wildcards or ``{LABEL}`` names a list file, read from
    the ZIP file if it is a member, else from the filesystem; it lists
    member names (see :py:func:`yield_zipfile`).
    Inclusion and exclusion patterns are matched against member names.

    Member contents are read as ``"data"`` when a sample is returned; the
    ZIP file is never extracted.
    The reader keeps the ZIP file open until it is closed (leaving the
    ``with`` block); it is reopened if needed after that, in copies,
    after unpickling and in forked processes, so readers can be used with
    ``DataLoader`` workers.

    Parameters:
        path: Path to the ZIP file.
        patterns: One or more search patterns.
        labels: Optional. List of labels in desired order, or path to file
            with one label per line. If None, get ``"label"`` keys from
            samples, if any, and sort.
        numeric_labels: If true, convert labels to numeric index to list of
            all labels.
        initfun: Callable ``initfun(sample: dict)`` to modify samples
            in-place during initialization.
        convertfun: Callable ``convertfun(sample: dict)`` to modify samples
            in-place before they are returned.
        include: Set of inclusion patterns.
        exclude: Set of exclusion patterns.
        separator: Separator string for file patterns (a tab by default).

    Raises:
        FileNotFoundError: the ZIP file does not exist, a glob pattern
            matches no member, or a list file is missing
        zipfile.BadZipFile: the file is not a ZIP file
        ValueError: see :py:class:`~datadings_like.reader.list.ListReader`
    """
    _do_not_copy = ('_zf', '_zf_pid')
    _zf = None
    _zf_pid = None

    def __init__(
            self,
            path: Union[str, Path],
            patterns: Sequence[Union[str, Path]] = ('{LABEL}/**',),
            labels=None,
            numeric_labels=True,
            initfun: Callable = noop,
            convertfun: Callable = noop,
            include: Sequence[str] = (),
            exclude: Sequence[str] = (),
            separator='\t',
    ):
        self._path = os.fspath(path)
        include = [include] if isinstance(include, str) else list(include)
        exclude = [exclude] if isinstance(exclude, str) else list(exclude)
        zf = self._zip
        try:
            samples = [
                sample for sample in yield_zipfile(zf, patterns, separator)
                if check_included(sample['path'], include, exclude)
            ]
            super().__init__(
                samples,
                labels=labels,
                numeric_labels=numeric_labels,
                initfun=initfun,
                convertfun=convertfun,
            )
        except BaseException:
            self._close()
            raise

    @property
    def path(self) -> str:
        """Path of the ZIP file."""
        return self._path

    @property
    def _zip(self) -> _zipfile.ZipFile:
        """The open ZIP file; (re)opened when needed, e.g., in a new process."""
        zf = self._zf
        pid = os.getpid()
        if zf is None or self._zf_pid != pid:
            if zf is not None:
                # inherited through fork: it shares the file offset with the
                # parent, never read through it; closing only affects us
                self._close()
            zf = _zipfile.ZipFile(self._path)
            self._zf = zf
            self._zf_pid = pid
        return zf

    def _close(self):
        zf = self.__dict__.pop('_zf', None)
        self.__dict__.pop('_zf_pid', None)
        if zf is not None:
            zf.close()

    def __exit__(self, exc_type, exc_val, exc_tb):
        self._close()

    def __del__(self):
        try:
            self._close()
        except Exception:
            pass

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in self._do_not_copy:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def _load(self, sample, index):
        sample['data'] = self._zip.read(sample['path'])
        return sample
