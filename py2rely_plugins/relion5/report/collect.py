"""What the report shows, read from the project directory only (never from a running driver):
the jobs of default_pipeline.star with their records, exit markers, output tables and logs."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from py2rely_core.project import Project
from py2rely_core.runner import tail
from py2rely_core.script import TIMING_FILE
from py2rely_core.star import read_star
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.classify import DECISION_FILE
from py2rely_plugins.relion5.status import job_lines

ERR_TAIL_LINES = 12
LOG_FILES = ("note.txt", "run.out", "run.err")

# Where each job type leaves its particles and its map (relative to the job directory).
PARTICLE_FILES = {
    labels.EXTRACT: "particles.star", labels.REFINE3D: "run_data.star",
    labels.REMOVE_DUPLICATES: "particles.star", labels.SELECT_ON_VALUE: "particles.star",
    labels.JOIN_PARTICLES: "join_particles.star", labels.POLISH: "particles.star",
}
MAP_FILES = {
    labels.RECONSTRUCT: "merged.mrc", labels.REFINE3D: "run_class001.mrc",
    labels.MASK_CREATE: "mask.mrc", labels.POSTPROCESS: "postprocess.mrc",
    labels.INITIAL_MODEL: "initial_model.mrc",
}


@dataclass
class JobSummary:
    """One row of the stage table."""

    job_dir: str
    type_label: str
    status: str
    stage: str
    binning: int | None
    elapsed: float | None  # s, the driver's wall time of the job
    program_seconds: float | None  # s, the commands themselves (py2rely_command_times.txt)
    particles: int | None
    box: int | None
    resolution: float | None  # Å
    inputs_from: list[str] = field(default_factory=list)  # upstream job directories
    logs: list[str] = field(default_factory=list)  # which of LOG_FILES exist
    err_tail: list[str] = field(default_factory=list)  # for a failed or aborted job
    map_path: str | None = None  # project-relative map shown for this job

    @property
    def short_type(self) -> str:
        return self.job_dir.split("/")[0]


@dataclass
class ProjectData:
    root: Path
    jobs: list[JobSummary]
    parameters: dict[str, Any]
    pipeline_mtime: float

    def job(self, job_dir: str) -> JobSummary | None:
        return next((j for j in self.jobs if j.job_dir == job_dir), None)

    def of_type(self, *type_labels: str) -> list[JobSummary]:
        return [j for j in self.jobs if j.type_label in type_labels]

    def succeeded(self, *type_labels: str) -> list[JobSummary]:
        return [j for j in self.of_type(*type_labels) if j.status == "Succeeded"]

    @property
    def ground_truth(self) -> Path | None:
        """The simulator's ground_truth/ next to the imported particles, if there is one."""
        particles = self.parameters.get("inputs", {}).get("particles")
        if not particles:
            return None
        path = Path(particles)
        path = path if path.is_absolute() else self.root / path
        truth = path.parent / "ground_truth"
        return truth if (truth / "simulation.json").is_file() else None


def collect(project_root: str | os.PathLike[str]) -> ProjectData:
    project = Project(project_root)
    parameters = _parameters(project.root)
    boxes = {int(b["binning"]): int(b["box"]) for b in parameters.get("binnings", [])
             if "binning" in b and "box" in b}
    lines, _warning = job_lines(project)  # status has already said what is wrong with the file
    pipeline, _ = project.pipeline_or_rebuilt()
    producers = {node: process for process, node in pipeline.output_edges}
    jobs = []
    for line in lines:
        record = project.read_record(line.job_dir) or {}
        job_path = project.root / line.job_dir
        binning = record.get("binning")
        jobs.append(JobSummary(
            job_dir=line.job_dir, type_label=line.type_label, status=line.status,
            stage=line.stage or _stage_from_type(line.type_label), binning=binning,
            elapsed=line.elapsed, program_seconds=command_seconds(job_path),
            particles=_particles(job_path, line.type_label) if line.status == "Succeeded" else None,
            box=_box(job_path, line.type_label, boxes.get(binning) if binning else None),
            resolution=line.resolution,
            inputs_from=sorted({producers[node] for node, process in pipeline.input_edges
                                if process == line.job_dir and node in producers},
                               key=_job_number),
            logs=[name for name in LOG_FILES if (job_path / name).is_file()],
            err_tail=(tail(job_path / "run.err", ERR_TAIL_LINES)
                      if line.status in ("Failed", "Aborted") else []),
            map_path=_map(project.root, line.job_dir, line.type_label),
        ))
    mtime = project.pipeline_path.stat().st_mtime if project.pipeline_path.exists() else 0.0
    return ProjectData(project.root, jobs, parameters, mtime)


def _parameters(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / "sta_parameters.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stage_from_type(type_label: str) -> str:
    return type_label.removeprefix("relion.")


def _job_number(job_dir: str) -> int:
    try:
        return int(job_dir.rstrip("/").rsplit("job", 1)[1])
    except (IndexError, ValueError):
        return 0


def command_seconds(job_path: Path) -> float | None:
    """How long the job's programs ran (sum over its commands), from the job script's timings."""
    try:
        lines = (job_path / TIMING_FILE).read_text(encoding="utf-8").split("\n")
    except OSError:
        return None
    total, seen = 0.0, False
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            try:
                total += float(parts[1]) - float(parts[0])
                seen = True
            except ValueError:
                continue
    return total if seen else None


def _particles(job_path: Path, type_label: str) -> int | None:
    name = PARTICLE_FILES.get(type_label)
    if type_label == labels.CLASS3D:
        found = sorted(job_path.glob("run_it*_data.star"))
        path = found[-1] if found else None
    else:
        path = job_path / name if name else None
    if path is None or not path.is_file():
        return None
    try:
        return results.particle_count(path)
    except OSError:
        return None


def _map(root: Path, job_dir: str, type_label: str) -> str | None:
    name = MAP_FILES.get(type_label)
    if name and (root / job_dir / name).is_file():
        return f"{job_dir}{name}"
    return None


def _box(job_path: Path, type_label: str, planned: int | None) -> int | None:
    name = MAP_FILES.get(type_label)
    if name and (job_path / name).is_file():
        try:
            import mrcfile

            with mrcfile.open(job_path / name, header_only=True, permissive=True) as mrc:
                return int(mrc.header.nx)
        except (OSError, ValueError):
            pass
    return planned


# -- tables the plots need -----------------------------------------------------------------------


def fsc_table(root: Path, job_dir: str) -> pd.DataFrame | None:
    """data_fsc of a PostProcess job's postprocess.star."""
    try:
        return read_star(root / job_dir / "postprocess.star").get("fsc")
    except Exception:
        return None


def general_value(root: Path, job_dir: str, label: str) -> float | None:
    try:
        table = read_star(root / job_dir / "postprocess.star").get("general")
        value = float(table[label].iloc[0])
    except Exception:
        return None
    return value if math.isfinite(value) else None


def class_decision(root: Path, job_dir: str) -> dict[str, Any] | None:
    """The class selector's decision written next to a Select (or JoinStar) job."""
    try:
        data = json.loads((root / job_dir / DECISION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def particles(root: Path, relative: str) -> pd.DataFrame | None:
    try:
        return results.particles_table(root / relative)
    except Exception:
        return None
