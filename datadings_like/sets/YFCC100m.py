"""
The Yahoo Flickr Creative Commons 100 Million (YFCC100m) dataset.

Important:
    Only images are included.
    No videos or metadata.

See also:
    https://multimediacommons.wordpress.com/yfcc100m-core-dataset/

Warning:
    This code is intended to load a pre-release version of the
    YFCC100m dataset: 10000-odd zip files ("packs") ``PACK.zip`` of
    roughly 10000 images each, stored as members ``PACK/HEX`` (a
    hexadecimal name, no extension). Please complain if you want to use
    the release version available from amazon:
    https://multimediacommons.wordpress.com/yfcc100m-core-dataset/

The dataset is not converted: :py:class:`YFCC100mReader` reads the images
straight from the packs. Some images are not useful (damaged, blank, or
Flickr's placeholder for deleted photos); :py:func:`rejection_reason` and
:py:func:`validate_image` apply the rules that find them, and the command
``python -m datadings_like.sets.YFCC100m_reject IMAGE_PACKS`` (the same as
``python -m datadings_like.sets.YFCC100m``) scans all packs with them, in
parallel, and writes the reject list the reader skips.
"""
from array import array
from bisect import bisect_left
from bisect import bisect_right
from bisect import insort
import io
import os
import re
import zipfile
import zlib

from ..errors import DatasetError
from ..reader import Reader
from ..tools import document_keys
from .types import ImageData

__doc__ += document_keys(ImageData)

__all__ = (
    'DEFAULT_REJECTS',
    'DevNull',
    'REJECTED_FILE',
    'YFCC100mReader',
    'decode_fast',
    'load_rejects',
    'main',
    'noop',
    'open_pack',
    'pack_members',
    'read_reject_file',
    'rejection_reason',
    'validate_image',
    'write_reject_file',
)

#: File name of the reject list the scan writes into the packs' directory,
#: and where the reader looks for it by default.
REJECTED_FILE = 'YFCC100m_rejected_images.msgpack.xz'
#: Images smaller than this (bytes) are rejected.
MIN_SIZE = 2600
#: Flickr's placeholder image for photos that are gone has exactly this size.
PLACEHOLDER_SIZE = 9218
#: Images smaller than this (bytes) must show some variance.
SMALL_SIZE = 20000
#: ... at least 5% of the lines (columns of the image decoded at 1/8
#: scale, in grey) must have a variance of at least this.
MIN_VARIANCE = 50
VARIANCE_PERCENTILE = 95
#: Reasons :py:func:`rejection_reason` gives.
DAMAGED = 'damaged'
TOO_SMALL = 'too small'
PLACEHOLDER = 'placeholder'
LOW_VARIANCE = 'low variance'
REASONS = (DAMAGED, TOO_SMALL, PLACEHOLDER, LOW_VARIANCE)
#: Largest (decompressed) reject list read into memory.
MAX_REJECT_FILE = 1 << 30

_IMAGE_NAME = re.compile(r'/[0-9a-f]+$')
_MSGPACK_MAP = frozenset(range(0x80, 0x90)) | {0xde, 0xdf}


class _DefaultRejects:
    def __repr__(self):
        return 'DEFAULT_REJECTS'


#: Default of ``reject_file_paths``: the reject list
#: ``IMAGE_PACKS_DIR/YFCC100m_rejected_images.msgpack.xz`` that the scan
#: writes (see :py:class:`YFCC100mReader`).
DEFAULT_REJECTS = _DefaultRejects()


# ---------------------------------------------------------------- images

def noop(data):
    """The validator that accepts every image: returns ``data``."""
    return data


def decode_fast(data):
    """
    Decode an image in grey (mode L) as fast as possible: JPEGs at 1/8
    scale (libjpeg decodes only the DC coefficients, one pixel per 8x8
    block; the same pixels simplejpeg gives datadings 3.4.7), other
    formats at full size.

    Parameters:
        data: the image file (bytes)

    Returns:
        2-D uint8 numpy array

    Raises:
        OSError, ValueError, ...: the image cannot be decoded
    """
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format == 'JPEG':
            # scale 1/8; YCbCr and grey JPEGs are decoded to grey directly
            image.draft('L', (1, 1))
        if image.mode != 'L':
            image = image.convert('L')
        else:
            image.load()
        return np.asarray(image)


