"""Entry point of the bundled RELION 5 plugin."""

from __future__ import annotations

from typing import Any

from py2rely_core.cli_lazy import LazyCommand
from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import HookDeclarations


@hookimpl
def py2rely_add_hookspecs(declarations: HookDeclarations) -> None:
    from py2rely_plugins.relion5.sta import hookspecs

    declarations.add_hookspecs(hookspecs)
    for kind in hookspecs.KINDS:
        declarations.add_kind(kind)


@hookimpl
def py2rely_job_types() -> list:
    from py2rely_plugins.relion5.jobtypes import all_job_types

    return all_job_types()


# Loaded only when used: `py2rely -h` must not import pydantic, pandas and scipy (tests check
# that each line here is the loaded command's own one-line help).
CLI_COMMANDS = (
    ("relion", "py2rely_plugins.relion5.runtime_cli:relion_group",
     "The RELION 5 installation jobs use: a site install on PATH, or the embedded runtime."),
    ("status", "py2rely_plugins.relion5.status:status_command",
     "Print every job of the project: type, status, elapsed time, resolution."),
    ("report", "py2rely_plugins.relion5.report.cli:report_command",
     "Write a self-contained HTML report of a project: stages, FSC curves, maps, particles, timings."),
    ("demo", "py2rely_plugins.relion5.demo:demo_command",
     "Simulate a dataset with a known answer and run the STA pipeline on it."),
)
SUBCOMMANDS = (
    ("prepare", "relion5-parameters", "py2rely_plugins.relion5.sta.prepare_parameters:relion5_parameters",
     "Write the parameter file holding every RELION job parameter the STA pipeline uses."),
    ("prepare", "template", "py2rely_plugins.relion5.sta.prepare_template:template",
     "Resample a density map (e.g. from EMDB) to the tomograms' voxel size and box, low-pass "
     "filtered, as the reference for the first refinement."),
    ("prepare", "relion5-pipeline", "py2rely_plugins.relion5.sta.prepare_pipeline:relion5_pipeline",
     "Write an sbatch script that runs the STA pipeline driver on the cluster (submit it with sbatch)."),
    ("pipelines", "sta", "py2rely_plugins.relion5.sta.cli:sta_command",
     "Run the sub-tomogram averaging pipeline with RELION 5 (resumable: rerun to continue)."),
)


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    for name, target, help_text in CLI_COMMANDS:
        cli.add_command(LazyCommand(name, target, help_text))
    for group, name, target, help_text in SUBCOMMANDS:
        cli.commands[group].add_command(LazyCommand(name, target, help_text))
