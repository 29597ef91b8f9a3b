"""Acquisition order (and per-image dose) of each section of the input stack.

Looked for next to the .aln, first found wins:

1. ``<name>_TLT.txt`` (AreTomo3, DataUtil/CTsPackage.cpp ``mSaveTiltFile``): one line per stack
   section, in stack order: ``tilt  acquisition-index  dose``; the index is made 1-based there.
2. ``<name>.rawtlt`` with two columns ``tilt  acquisition-index``, one line per stack section (the
   angle file AreTomo2 reads with -AngFile; RELION writes it so for AreTomo2 in
   src/align_tiltseries_runner.cpp ``generateMRCStackAndRawTiltFile``); a one-column .rawtlt
   (tilt angles only) is passed over.
3. ``<name>_Imod/<name>_order_list.csv`` or ``_st_order_list.csv`` (AreTomo -OutImod;
   ImodUtil/CSaveCsv.cpp): header ``ImageNumber, TiltAngle``, then ``acquisition-index,tilt`` in
   acquisition order — every image for ``_order_list.csv`` (-OutImod 1), the non-dark ones for
   ``_st_order_list.csv``. It names no section, so rows are matched to sections by tilt angle
   (both sorted by tilt: a tilt offset AreTomo added moves every angle alike and keeps the order).

Every source's nominal tilts are checked against the .aln's: the differences may only be a
constant (AreTomo's tilt-offset correction, ``# AlphaOffset``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from py2rely_core.errors import InputError
from py2rely_plugins.aretomo.aln import Alignment

TILT_TOLERANCE = 0.5  # degrees: files write tilts to 2 decimals; a wrong order is off by a tilt step


@dataclass(frozen=True)
class Acquisition:
    source: Path
    order: np.ndarray  # per stack section (index = section - 1): 1-based acquisition index, 0 unknown
    nominal_tilt: np.ndarray  # per stack section, degrees (nan where unknown)
    dose: np.ndarray | None  # per stack section, e/Å² of that image (from _TLT.txt), else None

    def pre_exposure(self, sections: np.ndarray, dose_per_tilt: float | None) -> np.ndarray:
        """Dose each image received before it was taken: images acquired earlier, summed."""
        orders = self.order[sections - 1]
        if dose_per_tilt is not None:
            return (orders - 1) * dose_per_tilt
        assert self.dose is not None
        known = self.order > 0
        return np.array([float(self.dose[known & (self.order < o)].sum()) for o in orders])


def candidates(directory: Path, name: str) -> list[Path]:
    imod = directory / f"{name}_Imod"
    return [directory / f"{name}_TLT.txt", directory / f"{name}.rawtlt",
            imod / f"{name}_order_list.csv", imod / f"{name}_st_order_list.csv"]


def read_acquisition(directory: Path, name: str, alignment: Alignment, sections: int) -> Acquisition:
    """The acquisition order of the ``sections`` images of the stack (see the module docstring)."""
    tlt, rawtlt, csv, st_csv = candidates(directory, name)
    if tlt.is_file():
        acquisition = _per_section(tlt, sections, with_dose=True)
    elif rawtlt.is_file() and _has_order_column(rawtlt):
        acquisition = _per_section(rawtlt, sections, with_dose=False)
    elif csv.is_file() or st_csv.is_file():
        acquisition = _order_list(csv if csv.is_file() else st_csv, alignment, sections)
    else:
        raise InputError(
            str(directory / name), "no acquisition order found",
            f"{tlt.name}, {rawtlt.name} (2 columns) or {csv.parent.name}/{csv.name}",
        )
    _check_tilts(acquisition, alignment)
    _check_orders(acquisition, alignment)
    return acquisition


def _rows(path: Path, separator: str | None, skip_header: bool) -> list[tuple[int, list[str]]]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(separator)]
        if skip_header and not rows and not _is_number(fields[0]):
            continue  # "ImageNumber, TiltAngle"
        rows.append((number, fields))
    return rows


def _has_order_column(path: Path) -> bool:
    """A one-column .rawtlt (tilt angles only, AreTomo2's usual -AngFile) says nothing of the order."""
    rows = _rows(path, None, skip_header=False)
    return bool(rows) and len(rows[0][1]) >= 2


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _from_one(order: np.ndarray) -> np.ndarray:
    """AreTomo makes 0-based acquisition indices 1-based when it writes them (CSaveCsv::mGenList,
    CTsPackage::mSaveTiltFile); do the same for files written by other tools."""
    return order + 1 if order.size and order.min() == 0 else order


def _value(path: Path, number: int, field: str, column: str, integer: bool = False) -> float:
    try:
        value = float(field)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or (integer and not value.is_integer()):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{path}:{number}", f"column {column}: {field!r} is not {kind}")
    return value


def _per_section(path: Path, sections: int, with_dose: bool) -> Acquisition:
    rows = _rows(path, None, skip_header=False)
    if len(rows) != sections:
        raise InputError(str(path), f"{len(rows)} lines", f"one per stack section ({sections})")
    tilt = np.empty(sections)
    order = np.empty(sections, dtype=int)
    dose = np.zeros(sections) if with_dose else None
    for index, (number, fields) in enumerate(rows):
        if len(fields) < 2:
            raise InputError(f"{path}:{number}", "no acquisition index (second column)",
                             "'tilt acquisition-index [dose]'")
        tilt[index] = _value(path, number, fields[0], "tilt")
        order[index] = int(_value(path, number, fields[1], "acquisition index", integer=True))
        if dose is not None and len(fields) >= 3:
            dose[index] = _value(path, number, fields[2], "dose")
    if dose is not None and not np.any(dose > 0):
        dose = None  # AreTomo3 writes 0 when the mdoc had no dose
    return Acquisition(source=path, order=_from_one(order), nominal_tilt=tilt, dose=dose)


def _order_list(path: Path, alignment: Alignment, sections: int) -> Acquisition:
    rows = _rows(path, ",", skip_header=True)
    aligned = list(zip(alignment.section.tolist(), alignment.tilt.tolist(), strict=True))
    dark = [(d.section, d.tilt) for d in alignment.dark_frames]
    if len(rows) == len(aligned) + len(dark):
        listed = aligned + dark
    elif len(rows) == len(aligned):
        listed = aligned
    else:
        raise InputError(str(path), f"{len(rows)} images",
                         f"{len(aligned) + len(dark)} (every image) or {len(aligned)} (aligned images)")
    parsed = []
    for number, fields in rows:
        if len(fields) != 2:
            raise InputError(f"{path}:{number}", f"{len(fields)} fields", "'acquisition-index,tilt'")
        parsed.append((_value(path, number, fields[1], "TiltAngle"),
                       int(_value(path, number, fields[0], "ImageNumber", integer=True))))
    acquired = _from_one(np.array([a for _, a in parsed], dtype=int))
    parsed = [(t, int(a)) for (t, _), a in zip(parsed, acquired, strict=True)]
    order = np.zeros(sections, dtype=int)
    tilt = np.full(sections, np.nan)
    by_tilt = sorted(listed, key=lambda item: item[1])
    for (section, _), (nominal, index) in zip(by_tilt, sorted(parsed), strict=True):
        order[section - 1] = index
        tilt[section - 1] = nominal
    return Acquisition(source=path, order=order, nominal_tilt=tilt, dose=None)


def _check_tilts(acquisition: Acquisition, alignment: Alignment) -> None:
    nominal = acquisition.nominal_tilt[alignment.section - 1]
    difference = alignment.tilt - nominal
    off = np.abs(difference - np.median(difference))
    if np.any(off > TILT_TOLERANCE):
        row = int(np.argmax(off))
        raise InputError(
            str(acquisition.source),
            f"tilt {nominal[row]:g}° of section {alignment.section[row]} does not match TILT "
            f"{alignment.tilt[row]:g}° in {alignment.path.name} (other images differ by "
            f"{np.median(difference):+.2f}°)",
            "the acquisition list of the same tilt series",
        )


def _check_orders(acquisition: Acquisition, alignment: Alignment) -> None:
    used = acquisition.order[alignment.section - 1]
    if np.any(used < 1):
        raise InputError(str(acquisition.source), "an aligned image has no acquisition index",
                         "indices from 1")
    known = acquisition.order[acquisition.order > 0]
    if len(set(known.tolist())) != len(known):
        raise InputError(str(acquisition.source), "an acquisition index is repeated",
                         "each image acquired once")
