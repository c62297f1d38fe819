"""Create data set files from your own images, the im2rec way.

INPUT is either

- a directory with one sub-directory per class, a class-per-folder tree
  (INPUT/{LABEL}/...): every image below a class directory, also in
  deeper sub-directories and behind symbolic links to directories (but
  not around a loop), is a sample of that class. Labels are numbers:
  the positions of the class directories in natural sort order (or in
  --classes FILE). Images directly in INPUT and hidden files are ignored.
  Images are files ending in .jpg .jpeg .png .bmp .gif .tif .tiff .webp
  (--exts changes that).

- or one or more list files. im2rec lists, tab separated:

      index<TAB>label[<TAB>label...]<TAB>path

  or, for files ending in .csv:

      path,label[,label...]

  (a header line such as "path,label" is skipped). Paths are relative to
  --root (default: the directory of the list file). Numeric labels are
  stored as numbers (464.000000 becomes 464). If any label is not a
  number, labels are class names, stored as their positions in natural
  sort order (or in --classes FILE). A sample with several labels (all
  samples, if any has several) gets a list of labels.

Output, in --outdir (default: the input directory, or the directory of
the first list file):

- SPLIT.msgpack for each split. Without --split, a directory gives
  train.msgpack and each list file a split named after it (val.lst gives
  val.msgpack). --split train=0.9,val=0.1 distributes the samples by a
  hash of their key instead: deterministic, an image always lands in the
  same split, however many images are added or removed.
- classes.txt: class names, line i (from 0) is label i; only when labels
  are names (always for directories).

With --shards N (or --shard-size N) each split is written as shards,
SPLIT-00000-of-000NN.msgpack ... and the shard list SPLIT.shards, which
ShardedReader and datadings_like.torch read as one dataset: the same
samples in the same order as SPLIT.msgpack (with --shuffle yes: the same
permutation of the images, for the same --seed). Each shard is one task;
--scheduler ADDRESS runs the tasks on a Dask cluster whose workers see
the images and OUTDIR at the same paths (--scheduler local:N: N worker
processes here). A run that failed or was killed is run again with the
same options (and --seed) to write only the shards that are missing.

With --make-list, SPLIT.lst list files (and classes.txt) are written
instead, without converting anything: check or edit them, then convert
them with "datadings-write folder SPLIT.lst ... --root ROOT".

Sample keys are the image paths relative to the root ("cat/0001.jpg"),
as written in list files. JPEG and PNG images are stored byte for byte
unless --resize or --compress is given; CMYK JPEGs become RGB JPEGs,
other formats (BMP, GIF, TIFF, WebP) PNG. 16-bit grey images stay 16-bit
(so do 32-bit ones whose pixels are whole numbers from 0 to 65535); other
32-bit images and 16-bit colour TIFFs are skipped, as no PNG holds them
losslessly. --compress makes every image an 8-bit JPEG. Files that cannot
be read or stored, and names that are not UTF-8, are skipped with a
warning.

Examples:

    datadings-write folder photos/ --split train=0.9,val=0.1
    datadings-write folder train.lst val.lst --root images/ -o out/
    datadings-write folder labels.csv --resize 256 --compress 90
    datadings-write folder photos/ --split train=0.8,test=0.2 --make-list
"""
from contextlib import contextmanager
from pathlib import Path
import csv
import logging
import os
import re
import sys
import threading
import warnings

from natsort import natsorted

from .folder import CLASSES_FILE
from .folder import CSV_SUFFIXES
from .folder import IMAGE_EXTENSIONS
from .folder import load_classes
from .tools import ImageError
from .tools import convert_image
from .tools import open_image
from .tools import write_samples
from .tools import write_splits
from .types import ImageClassificationData
from ..tools import document_keys
from ..tools import hash_string
from ..tools import query_user
from ..tools import stdin_is_interactive
from ..tools.cli import UserError
from ..tools.cli import run_main

__doc__ += '\n' + document_keys(ImageClassificationData, postfix=(
    '\n    "label" is a number, or a list of numbers for multi-label samples.\n'))

__all__ = ('MAX_RESIZE', 'ListSource', 'TreeSource', 'assign_split', 'convert_shard', 'main',
           'parse_split', 'read_list', 'shard_tasks', 'write_sharded')

_HEADER_NAMES = {'path', 'file', 'filename', 'file_name', 'image', 'image_path',
                 'img', 'name', 'id', 'fname'}
