"""The initial threshold for relion_mask_create, chosen from the map itself.

The map is low-pass filtered exactly as relion_mask_create filters it (a raised cosine two
Fourier shells wide around the low-pass shell), then compared with its own solvent: voxels
outside a sphere of the particle's diameter are noise and solvent, so their mean and standard
deviation say where density stops being signal. The threshold is the larger of

* solvent mean + ``SOLVENT_SIGMAS`` × solvent standard deviation (above the noise), and
* solvent mean + ``PEAK_FRACTION`` × (99.5th percentile inside the sphere − solvent mean)
  (for nearly noise-free maps, where the first rule would keep faint ripples).

Unlike a fixed percentile of the box, this does not depend on how much solvent the box holds,
and unlike the absolute value of the map it does not count negative density as protein.
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np

SOLVENT_SIGMAS = 3.0
PEAK_FRACTION = 0.15
SOLVENT_MARGIN = 1.1  # the solvent shell starts 10% beyond the particle radius


def relion_lowpass(volume: np.ndarray, lowpass: float, pixel_size: float, edge_width: int = 2
                   ) -> np.ndarray:
    """relion_mask_create's low-pass filter (lowPassFilterMap in RELION's fftw.cpp)."""
    size = volume.shape[0]
    spectrum = np.fft.rfftn(volume)
    ires = round(size * pixel_size / lowpass)
    edge_low = max(0.0, (ires - edge_width // 2) / size)
    edge_high = (ires + edge_width // 2) / size
    freq_full = np.fft.fftfreq(size)
    freq_half = np.fft.rfftfreq(size)
    radius = np.sqrt(freq_full[:, None, None] ** 2 + freq_full[None, :, None] ** 2
                     + freq_half[None, None, :] ** 2)
    weight = np.where(radius < edge_low, 1.0, 0.0)
    ramp = (radius >= edge_low) & (radius <= edge_high)
    if edge_high > edge_low:
        weight[ramp] = 0.5 + 0.5 * np.cos(np.pi * (radius[ramp] - edge_low) / (edge_high - edge_low))
    return np.fft.irfftn(spectrum * weight, s=volume.shape, axes=tuple(range(volume.ndim))).astype(np.float32)


def choose_threshold(volume: np.ndarray, pixel_size: float, lowpass: float, diameter: float) -> float:
    """Threshold for ``volume`` (cubic, protein positive) as described in the module docstring."""
    if volume.ndim != 3 or len(set(volume.shape)) != 1:
        raise ValueError(f"expected a cubic 3D map, got shape {volume.shape}")
    filtered = relion_lowpass(volume.astype(np.float32), lowpass, pixel_size)
    size = volume.shape[0]
    grid = np.arange(size) - size // 2
    radius = np.sqrt(grid[:, None, None] ** 2 + grid[None, :, None] ** 2 + grid[None, None, :] ** 2)
    particle_radius = diameter / 2.0 / pixel_size
    inside = radius <= particle_radius
    solvent = (radius > particle_radius * SOLVENT_MARGIN) & (radius <= size / 2.0)
    if solvent.sum() < 100:  # box barely larger than the particle: use its corners
        solvent = radius > particle_radius
    if solvent.sum() < 10 or inside.sum() < 10:
        raise ValueError(
            f"box of {size} px cannot hold a particle of {diameter:g} Å at {pixel_size:g} Å/px "
            "with solvent around it"
        )
    solvent_mean = float(filtered[solvent].mean())
    solvent_sd = float(filtered[solvent].std())
    peak = float(np.percentile(filtered[inside], 99.5))
    above_noise = solvent_mean + SOLVENT_SIGMAS * solvent_sd
    above_ripples = solvent_mean + PEAK_FRACTION * (peak - solvent_mean)
    return max(above_noise, above_ripples)


def threshold_for_map(path: str | Path, lowpass: float, diameter: float) -> float:
    with mrcfile.open(path, permissive=True) as mrc:
        volume = np.asarray(mrc.data, dtype=np.float32)
        pixel_size = float(mrc.voxel_size.x)
    if pixel_size <= 0:
        raise ValueError(f"{path}: the MRC header has no voxel size")
    return choose_threshold(volume, pixel_size, lowpass, diameter)
