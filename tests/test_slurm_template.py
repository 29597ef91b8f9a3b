"""The `slurm` executor without a cluster: settings validation, sbatch template rendering (what
`--dry-run --executor slurm` prints) and the mapping of final states and markers to outcomes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from py2rely_core.errors import ParameterError
from py2rely_core.interfaces import Command, RunnableJob
from py2rely_core.plugins import get_plugins
from py2rely_core.settings import executor_settings, parse_setting_overrides
from py2rely_plugins.executors.slurm_settings import SETTING_NAMES, parse_settings
from py2rely_plugins.executors.slurm_template import PLACEHOLDERS, render_sbatch_script, template_text
from tests.cli_helpers import run_py2rely


def refine_job(**changes) -> RunnableJob:
    fields = dict(project_dir="/data/my project", job_dir="Refine3D/job005/", name="Refine3D_job005",
                  commands=(Command("relion_refine_mpi", ("--o", "Refine3D/job005/run"), mpi_ranks=3,
                                    threads=4),),
                  resource="gpu", stage="refine3d", setup_lines=('export PATH="/relion/bin:$PATH"',))
    fields.update(changes)
    return RunnableJob(**fields)


def script_for(job: RunnableJob, **settings) -> str:
    return get_plugins().get("executors", "slurm").create(settings).describe(job)


def sbatch_lines(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def test_the_slurm_executor_is_registered_next_to_local():
    executors = get_plugins().registry("executors")
    assert {"local", "slurm"} <= set(executors)


def test_a_gpu_job_gets_its_partition_gpus_time_and_one_task_per_rank():
    script = script_for(refine_job(), gpu_partition="gpu", cpu_partition="cpu", gpus_per_job=2,
                        gpu_time_limit="2-00:00:00", cpu_time_limit="4:00:00", account="lab",
                        qos="normal", mem="64G", constraint="a100|h100",
                        extra_sbatch_lines=["--exclusive", "#SBATCH --mail-type=FAIL"])
    assert script.startswith("#!/bin/bash\n#SBATCH --job-name=Refine3D_job005\n")
    assert sbatch_lines(script) == [
        "#SBATCH --job-name=Refine3D_job005",
        '#SBATCH --chdir="/data/my project"',
        '#SBATCH --output="/data/my project/Refine3D/job005/run.out"',
        '#SBATCH --error="/data/my project/Refine3D/job005/run.err"',
        "#SBATCH --open-mode=append",
        "#SBATCH --partition=gpu",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=3",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=2-00:00:00",
        "#SBATCH --account=lab",
        "#SBATCH --qos=normal",
        "#SBATCH --gres=gpu:2",
        "#SBATCH --mem=64G",
        "#SBATCH --constraint=a100|h100",
        "#SBATCH --no-requeue",
        "#SBATCH --exclusive",
        "#SBATCH --mail-type=FAIL",
    ]
    # The MPI program is launched inside the allocation with as many ranks as tasks asked for.
    assert "\nmpirun -n 3 relion_refine_mpi --o Refine3D/job005/run >> Refine3D/job005/run.out" in script
    # sbatch stops reading directives at the first command: none may come after one.
    first_command = next(i for i, line in enumerate(script.splitlines()[1:], 1)
                         if line.strip() and not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in script.splitlines()[first_command:])


def test_a_cpu_job_gets_the_cpu_partition_and_never_gpus():
    job = refine_job(resource="cpu", commands=(Command("relion_mask_create", ("--j", "2"), threads=2),))
    lines = sbatch_lines(script_for(job, gpu_partition="gpu", cpu_partition="cpu", gpus_per_job=4,
                                    cpu_time_limit="30"))
    assert "#SBATCH --partition=cpu" in lines and "#SBATCH --time=30" in lines
    assert "#SBATCH --ntasks=1" in lines and "#SBATCH --cpus-per-task=2" in lines
    assert not any("gres" in line for line in lines)


def test_unset_settings_leave_their_lines_out():
    lines = sbatch_lines(script_for(refine_job()))
    for option in ("--partition", "--time", "--account", "--qos", "--gres", "--mem", "--constraint"):
        assert not any(option in line for line in lines), option
    assert "#SBATCH --gres=gpu:0" not in lines  # 0 GPUs is allowed and asks for none


def test_srun_launches_ranks_with_the_configured_pmi():
    script = script_for(refine_job(), mpi_launcher="srun", srun_mpi="pmi2")
    assert "\nsrun --mpi=pmi2 -n 3 relion_refine_mpi " in script
    assert "#SBATCH --ntasks=3" in script
    assert "--nodes" not in script  # srun places ranks on as many nodes as SLURM gives


def test_an_mpirun_job_stays_on_one_node_unless_told_otherwise():
    """mpirun (the embedded runtime's, or any started in the batch script) starts its ranks on the
    batch node: 3 tasks must not be spread over two nodes of 2 CPUs (issue 12)."""
    assert "#SBATCH --nodes=1" in sbatch_lines(script_for(refine_job()))
    assert "#SBATCH --nodes=2" in sbatch_lines(script_for(refine_job(), nodes=2))


@pytest.mark.parametrize(("reason", "never"), [
    ("PartitionConfig", True), ("PartitionNodeLimit", True), ("PartitionTimeLimit", True),
    ("BadConstraints", True), ("InvalidAccount", True), ("InvalidQOS", True),
    ("QOSMaxWallDurationPerJobLimit", True), ("QOSMaxCpuPerJobLimit", True), ("QOSMinGRES", True),
    ("Priority", False), ("Resources", False), ("QOSMaxJobsPerUserLimit", False),
    ("QOSGrpCpuLimit", False), ("AssocGrpCPUMinutesLimit", False), ("JobHeldUser", False),
    ("BeginTime", False), ("Dependency", False), ("None", False),
    # Unavailable nodes wait for unavailable_grace first (a failed node may come back).
    ("ReqNodeNotAvail, UnavailableNodes:n1", False),
    ("Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions", False),
])
def test_pending_reasons_that_mean_never_and_those_that_mean_wait(reason, never):
    from py2rely_plugins.executors.slurm_pending import never_reason

    assert bool(never_reason(reason)) == never


def test_site_setup_lines_run_before_the_runtime_lines():
    script = script_for(refine_job(), setup_lines=["module load relion/5.0", "source /site/env.sh"])
    body = script.split("\n{\n", 1)[1].split("\n}", 1)[0].splitlines()
    assert [line.strip() for line in body] == ["module load relion/5.0", "source /site/env.sh",
                                                'export PATH="/relion/bin:$PATH"']


def test_the_rendered_script_is_valid_bash():
    script = script_for(refine_job(), setup_lines=["module load relion/5.0"], account="my lab")
    result = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr


def test_a_user_template_replaces_the_bundled_one(tmp_path):
    template = tmp_path / "site.sbatch"
    template.write_text("## our cluster wants a reservation and its own log names\n"
                        "#SBATCH -J py2rely-{job_name}\n#SBATCH -p {partition}\n#SBATCH -n {ntasks}\n"
                        "#SBATCH --reservation=cryo\n#SBATCH --comment=py2rely-${SLURM_JOB_ID}\n")
    lines = sbatch_lines(script_for(refine_job(), template=str(template), gpu_partition="a100"))
    assert lines == ["#SBATCH -J py2rely-Refine3D_job005", "#SBATCH -p a100", "#SBATCH -n 3",
                     "#SBATCH --reservation=cryo", "#SBATCH --comment=py2rely-${SLURM_JOB_ID}"]


def test_an_unknown_placeholder_is_refused_when_the_executor_is_created(tmp_path):
    template = tmp_path / "site.sbatch"
    template.write_text("#SBATCH -p {partition}\n#SBATCH -A {acount}\n")
    with pytest.raises(ParameterError, match=rf"^{template}:2: unknown placeholder {{acount}} "
                                             r"\(expected one of \{job_name\}, "):
        get_plugins().get("executors", "slurm").create({"template": str(template)})


def test_every_placeholder_is_documented_and_filled():
    text, _ = template_text(parse_settings({}))
    settings = parse_settings({"gpus_per_job": 1, "account": "a", "qos": "q", "mem": "1G",
                               "constraint": "c", "gpu_time_limit": "1", "gpu_partition": "p",
                               "extra_sbatch_lines": ["--x"]})
    full = "\n".join(f"#SBATCH --{name}={{{name}}}" for name in PLACEHOLDERS)
    header = render_sbatch_script(refine_job(), settings, (full, "all.sbatch"))
    assert len(sbatch_lines(header)) == len(PLACEHOLDERS)
    docs = (Path(__file__).parents[1] / "docs" / "executors.md").read_text()
    for name in (*PLACEHOLDERS, *SETTING_NAMES):
        assert f"`{{{name}}}`" in docs or f"`{name}`" in docs, name
    assert "{partition}" in text


@pytest.mark.parametrize(("settings", "message"), [
    ({"gpus_per_job": -1}, "executors.slurm.gpus_per_job: is -1 (expected an integer ≥ 0)"),
    ({"gpus_per_job": "two"}, "executors.slurm.gpus_per_job: is 'two' (expected an integer ≥ 0)"),
    ({"cpu_time_limit": "2h"},
     "executors.slurm.cpu_time_limit: is '2h' (expected an sbatch time such as 60, 2:00:00 or 1-12:00:00)"),
    ({"mem": "lots"}, "executors.slurm.mem: is 'lots' (expected a size such as 16G or 64000M)"),
    ({"gpu_partition": "gpu a100"},
     "executors.slurm.gpu_partition: is 'gpu a100' (expected a partition name such as 'gpu')"),
    ({"account": "lab\nrm -rf /"}, "executors.slurm.account: contains a line break (expected a single line)"),
    ({"mpi_launcher": "mpiexec"},
     "executors.slurm.mpi_launcher: is 'mpiexec' "
     "(expected 'srun', 'mpirun' or a command containing {ranks})"),
    ({"poll_interval": 0}, "executors.slurm.poll_interval: is 0 (expected a number of seconds > 0)"),
    ({"retries": 1.5}, "executors.slurm.retries: is 1.5 (expected an integer ≥ 0)"),
    ({"extra_sbatch_lines": ["module load x"]},
     "executors.slurm.extra_sbatch_lines: has 'module load x' (expected sbatch options such as "
     "'--exclusive' or '#SBATCH --exclusive' (put shell commands in setup_lines))"),
    ({"template": "/no/such.sbatch"},
     "executors.slurm.template: /no/such.sbatch does not exist "
     "(expected the path of an sbatch template file)"),
    ({"partition": "gpu"}, "executors.slurm.partition: is not a setting of the slurm executor "
                           "(expected one of cpu_partition, gpu_partition, account, qos, "
                           "cpu_time_limit, gpu_time_limit, gpus_per_job, cpus_per_task, mem, "
                           "constraint, extra_sbatch_lines, setup_lines, mpi_launcher, srun_mpi, "
                           "poll_interval, retries, template, nodes, unavailable_grace)"),
])
def test_a_bad_setting_is_one_line_naming_the_key(settings, message):
    with pytest.raises(ParameterError) as raised:
        parse_settings(settings)
    assert str(raised.value) == message
    assert "\n" not in str(raised.value)


def test_command_line_overrides_win_over_the_parameter_file_and_are_validated():
    from_file = {"slurm": {"gpu_partition": "gpu", "gpus_per_job": 4, "poll_interval": 10}}
    overrides = parse_setting_overrides(["gpus_per_job=2", "poll_interval=0.5", "cpu_time_limit=02:00:00",
                                         'setup_lines=["module load relion/5.0"]'])
    settings = parse_settings(executor_settings(from_file, "slurm", overrides))
    assert (settings.gpu_partition, settings.gpus_per_job, settings.poll_interval) == ("gpu", 2, 0.5)
    assert settings.cpu_time_limit == "02:00:00"
    assert settings.setup_lines == ("module load relion/5.0",)
    with pytest.raises(ParameterError, match=r"executors\.slurm\.gpus_per_job: is 'many'"):
        parse_settings(executor_settings(from_file, "slurm", parse_setting_overrides(["gpus_per_job=many"])))


@pytest.mark.parametrize(("state", "markers", "status", "detail"), [
    ("COMPLETED", ["RELION_JOB_EXIT_SUCCESS"], "Succeeded", "SLURM job 42 ended COMPLETED (exit code 0:0)"),
    ("COMPLETED", [], "Failed",
     "SLURM job 42 ended COMPLETED (exit code 0:0), but it left no RELION exit marker"),
    ("OUT_OF_MEMORY", [], "Failed", "SLURM job 42 ended OUT_OF_MEMORY (exit code 0:125)"),
    ("BOOT_FAIL", [], "Failed", "SLURM job 42 ended BOOT_FAIL (exit code 0:0)"),
    ("DEADLINE", [], "Failed", "SLURM job 42 ended DEADLINE (exit code 0:0)"),
    ("PREEMPTED", ["RELION_JOB_EXIT_FAILURE"], "Failed", "SLURM job 42 ended PREEMPTED (exit code 0:15)"),
    ("CANCELLED", ["RELION_JOB_EXIT_ABORTED"], "Aborted", "SLURM job 42 ended CANCELLED (exit code 0:15)"),
    (None, ["RELION_JOB_EXIT_SUCCESS"], "Succeeded", "SLURM job 42 (no longer known to SLURM)"),
    (None, [], "Failed", "SLURM job 42 (no longer known to SLURM), but it left no RELION exit marker"),
])
def test_final_states_and_markers_decide_the_outcome(tmp_path, state, markers, status, detail):
    """The mapping from a final record (scontrol/sacct, or none once purged) and the job dir's
    markers to the outcome the runner reports; the records themselves come from the real cluster
    in test_slurm.py."""
    from py2rely_plugins.executors.slurm import SlurmExecutor, SlurmHandle
    from py2rely_plugins.executors.slurm_client import JobInfo

    (tmp_path / "Job/job001").mkdir(parents=True)
    for marker in markers:
        (tmp_path / "Job/job001" / marker).touch()
    codes = {"OUT_OF_MEMORY": "0:125", "PREEMPTED": "0:15", "CANCELLED": "0:15"}
    info = JobInfo("42", state, codes.get(state, "0:0")) if state else None
    executor = SlurmExecutor(parse_settings({}))
    outcome = executor._outcome(SlurmHandle("Job/job001/", str(tmp_path), "42", ["42"]), info)
    assert (outcome.status, outcome.detail) == (status, detail)


def test_the_demo_dry_run_prints_the_sbatch_script_of_every_job(tmp_path):
    result = run_py2rely("demo", "-o", str(tmp_path / "demo"), "-bl", "4", "--executor", "slurm",
                         "--executor-setting", "gpu_partition=gpu", "--executor-setting", "cpu_time_limit=30",
                         "--dry-run")
    assert result.returncode == 0, result.stderr
    jobs = [line.split()[0] for line in result.stdout.splitlines() if "/job0" in line.split(" ")[0]]
    assert jobs[:3] == ["Extract/job001/", "Reconstruct/job002/", "Refine3D/job003/"]
    assert result.stdout.count("#!/bin/bash") == len(jobs)
    assert result.stdout.count("#SBATCH --partition=gpu") == 1  # the refinement only
    assert result.stdout.count("#SBATCH --time=30") == len(jobs) - 1
    assert not (tmp_path / "demo" / "project" / "Extract").exists()  # nothing ran
