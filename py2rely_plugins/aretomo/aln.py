"""AreTomo's alignment file (``<name>.aln``): header, global block, and where the local block starts.

Format, as AreTomo3 writes it (AreTomo/MrcUtil/CSaveAlignFile.cpp; AreTomo2 MrcUtil/CSaveAlnFile.cpp
writes the same without the AlphaOffset/BetaOffset/Thickness lines)::

    # AreTomo Alignment / Priims bprmMn
    # RawSize = 4096 4096 41            input stack nx ny nz
    # NumPatches = 0
    # DarkFrame =  0  1  -60.00         frame index, section index, tilt (one line per dark image)
    # AlphaOffset =  0.00
    # BetaOffset =  0.00
    # Thickness = 1200
    # SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT
        1    85.1234    1.00000     12.345     -6.789     1.00     1.00     1.00     0.00    -60.00
    # Local Alignment                  (only when NumPatches > 0; not used by RELION)

SEC is the section of the *input stack* an aligned image comes from; dark images are left out of
the global block and listed as DarkFrame lines. Section numbers are 0-based in AreTomo2 and in
AreTomo3 before 2.0.7 and 1-based since (AreTomo3 Readme 2.0.7/2.0.10); AreTomo3 itself decides
"0-based" when any section number is 0 (CAlignParam::bZeroBased, CDarkFrames::bZeroBased), and so
does this reader. TX/TY are in pixels of the input stack (ProjAlign/CProjAlignMain.cpp multiplies
the binned shifts by the binning), ROT and TILT in degrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from py2rely_core.errors import InputError

GLOBAL_COLUMNS = ("SEC", "ROT", "GMAG", "TX", "TY", "SMEAN", "SFIT", "SCALE", "BASE", "TILT")
LOCAL_MARKER = "Local Alignment"
_TAG = re.compile(
    r"^#\s*(?P<tag>RawSize|NumPatches|DarkFrame|AlphaOffset|BetaOffset|Thickness)\s*=(?P<value>.*)$"
)


@dataclass(frozen=True)
class DarkFrame:
    frame: int  # index in the tilt-sorted series, as AreTomo counts it
    section: int  # 1-based section of the input stack
    tilt: float


@dataclass(frozen=True)
class Alignment:
    """The global block of one .aln file, sections converted to 1-based."""

    path: Path
    raw_size: tuple[int, int, int] | None
    num_patches: int
    dark_frames: tuple[DarkFrame, ...]
    alpha_offset: float
    beta_offset: float
    thickness: int | None
    section: np.ndarray  # int, 1-based, one per aligned image, in the file's (tilt-sorted) order
    rot: np.ndarray
    gmag: np.ndarray
    tx: np.ndarray  # pixels of the input stack
    ty: np.ndarray
    tilt: np.ndarray
    zero_based: bool  # the file numbered sections from 0

    def __len__(self) -> int:
        return len(self.section)

    @property
    def dark_sections(self) -> np.ndarray:
        return np.array([d.section for d in self.dark_frames], dtype=int)


def read_aln(path: Path) -> Alignment:
    """Parse an AreTomo .aln file; InputError naming the file, line and column when it is malformed."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
    header: dict[str, str] = {}
    darks: list[tuple[int, int, float]] = []
    rows: list[list[float]] = []
    in_global = False
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if LOCAL_MARKER in text:
                break  # the per-patch block follows; RELION 5 has no use for it
            if text.lstrip("#").split()[:1] == ["SEC"]:
                in_global = True
                continue
            match = _TAG.match(text)
            if match is None:
                continue
            if match["tag"] == "DarkFrame":
                darks.append(_dark_frame(path, number, match["value"]))
            else:
                header[match["tag"]] = match["value"].strip()
            continue
        if not in_global:
            raise InputError(f"{path}:{number}", "data line before the '# SEC ROT GMAG TX TY ...' header",
                             "an AreTomo .aln file")
        rows.append(_global_row(path, number, text))
    if not in_global:
        raise InputError(str(path), "no global alignment block ('# SEC ROT GMAG TX TY ...' header)",
                         "an AreTomo .aln file")
    if not rows:
        raise InputError(str(path), "the global alignment block has no rows")
    table = np.asarray(rows, dtype=float)
    section = table[:, 0].astype(int)
    dark_sections = [d[1] for d in darks]
    zero_based = 0 in set(section.tolist()) | set(dark_sections)
    shift = 1 if zero_based else 0
    dark_frames = tuple(DarkFrame(frame=f, section=s + shift, tilt=t) for f, s, t in darks)
    section = section + shift
    _refuse_repeated_sections(path, section, dark_frames)
    return Alignment(
        path=path,
        raw_size=_ints(path, header, "RawSize", 3),  # type: ignore[arg-type]
        num_patches=(_ints(path, header, "NumPatches", 1) or (0,))[0],
        dark_frames=dark_frames,
        alpha_offset=_float(path, header, "AlphaOffset"),
        beta_offset=_float(path, header, "BetaOffset"),
        thickness=(_ints(path, header, "Thickness", 1) or (None,))[0],
        section=section,
        rot=table[:, 1], gmag=table[:, 2], tx=table[:, 3], ty=table[:, 4], tilt=table[:, 9],
        zero_based=zero_based,
    )


