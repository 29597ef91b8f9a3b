"""The dataset on disk, in the layout RELION 5 reads.

Paths inside STAR files are absolute (the final output directory, resolved), so RELION finds the
images and per-tilt-series files from any project directory; moving the dataset means
re-simulating it (or rewriting those columns). Files are written into a staging directory that is
renamed to the output directory when complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pandas as pd

from py2rely_core import atomic
from py2rely_core.star import write_star
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.ctf import Optics
from py2rely_plugins.simulate.scene import TiltSeries

OPTICS_GROUP_NAME = "opticsGroup1"
TOMOGRAMS = "tomograms.star"
PARTICLES = "particles.star"
TILT_SERIES_DIR = "tilt_series"
TRUTH_DIR = "ground_truth"
PHANTOM = "phantom.mrc"
TRUE_PARTICLES = "particles.star"
DECOYS = "decoys.star"
PARAMETERS = "simulation.json"


def write_mrc(path: Path, data: np.ndarray, pixel_size: float, stack: bool = False) -> None:
    with atomic.atomic_path(path) as tmp, mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
        if stack:
            mrc.set_image_stack()
        mrc.voxel_size = pixel_size


def stack_path(final_dir: Path, series: TiltSeries) -> Path:
    return final_dir / TILT_SERIES_DIR / f"{series.name}.mrcs"


def tilt_series_table(
    series: TiltSeries, final_dir: Path, config: SimulationConfig, truth: bool
) -> pd.DataFrame:
    """data_<TomoName>: one row per tilt image in stack order (ascending tilt angle)."""
    t = series.tilts
    prefix = "" if truth else "star_"
    images = stack_path(final_dir, series)
    return pd.DataFrame({
        "rlnMicrographName": [f"{i + 1:06d}@{images}" for i in range(len(t))],
        "rlnTomoNominalStageTiltAngle": t["angle"],
        "rlnTomoNominalTiltAxisAngle": t["z_rot"],
        "rlnMicrographPreExposure": t["pre_exposure"],
        "rlnDefocusU": t[f"{prefix}defocus_u"],
        "rlnDefocusV": t[f"{prefix}defocus_v"],
        "rlnDefocusAngle": t["defocus_angle"],
        "rlnCtfScalefactor": 1.0,
        "rlnTomoXTilt": t["x_tilt"],
        "rlnTomoYTilt": t["angle"],
        "rlnTomoZRot": t["z_rot"],
        "rlnTomoXShiftAngst": t[f"{prefix}shift_x"],
        "rlnTomoYShiftAngst": t[f"{prefix}shift_y"],
    })


def tomograms_table(
    all_series: list[TiltSeries], star_dir: Path, config: SimulationConfig, optics: Optics
) -> pd.DataFrame:
    """data_global: one row per tilt series; ``star_dir`` holds the per-tilt-series STAR files."""
    return pd.DataFrame([{
        "rlnTomoName": s.name,
        "rlnVoltage": optics.voltage,
        "rlnSphericalAberration": optics.cs,
        "rlnAmplitudeContrast": optics.amplitude_contrast,
        "rlnMicrographOriginalPixelSize": config.pixel_size,
        "rlnTomoHand": config.hand,
        "rlnOpticsGroupName": OPTICS_GROUP_NAME,
        "rlnTomoTiltSeriesPixelSize": config.pixel_size,
        "rlnTomoTiltSeriesStarFile": str(star_dir / f"{s.name}.star"),
        "rlnTomoSizeX": config.image_size,
        "rlnTomoSizeY": config.image_size,
        "rlnTomoSizeZ": config.thickness_px,
    } for s in all_series])


def optics_table(config: SimulationConfig, optics: Optics) -> pd.DataFrame:
    return pd.DataFrame([{
        "rlnOpticsGroup": 1,
        "rlnOpticsGroupName": OPTICS_GROUP_NAME,
        "rlnVoltage": optics.voltage,
        "rlnSphericalAberration": optics.cs,
        "rlnAmplitudeContrast": optics.amplitude_contrast,
        "rlnTomoTiltSeriesPixelSize": config.pixel_size,
    }])


def particles_table(all_series: list[TiltSeries], truth: bool, decoys: bool | None) -> pd.DataFrame:
    """data_particles. ``truth``: true poses, else what the picker would say (with errors).
    ``decoys``: None for all picks, True/False for only decoys / only particles."""
    prefix = "" if truth else "star_"
    frames = []
    for s in all_series:
        picks = s.picks if decoys is None else s.picks[s.picks["decoy"] == decoys]
        frames.append(pd.DataFrame({
            "rlnTomoName": s.name,
            "rlnTomoParticleName": [f"{s.name}/{n}" for n in picks["number"]],
            "rlnCenteredCoordinateXAngst": picks[f"{prefix}x"],
            "rlnCenteredCoordinateYAngst": picks[f"{prefix}y"],
            "rlnCenteredCoordinateZAngst": picks[f"{prefix}z"],
            "rlnAngleRot": picks[f"{prefix}rot"],
            "rlnAngleTilt": picks[f"{prefix}tilt"],
            "rlnAnglePsi": picks[f"{prefix}psi"],
            "rlnOpticsGroup": 1,
        }))
    return pd.concat(frames, ignore_index=True)


def write_dataset(
    staging: Path, final_dir: Path, config: SimulationConfig, optics: Optics,
    all_series: list[TiltSeries], phantom: np.ndarray,
    parameters: dict[str, Any],
) -> None:
    """Everything except the tilt stacks, which the caller writes as they are made."""
    truth_dir = staging / TRUTH_DIR
    for s in all_series:
        write_star({s.name: tilt_series_table(s, final_dir, config, truth=False)},
                   staging / TILT_SERIES_DIR / f"{s.name}.star")
        write_star({s.name: tilt_series_table(s, final_dir, config, truth=True)},
                   truth_dir / TILT_SERIES_DIR / f"{s.name}.star")
    write_star({"global": tomograms_table(all_series, final_dir / TILT_SERIES_DIR, config, optics)},
               staging / TOMOGRAMS)
    write_star({"global": tomograms_table(all_series, final_dir / TRUTH_DIR / TILT_SERIES_DIR, config,
                                          optics)},
               truth_dir / TOMOGRAMS)
    optics_block = optics_table(config, optics)
    write_star({"optics": optics_block, "particles": particles_table(all_series, truth=False, decoys=None)},
               staging / PARTICLES)
    write_star({"optics": optics_block, "particles": particles_table(all_series, truth=True, decoys=False)},
               truth_dir / TRUE_PARTICLES)
    if any(s.picks["decoy"].any() for s in all_series):
        decoys = particles_table(all_series, truth=True, decoys=True)
        write_star({"optics": optics_block, "particles": decoys}, truth_dir / DECOYS)
    write_mrc(truth_dir / PHANTOM, phantom, config.pixel_size)
    atomic.write_text(truth_dir / PARAMETERS, json.dumps(parameters, indent=2) + "\n")
