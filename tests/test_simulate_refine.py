"""A CI-sized gold-standard Refine3D on the demo dataset with the real RELION 5.1 (docs/simulate.md,
"Refinement"): local searches from poses 5° / 5 Å off, at bin 4, converging in a few minutes.

Two flags make it work and fast:
- ``--min_sigma2_offset (pixel × offset range in Å / 3)²``: relion_refine's offset prior adds the
  search translations in Å to offsets in pixels (``convertAllSquaredDifferencesToWeights``,
  src/ml_optimiser.cpp), which makes the prior ``pixel size`` times too narrow; at 10 Å/px it
  underflows to exactly 0 on most of the translation grid and, with a sharp likelihood, every
  sample of a particle gets weight 0: "ERROR!!! zero sum of weights". A wide enough lower bound on
  the offset sigma makes the prior flat over the search range.
- ``--maximum_angular_sampling 8``: at bin 4 (Nyquist 20 Å) 7.5° is fine enough; without it
  auto-refine goes on to 3.75° with ~10× more orientations per iteration.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
import starfile

from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.dataset import simulate
from tests.test_simulate_relion import fsc_against_truth, reconstruct, run

pytestmark = [pytest.mark.relion, pytest.mark.slow]

BIN, BOX = 4, 24  # 240 Å box for the 160 Å particle
PIXEL = 2.5 * BIN
OFFSET_RANGE_PX = 2


def min_sigma2_offset(pixel: float, offset_range_px: float) -> float:
    """Å²: flat offset prior over the search range despite relion_refine's unit mix-up."""
    return (pixel * offset_range_px * pixel / 3.0) ** 2


def recipe(particles: Path, tomograms: Path, reference: Path, out: Path) -> list[str]:
    return [
        "mpirun", "-n", "3", "relion_refine_mpi", "--o", f"{out}/run", "--auto_refine",
        "--split_random_halves", "--i", str(particles), "--tomograms", str(tomograms),
        "--ref", str(reference), "--firstiter_cc", "--ini_high", "50", "--pad", "2", "--ctf",
        "--particle_diameter", "180", "--flatten_solvent", "--zero_mask", "--oversampling", "1",
        "--healpix_order", "2", "--auto_local_healpix_order", "2", "--sigma_ang", "5",
        "--offset_range", str(OFFSET_RANGE_PX), "--offset_step", "1",
        "--min_sigma2_offset", f"{min_sigma2_offset(PIXEL, OFFSET_RANGE_PX):.0f}",
        "--maximum_angular_sampling", "8", "--sym", "C1", "--low_resol_join_halves", "40",
        "--norm", "--scale", "--j", "1", "--pool", "3", "--random_seed", "0",
    ]


def test_local_refinement_at_bin_4_converges_to_the_phantom(tmp_path, relion_env):
    dataset = tmp_path / "demo"
    simulate(SimulationConfig(angle_error=5.0, position_error=5.0), dataset)
    project = tmp_path / "project"
    project.mkdir()
    run(["relion_tomo_subtomo", "--p", str(dataset / "particles.star"),
         "--t", str(dataset / "tomograms.star"), "--o", "Extract/", "--b", str(BOX), "--bin", str(BIN),
         "--stack2d", "--float16", "--j", "2"],
        project, relion_env)
    # Reference: the true-pose reconstruction, low-passed to 50 Å.
    reconstruct(dataset / "ground_truth" / "particles.star", dataset / "tomograms.star",
                project / "Reference", relion_env, BOX, BIN)
    run(["relion_image_handler", "--i", "Reference/merged.mrc", "--o", "reference_lp50.mrc",
         "--lowpass", "50"], project, relion_env)
    (project / "Refine3D").mkdir()  # relion_refine does not create its output directory
    seconds = run(recipe(project / "Extract" / "particles.star", dataset / "tomograms.star",
                         project / "reference_lp50.mrc", project / "Refine3D"),
                  project, relion_env, timeout=900)
    curve = fsc_against_truth(project / "Refine3D" / "run_class001.mrc", dataset, BIN)
    print(f"refine: {seconds:.0f} s, FSC 0.5 vs truth {curve.resolution_at(0.5):.1f} Å")
    assert (project / "Refine3D" / "run_model.star").is_file()  # converged (auto-refine's final output)
    assert curve.resolution_at(0.5) <= 1.5 * 2 * PIXEL  # 30 Å at bin 4
    # Positions improved on the 5 Å-per-axis pick errors (median 3D error ~8 Å before).
    refined = starfile.read(project / "Refine3D" / "run_data.star")["particles"]
    truth = starfile.read(dataset / "ground_truth" / "particles.star")["particles"]
    merged = refined.merge(truth, on="rlnTomoParticleName", suffixes=("", "_true"))
    axes = "XYZ"
    position = (merged[[f"rlnCenteredCoordinate{a}Angst" for a in axes]].to_numpy()
                - merged[[f"rlnOrigin{a}Angst" for a in axes]].to_numpy())
    true_position = merged[[f"rlnCenteredCoordinate{a}Angst_true" for a in axes]].to_numpy()
    assert statistics.median(np.linalg.norm(position - true_position, axis=1)) < 5.0
