"""
Small HTML views of samples and readers for Jupyter (``_repr_html_``),
and the image helpers they share with the dataset explorer
(:py:mod:`datadings_like.explore`).

This module depends only on the standard library, numpy and Pillow, so
the readers may use it. Every string taken from a sample is HTML-escaped;
images are decoded with Pillow's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS`` unless a limit is given) and embedded as
``data:`` URIs of small thumbnails.
"""
from base64 import b64encode
from html import escape
import io
import warnings

import numpy as np
from PIL import Image

__all__ = ('ImageError', 'data_uri', 'describe_value', 'encode_png', 'find_image',
           'image_format', 'open_image', 'reader_html', 'sample_html', 'thumbnail', 'to_bytes')

_MAGIC = (
    (b'\xff\xd8\xff', 'JPEG'),
    (b'\x89PNG\r\n\x1a\n', 'PNG'),
    (b'GIF87a', 'GIF'),
    (b'GIF89a', 'GIF'),
    (b'BM', 'BMP'),
    (b'II*\x00', 'TIFF'),
    (b'MM\x00*', 'TIFF'),
)
#: thumbnails in notebook views: longest side in pixels
THUMB_SIZE = 96
#: samples a reader shows in a notebook
READER_SAMPLES = 12
_TEXT_LIMIT = 80


class ImageError(ValueError):
    """Bytes that look like an image cannot be shown: damaged, or too large."""


def to_bytes(value):
    """``value`` as bytes if it is bytes, bytearray or memoryview, else None."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return None


def image_format(data):
    """
    The image format of ``data`` from its first bytes.

    Parameters:
        data: bytes

    Returns:
        ``'JPEG'``, ``'PNG'``, ``'GIF'``, ``'BMP'``, ``'TIFF'``, ``'WEBP'`` or None
    """
    head = bytes(data[:16])
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'WEBP'
    return None


def open_image(data, max_pixels=None):
    """
    Open image bytes with Pillow, refusing decompression bombs: images with
    more than ``max_pixels`` pixels are refused before they are decoded.

    Parameters:
        data: the encoded image (bytes)
        max_pixels: largest number of pixels accepted (default:
            ``PIL.Image.MAX_IMAGE_PIXELS``, Pillow's decompression-bomb limit)

    Returns:
        a ``PIL.Image.Image``, not loaded yet

    Raises:
        ImageError: not an image Pillow reads, or too many pixels
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f'refused as a decompression bomb: {exc}') from None
    except Exception as exc:
        raise ImageError(f'damaged image, or one Pillow cannot read '
                         f'({type(exc).__name__}: {exc})') from None
    width, height = image.size
    if limit is not None and width * height > limit:
        raise ImageError(f'image of {width}x{height} pixels is larger than the limit of '
                         f'{limit} pixels (a decompression bomb?)')
    return image


def thumbnail(data, size=THUMB_SIZE, max_pixels=None):
    """
    A small RGB(A) copy of image bytes (JPEGs are decoded at a reduced
    scale, so big photos are cheap).

    Parameters:
        data: the encoded image
        size: longest side of the thumbnail in pixels
        max_pixels: see :py:func:`open_image`

    Returns:
        ``PIL.Image.Image``

    Raises:
        ImageError: the image cannot be read, is damaged or too large
    """
    image = open_image(data, max_pixels)
    try:
        if image.format == 'JPEG':
            image.draft('RGB', (size, size))
        image.load()
        image.thumbnail((size, size))
        return _viewable(image)
    except Exception as exc:
        raise ImageError(f'damaged {image.format or ""} image '
                         f'({type(exc).__name__}: {exc})'.replace('  ', ' ')) from None


def _viewable(image):
    """An RGB, RGBA or L image that browsers show as intended."""
    if image.mode in ('RGB', 'RGBA', 'L'):
        return image
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
        array = np.asarray(image, dtype=np.float64)
        lo, hi = float(array.min(initial=0)), float(array.max(initial=0))
        scaled = (array - lo) * (255 / (hi - lo)) if hi > lo else np.zeros_like(array)
        return Image.fromarray(scaled.round().astype(np.uint8))
    if image.mode in ('P', 'PA', 'LA', 'RGBa', 'La'):
        return image.convert('RGBA')
    return image.convert('RGB')


def encode_png(image):
    """PNG bytes of a ``PIL.Image.Image``."""
    buf = io.BytesIO()
    image.save(buf, 'PNG')
    return buf.getvalue()


def data_uri(image):
    """A ``data:image/png`` URI of a ``PIL.Image.Image``."""
    return 'data:image/png;base64,' + b64encode(encode_png(image)).decode('ascii')


def _short(value, limit=_TEXT_LIMIT):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + '\u2026'


