"""Entry point of the bundled copick plugin: ``prepare particles``, ``prepare import-particles``,
``export star2copick`` and ``utils warp-tm2copick``."""

from __future__ import annotations

from typing import Any

from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import Exporter, Importer
from py2rely_plugins.copick.commands import (
    ParticlesImporter,
    Star2CopickExporter,
    StarImporter,
    warp_tm2copick_command,
)


@hookimpl
def py2rely_importers() -> list[Importer]:
    return [ParticlesImporter(), StarImporter()]


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    cli.commands["utils"].add_command(warp_tm2copick_command())


@hookimpl
def py2rely_exporters() -> list[Exporter]:
    return [Star2CopickExporter()]
