"""Entry point of the bundled executors plugin: `local` and `slurm`."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_executors() -> list:
    from py2rely_plugins.executors.local import LocalExecutorFactory
    from py2rely_plugins.executors.slurm import SlurmExecutorFactory

    return [LocalExecutorFactory(), SlurmExecutorFactory()]
