"""``py2rely prepare combine-particles``: several RELION 5 particle files (e.g. one per session) → one."""

from __future__ import annotations

from typing import Any

import click
import pandas as pd

from py2rely_core.atomic import refuse_existing
from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import PIXEL_SIZE_TOLERANCE, ParticleSet, read_particles, write_star
from py2rely_plugins.startools.inputs import (
    existing_inputs,
    refuse_duplicate_tomograms,
    refuse_output_among_inputs,
    require_same_columns,
)
from py2rely_plugins.startools.optics import merge_optics


def combine_particles(inputs: tuple[str, ...], output: str, skip_missing: bool,
                      overwrite: bool = False) -> None:
    logger = get_logger("prepare.combine_particles")
    refuse_output_among_inputs(output, inputs)
    refuse_existing(output, "--output", overwrite)
    sets = [read_particles(path) for path in existing_inputs(inputs, skip_missing, logger)]
    optics_tables = [(str(s.path), _optics_of(s)) for s in sets]
    refuse_duplicate_tomograms([(str(s.path), s.particles["rlnTomoName"]) for s in sets])
    require_same_columns(optics_tables, "optics")
    require_same_columns([(str(s.path), _with_group(s)) for s in sets], "particles")
    general = _common_general_block(sets)

    merge = merge_optics(optics_tables)
    particles = []
    for particle_set, renumbering in zip(sets, merge.renumbering, strict=True):
        table = _with_group(particle_set).copy()
        table["rlnOpticsGroup"] = table["rlnOpticsGroup"].astype(int).map(renumbering)
        particles.append(table)
    combined = pd.concat(particles, ignore_index=True)

    blocks: dict[str, Any] = {}
    if general is not None:
        blocks["general"] = general.iloc[0].to_dict()  # a list-style block, as RELION writes it
    blocks["optics"] = merge.table
    blocks["particles"] = combined
    write_star(blocks, output)

    for (path, _), renumbering in zip(optics_tables, merge.renumbering, strict=True):
        moves = ", ".join(f"{old} → {new}" for old, new in renumbering.items())
        click.echo(f"{path}: optics group {moves}")
    for path, old, new in merge.renamed:
        click.echo(f"{path}: optics group name {old!r} is taken by different optics; renamed {new!r}")
    pixel_sizes = sorted(set(merge.table["rlnTomoTiltSeriesPixelSize"].astype(float).round(6)))
    if len(pixel_sizes) > 1 and pixel_sizes[-1] - pixel_sizes[0] > PIXEL_SIZE_TOLERANCE:
        logger.warning(
            "optics groups have different tilt-series pixel sizes; RELION keeps them apart, but "
            "'prepare relion5-parameters' needs one pixel size for the whole data set",
            pixel_sizes=pixel_sizes,
        )
    click.echo(
        f"wrote {output}: {len(combined)} particles, {combined['rlnTomoName'].nunique()} tomograms, "
        f"{len(merge.table)} optics group(s) from {len(sets)} file(s)"
    )


def _optics_of(particle_set: ParticleSet) -> pd.DataFrame:
    optics = particle_set.optics
    if optics is None or optics.empty:
        raise InputError(
            str(particle_set.path), "no data_optics table", "a RELION 5 particles STAR with optics",
        )
    for column in ("rlnOpticsGroup", "rlnTomoTiltSeriesPixelSize"):
        if column not in optics.columns:
            raise InputError(str(particle_set.path), f"table data_optics lacks column {column}")
    groups = optics["rlnOpticsGroup"].astype(int)
    if groups.duplicated().any():
        repeated = groups[groups.duplicated()].iloc[0]
        raise InputError(str(particle_set.path), f"data_optics lists optics group {repeated} twice")
    return optics


def _with_group(particle_set: ParticleSet) -> pd.DataFrame:
    """The particle table with rlnOpticsGroup, which a file with a single optics group may omit."""
    table = particle_set.particles
    optics = _optics_of(particle_set)
    if "rlnOpticsGroup" not in table.columns:
        if len(optics) > 1:
            raise InputError(
                str(particle_set.path), "table data_particles lacks column rlnOpticsGroup",
                "it, since data_optics has several groups",
            )
        table = table.assign(rlnOpticsGroup=int(optics["rlnOpticsGroup"].iloc[0]))
    unknown = sorted(set(table["rlnOpticsGroup"].astype(int)) - set(optics["rlnOpticsGroup"].astype(int)))
    if unknown:
        raise InputError(str(particle_set.path), f"particles refer to optics group {unknown[0]}, "
                         "which data_optics does not list")
    return table


def _common_general_block(sets: list[ParticleSet]) -> pd.DataFrame | None:
    """data_general (2D stacks or not) must agree; RELION reads a missing block as 3D (0)."""
    values = {}
    for particle_set in sets:
        general = particle_set.blocks.get("general")
        flag = 0
        if general is not None and "rlnTomoSubTomosAre2DStacks" in general.columns:
            flag = int(general["rlnTomoSubTomosAre2DStacks"].iloc[0])
        values[str(particle_set.path)] = flag
    if len(set(values.values())) > 1:
        described = ", ".join(f"{path}: {flag}" for path, flag in values.items())
        raise InputError("--input", f"rlnTomoSubTomosAre2DStacks differs between inputs ({described})",
                         "particles extracted the same way")
    for particle_set in sets:
        if particle_set.blocks.get("general") is not None:
            return particle_set.blocks["general"]
    return None
