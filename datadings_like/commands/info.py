"""
Show what a dataset file holds.

Prints the number of samples, the file size, every sample key seen with
the types of its values (e.g. "image: bytes (JPEG 500x375 typical)",
"label: int 0..999"), a histogram of "label" values when samples have a
label, and whether the index and .md5 files are present (datadings-verify
checks them). --json prints the same as one JSON object.

Samples are decoded with plain msgpack (numpy values are described, never
built), so inspecting an untrusted file runs no code from it. Without an
index the data file is scanned. -n/--limit examines only N samples spread
evenly over the dataset (the histogram is then an estimate).
"""
from collections import Counter
from io import BytesIO
from pathlib import Path
import json
import sys
import warnings

import msgpack
import numpy as np

from ..errors import DatasetError
from ..index import INDEX_SUFFIXES
from ..index import SUFFIX_LEGACY_INDEX
from ..reader._html import image_format
from ..remote import is_url
from ..tools import ProgressPrinter
from ..tools import make_printer
from ..tools import path_append
from ..tools.argparse import positive_int
from ..tools.argparse import argument_infile
from ..tools.argparse import argument_quiet
from ..tools.argparse import argument_storage_options
from ..tools.argparse import make_parser_simple
from ..tools.cli import UserError
from ..tools.cli import run_main

__all__ = ('entry', 'format_info', 'info', 'main')

_MAX_IMAGE_HEADERS = 1000   # image headers inspected per key
_MAX_DISTINCT = 1000        # distinct values/shapes remembered per key
_MAX_LABELS = 100000        # distinct labels in the histogram
_SHOW_LABELS = 30           # labels shown one per line in text output

def _image_size(data):
    try:
        from PIL import Image
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(BytesIO(data)) as im:
                return im.size
    except Exception:
        return None


def _type_name(value):
    if isinstance(value, dict):
        if b'nd' in value:
            return 'ndarray' if value.get(b'nd') else 'numpy scalar'
        if b'complex' in value:
            return 'complex'
        return 'map'
    if value is None:
        return 'None'
    return {bool: 'bool', int: 'int', float: 'float', str: 'str', bytes: 'bytes',
            list: 'list'}.get(type(value), type(value).__name__)


def _dtype_name(descr):
    if isinstance(descr, bytes):
        descr = descr.decode('utf-8', 'replace')
    if isinstance(descr, str):
        try:
            dtype = np.dtype(descr)
            if not dtype.hasobject:
                return str(dtype)
        except Exception:
            pass
        return descr
    return 'structured'


