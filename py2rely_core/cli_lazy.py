"""Commands whose module is imported only when the command runs (or shows its own help).

``py2rely -h`` lists every command; importing each one's module would import pydantic, pandas,
scipy and copick, a second of start-up for every call. A plugin adds a ``LazyCommand`` with the
command's name, its one-line help and where the real command lives; ``Py2relyGroup`` (the CLI's
groups) swaps in the real command the first time it is looked up by name.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyCommand(click.Command):
    """Stands for the click command at ``target`` ("package.module:attribute") until it is used."""

    def __init__(self, name: str, target: str, help: str, hidden: bool = False) -> None:
        super().__init__(name=name, help=help, hidden=hidden)
        module, sep, attribute = target.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"lazy command {name!r}: target {target!r} is not 'module:attribute'")
        self.target = target

    def load(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command: Any = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is not a click command")
        return command
