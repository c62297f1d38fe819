"""
Metadata of the ILSVRC 2012 classification challenge (ImageNet-1k).

The 1000 classes are WordNet synsets. A sample's ``"label"`` is the index
of its synset ID (WNID) in the sorted list of all 1000 WNIDs
(:py:data:`SYNSET_LIST`), e.g., label 0 is ``n01440764`` (tench).
This is *not* the ``ILSVRC2012_ID`` of the devkit, which numbers the
synsets in a different order.

The list of synsets shipped here (``ILSVRC2012_synsets.tsv.xz``,
one ``WNID<TAB>words`` line per class, sorted by WNID) is the same one the
official devkit (``ILSVRC2012_devkit_t12.tar.gz``, ``data/meta.mat``)
defines; it is loaded on first use.

Attributes:
    SYNSET_LIST: tuple of the 1000 WNIDs, sorted; ``SYNSET_LIST[label]``
        is the WNID of a label.
    SYNSETS: dict WNID -> label.
    SYNSET_WORDS: dict WNID -> words (comma separated synonyms),
        in label order.
    CLASSES: tuple of the words of each label, in label order.
    NUM_SAMPLES: number of samples per split.

See also:
    https://image-net.org/challenges/LSVRC/2012/
"""
import threading

__all__ = (
    'CLASSES',
    'NUM_SAMPLES',
    'SYNSETS',
    'SYNSET_LIST',
    'SYNSET_WORDS',
    'load_synset_words',
)

#: Number of samples per split.
NUM_SAMPLES = {'train': 1281167, 'val': 50000, 'test': 100000}

SYNSETS_FILE = 'ILSVRC2012_synsets.tsv.xz'

_LAZY = ('CLASSES', 'SYNSETS', 'SYNSET_LIST', 'SYNSET_WORDS')
_lock = threading.Lock()
_cache = {}


def load_synset_words():
    """
    Load the synsets shipped with this package.

    Returns:
        dict WNID -> words, sorted by WNID (i.e., in label order)
    """
    import lzma
    from importlib import resources

    data = resources.files(__package__).joinpath(SYNSETS_FILE).read_bytes()
    text = lzma.decompress(data).decode('utf-8')
    words = {}
    for line in text.splitlines():
        if line:
            wnid, word = line.split('\t', 1)
            words[wnid] = word
    if list(words) != sorted(words):  # pragma: no cover - packaging error
        raise RuntimeError(f'{SYNSETS_FILE} is not sorted by WNID')
    return words


def _load():
    with _lock:
        if not _cache:
            words = load_synset_words()
            _cache['SYNSET_WORDS'] = words
            _cache['SYNSET_LIST'] = tuple(words)
            _cache['SYNSETS'] = {wnid: i for i, wnid in enumerate(words)}
            _cache['CLASSES'] = tuple(words.values())
    return _cache


def __getattr__(name):
    if name in _LAZY:
        return _load()[name]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
