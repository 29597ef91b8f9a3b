"""The `reference` strategy with picked angles (bin 4 only), and a strategy from a third-party
plugin runs the pipeline. Positions-only starts (global searches, de novo) are in
tests/test_realistic_starts.py."""

from __future__ import annotations

import pytest

from py2rely_core.relion_files import read_job_star
from tests.sta_fixtures import (
    job_dirs,
    prepare,
    py2rely,
    statuses,
)
from tests.test_plugins import install_plugin  # noqa: F401 - the fixture

pytestmark = pytest.mark.relion


def test_reference_strategy_refines_picked_angles_locally_against_the_template(sim_dataset, tmp_path,
                                                                              relion_runtime):
    project = tmp_path / "project"
    prepare(project, sim_dataset, "4")
    template = py2rely("prepare", "template", "-i", str(sim_dataset / "ground_truth" / "phantom.mrc"),
                       "-o", "reference.mrc", "-ovs", "10", "-lp", "40", "--parameters",
                       "sta_parameters.json", cwd=project)
    assert template.returncode == 0, template.stderr
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "-rt", "reference.mrc", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(statuses(project).values()) == {"Succeeded"}
    # The picks carry angles: no alignment job, the template is the first Refine3D's reference
    # and the search is local from the picked angles.
    assert not list(project.glob("Class3D/job*")) and not list(project.glob("Reconstruct/job*"))
    refine = read_job_star(project / "Refine3D/job002/job.star")
    assert refine.options["fn_ref"] == "reference.mrc"
    assert refine.options["in_particles"] == "Extract/job001/particles.star"
    assert refine.options["sampling"] == refine.options["auto_local_sampling"]
    assert "--sigma_ang" in refine.options["other_args"]
    assert "local search from the picked angles" in run.stdout
    assert "Final resolution:" in run.stdout


def test_a_third_party_strategy_runs_the_pipeline(install_plugin, sim_dataset, tmp_path,  # noqa: F811
                                                  relion_runtime):
    install_plugin("example_plugin", "py2rely-example-plugin")
    project = tmp_path / "project"
    prepare(project, sim_dataset, "4", "-s", "C2")  # the plugin reconstructs in C1 regardless
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--initial-model", "reconstruct-c1",
                  cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    reconstruct = read_job_star(project / "Reconstruct/job002/job.star")
    assert reconstruct.options["sym_name"] == "C1"
    assert read_job_star(project / "Refine3D/job003/job.star").options["sym_name"] == "C2"
    assert "initial model (reconstruct-c1)" in run.stdout
    assert set(statuses(project).values()) == {"Succeeded"}
    kinds = sorted(name.split("/")[0] for name in job_dirs(project))
    # One reconstruction from the plugin, no other initial-model job; the mask may be widened
    # (MaskCreate + PostProcess again) when RELION's phase-randomisation check asks for it.
    assert kinds.count("Reconstruct") == 1 and kinds.count("Refine3D") == 1
    assert not {"Class3D", "InitialModel"} & set(kinds)
    assert kinds.count("PostProcess") >= 1 and kinds.count("MaskCreate") == kinds.count("PostProcess")
