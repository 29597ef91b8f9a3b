"""The SLURM commands the executor calls (sbatch, squeue, scontrol, sacct, scancel), parsed.

Only the user-facing client commands are used, so this works on any login node or inside a
SLURM job; the cluster is whichever the environment names ($SLURM_CONF or the site default).
sacct is asked only where the site has accounting: without it, sacct fails and is not asked again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass

from py2rely_core import log
from py2rely_core.errors import Py2relyError

COMMAND_TIMEOUT = 60.0
# States in which a job may still run (or run again); anything else is final.
ACTIVE_STATES = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "RESIZING",
    "SIGNALING", "STAGE_OUT", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
    "SPECIAL_EXIT", "POWER_UP_NODE", "UPDATE_DB",
})
_UNKNOWN_JOB = re.compile(r"invalid job id|unknown job", re.I)
_FIELD = re.compile(r"(\w+)=(\S*)")
_ANY_FIELD = re.compile(r"(?:^|\s)([\w/:]+)=(\S*)")  # keys such as CPUs/Task and ReqB:S:C:T


class SlurmCommandError(Py2relyError):
    """A SLURM command failed or could not be run; the message is its first error line."""


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    state: str  # first word of the state: "CANCELLED by 0" -> "CANCELLED"
    exit_code: str = ""  # "code:signal" as SLURM prints it
    reason: str = ""
    partition: str = ""
    source: str = ""  # which command said so
    name: str = ""
    work_dir: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def exit_status(self) -> int | None:
        head = self.exit_code.split(":", 1)[0]
        return int(head) if head.isdigit() else None


def _first_error(text: str) -> str:
    """The last line a command printed, without its "sbatch: error: " prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"^\w+: error: ", "", lines[-1]) if lines else "no output"


