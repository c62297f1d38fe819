"""
Read samples from files in directory trees, selected by glob patterns
with a ``{LABEL}`` level, or listed in CSV-like list files.
"""
from fnmatch import fnmatch
from pathlib import Path
from typing import Callable
from typing import Iterable
from typing import Optional
from typing import Sequence
from typing import Union
import os
import re

from natsort import natsort_keygen
from natsort import ns

from .list import ListReader
from .list import noop

__all__ = (
    'DirectoryReader',
    'check_included',
    'glob_pattern',
    'yield_directory',
    'yield_file',
)

LABEL = '{LABEL}'
_MAGIC = re.compile(r'[*?[]')
_NO_DOT = r'(?!\.)'
_NAME = r'[^/]+'
_path_key = natsort_keygen(alg=ns.PATH)


def check_included(filename, include, exclude):
    """
    Check a filename against inclusion and exclusion patterns
    (see :py:func:`fnmatch.fnmatch`).

    - If no inclusion patterns are given, all files are included.
    - If inclusion patterns are given, a file must match at least one.
    - A file is excluded if it matches any exclusion patterns.

    Parameters:
        filename: name or path to check
        include: inclusion patterns
        exclude: exclusion patterns

    Returns:
        True if the file is included
    """
    if include and not any(fnmatch(filename, p) for p in include):
        return False
    return not any(fnmatch(filename, p) for p in exclude)


def _normalize_patterns(patterns):
    if isinstance(patterns, (str, os.PathLike)):
        return [os.fspath(patterns)]
    return [os.fspath(p) for p in patterns]


def _is_glob(pattern):
    return LABEL in pattern or _MAGIC.search(pattern) is not None


def _translate_component(comp):
    """Regex for one path component of a glob pattern (not ``**``).
    Wildcards do not match a leading dot, like :py:func:`glob.glob`."""
    out = [] if comp.startswith('.') else [_NO_DOT]
    i, n = 0, len(comp)
    while i < n:
        if comp.startswith(LABEL, i):
            out.append(r'(?P<label>[^/]+)')
            i += len(LABEL)
            continue
        c = comp[i]
        i += 1
        if c == '*':
            out.append(r'[^/]*')
        elif c == '?':
            out.append(r'[^/]')
        elif c == '[':
            j = i
            if j < n and comp[j] in '!^':
                j += 1
            if j < n and comp[j] == ']':
                j += 1
            j = comp.find(']', j)
            if j < 0:  # no closing bracket: literal
                out.append(re.escape(c))
                continue
            body = comp[i:j]
            i = j + 1
            negate = body[:1] in ('!', '^')
            if negate:
                body = body[1:]
            for char in '\\^[]':
                body = body.replace(char, '\\' + char)
            out.append(f'[^/{body}]' if negate else f'[{body}]')
        else:
            out.append(re.escape(c))
    return ''.join(out)


class _Pattern:
    """
    A glob pattern compiled for matching paths relative to its static
    prefix, i.e. the leading components without wildcards.

    Semantics as :py:func:`glob.glob` with ``recursive=True``:
    ``*``, ``?`` and ``[...]`` match within one path component,
    ``**`` matches any number of components (at least one at the end),
    wildcards never match names that start with a dot.
    ``{LABEL}`` matches (part of) one component and captures the label.
    """

    def __init__(self, pattern):
        self.pattern = pattern
        norm = pattern.replace(os.sep, '/') if os.sep != '/' else pattern
        absolute = norm.startswith('/')
        comps = [c for c in norm.split('/') if c not in ('', '.')]
        if norm.count(LABEL) > 1:
            raise ValueError(f'{pattern}: pattern may contain {LABEL} only once')
        static = []
        while comps and not _is_glob(comps[0]):
            static.append(comps.pop(0))
        prefix = '/'.join(static)
        self.prefix = '/' + prefix if absolute else prefix
        self.components = comps
        # components before the first ``**`` map 1:1 to directory levels
        self.levels = []
        for comp in comps:
            if comp == '**':
                break
            self.levels.append(re.compile(_translate_component(comp)))
        self.max_depth = None if '**' in comps else len(comps)
        parts = []
        for i, comp in enumerate(comps):
            last = i == len(comps) - 1
            if comp == '**':
                if last:
                    parts.append(f'{_NO_DOT}{_NAME}(?:/{_NO_DOT}{_NAME})*')
                else:
                    parts.append(f'(?:{_NO_DOT}{_NAME}/)*')
            else:
                parts.append(_translate_component(comp) + ('' if last else '/'))
        self.regex = re.compile(''.join(parts), re.DOTALL)

    def match(self, rel):
        """
        Match a path relative to the prefix.

        Returns:
            ``None`` or (key, label); label is ``None`` if the pattern
            has no ``{LABEL}``; the key is the path from the ``{LABEL}``
            level on, or ``rel`` without ``{LABEL}``.
        """
        m = self.regex.fullmatch(rel)
        if m is None:
            return None
        if 'label' not in self.regex.groupindex:
            return rel, None
        start = rel.rfind('/', 0, m.start('label')) + 1
        return rel[start:], m.group('label')

    def join(self, rel):
        """Prefix and relative path joined."""
        if not self.prefix:
            return rel
        return os.path.join(self.prefix, rel)


