"""
Decoding of encoded images (JPEG, PNG and every other format Pillow reads)
to numpy arrays, for training streams.

:py:class:`EncodedImage` reads only the header of an image when it is
created (size, mode, format); its pixels are decoded when they are needed,
at a reduced scale if that is enough. JPEG images are then decoded with
DCT-domain downscaling (draft mode: libjpeg computes the image at 1/2,
1/4 or 1/8 of its size directly from the compressed data, which costs a
fraction of a full decode). The transforms of
:py:mod:`datadings_like.stream.transforms` decide the scale: they first
compose all geometric changes (crop box, resize, rotation, ...) and then
ask for the largest reduction :py:func:`draft_scale` allows, one that still
leaves at least one decoded pixel per output pixel, so the result has the
same sharpness as a full decode followed by the same resampling.

Safety: data is decoded by Pillow and nothing else; an image larger than
``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression bomb: a small file that
claims an enormous size) is refused with
:py:class:`~datadings_like.sets.tools.ImageError` before any
pixel is decoded, as are damaged files. Raise ``PIL.Image.MAX_IMAGE_PIXELS``
to accept larger images.

Arrays (:py:func:`image_to_array`) have the dtype of the image's pixels:
``uint8`` for 8-bit images (``'P'`` palette images give their palette
indices, ``'1'`` bilevel images 0 and 1), ``uint16`` for 16-bit images
(16-bit PNG label maps keep their values), ``int32`` for ``'I'`` and
``float32`` for ``'F'``. Grey images are 2-d ``(height, width)``, others
``(height, width, channels)``.

The counters in :py:data:`stats` say how much decoding work was done in
this process (tests and benchmarks read them).
"""
import collections

import numpy as np

from ..sets.tools import ImageError
from ..sets.tools import load_image
from ..sets.tools import open_image
from ..sets.tools import to_rgb

__all__ = (
    'CHANNELS',
    'DRAFT_SCALES',
    'EncodedImage',
    'ImageError',
    'convert_channels',
    'decode',
    'draft_scale',
    'image_to_array',
    'stats',
)

#: Reductions JPEG draft mode can decode at, largest first.
DRAFT_SCALES = (8, 4, 2, 1)

#: Values of the ``channels`` option: 1 (grey), 3 (RGB), 4 (RGBA), or
#: ``'keep'`` (as stored: grey stays 2-d, 16-bit stays 16-bit, palette
#: images give their indices).
CHANNELS = (1, 3, 4, 'keep')

#: Counters of the decoding done in this process: ``'images'`` decoded,
#: ``'draft'`` of them decoded at a reduced scale, ``'pixels'`` decoded
#: (at the decoded size) and ``'stored_pixels'`` (at the stored size).
#: Reset it with ``stats.clear()``.
stats = collections.Counter()

# Pillow's transpose methods by EXIF orientation (values 2 to 8)
_ORIENTATION_METHODS = {2: 'FLIP_LEFT_RIGHT', 3: 'ROTATE_180', 4: 'FLIP_TOP_BOTTOM',
                        5: 'TRANSPOSE', 6: 'ROTATE_270', 7: 'TRANSVERSE', 8: 'ROTATE_90'}


def draft_scale(size, ratio):
    """
    The largest reduction of :py:data:`DRAFT_SCALES` that is at most
    ``ratio`` and leaves at least one pixel in each dimension.

    Parameters:
        size: ``(width, height)`` of the stored image
        ratio: stored pixels per output pixel along the direction in which
            the output is sampled most densely (for an axis-aligned crop of
            width ``cw`` and height ``ch`` resized to ``w`` x ``h``:
            ``min(cw / w, ch / h)``)

    Returns:
        8, 4, 2 or 1
    """
    for scale in DRAFT_SCALES:
        if scale <= ratio and scale <= min(size):
            return scale
    return 1


def convert_channels(image, channels):
    """
    Convert a decoded Pillow image to the number of channels asked for.

    Parameters:
        image: a loaded ``PIL.Image.Image``
        channels: one of :py:data:`CHANNELS`. 1 and 3 convert with
            :py:func:`datadings_like.sets.tools.to_rgb` (alpha dropped,
            16-bit grey keeps its top 8 bits); 4 gives RGBA; ``'keep'``
            returns the image as it is.

    Returns:
        the converted image (the same image if it has the mode already)

    Raises:
        ImageError: a 32-bit image whose values 8 bits cannot hold
        ValueError: ``channels`` is not one of :py:data:`CHANNELS`
    """
    if channels == 'keep':
        return image
    if channels == 1:
        return to_rgb(image, gray=True)
    if channels == 3:
        image = to_rgb(image)
        return image if image.mode == 'RGB' else image.convert('RGB')
    if channels == 4:
        if image.mode == 'RGBA':
            return image
        if image.mode.startswith('I') or image.mode == 'F':
            image = to_rgb(image)
        return image.convert('RGBA')
    raise ValueError(f'channels must be one of {CHANNELS}, not {channels!r}')


def image_to_array(image):
    """
    The pixels of a loaded Pillow image as a numpy array (see the module
    documentation for the dtypes and shapes). The array is writable and
    owns its memory.

    Parameters:
        image: a loaded ``PIL.Image.Image``

    Returns:
        ``numpy.ndarray``
    """
    array = np.asarray(image)
    if image.mode == '1':
        return array.astype(np.uint8)
    if not array.dtype.isnative:
        return array.astype(array.dtype.newbyteorder('='))
    if not array.flags.writeable:
        # Pillow hands out a read-only view of a bytes object
        array = array.copy()
    return array


