"""Rebuild the synset list and label tree of ImageNet21k (winter 2021
release, as processed by Alibaba MIIL) that datadings_like ships as
ImageNet21k_synsets.tsv.xz.

This tool will look for the following files in the input directory:

- imagenet21k_miil_tree.pth (MIIL's semantic tree, 1 MB; downloaded if
  missing): the classes, their descriptions and their label trees
- winter21_whole.tar.gz (about 1.2 TB; registration required, see the
  ImageNet21k writer): the number of images of each class, for the sample
  counts of the splits; not needed with --no-counts

It writes ImageNet21k_synsets.tsv.xz to OUTDIR (default: INDIR); copy it
into the datadings_like.sets package to replace the shipped list.

The .pth file is read without PyTorch and without running code from it:
it is a zip archive (or, from old PyTorch versions, a sequence of
pickles) whose pickle is loaded by a restricted unpickler that builds
only plain data (dicts, lists, strings, numbers, numpy scalars and
integer arrays, integer tensors); anything else is refused.

Counting reads the whole archive once (hours; decompression runs in
igzip or pigz when one is installed): every synset of the tree gets its
first 50 images (by name) as validation samples, the rest as training
samples, as the writer does.

See also:
    https://github.com/Alibaba-MIIL/ImageNet21K
    https://image-net.org/download-images.php
"""
from collections import OrderedDict
import io
import lzma
import os
import pickle
import sys
import zipfile

import numpy as np

from ..tools.cli import UserError
from ..tools.cli import run_main
from .ImageNet21k import DATA_FILE
from .ImageNet21k import SYNSETS_FILE
from .ImageNet21k import TREE_FILE
from .ImageNet21k import VAL_SAMPLES_PER_SYNSET

#: Files this tool reads.
FILES = {'tree': dict(TREE_FILE), 'data': dict(DATA_FILE)}
#: Number of synset tars in winter21_whole.tar.gz (all synsets, not only those of the tree).
NUM_TOTAL_SYNSETS = 19167
#: Largest pickle and tensor storage read from the .pth file.
MAX_PICKLE_SIZE = 256 << 20

# PyTorch's "magic number" of the legacy (non-zip) format, and its protocol
_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    'LongStorage': np.int64, 'IntStorage': np.int32, 'ShortStorage': np.int16,
    'CharStorage': np.int8, 'ByteStorage': np.uint8, 'BoolStorage': np.bool_,
}


