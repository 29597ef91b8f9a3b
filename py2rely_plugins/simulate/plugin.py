"""Entry point of the bundled simulate plugin: adds ``py2rely simulate``."""

from __future__ import annotations

from typing import Any

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    from py2rely_plugins.simulate.cli import simulate_command

    cli.add_command(simulate_command)
