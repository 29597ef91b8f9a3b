"""A lab set up the way py2rely 0.7.1's documentation assumes, on simulated data: AreTomo3 outputs
under a base project (sessions 24jan01 and 24feb15, and a run001 sub-directory), copick projects
with picks of two objects, density maps for the template commands — and a way to run 0.7.1 itself
on a copy of it, where it is installed."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import starfile

from py2rely_plugins.simulate.aretomo_files import write_aretomo_files
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.dataset import simulate
from tests.copick_fixtures import OBJECT, OTHER_OBJECT, make_project, random_picks, write_config, write_picks

REPO = Path(__file__).resolve().parent.parent
PIXEL_SIZE = 1.54  # what the 0.7.1 documentation's command lines say
OBJECTS = (OTHER_OBJECT, OBJECT)  # "ribosome", "virus-like-particle": the documentation's objects
RUNS = ("TS_01", "TS_02")  # the simulator's tilt-series names, and the copick runs
SESSIONS = ("24jan01", "24feb15")
# 7 tilts, 192² px at 1.54 Å: small enough for a test, real AreTomo3 files and stacks.
DATASET = SimulationConfig(tilt_series=2, particles=2, image_size=192, tilt_range=45.0, tilt_step=15.0,
                           pixel_size=PIXEL_SIZE, particle_diameter=60.0, thickness=200.0, snr=2.0,
                           seed=11)


# The documentation's absolute paths, and where they are in a copy of the lab's project.
PLACEHOLDERS = {"/path/to/aretomo": "aretomo", "/data/config.json": "data/config.json",
                "/ribo80S_emd_3883.map": "ribo80S_emd_3883.map"}


@dataclass
class Lab:
    root: Path
    project: Path  # the RELION project directory the command lines run in (a template to copy)
    picks: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def copy_project(self, where: Path) -> Path:
        shutil.copytree(self.project, where, symlinks=True)
        # The copick configs name their overlay by absolute path: point the copies at the copies.
        for config in [*where.glob("*.json"), *where.glob("*/*.json")]:
            text = config.read_text()
            if str(self.project) in text:
                config.write_text(text.replace(str(self.project), str(where)))
        return where


def words(line: str, cwd: Path) -> list[str]:
    """A documented command line as argv after `py2rely`; only its absolute placeholder paths are
    replaced (by their place in ``cwd``)."""
    split = shlex.split(line)
    assert split[0] == "py2rely", line
    return [str(cwd / PLACEHOLDERS[w]) if w in PLACEHOLDERS else w for w in split[1:]]


def blob_map(path: Path, voxel: float, size: int = 48) -> Path:
    """A smooth asymmetric density (two Gaussians) with ``voxel`` Å in its header."""
    grid = np.indices((size,) * 3, dtype=np.float32) - size / 2
    density = np.exp(-(grid**2).sum(0) / (2 * 6.0**2)) + 0.5 * np.exp(
        -((grid - np.array([4, 3, 0])[:, None, None, None]) ** 2).sum(0) / (2 * 3.0**2))
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(density.astype(np.float32))
        mrc.voxel_size = voxel
    return path


def build_lab(root: Path) -> Lab:
    dataset = root / "dataset"
    simulate(DATASET, dataset)
    project = root / "project"
    aretomo = project / PLACEHOLDERS["/path/to/aretomo"]
    for where in (aretomo / "24jan01", aretomo / "24jan01" / "run001", aretomo / "24feb15"):
        write_aretomo_files(dataset, where)
    make_project(project, RUNS)  # copick.json: both objects, runs with a 10 Å voxel spacing
    overlay = project / "overlay"
    blob_map(project / PLACEHOLDERS["/ribo80S_emd_3883.map"], 0.8)
    lab = Lab(root=root, project=project)
    config = project / "copick.json"
    for seed, (name, run) in enumerate((n, r) for n in OBJECTS for r in RUNS):
        picks = random_picks(run, 3, seed=seed)
        write_picks(config, picks, "alice", "1", object_name=name)
        lab.picks[(name, run)] = (picks.positions, picks.rotations)
    # The documentation names several config files for this one project ...
    for name in ("copick_config.json", "10445_config.json", "config.json", "config1.json"):
        write_config(project / name, overlay)
    write_config(project / PLACEHOLDERS["/data/config.json"], overlay)
    # ... and a second project for the second session of its export example.
    make_project(project / "second", RUNS)
    write_config(project / "config2.json", project / "second" / "overlay")
    for name, voxel in (("ribosome_3883.map", 0.83), ("VLP_emd_41917.map", 0.83)):
        blob_map(project / name, voxel)
    return lab


def write_pixel_picks(path: Path, tomograms: list[str], seed: int = 5) -> pd.DataFrame:
    """A plain coordinate STAR (pixels from the tomogram corner), as template matchers write."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({
        "rlnTomoName": [t for t in tomograms for _ in range(3)],
        "rlnCoordinateX": rng.uniform(100, 4000, 3 * len(tomograms)),
        "rlnCoordinateY": rng.uniform(100, 4000, 3 * len(tomograms)),
        "rlnCoordinateZ": rng.uniform(100, 1100, 3 * len(tomograms)),
        "rlnAngleRot": rng.uniform(-180, 180, 3 * len(tomograms)),
        "rlnAngleTilt": rng.uniform(0, 180, 3 * len(tomograms)),
        "rlnAnglePsi": rng.uniform(-180, 180, 3 * len(tomograms)),
    })
    starfile.write({"particles": table}, path, overwrite=True)
    return table


def reference_tool() -> Path | None:
    """py2rely 0.7.1's `py2rely`: $PY2RELY_071, else benchmarks/.venv-ref (where benchmarks put it)."""
    candidate = os.environ.get("PY2RELY_071") or str(REPO / "benchmarks" / ".venv-ref" / "bin" / "py2rely")
    path = Path(candidate)
    return path if path.is_file() else None


def run_reference(tool: Path, words: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([str(tool), *words], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=env, check=False)
