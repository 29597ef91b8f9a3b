"""Workspaces for the fault matrix: valid inputs for every command, file systems that say no
(a read-only and a full tmpfs), and a snapshot of every file to prove nothing was written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mrcfile
import numpy as np
import starfile

from py2rely_plugins.relion5.sta.params import build_parameters, save_parameters
from tests.copick_fixtures import OBJECT, make_project, random_picks, write_picks, write_tomograms_star
from tests.runner_helpers import write_map
from tests.star_fixtures import write_particles, write_tilt_series_set

FILLER = ".filler"  # fills the "full disk" tmpfs; the same before and after every case
TMPFS_SIZE = "16m"
SESSION = "S1"  # copick cases: tomogram S1_TS_01 is copick run TS_01
PIXEL_SIZE = 1.54


def is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def tmpfs(path: Path, size: str = TMPFS_SIZE) -> Iterator[Path]:
    """A tmpfs mounted on ``path`` for the block (root only); unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def make_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def fill(path: Path) -> None:
    """Write a filler file until the file system has no byte left (ENOSPC)."""
    with open(path / FILLER, "wb", buffering=0) as handle:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    if handle.write(block) < chunk:
                        break
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break


def tree(root: Path, contents: bool = True) -> dict[str, object]:
    """Every entry under ``root``: directories, links (target), files (bytes digest, or size and
    mtime for large shared inputs)."""
    state: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in dirnames:
            path = base / name
            state[str(path.relative_to(root))] = ("link", os.readlink(path)) if path.is_symlink() else "dir"
        for name in filenames:
            path = base / name
            key = str(path.relative_to(root))
            if key == FILLER:
                continue
            if path.is_symlink():
                state[key] = ("link", os.readlink(path))
            elif contents:
                state[key] = hashlib.sha1(path.read_bytes()).hexdigest()
            else:
                info = path.stat()
                state[key] = (info.st_size, info.st_mtime_ns)
    return state


