"""``py2rely utils warp-tm2copick``: Warp template-matching picks → copick picks, one pick set per run.

Warp writes one STAR table of matches: ``rlnMicrographName`` (the tilt series, ``<name>.tomostar``),
``rlnCoordinateX/Y/Z`` in voxels of the tomogram it matched in, and ``rlnAngleRot/Tilt/Psi``. As
py2rely 0.7.1 read them: the copick run is the micrograph name with ``.tomostar`` replaced by
``--export-tag`` (the suffix of Warp's tomogram names), a pick's location is the coordinate times
``--voxel-size`` (Å from the tomogram's corner), and its orientation is RELION's particle matrix of
the angles (``geometry.relion_matrices``, the matrix copick stores). Runs that do not exist are
created. Everything is checked before the first pick set is written, and each is written
atomically (``atomic_picks``).
"""

from __future__ import annotations

from dataclasses import dataclass

import click
import numpy as np

from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import read_star, require_columns, require_finite
from py2rely_plugins.copick.atomic_picks import write_picks
from py2rely_plugins.copick.geometry import ANGLE_COLUMNS, relion_matrices, transforms_from_rotations
from py2rely_plugins.copick.project import open_project, require_copick_id, require_object

WARP_SUFFIX = ".tomostar"
COORDINATES = ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ")


@dataclass(frozen=True)
class WarpImport:
    """What `utils warp-tm2copick` was asked for (its click options, by name)."""

    input: str
    config: str
    particle_name: str
    user_id: str
    session_id: str
    voxel_size: float
    export_tag: str
    overwrite: bool


@dataclass(frozen=True)
class RunPicks:
    run: str
    positions: np.ndarray  # (N, 3) Å
    rotations: np.ndarray  # (N, 3, 3)


def warp_to_copick(request: WarpImport) -> None:
    logger = get_logger("utils.warp_tm2copick")
    require_copick_id(request.user_id, "--user-id")
    require_copick_id(request.session_id, "--session-id")
    groups = _read_matches(request.input, request.voxel_size, request.export_tag)
    root = open_project(request.config)
    require_object(root, request.particle_name, request.config, "--particle-name")
    described = f"{request.user_id}/{request.session_id}/{request.particle_name}"
    existing = [g.run for g in groups if (run := root.get_run(g.run)) is not None and run.get_picks(
        object_name=request.particle_name, user_id=request.user_id, session_id=request.session_id)]
    if existing and not request.overwrite:
        more = f" (and {len(existing) - 1} more run(s))" if len(existing) > 1 else ""
        raise InputError(f"run {existing[0]} of {request.config}", f"picks {described} already exist{more}",
                         "--overwrite to replace them")
    created = []
    for group in groups:
        run = root.get_run(group.run)
        if run is None:
            run = root.new_run(group.run)
            created.append(group.run)
        write_picks(run, request.particle_name, request.user_id, request.session_id, group.positions,
                    transforms_from_rotations(group.rotations))
    if created:
        logger.info("copick runs created", count=len(created), runs=", ".join(created))
    click.echo(f"wrote picks {described} for {sum(len(g.positions) for g in groups)} particles in "
               f"{len(groups)} run(s) of {request.config} ({len(created)} created, {len(existing)} replaced)")


def _read_matches(path: str, voxel_size: float, tag: str) -> list[RunPicks]:
    blocks = read_star(path)
    block = "particles" if "particles" in blocks else next(iter(blocks))
    if len(blocks) > 1 and block != "particles":
        raise InputError(path, f"{len(blocks)} tables and none is data_particles", "Warp's table of matches")
    table = blocks[block]
    if table.empty:
        raise InputError(path, f"table data_{block} has no rows", "at least one match")
    require_columns(table, path, block, ("rlnMicrographName", *COORDINATES, *ANGLE_COLUMNS))
    require_finite(table, path, block, (*COORDINATES, *ANGLE_COLUMNS))
    names = table["rlnMicrographName"].astype(str)
    wrong = names[~names.str.endswith(WARP_SUFFIX)]
    if not wrong.empty:
        raise InputError(path, f"rlnMicrographName {wrong.iloc[0]!r} does not end in {WARP_SUFFIX}",
                         "Warp's tilt-series names (<name>.tomostar)")
    positions = table[list(COORDINATES)].to_numpy(dtype=float) * voxel_size
    rotations = relion_matrices(table[list(ANGLE_COLUMNS)].to_numpy(dtype=float))
    groups = []
    for name in dict.fromkeys(names):
        rows = (names == name).to_numpy()
        groups.append(RunPicks(name.removesuffix(WARP_SUFFIX) + tag, positions[rows], rotations[rows]))
    return groups
