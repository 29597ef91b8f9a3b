"""Entry point of the bundled initial-model strategies: reconstruct, reference, denovo."""

from __future__ import annotations

from py2rely_core.hookspecs import hookimpl


@hookimpl
def py2rely_initial_model_strategies() -> list:
    from py2rely_plugins.initial_models.strategies import all_strategies

    return all_strategies()