class EncodedImage:
    """
    An encoded image (bytes in any format Pillow reads) whose header has
    been read; the pixels are decoded by :py:meth:`decode`, once.

    Instances pickle as their data (the opened file is not pickled).

    Parameters:
        data: the encoded image (``bytes``, ``bytearray`` or
            ``memoryview``)

    Attributes:
        data: the encoded image
        size: ``(width, height)`` as stored
        mode: Pillow mode as stored (``'RGB'``, ``'L'``, ``'P'``,
            ``'I;16'``, ...)
        format: Pillow format name (``'JPEG'``, ``'PNG'``, ...)

    Raises:
        ImageError: not an image Pillow can read, a damaged header, or a
            decompression bomb (more pixels than
            ``PIL.Image.MAX_IMAGE_PIXELS``)
    """

    __slots__ = ('data', 'size', 'mode', 'format', '_image')

    def __init__(self, data):
        self.data = data
        image = open_image(data)
        self.size = image.size
        self.mode = image.mode
        self.format = image.format
        self._image = image

    def __getstate__(self):
        return {'data': bytes(self.data), 'size': self.size, 'mode': self.mode,
                'format': self.format}

    def __setstate__(self, state):
        for name, value in state.items():
            setattr(self, name, value)
        self._image = None

    def __repr__(self):
        return (f'<EncodedImage {self.format} {self.mode} '
                f'{self.size[0]}x{self.size[1]}, {len(self.data)} bytes>')

    @property
    def can_draft(self):
        """True if the format can be decoded at a reduced scale (JPEG)."""
        return self.format == 'JPEG'

    def orientation(self):
        """
        The EXIF orientation of the image (1 to 8; 1, the default, if the
        image has none or an invalid one).
        """
        image = self._opened()
        try:
            value = image.getexif().get(0x0112, 1)
        except Exception:  # damaged EXIF data: Pillow raises many kinds
            return 1
        return value if value in range(1, 9) else 1

    @staticmethod
    def orientation_method(orientation):
        """
        The ``PIL.Image.Transpose`` name that undoes an EXIF orientation
        (None for 1).
        """
        return _ORIENTATION_METHODS.get(orientation)

    def _opened(self):
        if self._image is None:
            self._image = open_image(self.data)
        return self._image

    def decode(self, channels='keep', scale=1):
        """
        Decode the pixels.

        Parameters:
            channels: one of :py:data:`CHANNELS` (see
                :py:func:`convert_channels`); a JPEG decoded to 1 channel
                is decoded to grey directly.
            scale: reduce the image by this factor (one of
                :py:data:`DRAFT_SCALES`) if the format can do it while
                decoding (JPEG); other formats are decoded at full size.

        Returns:
            ``(image, scale)``: the loaded Pillow image and the reduction
            it was decoded at (1 if none). Coordinates in the decoded
            image are the stored coordinates divided by ``scale``; its
            size is the stored size divided by ``scale``, rounded up.

        Raises:
            ImageError: the data cannot be decoded (truncated, damaged)
            ValueError: ``scale`` or ``channels`` is not a valid value
        """
        if scale not in DRAFT_SCALES:
            raise ValueError(f'scale must be one of {DRAFT_SCALES}, not {scale!r}')
        if channels not in CHANNELS:
            raise ValueError(f'channels must be one of {CHANNELS}, not {channels!r}')
        image = self._opened()
        self._image = None  # a Pillow image is loaded once; reopen if asked again
        actual = 1
        if self.format == 'JPEG':
            mode = 'L' if channels == 1 and image.mode == 'RGB' else image.mode
            if scale > 1:
                width, height = self.size
                scale = min(scale, draft_scale(self.size, scale))
                requested = (max(1, width // scale), max(1, height // scale))
            else:
                requested = None
            if requested is not None or mode != image.mode:
                result = image.draft(mode, requested)
                if result is not None and requested is not None:
                    actual = max(1, round(width / result[1][2]))
        image = load_image(image)
        stats['images'] += 1
        stats['pixels'] += image.size[0] * image.size[1]
        stats['stored_pixels'] += self.size[0] * self.size[1]
        if actual > 1:
            stats['draft'] += 1
        return convert_channels(image, channels), actual


def decode(data, channels=3, size=None):
    """
    Decode an image to a numpy array.

    Parameters:
        data: the encoded image (bytes of any format Pillow reads)
        channels: one of :py:data:`CHANNELS`
        size: None, or ``(width, height)``: a JPEG is decoded at the
            largest reduction that still leaves it at least this large
            (like ``PIL.Image.Image.draft``); other formats are decoded at
            full size.

    Returns:
        ``numpy.ndarray`` (see :py:func:`image_to_array`)

    Raises:
        ImageError: not an image, damaged, or a decompression bomb
    """
    encoded = EncodedImage(data)
    scale = 1
    if size is not None:
        width, height = encoded.size
        scale = draft_scale(encoded.size, min(width / max(1, size[0]), height / max(1, size[1])))
    image, _ = encoded.decode(channels, scale)
    return image_to_array(image)
