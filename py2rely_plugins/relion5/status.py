"""`py2rely status`: every job of a project with its type, status, time and resolution.

Read-only and lock-free, so it can run while a pipeline is running. Statuses come from RELION's
exit markers; a job with none is running if its process (or scheduler job) is still there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import click

from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError
from py2rely_core.project import Project
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.report import format_resolution


@dataclass
class JobLine:
    job_dir: str
    type_label: str
    status: str
    elapsed: float | None
    resolution: float | None
    stage: str


def _resolution(project: Project, job_dir: str, type_label: str) -> float | None:
    readers = {labels.POSTPROCESS: results.postprocess_resolution,
               labels.REFINE3D: results.refine_resolution}
    reader = readers.get(type_label)
    if reader is None:
        return None
    try:
        return reader(job_dir, project.root)
    except Exception:
        return None


def job_lines(project: Project) -> list[JobLine]:
    pipeline = project.read_pipeline()
    lines = []
    for process in pipeline.processes:
        job_dir = process.name
        record = project.read_record(job_dir) or {}
        status = project.state(job_dir).status
        if status == "Unfinished":
            status = "Running" if process.status == "Running" else process.status or "Unfinished"
        elapsed = record.get("elapsed")
        if elapsed is None and status == "Running" and "started" in record:
            elapsed = time.time() - float(record["started"])
        resolution = _resolution(project, job_dir, process.type_label) if status == "Succeeded" else None
        lines.append(JobLine(job_dir, process.type_label, status,
                             float(elapsed) if elapsed is not None else None, resolution,
                             str(record.get("stage", ""))))
    return lines


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@click.command("status", context_settings=CONTEXT_SETTINGS)
@click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="RELION project directory.")
def status_command(project_dir: str) -> None:
    """Print every job of the project: type, status, elapsed time, resolution."""
    project = Project(project_dir)
    if not project.pipeline_path.exists():
        raise InputError(str(Path(project_dir).resolve()), "no default_pipeline.star here",
                         "a RELION project directory")
    rows = [("job", "type", "status", "time", "resolution", "stage")]
    for line in job_lines(project):
        rows.append((line.job_dir, line.type_label, line.status, _duration(line.elapsed),
                     format_resolution(line.resolution), line.stage))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
