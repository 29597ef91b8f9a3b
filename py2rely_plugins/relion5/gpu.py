"""The GPU switch of the RELION jobs that can use GPUs (Refine3D, Class3D, InitialModel).

``--gpu`` / ``--no-gpu`` (and py2rely 0.7.1's ``-g/--use-gpu True|False``) decide; when neither
is given the parameter file's ``compute.use_gpu`` does, and when that is ``null`` py2rely looks:
on this machine (local executor) GPUs are used when ``nvidia-smi`` lists some, on a scheduler
when the executor is asked for GPUs (``gpus_per_job`` > 0). ``--gpu-ids`` gives RELION's
``--gpu`` string for every GPU job or, as ``KIND=IDS``, for one kind of job.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import click

from py2rely_core.errors import InputError

# The job kinds that run relion_refine and can use GPUs, by the key --gpu-ids and the parameter
# file's compute.gpu_ids_by_job use.
GPU_KINDS = ("refine3d", "class3d", "initial_model")
ALL_KINDS = "*"
# RELION's --gpu syntax: device numbers, ',' between the threads of one rank, ':' between ranks.
_IDS = re.compile(r"^\d+([,:]\d+)*$")


def detect_gpus(timeout: float = 20.0) -> list[str] | None:
    """Device indices ``nvidia-smi`` lists; [] when it runs but finds none (or no driver), None
    when there is no nvidia-smi to ask."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return None
    try:
        result = subprocess.run([program, "--query-gpu=index", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip().isdigit()]


def parse_gpu_ids(items: Iterable[str], option: str = "--gpu-ids") -> dict[str, str]:
    """``["0:1", "initial_model=0"]`` -> ``{"*": "0:1", "initial_model": "0"}``."""
    ids: dict[str, str] = {}
    for item in items:
        kind, sep, value = item.rpartition("=")
        kind = kind.strip() if sep else ALL_KINDS
        value = value.strip()
        if kind != ALL_KINDS and kind not in GPU_KINDS:
            raise InputError(option, f"{item!r}: no GPU job kind {kind!r}",
                             f"IDS or KIND=IDS with KIND one of {', '.join(GPU_KINDS)}")
        if not _IDS.match(value):
            raise InputError(option, f"{item!r}: {value!r} is not a RELION GPU list",
                             "device numbers separated by ':' (ranks) or ',' (threads), e.g. 0:1")
        ids[kind] = value
    return ids


@dataclass(frozen=True)
class GpuChoice:
    enabled: bool
    reason: str
    ids: Mapping[str, str] = field(default_factory=dict)  # "*" and/or GPU_KINDS

    def apply(self, compute: Any) -> None:
        """Set the parameter file's compute section (a copy the run uses) to this choice."""
        compute.use_gpu = self.enabled
        if ALL_KINDS in self.ids:
            compute.gpu_ids = self.ids[ALL_KINDS]
        by_kind = {k: v for k, v in self.ids.items() if k != ALL_KINDS}
        if by_kind:
            compute.gpu_ids_by_job = {**compute.gpu_ids_by_job, **by_kind}


def requested_gpu(switch: bool | None, use_gpu: bool | None) -> bool | None:
    """One answer from ``--gpu/--no-gpu`` and 0.7.1's ``-g/--use-gpu``; they must agree."""
    if switch is not None and use_gpu is not None and switch != use_gpu:
        raise InputError("--gpu/--no-gpu", f"contradicts -g/--use-gpu {use_gpu}",
                         "one of them, or both saying the same")
    return switch if switch is not None else use_gpu


def choose_gpus(requested: bool | None, configured: bool | None, executor: str, gpus_per_job: int,
                ids: Mapping[str, str] | None = None,
                detect: Callable[[], list[str] | None] = detect_gpus) -> GpuChoice:
    """Whether the GPU jobs of this run use GPUs, and why."""
    ids = dict(ids or {})
    if requested is False:
        choice = GpuChoice(False, "--no-gpu")
    elif requested is True:
        if executor == "local":
            found = detect()
            if found == []:
                raise InputError("--gpu", "nvidia-smi finds no GPU on this machine",
                                 "a machine with a GPU, --executor slurm with GPUs, or --no-gpu")
        choice = GpuChoice(True, "--gpu", ids)
    elif configured is not None:
        choice = GpuChoice(configured, f"compute.use_gpu {str(configured).lower()}",
                           ids if configured else {})
    elif executor == "local":
        found = detect()
        choice = (GpuChoice(True, f"nvidia-smi lists {len(found)} GPU(s)", ids) if found
                  else GpuChoice(False, "no GPU found on this machine (nvidia-smi)"))
    else:
        choice = (GpuChoice(True, f"{executor}: {gpus_per_job} GPU(s) per job", ids)
                  if gpus_per_job > 0 else GpuChoice(False, f"{executor}: no GPUs requested"))
    if ids and not choice.enabled:
        raise InputError("--gpu-ids", f"given, but GPUs are off ({choice.reason})", "--gpu with it")
    return choice


def even_gpu_count(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """0.7.1's rule for -ng: refinements run one MPI rank per GPU plus a leader, and gold-standard
    refinement needs an odd number of ranks."""
    if value is not None and (value < 0 or value % 2):
        raise click.BadParameter(
            f"{value}: give an even number of GPUs (Refine3D runs one MPI rank per GPU plus a "
            "leader, and needs an odd number of ranks)")
    return value


def gpu_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--gpu/--no-gpu, -g/--use-gpu and --gpu-ids for a command that runs GPU jobs."""
    options = [
        click.option("--gpu/--no-gpu", "gpu", default=None,
                     help="Run Refine3D, Class3D and InitialModel on GPUs (default: parameter file, "
                          "else GPUs when nvidia-smi finds some; see docs/gpu.md)."),
        click.option("-g", "--use-gpu", "use_gpu", type=click.BOOL, default=None, is_flag=False,
                     flag_value=True, metavar="BOOL",
                     help="py2rely 0.7.1's spelling of --gpu/--no-gpu (True or False)."),
        click.option("--gpu-ids", "gpu_ids", multiple=True, metavar="[KIND=]IDS",
                     help="RELION --gpu ids (e.g. 0:1), for every GPU job or one kind "
                          "(refine3d, class3d, initial_model); repeatable."),
    ]
    for option in reversed(options):
        function = option(function)
    return function