def _walk(directory, rel, depth, pattern, ancestors):
    """Yield relative paths of files below directory, pruned by the
    pattern's fixed levels and depth."""
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return
    level = pattern.levels[depth] if depth < len(pattern.levels) else None
    max_depth = pattern.max_depth
    for entry in entries:
        name = entry.name
        if level is not None and level.fullmatch(name) is None:
            continue
        path = rel + name
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if max_depth is not None and depth + 1 >= max_depth:
                continue
            try:
                st = entry.stat()
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in ancestors:  # symlink loop
                continue
            ancestors.add(ident)
            yield from _walk(entry.path, path + '/', depth + 1, pattern, ancestors)
            ancestors.discard(ident)
        elif entry.is_file():
            yield path


def glob_pattern(pattern, prefix=''):
    """
    Find files that match a glob pattern.

    ``*``, ``?`` and ``[...]`` match within one path component,
    ``**`` matches any number of directories, wildcards do not match names
    that start with a dot (like :py:func:`glob.glob` with
    ``recursive=True``).
    The special ``{LABEL}`` string marks the directory level (or part of a
    component) whose name is used as label.
    Only files are returned, never directories.

    Parameters:
        pattern: glob pattern, e.g., ``some_dir/{LABEL}/**``
        prefix: directory that relative patterns are relative to

    Returns:
        List of samples (dicts with ``"key"``, ``"label"`` if the pattern
        has ``{LABEL}``, ``"path"`` and empty ``"_additional_info"``),
        natsorted by path.
        The key is the path from the ``{LABEL}`` level on, or, without
        ``{LABEL}``, from the first level with wildcards on.
    """
    pattern = os.fspath(pattern)
    if prefix and not os.path.isabs(pattern):
        pattern = os.path.join(os.fspath(prefix), pattern)
    compiled = _Pattern(pattern)
    if not compiled.components:
        return []
    root = compiled.prefix or os.curdir
    ancestors = set()
    try:
        st = os.stat(root)
        ancestors.add((st.st_dev, st.st_ino))
    except OSError:
        return []
    samples = []
    for rel in _walk(root, '', 0, compiled, ancestors):
        m = compiled.match(rel)
        if m is None:
            continue
        key, label = m
        sample = {'key': key}
        if label is not None:
            sample['label'] = label
        sample['path'] = compiled.join(rel)
        sample['_additional_info'] = []
        samples.append((_path_key(rel), sample))
    samples.sort(key=lambda t: t[0])
    return [sample for _, sample in samples]


def _not_text(infile, lineno):
    return ValueError(
        f'{os.fspath(infile)}: not a list file (line {lineno} is not UTF-8 text)'
    )


