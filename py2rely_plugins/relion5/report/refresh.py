"""The pipeline's report refresher: an event-hook plugin that rewrites the report when a job
starts (it shows as running) and after it ends, so the page can be watched during a run.

The report is written by one background thread while the pipeline goes on (requests that come
while it writes are merged into one more refresh), so the driver never waits for a picture; the
end of a run waits for the last refresh. A refresh never stops or fails the pipeline: a report
that cannot be written is logged.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from py2rely_core.hookspecs import hookimpl
from py2rely_core.log import get_logger

PLUGIN_NAME = "py2rely-report-refresher"


class ReportRefresher:
    def __init__(self, project_root: Path, output: Path | None = None) -> None:
        self.project_root = Path(project_root).resolve()
        self.output = output
        self.pending = False  # reused jobs were replayed since the last refresh
        self.index: Path | None = None
        self.logger = get_logger("py2rely.report")
        self._lock = threading.Lock()
        self._wanted = False
        self._worker: threading.Thread | None = None

    def _ours(self, project_dir: str) -> bool:
        return Path(project_dir).resolve() == self.project_root

    @hookimpl
    def py2rely_job_started(self, job: Any, job_dir: str, project_dir: str) -> None:
        if self._ours(project_dir):
            self.request()

    @hookimpl
    def py2rely_job_finished(self, job: Any, result: Any, project_dir: str) -> None:
        if not self._ours(project_dir):
            return
        if result.reused:  # a rerun replays many finished jobs: refresh once, at the end
            self.pending = True
            return
        self.request()

    def request(self) -> None:
        """Ask for a refresh; it runs in the background thread, now or after the current one."""
        with self._lock:
            self._wanted = True
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="py2rely report", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._worker = None
                    return
                self._wanted = False
            self.refresh()

    def wait(self) -> None:
        worker = self._worker
        if worker is not None:
            worker.join()

    def refresh(self) -> None:
        from py2rely_plugins.relion5.report.build import write_report

        self.pending = False
        try:
            summary = write_report(self.project_root, self.output)
        except Exception as exc:
            self.logger.warning("report not written", error=f"{type(exc).__name__}: {exc}")
            return
        self.index = summary.index
        self.logger.debug("report written", path=str(summary.index), seconds=round(summary.seconds, 2))


@contextlib.contextmanager
def refreshing(manager: Any, refresher: ReportRefresher | None) -> Iterator[None]:
    """Register ``refresher`` with the plugin manager for the duration of a run; at the end, wait
    for the last refresh (one more if reused jobs were replayed since, or none ran)."""
    if refresher is None:
        yield
        return
    manager.register(refresher, name=PLUGIN_NAME)
    try:
        yield
    finally:
        manager.unregister(name=PLUGIN_NAME)
        if refresher.pending or refresher.index is None:
            refresher.request()
        refresher.wait()
        if refresher.index is not None:
            refresher.logger.info("report written", path=str(refresher.index))
