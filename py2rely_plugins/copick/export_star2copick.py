"""``py2rely export star2copick``: refined RELION 5 particles → copick picks, one pick set per run.

Positions are where RELION places the particles after refinement (``rlnOrigin*`` applied, rotated by
the subtomogram orientation when there is one), orientations RELION's full particle matrices; see
``geometry``. The plan is checked in full before the first pick file is written.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import click

from py2rely_core.errors import FileSystemError, InputError, Py2relyError
from py2rely_core.log import get_logger
from py2rely_plugins.copick.export_plan import ExportPlan, ExportRequest, plan_export
from py2rely_plugins.copick.export_worker import RunOutcome, available_cores, write_runs
from py2rely_plugins.copick.project import require_copick_id, split_list

MAPPING_LINES_SHOWN = 5  # per session; `--log-level debug` lists every tomogram


@dataclass(frozen=True)
class Star2CopickExport:
    """What `export star2copick` was asked for (its click options, by name)."""

    particles: str
    configs: str
    sessions: str
    particle_name: str
    export_user_id: str
    export_session_id: str
    tilt_series: str | None
    dim_x: int | None
    dim_y: int | None
    dim_z: int | None
    overwrite: bool
    skip_missing: bool
    workers: int | None
    suffix: str = ""


def export_star2copick(command: Star2CopickExport) -> None:
    logger = get_logger("export.star2copick")
    started = time.perf_counter()
    session_list, config_list = _sessions_and_configs(command.sessions, command.configs)
    request = ExportRequest(
        particles=command.particles, configs=config_list, sessions=session_list,
        object_name=command.particle_name,
        user_id=require_copick_id(command.export_user_id, "--export-user-id"),
        session_id=require_copick_id(command.export_session_id, "--export-session-id"),
        tilt_series=command.tilt_series, dims=(command.dim_x, command.dim_y, command.dim_z),
        overwrite=command.overwrite, skip_missing=command.skip_missing, suffix=command.suffix,
    )

    plan = plan_export(request)
    _report_plan(plan, logger)
    processes = min(command.workers or available_cores(), max(len(plan.tasks), 1))
    logger.info("writing picks", runs=len(plan.tasks), processes=processes,
                replacing=len(plan.replaced))
    outcomes = write_runs(plan.tasks, processes)
    _report_outcomes(plan, outcomes, request, time.perf_counter() - started)


def _sessions_and_configs(sessions: str, configs: str) -> tuple[list[str], list[str]]:
    session_list = split_list(sessions, "--sessions")
    config_list = split_list(configs, "--configs")
    repeated = [s for s, n in Counter(session_list).items() if n > 1]
    if repeated:
        raise InputError(f"--sessions {sessions}", f"session {repeated[0]!r} is given twice")
    if len(config_list) == 1:
        config_list = config_list * len(session_list)
    if len(config_list) != len(session_list):
        raise InputError(
            f"--configs {configs}", f"{len(config_list)} config files for {len(session_list)} sessions",
            "one config per session, or one for all",
        )
    return session_list, config_list


def _report_plan(plan: ExportPlan, logger: Any) -> None:
    by_session: dict[str, list[Any]] = {}
    for target in plan.targets:
        by_session.setdefault(target.session, []).append(target)
    for session, targets in by_session.items():
        shown = ", ".join(f"{t.tomogram} → {t.run}" for t in targets[:MAPPING_LINES_SHOWN])
        hidden = len(targets) - MAPPING_LINES_SHOWN
        more = f", ... ({hidden} more)" if hidden > 0 else ""
        click.echo(
            f"session {session} ({targets[0].config}): {len(targets)} tomogram(s), "
            f"{sum(t.particles for t in targets)} particles: {shown}{more}"
        )
        for t in targets:
            logger.debug("tomogram mapped", tomogram=t.tomogram, session=session, run=t.run,
                         config=t.config, particles=t.particles)
    if plan.skipped:
        listed = "; ".join(f"{s.tomogram} ({s.particles}): {s.reason}" for s in plan.skipped)
        logger.warning("particles not exported (--skip-missing)", particles=plan.skipped_particles,
                       tomograms=len(plan.skipped), details=listed)
        click.echo(
            f"warning: {plan.skipped_particles} particles in {len(plan.skipped)} tomogram(s) not "
            f"exported: {listed}", err=True,
        )


def _report_outcomes(
    plan: ExportPlan, outcomes: list[RunOutcome], request: ExportRequest, elapsed: float,
) -> None:
    failed = [o for o in outcomes if o.error]
    written = [o for o in outcomes if not o.error]
    described = f"{request.user_id}/{request.session_id}/{request.object_name}"
    click.echo(
        f"wrote picks {described} for {sum(o.particles for o in written)} particles in "
        f"{len(written)} run(s) ({len(plan.replaced)} replaced) in {elapsed:.1f} s"
        + (f"; {plan.skipped_particles} particles skipped" if plan.skipped else "")
    )
    if failed:
        first = failed[0]
        summary = f"export star2copick: {len(failed)} of {len(outcomes)} run(s) failed and keep their "
        if first.errno is not None:  # the file system said no: exit code 7, naming the file
            raise FileSystemError(first.filename or f"run {first.run} of {first.config}",
                                  first.strerror, first.errno, context=summary + "previous picks")
        raise Py2relyError(
            f"export star2copick: {len(failed)} of {len(outcomes)} run(s) failed and keep their previous "
            f"picks, e.g. run {first.run} of {first.config}: {first.error}"
        )
