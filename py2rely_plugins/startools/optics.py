"""Merging the data_optics tables of several particle files into one, with new group numbers.

RELION keeps everything per optics group, tilt-series pixel size included (``ParticleSet::getPosition``
converts each particle with its own group's ``rlnTomoTiltSeriesPixelSize``), so groups with different
pixel sizes are valid in one file: they stay separate groups. Two groups are merged only when every
optics value *and* the name are the same — the same group seen in two files, as after importing
several sessions with the same options. A name that is already taken by a different group gets a
suffix, because RELION also identifies optics groups by name.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

VALUE_DECIMALS = 6  # STAR files are written with 6 decimals; compare at that precision


@dataclass
class OpticsMerge:
    table: pd.DataFrame
    # per input: its rlnOpticsGroup → the output group
    renumbering: list[dict[int, int]] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # (file, old name, new name)


def _key(row: pd.Series) -> tuple:
    return tuple(
        round(float(v), VALUE_DECIMALS) if isinstance(v, numbers.Real) else str(v)
        for k, v in row.items() if k != "rlnOpticsGroup"
    )


def merge_optics(tables: Sequence[tuple[str, pd.DataFrame]]) -> OpticsMerge:
    """Output groups numbered 1.. in input order; identical groups share a number."""
    rows: list[dict] = []
    number_of: dict[tuple, int] = {}
    names_taken: set[str] = set()
    merge = OpticsMerge(table=pd.DataFrame())
    for path, optics in tables:
        renumbering: dict[int, int] = {}
        for _, row in optics.iterrows():
            old_group = int(row["rlnOpticsGroup"])
            key = _key(row)
            if key not in number_of:
                new_row = row.to_dict()
                name = str(new_row.get("rlnOpticsGroupName", f"opticsGroup{old_group}"))
                if name in names_taken:
                    new_name = _free_name(name, names_taken)
                    merge.renamed.append((path, name, new_name))
                    name = new_name
                if "rlnOpticsGroupName" in new_row:
                    new_row["rlnOpticsGroupName"] = name
                names_taken.add(name)
                number_of[key] = len(rows) + 1
                new_row["rlnOpticsGroup"] = number_of[key]
                rows.append(new_row)
            renumbering[old_group] = number_of[key]
        merge.renumbering.append(renumbering)
    merge.table = pd.DataFrame(rows, columns=list(tables[0][1].columns))
    merge.table["rlnOpticsGroup"] = merge.table["rlnOpticsGroup"].astype(int)
    return merge


def _free_name(name: str, taken: set[str]) -> str:
    suffix = 2
    while f"{name}_{suffix}" in taken:
        suffix += 1
    return f"{name}_{suffix}"
