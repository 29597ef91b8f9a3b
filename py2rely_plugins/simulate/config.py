"""Every parameter of a simulated dataset, validated with one-line errors, and what follows from it.

Distances are in Å, defocus in µm, angles in degrees, doses in e/Å²; pixels only where a size is
an image or box size.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.symmetry import normalise_symmetry
from py2rely_plugins.simulate.picks import PICK_MODELS

DEBUG_SWITCHES = ("debug_negate_tilts", "debug_mirror_phantom", "debug_transpose_euler")
_GROUP = re.compile(r"^(?P<kind>[CD])(?P<order>[0-9]+)$")


@dataclass(frozen=True)
class SimulationConfig:
    tilt_series: int = 2
    particles: int = 40  # per tilt series (decoys come on top)
    tilt_range: float = 60.0  # tilts from -range to +range
    tilt_step: float = 3.0
    pixel_size: float = 2.5  # tilt-series pixel size, Å
    image_size: int = 512  # square tilt images, pixels
    thickness: float = 400.0  # slab (and tomogram) thickness, Å
    particle_diameter: float = 160.0  # Å
    box: int = 0  # phantom box in pixels; 0: the smallest multiple of 8 >= 2 × diameter
    symmetry: str = "C1"
    snr: float = 0.2  # see docs/simulate.md: footprint signal variance / noise variance
    decoy_fraction: float = 0.0  # fraction of all picks that are decoys
    defocus_min: float = 2.0  # µm, per tilt series (uniform between min and max)
    defocus_max: float = 4.0
    astigmatism: float = 0.02  # µm, DefocusU - DefocusV
    dose_per_tilt: float = 3.0  # e/Å², dose-symmetric order from 0°
    tilt_axis: float = 85.0  # rlnTomoZRot, degrees
    x_tilt: float = 0.0  # rlnTomoXTilt of every tilt, degrees
    shift_sigma: float = 10.0  # Å, spread of the true per-tilt alignment shifts
    phantom_resolution: float = 8.0  # Å, the phantom has no signal beyond 1/this
    hand: int = 1  # rlnTomoHand, and the sign of the depth-dependent defocus that is simulated
    defocus_error: float = 0.0  # Å, s.d. of per-tilt errors written into the STAR defocus
    shift_error: float = 0.0  # Å, s.d. of per-tilt errors written into the STAR shifts (per axis)
    angle_error: float = 0.0  # degrees, rotation between true and written particle orientations
    position_error: float = 0.0  # Å, s.d. per axis of errors in the written particle positions
    picks: str = "exact"  # what the picker wrote: exact | template-matching | positions (picks.py)
    seed: int = 0
    # Test-only switches that make the simulation disagree with what the STAR files say, so the
    # tests can show that they detect it. Never set them for a real dataset.
    debug_negate_tilts: bool = False  # project with −rlnTomoYTilt (a projection of the wrong hand)
    debug_mirror_phantom: bool = False  # project the enantiomer at the written poses
    debug_transpose_euler: bool = False  # use R instead of R^T for the particle orientations

    # ---- derived values -----------------------------------------------------------------------
    @property
    def diameter_px(self) -> float:
        return self.particle_diameter / self.pixel_size

    @property
    def box_px(self) -> int:
        if self.box:
            return self.box
        return math.ceil(2.0 * self.diameter_px / 8.0) * 8

    @property
    def thickness_px(self) -> int:
        """rlnTomoSizeZ: the slab thickness in pixels, rounded up to an even number."""
        return 2 * math.ceil(self.thickness / self.pixel_size / 2.0)

    @property
    def tilt_angles(self) -> list[float]:
        steps = math.floor(self.tilt_range / self.tilt_step + 1e-9)
        return [round(i * self.tilt_step, 6) for i in range(-steps, steps + 1)]

    @property
    def symmetry_group(self) -> tuple[str, int]:
        match = _GROUP.match(self.symmetry)
        assert match is not None  # validated
        return match.group("kind"), int(match.group("order"))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in DEBUG_SWITCHES:
            if not data[key]:
                del data[key]
        return data

    # ---- validation ---------------------------------------------------------------------------
    def validated(self) -> SimulationConfig:
        """This configuration with the symmetry normalised; InputError naming the option if not valid."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InputError(f"--{item.name.replace('_', '-')}", f"{value}", "a finite number")
        _at_least("--tilt-series", self.tilt_series, 1)
        _at_most("--tilt-series", self.tilt_series, 99)
        _at_least("--particles", self.particles, 1)
        _positive("--tilt-step", self.tilt_step)
        if not 0 < self.tilt_range <= 80:
            raise InputError("--tilt-range", f"{self.tilt_range:g}° is out of range", "0 < range <= 80")
        if len(self.tilt_angles) < 3:
            raise InputError("--tilt-step", f"{self.tilt_step:g}° leaves fewer than 3 tilts in "
                             f"±{self.tilt_range:g}°")
        _positive("--pixel-size", self.pixel_size)
        if self.image_size < 64 or self.image_size % 2:
            raise InputError("--image-size", f"{self.image_size} px", "an even number >= 64")
        _positive("--particle-diameter", self.particle_diameter)
        if self.diameter_px < 8:
            raise InputError("--particle-diameter", f"{self.particle_diameter:g} Å is only "
                             f"{self.diameter_px:.1f} px at {self.pixel_size:g} Å/px", "at least 8 px")
        if self.diameter_px > 0.5 * self.image_size:
            raise InputError("--particle-diameter", f"{self.particle_diameter:g} Å is more than half "
                             f"the image ({self.image_size} px × {self.pixel_size:g} Å)")
        if self.box and (self.box % 2 or self.box < self.diameter_px + 8):
            raise InputError("--box", f"{self.box} px", f"an even number >= diameter + 8 px "
                             f"({math.ceil(self.diameter_px + 8)})")
        if self.box_px > 256:
            raise InputError("--box", f"{self.box_px} px is larger than this simulator supports",
                             "at most 256 px (use a larger pixel size)")
        if self.thickness < 1.1 * self.particle_diameter:
            raise InputError("--thickness", f"{self.thickness:g} Å is thinner than 1.1 × the "
                             f"particle diameter ({self.particle_diameter:g} Å)")
        if self.thickness_px > 4 * self.image_size:
            raise InputError("--thickness", f"{self.thickness:g} Å is more than 4 × the image width")
        try:
            symmetry = normalise_symmetry(self.symmetry)
        except ValueError as exc:
            raise InputError("--symmetry", str(exc)) from None
        if not _GROUP.match(symmetry):
            raise InputError("--symmetry", f"{symmetry} phantoms are not supported", "C<n> or D<n>")
        _positive("--snr", self.snr)
        if not 0 <= self.decoy_fraction < 0.9:
            raise InputError("--decoy-fraction", f"{self.decoy_fraction:g}", "0 <= fraction < 0.9")
        _positive("--defocus-min", self.defocus_min)
        if self.defocus_max < self.defocus_min:
            raise InputError("--defocus-max", f"{self.defocus_max:g} µm is below --defocus-min "
                             f"{self.defocus_min:g} µm")
        if self.defocus_max > 20:
            raise InputError("--defocus-max", f"{self.defocus_max:g} µm", "at most 20 µm")
        _non_negative("--astigmatism", self.astigmatism)
        if self.astigmatism / 2 >= self.defocus_min:
            raise InputError("--astigmatism", f"{self.astigmatism:g} µm", "less than 2 × --defocus-min")
        _non_negative("--dose-per-tilt", self.dose_per_tilt)
        _non_negative("--shift-sigma", self.shift_sigma)
        nyquist = 2.0 * self.pixel_size
        if self.phantom_resolution < nyquist:
            raise InputError("--phantom-resolution", f"{self.phantom_resolution:g} Å is beyond Nyquist "
                             f"({nyquist:g} Å at {self.pixel_size:g} Å/px)")
        if self.phantom_resolution > self.particle_diameter / 4:
            raise InputError("--phantom-resolution", f"{self.phantom_resolution:g} Å blurs a "
                             f"{self.particle_diameter:g} Å particle into a blob",
                             "at most diameter / 4")
        if self.hand not in (1, -1):
            raise InputError("--hand", f"{self.hand}", "1 or -1")
        for option, value in (("--defocus-error", self.defocus_error), ("--shift-error", self.shift_error),
                              ("--angle-error", self.angle_error),
                              ("--position-error", self.position_error)):
            _non_negative(option, value)
        if self.picks not in PICK_MODELS:
            raise InputError("--picks", f"{self.picks!r}", " | ".join(PICK_MODELS))
        if self.picks != "exact" and (self.angle_error or self.position_error):
            raise InputError("--angle-error", f"{self.angle_error:g}° / --position-error "
                             f"{self.position_error:g} Å with --picks {self.picks}",
                             "errors set by the picks model (docs/simulate.md); 0 unless --picks exact")
        if self.angle_error > 180:
            raise InputError("--angle-error", f"{self.angle_error:g}°", "at most 180°")
        if not 0 <= self.seed < 2**63:
            raise InputError("--seed", f"{self.seed}", "a non-negative integer")
        return dataclasses.replace(self, symmetry=symmetry)


def _positive(option: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise InputError(option, f"{value:g}", "a positive number")


def _non_negative(option: str, value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise InputError(option, f"{value:g}", "a number >= 0")


def _at_least(option: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise InputError(option, f"{value}", f"at least {minimum}")


def _at_most(option: str, value: int, maximum: int) -> None:
    if value > maximum:
        raise InputError(option, f"{value}", f"at most {maximum}")
