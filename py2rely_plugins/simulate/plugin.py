"""Entry point of the bundled simulate plugin: adds ``py2rely simulate``."""

from __future__ import annotations

from typing import Any

from py2rely_core.cli_lazy import LazyCommand
from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    # Loaded when used: numpy, scipy and the simulator are not every command's start-up cost.
    cli.add_command(LazyCommand(
        "simulate", "py2rely_plugins.simulate.cli:simulate_command",
        "Write a synthetic RELION 5 tomography dataset with a known answer (ground_truth/)."))
