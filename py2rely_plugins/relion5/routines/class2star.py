"""`py2rely export class2star`: the particles of chosen classes of a Class3D job, written to a new
STAR file (py2rely 0.7.1's command, which always crashed; this is what it meant to do)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from py2rely_core.atomic import refuse_existing
from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.errors import InputError
from py2rely_plugins.relion5.routines.selection import check_classes, parse_classes, write_selected
from py2rely_plugins.relion5.user_inputs import particle_facts

_ITERATION = re.compile(r"run_it(\d+)_data\.star$")


def class_job_dir(name: str, root: Path) -> Path:
    """'job001', 'Class3D/job001' or a path -> the Class3D job directory."""
    candidates = [Path(name), root / name, root / "Class3D" / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise InputError(f"--class-job {name}", f"no such job directory (looked for {root / 'Class3D' / name})",
                     "a Class3D job, e.g. job001 or Class3D/job001")


def final_iteration(job_dir: Path, shown: str) -> Path:
    found = sorted(((int(m.group(1)), p) for p in job_dir.glob("run_it*_data.star")
                    if (m := _ITERATION.search(p.name))), key=lambda item: item[0])
    if not found:
        raise InputError(f"--class-job {shown}", "has no run_itNNN_data.star", "a finished Class3D job")
    return found[-1][1]


@click.command("class2star", context_settings=CONTEXT_SETTINGS)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              help="Accepted for 0.7.1 command lines; not needed.")
@click.option("-cj", "--class-job", default="job001", show_default=True,
              help="Class3D job whose classes are exported (job001, Class3D/job001 or a path).")
@click.option("--export-classes", default="1,2", show_default=True, help="Classes to export, e.g. 1,2.")
@click.option("--export-path", "--output", "export_path", required=True,
              help="STAR file to write (the job's last iteration, these classes only).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --export-path file.")
@click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="RELION project directory.")
def class2star(parameter: str, class_job: str, export_classes: str, export_path: str, overwrite: bool,
               project_dir: str) -> None:
    """Export the particles of chosen classes of a Class3D job to a new STAR file."""
    root = Path(project_dir).resolve()
    job_dir = class_job_dir(class_job, root)
    data = final_iteration(job_dir, class_job)
    classes = parse_classes(export_classes, "--export-classes")
    facts = particle_facts(data, str(data), "--class-job")
    check_classes(classes, facts, "--export-classes")
    target = Path(export_path)
    refuse_existing(target, "--export-path", overwrite)
    kept = write_selected(data, classes, target)
    click.echo(f"kept {kept} of {facts.count} particles of {data.name} (classes "
               f"{','.join(map(str, classes))}) -> {target}")
