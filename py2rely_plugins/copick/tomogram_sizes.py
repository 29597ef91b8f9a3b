"""Tomogram sizes and pixel sizes: from a RELION 5 tomograms STAR, or one size given on the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from py2rely_core.errors import InputError
from py2rely_core.star import read_tomograms

SIZE_COLUMNS = ("rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ")


@dataclass(frozen=True)
class Tomogram:
    size: tuple[int, int, int]  # unbinned tilt-series pixels
    pixel_size: float | None  # Å; None when only -x/-y/-z were given


@dataclass(frozen=True)
class TomogramSizes:
    """Looks up each tomogram's size: by name in a tomograms STAR, or the same size for all."""

    source: str  # the STAR path, or "-x/-y/-z"
    by_name: dict[str, Tomogram] | None
    common: Tomogram | None

    def __getitem__(self, name: str) -> Tomogram:
        if self.by_name is None:
            assert self.common is not None
            return self.common
        try:
            return self.by_name[name]
        except KeyError:
            raise InputError(
                f"--tilt-series {self.source}", f"tomogram {name!r} is not listed in data_global",
                "an rlnTomoName row for every tomogram used",
            ) from None

    def missing(self, names: list[str]) -> list[str]:
        return [] if self.by_name is None else [n for n in names if n not in self.by_name]


def from_tomograms_star(path: str | Path) -> TomogramSizes:
    """Sizes and pixel sizes of every tomogram in a RELION 5 tomograms STAR (data_global)."""
    tomograms = read_tomograms(path, check_tilts=False)
    table = tomograms.table
    sizes = table[list(SIZE_COLUMNS)].to_numpy(dtype=float)
    fractional = np.flatnonzero(np.any(sizes != np.round(sizes), axis=1))
    if fractional.size:
        row = int(fractional[0])
        raise InputError(
            str(path), f"table data_global, row {row + 1}: rlnTomoSizeX/Y/Z {sizes[row].tolist()} "
            "are not whole numbers", "sizes in unbinned pixels",
        )
    by_name = {
        name: Tomogram(size=tuple(int(v) for v in size), pixel_size=float(pixel_size))  # type: ignore[arg-type]
        for name, size, pixel_size in zip(
            tomograms.names, sizes, tomograms.pixel_sizes(), strict=True,
        )
    }
    return TomogramSizes(source=str(path), by_name=by_name, common=None)


def from_dimensions(x: int, y: int, z: int, pixel_size: float | None) -> TomogramSizes:
    return TomogramSizes(source="-x/-y/-z", by_name=None, common=Tomogram((x, y, z), pixel_size))


def choose(
    tilt_series: str | None, x: int | None, y: int | None, z: int | None,
    default: tuple[int, int, int] | None, pixel_size: float | None,
) -> TomogramSizes:
    """The size source the options ask for: ``-ts`` or ``-x/-y/-z``, never both.

    ``default`` fills in ``-x/-y/-z`` when neither is given; without a default one of them is required.
    """
    dims = (x, y, z)
    given = [d is not None for d in dims]
    if tilt_series is not None:
        if any(given):
            raise InputError(
                "-x/-y/-z", "cannot be combined with --tilt-series, which gives every tomogram's size",
                "either --tilt-series or -x/-y/-z",
            )
        return from_tomograms_star(tilt_series)
    if any(given) and not all(given):
        raise InputError("-x/-y/-z", "only some of the three sizes were given", "all of -x, -y and -z")
    if not any(given):
        if default is None:
            raise InputError(
                "--tilt-series", "missing", "a tomograms STAR giving each tomogram's size, or -x/-y/-z",
            )
        dims = default
    return from_dimensions(*(int(d) for d in dims), pixel_size=pixel_size)  # type: ignore[arg-type]
