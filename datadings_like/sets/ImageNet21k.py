"""
Metadata of the ImageNet21k winter 2021 release (``winter21_whole.tar.gz``)
as processed by Alibaba MIIL ("ImageNet-21K-P"): the 10450 classes
(WordNet synsets with more than 500 images) and their semantic tree.

A sample's ``"label"`` is the index of its synset in :py:data:`SYNSET_LIST`
(the order of ``class_description`` in MIIL's ``imagenet21k_miil_tree.pth``,
which is sorted by WNID); its ``"label_tree"`` is
``SYNSET_TREE_LIST[label]``: the label itself, then the labels of its
ancestors up to the root of its tree, e.g. ``[10, 9, 66, 65, 144]``.
These are the numbers datadings 3.4.7 gives.

The list is shipped as ``ImageNet21k_synsets.tsv.xz`` and loaded on first
use. Its format: lines starting with ``#`` are comments, except
``# samples: train=N val=M``, which gives the number of samples of each
split of the full release; every other line is
``WNID<TAB>label tree<TAB>words``, one per class in label order, with the
label tree as comma-separated labels. ``ImageNet21k_create_meta`` makes
this file from the release's files.

Attributes:
    SYNSET_LIST: tuple of the 10450 WNIDs in label order.
    SYNSETS: dict WNID -> label.
    SYNSET_WORDS: dict WNID -> words (a short description), in label order.
    SYNSET_TREE_LIST: tuple of the label tree (a tuple of labels) of each label.
    CLASSES: tuple of the words of each label.
    NUM_SAMPLES: dict split -> number of samples (``train``, ``val``).
    NUM_TRAIN_SAMPLES, NUM_VAL_SAMPLES: the same numbers.
    NUM_VALID_SYNSETS: number of classes (10450).
    VAL_SAMPLES_PER_SYNSET: images of each synset in the validation split (50).

See also:
    https://github.com/Alibaba-MIIL/ImageNet21K
"""
import threading

__all__ = (
    'CLASSES',
    'DATA_FILE',
    'NUM_SAMPLES',
    'NUM_TRAIN_SAMPLES',
    'NUM_VALID_SYNSETS',
    'NUM_VAL_SAMPLES',
    'SYNSETS',
    'SYNSETS_FILE',
    'SYNSET_LIST',
    'SYNSET_TREE_LIST',
    'SYNSET_WORDS',
    'TREE_FILE',
    'VAL_SAMPLES_PER_SYNSET',
    'load_synsets',
    'parse_synsets',
)

#: Number of classes of ImageNet-21K-P (winter 2021).
NUM_VALID_SYNSETS = 10450
#: The first 50 images of a synset (by file name) are its validation images.
VAL_SAMPLES_PER_SYNSET = 50
#: Name of the shipped synset list.
SYNSETS_FILE = 'ImageNet21k_synsets.tsv.xz'

_REGISTRATION = ('https://image-net.org/download-images.php (registration required: log in '
                 'and download winter21_whole.tar.gz of the winter 2021 release of '
                 'ImageNet21K), or by BitTorrent from '
                 'https://academictorrents.com/details/8ec0d8df0fbb507594557bce993920442f4f6477')
#: The images: a tar of one tar per synset (about 1.2 TB).
DATA_FILE = {
    'path': 'winter21_whole.tar.gz',
    'url': None,
    'md5': 'ab313ce03179fd803a401b02c651c0a2',
    'help': _REGISTRATION,
}
#: MIIL's semantic tree (a PyTorch file, read without PyTorch).
TREE_FILE = {
    'path': 'imagenet21k_miil_tree.pth',
    'url': 'https://miil-public-eu.oss-eu-central-1.aliyuncs.com/model-zoo/'
           'ImageNet_21K_P/resources/winter21/imagenet21k_miil_tree.pth',
    'md5': 'ed3a7de5b90ace4999a99fca2a129d74',
}

_LAZY = ('CLASSES', 'NUM_SAMPLES', 'NUM_TRAIN_SAMPLES', 'NUM_VAL_SAMPLES', 'SYNSETS',
         'SYNSET_LIST', 'SYNSET_TREE_LIST', 'SYNSET_WORDS')
_lock = threading.Lock()
_cache = {}


def parse_synsets(text, where=SYNSETS_FILE):
    """
    Parse a synset list in the format of ``ImageNet21k_synsets.tsv.xz``
    (see the module's description).

    Parameters:
        text: the decompressed file
        where: name for messages

    Returns:
        ``(words, trees, counts)``: dict WNID -> words in label order,
        list of label trees (tuples), dict split -> number of samples

    Raises:
        ValueError: the text is not such a list (the message says where)
    """
    words = {}
    trees = []
    counts = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith('#'):
            body = line[1:].strip()
            if body.startswith('samples:'):
                for item in body[len('samples:'):].split():
                    split, _, number = item.partition('=')
                    counts[split] = int(number)
            continue
        if not line:
            continue
        try:
            wnid, tree, word = line.split('\t', 2)
            labels = tuple(int(v) for v in tree.split(','))
        except ValueError:
            raise ValueError(f'{where}: line {lineno}: expected WNID<TAB>labels<TAB>words') from None
        if wnid in words:
            raise ValueError(f'{where}: line {lineno}: {wnid} is listed twice')
        if labels[0] != len(trees):
            raise ValueError(f'{where}: line {lineno}: the label tree of {wnid} must start '
                             f'with its label {len(trees)}')
        words[wnid] = word
        trees.append(labels)
    for lineno, labels in enumerate(trees):
        if any(not 0 <= v < len(trees) for v in labels):
            raise ValueError(f'{where}: the label tree of label {lineno} has labels out of range')
    return words, trees, counts


def load_synsets():
    """
    Load the synset list shipped with this package.

    Returns:
        ``(words, trees, counts)`` as :py:func:`parse_synsets`
    """
    import lzma
    from importlib import resources

    data = resources.files(__package__).joinpath(SYNSETS_FILE).read_bytes()
    return parse_synsets(lzma.decompress(data).decode('utf-8'))


def _load():
    with _lock:
        if not _cache:
            words, trees, counts = load_synsets()
            _cache['SYNSET_WORDS'] = words
            _cache['SYNSET_LIST'] = tuple(words)
            _cache['SYNSETS'] = {wnid: i for i, wnid in enumerate(words)}
            _cache['SYNSET_TREE_LIST'] = tuple(trees)
            _cache['CLASSES'] = tuple(words.values())
            _cache['NUM_SAMPLES'] = dict(counts)
            _cache['NUM_TRAIN_SAMPLES'] = counts.get('train')
            _cache['NUM_VAL_SAMPLES'] = counts.get('val')
    return _cache


def __getattr__(name):
    if name in _LAZY:
        return _load()[name]
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
