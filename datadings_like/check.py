"""
Checking and repairing datasets, and small helpers the shell tools share.

- :py:func:`scan_data` walks through a data file message by message and
  returns the start offset and ``"key"`` of every sample (and the file's
  MD5). It never decodes more than the ``"key"`` value of a sample: all
  other values are skipped without building Python objects, so a crafted
  file can neither run code nor make the scanner allocate huge objects.
- :py:func:`verify_dataset` checks a dataset against its ``.md5`` file and
  checks that its index describes the data: the offsets parse to whole
  messages and the keys agree with the samples' ``"key"`` values.
- :py:func:`write_index` and :py:func:`rebuild_index` (re)create the four
  index files and the ``.md5`` file atomically: everything is written
  under temporary names first and moved to the final names in one commit
  (:py:func:`~datadings_like.index.commit_files`).
"""
from pathlib import Path
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple
import hashlib
import os
import tempfile

import msgpack
import numpy as np

from .errors import DatasetError
from .index import SUFFIX_FILTER
from .index import SUFFIX_KEY_HASHES
from .index import SUFFIX_KEYS
from .index import SUFFIX_LEGACY_INDEX
from .index import SUFFIX_OFFSETS
from .index import _naming
from .index import commit_files
from .index import legacy_load_index
from .index import load_filter
from .index import load_key_hashes
from .index import load_keys
from .index import load_offsets
from .index import recover_commit
from .index import write_filter
from .index import write_key_hashes
from .index import write_keys
from .index import write_offsets
from .tools import hash_md5hex
from .tools import load_md5file
from .tools import make_printer
from .tools import path_append
from .tools import query_user
from .tools import stdin_is_interactive
from .tools.cli import UserError

__all__ = (
    'INDEX_SUFFIXES',
    'check_index',
    'check_outputs',
    'confirm_overwrite',
    'open_dataset',
    'raise_index_mismatch',
    'rebuild_index',
    'scan_data',
    'verify_dataset',
    'write_index',
)

INDEX_SUFFIXES = (SUFFIX_OFFSETS, SUFFIX_KEYS, SUFFIX_KEY_HASHES, SUFFIX_FILTER)
_READ_SIZE = 1 << 20
# limits for the few values the scanner decodes (map keys, the "key" value);
# skipped values are never built, so they need no limit
_MAX_LEN = 1 << 16
_MAX_STR = 1 << 20


# ---------------------------------------------------------------- helpers

def open_dataset(path, storage_options=None):
    """
    Open a dataset file for reading with a user-friendly error if it
    cannot be opened. ``path`` may be a URL (``s3://...``).

    Parameters:
        path: the data file, or its URL
        storage_options: passed to fsspec for a URL (ignored for local files)

    Returns:
        :py:class:`~datadings_like.reader.MsgpackReader`
    """
    from .reader.msgpack import MsgpackReader
    from .remote import is_url
    if is_url(path):
        return MsgpackReader(path, storage_options=storage_options)  # the remote reader
    path = Path(path)
    if path.is_dir():
        raise UserError(f'{path}: is a directory, not a dataset file')
    return MsgpackReader(path)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _dataset_files(path: Path) -> List[Path]:
    return [path] + [path_append(path, s) for s in
                     INDEX_SUFFIXES + ('.md5', SUFFIX_LEGACY_INDEX)]


