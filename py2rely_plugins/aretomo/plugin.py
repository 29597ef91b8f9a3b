"""Entry point of the bundled AreTomo plugin: ``py2rely prepare tilt-series``."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import Importer
from py2rely_plugins.aretomo.commands import TiltSeriesImporter


@hookimpl
def py2rely_importers() -> list[Importer]:
    return [TiltSeriesImporter()]
