"""Progress of long work: a live bar on a terminal, plain lines at a bounded rate elsewhere.

On a terminal (stderr is a TTY, the console log format, ``PY2RELY_PROGRESS`` not ``plain``) a
``ProgressTask`` is one rich progress bar that updates in place and disappears when the work ends.
Anywhere else (CI, a log file, a SLURM job) it writes a plain line through ``emit`` (the logger by
default, so ``--log-format json`` gives JSON lines) when something changed, at most once every
``interval`` seconds (whoever ran the work reports how it ended).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

MODE_ENV = "PY2RELY_PROGRESS"  # "live", "plain" or "off"; default: live on a terminal
INTERVAL_ENV = "PY2RELY_PROGRESS_INTERVAL"  # seconds between plain lines
DEFAULT_INTERVAL = 30.0

Emit = Callable[[str, dict[str, Any]], None]  # (message, fields)


def mode() -> str:
    chosen = os.environ.get(MODE_ENV, "").strip().lower()
    if chosen in ("live", "plain", "off"):
        return chosen
    from py2rely_core import log

    interactive = sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"
    return "live" if interactive and log.current_format() == "console" else "plain"


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _log_emit(logger_name: str) -> Emit:
    def emit(message: str, fields: dict[str, Any]) -> None:
        from py2rely_core import log

        log.get_logger(logger_name).info(message, **fields)

    return emit


class ProgressTask:
    """One piece of long work: ``update(...)`` as it goes, ``close()`` at the end."""

    def __init__(self, description: str, total: float | None = None, *, emit: Emit | None = None,
                 logger_name: str = "py2rely.progress", display: str | None = None,
                 min_interval: float | None = None, clock: Callable[[], float] = time.monotonic,
                 console: Any = None) -> None:
        self.description = description
        self.total = total
        self.completed = 0.0
        self.fields: dict[str, Any] = {}
        self.display = display or mode()
        self.min_interval = interval() if min_interval is None else min_interval
        self.clock = clock
        self._emit = emit or _log_emit(logger_name)
        self._last_emitted: float | None = None
        self._last_state: tuple | None = None
        self._lock = threading.Lock()
        self._progress: Any = None
        self._task_id: Any = None
        if self.display == "live":
            self._start_live(console)

    def _start_live(self, console: Any) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[detail]}"),
            console=console or Console(stderr=True), transient=True, redirect_stdout=False,
            redirect_stderr=True)
        self._progress.start()
        self._task_id = self._progress.add_task(self.description, total=self.total, detail="")

    # -- updating ----------------------------------------------------------------------------

    def update(self, completed: float | None = None, total: float | None = None,
               description: str | None = None, **fields: Any) -> None:
        with self._lock:
            if completed is not None:
                self.completed = completed
            if total is not None:
                self.total = total
            if description is not None:
                self.description = description
            self.fields.update({k: v for k, v in fields.items() if v is not None})
            if self._progress is not None:
                self._progress.update(self._task_id, completed=self.completed, total=self.total,
                                      description=self.description, detail=self.detail())
            elif self.display == "plain":
                self._maybe_emit()

    def detail(self) -> str:
        return "  ".join(f"{key} {value}" for key, value in self.fields.items())

    def _state(self) -> tuple:
        return (self.description, self.completed, self.total, tuple(sorted(self.fields.items())))

    def _maybe_emit(self) -> None:
        now = self.clock()
        state = self._state()
        if state == self._last_state or not (self.fields or self.total):
            return
        if self._last_emitted is not None and now - self._last_emitted < self.min_interval:
            return
        self._last_emitted, self._last_state = now, state
        fields = dict(self.fields)
        if self.total:
            fields["done"] = f"{self.completed:g}/{self.total:g}"
        self._emit(self.description, fields)

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None


@contextlib.contextmanager
def progress_task(description: str, total: float | None = None, **options: Any) -> Iterator[ProgressTask]:
    task = ProgressTask(description, total, **options)
    try:
        yield task
    finally:
        task.close()
