"""Click parameter types every command uses for numbers: finite floats only.

``float("nan")`` and ``float("inf")`` parse, and click's ranges let NaN through (every comparison
with NaN is false), so a plain ``type=float`` or ``click.FloatRange`` would carry NaN or infinity
into a parameter file, a STAR table or a map. ``finite_floats`` gives any command (a plugin's too)
these types in place of click's, so the CLI refuses such values in one place.
"""

from __future__ import annotations

import math
from typing import Any

import click


def _finite(number: float, value: Any, param: click.Parameter | None, ctx: click.Context | None,
            kind: click.ParamType) -> float:
    if not math.isfinite(number):
        kind.fail(f"{value!r} is not a finite number", param, ctx)
    return number


class FiniteFloat(click.types.FloatParamType):
    """A float that is neither NaN nor ±infinity."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        return _finite(super().convert(value, param, ctx), value, param, ctx, self)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses NaN and ±infinity."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        _finite(click.FLOAT.convert(value, param, ctx), value, param, ctx, self)
        return super().convert(value, param, ctx)


FINITE_FLOAT = FiniteFloat()


def positive() -> FiniteFloatRange:
    """A finite number > 0."""
    return FiniteFloatRange(min=0, min_open=True)


def _finite_type(kind: click.ParamType) -> click.ParamType:
    if isinstance(kind, FiniteFloat | FiniteFloatRange):
        return kind
    if isinstance(kind, click.FloatRange):
        return FiniteFloatRange(kind.min, kind.max, kind.min_open, kind.max_open, kind.clamp)
    if isinstance(kind, click.types.FloatParamType):
        return FINITE_FLOAT
    if isinstance(kind, click.Tuple):
        kind.types = [_finite_type(item) for item in kind.types]
    return kind


def finite_floats(command: click.Command) -> click.Command:
    """Give every float parameter of ``command`` a finite type (in place; returns ``command``).

    Applied to every command the CLI runs, so an importer or command a plugin declares with
    ``type=float`` refuses NaN and infinity like the bundled ones.
    """
    for param in command.params:
        param.type = _finite_type(param.type)
    return command
