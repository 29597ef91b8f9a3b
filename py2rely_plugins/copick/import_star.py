"""``py2rely prepare import-particles``: a STAR file of picks in pixels → a RELION 5 particles STAR.

Picks from other programs (template matching, manual picking) often come as ``rlnTomoName`` and
``rlnCoordinateX/Y/Z`` in unbinned tilt-series pixels, counted from the tomogram's corner. RELION 5
wants ``rlnCenteredCoordinateX/Y/ZAngst``: the same point measured from the tomogram centre, which
RELION puts at ``size / 2`` pixels (see ``geometry``), in Å::

    rlnCenteredCoordinateXAngst = (rlnCoordinateX − rlnTomoSizeX / 2) × tilt-series pixel size

py2rely 0.7.1 had this command but it always failed (it wrote ``<output>/import.json`` with a file as
``<output>``); this is what it was written to do, with the tomogram sizes from a tomograms STAR when
one is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd

from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import (
    PIXEL_SIZE_TOLERANCE,
    read_star,
    require_columns,
    require_finite,
    write_star,
)
from py2rely_plugins.copick import tomogram_sizes
from py2rely_plugins.copick.defaults import DEFAULT_PIXEL_SIZE, DEFAULT_SIZE
from py2rely_plugins.copick.geometry import CENTRED_COLUMNS, tomogram_centre_angstrom

PIXEL_COLUMNS = ("rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ")
PIXEL_ORIGINS = ("rlnOriginX", "rlnOriginY", "rlnOriginZ")  # RELION 3/4 shifts in pixels


@dataclass(frozen=True)
class StarImport:
    """What `prepare import-particles` was asked for (its click options, by name)."""

    input: str
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


def import_star(request: StarImport) -> None:
    logger = get_logger("prepare.import_particles")
    inputs = {Path(p).resolve() for p in (request.input, request.tilt_series) if p}
    if Path(request.output).resolve() in inputs:
        raise InputError(f"--output {request.output}", "is also an input file", "a new file")
    picks = _picks_table(request.input)
    sizes = tomogram_sizes.choose(
        request.tilt_series, request.dim_x, request.dim_y, request.dim_z, DEFAULT_SIZE,
        request.pixel_size if request.pixel_size is not None or request.tilt_series else DEFAULT_PIXEL_SIZE,
    )
    names = picks["rlnTomoName"].astype(str)
    tomograms = list(dict.fromkeys(names))
    pixel_sizes = {name: _pixel_size(sizes, name, request.pixel_size) for name in tomograms}
    centres = np.array([tomogram_centre_angstrom(np.array(sizes[name].size), pixel_sizes[name])
                        for name in tomograms])
    row_tomogram = pd.Categorical(names, categories=tomograms).codes
    ps = np.array([pixel_sizes[name] for name in tomograms])[row_tomogram]
    pixels = picks[list(PIXEL_COLUMNS)].to_numpy(dtype=float)
    centred = pixels * ps[:, None] - centres[row_tomogram]

    particles = picks.drop(columns=[*PIXEL_COLUMNS, "rlnOpticsGroup"], errors="ignore").copy()
    particles["rlnTomoName"] = names.to_numpy()
    for index, column in enumerate(CENTRED_COLUMNS):
        particles[column] = centred[:, index]
    particles["rlnOpticsGroup"] = request.optics_group
    first = ["rlnTomoName", *CENTRED_COLUMNS]
    particles = particles[first + [c for c in particles.columns if c not in first]]
    optics = pd.DataFrame({
        "rlnOpticsGroup": [request.optics_group],
        "rlnOpticsGroupName": [request.optics_group_name],
        "rlnSphericalAberration": [request.spherical_aberration],
        "rlnVoltage": [request.voltage],
        "rlnAmplitudeContrast": [request.amplitude_contrast],
        "rlnTomoTiltSeriesPixelSize": [_single(pixel_sizes, sizes.source)],
    })
    write_star({"optics": optics, "particles": particles}, request.output)
    logger.info("picks converted", input=request.input, sizes_from=sizes.source)
    click.echo(f"wrote {request.output}: {len(particles)} particles in {len(tomograms)} tomogram(s), "
               f"tilt-series pixel size {optics['rlnTomoTiltSeriesPixelSize'][0]:g} Å, tomogram sizes "
               f"from {sizes.source}")


def _picks_table(path: str) -> pd.DataFrame:
    """The table of picks: ``data_particles`` if there is one, else the file's only table."""
    blocks = read_star(path)
    if "particles" in blocks:
        block = "particles"
    elif len(blocks) == 1:
        block = next(iter(blocks))
    else:
        found = ", ".join(f"data_{name}" for name in blocks)
        raise InputError(path, f"no data_particles table among several ({found})",
                         "a data_particles table, or a file with one table")
    table = blocks[block]
    if table.empty:
        raise InputError(path, f"table data_{block} has no rows", "at least one pick")
    require_columns(table, path, block, ("rlnTomoName", *PIXEL_COLUMNS))
    require_finite(table, path, block, PIXEL_COLUMNS)
    pixel_origins = [c for c in PIXEL_ORIGINS if c in table.columns]
    if pixel_origins:
        raise InputError(path, f"table data_{block} has {', '.join(pixel_origins)} (shifts in pixels)",
                         "picks without origins, or origins in Å (rlnOriginXAngst ...)")
    return table


def _pixel_size(sizes: tomogram_sizes.TomogramSizes, name: str, option: float | None) -> float:
    value = sizes[name].pixel_size
    assert value is not None, "-ts, -ps or the default always gives a pixel size"
    if option is not None and abs(option - value) > PIXEL_SIZE_TOLERANCE:
        raise InputError(f"--pixel-size {option:g}", f"differs from rlnTomoTiltSeriesPixelSize {value:g} "
                         f"of {name!r} in {sizes.source}", f"{value:g} or no --pixel-size")
    return value


def _single(pixel_sizes: dict[str, float], source: str) -> float:
    values = sorted(set(pixel_sizes.values()))
    if values[-1] - values[0] > PIXEL_SIZE_TOLERANCE:
        raise InputError(f"--tilt-series {source}", f"the tomograms have different pixel sizes ({values})",
                         "one pixel size per import (one optics group)")
    return values[0]
