"""The separable fast path for view-aligned planes gives the same image as the general trilinear path."""

from __future__ import annotations

import numpy as np
import pytest

from slicerweb.engine.headless import reslice

GEOMETRIES = {
    "ras": np.diag([1.0, 1.2, 2.0, 1.0]),
    "lps-anisotropic": np.array([[-1.0, 0, 0, 30], [0, -0.8, 0, 20], [0, 0, 1.5, -10], [0, 0, 0, 1]]),
    "axes-swapped": np.array([[0.0, 0, 1.1, 5], [1.0, 0, 0, -3], [0, -0.9, 0, 7], [0, 0, 0, 1]]),
}


@pytest.mark.parametrize("name", list(GEOMETRIES))
@pytest.mark.parametrize("orientation", ["axial", "sagittal", "coronal"])
@pytest.mark.parametrize("interpolation", ["linear", "nearest"])
def test_aligned_path_matches_general_path(name, orientation, interpolation):
    matrix = GEOMETRIES[name]
    array = np.random.default_rng(3).integers(-1000, 1000, (12, 15, 18)).astype(np.int16)
    fitted = reslice.fit_to_volume(orientation, array.shape, matrix, 37, 29)
    for offset in (fitted.offset, fitted.offset + 1.37, fitted.offset - 4.01, 1e4):
        pixel_to_ijk = np.linalg.inv(matrix) @ fitted.with_offset(offset).pixel_to_ras(37, 29)
        axes = reslice.aligned_axes(pixel_to_ijk)
        assert axes is not None
        fast, fast_inside = reslice._sample_aligned(array, pixel_to_ijk, axes, 37, 29, interpolation)
        slow, slow_inside = reslice._sample_general(array, pixel_to_ijk, 37, 29, interpolation)
        np.testing.assert_array_equal(fast_inside, slow_inside)
        np.testing.assert_allclose(fast[fast_inside], slow[slow_inside], atol=0.05)


def test_oblique_planes_take_the_general_path():
    angle = np.radians(20)
    matrix = np.eye(4)
    matrix[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    fitted = reslice.fit_to_volume("axial", (8, 8, 8), matrix, 16, 16)
    assert reslice.aligned_axes(np.linalg.inv(matrix) @ fitted.pixel_to_ras(16, 16)) is None


def test_large_oblique_images_are_sampled_in_bands_with_the_same_result(monkeypatch):
    angle = np.radians(20)
    matrix = np.eye(4)
    matrix[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    array = np.random.default_rng(5).integers(0, 1000, (10, 11, 12)).astype(np.int16)
    fitted = reslice.fit_to_volume("coronal", array.shape, matrix, 40, 30).with_offset(1.3)
    whole = reslice.sample_plane(array, matrix, fitted, 40, 30)
    monkeypatch.setattr(reslice, "BAND_PIXELS", 40 * 7)  # bands of 7 rows, the last one shorter
    banded = reslice.sample_plane(array, matrix, fitted, 40, 30)
    np.testing.assert_array_equal(whole[1], banded[1])
    np.testing.assert_allclose(whole[0], banded[0], atol=1e-3)
