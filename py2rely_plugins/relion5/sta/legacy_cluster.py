"""py2rely 0.7.1's cluster flags (``-s/--submitit``, ``-ng``, ``-gc``, ``-cc``, ``-t``), read as
settings of the ``slurm`` executor.

0.7.1 sent each GPU job to partition ``gpu`` and each CPU job to ``cpu`` through submitit, with
``-ng`` GPUs (and ``-ng`` + 1 MPI ranks for refinements), ``-gc`` as the GPU jobs' node feature
constraint, ``-cc NCPUS,GB`` CPUs per task and memory per CPU, and ``-t`` hours per job. Here the
same values become ``executors.slurm`` settings: 0.7.1's defaults sit below the parameter file's
settings, a flag typed on the command line sits above them, and ``--executor-setting`` above all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import click
from click.core import ParameterSource

from py2rely_core import log
from py2rely_core.cli import optional_bool
from py2rely_core.errors import InputError
from py2rely_plugins.relion5.gpu import even_gpu_count

DEFAULT_GPUS = 4
DEFAULT_CPU_CONSTRAINT = "4,16"
DEFAULT_TIMEOUT_HOURS = 48
# What 0.7.1's submitit jobs asked for when no flag said otherwise.
SUBMITIT_DEFAULTS: dict[str, Any] = {"gpu_partition": "gpu", "cpu_partition": "cpu"}


def parse_cpu_constraint(text: str, option: str = "-cc/--cpu-constraint") -> tuple[int, int]:
    """'4,16' -> (4 CPUs per task, 16 GB per CPU), exactly two positive integers as in 0.7.1."""
    parts = [part.strip() for part in text.split(",")]
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 2 or min(numbers) < 1:
        raise InputError(option, f"{text!r} is not NCPUS,GB", "two positive integers, e.g. 4,16")
    return numbers[0], numbers[1]


def time_limit(hours: int) -> str:
    """Hours as an sbatch time (D-HH:MM:SS)."""
    if hours < 1:
        raise InputError("-t/--timeout", f"{hours} hours", "at least 1 hour")
    return f"{hours // 24}-{hours % 24:02d}:00:00"


def gpu_feature(text: str) -> str:
    """0.7.1 read ',' and '|' as 'any of'; SLURM's --constraint writes that 'a100|h100'."""
    features = [part.strip() for part in text.replace(",", "|").split("|") if part.strip()]
    if not features:
        raise InputError("-gc/--gpu-constraint", f"{text!r} names no GPU type", "e.g. a100 or a100|h100")
    return "|".join(features)


