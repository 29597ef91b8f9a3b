"""What the single-job commands share: their run options, finding their inputs, and running
their jobs through the project's job runner (validation first, reuse on rerun, a failed job
stops with exit code 5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError
from py2rely_core.interfaces import JobResult, PlannedJob
from py2rely_plugins.relion5.routines.jobs import refine_ranks
from py2rely_plugins.relion5.sta.legacy_cluster import LegacyCluster
from py2rely_plugins.relion5.sta.params import Compute, Parameters, load_parameters
from py2rely_plugins.relion5.sta.session import ComputeRequest, Session, open_session
from py2rely_plugins.relion5.user_inputs import project_path, tomograms_beside

Run = Callable[[PlannedJob], JobResult]


def typed(ctx: click.Context, name: str) -> bool:
    """Whether the user wrote this option (rather than click filling in its default)."""
    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)


def run_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--executor, --executor-setting, --dry-run, --project-dir."""
    options = [
        click.option("--executor", default="local", show_default=True,
                     help="Executor that runs the job (local, slurm or a plugin's)."),
        click.option("--executor-setting", "executor_settings_", multiple=True, metavar="KEY=VALUE",
                     help="One executor setting (repeatable; see docs/executors.md)."),
        click.option("--dry-run", is_flag=True, help="Print the job and its command (or sbatch script); "
                     "run nothing."),
        click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
                     help="RELION project directory (0.7.1 used the current directory)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def command(group: click.Group, name: str, help_text: str) -> Callable[..., Any]:
    return group.command(name, context_settings=CONTEXT_SETTINGS, help=help_text, no_args_is_help=True)


def project_root(ctx: click.Context) -> Path:
    return Path(ctx.params.get("project_dir") or ".").resolve()


def optional_parameters(path: str | None, root: Path) -> Parameters | None:
    if not path:
        return None
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = root / candidate
    return load_parameters(candidate).model_copy(deep=True)


def file_in_project(path: str | None, root: Path, option: str) -> str | None:
    return project_path(path, root, option) if path else None


def tomograms_for(given: str | None, default_unused: bool, params: Parameters | None, particles: str,
                  root: Path, option: str) -> str:
    """The tomograms STAR: the option (when written, or its default when that file exists), the
    parameter file's, or the one the optimisation set next to the particles names."""
    if given and (not default_unused or (root / given).exists() or Path(given).exists()):
        return project_path(given, root, option)
    if params is not None:
        return params.inputs.tilt_series
    beside = tomograms_beside(particles, root)
    if beside:
        return beside
    raise InputError(option, "not given, and neither --parameter nor an optimisation set next to the "
                     "particles names one", "the tomograms STAR (e.g. aligned_tilt_series.star)")


def compute_for(params: Parameters | None, threads: int, processes: int, ctx: click.Context,
                threads_option: str = "nthreads", processes_option: str = "nprocesses") -> Compute:
    """The parameter file's compute settings with -j/-np where typed, or 0.7.1's flags alone."""
    if params is None:
        ranks = max(processes, 1)
        return Compute(threads=threads, processes=ranks, mpi_ranks=ranks,
                       refine_mpi_ranks=refine_ranks(ranks))
    compute = params.compute
    if typed(ctx, threads_option):
        compute.threads = threads
    if typed(ctx, processes_option):
        compute.mpi_ranks = max(processes, 1)
    return compute


def check_box(box: int, crop: int | None, option: str = "--boxsize") -> None:
    if box < 16 or box % 2:
        raise InputError(option, f"{box}", "an even box of at least 16 pixels")
    if crop is not None and (crop < 16 or crop % 2 or crop > box):
        raise InputError("--cropsize", f"{crop} with --boxsize {box}",
                         "an even size of at least 16, not larger than the box")


def compute_request(ctx: click.Context, gpu: bool | None = None, gpu_ids: tuple[str, ...] = (),
                    legacy: LegacyCluster | None = None) -> ComputeRequest:
    """The run options of a command (see ``run_options``) as a ComputeRequest."""
    values = ctx.params
    return ComputeRequest(
        project_dir=values.get("project_dir") or ".", executor=values.get("executor", "local"),
        executor_typed=typed(ctx, "executor"), executor_settings=tuple(values.get("executor_settings_", ())),
        dry_run=bool(values.get("dry_run")), gpu=gpu, gpu_ids=gpu_ids, legacy=legacy or LegacyCluster())


def run_jobs(ctx: click.Context, compute: Compute, params: Parameters | None,
             plan: Callable[[Run, Session], str], gpu: bool | None = None,
             gpu_ids: tuple[str, ...] = ()) -> None:
    """Open the project, run what ``plan`` asks for, and print each job and ``plan``'s summary."""
    request = compute_request(ctx, gpu, gpu_ids)
    session = open_session(compute, params.executors if params else {}, request)
    if request.dry_run:
        click.echo(f"Plan for {session.project.root} (nothing is run):")
    with session.driving():
        summary = plan(session.runner.run, session)
    if request.dry_run:
        return
    for planned, result in session.runner.results:
        outcome = "reused" if result.reused else result.status.lower()
        click.echo(f"{result.job_dir}  {planned.stage}: {outcome}")
    if summary:
        click.echo(summary)
