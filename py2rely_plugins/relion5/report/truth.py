"""Comparisons with a simulated dataset's ground truth (``py2rely simulate`` writes ground_truth/:
phantom.mrc, particles.star with the true poses, simulation.json naming the decoy picks).

Kept in one module so that other ground-truth figures of the project can share these functions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from py2rely_plugins.relion5.sta.fsc import FscCurve, fourier_crop, fsc, soft_sphere_mask
from py2rely_plugins.relion5.sta.map_compare import centre_box

CENTRED = ("rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst")
ORIGIN = ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst")
ANGLES = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
SUBTOMOGRAM = ("rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi")


def _volume(path: Path) -> tuple[np.ndarray, float]:
    import mrcfile

    with mrcfile.open(path, permissive=True) as mrc:
        return np.asarray(mrc.data, dtype=np.float64), float(mrc.voxel_size.x)


def truth_on_grid(truth: np.ndarray, truth_pixel: float, box: int, pixel: float) -> np.ndarray:
    """The truth map brought to a map's pixel size (Fourier cropping by the integer binning) and
    box (about RELION's centre voxel N//2)."""
    factor = round(pixel / truth_pixel)
    if factor < 1 or not math.isclose(pixel / truth_pixel, factor, rel_tol=1e-3):
        raise ValueError(f"{pixel:g} Å/px is not an integer binning of the truth's {truth_pixel:g} Å/px")
    size = truth.shape[0] - truth.shape[0] % factor
    if size != truth.shape[0]:
        truth = centre_box(truth, size)
    if factor > 1:
        truth = real_fourier_crop(truth, size // factor)
    return centre_box(truth, box) if truth.shape[0] != box else truth


def real_fourier_crop(volume: np.ndarray, box: int) -> np.ndarray:
    """``sta.fsc.fourier_crop`` on the real-input half spectrum in single precision: the same map
    (but for the cropped box's Nyquist plane) several times faster, which counts when the report
    is refreshed during a run. Voxel N//2 maps to box//2 and the mean is preserved."""
    from scipy import fft

    size = volume.shape[0]
    if box >= size or box % 2:
        return fourier_crop(volume, box)
    half = box // 2
    spectrum = fft.rfftn(np.fft.ifftshift(np.asarray(volume, dtype=np.float32)), workers=-1)
    kept = np.r_[0:half, size - half:size]  # frequencies 0..half-1 and -half..-1, as fftshift orders them
    cropped = spectrum[np.ix_(kept, kept, np.arange(half + 1))]
    return np.fft.fftshift(fft.irfftn(cropped, s=(box,) * 3, workers=-1)) * (box / size) ** 3


@dataclass(frozen=True)
class TruthFsc:
    direct: FscCurve
    mirrored: FscCurve  # against the truth's mirror image: higher than `direct` means wrong hand


def fsc_against_truth(map_path: Path, phantom: Path, diameter: float) -> TruthFsc:
    volume, pixel = _volume(map_path)
    truth, truth_pixel = _volume(phantom)
    reference = truth_on_grid(truth, truth_pixel, volume.shape[0], pixel)
    mask = soft_sphere_mask(volume.shape[0], diameter / 2.0 / pixel, edge=3.0)
    mirrored = np.ascontiguousarray(reference[::-1, :, :])
    # Mirroring about the z index moves RELION's centre N//2 of an even box by one voxel: put it back.
    if reference.shape[0] % 2 == 0:
        mirrored = np.roll(mirrored, 1, axis=0)
    return TruthFsc(fsc(volume, reference, pixel, mask=mask), fsc(volume, mirrored, pixel, mask=mask))


def _matrices(table: pd.DataFrame, columns: tuple[str, str, str]) -> np.ndarray:
    if not set(columns) <= set(table.columns):
        return np.broadcast_to(np.eye(3), (len(table), 3, 3)).copy()
    angles = table[list(columns)].to_numpy(dtype=float)
    return Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix()


def poses(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Centred positions (N, 3, Å) and rotations (N, 3, 3) as RELION 5 composes them:
    A = A_subtomogram · A_particle, position = centred − A_subtomogram · origin."""
    subtomogram = _matrices(table, SUBTOMOGRAM)
    rotation = subtomogram @ _matrices(table, ANGLES)
    centred = table[list(CENTRED)].to_numpy(dtype=float)
    origin = (table[list(ORIGIN)].to_numpy(dtype=float) if set(ORIGIN) <= set(table.columns)
              else np.zeros_like(centred))
    return centred - np.einsum("nij,nj->ni", subtomogram, origin), rotation


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation taking each b to each a."""
    relative = np.einsum("nij,nkj->nik", a, b)
    cosine = (np.trace(relative, axis1=1, axis2=2) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


@dataclass(frozen=True)
class PoseErrors:
    names: list[str]
    angle: np.ndarray  # degrees, per matched particle
    position: np.ndarray  # Å


def pose_errors(particles: pd.DataFrame, truth: pd.DataFrame) -> PoseErrors:
    """Per-particle angular and position error of refined particles against the true poses,
    matched by rlnTomoParticleName (decoys have no truth and are left out)."""
    key = "rlnTomoParticleName"
    if key not in particles.columns or key not in truth.columns:
        return PoseErrors([], np.zeros(0), np.zeros(0))
    merged = particles.reset_index(drop=True).merge(
        truth.reset_index(drop=True), on=key, suffixes=("", "_truth"))
    if merged.empty:
        return PoseErrors([], np.zeros(0), np.zeros(0))
    refined_at, refined_rot = poses(merged)
    truth_table = merged[[c + "_truth" for c in (*CENTRED, *ANGLES)]].copy()
    truth_table.columns = [*CENTRED, *ANGLES]
    true_at, true_rot = poses(truth_table)
    return PoseErrors(merged[key].astype(str).tolist(), rotation_angle(refined_rot, true_rot),
                      np.linalg.norm(refined_at - true_at, axis=1))


def decoy_names(truth_dir: Path) -> set[str]:
    data = json.loads((truth_dir / "simulation.json").read_text(encoding="utf-8"))
    return {str(name) for series in data.get("tilt_series", []) for name in series.get("decoys", [])}


@dataclass(frozen=True)
class DecoyRejection:
    """How a class selection separated decoys (picks without a particle) from particles."""

    candidates: int  # picks classified
    decoys: int  # of which decoys
    rejected: int  # picks the selection dropped
    rejected_decoys: int

    @property
    def precision(self) -> float | None:
        return self.rejected_decoys / self.rejected if self.rejected else None

    @property
    def recall(self) -> float | None:
        return self.rejected_decoys / self.decoys if self.decoys else None


def decoy_rejection(classified: pd.DataFrame, kept: pd.DataFrame, decoys: set[str]) -> DecoyRejection:
    key = "rlnTomoParticleName"
    before = set(classified[key].astype(str)) if key in classified.columns else set()
    after = set(kept[key].astype(str)) if key in kept.columns else set()
    rejected = before - after
    return DecoyRejection(len(before), len(before & decoys), len(rejected), len(rejected & decoys))


def truth_tables(truth_dir: Path) -> pd.DataFrame | None:
    from py2rely_core.star import read_star

    try:
        return read_star(truth_dir / "particles.star").get("particles")
    except Exception:
        return None
