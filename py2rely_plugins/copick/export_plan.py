"""What ``export star2copick`` will write, worked out and checked before anything is written.

Every check that can fail (columns, pixel sizes, tomogram sizes, session/run mapping, runs that do
not exist, pick sets that would be replaced) runs here, so that an error leaves the copick projects
untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from copick.util.formats import relion_tilt_series_pixel_sizes

from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import PIXEL_SIZE_TOLERANCE, ParticleSet, read_particles
from py2rely_plugins.copick import tomogram_sizes
from py2rely_plugins.copick.defaults import DEFAULT_SIZE
from py2rely_plugins.copick.export_worker import RunTask
from py2rely_plugins.copick.geometry import (
    ANGLE_COLUMNS,
    ORIGIN_COLUMNS,
    SUBTOMOGRAM_ANGLE_COLUMNS,
    refined_poses,
    tomogram_centre_angstrom,
)
from py2rely_plugins.copick.project import open_project, require_object
from py2rely_plugins.copick.sessions import map_tomograms


@dataclass(frozen=True)
class Target:
    """Where one tomogram's particles go."""

    tomogram: str
    session: str
    config: str
    run: str
    particles: int


@dataclass(frozen=True)
class Unexportable:
    tomogram: str
    particles: int
    reason: str


@dataclass
class ExportPlan:
    tasks: list[RunTask] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    skipped: list[Unexportable] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # existing pick files that will be replaced

    @property
    def skipped_particles(self) -> int:
        return sum(s.particles for s in self.skipped)


@dataclass(frozen=True)
class ExportRequest:
    particles: str
    configs: Sequence[str]  # one per session
    sessions: Sequence[str]
    object_name: str
    user_id: str
    session_id: str
    tilt_series: str | None
    dims: tuple[int | None, int | None, int | None]
    overwrite: bool
    skip_missing: bool
    suffix: str = ""  # appended to each run name (py2rely 0.7.1's --suffix, e.g. "_Vol")


def plan_export(request: ExportRequest) -> ExportPlan:
    particle_set = read_particles(request.particles)
    table = particle_set.particles
    _require_pose_columns(table, request.particles)
    sizes = tomogram_sizes.choose(request.tilt_series, *request.dims, default=DEFAULT_SIZE, pixel_size=None)
    if request.tilt_series is None and all(d is None for d in request.dims):
        get_logger("export.star2copick").warning(
            "no --tilt-series and no -x/-y/-z: every tomogram is taken to be py2rely 0.7.1's default "
            f"{' × '.join(map(str, DEFAULT_SIZE))} pixels; give -ts for the real sizes")

    names = table["rlnTomoName"].astype(str).to_numpy()
    codes, tomograms = pd.factorize(names)
    counts = np.bincount(codes, minlength=len(tomograms))
    index_of = {name: i for i, name in enumerate(tomograms)}
    mapping = map_tomograms(list(tomograms), request.sessions)
    plan = ExportPlan()
    for name in mapping.unmatched:
        plan.skipped.append(Unexportable(
            name, int(counts[index_of[name]]),
            f"its name starts with none of the sessions ({', '.join(request.sessions)}) and '_'",
        ))

    config_of = dict(zip(request.sessions, request.configs, strict=True))
    projects = {}
    for config in dict.fromkeys(request.configs):
        projects[config] = open_project(config, option="--configs")
        require_object(projects[config], request.object_name, config, "--particle-name")

    runs: dict[str, Any] = {}
    owners: dict[tuple[str, str], str] = {}  # (where the project writes, run) → tomogram
    for index, name in enumerate(tomograms):
        if name not in mapping.runs:
            continue
        session, run_name = mapping.runs[name]
        run_name += request.suffix
        config = config_of[session]
        run = projects[config].get_run(run_name)
        if run is None:
            plan.skipped.append(Unexportable(
                name, int(counts[index]), f"run {run_name!r} does not exist in {config}",
            ))
            continue
        # Two config files may share one overlay: what matters is where the picks would land.
        key = (str(getattr(projects[config], "root_overlay", Path(config).resolve())), run_name)
        if key in owners:
            raise InputError(
                "--sessions", f"tomograms {owners[key]!r} and {name!r} both map to run {run_name!r} "
                f"of {config}", "each run written once",
            )
        owners[key] = name
        runs[name] = run
        plan.targets.append(Target(name, session, config, run_name, int(counts[index])))

    _refuse_unexportable(plan, len(table), request.skip_missing)
    plan.replaced = _existing_pick_sets(plan.targets, runs, request)

    centres = _particle_centres(particle_set, codes, tomograms, sizes, set(runs))
    positions, rotations = refined_poses(table, centres)
    order = np.argsort(codes, kind="stable")  # particles of each tomogram together, in file order
    starts = np.concatenate([[0], np.cumsum(counts)])
    for target in plan.targets:
        k = index_of[target.tomogram]
        rows = order[starts[k]:starts[k + 1]]
        plan.tasks.append(RunTask(
            config=target.config, run=target.run, object_name=request.object_name,
            user_id=request.user_id, session_id=request.session_id,
            positions=positions[rows], rotations=rotations[rows],
        ))
    return plan


