"""Fourier shell correlation between two cubic maps, and the resolution where it crosses a threshold.

Shell ``i`` holds the Fourier voxels whose radius (in voxels of frequency) rounds to ``i``; its
resolution is ``box * pixel_size / i`` Å. All voxels of the full (not half) transform are counted,
so ``n_voxels`` is the number a 1/sqrt(n) noise estimate should use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_NO_POWER = 1e-20  # shell power below this fraction of a map's total is treated as zero

@dataclass(frozen=True)
class FscCurve:
    fsc: np.ndarray  # one value per shell, shell 0 (the mean) included
    n_voxels: np.ndarray  # Fourier voxels per shell
    box: int
    pixel_size: float  # Å

    @property
    def shells(self) -> np.ndarray:
        return np.arange(len(self.fsc))

    @property
    def frequency(self) -> np.ndarray:
        """Spatial frequency of each shell in 1/Å."""
        return self.shells / (self.box * self.pixel_size)

    @property
    def resolution(self) -> np.ndarray:
        """Resolution of each shell in Å (inf for shell 0)."""
        with np.errstate(divide="ignore"):
            return 1.0 / self.frequency

    def resolution_at(self, threshold: float) -> float:
        return resolution_at(self, threshold)

    def value_at(self, resolution: float) -> float:
        """FSC interpolated linearly in frequency at ``resolution`` Å."""
        return float(np.interp(1.0 / resolution, self.frequency, self.fsc))


def _check_pair(map1: np.ndarray, map2: np.ndarray) -> None:
    if map1.shape != map2.shape:
        raise ValueError(f"maps differ in shape: {map1.shape} vs {map2.shape}")
    if map1.ndim != 3 or len(set(map1.shape)) != 1:
        raise ValueError(f"maps must be cubic 3D arrays, got shape {map1.shape}")


def shell_index(box: int) -> np.ndarray:
    """Shell number of every voxel of an unshifted ``box``³ FFT (radius rounded to the nearest int)."""
    k = np.fft.fftfreq(box) * box
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return np.rint(radius).astype(np.int64)


def fsc(
    map1: np.ndarray, map2: np.ndarray, pixel_size: float, mask: np.ndarray | None = None
) -> FscCurve:
    """FSC of two maps (optionally both multiplied by ``mask``), shells 0 .. box//2."""
    map1 = np.asarray(map1, dtype=np.float64)
    map2 = np.asarray(map2, dtype=np.float64)
    _check_pair(map1, map2)
    if mask is not None:
        map1 = map1 * mask
        map2 = map2 * mask
    box = map1.shape[0]
    f1 = np.fft.fftn(map1)
    f2 = np.fft.fftn(map2)
    shells = shell_index(box).ravel()
    n_shells = box // 2 + 1
    keep = shells < n_shells
    shells = shells[keep]
    cross = np.bincount(shells, (f1 * np.conj(f2)).real.ravel()[keep], minlength=n_shells)
    power1 = np.bincount(shells, (np.abs(f1) ** 2).ravel()[keep], minlength=n_shells)
    power2 = np.bincount(shells, (np.abs(f2) ** 2).ravel()[keep], minlength=n_shells)
    counts = np.bincount(shells, minlength=n_shells)
    denominator = np.sqrt(power1 * power2)
    # A shell with no power in either map (rounding errors of a filter that removed it count as
    # none) correlates with nothing: report 0, not NaN or the correlation of rounding noise.
    floor = _NO_POWER * max(power1.sum(), power2.sum())
    has_power = (power1 > floor) & (power2 > floor)
    values = np.divide(cross, denominator, out=np.zeros(n_shells), where=has_power)
    return FscCurve(fsc=values, n_voxels=counts, box=box, pixel_size=float(pixel_size))


def resolution_at(curve: FscCurve, threshold: float) -> float:
    """Resolution (Å) where the FSC first falls below ``threshold``, linear in frequency between the
    last shell at or above it and the first shell below it.

    Shell 0 is not a test of anything (two maps with the same sign of mean agree there), so the
    search starts at shell 1; if shell 1 is already below, the crossing is interpolated from shell
    0. Returns inf if even shell 0 is below the threshold, and the Nyquist resolution
    (2 × pixel size) if no shell falls below it.
    """
    values = curve.fsc
    freq = curve.frequency
    below = np.flatnonzero(values[1:] < threshold)
    if below.size == 0:
        return 2.0 * curve.pixel_size
    i = int(below[0]) + 1
    hi, lo = values[i - 1], values[i]
    if hi < threshold:
        return math.inf
    t = (hi - threshold) / (hi - lo)
    crossing = freq[i - 1] + t * (freq[i] - freq[i - 1])
    return math.inf if crossing <= 0 else float(1.0 / crossing)


def soft_sphere_mask(box: int, radius: float, edge: float = 5.0) -> np.ndarray:
    """A sphere of ``radius`` voxels about voxel box//2 (RELION's centre), with a raised-cosine edge
    ``edge`` voxels wide outside it."""
    if radius <= 0 or edge < 0:
        raise ValueError(f"radius must be > 0 and edge >= 0 (got {radius}, {edge})")
    x = np.arange(box) - box // 2
    r = np.sqrt(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2)
    mask = np.zeros((box, box, box))
    mask[r <= radius] = 1.0
    if edge > 0:
        ramp = (r > radius) & (r < radius + edge)
        mask[ramp] = 0.5 + 0.5 * np.cos(np.pi * (r[ramp] - radius) / edge)
    return mask


def fourier_crop(volume: np.ndarray, box: int) -> np.ndarray:
    """Downsample a cubic map to ``box``³ by keeping its central Fourier components; the centre voxel
    N//2 maps to box//2 and the mean is preserved."""
    volume = np.asarray(volume, dtype=np.float64)
    size = volume.shape[0]
    if volume.ndim != 3 or len(set(volume.shape)) != 1:
        raise ValueError(f"expected a cubic 3D map, got shape {volume.shape}")
    if box > size:
        raise ValueError(f"cannot Fourier-crop a {size}³ map to a larger box {box}")
    if box == size:
        return volume.copy()
    # ifftshift puts voxel size//2 at the origin, so phases refer to RELION's centre.
    spectrum = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(volume)))
    start = size // 2 - box // 2
    cropped = spectrum[start:start + box, start:start + box, start:start + box]
    out = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(cropped))).real
    return out * (box / size) ** 3
