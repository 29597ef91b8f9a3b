"""The objects plugins hand to the core, and the records the core hands back to them.

Every registered object has a ``name`` (unique within its kind) and a one-line ``description``
that ``py2rely plugins`` prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from types import ModuleType

    import click
    from pluggy import PluginManager


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass(frozen=True)
class Node:
    """A file a job reads or writes, with its RELION node type label."""

    path: str
    type_label: str


@dataclass(frozen=True)
class Command:
    """One program call of a job. ``mpi_ranks`` > 1 means the executor launches it through MPI."""

    program: str
    args: tuple[str, ...] = ()
    mpi_ranks: int = 1
    threads: int = 1

    def words(self) -> list[str]:
        return [self.program, *self.args]


@runtime_checkable
class JobType(Protocol):
    """Builds the commands of one RELION job type from its job options (as in job.star).

    ``defaults`` holds every option RELION has for this job type with RELION's default value;
    a planned job may only set options named there (so a typo cannot be silently ignored).
    """

    name: str  # RELION type label, e.g. "relion.refine3d.tomo"
    description: str
    directory: str  # RELION directory name, e.g. "Refine3D"
    is_tomo: bool  # value written to rlnJobIsTomo
    resource: str  # "gpu" or "cpu": which partition kind a scheduler should use
    defaults: Mapping[str, str]

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]: ...

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]: ...

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        """The outputs RELION's pipeliner declares (what default_pipeline.star lists)."""
        ...

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        """Files that must exist after a successful run (RELION declares some it never writes)."""
        ...

    # Optional: ``output_checks(options, job_dir) -> list[OutputCheck]``, tables and row counts
    # the outputs must have (py2rely_core.outputs).


@dataclass(frozen=True)
class OutputCheck:
    """What a job type promises about one output, checked before the job counts as succeeded and
    before it is reused (``JobType.output_checks``, optional).

    ``block`` and ``columns``: a STAR table that must be there with these columns. ``rows_like``:
    input tables (path, block) whose rows added up give this table's row count; with ``at_most``
    the count may be smaller (a selection). Every output file is also checked on its own: a STAR
    file parses with whole rows, an MRC file's size matches its header."""

    path: str
    block: str = ""
    columns: tuple[str, ...] = ()
    rows_like: tuple[tuple[str, str], ...] = ()
    at_most: bool = False


@dataclass(frozen=True)
class PlannedJob:
    """A job the workflow wants: its type, its complete options and where it sits in the workflow.

    ``options`` are RELION job options (strings, as job.star stores them); together with the type
    label and the fingerprints of inputs from outside the project they form the job's identity.
    """

    type_label: str
    options: Mapping[str, str]
    stage: str  # human name of the step, e.g. "refine3d"
    binning: int | None = None
    note: str = ""

    def with_options(self, **changes: str) -> PlannedJob:
        """The same job with some options changed (``planned.with_options(sym_name="C1")``)."""
        return replace(self, options={**self.options, **changes})


@dataclass
class JobResult:
    """What became of a planned job."""

    job_dir: str  # e.g. "Refine3D/job005/"
    status: str  # "Succeeded", "Failed", "Aborted" (RELION's labels) or "Planned" in a dry run
    elapsed: float = 0.0
    reused: bool = False
    message: str = ""

    def path(self, name: str) -> str:
        return f"{self.job_dir}{name}"

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"


# ---------------------------------------------------------------------------------------------
# Executors


@dataclass(frozen=True)
class RunnableJob:
    """Everything an executor needs to run one job; it does not need to know what the job means.

    Executors turn it into a shell script with ``py2rely_core.script.render_job_script`` (which
    writes run.out/run.err and RELION's exit markers), choosing how MPI programs are launched.
    """

    project_dir: str  # absolute path of the RELION project
    job_dir: str  # relative to project_dir, with trailing slash
    name: str  # short label for schedulers, e.g. "Refine3D_job005"
    commands: tuple[Command, ...]
    resource: str  # "gpu" or "cpu"
    stage: str = ""
    setup_lines: tuple[str, ...] = ()  # shell lines run first (module load, PATH of the runtime)

    @property
    def mpi_ranks(self) -> int:
        return max((c.mpi_ranks for c in self.commands), default=1)

    @property
    def threads(self) -> int:
        return max((c.threads for c in self.commands), default=1)

    def path(self, name: str) -> str:
        return f"{self.project_dir}/{self.job_dir}{name}"


