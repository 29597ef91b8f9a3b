"""Accepting the spellings of py2rely 0.7.1 (the earlier tool), so that its command lines keep working.

Where our option has another name than 0.7.1's, the old name is a hidden option that feeds ours:
``legacy_alias(["--x"], "dim_x", "--dim-x")`` makes ``--x 4096`` mean ``--dim-x 4096`` and logs a
one-line deprecation note. The value goes through our option's type and checks, so nothing about
the old spelling is looser than the new one.

How: click hands every option the same table of parsed values (``opts``) and processes the options
given on the command line first, in the order they were given, before those left at their default.
The alias, being given, therefore runs before our option and moves its value into our option's slot,
as if our spelling had been typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click

from py2rely_core.log import get_logger


class LegacyAlias(click.Option):
    """A hidden option spelled as py2rely 0.7.1 spelled it; its value is given to option ``target``."""

    def __init__(self, decls: Sequence[str], target: str, ours: str, **attrs: Any) -> None:
        self.target = target
        self.ours = ours
        attrs.setdefault("help", f"py2rely 0.7.1's spelling of {ours}.")
        super().__init__(list(decls), expose_value=False, hidden=True, **attrs)

    def handle_parse_result(
        self, ctx: click.Context, opts: Mapping[str, Any], args: list[str],
    ) -> tuple[Any, list[str]]:
        assert self.name is not None
        if self.name in opts:
            spelled = "/".join(self.opts)
            if self.target in opts:
                raise click.BadParameter(f"given together with {self.ours}; give one of them",
                                         ctx=ctx, param=self)
            opts[self.target] = opts[self.name]  # type: ignore[index]  # click's own dict
            get_logger("py2rely.compat").warning(
                f"{spelled} is py2rely 0.7.1's spelling of {self.ours}; accepted, use {self.ours}")
        return None, args


def legacy_alias(decls: Sequence[str], target: str, ours: str, **attrs: Any) -> LegacyAlias:
    """``--x`` (0.7.1) feeding the option whose parameter name is ``target`` (spelled ``ours``)."""
    return LegacyAlias(decls, target, ours, **attrs)


class WholeNumber(click.ParamType):
    """An integer, also written as 0.7.1's float options printed it (``4096.0``)."""

    name = "integer"

    def __init__(self, minimum: int | None = None) -> None:
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                as_float = float(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
            if not as_float.is_integer():
                self.fail(f"{value!r} is not a whole number", param, ctx)
            number = int(as_float)
        if self.minimum is not None and number < self.minimum:
            self.fail(f"{number} is smaller than {self.minimum}", param, ctx)
        return number
