"""A simulated dataset and helpers to run `py2rely pipelines sta` on it as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from py2rely_core.relion_files import read_pipeline
from tests.runner_helpers import default_signals

# The CI dataset: the simulator's defaults (41 tilts ±60°, 512² at 2.5 Å/px, a 160 Å chiral
# phantom, SNR 0.2) with 2 tilt series × 25 particles. Measured here: the bin 4 → 2 pipeline
# (box 24 → 48) takes about 2 min 10 s on 2 idle cores (docs/demo.md).
DIAMETER = 160.0
PIXEL_SIZE = 2.5
SIMULATION = ["--tilt-series", "2", "--particles", "25", "--pixel-size", str(PIXEL_SIZE),
              "--particle-diameter", str(DIAMETER), "--seed", "7"]
PY2RELY = [sys.executable, "-c", "from py2rely_core.cli import main; main()"]


@dataclass(frozen=True)
class DemoRun:
    project: Path
    result: subprocess.CompletedProcess[str]
    seconds: float


def py2rely(*args: str, cwd: Path | None = None, timeout: float = 3600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PY2RELY, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def simulate(directory: Path, *extra: str) -> Path:
    result = py2rely("simulate", "-o", str(directory), *SIMULATION, *extra)
    assert result.returncode == 0, result.stderr
    return directory


def prepare(project: Path, dataset: Path, binnings: str = "4,2", *extra: str) -> Path:
    project.mkdir(parents=True, exist_ok=True)
    result = py2rely(
        "prepare", "relion5-parameters", "-p", str(dataset / "particles.star"),
        "-ts", str(dataset / "tomograms.star"), "-ps", str(PIXEL_SIZE), "-pd", str(DIAMETER),
        "-lp", "40", "-bs", "1.5", "-bl", binnings, "-np", "3", "-nj", "1", *extra, cwd=project)
    assert result.returncode == 0, result.stderr
    return project / "sta_parameters.json"


def edit_parameters(path: Path, **sections: dict) -> None:
    data = json.loads(path.read_text())
    for section, values in sections.items():
        data[section].update(values)
    path.write_text(json.dumps(data, indent=2))


def job_dirs(project: Path) -> set[str]:
    return {f"{p.parent.name}/{p.name}/" for p in project.glob("*/job[0-9][0-9][0-9]")}


def statuses(project: Path) -> dict[str, str]:
    return {p.name: p.status for p in read_pipeline(project / "default_pipeline.star").processes}


def wait_for(predicate, timeout: float = 1800, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(interval)


def start_driver(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PY2RELY, "pipelines", "sta", "-p", "sta_parameters.json", *args],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ), preexec_fn=default_signals)
