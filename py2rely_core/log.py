"""structlog set-up: a human console renderer by default, JSON lines with ``--log-format json``."""

from __future__ import annotations

import logging
import sys
from typing import Any

LOG_FORMATS = ("console", "json")


class _CurrentStderr:
    """sys.stderr as it is at each write: while a live progress bar runs, rich swaps sys.stderr for
    a proxy that prints above the bar, and log lines must go there, not under it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_configured = False
_pending: tuple[int, str] | None = None
_format = "console"


def configure(level: int = logging.INFO, fmt: str = "console") -> None:
    """Route structlog (and stdlib logging) to stderr at ``level`` in the chosen format.

    Until something asks for a logger, structlog is not even imported (a tenth of a second of
    every `py2rely` start-up, `py2rely prepare -h` included): the settings wait for the first
    ``get_logger``.
    """
    global _configured, _pending, _format
    _format = fmt
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(LOG_FORMATS)}")
    _configured = True
    if "structlog" in sys.modules:
        _pending = None
        _apply(level, fmt)
    else:
        _pending = (level, fmt)


def _apply(level: int, fmt: str) -> None:
    import structlog

    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
    ]
    if fmt == "json":
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


def get_logger(name: str | None = None) -> Any:
    # Library use without the CLI still logs to stderr, never into a program's stdout.
    global _pending
    if not _configured:
        configure()
    if _pending is not None:
        settings, _pending = _pending, None
        _apply(*settings)
    import structlog

    return structlog.get_logger(name)


def current_format() -> str:
    """The log format in use ("console" unless ``configure`` chose "json")."""
    return _format
