"""Fourier-slice projections against rotate-in-real-space-and-sum, and the phantom's symmetry."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from py2rely_plugins.simulate.phantom import build_phantom, symmetry_rotations
from py2rely_plugins.simulate.projector import Projector

BOX = 64


def blobs() -> np.ndarray:
    x = np.arange(BOX) - BOX // 2
    z, y, xx = np.meshgrid(x, x, x, indexing="ij")
    return (np.exp(-((xx - 8) ** 2 + (y - 3) ** 2 + (z + 5) ** 2) / (2 * 3.0**2))
            + 0.7 * np.exp(-((xx + 6) ** 2 + (y + 9) ** 2 + (z - 2) ** 2) / (2 * 2.5**2)))


def rotate_real_space(volume: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """volume rotated by ``matrix`` (xyz), about voxel box//2, cubic interpolation."""
    flip = np.eye(3)[::-1]  # xyz ↔ array order zyx
    inverse = flip @ matrix.T @ flip
    centre = np.full(3, volume.shape[0] // 2)
    return ndimage.affine_transform(volume, inverse, offset=centre - inverse @ centre, order=3)


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 50, -70), (200, 120, 10)])
def test_fourier_slice_projection_matches_real_space(angles):
    volume = blobs()
    matrix = Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix()
    reference = rotate_real_space(volume, matrix).sum(axis=0)
    size = 48
    lo = BOX // 2 - size // 2
    reference = reference[lo:lo + size, lo:lo + size]
    projection = Projector(volume, size).project(matrix)
    assert projection.shape == (size, size)
    # Both put the same pixel brightest and agree within a few % (rms). Trilinear interpolation
    # with a gridding correction is exact on average over sampling offsets; a slice through grid
    # points (no rotation) is its worst case, ~5 % too bright.
    assert np.unravel_index(projection.argmax(), projection.shape) == np.unravel_index(
        reference.argmax(), reference.shape)
    error = np.sqrt(np.mean((projection - reference) ** 2) / np.mean(reference**2))
    assert error < (0.06 if angles == (0, 0, 0) else 0.03)


def test_projection_of_a_point_lands_where_the_matrix_sends_it():
    volume = np.zeros((BOX, BOX, BOX))
    x = np.arange(BOX) - BOX // 2
    z, y, xx = np.meshgrid(x, x, x, indexing="ij")
    volume = np.exp(-((xx - 10) ** 2 + y**2 + z**2) / (2 * 1.5**2))  # a blob at x = +10
    matrix = Rotation.from_euler("z", 90, degrees=True).as_matrix()  # x → y
    image = Projector(volume, 48).project(matrix)
    row, col = np.unravel_index(image.argmax(), image.shape)
    assert (row - 24, col - 24) == (10, 0)  # image row is y


@pytest.mark.parametrize("symmetry", [("C", 3), ("D", 2), ("C", 6)])
def test_symmetric_phantoms_are_invariant_under_relions_group(symmetry):
    volume = build_phantom(64, 5.0, 200.0, symmetry, resolution=15.0).astype(float)
    for matrix in symmetry_rotations(*symmetry)[1:]:
        rotated = rotate_real_space(volume, matrix)
        assert np.corrcoef(rotated.ravel(), volume.ravel())[0, 1] > 0.97


def test_c1_phantom_has_no_symmetry_and_differs_from_its_mirror_image():
    volume = build_phantom(64, 5.0, 200.0, ("C", 1), resolution=15.0).astype(float)
    assert volume[32].max() > 0.5  # solid parts about density 1 survive the low-pass
    for matrix in symmetry_rotations("D", 2)[1:] + symmetry_rotations("C", 3)[1:]:
        rotated = rotate_real_space(volume, matrix)
        assert np.corrcoef(rotated.ravel(), volume.ravel())[0, 1] < 0.6
    mirror = build_phantom(64, 5.0, 200.0, ("C", 1), resolution=15.0, mirror=True).astype(float)
    np.testing.assert_allclose(mirror[1:], volume[:0:-1])
