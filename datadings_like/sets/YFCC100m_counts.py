"""
How many images each zip pack of the YFCC100m pre-release holds: the
10000-odd packs of :py:class:`~datadings_like.sets.YFCC100m.YFCC100mReader`,
with the number of images (members named ``PACK/HEX``) of each, so that
the reader knows its length and where each index is without opening every
pack.

The list is shipped as ``YFCC100m_counts.tsv.xz``: ``PACK<TAB>COUNT``
lines sorted by pack name, lines starting with ``#`` are comments; it is
loaded on first use. :py:func:`scan_counts` makes the same list from a
directory of packs, e.g. for another copy of the dataset.

Attributes:
    FILE_COUNTS: tuple of ``(pack name, number of images)``, sorted by name
        (9456 packs; a few hold no images).
    FILES_TOTAL: the number of images of all packs (94502424).
"""
import threading

__all__ = (
    'COUNTS_FILE',
    'FILES_TOTAL',
    'FILE_COUNTS',
    'load_counts',
    'parse_counts',
    'scan_counts',
)

#: Name of the shipped list.
COUNTS_FILE = 'YFCC100m_counts.tsv.xz'

_LAZY = ('FILE_COUNTS', 'FILES_TOTAL')
_lock = threading.Lock()
_cache = {}


def parse_counts(text, where=COUNTS_FILE):
    """
    Parse a list of counts: ``PACK<TAB>COUNT`` lines (any whitespace
    between the two), ``#`` comments and blank lines ignored.

    Parameters:
        text: the list (str)
        where: name of the list for messages

    Returns:
        tuple of ``(pack name, count)`` in the order of the list

    Raises:
        ValueError: a malformed line, a negative count, a pack listed twice
    """
    counts = []
    seen = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith('#'):
            continue
        fields = line.split()
        try:
            name, count = fields
            count = int(count)
            if count < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f'{where}, line {lineno}: {line[:80]!r} is not '
                             '"PACK COUNT"') from None
        if name in seen:
            raise ValueError(f'{where}, line {lineno}: pack {name} is listed twice')
        seen.add(name)
        counts.append((name, count))
    return tuple(counts)


def load_counts():
    """
    Load the counts shipped with this package.

    Returns:
        tuple of ``(pack name, number of images)``, sorted by name
    """
    import lzma
    from importlib import resources

    data = resources.files(__package__).joinpath(COUNTS_FILE).read_bytes()
    return parse_counts(lzma.decompress(data).decode('utf-8'))


def scan_counts(image_packs_dir):
    """
    Count the images of every zip pack ``NAME.zip`` in a directory; only
    the zip directories are read, which takes seconds for all packs.

    Parameters:
        image_packs_dir: directory of the packs

    Returns:
        tuple of ``(pack name, number of images)``, sorted by name, like
        :py:data:`FILE_COUNTS`

    Raises:
        FileNotFoundError: the directory does not exist
        DatasetError: a pack is not a readable zip file
    """
    import os
    from .YFCC100m import open_pack
    from .YFCC100m import pack_members

    names = sorted(entry.name[:-len('.zip')] for entry in os.scandir(image_packs_dir)
                   if entry.name.endswith('.zip') and entry.is_file())
    counts = []
    for name in names:
        path = os.path.join(image_packs_dir, name + '.zip')
        with open_pack(path) as zf:
            counts.append((name, len(pack_members(zf))))
    return tuple(counts)


def _load(name):
    with _lock:
        if not _cache:
            counts = load_counts()
            _cache['FILE_COUNTS'] = counts
            _cache['FILES_TOTAL'] = sum(n for _, n in counts)
    return _cache[name]


def __getattr__(name):
    if name in _LAZY:
        return _load(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
