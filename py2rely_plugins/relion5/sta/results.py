"""Numbers read back from RELION's output STAR tables (never scraped from logs)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from py2rely_core.errors import JobFailed
from py2rely_core.star import read_star


def _general_value(path: Path, block: str, label: str) -> float:
    try:
        blocks = read_star(path)
    except Exception as exc:
        raise JobFailed(f"{path}: cannot read {label}: {exc}") from None
    table = blocks.get(block)
    if table is None or label not in table.columns:
        raise JobFailed(f"{path}: no {label} in data_{block}")
    value = float(table[label].iloc[0])
    if not math.isfinite(value) or value <= 0:
        raise JobFailed(f"{path}: {label} is {value} (RELION could not measure a resolution)")
    return value


def postprocess_resolution(job_dir: str | Path, project_root: Path) -> float:
    """Gold-standard resolution (Å, FSC 0.143, masked and corrected) of a PostProcess job."""
    return _general_value(project_root / job_dir / "postprocess.star", "general", "rlnFinalResolution")


def refine_resolution(job_dir: str | Path, project_root: Path) -> float:
    """Resolution (Å) of a finished Refine3D: rlnCurrentResolution of run_model.star (RELION
    writes it in Å although the label's description says 1/Å)."""
    return _general_value(project_root / job_dir / "run_model.star", "model_general",
                          "rlnCurrentResolution")


PHASE_RANDOMISED_LIMIT = 0.1  # relion_postprocess warns above this at the estimated resolution


def phase_randomised_fsc(job_dir: str | Path, project_root: Path) -> float | None:
    """The corrected phase-randomised masked-map FSC at the estimated resolution of a PostProcess
    job (None when the table lacks it). Above 0.1 the mask's edge is too sharp: masking itself
    correlates the half maps and inflates the resolution."""
    path = project_root / job_dir / "postprocess.star"
    blocks = read_star(path)
    fsc = blocks.get("fsc")
    column = "rlnCorrectedFourierShellCorrelationPhaseRandomizedMaskedMaps"
    if fsc is None or column not in fsc.columns or "rlnAngstromResolution" not in fsc.columns:
        return None
    resolution = _general_value(path, "general", "rlnFinalResolution")
    nearest = (fsc["rlnAngstromResolution"].astype(float) - resolution).abs().idxmin()
    return float(fsc.loc[nearest, column])


def particles_table(path: str | Path) -> pd.DataFrame:
    blocks = read_star(path)
    table = blocks.get("particles")
    if table is None:
        raise JobFailed(f"{path}: no data_particles table")
    return table


def particle_count(path: str | Path) -> int:
    """Number of particles, counted without parsing every column of a large STAR file."""
    count = 0
    in_particles = in_loop = False
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line.startswith("data_"):
                in_particles = line == "data_particles"
                in_loop = False
                continue
            if not in_particles or not line or line.startswith("#"):
                continue
            if line.startswith("loop_"):
                in_loop = True
                continue
            if in_loop and line.startswith("_"):
                continue
            if in_loop:
                count += 1
    return count


def _iteration_files(job: Path, suffix: str) -> list[tuple[int, Path]]:
    found = []
    for path in job.glob(f"run_it[0-9][0-9][0-9]_{suffix}"):
        number = int(path.name[6:9])
        if number > 0:
            found.append((number, path))
    return sorted(found)


def healpix_step(order: int, oversampling: int = 1) -> float:
    """RELION's finest angular step (degrees) at a HEALPix order with oversampling."""
    return 360.0 / (6 * 2 ** (order + oversampling))


def refine_iterations(job_dir: str | Path, project_root: Path) -> list[tuple[int, int, float]]:
    """(iteration, HEALPix order, finest angular step) of each iteration of a Refine3D/Class3D,
    from its run_itNNN_sampling.star files."""
    rows = []
    for number, path in _iteration_files(project_root / job_dir, "sampling.star"):
        table = read_star(path).get("sampling_general")
        if table is None or "rlnHealpixOrder" not in table.columns:
            continue
        order = int(table["rlnHealpixOrder"].iloc[0])
        rows.append((number, order, healpix_step(order)))
    return rows


def first_local_iteration(job_dir: str | Path, project_root: Path) -> int | None:
    """The first iteration of a Refine3D that searched locally (its HEALPix order reached the
    job's --auto_local_healpix_order), or None if it never did."""
    job = project_root / job_dir
    optimisers = _iteration_files(job, "optimiser.star")
    if not optimisers:
        return None
    general = read_star(optimisers[-1][1]).get("optimiser_general")
    if general is None or "rlnAutoLocalSearchesHealpixOrder" not in general.columns:
        return None
    local_order = int(general["rlnAutoLocalSearchesHealpixOrder"].iloc[0])
    for number, order, _ in refine_iterations(job_dir, project_root):
        if order >= local_order:
            return number
    return None


def changes_in_orientations(job_dir: str | Path, project_root: Path) -> float | None:
    """RELION's changes in optimal orientations (degrees) of a job's last iteration."""
    optimisers = _iteration_files(project_root / job_dir, "optimiser.star")
    if not optimisers:
        return None
    general = read_star(optimisers[-1][1]).get("optimiser_general")
    if general is None or "rlnChangesOptimalOrientations" not in general.columns:
        return None
    return float(general["rlnChangesOptimalOrientations"].iloc[0])


def last_iteration(job_dir: str | Path, project_root: Path) -> int:
    files = _iteration_files(project_root / job_dir, "optimiser.star")
    return files[-1][0] if files else 0


def explain_refine_failure(message: str, project_root: Path, other_args: str) -> str:
    """A failed Refine3D's message, with the reason when it stopped at its iteration cap."""
    parts = other_args.split()
    if "--auto_iter_max" not in parts:
        return message
    cap = int(parts[parts.index("--auto_iter_max") + 1])
    job_dir = message.split()[0]
    reached = last_iteration(job_dir, project_root)
    if reached < cap:
        return message
    return (f"{job_dir} stopped at its iteration cap ({cap} iterations, refine3d.max_iterations) "
            "before RELION's convergence rule ended it: orientations or resolution were still "
            f"changing. Check the picks and the reference, or raise the cap.\n{message}")
