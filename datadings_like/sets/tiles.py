"""
Large remote-sensing rasters for dataset writers (InriaBuildings,
Vaihingen, RIT18): read GeoTIFFs band by band without GDAL
(:py:func:`~datadings_like.tools.tiff.read_tiff`, :py:func:`~datadings_like.tools.tiff.probe_tiff`, re-exported here) and cut images into tiles
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
from itertools import product
import math

from ..tools.tiff import probe_tiff
from ..tools.tiff import read_tiff

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