def rejection_reason(data):
    """
    Why an image is not useful, by the rules used for YFCC100m:

    - smaller than 2600 bytes (``'too small'``);
    - exactly 9218 bytes, Flickr's placeholder for photos that are gone
      (``'placeholder'``);
    - it cannot be decoded, e.g. damaged or cut off (``'damaged'``);
    - smaller than 20000 bytes and less than 5% of the lines of the image
      have a variance of 50 or more (``'low variance'``): decoded in grey
      at 1/8 scale (:py:func:`decode_fast`), the 95th percentile of the
      variances of its columns is below 50 (blank and nearly uniform
      images).

    Parameters:
        data: the image file (bytes)

    Returns:
        one of :py:data:`REASONS`, or None if the image is fine
    """
    import numpy as np

    size = len(data)
    if size < MIN_SIZE:
        return TOO_SMALL
    if size == PLACEHOLDER_SIZE:
        return PLACEHOLDER
    try:
        pixels = decode_fast(data)
    except Exception:  # noqa: BLE001 - whatever the decoder raises, the image is unusable
        return DAMAGED
    if size < SMALL_SIZE and np.percentile(pixels.var(0), VARIANCE_PERCENTILE) < MIN_VARIANCE:
        return LOW_VARIANCE
    return None


def validate_image(data):
    """
    The validator that rejects images that are not useful (see
    :py:func:`rejection_reason`).

    Parameters:
        data: the image file (bytes)

    Returns:
        ``data``, or None if the image is rejected
    """
    return None if rejection_reason(data) else data


# ----------------------------------------------------------------- packs

def open_pack(path):
    """
    Open a zip pack.

    Parameters:
        path: path of ``PACK.zip``

    Returns:
        ``zipfile.ZipFile``

    Raises:
        FileNotFoundError: the pack does not exist
        DatasetError: it is not a readable zip file
    """
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{path}: YFCC100m pack not found') from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise DatasetError(f'{path}: not a readable zip file ({exc})') from None


def pack_members(zf):
    """
    The images of an open pack: its members named ``.../HEX`` (hexadecimal
    digits), in the order of the zip directory; their positions in this
    list are the indices of the reject lists.

    Parameters:
        zf: ``zipfile.ZipFile``

    Returns:
        list of ``zipfile.ZipInfo``
    """
    return [info for info in zf.infolist() if _IMAGE_NAME.search(info.filename)]


def read_member(zf, info, path):
    """
    Read one image from a pack.

    Raises:
        DatasetError: the member is damaged (the message names pack and member)
    """
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError) as exc:
        raise DatasetError(f'{path}: {info.filename}: damaged member ({exc})') from None


# ----------------------------------------------------------- reject lists

def read_reject_file(path):
    """
    Read a reject list: which images of which pack to skip, by their
    index in the pack (see :py:func:`pack_members`). Two formats are
    read, compressed (``.xz``, ``.gz``) or not:

    - a msgpack map ``{pack name: [index, ...]}`` (what the scan writes,
      and what datadings 3.4.7 ships as
      ``YFCC100m_rejected_images.msgpack.xz``);
    - text, one ``PACK INDEX`` line per image (the error file of
      :py:class:`YFCC100mReader`); blank lines and ``#`` comments are
      ignored.

    Parameters:
        path: the reject list

    Returns:
        dict pack name -> list of indices

    Raises:
        FileNotFoundError: the file does not exist
        DatasetError: it is damaged or neither format
    """
    import lzma
    import gzip
    import msgpack
    from ..tools.compression import open_comp

    try:
        with open_comp(path, 'rb') as f:
            data = f.read(MAX_REJECT_FILE + 1)
    except (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile, zlib.error) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise DatasetError(f'{path}: cannot read the reject list ({exc})') from None
    if len(data) > MAX_REJECT_FILE:
        raise DatasetError(f'{path}: reject list too big (more than {MAX_REJECT_FILE} bytes)')
    if data and data[0] in _MSGPACK_MAP:
        try:
            rejects = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise DatasetError(f'{path}: damaged reject list ({exc})') from None
        for name, indices in rejects.items():
            if not isinstance(name, str) or not isinstance(indices, list) or \
                    not all(type(i) is int and i >= 0 for i in indices):
                raise DatasetError(f'{path}: not a reject list {{pack: [index, ...]}} '
                                   f'(entry {name!r})')
        return rejects
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise DatasetError(f'{path}: neither a msgpack nor a text reject list') from None
    rejects = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith('#'):
            continue
        fields = line.split()
        try:
            name, index = fields
            index = int(index)
            if index < 0:
                raise ValueError
        except ValueError:
            raise DatasetError(f'{path}, line {lineno}: {line[:80]!r} is not '
                               '"PACK INDEX"') from None
        rejects.setdefault(name, []).append(index)
    return rejects


