"""``py2rely prepare filter-unused-tilts``: a new tomograms STAR without the tomograms no particle uses."""

from __future__ import annotations

from pathlib import Path

import click

from py2rely_core.atomic import refuse_existing
from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import read_particles, read_star, read_tomograms, write_star
from py2rely_plugins.startools.inputs import refuse_output_among_inputs

NAMES_SHOWN = 10

FILTERED_SUFFIX = "_filtered"


def beside(tomograms: str) -> str:
    """Where the filtered file goes without -o: next to the input, which py2rely 0.7.1 overwrote."""
    path = Path(tomograms)
    return str(path.with_name(f"{path.stem}{FILTERED_SUFFIX}{path.suffix or '.star'}"))


def filter_unused_tilts(particles: str, tomograms: str, output: str | None,
                        overwrite: bool = False) -> None:
    logger = get_logger("prepare.filter_unused_tilts")
    in_place = output is None
    output = beside(tomograms) if output is None else output
    refuse_output_among_inputs(output, [tomograms, particles])
    refuse_existing(output, "--output", overwrite)
    used = set(read_particles(particles).particles["rlnTomoName"].astype(str))
    tomogram_set = read_tomograms(tomograms, check_tilts=False)
    listed = tomogram_set.table["rlnTomoName"].astype(str)
    unknown = sorted(used - set(listed))
    if unknown:
        raise InputError(
            particles,
            f"{len(unknown)} tomogram(s) with particles are not in {tomograms}, e.g. {unknown[0]!r}",
            "every particle's rlnTomoName listed in the tomograms STAR",
        )
    keep = listed.isin(used)
    removed = listed[~keep].tolist()
    blocks = read_star(tomograms)  # other blocks, if any, are carried over unchanged
    blocks["global"] = tomogram_set.table[keep.to_numpy()].reset_index(drop=True)
    write_star(blocks, output)
    if removed:
        shown = ", ".join(removed[:NAMES_SHOWN]) + (" ..." if len(removed) > NAMES_SHOWN else "")
        logger.info("tomograms without particles removed", count=len(removed), tomograms=shown)
    click.echo(
        f"wrote {output}: kept {int(keep.sum())} of {len(listed)} tomograms, removed {len(removed)} "
        f"without particles{': ' + ', '.join(removed[:NAMES_SHOWN]) if removed else ''}"
        + (" ..." if len(removed) > NAMES_SHOWN else "")
    )
    if in_place:
        click.echo(f"note: {tomograms} is unchanged (py2rely 0.7.1 filtered it in place); use "
                   f"{output} as the tomograms STAR (-ts of prepare relion5-parameters)")
