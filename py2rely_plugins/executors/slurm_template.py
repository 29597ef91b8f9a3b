"""The sbatch script of one job: a template of ``#SBATCH`` lines on top of the job script.

The template holds ``{name}`` placeholders (lower-case names, listed in ``PLACEHOLDERS``); every
other brace, such as bash's ``${SLURM_JOB_ID}``, is copied as it is. A line whose placeholder
renders empty is dropped, which is how unset settings fall back to the site's defaults without
conditionals in the template. Lines starting with ``##`` are comments of the template itself.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path

from py2rely_core.errors import ParameterError
from py2rely_core.interfaces import RunnableJob
from py2rely_core.script import render_job_script
from py2rely_plugins.executors.slurm_settings import SlurmSettings

DEFAULT_TEMPLATE = "slurm.sbatch"
PLACEHOLDERS = {
    "job_name": "the job's name from its directory, e.g. Refine3D_job005",
    "job_dir": "the job directory relative to the project, e.g. Refine3D/job005/",
    "project_dir": "absolute path of the RELION project (the job's working directory)",
    "stage": "the workflow step, e.g. refine3d",
    "resource": "the job's kind: gpu or cpu",
    "partition": "gpu_partition or cpu_partition, by the job's kind",
    "nodes": "nodes, else 1 unless mpi_launcher is srun (empty: SLURM decides)",
    "ntasks": "MPI ranks of the job (1 for a non-MPI job)",
    "mpi_ranks": "same as ntasks",
    "cpus_per_task": "cpus_per_task, else the job's threads per rank",
    "threads": "the job's threads per rank",
    "time_limit": "gpu_time_limit or cpu_time_limit, by the job's kind",
    "output": "absolute path of the job's run.out",
    "error": "absolute path of the job's run.err",
    "account": "account",
    "qos": "qos",
    "gpus": "gpus_per_job for a GPU-kind job; empty for CPU jobs or 0 GPUs",
    "mem": "mem",
    "constraint": "constraint",
    "extra_sbatch_lines": "extra_sbatch_lines, one #SBATCH line each",
}
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def template_text(settings: SlurmSettings) -> tuple[str, str]:
    """(text, name) of the template in use: the user's file or the bundled default."""
    if settings.template:
        path = Path(settings.template)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ParameterError("executors.slurm.template", f"{path} cannot be read ({exc})",
                                 "a readable text file") from None
    bundled = resources.files("py2rely_plugins.executors").joinpath("templates", DEFAULT_TEMPLATE)
    return bundled.read_text(encoding="utf-8"), f"bundled {DEFAULT_TEMPLATE}"


def _quoted(value: str) -> str:
    """sbatch splits an #SBATCH line at blanks unless the value is in double quotes."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def placeholder_values(job: RunnableJob, settings: SlurmSettings) -> dict[str, str]:
    gpus = settings.gpus_per_job if job.resource == "gpu" else 0
    ranks = max(job.mpi_ranks, 1)
    threads = max(job.threads, 1)
    return {
        "job_name": _quoted(job.name),
        "job_dir": job.job_dir,
        "project_dir": _quoted(job.project_dir),
        "stage": job.stage,
        "resource": job.resource,
        "partition": settings.partition(job.resource),
        "nodes": settings.node_count(),
        "ntasks": str(ranks),
        "mpi_ranks": str(ranks),
        "cpus_per_task": str(settings.cpus_per_task or threads),
        "threads": str(threads),
        "time_limit": settings.time_limit(job.resource),
        "output": _quoted(job.path("run.out")),
        "error": _quoted(job.path("run.err")),
        "account": _quoted(settings.account),
        "qos": _quoted(settings.qos),
        "gpus": str(gpus) if gpus else "",
        "mem": settings.mem,
        "constraint": _quoted(settings.constraint),
        "extra_sbatch_lines": "\n".join(settings.extra_sbatch_lines),
    }


def render_header(text: str, values: dict[str, str], template_name: str) -> list[str]:
    """The template's lines with placeholders filled; lines with an empty placeholder dropped."""
    header: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("##") or (number == 1 and line.startswith("#!")):
            continue  # render_job_script writes the shebang itself
        names = _PLACEHOLDER.findall(line)
        unknown = [name for name in names if name not in values]
        if unknown:
            raise ParameterError(
                f"{template_name}:{number}", f"unknown placeholder {{{unknown[0]}}}",
                f"one of {', '.join('{' + n + '}' for n in PLACEHOLDERS)}")
        if any(values[name] in ("", '""') for name in names):
            continue
        rendered = _PLACEHOLDER.sub(lambda m: values[m.group(1)], line)
        header.extend(rendered.splitlines() or [""])
    while header and not header[-1].strip():
        header.pop()
    return header


def render_sbatch_script(job: RunnableJob, settings: SlurmSettings,
                         template: tuple[str, str] | None = None) -> str:
    """The whole script submitted for ``job``: template header, then the job script."""
    text, name = template if template is not None else template_text(settings)
    header = render_header(text, placeholder_values(job, settings), name)
    # Site lines (module load ...) come before the runtime's own lines, which may rely on them.
    job = dataclasses.replace(job, setup_lines=(*settings.setup_lines, *job.setup_lines))
    return render_job_script(job, settings.launcher(), header)
