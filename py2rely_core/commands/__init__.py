"""The core's own commands; importing this package attaches them to the CLI groups."""

from py2rely_core.commands import parameters  # noqa: F401
from py2rely_core.commands import template as _template  # noqa: F401
