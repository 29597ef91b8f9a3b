"""FSC between a refined map and a reference map on another grid (e.g. the simulator's truth).

The reference is brought to the map's pixel size by Fourier cropping (an integer ratio, as
between a tilt-series pixel and a binned one) and then padded or cropped about RELION's centre
voxel (N//2) to the map's box; both are multiplied by a soft sphere of the particle's diameter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

from py2rely_plugins.relion5.sta.fsc import fourier_crop, fsc, resolution_at, soft_sphere_mask


@dataclass(frozen=True)
class MapComparison:
    pixel_size: float
    resolution_05: float  # Å at FSC 0.5
    resolution_0143: float  # Å at FSC 0.143
    nyquist: float  # Å

    def summary(self) -> str:
        return (f"FSC 0.5 at {self.resolution_05:.1f} Å, 0.143 at {self.resolution_0143:.1f} Å "
                f"(Nyquist {self.nyquist:.1f} Å)")


def _read(path: Path) -> tuple[np.ndarray, float]:
    with mrcfile.open(path, permissive=True) as mrc:
        return np.asarray(mrc.data, dtype=np.float64), float(mrc.voxel_size.x)


def centre_box(volume: np.ndarray, box: int) -> np.ndarray:
    """Pad with zeros or crop a cubic map to ``box``³ keeping voxel N//2 at box//2."""
    size = volume.shape[0]
    out = np.zeros((box,) * 3, dtype=volume.dtype)
    src = [slice(max(0, size // 2 - box // 2), min(size, size // 2 - box // 2 + box))] * 3
    start = max(0, box // 2 - size // 2)
    dst = [slice(start, start + (src[0].stop - src[0].start))] * 3
    out[tuple(dst)] = volume[tuple(src)]
    return out


def compare_with_reference(map_path: str | Path, reference_path: str | Path, diameter: float
                           ) -> MapComparison:
    volume, pixel = _read(Path(map_path))
    reference, reference_pixel = _read(Path(reference_path))
    ratio = pixel / reference_pixel
    if ratio < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-3):
        raise ValueError(
            f"{map_path} ({pixel:g} Å/px) is not an integer binning of {reference_path} "
            f"({reference_pixel:g} Å/px)")
    factor = round(ratio)
    size = reference.shape[0]
    cropped = size - size % factor
    reference = centre_box(reference, cropped)
    if factor > 1:
        reference = fourier_crop(reference, cropped // factor)
    reference = centre_box(reference, volume.shape[0])
    mask = soft_sphere_mask(volume.shape[0], diameter / 2.0 / pixel, edge=3.0)
    curve = fsc(volume, reference, pixel, mask=mask)
    return MapComparison(pixel, resolution_at(curve, 0.5), resolution_at(curve, 0.143), 2 * pixel)
