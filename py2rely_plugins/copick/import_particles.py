"""``py2rely prepare particles``: picks from a copick project → a RELION 5 particles STAR.

Each pick becomes one particle of tomogram ``{session}_{run}``: its centre (location plus the
transform's translation, copick's definition of a particle centre) minus the tomogram centre gives
``rlnCenteredCoordinateX/Y/ZAngst``, and its rotation (object → tomogram, which is RELION's particle
matrix; see ``geometry``) gives ``rlnAngleRot/Tilt/Psi``. copick's ``build_relion_particles_df`` does
both once it is given the centre computed as RELION computes it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
from copick.util.formats import build_relion_particles_df, transforms_to_points_and_rotations

from py2rely_core.atomic import refuse_existing
from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import PIXEL_SIZE_TOLERANCE, write_star
from py2rely_plugins.copick import tomogram_sizes
from py2rely_plugins.copick.defaults import DEFAULT_PIXEL_SIZE, DEFAULT_SIZE
from py2rely_plugins.copick.geometry import CENTRED_COLUMNS, improper_rotations, tomogram_centre_angstrom
from py2rely_plugins.copick.project import open_project, require_copick_id, require_object, split_list
from py2rely_plugins.copick.sessions import tomogram_name

PARTICLE_COLUMN_ORDER = (
    "rlnTomoName", *CENTRED_COLUMNS, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOpticsGroup",
)
PIXEL_COLUMNS = ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ")
PIXEL_COLUMN_ORDER = (  # --relion5 False: positions in tilt-series pixels from the tomogram's corner
    "rlnTomoName", *PIXEL_COLUMNS, "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOpticsGroup",
)


@dataclass
class PickSummary:
    """What was read, for the report: points per (user, session) and runs without picks."""

    points_by_set: Counter[tuple[str, str]] = field(default_factory=Counter)
    runs_by_set: Counter[tuple[str, str]] = field(default_factory=Counter)
    runs_without_picks: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ParticleImport:
    """What `prepare particles` was asked for (its click options, by name)."""

    config: str
    session: str
    name: str
    user_id: str | None
    session_id: str | None
    run_ids: str | None
    voxel_size: float | None
    output: str
    tilt_series: str | None
    dim_x: int | None
    dim_y: int | None
    dim_z: int | None
    pixel_size: float | None
    voltage: float
    spherical_aberration: float
    amplitude_contrast: float
    optics_group: int
    optics_group_name: str
    authors: str | None = None
    relion5: bool = True
    overwrite: bool = False


def output_path(output: str, session: str, name: str, user_id: str | None, session_id: str | None) -> str:
    """``-o`` names the STAR file, or (py2rely 0.7.1's use) the directory it goes to.

    A path ending in ``.star`` is the file; anything else is a directory, where the file is named as
    0.7.1 named it: ``{session}_[{user}_][{session-id}_]{name}.star``.
    """
    path = Path(output)
    if path.suffix.lower() == ".star" and not path.is_dir():
        return output
    if path.exists() and not path.is_dir():
        raise InputError(f"--output {output}", "is an existing file without the .star suffix",
                         "a directory, or a file name ending in .star")
    picked = "_".join(part for part in (user_id, session_id, name) if part)
    return str(path / f"{session}_{picked}.star")


def import_particles(request: ParticleImport) -> None:
    logger = get_logger("prepare.particles")
    if request.user_id is not None:
        require_copick_id(request.user_id, "--user-id")
    if request.session_id is not None:
        require_copick_id(request.session_id, "--session-id")
    output = output_path(request.output, request.session, request.name, request.user_id,
                         request.session_id)
    _refuse_overwriting_inputs(output, [request.config, request.tilt_series])
    refuse_existing(output, "--output", request.overwrite)
    sizes = tomogram_sizes.choose(
        request.tilt_series, request.dim_x, request.dim_y, request.dim_z, DEFAULT_SIZE,
        request.pixel_size if request.pixel_size is not None or request.tilt_series else DEFAULT_PIXEL_SIZE,
    )
    root = open_project(request.config)
    require_object(root, request.name, request.config, "--name")
    runs = _select_runs(root, request.config, request.run_ids, request.voxel_size, logger)
    query = author_query(root, request.authors, request.config, logger)

    summary = PickSummary()
    tables: list[pd.DataFrame] = []
    used_pixel_sizes: dict[str, float] = {}
    for run in runs:
        table = _particles_of_run(run, request.session, request.name, request.user_id,
                                  request.session_id, sizes, summary, query, request.relion5)
        if table is None:
            continue
        tomo = tomogram_name(request.session, run.name)
        used_pixel_sizes[tomo] = _pixel_size_of(sizes, tomo)
        tables.append(table)

    if not tables:
        who = ", ".join(f"{k} {v}" for k, v in (("user", request.user_id),
                                                 ("session", request.session_id)) if v)
        raise InputError(
            f"--config {request.config}",
            f"no picks of object {request.name!r}{f' ({who})' if who else ''} in "
            f"{len(runs)} run(s)", "at least one pick",
        )
    optics_pixel_size = _single_pixel_size(used_pixel_sizes, request.pixel_size, sizes.source)
    particles = pd.concat(tables, ignore_index=True)
    particles["rlnOpticsGroup"] = request.optics_group
    particles = particles[list(PARTICLE_COLUMN_ORDER if request.relion5 else PIXEL_COLUMN_ORDER)]
    optics = pd.DataFrame({
        "rlnOpticsGroup": [request.optics_group],
        "rlnOpticsGroupName": [request.optics_group_name],
        "rlnSphericalAberration": [request.spherical_aberration],
        "rlnVoltage": [request.voltage],
        "rlnAmplitudeContrast": [request.amplitude_contrast],
        "rlnTomoTiltSeriesPixelSize": [optics_pixel_size],
    })
    write_star({"optics": optics, "particles": particles}, output)
    _report(output, particles, summary, optics_pixel_size, sizes.source, logger)
    if not request.relion5:
        logger.warning("--relion5 False: positions written as rlnCoordinateX/Y/Z in tilt-series pixels "
                       "(RELION 4 style); `prepare relion5-parameters` needs centred coordinates")


def author_query(root: Any, authors: str | None, config: str, logger: Any) -> dict[str, Any]:
    """``-a``: keep only picks whose CryoET Data Portal annotation lists this author.

    Only a project read from the portal (copick's ``cryoet_data_portal`` configs) knows authors; a
    filesystem project's picks have none, so there the option cannot select anything and is
    ignored with a warning, as py2rely 0.7.1 ignored it (copick dropped the query silently).
    """
    if not authors:
        return {}
    if type(root).__name__ == "CopickRootCDP":
        return {"portal_author_query": [authors]}
    logger.warning("--authors ignored: only picks from the CryoET Data Portal have authors, and this "
                   "copick project is not a portal project", config=config, authors=authors)
    return {}


def _refuse_overwriting_inputs(output: str, inputs: list[str | None]) -> None:
    target = Path(output).resolve()
    for path in inputs:
        if path is not None and Path(path).resolve() == target:
            raise InputError(f"--output {output}", "is also an input file", "a new file")


def _select_runs(
    root: Any, config: str, run_ids: str | None, voxel_size: float | None, logger: Any,
) -> list[Any]:
    if run_ids is None:
        runs = sorted(root.runs, key=lambda r: r.name)
    else:
        runs = []
        for run_name in split_list(run_ids, "--run-ids"):
            run = root.get_run(run_name)
            if run is None:
                raise InputError(f"--run-ids {run_name}", f"no such run in {config}")
            runs.append(run)
    if not runs:
        raise InputError(f"--config {config}", "the project has no runs")
    if voxel_size is None:
        return runs
    kept = [run for run in runs if run.get_voxel_spacing(voxel_size) is not None]
    skipped = [run.name for run in runs if run.get_voxel_spacing(voxel_size) is None]
    if skipped:
        logger.warning("runs skipped: no voxel spacing of that size", voxel_size=voxel_size,
                       count=len(skipped), runs=", ".join(skipped))
    if not kept:
        raise InputError(f"--voxel-size {voxel_size:g}", f"no run in {config} has this voxel spacing")
    return kept


def _particles_of_run(
    run: Any, session: str, name: str, user_id: str | None, session_id: str | None,
    sizes: tomogram_sizes.TomogramSizes, summary: PickSummary, query: dict[str, Any],
    centred: bool,
) -> pd.DataFrame | None:
    pick_sets = run.get_picks(object_name=name, user_id=user_id, session_id=session_id, **query)
    tomo = tomogram_name(session, run.name)
    tables = []
    for picks in sorted(pick_sets, key=lambda p: (p.user_id, p.session_id)):
        points, transforms = picks.numpy()
        if len(points) == 0:
            continue
        where = f"copick picks {picks.user_id}/{picks.session_id}/{name} of run {run.name}"
        for what, values in (("location", points), ("transform", transforms)):
            finite = np.isfinite(np.asarray(values, dtype=float)).reshape(len(values), -1).all(axis=1)
            if not finite.all():
                raise InputError(where, f"point {int(np.flatnonzero(~finite)[0]) + 1}: its {what} holds "
                                 "NaN or infinite numbers", "finite coordinates and transforms")
        try:
            _, rotations = transforms_to_points_and_rotations(transforms)
        except ValueError as exc:
            raise InputError(where, f"invalid transform ({exc})") from None
        bad = improper_rotations(rotations)
        if bad.size:
            raise InputError(
                where, f"point {int(bad[0]) + 1}: the transform's 3×3 part is not a rotation",
                "an orthonormal matrix with determinant +1",
            )
        pixel_size = _pixel_size_of(sizes, tomo)
        transforms = transforms / transforms[:, 3:4, 3:4]
        if centred:
            centre = tomogram_centre_angstrom(np.array(sizes[tomo].size), pixel_size)
            table = build_relion_particles_df(points, transforms, tomo_name=tomo,
                                              tomogram_center=tuple(centre), coordinates="centered")
        else:
            table = build_relion_particles_df(points, transforms, tomo_name=tomo,
                                              tilt_series_pixel_size=pixel_size)
        tables.append(table)
        summary.points_by_set[(picks.user_id, picks.session_id)] += len(points)
        summary.runs_by_set[(picks.user_id, picks.session_id)] += 1
    if not tables:
        summary.runs_without_picks.append(run.name)
        return None
    return pd.concat(tables, ignore_index=True)


def _pixel_size_of(sizes: tomogram_sizes.TomogramSizes, tomo: str) -> float:
    """The tomogram's pixel size; ``sizes`` raises, naming the tomogram, if --tilt-series lacks it."""
    pixel_size = sizes[tomo].pixel_size
    assert pixel_size is not None, "the import always knows a pixel size (-ts, -ps or its default)"
    return pixel_size


def _single_pixel_size(used: dict[str, float], option: float | None, source: str) -> float:
    """One optics group needs one tilt-series pixel size; ``-ps`` must agree with ``-ts``."""
    values = sorted(set(used.values()))
    if max(values) - min(values) > PIXEL_SIZE_TOLERANCE:
        raise InputError(
            f"--tilt-series {source}", f"the imported tomograms have different pixel sizes ({values})",
            "one pixel size per import; import them separately and use 'prepare combine-particles'",
        )
    value = values[0]
    if option is not None and abs(option - value) > PIXEL_SIZE_TOLERANCE:
        raise InputError(
            f"--pixel-size {option:g}", f"differs from rlnTomoTiltSeriesPixelSize {value:g} in {source}",
            f"{value:g} or no --pixel-size",
        )
    return value


def _report(
    output: str, particles: pd.DataFrame, summary: PickSummary, pixel_size: float, source: str,
    logger: Any,
) -> None:
    sets = sorted(summary.points_by_set)
    described = "; ".join(
        f"{user}/{session}: {summary.points_by_set[(user, session)]} picks in "
        f"{summary.runs_by_set[(user, session)]} run(s)" for user, session in sets
    )
    if len(sets) > 1:
        logger.warning("picks of several pick sets were combined; choose one with -uid/-sid",
                       pick_sets=described)
    if summary.runs_without_picks:
        logger.info("runs without matching picks", count=len(summary.runs_without_picks),
                    runs=", ".join(summary.runs_without_picks))
    tomograms = particles["rlnTomoName"].nunique()
    click.echo(f"pick sets used (user/session): {described}")
    click.echo(
        f"wrote {output}: {len(particles)} particles in {tomograms} tomogram(s), tilt-series pixel "
        f"size {pixel_size:g} Å, tomogram sizes from {source}"
    )
