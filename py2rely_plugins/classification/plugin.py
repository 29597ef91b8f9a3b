"""Entry point of the bundled class selectors: resolution, population, manual."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_class_selectors() -> list:
    from py2rely_plugins.classification.selectors import all_selectors

    return all_selectors()
