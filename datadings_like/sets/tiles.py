"""
Large remote-sensing rasters for dataset writers (InriaBuildings,
Vaihingen, RIT18): read GeoTIFFs band by band without GDAL
(:py:func:`read_tiff`, :py:func:`probe_tiff`) and cut images into tiles
(:py:func:`iter_tiles`, :py:func:`tile_grid`, :py:func:`count_tiles`).

Tiles are numpy views of the image that was read once, produced one at a
time: cutting a 5000x5000 image into 384x384 tiles costs no memory beyond
the image and the tile being written.

Tiles are numbered like datadings 3.4.7 numbers them: row by row over the
grid of ``ceil(H / tile_height) x ceil(W / tile_width)`` positions, starting
with 0. The last row and column of the grid hold the *partial* tiles (the
rest of the image where ``H`` or ``W`` is not a multiple of the tile size);
a writer that drops them (``partial=False``) leaves gaps in the numbering,
so keys do not depend on whether partial tiles are kept.
"""
from contextlib import contextmanager
from itertools import product
import logging
import math

from ..tools.cli import UserError
from ..tools.extras import install_hint

__all__ = ('count_tiles', 'iter_tiles', 'probe_tiff', 'read_tiff', 'tile_grid')


def tile_grid(height, width, tile_height, tile_width, partial=True):
    """
    The tiles of a ``height x width`` raster, row by row.

    Parameters:
        height: rows of the raster
        width: columns of the raster
        tile_height: rows of a tile
        tile_width: columns of a tile
        partial: also yield the smaller tiles at the bottom and right
            edges (where the size is not a multiple of the tile size)

    Returns:
        yields ``(index, top, left, bottom, right)``: the tile's number in
        the full grid (partial tiles count even when they are not yielded)
        and its pixel bounds, ``bottom`` and ``right`` exclusive

    Raises:
        ValueError: a tile size is not positive
    """
    if tile_height < 1 or tile_width < 1:
        raise ValueError(f'tile size must be positive, not {tile_height}x{tile_width}')
    rows = range(0, height, tile_height)
    cols = range(0, width, tile_width)
    for index, (top, left) in enumerate(product(rows, cols)):
        bottom = min(top + tile_height, height)
        right = min(left + tile_width, width)
        if not partial and (bottom - top < tile_height or right - left < tile_width):
            continue
        yield index, top, left, bottom, right


def count_tiles(height, width, tile_height, tile_width, partial=True):
    """
    Number of tiles :py:func:`tile_grid` yields for these sizes
    (for progress bars).
    """
    if partial:
        return math.ceil(height / tile_height) * math.ceil(width / tile_width)
    return (height // tile_height) * (width // tile_width)


def iter_tiles(arrays, tile_size, partial=True):
    """
    Cut arrays that cover the same raster into the same tiles. The last two
    axes of each array are its rows and columns (e.g. a ``bands x H x W``
    image and its ``H x W`` label map); leading axes are kept whole.

    Parameters:
        arrays: sequence of numpy arrays with equal last two dimensions
        tile_size: ``(tile_height, tile_width)``
        partial: keep the smaller tiles at the bottom and right edges;
            if false they are dropped (their numbers are skipped)

    Returns:
        yields ``(index, tiles)``: the tile number (see :py:func:`tile_grid`)
        and a list with one view per array, in the order of ``arrays``

    Raises:
        ValueError: the arrays differ in their last two dimensions
    """
    arrays = list(arrays)
    if not arrays:
        return
    sizes = {tuple(a.shape[-2:]) for a in arrays}
    if len(sizes) != 1 or any(a.ndim < 2 for a in arrays):
        raise ValueError(f'arrays must cover the same raster, got shapes '
                         f'{[a.shape for a in arrays]}')
    height, width = sizes.pop()
    tile_height, tile_width = tile_size
    for index, top, left, bottom, right in tile_grid(
            height, width, tile_height, tile_width, partial):
        yield index, [a[..., top:bottom, left:right] for a in arrays]


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
