"""Point-group names RELION accepts for a (chiral) macromolecule."""

from __future__ import annotations

import re

ACCEPTED = "C1..C99, D2..D99, T, O, I, I1, I2, I3, I4"
_PATTERN = re.compile(r"^(?:C(?P<c>[1-9][0-9]?)|D(?P<d>[1-9][0-9]?)|T|O|I[1-4]?)$")


def normalise_symmetry(name: str) -> str:
    """Upper-cased point group, or ValueError naming the accepted forms.

    Mirror groups (Cnv, Dnh, Ih, ...) are refused: a protein cannot have them. I5 is refused
    because RELION 5 parses it but stops with "Symmetry pg_I5 not implemented" (exit code 0).
    """
    candidate = name.strip().upper()
    match = _PATTERN.match(candidate)
    if not match or match.group("d") == "1":
        hint = " (D1 is C2)" if candidate == "D1" else ""
        raise ValueError(f"unknown symmetry {name!r}{hint}; accepted: {ACCEPTED}")
    return candidate
