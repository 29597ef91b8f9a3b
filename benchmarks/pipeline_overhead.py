"""Orchestration overhead of `py2rely pipelines sta`: the pipeline's wall time minus the time the
RELION programs themselves ran, per job and in total, on the simulated CI dataset (bin 4 → 2).

Each job script records when each of its programs started and ended
(py2rely_command_times.txt); everything else — the driver's start-up and validation, writing
job.star/note.txt/default_pipeline.star, starting the job script, the RELION runtime's wrapper,
waiting and reading results — is overhead. Targets: < 2% of the wall time and < 0.3 s per job.

Then, if it can be made to run, the same pipeline through the earlier tool (py2rely 0.7.1 from
PyPI, in its own venv) with the same RELION, timed the same way.

    python benchmarks/pipeline_overhead.py [--workdir DIR] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY2RELY = [sys.executable, "-c", "from py2rely_core.cli import main; main()"]
SIMULATION = ["--tilt-series", "2", "--particles", "25", "--pixel-size", "2.5",
              "--particle-diameter", "160", "--seed", "7"]
REFERENCE_VENV = Path.home() / ".cache" / "py2rely-benchmarks" / "ref-0.7.1"


def run(command: list[str], cwd: Path, timeout: float = 7200,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)


def relion_on_path() -> dict[str, str]:
    """The environment with the RELION py2rely uses first on PATH, so the earlier tool (which
    only looks on PATH) runs the same programs."""
    from py2rely_plugins.relion5.runtime import locate

    runtime = locate()
    env = dict(os.environ)
    if runtime.bin_dir is not None:
        env["PATH"] = f"{runtime.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def command_seconds(job: Path) -> float:
    path = job / "py2rely_command_times.txt"
    total = 0.0
    for line in path.read_text().splitlines():
        start, end = (float(x) for x in line.split())
        total += end - start
    return total


def ours(workdir: Path) -> float:
    data, project = workdir / "data", workdir / "project"
    simulated = run([*PY2RELY, "simulate", "-o", str(data), *SIMULATION], workdir)
    assert simulated.returncode == 0, simulated.stderr
    project.mkdir()
    prepared = run([*PY2RELY, "prepare", "relion5-parameters", "-p", str(data / "particles.star"),
                    "-ts", str(data / "tomograms.star"), "-ps", "2.5", "-pd", "160", "-lp", "40",
                    "-bs", "1.5", "-bl", "4,2", "-np", "3", "-nj", "1"], project)
    assert prepared.returncode == 0, prepared.stderr
    started = time.monotonic()
    result = run([*PY2RELY, "pipelines", "sta", "-p", "sta_parameters.json"], project)
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]

    rows = []
    for job in sorted(project.glob("*/job[0-9][0-9][0-9]"), key=lambda p: p.name):
        record = json.loads((job / "py2rely_job.json").read_text())
        programs = command_seconds(job)
        rows.append((f"{job.parent.name}/{job.name}/", float(record["elapsed"]), programs))
    programs_total = sum(r[2] for r in rows)
    overhead = wall - programs_total
    print(f"py2rely pipelines sta (bin 4 -> 2, {len(rows)} jobs)")
    print(f"{'job':22} {'job elapsed':>12} {'programs':>10} {'overhead':>10}")
    for name, elapsed, programs in rows:
        print(f"{name:22} {elapsed:11.2f}s {programs:9.2f}s {elapsed - programs:9.3f}s")
    print(f"wall time {wall:.1f} s, RELION programs {programs_total:.1f} s, overhead {overhead:.2f} s "
          f"= {100 * overhead / wall:.2f}% of the wall time, {overhead / len(rows):.3f} s per job "
          f"(targets: < 2%, < 0.3 s per job)")
    return wall


def reference(workdir: Path) -> None:
    """The earlier tool, py2rely 0.7.1, on the same data and RELION (best effort)."""
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        made = run([sys.executable, "-m", "venv", str(REFERENCE_VENV)], workdir)
        installed = run([str(python), "-m", "pip", "install", "--quiet", "py2rely==0.7.1"], workdir,
                        timeout=1800) if made.returncode == 0 else made
        if installed.returncode != 0:
            print(f"reference tool: could not install py2rely 0.7.1 ({installed.stderr.strip()[-300:]})")
            return
    tool = REFERENCE_VENV / "bin" / "py2rely"
    project = workdir / "reference"
    project.mkdir()
    data = workdir / "data"
    prepared = run([str(tool), "prepare", "relion5-parameters", "-p", str(data / "particles.star"),
                    "-ts", str(data / "tomograms.star"), "-ps", "2.5", "-pd", "160", "-lp", "40",
                    "-bs", "1.5", "-bl", "4,2", "-nj", "1", "-np", "3"], project, timeout=600)
    if prepared.returncode != 0:
        print(f"reference tool: prepare relion5-parameters failed: {prepared.stderr.strip()[-400:]}")
        return
    started = time.monotonic()
    try:
        result = run([str(tool), "pipelines", "sta", "--parameter", "sta_parameters.json"], project,
                     timeout=3600, env=relion_on_path())
    except subprocess.TimeoutExpired:
        print(f"reference tool (py2rely 0.7.1): still running after {time.monotonic() - started:.0f} s;"
              " stopped")
        return
    wall = time.monotonic() - started
    failed = list(project.glob("*/job*/RELION_JOB_EXIT_FAILURE"))
    finished = list(project.glob("PostProcess/job*/postprocess.star"))
    print(f"reference tool (py2rely 0.7.1): exit code {result.returncode} after {wall:.1f} s; "
          f"{len(failed)} failed job(s); post-processing {'reached' if finished else 'not reached'}")
    if failed or not finished:
        tail = (result.stdout + result.stderr).strip().splitlines()[-6:]
        print("  its last lines:\n    " + "\n    ".join(tail))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="py2rely-overhead-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        ours(workdir)
        if not args.skip_reference:
            reference(workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
