"""Write the report: collect the project, draw what changed, write index.html."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from py2rely_core import atomic
from py2rely_core.log import get_logger
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import (
    collect,
    page,
    sections_classes,
    sections_jobs,
    sections_maps,
    sections_rounds,
    sections_truth,
)
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, LOG_DIR, Artifacts, SectionContext

REFRESH_WHILE_RUNNING = 30  # s: the page reloads itself while a job runs

logger = get_logger("py2rely.report")


@dataclass
class ReportSummary:
    index: Path
    images: int
    bytes: int
    seconds: float
    drawn: int  # files drawn or copied this time (the rest were up to date)
    problems: list[str] = field(default_factory=list)


def write_report(project_dir: str | os.PathLike[str], output: str | os.PathLike[str] | None = None
                 ) -> ReportSummary:
    """Write (or refresh) the report of ``project_dir`` into ``output`` (default: report/ in the
    project); returns where it is and what it took."""
    started = time.perf_counter()
    project = collect.collect(project_dir)
    out = Path(output) if output is not None else project.root / "report"
    out = out if out.is_absolute() else Path.cwd() / out
    for folder in (IMAGE_DIR, LOG_DIR):
        (out / folder).mkdir(parents=True, exist_ok=True)
    artifacts = Artifacts(out)
    context = SectionContext(project, artifacts)
    sections = [sections_jobs.stages(context), sections_maps.resolution(context), sections_maps.maps(context),
                sections_maps.particles(context), sections_classes.classification(context),
                sections_rounds.polishing(context), sections_truth.ground_truth(context),
                sections_jobs.timings(context)]
    sections = [s for s in sections if s]
    if artifacts.problems:
        sections.append(page.section("problems", "Not shown", "<ul>" + "".join(
            f"<li>{page.esc(p)}</li>" for p in artifacts.problems) + "</ul>"))
    running = any(j.status in ("Running", "Unfinished") for j in project.jobs)
    counts: dict[str, int] = {}
    for job in project.jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    finals = [j for j in project.succeeded(labels.POSTPROCESS) if j.resolution]
    meta = (f"Project {page.esc(project.root)} · {len(project.jobs)} jobs ("
            + ", ".join(f"{n} {page.esc(s.lower())}" for s, n in sorted(counts.items())) + ")"
            + (f" · latest post-processed resolution {finals[-1].resolution:.2f} Å "
               f"({page.esc(finals[-1].job_dir)})"
               if finals else "")
            + f" · written {time.strftime('%Y-%m-%d %H:%M:%S')}"
            + (" · a job is running: this page reloads every 30 s" if running else ""))
    index = out / "index.html"
    atomic.write_text(index, page.document("py2rely report", meta, sections,
                                           REFRESH_WHILE_RUNNING if running else None))
    artifacts.finish()
    images = [p for p in (out / IMAGE_DIR).iterdir() if p.suffix in (".png", ".svg")]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    for problem in artifacts.problems:
        logger.warning("report: not shown", problem=problem)
    return ReportSummary(index=index, images=len(images), bytes=size,
                         seconds=time.perf_counter() - started, drawn=artifacts.drawn,
                         problems=list(artifacts.problems))