def check_outputs(infiles: Sequence, outfiles: Sequence):
    """
    Refuse outputs that would clobber an input (or one of its index files),
    that are given more than once, that are directories (or end with a
    slash), or that lie below a file. Called before anything is written.
    Outputs may be URLs (``s3://...``): those are written locally and
    uploaded (see :py:class:`~datadings_like.writer.FileWriter`); a URL
    is refused if it ends with a slash, is an input's URL (or one of its
    sidecars') or is given twice.

    Raises:
        UserError: with a message naming the offending file
    """
    from .remote import is_url
    from .remote import redact
    urls_in = {redact(p) for p in infiles if is_url(p)}
    local_in = [Path(p) for p in infiles if not is_url(p)]
    seen_urls = set()
    given = []
    outpaths = []
    for out in outfiles:
        if not is_url(out):
            given.append(os.fspath(out))
            outpaths.append(Path(out))
            continue
        name = redact(out)
        if out.endswith('/'):
            raise UserError(f'{name}: is a directory, not a dataset file')
        written = [name] + [name + s for s in INDEX_SUFFIXES + ('.md5', SUFFIX_LEGACY_INDEX)]
        for url in urls_in:
            if url == name:
                raise UserError(f'{name}: input and output are the same file; '
                                'write to a new file instead')
            clash = next((w for w in written
                          if w in [url + s for s in INDEX_SUFFIXES + ('.md5', SUFFIX_LEGACY_INDEX)]),
                         None)
            if clash is not None:
                raise UserError(f'{name}: writing it would replace {clash.rpartition("/")[2]}, '
                                f'which belongs to the input {url}')
        if name in seen_urls:
            raise UserError(f'{name}: output file given more than once')
        seen_urls.add(name)
    for i, out in enumerate(outpaths):
        _check_output_path(given[i], out)
        for inp in local_in:
            if _same(inp, out):
                raise UserError(
                    f'{out}: input and output are the same file; '
                    'write to a new file instead'
                )
            in_files = _dataset_files(inp)
            for written in _dataset_files(out):
                if any(_same(written, f) for f in in_files):
                    raise UserError(
                        f'{out}: writing it would replace {written.name}, '
                        f'which belongs to the input {inp}'
                    )
        for other in outpaths[:i]:
            if _same(other, out):
                raise UserError(f'{out}: output file given more than once')


def _check_output_path(given: str, out: Path):
    """
    Refuse an output that names a directory (existing, or written with a
    trailing slash) or lies below something that is not a directory.
    """
    seps = (os.sep, os.altsep) if os.altsep else (os.sep,)
    if out.is_dir() or given.endswith(seps):
        raise UserError(f'{given}: is a directory, not a dataset file')
    # the nearest existing ancestor must be a directory to create files in
    parent = out.parent
    while True:
        try:
            is_dir = parent.is_dir()
            exists = is_dir or parent.exists()
        except OSError:
            is_dir = exists = False
        if exists:
            if not is_dir:
                raise UserError(f'{given}: cannot be written, {parent} is not a directory')
            return
        if parent == parent.parent:
            return
        parent = parent.parent


def check_inputs_distinct(infiles: Sequence):
    """Refuse the same input file given more than once."""
    infiles = [Path(p) for p in infiles]
    for i, path in enumerate(infiles):
        for other in infiles[:i]:
            if _same(path, other):
                raise UserError(f'{path}: input file given more than once')


def confirm_overwrite(paths: Sequence, overwrite: bool):
    """
    Ask before replacing existing files (only if stdin is a terminal).

    Raises:
        FileExistsError: files exist, ``overwrite`` is false and the user
            declined or cannot be asked
        KeyboardInterrupt: the user chose to abort
    """
    existing = [Path(p) for p in paths if Path(p).exists()]
    if not existing or overwrite:
        return
    names = ', '.join(p.name for p in existing)
    if not stdin_is_interactive():
        raise FileExistsError(
            f'{existing[0]} exists; pass -y (--no-confirm) to replace {names}'
        )
    answer = query_user(f'{names} exist(s), overwrite?')
    if answer == 'no':
        raise FileExistsError(f'{existing[0]} exists, not replaced')
    if answer == 'abort':
        raise KeyboardInterrupt(str(existing[0]))


# --------------------------------------------------------------- scanning

class _HashingFile:
    """File wrapper that hashes what is read and reports progress."""

    def __init__(self, f, md5, printer):
        self._f = f
        self._md5 = md5
        self._printer = printer

    def read(self, n=-1):
        data = self._f.read(n)
        if self._md5 is not None:
            self._md5.update(data)
        if data:
            self._printer.update(len(data))
        return data


def _describe_offset(path, index, start):
    return f'{path}: sample {index} at byte {start}'


