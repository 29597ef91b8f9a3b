"""Small, valid RELION 5 STAR inputs written from scratch (no images), for input-validation tests."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import starfile


def write_tilt_series_set(
    directory: Path,
    names: tuple[str, ...] = ("TS_01", "TS_02"),
    pixel_size: float = 1.54,
    tilts: tuple[float, ...] = (-3.0, 0.0, 3.0),
) -> Path:
    """A tomograms STAR (data_global) plus one per-tilt-series STAR each; returns the former."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        per_ts = directory / f"{name}.star"
        table = pd.DataFrame({
            "rlnMicrographName": [f"{i + 1}@{name}.mrcs" for i in range(len(tilts))],
            "rlnTomoXTilt": 0.0,
            "rlnTomoYTilt": list(tilts),
            "rlnTomoZRot": 85.0,
            "rlnTomoXShiftAngst": 0.0,
            "rlnTomoYShiftAngst": 0.0,
            "rlnDefocusU": 30000.0,
            "rlnDefocusV": 30000.0,
            "rlnDefocusAngle": 0.0,
            "rlnCtfScalefactor": 1.0,
            "rlnMicrographPreExposure": [3.0 * i for i in range(len(tilts))],
        })
        starfile.write({name: table}, per_ts, overwrite=True)
        rows.append({
            "rlnTomoName": name,
            "rlnVoltage": 300.0,
            "rlnSphericalAberration": 2.7,
            "rlnAmplitudeContrast": 0.1,
            "rlnMicrographOriginalPixelSize": pixel_size,
            "rlnTomoHand": -1,
            "rlnTomoTiltSeriesPixelSize": pixel_size,
            "rlnTomoTiltSeriesStarFile": str(per_ts),
            "rlnTomoSizeX": 4096,
            "rlnTomoSizeY": 4096,
            "rlnTomoSizeZ": 1200,
        })
    path = directory / "aligned_tilt_series.star"
    starfile.write({"global": pd.DataFrame(rows)}, path, overwrite=True)
    return path


def write_particles(
    path: Path,
    tomo_names: tuple[str, ...] = ("TS_01", "TS_02"),
    per_tomogram: int = 5,
    pixel_size: float = 1.54,
    seed: int = 0,
) -> Path:
    rng = np.random.default_rng(seed)
    count = per_tomogram * len(tomo_names)
    particles = pd.DataFrame({
        "rlnTomoName": np.repeat(list(tomo_names), per_tomogram),
        "rlnCenteredCoordinateXAngst": rng.uniform(-2000, 2000, count),
        "rlnCenteredCoordinateYAngst": rng.uniform(-2000, 2000, count),
        "rlnCenteredCoordinateZAngst": rng.uniform(-300, 300, count),
        "rlnAngleRot": rng.uniform(-180, 180, count),
        "rlnAngleTilt": rng.uniform(0, 180, count),
        "rlnAnglePsi": rng.uniform(-180, 180, count),
        "rlnOpticsGroup": 1,
    })
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1],
        "rlnOpticsGroupName": ["opticsGroup1"],
        "rlnVoltage": [300.0],
        "rlnSphericalAberration": [2.7],
        "rlnAmplitudeContrast": [0.1],
        "rlnTomoTiltSeriesPixelSize": [pixel_size],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({"optics": optics, "particles": particles}, path, overwrite=True)
    return path


def write_map(path: Path, box: int, voxel: float, value: float = 0.5) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.full((box, box, box), value, dtype=np.float32))
        mrc.voxel_size = voxel
    return path


def write_extracted(path: Path, classes: tuple[int, ...] = (), box: int = 24, binning: int = 4) -> Path:
    """A particles STAR as Extract or Class3D leaves it (2D stacks at ``binning``)."""
    write_particles(path, pixel_size=2.5)
    blocks = starfile.read(path, always_dict=True)
    optics = blocks["optics"]
    optics["rlnCtfDataAreCtfPremultiplied"] = 1
    optics["rlnImageDimensionality"] = 2
    optics["rlnTomoSubtomogramBinning"] = float(binning)
    optics["rlnImagePixelSize"] = 2.5 * binning
    optics["rlnImageSize"] = box
    if classes:
        blocks["particles"]["rlnClassNumber"] = [classes[i % len(classes)]
                                                 for i in range(len(blocks["particles"]))]
        blocks["particles"]["rlnRandomSubset"] = [1 + i % 2 for i in range(len(blocks["particles"]))]
    starfile.write({"general": {"rlnTomoSubTomosAre2DStacks": 1}, **blocks}, path, overwrite=True)
    return path
