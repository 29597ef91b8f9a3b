"""AreTomo's CTF fits (``<name>_CTF.txt``), a CTFFIND-style table.

Header written by AreTomo3 (AreTomo/FindCtf/CSaveCtfResults.cpp, mSaveFittings)::

    # Columns: #1 micrograph number; #2 - defocus 1 [A]; #3 - defocus 2; #4 - azimuth of
    # astigmatism; #5 - additional phase shift [radian]; #6 - cross correlation; #7 - spacing (in
    # Angstroms) up to which CTF rings were fit successfully; #8 - dfHand

AreTomo2 (FindCtf/CSaveCtfResults.cpp) writes the first seven columns. Defocus 1 is the larger
defocus (``GetDfMax``), along the azimuth, as in CTFFIND; RELION's own AreTomo reader takes
columns 2, 3, 4 as rlnDefocusU, rlnDefocusV, rlnDefocusAngle (src/align_tiltseries_runner.cpp,
``readAreTomoResults``). Column 8 is the defocus handedness AreTomo3 ≥ 2.0 measured
(FindCtf/CRefineCtfMain.cpp, ``mFindHandedness``).

Which image a row belongs to: AreTomo3 estimates the CTF of every image of the tilt-sorted series,
dark ones included (the tiles are made before dark images are removed, CAreTomoMain::mDoFull);
AreTomo2 removes dark images first (CProcessThread: mRemoveDarkFrames before mFindCtf), so its
rows are the aligned images, as RELION's reader assumes (it refuses a row count other than the
.aln's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from py2rely_core.errors import InputError

COLUMNS = ("micrograph number", "defocus 1", "defocus 2", "azimuth of astigmatism",
           "additional phase shift", "cross correlation", "fit resolution", "dfHand")


@dataclass(frozen=True)
class CtfFits:
    path: Path
    number: np.ndarray  # micrograph number as written (1-based)
    defocus_1: np.ndarray  # Å
    defocus_2: np.ndarray  # Å
    azimuth: np.ndarray  # degrees
    phase_shift: np.ndarray  # radians, as AreTomo writes it
    cross_correlation: np.ndarray
    fit_resolution: np.ndarray  # Å
    hand: np.ndarray | None  # AreTomo3's dfHand column (+1/-1), None for AreTomo2 files

    def __len__(self) -> int:
        return len(self.number)


def read_ctf(path: Path) -> CtfFits:
    """Parse an AreTomo _CTF.txt file; InputError naming the file, line and column when malformed."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot be read ({exc.strerror})") from None
    rows: list[list[float]] = []
    width: int | None = None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        if len(fields) not in (7, 8) or (width is not None and len(fields) != width):
            expected = f"{width}" if width is not None else "7 (AreTomo2) or 8 (AreTomo3)"
            raise InputError(f"{path}:{number}", f"{len(fields)} columns", f"{expected} columns")
        width = len(fields)
        row = []
        for column, field in zip(COLUMNS, fields, strict=False):
            try:
                value = float(field)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise InputError(f"{path}:{number}", f"column {column!r}: {field!r} is not a number")
            row.append(value)
        rows.append(row)
    if not rows:
        raise InputError(str(path), "no CTF rows", "one row per tilt image")
    table = np.asarray(rows)
    number = table[:, 0]
    if not np.all(number == np.round(number)) or not np.array_equal(
            np.sort(number), np.arange(number.min(), number.min() + len(number))):
        raise InputError(str(path), "micrograph numbers (column 1) are not consecutive integers")
    hand = None
    if width == 8:
        hand = table[:, 7].astype(int)
        if not set(hand.tolist()) <= {1, -1}:
            raise InputError(str(path), f"column 'dfHand' has {sorted(set(hand.tolist()))}", "1 or -1")
    order = np.argsort(number, kind="stable")
    table = table[order]
    return CtfFits(
        path=path, number=table[:, 0].astype(int), defocus_1=table[:, 1], defocus_2=table[:, 2],
        azimuth=table[:, 3], phase_shift=table[:, 4], cross_correlation=table[:, 5],
        fit_resolution=table[:, 6], hand=None if hand is None else hand[order],
    )
