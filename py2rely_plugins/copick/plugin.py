"""Entry point of the bundled copick plugin: ``prepare particles`` and ``export star2copick``."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import Exporter, Importer
from py2rely_plugins.copick.commands import ParticlesImporter, Star2CopickExporter


@hookimpl
def py2rely_importers() -> list[Importer]:
    return [ParticlesImporter()]


@hookimpl
def py2rely_exporters() -> list[Exporter]:
    return [Star2CopickExporter()]