class SlurmClient:
    def __init__(self, timeout: float = COMMAND_TIMEOUT) -> None:
        self.timeout = timeout
        self._sacct_works: bool | None = None
        self.logger = log.get_logger("py2rely.slurm")
        self.calls = 0  # SLURM commands run (tests and benchmarks read it)
        self.call_seconds = 0.0

    def _run(self, words: Sequence[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        if shutil.which(words[0]) is None:
            raise SlurmCommandError(
                f"{words[0]} not found on PATH (the slurm executor needs the SLURM client commands: "
                "run on a login node, or load the site's slurm module)")
        started = time.monotonic()
        try:
            return subprocess.run(list(words), capture_output=True, text=True, cwd=cwd,
                                  timeout=self.timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SlurmCommandError(f"{' '.join(words[:3])} did not answer within "
                                    f"{self.timeout:.0f} s (is slurmctld reachable?)") from None
        finally:
            self.calls += 1
            self.call_seconds += time.monotonic() - started

    def submit(self, script: str, cwd: str) -> str:
        """Submit a batch script (a path relative to ``cwd``); returns the SLURM job id."""
        result = self._run(["sbatch", "--parsable", script], cwd=cwd)
        # --parsable prints "id" or "id;cluster"; sites' job_submit plugins may add notes before it.
        lines = result.stdout.strip().splitlines()
        job_id = lines[-1].split(";", 1)[0].strip() if lines else ""
        if result.returncode != 0 or not job_id.isdigit():
            why = _first_error(result.stderr or result.stdout)
            raise SlurmCommandError(f"sbatch refused {script}: {why}")
        return job_id

    def queue_status(self, job_id: str) -> tuple[str, str] | None:
        """(state, reason) from squeue, or None when squeue no longer knows the job. The reason
        is SLURM's why-pending ("Priority", "Resources", "PartitionConfig", ...), "None" if none."""
        result = self._run(["squeue", "--noheader", "--states=all", "--jobs", job_id, "--format=%T|%r"])
        if result.returncode != 0:
            if _UNKNOWN_JOB.search(result.stderr):
                return None
            raise SlurmCommandError(f"squeue --jobs {job_id} failed: {_first_error(result.stderr)}")
        line = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
        if not line:
            return None
        state, _, reason = line.partition("|")
        return state.strip().upper(), reason.strip()

    def queue_state(self, job_id: str) -> str | None:
        """The job's state from squeue, or None when squeue no longer knows the job."""
        status = self.queue_status(job_id)
        return status[0] if status else None

    def job_fields(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as key=value pairs ({} when SLURM does not know the job)."""
        result = self._run(["scontrol", "--oneliner", "show", "job", job_id])
        if result.returncode != 0:
            return {}
        return dict(_ANY_FIELD.findall(result.stdout.splitlines()[0] if result.stdout else ""))

    def partition_nodes(self, partition: str) -> list[tuple[int, str, str, str, str]]:
        """Groups of nodes of ``partition`` ("" = the default one): (count, CPUs per node,
        memory per node in MB, GRES, state) as sinfo prints them; [] when sinfo fails."""
        words = ["sinfo", "--noheader", "--format=%D|%c|%m|%G|%T"]
        if partition:
            words.insert(1, f"--partition={partition}")
        result = self._run(words)
        if result.returncode != 0:
            return []
        groups = []
        for line in result.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 5 and parts[0].isdigit():
                groups.append((int(parts[0]), parts[1], parts[2], parts[3], parts[4]))
        return groups

    def partition_fields(self, partition: str) -> dict[str, str]:
        """`scontrol show partition` as key=value pairs ({} when it fails)."""
        result = self._run(["scontrol", "--oneliner", "show", "partition", partition])
        if result.returncode != 0:
            return {}
        return dict(_FIELD.findall(result.stdout.splitlines()[0] if result.stdout else ""))

    def show_job(self, job_id: str) -> JobInfo | None:
        """scontrol's record of the job (kept for MinJobAge after it ends), or None."""
        result = self._run(["scontrol", "--oneliner", "show", "job", job_id])
        if result.returncode != 0:
            if _UNKNOWN_JOB.search(result.stderr):
                return None
            raise SlurmCommandError(f"scontrol show job {job_id} failed: {_first_error(result.stderr)}")
        line = result.stdout.splitlines()[0] if result.stdout else ""
        values = dict(_FIELD.findall(line))
        if "JobState" not in values:
            return None
        # Paths may hold blanks, so WorkDir is cut at the next " Key=" rather than at a blank.
        work_dir = re.search(r"\bWorkDir=(.*?)(?= \w+=|$)", line)
        name = re.search(r"\bJobName=(.*?)(?= \w+=|$)", line)
        return JobInfo(job_id, values["JobState"].upper(), values.get("ExitCode", ""),
                       values.get("Reason", ""), values.get("Partition", ""), "scontrol",
                       name.group(1) if name else "", work_dir.group(1) if work_dir else "")

    def accounting(self, job_id: str) -> JobInfo | None:
        """sacct's record of the job where the site keeps accounting, else None."""
        if self._sacct_works is False or shutil.which("sacct") is None:
            return None
        result = self._run(["sacct", "--noheader", "--parsable2", "--allocations", "--jobs", job_id,
                            "--format=State,ExitCode,Reason,Partition"])
        if result.returncode != 0:
            self._sacct_works = False
            self.logger.debug("sacct unavailable", error=_first_error(result.stderr))
            return None
        self._sacct_works = True
        for line in result.stdout.splitlines():
            parts = line.split("|")
            if len(parts) >= 4 and parts[0]:
                return JobInfo(job_id, parts[0].split()[0].upper(), parts[1], parts[2], parts[3], "sacct")
        return None

    def final_info(self, job_id: str) -> JobInfo | None:
        return self.show_job(job_id) or self.accounting(job_id)

    def cancel(self, job_id: str) -> None:
        result = self._run(["scancel", job_id])
        if result.returncode != 0 and not _UNKNOWN_JOB.search(result.stderr):
            raise SlurmCommandError(f"scancel {job_id} failed: {_first_error(result.stderr)}")

    def find_active(self, name: str, work_dir: str) -> list[str]:
        """Ids of queued or running jobs with this name whose working directory is ``work_dir``."""
        result = self._run(["squeue", "--noheader", "--name", name, "--format=%i|%Z|%T"])
        if result.returncode != 0:
            return []
        found = []
        for line in result.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[1] == work_dir and parts[2].upper() in ACTIVE_STATES:
                found.append(parts[0])
        return found
