"""What every command that runs RELION jobs in a project sets up the same way: the executor and
its settings (with py2rely 0.7.1's cluster flags), the GPU choice, the RELION runtime, the
project and its job runner. Used by `pipelines sta|bin1|polish`, the `routines` and
`export class2star`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from py2rely_core import log
from py2rely_core.errors import RuntimeNotFound
from py2rely_core.plugins import Plugins, get_plugins
from py2rely_core.project import Project
from py2rely_core.runner import JobRunner
from py2rely_core.settings import parse_setting_overrides
from py2rely_plugins.relion5 import runtime as rt
from py2rely_plugins.relion5.gpu import GpuChoice, choose_gpus, parse_gpu_ids
from py2rely_plugins.relion5.sta.legacy_cluster import LegacyCluster, announce, merge_settings
from py2rely_plugins.relion5.sta.params import Compute
from py2rely_plugins.relion5.versions import ReleaseChoice, choose_release, job_types_for

SLURM = "slurm"


@dataclass
class ComputeRequest:
    """Where and how the jobs of one command run."""

    project_dir: str = "."
    executor: str = "local"
    executor_typed: bool = False  # --executor was written (so -s True cannot override it)
    executor_settings: tuple[str, ...] = ()
    dry_run: bool = False
    gpu: bool | None = None  # --gpu / --no-gpu / -g; None = decide (docs/gpu.md)
    gpu_ids: tuple[str, ...] = ()
    legacy: LegacyCluster = field(default_factory=LegacyCluster)


@dataclass
class Session:
    project: Project
    runner: JobRunner
    executor: str
    gpu: GpuChoice
    runtime: rt.Runtime | None
    release: ReleaseChoice  # the RELION release whose job option names the job.star files use

    @contextlib.contextmanager
    def driving(self) -> Iterator[None]:
        """The project's driver lock (none in a dry run, which writes nothing)."""
        if self.runner.dry_run:
            yield
            return
        with self.project.driver_lock():
            yield


def executor_settings_for(name: str, configured: dict[str, dict[str, Any]], request: ComputeRequest
                          ) -> dict[str, Any]:
    """0.7.1's defaults < parameter file < 0.7.1 flags typed < --executor-setting."""
    overrides = parse_setting_overrides(request.executor_settings)
    legacy = request.legacy
    if name != SLURM:
        return merge_settings(configured.get(name, {}), overrides)
    return merge_settings(legacy.defaults(), configured.get(name, {}), legacy.overrides(), overrides)


def apply_gpu_choice(compute: Compute, settings: dict[str, Any], executor: str, request: ComputeRequest
                     ) -> GpuChoice:
    """Decide GPUs, write the choice into ``compute`` (the run's copy of the parameter file) and,
    on SLURM, into the number of GPUs each GPU job asks for."""
    count = request.legacy.gpu_count()
    gpus_per_job = int(settings.get("gpus_per_job", 0) or 0)
    choice = choose_gpus(request.gpu, compute.use_gpu, executor, gpus_per_job,
                         parse_gpu_ids(request.gpu_ids))
    choice.apply(compute)
    if choice.enabled and count:
        compute.refine_mpi_ranks = count + 1
    if executor == SLURM:
        if not choice.enabled:
            settings["gpus_per_job"] = 0
        elif gpus_per_job == 0:
            settings["gpus_per_job"] = count or compute.refine_mpi_ranks - 1
    return choice


def open_session(compute: Compute, executors: dict[str, dict[str, Any]], request: ComputeRequest,
                 plugins: Plugins | None = None) -> Session:
    """The runner for a command; ``compute`` is changed in place by the GPU choice."""
    plugins = plugins or get_plugins()
    logger = log.get_logger("py2rely.session")
    name = request.legacy.executor(request.executor, request.executor_typed)
    announce(request.legacy.notes())
    if name != SLURM:
        ignored = sorted(request.legacy.typed & {"gpu_constraint", "cpu_constraint", "timeout"})
        for flag in ignored:
            logger.warning("flag has no effect without SLURM", flag=flag.replace("_", "-"), executor=name)
    settings = executor_settings_for(name, executors, request)
    gpu = apply_gpu_choice(compute, settings, name, request)
    executor = plugins.get("executors", name).create(settings)
    runtime, version = _runtime(compute.setup_lines, request.dry_run)
    release = choose_release(version)
    check = getattr(executor, "check", None)  # optional: can this executor run jobs here?
    if runtime is not None and check is not None and not request.dry_run:
        check(runtime.job_setup_lines())
    project = Project(Path(request.project_dir).resolve())
    runner = JobRunner(project, executor, job_types_for(plugins.registry("job_types"), release.release),
                       hook=plugins.hook, setup_lines=runtime.job_setup_lines() if runtime else (),
                       dry_run=request.dry_run, echo=click.echo, executor_name=name)
    logger.info("compute", executor=name, gpus=f"{'on' if gpu.enabled else 'off'} ({gpu.reason})",
                relion=runtime.describe() if runtime else "not found (dry run)",
                job_options=release.describe())
    return Session(project=project, runner=runner, executor=name, gpu=gpu, runtime=runtime,
                   release=release)


def _runtime(setup_lines: list[str], dry_run: bool) -> tuple[rt.Runtime | None, str | None]:
    """The RELION that runs the jobs and its version; (None, None) in a dry run without one."""
    try:
        runtime = rt.require(setup_lines)
        return runtime, rt.version_or_error(runtime)
    except RuntimeNotFound:
        if dry_run:
            return None, None
        raise
