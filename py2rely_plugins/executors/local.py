"""The `local` executor: each job runs as a bash script in its own session on this machine.

Its own session (process group) means an abort signals every process of the job, MPI ranks
included. The process id and start time are kept in the job directory, so a driver that was
killed can be followed by a new one that re-attaches to the still-running job.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from py2rely_core import atomic
from py2rely_core.interfaces import ExitOutcome, JobProbe, RunnableJob
from py2rely_core.markers import outcome_from_markers, record_abort, request_abort
from py2rely_core.script import (
    ABORTED_EXIT_CODE,
    DEFAULT_MPI_LAUNCHER,
    check_launcher,
    render_job_script,
)

SCRIPT_NAME = "run_local.sh"
PROCESS_FILE = "py2rely_local_process.json"
POLL_SECONDS = 0.1
ABORT_GRACE_SECONDS = 10.0  # RELION programs notice RELION_JOB_ABORT_NOW between iterations


def _process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (tells a reused pid from ours)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


@dataclass
class LocalHandle:
    job_dir: str
    project_dir: str
    pid: int
    start_time: str | None
    process: subprocess.Popen[bytes] | None = None  # None when re-attached

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self.start_time is not None and _process_start_time(self.pid) == self.start_time

    def exit_code(self) -> int | None:
        return self.process.returncode if self.process is not None else None


class LocalExecutor:
    def __init__(self, mpi_launcher: str = DEFAULT_MPI_LAUNCHER) -> None:
        self.mpi_launcher = mpi_launcher

    def script(self, job: RunnableJob) -> str:
        return render_job_script(job, self.mpi_launcher)

    def check(self, setup_lines: Sequence[str]) -> None:
        """Before the first job: the MPI launcher must exist (after the jobs' set-up lines)."""
        check_launcher(self.mpi_launcher, setup_lines, "executors.local.mpi_launcher")

    def describe(self, job: RunnableJob) -> str:
        from py2rely_core.script import command_line

        return "\n".join(command_line(c, self.mpi_launcher) for c in job.commands)

    def start(self, job: RunnableJob) -> LocalHandle:
        job_path = Path(job.project_dir) / job.job_dir
        script = job_path / SCRIPT_NAME
        script.write_text(self.script(job), encoding="utf-8")
        script.chmod(0o755)
        with open(job_path / "run.err", "ab") as errors:
            process = subprocess.Popen(
                ["bash", str(script)], cwd=job.project_dir, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True,
            )
        handle = LocalHandle(job.job_dir, job.project_dir, process.pid,
                             _process_start_time(process.pid), process)
        try:
            atomic.write_text(job_path / PROCESS_FILE,
                              json.dumps({"pid": handle.pid, "start_time": handle.start_time}) + "\n")
        except OSError:
            # Without this file no later driver could find the job: stop it rather than leave it
            # running unseen (a full disk, most likely; the error names the file).
            self.cancel(handle)
            raise
        return handle

    def reattach(self, job: RunnableJob) -> LocalHandle | None:
        path = Path(job.project_dir) / job.job_dir / PROCESS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        handle = LocalHandle(job.job_dir, job.project_dir, int(data["pid"]), data.get("start_time"))
        return handle if handle.alive() else None

    def probe(self, job: RunnableJob) -> JobProbe:
        """Running while the job script's process (same pid and start time) is there."""
        path = Path(job.project_dir) / job.job_dir / PROCESS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            handle = LocalHandle(job.job_dir, job.project_dir, int(data["pid"]), data.get("start_time"))
        except (OSError, ValueError, KeyError, TypeError):
            return JobProbe(JobProbe.GONE, "no process of it was recorded: it never started")
        if handle.alive():
            return JobProbe(JobProbe.ACTIVE, f"process group {handle.pid} is running")
        return JobProbe(JobProbe.GONE, f"process group {handle.pid} is gone")

    def wait(self, handle: LocalHandle) -> ExitOutcome:
        if handle.process is not None:
            code = handle.process.wait()
        else:
            while handle.alive():
                time.sleep(POLL_SECONDS * 10)
            code = None
        return self._outcome(handle, code)

    def _outcome(self, handle: LocalHandle, code: int | None) -> ExitOutcome:
        if code == ABORTED_EXIT_CODE:
            return ExitOutcome("Aborted", code, "aborted")
        # A re-attached job's exit code is gone (None): the markers tell.
        return outcome_from_markers(Path(handle.project_dir) / handle.job_dir, code)

    def cancel(self, handle: LocalHandle) -> None:
        """Ask RELION to stop (abort file), then signal the job's whole process group."""
        job_path = Path(handle.project_dir) / handle.job_dir
        request_abort(job_path)
        deadline = time.monotonic() + ABORT_GRACE_SECONDS
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(handle.pid, sig)
            while handle.alive() and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            if not handle.alive():
                break
            deadline = time.monotonic() + 5.0
        if handle.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                handle.process.wait(timeout=5)
        record_abort(job_path)


class LocalExecutorFactory:
    name = "local"
    description = "runs each job on this machine in its own process group (MPI via mpirun)"

    def create(self, settings: Mapping[str, Any]) -> LocalExecutor:
        unknown = sorted(set(settings) - {"mpi_launcher"})
        if unknown:
            from py2rely_core.errors import ParameterError

            raise ParameterError("executors.local", f"unknown setting(s) {', '.join(unknown)}",
                                 "mpi_launcher")
        return LocalExecutor(mpi_launcher=str(settings.get("mpi_launcher", DEFAULT_MPI_LAUNCHER)))
