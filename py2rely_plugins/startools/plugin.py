"""Entry point of the bundled startools plugin: STAR utilities under ``py2rely prepare`` and
``py2rely utils``."""

from __future__ import annotations

from typing import Any

from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import Importer
from py2rely_plugins.startools.commands import CombineParticles, CombineTiltSeries, FilterUnusedTilts


@hookimpl
def py2rely_importers() -> list[Importer]:
    return [CombineParticles(), CombineTiltSeries(), FilterUnusedTilts()]


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    from py2rely_plugins.startools.ts2position import command

    cli.commands["utils"].add_command(command())
