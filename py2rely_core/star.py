"""RELION 5 tomography STAR tables: reading with starfile, validation with one-line errors.

Column names are exactly RELION's. Relative paths inside STAR files are resolved against the
project directory (the current directory), as RELION resolves them.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from py2rely_core import atomic
from py2rely_core.errors import InputError

TOMOGRAM_COLUMNS = (
    "rlnTomoName",
    "rlnTomoTiltSeriesStarFile",
    "rlnVoltage",
    "rlnSphericalAberration",
    "rlnAmplitudeContrast",
    "rlnTomoHand",
    "rlnTomoTiltSeriesPixelSize",
    "rlnTomoSizeX",
    "rlnTomoSizeY",
    "rlnTomoSizeZ",
)
TOMOGRAM_NUMERIC = TOMOGRAM_COLUMNS[2:]

TILT_COLUMNS = (
    "rlnMicrographName",
    "rlnTomoYTilt",
    "rlnTomoZRot",
    "rlnTomoXShiftAngst",
    "rlnTomoYShiftAngst",
    "rlnDefocusU",
    "rlnDefocusV",
    "rlnDefocusAngle",
    "rlnMicrographPreExposure",
)
TILT_NUMERIC = TILT_COLUMNS[1:]

PARTICLE_COLUMNS = (
    "rlnTomoName",
    "rlnCenteredCoordinateXAngst",
    "rlnCenteredCoordinateYAngst",
    "rlnCenteredCoordinateZAngst",
)
PARTICLE_NUMERIC = (
    *PARTICLE_COLUMNS[1:],
    "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi",
    "rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst",
    "rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi",
)

PIXEL_SIZE_TOLERANCE = 1e-3  # Å; STAR files round pixel sizes to a few decimals


def read_star(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """All blocks of a STAR file, keyed by block name (``data_`` prefix removed)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            blocks = starfile.read(path, always_dict=True)
    except Exception as exc:
        raise InputError(str(path), f"not a readable STAR file ({type(exc).__name__}: {exc})") from None
    if not blocks:
        raise InputError(str(path), "contains no data blocks", "a RELION STAR file")
    return {name: _as_frame(block) for name, block in blocks.items()}


def _as_frame(block: pd.DataFrame | Mapping[str, object]) -> pd.DataFrame:
    if isinstance(block, pd.DataFrame):
        return block
    return pd.DataFrame([dict(block)])


def write_star(
    blocks: Mapping[str, pd.DataFrame | Mapping[str, object]], path: str | os.PathLike[str]
) -> None:
    """Write blocks atomically (list-style blocks may be given as dicts).

    A table with an empty cell (pandas' NA, which starfile writes as ``<NA>``) or a NaN or infinite
    number is refused before anything is written: no RELION program reads such a file as meant.
    """
    for name, block in blocks.items():
        require_complete(_as_frame(block), path, name)
    with atomic.atomic_path(path) as tmp:
        starfile.write(dict(blocks), tmp, overwrite=True)


