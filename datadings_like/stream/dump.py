"""
Writing batches as PNG files to check transforms by eye (the ``dump``
option of :py:class:`~datadings_like.stream.Stream` and
``datadings-stream --dump``).

For batch ``b`` and sample ``i`` of the batch:

- ``{b:04d}_{i:03d}_{field}.png`` for every image field (arrays of shape
  ``(height, width)`` or ``(height, width, channels)`` with 1, 3 or 4
  channels; channels-first arrays are turned around);
- ``{b:04d}_{i:03d}_{field}.png`` for every annotation field (the fields
  named in ``annotate`` that are label maps), in colour, and
  ``{b:04d}_{i:03d}_{field}_overlay.png``: the label map over the first
  image of the same size (label 0 is left transparent);
- ``batch_{b:04d}.png``: all samples of the batch side by side, each image
  followed by its overlays.

Images are shown as they leave the pipeline: ``uint8`` as they are, other
values scaled: values in [0, 1] times 255, values in [0, 255] as they are,
anything else (e.g. normalised images) stretched from its minimum to its
maximum.
"""
import math
import os

import numpy as np
from PIL import Image

__all__ = ('as_image', 'dump_batch', 'label_colors', 'to_uint8')

_OVERLAY_ALPHA = 0.6
_PALETTE = ((0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 64, 255), (255, 255, 0),
            (255, 0, 255), (0, 255, 255))
_MAX_SHEET_COLUMNS = 8


def _batch_size(batch):
    for value in batch.values():
        return len(value)
    return 0


def as_image(array):
    """
    A view of one sample's array as an image: HW, or HWC with 3 or 4
    channels (CHW arrays are transposed, a single channel dropped).

    Parameters:
        array: the array (anything else gives None)

    Returns:
        the view, or None if the array is no image (non-numeric dtype,
        other shapes, empty)
    """
    if not isinstance(array, np.ndarray) or array.dtype.kind not in 'biuf':
        return None
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)):
        if min(array.shape[:2]) >= 1:
            return array
    return None


def to_uint8(image):
    """
    An image array as ``uint8`` for viewing (see the module documentation).

    Parameters:
        image: array of shape ``(h, w)`` or ``(h, w, c)``

    Returns:
        ``uint8`` array of the same shape
    """
    if image.dtype == np.uint8:
        return image
    a = image.astype(np.float64)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1 and image.dtype.kind == 'f':
        a = a * 255
    elif not (lo >= 0 and hi <= 255):
        a = (a - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)


def label_colors(labels):
    """
    A colour for every label of a label map: 0 black, 255 (ignore) white,
    1 to 6 red, green, blue, yellow, magenta and cyan, every other value a
    hue of its own.

    Parameters:
        labels: integer array ``(h, w)``

    Returns:
        ``uint8`` RGB array ``(h, w, 3)``
    """
    labels = np.asarray(labels).astype(np.int64)
    values, inverse = np.unique(labels, return_inverse=True)
    palette = np.empty((len(values), 3), dtype=np.uint8)
    for j, v in enumerate(values.tolist()):
        if v == 0:
            palette[j] = (0, 0, 0)
        elif v == 255:
            palette[j] = (255, 255, 255)
        elif 0 < v < len(_PALETTE):
            palette[j] = _PALETTE[v]
        else:
            hue = (v * 0.618033988749895) % 1.0
            rgb = Image.new('HSV', (1, 1), (int(hue * 255), 220, 255)).convert('RGB')
            palette[j] = rgb.getpixel((0, 0))
    return palette[inverse.reshape(labels.shape)]


def _rgb(image):
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]


def _overlay(image, labels):
    base = _rgb(to_uint8(image)).astype(np.float32)
    colors = label_colors(labels).astype(np.float32)
    mask = (np.asarray(labels) != 0)[:, :, None]
    out = np.where(mask, base * (1 - _OVERLAY_ALPHA) + colors * _OVERLAY_ALPHA, base)
    return out.round().astype(np.uint8)


def _sheet(rows):
    """All tiles of all samples in one picture, a grid of samples."""
    tiles = [np.concatenate(_pad_height(row), axis=1) for row in rows if row]
    if not tiles:
        return None
    columns = min(len(tiles), _MAX_SHEET_COLUMNS, max(1, math.ceil(math.sqrt(len(tiles)))))
    h = max(t.shape[0] for t in tiles) + 2
    w = max(t.shape[1] for t in tiles) + 2
    nrows = math.ceil(len(tiles) / columns)
    sheet = np.full((nrows * h, columns * w, 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * h + 1:r * h + 1 + tile.shape[0], c * w + 1:c * w + 1 + tile.shape[1]] = tile
    return sheet


def _pad_height(tiles):
    h = max(t.shape[0] for t in tiles)
    return [np.pad(t, ((0, h - t.shape[0]), (0, 0), (0, 0)), constant_values=255) for t in tiles]


def dump_batch(batch, number, directory, annotate=()):
    """
    Write the images and annotation overlays of one batch as PNG files.

    Parameters:
        batch: batch dict (arrays with the batch as first axis, lists)
        number: number of the batch (in the file names)
        directory: where to write; created if needed
        annotate: names of the annotation (label map) fields

    Returns:
        list of the paths written
    """
    os.makedirs(directory, exist_ok=True)
    annotate = set(annotate)
    written = []
    rows = []
    for i in range(_batch_size(batch)):
        images = {}
        labels = {}
        for field, value in batch.items():
            if not isinstance(value, np.ndarray):
                continue
            image = as_image(value[i])
            if image is None:
                continue
            if field in annotate and image.ndim == 2 and image.dtype.kind in 'biu':
                labels[field] = image
            elif field not in annotate:
                images[field] = image
        row = []
        for field, image in images.items():
            pixels = to_uint8(image)
            written.append(_save(pixels, directory, f'{number:04d}_{i:03d}_{field}.png'))
            row.append(_rgb(pixels))
        for field, label_map in labels.items():
            written.append(_save(label_colors(label_map), directory,
                                 f'{number:04d}_{i:03d}_{field}.png'))
            under = next((im for im in images.values() if im.shape[:2] == label_map.shape), None)
            if under is not None:
                overlay = _overlay(under, label_map)
                written.append(_save(overlay, directory,
                                     f'{number:04d}_{i:03d}_{field}_overlay.png'))
                row.append(overlay)
            else:
                row.append(label_colors(label_map))
        rows.append(row)
    sheet = _sheet(rows)
    if sheet is not None:
        written.append(_save(sheet, directory, f'batch_{number:04d}.png'))
    return written


def _save(pixels, directory, name):
    path = os.path.join(directory, name)
    Image.fromarray(np.ascontiguousarray(pixels)).save(path)
    return path
