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
from tests.cli_helpers import run_py2rely
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


# -- the project never lies about a job ---------------------------------------------------------

POST_OPTIONS = {"fn_in": "half1.mrc", "fn_mask": "{0}mask.mrc", "do_auto_bfac": "No"}


def mask_then_post(project: Path) -> list[str]:
    write_map(project / "half1.mrc", noise=0.05, seed=1)
    write_map(project / "half2.mrc", noise=0.05, seed=2)
    return driver_script(project, [("relion.maskcreate", MASK_OPTIONS), ("relion.postprocess", POST_OPTIONS)])


def run_driver(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def not_reused_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "job not reused" in line]


def test_a_truncated_map_makes_its_job_and_the_jobs_after_it_rerun(project):
    command = mask_then_post(project)
    first = run_driver(command)
    assert first.stdout.split() == ["MaskCreate/job001/", "Succeeded", "False",
                                    "PostProcess/job002/", "Succeeded", "False"], first.stderr
    mask = project / "MaskCreate/job001/mask.mrc"
    mask.write_bytes(mask.read_bytes()[:20000])  # a copy that stopped, a full disk

    second = run_driver(command)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["MaskCreate/job003/", "Succeeded", "False",
                                     "PostProcess/job004/", "Succeeded", "False"]
    lines = not_reused_lines(second.stderr)
    assert len(lines) == 2, second.stderr  # one line per job, saying why
    assert "job=MaskCreate/job001/" in lines[0] and "mask.mrc is cut short: 20000 bytes" in lines[0]
    assert "job=PostProcess/job002/" in lines[1]
    assert "fn_mask ('MaskCreate/job001/mask.mrc' → 'MaskCreate/job003/mask.mrc')" in lines[1]
    # The damaged job no longer claims success, in its directory or in the pipeline.
    pipeline = read_pipeline(project / "default_pipeline.star")
    assert pipeline.process("MaskCreate/job001/").status == "Failed"
    assert pipeline.process("PostProcess/job002/").status == "Succeeded"  # its own files are whole
    assert (project / "MaskCreate/job001/RELION_JOB_EXIT_FAILURE").exists()
    assert "outputs are no longer whole" in json.loads(
        (project / "MaskCreate/job001/py2rely_job.json").read_text())["reason"]
    third = run_driver(command)
    assert third.stdout.split() == ["MaskCreate/job003/", "Succeeded", "True",
                                    "PostProcess/job004/", "Succeeded", "True"]
    assert not_reused_lines(third.stderr) == []


def test_a_missing_output_reruns_only_its_job(project):
    command = mask_then_post(project)
    assert run_driver(command).returncode == 0
    (project / "PostProcess/job002/postprocess.star").unlink()
    rerun = run_driver(command)
    assert rerun.stdout.split() == ["MaskCreate/job001/", "Succeeded", "True",
                                    "PostProcess/job003/", "Succeeded", "False"], rerun.stderr
    [line] = not_reused_lines(rerun.stderr)
    assert "job=PostProcess/job002/" in line and "postprocess.star is missing" in line


def kill_driver_and_job(project: Path, command: list[str], job_dir: str) -> None:
    """As a reboot would: the driver and every process of its job die at once, no marker written."""
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process_file = project / job_dir / PROCESS_FILE
    _wait_for(process_file.exists)
    job_pid = json.loads(process_file.read_text())["pid"]
    driver.kill()
    driver.wait()
    os.killpg(job_pid, signal.SIGKILL)
    _wait_for(lambda: not Path(f"/proc/{job_pid}").exists())
    assert read_pipeline(project / "default_pipeline.star").process(job_dir).status == "Running"


def test_status_marks_a_job_whose_processes_are_gone_failed_with_the_reason(project):
    command = driver_script(project, [("relion.maskcreate", MASK_OPTIONS)], setup_lines=["sleep 60"])
    kill_driver_and_job(project, command, "MaskCreate/job001/")

    status = run_py2rely("status", "--project-dir", str(project))
    assert status.returncode == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if line.startswith("MaskCreate/job001/")]
    assert "Failed" in row and "its processes are gone and it left no exit marker" in row
    assert "process group" in row
    # Recorded where RELION and the next driver look: pipeline, marker, record, run.err.
    assert read_pipeline(project / "default_pipeline.star").process("MaskCreate/job001/").status == "Failed"
    assert (project / "MaskCreate/job001/RELION_JOB_EXIT_FAILURE").exists()
    assert "py2rely: marked failed on" in (project / "MaskCreate/job001/run.err").read_text()

    rerun = run_driver(driver_script(project, [("relion.maskcreate", MASK_OPTIONS)]))
    assert rerun.stdout.split() == ["MaskCreate/job002/", "Succeeded", "False"], rerun.stderr
    [line] = not_reused_lines(rerun.stderr)
    assert "job=MaskCreate/job001/" in line and "it failed: its processes are gone" in line


def test_the_next_driver_marks_a_lost_job_failed_before_it_starts_another(project):
    kill_driver_and_job(project, driver_script(project, [("relion.maskcreate", MASK_OPTIONS)],
                                               setup_lines=["sleep 60"]), "MaskCreate/job001/")
    # The next run asks for another job: the lost one is found all the same, not left "Running".
    wider = {**MASK_OPTIONS, "width_mask_edge": "3"}
    other = run_driver(driver_script(project, [("relion.maskcreate", wider)]))
    assert other.stdout.split() == ["MaskCreate/job002/", "Succeeded", "False"], other.stderr
    marked = [line for line in other.stderr.splitlines() if "job marked failed" in line]
    assert len(marked) == 1 and "job=MaskCreate/job001/" in marked[0] and "process group" in marked[0]
    statuses = {p.name: p.status for p in read_pipeline(project / "default_pipeline.star").processes}
    assert statuses == {"MaskCreate/job001/": "Failed", "MaskCreate/job002/": "Succeeded"}


def test_a_damaged_pipeline_file_is_rebuilt_from_the_job_directories(project):
    command = mask_then_post(project)
    assert run_driver(command).returncode == 0
    pipeline_file = project / "default_pipeline.star"
    original = read_pipeline(pipeline_file)
    text = pipeline_file.read_text()
    for damaged in ("", text[: text.index("MaskCreate/job001/ None") + 30]):  # empty, then cut short
        pipeline_file.write_text(damaged)
        status = run_py2rely("status", "--project-dir", str(project))
        assert status.returncode == 0, status.stderr
        [warning] = status.stderr.splitlines()  # one line, never a traceback
        assert warning.startswith(f"warning: {pipeline_file}: ") and "showing the 2 jobs found" in warning
        assert "PostProcess/job002/" in status.stdout

    rerun = run_driver(command)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.split() == ["MaskCreate/job001/", "Succeeded", "True",
                                    "PostProcess/job002/", "Succeeded", "True"]
    [line] = [line for line in rerun.stderr.splitlines() if "pipeline file rebuilt" in line]
    assert "table pipeline_processes has a row of 3 values for 4 columns" in line
    assert "rebuilt it from 2 job directories" in line and "default_pipeline.star.damaged" in line
    rebuilt = read_pipeline(pipeline_file)
    assert [(p.name, p.type_label, p.status) for p in rebuilt.processes] == \
        [(p.name, p.type_label, p.status) for p in original.processes]
    assert sorted(rebuilt.input_edges) == sorted(original.input_edges)
    assert sorted(rebuilt.output_edges) == sorted(original.output_edges)
    assert rebuilt.job_counter == original.job_counter
    assert (project / "default_pipeline.star.damaged").read_text() == damaged
