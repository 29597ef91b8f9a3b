"""How long `py2rely report` takes on the demo project (target: under 2 s), written from nothing
and refreshed as the pipeline refreshes it after a job; the report's size and number of pictures.

Wall time and CPU time (user + system) are both printed: on a machine shared with other work the
CPU time is the better estimate of the wall time on an idle one (the report is single-threaded).
The demo project is `py2rely demo` (2 tilt series × 30 particles, bin 4 → 2, the `reconstruct`
strategy), run once into --workdir and reused on later calls. The load average is printed with
the figures: on a shared machine they are only comparable within one run.

    python benchmarks/report.py [--workdir DIR] [--repeat 5] [--binning-list 4,2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PY2RELY = [sys.executable, "-c", "from py2rely_core.cli import main; main()"]


def demo_project(workdir: Path, binning_list: str) -> Path:
    project = workdir / "demo" / "project"
    if not (project / "default_pipeline.star").is_file() or not list(project.glob("PostProcess/job*")):
        started = time.monotonic()
        run = subprocess.run([*PY2RELY, "demo", "-o", str(workdir / "demo"), "-bl", binning_list],
                             capture_output=True, text=True, check=False)
        if run.returncode != 0:
            sys.exit(f"py2rely demo failed:\n{run.stderr[-3000:]}")
        print(f"demo pipeline: {time.monotonic() - started:.0f} s (once; reused later)")
    return project


def timed_subprocess(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of ``call()`` in this process."""
    started, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--binning-list", default="4,2")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="py2rely-report-bench-"))
    project = demo_project(workdir, args.binning_list)
    output = workdir / "report"

    from py2rely_plugins.relion5.report.build import write_report

    cold, warm, after_job, cli = [], [], [], []
    for _ in range(args.repeat):
        shutil.rmtree(output, ignore_errors=True)
        # From nothing, in a fresh process (imports included), as `py2rely report` runs.
        cli.append(timed_subprocess([*PY2RELY, "report", "--project-dir", str(project), "-o", str(output)]))
        shutil.rmtree(output, ignore_errors=True)
        cold.append(timed(lambda: write_report(project, output)))
        warm.append(timed(lambda: write_report(project, output)))  # nothing changed: a refresh
        # As after a job: the last PostProcess is new (its sources changed), the rest is cached.
        post = sorted(project.glob("PostProcess/job*/postprocess.star"))[-1]
        os.utime(post)
        os.utime(post.with_name("postprocess.mrc"))
        after_job.append(timed(lambda: write_report(project, output)))
    summary = write_report(project, output)
    load = os.getloadavg()
    print(f"project: {project} ({len(list(project.glob('*/job[0-9][0-9][0-9]')))} jobs)")
    print(f"report: {summary.index}: {summary.images} pictures, {summary.bytes / 1e6:.2f} MB")
    for name, values in (("py2rely report (new process, from nothing)", cli),
                         ("write_report from nothing (in the driver)", cold),
                         ("refresh after the last post-processing", after_job),
                         ("refresh, nothing changed", warm)):
        wall = [v[0] for v in values]
        cpu = [v[1] for v in values]
        print(f"  {name:45s} wall median {statistics.median(wall):5.2f} s (min {min(wall):.2f})   "
              f"CPU median {statistics.median(cpu):5.2f} s (min {min(cpu):.2f})   n={len(values)}")
    target = statistics.median(v[1] for v in cli)
    print(f"target < 2 s from nothing (CPU of `py2rely report`): {'met' if target < 2.0 else 'NOT met'} "
          f"({target:.2f} s)")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