class _KeyStats:
    def __init__(self):
        self.count = 0
        self.types = Counter()
        self.ranges = {}          # type -> [min, max] (int, float, len of str/bytes/list)
        self.strings = Counter()  # first distinct str values
        self.strings_full = False
        self.bytes_total = 0
        self.images = Counter()   # format
        self.image_sizes = Counter()
        self.image_headers = 0
        self.arrays = Counter()   # (dtype, shape)
        self.scalars = Counter()  # dtype
        self.map_keys = Counter()

    def _range(self, kind, value):
        r = self.ranges.get(kind)
        if r is None:
            self.ranges[kind] = [value, value]
        else:
            if value < r[0]:
                r[0] = value
            if value > r[1]:
                r[1] = value

    def add(self, value):
        self.count += 1
        kind = _type_name(value)
        self.types[kind] += 1
        if kind in ('int', 'float'):
            if value == value:  # not NaN
                self._range(kind, value)
        elif kind == 'str':
            self._range('str', len(value))
            if not self.strings_full:
                self.strings[value] += 1
                if len(self.strings) > _MAX_DISTINCT:
                    self.strings_full = True
                    self.strings.clear()
        elif kind == 'bytes':
            self._range('bytes', len(value))
            self.bytes_total += len(value)
            fmt = image_format(value)
            if fmt:
                self.images[fmt] += 1
                if self.image_headers < _MAX_IMAGE_HEADERS:
                    self.image_headers += 1
                    size = _image_size(value)
                    if size:
                        self.image_sizes[size] += 1
        elif kind == 'list':
            self._range('list', len(value))
        elif kind == 'ndarray':
            shape = value.get(b'shape', ())
            shape = tuple(shape) if isinstance(shape, (list, tuple)) else ()
            entry = (_dtype_name(value.get(b'type')), shape)
            if entry in self.arrays or len(self.arrays) < _MAX_DISTINCT:
                self.arrays[entry] += 1
        elif kind == 'numpy scalar':
            self.scalars[_dtype_name(value.get(b'type'))] += 1
        elif kind == 'map':
            for k in list(value)[:50]:
                self.map_keys[str(k)] += 1

    def describe(self, kind):
        r = self.ranges.get(kind)
        if kind in ('int', 'float'):
            if r is None:
                return kind
            lo, hi = r
            return f'{kind} {lo}' if lo == hi else f'{kind} {lo}..{hi}'
        if kind == 'str':
            if not self.strings_full and 0 < len(self.strings) <= 5:
                values = ', '.join(repr(s if len(s) <= 20 else s[:17] + '...')
                                   for s in sorted(self.strings))
                return f'str ({values})'
            distinct = (f'{len(self.strings)} distinct' if not self.strings_full
                        else f'more than {_MAX_DISTINCT} distinct')
            lo, hi = r
            length = f'length {lo}' if lo == hi else f'length {lo}..{hi}'
            return f'str ({distinct}, {length})'
        if kind == 'bytes':
            lo, hi = r
            extra = []
            if self.images:
                fmt = self.images.most_common(1)[0][0]
                text = fmt if len(self.images) == 1 else '/'.join(sorted(self.images))
                if self.image_sizes:
                    (w, h), _ = self.image_sizes.most_common(1)[0]
                    # only the first headers are inspected: the size is typical
                    text += f' {w}x{h} typical'
                extra.append(text)
            if lo == hi:
                size = _human(lo)
            elif hi < 1024:
                size = f'{lo}..{hi} bytes'
            else:
                size = f'{_human(lo)}..{_human(hi)}'
            extra.append(size)
            return f'bytes ({", ".join(extra)})'
        if kind == 'list':
            lo, hi = r
            return f'list (length {lo})' if lo == hi else f'list (length {lo}..{hi})'
        if kind == 'numpy scalar':
            return 'numpy scalar ' + '/'.join(sorted(self.scalars))
        if kind == 'ndarray':
            (dtype, shape), _ = self.arrays.most_common(1)[0]
            shapes = {e[1] for e in self.arrays}
            dtypes = {e[0] for e in self.arrays}
            text = f'ndarray {dtype if len(dtypes) == 1 else "/".join(sorted(dtypes))} {shape}'
            return text + (' typical' if len(shapes) > 1 else '')
        if kind == 'map':
            keys = ', '.join(k for k, _ in self.map_keys.most_common(6))
            return f'map ({keys})' if keys else 'map'
        return kind

    def summary(self):
        return ' | '.join(self.describe(kind) for kind, _ in self.types.most_common())

    def as_json(self):
        d = {'count': self.count, 'types': dict(self.types.most_common()),
             'summary': self.summary()}
        for kind, (lo, hi) in self.ranges.items():
            d[f'{kind}_min' if kind in ('int', 'float') else f'{kind}_length_min'] = lo
            d[f'{kind}_max' if kind in ('int', 'float') else f'{kind}_length_max'] = hi
        if self.images:
            d['image_formats'] = dict(self.images.most_common())
        if self.image_sizes:
            d['typical_image_size'] = list(self.image_sizes.most_common(1)[0][0])
        if self.arrays:
            (dtype, shape), _ = self.arrays.most_common(1)[0]
            d['typical_array'] = {'dtype': dtype, 'shape': list(shape)}
        return d


def _human(n):
    for unit in ('bytes', 'KiB', 'MiB', 'GiB', 'TiB'):
        if n < 1024 or unit == 'TiB':
            return f'{n} {unit}' if unit == 'bytes' else f'{n:.1f} {unit}'
        n /= 1024


