"""`pipelines sta` checks everything it can before the first job, and plans without running."""

from __future__ import annotations

import json
import os
import shutil

import mrcfile
import numpy as np
import pytest

from py2rely_core.project import Project
from tests.cli_helpers import error_lines
from tests.sta_fixtures import job_dirs, prepare, py2rely


@pytest.fixture
def project(sim_dataset, tmp_path):
    root = tmp_path / "project"
    prepare(root, sim_dataset)
    return root


def refused(result, code: int, *words: str) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    errors = error_lines(result)
    assert len(errors) >= 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def nothing_ran(project) -> None:
    assert job_dirs(project) == set()
    assert not (project / "default_pipeline.star").exists()


def test_dry_run_prints_the_plan_with_commands_and_runs_nothing(project):
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    expected = ["Extract/job001/  extract (bin 4)", "Reconstruct/job002/  initial model (reconstruct)",
                "Refine3D/job003/  refine3d (bin 4)", "Select/job004/  remove duplicates (bin 4)",
                "Reconstruct/job005/  reconstruct (bin 2)", "MaskCreate/job006/  mask (bin 2)",
                "PostProcess/job007/  postprocess (bin 2)", "Extract/job008/  extract (bin 2)",
                "Refine3D/job009/  refine3d (bin 2)", "MaskCreate/job010/  mask (bin 2)",
                "PostProcess/job011/  postprocess (bin 2)"]
    positions = [out.index(line) for line in expected]
    assert positions == sorted(positions)
    assert "mpirun -n 3 relion_refine_mpi --o Refine3D/job003/run --auto_refine --split_random_halves" in out
    assert "--remove_duplicates 48" in out  # 0.3 × 160 Å
    # RELION 5.1's extraction options: the boxes in Å and the binned box in pixels.
    assert "relion_tomo_subtomo_mpi" in out
    assert "--box_size_A 240 --precrop_size_A -1 --binned_size_pix 24" in out
    assert "--bin 4" in out and "--bin 2" in out  # Reconstruct keeps pixels and a binning
    nothing_ran(project)


def test_a_template_that_cannot_serve_the_first_binning_is_refused_before_any_job(project):
    with mrcfile.new(project / "template.mrc") as mrc:
        mrc.set_data(np.zeros((48, 48, 48), dtype=np.float32))
        mrc.voxel_size = 10.0
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "-rt", "template.mrc", cwd=project)
    line = refused(result, 2, "template.mrc")
    assert "-b 24" in line and "-ovs 10" in line  # the box and voxel size that would fit bin 4
    nothing_ran(project)


def test_a_missing_tilt_image_stack_is_named_before_any_job(project, sim_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sim_dataset, copy)
    stack = next((copy / "tilt_series").glob("*.mrcs"))
    for star in (copy / "tilt_series").glob("*.star"):  # point the copy's tilt series at itself
        star.write_text(star.read_text().replace(str(sim_dataset), str(copy)))
    tomograms = copy / "tomograms.star"
    tomograms.write_text(tomograms.read_text().replace(str(sim_dataset), str(copy)))
    stack.unlink()
    parameters = json.loads((project / "sta_parameters.json").read_text())
    parameters["inputs"]["tilt_series"] = str(tomograms)
    parameters["inputs"]["particles"] = str(copy / "particles.star")
    (project / "sta_parameters.json").write_text(json.dumps(parameters))
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project)
    refused(result, 2, str(tomograms), stack.name, "does not exist")
    nothing_ran(project)


def test_a_bad_parameter_file_names_the_key(project):
    parameters = json.loads((project / "sta_parameters.json").read_text())
    parameters["compute"]["refine_mpi_ranks"] = 4
    (project / "sta_parameters.json").write_text(json.dumps(parameters))
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project)
    refused(result, 2, "sta_parameters.json", "compute.refine_mpi_ranks", "odd")
    nothing_ran(project)


def test_an_unknown_executor_or_strategy_is_refused(project):
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--executor", "pbs", cwd=project)
    refused(result, 3, "no executor named 'pbs'", "local")
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--initial-model", "magic",
                     cwd=project)
    refused(result, 3, "no initial-model strategy named 'magic'", "reconstruct")
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "-rt", "x.mrc", "-dg",
                     cwd=project)
    refused(result, 2, "conflicting initial-model choices")
    nothing_ran(project)


def test_no_relion_is_refused_before_any_job(project, tmp_path):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not (os.path.exists(os.path.join(p, "relion_refine"))))
    env["PY2RELY_RELION_HOME"] = str(tmp_path / "no-runtime-here")
    env.pop("PY2RELY_RELION_SETUP", None)
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, env=env)
    refused(result, 4, "no RELION 5 found", "py2rely relion install")
    nothing_ran(project)


def test_a_dry_run_without_relion_plans_with_the_newest_job_options_and_says_so(project, tmp_path):
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not (os.path.exists(os.path.join(p, "relion_refine"))))
    env["PY2RELY_RELION_HOME"] = str(tmp_path / "no-runtime-here")
    env.pop("PY2RELY_RELION_SETUP", None)
    result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--dry-run", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert "No RELION found: job.star options of RELION 5.1, the newest py2rely knows." in result.stdout
    assert "--binned_size_pix 24" in result.stdout
    nothing_ran(project)


def test_a_second_driver_is_refused_while_one_runs(project):
    with Project(project).driver_lock():
        result = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project)
    refused(result, 6, "another py2rely driver is running", f"pid {os.getpid()}")
    assert job_dirs(project) == set()
