"""Files users hand to single jobs and pipeline stages, checked before any job starts: where a job
finds them (relative to the project or absolute), particles STAR facts (binning, pixel size,
classes, half sets), masks and maps (box, voxel size)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from py2rely_core.errors import InputError

PIXEL_TOLERANCE = 0.01  # relative
VALUE_TOLERANCE = 1e-3
OPTIMISATION_SETS = ("optimisation_set.star", "run_optimisation_set.star")


def project_path(path: str, project_root: Path, option: str) -> str:
    """A user's file as jobs name it: relative to the project if it is inside it, else absolute
    (a relative path is looked up in the project first, then in the current directory)."""
    candidate = Path(path)
    if not candidate.is_absolute():
        if (project_root / candidate).exists():
            return os.path.normpath(path)
        candidate = candidate.resolve()
    if not candidate.exists():
        raise InputError(f"{option} {path}", "does not exist")
    resolved = candidate.resolve()
    return str(resolved.relative_to(project_root)) if resolved.is_relative_to(project_root) else str(resolved)


def _where(option: str, path: Path, root: Path | None) -> str:
    """The option and the file as the user named it (relative to the project when inside it)."""
    shown = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
    return f"{option} {shown}"


def map_header(path: Path, option: str, root: Path | None = None) -> tuple[int, float]:
    """(box, voxel size Å) of a cubic MRC map."""
    import mrcfile

    where = _where(option, path, root)
    if not path.is_file():
        raise InputError(where, "does not exist", "an MRC map")
    try:
        with mrcfile.open(path, permissive=True, header_only=True) as mrc:
            shape = (int(mrc.header.nz), int(mrc.header.ny), int(mrc.header.nx))
            voxel = float(mrc.voxel_size.x)
    except (OSError, ValueError) as exc:
        raise InputError(where, f"is not a readable MRC file ({exc})") from None
    if len(set(shape)) != 1 or shape[0] < 2:
        raise InputError(where, f"has shape {shape}", "a cubic 3D map")
    return shape[0], voxel


def check_map(path: Path, box: int | None, pixel_size: float | None, option: str,
              root: Path | None = None) -> None:
    size, voxel = map_header(path, option, root)
    where = _where(option, path, root)
    if box is not None and size != box:
        raise InputError(where, f"is {size} voxels wide", f"{box}")
    if pixel_size is not None and voxel > 0 and not math.isclose(voxel, pixel_size, rel_tol=PIXEL_TOLERANCE):
        raise InputError(where, f"has a voxel size of {voxel:g} Å", f"{pixel_size:g} Å")
    check_finite_voxels(path, where)


def check_finite_voxels(path: Path, where: str) -> None:
    """InputError unless every voxel is a finite number: RELION would carry a NaN or infinity
    through a whole refinement (or a mask) without saying so."""
    import mrcfile
    import numpy as np

    with mrcfile.mmap(path, permissive=True, mode="r") as mrc:
        data = mrc.data
        finite = np.isfinite(data)
        if finite.all():
            return
        z, y, x = np.argwhere(~finite)[0]
        value = float(data[z, y, x])
    what = "NaN" if math.isnan(value) else ("infinity" if value > 0 else "-infinity")
    raise InputError(where, f"voxel (x {x}, y {y}, z {z}) is {what}", "a map of finite numbers")


def check_mask(path: Path, box: int | None, pixel_size: float | None, option: str = "--mask",
               root: Path | None = None) -> None:
    """A RELION mask: a cubic MRC (of ``box`` voxels of ``pixel_size`` Å), values in [0, 1]."""
    import mrcfile
    import numpy as np

    check_map(path, box, pixel_size, option, root)
    with mrcfile.open(path, permissive=True) as mrc:
        data = np.asarray(mrc.data, dtype=np.float32)
    low, high = float(data.min()), float(data.max())
    if low < -VALUE_TOLERANCE or high > 1 + VALUE_TOLERANCE or high <= 0:
        raise InputError(_where(option, path, root), f"has values from {low:g} to {high:g}",
                         "a mask with values in [0, 1]")


@dataclass(frozen=True)
class ParticleFacts:
    """What a particles STAR says about its particles (None: the file does not say)."""

    path: str
    count: int
    binning: int | None  # rlnTomoSubtomogramBinning
    pixel_size: float | None  # rlnImagePixelSize (extracted), else tilt series × binning
    tilt_series_pixel_size: float | None
    box: int | None  # rlnImageSize
    dimensionality: int | None  # 2: 2D stacks, 3: 3D pseudo-subtomograms
    premultiplied: bool | None
    classes: tuple[int, ...]  # rlnClassNumber values present
    half_sets: bool  # rlnRandomSubset present

    @property
    def subtomograms_3d(self) -> bool:
        return self.dimensionality == 3


def particle_facts(path: Path, shown: str, option: str = "--particles") -> ParticleFacts:
    from py2rely_core.star import read_star

    where = f"{option} {shown}"
    if not path.is_file():
        raise InputError(where, "does not exist", "a RELION 5 particles STAR")
    try:
        blocks = read_star(path)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(where, f"cannot be read as STAR ({exc})") from None
    particles = blocks.get("particles")
    if particles is None or particles.empty:
        raise InputError(where, "has no particles (table data_particles)", "a RELION 5 particles STAR")
    for name in ("optics", "particles"):
        if name in blocks:
            _require_finite_numbers(blocks[name], where, name)
    optics = blocks.get("optics")

    def first(label: str) -> float | None:
        if optics is None or label not in optics.columns or optics.empty:
            return None
        value = float(optics[label].iloc[0])
        return value if math.isfinite(value) else None

    binning = first("rlnTomoSubtomogramBinning")
    tilt = first("rlnTomoTiltSeriesPixelSize")
    pixel = first("rlnImagePixelSize") or (tilt * binning if tilt and binning else None)
    box = first("rlnImageSize")
    dims = first("rlnImageDimensionality")
    premultiplied = first("rlnCtfDataAreCtfPremultiplied")
    classes: tuple[int, ...] = ()
    if "rlnClassNumber" in particles.columns:
        classes = tuple(sorted({int(v) for v in particles["rlnClassNumber"]}))
    return ParticleFacts(
        path=shown, count=len(particles), binning=round(binning) if binning else None, pixel_size=pixel,
        tilt_series_pixel_size=tilt, box=round(box) if box else None,
        dimensionality=round(dims) if dims else None,
        premultiplied=None if premultiplied is None else bool(premultiplied), classes=classes,
        half_sets="rlnRandomSubset" in particles.columns)


def _require_finite_numbers(table, where: str, block: str) -> None:
    """Every number column of the table holds finite numbers only (names and file columns are
    text): a NaN, an infinity or a word among numbers is refused, not passed on to RELION."""
    import pandas as pd

    from py2rely_core.star import require_finite

    numeric = [column for column in table.columns
               if not column.endswith(("Name", "File", "FileName", "StarFile"))
               and pd.to_numeric(table[column], errors="coerce").notna().any()]
    require_finite(table, where, block, numeric)


def tomograms_beside(particles: str, project_root: Path) -> str | None:
    """The tomograms STAR the optimisation set next to a job's particles names (Extract and
    Refine3D write one), or None."""
    folder = (project_root / particles).parent
    for name in OPTIMISATION_SETS:
        star = folder / name
        if not star.is_file():
            continue
        for line in star.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "_rlnTomoTomogramsFile" and words[1] not in ('""', ""):
                return words[1]
    return None
