"""The hand of a map checked against a map whose hand is known (an EMDB map, a map from a PDB
model), and the mirror image written when it has the other one.

A de novo model cannot know its hand from the particles alone; a reference of known hand can
tell: after the best rotation and shift of each, either the reference or its mirror image fits
the map better. The margin keeps a map too featureless to tell from being called by noise. In
tomography the tilt series then set the hand of the refined map (a mirror image fits the tilt
images only with the tilt angles negated), so a final map of the mirror hand means the
tilt-series geometry is mirrored (docs/pipelines-sta.md, "De novo and the hand").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from py2rely_core.atomic import atomic_path
from py2rely_plugins.relion5.sta.map_compare import on_grid, read_map
from py2rely_plugins.relion5.sta.template import write_template
from py2rely_plugins.relion5.sta.truth import align, mirrored

# Correlations (masked, after the best fit) closer than this do not decide the hand.
HAND_MARGIN = 0.02
RECORD = "hand_check.json"


def flipped_name(map_name: str) -> str:
    """Where a map's mirror image is written, beside it: postprocess.mrc →
    postprocess_hand_flipped.mrc."""
    stem = map_name[:-4] if map_name.endswith(".mrc") else map_name
    return f"{stem}_hand_flipped.mrc"


@dataclass(frozen=True)
class HandCheck:
    reference: str
    correlation: float  # the reference, best fit
    mirror_correlation: float  # the reference's mirror image, best fit

    @property
    def decided(self) -> bool:
        return abs(self.correlation - self.mirror_correlation) >= HAND_MARGIN

    @property
    def flip(self) -> bool:
        return self.decided and self.mirror_correlation > self.correlation

    def summary(self) -> str:
        figures = (f"correlation {self.correlation:.3f}, its mirror image "
                   f"{self.mirror_correlation:.3f}")
        if not self.decided:
            return f"hand undetermined against {self.reference} ({figures}; closer than {HAND_MARGIN})"
        return f"{'mirror hand' if self.flip else 'hand'} of {self.reference} ({figures})"


def check_hand(map_path: Path, reference_path: Path, diameter: float, label: str) -> HandCheck:
    """Fit ``reference_path`` and its mirror image to the map at ``map_path``, on the coarser of
    the two grids (their pixel sizes an integer ratio apart, as binnings are: the hand reference
    is at the first binning, a final map at the last)."""
    volume, pixel = read_map(map_path)
    reference, reference_pixel = read_map(reference_path)
    if pixel < reference_pixel:
        volume, pixel = on_grid(volume, pixel, reference_pixel, reference.shape[0]), reference_pixel
    elif pixel > reference_pixel:
        reference = on_grid(reference, reference_pixel, pixel, volume.shape[0])
    radius = diameter / 2.0 / pixel
    _, _, correlation = align(volume, reference, radius)
    _, _, mirror_correlation = align(volume, mirrored(reference), radius)
    return HandCheck(label, round(correlation, 4), round(mirror_correlation, 4))


def write_mirror_image(map_path: Path, output: Path) -> None:
    """The map's mirror image (through the plane z = centre), same voxel size."""
    volume, pixel = read_map(map_path)
    write_template(mirrored(volume), output, pixel, label=f"mirror image of {map_path.name}")


def record_check(job_dir: Path, check: HandCheck) -> None:
    """``job_dir/hand_check.json``: the check's figures beside the map they are about."""
    with atomic_path(job_dir / RECORD) as temporary:
        temporary.write_text(json.dumps({**asdict(check), "mirror_hand": check.flip}, indent=2) + "\n")


def settle_hand(job_dir: Path, map_name: str, reference_path: Path, diameter: float,
                label: str) -> tuple[str, HandCheck]:
    """The map of ``job_dir`` with the reference's hand: its own, or its mirror image written
    beside it; the check is recorded in the job directory."""
    check = check_hand(job_dir / map_name, reference_path, diameter, label)
    record_check(job_dir, check)
    if not check.flip:
        return map_name, check
    write_mirror_image(job_dir / map_name, job_dir / flipped_name(map_name))
    return flipped_name(map_name), check
