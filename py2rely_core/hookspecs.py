"""The core's plugin contract on one page: the generic hooks every py2rely plugin can implement.

A plugin is a module (or object) with functions named like the hooks below, decorated with
``@hookimpl`` (``from py2rely_core.hookspecs import hookimpl``), and an entry point in the group
``py2rely`` pointing at it. Bundled plugins are registered exactly the same way.

Registration hooks return a list of objects; the core collects them by their ``name`` attribute and
refuses two plugins giving the same name for the same kind (unless the user chose a provider, see
``py2rely_core.plugins``). The object protocols are in ``py2rely_core.interfaces``.

A plugin may declare hooks of its own (as pytest plugins do with ``pytest_addhooks``): the relion5
plugin declares the STA pipeline's hooks (initial-model strategies, class selectors) in
``py2rely_plugins.relion5.sta.hookspecs`` through ``py2rely_add_hookspecs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from py2rely_core.interfaces import (
        ExecutorFactory,
        Exporter,
        HookDeclarations,
        Importer,
        JobResult,
        JobType,
        PlannedJob,
    )

PROJECT_NAME = "py2rely"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def py2rely_add_hookspecs(declarations: HookDeclarations) -> None:
    """Once, after every plugin is registered and before any other hook is called: a plugin that
    defines hooks of its own declares them (``declarations.add_hookspecs(module)``) and the kinds
    of named objects its registration hooks return (``declarations.add_kind(Kind(...))``)."""


@hookspec
def py2rely_job_types() -> list[JobType]:
    """At start-up: job builders, each keyed by its RELION type label (``relion.refine3d.tomo``)."""


@hookspec
def py2rely_executors() -> list[ExecutorFactory]:
    """At start-up: named executor factories (``local``, ``slurm``, a lab's own scheduler)."""


@hookspec
def py2rely_importers() -> list[Importer]:
    """At start-up: converters into RELION 5 inputs; each becomes a ``py2rely prepare`` command."""


@hookspec
def py2rely_exporters() -> list[Exporter]:
    """At start-up: converters out of RELION results; each becomes a ``py2rely export`` command."""


@hookspec
def py2rely_cli_commands(cli: click.Group) -> None:
    """While the CLI is built: add commands or groups to the root group ``cli``."""


@hookspec
def py2rely_job_started(job: PlannedJob, job_dir: str, project_dir: str) -> None:
    """Before a job's commands are handed to the executor (not called for reused jobs)."""


@hookspec
def py2rely_job_finished(job: PlannedJob, result: JobResult, project_dir: str) -> None:
    """After a job ended (succeeded, failed, aborted) or was reused from an earlier run."""