@dataclass
class LegacyCluster:
    """The 0.7.1 cluster flags of one command line; ``typed`` holds the flags the user wrote."""

    submitit: bool = False
    num_gpus: int = DEFAULT_GPUS
    gpu_constraint: str | None = None
    cpu_constraint: str = DEFAULT_CPU_CONSTRAINT
    timeout: int = DEFAULT_TIMEOUT_HOURS
    typed: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_context(cls, ctx: click.Context, values: Mapping[str, Any]) -> LegacyCluster:
        typed = frozenset(name for name in ("submitit", "num_gpus", "gpu_constraint", "cpu_constraint",
                                            "timeout")
                          if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None))
        return cls(submitit=bool(values.get("submitit")), num_gpus=values.get("num_gpus", DEFAULT_GPUS),
                   gpu_constraint=values.get("gpu_constraint"),
                   cpu_constraint=values.get("cpu_constraint", DEFAULT_CPU_CONSTRAINT),
                   timeout=values.get("timeout", DEFAULT_TIMEOUT_HOURS), typed=typed)

    def executor(self, executor: str, executor_typed: bool) -> str:
        """The executor: ``-s True`` means slurm (and contradicts another one typed)."""
        if not self.submitit:
            return executor
        if executor_typed and executor != "slurm":
            raise InputError("-s/--submitit", f"asks for SLURM but --executor is {executor!r}",
                             "one of them (--executor slurm is the current spelling)")
        return "slurm"

    def gpu_count(self) -> int | None:
        """GPUs per GPU job (and ranks − 1 of refinements), when the flags ask for a number."""
        if "num_gpus" in self.typed or self.submitit:
            return self.num_gpus
        return None

    def _settings(self, names: frozenset[str] | set[str]) -> dict[str, Any]:
        settings: dict[str, Any] = {}
        if "num_gpus" in names:
            settings["gpus_per_job"] = self.num_gpus
        if "gpu_constraint" in names and self.gpu_constraint:
            settings["gpu_constraint"] = gpu_feature(self.gpu_constraint)
        if "cpu_constraint" in names:
            cpus, gigabytes = parse_cpu_constraint(self.cpu_constraint)
            settings["cpus_per_task"] = cpus
            settings["extra_sbatch_lines"] = [f"--mem-per-cpu={gigabytes}G"]
        if "timeout" in names:
            settings["gpu_time_limit"] = settings["cpu_time_limit"] = time_limit(self.timeout)
        return settings

    def defaults(self) -> dict[str, Any]:
        """0.7.1's submitit settings, below the parameter file's (only with ``-s True``)."""
        if not self.submitit:
            return {}
        return {**SUBMITIT_DEFAULTS, **self._settings({"num_gpus", "cpu_constraint", "timeout"} - self.typed)}

    def overrides(self) -> dict[str, Any]:
        """The settings of the flags the user typed, above the parameter file's."""
        return self._settings(self.typed)

    def notes(self) -> list[str]:
        spelled = {
            "submitit": "-s/--submitit True: use --executor slurm",
            "num_gpus": "-ng/--num-gpus N: use --executor-setting gpus_per_job=N (refinements then "
                        "run N+1 MPI ranks, as in 0.7.1)",
            "gpu_constraint": "-gc/--gpu-constraint: use --executor-setting gpu_constraint=FEATURES",
            "cpu_constraint": "-cc/--cpu-constraint N,GB: use --executor-setting cpus_per_task=N and "
                              "extra_sbatch_lines=--mem-per-cpu=GBG",
            "timeout": "-t/--timeout HOURS: use --executor-setting gpu_time_limit=/cpu_time_limit=",
        }
        return [f"{spelled[name]} (py2rely 0.7.1's flag, still accepted)" for name in sorted(self.typed)
                if name != "submitit" or self.submitit]


def merge_settings(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win, except ``extra_sbatch_lines``, which are added up."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key == "extra_sbatch_lines" and key in merged:
                before = merged[key] if isinstance(merged[key], list) else [merged[key]]
                added = value if isinstance(value, list) else [value]
                value = [*before, *(line for line in added if line not in before)]
            merged[key] = value
    return merged


def announce(notes: list[str]) -> None:
    logger = log.get_logger("py2rely.compat")
    for note in notes:
        logger.warning("deprecated flag", note=note)


def cluster_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """0.7.1's -s, -ng, -gc, -cc and -t."""
    options = [
        optional_bool("-s", "--submitit", help="py2rely 0.7.1's spelling of --executor slurm."),
        click.option("-ng", "--num-gpus", type=int, default=DEFAULT_GPUS, show_default=True,
                     callback=even_gpu_count,
                     help="GPUs per GPU job on SLURM, even (refinements run one MPI rank per GPU "
                          "plus a leader); applies with -s/--executor slurm or when typed."),
        click.option("-gc", "--gpu-constraint", default=None,
                     help="SLURM node features of GPU jobs, e.g. a100 or \"a100|h100\" (any of)."),
        click.option("-cc", "--cpu-constraint", default=DEFAULT_CPU_CONSTRAINT, show_default=True,
                     help="SLURM CPUs per task and GB per CPU, e.g. 4,16 (with -s or when typed)."),
        click.option("-t", "--timeout", type=int, default=DEFAULT_TIMEOUT_HOURS, show_default=True,
                     help="SLURM time limit per job in hours (with -s or when typed)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function
