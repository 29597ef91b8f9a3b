"""RELION's conventions, checked against formulas transcribed from RELION 5's own source."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from py2rely_plugins.copick.geometry import (
    improper_rotations,
    refined_poses,
    relion_angles,
    relion_matrices,
    tomogram_centre_angstrom,
)
from py2rely_plugins.copick.sessions import map_tomograms


def relion_euler_matrix(rot: float, tilt: float, psi: float) -> np.ndarray:
    """``Euler::anglesToMatrix3`` (src/jaz/math/Euler_angles_relion.h), copied term by term."""
    phi, theta, chi = np.radians([rot, tilt, psi])
    sp, cp = np.sin(phi), np.cos(phi)
    st, ct = np.sin(theta), np.cos(theta)
    sc, cc = np.sin(chi), np.cos(chi)
    return np.array([
        [cc * ct * cp - sc * sp, cc * ct * sp + sc * cp, -cc * st],
        [-sc * ct * cp - cc * sp, -sc * ct * sp + cc * cp, sc * st],
        [st * cp, st * sp, ct],
    ])


ANGLES = np.array([[0, 0, 0], [30, 40, 50], [-170, 100, 20], [90, 180, -45], [12.5, 3.0, -177.0]])


def test_matrices_are_relions():
    for angles, matrix in zip(ANGLES, relion_matrices(ANGLES), strict=True):
        np.testing.assert_allclose(matrix, relion_euler_matrix(*angles), atol=1e-12)


def test_angles_round_trip_through_matrices():
    rotations = Rotation.random(200, random_state=3).as_matrix()
    np.testing.assert_allclose(relion_matrices(relion_angles(rotations)), rotations, atol=1e-10)


def test_refined_pose_composes_subtomogram_then_particle_and_rotates_the_origin():
    rng = np.random.default_rng(5)
    n = 50
    particle = rng.uniform([-180, 0, -180], [180, 180, 180], (n, 3))
    subtomo = rng.uniform([-180, 0, -180], [180, 180, 180], (n, 3))
    origin = rng.uniform(-20, 20, (n, 3))
    centred = rng.uniform(-2000, 2000, (n, 3))
    table = pd.DataFrame({
        "rlnCenteredCoordinateXAngst": centred[:, 0], "rlnCenteredCoordinateYAngst": centred[:, 1],
        "rlnCenteredCoordinateZAngst": centred[:, 2],
        "rlnAngleRot": particle[:, 0], "rlnAngleTilt": particle[:, 1], "rlnAnglePsi": particle[:, 2],
        "rlnTomoSubtomogramRot": subtomo[:, 0], "rlnTomoSubtomogramTilt": subtomo[:, 1],
        "rlnTomoSubtomogramPsi": subtomo[:, 2],
        "rlnOriginXAngst": origin[:, 0], "rlnOriginYAngst": origin[:, 1], "rlnOriginZAngst": origin[:, 2],
    })
    centre = np.array([3153.92, 3080.0, 924.77])
    positions, rotations = refined_poses(table, np.tile(centre, (n, 1)))
    for i in range(n):
        a_sub = relion_euler_matrix(*subtomo[i])
        a_particle = relion_euler_matrix(*particle[i])
        # ParticleSet::getMatrix3x3 and ::getPosition (src/jaz/tomography/particle_set.cpp)
        np.testing.assert_allclose(rotations[i], a_sub @ a_particle, atol=1e-12)
        np.testing.assert_allclose(positions[i], centred[i] + centre - a_sub @ origin[i], atol=1e-9)


def test_missing_subtomogram_and_origin_columns_count_as_zero():
    table = pd.DataFrame({
        "rlnCenteredCoordinateXAngst": [1.0], "rlnCenteredCoordinateYAngst": [2.0],
        "rlnCenteredCoordinateZAngst": [3.0], "rlnAngleRot": [10.0], "rlnAngleTilt": [20.0],
        "rlnAnglePsi": [30.0],
    })
    positions, rotations = refined_poses(table, np.array([[100.0, 100.0, 100.0]]))
    np.testing.assert_allclose(positions, [[101.0, 102.0, 103.0]])
    np.testing.assert_allclose(rotations[0], relion_euler_matrix(10, 20, 30), atol=1e-12)


def test_tomogram_centre_is_half_the_size_as_relion_computes_it():
    # tomogram_set.cpp: centre = d3Vector(w0/2.0, h0/2.0, d0/2.0) with integer sizes
    np.testing.assert_allclose(tomogram_centre_angstrom(np.array([4096, 4000, 1201]), 1.5),
                               [3072.0, 3000.0, 900.75])


def test_improper_rotations_are_found():
    good = Rotation.random(3, random_state=1).as_matrix()
    mirror = good[1] @ np.diag([1.0, 1.0, -1.0])
    scaled = good[2] * 2.0
    assert improper_rotations(np.stack([good[0], mirror, scaled])).tolist() == [1, 2]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("exp_b_TS_1", ("exp_b", "TS_1")), ("exp_TS_1", ("exp", "TS_1")), ("expb_TS_1", None),
     ("exp_", None), ("other_TS_1", None)],
)
def test_longest_session_prefix_wins(name, expected):
    mapping = map_tomograms([name], ["exp", "exp_b"])
    assert mapping.runs.get(name) == expected
    assert (name in mapping.unmatched) == (expected is None)
