"""
Read (Geo)TIFF rasters without GDAL: :py:func:`read_tiff` gives the
``bands x H x W`` array that GDAL's ``ReadAsArray`` gives datadings 3.4.7,
:py:func:`probe_tiff` the size from the header alone. Uses ``tifffile``
(the ``sets`` extra: ``pip install '.[sets]'`` in the source tree).
"""
from contextlib import contextmanager
import logging

from .cli import UserError
from .extras import install_hint

__all__ = ('probe_tiff', 'read_tiff')


def _tifffile():
    try:
        import tifffile
    except ImportError:
        raise UserError('reading GeoTIFF files needs tifffile, which is not installed; '
                        'install it with: ' + install_hint('sets', 'tifffile')) from None
    return tifffile


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.notes = []

    def emit(self, record):
        self.notes.append(record.getMessage())


@contextmanager
def _collect_log(name):
    # tifffile logs what it finds wrong in a file; keep that for the error
    # message instead of printing it next to the one-line error
    logger = logging.getLogger(name)
    handler = _Collector()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.notes
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _open_series(path):
    """Open a TIFF; returns ``(TiffFile, series 0)``; errors as UserError."""
    tifffile = _tifffile()
    tif = None
    try:
        with _collect_log('tifffile') as notes:
            tif = tifffile.TiffFile(path)
            series = tif.series[0]
            series.shape  # noqa: B018  (parses the header)
    except FileNotFoundError:
        raise UserError(f'{path}: file not found') from None
    except Exception as exc:  # tifffile raises many types for damaged files
        if tif is not None:
            tif.close()
        detail = f'{type(exc).__name__}: {exc}' + ''.join(f'; {n}' for n in notes)
        raise UserError(f'{path}: cannot read TIFF ({detail})') from None
    return tif, series


def _band_layout(path, axes, shape):
    """
    How to turn an array of a TIFF series (``axes`` like ``'YXS'`` or
    ``'SYX'``) into ``bands x H x W``: the axis order for ``transpose``
    and the resulting shape.
    """
    plane = [a for a in axes if a in 'YX']
    samples = [i for i, a in enumerate(axes) if a in 'SC']
    others = [i for i, a in enumerate(axes) if a not in 'YXSC']
    # anything but one image of samples x rows x columns (in any order)
    if plane != ['Y', 'X'] or len(samples) > 1 or any(shape[i] != 1 for i in others):
        raise UserError(f'{path}: expected one image, found a TIFF series with axes '
                        f'{axes} and shape {tuple(shape)}')
    order = samples + [axes.index('Y'), axes.index('X')] + others
    bands = shape[samples[0]] if samples else 1
    return order, (bands, shape[axes.index('Y')], shape[axes.index('X')])


def probe_tiff(path):
    """
    Size of the raster of a (Geo)TIFF file, from its header (the pixel
    data is not read).

    Parameters:
        path: TIFF file

    Returns:
        ``(bands, height, width)``

    Raises:
        UserError: tifffile is missing, the file is missing, not a TIFF or
            not a single image
    """
    tif, series = _open_series(path)
    with tif:
        return _band_layout(path, series.axes, series.shape)[1]


def read_tiff(path, dtype=None, bands=None):
    """
    Read the raster of a (Geo)TIFF file as a ``bands x H x W`` array, the
    layout of GDAL's ``ReadAsArray`` per band that datadings 3.4.7 uses.
    Uses ``tifffile`` (the ``sets`` extra), not GDAL.

    Parameters:
        path: TIFF file
        dtype: convert to this numpy dtype (like ``astype``: values out of
            range wrap around, floats are truncated), or None to keep the
            file's type
        bands: expected number of bands, or None for any

    Returns:
        numpy array, ``bands x H x W`` (possibly a transposed view)

    Raises:
        UserError: tifffile is missing, the file is missing, damaged, not a
            TIFF, or has another number of bands than ``bands``
    """
    import numpy as np

    tif, series = _open_series(path)
    with tif:
        order, shape = _band_layout(path, series.axes, series.shape)
        if bands is not None and shape[0] != bands:
            raise UserError(f'{path}: expected {bands} band{"s" if bands != 1 else ""}, '
                            f'found {shape[0]}')
        try:
            with _collect_log('tifffile') as notes:
                array = series.asarray()
        except Exception as exc:  # damaged pixel data
            detail = f'{type(exc).__name__}: {exc}' + ''.join(f'; {n}' for n in notes)
            raise UserError(f'{path}: cannot read TIFF ({detail})') from None
    if array.dtype.kind not in 'biuf':
        raise UserError(f'{path}: unsupported TIFF sample type {array.dtype}')
    array = array.transpose(order).reshape(shape)
    if dtype is not None:
        with np.errstate(invalid='ignore'):  # NaN to int, as GDAL users get it
            array = array.astype(dtype, copy=False)
    return array
