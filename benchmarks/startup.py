"""Start-up time of the `py2rely` command: how long `py2rely -h` and a few other quick calls take
from process start to exit, as a user waits for them. Target: `py2rely -h` ≤ 0.3 s on an idle
machine.

Each command line runs ``--repeats`` times (after one warm-up run that fills the OS file cache);
the median and the fastest wall-clock time are printed with the median CPU time (user + system)
and the load average before and after: on a shared machine other processes' load goes straight
into the wall-clock figures, much less into the CPU time. ``--compare`` times
another installation's entry point the same way (e.g. one without lazy command loading).

Also printed: the modules ``py2rely -h`` imports that take longest (``python -X importtime``).

    python benchmarks/startup.py [--repeats 15] [--compare /path/to/other/venv/bin/py2rely]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMAND_LINES = (("-h",), ("--version",), ("prepare", "-h"), ("plugins",), ("prepare", "template", "-h"))


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min), {os.cpu_count()} cores"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(entry: str, args: tuple[str, ...], repeats: int, cwd: Path) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds (user + system) of each run. On a loaded machine the wall time
    includes waiting for a core; the CPU time is what an idle machine would take, less I/O."""
    subprocess.run([entry, *args], cwd=cwd, capture_output=True, check=False)  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        cpu_before, started = _children_cpu(), time.perf_counter()
        result = subprocess.run([entry, *args], cwd=cwd, capture_output=True, check=False)
        wall.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
        if result.returncode != 0:
            raise SystemExit(f"{entry} {' '.join(args)} failed: {result.stderr.decode()[-300:]}")
    return wall, cpu


def slowest_imports(python: str, count: int, cwd: Path) -> list[tuple[float, str]]:
    """(cumulative seconds, module) of the top-level imports of `py2rely -h`."""
    code = "from py2rely_core.cli import main\ntry:\n    main(['-h'])\nexcept SystemExit:\n    pass"
    result = subprocess.run([python, "-X", "importtime", "-c", code], cwd=cwd, capture_output=True,
                            text=True, check=False)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # top-level and first-level imports
            rows.append((int(match.group(1)) / 1e6, match.group(3)))
    return sorted(rows, reverse=True)[:count]


def report(label: str, entry: str, repeats: int, cwd: Path) -> None:
    print(f"\n{label}: {entry}")
    for args in COMMAND_LINES:
        wall, cpu = time_runs(entry, args, repeats, cwd)
        print(f"  py2rely {' '.join(args):<24} wall: median {statistics.median(wall):.3f} s, "
              f"fastest {min(wall):.3f} s   CPU: median {statistics.median(cpu):.3f} s   ({repeats} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--entry", default=shutil.which("py2rely") or "",
                        help="the py2rely executable to time [default: the one on PATH]")
    parser.add_argument("--compare", default=None, help="another py2rely executable to time the same way")
    args = parser.parse_args()
    entry = str(Path(args.entry or Path(sys.executable).with_name("py2rely")).absolute())
    compare = str(Path(args.compare).absolute()) if args.compare else None
    with tempfile.TemporaryDirectory(prefix="py2rely-startup-") as scratch:
        cwd = Path(scratch)  # not the checkout: time the installed package, not a source tree
        print(f"load before: {load()}")
        report("py2rely", entry, args.repeats, cwd)
        if compare:
            report("compared with", compare, args.repeats, cwd)
        print(f"\nload after: {load()}")
        python = str(Path(entry).with_name("python"))
        if Path(python).exists():
            print("\nslowest imports of `py2rely -h` (cumulative, one run):")
            for seconds, module in slowest_imports(python, 8, cwd):
                print(f"  {seconds:6.3f} s  {module}")


if __name__ == "__main__":
    main()
