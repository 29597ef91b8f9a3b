"""Why a SLURM job is pending, and whether it can ever start.

SLURM keeps a job PENDING with a reason. Some reasons mean "wait" (Priority, Resources, a QOS or
association limit on running jobs: the job starts when others end); others mean "never": the job
asks for more than the partition, account or QOS allows, and it stays in the queue until someone
cancels it. A pipeline must not poll such a job for hours: the executor cancels it and fails the
job at once, saying what the job asked for and what the partition offers.

"The nodes are unavailable" (ReqNodeNotAvail; newer SLURM: "Nodes required for job are DOWN,
DRAINED or reserved ...") is "never" only when no node of the partition can run jobs for
``unavailable_grace`` seconds: a node that failed comes back by itself on many clusters
(ReturnToService), and a job resubmitted after NODE_FAIL waits for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from py2rely_plugins.executors.slurm_client import SlurmClient, SlurmCommandError

NEVER = {
    "PartitionConfig": "the job asks for more than any node of the partition has",
    "PartitionNodeLimit": "the job asks for more nodes than the partition allows",
    "PartitionTimeLimit": "the job's time limit is above the partition's",
    "BadConstraints": "no node has the requested features",
    "InvalidAccount": "the account does not exist or may not submit here",
    "InvalidQOS": "the QOS does not exist or may not be used",
    "AccountNotAllowed": "the account may not use this partition",
    "QOSNotAllowed": "the QOS may not be used in this partition",
    "DependencyNeverSatisfied": "a job it depends on can never end as required",
}
HINTS = {
    "PartitionConfig": "ask for fewer MPI ranks or threads (-np/-nj), or let ranks share CPUs with "
                       "the executor setting extra_sbatch_lines=[\"--overcommit\"]",
    "PartitionNodeLimit": "the embedded runtime's mpirun runs one job on one node (setting nodes)",
    "PartitionTimeLimit": "set gpu_time_limit/cpu_time_limit within the partition's MaxTime",
}
UNAVAILABLE_NODES = ("ReqNodeNotAvail", "Nodes required for job are DOWN")
# Node states in which a node takes no new job (sinfo %T, flags such as '*' stripped).
UNUSABLE_NODE_STATES = frozenset({
    "down", "drained", "draining", "drain", "fail", "failing", "maint", "inval", "unknown",
    "not_responding", "future", "power_down", "powered_down", "powering_down", "reboot_issued",
})


def reason_key(reason: str) -> str:
    """The reason's code: "ReqNodeNotAvail, UnavailableNodes:n1" -> "ReqNodeNotAvail"."""
    for separator in (",", "(", ":"):
        reason = reason.split(separator, 1)[0]
    return reason.strip()


def never_reason(reason: str) -> str:
    """Why a job pending with ``reason`` can never start, or "" when it can."""
    key = reason_key(reason)
    if key in NEVER:
        return NEVER[key]
    # Per-job QOS limits (QOSMaxCpuPerJobLimit, QOSMaxWallDurationPerJobLimit, QOSMinGRES, ...)
    # compare the job with the QOS; limits on running jobs (QOSGrp*, *PerUser*, *PerAccount*) wait.
    if key.startswith("QOSMin") or (key.startswith("QOSMax") and "PerJob" in key):
        return "the job asks for more (or less) than its QOS allows for one job"
    return ""


def unavailable_nodes(reason: str) -> bool:
    return reason.startswith(UNAVAILABLE_NODES)


@dataclass
class PendingWatch:
    """Follows the reasons of one pending job; ``verdict`` is set once it can never start."""

    client: SlurmClient
    partition: str
    unavailable_grace: float
    unusable_since: float | None = None
    verdict: str = ""

    def observe(self, reason: str, now: float) -> str:
        """Look at the job's current reason; returns why it can never start ("" = it may)."""
        never = never_reason(reason)
        if never:
            self.verdict = f"{reason_key(reason)}: {never}"
            return self.verdict
        if not unavailable_nodes(reason) or self._some_node_usable():
            self.unusable_since = None
            return ""
        if self.unusable_since is None:
            self.unusable_since = now
        if now - self.unusable_since >= self.unavailable_grace:
            self.verdict = (f"{reason_key(reason)}: no node of the partition has taken jobs for "
                            f"{self.unavailable_grace:.0f} s (down or drained)")
        return self.verdict

    def _some_node_usable(self) -> bool:
        try:
            groups = self.client.partition_nodes(self.partition)
        except SlurmCommandError:
            return True  # cannot tell: keep waiting
        if not groups:
            return True
        return any(node_state(state) not in UNUSABLE_NODE_STATES for *_, state in groups)


def node_state(state: str) -> str:
    return state.strip().lower().rstrip("*~#!%$@^-+")


def describe_request(fields: dict[str, str]) -> str:
    """What a job asks for, from `scontrol show job`: nodes, tasks, CPUs, memory, GPUs, time."""
    tres = dict(item.split("=", 1) for item in fields.get("TRES", "").split(",") if "=" in item)
    memory = tres.get("mem") or fields.get("MinMemoryNode") or fields.get("MinMemoryCPU", "?")
    gpus = tres.get("gres/gpu", "")
    if not gpus and "gpu" in fields.get("TresPerNode", ""):
        gpus = fields["TresPerNode"].rsplit(":", 1)[-1] + " per node"
    nodes = fields.get("NumNodes", "?")
    low, _, high = nodes.partition("-")
    nodes = low if high in ("", low) else nodes  # a pending job shows "1-1"
    return (f"{nodes} node(s), {fields.get('NumTasks', '?')} task(s) × "
            f"{fields.get('CPUs/Task', '?')} CPU(s) ({fields.get('NumCPUs', '?')} CPUs), {memory} memory, "
            f"{gpus or 'no'} GPU(s), time limit {fields.get('TimeLimit', '?')}, "
            f"partition {fields.get('Partition', '?')}")


def describe_partition(client: SlurmClient, partition: str) -> str:
    """What a partition offers: its nodes (CPUs, memory, GRES, state) and its limits."""
    try:
        groups = client.partition_nodes(partition)
        limits = client.partition_fields(partition) if partition else {}
    except SlurmCommandError as exc:
        return f"partition {partition or '(default)'}: unknown ({exc})"
    nodes = "; ".join(
        f"{count} node(s) with {cpus} CPUs, {memory}M memory, "
        f"{'no GPUs' if gres in ('(null)', '') else gres}, {node_state(state)}"
        for count, cpus, memory, gres, state in groups) or "no nodes"
    extra = [f"{key} {limits[key]}" for key in ("MaxNodes", "MaxTime", "MaxCPUsPerNode", "MaxMemPerNode")
             if limits.get(key) not in (None, "", "UNLIMITED")]
    limits_text = f" ({', '.join(extra)})" if extra else ""
    return f"partition {partition or '(default)'} offers {nodes}{limits_text}"
