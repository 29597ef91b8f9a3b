"""Real local copick projects (filesystem config, runs, voxel spacings, picks written with copick's
API) and matching RELION 5 tomograms STAR files, for the copick importer/exporter tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import copick
import numpy as np
import pandas as pd
import starfile
from scipy.spatial.transform import Rotation

OBJECT = "virus-like-particle"
OTHER_OBJECT = "ribosome"
PIXEL_SIZE = 1.54
# An odd size in z pins RELION's tomogram centre (Z/2.0, not int(Z/2)).
TOMOGRAM_SIZE = (4096, 4000, 1201)


@dataclass
class PickSet:
    run: str
    positions: np.ndarray  # (N, 3) Å, copick locations
    rotations: np.ndarray  # (N, 3, 3), object → tomogram


def write_config(path: Path, overlay: Path, objects: tuple[str, ...] = (OBJECT, OTHER_OBJECT)) -> Path:
    config = {
        "config_type": "filesystem",
        "name": "test project",
        "description": "py2rely tests",
        "version": copick.__version__,
        "pickable_objects": [
            {"name": name, "is_particle": True, "label": i + 1, "color": [255, 0, 0, 255],
             "radius": 150.0}
            for i, name in enumerate(objects)
        ],
        "overlay_root": f"local://{overlay}",
        "overlay_fs_args": {"auto_mkdir": True},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def make_project(
    directory: Path, runs: tuple[str, ...], voxel_size: float = 10.0,
    extra_voxel_size: dict[str, float] | None = None,
) -> Path:
    """A copick project with ``runs``, each with a voxel spacing; returns its config path."""
    config = write_config(directory / "copick.json", directory / "overlay")
    root = copick.from_file(str(config))
    for name in runs:
        run = root.new_run(name)
        run.new_voxel_spacing(voxel_size)
        if extra_voxel_size and name in extra_voxel_size:
            run.new_voxel_spacing(extra_voxel_size[name])
    return config


def random_picks(run: str, count: int, seed: int, size: tuple[int, int, int] = TOMOGRAM_SIZE) -> PickSet:
    rng = np.random.default_rng(seed)
    extent = np.array(size, dtype=float) * PIXEL_SIZE
    positions = rng.uniform(0.1, 0.9, (count, 3)) * extent
    rotations = Rotation.random(count, random_state=seed).as_matrix()
    return PickSet(run, positions, rotations)


def write_picks(
    config: Path, picks: PickSet, user_id: str, session_id: str, object_name: str = OBJECT,
    translations: np.ndarray | None = None,
) -> Path:
    """Store picks with copick's API; ``translations`` go into the transforms (copick's shifts)."""
    root = copick.from_file(str(config))
    run = root.get_run(picks.run)
    transforms = np.zeros((len(picks.positions), 4, 4))
    transforms[:, :3, :3] = picks.rotations
    if translations is not None:
        transforms[:, :3, 3] = translations
    transforms[:, 3, 3] = 1.0
    pick_set = run.new_picks(object_name=object_name, user_id=user_id, session_id=session_id)
    pick_set.from_numpy(picks.positions, transforms)
    return Path(pick_set.path)


def read_picks(config: Path, run: str, user_id: str, session_id: str, object_name: str = OBJECT):
    root = copick.from_file(str(config))
    found = root.get_run(run).get_picks(object_name=object_name, user_id=user_id, session_id=session_id)
    assert len(found) == 1, found
    return found[0].numpy()


def write_tomograms_star(
    path: Path, names: list[str], size: tuple[int, int, int] = TOMOGRAM_SIZE,
    pixel_size: float = PIXEL_SIZE,
) -> Path:
    """A RELION 5 tomograms STAR (data_global) listing ``names`` (no per-tilt files needed here)."""
    table = pd.DataFrame({
        "rlnTomoName": names,
        "rlnVoltage": 300.0,
        "rlnSphericalAberration": 2.7,
        "rlnAmplitudeContrast": 0.07,
        "rlnMicrographOriginalPixelSize": pixel_size,
        "rlnTomoHand": -1,
        "rlnTomoTiltSeriesPixelSize": pixel_size,
        "rlnTomoTiltSeriesStarFile": [f"tilt_series/{n}.star" for n in names],
        "rlnTomoSizeX": size[0],
        "rlnTomoSizeY": size[1],
        "rlnTomoSizeZ": size[2],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({"global": table}, path, overwrite=True)
    return path


def files_under(directory: Path) -> dict[Path, bytes]:
    """Every file under ``directory`` with its bytes (to prove nothing was written or changed)."""
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
