"""What is in each tilt series: particle poses and decoys, the tilt scheme, the alignment (shifts),
the CTF per tilt, and the errors written into the STAR files. Random draws come from per-tilt-series
streams of one seed, so a tilt series does not change when another is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from py2rely_core.errors import InputError
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.geometry import dose_symmetric_order, project_point, relion_angles, tilt_matrix
from py2rely_plugins.simulate.picks import draw_picks

# Stream numbers of np.random.default_rng([seed, tilt series, stream]).
STREAM_PLACEMENT, STREAM_CTF, STREAM_ALIGNMENT, STREAM_NOISE, STREAM_ERRORS, STREAM_PICKS = range(6)
EDGE_MARGIN_PX = 1.0  # beyond half the phantom box, from every tilt image's edge
PLACEMENT_TRIES = 200  # random candidates per placed particle before giving up


def rng_for(config: SimulationConfig, series: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, series, stream])


@dataclass
class TiltSeries:
    name: str
    tilts: pd.DataFrame  # one row per tilt image, true and written (STAR) values
    picks: pd.DataFrame  # true poses of particles and decoys, and what particles.star says

    @property
    def particles(self) -> pd.DataFrame:
        return self.picks[~self.picks["decoy"]]


def tilt_series_name(index: int) -> str:
    return f"TS_{index + 1:02d}"


def plan(config: SimulationConfig) -> list[TiltSeries]:
    return [plan_tilt_series(config, i) for i in range(config.tilt_series)]


def plan_tilt_series(config: SimulationConfig, index: int) -> TiltSeries:
    tilts = _tilts(config, index)
    picks = _picks(config, index, tilts)
    return TiltSeries(name=tilt_series_name(index), tilts=tilts, picks=picks)


def _tilts(config: SimulationConfig, index: int) -> pd.DataFrame:
    angles = np.asarray(config.tilt_angles)
    n = len(angles)
    rank = np.asarray(dose_symmetric_order(angles.tolist()))
    ctf_rng = rng_for(config, index, STREAM_CTF)
    base = ctf_rng.uniform(config.defocus_min, config.defocus_max) * 1e4  # Å
    # Defocus wanders a little between tilts, as it does when the stage is refocused.
    defocus = base + ctf_rng.normal(0.0, 0.005e4, n)
    astig_angle = ctf_rng.uniform(-90.0, 90.0)
    half_astig = 0.5 * config.astigmatism * 1e4
    align_rng = rng_for(config, index, STREAM_ALIGNMENT)
    shifts = align_rng.normal(0.0, config.shift_sigma, (n, 2))
    tilts = pd.DataFrame({
        "angle": angles,
        "x_tilt": np.full(n, config.x_tilt),
        "z_rot": np.full(n, config.tilt_axis),
        "pre_exposure": rank * config.dose_per_tilt,
        "shift_x": shifts[:, 0],
        "shift_y": shifts[:, 1],
        "defocus_u": defocus + half_astig,
        "defocus_v": defocus - half_astig,
        "defocus_angle": np.full(n, astig_angle),
    })
    error_rng = rng_for(config, index, STREAM_ERRORS)
    # Always drawn (zeros at s.d. 0), so one kind of error does not change with another's setting.
    defocus_error = error_rng.normal(0.0, config.defocus_error, n)
    shift_error = error_rng.normal(0.0, config.shift_error, (n, 2))
    tilts["star_defocus_u"] = tilts["defocus_u"] + defocus_error
    tilts["star_defocus_v"] = tilts["defocus_v"] + defocus_error
    tilts["star_shift_x"] = tilts["shift_x"] + shift_error[:, 0]
    tilts["star_shift_y"] = tilts["shift_y"] + shift_error[:, 1]
    return tilts


def _picks(config: SimulationConfig, index: int, tilts: pd.DataFrame) -> pd.DataFrame:
    rng = rng_for(config, index, STREAM_PLACEMENT)
    n_real = config.particles
    n_decoys = round(n_real * config.decoy_fraction / (1.0 - config.decoy_fraction))
    positions = _place(config, tilts, n_real + n_decoys, rng, index)
    rotations = Rotation.random(n_real + n_decoys, random_state=rng)
    is_decoy = np.zeros(n_real + n_decoys, dtype=bool)
    is_decoy[n_real:] = True
    # Particle numbers in a random order, so decoys are not recognisable by their position in the file.
    numbers = rng.permutation(n_real + n_decoys) + 1
    angles = np.array([relion_angles(r) for r in rotations])
    picks = pd.DataFrame({
        "number": numbers,
        "decoy": is_decoy,
        "x": positions[:, 0], "y": positions[:, 1], "z": positions[:, 2],
        "rot": angles[:, 0], "tilt": angles[:, 1], "psi": angles[:, 2],
    })
    written = draw_picks(config.picks, rotations, rng_for(config, index, STREAM_PICKS),
                         config.angle_error, config.position_error)
    picks["star_x"] = picks["x"] + written.offsets[:, 0]
    picks["star_y"] = picks["y"] + written.offsets[:, 1]
    picks["star_z"] = picks["z"] + written.offsets[:, 2]
    if written.rotations is None:  # the picker gives no angles: RELION reads 0, 0, 0
        star_angles = np.zeros((len(picks), 3))
    else:
        star_angles = np.array([relion_angles(r) for r in written.rotations])
    picks["star_rot"], picks["star_tilt"], picks["star_psi"] = star_angles.T
    picks["flipped"] = written.flipped
    return picks.sort_values("number", ignore_index=True)


def _place(
    config: SimulationConfig, tilts: pd.DataFrame, count: int, rng: np.random.Generator, index: int
) -> np.ndarray:
    """Centres (Å from the tomogram centre) at least one diameter apart, inside the slab, and whose
    phantom box is inside every tilt image (with the true alignment).

    RELION's extraction drops a particle from a tilt when its box (binning × box / 2 unbinned
    pixels about the centre, relion_tomo_subtomo's visibility test) leaves the image, so with the
    phantom box every particle is extracted in every tilt at any binning.
    """
    half_width = 0.5 * config.image_size * config.pixel_size
    half_z = 0.5 * config.thickness - 0.5 * config.particle_diameter
    radius_px = 0.5 * config.box_px + EDGE_MARGIN_PX
    matrices = [tilt_matrix(t.x_tilt, t.angle, t.z_rot) for t in tilts.itertuples()]
    shifts_px = tilts[["shift_x", "shift_y"]].to_numpy() / config.pixel_size
    min_distance = 1.02 * config.particle_diameter
    placed: list[np.ndarray] = []
    tries = 0
    while len(placed) < count:
        tries += 1
        if tries > PLACEMENT_TRIES * count:
            raise InputError(
                "--particles",
                f"could only place {len(placed)} of {count} non-overlapping {config.particle_diameter:g} Å "
                f"particles in tilt series {index + 1} ({config.image_size} px × "
                f"{config.pixel_size:g} Å, {config.thickness:g} Å thick)",
                "fewer particles or decoys, a larger image or a thicker slab",
            )
        candidate = np.array([rng.uniform(-half_width, half_width), rng.uniform(-half_width, half_width),
                              rng.uniform(-half_z, half_z)])
        if placed and np.min(np.linalg.norm(np.asarray(placed) - candidate, axis=1)) < min_distance:
            continue
        position_px = candidate / config.pixel_size
        if _visible_everywhere(position_px, matrices, shifts_px, config.image_size, radius_px):
            placed.append(candidate)
    return np.asarray(placed)


def _visible_everywhere(
    position_px: np.ndarray, matrices: list[np.ndarray], shifts_px: np.ndarray, size: int, radius: float
) -> bool:
    for matrix, shift in zip(matrices, shifts_px, strict=True):
        xy, _ = project_point(position_px, matrix, shift, size)
        if np.any(xy < radius) or np.any(xy > size - 1 - radius):
            return False
    return True