class _StorageType:
    """Stands for ``torch.LongStorage`` ... in a pickle: only its element type is used."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)


def _latin1_encode(text, encoding='latin1'):
    # pickle protocol 2 stores bytes as _codecs.encode(str, 'latin1')
    if encoding not in ('latin1', 'latin-1') or not isinstance(text, str):
        raise pickle.UnpicklingError('refusing _codecs.encode with another encoding')
    return text.encode('latin1')


def _rebuild_tensor(storage, offset, size, stride, *_):
    """A tensor of a pickle as a numpy array (bounds checked)."""
    if not isinstance(storage, np.ndarray):
        raise pickle.UnpicklingError('tensor without storage')
    try:
        offset = int(offset)
        size = tuple(int(v) for v in size)
        stride = tuple(int(v) for v in stride)
    except (TypeError, ValueError):
        raise pickle.UnpicklingError('malformed tensor') from None
    if len(size) != len(stride) or offset < 0 or any(v < 0 for v in size + stride):
        raise pickle.UnpicklingError('malformed tensor')
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise pickle.UnpicklingError('tensor outside of its storage')
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False)
    return np.array(view)


class TreeUnpickler(pickle.Unpickler):
    """
    Restricted unpickler for MIIL's tree file: builds dicts, lists,
    strings, numbers, ``OrderedDict``, numpy scalars and arrays, and (with
    ``storages``) integer tensors as numpy arrays; refuses every other
    global, so no code from the file runs.

    Parameters:
        file: binary file object of the pickle
        storages: function ``key -> bytes`` giving tensor storages (zip
            format), or None (tensors are refused)
    """

    def __init__(self, file, storages=None):
        super().__init__(file, encoding='latin1')
        self._storages = storages

    def find_class(self, module, name):
        from .tools import NUMPY_PICKLE_GLOBALS
        from .tools import RestrictedUnpickler
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if (module, name) == ('_codecs', 'encode'):
            return _latin1_encode
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor
        if module == 'torch' and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if name == 'scalar' and module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            allowed = {(module, name)}
        elif (module, name) in NUMPY_PICKLE_GLOBALS:
            allowed = NUMPY_PICKLE_GLOBALS
        else:
            raise pickle.UnpicklingError(
                f'refusing to load {module}.{name} from the tree file '
                '(only plain data, numpy arrays and integer tensors are allowed)')
        # numpy 1/2 module names are mapped by the restricted unpickler
        return RestrictedUnpickler(io.BytesIO(b''), allowed=allowed).find_class(module, name)

    def persistent_load(self, pid):
        if self._storages is None or not isinstance(pid, tuple) or len(pid) < 5 \
                or pid[0] != 'storage' or not isinstance(pid[1], _StorageType):
            raise pickle.UnpicklingError('unsupported persistent object (only tensor storages '
                                         'of the zip format are read)')
        kind, key, numel = pid[1], str(pid[2]), pid[4]
        data = self._storages(key)
        array = np.frombuffer(data, dtype=kind.dtype.newbyteorder('<'))
        if isinstance(numel, int) and numel > array.size:
            raise pickle.UnpicklingError(f'tensor storage {key} is truncated')
        return array


def load_tree_file(path):
    """
    Load the object saved in a PyTorch file (``torch.save``) without
    PyTorch and without running code from it (see :py:class:`TreeUnpickler`).
    Both the zip format (PyTorch >= 1.6) and the legacy format are read.

    Parameters:
        path: path of the ``.pth`` file

    Returns:
        the saved object

    Raises:
        UserError: not a PyTorch file, damaged, or refers to code
    """
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        with open(path, 'rb') as f:
            return _load_legacy(f, path)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError,
            AttributeError, IndexError, zipfile.BadZipFile, MemoryError) as exc:
        raise UserError(f'{path}: cannot read the tree file ({type(exc).__name__}: {exc})') from None


def _load_zip(path):
    with zipfile.ZipFile(path) as z:
        pickles = [n for n in z.namelist() if n.endswith('/data.pkl') and n.count('/') == 1]
        if len(pickles) != 1:
            raise ValueError('no PyTorch data.pkl in the zip archive')
        prefix = pickles[0][:-len('data.pkl')]

        def read(name):
            info = z.getinfo(name)
            if info.file_size > MAX_PICKLE_SIZE:
                raise ValueError(f'{name} is too big ({info.file_size} bytes)')
            return z.read(info)

        data = read(pickles[0])
        byteorder = f'{prefix}byteorder'
        if byteorder in z.namelist() and read(byteorder).strip() not in (b'little', b''):
            raise ValueError('tensors of a big-endian file are not supported')
        return TreeUnpickler(io.BytesIO(data), storages=lambda key: read(f'{prefix}data/{key}')).load()


def _load_legacy(f, path):
    if f.read(1) != b'\x80':
        raise ValueError('not a PyTorch file (neither a zip archive nor a pickle)')
    f.seek(0)
    if TreeUnpickler(f).load() != _LEGACY_MAGIC:
        raise ValueError('not a PyTorch file (wrong magic number)')
    if TreeUnpickler(f).load() != _LEGACY_PROTOCOL:
        raise ValueError('unsupported PyTorch file version')
    TreeUnpickler(f).load()  # sys_info
    return TreeUnpickler(f).load()


def _int(value, where):
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f'{where}: {value!r} is not an integer')
    return int(value)


def convert_semantic_tree(infile):
    """
    Read MIIL's ``imagenet21k_miil_tree.pth`` (safely, see
    :py:func:`load_tree_file`) and keep what the dataset needs.

    Parameters:
        infile: path of the file

    Returns:
        dict with ``class_description`` (``OrderedDict`` WNID -> words, in
        label order) and ``class_tree_list`` (list of the label tree of
        each label: its label, then the labels of its ancestors)

    Raises:
        UserError: the file is not such a tree (the message says why)
    """
    tree = load_tree_file(infile)
    try:
        if not isinstance(tree, dict):
            raise ValueError(f'expected a dict, found {type(tree).__name__}')
        for name in ('class_description', 'class_tree_list'):
            if name not in tree:
                raise ValueError(f'no "{name}"')
        description = tree['class_description']
        if not isinstance(description, dict):
            raise ValueError('"class_description" is not a dict')
        words = OrderedDict()
        for wnid, word in description.items():
            if not isinstance(wnid, str) or not isinstance(word, str):
                raise ValueError(f'class_description: {wnid!r}: {word!r} are not strings')
            if '\t' in wnid + word or len((wnid + word + '.').splitlines()) != 1:
                raise ValueError(f'class_description: {wnid!r} has tabs or line breaks')
            words[str(wnid)] = str(word)
        trees = []
        for i, labels in enumerate(tree['class_tree_list']):
            labels = [_int(v, f'class_tree_list[{i}]') for v in labels]
            if not labels or labels[0] != i:
                raise ValueError(f'class_tree_list[{i}] does not start with {i}')
            if any(not 0 <= v < len(words) for v in labels):
                raise ValueError(f'class_tree_list[{i}] has labels out of range')
            trees.append(labels)
        if len(trees) != len(words):
            raise ValueError(f'{len(words)} classes but {len(trees)} label trees')
    except (ValueError, TypeError) as exc:
        raise UserError(f'{infile}: not an ImageNet-21K semantic tree ({exc})') from None
    return {'class_description': words, 'class_tree_list': trees}


def extract_synset_counts(infile, synsets=None, quiet=False, decompressor=None):
    """
    Count the samples of the splits in ``winter21_whole.tar.gz``: for
    every synset tar of ``synsets``, the first 50 images (by name) are
    validation samples, the others training samples. Reads the whole
    archive once, as a stream.

    Parameters:
        infile: path of the archive
        synsets: container of WNIDs (default: the shipped list)
        quiet: no progress bar
        decompressor: see :py:func:`datadings_like.sets.shards.find_decompressor`

    Returns:
        dict ``{'train': N, 'val': M}``

    Raises:
        UserError: the archive is damaged, or synsets are missing from it
    """
    from ..tools import make_printer
    from .ImageNet21k_write import iter_members
    from .ImageNet21k_write import read_synset
    from .shards import open_tar_stream

    if synsets is None:
        from .ImageNet21k import SYNSETS as synsets
    found = set()
    train = val = 0
    with make_printer(total=NUM_TOTAL_SYNSETS, desc='counting', disable=quiet) as bar, \
            open_tar_stream(infile, decompressor) as outer:
        for _, member, wnid in iter_members(outer):
            bar.update()
            if wnid not in synsets:
                continue
            # the images the writer would write (one synset in memory at a time)
            n = len(read_synset(outer, member, infile))
            found.add(wnid)
            val += min(n, VAL_SAMPLES_PER_SYNSET)
            train += max(0, n - VAL_SAMPLES_PER_SYNSET)
    missing = [w for w in synsets if w not in found]
    if missing:
        raise UserError(f'{infile}: {len(missing)} synsets of the tree are missing, '
                        f'e.g. {missing[0]}.tar')
    return {'train': train, 'val': val}


def format_synsets(meta, counts):
    """
    The text of ``ImageNet21k_synsets.tsv.xz`` (before compression); see
    :py:mod:`datadings_like.sets.ImageNet21k` for the format.

    Parameters:
        meta: from :py:func:`convert_semantic_tree`
        counts: dict split -> number of samples

    Returns:
        str
    """
    lines = [
        '# ImageNet21k (winter 2021 release, ImageNet-21K-P): WNID, label tree, words',
        '# made by datadings_like.sets.ImageNet21k_create_meta from imagenet21k_miil_tree.pth',
        '# samples: ' + ' '.join(f'{split}={counts[split]}' for split in ('train', 'val')),
    ]
    for (wnid, words), tree in zip(meta['class_description'].items(), meta['class_tree_list']):
        lines.append(f'{wnid}\t{",".join(map(str, tree))}\t{words}')
    return '\n'.join(lines) + '\n'


def confirm_overwrite(path, overwrite=False):
    """
    Ask whether an existing ``path`` may be replaced (unless ``overwrite``).

    Raises:
        FileExistsError: it may not (or nobody can be asked: no terminal)
        KeyboardInterrupt: the user chose abort
    """
    from ..tools import query_user
    from ..tools import stdin_is_interactive

    if overwrite or not os.path.exists(path):
        return
    if not stdin_is_interactive():
        raise FileExistsError(f'{path} exists; replace it with -y')
    try:
        answer = query_user(f'{os.path.basename(path)} exists, overwrite?')
    except EOFError:
        answer = 'no'
    if answer == 'no':
        raise FileExistsError(f'{path} exists, not replaced')
    if answer == 'abort':
        raise KeyboardInterrupt(path)


def write_synsets(path, meta, counts):
    """
    Write the synset list to ``path`` (xz-compressed), atomically: a
    failure leaves ``path`` as it was.

    Parameters:
        path: output file
        meta: from :py:func:`convert_semantic_tree`
        counts: dict split -> number of samples
    """
    import tempfile

    path = os.fspath(path)
    data = lzma.compress(format_synsets(meta, counts).encode('utf-8'),
                         preset=9 | lzma.PRESET_EXTREME)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv=None):
    """Rebuild ``ImageNet21k_synsets.tsv.xz``; ``argv`` defaults to ``sys.argv[1:]``."""
    from ..tools import prepare_indir
    from ..tools.argparse import argument_quiet
    from ..tools.argparse import make_parser
    from . import ImageNet21k

    parser = make_parser(__doc__, shuffle=False)
    parser.add_argument(
        '--no-counts', action='store_true',
        help='Do not read winter21_whole.tar.gz; keep the sample counts of the shipped list.')
    argument_quiet(parser)
    args = parser.parse_args(argv)
    outdir = args.outdir or args.indir
    needed = {k: v for k, v in FILES.items() if k == 'tree' or not args.no_counts}
    files = prepare_indir(needed, args)
    outfile = os.path.join(outdir, SYNSETS_FILE)
    confirm_overwrite(outfile, args.no_confirm)  # before hours of counting
    os.makedirs(outdir, exist_ok=True)
    meta = convert_semantic_tree(files['tree']['path'])
    if args.no_counts:
        counts = ImageNet21k.NUM_SAMPLES
    else:
        counts = extract_synset_counts(files['data']['path'], meta['class_description'],
                                       quiet=args.quiet)
    write_synsets(outfile, meta, counts)
    same = tuple(meta['class_description']) == ImageNet21k.SYNSET_LIST and \
        tuple(map(tuple, meta['class_tree_list'])) == ImageNet21k.SYNSET_TREE_LIST
    if not args.quiet:
        print(f'{len(meta["class_description"])} synsets, {counts["train"]} train and '
              f'{counts["val"]} val samples written to {outfile}; labels and label trees '
              f'{"are the same as" if same else "DIFFER from"} those shipped with '
              'datadings_like', file=sys.stderr)


if __name__ == '__main__':
    run_main(main)
