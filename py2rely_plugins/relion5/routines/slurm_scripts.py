"""`py2rely-slurm routines ...`: write the sbatch script that runs one `py2rely routines ...` job on
a cluster node, as py2rely 0.7.1 did (extract-subtomo.sh, reconstruct-particle.sh, refine3d.sh,
class3d.sh in the current directory; submit them with sbatch).

The script repeats the options that were typed, so the job runs exactly the command line given
here (with the same defaults), and asks SLURM for what that job uses: its MPI ranks as tasks, its
threads as CPUs per task, and GPUs for refinements (``-ng``, default 4, with ``-gc`` as node
features) and aligned classifications. The other way to use SLURM is ``py2rely routines ...
--executor slurm``, which submits and follows the job itself.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from py2rely_core import atomic
from py2rely_core.cli import CONTEXT_SETTINGS, Py2relyGroup
from py2rely_core.cli_types import finite_floats
from py2rely_core.errors import InputError
from py2rely_plugins.relion5 import runtime as rt
from py2rely_plugins.relion5.gpu import even_gpu_count
from py2rely_plugins.relion5.routines import commands
from py2rely_plugins.relion5.sta.legacy_cluster import gpu_feature

TIME_LIMIT = "12:00:00"  # 0.7.1's
MEM_PER_CPU = "8G"
CPU_PARTITION, GPU_PARTITION = "cpu", "gpu"
CLASS3D_ALIGN_GPUS = 2  # 0.7.1 asked for 2 GPUs (3 tasks) for an aligning Class3D
# Options of `py2rely routines` that make no sense inside a script already running on SLURM.
NOT_FORWARDED = {"executor", "executor_settings_", "dry_run", "project_dir", "help", "overwrite"}


@dataclass(frozen=True)
class Allocation:
    gpus: int = 0
    tasks: int = 1
    cpus_per_task: int = 4
    gpu_feature: str | None = None
    array: int = 0  # number of array tasks (0: no array)

    def header(self, name: str) -> list[str]:
        lines = [f"#SBATCH --partition={GPU_PARTITION if self.gpus else CPU_PARTITION}"]
        if self.gpus:
            lines.append(f"#SBATCH --gpus={self.gpus}")
            if self.gpu_feature:
                lines.append(f"#SBATCH --constraint={self.gpu_feature}")
        lines += [f"#SBATCH --ntasks={self.tasks}", "#SBATCH --nodes=1", f"#SBATCH --time={TIME_LIMIT}",
                  f"#SBATCH --cpus-per-task={self.cpus_per_task}", f"#SBATCH --mem-per-cpu={MEM_PER_CPU}",
                  f"#SBATCH --job-name={name}", f"#SBATCH --output={name}.out"]
        if self.array:
            lines.append(f"#SBATCH --array=0-{self.array - 1}")
        return lines


def py2rely_program() -> str:
    """The py2rely of this installation (the node must see the same path), else by name."""
    beside = Path(sys.executable).parent / "py2rely"
    if beside.is_file():
        return str(beside)
    return shutil.which("py2rely") or "py2rely"


def forwarded(ctx: click.Context, names: Iterable[str] = (), skip: Iterable[str] = ()
              ) -> list[tuple[str, Any]]:
    """(long flag, value) of every option typed on this command line (plus ``names``, less
    ``skip``: this script's own options), in the command's order."""
    words = []
    skipped = NOT_FORWARDED | set(skip)
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in skipped or param.name is None:
            continue
        value = ctx.params.get(param.name)
        typed = ctx.get_parameter_source(param.name) not in (ParameterSource.DEFAULT, None)
        if value is None or value == () or not (typed or param.name in names):
            continue
        flag = next(o for o in param.opts if o.startswith("--"))
        if param.is_flag and not param.secondary_opts:
            if value:
                words.append((flag, None))
            continue
        if param.secondary_opts and isinstance(value, bool):  # --gpu/--no-gpu
            words.append((flag if value else param.secondary_opts[0], None))
            continue
        for item in (value if isinstance(value, tuple) else (value,)):
            words.append((flag, item))
    return words


def render(name: str, allocation: Allocation, routine: str, options: Sequence[tuple[str, Any]],
           prelude: Sequence[str] = ()) -> str:
    def word(value: Any) -> str:
        text = str(value)
        return text if text.startswith("$") else shlex.quote(text)

    parts = [f"{py2rely_program()} routines {routine}"]
    parts += [flag if value is None else f"{flag} {word(value)}" for flag, value in options]
    setup = list(rt.setup_lines_from_env())
    lines = ["#!/bin/bash", "", *allocation.header(name), "", *setup, *prelude, " \\\n    ".join(parts), ""]
    return "\n".join(lines)


def write_script(name: str, text: str) -> None:
    path = Path(f"{name}.sh")
    overwrite = bool(click.get_current_context().params.get("overwrite"))
    atomic.refuse_existing(path, "script", overwrite)
    with atomic.atomic_path(path) as tmp:
        tmp.write_text(text)
        tmp.chmod(0o755)  # executable from the start: the rename puts it in place whole
    click.echo(f"Shell script {path} created successfully (submit it with: sbatch {path}).")


def _routine_params(name: str, drop: Iterable[str] = ()) -> list[click.Parameter]:
    excluded = NOT_FORWARDED | set(drop)
    return [p for p in commands.routines.commands[name].params if p.name not in excluded]


OVERWRITE = click.Option(["--overwrite"], is_flag=True, help="Replace an existing script of this name.")


def _command(name: str, routine: str, callback: Any, extra: Sequence[click.Parameter] = (),
             drop: Iterable[str] = (), help_text: str = "") -> click.Command:
    # finite_floats: `py2rely` gives its commands finite float types when it builds its CLI; this
    # console script builds its own, so a NaN or infinity would otherwise reach the script.
    return finite_floats(click.Command(
        name, params=[*_routine_params(routine, drop), *extra, OVERWRITE],
        callback=click.pass_context(callback), context_settings=CONTEXT_SETTINGS,
        help=help_text or f"Write {name}.sh: `py2rely routines {routine}` as a SLURM job."))


def _cpu_job(ctx: click.Context, **values: Any) -> Allocation:
    return Allocation(tasks=max(int(values.get("nprocesses") or 1), 1),
                      cpus_per_task=max(int(values.get("nthreads") or 1), 1))


def _extract(ctx: click.Context, **values: Any) -> None:
    write_script("extract-subtomo", render("extract-subtomo", _cpu_job(ctx, **values), "extract",
                                           forwarded(ctx, ("particles",))))


def _reconstruct(ctx: click.Context, **values: Any) -> None:
    write_script("reconstruct-particle", render("reconstruct-particle", _cpu_job(ctx, **values),
                                                "reconstruct", forwarded(ctx, ("particles",))))


def _refine3d(ctx: click.Context, num_gpus: int, gpu_constraint: str | None, **values: Any) -> None:
    gpu_off = values.get("gpu") is False or values.get("use_gpu") is False or num_gpus == 0
    options = forwarded(ctx, ("particles", "tomogram", "reference"), skip=("num_gpus", "gpu_constraint"))
    if gpu_off:
        allocation = _cpu_job(ctx, **values)
        if ctx.get_parameter_source("nprocesses") == ParameterSource.DEFAULT:
            options.append(("--nprocesses", 3))  # Refine3D's fewest ranks
            allocation = Allocation(tasks=3, cpus_per_task=allocation.cpus_per_task)
    else:
        allocation = Allocation(gpus=num_gpus, tasks=num_gpus + 1, cpus_per_task=max(values["nthreads"], 1),
                                gpu_feature=gpu_feature(gpu_constraint) if gpu_constraint else None)
        if ctx.get_parameter_source("nprocesses") == ParameterSource.DEFAULT:
            options.append(("--nprocesses", num_gpus + 1))  # one rank per GPU and a leader
        if values.get("gpu") is None and values.get("use_gpu") is None:
            options.append(("--gpu", None))
    write_script("refine3d", render("refine3d", allocation, "refine3d", options))


def class_counts(text: str) -> list[int]:
    """'5' or 'min,max,step' (inclusive) as 0.7.1 read --nr-classes."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 1 and numbers[0] >= 1:
        return numbers
    if len(numbers) == 3 and numbers[0] >= 1 and numbers[2] >= 1 and numbers[1] >= numbers[0]:
        return list(range(numbers[0], numbers[1] + 1, numbers[2]))
    raise InputError("--nr-classes", f"{text!r}", "a number of classes, or min,max,step (e.g. 2,10,2)")


def _class3d(ctx: click.Context, nr_classes: str, **values: Any) -> None:
    counts = class_counts(nr_classes)
    align = bool(values.get("align_particles")) and values.get("gpu") is not False \
        and values.get("use_gpu") is not False
    allocation = (Allocation(gpus=CLASS3D_ALIGN_GPUS, tasks=CLASS3D_ALIGN_GPUS + 1, array=len(counts))
                  if align else Allocation(array=len(counts)))
    options = [*forwarded(ctx, ("parameter", "particles", "reference"), skip=("nr_classes",)),
               ("--nr-classes", "$NUM_CLASSES")]
    if len(counts) > 1:
        prelude = [f"NUM_CLASSES_LIST=({' '.join(map(str, counts))})",
                   "NUM_CLASSES=${NUM_CLASSES_LIST[$SLURM_ARRAY_TASK_ID]}", ""]
    else:
        prelude = [f"NUM_CLASSES={counts[0]}", ""]
        allocation = Allocation(allocation.gpus, allocation.tasks, allocation.cpus_per_task)
    write_script("class3d", render("class3d", allocation, "class3d", options, prelude))


@click.group("py2rely-slurm", cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def slurm_root() -> None:
    """Write SLURM scripts that run py2rely's single jobs (py2rely 0.7.1's `py2rely-slurm`)."""


@slurm_root.group("routines", cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def slurm_routines() -> None:
    """Write the sbatch script of one `py2rely routines ...` job."""


slurm_routines.add_command(_command("extract-subtomo", "extract", _extract))
slurm_routines.add_command(_command("reconstruct", "reconstruct", _reconstruct))
slurm_routines.add_command(_command("refine3d", "refine3d", _refine3d, extra=[
    click.Option(["-ng", "--num-gpus"], type=int, default=4, show_default=True, callback=even_gpu_count,
                 help="GPUs for the refinement (one MPI rank each, plus a leader); 0 for CPUs only."),
    click.Option(["-gc", "--gpu-constraint"], default=None,
                 help="Node features of the GPUs, e.g. a100 or \"a100|h100\" (any of)."),
]))
slurm_routines.add_command(_command("class3d", "class3d", _class3d, drop=("nr_classes",), extra=[
    click.Option(["--nr-classes"], default="5", show_default=True,
                 help="Number of classes, or min,max,step for a job array over class counts."),
]))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of `py2rely-slurm`: errors as one line and an exit code, as `py2rely`."""
    from py2rely_core.cli import run_command_line

    run_command_line(lambda: slurm_root, argv, "py2rely-slurm")