def _require_pose_columns(table: pd.DataFrame, path: str) -> None:
    missing = [c for c in ANGLE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(
            path, f"table data_particles lacks column {', '.join(missing)}",
            "RELION 5 columns " + ", ".join(ANGLE_COLUMNS),
        )
    for group in (ORIGIN_COLUMNS, SUBTOMOGRAM_ANGLE_COLUMNS):
        present = [c for c in group if c in table.columns]
        if present and len(present) != len(group):
            absent = [c for c in group if c not in present]
            raise InputError(
                path, f"table data_particles has {', '.join(present)} but lacks {', '.join(absent)}",
                "all or none of " + ", ".join(group),
            )


def _refuse_unexportable(plan: ExportPlan, total: int, skip_missing: bool) -> None:
    if not plan.skipped:
        return
    first = plan.skipped[0]
    detail = (
        f"{plan.skipped_particles} of {total} particles in {len(plan.skipped)} tomogram(s) have no "
        f"copick run, e.g. {first.tomogram!r}: {first.reason}"
    )
    if not plan.targets:
        raise InputError("--particles", f"no particle can be exported: {detail}")
    if not skip_missing:
        raise InputError("--particles", detail, "every tomogram in a run, or --skip-missing")


def _existing_pick_sets(targets: list[Target], runs: dict[str, Any], request: ExportRequest) -> list[str]:
    """Paths of the pick sets that would be replaced; refuses read-only ones, and all without --overwrite."""
    existing: list[tuple[Target, Any]] = []
    for target in targets:
        for picks in runs[target.tomogram].get_picks(
            object_name=request.object_name, user_id=request.user_id, session_id=request.session_id,
        ):
            existing.append((target, picks))
    described = f"{request.user_id}/{request.session_id}/{request.object_name}"
    for target, picks in existing:
        if getattr(picks, "read_only", False):
            raise InputError(
                f"run {target.run} of {target.config}",
                f"picks {described} exist in the project's read-only static data", "a new user or session ID",
            )
    if existing and not request.overwrite:
        target, picks = existing[0]
        more = f" (and {len(existing) - 1} more run(s))" if len(existing) > 1 else ""
        raise InputError(
            str(getattr(picks, "path", f"run {target.run} of {target.config}")),
            f"picks {described} already exist{more}", "--overwrite to replace them",
        )
    return [str(getattr(picks, "path", target.run)) for target, picks in existing]


def _particle_centres(
    particle_set: ParticleSet, codes: np.ndarray, tomograms: np.ndarray,
    sizes: tomogram_sizes.TomogramSizes, exported: set[str],
) -> np.ndarray:
    """Each particle's tomogram centre (N, 3) in Å; rows of tomograms not exported get zeros.

    RELION converts centred Å with the particle's optics-group pixel size and adds the tomogram
    centre in pixels; both pixel sizes must therefore agree for the position in Å to be defined.
    """
    table = particle_set.particles
    try:
        optics_sizes = relion_tilt_series_pixel_sizes(table, particle_set.optics)
    except ValueError as exc:
        raise InputError(str(particle_set.path), f"data_optics: {exc}") from None
    if optics_sizes is not None:
        per_tomogram = pd.Series(optics_sizes).groupby(codes)
        smallest, largest = per_tomogram.min().to_numpy(), per_tomogram.max().to_numpy()
    centres_by_tomogram = np.zeros((len(tomograms), 3))
    for k, name in enumerate(tomograms):
        if name not in exported:
            continue
        tomogram = sizes[name]
        pixel_size = tomogram.pixel_size
        if optics_sizes is None:
            if pixel_size is None:
                raise InputError(
                    str(particle_set.path), "no data_optics rlnTomoTiltSeriesPixelSize",
                    "an optics table, or --tilt-series for the pixel size",
                )
        else:
            if pixel_size is None:
                pixel_size = float(smallest[k])
            if max(abs(smallest[k] - pixel_size), abs(largest[k] - pixel_size)) > PIXEL_SIZE_TOLERANCE:
                found = sorted({float(smallest[k]), float(largest[k])})
                raise InputError(
                    str(particle_set.path),
                    f"tomogram {name!r}: data_optics rlnTomoTiltSeriesPixelSize {found} differs from "
                    f"{pixel_size:g} Å in {sizes.source}", "one tilt-series pixel size per tomogram",
                )
        centres_by_tomogram[k] = tomogram_centre_angstrom(np.array(tomogram.size), pixel_size)
    return centres_by_tomogram[codes]