_SPLIT_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')
_MAX_REPORTED = 5
#: Largest ``--resize``: the shorter side of a resized image. A square
#: 16384x16384 RGB image already takes 768 MiB.
MAX_RESIZE = 16384
#: Largest image --resize may produce (a very long or tall image resized
#: by its shorter side would otherwise take any amount of memory).
MAX_RESIZED_PIXELS = MAX_RESIZE * MAX_RESIZE


# ------------------------------------------------------------------ splits

def parse_split(spec):
    """
    Parse a split specification ``NAME=FRACTION[,NAME=FRACTION...]``; a
    single ``NAME`` means ``NAME=1``. Fractions must add up to 1.

    Returns:
        list of ``(name, upper bound)`` with cumulative upper bounds

    Raises:
        ValueError: bad specification
    """
    parts = [p.strip() for p in spec.split(',') if p.strip()]
    if not parts:
        raise ValueError('empty split specification')
    names, fractions = [], []
    for part in parts:
        name, sep, fraction = part.partition('=')
        name = name.strip()
        if not _SPLIT_NAME.match(name):
            raise ValueError(f'invalid split name {name!r}: use letters, digits, _ . -')
        if name in names:
            raise ValueError(f'split {name!r} given twice')
        try:
            value = float(fraction) if sep else 1.0
        except ValueError:
            raise ValueError(f'invalid fraction {fraction!r} for split {name!r}') from None
        if not 0 < value <= 1:
            raise ValueError(f'fraction of split {name!r} must be in (0, 1], not {value}')
        names.append(name)
        fractions.append(value)
    total = sum(fractions)
    if abs(total - 1) > 1e-6:
        raise ValueError(f'split fractions add up to {total:g}, not 1')
    bounds, cumulative = [], 0.0
    for name, value in zip(names, fractions):
        cumulative += value / total
        bounds.append((name, cumulative))
    bounds[-1] = (names[-1], 2.0)  # rounding: the last split takes the rest
    return bounds


def assign_split(key, bounds):
    """The split of a sample: a hash of its key, compared with the bounds
    of :py:func:`parse_split`. Depends on nothing but the key."""
    position = hash_string(key, salt=b'split') / 2 ** 64
    for name, bound in bounds:
        if position < bound:
            return name
    return bounds[-1][0]  # pragma: no cover - the last bound is 2


# ----------------------------------------------------------------- sources

def _has_ext(name, exts):
    return name.lower().endswith(exts) and not name.startswith('.')


