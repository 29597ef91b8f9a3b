"""The one-node SLURM cluster the `slurm` tests run against, and helpers to look at its jobs.

The cluster is started by scripts/slurm-cluster.sh in a scratch dir of its own (free ports, its
own munge socket), so a test session never touches another cluster, and stopped by the same
script when the session ends, whatever the tests did.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.runner_helpers import driver_script

REPO = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = REPO / "scripts" / "slurm-cluster.sh"


@dataclass(frozen=True)
class SlurmCluster:
    scratch: Path
    conf: Path

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        return {**(base if base is not None else os.environ), "SLURM_CONF": str(self.conf)}

    def run(self, *words: str, check: bool = True) -> str:
        result = subprocess.run(list(words), capture_output=True, text=True, env=self.env(),
                                timeout=60, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(words)} failed: {result.stderr.strip()}")
        return result.stdout

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (JobState, Partition, TimeLimit, NumTasks, ...)."""
        line = self.run("scontrol", "--oneliner", "show", "job", job_id)
        return dict(re.findall(r"(\w+)=(\S*)", line))

    def state(self, job_id: str) -> str:
        return self.run("squeue", "--noheader", "--states=all", "--jobs", job_id, "--format=%T").strip()

    def job_ids(self, name: str | None = None, work_dir: Path | None = None) -> list[str]:
        """Every job slurmctld still remembers (MinJobAge is 1 h), optionally by name and
        working directory (every test project has a MaskCreate_job001)."""
        words = ["squeue", "--noheader", "--states=all", "--format=%i|%Z"]
        if name:
            words += ["--name", name]
        rows = [line.split("|", 1) for line in self.run(*words).split()]
        return sorted((i for i, d in rows if work_dir is None or d == str(work_dir)), key=int)

    def log_tail(self, lines: int = 30) -> str:
        parts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.scratch / "log" / name
            with contextlib.suppress(OSError):
                parts.append(f"--- {name}\n" + "\n".join(path.read_text().splitlines()[-lines:]))
        return "\n".join(parts)


def cluster_command(action: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PY2RELY_SLURM_DIR": str(scratch)}
    env.pop("SLURM_CONF", None)
    return subprocess.run(["bash", str(CLUSTER_SCRIPT), action], capture_output=True, text=True,
                          env=env, timeout=900, check=False)


@contextlib.contextmanager
def running_cluster() -> Iterator[SlurmCluster]:
    """Start a cluster in a fresh scratch dir; stop it (and remove the dir) on the way out."""
    # Short path under /tmp: munge's socket path must fit in a sockaddr_un (108 bytes).
    scratch = Path(tempfile.mkdtemp(prefix="py2rely-slurm-", dir="/tmp"))
    saved = os.environ.get("SLURM_CONF")
    try:
        started = cluster_command("start", scratch)
        if started.returncode != 0:
            raise RuntimeError(f"scripts/slurm-cluster.sh start failed:\n{started.stderr.strip()}")
        cluster = SlurmCluster(scratch, scratch / "etc" / "slurm.conf")
        # The executor runs sbatch/squeue in this process: point them at this cluster.
        os.environ["SLURM_CONF"] = str(cluster.conf)
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        stopped = cluster_command("stop", scratch)
        if stopped.returncode != 0:
            print(f"scripts/slurm-cluster.sh stop failed: {stopped.stderr}", file=sys.stderr)


def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def slurm_driver(project: Path, planned: list[tuple[str, dict[str, str]]],
                 settings: dict[str, Any]) -> list[str]:
    """A command line that runs ``planned`` jobs through the slurm executor in a fresh interpreter."""
    return driver_script(project, planned, executor="slurm", settings=settings)
