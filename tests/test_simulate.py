"""`py2rely simulate` end to end (no RELION): layout, determinism, options, errors, ground truth."""

import json
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
from scipy.spatial.transform import Rotation

from py2rely_core import star
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.geometry import particle_matrix, project_point, tilt_matrix
from tests.cli_helpers import error_lines, run_py2rely

# Small enough to simulate in a few seconds: 128² images, 7 tilts, 60 Å particles (box 48).
SMALL = ("--tilt-series", "2", "--particles", "3", "--image-size", "128", "--tilt-step", "20",
         "--particle-diameter", "60", "--thickness", "100", "--phantom-resolution", "12")
N_TILTS = 7


def simulate(out: Path, *extra: str):
    return run_py2rely("simulate", "-o", str(out), *SMALL, *extra)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "data"
    result = simulate(out, "--decoy-fraction", "0.25", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "2 tilt series × 7 tilts, 6 particles + 2 decoys, phantom box 48 px" in result.stdout
    return out


def star_body(path: Path) -> str:
    # starfile stamps the time in its first comment line.
    return "\n".join(line for line in path.read_text().splitlines() if not line.startswith("# Created"))


def test_layout_is_what_relion_reads(dataset):
    tomograms = star.read_tomograms(dataset / "tomograms.star")
    assert tomograms.names == ["TS_01", "TS_02"]
    row = tomograms.table.iloc[0]
    assert row["rlnVoltage"] == 300 and row["rlnSphericalAberration"] == 2.7
    assert row["rlnAmplitudeContrast"] == 0.1 and row["rlnTomoHand"] == 1
    assert (row["rlnTomoSizeX"], row["rlnTomoSizeY"], row["rlnTomoSizeZ"]) == (128, 128, 40)
    assert row["rlnOpticsGroupName"] == "opticsGroup1"
    assert Path(row["rlnTomoTiltSeriesStarFile"]).is_absolute()
    tilts = tomograms.tilt_series["TS_01"]
    assert len(tilts) == N_TILTS
    assert list(tilts["rlnTomoYTilt"]) == [-60, -40, -20, 0, 20, 40, 60]
    for column in ("rlnTomoXTilt", "rlnCtfScalefactor", "rlnTomoNominalStageTiltAngle"):
        assert column in tilts.columns
    # Dose-symmetric, 3 e/Å² per tilt: 0, +20, −20, −40, +40, +60, −60.
    assert list(tilts["rlnMicrographPreExposure"]) == [18, 9, 6, 0, 3, 12, 15]
    defocus = 0.5 * (tilts["rlnDefocusU"] + tilts["rlnDefocusV"])
    assert defocus.between(19000, 41000).all()
    np.testing.assert_allclose(tilts["rlnDefocusU"] - tilts["rlnDefocusV"], 200.0)
    # Images: 1-based N@stack, absolute path, one stack per tilt series.
    names = list(tilts["rlnMicrographName"])
    assert names[0] == f"000001@{dataset / 'tilt_series' / 'TS_01.mrcs'}"
    with mrcfile.open(dataset / "tilt_series" / "TS_01.mrcs") as mrc:
        assert mrc.data.shape == (N_TILTS, 128, 128) and mrc.data.dtype == np.float32
        assert mrc.voxel_size.x == pytest.approx(2.5)
        assert mrc.is_image_stack()
    particles = star.read_particles(dataset / "particles.star")
    star.check_particles_match_tomograms(particles, tomograms, 2.5)
    assert len(particles) == 8  # 3 particles + 1 decoy per tilt series
    for column in ("rlnTomoParticleName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOpticsGroup"):
        assert column in particles.particles.columns
    assert particles.optics["rlnTomoTiltSeriesPixelSize"].iloc[0] == 2.5


def test_ground_truth(dataset):
    truth = dataset / "ground_truth"
    with mrcfile.open(truth / "phantom.mrc") as mrc:
        assert mrc.data.shape == (48, 48, 48)
        assert mrc.voxel_size.x == pytest.approx(2.5)
        phantom = mrc.data.copy()
    # Centred on voxel 24 (RELION's box//2): the density's centre of mass is near it.
    mass = np.clip(phantom, 0, None)
    centre = [np.sum(mass.sum(axis=tuple(a for a in range(3) if a != i)) * np.arange(48)) / mass.sum()
              for i in range(3)]
    assert np.all(np.abs(np.asarray(centre) - 24) < 4)
    parameters = json.loads((truth / "simulation.json").read_text())
    assert parameters["parameters"]["seed"] == 7 and parameters["parameters"]["snr"] == 0.2
    assert parameters["derived"]["box_px"] == 48 and parameters["derived"]["map_centre_voxel"] == 24
    true_particles = starfile.read(truth / "particles.star")["particles"]
    decoys = starfile.read(truth / "decoys.star")["particles"]
    picks = starfile.read(dataset / "particles.star")["particles"]
    assert len(true_particles) == 6 and len(decoys) == 2
    listed = sorted(n for s in parameters["tilt_series"] for n in s["decoys"])
    assert sorted(decoys["rlnTomoParticleName"]) == listed
    assert set(true_particles["rlnTomoParticleName"]).isdisjoint(decoys["rlnTomoParticleName"])
    assert sorted(picks["rlnTomoParticleName"]) == sorted(
        list(true_particles["rlnTomoParticleName"]) + list(decoys["rlnTomoParticleName"]))
    # No errors asked for: the picks are the truth, and so are the tilt-series STAR files.
    merged = picks.merge(true_particles, on="rlnTomoParticleName", suffixes=("", "_true"))
    for column in ("rlnCenteredCoordinateXAngst", "rlnAngleRot", "rlnAnglePsi"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_true"])
    written = star_body(dataset / "tilt_series" / "TS_01.star")
    assert star_body(truth / "tilt_series" / "TS_01.star") == written
    true_tomograms = starfile.read(truth / "tomograms.star")
    assert Path(true_tomograms["rlnTomoTiltSeriesStarFile"].iloc[0]).parent == truth / "tilt_series"
    # Particles are at least one diameter apart and inside the slab.
    xyz = true_particles[[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]].to_numpy()
    for name in ("TS_01", "TS_02"):
        sel = (true_particles["rlnTomoName"] == name).to_numpy()
        d = np.linalg.norm(xyz[sel][:, None] - xyz[sel][None], axis=-1)
        assert d[np.triu_indices(sel.sum(), 1)].min() >= 60
    assert np.all(np.abs(xyz[:, 2]) <= 50 - 30)


def test_same_seed_same_dataset_other_seed_other_dataset(tmp_path, dataset):
    again = tmp_path / "again"
    assert simulate(again, "--decoy-fraction", "0.25", "--seed", "7").returncode == 0
    # mrcfile stamps the time in a header label: compare the data.
    for name in ("tilt_series/TS_01.mrcs", "tilt_series/TS_02.mrcs", "ground_truth/phantom.mrc"):
        np.testing.assert_array_equal(mrcfile.read(again / name), mrcfile.read(dataset / name))
    body = star_body(dataset / "particles.star")
    assert star_body(again / "particles.star") == body
    other = tmp_path / "other"
    assert simulate(other, "--decoy-fraction", "0.25", "--seed", "8").returncode == 0
    assert star_body(other / "particles.star") != body
    assert not np.array_equal(mrcfile.read(other / "tilt_series/TS_01.mrcs"),
                              mrcfile.read(dataset / "tilt_series/TS_01.mrcs"))


def test_refuses_a_non_empty_directory_unless_overwrite(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = simulate(out)
    assert result.returncode == 2
    assert error_lines(result) == [
        f"error: {out}: exists and is not empty (expected a new directory, or --overwrite)"]
    assert (out / "keep.txt").read_text() == "mine"
    result = simulate(out, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not (out / "keep.txt").exists() and (out / "tomograms.star").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging left behind


@pytest.mark.parametrize("options, message", [
    (("--snr", "0"), "error: --snr: 0 (expected a positive number)"),
    (("--symmetry", "O"), "error: --symmetry: O phantoms are not supported (expected C<n> or D<n>)"),
    (("--symmetry", "C2v"), "error: --symmetry: unknown symmetry 'C2v'; accepted: C1..C99, D2..D99,"),
    (("--tilt-range", "85"), "error: --tilt-range: 85° is out of range (expected 0 < range <= 80)"),
    (("--phantom-resolution", "4"), "error: --phantom-resolution: 4 Å is beyond Nyquist (5 Å at 2.5 Å/px)"),
    (("--hand", "0"), "error: --hand: 0 (expected 1 or -1)"),
    (("--defocus-min", "3", "--defocus-max", "2"), "error: --defocus-max: 2 µm is below --defocus-min 3 µm"),
    (("--particles", "200"), "error: --particles: could only place"),
    (("--particles", "many"), "error: py2rely simulate: Invalid value for '--particles'"),
])
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    result = simulate(tmp_path / "data", *options)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert not (tmp_path / "data").exists()


def test_known_defocus_shift_angle_and_position_errors(tmp_path):
    out = tmp_path / "data"
    result = simulate(out, "--defocus-error", "500", "--shift-error", "5", "--angle-error", "4",
                      "--position-error", "10")
    assert result.returncode == 0, result.stderr
    written = starfile.read(out / "tilt_series/TS_01.star")
    true = starfile.read(out / "ground_truth/tilt_series/TS_01.star")
    error_u = written["rlnDefocusU"] - true["rlnDefocusU"]
    np.testing.assert_allclose(error_u, written["rlnDefocusV"] - true["rlnDefocusV"])
    assert 100 < error_u.abs().max() < 2000
    shift_error = written["rlnTomoXShiftAngst"] - true["rlnTomoXShiftAngst"]
    assert 0.5 < shift_error.abs().max() < 20
    np.testing.assert_allclose(written["rlnTomoYTilt"], true["rlnTomoYTilt"])
    picks = starfile.read(out / "particles.star")["particles"]
    truth = starfile.read(out / "ground_truth/particles.star")["particles"]
    merged = picks.merge(truth, on="rlnTomoParticleName", suffixes=("", "_true"))
    for row in merged.itertuples():
        a = particle_matrix(row.rlnAngleRot, row.rlnAngleTilt, row.rlnAnglePsi)
        b = particle_matrix(row.rlnAngleRot_true, row.rlnAngleTilt_true, row.rlnAnglePsi_true)
        assert Rotation.from_matrix(a @ b.T).magnitude() == pytest.approx(np.radians(4), abs=1e-5)
    offsets = merged["rlnCenteredCoordinateXAngst"] - merged["rlnCenteredCoordinateXAngst_true"]
    assert 0.5 < offsets.abs().max() < 40


def _written_vs_true(out: Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    picks = starfile.read(out / "particles.star")["particles"]
    truth = starfile.read(out / "ground_truth/particles.star")["particles"]
    merged = picks.merge(truth, on="rlnTomoParticleName", suffixes=("", "_true"))
    angles = []
    for row in merged.itertuples():
        a = particle_matrix(row.rlnAngleRot, row.rlnAngleTilt, row.rlnAnglePsi)
        b = particle_matrix(row.rlnAngleRot_true, row.rlnAngleTilt_true, row.rlnAnglePsi_true)
        angles.append(np.degrees(Rotation.from_matrix(a @ b.T).magnitude()))
    offsets = np.column_stack([merged[f"rlnCenteredCoordinate{a}Angst"]
                               - merged[f"rlnCenteredCoordinate{a}Angst_true"] for a in "XYZ"])
    return np.asarray(angles), offsets, merged


def test_template_matching_picks_have_the_documented_errors_and_flipped_picks(tmp_path):
    out = tmp_path / "data"
    result = run_py2rely("simulate", "-o", str(out), "--tilt-series", "2", "--particles", "100",
                         "--image-size", "512", "--tilt-step", "30", "--particle-diameter", "40",
                         "--thickness", "100", "--phantom-resolution", "10",
                         "--picks", "template-matching", "--seed", "3")
    assert result.returncode == 0, result.stderr
    angles, offsets, merged = _written_vs_true(out)
    record = json.loads((out / "ground_truth/simulation.json").read_text())["picks"]
    assert record["model"] == "template-matching" and "5% flipped" in record["description"]
    flipped = merged["rlnTomoParticleName"].isin(record["flipped"]).to_numpy()
    # 5 % of 200 picks upside down (binomial: 2-20), the rest 5° s.d. per rotation-vector axis.
    assert 2 <= flipped.sum() <= 20
    assert np.all(angles[flipped] > 120)
    assert np.median(angles[~flipped]) == pytest.approx(1.54 * 5, rel=0.15)
    assert np.percentile(angles[~flipped], 90) == pytest.approx(2.5 * 5, rel=0.15)
    assert offsets.std() == pytest.approx(4.0, rel=0.15)


def test_positions_only_picks_write_no_angles_and_other_errors_are_refused(tmp_path):
    out = tmp_path / "data"
    result = simulate(out, "--picks", "positions")
    assert result.returncode == 0, result.stderr
    picks = starfile.read(out / "particles.star")["particles"]
    assert (picks[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]] == 0).all().all()
    truth = starfile.read(out / "ground_truth/particles.star")["particles"]
    assert (truth["rlnAngleTilt"] != 0).all()
    refused = simulate(tmp_path / "other", "--picks", "positions", "--angle-error", "5")
    assert refused.returncode != 0
    assert error_lines(refused)[0].startswith("error: --angle-error: 5° / --position-error 0 Å with "
                                              "--picks positions"), refused.stderr
    assert not (tmp_path / "other").exists()


def test_snr_and_unit_noise_as_documented(tmp_path):
    # One tilt series, particles far apart, high SNR: at 0° the variance over a particle's footprint
    # is SNR (signal) + 1 (noise), and over a decoy's footprint 1 (noise only).
    out = tmp_path / "data"
    snr = 4.0
    result = run_py2rely("simulate", "-o", str(out), "--tilt-series", "1", "--particles", "3",
                         "--decoy-fraction", "0.4", "--image-size", "256", "--tilt-step", "20",
                         "--particle-diameter", "60", "--thickness", "100", "--phantom-resolution", "12",
                         "--snr", str(snr), "--defocus-min", "1", "--defocus-max", "1")
    assert result.returncode == 0, result.stderr
    config = SimulationConfig(image_size=256, particle_diameter=60.0)
    stack = mrcfile.read(out / "tilt_series/TS_01.mrcs")
    tilts = starfile.read(out / "tilt_series/TS_01.star")
    zero = int(np.argmin(np.abs(tilts["rlnTomoYTilt"])))
    row = tilts.iloc[zero]
    matrix = tilt_matrix(row["rlnTomoXTilt"], row["rlnTomoYTilt"], row["rlnTomoZRot"])
    shift = np.array([row["rlnTomoXShiftAngst"], row["rlnTomoYShiftAngst"]]) / 2.5
    image = stack[zero].astype(float)
    yy, xx = np.mgrid[0:256, 0:256]

    def footprint_variance(table: pd.DataFrame) -> list[float]:
        values = []
        for p in table.itertuples():
            position = np.array([p.rlnCenteredCoordinateXAngst, p.rlnCenteredCoordinateYAngst,
                                 p.rlnCenteredCoordinateZAngst]) / 2.5
            (x, y), _ = project_point(position, matrix, shift, 256)
            inside = (xx - x) ** 2 + (yy - y) ** 2 <= (0.5 * config.diameter_px) ** 2
            values.append(float(image[inside].var()))
        return values

    particles = footprint_variance(starfile.read(out / "ground_truth/particles.star")["particles"])
    decoys = footprint_variance(starfile.read(out / "ground_truth/decoys.star")["particles"])
    assert np.mean(particles) == pytest.approx(snr + 1, rel=0.3)
    assert np.mean(decoys) == pytest.approx(1.0, rel=0.3)
    # Protein is dark at 0° (low-passed footprint darker than the image mean).
    assert image.std() > 1.0
