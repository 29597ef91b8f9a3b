"""Realistic starts (issue 14): `py2rely demo` from the picks users have, measured against the
simulator's truth, next to the targets, and the same data through py2rely 0.7.1's pipeline.

Each start runs `py2rely demo --picks P --initial-model S --seed N` (bin 4 → 2, 2 × 30 particles)
and is measured from the project on disk: wall time, CPU time of every process the run started
(user + sys; a load-independent figure: on 2 idle cores the wall time would be about half of it
with two busy MPI ranks), the load average, the final map's FSC 0.5 against the truth and its
mirror image, the final particles' median pose error after the best global rotation, the final
angular step RELION ran (HEALPix order of the last iteration with oversampling 1) and, per
Refine3D, RELION's figures and the truth's for every iteration.

    python benchmarks/realistic_starts.py [--starts tm,reference,denovo,exact] [--seeds 1]
        [--bin1] [--reference-tool] [--workdir DIR]

Targets (2 cores, no GPU): template-matching picks + reconstruct ≤ 6 min, FSC 0.5 vs truth
≤ 2.5 × final Nyquist, right hand, median pose error ≤ 2 × final angular step; positions +
template (reference) ≤ 15 min, same bounds; positions + de novo ≤ 30 min, ≤ 3 × Nyquist, the
right hand (the tilt series set it; the demo checks the de novo and final maps against the
template made from the phantom);
`--bin1`: the 4,2,1 demo (CTF refinement and polishing) ≤ 20 min.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.truth_runs import PY2RELY, children_cpu, iteration_table

REFERENCE_TOOL = Path("/work/main/benchmarks/.venv-ref/bin/py2rely")
REFERENCE_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Start:
    key: str
    picks: str
    strategy: str
    minutes: float  # wall-time target
    fsc_factor: float  # FSC 0.5 vs truth ≤ factor × final Nyquist
    either_hand: bool = False
    binnings: str = "4,2"


STARTS = {
    "tm": Start("tm", "template-matching", "reconstruct", 6, 2.5),
    "reference": Start("reference", "positions", "reference", 15, 2.5),
    "denovo": Start("denovo", "positions", "denovo", 30, 3.0),
    "exact": Start("exact", "exact", "reconstruct", math.inf, 2.5),
}
BIN1 = Start("bin1", "template-matching", "reconstruct", 20, 2.5, binnings="4,2,1")


@dataclass
class Measured:
    start: Start
    seed: int
    tool: str
    finished: bool
    wall: float  # s
    cpu: float  # s, user + sys of every process the run started
    load: tuple[float, float]  # 5-min load average at start and end
    fsc05: float = math.nan
    mirror_fsc05: float = math.nan
    right_hand: bool | None = None
    nyquist: float = math.nan
    median_pose: float = math.nan
    p90_pose: float = math.nan
    step: float = math.nan
    refinements: list[str] = field(default_factory=list)
    message: str = ""

    def verdicts(self) -> str:
        if not self.finished:
            return "did not finish"
        checks = [
            ("time", self.wall <= 60 * self.start.minutes),
            ("FSC", self.fsc05 <= self.start.fsc_factor * self.nyquist),
            ("hand", self.start.either_hand or bool(self.right_hand)),
            ("pose", self.median_pose <= 2 * self.step),
        ]
        failed = [name for name, ok in checks if not ok]
        return "meets all" if not failed else "misses " + ", ".join(failed)


def timed(command: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
          ) -> tuple[subprocess.CompletedProcess[str] | None, float, float, tuple[float, float]]:
    load_before = os.getloadavg()[1]
    cpu_before, started = children_cpu(), time.monotonic()
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        done = None
    return (done, time.monotonic() - started, children_cpu() - cpu_before,
            (load_before, os.getloadavg()[1]))


def final_step(refine: Path) -> float:
    from py2rely_plugins.relion5.sta import results

    iterations = results.refine_iterations(refine.name + "/", refine.parent)
    return iterations[-1][2] if iterations else math.nan


def measure_project(measured: Measured, project: Path, data: Path) -> Measured:
    from py2rely_plugins.relion5.sta.truth import GroundTruth, map_stats, pose_stats_of_star

    truth = GroundTruth.load(data / "ground_truth")
    posts = sorted(project.glob("PostProcess/job*/postprocess.mrc"), key=lambda p: p.stat().st_mtime)
    refines = sorted((p.parent for p in project.glob("Refine3D/job*/run_data.star")),
                     key=lambda p: p.stat().st_mtime)
    if not refines:
        measured.finished = False
        measured.message = "no finished Refine3D"
        return measured
    final_map = posts[-1] if posts else refines[-1] / "run_class001.mrc"
    stats = map_stats(final_map, truth)
    poses = pose_stats_of_star(refines[-1] / "run_data.star", truth)
    measured.fsc05, measured.mirror_fsc05 = stats.fsc05, stats.mirror_fsc05
    measured.right_hand, measured.nyquist = stats.right_hand, stats.nyquist
    if poses is not None:
        measured.median_pose, measured.p90_pose = poses.median_angle, poses.p90_angle
    measured.step = final_step(refines[-1])
    for job in sorted(project.glob("*/job[0-9][0-9][0-9]")):
        if job.parent.name in ("Refine3D", "Class3D") and list(job.glob("run_it*_data.star")):
            measured.refinements.append(f"{job.parent.name}/{job.name}\n{iteration_table(job, truth)}")
    return measured


def run_ours(start: Start, seed: int, workdir: Path) -> Measured:
    base = workdir / f"{start.key}-s{seed}"
    command = [*PY2RELY, "demo", "-o", str(base), "--picks", start.picks, "--initial-model",
               start.strategy, "--seed", str(seed), "--binning-list", start.binnings]
    done, wall, cpu, load = timed(command, workdir, timeout=4 * 3600)
    measured = Measured(start, seed, "py2rely", done is not None and done.returncode == 0, wall, cpu,
                        load)
    if not measured.finished:
        measured.message = (done.stderr[-1500:] if done is not None else "timed out")
        return measured
    return measure_project(measured, base / "project", base / "data")


def relion_on_path() -> dict[str, str]:
    from py2rely_plugins.relion5.runtime import locate

    runtime = locate()
    env = dict(os.environ)
    if runtime is not None and runtime.bin_dir is not None:
        env["PATH"] = f"{runtime.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_reference_tool(start: Start, seed: int, workdir: Path) -> Measured:
    """The same dataset through py2rely 0.7.1's `pipelines sta` (its own parameter defaults)."""
    data = workdir / f"{start.key}-s{seed}" / "data"
    project = workdir / f"ref071-{start.key}-s{seed}"
    project.mkdir(parents=True, exist_ok=True)
    if not REFERENCE_TOOL.exists() or not data.is_dir():
        return Measured(start, seed, "py2rely 0.7.1", False, 0, 0, (0, 0),
                        message="not run (tool or dataset missing)")
    prepared = subprocess.run(
        [str(REFERENCE_TOOL), "prepare", "relion5-parameters", "-p", str(data / "particles.star"),
         "-ts", str(data / "tomograms.star"), "-ps", "2.5", "-pd", "160", "-lp", "40", "-bs", "1.5",
         "-bl", start.binnings, "-nj", "1", "-np", "3"] + (["-dg", "True"] if start.strategy == "denovo"
                                                           else []),
        cwd=project, capture_output=True, text=True, check=False)
    if prepared.returncode != 0:
        return Measured(start, seed, "py2rely 0.7.1", False, 0, 0, (0, 0),
                        message=f"prepare failed: {prepared.stderr[-300:]}")
    command = [str(REFERENCE_TOOL), "pipelines", "sta", "--parameter", "sta_parameters.json"]
    if start.strategy == "reference":
        command += ["--reference-template", str(workdir / f"{start.key}-s{seed}" / "project" /
                                                "reference.mrc")]
    elif start.strategy == "denovo":
        command += ["--run-denovo-generation", "True"]
    done, wall, cpu, load = timed(command, project, REFERENCE_TIMEOUT, env=relion_on_path())
    failed = list(project.glob("*/job*/RELION_JOB_EXIT_FAILURE"))
    measured = Measured(start, seed, "py2rely 0.7.1", done is not None and done.returncode == 0
                        and not failed, wall, cpu, load)
    if done is None:
        measured.message = f"still running after {REFERENCE_TIMEOUT / 60:.0f} min; stopped"
    elif not measured.finished:
        measured.message = (f"exit code {done.returncode}, {len(failed)} failed job(s): "
                            + " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:]))
    try:
        measure_project(measured, project, data)
    except Exception as exc:  # a half-finished project: say what could not be measured
        measured.message += f" (not measured: {type(exc).__name__}: {exc})"
    return measured


def table(rows: list[Measured]) -> str:
    header = ("start", "tool", "seed", "wall", "CPU", "load", "FSC0.5 / Nyq", "mirror", "hand",
              "pose med/p90", "step", "verdict")
    lines = [header]
    for m in rows:
        if not m.finished and math.isnan(m.fsc05):
            lines.append((f"{m.start.picks} + {m.start.strategy}", m.tool, str(m.seed),
                          f"{m.wall / 60:.1f} min", f"{m.cpu / 60:.1f} min",
                          f"{m.load[0]:.1f}-{m.load[1]:.1f}", "-", "-", "-", "-", "-",
                          m.message[:80] or "did not finish"))
            continue
        lines.append((
            f"{m.start.picks} + {m.start.strategy}" + (f" ({m.start.binnings})" if m.start.key == "bin1"
                                                       else ""),
            m.tool, str(m.seed), f"{m.wall / 60:.1f} min", f"{m.cpu / 60:.1f} min",
            f"{m.load[0]:.1f}-{m.load[1]:.1f}", f"{m.fsc05:.1f} / {m.nyquist:.0f} Å",
            f"{m.mirror_fsc05:.0f} Å", "right" if m.right_hand else "MIRROR",
            f"{m.median_pose:.1f}° / {m.p90_pose:.0f}°", f"{m.step:.1f}°", m.verdicts()))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for index, line in enumerate(lines):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            out.append("-" * len(out[0]))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/py2rely-realistic-starts"))
    parser.add_argument("--starts", default="tm,reference,denovo,exact")
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--bin1", action="store_true", help="also the 4,2,1 demo")
    parser.add_argument("--reference-tool", action="store_true", help="also py2rely 0.7.1")
    parser.add_argument("--iterations", action="store_true", help="print every Refine3D's iterations")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    starts = [STARTS[key] for key in args.starts.split(",") if key]
    if args.bin1:
        starts.append(BIN1)
    rows: list[Measured] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for start in starts:
            measured = run_ours(start, seed, args.workdir)
            rows.append(measured)
            print(table([measured]).splitlines()[-1], flush=True)
            if args.iterations:
                print("\n\n".join(measured.refinements), flush=True)
            if args.reference_tool and start.key != "bin1":
                reference = run_reference_tool(start, seed, args.workdir)
                rows.append(reference)
                print(table([reference]).splitlines()[-1], flush=True)
                if args.iterations:
                    print("\n\n".join(reference.refinements), flush=True)
    print("\nRealistic starts (bin 4 → 2 unless noted; wall and CPU in minutes; load = 5-min load "
          "average at start-end)")
    print(table(rows))
    for m in rows:
        if m.message:
            print(f"  {m.start.key} / {m.tool} / seed {m.seed}: {m.message}")


if __name__ == "__main__":
    main()