def garbage(path: Path, size: int = 600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def empty(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def set_cell(path: Path, block: str, column: str, value: object, row: int = 0) -> None:
    """Change one cell of a STAR table (the file is rewritten by starfile, as a user's tool would)."""
    blocks = starfile.read(path, always_dict=True)
    table = blocks[block].astype({column: object})
    table.loc[table.index[row], column] = value
    blocks[block] = table
    starfile.write(blocks, path, overwrite=True)


# ---------------------------------------------------------------------------------------------
# Valid inputs per command (relative paths under the workspace, as a user runs from a project)


def star_inputs(ws: Path) -> None:
    """input/aligned_tilt_series.star (+ one STAR per tilt series) and input/full_picks.star."""
    write_tilt_series_set(ws / "input", names=("TS_01", "TS_02"), pixel_size=PIXEL_SIZE)
    write_particles(ws / "input" / "full_picks.star", tomo_names=("TS_01", "TS_02"))


def two_particle_sets(ws: Path) -> None:
    write_particles(ws / "input" / "a.star", tomo_names=("TS_01",), seed=1)
    write_particles(ws / "input" / "b.star", tomo_names=("TS_02",), seed=2)


def two_tomogram_sets(ws: Path) -> None:
    write_tilt_series_set(ws / "a", names=("TS_01",))
    write_tilt_series_set(ws / "b", names=("TS_02",))


def used_tomograms(ws: Path) -> None:
    write_tilt_series_set(ws / "input", names=("TS_01", "TS_02"))
    write_particles(ws / "input" / "full_picks.star", tomo_names=("TS_01",))


def density_map(ws: Path) -> None:
    write_map(ws / "map.mrc", size=32, sigma=4.0)  # 32³ voxels of 5 Å


def sta_project(ws: Path) -> None:
    """A project directory with STAR inputs, the images they name and a parameter file."""
    star_inputs(ws)
    for name in ("TS_01", "TS_02"):
        (ws / f"{name}.mrcs").write_bytes(b"")  # only their existence is checked before compute
    params = build_parameters(
        tilt_series="input/aligned_tilt_series.star", particles="input/full_picks.star",
        tilt_series_pixel_size=PIXEL_SIZE, symmetry="C1", low_pass=40.0, diameter=160.0,
        denovo=False, box_scaling=1.5, binning_list=[4, 2], threads=1, processes=3,
    )
    save_parameters(params, ws / "sta_parameters.json")


def edit_json(path: Path, section: str, key: str, value_text: str) -> None:
    """Set one key to a JSON literal as a user would type it (NaN and Infinity included)."""
    data = json.loads(path.read_text())
    data[section][key] = "@@VALUE@@"
    path.write_text(json.dumps(data, indent=2).replace('"@@VALUE@@"', value_text))


def template_for(ws: Path, nan: bool) -> Path:
    """A template of the parameter file's first binning (box, voxel size), optionally with a NaN."""
    data = json.loads((ws / "sta_parameters.json").read_text())
    first = data["binnings"][0]
    volume = np.zeros((first["box"],) * 3, dtype=np.float32)
    if nan:
        volume[1, 2, 3] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mrcfile warns about the NaN we put there on purpose
        with mrcfile.new(ws / "reference.mrc", overwrite=True) as mrc:
            mrc.set_data(volume)
            mrc.voxel_size = first["pixel_size"]
    return ws / "reference.mrc"


def copick_project(ws: Path, picks: bool = True) -> Path:
    config = make_project(ws / "copick", runs=("TS_01",))
    if picks:
        write_picks(config, random_picks("TS_01", 5, seed=3), "user", "1")
    write_tomograms_star(ws / "input" / "tomograms.star", [f"{SESSION}_TS_01"], pixel_size=PIXEL_SIZE)
    return config


def nan_pick(ws: Path) -> None:
    config = ws / "copick" / "copick.json"
    picks = random_picks("TS_01", 3, seed=4)
    picks.positions[1, 0] = np.nan
    write_picks(config, picks, "user", "2")


def export_inputs(ws: Path) -> None:
    copick_project(ws, picks=False)
    write_particles(ws / "input" / "refined.star", tomo_names=(f"{SESSION}_TS_01",), pixel_size=PIXEL_SIZE)


def existing_export_picks(ws: Path) -> None:
    write_picks(ws / "copick" / "copick.json", random_picks("TS_01", 2, seed=5), "relion", "99")


def pipeline_project(ws: Path) -> None:
    (ws / "proj").mkdir()
    shutil.copy(Path(__file__).parent / "fixtures" / "relion" / "default_pipeline.star",
                ws / "proj" / "default_pipeline.star")


def write_map_with_nan(path: Path) -> None:
    write_map(path, size=32, sigma=4.0)
    with mrcfile.open(path, "r+") as mrc:
        mrc.data[3, 4, 5] = np.nan


def aretomo_project(root: Path, session: str) -> Path:
    """AreTomo files of a tiny simulated dataset under ``root/aretomo/<session>/``; returns the
    project base (the `prepare tilt-series -b` directory)."""
    from py2rely_plugins.simulate.aretomo_files import write_aretomo_files
    from py2rely_plugins.simulate.config import SimulationConfig
    from py2rely_plugins.simulate.dataset import simulate

    dataset = root / "simulated"
    simulate(SimulationConfig(tilt_series=1, particles=4, image_size=128, tilt_range=30.0,
                              tilt_step=15.0, particle_diameter=60.0, seed=1), dataset)
    base = root / "aretomo"
    write_aretomo_files(dataset, base / session)
    return base


def garbage_aretomo(base: Path, session: str) -> None:
    """An AreTomo session whose alignment file (.aln) is garbage (the other files are absent)."""
    garbage(base / session / "TS_01.aln")
    garbage(base / session / "TS_01.mrc", size=2048)


OBJECT_NAME = OBJECT
