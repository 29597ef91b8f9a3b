"""RELION 5 particle geometry ⇄ copick picks: tomogram centres, Euler angles, refined positions.

Conventions (RELION 5 source, ``src/jaz/tomography``):

* A tomogram's centre in tilt-series pixels is ``(X/2.0, Y/2.0, Z/2.0)`` with ``X, Y, Z`` the integer
  ``rlnTomoSizeX/Y/Z`` (``tomogram_set.cpp``: ``out.centre = d3Vector(w0/2.0, h0/2.0, d0/2.0)``).
  The integer division ``((int)w)/2`` in ``ParticleSet::getMatrix4x4`` is the centre of the particle
  *box*, not of the tomogram.
* ``ParticleSet::getMatrix4x4`` maps a point ``x_p`` of the reference box to the tomogram:
  ``x_tomo = pos + A·(x_p − c)`` with ``A = A_subtomogram · A_particle`` (``getMatrix3x3``), each factor
  RELION's Euler matrix of (rot, tilt, psi), which is
  ``Rotation.from_euler("ZYZ", (rot, tilt, psi), degrees=True).inv()`` in scipy's terms.
* ``ParticleSet::getPosition``: ``pos = centred/ps + centre − A_subtomogram · origin/ps`` in pixels.

A copick pick's transform maps the object frame to the tomogram frame, so its rotation part is
RELION's ``A`` itself; its location is ``pos`` in Å from the tomogram's corner (voxel 0).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from copick.util.relion import relion_rows_to_poses
from scipy.spatial.transform import Rotation

ANGLE_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
SUBTOMOGRAM_ANGLE_COLUMNS = ("rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi")
ORIGIN_COLUMNS = ("rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst")
CENTRED_COLUMNS = (
    "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst",
)

ROTATION_TOLERANCE = 1e-4  # how far a pick's 3×3 may be from a proper rotation (rounding in JSON)


def tomogram_centre_angstrom(size_pixels: np.ndarray, pixel_size: float | np.ndarray) -> np.ndarray:
    """Centre(s) in Å of tomograms of ``size_pixels`` (…, 3) unbinned tilt-series pixels."""
    size = np.asarray(size_pixels, dtype=float)
    return size / 2.0 * np.asarray(pixel_size, dtype=float)[..., None]


def relion_matrices(angles_deg: np.ndarray) -> np.ndarray:
    """RELION's Euler matrices (N, 3, 3) for (rot, tilt, psi) rows in degrees."""
    angles = np.asarray(angles_deg, dtype=float).reshape(-1, 3)
    return Rotation.from_euler("ZYZ", angles, degrees=True).inv().as_matrix().reshape(-1, 3, 3)


def relion_angles(matrices: np.ndarray) -> np.ndarray:
    """(rot, tilt, psi) in degrees (N, 3) whose RELION matrices are ``matrices`` (N, 3, 3)."""
    return Rotation.from_matrix(np.asarray(matrices, dtype=float)).inv().as_euler("ZYZ", degrees=True)


def improper_rotations(matrices: np.ndarray) -> np.ndarray:
    """Indices of 3×3 matrices that are not proper rotations (orthonormal, determinant +1)."""
    matrices = np.asarray(matrices, dtype=float).reshape(-1, 3, 3)
    gram = np.einsum("nji,njk->nik", matrices, matrices)
    off = np.abs(gram - np.eye(3)).reshape(len(matrices), -1).max(axis=1)
    det = np.linalg.det(matrices)
    return np.flatnonzero((off > ROTATION_TOLERANCE) | (np.abs(det - 1.0) > ROTATION_TOLERANCE))


def refined_poses(particles: pd.DataFrame, centres_angstrom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 3) in Å from the tomogram corner and rotations (N, 3, 3), as RELION places them.

    ``centres_angstrom`` holds each particle's tomogram centre. Columns that are absent count as zero
    shifts and zero angles, as in RELION. copick's ``relion_rows_to_poses`` composes
    ``A_subtomogram · A_particle`` and rotates the origins by ``A_subtomogram`` exactly as
    ``ParticleSet::getMatrix3x3``/``getPosition`` do, so it is used as is.
    """
    rotations, offsets = relion_rows_to_poses(particles)
    centred = particles[list(CENTRED_COLUMNS)].to_numpy(dtype=float)
    return centred + centres_angstrom - offsets, rotations


def transforms_from_rotations(rotations: np.ndarray) -> np.ndarray:
    """copick 4×4 transforms with these rotations and no translation (the location is the position)."""
    rotations = np.asarray(rotations, dtype=float).reshape(-1, 3, 3)
    transforms = np.zeros((len(rotations), 4, 4))
    transforms[:, :3, :3] = rotations
    transforms[:, 3, 3] = 1.0
    return transforms