def describe_value(value):
    """A short text for a field value (numbers, strings, arrays, bytes...)."""
    data = to_bytes(value)
    if data is not None:
        fmt = image_format(data)
        return f'{fmt} image, {len(data)} bytes' if fmt else f'{len(data)} bytes'
    if isinstance(value, np.ndarray):
        return f'ndarray {value.dtype} {value.shape}'
    if isinstance(value, dict):
        if value.get('format') == 'segments':
            return f'Segments ({len(value.get("bboxes") or ())} segments)'
        if 'imagearray' in value:
            return f'ImageArray {tuple(value.get("shape") or ())}'
        return f'map of {len(value)}'
    if isinstance(value, (list, tuple)):
        if len(value) <= 8 and all(isinstance(v, (int, float, str)) for v in value):
            return _short(value)
        return f'list of {len(value)}'
    return _short(value)


def find_image(sample):
    """
    Name of the image field of a sample: ``'image'`` if it holds image
    bytes, else the first field that does, else None.
    """
    if not isinstance(sample, dict):
        return None
    value = to_bytes(sample.get('image'))
    if value is not None and image_format(value):
        return 'image'
    for name, value in sample.items():
        value = to_bytes(value)
        if value is not None and image_format(value):
            return name
    return None


def _thumb_html(data, size, max_pixels):
    try:
        uri = data_uri(thumbnail(data, size, max_pixels))
    except ImageError as exc:
        return f'<div class="dl-error">{escape(str(exc))}</div>'
    return f'<img src="{uri}" alt="" style="max-width:{size}px;max-height:{size}px">'


_STYLE = ('<style>.dl-grid{display:flex;flex-wrap:wrap;gap:6px;font:12px sans-serif}'
          '.dl-tile{width:%dpx;border:1px solid #ccc;padding:3px;overflow:hidden}'
          '.dl-tile div{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}'
          '.dl-error{color:#b00}.dl-sample td{vertical-align:top;padding:2px 6px;'
          'font:12px monospace;text-align:left}</style>')


def sample_html(sample, size=2 * THUMB_SIZE, max_pixels=None):
    """
    HTML table of a sample's fields: images as thumbnails, every other
    value as short text. All text is escaped.

    Parameters:
        sample: a sample dict (or any value)
        size: longest side of the thumbnails
        max_pixels: see :py:func:`open_image`

    Returns:
        str
    """
    if not isinstance(sample, dict):
        return f'<pre>{escape(_short(sample, 2000))}</pre>'
    rows = []
    for name, value in sample.items():
        data = to_bytes(value)
        if data is not None and image_format(data):
            cell = _thumb_html(data, size, max_pixels) + f'<div>{escape(describe_value(data))}</div>'
        else:
            cell = escape(describe_value(value))
        rows.append(f'<tr><th>{escape(_short(name))}</th><td>{cell}</td></tr>')
    return _STYLE % THUMB_SIZE + '<table class="dl-sample">' + ''.join(rows) + '</table>'


def reader_html(reader, count=READER_SAMPLES, size=THUMB_SIZE, max_pixels=None):
    """
    HTML grid of the first samples of a reader: thumbnail, key and label
    of each; a sample that cannot be read shows its error on its tile.

    Parameters:
        reader: a :py:class:`~datadings_like.reader.Reader`
        count: samples shown
        size: longest side of the thumbnails
        max_pixels: see :py:func:`open_image`

    Returns:
        str
    """
    n = len(reader)
    name = type(reader).__name__
    path = getattr(reader, 'path', None)
    title = f'{name}: {n} samples' + (f' ({path})' if path is not None else '')
    tiles = []
    for i in range(min(count, n)):
        try:
            sample = reader.get(i)
        except Exception as exc:
            tiles.append(f'<div class="dl-tile"><div>#{i}</div>'
                         f'<div class="dl-error">{escape(_short(str(exc), 200))}</div></div>')
            continue
        parts = [f'<div>#{i}</div>']
        field = find_image(sample)
        if field is not None:
            parts.append(_thumb_html(to_bytes(sample[field]), size, max_pixels))
        if isinstance(sample, dict):
            if 'key' in sample:
                parts.append(f'<div title="key">{escape(_short(sample["key"]))}</div>')
            if 'label' in sample:
                parts.append(f'<div title="label">label {escape(_short(sample["label"]))}</div>')
        tiles.append('<div class="dl-tile">' + ''.join(parts) + '</div>')
    more = f'<div>\u2026 {n - count} more</div>' if n > count else ''
    return (_STYLE % size + f'<div><b>{escape(title)}</b></div>'
            f'<div class="dl-grid">{"".join(tiles)}</div>{more}')
