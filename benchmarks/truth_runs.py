"""Shared pieces of the benchmarks that measure against the simulator's truth: the demo dataset,
a project runner, the template a user would make from EMDB, and the per-iteration table."""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

PY2RELY = [sys.executable, "-c", "from py2rely_core.cli import main; main()"]
# py2rely demo's dataset (py2rely_plugins/relion5/demo.py).
DEMO_SIMULATION = {
    "tilt-series": "2", "particles": "30", "tilt-range": "60", "tilt-step": "3",
    "pixel-size": "2.5", "image-size": "512", "particle-diameter": "160", "snr": "0.2",
}


def children_cpu() -> float:
    """User + sys seconds of every finished process this one started (and their children)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def simulate_once(directory: Path, options: dict[str, str], picks: str, seed: int) -> Path:
    import subprocess

    if (directory / "ground_truth" / "simulation.json").is_file():
        return directory
    args = ["simulate", "-o", str(directory), "--picks", picks, "--seed", str(seed)]
    for key, value in options.items():
        args += [f"--{key}", value]
    done = subprocess.run([*PY2RELY, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"simulate failed: {done.stderr[-2000:]}")
    return directory


def parameters_for(data: Path, project: Path, binnings: list[int]):
    from py2rely_plugins.relion5.sta.params import build_parameters, save_parameters

    params = build_parameters(
        tilt_series=str(data / "tomograms.star"), particles=str(data / "particles.star"),
        tilt_series_pixel_size=2.5, symmetry="C1", low_pass=40.0, diameter=160.0, denovo=False,
        box_scaling=1.5, binning_list=binnings, threads=1, processes=3)
    save_parameters(params, project / "sta_parameters.json")
    return params


def make_project_runner(params, project: Path):
    from py2rely_core.plugins import get_plugins
    from py2rely_core.project import Project
    from py2rely_core.runner import JobRunner
    from py2rely_plugins.relion5 import runtime as rt
    from py2rely_plugins.relion5.sta.context import StaContext

    plugins = get_plugins()
    runtime = rt.require(())
    executor = plugins.get("executors", "local").create({})
    runner = JobRunner(Project(project), executor, plugins.registry("job_types"), hook=plugins.hook,
                       setup_lines=runtime.job_setup_lines(), echo=print)
    return StaContext(params, runner)


def make_template(project: Path, data: Path, params, low_pass: float = 40.0) -> str:
    """The phantom low-passed to ``low_pass`` Å at the first binning: a user's EMDB template."""
    from py2rely_plugins.relion5.sta.template import (
        make_template as resample,
    )
    from py2rely_plugins.relion5.sta.template import read_map_info, resolve_settings, write_template

    output = project / "reference.mrc"
    if not output.is_file():
        info = read_map_info(data / "ground_truth" / "phantom.mrc")
        settings = resolve_settings(info, input_voxel_size=None,
                                    output_voxel_size=params.first.pixel_size, low_pass=low_pass,
                                    box=None, params=params)
        write_template(resample(info, settings), output, settings.output_voxel_size)
    return "reference.mrc"


def _general(path: Path, block: str) -> dict[str, str]:
    from py2rely_core.star import read_star

    if not path.is_file():
        return {}
    table = read_star(path).get(block)
    return {} if table is None else {k: str(v) for k, v in table.iloc[0].items()}


def iteration_rows(job: Path, truth) -> list[dict[str, float | int | str]]:
    """One row per iteration of a Refine3D/Class3D job: RELION's figures and the truth's."""
    from py2rely_plugins.relion5.sta.truth import pose_stats_of_star

    rows = []
    files = sorted(job.glob("run_it[0-9][0-9][0-9]_data.star"))
    previous = None
    for data in files:
        number = int(re.search(r"_it(\d+)_", data.name).group(1))
        stem = data.name.replace("_data.star", "")
        optimiser = _general(job / f"{stem}_optimiser.star", "optimiser_general")
        model_path = job / f"{stem}_half1_model.star"
        model = _general(model_path if model_path.is_file() else job / f"{stem}_model.star",
                         "model_general")
        sampling = _general(job / f"{stem}_sampling.star", "sampling_general")
        stats = pose_stats_of_star(data, truth)
        mtime = data.stat().st_mtime
        order = int(float(sampling.get("rlnHealpixOrder", "nan"))) if sampling else -1
        rows.append({
            "iteration": number,
            "seconds": (mtime - previous) if previous is not None else math.nan,
            "healpix_order": order,
            "step": 360.0 / (6 * 2 ** (order + 1)) if order >= 0 else math.nan,
            "changes_orientations": float(optimiser.get("rlnChangesOptimalOrientations", "nan")),
            "accuracy_rotations": float(model.get("rlnOverallAccuracyRotations",
                                                  optimiser.get("rlnOverallAccuracyRotations", "nan"))),
            "resolution": float(model.get("rlnCurrentResolution", "nan")),
            "median_error": stats.median_angle if stats else math.nan,
            "p90_error": stats.p90_angle if stats else math.nan,
            "within_10": stats.within_10 if stats else math.nan,
        })
        previous = mtime
    return rows


def iteration_table(job: Path, truth) -> str:
    lines = [" it   time  hp  step  changes  acc.rot  resol   pose err median / p90  ≤10°"]
    for row in iteration_rows(job, truth):
        lines.append(
            f"{row['iteration']:>3} {row['seconds']:>5.0f}s {row['healpix_order']:>3} "
            f"{row['step']:>5.2f} {row['changes_orientations']:>7.1f}° {row['accuracy_rotations']:>7.1f}° "
            f"{row['resolution']:>5.1f} Å {row['median_error']:>10.1f}° / {row['p90_error']:>5.1f}° "
            f"{row['within_10']:>5.0%}")
    final = job / "run_data.star"
    if final.is_file():
        from py2rely_plugins.relion5.sta.truth import pose_stats_of_star

        stats = pose_stats_of_star(final, truth)
        if stats:
            lines.append(f"final: {stats.summary()}")
    return "\n".join(lines)