def _split_lines(lines, separator, infile='list file'):
    """
    Yield ``(line number, fields)`` for the non-empty lines of a list file.

    ``lines`` are ``bytes`` (decoded here, one line at a time, so that the
    line that is not text can be named) or ``str``.

    Raises:
        ValueError: a line is not UTF-8 text or holds a NUL character
            (an image or dataset file given by mistake)
    """
    for lineno, line in enumerate(lines, 1):
        if isinstance(line, (bytes, bytearray)):
            try:
                line = line.decode('utf-8')
            except UnicodeDecodeError:
                raise _not_text(infile, lineno) from None
        line = line.rstrip('\r\n')
        if '\0' in line:  # text files hold no NUL characters
            raise _not_text(infile, lineno)
        if line:
            yield lineno, line.split(separator)


def _list_sample(fields, path):
    sample = {'key': fields[0]}
    if len(fields) > 1:
        sample['label'] = fields[1]
    sample['path'] = path
    sample['_additional_info'] = fields[2:]
    return sample


def _yield_file(infile, prefix, separator):
    """:py:func:`yield_file`, yielding ``(line number, sample)``."""
    prefix = os.fspath(prefix) if prefix else ''
    with open(infile, 'rb') as f:
        for lineno, fields in _split_lines(f, separator, os.fspath(infile)):
            path = fields[0]
            if prefix:
                path = os.path.join(prefix, path)
            yield lineno, _list_sample(fields, path)


def yield_file(infile, prefix='', separator='\t'):
    """
    Yield samples from a CSV-like list file.

    Each line holds the path to a sample file, optionally followed by
    label and further columns, separated by ``separator``
    (a tab by default: ``path<TAB>label<TAB>extra...``).
    The path (as written) becomes ``"key"``, the label ``"label"`` (no
    label if the column is missing), further columns
    ``"_additional_info"``.
    Relative paths are prefixed with ``prefix`` to form ``"path"``.
    Empty lines are skipped; there is no header line.

    Parameters:
        infile: path to the list file (UTF-8)
        prefix: prefix (root directory) for relative paths
        separator: column separator

    Returns:
        Iterator of samples

    Raises:
        FileNotFoundError: list file does not exist
        ValueError: a line is not UTF-8 text (e.g. an image or a dataset
            file given by mistake); the message names the file and line
    """
    for _, sample in _yield_file(infile, prefix, separator):
        yield sample


def _yield_directory(patterns, separator, root_dir):
    """
    :py:func:`yield_directory`, yielding ``(origin, sample)``; origin is
    ``(list file, line number)`` for samples from list files, else ``None``.
    """
    for pattern in _normalize_patterns(patterns):
        if _is_glob(pattern):
            samples = glob_pattern(pattern)
            if not samples:
                raise FileNotFoundError(f'{pattern}: no file matches this pattern')
            for sample in samples:
                yield None, sample
        elif os.path.isfile(pattern):
            empty = True
            for lineno, sample in _yield_file(pattern, root_dir, separator):
                empty = False
                yield (pattern, lineno), sample
            if empty:
                raise ValueError(f'{pattern}: list file has no entries')
        elif os.path.isdir(pattern):
            raise FileNotFoundError(
                f'{pattern}: is a directory, not a list file or glob pattern; '
                f'did you mean {os.path.join(pattern, LABEL, "**")}?'
            )
        else:
            raise FileNotFoundError(f'{pattern}: no such list file')


def yield_directory(patterns, separator='\t', root_dir=''):
    """
    Yield samples for one or more search patterns.
    Each pattern is either a glob pattern (see :py:func:`glob_pattern`)
    or the path to a list file (see :py:func:`yield_file`).
    A pattern with wildcards or ``{LABEL}`` is a glob pattern;
    otherwise it must be an existing list file.

    Glob matches are natsorted by path within each pattern;
    list files keep their order; patterns are used in the given order.

    Parameters:
        patterns: one or more search patterns
        separator: column separator for list files (a tab by default)
        root_dir: prefix for relative paths in list files

    Returns:
        Iterator of samples

    Raises:
        FileNotFoundError: a glob pattern matches no file, or a list file
            does not exist
        ValueError: a list file has no entries or is not UTF-8 text
    """
    for _, sample in _yield_directory(patterns, separator, root_dir):
        yield sample


def _read_file(path):
    with open(path, 'rb') as f:
        return f.read()