def describe_value(value: object) -> str:
    """A cell's value in plain words for an error message: 'NaN', 'infinity', 'empty', "'abc'"."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, str):
        return repr(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return repr(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "infinity" if number > 0 else "-infinity"
    return f"{number:g}"


def first_bad_cell(table: pd.DataFrame, columns: Iterable[str] | None = None) -> tuple[int, str] | None:
    """(row index, column) of the first empty, NaN or infinite cell, scanning column by column."""
    for column in columns if columns is not None else table.columns:
        if column not in table.columns:
            continue
        series = table[column]
        bad = series.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            values = series.to_numpy(dtype=float, na_value=np.nan)
            bad = bad | ~np.isfinite(values)
        elif series.dtype == object:
            bad = bad | np.array([isinstance(v, float) and not math.isfinite(v) for v in series], bool)
        if bad.any():
            return int(np.flatnonzero(bad)[0]), str(column)
    return None


def require_complete(table: pd.DataFrame, path: str | os.PathLike[str], block: str) -> None:
    found = first_bad_cell(table)
    if found is not None:
        row, column = found
        raise InputError(
            str(path),
            f"not written: table data_{block}, row {row + 1}, column {column} would be "
            f"{describe_value(table[column].iloc[row])}",
            "a finite number or text in every cell",
        )


def require_block(
    blocks: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], names: Iterable[str], what: str
) -> tuple[str, pd.DataFrame]:
    for name in names:
        if name in blocks:
            return name, blocks[name]
    found = ", ".join(f"data_{b}" for b in blocks) or "none"
    wanted = " or ".join(f"data_{n}" for n in names)
    raise InputError(str(path), f"no {wanted} table (found: {found})", what)


def require_columns(
    table: pd.DataFrame, path: str | os.PathLike[str], block: str, columns: Iterable[str]
) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(
            str(path),
            f"table data_{block} lacks column {', '.join(missing)}",
            "RELION 5 columns " + ", ".join(columns),
        )


def require_finite(
    table: pd.DataFrame, path: str | os.PathLike[str], block: str, columns: Iterable[str]
) -> None:
    for column in columns:
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = table[column].iloc[row]
            what = describe_value(value)
            problem = "not a number" if what.startswith("'") else "not a finite number"
            raise InputError(
                str(path), f"table data_{block}, row {row + 1}, column {column}: {what} is {problem}",
                "a finite number",
            )


def require_positive(
    table: pd.DataFrame, path: str | os.PathLike[str], block: str, columns: Iterable[str]
) -> None:
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = ~(values > 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                str(path),
                f"table data_{block}, row {row + 1}, column {column}: {values[row]:g} is not positive",
            )


@dataclass
class TomogramSet:
    path: Path
    table: pd.DataFrame  # data_global
    tilt_series: dict[str, pd.DataFrame]  # per tomogram name

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.table["rlnTomoName"]]

    def pixel_sizes(self) -> np.ndarray:
        return self.table["rlnTomoTiltSeriesPixelSize"].to_numpy(dtype=float)


def read_tomograms(
    path: str | os.PathLike[str], project_dir: str | os.PathLike[str] = ".", check_tilts: bool = True
) -> TomogramSet:
    """Read and validate a RELION 5 tomograms STAR and its per-tilt-series STAR files."""
    path = Path(path)
    blocks = read_star(path)
    block, table = require_block(blocks, path, ["global"], "a RELION 5 tomograms STAR (data_global)")
    require_columns(table, path, block, TOMOGRAM_COLUMNS)
    require_finite(table, path, block, TOMOGRAM_NUMERIC)
    require_positive(
        table, path, block,
        ("rlnVoltage", "rlnTomoTiltSeriesPixelSize", "rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ"),
    )
    names = table["rlnTomoName"].astype(str)
    duplicated = names[names.duplicated()]
    if not duplicated.empty:
        raise InputError(str(path), f"tomogram {duplicated.iloc[0]!r} is listed twice in data_global")
    tilt_series: dict[str, pd.DataFrame] = {}
    if check_tilts:
        for name, star_path in zip(names, table["rlnTomoTiltSeriesStarFile"].astype(str), strict=True):
            tilt_series[name] = read_tilt_series(Path(project_dir) / star_path, name, listed_in=path)
    return TomogramSet(path=path, table=table, tilt_series=tilt_series)


def read_tilt_series(path: Path, name: str, listed_in: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(
            str(listed_in),
            f"tilt series {name!r}: rlnTomoTiltSeriesStarFile {str(path)!r} does not exist",
        )
    blocks = read_star(path)
    block, table = require_block(blocks, path, [name, *blocks], f"a table data_{name}")
    require_columns(table, path, block, TILT_COLUMNS)
    require_finite(table, path, block, TILT_NUMERIC)
    return table


@dataclass
class ParticleSet:
    path: Path
    blocks: dict[str, pd.DataFrame]

    @property
    def particles(self) -> pd.DataFrame:
        return self.blocks["particles"]

    @property
    def optics(self) -> pd.DataFrame | None:
        return self.blocks.get("optics")

    def __len__(self) -> int:
        return len(self.particles)


def read_particles(path: str | os.PathLike[str]) -> ParticleSet:
    """Read and validate a RELION 5 particles STAR (centred coordinates in Å)."""
    path = Path(path)
    blocks = read_star(path)
    block, table = require_block(blocks, path, ["particles"], "a RELION 5 particles STAR (data_particles)")
    if table.empty:
        raise InputError(str(path), "table data_particles has no particles")
    require_columns(table, path, block, PARTICLE_COLUMNS)
    require_finite(table, path, block, PARTICLE_NUMERIC)
    optics = blocks.get("optics")
    if optics is not None and "rlnTomoTiltSeriesPixelSize" in optics.columns:
        require_finite(optics, path, "optics", ["rlnTomoTiltSeriesPixelSize"])
        require_positive(optics, path, "optics", ["rlnTomoTiltSeriesPixelSize"])
    return ParticleSet(path=path, blocks=blocks)


def check_particles_match_tomograms(
    particles: ParticleSet, tomograms: TomogramSet, pixel_size: float | None = None,
    pixel_size_option: str = "--tilt-series-pixel-size",
) -> None:
    """Every particle's tomogram is listed, and all pixel sizes agree (with ``pixel_size`` too)."""
    listed = set(tomograms.names)
    names = particles.particles["rlnTomoName"].astype(str)
    unknown = sorted(set(names) - listed)
    if unknown:
        count = int(names.isin(unknown).sum())
        shown = ", ".join(repr(u) for u in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise InputError(
            str(particles.path),
            f"{count} particle(s) belong to tomogram(s) not listed in {tomograms.path}: {shown}",
            f"rlnTomoName values from {tomograms.path}",
        )
    sizes = tomograms.pixel_sizes()
    reference = float(sizes[0])
    if np.any(np.abs(sizes - reference) > PIXEL_SIZE_TOLERANCE):
        raise InputError(
            str(tomograms.path),
            f"rlnTomoTiltSeriesPixelSize differs between tilt series ({sorted(set(sizes.tolist()))})",
            "one pixel size for all tilt series",
        )
    optics = particles.optics
    if optics is not None and "rlnTomoTiltSeriesPixelSize" in optics.columns:
        for value in optics["rlnTomoTiltSeriesPixelSize"].astype(float):
            if abs(value - reference) > PIXEL_SIZE_TOLERANCE:
                raise InputError(
                    str(particles.path),
                    f"data_optics rlnTomoTiltSeriesPixelSize {value:g} Å differs from the "
                    f"tilt series' {reference:g} Å in {tomograms.path}",
                )
    if pixel_size is not None and abs(pixel_size - reference) > PIXEL_SIZE_TOLERANCE:
        raise InputError(
            pixel_size_option,
            f"{pixel_size:g} Å differs from rlnTomoTiltSeriesPixelSize {reference:g} Å in "
            f"{tomograms.path}",
            f"{reference:g}",
        )


def is_close(a: float, b: float) -> bool:
    return math.isclose(a, b, abs_tol=PIXEL_SIZE_TOLERANCE)