def _index_state(path):
    present = [s[1:] for s in INDEX_SUFFIXES if path_append(path, s).exists()]
    if present:
        return 'new', present
    if path_append(path, SUFFIX_LEGACY_INDEX).exists():
        return 'legacy', [SUFFIX_LEGACY_INDEX[1:]]
    return 'missing', []


def _samples(path, limit, progress, storage_options=None):
    """
    (number of samples, iterator over (index, byte offset, raw sample),
    number examined, index problem or None).
    """
    from ..check import open_dataset
    from ..check import scan_data
    problem = None
    reader = None
    try:
        reader = open_dataset(path, storage_options)
        n = len(reader)
        offsets = reader._offsets
        source = reader._mm
    except (FileNotFoundError, DatasetError) as exc:
        if not Path(path).exists():
            raise
        problem = str(exc)
        _, offsets, _ = scan_data(path, progress=progress, md5=False)
        n = len(offsets) - 1
        with open(path, 'rb') as f:
            source = f.read() if n else b''
        offsets = np.asarray(offsets, dtype=np.uint64)
    if limit is None or limit >= n:
        indices = np.arange(n)
    else:
        indices = np.unique(np.linspace(0, n - 1, limit).round().astype(np.intp))
    starts = offsets[indices].tolist()
    stops = offsets[indices + 1].tolist()

    def gen():
        keep = reader  # noqa: F841  (the reader owns the memory map)
        for i, a, b in zip(indices.tolist(), starts, stops):
            yield i, a, source[a:b]
    return n, gen(), len(indices), problem


def _examine(path, samples, examined, progress):
    """
    Decode the (index, byte offset, raw sample) triples: (stats per key,
    label counts, label types).
    """
    from ..check import _describe_offset
    stats = {}
    labels = Counter()
    label_types = set()
    with make_printer(total=examined, desc=f'info {path.name}', disable=not progress) as printer:
        for i, (index, start, raw) in enumerate(samples):
            try:
                sample = msgpack.unpackb(raw, raw=False, strict_map_key=False)
            except Exception as exc:
                detail = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
                raise DatasetError(
                    f'{_describe_offset(path, index, start)}: damaged sample ({detail})'
                ) from None
            if not isinstance(sample, dict):
                raise DatasetError(f'{_describe_offset(path, index, start)}: '
                                   f'the sample is a {_type_name(sample)}, not a map')
            for key, value in sample.items():
                key = key if isinstance(key, str) else repr(key)
                st = stats.get(key)
                if st is None:
                    st = stats[key] = _KeyStats()
                st.add(value)
            label = sample.get('label', None)
            if 'label' in sample and isinstance(label, (int, str)) and (
                    label in labels or len(labels) < _MAX_LABELS):
                labels[label] += 1
                label_types.add(type(label))
            if i % 256 == 255:
                printer.update(256)
        printer.update(examined % 256)
    return stats, labels, label_types


def info(path, limit=None, progress=False, storage_options=None):
    """
    Collect information about a dataset.

    Parameters:
        path: the data file
        limit: examine at most this many samples (evenly spread)
        progress: show a progress bar

    Returns:
        dict (see ``datadings-info --json``)

    Raises:
        FileNotFoundError: the file is missing
        UserError: the path is a directory
        DatasetError: the file is not a dataset, or a sample is damaged
            (the message names the sample and its byte offset)
    """
    url = path if is_url(path) else None
    if url is not None:
        # the remote reader fetches the sidecars into a local directory:
        # look at them there
        from ..check import open_dataset
        remote_reader = open_dataset(url, storage_options)
        path = remote_reader._path
        size = remote_reader._size
    else:
        path = Path(path)
        if path.is_dir():
            raise UserError(f'{path}: is a directory, not a dataset file')
        if not path.exists():
            raise FileNotFoundError(f'{path}: dataset file not found')
        size = path.stat().st_size
    state, files = _index_state(path)
    # the bars are gone when the result is printed
    with ProgressPrinter.transient():
        n, raws, examined, problem = _samples(url or path, limit, progress, storage_options)
        stats, labels, label_types = _examine(path, raws, examined, progress)
    if problem and state != 'missing':
        state = 'damaged'
    result = {
        'file': url or str(path),
        'samples': n,
        'examined': examined,
        'size': size,
        'index': state,
        'index_files': files,
        'md5': path_append(path, '.md5').exists(),
        'keys': {k: st.as_json() for k, st in stats.items()},
        'labels': None,
    }
    if problem:
        result['index_problem'] = problem
    if labels:
        order = sorted(labels, key=lambda v: (str(type(v)), v)) if len(label_types) > 1 \
            else sorted(labels)
        result['labels'] = {str(k): labels[k] for k in order}
    return result