def load_rejects(paths, counts=None):
    """
    Read and merge reject lists (see :py:func:`read_reject_file`).

    Parameters:
        paths: reject lists
        counts: optional ``(pack name, number of images)`` pairs; indices
            must then be below the count of their pack

    Returns:
        dict pack name -> sorted ``array('I')`` of distinct indices

    Raises:
        DatasetError: a list is damaged or does not fit the packs
    """
    sizes = dict(counts) if counts is not None else None
    merged = {}
    for path in paths:
        rejects = read_reject_file(path)
        # pack by pack into compact arrays: 2.4 million Python ints take
        # about 100 MB, their arrays 10 MB
        while rejects:
            name, indices = rejects.popitem()
            if sizes is not None and name in sizes and indices and max(indices) >= sizes[name]:
                raise DatasetError(
                    f'{path}: rejects image {max(indices)} of pack {name}, which has '
                    f'{sizes[name]} images; is the list for these packs?')
            if name in merged:
                indices = list(merged[name]) + indices
            merged[name] = array('I', sorted(set(indices)))
    return merged


def write_reject_file(path, rejects):
    """
    Write a reject list as a msgpack map ``{pack name: [index, ...]}``
    (sorted), compressed as the name says (``.xz``, ``.gz``), atomically:
    the file appears complete or not at all. datadings 3.4.7 reads it too.

    Parameters:
        path: the file to write
        rejects: dict pack name -> indices
    """
    import tempfile
    import msgpack
    from ..tools.compression import open_comp

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    content = {name: sorted(set(int(i) for i in rejects[name])) for name in sorted(rejects)}
    suffix = ''.join(s for s in ('.gz', '.xz') if path.endswith(s))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.',
                               suffix='.tmp' + suffix)
    os.close(fd)
    try:
        with open_comp(tmp, 'wb') as f:
            f.write(msgpack.packb(content, use_bin_type=True))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ----------------------------------------------------------------- reader

class DevNull(object):
    """A file that swallows what is written to it (the error file of a
    reader without ``error_file``)."""

    def read(self, *_):
        """Read nothing: returns None."""
        return None

    def write(self, *_):
        """Write nothing."""
        return None

    def flush(self):
        """Nothing to flush."""
        return None

    def close(self):
        """Nothing to close."""
        return None


class _Pack:
    """An open pack: its zip file and its images."""

    def __init__(self, number, path, zf, members):
        self.number = number
        self.path = path
        self.zf = zf
        self.members = members
        self.pid = os.getpid()
        self._by_name = None

    def index_of(self, name):
        if self._by_name is None:
            self._by_name = {info.filename: i for i, info in enumerate(self.members)}
        return self._by_name.get(name)

    def close(self):
        self.zf.close()


