"""Truth metrics (py2rely_plugins.relion5.sta.truth) on constructed poses and maps, no RELION:
the best global rotation, symmetry, flipped picks, centre offsets, decoys, the hand."""

from __future__ import annotations

import mrcfile
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.transform import Rotation

from py2rely_plugins.relion5.sta import truth as T
from py2rely_plugins.relion5.sta.picks import picks_have_angles
from tests.cli_helpers import run_py2rely


def _poses(rotations: Rotation, positions: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({"x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2]},
                         index=names)
    frame["matrix"] = list(rotations.as_matrix())
    return frame


def _truth(poses: pd.DataFrame, symmetry: str = "C1", decoys=(), flipped=()) -> T.GroundTruth:
    return T.GroundTruth(directory=T.Path("."), pixel_size=2.5, diameter=160.0, symmetry=symmetry,
                         poses=poses, decoys=frozenset(decoys), flipped=frozenset(flipped),
                         picks_model="exact")


def test_pose_errors_are_measured_after_the_maps_own_rotation_and_centre():
    rng = np.random.default_rng(0)
    n = 200
    names = [f"TS_01/{i}" for i in range(n)]
    true_rotations = Rotation.random(n, random_state=1)
    positions = rng.uniform(-500, 500, (n, 3))
    truth = _truth(_poses(true_rotations, positions, names))
    frame = Rotation.from_euler("ZYZ", [30, 50, -70], degrees=True)  # the map's frame
    noise = Rotation.from_rotvec(np.radians(rng.normal(0, 2.0, (n, 3))))
    refined_rotations = noise * true_rotations * frame  # B_i = E_i A_i Q
    centre = np.array([8.0, -4.0, 3.0])  # Å, the map sits off-centre in its own frame
    refined_positions = positions + refined_rotations.apply(centre) + rng.normal(0, 1.0, (n, 3))
    stats = T.pose_stats(_poses(refined_rotations, refined_positions, names), truth)
    assert stats.frame_rotation == pytest.approx(np.degrees(frame.magnitude()), abs=0.5)
    # Rotation-vector s.d. 2° per axis: median magnitude 1.54 × 2°, 90th percentile 2.5 × 2°.
    assert stats.median_angle == pytest.approx(3.1, abs=0.4)
    assert stats.p90_angle == pytest.approx(5.0, abs=0.6)
    assert stats.centre_offset == pytest.approx(np.linalg.norm(centre), abs=0.5)
    assert stats.median_position == pytest.approx(1.54, abs=0.3)
    assert stats.matched == n and stats.recall == 1.0 and stats.precision is None


def test_flipped_particles_do_not_pull_the_frame_and_show_in_the_90th_percentile():
    n = 100
    names = [f"TS_01/{i}" for i in range(n)]
    true_rotations = Rotation.random(n, random_state=2)
    truth = _truth(_poses(true_rotations, np.zeros((n, 3)), names), flipped=names[:15])
    flip = Rotation.from_rotvec([np.pi, 0, 0])
    refined = Rotation.concatenate([true_rotations[:15] * flip, true_rotations[15:]])
    stats = T.pose_stats(_poses(refined, np.zeros((n, 3)), names), truth)
    assert stats.frame_rotation < 0.01 and stats.median_angle < 0.01
    assert stats.p90_angle == pytest.approx(180.0, abs=0.1)
    assert stats.flipped_median == pytest.approx(180.0, abs=0.1)


def test_symmetry_copies_count_as_the_same_pose():
    n = 50
    names = [f"TS_01/{i}" for i in range(n)]
    true_rotations = Rotation.random(n, random_state=3)
    truth = _truth(_poses(true_rotations, np.zeros((n, 3)), names), symmetry="C3")
    spins = Rotation.from_rotvec(np.outer(np.random.default_rng(4).integers(0, 3, n),
                                          [0, 0, 2 * np.pi / 3]))
    stats = T.pose_stats(_poses(true_rotations * spins, np.zeros((n, 3)), names), truth)
    assert stats.median_angle < 0.01 and stats.p90_angle < 0.01


def test_kept_decoys_lower_the_precision_and_missing_particles_the_recall():
    names = [f"TS_01/{i}" for i in range(10)]
    rotations = Rotation.random(10, random_state=5)
    truth = _truth(_poses(rotations[:8], np.zeros((8, 3)), names[:8]), decoys=names[8:])
    kept = _poses(Rotation.concatenate([rotations[:6], rotations[8:]]), np.zeros((8, 3)),
                  names[:6] + names[8:])
    stats = T.pose_stats(kept, truth)
    assert stats.precision == pytest.approx(6 / 8) and stats.recall == pytest.approx(6 / 8)
    assert stats.matched == 6 and stats.kept == 8 and stats.real == 8


def test_relion_columns_give_centres_and_matrices_as_relion_does():
    table = pd.DataFrame({
        "rlnTomoParticleName": ["TS_01/1"], "rlnCenteredCoordinateXAngst": [100.0],
        "rlnCenteredCoordinateYAngst": [0.0], "rlnCenteredCoordinateZAngst": [0.0],
        "rlnAngleRot": [10.0], "rlnAngleTilt": [20.0], "rlnAnglePsi": [30.0],
        "rlnOriginXAngst": [5.0], "rlnOriginYAngst": [0.0], "rlnOriginZAngst": [0.0],
        "rlnTomoSubtomogramRot": [90.0], "rlnTomoSubtomogramTilt": [0.0],
        "rlnTomoSubtomogramPsi": [0.0]})
    poses = T.poses_of(table)
    subtomogram = Rotation.from_euler("ZYZ", [90, 0, 0], degrees=True).as_matrix().T
    particle = Rotation.from_euler("ZYZ", [10, 20, 30], degrees=True).as_matrix().T
    np.testing.assert_allclose(poses.loc["TS_01/1", "matrix"], subtomogram @ particle, atol=1e-12)
    # centre = coordinate − A_subtomogram · origin (ParticleSet::getPosition)
    expected = np.array([100.0, 0, 0]) - subtomogram @ np.array([5.0, 0, 0])
    np.testing.assert_allclose(poses.loc["TS_01/1", ["x", "y", "z"]].to_numpy(float), expected)


@pytest.fixture(scope="module")
def small_truth(tmp_path_factory) -> T.GroundTruth:
    out = tmp_path_factory.mktemp("truth") / "data"
    result = run_py2rely("simulate", "-o", str(out), "--tilt-series", "1", "--particles", "2",
                         "--image-size", "128", "--tilt-step", "20", "--particle-diameter", "60",
                         "--thickness", "100", "--phantom-resolution", "12", "--picks", "positions")
    assert result.returncode == 0, result.stderr
    return T.GroundTruth.load(out / "ground_truth")


def _write(path, volume: np.ndarray, pixel: float) -> None:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(volume.astype(np.float32))
        mrc.voxel_size = pixel


def test_a_turned_map_is_fitted_and_its_mirror_image_is_called_the_wrong_hand(small_truth, tmp_path):
    phantom, pixel = T.read_map(small_truth.phantom)
    reference = T.truth_on_grid(phantom, pixel, 2 * pixel, phantom.shape[0] // 2)
    turn = Rotation.from_euler("ZYZ", [40, 70, -20], degrees=True)
    noise = np.random.default_rng(0).normal(0, 0.2 * reference.std(), reference.shape)
    right = T.transformed(reference, turn, np.array([1.0, -0.5, 0.0]), order=3) + noise
    _write(tmp_path / "right.mrc", right, 2 * pixel)
    _write(tmp_path / "mirror.mrc", T.mirrored(right), 2 * pixel)
    fitted = T.map_stats(tmp_path / "right.mrc", small_truth)
    assert fitted.right_hand and fitted.alignment_angle == pytest.approx(
        np.degrees(turn.magnitude()), abs=3)
    assert fitted.fsc05 <= 1.3 * fitted.nyquist < fitted.mirror_fsc05
    mirror = T.map_stats(tmp_path / "mirror.mrc", small_truth)
    assert not mirror.right_hand and mirror.mirror_fsc05 <= 1.3 * mirror.nyquist < mirror.fsc05


def test_positions_only_picks_carry_no_angles(small_truth):
    assert small_truth.picks_model == "positions"
    assert not picks_have_angles(small_truth.directory.parent / "particles.star")
    assert picks_have_angles(small_truth.directory / "particles.star")