def _is_text(name):
    """Whether a file name is valid UTF-8: undecodable bytes arrive as
    surrogate escapes, which neither keys nor list files can hold."""
    try:
        name.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def _shown(path):
    """A path for messages; bytes that are not UTF-8 are shown as ``\\xNN``."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


_NOT_TEXT = 'name is not valid UTF-8 (sample keys are text); rename it'


def _is_dir(entry):
    try:
        return entry.is_dir()  # follows symbolic links
    except OSError:
        return False


class TreeSource:
    """
    Samples of a class-per-folder tree: ``(key, path, label)`` with the
    key relative to ``root`` (``"cat/0001.jpg"``).

    Symbolic links to directories are followed, unless they lead back to
    a directory they are in or to ``root`` (a loop). Files and directories
    whose names are not valid UTF-8 are skipped.

    Parameters:
        root: directory with one sub-directory per class
        exts: tuple of lower-case file name extensions of images
        classes: class names in label order, or None for natsorted
            directory names

    Attributes:
        problems: dict ``path -> message`` of what was skipped while
            listing the tree and why (names that are not UTF-8, symbolic
            link loops, directories that cannot be listed); filled by the
            constructor and by iterating
    """

    def __init__(self, root, exts=IMAGE_EXTENSIONS, classes=None):
        self.root = root
        self.exts = tuple(exts)
        self.problems = {}
        entries = [e for e in os.scandir(root) if not e.name.startswith('.')]
        dirs = []
        for entry in entries:
            if _is_dir(entry):
                if _is_text(entry.name):
                    dirs.append(entry.name)
                else:
                    self._problem(entry.path, 'class directory ' + _NOT_TEXT)
        dirs = natsorted(dirs)
        self.ignored = sum(1 for e in entries if e.is_file() and _has_ext(e.name, self.exts))
        if classes is None:
            if not dirs:
                raise UserError(f'{root}: no class directories found '
                                '(expected one sub-directory per class)')
            classes = dirs
        else:
            unknown = [d for d in dirs if d not in set(classes)]
            if unknown:
                raise UserError(f'{root}: class directories not in the classes file: '
                                + ', '.join(unknown[:_MAX_REPORTED]))
        self.classes = list(classes)
        self.named = True

    def _problem(self, path, message):
        self.problems.setdefault(_shown(path), message)

    def __iter__(self):
        for label, name in enumerate(self.classes):
            top = os.path.join(self.root, name)
            if not os.path.isdir(top):
                continue
            for path in self._walk(top):
                key = Path(os.path.relpath(path, self.root)).as_posix()
                yield key, path, label

    def _walk(self, top):
        """
        Image files below ``top`` in natural order, a directory's files
        before its sub-directories (as :py:func:`os.walk` from the top).
        Symbolic links to directories are followed; a link back to one of
        the directories it is in, or to the root, is a loop and is not.
        """
        def ident(path):
            st = os.stat(path)
            return st.st_dev, st.st_ino

        # a link back to the root is a loop too (it would add other classes);
        # an explicit stack: a very deep tree must not exhaust the recursion limit
        root = ident(self.root)
        if ident(top) == root:
            self._problem(top, f'symbolic link back to {_shown(self.root)} (a loop): '
                               'not followed')
            return
        stack = [(top, {root: self.root, ident(top): top})]
        while stack:
            directory, ancestors = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError as exc:
                self._problem(directory, f'cannot list directory ({exc.strerror or exc}): skipped')
                continue
            files, dirs = [], []
            for entry in entries:
                if not entry.name.startswith('.'):
                    (dirs if _is_dir(entry) else files).append(entry.name)
            for name in natsorted(files):
                if _has_ext(name, self.exts):
                    path = os.path.join(directory, name)
                    if _is_text(name):
                        yield path
                    else:
                        self._problem(path, 'file ' + _NOT_TEXT)
            below = []
            for name in natsorted(dirs):
                path = os.path.join(directory, name)
                if not _is_text(name):
                    self._problem(path, 'directory ' + _NOT_TEXT)
                    continue
                try:
                    key = ident(path)
                except OSError as exc:
                    self._problem(path, f'cannot open directory ({exc.strerror or exc}): skipped')
                    continue
                if key in ancestors:
                    self._problem(path, f'symbolic link back to {_shown(ancestors[key])} '
                                        '(a loop): not followed')
                    continue
                below.append((path, {**ancestors, key: path}))
            stack.extend(reversed(below))

    def groups(self):
        """Default splits without ``--split``: everything is ``train``."""
        return {'train': self}


def read_list(path):
    """
    Read an im2rec list (``index<TAB>label[<TAB>label...]<TAB>path``) or a
    CSV list (``path,label[,label...]``, for ``.csv`` files; a header line
    is skipped).

    Yields:
        ``(line number, path, [label strings])``

    Raises:
        UserError: a line does not have the format, or the file is not
            UTF-8 text (an image or a dataset file given by mistake)
    """
    try:
        yield from _read_list(path)
    except UnicodeDecodeError:
        raise UserError(_not_text(path)) from None


def _not_text(path):
    return f'{path}: not a list file (not UTF-8 text)'


def _csv_rows(f, path):
    rows = csv.reader(f)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UserError(f'{path}:{rows.line_num}: not a valid CSV line ({exc})') from None
        if any('\0' in cell for cell in row):  # text files hold no NUL characters
            raise UserError(_not_text(path))
        yield row


def _read_list(path):
    csv_mode = str(path).lower().endswith(CSV_SUFFIXES)
    with open(path, encoding='utf-8-sig', newline='' if csv_mode else None) as f:
        if csv_mode:
            for number, row in enumerate(_csv_rows(f, path), 1):
                row = [c.strip() for c in row]
                if not row or not any(row) or row[0].startswith('#'):
                    continue
                if number == 1 and row[0].lower() in _HEADER_NAMES:
                    continue
                if len(row) < 2 or not row[0] or not all(row[1:]):
                    raise UserError(f'{path}:{number}: expected path,label[,label...], '
                                    f'got {",".join(row)!r}')
                yield number, row[0], row[1:]
        else:
            for number, line in enumerate(f, 1):
                line = line.rstrip('\r\n')
                if '\0' in line:  # text files hold no NUL characters
                    raise UserError(_not_text(path))
                if not line.strip() or line.startswith('#'):
                    continue
                fields = line.split('\t')
                if len(fields) < 3 or not fields[-1].strip() \
                        or not all(x.strip() for x in fields[1:-1]):
                    raise UserError(
                        f'{path}:{number}: expected index<TAB>label[<TAB>label...]<TAB>path '
                        f'(tab separated), got {line!r}')
                yield number, fields[-1].strip(), [x.strip() for x in fields[1:-1]]


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    if value != value or value in (float('inf'), float('-inf')):
        return None
    return int(value) if value.is_integer() else value


class ListSource:
    """
    Samples of list files: ``(key, path, label)``, the key being the path
    as written in the list. Reads the lists once to check them: the format,
    duplicate paths, missing image files, and what the labels are.

    Parameters:
        files: list files
        root: directory relative paths are relative to; None: each list
            file's directory
        classes: class names in label order: labels are names; None:
            labels are numbers, unless some are not
    """

    def __init__(self, files, root=None, classes=None):
        self.files = list(files)
        self.root = root
        seen = {}
        missing = []
        names = set()
        numeric = True
        width = 0
        count = 0
        for file in self.files:
            for number, path, labels in read_list(file):
                count += 1
                where = f'{file}:{number}'
                if path in seen:
                    raise UserError(f'{where}: {path} is listed twice (also {seen[path]})')
                seen[path] = where
                if len(missing) < _MAX_REPORTED and not os.path.isfile(self._resolve(file, path)):
                    missing.append(f'{self._resolve(file, path)} ({where})')
                width = max(width, len(labels))
                names.update(labels)
                if numeric and any(_number(x) is None for x in labels):
                    numeric = False
        if not count:
            raise UserError('no samples in ' + ', '.join(map(str, self.files)))
        if missing:
            raise UserError('image files not found: ' + '; '.join(missing)
                            + ('' if root else ' (paths are relative to the list file; '
                                               'use --root)'))
        self.named = classes is not None or not numeric
        self.multi = width > 1
        self.classes = None
        if self.named:
            if classes is None:
                classes = natsorted(names)
            unknown = natsorted(names - set(classes))
            if unknown:
                raise UserError('labels not in the classes file: '
                                + ', '.join(unknown[:_MAX_REPORTED]))
            self.classes = list(classes)
        self._index = {name: i for i, name in enumerate(self.classes or ())}

    def _resolve(self, file, path):
        root = self.root if self.root is not None else os.path.dirname(file)
        return os.path.join(root, path)

    def _label(self, labels):
        if self.named:
            values = [self._index[x] for x in labels]
        else:
            values = [_number(x) for x in labels]
        return values if self.multi else values[0]

    def iter_file(self, file):
        """Samples of one list file."""
        for _, path, labels in read_list(file):
            yield path, self._resolve(file, path), self._label(labels)

    def __iter__(self):
        for file in self.files:
            yield from self.iter_file(file)

    def groups(self):
        """Default splits without ``--split``: one per list file, named after it."""
        groups = {}
        for file in self.files:
            name = Path(file).stem
            if name in groups:
                raise UserError(f'two list files give split {name!r}; use --split, '
                                'or rename one')
            groups[name] = _FileItems(self, file)
        return groups


class _FileItems:
    def __init__(self, source, file):
        self.source, self.file = source, file

    def __iter__(self):
        return self.source.iter_file(self.file)


class _SplitItems:
    """Re-iterable samples of one split (streamed, never a list)."""

    def __init__(self, source, bounds, name):
        self.source, self.bounds, self.name = source, bounds, name

    def __iter__(self):
        for item in self.source:
            if assign_split(item[0], self.bounds) == self.name:
                yield item


# ------------------------------------------------------------------ output

def _confirm_overwrite(path, overwrite):
    """The writer's convention for plain files: ask (on a terminal), else
    refuse with FileExistsError; "abort" raises KeyboardInterrupt."""
    if overwrite or not path.exists():
        return
    if not stdin_is_interactive():
        raise FileExistsError(f'{path} exists; use -y to overwrite it')
    answer = query_user(f'{path.name} exists, overwrite?')
    if answer == 'no':
        raise FileExistsError(path)
    if answer == 'abort':
        raise KeyboardInterrupt(path)


def _write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp')
    try:
        tmp.write_text(text, encoding='utf-8')
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _classes_text(outdir, classes, overwrite):
    """
    Check that ``classes.txt`` can be written (before anything is written):
    class names fit on lines, and an existing file with other names may be
    replaced.

    Returns:
        the text to write, or None if the file holds it already
    """
    path = Path(outdir, CLASSES_FILE)
    for name in classes:
        if '\n' in name or '\r' in name or not name.strip():
            raise UserError(f'class name {name!r} cannot be written to {CLASSES_FILE}')
    text = ''.join(name + '\n' for name in classes)
    try:
        if path.exists() and path.read_text(encoding='utf-8') == text:
            return None
    except (UnicodeDecodeError, IsADirectoryError):
        pass
    if path.is_dir():
        raise UserError(f'{path}: is a directory; {CLASSES_FILE} cannot be written')
    if path.exists() and not overwrite:
        try:
            _confirm_overwrite(path, overwrite)
        except FileExistsError:
            raise UserError(
                f'{path} exists with other class names; use -y to overwrite it, '
                f'or --classes {path} to keep its labels') from None
    return text


def _write_then_classes(splits, write_split, outdir, classes_text):
    """
    :py:func:`write_splits`, then ``classes.txt`` (atomically), but only
    if a split was written: an interrupted or failed run leaves no
    ``classes.txt`` behind. ``write_split`` returns None for a split it
    did not write.
    """
    written = []

    def write(split):
        result = write_split(split)
        if result is not None:
            written.append(split)
        return result

    def classes():
        if written and classes_text is not None:
            _write_text(Path(outdir, CLASSES_FILE), classes_text)

    try:
        results = write_splits(splits, write)
    except UserError:
        # outputs the user declined to replace; the splits written need
        # their class names all the same
        classes()
        raise
    classes()
    return {split: r for split, r in results.items() if r is not None}


def _format_label(label):
    labels = label if isinstance(label, list) else [label]
    return '\t'.join(str(x) for x in labels)


def _write_list(path, items, overwrite):
    path = Path(path)
    _confirm_overwrite(path, overwrite)
    lines = (f'{i}\t{_format_label(label)}\t{key}\n'
             for i, (key, _, label) in enumerate(items))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp')
    count = 0
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            for line in lines:
                f.write(line)
                count += 1
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return count


def _check_resized_size(image, resize):
    """Refuse (ImageError) an image whose resized version would exceed
    :py:data:`MAX_RESIZED_PIXELS`; ``image`` is opened, not decoded."""
    w, h = image.size
    short, long = sorted((max(w, 1), max(h, 1)))
    pixels = resize * max(1, round(long * resize / short))
    if pixels > MAX_RESIZED_PIXELS:
        raise ImageError(f'resized to {resize} pixels on the shorter side, this '
                         f'{w}x{h} image would have {pixels} pixels '
                         f'(at most {MAX_RESIZED_PIXELS})')


_COLOUR_TYPES_WITH_CHANNELS = (2, 4, 6)  # PNG colour types RGB, grey+alpha, RGBA


def _deep_colour_bits(image, data):
    """
    Bits per channel of a PNG or TIFF image with colour (or alpha)
    channels of more than 8 bits, which Pillow decodes with 8 bits per
    channel; None for all others (16- and 32-bit grey images Pillow reads
    at their depth).
    """
    if image.format == 'PNG':
        # IHDR, the first chunk: bit depth and colour type follow width and height
        if len(data) >= 26 and data[12:16] == b'IHDR' \
                and data[24] > 8 and data[25] in _COLOUR_TYPES_WITH_CHANNELS:
            return data[24]
    elif image.format == 'TIFF' and not image.mode.startswith(('I', 'F')):
        bits = getattr(image, 'tag_v2', {}).get(258)  # BitsPerSample
        if isinstance(bits, tuple):
            bits = max(bits, default=None)
        if isinstance(bits, int) and bits > 8:
            return bits
    return None


def _check_bit_depth(image, data, resize):
    """
    Without ``--compress``, refuse (ImageError, saying why) images that
    would lose bits: colour PNGs (with ``--resize``) and TIFFs with more
    than 8 bits per channel. 16- and 32-bit grey images are checked by
    :py:func:`~datadings_like.sets.tools.to_uint16` when they are converted.
    """
    bits = _deep_colour_bits(image, data)
    if bits is None:
        return
    if image.format == 'PNG':
        if resize is not None:
            raise ImageError(
                f'{bits}-bit colour PNG: Pillow decodes colour images with 8 bits per '
                'channel, so --resize would lose its precision; convert it without '
                '--resize (stored byte for byte), or with --compress (8-bit JPEG)')
        return  # stored byte for byte
    raise ImageError(
        f'{bits}-bit colour {image.format}: Pillow decodes colour images with 8 bits '
        'per channel, so it cannot be stored losslessly; convert it to PNG yourself '
        '(PNGs are stored byte for byte), or use --compress (8-bit JPEG)')


class _PillowNotes:
    """
    Collects what Pillow reports while images are converted, its warnings
    (corrupt EXIF data, ...) and its log messages, instead of letting them
    run over the progress bar; each is attributed to the image that the
    same thread is converting. Use :py:meth:`capture` around conversion.
    """

    def __init__(self):
        self.lines = {}  # insertion-ordered set
        self._local = threading.local()

    @contextmanager
    def image(self, path):
        """Attribute what is reported in this thread to ``path``."""
        self._local.path = path
        try:
            yield
        finally:
            self._local.path = None

    def add(self, text):
        path = getattr(self._local, 'path', None)
        self.lines[f'{_shown(path)}: {text}' if path is not None else text] = None

    def _showwarning(self, message, category, filename, lineno, file=None, line=None):
        from PIL import Image
        if issubclass(category, Image.DecompressionBombWarning):
            # an error, as open_image makes it (whose own filter another
            # thread's catch_warnings may have removed for a moment)
            raise message if isinstance(message, Warning) else category(message)
        self.add(str(message))

    @contextmanager
    def capture(self):
        """Record warnings (each time one is given; deprecation warnings are
        ignored, as by default) and the ``PIL`` logger's messages of level
        WARNING and above, instead of printing them."""
        notes = self

        class Handler(logging.Handler):
            def emit(self, record):
                notes.add(record.getMessage())

        handler = Handler(logging.WARNING)
        logger = logging.getLogger('PIL')
        propagate = logger.propagate
        with warnings.catch_warnings():
            warnings.simplefilter('always')
            for category in (DeprecationWarning, PendingDeprecationWarning,
                             ImportWarning, ResourceWarning):
                warnings.simplefilter('ignore', category)  # as by default
            warnings.showwarning = self._showwarning
            logger.addHandler(handler)
            logger.propagate = False
            try:
                yield self
            finally:
                logger.removeHandler(handler)
                logger.propagate = propagate


def _make_convert(args, skipped, notes):
    quality, subsampling, resize = args.compress, args.subsampling, args.resize

    def convert(item):
        key, path, label = item
        with notes.image(path):
            try:
                with open(path, 'rb') as f:
                    data = f.read()
                opened = open_image(data)
                if resize is not None:
                    _check_resized_size(opened, resize)
                if quality is None:
                    _check_bit_depth(opened, data, resize)
                image = convert_image(data, quality=quality, subsampling=subsampling,
                                      resize=resize)
            except (OSError, ImageError) as exc:
                skipped.append(f'{_shown(path)}: {exc}')
                return None
        return ImageClassificationData(key, image, label)

    return convert


def _print_list(title, lines, limit=10):
    lines = list(lines)
    if not lines:
        return
    shown = '\n  '.join(lines[:limit])
    more = f'\n  ... and {len(lines) - limit} more' if len(lines) > limit else ''
    print(f'{title}:\n  {shown}{more}', file=sys.stderr)


def _exts(value):
    exts = tuple('.' + e.strip().lstrip('.').lower() for e in value.split(',') if e.strip())
    if not exts:
        import argparse
        raise argparse.ArgumentTypeError('no extensions given')
    return exts


def main(argv=None):
    """Write the folder dataset files; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools.argparse import argument_outdir
    from ..tools.argparse import int_at_least
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import argument_seed
    from ..tools.argparse import argument_threads
    from ..tools.argparse import make_parser
    from .tools import argument_compress
    from .tools import REENCODE_QUALITY
    from .tools import argument_resize
    from .tools import argument_subsampling
    from .shards import argument_scheduler
    from .shards import argument_shards

    parser = make_parser(__doc__, indir=False, outdir=False, skip_verification=False)
    parser.add_argument('inputs', nargs='+', metavar='INPUT',
                        help='A class-per-folder directory, or list files.')
    argument_outdir(parser, help='Output directory. Default: the input directory, '
                                 'or the directory of the first list file.')
    parser.add_argument('--root', metavar='DIR', default=None,
                        help='Paths in list files are relative to DIR '
                             '(default: the directory of each list file).')
    parser.add_argument('--split', metavar='SPEC', default=None,
                        help='Distribute samples to splits by a hash of their key, '
                             'e.g. train=0.9,val=0.1; a single NAME puts all samples '
                             'into NAME.msgpack.')
    parser.add_argument('--classes', metavar='FILE', default=None,
                        help='Class names in label order, one per line (e.g. the '
                             'classes.txt of an earlier run), to keep labels the same.')
    parser.add_argument('--exts', type=_exts, default=IMAGE_EXTENSIONS, metavar='EXT,...',
                        help='File name extensions of images in directories '
                             f'(default: {",".join(e[1:] for e in IMAGE_EXTENSIONS)}).')
    parser.add_argument('--make-list', action='store_true',
                        help='Only write the list files SPLIT.lst (and classes.txt), '
                             'do not convert.')
    argument_resize(
        parser, type=int_at_least(1, MAX_RESIZE),
        help=f'Resize images so that their shorter side has PIXELS pixels, 1 to '
             f'{MAX_RESIZE} (aspect ratio kept). Resized images are re-encoded: JPEG '
             f'as JPEG (quality {REENCODE_QUALITY} unless --compress), others as PNG.',
    )
    argument_compress(parser)
    argument_subsampling(parser)
    argument_seed(parser)
    argument_threads(parser)
    argument_shards(parser)
    argument_scheduler(parser)
    argument_quiet(parser)
    args = parser.parse_args(argv)
    if args.scheduler is not None and args.shards is None and args.shard_size is None:
        parser.error('--scheduler needs --shards N or --shard-size N')

    bounds = None
    if args.split is not None:
        try:
            bounds = parse_split(args.split)
        except ValueError as exc:
            parser.error(f'--split: {exc}')
    classes = load_classes(args.classes) if args.classes else None

    inputs = args.inputs
    for p in inputs:
        if not os.path.exists(p):
            raise FileNotFoundError(f'{p}: no such file or directory')
    if any(os.path.isdir(p) for p in inputs):
        if len(inputs) > 1:
            parser.error('give one directory, or one or more list files')
        if args.root is not None:
            parser.error('--root is for list files; a directory is its own root')
        source = TreeSource(inputs[0], args.exts, classes)
        outdir = args.outdir or inputs[0]
        root = inputs[0]
        if source.ignored and not args.quiet:
            print(f'{source.ignored} images directly in {inputs[0]} are ignored '
                  '(not in a class directory)', file=sys.stderr)
    else:
        source = ListSource(inputs, args.root, classes)
        outdir = args.outdir or os.path.dirname(inputs[0]) or '.'
        root = args.root

    if bounds is None:
        groups = source.groups()
    else:
        groups = {name: _SplitItems(source, bounds, name) for name, _ in bounds}

    # count samples per split (for progress bars and a friendly message)
    counts = dict.fromkeys(groups, 0)
    if bounds is None:
        for name, items in groups.items():
            counts[name] = sum(1 for _ in items)
    else:
        for item in source:
            counts[assign_split(item[0], bounds)] += 1
    problems = getattr(source, 'problems', {})
    _print_list(f'warning: skipped {len(problems)} '
                f'{"entry" if len(problems) == 1 else "entries"} of {_shown(inputs[0])}',
                (f'{path}: {message}' for path, message in problems.items()))
    if not any(counts.values()):
        raise UserError(f'no images found in {_shown(inputs[0])}')

    # classes.txt is checked now and written last, after the outputs
    classes_text = _classes_text(outdir, source.classes, args.no_confirm) \
        if source.named else None

    if args.make_list:
        if root is None:
            dirs = {os.path.abspath(os.path.dirname(f)) for f in inputs}
            if len(dirs) > 1:
                parser.error('list files in different directories: give --root')
            root = dirs.pop()

        def write_list(split):
            path = Path(outdir, split + '.lst')
            n = _write_list(path, groups[split], args.no_confirm)
            if not args.quiet:
                print(f'{n} samples listed in {path}', file=sys.stderr)
            return path

        written = _write_then_classes(list(groups), write_list, outdir, classes_text)
        if written and not args.quiet:
            lists = ' '.join(str(p) for p in written.values())
            print(f'convert with: datadings-write folder {lists} '
                  f'--root {os.path.abspath(root)}', file=sys.stderr)
        return

    notes = _PillowNotes()
    with notes.capture():
        _convert_splits(args, groups, counts, outdir, classes_text, notes)


