"""`py2rely status`: every job of a project with its type, status, time and resolution.

Statuses come from RELION's exit markers. A job with none that the pipeline lists as running is
asked about through the executor that started it (named in its py2rely_job.json): still queued
or running (with the scheduler's reason when it waits), or gone. A job whose processes are gone
is shown failed with the reason, and, when no pipeline driver is running to do it, recorded as
failed (exit marker, record, default_pipeline.star), so that no job stays "Running" forever.
Safe to run while a pipeline runs: it writes nothing then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError, Py2relyError
from py2rely_core.interfaces import JobProbe, RunnableJob
from py2rely_core.markers import UNFINISHED
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project, lost_job_reason
from py2rely_core.relion_files import FAILED, RUNNING
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
    note: str = ""  # why it failed, or why a queued job waits


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


class _Executors:
    """The executors that started jobs, created once each with default settings."""

    def __init__(self) -> None:
        self._made: dict[str, Any] = {}

    def probe(self, project: Project, job_dir: str, record: dict[str, Any]) -> JobProbe:
        name = str(record.get("executor", ""))
        if not name:
            return JobProbe(JobProbe.UNKNOWN, "no executor is recorded for it")
        if name not in self._made:
            try:
                self._made[name] = get_plugins().get("executors", name).create({})
            except Py2relyError as exc:
                self._made[name] = exc
        executor = self._made[name]
        if isinstance(executor, Exception):
            return JobProbe(JobProbe.UNKNOWN, f"its executor {name} is not available ({executor})")
        job = RunnableJob(str(project.root), job_dir, job_dir.strip("/").replace("/", "_"), (), "cpu",
                          str(record.get("stage", "")))
        probe = getattr(executor, "probe", None)
        try:
            if probe is not None:
                return probe(job)
            found = executor.reattach(job) is not None
        except Exception as exc:  # a third-party executor: its trouble must not break status
            return JobProbe(JobProbe.UNKNOWN, f"its executor {name} failed: {exc}")
        if found:
            return JobProbe(JobProbe.ACTIVE)
        return JobProbe(JobProbe.GONE, "its executor finds no process of it")


def job_lines(project: Project) -> tuple[list[JobLine], str]:
    """One line per job, and a warning line ("" if none) about the pipeline file."""
    pipeline, warning = project.pipeline_or_rebuilt()
    driver = project.driver_running()
    executors = _Executors()
    lines, lost = [], []
    for process in pipeline.processes:
        job_dir = process.name
        record = project.read_record(job_dir) or {}
        status, note = project.state(job_dir).status, ""
        if status == UNFINISHED and process.status == RUNNING and record:
            probe = executors.probe(project, job_dir, record)
            if probe.state == JobProbe.ACTIVE:
                status, note = ("Pending", probe.waiting) if probe.waiting else (RUNNING, "")
            elif probe.state == JobProbe.GONE and not driver:
                status, note = FAILED, lost_job_reason(probe.detail)
                lost.append((job_dir, note))
            elif probe.state == JobProbe.GONE:
                status = RUNNING  # its driver is following it and will record how it ended
            else:
                status, note = f"{RUNNING}?", f"cannot tell whether it still runs: {probe.detail}"
        elif status == UNFINISHED:
            status = process.status or UNFINISHED
        elif status != "Succeeded":
            note = str(record.get("reason", ""))
        elapsed = record.get("elapsed")
        if elapsed is None and status in (RUNNING, "Pending") and "started" in record:
            elapsed = time.time() - float(record["started"])
        resolution = _resolution(project, job_dir, process.type_label) if status == "Succeeded" else None
        lines.append(JobLine(job_dir, process.type_label, status,
                             float(elapsed) if elapsed is not None else None, resolution,
                             str(record.get("stage", "")), note))
    if lost and not warning:
        with project.lock_if_idle() as idle:
            for job_dir, reason in lost if idle else ():
                if project.state(job_dir).status == UNFINISHED:  # nothing ended it meanwhile
                    project.mark_failed(job_dir, reason)
    return lines, warning


def format_duration(seconds: float | None) -> str:
    """h:mm:ss or m:ss, as `status` and the report show a job's time; '-' when unknown."""
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
    lines, warning = job_lines(project)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    rows = [("job", "type", "status", "time", "resolution", "stage", "note")]
    for line in lines:
        rows.append((line.job_dir, line.type_label, line.status, format_duration(line.elapsed),
                     format_resolution(line.resolution), line.stage, line.note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
