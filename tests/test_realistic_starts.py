"""Realistic starts on real RELION 5.1, checked against the simulator's truth (issue 14):

* the default demo (template-matching picks, `reconstruct`) meets the bounds: FSC 0.5 against the
  truth within 2.5 × the final Nyquist, the right hand, median pose error within 2 × the final
  angular step RELION ran;
* positions only with a template (`reference`) are found by the global search (maximum
  cross-correlation, then passes until RELION's changes in orientations say found) and the local
  Refine3D from there, and meet the same bounds, on a smaller dataset at bin 4;
* positions only without a template (`denovo`) give a map of the right shape (FSC 0.5 against
  the truth within 3 × Nyquist) with the hand of the map of known hand it is checked against.
  The pose bound is the benchmark's (60 particles): on the CI's 24 the de novo map at 40 Å is
  nearly two-fold symmetric and about half the particles take the other copy (median pose error
  ~95°, 42 % within 10°, measured), which leaves the map right and the poses ambiguous.

Times on this machine are in docs/demo.md and benchmarks/realistic_starts.py, not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from py2rely_core.relion_files import read_job_star
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.truth import GroundTruth, map_stats, mirrored, pose_stats_of_star
from tests.sta_fixtures import py2rely

pytestmark = pytest.mark.relion


def final_outputs(project: Path) -> tuple[Path, Path, Path]:
    """(final map, final particles, last Refine3D job) of a finished demo project."""
    posts = sorted(project.glob("PostProcess/job*/postprocess.mrc"), key=lambda p: p.stat().st_mtime)
    refines = sorted((p.parent for p in project.glob("Refine3D/job*/run_data.star")),
                     key=lambda p: p.stat().st_mtime)
    return posts[-1], refines[-1] / "run_data.star", refines[-1]


def final_step(refine: Path) -> float:
    """The finest angular step of the last iteration RELION ran (HEALPix order, oversampling 1)."""
    return results.refine_iterations(refine.name + "/", refine.parent)[-1][2]


def check_bounds(base: Path, fsc_factor: float, either_hand: bool = False, poses_bound: bool = True
                 ) -> str:
    truth = GroundTruth.load(base / "data" / "ground_truth")
    final_map, particles, refine = final_outputs(base / "project")
    stats = map_stats(final_map, truth)
    poses = pose_stats_of_star(particles, truth)
    step = final_step(refine)
    summary = f"{stats.summary()}; {poses.summary()}; final step {step:g}°"
    print(summary)
    assert stats.fsc05 <= fsc_factor * stats.nyquist, summary
    assert either_hand or stats.right_hand, summary
    assert not poses_bound or poses.median_angle <= 2 * step, summary
    return summary


def test_the_default_demo_from_template_matching_picks_meets_the_truth_bounds(tmp_path, relion_runtime):
    base = tmp_path / "demo"
    run = py2rely("demo", "-o", str(base), timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    record = (base / "data" / "ground_truth" / "simulation.json").read_text()
    assert '"model": "template-matching"' in record
    assert "initial model (reconstruct)" in run.stdout
    assert "Against the simulated truth" in run.stdout and "right hand" in run.stdout
    check_bounds(base, fsc_factor=2.5)


# A smaller dataset for the global search: 2 × 12 positions at bin 4 only (box 24, 10 Å/px).
POSITIONS = ("--picks", "positions", "--particles", "12", "--binning-list", "4", "--seed", "2")


def test_positions_with_a_template_are_found_by_a_global_search(tmp_path, relion_runtime):
    base = tmp_path / "reference"
    run = py2rely("demo", "-o", str(base), *POSITIONS, timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "global search first: the picks carry no angles" in run.stdout
    project = base / "project"
    # Pass 1: maximum cross-correlation against the template ...
    search = read_job_star(project / "Class3D/job002/job.star").options
    template = search["fn_ref"]
    assert Path(template).name == "reference.mrc" and search["nr_iter"] == "1"
    assert search["dont_skip_align"] == "Yes" and search["ref_correct_greyscale"] == "No"
    # ... confirmed by RELION's changes in orientations of the passes after it (at most 3) ...
    passes = sorted(project.glob("Class3D/job*/job.star"))
    assert 2 <= len(passes) <= 3
    changes = [results.changes_in_orientations(f"Class3D/{p.parent.name}/", project)
               for p in passes]
    row = next(line for line in run.stdout.splitlines() if line.lstrip().startswith("global search ("))
    print(row, changes)
    assert f"{len(passes)} pass(es)" in row
    # ... then the gold-standard Refine3D searches locally from the poses the rule kept.
    refine_dir = sorted(project.glob("Refine3D/job*/"))[0]
    refine = read_job_star(refine_dir / "job.star").options
    kept = refine["in_particles"].split("run_it")[0]
    assert kept.startswith("Class3D/job") and kept in row
    assert refine["fn_ref"] == template
    assert refine["sampling"] == refine["auto_local_sampling"] and "--sigma_ang" in refine["other_args"]
    check_bounds(base, fsc_factor=2.5)


def test_reconstruct_refuses_positions_only_before_any_refinement(tmp_path, relion_runtime):
    base = tmp_path / "blob"
    run = py2rely("demo", "-o", str(base), "--picks", "positions", "--particles", "4",
                  "--binning-list", "4", "--initial-model", "reconstruct", timeout=900)
    assert run.returncode != 0
    assert "every orientation is 0 (positions only)" in run.stderr
    assert not list((base / "project").glob("Reconstruct/job*"))


def test_denovo_hand_is_checked_and_a_mirrored_geometry_is_flagged(tmp_path, relion_runtime):
    """The demo's de novo run checks the hand against the template made from the phantom. Here
    that template is replaced by its mirror image before the run, which is what a user sees when
    the tilt-series geometry is mirrored (the tilt series set the hand of the average): the de
    novo map and the final map are reported with the mirror hand of the reference, the final
    map's mirror image is written beside it, and a warning names the geometry."""
    base = tmp_path / "denovo"
    args = ("demo", "-o", str(base), *POSITIONS, "--initial-model", "denovo")
    plan = py2rely(*args, "--dry-run", timeout=900)
    assert plan.returncode == 0, plan.stderr[-3000:]
    project = base / "project"
    template = project / "reference.mrc"
    with mrcfile.open(template, mode="r+") as mrc:
        mrc.data[...] = mirrored(np.array(mrc.data))
    run = py2rely(*args, timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RelionError" not in run.stderr
    with mrcfile.open(project / "InitialModel/job002/initial_model.mrc") as mrc:
        assert mrc.data.shape == (24, 24, 24) and abs(float(mrc.voxel_size.x) - 10.0) < 1e-3
    # The de novo frame is new: a global pass against the de novo map, then local refinement.
    assert read_job_star(project / "Class3D/job003/job.star").options["fn_ref"] == (
        "InitialModel/job002/initial_model.mrc")
    start = json.loads((project / "InitialModel/job002/hand_check.json").read_text())
    print(start)
    assert start["reference"] == "reference.mrc"
    # The data set the hand: the final map is the truth's hand (the simulated geometry is right).
    truth = GroundTruth.load(base / "data" / "ground_truth")
    final_map, _, _ = final_outputs(project)
    stats = map_stats(final_map, truth)
    print(stats.summary())
    assert stats.right_hand and stats.fsc05 <= 3.0 * stats.nyquist, stats.summary()
    # ... so against the mirrored reference it has the mirror hand: flagged, and flipped beside.
    final = json.loads((final_map.parent / "hand_check.json").read_text())
    print(final)
    assert final["mirror_hand"] and final["mirror_correlation"] - final["correlation"] >= 0.02
    flipped = final_map.parent / "postprocess_hand_flipped.mrc"
    assert not map_stats(flipped, truth).right_hand
    warning = f"{final_map.relative_to(project)} has the mirror hand of reference.mrc"
    assert warning in run.stdout and "rlnTomoHand" in run.stdout
    assert "de novo map: " in run.stdout and "of reference.mrc (correlation" in run.stdout
