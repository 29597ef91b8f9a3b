"""What the imported picks tell the pipeline before any job runs: whether they carry orientations.

Template-matching picks (pytom-match-pick, Warp) have angles within about the template search
step; segmentation or deep-learning pickers and manual picks have none. RELION reads a missing
angle as 0, and pickers without orientations write 0, 0, 0: picks whose angles are all zero (or
absent) are positions only, and their first alignment has to search all orientations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from py2rely_core.star import read_star

ANGLE_COLUMNS = ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")
ZERO_DEGREES = 1e-6


def picks_have_angles(particles_star: str | Path) -> bool:
    """True when at least one pick of the particles STAR has a non-zero orientation."""
    table = read_star(particles_star).get("particles")
    if table is None or not all(column in table.columns for column in ANGLE_COLUMNS):
        return False
    angles = table[list(ANGLE_COLUMNS)].to_numpy(dtype=float)
    return bool(np.any(np.abs(angles) > ZERO_DEGREES))
