"""The `slurm` executor against a real one-node SLURM cluster (scripts/slurm-cluster.sh) running
real RELION 5 jobs. Nothing is mocked: every job goes through sbatch, squeue and scontrol.

Slow jobs are made slow honestly and deterministically with a site setup line (`sleep N`), which
runs inside the SLURM job before the RELION program, exactly where a site's `module load` runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from py2rely_core.errors import JobFailed
from py2rely_core.interfaces import Command, PlannedJob, RunnableJob
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project
from py2rely_core.runner import JobRunner
from py2rely_plugins.executors.slurm import JOB_FILE, SCRIPT_NAME
from tests.runner_helpers import MASK_OPTIONS, LongClassify2D, default_signals, write_map, write_particles
from tests.slurm_fixtures import SlurmCluster, running_cluster, slurm_driver, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.relion]

# The test node declares more CPUs than this machine has (3-rank jobs must fit), so OpenMPI must
# not bind ranks to cores it does not have (docs/executors.md, "Trying it on one machine").
MPI_LAUNCHER = "mpirun --bind-to none -n {ranks}"
BASE_SETTINGS: dict[str, Any] = {"poll_interval": 0.5, "mpi_launcher": MPI_LAUNCHER}
POST_OPTIONS = {"fn_in": "half1.mrc", "fn_mask": "MaskCreate/job001/mask.mrc", "do_auto_bfac": "No"}


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    try:
        with running_cluster() as cluster:
            yield cluster
    except RuntimeError as exc:  # could not start: every slurm test errors with the reason
        pytest.fail(str(exc))


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    write_map(root / "map.mrc")
    write_map(root / "half1.mrc", noise=0.05, seed=1)
    write_map(root / "half2.mrc", noise=0.05, seed=2)
    return root


def make_runner(project: Path, runtime: Any, **settings: Any) -> JobRunner:
    plugins = get_plugins()
    executor = plugins.get("executors", "slurm").create({**BASE_SETTINGS, **settings})
    return JobRunner(Project(project), executor, plugins.registry("job_types"), plugins.hook,
                     setup_lines=runtime.job_setup_lines() if runtime else (), echo=lambda line: None)


def slurm_id(project: Path, job_dir: str) -> str | None:
    try:
        return str(json.loads((project / job_dir / JOB_FILE).read_text())["job_id"])
    except (OSError, ValueError, KeyError):
        return None


def running_id(cluster: SlurmCluster, project: Path, job_dir: str) -> str:
    """The SLURM id of ``job_dir`` once that job is RUNNING."""
    def running() -> str | None:
        job_id = slurm_id(project, job_dir)
        return job_id if job_id and cluster.state(job_id) == "RUNNING" else None
    return wait_for(running, 60, f"{job_dir} to run in SLURM")


def test_relion_jobs_run_through_slurm(slurm_cluster, project, relion_runtime):
    runner = make_runner(project, relion_runtime)
    before = set(slurm_cluster.job_ids())
    started = time.monotonic()
    mask = runner.run(PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask"))
    post = runner.run(PlannedJob("relion.postprocess", POST_OPTIONS, stage="post"))
    elapsed = time.monotonic() - started
    assert (mask.status, post.status) == ("Succeeded", "Succeeded"), elapsed
    assert (project / "MaskCreate/job001/mask.mrc").is_file()
    assert "FINAL RESOLUTION" in (project / "PostProcess/job002/run.out").read_text()

    script = (project / "MaskCreate/job001" / SCRIPT_NAME).read_text()
    for line in ("#SBATCH --job-name=MaskCreate_job001", f"#SBATCH --chdir={project}",
                 f"#SBATCH --output={project}/MaskCreate/job001/run.out", "#SBATCH --open-mode=append",
                 "#SBATCH --ntasks=1"):
        assert line in script.splitlines(), line
    assert "--partition" not in script and "--gres" not in script  # unset: the cluster's defaults

    new = sorted(set(slurm_cluster.job_ids()) - before, key=int)
    assert new == [slurm_id(project, "MaskCreate/job001/"), slurm_id(project, "PostProcess/job002/")]
    for job_id in new:
        record = slurm_cluster.job(job_id)
        assert (record["JobState"], record["ExitCode"], record["Partition"]) == ("COMPLETED", "0:0", "cpu")
        assert record["WorkDir"] == str(project)

    # A rerun reuses both jobs: nothing is submitted again.
    rerun = make_runner(project, relion_runtime)
    again = [rerun.run(PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask")),
             rerun.run(PlannedJob("relion.postprocess", POST_OPTIONS, stage="post"))]
    assert [r.reused for r in again] == [True, True]
    assert sorted(set(slurm_cluster.job_ids()) - before, key=int) == new


def test_a_failed_job_names_its_state_id_and_log(slurm_cluster, project, relion_runtime):
    write_map(project / "only_half1.mrc")
    runner = make_runner(project, relion_runtime)
    with pytest.raises(JobFailed) as raised:
        runner.run(PlannedJob("relion.postprocess", {"fn_in": "only_half1.mrc", "fn_mask": "map.mrc",
                                                       "do_auto_bfac": "No"}, stage="post"))
    job_id = slurm_id(project, "PostProcess/job001/")
    message = str(raised.value)
    assert f"PostProcess/job001/ failed: SLURM job {job_id} ended FAILED (exit code 1:0)" in message
    assert "only_half2.mrc" in message  # RELION's own complaint, from the tail of run.err
    assert slurm_cluster.job(job_id)["JobState"] == "FAILED"
    assert (project / "PostProcess/job001/RELION_JOB_EXIT_FAILURE").exists()


def test_sbatch_refusing_a_job_is_a_failed_job_not_a_crash(slurm_cluster, project, relion_runtime):
    runner = make_runner(project, relion_runtime, cpu_partition="nosuchpartition")
    refused = (r"MaskCreate/job001/ failed: sbatch refused MaskCreate/job001/run_submit\.script: "
               r"Batch job submission failed: Invalid partition")
    with pytest.raises(JobFailed, match=refused):
        runner.run(PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask"))
    assert (project / "MaskCreate/job001/RELION_JOB_EXIT_FAILURE").exists()


def test_partition_and_time_limit_follow_the_job_kind(slurm_cluster, project, relion_runtime):
    plugins = get_plugins()
    executor = plugins.get("executors", "slurm").create({
        **BASE_SETTINGS, "gpu_partition": "gpu", "cpu_partition": "cpu", "gpu_time_limit": "7",
        "cpu_time_limit": "0:03:00", "gpus_per_job": 0})
    handles = {}
    for resource in ("gpu", "cpu"):
        job_dir = f"Kind/{resource}/"
        (project / job_dir).mkdir(parents=True)
        job = RunnableJob(str(project), job_dir, f"Kind_{resource}", (Command(
            "relion_image_handler", ("--i", "map.mrc", "--o", f"{job_dir}lowpass.mrc", "--lowpass", "20")),),
            resource=resource, setup_lines=tuple(relion_runtime.job_setup_lines()))
        handles[resource] = executor.start(job)
    outcomes = {resource: executor.wait(handle) for resource, handle in handles.items()}
    assert {r: o.status for r, o in outcomes.items()} == {"gpu": "Succeeded", "cpu": "Succeeded"}
    gpu, cpu = (slurm_cluster.job(handles[r].job_id) for r in ("gpu", "cpu"))
    assert (gpu["Partition"], gpu["TimeLimit"]) == ("gpu", "00:07:00")
    assert (cpu["Partition"], cpu["TimeLimit"]) == ("cpu", "00:03:00")
    assert (project / "Kind/gpu/lowpass.mrc").is_file()


def test_an_mpi_job_asks_for_one_task_per_rank(slurm_cluster, project, relion_runtime):
    executor = get_plugins().get("executors", "slurm").create(BASE_SETTINGS)
    (project / "Mpi/job001").mkdir(parents=True)
    # Any command with ranks > 1 goes through the launcher: the runtime's mpirun starting 3 ranks.
    job = RunnableJob(str(project), "Mpi/job001/", "Mpi_job001", (Command("hostname", mpi_ranks=3),),
                      resource="cpu", setup_lines=tuple(relion_runtime.job_setup_lines()))
    handle = executor.start(job)
    assert executor.wait(handle).status == "Succeeded"
    record = slurm_cluster.job(handle.job_id)
    assert (record["NumTasks"], record["NumNodes"], record["JobState"]) == ("3", "1", "COMPLETED")
    assert len((project / "Mpi/job001/run.out").read_text().split()) == 3


def test_scancel_from_outside_fails_the_pipeline_with_cancelled(slurm_cluster, project):
    driver = slurm_driver(project, [("relion.maskcreate", MASK_OPTIONS)],
                          {**BASE_SETTINGS, "setup_lines": ["sleep 120"]})
    process = subprocess.Popen(driver, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    try:
        job_id = running_id(slurm_cluster, project, "MaskCreate/job001/")
        slurm_cluster.run("scancel", job_id)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 5, err
    assert f"MaskCreate/job001/ failed: SLURM job {job_id} ended CANCELLED" in err
    assert f"JOB {job_id} ON localhost CANCELLED" in err  # slurmstepd's line, from run.err's tail
    assert slurm_cluster.job(job_id)["JobState"] == "CANCELLED"
    assert (project / "MaskCreate/job001/RELION_JOB_EXIT_FAILURE").exists()


def test_ctrl_c_of_the_driver_cancels_its_slurm_job(slurm_cluster, project):
    driver = slurm_driver(project, [("relion.maskcreate", MASK_OPTIONS)],
                          {**BASE_SETTINGS, "setup_lines": ["sleep 120"]})
    process = subprocess.Popen(driver, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    try:
        job_id = running_id(slurm_cluster, project, "MaskCreate/job001/")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "MaskCreate/job001/ was aborted" in err
    assert slurm_cluster.job(job_id)["JobState"] == "CANCELLED"
    job_dir = project / "MaskCreate/job001"
    assert (job_dir / "RELION_JOB_EXIT_ABORTED").exists()
    assert not (job_dir / "RELION_JOB_EXIT_FAILURE").exists()


def test_a_job_past_its_time_limit_fails_with_timeout(slurm_cluster, project, relion_runtime):
    runner = make_runner(project, relion_runtime, cpu_time_limit="1", setup_lines=["sleep 300"])
    with pytest.raises(JobFailed) as raised:
        runner.run(PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask"))
    job_id = slurm_id(project, "MaskCreate/job001/")
    message = str(raised.value)
    assert f"MaskCreate/job001/ failed: SLURM job {job_id} ended TIMEOUT" in message
    assert "DUE TO TIME LIMIT" in message  # slurmstepd's line in run.err
    # SLURM's own verdict: killed at the one-minute limit, not after the 300 s sleep.
    assert slurm_cluster.job(job_id)["JobState"] == "TIMEOUT"


def test_a_new_driver_reattaches_to_the_job_a_killed_driver_left_running(slurm_cluster, project):
    # Only the mask job is slow, so the driver can be killed while it runs.
    settings = {**BASE_SETTINGS, "setup_lines": ['case "$SLURM_JOB_NAME" in MaskCreate_*) sleep 10 ;; esac']}
    jobs = [("relion.maskcreate", MASK_OPTIONS), ("relion.postprocess", POST_OPTIONS)]
    driver = slurm_driver(project, jobs, settings)
    first = subprocess.Popen(driver, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        job_id = running_id(slurm_cluster, project, "MaskCreate/job001/")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        first.kill()
    assert slurm_cluster.state(job_id) == "RUNNING"  # the job outlives its driver

    second = subprocess.run(driver, env=slurm_cluster.env(), capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == ["MaskCreate/job001/ Succeeded False",
                                          "PostProcess/job002/ Succeeded False"]
    assert "slurm job re-attached" in second.stderr
    # Submitted once: the job file, SLURM's own memory of job names, and no second job dir agree.
    record = json.loads((project / "MaskCreate/job001" / JOB_FILE).read_text())
    assert record["submissions"] == [job_id]
    assert slurm_cluster.job_ids("MaskCreate_job001", project) == [job_id]
    assert not (project / "MaskCreate/job002").exists()
    assert slurm_cluster.job(job_id)["JobState"] == "COMPLETED"
    assert (project / "PostProcess/job002/RELION_JOB_EXIT_SUCCESS").exists()


def test_a_job_whose_id_was_never_recorded_is_found_by_name_and_directory(slurm_cluster, project):
    executor = get_plugins().get("executors", "slurm").create({**BASE_SETTINGS, "setup_lines": ["sleep 5"]})
    (project / "Quick/job001").mkdir(parents=True)
    job = RunnableJob(str(project), "Quick/job001/", "Quick_job001", (Command("true"),), resource="cpu")
    handle = executor.start(job)
    # As if the driver died between sbatch and writing the id.
    (project / "Quick/job001" / JOB_FILE).unlink()
    found = executor.reattach(job)
    assert found is not None and found.job_id == handle.job_id
    assert executor.wait(found).status == "Succeeded"
    assert slurm_id(project, "Quick/job001/") == handle.job_id  # recorded again


def test_the_driver_can_itself_run_as_a_slurm_job(slurm_cluster, project):
    driver = slurm_driver(project, [("relion.maskcreate", MASK_OPTIONS)], BASE_SETTINGS)
    log = project / "driver.out"
    driver_id = slurm_cluster.run("sbatch", "--parsable", f"--output={log}", "--job-name=py2rely-driver",
                                  "--wrap", shlex.join(driver)).strip()
    wait_for(lambda: slurm_cluster.state(driver_id) not in ("PENDING", "RUNNING", "COMPLETING"), 120,
             "the driver job to end")
    assert slurm_cluster.job(driver_id)["JobState"] == "COMPLETED", log.read_text()
    assert "MaskCreate/job001/ Succeeded False" in log.read_text()
    inner = slurm_id(project, "MaskCreate/job001/")
    assert inner != driver_id and slurm_cluster.job(inner)["JobState"] == "COMPLETED"


def test_node_failure_is_retried_when_retries_are_set(slurm_cluster, project):
    settings = {**BASE_SETTINGS, "retries": 1,
                "setup_lines": ['[ -e retried ] || { touch retried; sleep 120; }']}
    driver = slurm_driver(project, [("relion.maskcreate", MASK_OPTIONS)], settings)
    process = subprocess.Popen(driver, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    try:
        first_id = running_id(slurm_cluster, project, "MaskCreate/job001/")
        # A node that goes down kills its jobs with NODE_FAIL; ReturnToService=2 brings it back.
        slurm_cluster.run("scontrol", "update", "nodename=localhost", "state=down", "reason=py2rely-test")
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
        if "down" in slurm_cluster.run("sinfo", "--noheader", "--format=%T", check=False):
            slurm_cluster.run("scontrol", "update", "nodename=localhost", "state=resume", check=False)
    assert process.returncode == 0, err
    assert out.split() == ["MaskCreate/job001/", "Succeeded", "False"]
    assert slurm_cluster.job(first_id)["JobState"] == "NODE_FAIL"
    record = json.loads((project / "MaskCreate/job001" / JOB_FILE).read_text())
    assert record["submissions"][0] == first_id and len(record["submissions"]) == 2
    assert slurm_cluster.job(record["job_id"])["JobState"] == "COMPLETED"
    assert f"SLURM job {first_id} ended NODE_FAIL; submitting it again (retry 1 of 1)" in \
        (project / "MaskCreate/job001/run.err").read_text()


def node_cpus(cluster: SlurmCluster) -> int:
    return int(cluster.run("sinfo", "--noheader", "--partition=cpu", "--format=%c").split()[0])


def test_a_job_that_can_never_start_stops_the_pipeline_at_once(slurm_cluster, project, relion_runtime):
    """One rank more than the node has CPUs, on one node: SLURM keeps it PENDING (PartitionConfig)
    forever; the executor cancels it at once and says what it asked for and what there is."""
    write_particles(project)
    ranks = node_cpus(slurm_cluster) + 1
    plugins = get_plugins()
    runner = JobRunner(Project(project), plugins.get("executors", "slurm").create(BASE_SETTINGS),
                       {**plugins.registry("job_types"), LongClassify2D.name: LongClassify2D()},
                       setup_lines=relion_runtime.job_setup_lines(), echo=lambda line: None)
    with pytest.raises(JobFailed) as raised:
        runner.run(PlannedJob(LongClassify2D.name, {"nr_mpi": str(ranks)}, stage="class2d"))
    job_id = slurm_id(project, "Class2D/job001/")
    message = str(raised.value)
    assert f"Class2D/job001/ failed: SLURM job {job_id} can never start: PartitionConfig" in message
    assert f"It asks for 1 node(s), {ranks} task(s) × 1 CPU(s)" in message
    assert f"partition cpu offers 1 node(s) with {ranks - 1} CPUs" in message
    assert "--overcommit" in message  # what to do about it
    assert slurm_cluster.job(job_id)["JobState"] == "CANCELLED"
    assert (project / "Class2D/job001/RELION_JOB_EXIT_FAILURE").exists()
    assert "can never start, cancelled" in (project / "Class2D/job001/run.err").read_text()


def test_a_job_on_a_partition_with_no_usable_node_stops_after_the_grace(slurm_cluster, project):
    slurm_cluster.run("scontrol", "update", "nodename=localhost", "state=drain", "reason=py2rely-test")
    try:
        runner = make_runner(project, None, unavailable_grace=1)
        with pytest.raises(JobFailed) as raised:
            runner.run(PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask"))
    finally:
        slurm_cluster.run("scontrol", "update", "nodename=localhost", "state=resume")
    message = str(raised.value)
    assert "can never start: " in message and "no node of the partition has taken jobs for 1 s" in message
    assert "1 node(s) with" in message and "drained" in message
    assert slurm_cluster.job(slurm_id(project, "MaskCreate/job001/"))["JobState"] == "CANCELLED"


def test_a_job_waiting_for_resources_shows_why_and_runs_when_they_free(slurm_cluster, project, tmp_path):
    blocker = slurm_cluster.run("sbatch", "--parsable", f"--ntasks={node_cpus(slurm_cluster)}",
                                f"--output={tmp_path}/blocker.out", "--wrap", "sleep 300").strip()
    err = tmp_path / "driver.err"
    try:
        wait_for(lambda: slurm_cluster.state(blocker) == "RUNNING", 60, "the blocker to run")
        driver = slurm_driver(project, [("relion.maskcreate", MASK_OPTIONS)], BASE_SETTINGS)
        with open(err, "w") as errors:
            process = subprocess.Popen(driver, env=slurm_cluster.env(), stdout=subprocess.PIPE,
                                       stderr=errors, text=True, preexec_fn=default_signals)
        try:
            wait_for(lambda: "reason=Resources" in err.read_text(), 60, "the progress line with the reason")
            status = py2rely("status", "--project-dir", str(project), cwd=project, cluster=slurm_cluster)
            [row] = [line for line in status.stdout.splitlines() if line.startswith("MaskCreate/job001/")]
            assert "Pending" in row and row.rstrip().endswith("Resources"), status.stdout
            assert process.poll() is None  # a reason that means "wait" keeps it waiting
            slurm_cluster.run("scancel", blocker)
            out, _ = process.communicate(timeout=120)
        finally:
            process.kill()
    finally:
        slurm_cluster.run("scancel", blocker, check=False)
    assert process.returncode == 0, err.read_text()[-2000:]
    assert out.split() == ["MaskCreate/job001/", "Succeeded", "False"]
    states = re.findall(r"state=(\w+)", err.read_text())
    # Polling can miss a short RUNNING; the job must have waited first and ended completed.
    assert states[0] == "PENDING" and states[-1] == "COMPLETED", states


def py2rely(*args: str, cwd: Path, cluster: SlurmCluster, timeout: float = 900
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from py2rely_core.cli import main; main()", *args],
                          cwd=cwd, env=cluster.env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.mark.slow
def test_the_sta_pipeline_at_bin_4_runs_through_slurm(slurm_cluster, tmp_path, relion_runtime):
    if "simulate" not in py2rely("--help", cwd=tmp_path, cluster=slurm_cluster).stdout:
        pytest.skip("needs `py2rely simulate` (the simulate plugin) for its dataset")
    project = tmp_path / "project"
    project.mkdir()
    # A small dataset (one tilt series, 21 tilts, 30 particles): this test is about SLURM, and
    # Refine3D's cost grows with particles × tilts.
    simulated = py2rely("simulate", "-o", "demo", "--tilt-series", "1", "--particles", "30",
                        "--tilt-step", "6", cwd=project, cluster=slurm_cluster)
    assert simulated.returncode == 0, simulated.stderr
    prepared = py2rely("prepare", "relion5-parameters", "-o", "sta.json", "-ts", "demo/tomograms.star",
                       "-p", "demo/particles.star", "-ps", "2.5", "-pd", "160", "-bs", "1.5", "-bl", "4",
                       "-nj", "1", "-np", "3", cwd=project, cluster=slurm_cluster)
    assert prepared.returncode == 0, prepared.stderr
    sta = ["pipelines", "sta", "-p", "sta.json", "--executor", "slurm",
           "--executor-setting", "poll_interval=0.5", "--executor-setting", f"mpi_launcher={MPI_LAUNCHER}",
           "--executor-setting", "gpu_partition=gpu", "--executor-setting", "cpu_partition=cpu"]

    # --dry-run prints every script it would submit and submits nothing.
    before = slurm_cluster.job_ids()
    planned = py2rely(*sta, "--dry-run", cwd=project, cluster=slurm_cluster)
    assert planned.returncode == 0, planned.stderr
    assert "#SBATCH --job-name=Refine3D_job003" in planned.stdout
    assert "#SBATCH --partition=gpu" in planned.stdout and "#SBATCH --ntasks=3" in planned.stdout
    assert slurm_cluster.job_ids() == before

    started = time.monotonic()
    run = py2rely(*sta, cwd=project, cluster=slurm_cluster, timeout=3600)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Final resolution" in run.stdout, run.stdout
    job_dirs = sorted((p.parent for p in project.glob("*/job*/py2rely_slurm_job.json")),
                      key=lambda d: int(d.name[3:]))
    assert [d.parent.name for d in job_dirs][:3] == ["Extract", "Reconstruct", "Refine3D"], job_dirs
    for job_dir in job_dirs:
        record = slurm_cluster.job(slurm_id(project, f"{job_dir.relative_to(project)}/"))
        kind = "gpu" if job_dir.parent.name in ("Refine3D", "Class3D", "InitialModel") else "cpu"
        assert (record["JobState"], record["Partition"]) == ("COMPLETED", kind), job_dir
        assert (job_dir / "RELION_JOB_EXIT_SUCCESS").exists() and (job_dir / SCRIPT_NAME).exists()
    print(f"STA at bin 4 through SLURM: {len(job_dirs)} jobs in {elapsed:.0f} s")

    # A rerun reuses every job and submits nothing.
    submitted = slurm_cluster.job_ids()
    again = py2rely(*sta, cwd=project, cluster=slurm_cluster)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "slurm job submitted" not in again.stderr
    assert slurm_cluster.job_ids() == submitted
