"""Benchmark: `py2rely export star2copick` against the reference tool (py2rely 0.7.1 from PyPI).

    python benchmarks/export.py [--particles 1000000] [--runs 500] [--repeats 3]

Builds, in a temporary directory, two identical copick projects (``--runs`` runs with a voxel
spacing each), a RELION 5 tomograms STAR and a particles STAR of ``--particles`` refined particles
(random centred coordinates, angles and origins; no subtomogram angles, which the reference tool
ignores). Each tool exports into its own project; every timing is the wall-clock time of the whole
command, picks removed before each run, best of ``--repeats`` (other work on the machine only ever
adds time). Then the pick files of both tools are compared: orientations must agree, positions must
differ by exactly the origin correction the reference tool leaves out.

The reference tool is installed by this script into its own venv (benchmarks/.venv-ref), with the
copick and pydantic versions of this interpreter so that both tools use the same copick code. If it
cannot be installed or run, the reason is printed and only this tool is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import copick
import numpy as np
import pandas as pd
import starfile

HERE = Path(__file__).resolve().parent
REFERENCE_VENV = HERE / ".venv-ref"
REFERENCE_VERSION = "0.7.1"
SESSION = "24mar08a"
OBJECT = "ribosome"
USER_ID, SESSION_ID = "relion", "99"
PIXEL_SIZE = 1.54
TOMOGRAM_SIZE = (4096, 4096, 1200)  # the reference tool's -x/-y/-z defaults, even so both centre alike


@dataclass
class Timing:
    tool: str
    seconds: list[float]
    cpu_seconds: list[float]  # user + system of the command and its worker processes
    log: Path

    @property
    def best(self) -> float:
        return min(self.seconds)


def run_names(count: int) -> list[str]:
    return [f"TS_{i:04d}" for i in range(1, count + 1)]


def make_project(directory: Path, runs: list[str]) -> Path:
    config = {
        "config_type": "filesystem", "name": "benchmark", "description": "export benchmark",
        "version": copick.__version__,
        "pickable_objects": [{"name": OBJECT, "is_particle": True, "label": 1,
                              "color": [0, 255, 0, 255], "radius": 120.0}],
        "overlay_root": f"local://{directory / 'overlay'}", "overlay_fs_args": {"auto_mkdir": True},
    }
    path = directory / "copick.json"
    directory.mkdir(parents=True)
    path.write_text(json.dumps(config, indent=2))
    root = copick.from_file(str(path))
    for name in runs:
        root.new_run(name).new_voxel_spacing(10.0)
    return path


def write_inputs(directory: Path, runs: list[str], particles: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    names = [f"{SESSION}_{run}" for run in runs]
    tomograms = pd.DataFrame({
        "rlnTomoName": names, "rlnVoltage": 300.0, "rlnSphericalAberration": 2.7,
        "rlnAmplitudeContrast": 0.07, "rlnMicrographOriginalPixelSize": PIXEL_SIZE, "rlnTomoHand": -1,
        "rlnTomoTiltSeriesPixelSize": PIXEL_SIZE,
        "rlnTomoTiltSeriesStarFile": [f"tilt_series/{n}.star" for n in names],
        "rlnTomoSizeX": TOMOGRAM_SIZE[0], "rlnTomoSizeY": TOMOGRAM_SIZE[1], "rlnTomoSizeZ": TOMOGRAM_SIZE[2],
    })
    tomograms_path = directory / "tomograms.star"
    starfile.write({"global": tomograms}, tomograms_path)
    half = np.array(TOMOGRAM_SIZE) / 2 * PIXEL_SIZE * 0.9
    centred = rng.uniform(-half, half, (particles, 3))
    origins = rng.uniform(-20, 20, (particles, 3))
    table = pd.DataFrame({
        "rlnTomoName": np.array(names)[np.arange(particles) * len(names) // particles],
        "rlnCenteredCoordinateXAngst": centred[:, 0], "rlnCenteredCoordinateYAngst": centred[:, 1],
        "rlnCenteredCoordinateZAngst": centred[:, 2],
        "rlnAngleRot": rng.uniform(-180, 180, particles), "rlnAngleTilt": rng.uniform(0, 180, particles),
        "rlnAnglePsi": rng.uniform(-180, 180, particles),
        "rlnOriginXAngst": origins[:, 0], "rlnOriginYAngst": origins[:, 1], "rlnOriginZAngst": origins[:, 2],
        "rlnOpticsGroup": 1,
    })
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnVoltage": [300.0],
        "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.07],
        "rlnTomoTiltSeriesPixelSize": [PIXEL_SIZE],
    })
    particles_path = directory / "run_data.star"
    starfile.write({"optics": optics, "particles": table}, particles_path)
    return particles_path, tomograms_path


def reference_command() -> tuple[list[str] | None, str]:
    """The reference tool's command, installing it first if needed; (None, why) if it cannot run."""
    python = REFERENCE_VENV / "bin" / "python"
    executable = REFERENCE_VENV / "bin" / "py2rely"
    if not executable.exists():
        print(f"installing py2rely {REFERENCE_VERSION} into {REFERENCE_VENV} (takes minutes) ...", flush=True)
        try:
            venv.create(REFERENCE_VENV, with_pip=True, clear=True)
            pins = [f"py2rely=={REFERENCE_VERSION}", f"copick=={metadata.version('copick')}",
                    f"pydantic=={metadata.version('pydantic')}"]
            subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True,
                           capture_output=True, text=True, timeout=3600)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            lines = [line for line in detail.splitlines() if line.strip() and "is ignored" not in line]
            return None, f"pip install failed: {lines[-1] if lines else exc}"
    probe = subprocess.run([str(executable), "export", "star2copick", "--help"], capture_output=True,
                           text=True, timeout=300, check=False)
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        return None, f"'py2rely export star2copick --help' failed: {lines[-1] if lines else probe.returncode}"
    return [str(executable)], ""


