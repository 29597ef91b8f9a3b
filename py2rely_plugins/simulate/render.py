"""Tilt images: every particle projected in its full orientation, its CTF applied at its own depth,
RELION's exposure filter applied, pasted into the image; then noise.

Per particle and tilt: project the phantom (Fourier slice), pad it to a patch wide enough for the
CTF's delocalisation, multiply its transform by −CTF(defocus at the particle's depth) × dose weight
× the sub-pixel shift, transform back and add it to the image. The sign makes protein dark, as in
real data (RELION's tomography programs flip it back: ``flip_value`` in
reconstruct_particle.cpp).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft

from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.ctf import FourierGrid, Optics, ctf, dose_weight, electron_wavelength
from py2rely_plugins.simulate.geometry import particle_matrix, project_point, tilt_matrix
from py2rely_plugins.simulate.projector import Projector
from py2rely_plugins.simulate.scene import STREAM_NOISE, TiltSeries, rng_for


def patch_size(config: SimulationConfig, projection_size: int) -> int:
    """Side of the pasted patch: the projection plus the CTF's delocalisation on both sides.

    A CTF with defocus Δf moves signal of frequency k by λ·Δf·k; the phantom has none beyond
    1/phantom_resolution and defocus is at most defocus_max plus the depth term.
    """
    wavelength = electron_wavelength(Optics().voltage)
    depth = 0.5 * math.sqrt(2 * config.image_size**2 + config.thickness_px**2) * config.pixel_size
    defocus = config.defocus_max * 1e4 + 0.5 * config.astigmatism * 1e4 + depth + 4 * config.defocus_error
    k_max = min(1.0 / config.phantom_resolution, 0.5 / config.pixel_size)
    spread_px = wavelength * defocus * k_max / config.pixel_size
    return fft.next_fast_len(math.ceil(projection_size + 2 * spread_px + 8), real=True) // 2 * 2


@dataclass
class Patch:
    values: np.ndarray  # patch × patch
    top: int  # image row of the patch's first row
    left: int  # image column of the patch's first column
    offset: tuple[float, float]  # sub-pixel offset (x, y) of the particle centre from the patch centre


class Renderer:
    def __init__(self, config: SimulationConfig, projector: Projector, optics: Optics) -> None:
        self.config = config
        self.projector = projector
        self.optics = optics
        self.size = patch_size(config, projector.size)
        self.grid = FourierGrid(self.size, config.pixel_size)
        # Phase per pixel of shift (kx, ky are in 1/Å).
        self._phase_x = -2j * np.pi * self.grid.kx * config.pixel_size
        self._phase_y = -2j * np.pi * self.grid.ky * config.pixel_size

    def tilt_geometry(self, series: TiltSeries, tilt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tilt matrix, true shift in pixels, dose weight on the patch grid) of one tilt image."""
        row = series.tilts.iloc[tilt]
        angle = -row["angle"] if self.config.debug_negate_tilts else row["angle"]
        matrix = tilt_matrix(row["x_tilt"], angle, row["z_rot"])
        shift = np.array([row["shift_x"], row["shift_y"]]) / self.config.pixel_size
        return matrix, shift, dose_weight(self.grid.k, row["pre_exposure"])

    def patch(self, series: TiltSeries, tilt: int, pick: int,
              geometry: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Patch:
        """The noiseless image of one particle in one tilt image."""
        config = self.config
        matrix, shift, weight = geometry if geometry is not None else self.tilt_geometry(series, tilt)
        p = series.picks.iloc[pick]
        orientation = particle_matrix(p["rot"], p["tilt"], p["psi"], transpose=config.debug_transpose_euler)
        projection = self.projector.project(matrix @ orientation)
        position_px = np.array([p["x"], p["y"], p["z"]]) / config.pixel_size
        centre, depth = project_point(position_px, matrix, shift, config.image_size)
        row = series.tilts.iloc[tilt]
        # Tomogram::getCtf: both defoci grow by hand × pixel size × depth (depth in pixels).
        depth_defocus = config.hand * config.pixel_size * depth
        transfer = ctf(self.grid, self.optics, row["defocus_u"] + depth_defocus,
                       row["defocus_v"] + depth_defocus, row["defocus_angle"])
        integer = np.rint(centre)
        offset = centre - integer
        padded = np.zeros((self.size, self.size))
        lo = self.size // 2 - self.projector.size // 2
        padded[lo:lo + self.projector.size, lo:lo + self.projector.size] = projection
        spectrum = fft.rfft2(padded)
        # Shifting by the sub-pixel offset: f(x − d) ↔ F(k)·exp(−2πi k·d).
        spectrum *= (-transfer * weight) * (np.exp(self._phase_x[:1] * offset[0])
                                             * np.exp(self._phase_y[:, :1] * offset[1]))
        values = fft.irfft2(spectrum, s=(self.size, self.size))
        return Patch(values=values, top=int(integer[1]) - self.size // 2,
                     left=int(integer[0]) - self.size // 2, offset=(float(offset[0]), float(offset[1])))

    def footprint_variance(self, series: TiltSeries, tilt: int, pick: int) -> float:
        """Variance of one particle's noiseless image over its footprint (a disc of the particle
        diameter about its projected centre)."""
        patch = self.patch(series, tilt, pick)
        offsets = np.arange(self.size) - self.size // 2
        dx = offsets[None, :] - patch.offset[0]
        dy = offsets[:, None] - patch.offset[1]
        inside = dx**2 + dy**2 <= (0.5 * self.config.diameter_px) ** 2
        return float(np.var(patch.values[inside]))

    def image(self, series: TiltSeries, tilt: int) -> np.ndarray:
        """The noiseless tilt image: every real particle (decoys are empty positions)."""
        size = self.config.image_size
        image = np.zeros((size, size))
        geometry = self.tilt_geometry(series, tilt)
        for pick in np.flatnonzero(~series.picks["decoy"].to_numpy()):
            _paste(image, self.patch(series, tilt, int(pick), geometry))
        return image

    def stack(self, series: TiltSeries, series_index: int, noise_sigma: float,
              on_tilt: Callable[[], None] | None = None) -> np.ndarray:
        """All tilt images of a series, signal divided by ``noise_sigma`` plus unit-variance noise;
        ``on_tilt()`` is called after each image (progress)."""
        rng = rng_for(self.config, series_index, STREAM_NOISE)
        size = self.config.image_size
        out = np.empty((len(series.tilts), size, size), dtype=np.float32)
        for tilt in range(len(series.tilts)):
            signal = self.image(series, tilt) / noise_sigma
            out[tilt] = signal + rng.standard_normal((size, size))
            if on_tilt is not None:
                on_tilt()
        return out


def _paste(image: np.ndarray, patch: Patch) -> None:
    rows, cols = image.shape
    size = patch.values.shape[0]
    top, left = patch.top, patch.left
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + size, rows), min(left + size, cols)
    if r0 >= r1 or c0 >= c1:
        return
    image[r0:r1, c0:c1] += patch.values[r0 - top:r1 - top, c0 - left:c1 - left]
