"""Entry point of the bundled RELION 5 plugin."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_job_types() -> list:
    return []
