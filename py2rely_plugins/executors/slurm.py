"""The `slurm` executor: each job is one sbatch script, submitted and followed to its end.

The script (``run_submit.script``, as RELION names it) is written into the job directory and
the SLURM job id next to it (``py2rely_slurm_job.json``), so a driver that was killed is
followed by one that re-attaches to the job still queued or running instead of submitting it
again. The job is followed with squeue while it is active; its final state and exit code come
from scontrol (or sacct where the site has accounting), and RELION's exit markers in the job
directory decide whether a COMPLETED job really succeeded.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from py2rely_core import atomic, log
from py2rely_core.interfaces import ExitOutcome, JobProbe, RunnableJob
from py2rely_core.markers import outcome_from_markers, read_markers, record_abort, request_abort
from py2rely_core.script import check_launcher
from py2rely_plugins.executors.slurm_client import ACTIVE_STATES, JobInfo, SlurmClient, SlurmCommandError
from py2rely_plugins.executors.slurm_pending import (
    HINTS,
    PendingWatch,
    describe_partition,
    describe_request,
    reason_key,
)
from py2rely_plugins.executors.slurm_settings import SETTING_NAMES, SlurmSettings, parse_settings
from py2rely_plugins.executors.slurm_template import render_sbatch_script, template_text

SCRIPT_NAME = "run_submit.script"
JOB_FILE = "py2rely_slurm_job.json"
RETRY_STATES = frozenset({"NODE_FAIL", "PREEMPTED"})
NEVER_STARTS = "NEVER_STARTS"  # our own final state: cancelled because it could never start
UNREACHABLE_GRACE = 300.0  # seconds slurmctld may be unreachable (restart, failover) while following
CANCEL_WAIT = 120.0  # seconds for a cancelled job to leave the queue (KillWait is 30 s by default)


@dataclass
class SlurmHandle:
    job_dir: str
    project_dir: str
    job_id: str | None = None
    submissions: list[str] = field(default_factory=list)  # every SLURM job id, oldest first
    error: str = ""  # why sbatch refused the job
    partition: str = ""  # the job's partition, as SLURM chose it (read when it first pends)
    resource: str = "cpu"  # the job's kind, which names the partition asked for

    @property
    def job_path(self) -> Path:
        return Path(self.project_dir) / self.job_dir


class SlurmExecutor:
    def __init__(self, settings: SlurmSettings, client: SlurmClient | None = None) -> None:
        self.settings = settings
        self.client = client or SlurmClient()
        self.template = template_text(settings)
        self.logger = log.get_logger("py2rely.slurm")

    # -- scripts ---------------------------------------------------------------------------

    def script(self, job: RunnableJob) -> str:
        return render_sbatch_script(job, self.settings, self.template)

    def describe(self, job: RunnableJob) -> str:
        return self.script(job)

    def check(self, setup_lines: Sequence[str]) -> None:
        """Before the first job: the MPI launcher must exist after the site's and the runtime's
        set-up lines (checked on this host, which shares the compute nodes' software)."""
        check_launcher(self.settings.launcher(), [*self.settings.setup_lines, *setup_lines],
                       "executors.slurm.mpi_launcher")

    # -- submitting ------------------------------------------------------------------------

    def start(self, job: RunnableJob) -> SlurmHandle:
        script = Path(job.project_dir) / job.job_dir / SCRIPT_NAME
        atomic.write_text(script, self.script(job))
        script.chmod(0o755)
        handle = SlurmHandle(job.job_dir, job.project_dir, resource=job.resource)
        self._submit(handle)
        return handle

    def _submit(self, handle: SlurmHandle) -> None:
        started = time.monotonic()
        try:
            job_id = self.client.submit(f"{handle.job_dir}{SCRIPT_NAME}", handle.project_dir)
        except SlurmCommandError as exc:
            # Reported through wait(), so the runner records the job as failed like any other.
            handle.error = str(exc)
            if "node configuration is not available" in handle.error:
                partition = self.settings.partition(handle.resource)
                handle.error += f" ({describe_partition(self.client, partition)})"
            self._note(handle, f"py2rely: {exc}")
            return
        handle.job_id = job_id
        handle.submissions.append(job_id)
        self._save(handle)
        self.logger.info("slurm job submitted", job=handle.job_dir, slurm_job=job_id,
                         submission=len(handle.submissions),
                         latency=f"{time.monotonic() - started:.3f}s")

    def _save(self, handle: SlurmHandle) -> None:
        record = {"job_id": handle.job_id, "submissions": handle.submissions, "script": SCRIPT_NAME}
        atomic.write_text(handle.job_path / JOB_FILE, json.dumps(record, indent=1) + "\n")

    def _note(self, handle: SlurmHandle, line: str) -> None:
        """A line in the job's run.err, where the runner's failure message shows the log tail."""
        with contextlib.suppress(OSError), open(handle.job_path / "run.err", "a", encoding="utf-8") as err:
            err.write(line.rstrip() + "\n")

    # -- re-attaching ------------------------------------------------------------------------

    def reattach(self, job: RunnableJob) -> SlurmHandle | None:
        handle = SlurmHandle(job.job_dir, job.project_dir, resource=job.resource)
        try:
            record = json.loads((handle.job_path / JOB_FILE).read_text(encoding="utf-8"))
            handle.job_id = str(record["job_id"])
            handle.submissions = [str(i) for i in record.get("submissions", [handle.job_id])]
        except (OSError, ValueError, KeyError, TypeError):
            # The driver may have died between sbatch and writing the id: look for the job by name.
            try:
                found = self.client.find_active(job.name, job.project_dir)
            except SlurmCommandError:
                found = []
            if len(found) != 1:
                return None
            handle.job_id, handle.submissions = found[0], list(found)
            self._save(handle)
        try:
            info = self.client.show_job(handle.job_id)
        except SlurmCommandError:
            info = None  # slurmctld unreachable now: wait() keeps trying
        if info is not None and info.work_dir and info.work_dir.rstrip("/") != job.project_dir.rstrip("/"):
            # The id belongs to some other job (another cluster, or ids started over).
            self.logger.warning("stored slurm job id is not this job", job=job.job_dir,
                                slurm_job=handle.job_id, its_dir=info.work_dir)
            return None
        self.logger.info("slurm job re-attached", job=job.job_dir, slurm_job=handle.job_id,
                         state=info.state if info else "unknown")
        return handle

    def probe(self, job: RunnableJob) -> JobProbe:
        """Queued, running or ended, from squeue (and scontrol for how it ended)."""
        handle = SlurmHandle(job.job_dir, job.project_dir)
        try:
            record = json.loads((handle.job_path / JOB_FILE).read_text(encoding="utf-8"))
            job_id = str(record["job_id"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                found = self.client.find_active(job.name, job.project_dir)
            except SlurmCommandError as exc:
                return JobProbe(JobProbe.UNKNOWN, f"SLURM does not answer ({exc})")
            if len(found) != 1:
                return JobProbe(JobProbe.GONE, "no SLURM job of it was recorded or is queued")
            job_id = found[0]
        try:
            status = self.client.queue_status(job_id)
            info = None if status and status[0] in ACTIVE_STATES else self.client.final_info(job_id)
        except SlurmCommandError as exc:
            return JobProbe(JobProbe.UNKNOWN, f"SLURM does not answer ({exc})")
        if status and status[0] in ACTIVE_STATES:
            state, reason = status
            waiting = reason if state == "PENDING" and reason not in ("", "None") else ""
            return JobProbe(JobProbe.ACTIVE, f"SLURM job {job_id} {state}", waiting)
        if info is None:
            return JobProbe(JobProbe.GONE, f"SLURM job {job_id} is no longer known to SLURM")
        reason = f", reason {info.reason}" if info.reason not in ("", "None") else ""
        return JobProbe(JobProbe.GONE, f"SLURM job {job_id} ended {info.state}{reason}")

    # -- following -----------------------------------------------------------------------

    def wait(self, handle: SlurmHandle) -> ExitOutcome:
        while True:
            if handle.error or handle.job_id is None:
                return ExitOutcome("Failed", None, handle.error or "the job was never submitted")
            info = self._follow(handle)
            state = info.state if info else ""
            if state in RETRY_STATES and len(handle.submissions) <= self.settings.retries:
                retry = len(handle.submissions)
                self.logger.warning("slurm job resubmitted", job=handle.job_dir, slurm_job=handle.job_id,
                                    state=state, retry=f"{retry}/{self.settings.retries}")
                self._note(handle, f"py2rely: SLURM job {handle.job_id} ended {state}; submitting it "
                                   f"again (retry {retry} of {self.settings.retries})")
                self._submit(handle)
                continue
            return self._outcome(handle, info)

    def _follow(self, handle: SlurmHandle) -> JobInfo | None:
        """Poll squeue until the job leaves the active states; then its final record."""
        assert handle.job_id is not None
        last, unreachable_since = ("", ""), 0.0
        polls, started = 0, time.monotonic()
        watch: PendingWatch | None = None
        while True:
            try:
                status = self.client.queue_status(handle.job_id)
                unreachable_since = 0.0
            except SlurmCommandError as exc:
                now = time.monotonic()
                if not unreachable_since:
                    unreachable_since = now
                    self.logger.warning("slurm unreachable; still trying", job=handle.job_dir, error=str(exc))
                elif now - unreachable_since > UNREACHABLE_GRACE:
                    return JobInfo(handle.job_id, "UNREACHABLE", reason=str(exc))
                time.sleep(self.settings.poll_interval)
                continue
            polls += 1
            state, reason = status if status else (None, "")
            waiting = reason if state == "PENDING" and reason not in ("", "None") else ""
            if (state or "", waiting) != last:
                # The progress line: every change of state, and of the reason a job waits.
                self.logger.info("slurm job state", job=handle.job_dir, slurm_job=handle.job_id,
                                 state=state or "gone", reason=waiting or None)
                last = (state or "", waiting)
            if state is None or state not in ACTIVE_STATES:
                break
            if waiting:
                if watch is None:
                    handle.partition = self.client.job_fields(handle.job_id).get("Partition", "")
                    watch = PendingWatch(self.client, handle.partition, self.settings.unavailable_grace)
                if watch.observe(waiting, time.monotonic()):
                    return self._never_starts(handle, watch.verdict)
            time.sleep(self.settings.poll_interval)
        try:
            info = self.client.final_info(handle.job_id)
        except SlurmCommandError:
            info = None
        if info is None and state:
            info = JobInfo(handle.job_id, state, source="squeue")
        self.logger.debug("slurm job followed", job=handle.job_dir, slurm_job=handle.job_id, polls=polls,
                          followed=f"{time.monotonic() - started:.1f}s")
        return info

    def _never_starts(self, handle: SlurmHandle, verdict: str) -> JobInfo:
        """Cancel a job that can never start; its final record says why, what it asked for and
        what the partition offers."""
        assert handle.job_id is not None
        request = describe_request(self.client.job_fields(handle.job_id))
        offer = describe_partition(self.client, handle.partition)
        hint = HINTS.get(reason_key(verdict), "")
        message = (f"{verdict}. It asks for {request}; {offer}"
                   + (f". Hint: {hint}" if hint else ""))
        self.logger.warning("slurm job can never start", job=handle.job_dir, slurm_job=handle.job_id,
                            reason=reason_key(verdict))
        with contextlib.suppress(SlurmCommandError):
            self.client.cancel(handle.job_id)
        self._note(handle, f"py2rely: SLURM job {handle.job_id} can never start, cancelled: {message}")
        return JobInfo(handle.job_id, NEVER_STARTS, reason=message)

    def _outcome(self, handle: SlurmHandle, info: JobInfo | None) -> ExitOutcome:
        job_id = handle.job_id
        if info is not None and info.state == NEVER_STARTS:
            return ExitOutcome("Failed", None, f"SLURM job {job_id} can never start: {info.reason}")
        if info is None:
            # Purged from slurmctld (MinJobAge) and no accounting: the markers are all that is left.
            return outcome_from_markers(handle.job_path, None,
                                        f"SLURM job {job_id} (no longer known to SLURM)")
        if info.state == "UNREACHABLE":
            return ExitOutcome("Failed", None, f"lost contact with SLURM for {UNREACHABLE_GRACE:.0f} s while "
                                               f"following job {job_id} ({info.reason}); it may still "
                                               f"run: check `squeue -j {job_id}` before rerunning")
        extra = [f"exit code {info.exit_code}"] if info.exit_code else []
        if info.reason and info.reason not in ("None", "NonZeroExitCode"):  # the exit code says it
            extra.append(f"reason {info.reason}")
        if len(handle.submissions) > 1:
            extra.append(f"submission {len(handle.submissions)}, earlier ids "
                         f"{', '.join(handle.submissions[:-1])}")
        detail = f"SLURM job {job_id} ended {info.state}" + (f" ({'; '.join(extra)})" if extra else "")
        if read_markers(handle.job_path).aborted and info.state in ("CANCELLED", "COMPLETED", "FAILED"):
            return ExitOutcome("Aborted", info.exit_status, detail)
        if info.state == "COMPLETED":
            return outcome_from_markers(handle.job_path, None, detail)
        return ExitOutcome("Failed", info.exit_status, detail)

    # -- cancelling ------------------------------------------------------------------------

    def cancel(self, handle: SlurmHandle) -> None:
        """scancel the job; the abort file makes RELION and the job script record an abort."""
        if handle.job_id is None:
            return
        request_abort(handle.job_path)
        self.client.cancel(handle.job_id)
        deadline = time.monotonic() + CANCEL_WAIT
        while time.monotonic() < deadline:
            try:
                state = self.client.queue_state(handle.job_id)
            except SlurmCommandError:
                break
            if state is None or state not in ACTIVE_STATES:
                break
            time.sleep(min(self.settings.poll_interval, 1.0))
        record_abort(handle.job_path)
        self.logger.info("slurm job cancelled", job=handle.job_dir, slurm_job=handle.job_id)


class SlurmExecutorFactory:
    name = "slurm"
    description = "submits each job to SLURM as its own sbatch script and follows it with squeue/scontrol"
    settings = SETTING_NAMES

    def create(self, settings: Mapping[str, Any]) -> SlurmExecutor:
        executor = SlurmExecutor(parse_settings(settings))
        # Render a sample job now, so a broken template fails before any job is submitted.
        executor.script(RunnableJob(project_dir="/project", job_dir="Refine3D/job001/",
                                    name="Refine3D_job001", commands=(), resource="gpu"))
        return executor
