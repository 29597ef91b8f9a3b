"""RELION's exit markers: the one reading of how a job ended, and the one way to record it.

A RELION program writes RELION_JOB_EXIT_SUCCESS or _FAILURE in its job directory when it ends, and
stops between iterations when it finds RELION_JOB_ABORT_NOW (then writes _ABORTED). The job script
(``py2rely_core.script``) writes the marker for commands that cannot. Executors call these
helpers instead of reading or writing markers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from py2rely_core.interfaces import ExitOutcome

SUCCESS_MARKER = "RELION_JOB_EXIT_SUCCESS"
FAILURE_MARKER = "RELION_JOB_EXIT_FAILURE"
ABORTED_MARKER = "RELION_JOB_EXIT_ABORTED"
ABORT_REQUEST = "RELION_JOB_ABORT_NOW"
EXIT_MARKERS = (SUCCESS_MARKER, FAILURE_MARKER, ABORTED_MARKER)

SUCCEEDED, FAILED, ABORTED, UNFINISHED = "Succeeded", "Failed", "Aborted", "Unfinished"


@dataclass(frozen=True)
class Markers:
    succeeded: bool
    failed: bool
    aborted: bool

    @property
    def status(self) -> str:
        """Succeeded, Failed, Aborted, or Unfinished (no exit marker)."""
        if self.aborted:
            return ABORTED
        if self.failed:
            return FAILED
        if self.succeeded:
            return SUCCEEDED
        return UNFINISHED


def read_markers(job_path: Path) -> Markers:
    return Markers(succeeded=(job_path / SUCCESS_MARKER).exists(),
                   failed=(job_path / FAILURE_MARKER).exists(),
                   aborted=(job_path / ABORTED_MARKER).exists())


def outcome_from_markers(job_path: Path, exit_code: int | None = None, detail: str = "") -> ExitOutcome:
    """How a job ended, from its exit code (None when it is not known, e.g. after re-attaching or
    from a scheduler) and its markers. An abort marker wins; success needs the success marker
    and, when known, exit code 0; ``detail`` (e.g. the scheduler's final state) prefixes the
    explanation."""
    markers = read_markers(job_path)
    prefix = f"{detail}, " if detail else ""
    if markers.aborted:
        return ExitOutcome(ABORTED, exit_code, detail or "aborted")
    if exit_code not in (None, 0):
        return ExitOutcome(FAILED, exit_code, detail or f"exit code {exit_code}")
    if markers.succeeded and not markers.failed:
        return ExitOutcome(SUCCEEDED, 0 if exit_code is None else exit_code, detail)
    why = "RELION wrote RELION_JOB_EXIT_FAILURE" if markers.failed else "it left no RELION exit marker"
    return ExitOutcome(FAILED, exit_code, f"{prefix}but {why}" if detail else why)


def request_abort(job_path: Path) -> None:
    """Ask RELION (and the job script) to stop and record an abort instead of a failure."""
    (job_path / ABORT_REQUEST).touch()


def record_abort(job_path: Path) -> None:
    """After the job's processes are gone: leave exactly the aborted marker."""
    for name in (SUCCESS_MARKER, FAILURE_MARKER, ABORT_REQUEST):
        (job_path / name).unlink(missing_ok=True)
    (job_path / ABORTED_MARKER).touch()


def record_failure(job_path: Path) -> None:
    """A job judged failed (e.g. missing outputs): leave the failure marker, never success."""
    (job_path / SUCCESS_MARKER).unlink(missing_ok=True)
    (job_path / FAILURE_MARKER).touch()


def clear_markers(job_path: Path) -> None:
    for name in (*EXIT_MARKERS, ABORT_REQUEST):
        (job_path / name).unlink(missing_ok=True)