class DirectoryReader(ListReader):
    """
    Reader that loads samples from one or multiple filesystem directories.

    One or more search patterns must be given to tell the reader where to
    look for samples. Each search pattern can either be:

    - A glob pattern to a filesystem directory.
      Use the special ``{LABEL}`` string to define which directory in the
      path to use as a label.
    - A path to a CSV-like file (with the given ``separator`` string,
      a tab by default) where each line contains the path to a sample file.
      Paths can be relative and optionally prefixed with a ``root_dir``.
      A label as well as additional information can be included besides
      the path in additional columns (``path<TAB>label<TAB>extra...``).
      They will be stored as ``"label"`` and ``"_additional_info"``.

    Example glob pattern: ``some_dir/{LABEL}/**``

    This pattern loads a dataset with a typical directory tree structure
    where samples from each class are located in separate subdirectories.
    The name of the directory at the level of ``{LABEL}`` is used as the
    label, the path to the file from the label onwards is used as the
    ``"key"``, and the file contents are loaded into ``"data"``::

        {'key': 'a/a1', 'label': 0, 'path': 'some_dir/a/a1',
         '_additional_info': [], '_label': 'a', 'data': b'content of a1'}

    Glob semantics are those of :py:func:`glob.glob` with
    ``recursive=True``: ``*`` stays within one directory, ``**`` matches
    any depth, names starting with a dot are not matched by wildcards.
    Without ``{LABEL}``, samples have no label and the key is the path
    from the first directory level with wildcards on.
    Matches are natsorted by path within each pattern, so the order is
    deterministic; list files keep their order.

    File contents are read when a sample is returned (``get``, iteration),
    before ``convertfun`` is applied; they are not kept in memory.
    A listed file that cannot be read raises the ``OSError`` of
    :py:func:`open` with the list file and line added to its message.

    You can further narrow down which files to include with additional
    :py:func:`fnmatch.fnmatch` glob patterns, matched against
    ``"path"``.
    These are applied as follows:

    - If no inclusion patterns are given, all files are included.
    - If inclusion patterns are given, a file must match at least one.
    - A file is excluded if it matches any exclusion patterns.

    Note:
        Please refer to the :py:class:`~datadings_like.reader.list.ListReader`
        documentation for a more detailed explanation on how labels are
        handled.

    Parameters:
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
        separator: Separator string for file patterns; a tab by default,
            as in datadings 3.4.7 (its manual prints ``'\\n'``, which
            cannot separate columns).
        root_dir: Prefix for relative paths in list files.

    Raises:
        FileNotFoundError: a glob pattern matches no file or a list file
            does not exist
        ValueError: a list file is not text or has no entries (the message
            names file and line); see also
            :py:class:`~datadings_like.reader.list.ListReader`
    """

    def __init__(
            self,
            patterns: Sequence[Union[str, Path]],
            labels: Optional[Union[Iterable, Path]] = None,
            numeric_labels=True,
            initfun: Callable = noop,
            convertfun: Callable = noop,
            include: Sequence[str] = (),
            exclude: Sequence[str] = (),
            separator='\t',
            root_dir='',
    ):
        include = [include] if isinstance(include, str) else list(include)
        exclude = [exclude] if isinstance(exclude, str) else list(exclude)
        samples = []
        # (list file, line) of each sample, to name the line when its
        # file cannot be read; None for glob matches
        origins = []
        for origin, sample in _yield_directory(patterns, separator, root_dir):
            if check_included(sample['path'], include, exclude):
                samples.append(sample)
                origins.append(origin)
        self._origins = origins
        super().__init__(
            samples,
            labels=labels,
            numeric_labels=numeric_labels,
            initfun=initfun,
            convertfun=convertfun,
        )

    def _load(self, sample, index):
        try:
            sample['data'] = _read_file(sample['path'])
        except OSError as exc:
            origin = self._origins[index]
            if origin is None or exc.errno is None:
                raise
            listfile, lineno = origin
            raise type(exc)(
                exc.errno, f'{exc.strerror} (listed in {listfile}, line {lineno})',
                exc.filename,
            ) from None
        return sample
