"""Benchmark `py2rely prepare template` against the I/O + FFT floor and the old tool (py2rely 0.7.1).

Run: python benchmarks/template.py [--repeats 3] [--size 400] [--skip-reference]

It writes a seeded, smooth 400³ float32 map at 0.83 Å to a temporary directory, then times
(wall clock, best of N) and measures the peak resident memory (each child's own ru_maxrss from
wait4) of three commands, each in a fresh process:

* ours:      py2rely prepare template -i map.mrc -ovs 6.16 -b 84 -lp 50
             (and `py2rely prepare template -h`, the CLI start-up with every plugin loaded, to show
             how much of that time is the command's own work)
* floor:     read the map + one forward rFFT + one inverse FFT + write (mrcfile, scipy.fft with
             workers = cores): the least any FFT-based resampler has to do
* reference: py2rely 0.7.1 from PyPI, installed by this script into its own venv under
             $PY2RELY_BENCH_CACHE (default ~/.cache/py2rely-benchmarks, outside the repository):
             py2rely prepare template -i map.mrc -o out.mrc -ivs 0.83 -ovs 6.16 -lp 50 -b 84

Targets: >= 8x faster than the reference, within 2x of the floor's time, and less than half the
reference's peak memory. The machine is small (2 cores) and shared, so timings are best of N.
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
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import scipy.fft

REFERENCE_VERSION = "0.7.1"
INPUT_VOXEL = 0.83
OUTPUT_VOXEL = 6.16
BOX = 84
LOW_PASS = 50.0

FLOOR_CODE = """
import os, sys
import mrcfile, numpy as np, scipy.fft
workers = os.cpu_count()
with mrcfile.open(sys.argv[1], permissive=True) as mrc:
    volume = np.asarray(mrc.data, dtype=np.float32)
spectrum = scipy.fft.rfftn(volume, workers=workers)
del volume
result = scipy.fft.irfftn(spectrum, workers=workers)
del spectrum
with mrcfile.new(sys.argv[2], overwrite=True) as mrc:
    mrc.set_data(result.astype(np.float32, copy=False))
    mrc.voxel_size = 0.83