class YFCC100mReader(Reader):
    """
    Special reader for the YFCC100m dataset only.
    It reads images from 10000 ZIP files of roughly 10000 images
    each.

    One pass over the whole dataset was made to filter out irrelevant
    images if one of the following conditions is met:

    - Image is damaged/incomplete.
    - Less than 2600 bytes.
    - Exactly 9218 bytes - a placeholder image from Flickr.
    - Less than 20000 bytes and less than 5% of lines in the image
      have a variance less than 50.

    (:py:func:`rejection_reason` states the last rule exactly.)
    Which images are rejected is controlled by the files given as
    ``reject_file_paths``: msgpack or text reject lists (see
    :py:func:`read_reject_file`), such as the one the scan
    ``python -m datadings_like.sets.YFCC100m_reject IMAGE_PACKS_DIR``
    writes, or the one datadings 3.4.7 ships. By default the reader uses
    ``IMAGE_PACKS_DIR/YFCC100m_rejected_images.msgpack.xz``, where the scan
    puts it. Set this to None or empty list to iterate over the whole
    dataset.

    Samples are ``{"key": "PACK/HEX", "image": bytes}``, in the order of
    the packs (sorted by name) and of their zip directories; the images
    are returned as they are stored.
    The number of images of every pack is known beforehand (``counts``,
    by default the shipped list of the pre-release,
    :py:data:`datadings_like.sets.YFCC100m_counts.FILE_COUNTS`), so the
    length and the position of every index are known without opening the
    packs; a pack is opened when its images are read, and a pack that
    holds another number of images raises
    :py:class:`~datadings_like.errors.DatasetError`.

    Parameters:
        image_packs_dir: Path to directory with image ZIP files.
        validator: Callable
                   ``validator(data: bytes) -> Union[bytes, None]``.
                   Validates images before they are returned.
                   Receives image data and returns data or ``None``.
                   :py:func:`validate_image` applies the rules above.
                   A rejected image is skipped, added to the reader's
                   rejects (the length shrinks) and written to
                   ``error_file``.
        reject_file_paths: reject lists to skip, or None / ``()`` for none.
        error_file: path of a text file to which ``PACK INDEX`` lines of
                    images the validator rejects are written (a reject
                    list itself).
        error_file_mode: mode to open ``error_file`` with (``'a'`` or ``'w'``).
        counts: ``(pack name, number of images)`` pairs of the packs
                (keyword only; default: the shipped counts); see
                :py:func:`datadings_like.sets.YFCC100m_counts.scan_counts`.

    Raises:
        FileNotFoundError: a reject list does not exist (the default one:
            the message says how to make it)
        DatasetError: a reject list is damaged or does not fit the packs
        ValueError: ``validator`` is not callable

    Warning:
        A validating reader cannot be copied (or pickled), and it is
        strongly discouraged to copy readers with ``error_file`` paths
        (copies append to the same file).

    Warning:
        A validating reader only reads sequentially from the start: the
        indices of the images after one it rejects change.
        ``get``, ``slice``, ``find_index``, ``find_key``, ``seek_index``
        and ``seek_key`` raise :py:class:`RuntimeError` for other positions.
    """
    _do_not_copy = ('_gen', '_gen_at', '_error_file', '_pack')
    _gen = None
    _gen_at = None
    _pack = None
    _error_file = None

    def __init__(
            self,
            image_packs_dir,
            validator=noop,
            reject_file_paths=DEFAULT_REJECTS,
            error_file=None,
            error_file_mode='a',
            *,
            counts=None,
    ):
        super().__init__()
        if not callable(validator):
            raise ValueError(f'validator must be callable, not {validator!r}')
        self._path = os.fspath(image_packs_dir)
        self._validator = validator
        if counts is None:
            from .YFCC100m_counts import FILE_COUNTS
            counts = FILE_COUNTS
        counts = tuple((str(name), int(count)) for name, count in counts)
        self._names = tuple(name for name, _ in counts)
        self._counts = array('q', (count for _, count in counts))
        self._index_of_pack = {name: i for i, name in enumerate(self._names)}
        if len(self._index_of_pack) != len(self._names):
            raise ValueError('counts list a pack twice')
        self._rejected = load_rejects(self._reject_paths(reject_file_paths), counts)
        self._starts = None
        self._len = self._pack_starts()[-1]
        self._error_file_args = (error_file, error_file_mode)
        self.open_error_file_()

    def _reject_paths(self, paths):
        if paths is DEFAULT_REJECTS:
            default = os.path.join(self._path, REJECTED_FILE)
            if not os.path.exists(default):
                raise FileNotFoundError(
                    f'{default}: no reject list; make it with "python -m '
                    f'datadings_like.sets.YFCC100m_reject {self._path}" (decodes every '
                    'image), or pass reject_file_paths: another list (such as the '
                    "YFCC100m_rejected_images.msgpack.xz of datadings 3.4.7), or () "
                    'to read every image')
            return [default]
        if paths is None:
            return []
        if isinstance(paths, (str, bytes, os.PathLike)):
            return [paths]
        return list(paths)

    # -- life cycle

    @property
    def _validating(self):
        return self._validator is not noop

    def open_error_file_(self):
        """(Re)open the error file with the mode given to the constructor."""
        self._open_error_file(self._error_file_args[1])

    def _open_error_file(self, mode):
        if self._error_file is not None:
            self._error_file.close()
        path = self._error_file_args[0]
        self._error_file = DevNull() if path is None else \
            open(path, mode, encoding='utf-8', buffering=1)

    def _close(self):
        pack = self.__dict__.pop('_pack', None)
        if pack is not None:
            pack.close()
        self.__dict__.pop('_gen', None)
        self.__dict__.pop('_gen_at', None)

    def __exit__(self, exc_type, exc_val, exc_tb):
        self._close()
        error_file = self.__dict__.pop('_error_file', None)
        if error_file is not None:
            error_file.close()

    def __del__(self):
        try:
            self.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass

    def __copy__(self):
        if self._validating:
            raise RuntimeError('cannot copy a validating reader')
        reader = super().__copy__()
        # a copy appends: it must not truncate what this reader wrote
        reader._open_error_file('a')
        return reader

    def __getstate__(self):
        if self._validating:
            raise RuntimeError('cannot copy a validating reader')
        state = self.__dict__.copy()
        for name in self._do_not_copy:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open_error_file('a')

    # -- positions

    def __len__(self):
        return self._len

    def _kept(self, p):
        rejected = self._rejected.get(self._names[p])
        count = self._counts[p]
        if not rejected:
            return count
        return count - bisect_left(rejected, count)

    def _pack_starts(self):
        if self._starts is None:
            starts = array('q', [0])
            for p in range(len(self._names)):
                starts.append(starts[-1] + self._kept(p))
            self._starts = starts
        return self._starts

    def _locate(self, index):
        """Index -> (pack number, member index in the pack)."""
        index = self._normalize_index(index)
        starts = self._pack_starts()
        p = bisect_right(starts, index) - 1
        k = index - starts[p]
        rejected = self._rejected.get(self._names[p])
        if not rejected:
            return p, k
        # the k-th image that is not rejected: the least m with
        # m == k + (number of rejected indices <= m)
        m = k
        while True:
            nxt = k + bisect_right(rejected, m)
            if nxt == m:
                return p, m
            m = nxt

    def _check_position(self, index, what):
        if index != 0 and self._validating:
            raise RuntimeError(f'{what} while validating')

    def _open(self, p):
        """The open pack number ``p`` (one pack is kept open)."""
        pack = self._pack
        if pack is not None and pack.number == p and pack.pid == os.getpid():
            return pack
        if pack is not None:
            # a pack inherited through fork shares its file offset with the
            # parent: never read through it, and closing it only affects us
            pack.close()
            self._pack = None
        path = os.path.join(self._path, self._names[p] + '.zip')
        zf = open_pack(path)
        members = pack_members(zf)
        if len(members) != self._counts[p]:
            zf.close()
            raise DatasetError(
                f'{path}: holds {len(members)} images, the counts say '
                f'{self._counts[p]}; for another copy of the packs pass '
                'counts=datadings_like.sets.YFCC100m_counts.scan_counts(image_packs_dir)')
        pack = _Pack(p, path, zf, members)
        self._pack = pack
        return pack

    def _find(self, key):
        """Index of the image ``key`` (validation or not)."""
        if not isinstance(key, str):
            raise KeyError(key)
        name = key.split('/', 1)[0]
        p = self._index_of_pack.get(name)
        if p is None:
            raise KeyError(f'{key!r}: no pack {name!r}')
        pack = self._open(p)
        m = pack.index_of(key)
        if m is None:
            raise KeyError(f'{key!r} not found in {pack.path}')
        rejected = self._rejected.get(name, ())
        r = bisect_left(rejected, m)
        if r < len(rejected) and rejected[r] == m:
            raise KeyError(f'{key!r} is on the reject list')
        return self._pack_starts()[p] + m - r

    def __contains__(self, key):
        try:
            self._find(key)
            return True
        except KeyError:
            return False

    def find_index(self, key):
        """
        Returns the index of the sample with the given key.

        Raises:
            KeyError: no image has this key, or it is rejected
            RuntimeError: validating, and the index is not 0
        """
        index = self._find(key)
        self._check_position(index, 'found index may be incorrect')
        return index

    def find_key(self, index):
        """
        Returns the key of the sample with the given index.

        Raises:
            IndexError: index out of range
            RuntimeError: validating, and the index is not 0
        """
        self._check_position(index, 'found key may be incorrect')
        p, m = self._locate(index)
        return self._open(p).members[m].filename

    def seek_index(self, index):
        """
        Seek to the given index.

        Raises:
            IndexError: index out of range
            RuntimeError: validating, and the index is not 0
        """
        self._check_position(index, 'can only seek to start')
        super().seek_index(index)

    # -- reading

    def _reject(self, name, m):
        rejected = self._rejected.setdefault(name, array('I'))
        r = bisect_left(rejected, m)
        if r == len(rejected) or rejected[r] != m:
            insort(rejected, m)
            self._starts = None
            self._len -= 1
        if self._error_file is None:  # closed, and still read from
            self._open_error_file('a')
        self._error_file.write(f'{name} {m}\n')

    def _stream(self, start):
        """Yield ``(key, data)`` from index ``start`` on, pack after pack."""
        if start >= len(self):
            return
        p, m = self._locate(start)
        validating = self._validating
        while p < len(self._names):
            if self._counts[p]:
                pack = self._open(p)
                name = self._names[p]
                rejected = set(self._rejected.get(name, ()))
                for i in range(m, len(pack.members)):
                    if i in rejected:
                        continue
                    info = pack.members[i]
                    data = read_member(pack.zf, info, pack.path)
                    if validating:
                        data = self._validator(data)
                        if data is None:
                            self._reject(name, i)
                            continue
                    yield info.filename, data
            p += 1
            m = 0

    @staticmethod
    def _output(key, data, yield_key, raw):
        from ..msgpack import packb
        sample = ImageData(key, data)
        if raw:
            sample = packb(sample)
        return (key, sample) if yield_key else sample

    def get(self, index, yield_key=False, raw=False, copy=True):
        """
        Returns sample at given index.

        ``copy`` has no effect; samples are always new objects.

        Parameters:
            index: Index of the sample
            yield_key: If True, returns (key, sample)
            raw: If True, returns sample as msgpacked message
            copy: no effect

        Returns:
            Sample as index.

        Raises:
            IndexError: index out of range
            RuntimeError: validating, and the index is not 0
        """
        self._check_position(index, 'can only seek to start')
        index = self._normalize_index(index)
        for key, data in self._stream(index):
            return self._output(key, data, yield_key, raw)
        raise IndexError(f'index {index}: every image from here on was rejected')

    def slice(self, start, stop=None, yield_key=False, raw=False, copy=True):
        """
        Returns a generator of samples selected by the given slice.
        The packs are read sequentially from ``start``: use large slices.

        ``copy`` has no effect; samples are always new objects.

        Parameters:
            start: start index of slice
            stop: stop index of slice
            yield_key: if True, yield (key, sample)
            raw: if True, returns sample as msgpacked message
            copy: no effect

        Returns:
            Iterator of selected samples

        Raises:
            RuntimeError: validating, and ``start`` is not 0
        """
        start, stop, _ = slice(start, stop).indices(len(self))
        self._check_position(start, 'can only seek to start')
        return self._slice(start, stop, yield_key, raw)

    def _slice(self, start, stop, yield_key, raw, owner=None):
        n = start
        if n >= stop:
            return
        stream = self._stream(start)
        try:
            for key, data in stream:
                n += 1
                if owner is not None and self._owner is owner:
                    self._i = n
                yield self._output(key, data, yield_key, raw)
                if n >= stop:
                    return
        finally:
            stream.close()

    def _iter_impl(self, start, stop, yield_key, raw, copy, chunk_size):
        self._check_position(start, 'can only seek to start')
        self._i = start
        owner = self._owner = object()
        # one pass through the packs (a validating reader's stop, the
        # length when the iteration began, is passed only if no image is rejected)
        return self._slice(start, stop, yield_key, raw, owner)

    def _next(self, raw):
        i = self._i
        if i >= len(self):
            raise StopIteration
        if self._gen is None or self._gen_at != i:
            self._check_position(i, 'can only seek to start')
            self._gen = self._stream(i)
        try:
            key, data = next(self._gen)
        except StopIteration:
            self._gen = self._gen_at = None
            raise
        self._i = self._gen_at = i + 1
        return self._output(key, data, False, raw)


def main(argv=None):
    """
    Scan image packs for images that are not useful and write the reject
    list (the same as ``python -m datadings_like.sets.YFCC100m_reject``).
    """
    from .YFCC100m_reject import main as scan_main
    return scan_main(argv, prog='python -m datadings_like.sets.YFCC100m')


if __name__ == '__main__':
    from ..tools.cli import run_main
    run_main(main)
