"""FSC between a refined map and a reference map on another grid (e.g. the simulator's truth).

The reference is brought to the map's pixel size by Fourier cropping (an integer ratio, as
between a tilt-series pixel and a binned one) and then padded or cropped about RELION's centre
voxel (N//2) to the map's box; both are multiplied by a soft sphere of the particle's diameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


def read_map(path: Path) -> tuple[np.ndarray, float]:
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
    volume, pixel = read_map(Path(map_path))
    reference, reference_pixel = read_map(Path(reference_path))
    try:
        reference = on_grid(reference, reference_pixel, pixel, volume.shape[0], crop=fourier_crop)
    except ValueError:
        raise ValueError(
            f"{map_path} ({pixel:g} Å/px) is not an integer binning of {reference_path} "
            f"({reference_pixel:g} Å/px)") from None
    mask = soft_sphere_mask(volume.shape[0], diameter / 2.0 / pixel, edge=3.0)
    curve = fsc(volume, reference, pixel, mask=mask)
    return MapComparison(pixel, resolution_at(curve, 0.5), resolution_at(curve, 0.143), 2 * pixel)


def on_grid(reference: np.ndarray, reference_pixel: float, pixel: float, box: int,
            crop: Callable[[np.ndarray, int], np.ndarray] | None = None) -> np.ndarray:
    """``reference`` at ``pixel`` Å (Fourier cropped by an integer ratio) in a ``box``³ grid
    about RELION's centre voxel; ``crop`` defaults to the fast real-spectrum crop."""
    ratio = pixel / reference_pixel
    if ratio < 1 or not math.isclose(ratio, round(ratio), rel_tol=1e-3):
        raise ValueError(f"a {pixel:g} Å/px map is not an integer binning of the "
                         f"{reference_pixel:g} Å/px reference")
    factor = round(ratio)
    size = reference.shape[0]
    cropped = size - size % factor
    volume = centre_box(reference, cropped)
    if factor > 1:
        volume = (crop or real_fourier_crop)(volume, cropped // factor)
    return centre_box(volume, box)


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