def clear_picks(config: Path) -> None:
    runs_dir = config.parent / "overlay" / "ExperimentRuns"
    for picks in runs_dir.glob("*/Picks"):
        shutil.rmtree(picks)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``command`` (CPU time does not grow with others' load)."""
    cpu_before = children_cpu_seconds()
    started = time.perf_counter()
    with open(log, "a") as handle:
        handle.write(f"$ {' '.join(command)}\n")
        handle.flush()
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} exited with {result.returncode}; see {log}")
    return elapsed, children_cpu_seconds() - cpu_before


def compare(ours: Path, reference: Path, particles: Path, runs: list[str]) -> dict[str, float]:
    """Largest differences between the two tools' pick files over ``runs``."""
    table = starfile.read(particles, always_dict=True)["particles"]
    origins = table[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy()
    names = table["rlnTomoName"].to_numpy()
    worst = {"orientation": 0.0, "position_minus_origin": 0.0, "position_raw": 0.0, "metadata_differs": 0}
    for run in runs:
        files = [cfg.parent / "overlay" / "ExperimentRuns" / run / "Picks" /
                 f"{USER_ID}_{SESSION_ID}_{OBJECT}.json" for cfg in (ours, reference)]
        mine, theirs = (json.loads(f.read_text()) for f in files)
        points = [doc.pop("points") for doc in (mine, theirs)]
        worst["metadata_differs"] += int(mine != theirs)
        if len(points[0]) != len(points[1]):
            raise RuntimeError(f"{run}: {len(points[0])} vs {len(points[1])} points")
        location = [np.array([[p["location"][k] for k in "xyz"] for p in pts]) for pts in points]
        transform = [np.array([p["transformation_"] for p in pts]) for pts in points]
        for a, b in zip(*points, strict=True):
            worst["metadata_differs"] += int((a["instance_id"], a["score"]) != (b["instance_id"], b["score"]))
        correction = -origins[names == f"{SESSION}_{run}"]  # RELION: position = centred + centre − origin
        worst["orientation"] = max(worst["orientation"], float(np.abs(transform[0] - transform[1]).max()))
        difference = location[0] - location[1]
        worst["position_raw"] = max(worst["position_raw"], float(np.abs(difference).max()))
        worst["position_minus_origin"] = max(worst["position_minus_origin"],
                                             float(np.abs(difference - correction).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="timings per tool; the best is kept")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a new temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="py2rely-export-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = run_names(args.runs)
    cores = len(os.sched_getaffinity(0))
    print(f"work directory {workdir}; {args.particles} particles over {args.runs} runs; {cores} cores; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    started = time.perf_counter()
    configs = {tool: make_project(workdir / tool, runs) for tool in ("py2rely", "reference")}
    particles, tomograms = write_inputs(workdir, runs, args.particles)
    print(f"inputs written in {time.perf_counter() - started:.0f} s", flush=True)

    ours_command = [sys.executable, "-c", "from py2rely_core.cli import main; main()", "export",
                    "star2copick", "-p", str(particles), "-c", str(configs["py2rely"]), "-s", SESSION,
                    "-n", OBJECT, "-uid", USER_ID, "-sid", SESSION_ID, "-ts", str(tomograms)]
    commands = {"py2rely": ours_command}
    if args.skip_reference:
        print("reference tool skipped (--skip-reference)")
    else:
        reference, why = reference_command()
        if reference is None:
            print(f"reference tool unavailable: {why}")
        else:
            commands["reference"] = [*reference, "export", "star2copick", "-p", str(particles),
                                     "-c", str(configs["reference"]), "-s", SESSION, "-n", OBJECT,
                                     "-uid", USER_ID, "-sid", SESSION_ID, "-x", str(TOMOGRAM_SIZE[0]),
                                     "-y", str(TOMOGRAM_SIZE[1]), "-z", str(TOMOGRAM_SIZE[2])]

    timings = {tool: Timing(tool, [], [], workdir / f"{tool}.log") for tool in commands}
    for repeat in range(args.repeats):
        order = list(commands) if repeat % 2 == 0 else list(reversed(commands))  # alternate who goes first
        for tool in order:
            clear_picks(configs[tool])
            load = os.getloadavg()[0]
            seconds, cpu = timed(commands[tool], timings[tool].log)
            timings[tool].seconds.append(seconds)
            timings[tool].cpu_seconds.append(cpu)
            print(f"  {tool:10s} run {repeat + 1}: {seconds:7.1f} s wall, {cpu:7.1f} s CPU "
                  f"(load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)", flush=True)

    print(f"\nexport star2copick, {args.particles} particles over {args.runs} runs, {cores} cores, "
          f"best of {args.repeats}:")
    for timing in timings.values():
        rate = args.particles / timing.best
        print(f"  {timing.tool:10s} best {timing.best:7.1f} s  ({rate:,.0f} particles/s)  all: "
              + ", ".join(f"{s:.1f}" for s in timing.seconds)
              + f"  CPU: least {min(timing.cpu_seconds):.1f} s")
    if "reference" in timings:
        ratio = timings["reference"].best / timings["py2rely"].best
        print(f"  speed-up (best wall-clock): {ratio:.2f}x (target >= 1.8x)")
        cpu_ratio = min(timings["reference"].cpu_seconds) / min(timings["py2rely"].cpu_seconds)
        print(f"  CPU seconds (hardly affected by others' load): the reference uses {cpu_ratio:.2f}x "
              "as many")
        worst = compare(configs["py2rely"], configs["reference"], particles, runs)
        print(f"pick files compared over all {len(runs)} runs:")
        print(f"  largest orientation difference (matrix element): {worst['orientation']:.2e} "
              "(the reference rounds to float32)")
        print(f"  largest position difference: {worst['position_raw']:.3f} Å raw, "
              f"{worst['position_minus_origin']:.2e} Å after the origin correction (float32 rounding)")
        print(f"  files or points with other differences: {worst['metadata_differs']}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
