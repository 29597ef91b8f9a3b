"""Checks shared by the STAR utilities: which inputs exist, and outputs that would overwrite inputs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from py2rely_core.errors import InputError


def existing_inputs(paths: Sequence[str], skip_missing: bool, logger: Any) -> list[str]:
    """The input files to read; a missing one is an error unless ``skip_missing``."""
    missing = [p for p in paths if not Path(p).is_file()]
    if missing and not skip_missing:
        raise InputError(
            f"--input {missing[0]}", "file not found", "an existing STAR file, or --skip-missing",
        )
    if missing:
        logger.warning("inputs skipped: not found", count=len(missing), files=", ".join(missing))
    present = [p for p in paths if p not in missing]
    if not present:
        raise InputError("--input", "none of the input files exists")
    return present


def refuse_output_among_inputs(output: str, inputs: Iterable[str], option: str = "--output") -> None:
    """An output may never replace one of the inputs (the same path, or another name for the file)."""
    target = Path(output)
    for path in inputs:
        source = Path(path)
        same = source.resolve() == target.resolve()
        if not same and target.exists() and source.exists():
            same = os.path.samefile(source, target)
        if same:
            raise InputError(f"{option} {output}", f"is the input file {path}", "a new file")


def refuse_duplicate_tomograms(names_by_file: Sequence[tuple[str, pd.Series]]) -> None:
    """A tomogram may come from one input only (RELION names particles and tilt series by it)."""
    seen: dict[str, str] = {}
    for path, names in names_by_file:
        for name in pd.unique(names.astype(str)):
            if name in seen:
                raise InputError(
                    str(path), f"tomogram {name!r} is also in {seen[name]}",
                    "each tomogram (rlnTomoName) in one input only",
                )
            seen[name] = str(path)


def require_same_columns(tables: Sequence[tuple[str, pd.DataFrame]], block: str) -> None:
    """Concatenated tables must have the same columns: STAR has no empty cells."""
    first_path, first = tables[0]
    for path, table in tables[1:]:
        extra = [c for c in table.columns if c not in first.columns]
        lacking = [c for c in first.columns if c not in table.columns]
        if extra or lacking:
            detail = "; ".join(
                part for part in (
                    f"has {', '.join(extra)}" if extra else "",
                    f"lacks {', '.join(lacking)}" if lacking else "",
                ) if part
            )
            raise InputError(
                str(path), f"table data_{block} {detail} compared with {first_path}",
                "the same columns in every input",
            )
