"""The STA pipeline's own hooks, declared by the relion5 plugin (``py2rely_add_hookspecs``).

Implement them like the core's hooks (``@hookimpl`` from ``py2rely_core.hookspecs``); the objects
they return follow the protocols in ``py2rely_plugins.relion5.sta.contract`` and receive a
``StaContext`` (``py2rely_plugins.relion5.sta.context``) when the pipeline uses them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from py2rely_core.hookspecs import hookspec
from py2rely_core.interfaces import Kind

if TYPE_CHECKING:
    from py2rely_plugins.relion5.sta.contract import ClassSelector, InitialModelStrategy


@hookspec
def py2rely_initial_model_strategies() -> list[InitialModelStrategy]:
    """When a pipeline asks for one by name: strategies that run the jobs producing the first
    reference of a pipeline (``reconstruct``, ``reference``, ``denovo`` are bundled)."""


@hookspec
def py2rely_class_selectors() -> list[ClassSelector]:
    """When Auto-Class3D asks for one by name: rules that choose which classes of a Class3D result
    to keep (``resolution``, ``population``, ``manual`` are bundled)."""


KINDS = (
    Kind("initial_model_strategies", "py2rely_initial_model_strategies", "initial-model strategy"),
    Kind("class_selectors", "py2rely_class_selectors", "class selector"),
)
