"""The simulator's conventions against formulas copied from RELION 5.1's source."""

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from py2rely_plugins.simulate import ctf as C
from py2rely_plugins.simulate.geometry import (
    dose_symmetric_order,
    particle_matrix,
    project_point,
    relion_angles,
    tilt_matrix,
)


def relion_euler_matrix(rot: float, tilt: float, psi: float) -> np.ndarray:
    """Euler::anglesToMatrix3 (src/jaz/math/Euler_angles_relion.h), row-major as written there."""
    sp, cp = math.sin(math.radians(rot)), math.cos(math.radians(rot))
    st, ct = math.sin(math.radians(tilt)), math.cos(math.radians(tilt))
    sc, cc = math.sin(math.radians(psi)), math.cos(math.radians(psi))
    return np.array([
        [cc * ct * cp - sc * sp, cc * ct * sp + sc * cp, -cc * st],
        [-sc * ct * cp - cc * sp, -sc * ct * sp + cc * cp, sc * st],
        [st * cp, st * sp, ct],
    ])


def gravis_rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """t3Matrix::rotation(axis, angle) (src/jaz/gravis/t3Matrix.h): the GL formula."""
    n = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    a = math.radians(degrees)
    s = np.array([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]])
    nnt = np.outer(n, n)
    return nnt + math.cos(a) * (np.eye(3) - nnt) + math.sin(a) * s


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 50, -70), (-120.5, 170, 33), (90, 90, 90)])
def test_particle_matrix_is_relions_euler_matrix(angles):
    np.testing.assert_allclose(particle_matrix(*angles), relion_euler_matrix(*angles), atol=1e-12)
    # The test-only switch really is the transpose.
    np.testing.assert_allclose(particle_matrix(*angles, transpose=True), relion_euler_matrix(*angles).T,
                               atol=1e-12)


def test_relion_angles_round_trip():
    rotations = Rotation.random(20, random_state=3)
    for r in rotations:
        np.testing.assert_allclose(particle_matrix(*relion_angles(r)), r.as_matrix(), atol=1e-10)


@pytest.mark.parametrize("x_tilt, y_tilt, z_rot", [(0, 30, 0), (4, -57, 85), (-3, 60, -95.5)])
def test_tilt_matrix_is_rz_ry_rx_as_in_set_projection_matrix(x_tilt, y_tilt, z_rot):
    expected = (gravis_rotation((0, 0, 1), z_rot) @ gravis_rotation((0, 1, 0), y_tilt)
                @ gravis_rotation((1, 0, 0), x_tilt))
    np.testing.assert_allclose(tilt_matrix(x_tilt, y_tilt, z_rot), expected, atol=1e-12)


def test_projected_point_and_depth():
    # A point 10 px along x, tilted +90° about y, goes to depth −10 (Ry rotates x into −z).
    xy, depth = project_point(np.array([10.0, 0, 0]), tilt_matrix(0, 90, 0), np.array([1.5, -2.0]), 512)
    np.testing.assert_allclose(xy, [256 + 1.5, 256 - 2.0], atol=1e-9)
    assert depth == pytest.approx(-10.0)


def test_dose_symmetric_order_starts_at_zero_and_alternates_in_pairs():
    angles = [-9.0, -6.0, -3.0, 0.0, 3.0, 6.0, 9.0]
    rank = dose_symmetric_order(angles)
    in_order = [a for _, a in sorted(zip(rank, angles, strict=True))]
    assert in_order == [0.0, 3.0, -3.0, -6.0, 6.0, 9.0, -9.0]


def relion_ctf(u, v, angle, kx, ky, kv=300.0, cs=2.7, q0=0.1):
    """CTF::initialise + CTF::getCTF (src/ctf.cpp, src/ctf.h): the bilinear form A = Qᵀ·D·Q."""
    local_kv = kv * 1e3
    lam = 12.2643247 / math.sqrt(local_kv * (1.0 + local_kv * 0.978466e-6))
    k1 = math.pi / 2 * 2 * lam
    k2 = math.pi / 2 * cs * 1e7 * lam**3
    k3 = math.atan(q0 / math.sqrt(1 - q0 * q0))
    a = math.radians(angle)
    q = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    d = np.diag([-u, -v])
    m = q.T @ d @ q
    u2 = kx * kx + ky * ky
    gamma = k1 * (m[0, 0] * kx * kx + 2 * m[0, 1] * kx * ky + m[1, 1] * ky * ky) + k2 * u2 * u2 - k3
    return -np.sin(gamma)


def test_ctf_matches_relions_formula_with_astigmatism():
    grid = C.FourierGrid(64, 2.5)
    values = C.ctf(grid, C.Optics(), 31000.0, 29000.0, 37.0)
    expected = relion_ctf(31000.0, 29000.0, 37.0, grid.kx, grid.ky)
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert values[0, 0] == pytest.approx(0.1)  # amplitude contrast at k = 0
    assert C.electron_wavelength(300) == pytest.approx(0.019687, abs=1e-6)


def test_dose_weight_is_grant_grigorieff_with_pre_exposure():
    k = np.array([0.0, 0.05, 0.1])
    weights = C.dose_weight(k, 30.0)
    assert weights[0] == 1.0
    assert weights[1] == pytest.approx(math.exp(-15.0 / (0.245 * 0.05**-1.665 + 2.81)))
    assert weights[2] < weights[1] < 1.0
    np.testing.assert_allclose(C.dose_weight(k, 0.0), 1.0)
