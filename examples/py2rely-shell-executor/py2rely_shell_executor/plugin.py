"""The entry point py2rely loads (group "py2rely"): it registers the executor factory."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_executors() -> list:
    from py2rely_shell_executor.executor import ShellExecutorFactory

    return [ShellExecutorFactory()]
