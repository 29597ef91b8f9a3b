"""Auto-Class3D: classify the refined particles, keep the class(es) a selector chooses, and go on
with the kept particles as a tracked Select job.

The decision is recomputed from the Class3D job's model.star on every run, so a rerun makes the
same choice (and reuses the same Select job); the per-class table and the reason are written
next to the Select job and shown in the final report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from py2rely_core import atomic
from py2rely_core.interfaces import JobResult
from py2rely_core.star import read_star
from py2rely_plugins.relion5.sta.context import StaContext
from py2rely_plugins.relion5.sta.contract import (
    ClassSelection,
    ClassSelector,
    ClassSummary,
    format_class_table,
)
from py2rely_plugins.relion5.sta.params import BinningStage

DECISION_FILE = "py2rely_class_selection.json"
DECISION_TEXT = "py2rely_class_selection.txt"


def read_class_summaries(job_dir: str, nr_iter: int, root: Path) -> list[ClassSummary]:
    """Per-class figures of a finished Class3D job, from its last iteration's model and data."""
    stem = root / f"{job_dir}run_it{nr_iter:03d}"
    model = read_star(f"{stem}_model.star")["model_classes"]
    data = read_star(f"{stem}_data.star")["particles"]
    counts = data["rlnClassNumber"].astype(int).value_counts()
    classes = []
    for index, row in model.reset_index(drop=True).iterrows():
        number = int(index) + 1
        classes.append(ClassSummary(
            number=number, particles=int(counts.get(number, 0)),
            distribution=float(row["rlnClassDistribution"]),
            resolution=float(row["rlnEstimatedResolution"]),
            accuracy_rotations=float(row["rlnAccuracyRotations"]),
            accuracy_translations=float(row["rlnAccuracyTranslationsAngst"]),
            map_path=f"{job_dir}run_it{nr_iter:03d}_class{number:03d}.mrc",
        ))
    return classes


def class_ranges(kept: Sequence[int]) -> list[tuple[int, int]]:
    """Contiguous runs of class numbers: (1, 2, 4) -> [(1, 2), (4, 4)]."""
    ranges: list[tuple[int, int]] = []
    for number in sorted(set(kept)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], number)
        else:
            ranges.append((number, number))
    return ranges


@dataclass
class AutoClass3D:
    selector: ClassSelector
    keep_classes: tuple[int, ...] = ()

    def __call__(self, context: StaContext, particles: str, refined_map: str, stage: BinningStage,
                 resolution: float) -> str:
        options = context.jobs
        lowpass = context.lowpass_from(resolution)
        mask = context.run(options.mask(refined_map, stage, lowpass,
                                         context.threshold(refined_map, lowpass), purpose="mask (class3d)"))
        planned = options.class3d(particles, refined_map, mask.path("mask.mrc"), stage, ini_high=lowpass)
        classified = context.run(planned)
        nr_iter = int(planned.options["nr_iter"])
        data = f"{classified.job_dir}run_it{nr_iter:03d}_data.star"
        if classified.status == "Planned":
            context.report("class3d", stage, None, None, classified, "classes chosen at run time")
            return data
        classes = read_class_summaries(classified.job_dir, nr_iter, context.project_root)
        settings: dict[str, Any] = {"min_class_share": context.params.class3d.min_class_share,
                                    "keep_classes": self.keep_classes}
        selection = self.selector.select(classes, settings)
        best = min((c.resolution for c in classes if c.number in selection.kept), default=None)
        context.report("class3d", stage, data, best, classified,
                        f"{len(classes)} classes; {self.selector.name}: keep {_numbers(selection.kept)}")
        selected = self._select(context, data, selection, stage)
        self._write_decision(context.project_root / selected.job_dir, classes, selection)
        kept = selected.path("join_particles.star" if selected.job_dir.startswith("JoinStar")
                             else "particles.star")
        context.report("select classes", stage, kept, None, selected, selection.reason)
        return kept

    def _select(self, context: StaContext, data: str, selection: ClassSelection,
                stage: BinningStage) -> JobResult:
        jobs = [context.run(context.jobs.select_class_range(data, first, last, stage))
                for first, last in class_ranges(selection.kept)]
        if len(jobs) == 1:
            return jobs[0]
        return context.run(context.jobs.join_particles([j.path("particles.star") for j in jobs], stage))

    def _write_decision(self, job_path: Path, classes: list[ClassSummary], selection: ClassSelection) -> None:
        record = {"selector": self.selector.name, "kept": list(selection.kept),
                  "reason": selection.reason, "classes": [asdict(c) for c in classes]}
        atomic.write_text(job_path / DECISION_FILE, json.dumps(record, indent=2) + "\n")
        atomic.write_text(job_path / DECISION_TEXT,
                          f"{format_class_table(classes)}\n\nkept: {_numbers(selection.kept)} "
                          f"({self.selector.name}): {selection.reason}\n")


def _numbers(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values)
