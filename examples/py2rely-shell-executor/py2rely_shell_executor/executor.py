"""The `shell` executor: py2rely's Executor protocol on top of scheduler.py.

Everything py2rely needs is in its public contract: ``RunnableJob`` in, ``ExitOutcome`` out,
``render_job_script`` for the script (it writes run.out/run.err and RELION's exit markers), and
the markers in the job directory to tell success from failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from py2rely_core.errors import ParameterError
from py2rely_core.interfaces import ExitOutcome, RunnableJob
from py2rely_core.markers import outcome_from_markers, record_abort, request_abort
from py2rely_core.script import render_job_script
from py2rely_shell_executor import scheduler

SCRIPT_NAME = "run_shell.sh"
JOB_FILE = "shell_job.json"  # the job id, so a new driver can re-attach


@dataclass(frozen=True)
class ShellSettings:
    niceness: int = 0
    poll_interval: float = 1.0
    mpi_launcher: str = "mpirun -n {ranks}"


def parse_settings(settings: Mapping[str, Any]) -> ShellSettings:
    """Validate ``executors.shell``: one-line errors naming the key and what it should be."""
    known = ShellSettings.__dataclass_fields__
    for key in settings:
        if key not in known:
            raise ParameterError(f"executors.shell.{key}", "is not a setting of the shell executor",
                                 f"one of {', '.join(known)}")
    try:
        niceness = int(settings.get("niceness", 0))
    except (TypeError, ValueError):
        niceness = -1
    if not 0 <= niceness <= 19:
        raise ParameterError("executors.shell.niceness", f"is {settings.get('niceness')!r}",
                             "an integer from 0 to 19")
    try:
        poll = float(settings.get("poll_interval", 1.0))
    except (TypeError, ValueError):
        poll = 0.0
    if poll <= 0:
        raise ParameterError("executors.shell.poll_interval", f"is {settings.get('poll_interval')!r}",
                             "a number of seconds > 0")
    launcher = str(settings.get("mpi_launcher", ShellSettings.mpi_launcher))
    if "{ranks}" not in launcher:
        raise ParameterError("executors.shell.mpi_launcher", f"is {launcher!r}",
                             "a command containing {ranks}")
    return ShellSettings(niceness, poll, launcher)


@dataclass
class ShellHandle:
    job_dir: str  # the runner reads this
    project_dir: str
    job_id: str

    def path(self, name: str) -> Path:
        return Path(self.project_dir) / self.job_dir / name


class ShellExecutor:
    def __init__(self, settings: ShellSettings) -> None:
        self.settings = settings

    def describe(self, job: RunnableJob) -> str:
        """What `--dry-run` prints: the whole script."""
        return render_job_script(job, self.settings.mpi_launcher)

    def start(self, job: RunnableJob) -> ShellHandle:
        script = Path(job.project_dir) / job.job_dir / SCRIPT_NAME
        script.write_text(self.describe(job), encoding="utf-8")
        job_id = scheduler.submit(str(script), job.project_dir, self.settings.niceness)
        handle = ShellHandle(job.job_dir, job.project_dir, job_id)
        handle.path(JOB_FILE).write_text(json.dumps({"job_id": job_id}) + "\n", encoding="utf-8")
        return handle

    def wait(self, handle: ShellHandle) -> ExitOutcome:
        while scheduler.is_active(handle.job_id):
            time.sleep(self.settings.poll_interval)
        # The job script leaves exactly one of RELION's markers; they are the outcome.
        return outcome_from_markers(handle.path(""), None, f"shell job {handle.job_id} ended")

    def cancel(self, handle: ShellHandle) -> None:
        request_abort(handle.path(""))  # the script then records an abort, not a failure
        scheduler.cancel(handle.job_id)
        deadline = time.monotonic() + 30
        while scheduler.is_active(handle.job_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        record_abort(handle.path(""))

    def reattach(self, job: RunnableJob) -> ShellHandle | None:
        try:
            job_id = json.loads((Path(job.project_dir) / job.job_dir / JOB_FILE).read_text())["job_id"]
        except (OSError, ValueError, KeyError):
            return None
        handle = ShellHandle(job.job_dir, job.project_dir, job_id)
        return handle if scheduler.is_active(job_id) else None


class ShellExecutorFactory:
    name = "shell"
    description = "runs each job as a detached shell 'batch job' (example third-party plugin)"

    def create(self, settings: Mapping[str, Any]) -> ShellExecutor:
        return ShellExecutor(parse_settings(settings))
