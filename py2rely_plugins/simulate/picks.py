"""What the picker wrote: the picks models of ``py2rely simulate --picks``.

* ``exact``: the true poses, plus ``--angle-error`` (one rotation of exactly that angle about a
  random axis per pick) and ``--position-error`` (s.d. per axis) when given.
* ``template-matching``: what a template-matching run (pytom-match-pick, Warp) gives on binned
  tomograms: positions off by about half a voxel of a 10 Å tomogram (s.d. 4 Å per axis, median
  6.1 Å in 3D), angles off by about half of a 7–15° search step (rotation vector with s.d. 5° per
  axis: median 7.7°, 90th percentile 12.5°), and 5 % of the picks matched upside down (a 180°
  rotation about a random axis), as pseudo-symmetric particles are.
* ``positions``: a segmentation or deep-learning picker: positions off by s.d. 6 Å per axis and
  no angles at all (the STAR says 0, 0, 0, which the pipeline reads as "no angles").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

PICK_MODELS = ("exact", "template-matching", "positions")


@dataclass(frozen=True)
class PickErrors:
    position_sd: float  # Å per axis
    angle_sd: float  # degrees per component of the rotation vector
    flipped_fraction: float  # share of picks rotated by 180° about a random axis
    angles: bool = True  # False: the picker gives no orientation


TEMPLATE_MATCHING = PickErrors(position_sd=4.0, angle_sd=5.0, flipped_fraction=0.05)
POSITIONS_ONLY = PickErrors(position_sd=6.0, angle_sd=0.0, flipped_fraction=0.0, angles=False)


def model_errors(model: str) -> PickErrors | None:
    """The fixed errors of a picks model (None for ``exact``, whose errors are the options)."""
    return {"template-matching": TEMPLATE_MATCHING, "positions": POSITIONS_ONLY}.get(model)


@dataclass(frozen=True)
class WrittenPicks:
    offsets: np.ndarray  # (n, 3) Å added to the true positions
    rotations: Rotation | None  # what the STAR says (None: no angles)
    flipped: np.ndarray  # (n,) bool: picks whose written orientation is upside down


def draw_picks(model: str, truth: Rotation, rng: np.random.Generator, angle_error: float,
               position_error: float) -> WrittenPicks:
    """The positions and orientations a picker of ``model`` writes for particles at ``truth``.

    Draw order is fixed per model (positions first), so a dataset does not change when another
    model is added.
    """
    count = len(truth)
    errors = model_errors(model)
    if errors is None:  # exact (with the optional fixed errors of --angle-error/--position-error)
        offsets = rng.normal(0.0, position_error, (count, 3))
        written = truth
        if angle_error:
            axes = rng.normal(size=(count, 3))
            axes /= np.linalg.norm(axes, axis=1, keepdims=True)
            written = Rotation.from_rotvec(axes * np.radians(angle_error)) * truth
        return WrittenPicks(offsets, written, np.zeros(count, dtype=bool))
    offsets = rng.normal(0.0, errors.position_sd, (count, 3))
    if not errors.angles:
        return WrittenPicks(offsets, None, np.zeros(count, dtype=bool))
    error = Rotation.from_rotvec(np.radians(rng.normal(0.0, errors.angle_sd, (count, 3))))
    flipped = rng.random(count) < errors.flipped_fraction
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    flip = Rotation.from_rotvec(axes * np.pi * flipped[:, None])
    # The flip is about an axis of the particle (applied first), the matching error after it.
    return WrittenPicks(offsets, error * truth * flip, flipped)


def describe(model: str) -> str:
    errors = model_errors(model)
    if errors is None:
        return "exact poses (plus --angle-error / --position-error)"
    if not errors.angles:
        return f"positions only (s.d. {errors.position_sd:g} Å per axis), no angles"
    return (f"template matching: positions s.d. {errors.position_sd:g} Å per axis, angles "
            f"s.d. {errors.angle_sd:g}° per axis, {errors.flipped_fraction:.0%} flipped")