@dataclass(frozen=True)
class JobProbe:
    """What an executor can tell about a job without following it (``Executor.probe``)."""

    state: str  # "active" (queued or running), "gone" (no process left) or "unknown"
    detail: str = ""  # e.g. "SLURM job 12 RUNNING", "process group 4711 is gone"
    waiting: str = ""  # why a queued job does not run yet (a scheduler's reason), else ""

    ACTIVE = "active"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass
class ExitOutcome:
    status: str  # "Succeeded", "Failed" or "Aborted"
    exit_code: int | None = None
    detail: str = ""  # e.g. the scheduler's final state


class JobHandle(Protocol):
    job_dir: str


class Executor(Protocol):
    def start(self, job: RunnableJob) -> JobHandle: ...

    def wait(self, handle: JobHandle) -> ExitOutcome: ...

    def cancel(self, handle: JobHandle) -> None: ...

    def reattach(self, job: RunnableJob) -> JobHandle | None:
        """A handle to this job if an earlier driver left it running, else None."""
        ...

    def describe(self, job: RunnableJob) -> str:
        """What ``--dry-run`` prints for this job (the command line or the script to submit)."""
        ...

    # Optional: ``probe(job: RunnableJob) -> JobProbe``, whether a job an earlier driver started
    # is still queued or running (and why it is waiting), without following it. The runner and
    # `py2rely status` use it to tell a running job from one whose processes are gone; without
    # it they ask ``reattach`` (a handle means active, None means gone).
    # Optional: ``check(setup_lines)`` raises a Py2relyError (naming the setting) before the
    # first job if jobs cannot run, e.g. when the MPI launcher is not found after the jobs'
    # set-up lines. `pipelines sta` calls it when the executor has it.


@runtime_checkable
class ExecutorFactory(Protocol):
    name: str
    description: str

    def create(self, settings: Mapping[str, Any]) -> Executor: ...


# ---------------------------------------------------------------------------------------------
# Converters


@runtime_checkable
class Importer(Protocol):
    """A ``py2rely prepare <name>`` command: ``params`` are its click options, ``run`` does it."""

    name: str
    description: str
    params: Sequence[click.Parameter]

    def run(self, **options: Any) -> None: ...


@runtime_checkable
class Exporter(Protocol):
    """A ``py2rely export <name>`` command: ``params`` are its click options, ``run`` does it."""

    name: str
    description: str
    params: Sequence[click.Parameter]

    def run(self, **options: Any) -> None: ...


@dataclass
class PluginInfo:
    """What ``py2rely plugins`` prints for one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None


# ---------------------------------------------------------------------------------------------
# Plugins declaring their own hooks


@dataclass(frozen=True)
class Kind:
    """A kind of named object plugins register through one hook (executors, job types, ...)."""

    key: str  # registry key and the word used in `py2rely plugins`
    hook: str
    noun: str  # singular, for messages


class HookDeclarations:
    """What ``py2rely_add_hookspecs`` receives: where a plugin declares its own hooks and kinds."""

    def __init__(self, manager: PluginManager, kinds: list[Kind]) -> None:
        self._manager = manager
        self._kinds = kinds

    def add_hookspecs(self, module: ModuleType | object) -> None:
        self._manager.add_hookspecs(module)

    def add_kind(self, kind: Kind) -> None:
        if any(known.key == kind.key for known in self._kinds):
            raise ValueError(f"a kind named '{kind.key}' is declared twice")
        self._kinds.append(kind)
