"""Are a job's outputs whole? Checked when a job ends and again before it is reused.

A job directory with RELION's success marker can still hold a truncated STAR file or map (a full
disk, a copy that stopped, a file edited by hand). Every output is checked on its own (a STAR
file parses and every row has every column; an MRC file has a valid header and exactly the size
the header says), then against what its job type promises (``OutputCheck``: tables, columns, row
counts consistent with the input). Each problem is one line naming the file.
"""

from __future__ import annotations

import os
import shlex
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from py2rely_core.interfaces import OutputCheck

MRC_SUFFIXES = (".mrc", ".mrcs", ".map", ".st")
STAR_SUFFIXES = (".star",)


@dataclass
class StarSummary:
    """The tables of a STAR file: columns and row count per block (pairs count as one row)."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


class Damaged(ValueError):
    """An output file is not whole; the message says why (without the path)."""


def _words(line: str) -> list[str]:
    # str.split is ~50 times faster than shlex; RELION quotes only values with blanks.
    if '"' in line or "'" in line:
        lexer = shlex.shlex(line, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        return list(lexer)
    return line.split("#", 1)[0].split() if "#" in line else line.split()


def read_star_summary(path: Path) -> StarSummary:
    """Columns and row counts of every table; raises Damaged on a file that is not whole."""
    summary = StarSummary()
    block: str | None = None
    in_loop = reading_rows = False
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise Damaged(f"cannot be read ({exc.strerror})") from None
    with handle:
        try:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("data_"):
                    block = line[5:]
                    summary.columns[block], summary.rows[block] = [], 0
                    in_loop = reading_rows = False
                    continue
                if block is None:
                    raise Damaged(f"line {number}: a value outside a data_ block")
                if line.startswith("loop_"):
                    in_loop, reading_rows = True, False
                    continue
                try:
                    words = _words(line)
                except ValueError as exc:
                    raise Damaged(f"line {number}: {exc}") from None
                if words[0].startswith("_") and not reading_rows:
                    summary.columns[block].append(words[0][1:])
                    if not in_loop:
                        summary.rows[block] = 1
                    continue
                if not in_loop:
                    raise Damaged(f"line {number}: unexpected {line[:40]!r}")
                reading_rows = True
                if len(words) != len(summary.columns[block]):
                    raise Damaged(f"line {number}: {len(words)} values for {len(summary.columns[block])} "
                                  f"columns of table {block or '(unnamed)'} (the file is cut short?)")
                summary.rows[block] += 1
        except UnicodeDecodeError:
            raise Damaged("is not a text file") from None
    if not summary.columns:
        raise Damaged("holds no data_ block")
    return summary


_MRC_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}


def check_mrc(path: Path) -> None:
    """A valid MRC header and a file size that matches it; raises Damaged."""
    import mrcfile

    size = path.stat().st_size
    if size < 1024:
        raise Damaged(f"has {size} bytes, less than an MRC header (1024)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, header_only=True, permissive=True) as mrc:
                header = mrc.header
                nx, ny, nz = (int(header.nx), int(header.ny), int(header.nz))
                mode, extended = int(header.mode), int(header.nsymbt)
                stamp = bytes(header.map)
    except Exception as exc:
        raise Damaged(f"has no readable MRC header ({type(exc).__name__}: {exc})") from None
    if stamp != b"MAP ":
        raise Damaged("has no MRC header (no 'MAP ' stamp)")
    if mode == 101:
        data = (nx + 1) // 2 * ny * nz
    elif mode in _MRC_BYTES:
        data = nx * ny * nz * _MRC_BYTES[mode]
    else:
        raise Damaged(f"has MRC mode {mode}, which no RELION program writes")
    if min(nx, ny, nz) < 1:
        raise Damaged(f"has dimensions {nx}×{ny}×{nz} in its header")
    expected = 1024 + extended + data
    if size != expected:
        what = "cut short" if size < expected else "longer than its header says"
        raise Damaged(f"is {what}: {size} bytes, the header ({nx}×{ny}×{nz}, mode {mode}) "
                      f"says {expected}")


class OutputChecker:
    """Checks the outputs of one job, reading every file at most once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._summaries: dict[str, StarSummary] = {}

    def _path(self, name: str) -> Path:
        return Path(name) if os.path.isabs(name) else self.root / name

    def summary(self, name: str) -> StarSummary:
        if name not in self._summaries:
            self._summaries[name] = read_star_summary(self._path(name))
        return self._summaries[name]

    def file_problem(self, name: str) -> str | None:
        """What is wrong with one existing output file on its own, or None."""
        path = self._path(name)
        if path.suffix not in (*STAR_SUFFIXES, *MRC_SUFFIXES):
            return None  # logs and plots (RELION writes an empty logfile.pdf without plotting tools)
        try:
            if path.stat().st_size == 0:
                return f"{name} is empty"
            if path.suffix in STAR_SUFFIXES:
                self.summary(name)
            elif path.suffix in MRC_SUFFIXES:
                check_mrc(path)
        except Damaged as exc:
            return f"{name} {exc}"
        except OSError as exc:
            return f"{name} cannot be read ({exc.strerror})"
        return None

    def check_problem(self, check: OutputCheck) -> str | None:
        """What is wrong with an output against its job type's promise, or None."""
        if not check.block:
            return None
        try:
            summary = self.summary(check.path)
        except (Damaged, OSError) as exc:
            return f"{check.path} {exc}"
        if check.block not in summary.columns:
            return f"{check.path} has no table data_{check.block}"
        missing = [c for c in check.columns if c not in summary.columns[check.block]]
        if missing:
            return f"{check.path} table {check.block} has no column {missing[0]}"
        if not check.rows_like:
            return None
        expected = 0
        for source, block in check.rows_like:
            try:
                rows = self.summary(source).rows
            except (Damaged, OSError):
                return None  # a damaged input is its own job's problem, found there
            if block not in rows:
                return None  # an input of another layout: nothing to compare with
            expected += rows[block]
        rows = summary.rows[check.block]
        if rows > expected or (rows < expected and not check.at_most):
            bound = "at most " if check.at_most else ""
            return (f"{check.path} has {rows} rows in table {check.block}, {bound}{expected} expected "
                    f"from {', '.join(source for source, _ in check.rows_like)}")
        return None


def output_problems(root: Path, required: Iterable[str], declared: Iterable[str],
                    checks: Iterable[OutputCheck] = ()) -> list[str]:
    """One line per problem: a required output missing, an output that is not whole, a table
    that is not what the job type promises."""
    checker = OutputChecker(root)
    required = list(dict.fromkeys(required))
    problems = [f"{name} is missing" for name in required if not checker._path(name).exists()]
    for name in dict.fromkeys([*required, *declared]):
        if checker._path(name).is_file():
            problem = checker.file_problem(name)
            if problem:
                problems.append(problem)
    damaged = {line.split(" ", 1)[0] for line in problems}
    for check in checks:
        if check.path in damaged or not checker._path(check.path).is_file():
            continue
        problem = checker.check_problem(check)
        if problem:
            problems.append(problem)
    return problems
