"""
Saliency maps on demand for the saliency datasets (MIT1003, CAT2000,
SALICON, FIGRIMFixation, ANP460, Coutrot1, ...).

Their samples store the fixations of every observer as ``locations``, an
``Nx2`` array of ``(x, y)`` pixel coordinates, and ``map`` is ``None``, as
in datadings 3.4.7. :py:func:`fixation_map` turns locations into the usual
training target, a Gaussian-blurred fixation density::

    import numpy as np
    from datadings_like.sets.saliency import fixation_map

    # all observers of one sample, on an image of height h and width w
    locations = np.concatenate([e['locations'] for e in sample['experiments']])
    target = fixation_map(locations, (h, w), sigma=0.03 * max(h, w))

Conventions
-----------

- ``locations`` are ``(x, y)``: ``x`` counts columns (left to right),
  ``y`` rows (top to bottom), both in pixels from the top-left corner of
  the image, as in the samples. A point falls into the pixel of row
  ``floor(y)`` and column ``floor(x)``, so the pixel ``(row, col)`` covers
  ``col <= x < col + 1`` and ``row <= y < row + 1``; integer coordinates
  (e.g. CAT2000's) are pixel indices. The writers store coordinates as
  their sources give them; where a source counts from 1 (MATLAB style), the
  dataset's page says so: subtract 1 before calling.
- ``size`` is ``(height, width)``: the numpy shape of the map, of
  ``image.shape[:2]`` for a decoded image, *not* the order of ``(x, y)`` or of
  PIL's ``Image.size`` (which is ``(width, height)``).
- Points outside the image (``x < 0``, ``y < 0``, ``x >= width``,
  ``y >= height``) and points with a NaN or infinite coordinate are
  dropped: they are not moved to the border.
- Every remaining point adds 1 to its pixel (repeated points add up), then
  the counts are blurred with :py:func:`scipy.ndimage.gaussian_filter`
  (standard deviation ``sigma`` pixels along both axes, kernel truncated at
  4 ``sigma``, zero outside the image: mass blurred over the border is lost
  before normalising).
- Normalisation (``normalize=``): ``'sum'`` (default) makes the map sum to 1,
  a probability distribution over the pixels; ``'max'`` makes its largest
  value 1 (like the maps drawn for viewing); ``None`` keeps the blurred
  counts (the map then sums to at most the number of points in the image).
  Without any point in the image the map is all zeros, whatever the
  normalisation.

scipy belongs to the ``sets`` extra (``pip install '.[sets]'`` in the source
tree); :py:func:`fixation_map` raises a
:py:class:`~datadings_like.tools.extras.MissingExtraError` naming it when
scipy is missing.
"""
import math
import numbers

import numpy as np

from ..tools.extras import require

__all__ = ('NORMALIZATIONS', 'fixation_map')

#: Accepted values of ``normalize`` in :py:func:`fixation_map`.
NORMALIZATIONS = ('sum', 'max', None)


def _check_size(size):
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ValueError(
            f'fixation_map: size must be (height, width), not {size!r}'
        ) from None
    checked = []
    for name, value in (('height', height), ('width', width)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise ValueError(
                f'fixation_map: size must be (height, width) as integers, '
                f'{name} is {value!r}'
            )
        if value <= 0:
            raise ValueError(f'fixation_map: {name} must be positive, not {value}')
        checked.append(int(value))
    return tuple(checked)


def _check_locations(locations):
    if locations is None:
        raise ValueError(
            'fixation_map: locations is None (samples without fixations, '
            'e.g. a test split, have no map)'
        )
    points = np.asarray(locations)
    if not np.issubdtype(points.dtype, np.number):
        raise ValueError(
            f'fixation_map: locations must be a numeric Nx2 array, not dtype {points.dtype}'
        )
    if points.size == 0:
        # empty experiments come as 0x2, 0x0 (FIGRIMFixation) or shape (0,)
        return np.empty((0, 2), np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(
            f'fixation_map: locations must be an Nx2 array of (x, y), not shape {points.shape}'
        )
    if np.iscomplexobj(points):
        raise ValueError('fixation_map: locations must be real numbers, not complex')
    return points.astype(np.float64, copy=False)


def fixation_map(locations, size, sigma, normalize='sum'):
    """
    Gaussian-blurred fixation density of an image: the usual saliency map.

    See the module documentation (:py:mod:`datadings_like.sets.saliency`)
    for the conventions in full.

    Parameters:
        locations: ``Nx2`` array-like of fixation points ``(x, y)`` in
            pixels (``x`` column, ``y`` row; the pixel ``(row, col)`` holds
            ``col <= x < col + 1``, ``row <= y < row + 1``); the
            ``locations`` of an experiment, or several concatenated. An
            empty array (``0x2``, ``0x0``) gives an all-zero map. Points
            outside the image or with non-finite coordinates are dropped.
        size: ``(height, width)`` of the map in pixels, the numpy shape of
            the result (``image.shape[:2]``; the reverse of PIL's
            ``Image.size``)
        sigma: standard deviation of the Gaussian in pixels (``>= 0``;
            ``0`` gives the fixation counts per pixel without blurring)
        normalize: ``'sum'`` (default): the map sums to 1; ``'max'``: its
            maximum is 1; ``None``: blurred counts, not normalised. A map
            without any point in the image is all zeros.

    Returns:
        ``numpy.ndarray`` of ``float64``, shape ``(height, width)``

    Raises:
        ValueError: ``locations`` is ``None`` or not a numeric ``Nx2`` array,
            ``size`` is not two positive integers, ``sigma`` is negative or
            not finite, or ``normalize`` is not one of :py:data:`NORMALIZATIONS`
        MissingExtraError: scipy is not installed (an ``ImportError``)
    """
    height, width = _check_size(size)
    if isinstance(sigma, (bool, np.bool_)) or not isinstance(sigma, numbers.Real) \
            or not math.isfinite(sigma) or sigma < 0:
        raise ValueError(
            f'fixation_map: sigma must be a finite number >= 0 (pixels), not {sigma!r}'
        )
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f'fixation_map: normalize must be one of {NORMALIZATIONS}, not {normalize!r}'
        )
    points = _check_locations(locations)

    x = points[:, 0]
    y = points[:, 1]
    # NaN fails every comparison, so NaN points are dropped here too
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    cols = np.floor(x[inside]).astype(np.intp)
    rows = np.floor(y[inside]).astype(np.intp)
    counts = np.bincount(rows * width + cols, minlength=height * width)
    density = counts.astype(np.float64).reshape(height, width)
    if not cols.size:
        return density
    if sigma > 0:
        ndimage = require('scipy.ndimage', 'sets', 'fixation_map (Gaussian blur)')
        density = ndimage.gaussian_filter(
            density, sigma=float(sigma), mode='constant', cval=0.0, truncate=4.0
        )
    if normalize == 'sum':
        total = density.sum()
        if total > 0:
            density /= total
    elif normalize == 'max':
        peak = density.max()
        if peak > 0:
            density /= peak
    return density
