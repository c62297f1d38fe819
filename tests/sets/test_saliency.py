"""Tests of datadings_like.sets.saliency.fixation_map on inputs with known maps."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip('scipy.ndimage')

from datadings_like.sets.saliency import NORMALIZATIONS  # noqa: E402
from datadings_like.sets.saliency import fixation_map  # noqa: E402


def sampled_kernel(sigma, radius):
    """The 1-d Gaussian the map is blurred with: sampled, truncated, summing to 1."""
    d = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-d ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def test_counts_without_blur():
    # (x, y): x is the column, y the row; a point is in pixel (floor(y), floor(x))
    points = np.array([[1, 2], [3.9, 0.2], [1.5, 2.99], [0, 0]], np.float32)
    m = fixation_map(points, (4, 5), 0, normalize=None)
    expected = np.zeros((4, 5))
    expected[2, 1] = 2
    expected[0, 3] = 1
    expected[0, 0] = 1
    assert m.dtype == np.float64 and m.shape == (4, 5)
    assert np.array_equal(m, expected)
    assert np.array_equal(fixation_map(points, (4, 5), 0), expected / 4)


def test_size_is_height_width():
    m = fixation_map([[9, 1]], (2, 10), 0, normalize=None)
    assert m.shape == (2, 10)
    assert m[1, 9] == 1 and m.sum() == 1


def test_points_outside_and_non_finite_are_dropped():
    points = [[-0.01, 1], [1, -3], [5, 1], [1, 4], [4.999, 3.999], [np.nan, 1],
              [1, np.inf], [2, 2]]
    m = fixation_map(points, (4, 5), 0, normalize=None)
    assert m.sum() == 2
    assert m[3, 4] == 1 and m[2, 2] == 1


def test_gaussian_of_one_point():
    sigma = 1.5
    m = fixation_map([[10, 7]], (15, 21), sigma, normalize=None)
    k = sampled_kernel(sigma, int(4 * sigma + 0.5))
    expected = np.zeros((15, 21))
    r = len(k) // 2
    expected[7 - r:7 + r + 1, 10 - r:10 + r + 1] = np.outer(k, k)
    assert np.allclose(m, expected, atol=1e-12)
    assert m.sum() == pytest.approx(1.0)
    assert np.unravel_index(m.argmax(), m.shape) == (7, 10)
    # symmetric about the fixation
    window = m[7 - r:7 + r + 1, 10 - r:10 + r + 1]
    assert np.allclose(window, window[::-1]) and np.allclose(window, window[:, ::-1])


def test_superposition_and_normalisations():
    points = np.array([[3, 3], [12, 8], [12, 8]])
    raw = fixation_map(points, (12, 16), 1.0, normalize=None)
    single = [fixation_map([p], (12, 16), 1.0, normalize=None) for p in points[:2]]
    assert np.allclose(raw, single[0] + 2 * single[1])
    total = fixation_map(points, (12, 16), 1.0)
    assert total.sum() == pytest.approx(1.0)
    assert np.allclose(total, raw / raw.sum())
    peak = fixation_map(points, (12, 16), 1.0, normalize='max')
    assert peak.max() == pytest.approx(1.0)
    assert np.unravel_index(peak.argmax(), peak.shape) == (8, 12)
    assert np.allclose(peak, raw / raw.max())


def test_mass_blurred_over_the_border_is_lost():
    raw = fixation_map([[0, 0]], (20, 20), 2.0, normalize=None)
    # a quarter of the Gaussian (plus the centre row and column) stays inside
    k = sampled_kernel(2.0, 8)
    inside = k[8:].sum() ** 2
    assert raw.sum() == pytest.approx(inside)
    assert fixation_map([[0, 0]], (20, 20), 2.0).sum() == pytest.approx(1.0)


@pytest.mark.parametrize('normalize', NORMALIZATIONS)
@pytest.mark.parametrize('empty', [np.zeros((0, 2), np.float32), np.zeros((0, 0)), [],
                                   [[-1, -1], [100, 2]]])
def test_no_fixation_gives_zeros(normalize, empty):
    m = fixation_map(empty, (3, 4), 1.0, normalize=normalize)
    assert m.shape == (3, 4) and not m.any()


def test_integer_and_float32_locations():
    a = fixation_map(np.array([[1, 2]], np.uint16), (5, 5), 1.0)
    b = fixation_map(np.array([[1.25, 2.5]], np.float32), (5, 5), 1.0)
    assert np.array_equal(a, b)


@pytest.mark.parametrize('locations, message', [
    (None, 'locations is None'),
    ([[1, 2, 3]], 'Nx2'),
    ([1, 2], 'Nx2'),
    (np.zeros((2, 2, 2)), 'Nx2'),
    ([['a', 'b']], 'numeric'),
    (np.array([[1j, 2]]), 'complex'),
])
def test_bad_locations(locations, message):
    with pytest.raises(ValueError, match=message):
        fixation_map(locations, (4, 4), 1.0)


@pytest.mark.parametrize('size', [(4,), (4, 0), (-1, 3), (2.5, 3), 'ab', 4, (True, 3)])
def test_bad_size(size):
    with pytest.raises(ValueError, match='size|height|width'):
        fixation_map([[1, 1]], size, 1.0)


@pytest.mark.parametrize('sigma', [-1, float('nan'), float('inf'), '2', None])
def test_bad_sigma(sigma):
    with pytest.raises(ValueError, match='sigma'):
        fixation_map([[1, 1]], (4, 4), sigma)


def test_bad_normalize():
    with pytest.raises(ValueError, match='normalize'):
        fixation_map([[1, 1]], (4, 4), 1.0, normalize='mean')


def test_numpy_integer_size_and_sigma():
    m = fixation_map([[1, 1]], np.array([4, 4]), np.float32(1.0))
    assert m.shape == (4, 4) and m.sum() == pytest.approx(1.0)


def test_without_scipy_names_the_extra():
    code = textwrap.dedent('''
        import sys
        sys.modules['scipy'] = None  # as if scipy were not installed
        from datadings_like.sets.saliency import fixation_map
        from datadings_like.tools.extras import MissingExtraError
        assert fixation_map([[1, 1]], (3, 3), 0).sum() == 1  # no blur: no scipy needed
        try:
            fixation_map([[1, 1]], (3, 3), 1.0)
        except MissingExtraError as exc:
            print(exc)
    ''')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "'.[sets]'" in proc.stdout and 'scipy' in proc.stdout
