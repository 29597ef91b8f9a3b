"""RELION 5's tomography geometry, in one place, with rotations from scipy.

Read from RELION 5.1's source (github.com/3dem/relion):
- ``Tomogram::setProjectionMatrix`` (src/jaz/tomography/tomogram.cpp): a tomogram point ``x``
  (pixels) appears in tilt image ``f`` at
  ``Rz(rlnTomoZRot) · Ry(rlnTomoYTilt) · Rx(rlnTomoXTilt) · (x − int(size/2)) + int(image/2) +
  (rlnTomoXShiftAngst, rlnTomoYShiftAngst) / pixel size``; the rotations are gravis'
  ``rotation(axis, degrees)``, active and right-handed; the third row is the depth used for the
  depth-dependent defocus (``Tomogram::getDepthOffset``).
- ``ParticleSet::getMatrix4x4`` / ``getPosition`` (particle_set.cpp): a point ``p`` of the
  reference box (centre ``box//2``) lands at ``x = pos + A · (p − box//2)``, with
  ``A = Euler::anglesToMatrix3(rot, tilt, psi)`` (RELION's ZYZ matrix) and
  ``pos = rlnCenteredCoordinate{X,Y,Z}Angst / pixel size + size/2``.
RELION's ZYZ matrix is the transpose of scipy's intrinsic "ZYZ" rotation (tested against the
source formula in tests/test_simulate_geometry.py).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def tilt_matrix(x_tilt: float, y_tilt: float, z_rot: float) -> np.ndarray:
    """Rz(z_rot) · Ry(y_tilt) · Rx(x_tilt) (degrees): tomogram axes → tilt image x, y, depth."""
    return Rotation.from_euler("ZYX", [z_rot, y_tilt, x_tilt], degrees=True).as_matrix()


def particle_matrix(rot: float, tilt: float, psi: float, transpose: bool = False) -> np.ndarray:
    """RELION's A(rot, tilt, psi): particle box axes → tomogram axes.

    ``transpose`` gives the classic mistake (scipy's matrix as it is) for a test-only switch.
    """
    matrix = Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix()
    return matrix if transpose else matrix.T


def relion_angles(rotation: Rotation) -> tuple[float, float, float]:
    """(rot, tilt, psi) in degrees such that ``particle_matrix(rot, tilt, psi)`` is rotation's matrix."""
    # particle_matrix is scipy's ZYZ matrix transposed, i.e. of the inverse rotation.
    rot, tilt, psi = rotation.inv().as_euler("ZYZ", degrees=True)
    return float(rot), float(tilt), float(psi)


def project_point(
    position_px: np.ndarray, tilt: np.ndarray, shift_px: np.ndarray, image_size: int
) -> tuple[np.ndarray, float]:
    """Image position (x, y in pixels) and depth (pixels) of a tomogram point given relative to the
    tomogram centre."""
    rotated = tilt @ position_px
    centre = image_size // 2
    return rotated[:2] + centre + shift_px, float(rotated[2])


def dose_symmetric_order(angles: list[float]) -> list[int]:
    """Acquisition rank of each tilt in a dose-symmetric scheme (Hagen et al. 2017): the tilt
    nearest 0° first, then groups of two on alternating sides (+1, −1, −2, +2, +3, −3, ...)."""
    angles_arr = np.asarray(angles, dtype=float)
    start = int(np.argmin(np.abs(angles_arr)))
    positive = list(range(start + 1, len(angles)))
    negative = list(range(start - 1, -1, -1))
    order = [start, *positive[:1]]
    positive = positive[1:]
    side = negative
    while positive or negative:
        # Two from one side, then two from the other; a side that has run out is skipped.
        taken = side[:2]
        del side[:2]
        order.extend(taken)
        side = positive if side is negative else negative
    rank = np.empty(len(angles), dtype=int)
    rank[np.asarray(order)] = np.arange(len(angles))
    return rank.tolist()
