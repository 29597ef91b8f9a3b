"""A chiral phantom particle: solid balls, an ellipsoid and rods in a right-handed arrangement,
low-passed, with Cn or Dn symmetry about RELION's symmetry axes (n-fold along z, the Dn two-fold
along x: ``Symmetry`` in src/symmetries.cpp).

Its mirror image differs from any rotation of it, so a hand error or a wrong Euler convention
shows in an FSC against it at low resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

Shape = Callable[[np.ndarray], np.ndarray]  # points (..., 3) in units of the radius → inside?


@dataclass(frozen=True)
class Ball:
    centre: tuple[float, float, float]
    radius: float

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.sum((p - np.asarray(self.centre)) ** 2, axis=-1) <= self.radius**2


@dataclass(frozen=True)
class Rod:
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius: float

    def __call__(self, p: np.ndarray) -> np.ndarray:
        a, b = np.asarray(self.start), np.asarray(self.end)
        axis = b - a
        t = np.clip(((p - a) @ axis) / (axis @ axis), 0.0, 1.0)
        nearest = a + t[..., None] * axis
        return np.sum((p - nearest) ** 2, axis=-1) <= self.radius**2


@dataclass(frozen=True)
class Ellipsoid:
    centre: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    rotation_z: float  # degrees

    def __call__(self, p: np.ndarray) -> np.ndarray:
        local = (p - np.asarray(self.centre)) @ Rotation.from_euler(
            "z", self.rotation_z, degrees=True).as_matrix()
        return np.sum((local / np.asarray(self.semi_axes)) ** 2, axis=-1) <= 1.0


def _helix(n: int, radius: float, start_angle: float, step_angle: float, z0: float, rise: float,
           sizes: list[float]) -> list[Shape]:
    """Balls on a right-handed helix about z (z grows with the angle)."""
    shapes: list[Shape] = []
    for i in range(n):
        angle = np.radians(start_angle + i * step_angle)
        shapes.append(Ball((radius * np.cos(angle), radius * np.sin(angle), z0 + i * rise), sizes[i]))
    return shapes


def asymmetric_shapes() -> list[Shape]:
    """The C1 phantom, in units of the particle radius (all parts inside 0.9)."""
    return [
        Ellipsoid((-0.1, 0.05, -0.3), (0.5, 0.32, 0.28), rotation_z=25.0),
        *_helix(4, radius=0.5, start_angle=-40.0, step_angle=95.0, z0=-0.15, rise=0.22,
                sizes=[0.22, 0.19, 0.16, 0.13]),
        Rod((0.2, -0.55, -0.45), (-0.3, -0.35, 0.5), radius=0.1),
        Rod((-0.55, 0.15, -0.1), (-0.45, 0.45, 0.3), radius=0.08),
    ]


def symmetric_unit_shapes(kind: str, order: int) -> list[Shape]:
    """One asymmetric unit of a Cn/Dn phantom (before the symmetry copies), off the symmetry axes,
    plus a central core that already has the symmetry."""
    half = np.pi / order  # half the angular width of one unit
    r = 0.52
    z_low = 0.05 if kind == "D" else -0.45  # Dn: the two-fold about x maps z to −z
    # A short right-handed helix of shrinking balls and a slanted rod inside the unit's wedge.
    ball = min(0.2, 0.8 * r * np.sin(half))
    unit: list[Shape] = _helix(
        3, radius=r, start_angle=-0.5 * np.degrees(half), step_angle=0.5 * np.degrees(half),
        z0=z_low + 0.12, rise=0.2, sizes=[ball, 0.85 * ball, 0.7 * ball])
    a = (0.3 * np.cos(-0.6 * half), 0.3 * np.sin(-0.6 * half), z_low + 0.05)
    b = (0.75 * np.cos(0.5 * half), 0.75 * np.sin(0.5 * half), z_low + 0.55)
    unit.append(Rod(a, b, radius=min(0.08, 0.5 * ball)))
    core_height = 0.3 if kind == "D" else 0.45
    unit.append(Rod((0.0, 0.0, -core_height), (0.0, 0.0, core_height), radius=0.18))
    return unit


def symmetry_rotations(kind: str, order: int) -> list[np.ndarray]:
    """The point group's rotation matrices, RELION's axes."""
    turns = [Rotation.from_euler("z", 360.0 * i / order, degrees=True) for i in range(order)]
    if kind == "D":
        flip = Rotation.from_euler("x", 180.0, degrees=True)
        turns = turns + [flip * t for t in turns]
    return [t.as_matrix() for t in turns]


def rasterise(shapes: list[Shape], rotations: list[np.ndarray], box: int, radius_px: float) -> np.ndarray:
    """1 where any symmetry copy of any shape is, else 0; box centre voxel box//2."""
    offsets = (np.arange(box) - box // 2) / radius_px
    z, y, x = np.meshgrid(offsets, offsets, offsets, indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    inside = np.zeros((box, box, box), dtype=bool)
    for rotation in rotations:
        # A copy rotated by R contains p when the original contains Rᵀp.
        local = points @ rotation
        for shape in shapes:
            inside |= shape(local)
    return inside.astype(np.float64)


def low_pass(volume: np.ndarray, pixel_size: float, resolution: float) -> np.ndarray:
    """Raised-cosine low-pass: 1 below 0.8/resolution, 0 from 1/resolution on (1/Å)."""
    box = volume.shape[0]
    k = np.fft.fftfreq(box, d=pixel_size)
    kr = np.fft.rfftfreq(box, d=pixel_size)
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + kr[None, None, :] ** 2)
    lo, hi = 0.8 / resolution, 1.0 / resolution
    response = np.clip((hi - radius) / (hi - lo), 0.0, 1.0)
    response = 0.5 - 0.5 * np.cos(np.pi * response)
    return np.fft.irfftn(np.fft.rfftn(volume) * response, s=volume.shape, axes=(0, 1, 2))


def build_phantom(
    box: int, pixel_size: float, diameter: float, symmetry: tuple[str, int], resolution: float,
    mirror: bool = False,
) -> np.ndarray:
    """The phantom map (box³, density 1 in solid parts before the low-pass), centre voxel box//2.

    ``mirror`` gives the enantiomer (z → −z about the centre), for a test-only control.
    """
    kind, order = symmetry
    radius_px = 0.5 * diameter / pixel_size
    shapes = asymmetric_shapes() if (kind, order) == ("C", 1) else symmetric_unit_shapes(kind, order)
    volume = low_pass(rasterise(shapes, symmetry_rotations(kind, order), box, radius_px),
                      pixel_size, resolution)
    # Nothing outside the particle sphere, so a projection box of diameter + margin holds it all.
    offsets = np.arange(box) - box // 2
    r = np.sqrt(offsets[:, None, None] ** 2 + offsets[None, :, None] ** 2 + offsets[None, None, :] ** 2)
    edge = 3.0
    mask = np.clip((radius_px + 1.0 + edge - r) / edge, 0.0, 1.0)
    volume = volume * (0.5 - 0.5 * np.cos(np.pi * mask))
    if mirror:
        mirrored = np.zeros_like(volume)
        # Voxel z ↦ 2·(box//2) − z keeps the centre voxel fixed.
        mirrored[1:] = volume[:0:-1]
        volume = mirrored
    return volume.astype(np.float32)


def support_radius_px(diameter: float, pixel_size: float) -> float:
    """Radius (pixels) outside which build_phantom's map is zero."""
    return 0.5 * diameter / pixel_size + 4.0