"""


@dataclass
class Measurement:
    name: str
    seconds: float | None = None  # best of the repeats
    all_seconds: tuple[float, ...] = ()
    peak_bytes: int | None = None  # largest peak RSS over the repeats
    skipped: str | None = None


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "py2rely-benchmarks"
    return Path(os.environ.get("PY2RELY_BENCH_CACHE", default))


def make_map(path: Path, size: int, seed: int = 7) -> None:
    """A particle-like smooth density: band-limited noise inside a soft sphere, float32."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((size, size, size), dtype=np.float32)
    spectrum = scipy.fft.rfftn(noise, workers=os.cpu_count())
    del noise
    fz = np.fft.fftfreq(size).astype(np.float32)[:, None, None]
    fy = np.fft.fftfreq(size).astype(np.float32)[None, :, None]
    fx = np.fft.rfftfreq(size).astype(np.float32)[None, None, :]
    sigma = 4.0  # voxels of real-space smoothing: features of a few Å, like a 3 Å map
    spectrum *= np.exp(-2 * (np.pi * sigma) ** 2 * (fz**2 + fy**2 + fx**2))
    density = scipy.fft.irfftn(spectrum, s=(size,) * 3, workers=os.cpu_count())
    del spectrum
    radius = np.sqrt(
        (np.arange(size, dtype=np.float32)[:, None, None] - size // 2) ** 2
        + (np.arange(size, dtype=np.float32)[None, :, None] - size // 2) ** 2
        + (np.arange(size, dtype=np.float32)[None, None, :] - size // 2) ** 2
    )
    shell = 0.35 * size
    density *= 0.5 * (1 + np.tanh((shell - radius) / 6.0))
    del radius
    density = np.maximum(density / density.std(), 0, dtype=np.float32)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(density)
        mrc.voxel_size = INPUT_VOXEL


# Runs the command as its own child and reports that child's peak RSS. Measuring through this
# small launcher matters: Linux starts a child's ru_maxrss at the size of the process it was forked
# from, so children forked straight from this (large, map-making) process would all look as big.
LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
print(json.dumps({"seconds": seconds, "returncode": result.returncode, "stderr_tail": tail,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_measured(command: list[str], cwd: Path) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS bytes, exit code, last stderr line) of one run of ``command``."""
    launched = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=cwd,
                              capture_output=True, text=True, check=True)
    report = json.loads(launched.stdout)
    return (report["seconds"], report["maxrss_kib"] * 1024, report["returncode"],
            report["stderr_tail"])


def measure_interleaved(commands: dict[str, list[str]], cwd: Path, repeats: int) -> dict[str, Measurement]:
    """Run the commands round-robin, ``repeats`` rounds: on a shared machine the load drifts, and
    interleaving gives each command the same conditions. Best time and largest peak per command."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks = dict.fromkeys(commands, 0)
    failed: dict[str, str] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            if name in failed:
                continue
            seconds, peak_bytes, returncode, stderr_tail = run_measured(command, cwd)
            if returncode != 0:
                failed[name] = f"exit {returncode}: {stderr_tail}"
                continue
            times[name].append(seconds)
            peaks[name] = max(peaks[name], peak_bytes)
    return {
        name: Measurement(name, skipped=failed[name]) if name in failed else Measurement(
            name, seconds=min(times[name]), all_seconds=tuple(times[name]), peak_bytes=peaks[name])
        for name in commands
    }


def reference_command() -> tuple[list[str] | None, str | None]:
    """The old tool's `py2rely`, installing it into its own venv if needed; (None, why) if not."""
    venv = cache_dir() / f"ref-{REFERENCE_VERSION}"
    executable = venv / "bin" / "py2rely"
    if executable.exists():
        return [str(executable)], None
    print(f"installing py2rely=={REFERENCE_VERSION} into {venv} (once; takes a few minutes) ...",
          flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    log_path = venv.parent / f"install-{REFERENCE_VERSION}.log"
    with open(log_path, "w") as log:
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", f"py2rely=={REFERENCE_VERSION}"],
        ]
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT, check=False).returncode:
                shutil.rmtree(venv, ignore_errors=True)
                return None, f"`{' '.join(step[-3:])}` failed; see {log_path}"
    if not executable.exists():
        return None, f"no py2rely executable in {venv}; see {log_path}"
    return [str(executable)], None


def ours_command() -> list[str]:
    script = Path(sys.executable).parent / "py2rely"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from py2rely_core.cli import main; main()"]


def correlation(a: Path, b: Path) -> float | None:
    with mrcfile.open(a, permissive=True) as ma, mrcfile.open(b, permissive=True) as mb:
        x, y = np.asarray(ma.data, np.float64), np.asarray(mb.data, np.float64)
    if x.shape != y.shape:
        return None
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def describe(m: Measurement) -> str:
    if m.skipped:
        return f"{m.name:<10} skipped: {m.skipped}"
    runs = ", ".join(f"{s:.2f}" for s in m.all_seconds)
    return (f"{m.name:<10} {m.seconds:7.2f} s  (runs: {runs})   peak RSS {m.peak_bytes / 2**30:5.2f} GiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per command; the best time counts")
    parser.add_argument("--size", type=int, default=400, help="edge of the test map (voxels)")
    parser.add_argument("--skip-reference", action="store_true", help="do not run py2rely 0.7.1")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="py2rely-template-bench-"))
    try:
        map_path = work / "map.mrc"
        started = time.perf_counter()
        make_map(map_path, args.size)
        print(f"test map: {map_path} ({args.size}³ float32 at {INPUT_VOXEL} Å, "
              f"{map_path.stat().st_size / 2**20:.0f} MiB), made in {time.perf_counter() - started:.1f} s")
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; timings are the "
              f"best of {args.repeats} runs, each a fresh process, the commands interleaved (the "
              "machine is shared, so single runs are noisy); the map is in the page cache")
        common = ["-ovs", str(OUTPUT_VOXEL), "-b", str(BOX), "-lp", f"{LOW_PASS:g}"]
        commands = {
            "ours": [*ours_command(), "prepare", "template", "-i", "map.mrc", "-o", "ours.mrc", *common],
            # The same process start and CLI/plugin loading without the work: how much of "ours"
            # is the template itself.
            "start-up": [*ours_command(), "prepare", "template", "-h"],
            "floor": [sys.executable, "-c", FLOOR_CODE, "map.mrc", "floor.mrc"],
        }
        skipped_reference = "--skip-reference" if args.skip_reference else None
        if not args.skip_reference:
            command, skipped_reference = reference_command()
            if command is not None:
                commands["reference"] = [*command, "prepare", "template", "-i", "map.mrc",
                                         "-o", "ref.mrc", "-ivs", str(INPUT_VOXEL), *common]
        results = measure_interleaved(commands, work, args.repeats)
        ours, startup, floor = results["ours"], results["start-up"], results["floor"]
        reference = results.get("reference", Measurement("reference", skipped=skipped_reference))
        print()
        for m in (ours, startup, floor, reference):
            print(describe(m))
        if not startup.skipped and not ours.skipped:
            print(f"(ours minus the CLI start-up: {ours.seconds - startup.seconds:.2f} s of reading, "
                  "resampling and writing)")
        print()
        if ours.skipped:
            print("ours failed: no ratios")
            return 1
        checks: list[tuple[str, bool]] = []
        if not floor.skipped:
            ratio = ours.seconds / floor.seconds
            print(f"time   ours / floor      = {ratio:5.2f}   (target <= 2)")
            checks.append(("within 2x of the floor", ratio <= 2))
        if not reference.skipped:
            speedup = reference.seconds / ours.seconds
            memory = ours.peak_bytes / reference.peak_bytes
            print(f"time   reference / ours  = {speedup:5.1f}   (target >= 8)")
            print(f"memory ours / reference  = {memory:5.2f}   (target < 0.5)")
            checks += [("8x faster than the reference", speedup >= 8),
                       ("under half the reference's memory", memory < 0.5)]
            similarity = correlation(work / "ours.mrc", work / "ref.mrc")
            if similarity is not None:
                print(f"correlation of our template with the reference's: {similarity:.3f} "
                      "(not 1: it resamples by trilinear interpolation and centres differently)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        print()
        for label, passed in checks:
            print(f"{'PASS' if passed else 'FAIL'}  {label}")
        return 0 if all(passed for _, passed in checks) else 1
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
