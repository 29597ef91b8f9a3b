"""The pipeline's report refresher: refreshes run in one background thread, requests made while
one runs are merged into a single further refresh, and the end of a run waits for the last one."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from py2rely_plugins.relion5.report import build
from py2rely_plugins.relion5.report.refresh import ReportRefresher


def test_requests_during_a_refresh_become_one_more_refresh(tmp_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()
    calls: list[str] = []

    def fake_write_report(project, output=None):
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(timeout=60)
        return SimpleNamespace(index=tmp_path / "report" / "index.html", seconds=0.0)

    monkeypatch.setattr(build, "write_report", fake_write_report)
    refresher = ReportRefresher(tmp_path)
    job = SimpleNamespace(type_label="relion.maskcreate")
    refresher.py2rely_job_started(job=job, job_dir="MaskCreate/job001/", project_dir=str(tmp_path))
    assert started.wait(timeout=60)
    for number in range(2, 6):  # the pipeline goes on while the first refresh is being written
        refresher.py2rely_job_finished(job=job, result=SimpleNamespace(reused=False),
                                       project_dir=str(tmp_path))
        refresher.py2rely_job_started(job=job, job_dir=f"MaskCreate/job00{number}/",
                                      project_dir=str(tmp_path))
    refresher.py2rely_job_finished(job=job, result=SimpleNamespace(reused=False),
                                   project_dir=str(tmp_path / "another-project"))  # not ours
    release.set()
    refresher.wait()
    assert calls == ["py2rely report", "py2rely report"]
    assert refresher.index == tmp_path / "report" / "index.html"


def test_a_report_that_cannot_be_written_never_stops_the_run(tmp_path, monkeypatch):
    def broken(project, output=None):
        raise OSError("disk full")

    monkeypatch.setattr(build, "write_report", broken)
    refresher = ReportRefresher(tmp_path)
    refresher.request()
    refresher.wait()
    assert refresher.index is None