def format_info(d):
    """Text for an :py:func:`info` result."""
    lines = [d['file']]
    n = d['samples']
    lines.append(f'  samples:  {n}' + (
        f' ({d["examined"]} examined)' if d['examined'] != n else ''))
    size = d['size']
    per = f', {size // n} bytes per sample' if n else ''
    lines.append(f'  size:     {_human(size)} ({size} bytes{per})')
    index = d['index']
    if index == 'new':
        text = 'present (' + ', '.join(d['index_files']) + ')'
    elif index == 'legacy':
        text = 'legacy .index (convert it with datadings-convert-index)'
    elif index == 'damaged':
        problem = str(d.get('index_problem') or 'unknown problem')
        prefix = f'{d["file"]}: '
        if problem.startswith(prefix):  # the file is named in the first line
            problem = problem[len(prefix):]
        # the reader's message may carry the hint already
        hint = '' if 'datadings-index' in problem else ' (rebuild it with datadings-index)'
        text = f'damaged: {problem}{hint}'
    else:
        text = 'missing (rebuild it with datadings-index)'
    lines.append(f'  index:    {text}')
    lines.append('  md5:      ' + ('present (check it with datadings-verify)'
                                   if d['md5'] else 'missing (datadings-index writes one)'))
    if d['keys']:
        lines.append('  keys:')
        width = max(len(k) for k in d['keys']) + 1
        examined = d['examined']
        for key, st in d['keys'].items():
            where = '' if st['count'] == examined else f' (in {st["count"]} of {examined} samples)'
            lines.append(f'    {key + ":":<{width}} {st["summary"]}{where}')
    labels = d.get('labels')
    if labels:
        counts = list(labels.values())
        lo, hi = min(counts), max(counts)
        each = f'{lo}' if lo == hi else f'{lo}..{hi}'
        lines.append(f'  labels:   {len(labels)} distinct, {each} samples each')
        shown = list(labels.items())
        if len(shown) > _SHOW_LABELS:
            by_count = sorted(shown, key=lambda kv: kv[1])
            lines.append('    fewest: ' + ', '.join(f'{k}: {c}' for k, c in by_count[:5]))
            lines.append('    most:   ' + ', '.join(f'{k}: {c}' for k, c in by_count[-5:]))
        else:
            width = max(len(k) for k, _ in shown)
            cwidth = len(str(max(counts)))
            top = max(counts)
            for k, c in shown:
                bar = '#' * max(1, round(30 * c / top))
                lines.append(f'    {k:>{width}}: {c:>{cwidth}} {bar}')
    return '\n'.join(lines)



def main(argv=None):
    """Run ``datadings-info`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = make_parser_simple(__doc__, prog='datadings-info')
    argument_infile(parser, help='Dataset file.')
    parser.add_argument('--json', action='store_true', dest='as_json',
                        help='print one JSON object instead of text')
    parser.add_argument('-n', '--limit', type=positive_int, default=None, metavar='N',
                        help='examine only N samples, spread evenly over the dataset '
                             '(default: all)')
    argument_quiet(parser)
    argument_storage_options(parser)
    args = parser.parse_args(argv)
    d = info(args.infile, limit=args.limit, progress=not args.quiet,
             storage_options=args.storage_options)
    if args.as_json:
        print(json.dumps(d, default=str))
    else:
        print(format_info(d))
    sys.stdout.flush()


def entry():
    """Console-script entry point of ``datadings-info``: user mistakes become one line on stderr."""
    run_main(main, prog='datadings-info')


if __name__ == '__main__':
    entry()
