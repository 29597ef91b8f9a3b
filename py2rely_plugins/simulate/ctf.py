"""RELION's CTF and exposure (dose) weighting, as its tomography programs apply them.

From RELION 5.1's source: ``CTF::initialise`` / ``CTF::getCTF`` (src/ctf.cpp, src/ctf.h):
``CTF = -sin(γ) · scale``, ``γ = −π λ Δf(φ) k² + (π/2) Cs λ³ k⁴ − atan(Q0/√(1−Q0²))`` with
``λ = 12.2643247 / √(V (1 + 0.978466e-6 V))`` Å and ``Δf(φ)`` the defocus along azimuth ``φ``
(DefocusU along rlnDefocusAngle). ``Tomogram::getCtf`` adds
``rlnTomoHand × pixel size × depth`` (depth in pixels, ``Tomogram::getDepthOffset``) to DefocusU
and DefocusV for a particle. ``Damage::weightImage`` (src/jaz/optics/damage.cpp) weights each tilt
by ``exp(−0.5 · pre-exposure / (0.245 k^−1.665 + 2.81))`` (Grant & Grigorieff 2015, k in 1/Å),
using rlnMicrographPreExposure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def electron_wavelength(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å, as RELION computes it."""
    volts = voltage_kv * 1e3
    return 12.2643247 / math.sqrt(volts * (1.0 + volts * 0.978466e-6))


def dose_weight(frequency: np.ndarray, pre_exposure: float) -> np.ndarray:
    """RELION's exposure filter at spatial frequency ``frequency`` (1/Å); 1 at k = 0."""
    with np.errstate(divide="ignore"):
        critical = 0.245 * np.power(frequency, -1.665) + 2.81
    return np.exp(-0.5 * pre_exposure / critical)


@dataclass(frozen=True)
class Optics:
    voltage: float = 300.0  # kV
    cs: float = 2.7  # mm
    amplitude_contrast: float = 0.1


class FourierGrid:
    """Frequencies of a ``size``² image's rfft2 (rows ky, columns kx), in 1/Å."""

    def __init__(self, size: int, pixel_size: float) -> None:
        self.size = size
        self.pixel_size = pixel_size
        ky = np.fft.fftfreq(size, d=pixel_size)[:, None]
        kx = np.fft.rfftfreq(size, d=pixel_size)[None, :]
        self.kx = np.broadcast_to(kx, (size, size // 2 + 1))
        self.ky = np.broadcast_to(ky, (size, size // 2 + 1))
        self.k2 = kx**2 + ky**2
        self.k = np.sqrt(self.k2)
        azimuth = np.arctan2(ky, kx)
        self.cos2 = np.cos(2 * azimuth)
        self.sin2 = np.sin(2 * azimuth)


def ctf(
    grid: FourierGrid, optics: Optics, defocus_u: float, defocus_v: float, angle: float,
    scale: float = 1.0,
) -> np.ndarray:
    """RELION's CTF on ``grid`` for defoci in Å (positive = underfocus) and azimuth in degrees."""
    wavelength = electron_wavelength(optics.voltage)
    cs = optics.cs * 1e7  # mm → Å
    q0 = optics.amplitude_contrast
    mean = 0.5 * (defocus_u + defocus_v)
    half_difference = 0.5 * (defocus_u - defocus_v)
    alpha = math.radians(2 * angle)
    # cos(2(φ − α)) expanded so the per-pixel azimuth terms are computed once per grid.
    defocus = mean + half_difference * (grid.cos2 * math.cos(alpha) + grid.sin2 * math.sin(alpha))
    gamma = (-math.pi * wavelength * defocus * grid.k2
             + 0.5 * math.pi * cs * wavelength**3 * grid.k2**2
             - math.atan(q0 / math.sqrt(1 - q0 * q0)))
    return -np.sin(gamma) * scale
