"""The shell script that runs one job, whichever executor starts it.

It runs from the project directory, appends each command's output to the job's run.out/run.err
(as RELION's pipeliner does), and leaves exactly one of RELION's exit markers: a RELION program
that fails writes RELION_JOB_EXIT_FAILURE itself, but one killed by a signal, a setup line that
fails or a non-RELION command does not, so the script writes the marker for them. Multi-command
jobs get their success marker only after the last command, because every RELION program writes
one when it ends.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from py2rely_core.errors import ParameterError
from py2rely_core.interfaces import Command, RunnableJob
from py2rely_core.markers import (
    ABORT_REQUEST,
    ABORTED_MARKER,
    FAILURE_MARKER,
    SUCCESS_MARKER,
)

DEFAULT_MPI_LAUNCHER = "mpirun -n {ranks}"
# One line per command, "<start> <end>" in seconds since the epoch: how long the programs
# themselves ran, so the orchestration's own cost can be measured (benchmarks/pipeline_overhead.py).
TIMING_FILE = "py2rely_command_times.txt"
ABORTED_EXIT_CODE = 130


def command_line(command: Command, mpi_launcher: str = DEFAULT_MPI_LAUNCHER) -> str:
    words = " ".join(shlex.quote(word) for word in command.words())
    if command.mpi_ranks > 1:
        launcher = mpi_launcher.format(ranks=command.mpi_ranks, threads=command.threads)
        return f"{launcher} {words}"
    return words


def launcher_program(mpi_launcher: str) -> str:
    """The program an MPI launcher runs: 'mpirun -n {ranks}' -> 'mpirun'."""
    try:
        words = shlex.split(mpi_launcher.format(ranks=1, threads=1))
    except (ValueError, KeyError, IndexError):
        return ""
    return words[0] if words else ""


def find_program(program: str, setup_lines: Sequence[str] = ()) -> str | None:
    """Where ``program`` is found by a job's shell after its set-up lines, or None.

    The set-up lines (``module load ...``, the embedded runtime's PATH) run first, exactly as in
    a job script, with their output discarded.
    """
    if not program:
        return None
    script = "{\n" + "\n".join(setup_lines) + '\n} >/dev/null 2>&1 </dev/null\ncommand -v -- "$1"\n'
    try:
        result = subprocess.run(["bash", "-c", script, "py2rely", program], capture_output=True,
                                text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = result.stdout.strip().splitlines()
    return found[-1] if result.returncode == 0 and found else None


def check_launcher(mpi_launcher: str, setup_lines: Sequence[str], where: str) -> None:
    """ParameterError naming ``where`` unless the launcher's program exists for a job's shell."""
    program = launcher_program(mpi_launcher)
    if find_program(program, setup_lines) is None:
        raise ParameterError(
            where, f"{program or mpi_launcher!r} is not a program found on PATH (after the job's "
            "set-up lines)", "an MPI launcher that exists, e.g. mpirun or srun",
        )


def render_job_script(
    job: RunnableJob, mpi_launcher: str = DEFAULT_MPI_LAUNCHER, header: Sequence[str] = (),
) -> str:
    """A bash script for ``job``; ``header`` lines go right after the shebang (#SBATCH ...)."""
    q = shlex.quote
    out, err = q(f"{job.job_dir}run.out"), q(f"{job.job_dir}run.err")
    success, failure, aborted = (q(f"{job.job_dir}{name}") for name in
                                 (SUCCESS_MARKER, FAILURE_MARKER, ABORTED_MARKER))
    abort_request = q(f"{job.job_dir}{ABORT_REQUEST}")
    lines = [
        "#!/bin/bash",
        *header,
        f"# py2rely: runs {job.job_dir} ({job.stage or job.name}) from the project directory.",
        f"cd {q(job.project_dir)} || exit 1",
        f"rm -f {success} {failure} {aborted}",
        "py2rely_end() {",
        "    code=$1",
        f"    if [ -e {abort_request} ] || [ -e {aborted} ]; then",
        f"        rm -f {success} {failure} {abort_request}",
        f"        touch {aborted}",
        f'        echo "py2rely: job aborted" >> {err}',
        f"        exit {ABORTED_EXIT_CODE}",
        "    fi",
        f'    if [ "$code" -ne 0 ] || [ -e {failure} ]; then',
        f"        rm -f {success}",
        f"        touch {failure}",
        f'        echo "py2rely: command failed with exit code $code" >> {err}',
        '        [ "$code" -ne 0 ] || code=1',
        '        exit "$code"',
        "    fi",
        "}",
        # A scheduler's time limit or scancel sends TERM: record it as a failure, not silence.
        "trap 'py2rely_end 143' TERM",
        "trap 'py2rely_end 130' INT",
    ]
    if job.setup_lines:
        lines.append("{")
        lines += [f"    {line}" for line in job.setup_lines]
        lines.append(f"}} >> {out} 2>> {err} || py2rely_end $?")
    timing = q(f"{job.job_dir}{TIMING_FILE}")
    lines.append(f": > {timing}")
    for index, command in enumerate(job.commands):
        if index:
            lines.append(f"rm -f {success}")
        lines.append("started=$(date +%s.%N)")
        lines.append(f"{command_line(command, mpi_launcher)} >> {out} 2>> {err}")
        lines.append("code=$?")
        lines.append(f'echo "$started $(date +%s.%N)" >> {timing}')
        lines.append("py2rely_end $code")
    lines += [f"touch {success}", "exit 0", ""]
    return "\n".join(lines)
