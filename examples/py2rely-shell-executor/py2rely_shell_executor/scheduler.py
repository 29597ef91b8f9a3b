"""The three calls a scheduler needs. Replace these to talk to PBS (qsub/qstat/qdel), LSF, ...

Here the "scheduler" is the local shell: a job is a detached bash process in its own session,
and its id is "<pid>:<start time>" so that a recycled pid is never mistaken for the job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def submit(script: str, cwd: str, niceness: int) -> str:
    """Start ``script`` detached from this process; returns the job id."""
    process = subprocess.Popen(
        ["nice", "-n", str(niceness), "bash", script], cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return f"{process.pid}:{_start_time(process.pid)}"


def is_active(job_id: str) -> bool:
    pid, _, started = job_id.partition(":")
    # Reap it if it is our own child, so it does not linger as a zombie that looks alive.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(int(pid), os.WNOHANG)
    return _start_time(int(pid)) == started


def cancel(job_id: str) -> None:
    """TERM the job's whole session (its MPI ranks included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(job_id.partition(":")[0]), signal.SIGTERM)
