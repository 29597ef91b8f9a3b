"""``py2rely prepare combine-tilt-series``: several RELION 5 tomograms STAR files → one data_global.

A tomograms STAR has no optics table: RELION groups tilt series into optics groups by
``rlnOpticsGroupName`` (each tomogram is its own group when the column is absent) and builds the
particles' optics groups from them. Two inputs that use the same name for different optics would
therefore be merged silently; the later one's name gets a suffix instead.
"""

from __future__ import annotations

import click
import pandas as pd

from py2rely_core.atomic import refuse_existing
from py2rely_core.log import get_logger
from py2rely_core.star import read_tomograms, write_star
from py2rely_plugins.startools.inputs import (
    existing_inputs,
    refuse_duplicate_tomograms,
    refuse_output_among_inputs,
    require_same_columns,
)

OPTICS_COLUMNS = (
    "rlnVoltage", "rlnSphericalAberration", "rlnAmplitudeContrast", "rlnTomoTiltSeriesPixelSize",
    "rlnMicrographOriginalPixelSize",
)
VALUE_DECIMALS = 6

def combine_tilt_series(inputs: tuple[str, ...], output: str, skip_missing: bool,
                        overwrite: bool = False) -> None:
    logger = get_logger("prepare.combine_tilt_series")
    refuse_output_among_inputs(output, inputs)
    refuse_existing(output, "--output", overwrite)
    paths = existing_inputs(inputs, skip_missing, logger)
    # Per-tilt-series files are named relative to the RELION project, not to this command's inputs;
    # they are carried over unchanged and checked by 'prepare relion5-parameters'.
    tables = [(path, read_tomograms(path, check_tilts=False).table) for path in paths]
    refuse_duplicate_tomograms([(path, table["rlnTomoName"]) for path, table in tables])
    require_same_columns(tables, "global")
    renamed = _separate_optics_names(tables)
    combined = pd.concat([table for _, table in tables], ignore_index=True)
    write_star({"global": combined}, output)

    for path, old, new in renamed:
        click.echo(f"{path}: optics group name {old!r} is used for different optics elsewhere; "
                   f"renamed {new!r}")
    pixel_sizes = sorted(set(combined["rlnTomoTiltSeriesPixelSize"].astype(float).round(VALUE_DECIMALS)))
    if len(pixel_sizes) > 1:
        logger.warning("tilt series have different pixel sizes; 'prepare relion5-parameters' needs one",
                       pixel_sizes=pixel_sizes)
    click.echo(f"wrote {output}: {len(combined)} tilt series from {len(tables)} file(s)")


def _separate_optics_names(tables: list[tuple[str, pd.DataFrame]]) -> list[tuple[str, str, str]]:
    """Give each distinct set of optics values its own rlnOpticsGroupName (tables change in place).

    The first optics seen under a name keep it; other optics under the same name become
    ``<name>_2``, ``<name>_3``, ...
    """
    if "rlnOpticsGroupName" not in tables[0][1].columns:
        return []
    present = [c for c in OPTICS_COLUMNS if c in tables[0][1].columns]
    optics_of: dict[str, tuple] = {}  # output name → its optics values
    renamed: set[tuple[str, str, str]] = set()
    for path, table in tables:
        values_per_row = table[present].astype(float).round(VALUE_DECIMALS).itertuples(index=False, name=None)
        new_names = []
        for name, values in zip(table["rlnOpticsGroupName"].astype(str), values_per_row, strict=True):
            target, suffix = name, 2
            while optics_of.setdefault(target, values) != values:
                target, suffix = f"{name}_{suffix}", suffix + 1
            if target != name:
                renamed.add((path, name, target))
            new_names.append(target)
        table["rlnOpticsGroupName"] = new_names
    return sorted(renamed)