def _convert_splits(args, groups, counts, outdir, classes_text, notes):
    # before anything is written: every split to write needs an image that
    # can be converted (trying until the first one), or it would be empty
    convertible, failed = {}, {}
    for split in groups:
        failed[split] = []
        probe = _make_convert(args, failed[split], notes)
        convertible[split] = bool(counts[split]) and any(
            probe(item) is not None for item in groups[split])
    if not any(convertible.values()):
        bad = [line for lines in failed.values() for line in lines]
        raise UserError(f'none of the {len(bad)} images could be converted, nothing '
                        f'written (first: {bad[0]})')

    skipped = []
    convert = _make_convert(args, skipped, notes)

    def write_split(split):
        if not counts[split]:
            print(f'{split}: no samples, nothing written', file=sys.stderr)
            return None
        if not convertible[split]:
            skipped.extend(failed[split])
            print(f'{split}: none of its {counts[split]} images could be converted, '
                  'nothing written', file=sys.stderr)
            return None
        if getattr(args, 'shards', None) is not None or \
                getattr(args, 'shard_size', None) is not None:
            return write_sharded(split, groups[split], outdir, args)
        return write_samples(os.path.join(outdir, split + '.msgpack'), groups[split],
                             convert, args, total=counts[split])

    try:
        _write_then_classes(list(groups), write_split, outdir, classes_text)
    finally:
        _print_list(f'warning: skipped {len(skipped)} image{"s" * (len(skipped) != 1)}',
                    skipped)
        _print_list(f'warning: Pillow reported {len(notes.lines)} problem'
                    f'{"s" * (len(notes.lines) != 1)} while converting', notes.lines)


