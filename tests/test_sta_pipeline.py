"""The STA pipeline on real RELION 5.1 and simulated data (bin 4 → 2, `reconstruct` strategy):
it runs, survives a killed driver, reruns nothing when done, recovers from a failed job, and its
final map matches the simulator's ground truth."""

from __future__ import annotations

import math

import pytest

from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.map_compare import compare_with_reference
from tests.sta_fixtures import (
    DIAMETER,
    PIXEL_SIZE,
    edit_parameters,
    job_dirs,
    prepare,
    py2rely,
    start_driver,
    statuses,
    wait_for,
)

pytestmark = pytest.mark.relion

# Measured on the CI dataset (tests/sta_fixtures.py): the final bin-2 map (postprocess.mrc)
# reaches FSC 0.5 against the truth at 15.3 Å with --random_seed 1 (the same in repeated runs;
# seeds 2 and 3 gave 16.0 and 15.4 Å; Nyquist 10 Å). RELION's default seed is the clock, and one
# such run drew half sets that gave 20.1 Å, so the test fixes the seed and keeps this margin.
RANDOM_SEED = "--random_seed 1"
TRUTH_FSC05_LIMIT = 18.0


@pytest.fixture(scope="module")
def finished_project(sim_dataset, tmp_path_factory, relion_runtime):
    """A project whose first driver was killed (kill -9) during the first refinement, and which a
    second driver then finished. Yields (project, second driver's result)."""
    project = tmp_path_factory.mktemp("sta") / "project"
    parameters = prepare(project, sim_dataset, "4,2")
    edit_parameters(parameters, refine3d={"other_args": RANDOM_SEED})
    first = start_driver(project)
    refine_out = project / "Refine3D" / "job003" / "run.out"
    wait_for(lambda: refine_out.exists() and "Expectation iteration 1" in refine_out.read_text(),
             timeout=900)
    first.kill()
    first.wait()
    second = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, timeout=3600)
    return project, second


def test_a_killed_driver_is_resumed_without_rerunning_finished_jobs(finished_project):
    project, second = finished_project
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stderr
    assert "job reused" in log and "Extract/job001/" in log and "Reconstruct/job002/" in log
    assert "job re-attached" in log and "Refine3D/job003/" in log
    # Nothing ran twice: one directory per job, numbered without gaps.
    dirs = sorted(job_dirs(project), key=lambda d: int(d.rstrip("/")[-3:]))
    assert [int(d.rstrip("/")[-3:]) for d in dirs] == list(range(1, len(dirs) + 1))


def test_every_job_succeeded_and_the_report_is_printed(finished_project):
    project, second = finished_project
    assert set(statuses(project).values()) == {"Succeeded"}
    for job in job_dirs(project):
        assert (project / job / "RELION_JOB_EXIT_SUCCESS").exists(), job
        assert (project / job / "note.txt").exists() and (project / job / "job.star").exists()
    out = second.stdout
    assert "stage" in out and "resolution" in out and "Final resolution:" in out
    status = py2rely("status", cwd=project)
    assert status.returncode == 0
    assert "Refine3D/job003/" in status.stdout and "Succeeded" in status.stdout


def test_the_resolution_improves_and_the_final_map_matches_the_truth(finished_project, sim_dataset):
    project, _ = finished_project
    first_refine = results.refine_resolution("Refine3D/job003/", project)
    finals = sorted(project.glob("PostProcess/job*/postprocess.star"))
    final_post = finals[-1].parent
    final = results.postprocess_resolution(final_post.relative_to(project), project)
    assert math.isfinite(final) and final < first_refine, (final, first_refine)
    comparison = compare_with_reference(final_post / "postprocess.mrc",
                                        sim_dataset / "ground_truth" / "phantom.mrc", DIAMETER)
    assert comparison.resolution_05 < TRUTH_FSC05_LIMIT, comparison.summary()


def test_rerunning_a_finished_pipeline_starts_no_job(finished_project):
    project, _ = finished_project
    before = job_dirs(project)
    again = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "job started" not in again.stderr
    assert job_dirs(project) == before


def test_after_a_failed_job_only_it_and_what_follows_run_again(finished_project):
    project, _ = finished_project
    masks = sorted(project.glob("MaskCreate/job*"))
    last_mask = masks[-1]
    (last_mask / "RELION_JOB_EXIT_SUCCESS").unlink()
    (last_mask / "RELION_JOB_EXIT_FAILURE").touch()  # as RELION leaves a failed job
    before = job_dirs(project)
    rerun = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    new = job_dirs(project) - before
    assert sorted(d.split("/")[0] for d in new) == ["MaskCreate", "PostProcess"]
    assert rerun.stderr.count("job started") == 2


def test_exported_copick_picks_sit_at_the_true_positions(finished_project, sim_dataset, tmp_path):
    import copick
    import numpy as np
    import starfile

    from tests.copick_fixtures import OBJECT, make_project

    project, _ = finished_project
    final = sorted(project.glob("Refine3D/job*/run_data.star"))[-1]
    tomograms = starfile.read(sim_dataset / "tomograms.star", always_dict=True)["global"]
    runs = tuple(str(name).split("_", 1)[1] for name in tomograms["rlnTomoName"])
    config = make_project(tmp_path / "copick", runs)
    exported = py2rely("export", "star2copick", "-p", str(final), "-c", str(config), "-s", "TS",
                       "-n", OBJECT, "-ts", str(sim_dataset / "tomograms.star"), cwd=project)
    assert exported.returncode == 0, exported.stderr
    truth = starfile.read(sim_dataset / "ground_truth" / "particles.star", always_dict=True)["particles"]
    root = copick.from_file(str(config))
    distances = []
    for _, tomogram in tomograms.iterrows():
        run = root.get_run(str(tomogram["rlnTomoName"]).split("_", 1)[1])
        picks = run.get_picks(object_name=OBJECT, user_id="relion", session_id="99")[0]
        points, _ = picks.numpy()
        centre = np.array([tomogram[f"rlnTomoSize{a}"] / 2.0 for a in "XYZ"]) * PIXEL_SIZE
        mine = truth[truth["rlnTomoName"] == tomogram["rlnTomoName"]]
        true_points = mine[[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]].to_numpy() + centre
        for point in true_points:
            distances.append(float(np.min(np.linalg.norm(points - point, axis=1))))
    median = float(np.median(distances))
    print(f"exported picks vs truth: median {median:.2f} Å, max {max(distances):.2f} Å")
    # Bin 2 pixels are 5 Å; refined shifts are applied, so picks stay within a pixel or two.
    assert median < 5.0 and max(distances) < 15.0, (median, max(distances))
