"""``py2rely prepare relion5-pipeline``: an sbatch script that runs the STA pipeline driver on SLURM.

The driver (``py2rely pipelines sta``) submits every RELION job itself; this script only puts the
driver into a long CPU job of its own, as py2rely 0.7.1's ``pipeline.sh`` did. Its ``#SBATCH``
header comes from the ``slurm`` executor (the parameter file's ``executors.slurm`` settings with the
``--executor-setting`` overrides, and its template), asked through the executor registry like any
job: the driver is described as a one-command CPU job whose directory, ``py2rely_pipeline/``, holds
its log (``run.out``, ``run.err``) and RELION's exit marker of the driver itself.

The command it runs is the one 0.7.1 wrote, flag for flag (``--submitit True --timeout 48
--cpu-constraint 4,16 --num-gpus 4`` ...), so that a script made by either version means the same.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import click

from py2rely_core import atomic, log
from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError
from py2rely_core.interfaces import Command, RunnableJob

DRIVER_DIR = "py2rely_pipeline/"
JOB_NAME = "rln5"  # py2rely 0.7.1's job name for the driver
EXECUTOR = "slurm"


def _value_bool(*names: str, help: str, default: bool = False) -> click.Option:
    """py2rely 0.7.1's bool options take a value (``-dg True``); a bare flag works too."""
    return click.option(*names, type=click.BOOL, default=default, is_flag=False, flag_value=True,
                        show_default=True, metavar="BOOL", help=help)


