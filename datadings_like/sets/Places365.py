"""
Metadata of Places365 (Places365-Standard and Places365-Challenge), the
scene classification data of the Places database: 365 scene classes.

A sample's ``"label"`` is the index of its class in :py:data:`CLASSES`,
the order of ``categories_places365.txt`` in the release's file lists
(sorted by name): 0 is ``airfield``, 8 ``apartment_building/outdoor``.
Class names are the directories of the training images below their
initial letter, e.g. ``data_large/a/apartment_building/outdoor/`` is
``apartment_building/outdoor``.

The list is shipped as ``Places365_classes.txt.xz`` (one class per line
in label order; lines starting with ``#`` are comments) and loaded on
first use.

Attributes:
    CLASSES: tuple of the 365 class names in label order.
    CLASS_TO_ID: dict class name -> label.
    ID_TO_CLASS: dict label -> class name.
    NUM_CLASSES: 365.
    NUM_SAMPLES: dict ``(split, challenge)`` -> number of images; the
        validation and test images are the same for both train sets.

See also:
    http://places2.csail.mit.edu/index.html
"""
import threading

__all__ = (
    'CLASSES',
    'CLASSES_FILE',
    'CLASS_TO_ID',
    'ID_TO_CLASS',
    'NUM_CLASSES',
    'NUM_SAMPLES',
    'class_of_category',
    'load_classes',
    'parse_categories',
)

#: Number of classes.
NUM_CLASSES = 365
#: Name of the shipped class list.
CLASSES_FILE = 'Places365_classes.txt.xz'
#: Images per split, for the standard (False) and challenge (True) train set.
NUM_SAMPLES = {
    ('training', False): 1803460,
    ('training', True): 8026628,
    ('validation', False): 36500,
    ('validation', True): 36500,
    ('testing', False): 328500,
    ('testing', True): 328500,
}

_LAZY = ('CLASSES', 'CLASS_TO_ID', 'ID_TO_CLASS')
_lock = threading.Lock()
_cache = {}


def load_classes():
    """
    Load the class list shipped with this package.

    Returns:
        tuple of the class names in label order

    Raises:
        ValueError: the shipped file is damaged
    """
    import lzma
    from importlib import resources

    data = resources.files(__package__).joinpath(CLASSES_FILE).read_bytes()
    lines = lzma.decompress(data).decode('utf-8').splitlines()
    classes = tuple(line for line in lines if line and not line.startswith('#'))
    if len(classes) != NUM_CLASSES or len(set(classes)) != NUM_CLASSES:
        raise ValueError(f'{CLASSES_FILE}: expected {NUM_CLASSES} distinct classes, '
                         f'found {len(classes)}')
    return classes


def class_of_category(category):
    """
    The class name of a category of ``categories_places365.txt``:
    ``'/a/apartment_building/outdoor'`` -> ``'apartment_building/outdoor'``.

    Parameters:
        category: the category as the file gives it

    Returns:
        str

    Raises:
        ValueError: not of the form ``/x/name``
    """
    parts = category.split('/')
    if len(parts) < 3 or parts[0] or len(parts[1]) != 1 or not all(parts[2:]):
        raise ValueError(f'{category!r} is not a category of the form /x/name')
    return '/'.join(parts[2:])


def parse_categories(text, where='categories_places365.txt'):
    """
    Parse ``categories_places365.txt``: one ``/x/name label`` line per
    class, with labels 0, 1, 2 ... in order.

    Parameters:
        text: the file's content (str)
        where: name of the file for messages

    Returns:
        tuple of the class names in label order

    Raises:
        ValueError: a line is malformed or a label is out of order
    """
    classes = []
    for lineno, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 2:
                raise ValueError('expected "/x/name label"')
            name = class_of_category(fields[0])
            label = int(fields[1])
        except ValueError as exc:
            raise ValueError(f'{where}, line {lineno}: {line.strip()[:80]!r}: {exc}') from None
        if label != len(classes):
            raise ValueError(f'{where}, line {lineno}: label {label}, expected {len(classes)}')
        classes.append(name)
    return tuple(classes)


def _load(name):
    with _lock:
        if not _cache:
            classes = load_classes()
            _cache['CLASSES'] = classes
            _cache['CLASS_TO_ID'] = {c: i for i, c in enumerate(classes)}
            _cache['ID_TO_CLASS'] = dict(enumerate(classes))
    return _cache[name]


def __getattr__(name):
    if name in _LAZY:
        return _load(name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
