"""Keeping the particles of chosen classes: as tracked RELION Select jobs (one per contiguous run of
class numbers, joined when there are several), or as a plain STAR file written elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from py2rely_core.errors import InputError
from py2rely_core.interfaces import JobResult, PlannedJob
from py2rely_core.star import read_star, write_star
from py2rely_plugins.relion5.routines import jobs
from py2rely_plugins.relion5.sta.classify import class_ranges
from py2rely_plugins.relion5.user_inputs import ParticleFacts

JOIN_WIDTH = 4  # RELION's Join star files job takes up to four inputs


def parse_classes(text: str, option: str) -> tuple[int, ...]:
    """'1,3,5' -> (1, 3, 5); empty parts are skipped, as 0.7.1 did."""
    try:
        numbers = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise InputError(option, f"{text!r} is not a comma-separated list of class numbers",
                         "e.g. 1,3,5") from None
    if not numbers or min(numbers) < 1:
        raise InputError(option, f"{text!r}", "class numbers from 1 on, e.g. 1,3,5")
    return tuple(sorted(set(numbers)))


def check_classes(classes: Sequence[int], facts: ParticleFacts, option: str) -> None:
    if not facts.classes:
        raise InputError(f"--particles {facts.path}", "has no rlnClassNumber column",
                         "the run_itNNN_data.star of a classification")
    missing = [c for c in classes if c not in facts.classes]
    if missing:
        raise InputError(option, f"class {missing[0]} has no particles in {facts.path}",
                         f"classes among {','.join(map(str, facts.classes))}")


def select_as_jobs(run: Callable[[PlannedJob], JobResult], particles: str, classes: Sequence[int],
                   binning: int | None) -> str:
    """Tracked Select (and JoinStar) jobs keeping ``classes``; returns the kept particles' STAR."""
    parts = [run(jobs.select_range(particles, first, last, binning)).path("particles.star")
             for first, last in class_ranges(classes)]
    while len(parts) > 1:  # join up to four at a time, the result first in the next join
        chunk, parts = parts[:JOIN_WIDTH], parts[JOIN_WIDTH:]
        parts.insert(0, run(jobs.join(chunk, binning)).path("join_particles.star"))
    return parts[0]


def write_selected(source: Path, classes: Sequence[int], target: Path) -> int:
    """Write the particles of ``classes`` (with the file's general and optics tables) to
    ``target``, atomically; returns how many were kept."""
    blocks = read_star(source)
    particles = blocks["particles"]
    kept = particles[particles["rlnClassNumber"].astype(int).isin(list(classes))]
    out: dict[str, object] = {}
    for name, table in blocks.items():
        if name == "particles":
            out[name] = kept
        elif name == "general" and len(table) == 1:
            out[name] = table.iloc[0].to_dict()  # a key-value table, not a loop
        else:
            out[name] = table
    write_star(out, target)  # type: ignore[arg-type]
    return len(kept)
