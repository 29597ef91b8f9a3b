"""copick picks → `prepare particles` → a mimicked refinement → `export star2copick` → copick picks,
in a real local copick project, through the real CLI."""

import json
from pathlib import Path

import copick
import numpy as np
import pytest
import starfile
from scipy.spatial.transform import Rotation

from tests.cli_helpers import run_py2rely, snapshot
from tests.copick_fixtures import (
    OBJECT,
    OTHER_OBJECT,
    PIXEL_SIZE,
    TOMOGRAM_SIZE,
    files_under,
    make_project,
    random_picks,
    read_picks,
    write_picks,
    write_tomograms_star,
)
from tests.test_copick_geometry import relion_euler_matrix

SESSION = "24mar08a"
RUNS = ("TS_001", "TS_002", "TS_003")  # TS_003 has no picks of the object
POSITION_TOLERANCE = 0.01  # Å
ANGLE_TOLERANCE = 0.01  # degrees


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation angle (degrees) of a⁻¹·b for stacks of rotation matrices."""
    return np.degrees(Rotation.from_matrix(np.einsum("nji,njk->nik", a, b)).magnitude())


@pytest.fixture
def project(tmp_path):
    config = make_project(tmp_path / "project", RUNS)
    first = random_picks("TS_001", 20, seed=1)
    second = random_picks("TS_002", 15, seed=2)
    shifts = np.random.default_rng(3).uniform(-8, 8, (15, 3))  # copick shifts in the transforms
    write_picks(config, first, "alice", "1")
    write_picks(config, second, "alice", "1", translations=shifts)
    others = [
        write_picks(config, random_picks("TS_001", 4, seed=4), "bob", "2"),
        write_picks(config, random_picks("TS_002", 6, seed=5), "alice", "1", object_name=OTHER_OBJECT),
    ]
    tomograms = write_tomograms_star(tmp_path / "tomograms.star", [f"{SESSION}_{r}" for r in RUNS])
    truth = {
        "TS_001": (first.positions, first.rotations),
        "TS_002": (second.positions + shifts, second.rotations),
    }
    return tmp_path, config, tomograms, truth, others


def prepare_particles(cwd, config, tomograms, *extra):
    result = run_py2rely(
        "prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT, "-uid", "alice",
        "-sid", "1", "-ts", str(tomograms), "-o", "input/full_picks.star", *extra, cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    return result


def export(cwd, particles, config, tomograms, *extra):
    return run_py2rely(
        "export", "star2copick", "--particles", str(particles), "--configs", str(config),
        "--sessions", SESSION, "--particle-name", OBJECT, "--export-user-id", "relion",
        "--export-session-id", "1", "-ts", str(tomograms), *extra, cwd=cwd,
    )


def test_import_writes_centred_coordinates_and_relion_angles(project):
    cwd, config, tomograms, truth, _ = project
    result = prepare_particles(cwd, config, tomograms)
    assert "alice/1: 35 picks in 2 run(s)" in result.stdout
    blocks = starfile.read(cwd / "input" / "full_picks.star", always_dict=True)
    optics, particles = blocks["optics"], blocks["particles"]
    assert optics["rlnTomoTiltSeriesPixelSize"].tolist() == [PIXEL_SIZE]
    assert optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1"]
    assert list(particles.columns) == [
        "rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
        "rlnCenteredCoordinateZAngst", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOpticsGroup",
    ]
    centre = np.array(TOMOGRAM_SIZE) / 2.0 * PIXEL_SIZE  # RELION: size/2.0 (odd z: 600.5 px)
    for run, (positions, rotations) in truth.items():
        rows = particles[particles["rlnTomoName"] == f"{SESSION}_{run}"]
        centred = rows[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                        "rlnCenteredCoordinateZAngst"]].to_numpy()
        np.testing.assert_allclose(centred, positions - centre, atol=1e-4)
        matrices = np.array([relion_euler_matrix(*a) for a in
                             rows[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()])
        assert angle_between(matrices, rotations).max() < 1e-3


def test_round_trip_through_a_refinement(project):
    cwd, config, tomograms, truth, others = project
    prepare_particles(cwd, config, tomograms)
    imported = starfile.read(cwd / "input" / "full_picks.star", always_dict=True)
    particles = imported["particles"]
    n = len(particles)

    # Mimic a refinement: each particle truly moved by `shift` (tomogram frame, Å) and turned by
    # `turn`; RELION expresses this with subtomogram angles, particle angles and origins such that
    # A = A_sub·A_particle and position = centred + centre − A_sub·origin.
    rng = np.random.default_rng(11)
    shift = rng.uniform(-30, 30, (n, 3))
    turn = Rotation.from_rotvec(rng.normal(size=(n, 3)) * np.radians(15)).as_matrix()
    a_before = np.array([relion_euler_matrix(*a) for a in
                         particles[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy()])
    a_after = turn @ a_before
    subtomo = np.column_stack([rng.uniform(-180, 180, n), rng.uniform(0, 180, n), rng.uniform(-180, 180, n)])
    a_sub = np.array([relion_euler_matrix(*a) for a in subtomo])
    a_particle = np.einsum("nji,njk->nik", a_sub, a_after)  # A_sub⁻¹·A_after
    particle_angles = Rotation.from_matrix(a_particle).inv().as_euler("ZYZ", degrees=True)
    origin = -np.einsum("nji,nj->ni", a_sub, shift)  # −A_sub⁻¹·shift
    refined = particles.copy()
    refined[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]] = particle_angles
    refined[["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]] = subtomo
    refined[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]] = origin
    refined_path = cwd / "Refine3D" / "job024" / "run_data.star"
    refined_path.parent.mkdir(parents=True)
    starfile.write({"general": {"rlnTomoSubTomosAre2DStacks": 1}, "optics": imported["optics"],
                    "particles": refined}, refined_path)

    pick_files = [p for p in files_under(cwd / "project") if p.suffix == ".json"]
    before = snapshot([refined_path, tomograms, config, *pick_files])
    result = export(cwd, refined_path, config, tomograms)
    assert result.returncode == 0, result.stderr
    assert f"session {SESSION}" in result.stdout and f"{SESSION}_TS_001 → TS_001" in result.stdout
    assert "for 35 particles in 2 run(s)" in result.stdout
    assert snapshot([refined_path, tomograms, config, *pick_files]) == before  # nothing else touched

    for run, (positions, rotations) in truth.items():
        rows = np.flatnonzero(particles["rlnTomoName"].to_numpy() == f"{SESSION}_{run}")
        points, transforms = read_picks(config, run, "relion", "1")
        np.testing.assert_allclose(transforms[:, :3, 3], 0.0)
        assert np.abs(points - (positions + shift[rows])).max() < POSITION_TOLERANCE
        assert angle_between(transforms[:, :3, :3], turn[rows] @ rotations).max() < ANGLE_TOLERANCE
    root = copick.from_file(str(config))
    assert root.get_run("TS_003").get_picks(user_id="relion") == []
    assert all(path.exists() for path in others)


def test_unrefined_particles_come_back_where_they_were_picked(project):
    cwd, config, tomograms, truth, _ = project
    prepare_particles(cwd, config, tomograms)
    result = export(cwd, cwd / "input" / "full_picks.star", config, tomograms, "-j", "1")
    assert result.returncode == 0, result.stderr
    for run, (positions, rotations) in truth.items():
        points, transforms = read_picks(config, run, "relion", "1")
        assert np.abs(points - positions).max() < POSITION_TOLERANCE
        assert angle_between(transforms[:, :3, :3], rotations).max() < ANGLE_TOLERANCE


def test_written_file_is_the_document_copick_writes(project):
    cwd, config, tomograms, _, _ = project
    prepare_particles(cwd, config, tomograms)
    assert export(cwd, cwd / "input" / "full_picks.star", config, tomograms).returncode == 0
    root = copick.from_file(str(config))
    picks = root.get_run("TS_001").get_picks(object_name=OBJECT, user_id="relion", session_id="1")[0]
    written = json.loads(Path(picks.path).read_text())
    picks.load()
    assert written == picks.meta.model_dump()  # copick's own _store writes json.dump(model_dump())
    assert written["run_name"] == "TS_001" and written["unit"] == "angstrom"
    assert len(written["points"]) == 20
    directory = cwd / "project" / "overlay" / "ExperimentRuns" / "TS_001" / "Picks"
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_parallel_and_serial_exports_write_the_same_files(project):
    cwd, config, tomograms, _, _ = project
    prepare_particles(cwd, config, tomograms)
    picks_dir = cwd / "project" / "overlay" / "ExperimentRuns"
    contents = []
    for workers in ("1", "2"):
        result = export(cwd, cwd / "input" / "full_picks.star", config, tomograms, "-j", workers,
                        "--overwrite")
        assert result.returncode == 0, result.stderr
        contents.append({p: p.read_bytes() for p in picks_dir.rglob("relion_1_*.json")})
    assert contents[0] == contents[1] and len(contents[0]) == 2


def test_overwrite_replaces_only_the_same_user_session_and_object(project):
    cwd, config, tomograms, _, others = project
    prepare_particles(cwd, config, tomograms)
    particles = cwd / "input" / "full_picks.star"
    assert export(cwd, particles, config, tomograms).returncode == 0
    untouched = snapshot(others)
    result = export(cwd, particles, config, tomograms, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert "(2 replaced)" in result.stdout
    assert snapshot(others) == untouched


def test_import_from_sizes_on_the_command_line(project):
    cwd, config, _, truth, _ = project
    result = run_py2rely("prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT,
                         "-uid", "alice", "-x", "4000", "-y", "4000", "-z", "1000", "-ps", "2.0",
                         "-rids", "TS_001", "-o", "picks.star", cwd=cwd)
    assert result.returncode == 0, result.stderr
    blocks = starfile.read(cwd / "picks.star", always_dict=True)
    assert blocks["optics"]["rlnTomoTiltSeriesPixelSize"].tolist() == [2.0]
    centred = blocks["particles"][["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                                   "rlnCenteredCoordinateZAngst"]].to_numpy()
    np.testing.assert_allclose(centred, truth["TS_001"][0] - np.array([4000, 4000, 1000]), atol=1e-4)


def test_voxel_size_filter_lists_the_skipped_runs(tmp_path):
    config = make_project(tmp_path / "project", RUNS, voxel_size=10.0, extra_voxel_size={"TS_002": 7.0})
    write_picks(config, random_picks("TS_001", 3, seed=1), "alice", "1")
    write_picks(config, random_picks("TS_002", 3, seed=2), "alice", "1")
    tomograms = write_tomograms_star(tmp_path / "tomograms.star", [f"{SESSION}_{r}" for r in RUNS])
    result = run_py2rely("prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT,
                         "-vs", "7", "-ts", str(tomograms), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TS_001" in result.stderr and "TS_003" in result.stderr and "skipped" in result.stderr
    # Without -o: py2rely 0.7.1's default, input/{session}_{name}.star.
    particles = starfile.read(tmp_path / "input" / f"{SESSION}_{OBJECT}.star", always_dict=True)["particles"]
    assert set(particles["rlnTomoName"]) == {f"{SESSION}_TS_002"}