def scan_data(path, progress=False, md5=True) -> Tuple[List[str], List[int], Optional[str]]:
    """
    Read a data file message by message and collect sample keys and offsets.

    Only the ``"key"`` value of each sample is decoded; everything else
    is skipped. Plain msgpack is used: no numpy decoding, no pickle.

    Parameters:
        path: the data file
        progress: show a progress bar (bytes)
        md5: also compute the MD5 of the data file (same pass)

    Returns:
        keys (one per sample), offsets (N + 1, ending with the file size),
        and the MD5 hex digest of the data file (or None)

    Raises:
        FileNotFoundError: the file is missing
        DatasetError: the file is not a sequence of msgpack maps with a
            str ``"key"`` each (the message says where)
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f'{path}: is a directory, not a dataset file')
    size = path.stat().st_size
    digest = hashlib.md5() if md5 else None
    keys = []
    offsets = [0]
    with open(path, 'rb', buffering=0) as f, make_printer(
        total=size, desc=f'scan {path.name}', disable=not progress,
        unit='B', unit_scale=True, unit_divisor=1024,
    ) as printer:
        unpacker = msgpack.Unpacker(
            _HashingFile(f, digest, printer),
            read_size=_READ_SIZE,
            max_buffer_size=max(size, _READ_SIZE) + _READ_SIZE,
            raw=False,
            strict_map_key=False,
            max_str_len=_MAX_STR,
            max_bin_len=_MAX_STR,
            max_array_len=_MAX_LEN,
            max_map_len=_MAX_LEN,
            max_ext_len=_MAX_STR,
        )
        index = 0
        start = 0
        while start < size:
            try:
                n = unpacker.read_map_header()
            except msgpack.OutOfData:
                raise DatasetError(
                    f'{_describe_offset(path, index, start)}: file ends in the '
                    f'middle of a sample (after {index} whole sample(s))'
                ) from None
            except Exception:
                raise DatasetError(
                    f'{_describe_offset(path, index, start)}: not a msgpack map; '
                    'not a dataset file or damaged'
                ) from None
            key = None
            try:
                for _ in range(n):
                    name = unpacker.unpack()
                    if name == 'key':  # the last one counts, as in a dict
                        key = unpacker.unpack()
                        if type(key) is not str:
                            raise DatasetError(
                                f'{_describe_offset(path, index, start)}: "key" is '
                                f'{type(key).__name__}, not str'
                            )
                    else:
                        unpacker.skip()
            except DatasetError:
                raise
            except msgpack.OutOfData:
                raise DatasetError(
                    f'{_describe_offset(path, index, start)}: file ends in the '
                    f'middle of a sample (after {index} whole sample(s))'
                ) from None
            except Exception as exc:
                raise DatasetError(
                    f'{_describe_offset(path, index, start)}: damaged sample '
                    f'({type(exc).__name__}: {exc})'
                ) from None
            if key is None:
                raise DatasetError(f'{_describe_offset(path, index, start)}: sample has no "key"')
            keys.append(key)
            start = unpacker.tell()
            offsets.append(start)
            index += 1
        if digest is not None:
            # the unpacker may have stopped reading before EOF (empty file)
            rest = f.read()
            digest.update(rest)
    return keys, offsets, (digest.hexdigest() if digest is not None else None)


def _hash_all(keys, salt):
    blake = hashlib.blake2s
    return np.array(
        [int.from_bytes(blake(k.encode('utf-8'), salt=salt).digest()[:8], 'big') for k in keys],
        dtype=np.uint64,
    )


def _duplicates(keys):
    seen = set()
    dups = []
    for k in keys:
        if k in seen:
            dups.append(k)
        seen.add(k)
    return dups


# ------------------------------------------------------------ index files

def _tmp_name(directory: Path, name: str, suffix: str) -> Path:
    # the name ends with the suffix, so the index writers use it as it is
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{name}.', suffix=f'.tmp{suffix}')
    os.close(fd)
    return Path(tmp)


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_index(path, keys: Sequence[str], offsets: Sequence[int],
                data_md5: Optional[str] = None, outdir=None) -> List[Path]:
    """
    Write the four index files and the ``.md5`` file of a dataset.

    All files are first written under temporary names in the output
    directory, then moved to their final names in one commit (index files
    first, ``.md5`` last; see :py:func:`~datadings_like.index.commit_files`).
    If anything fails before, the temporary files are removed and nothing
    is replaced.

    Parameters:
        path: the data file
        keys: sample keys in order
        offsets: N + 1 sample offsets, ending with the data file size
        data_md5: MD5 hex digest of the data file; computed if None
        outdir: where to write; defaults to the data file's directory

    Returns:
        the paths written, ``.md5`` last

    Raises:
        OSError: a file cannot be written (the error names it)
    """
    path = Path(path)
    outdir = Path(outdir) if outdir is not None else path.parent
    outdir.mkdir(parents=True, exist_ok=True)
    name = path.name
    if data_md5 is None:
        data_md5 = hash_md5hex(path)
    writers = (write_offsets, write_keys, write_key_hashes, write_filter)
    temps = {}
    decided = []
    try:
        for suffix in INDEX_SUFFIXES + ('.md5',):
            temps[suffix] = _tmp_name(outdir, name, suffix)
        hashes = {}
        for suffix, write in zip(INDEX_SUFFIXES, writers):
            with _naming(outdir / (name + suffix)):
                write(offsets if suffix == SUFFIX_OFFSETS else keys, temps[suffix])
            hashes[suffix] = hash_md5hex(temps[suffix])
        lines = [f'{data_md5}  {name}\n']
        for suffix in INDEX_SUFFIXES:
            lines.append(f'{hashes[suffix]}  {name}{suffix}\n')
        with _naming(outdir / (name + '.md5')):
            temps['.md5'].write_text(''.join(lines), encoding='utf-8')
        hashes['.md5'] = hash_md5hex(temps['.md5'])
        mode = 0o666 & ~_umask()
        for tmp in temps.values():
            os.chmod(tmp, mode)
        final = [outdir / (name + suffix) for suffix in INDEX_SUFFIXES + ('.md5',)]
        commit_files(outdir / name,
                     [(temps[s], f, hashes[s]) for s, f in zip(INDEX_SUFFIXES + ('.md5',), final)],
                     on_decided=lambda: decided.append(True))
        return final
    finally:
        if not decided:  # after that, the journal owns the temporary files
            for tmp in temps.values():
                try:
                    tmp.unlink()
                except FileNotFoundError:
                    pass


def index_outputs(path, outdir=None) -> List[Path]:
    """The files :py:func:`write_index` writes for ``path``."""
    path = Path(path)
    outdir = Path(outdir) if outdir is not None else path.parent
    return [outdir / (path.name + s) for s in INDEX_SUFFIXES + ('.md5',)]


def rebuild_index(path, progress=False, overwrite=False) -> Tuple[int, List[str]]:
    """
    Recreate all index files and the ``.md5`` file of a dataset by scanning
    its data file.

    Parameters:
        path: the data file
        progress: show a progress bar
        overwrite: replace existing index files without asking

    Returns:
        number of samples and a list of warnings (e.g. the data file no
        longer matches an old ``.md5``, or an interrupted write was completed)

    Raises:
        DatasetError: the data file cannot be indexed (see :py:func:`scan_data`)
            or has duplicate keys, or an interrupted write cannot be completed
        FileExistsError: index files exist and ``overwrite`` is false
    """
    path = Path(path)
    warnings = []
    # a write that was killed while renaming its files is completed first
    if recover_commit(path):
        warnings.append(f'{path}: completed the last write, which was interrupted '
                        'while it renamed its files')
    if not path.exists():
        raise FileNotFoundError(f'{path}: dataset file not found')
    # the .md5 is rewritten anyway; existing index files need confirmation
    confirm_overwrite(index_outputs(path)[:-1], overwrite)
    keys, offsets, md5 = scan_data(path, progress=progress)
    dups = _duplicates(keys)
    if dups:
        raise DatasetError(
            f'{path}: {len(dups)} duplicate key(s), e.g. {dups[0]!r}; '
            'a dataset needs unique keys'
        )
    md5_path = path_append(path, '.md5')
    if md5_path.exists():
        try:
            old = load_md5file(md5_path).get(path.name)
        except (ValueError, OSError):
            old = None
        if old is not None and old != md5:
            warnings.append(
                f'{path}: the data file does not match its old .md5 '
                '(changed since it was written); the new .md5 describes it as it is now'
            )
    write_index(path, keys, offsets, data_md5=md5)
    return len(keys), warnings


# ------------------------------------------------------------ verification

def _check_md5(path: Path, progress: bool, data_md5: Optional[str], problems: list,
               required: Sequence[str]):
    missing = set()
    md5_path = path_append(path, '.md5')
    if not md5_path.exists():
        problems.append(f'{md5_path.name} is missing (recreate it with datadings-index)')
        return missing
    try:
        hashes = load_md5file(md5_path)
    except (ValueError, OSError) as exc:
        problems.append(f'{md5_path.name} is damaged ({_strip(exc, md5_path)})')
        return missing
    for name in required:
        if name not in hashes:
            problems.append(f'{md5_path.name} has no entry for {name}')
    for name, expected in hashes.items():
        if '/' in name or name in ('', '.', '..'):
            problems.append(f'{md5_path.name} lists a file outside the directory: {name!r}')
            continue
        file = path.with_name(name)
        if not file.exists():
            problems.append(f'{name} is listed in {md5_path.name} but missing')
            missing.add(name)
            continue
        if name == path.name and data_md5 is not None:
            actual = data_md5
        else:
            try:
                # bars only for big files; index files take no time
                actual = hash_md5hex(file, progress=progress and file.stat().st_size > 1 << 24)
            except OSError as exc:
                problems.append(f'{name} cannot be read ({exc.strerror or exc})')
                continue
        if actual != expected:
            problems.append(f'{name} does not match its MD5 in {md5_path.name}')
    return missing


def _strip(exc, path):
    """The message of ``exc`` without the directory of ``path``."""
    return str(exc).replace(f'{path}', path.name)


def _compare_index(path, keys, offsets, scanned_keys, scanned_offsets, problems):
    offsets = [int(o) for o in offsets]
    if offsets != scanned_offsets:
        if len(offsets) != len(scanned_offsets):
            problems.append(
                f'index lists {len(offsets) - 1} samples, the data file holds '
                f'{len(scanned_offsets) - 1}'
            )
        else:
            bad = next(i for i, (a, b) in enumerate(zip(offsets, scanned_offsets)) if a != b)
            problems.append(
                f'offset of sample {bad} is {offsets[bad]}, but the sample starts at '
                f'byte {scanned_offsets[bad]} (offsets do not parse to whole messages)'
            )
    if keys is None:
        return
    keys = list(keys)
    if keys != scanned_keys:
        if len(keys) != len(scanned_keys):
            problems.append(
                f'keys file lists {len(keys)} keys, the data file holds '
                f'{len(scanned_keys)} samples'
            )
        else:
            diff = [i for i, (a, b) in enumerate(zip(keys, scanned_keys)) if a != b]
            i = diff[0]
            problems.append(
                f'{len(diff)} key(s) in the index disagree with the samples\' "key", '
                f'first at sample {i}: {keys[i]!r} != {scanned_keys[i]!r}'
            )


def check_index(path, keys: Sequence[str], offsets: Sequence[int], progress=False,
                what='index') -> str:
    """
    Check that an index (e.g. a legacy ``.index``) describes the data file:
    scan the data file and compare message boundaries and sample keys.

    Parameters:
        path: the data file
        keys: sample keys in order
        offsets: N + 1 sample offsets, ending with the data file size
        progress: show a progress bar while scanning
        what: name of the index for messages

    Returns:
        the MD5 hex digest of the data file (computed in the same pass)

    Raises:
        DatasetError: the data file cannot be scanned, or the index does
            not match it (the message names the first difference)
    """
    path = Path(path)
    scanned_keys, scanned_offsets, md5 = scan_data(path, progress=progress)
    raise_index_mismatch(path, keys, offsets, scanned_keys, scanned_offsets, what)
    return md5


def raise_index_mismatch(path, keys, offsets, scanned_keys, scanned_offsets, what='index'):
    """
    Compare an index with the result of :py:func:`scan_data`.

    Raises:
        DatasetError: naming the first difference
    """
    problems = []
    _compare_index(path, keys, offsets, scanned_keys, scanned_offsets, problems)
    if problems:
        raise DatasetError(f'{path}: {what} does not match the data file: {problems[0]}')


def verify_dataset(path, progress=False) -> List[str]:
    """
    Check a dataset thoroughly.

    - every file listed in the ``.md5`` file exists and matches,
      and the data and index files are listed;
    - the data file is a sequence of whole msgpack maps, each with a
      unique str ``"key"``;
    - the offsets (or legacy index) point exactly at those messages;
    - the keys file agrees with the samples' ``"key"`` values, the key
      hashes match the keys and the Bloom filter contains every key.

    Parameters:
        path: the data file
        progress: show progress bars

    Returns:
        a list of problems, one line each, empty if the dataset is sound
    """
    path = Path(path)
    problems = []
    try:
        # a write that was killed while renaming its files is completed first
        recover_commit(path)
    except DatasetError as exc:
        # the files are checked anyway: the problems show what is mixed up
        problems.append(str(exc).replace(f'{path.parent}{os.sep}', ''))
    if not path.exists():
        return problems + ['file not found']
    if path.is_dir():
        return problems + ['is a directory, not a dataset file']

    offsets_path = path_append(path, SUFFIX_OFFSETS)
    legacy_path = path_append(path, SUFFIX_LEGACY_INDEX)
    legacy = not offsets_path.exists() and legacy_path.exists()
    if not offsets_path.exists() and not legacy:
        problems.append(
            f'no index: {offsets_path.name} and {legacy_path.name} are missing '
            '(rebuild it with datadings-index)'
        )

    try:
        scanned_keys, scanned_offsets, data_md5 = scan_data(path, progress=progress)
    except DatasetError as exc:
        msg = str(exc)
        prefix = f'{path}: '
        problems.append(msg[len(prefix):] if msg.startswith(prefix) else msg)
        scanned_keys = scanned_offsets = data_md5 = None

    if scanned_keys is not None:
        dups = _duplicates(scanned_keys)
        if dups:
            problems.append(f'{len(dups)} duplicate sample key(s), e.g. {dups[0]!r}')

    required = [path.name]
    if legacy:
        required.append(legacy_path.name)
    else:
        required += [path.name + s for s in INDEX_SUFFIXES]
    missing = _check_md5(path, progress, data_md5, problems, required)

    def _short(exc, p):
        if isinstance(exc, OSError) and not isinstance(exc, DatasetError):
            return f'{p.name} cannot be read ({exc.strerror or exc})'
        return _strip(exc, p)

    def report_missing(p):
        if p.name not in missing:
            problems.append(f'{p.name} is missing')

    if legacy:
        try:
            keys, offsets = legacy_load_index(path)
        except (DatasetError, OSError) as exc:
            problems.append(_short(exc, legacy_path))
            return problems
        if scanned_offsets is not None:
            _compare_index(path, keys, offsets, scanned_keys, scanned_offsets, problems)
        return problems

    if not offsets_path.exists():
        return problems

    try:
        offsets = load_offsets(path)
    except (DatasetError, OSError) as exc:
        problems.append(_short(exc, offsets_path))
        offsets = None
    keys = None
    keys_path = path_append(path, SUFFIX_KEYS)
    if keys_path.exists():
        try:
            keys = load_keys(path)
        except (DatasetError, OSError) as exc:
            problems.append(_short(exc, keys_path))
    else:
        report_missing(keys_path)
    if offsets is not None and scanned_offsets is not None:
        _compare_index(path, keys, offsets, scanned_keys, scanned_offsets, problems)
    elif keys is not None and scanned_keys is not None and keys != scanned_keys:
        problems.append('keys file disagrees with the samples\' "key" values')

    reference_keys = scanned_keys if scanned_keys is not None else keys
    hashes_path = path_append(path, SUFFIX_KEY_HASHES)
    if not hashes_path.exists():
        report_missing(hashes_path)
    elif reference_keys is not None:
        try:
            salt, hashes = load_key_hashes(path)
            if len(hashes) != len(reference_keys):
                problems.append(
                    f'{hashes_path.name} holds {len(hashes)} hashes for '
                    f'{len(reference_keys)} samples'
                )
            else:
                expected = _hash_all(reference_keys, salt)
                if not np.array_equal(expected, hashes):
                    problems.append(f'{hashes_path.name} does not match the sample keys')
                elif len(np.unique(hashes)) != len(hashes):
                    problems.append(f'{hashes_path.name} has colliding hashes')
        except (DatasetError, OSError) as exc:
            problems.append(_short(exc, hashes_path))

    filter_path = path_append(path, SUFFIX_FILTER)
    if not filter_path.exists():
        report_missing(filter_path)
    elif reference_keys is not None:
        try:
            # the header names the size to allocate: check it against the
            # file first, so a damaged header cannot make us allocate gigabytes
            with open(filter_path, 'rb') as f:
                header = f.read(16)
            claimed = int.from_bytes(header[8:16], 'big') if len(header) == 16 else -1
            if not 0 <= claimed <= filter_path.stat().st_size:
                raise DatasetError(f'{filter_path}: damaged Bloom filter (bad header)')
            bloom = load_filter(path)
            missing = [k for k in reference_keys if k not in bloom]
            if missing:
                problems.append(
                    f'{filter_path.name} lacks {len(missing)} key(s), e.g. {missing[0]!r}'
                )
        except (DatasetError, OSError) as exc:
            problems.append(_short(exc, filter_path))
    return problems
