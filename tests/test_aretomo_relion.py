"""The imported tilt-series set through the real RELION 5.1: `relion_tomo_reconstruct_particle` with
the simulator's particles gives the same map from the imported STAR files as from the simulator's
own, and a sign error in the shifts or the tilt-axis angle does not."""

from __future__ import annotations

import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile

from py2rely_plugins.relion5.sta import fsc as F
from py2rely_plugins.simulate.aretomo_files import AreTomoLayout
from py2rely_plugins.simulate.dataset import simulate
from tests.test_aretomo_import import (
    DATASET,
    NAME,
    SESSION,
    TOMOGRAM,
    aretomo_project,
    import_tilt_series,
)

pytestmark = pytest.mark.relion

BIN = 4
BOX = 32  # 320 Å at 10 Å/px: the 120 Å phantom with room
PIXEL = DATASET.pixel_size * BIN
SAME = 0.999  # FSC in every shell between maps made from the same images with the same geometry
BROKEN = 100.0  # Å: with a sign error the maps' FSC falls below 0.5 before this (the particle is 120 Å)


def reconstruct(particles: Path, tomograms: Path, out: Path, env: dict[str, str]) -> np.ndarray:
    words = ["relion_tomo_reconstruct_particle", "--p", str(particles), "--t", str(tomograms),
             "--o", f"{out.name}/", "--b", str(BOX), "--bin", str(BIN), "--j", "1"]
    result = subprocess.run(words, cwd=out.parent, env=env, capture_output=True, text=True, timeout=600,
                            start_new_session=True, check=False)
    assert result.returncode == 0, f"{' '.join(words)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return mrcfile.read(out / "merged.mrc").astype(float)


def renamed_particles(dataset: Path, target: Path) -> Path:
    """The simulator's true particles, named after the imported tomogram ({session}_{name})."""
    blocks = starfile.read(dataset / "ground_truth" / "particles.star", always_dict=True)
    particles = blocks["particles"]
    particles["rlnTomoName"] = TOMOGRAM
    particles["rlnTomoParticleName"] = particles["rlnTomoParticleName"].str.replace(
        f"{NAME}/", f"{TOMOGRAM}/", regex=False)
    starfile.write(blocks, target, overwrite=True)
    return target


def edited_set(project: Path, name: str, edit) -> Path:
    """A copy of the imported set whose per-tilt table went through ``edit``."""
    imported = project / "input" / f"{SESSION}_tiltSeries"
    tomograms = starfile.read(imported / "aligned_tilt_series.star", always_dict=True)
    tilts = starfile.read(imported / f"{NAME}.star", always_dict=True)
    edit(tilts[TOMOGRAM])
    (project / name).mkdir()
    starfile.write(tilts, project / name / f"{NAME}.star", overwrite=True)
    tomograms["global"]["rlnTomoTiltSeriesStarFile"] = f"{name}/{NAME}.star"
    starfile.write(tomograms, project / name / "tomograms.star", overwrite=True)
    return project / name / "tomograms.star"


def imported_set(project: Path) -> Path:
    return project / "input" / f"{SESSION}_tiltSeries" / "aligned_tilt_series.star"


def summary(curve: F.FscCurve) -> str:
    return " ".join(f"{v:.3f}" for v in curve.fsc)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, relion_env):
    root = tmp_path_factory.mktemp("aretomo_relion")
    dataset = root / "simulated"
    simulate(DATASET, dataset)
    base = aretomo_project(root, dataset, AreTomoLayout(alpha_offset=1.5))
    project = root / "project"
    result = import_tilt_series(base, project)
    assert result.returncode == 0, result.stderr
    particles = renamed_particles(dataset, project / "particles.star")
    reference = reconstruct(dataset / "ground_truth" / "particles.star", dataset / "tomograms.star",
                            project / "simulator", relion_env)
    return dataset, project, particles, reference


def test_imported_set_reconstructs_the_simulators_map(setup, relion_env):
    _, project, particles, reference = setup
    imported = reconstruct(particles, imported_set(project), project / "imported", relion_env)
    curve = F.fsc(imported, reference, PIXEL)
    print(f"imported vs simulator STAR (bin {BIN}, {PIXEL:g} Å/px): FSC per shell {summary(curve)}; "
          f"max |Δ| {np.abs(imported - reference).max():.2e} of max {np.abs(reference).max():.2f}")
    assert np.all(curve.fsc[1:] >= SAME)  # shell 0 is the mean, which FSC leaves out


@pytest.mark.parametrize("error, edit", [
    ("shift signs flipped", lambda t: t.update(t[["rlnTomoXShiftAngst", "rlnTomoYShiftAngst"]] * -1)),
    ("tilt-axis angle negated", lambda t: t.update(t[["rlnTomoZRot"]] * -1)),
])
def test_a_sign_error_breaks_the_match(setup, relion_env, error, edit):
    _, project, particles, reference = setup
    tomograms = edited_set(project, error.replace(" ", "_"), edit)
    broken = reconstruct(particles, tomograms, project / f"{error.replace(' ', '_')}_map", relion_env)
    curve = F.fsc(broken, reference, PIXEL)
    resolution = curve.resolution_at(0.5)
    print(f"{error}: FSC 0.5 at {resolution:.0f} Å; FSC per shell {summary(curve)}")
    assert resolution > BROKEN


def test_aretomo2_files_with_dark_images_match_the_same_tilts_of_the_simulator(setup, relion_env, tmp_path):
    """0-based sections, dark images left out: each row must still name the right image."""
    dataset, _, _, _ = setup
    base = aretomo_project(tmp_path, dataset, AreTomoLayout(flavour="aretomo2", dark_sections=(1, 6)))
    project = tmp_path / "project"
    # --hand 1 as simulated (AreTomo2 files carry no hand; the default would be RELION's -1).
    result = import_tilt_series(base, project, "-dpt", "3", "--hand", "1")
    assert result.returncode == 0, result.stderr
    particles = renamed_particles(dataset, project / "particles.star")
    imported = reconstruct(particles, imported_set(project), project / "imported", relion_env)
    # The simulator's own set with the same five tilts.
    tomograms = starfile.read(dataset / "tomograms.star", always_dict=True)
    tilts = starfile.read(dataset / "tilt_series" / f"{NAME}.star", always_dict=True)
    tilts[NAME] = tilts[NAME].iloc[[1, 2, 3, 4, 6]].reset_index(drop=True)
    starfile.write(tilts, tmp_path / "truth_tilts.star", overwrite=True)
    tomograms["global"]["rlnTomoTiltSeriesStarFile"] = str(tmp_path / "truth_tilts.star")
    starfile.write(tomograms, tmp_path / "truth_tomograms.star", overwrite=True)
    reference = reconstruct(dataset / "ground_truth" / "particles.star", tmp_path / "truth_tomograms.star",
                            tmp_path / "simulator", relion_env)
    curve = F.fsc(imported, reference, PIXEL)
    print(f"AreTomo2 layout, 2 dark images: FSC per shell {summary(curve)}")
    assert np.all(curve.fsc[1:] >= SAME)  # shell 0 is the mean, which FSC leaves out