def _cpu_constraint(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = value.replace(" ", "").split(",")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise click.BadParameter(f"{value!r}: CPUs and GB per CPU, two positive integers such as 4,16")
    return ",".join(parts)


def _gpu_constraint(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (not value.strip() or any(c in value for c in "\n\r\"'")):
        raise click.BadParameter(f"{value!r}: a SLURM feature such as a100, or a100|h100")
    return value


def py2rely_program() -> str:
    """The py2rely of this installation, by absolute path: the job runs the same py2rely (the
    cluster's nodes see the same file system) without depending on the job's PATH."""
    beside = Path(sys.executable).with_name("py2rely")
    if beside.is_file():
        return str(beside)
    return shutil.which("py2rely") or "py2rely"


def sta_arguments(
    parameter: str, reference_template: str | None, run_denovo_generation: bool, run_class3d: bool,
    class_selection: str, extract3d: bool, manual_masking: bool, timeout: int, cpu_constraint: str,
    num_gpus: int, gpu_constraint: str | None, executor_settings: tuple[str, ...],
) -> list[str]:
    """The arguments of `pipelines sta`, in py2rely 0.7.1's order and spelling."""
    words = ["pipelines", "sta", "--parameter", parameter]
    if run_denovo_generation:
        words += ["--run-denovo-generation", "True"]
    elif reference_template:
        words += ["--reference-template", reference_template]
    if run_class3d:
        words += ["--run-class3D", "True", "--class-selection", class_selection]
    if extract3d:
        words += ["--extract3D", "True"]
    if manual_masking:
        words += ["--manual-masking", "True"]
    words += ["--submitit", "True", "--timeout", str(timeout), "--cpu-constraint", cpu_constraint,
              "--num-gpus", str(num_gpus)]
    if gpu_constraint:
        words += ["--gpu-constraint", gpu_constraint]
    for setting in executor_settings:
        words += ["--executor-setting", setting]
    return words


def unknown_sta_options(ctx: click.Context, words: list[str]) -> list[str]:
    """Options of the driver's command line that the installed `pipelines sta` does not have."""
    sta = ctx.find_root().command.commands["pipelines"].commands.get("sta")  # type: ignore[attr-defined]
    known = {opt for param in (sta.params if sta else []) for opt in param.opts}
    return [w for w in words if w.startswith("--") and w not in known]


@click.command("relion5-pipeline", context_settings=CONTEXT_SETTINGS)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              type=click.Path(dir_okay=False), help="Parameter JSON file (prepare relion5-parameters).")
@click.option("-rt", "--reference-template", default=None, type=click.Path(dir_okay=False),
              help="Template for the `reference` initial model (prepare template).")
@_value_bool("-dg", "--run-denovo-generation", help="Make the first reference de novo.")
@_value_bool("-rc3d", "--run-class3D", "run_class3d",
             help="Auto-Class3D after the first refinement.")
@click.option("-cs", "--class-selection", type=click.Choice(["auto", "manual"], case_sensitive=False),
              default="auto", show_default=True, help="How classes are chosen after Class3D.")
@_value_bool("-e3d", "--extract3D", "extract3d", help="Extract 3D subtomograms instead of 2D stacks.")
@_value_bool("-mm", "--manual-masking", help="Stop for a user mask after the first refinement.")
@click.option("-ndays", "--num-days", default=14, show_default=True, type=click.IntRange(min=1),
              help="Time limit of the driver's own SLURM job, in days.")
@_value_bool("--new-pipeline", default=True,
             help="Accepted for py2rely 0.7.1 scripts; nothing is deleted (a rerun reuses the jobs "
                  "that succeeded, by their identity).")
@click.option("-ng", "--num-gpus", default=4, show_default=True, type=click.IntRange(min=0),
              help="GPUs per GPU job (passed to `pipelines sta`).")
@click.option("-gc", "--gpu-constraint", default=None, callback=_gpu_constraint,
              help="SLURM feature for GPU jobs, e.g. a100 or 'a100|h100' (passed to `pipelines sta`).")
@click.option("-cc", "--cpu-constraint", default="4,16", show_default=True, callback=_cpu_constraint,
              help="CPUs and GB per CPU of each job, e.g. 4,16 (passed to `pipelines sta`).")
@click.option("-t", "--timeout", default=48, show_default=True, type=click.IntRange(min=1),
              help="Time limit of each job, in hours (passed to `pipelines sta`).")
@click.option("--executor-setting", "executor_settings_", multiple=True, metavar="KEY=VALUE",
              help="Override one setting of the parameter file's executors.slurm, for the driver's "
                   "job and every job it submits (repeatable).")
@click.option("-o", "--output", default="pipeline.sh", show_default=True, type=click.Path(dir_okay=False),
              help="sbatch script to write.")
def relion5_pipeline(
    parameter: str, reference_template: str | None, run_denovo_generation: bool, run_class3d: bool,
    class_selection: str, extract3d: bool, manual_masking: bool, num_days: int, new_pipeline: bool,
    num_gpus: int, gpu_constraint: str | None, cpu_constraint: str, timeout: int,
    executor_settings_: tuple[str, ...], output: str,
) -> None:
    """Write an sbatch script that runs the STA pipeline driver on the cluster (submit it with sbatch)."""
    from py2rely_core.plugins import get_plugins
    from py2rely_core.settings import executor_settings, parse_setting_overrides
    from py2rely_plugins.relion5.sta.params import load_parameters

    logger = log.get_logger("prepare.relion5_pipeline")
    ctx = click.get_current_context()
    params = load_parameters(parameter)
    if reference_template and not run_denovo_generation and not Path(reference_template).is_file():
        raise InputError(f"--reference-template {reference_template}", "file not found",
                         "an MRC made with `py2rely prepare template`")
    if Path(output).resolve() == Path(parameter).resolve():
        raise InputError(f"--output {output}", "is the parameter file", "a new file")
    if ctx.get_parameter_source("new_pipeline") is click.core.ParameterSource.COMMANDLINE:
        logger.warning("--new-pipeline: nothing to delete; py2rely reuses succeeded jobs by their "
                       "identity (py2rely 0.7.1 deleted its output_directories*.json)")

    project = Path.cwd().resolve()
    overrides = parse_setting_overrides(executor_settings_)
    settings = executor_settings(params.executors, EXECUTOR, overrides)
    # The driver's own job: CPU partition, the time the user asked for it.
    driver_settings = {**settings, "cpu_time_limit": f"{num_days}-00:00:00"}
    executor = get_plugins().get("executors", EXECUTOR).create(driver_settings)
    words = sta_arguments(parameter, reference_template, run_denovo_generation, run_class3d,
                          class_selection, extract3d, manual_masking, timeout, cpu_constraint, num_gpus,
                          gpu_constraint, executor_settings_)
    driver = RunnableJob(
        project_dir=str(project), job_dir=DRIVER_DIR, name=JOB_NAME, stage="pipeline driver",
        commands=(Command(py2rely_program(), tuple(words)),), resource="cpu",
    )
    unknown = unknown_sta_options(ctx, words)
    if unknown:
        logger.warning("`pipelines sta` of this py2rely does not accept these options of the script yet; "
                       "it would stop at once", options=", ".join(unknown))
    script = executor.describe(driver)
    (project / DRIVER_DIR).mkdir(exist_ok=True)  # SLURM opens the log files there before the job runs
    atomic.write_text(output, script)
    Path(output).chmod(0o755)
    click.echo(f"wrote {output}: submit it with `sbatch {shlex.quote(output)}`; the driver's log is "
               f"{DRIVER_DIR}run.out and run.err")
    click.echo("runs: py2rely " + " ".join(shlex.quote(w) for w in words))
