"""`py2rely report`: write a project's HTML report (also refreshed by the pipeline after every job)."""

from __future__ import annotations

from pathlib import Path

import click

from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError
from py2rely_core.project import Project


@click.command("report", context_settings=CONTEXT_SETTINGS)
@click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="RELION project directory.")
@click.option("-o", "--output", default=None, type=click.Path(file_okay=False),
              help="Report directory (default: report/ in the project directory).")
def report_command(project_dir: str, output: str | None) -> None:
    """Write a self-contained HTML report of a project: stages, FSC curves, maps, particles, timings."""
    from py2rely_plugins.relion5.report.build import write_report

    project = Project(project_dir)
    if not project.pipeline_path.exists():
        raise InputError(str(Path(project_dir).resolve()), "no default_pipeline.star here",
                         "a RELION project directory")
    summary = write_report(project.root, output)
    click.echo(f"{summary.index}: {summary.images} images, {summary.bytes / 1e6:.1f} MB "
               f"({summary.seconds:.1f} s)")
