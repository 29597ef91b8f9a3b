"""The job runner against real RELION 5 programs: project files, resume by identity, failures,
driver crashes, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from py2rely_core.errors import JobFailed, ProjectLocked
from py2rely_core.interfaces import PlannedJob
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project
from py2rely_core.relion_files import read_job_star, read_pipeline
from py2rely_core.runner import JobRunner
from py2rely_plugins.executors.local import PROCESS_FILE, LocalExecutor
from tests.runner_helpers import (
    MASK_OPTIONS,
    default_signals,
    driver_script,
    processes_with,
    write_map,
    write_particles,
)

pytestmark = pytest.mark.relion


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    write_map(root / "map.mrc")
    return root


@pytest.fixture
def runner(project, relion_runtime) -> JobRunner:
    plugins = get_plugins()
    return JobRunner(Project(project), LocalExecutor(), plugins.registry("job_types"), plugins.hook,
                     setup_lines=relion_runtime.job_setup_lines(), echo=lambda line: None)


def mask_job(**changes: str) -> PlannedJob:
    return PlannedJob("relion.maskcreate", {**MASK_OPTIONS, **changes}, stage="mask")


def test_job_files_are_written_as_relion_writes_them(runner, project, relion_env):
    result = runner.run(mask_job())
    assert (result.job_dir, result.status, result.reused) == ("MaskCreate/job001/", "Succeeded", False)
    job_dir = project / result.job_dir
    for name in ("job.star", "note.txt", "run.out", "run.err", "RELION_JOB_EXIT_SUCCESS", "mask.mrc",
                 "job_pipeline.star"):
        assert (job_dir / name).exists(), name
    job = read_job_star(job_dir / "job.star")
    assert job.type_label == "relion.maskcreate" and job.options["fn_in"] == "map.mrc"
    assert job.options["width_mask_edge"] == "2" and job.options["do_queue"] == "No"
    note = (job_dir / "note.txt").read_text()
    assert " ++++ Executing new job on " in note
    assert "relion_mask_create --i map.mrc --o MaskCreate/job001/mask.mrc" in note
    pipeline = read_pipeline(project / "default_pipeline.star")
    assert [(p.name, p.type_label, p.status) for p in pipeline.processes] == [
        ("MaskCreate/job001/", "relion.maskcreate", "Succeeded")]
    assert ("map.mrc", "MaskCreate/job001/") in pipeline.input_edges
    assert ("MaskCreate/job001/", "MaskCreate/job001/mask.mrc") in pipeline.output_edges
    assert pipeline.job_counter == 2

    # RELION's own pipeliner reads our pipeline and continues its numbering.
    added = subprocess.run(["relion_pipeliner", "--addJobFromStar", str(job_dir / "job.star")],
                           cwd=project, env=relion_env, capture_output=True, text=True, check=False)
    assert added.returncode == 0, added.stderr
    after = read_pipeline(project / "default_pipeline.star")
    assert [p.name for p in after.processes] == ["MaskCreate/job001/", "MaskCreate/job002/"]
    assert after.process("MaskCreate/job001/").status == "Succeeded"
    assert after.job_counter == 3
    # ... and our next job takes the number after RELION's.
    assert runner.run(mask_job(width_mask_edge="3")).job_dir == "MaskCreate/job003/"


def test_same_job_is_reused_and_a_changed_one_runs(runner, project):
    first = runner.run(mask_job())
    again = runner.run(mask_job())
    assert again.reused and again.job_dir == first.job_dir
    changed = runner.run(mask_job(width_mask_edge="4"))
    assert not changed.reused and changed.job_dir == "MaskCreate/job002/"


def test_a_changed_input_file_outside_the_project_reruns_the_job(runner, project):
    first = runner.run(mask_job())
    write_map(project / "map.mrc", sigma=5.0)  # same name, other content
    second = runner.run(mask_job())
    assert not second.reused and second.job_dir != first.job_dir


def test_a_failed_job_stops_with_its_directory_command_and_log(runner, project):
    write_map(project / "only_half1.mrc")
    with pytest.raises(JobFailed) as raised:
        runner.run(PlannedJob("relion.postprocess", {"fn_in": "only_half1.mrc", "fn_mask": "map.mrc",
                                                       "do_auto_bfac": "No"}, stage="post"))
    message = str(raised.value)
    assert "PostProcess/job001/ failed" in message
    assert "relion_postprocess --mask map.mrc --i only_half1.mrc" in message
    assert "only_half2.mrc" in message  # RELION's own complaint, from run.err
    job_dir = project / "PostProcess/job001"
    assert (job_dir / "RELION_JOB_EXIT_FAILURE").exists()
    assert not (job_dir / "RELION_JOB_EXIT_SUCCESS").exists()
    assert read_pipeline(project / "default_pipeline.star").process("PostProcess/job001/").status == "Failed"
    # A failed job is never reused: the rerun gets a new directory (and fails again).
    with pytest.raises(JobFailed, match="PostProcess/job002/ failed"):
        runner.run(PlannedJob("relion.postprocess", {"fn_in": "only_half1.mrc", "fn_mask": "map.mrc",
                                                       "do_auto_bfac": "No"}, stage="post"))


def test_a_half_written_job_directory_is_never_reused(runner, project):
    first = runner.run(mask_job())
    job_dir = project / first.job_dir
    (job_dir / "RELION_JOB_EXIT_SUCCESS").unlink()  # as if the machine died mid-job
    (job_dir / PROCESS_FILE).unlink()
    second = runner.run(mask_job())
    assert not second.reused and second.job_dir == "MaskCreate/job002/"


def test_success_without_the_expected_output_is_a_failure(runner, project):
    # relion_mask_create succeeds, but writes its mask where the job type does not expect it.
    with pytest.raises(JobFailed, match=r"did not write MaskCreate/job001/mask\.mrc"):
        runner.run(mask_job(other_args="--o elsewhere.mrc"))
    assert (project / "MaskCreate/job001/RELION_JOB_EXIT_FAILURE").exists()


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def test_a_new_driver_reattaches_to_the_job_a_killed_driver_left_running(project, relion_runtime):
    command = driver_script(project, [("relion.maskcreate", MASK_OPTIONS)], setup_lines=["sleep 4"])
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process_file = project / "MaskCreate/job001" / PROCESS_FILE
    _wait_for(process_file.exists)
    first.kill()  # kill -9 of the driver while its job runs
    first.wait()
    job_pid = json.loads(process_file.read_text())["pid"]
    assert Path(f"/proc/{job_pid}").exists()  # the job outlived its driver

    second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["MaskCreate/job001/", "Succeeded", "False"]
    assert "job re-attached" in second.stderr
    assert sorted(p.name for p in (project / "MaskCreate").iterdir()) == ["job001"]
    assert (project / "MaskCreate/job001/mask.mrc").exists()
    third = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert third.stdout.split() == ["MaskCreate/job001/", "Succeeded", "True"]


def test_ctrl_c_aborts_the_running_job_and_its_processes(project, relion_runtime):
    command = driver_script(project, [("relion.maskcreate", MASK_OPTIONS)], setup_lines=["sleep 60"])
    # Default dispositions, whatever this test run inherited: from a background shell (SIGINT
    # ignored) the driver would otherwise never see the Ctrl-C.
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=default_signals)
    process_file = project / "MaskCreate/job001" / PROCESS_FILE
    _wait_for(process_file.exists)
    job_pid = json.loads(process_file.read_text())["pid"]
    time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    assert "MaskCreate/job001/ was aborted" in stderr
    job_dir = project / "MaskCreate/job001"
    assert (job_dir / "RELION_JOB_EXIT_ABORTED").exists()
    assert not (job_dir / "RELION_JOB_EXIT_SUCCESS").exists()
    assert read_pipeline(project / "default_pipeline.star").process("MaskCreate/job001/").status == "Aborted"
    with pytest.raises(ProcessLookupError):
        os.killpg(job_pid, 0)  # no process of the job's group is left


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_abort_the_running_mpi_job_like_ctrl_c(project, relion_runtime, signum):
    """A scheduler's time limit on the driver's allocation (SIGTERM) or a closed terminal (SIGHUP)
    while relion_refine_mpi runs on 3 ranks: the job is aborted, nothing of it is left running."""
    write_particles(project)
    token = f"py2rely-signal-test-{os.getpid()}-{signum}"
    command = driver_script(project, [("tests.class2d", {"fn_img": "particles.star"})],
                            test_job_types=True)
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PY2RELY_TEST_TOKEN": token}, preexec_fn=default_signals)
    job_dir = project / "Class2D/job001"
    try:
        _wait_for(lambda: (job_dir / "run_it002_model.star").exists(), timeout=120)  # RELION iterates
        ranks = [p for p in processes_with(token) if "relion_refine_mpi" in p and "mpirun" not in p]
        assert len(ranks) >= 3, ranks
        driver.send_signal(signum)
        _, stderr = driver.communicate(timeout=90)
    finally:
        driver.kill()
    name = signal.Signals(signum).name
    assert driver.returncode == 128 + signum, stderr
    assert f"interrupted by {name}: Class2D/job001/ was aborted" in stderr
    assert (job_dir / "RELION_JOB_EXIT_ABORTED").exists()
    assert not (job_dir / "RELION_JOB_EXIT_SUCCESS").exists()
    assert not (job_dir / "RELION_JOB_EXIT_FAILURE").exists()
    assert read_pipeline(project / "default_pipeline.star").process("Class2D/job001/").status == "Aborted"
    assert json.loads((job_dir / "py2rely_job.json").read_text())["status"] == "Aborted"
    assert processes_with(token) == []  # no relion_refine_mpi, mpirun or prterun left


def test_a_second_driver_is_refused_while_the_first_holds_the_lock(project):
    holder = subprocess.Popen(
        [*driver_script(project, [])[:2],
         f"from py2rely_core.project import Project\nimport time\n"
         f"with Project({str(project)!r}).driver_lock():\n    print('locked', flush=True)\n"
         f"    time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    try:
        with pytest.raises(ProjectLocked, match=f"pid {holder.pid}"), Project(project).driver_lock():
            pass
    finally:
        holder.kill()
        holder.wait()
    with Project(project).driver_lock():  # released by the kernel when its holder died
        pass


def test_relion_jobs_leave_no_mounts_behind(runner):
    before = Path("/proc/mounts").read_text()
    runner.run(mask_job())
    assert Path("/proc/mounts").read_text() == before
