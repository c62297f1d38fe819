"""
Stream preview: the first batches of a :py:class:`~datadings_like.stream.Stream`
over one dataset file, as pictures.

The config is what ``datadings-stream -c`` reads (the keyword options of
the stream, ``transforms`` as config entries). The explorer is read-only
and transforms in its own process, so options that write files, start
workers or choose other sources (``dump``, ``dump_dir``, ``sources``,
``workers``, ``parallel``, ``prefetch``, ``start_method``,
``shared_memory``, ``rank``, ``world_size``, ``cache``) are ignored,
and batches hold at most :py:data:`MAX_BATCH` samples.
"""
from itertools import islice

import numpy as np
from PIL import Image

from ..reader._html import data_uri
from ..stream.dump import as_image
from ..stream.dump import label_colors
from ..stream.dump import to_uint8

__all__ = ('IGNORED', 'MAX_BATCH', 'MAX_BATCHES', 'presets', 'preview')

#: options of the config that the preview leaves out
IGNORED = ('dump', 'dump_dir', 'sources', 'workers', 'parallel', 'prefetch', 'start_method',
           'shared_memory', 'rank', 'world_size', 'cache')
#: samples per previewed batch, at most (and the number of single samples)
MAX_BATCH = 32
#: batches previewed, at most
MAX_BATCHES = 4
_PREVIEW_SIZE = 192
_ALPHA = 0.5


def presets(image_field, label_fields=()):
    """
    Example configs for the preview of a dataset.

    Parameters:
        image_field: name of the image field (or None)
        label_fields: names of label-map fields

    Returns:
        list of ``{"name", "config"}``
    """
    field = image_field or 'image'
    out = [
        {'name': 'decoded', 'config': {
            'transforms': [{'Decode': {'field': field}}, {'ToArray': {'field': field}}],
            'batch_size': None}},
        {'name': 'random crops and flips', 'config': {
            'transforms': [{'Decode': {'field': field}},
                           {'RandomResizedCrop': {'size': 96, 'field': field}},
                           {'Flip': {'horizontal': True, 'field': field}},
                           {'ToArray': {'field': field}}],
            'batch_size': 8, 'shuffle': True, 'seed': 0}},
    ]
    if label_fields:
        label = label_fields[0]
        out.append({'name': f'segmentation ({label})', 'config': {
            'transforms': [{'Decode': {'field': field}},
                           {'RandomResizedCrop': {'size': 96, 'field': field}},
                           {'Flip': {'horizontal': True, 'field': field}},
                           {'ToArray': {'field': field}}],
            'annotate': [label], 'batch_size': 8, 'shuffle': True, 'seed': 0}})
    return out


    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))) \
            and min(array.shape[:2]) >= 1:
        return array
    return None


def _uri(pixels):
    image = Image.fromarray(np.ascontiguousarray(pixels))
    image.thumbnail((_PREVIEW_SIZE, _PREVIEW_SIZE), Image.NEAREST)
    return data_uri(image)


def _text(value):
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return np.array2string(value, precision=4)
        return f'ndarray {value.dtype} {value.shape}'
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:199] + '\u2026'


def _rows(item, annotate, batched):
    """The cells of every sample of a batch (or of one sample)."""
    if not batched:
        item = {k: [v] for k, v in item.items()}
        size = 1
    else:
        size = next((len(v) for v in item.values()), 0)
    rows = []
    for i in range(size):
        images = {}
        cells = []
        for field, value in item.items():
            v = value[i]
            image = as_image(v) if isinstance(v, np.ndarray) else None
            if image is not None and field in annotate and image.ndim == 2 \
                    and image.dtype.kind in 'biu':
                colors = label_colors(image)
                cells.append({'field': str(field), 'kind': 'image', 'src': _uri(colors)})
                under = next((im for im in images.values() if im.shape[:2] == image.shape), None)
                if under is not None:
                    base = under if under.ndim == 3 else np.repeat(under[:, :, None], 3, 2)
                    mixed = base[:, :, :3].astype(np.float32) * (1 - _ALPHA) + colors * _ALPHA
                    cells.append({'field': f'{field} over image', 'kind': 'image',
                                  'src': _uri(mixed.round().astype(np.uint8))})
            elif image is not None:
                pixels = to_uint8(image)
                images[field] = pixels
                cells.append({'field': str(field), 'kind': 'image', 'src': _uri(pixels),
                              'shape': list(v.shape), 'dtype': str(v.dtype)})
            else:
                cells.append({'field': str(field), 'kind': 'text', 'text': _text(v)})
        rows.append(cells)
    return rows


def preview(path, config, batches=1):
    """
    Run a stream over one dataset file and show its first batches.

    Parameters:
        path: the dataset file
        config: dict of stream options (see the module documentation)
        batches: number of batches (at most :py:data:`MAX_BATCHES`)

    Returns:
        dict: ``batches`` (a list of lists of samples, each a list of
        cells ``{"field", "kind": "image", "src"}`` or ``{"field", "kind":
        "text", "text"}``), ``ignored`` (the options left out) and
        ``stream`` (its description)

    Raises:
        ValueError, TypeError: a bad config, or a sample the transforms
            cannot handle (the message names the option or the sample)
    """
    from ..reader.msgpack import MsgpackReader
    from ..stream.stream import Stream
    if not isinstance(config, dict):
        raise ValueError('the stream config must be a JSON object of options')
    options = dict(config)
    ignored = sorted(k for k in list(options) if k in IGNORED and options.pop(k) is not None)
    size = options.get('batch_size')
    if isinstance(size, int) and not isinstance(size, bool) and size > MAX_BATCH:
        options['batch_size'] = MAX_BATCH
        ignored.append(f'batch_size {size} (previews show {MAX_BATCH})')
    options.update(workers=0, rank=0, world_size=1)
    batches = max(1, min(int(batches), MAX_BATCHES))
    reader = MsgpackReader(path)
    try:
        stream = Stream.from_config(options, sources=[reader], where='stream config')
        try:
            batched = stream.batch_size is not None
            count = batches if batched else min(MAX_BATCH, batches * 8)
            items = list(islice(iter(stream), count))
        finally:
            stream.close()
    finally:
        reader.close()
    annotate = set(stream.annotate)
    if batched:
        shown = [_rows(item, annotate, True) for item in items]
    else:
        shown = [[row for item in items for row in _rows(item, annotate, False)]]
    return {'batches': shown, 'ignored': ignored, 'stream': repr(stream)}