def shard_tasks(items, layout, shuffle=False, seed=None):
    """
    Cut the work items of a split into the tasks of
    :py:func:`datadings_like.parallel.write_shards`, one per shard:
    consecutive runs of ``layout.samples_per_file(len(items))`` items, in
    the order of the items or, with ``shuffle``, of the permutation
    ``numpy.random.default_rng(seed).permutation(len(items))``, the order
    in which :py:func:`~datadings_like.sets.tools.write_samples` shuffles
    them: the shards together hold the samples of the single file, in its
    order.

    Parameters:
        items: sequence of ``(key, path, label)``
        layout: :py:class:`~datadings_like.sets.shards.ShardLayout`
        shuffle: permute the items
        seed: seed of the permutation

    Returns:
        list of tasks, each a list of ``[key, absolute path, label]``
    """
    import numpy as np
    items = [[key, os.path.abspath(path), label] for key, path, label in items]
    if shuffle:
        items = [items[int(i)] for i in np.random.default_rng(seed).permutation(len(items))]
    per = layout.samples_per_file(len(items))
    return [items[i:i + per] for i in range(0, len(items), per)]


def convert_shard(task, compress=None, subsampling='422', resize=None):
    """
    The samples of one task of :py:func:`shard_tasks` (runs on a worker):
    images that cannot be converted give
    :py:class:`~datadings_like.parallel.Skipped`. What Pillow reports
    goes to the worker's log (on a cluster).
    """
    from ..parallel import Skipped
    from types import SimpleNamespace
    skipped = []
    notes = _PillowNotes()
    convert = _make_convert(SimpleNamespace(compress=compress, subsampling=subsampling,
                                            resize=resize), skipped, notes)
    for key, path, label in task:
        sample = convert((key, path, label))
        yield Skipped(skipped.pop()) if sample is None else sample


def _describe_task(task):
    return f'{len(task)} images {task[0][0]} ... {task[-1][0]}'


def write_sharded(split, items, outdir, args):
    """
    Write a split as shards through :py:func:`datadings_like.parallel.write_shards`
    (``--shards``/``--shard-size``, ``--scheduler``).

    Returns:
        list of the shard paths
    """
    from functools import partial
    from ..parallel import write_shards
    from .shards import ShardLayout

    seed = args.seed
    if args.shuffle and seed is None:
        import secrets
        seed = secrets.randbits(32)
        if not args.quiet:
            print(f'{split}: shuffled with --seed {seed} (give it to go on after a failure)',
                  file=sys.stderr)
    tasks = shard_tasks(list(items), ShardLayout.from_args(args), args.shuffle, seed)
    fn = partial(convert_shard, compress=args.compress, subsampling=args.subsampling,
                 resize=args.resize)
    return write_shards(tasks, fn, outdir, split, scheduler=args.scheduler,
                        overwrite=args.no_confirm, quiet=args.quiet,
                        describe=_describe_task,
                        config={'writer': 'folder', 'version': 1, 'compress': args.compress,
                                'subsampling': args.subsampling, 'resize': args.resize})


if __name__ == '__main__':
    run_main(main)
