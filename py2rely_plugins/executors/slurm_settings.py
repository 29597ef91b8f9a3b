"""Settings of the `slurm` executor: the keys of ``executors.slurm`` in the parameter file.

Values come from JSON (numbers, lists) or from ``--executor-setting KEY=VALUE`` (strings), so
every parser accepts both. Every value that ends up in an ``#SBATCH`` line is checked here, before
any job is submitted, and a bad one is reported in one line naming the key and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from py2rely_core.errors import ParameterError

WHERE = "executors.slurm"
MPI_LAUNCHERS = {"mpirun": "mpirun -n {ranks}", "srun": "srun --mpi={srun_mpi} -n {ranks}"}
RESOURCE_KINDS = ("cpu", "gpu")

# sbatch --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or no limit.
_TIME = re.compile(r"^(\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|INFINITE)$", re.I)
_MEMORY = re.compile(r"^\d+[KMGT]?$", re.I)
_PARTITION = re.compile(r"^[\w.+-]+(,[\w.+-]+)*$")
_SRUN_MPI = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class SlurmSettings:
    cpu_partition: str = ""  # "" = the cluster's default partition
    gpu_partition: str = ""
    account: str = ""
    qos: str = ""
    cpu_time_limit: str = ""  # sbatch --time format; "" = the partition's default
    gpu_time_limit: str = ""
    gpus_per_job: int = 0  # for GPU-kind jobs (refine, class3d, initial model)
    cpus_per_task: int = 0  # 0 = the job's thread count
    mem: str = ""
    constraint: str = ""
    extra_sbatch_lines: tuple[str, ...] = ()
    setup_lines: tuple[str, ...] = ()  # site lines, run before the RELION runtime's own
    mpi_launcher: str = "mpirun"  # "mpirun", "srun" or a command with {ranks}
    srun_mpi: str = "pmix"  # srun --mpi=<type> when mpi_launcher is "srun"
    poll_interval: float = 10.0  # seconds between squeue polls
    retries: int = 0  # resubmissions after NODE_FAIL or PREEMPTED
    template: str = ""  # path of a user template; "" = the bundled one
    nodes: int = 0  # --nodes; 0 = one node unless the launcher is srun (mpirun starts ranks locally)
    unavailable_grace: float = 300.0  # seconds a job may wait with no usable node in its partition

    def partition(self, resource: str) -> str:
        return self.gpu_partition if resource == "gpu" else self.cpu_partition

    def time_limit(self, resource: str) -> str:
        return self.gpu_time_limit if resource == "gpu" else self.cpu_time_limit

    def node_count(self) -> str:
        """--nodes for every job: the setting, else 1 unless srun places the ranks. The embedded
        runtime's mpirun (like any mpirun started inside the root) starts every rank on the
        node the batch script runs on, so an allocation spread over two nodes would only waste
        the second (and a 3-task job on 2-CPU nodes asked for two)."""
        if self.nodes:
            return str(self.nodes)
        return "" if self.mpi_launcher == "srun" else "1"

    def launcher(self) -> str:
        """The MPI launch prefix for render_job_script ({ranks} and {threads} are filled later)."""
        if self.mpi_launcher == "srun":
            return MPI_LAUNCHERS["srun"].replace("{srun_mpi}", self.srun_mpi)
        return MPI_LAUNCHERS.get(self.mpi_launcher, self.mpi_launcher)


def _fail(key: str, problem: str, expected: str) -> ParameterError:
    return ParameterError(f"{WHERE}.{key}", problem, expected)


def _text(key: str, value: Any, pattern: re.Pattern[str] | None = None, expected: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(key, f"is {type(value).__name__} {value!r}", expected or "a string")
    text = str(value).strip()
    # A line break would end the #SBATCH line and inject a command into the job script.
    if "\n" in text or "\r" in text:
        raise _fail(key, "contains a line break", expected or "a single line")
    if text and pattern is not None and not pattern.match(text):
        raise _fail(key, f"is {text!r}", expected)
    return text


def _integer(key: str, value: Any, minimum: int) -> int:
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        number = int(str(value).strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise _fail(key, f"is {value!r}", f"an integer ≥ {minimum}") from None
    if number < minimum:
        raise _fail(key, f"is {number}", f"an integer ≥ {minimum}")
    return number


def _seconds(key: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(key, f"is {value!r}", "a number of seconds > 0") from None
    if not number > 0:
        raise _fail(key, f"is {value!r}", "a number of seconds > 0")
    return number


def _lines(key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise _fail(key, f"is {type(value).__name__}", "a list of strings")
    lines = []
    for item in items:
        if not isinstance(item, str):
            raise _fail(key, f"has the non-string item {item!r}", "a list of strings")
        lines.extend(line.strip() for line in item.splitlines() if line.strip())
    return tuple(lines)


def _sbatch_lines(key: str, value: Any) -> tuple[str, ...]:
    """Extra directives: "--exclusive" or "#SBATCH --exclusive" both mean the same line."""
    directives = []
    for line in _lines(key, value):
        if line.startswith("-"):
            line = f"#SBATCH {line}"
        if not line.startswith("#SBATCH "):
            raise _fail(key, f"has {line!r}", "sbatch options such as '--exclusive' or "
                        "'#SBATCH --exclusive' (put shell commands in setup_lines)")
        directives.append(line)
    return tuple(directives)


def _launcher(key: str, value: Any) -> str:
    text = _text(key, value) or "mpirun"
    if text in MPI_LAUNCHERS:
        return text
    if "{ranks}" not in text:
        raise _fail(key, f"is {text!r}", "'srun', 'mpirun' or a command containing {ranks}")
    try:
        text.format(ranks=3, threads=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise _fail(key, f"is {text!r} ({exc})", "only the placeholders {ranks} and {threads}") from None
    return text


def _template(key: str, value: Any) -> str:
    text = _text(key, value)
    if text and not Path(text).expanduser().is_file():
        raise _fail(key, f"{text} does not exist", "the path of an sbatch template file")
    return str(Path(text).expanduser().resolve()) if text else ""


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "cpu_partition": lambda k, v: _text(k, v, _PARTITION, "a partition name such as 'cpu'"),
    "gpu_partition": lambda k, v: _text(k, v, _PARTITION, "a partition name such as 'gpu'"),
    "account": _text,
    "qos": _text,
    "cpu_time_limit": lambda k, v: _text(k, v, _TIME, "an sbatch time such as 60, 2:00:00 or 1-12:00:00"),
    "gpu_time_limit": lambda k, v: _text(k, v, _TIME, "an sbatch time such as 60, 2:00:00 or 1-12:00:00"),
    "gpus_per_job": lambda k, v: _integer(k, v, 0),
    "cpus_per_task": lambda k, v: _integer(k, v, 0),
    "mem": lambda k, v: _text(k, v, _MEMORY, "a size such as 16G or 64000M"),
    "constraint": _text,
    "extra_sbatch_lines": _sbatch_lines,
    "setup_lines": _lines,
    "mpi_launcher": _launcher,
    "srun_mpi": lambda k, v: _text(k, v, _SRUN_MPI, "an srun --mpi type such as pmix or pmi2") or "pmix",
    "poll_interval": _seconds,
    "retries": lambda k, v: _integer(k, v, 0),
    "template": _template,
    "nodes": lambda k, v: _integer(k, v, 0),
    "unavailable_grace": _seconds,
}
SETTING_NAMES = tuple(field.name for field in fields(SlurmSettings))
assert set(SETTING_NAMES) == set(_PARSERS)


def parse_settings(settings: Mapping[str, Any]) -> SlurmSettings:
    """Validated settings; raises ParameterError naming the first bad key."""
    unknown = sorted(set(settings) - set(_PARSERS))
    if unknown:
        raise ParameterError(f"{WHERE}.{unknown[0]}", "is not a setting of the slurm executor",
                             f"one of {', '.join(SETTING_NAMES)}")
    values = {key: _PARSERS[key](key, value) for key, value in settings.items()}
    return SlurmSettings(**values)