def _global_row(path: Path, number: int, text: str) -> list[float]:
    fields = text.split()
    if len(fields) != len(GLOBAL_COLUMNS):
        raise InputError(f"{path}:{number}", f"{len(fields)} fields in the global alignment block",
                         f"{len(GLOBAL_COLUMNS)} ({' '.join(GLOBAL_COLUMNS)})")
    values = []
    for column, field in zip(GLOBAL_COLUMNS, fields, strict=True):
        value = _number(field)
        if value is None or (column == "SEC" and not value.is_integer()):
            expected = "an integer section number" if column == "SEC" else "a finite number"
            raise InputError(f"{path}:{number}", f"column {column}: {field!r} is not valid", expected)
        values.append(value)
    return values


def _dark_frame(path: Path, number: int, value: str) -> tuple[int, int, float]:
    fields = value.split()
    parsed = [_number(f) for f in fields[:3]]
    if len(fields) < 3 or any(p is None for p in parsed) or not all(
            p is not None and p.is_integer() for p in parsed[:2]):
        raise InputError(f"{path}:{number}", f"DarkFrame line {value.strip()!r} is not valid",
                         "'# DarkFrame = <frame> <section> <tilt>'")
    frame, section, tilt = parsed
    return int(frame), int(section), float(tilt)  # type: ignore[arg-type]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _ints(path: Path, header: dict[str, str], tag: str, count: int) -> tuple[int, ...] | None:
    if tag not in header:
        return None
    fields = header[tag].split()
    values = [_number(f) for f in fields]
    if len(values) != count or any(v is None or not v.is_integer() or v < 0 for v in values):
        raise InputError(str(path), f"header '# {tag} = {header[tag]}' is not valid",
                         f"{count} non-negative integer(s)")
    return tuple(int(v) for v in values)  # type: ignore[arg-type]


def _float(path: Path, header: dict[str, str], tag: str) -> float:
    if tag not in header:
        return 0.0
    value = _number(header[tag])
    if value is None:
        raise InputError(str(path), f"header '# {tag} = {header[tag]}' is not a number")
    return value


def _refuse_repeated_sections(path: Path, section: np.ndarray, darks: tuple[DarkFrame, ...]) -> None:
    all_sections = [*section.tolist(), *(d.section for d in darks)]
    seen: set[int] = set()
    for value in all_sections:
        if value in seen:
            raise InputError(str(path), f"section {value} is listed twice (global block / DarkFrame)",
                             "each input-stack section once")
        seen.add(value)
