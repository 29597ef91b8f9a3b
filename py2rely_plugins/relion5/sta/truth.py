"""Results measured against a simulated dataset's ground truth (``py2rely simulate``'s
``ground_truth/``), for the demo, the tests and the benchmarks.

RELION's own figures (half-map FSC, accuracy estimates) can look fine while the particles are
misaligned; the truth cannot. For a map and its particles this measures:

* FSC 0.5 / 0.143 of the map against the phantom, after the best rigid alignment of the phantom
  to the map (a de novo map has its own frame), and the same against the phantom's mirror image:
  the map has the right hand when the phantom fits it better than its mirror does;
* pose errors: for each particle the angle between its refined orientation and the true one,
  after the one rotation that best maps the truth's frame onto the map's (median and 90th
  percentile), and position errors after the map's own centre offset;
* with decoys, the precision and recall of the kept particles.

Conventions (docs/simulate.md, RELION's ParticleSet): a particle's matrix A = A_subtomogram ·
A(rot, tilt, psi) maps the reference box into the tomogram, A(rot, tilt, psi) =
``Rotation.from_euler("ZYZ", ...).as_matrix().T``; its centre is rlnCenteredCoordinate (Å) −
A_subtomogram · rlnOrigin (Å).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage, optimize
from scipy.spatial.transform import Rotation

from py2rely_core.star import read_star
from py2rely_plugins.relion5.sta.fsc import FscCurve, fourier_crop, fsc, resolution_at, soft_sphere_mask
from py2rely_plugins.relion5.sta.map_compare import on_grid as truth_on_grid
from py2rely_plugins.relion5.sta.map_compare import read_map

TRUTH_DIR = "ground_truth"
NAME = "rlnTomoParticleName"
COARSE_ROTATIONS = 2000  # random rotations of the coarse alignment search (gaps of about 20°)
COARSE_CANDIDATES = 2  # best coarse rotations refined locally


# -- the ground truth --------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruth:
    directory: Path
    pixel_size: float  # Å, of the phantom
    diameter: float  # Å
    symmetry: str
    poses: pd.DataFrame  # index rlnTomoParticleName: x, y, z (Å), matrix (3×3)
    decoys: frozenset[str]
    flipped: frozenset[str]  # picks written upside down (template-matching picks model)
    picks_model: str

    @classmethod
    def beside(cls, particles_star: str | Path) -> GroundTruth | None:
        """The ground truth a simulated dataset keeps next to its particles STAR, if any."""
        directory = Path(particles_star).resolve().parent / TRUTH_DIR
        return cls.load(directory) if (directory / "simulation.json").is_file() else None

    @classmethod
    def load(cls, directory: str | Path) -> GroundTruth:
        directory = Path(directory)
        record = json.loads((directory / "simulation.json").read_text())
        parameters = record["parameters"]
        table = read_star(directory / "particles.star")["particles"]
        picks = record.get("picks", {})
        return cls(directory=directory, pixel_size=float(parameters["pixel_size"]),
                   diameter=float(parameters["particle_diameter"]),
                   symmetry=str(parameters.get("symmetry", "C1")), poses=poses_of(table),
                   decoys=frozenset(decoys_of(record)), flipped=frozenset(picks.get("flipped", [])),
                   picks_model=str(picks.get("model", "exact")))

    @property
    def phantom(self) -> Path:
        return self.directory / "phantom.mrc"


def decoys_of(record: dict) -> set[str]:
    """The decoy picks (picks without a particle) a simulation.json record names."""
    return {str(name) for series in record.get("tilt_series", []) for name in series.get("decoys", [])}


def decoy_names(truth_dir: Path) -> set[str]:
    return decoys_of(json.loads((truth_dir / "simulation.json").read_text(encoding="utf-8")))


def truth_tables(truth_dir: Path) -> pd.DataFrame | None:
    """The true poses' particles table, or None when it cannot be read."""
    try:
        return read_star(truth_dir / "particles.star").get("particles")
    except Exception:
        return None


def relion_matrices(rot: np.ndarray, tilt: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """RELION's Euler::anglesToMatrix3 for arrays of angles (degrees): (n, 3, 3)."""
    angles = np.column_stack([rot, tilt, psi])
    return np.transpose(Rotation.from_euler("ZYZ", angles, degrees=True).as_matrix(), (0, 2, 1))


def poses_of(table: pd.DataFrame) -> pd.DataFrame:
    """Centres (Å, tomogram-centred) and particle matrices of a RELION 5 particles table."""
    n = len(table)

    def column(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=float) if name in table.columns else np.zeros(n)

    particle = relion_matrices(column("rlnAngleRot"), column("rlnAngleTilt"), column("rlnAnglePsi"))
    subtomogram = relion_matrices(column("rlnTomoSubtomogramRot"), column("rlnTomoSubtomogramTilt"),
                                  column("rlnTomoSubtomogramPsi"))
    coords = np.column_stack([column(f"rlnCenteredCoordinate{a}Angst") for a in "XYZ"])
    origins = np.column_stack([column(f"rlnOrigin{a}Angst") for a in "XYZ"])
    centres = coords - np.einsum("nij,nj->ni", subtomogram, origins)
    matrices = np.einsum("nij,njk->nik", subtomogram, particle)
    names = table[NAME].astype(str).to_numpy() if NAME in table.columns else np.arange(n).astype(str)
    frame = pd.DataFrame({"x": centres[:, 0], "y": centres[:, 1], "z": centres[:, 2]}, index=names)
    frame["matrix"] = list(matrices)
    return frame


# -- poses -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoseStats:
    matched: int  # refined particles that are real particles of the truth
    kept: int  # rows of the refined STAR
    real: int  # particles in the truth
    median_angle: float  # degrees, after the best global rotation
    p90_angle: float
    within_10: float  # share of matched particles within 10°
    frame_rotation: float  # degrees: the best global rotation (the map's frame vs the truth's)
    median_position: float  # Å, after the map's centre offset
    centre_offset: float  # Å: that offset
    precision: float | None  # kept real / kept (None without decoys)
    recall: float  # kept real / real
    flipped_median: float | None  # median error of the picks written upside down

    def summary(self) -> str:
        text = (f"pose error median {self.median_angle:.1f}°, 90th percentile {self.p90_angle:.1f}° "
                f"({self.within_10:.0%} within 10°), position error median "
                f"{self.median_position:.1f} Å")
        if self.precision is not None:
            text += f", precision {self.precision:.0%} recall {self.recall:.0%}"
        return text


def symmetry_operators(symmetry: str) -> np.ndarray:
    """Rotation matrices of a Cn/Dn group about RELION's axes (n-fold along z, Dn 2-fold along x)."""
    kind, order = symmetry[0].upper(), int(symmetry[1:] or 1)
    if kind not in "CD" or order < 1:
        return np.eye(3)[None]
    spins = [Rotation.from_rotvec([0, 0, 2 * np.pi * k / order]) for k in range(order)]
    operators = [r.as_matrix() for r in spins]
    if kind == "D":
        flip = Rotation.from_rotvec([np.pi, 0, 0])
        operators += [(r * flip).as_matrix() for r in spins]
    return np.asarray(operators)


def _angles(matrices: np.ndarray) -> np.ndarray:
    return np.degrees(Rotation.from_matrix(matrices).magnitude())


def pose_stats(refined: pd.DataFrame, truth: GroundTruth) -> PoseStats | None:
    """Pose and position errors of refined particles (``poses_of`` a refined STAR) vs the truth."""
    common = refined.index.intersection(truth.poses.index)
    if len(common) == 0:
        return None
    true_a = np.stack(truth.poses.loc[common, "matrix"].to_numpy())
    est_b = np.stack(refined.loc[common, "matrix"].to_numpy())
    operators = symmetry_operators(truth.symmetry)
    # B_i = A_i · Q · S_i for the map-frame rotation Q and a symmetry operator S_i of the map.
    relative = np.einsum("nji,njk->nik", true_a, est_b)  # A_i^T B_i
    frame = _robust_frame(relative, operators)
    errors = _errors_after(relative, frame, operators)
    true_pos = truth.poses.loc[common, ["x", "y", "z"]].to_numpy(dtype=float)
    est_pos = refined.loc[common, ["x", "y", "z"]].to_numpy(dtype=float)
    # The map may sit off-centre by u (Å, map frame): centres then move by B_i · u.
    difference = est_pos - true_pos
    offset = np.einsum("nji,nj->ni", est_b, difference).mean(axis=0)
    residual = difference - np.einsum("nij,j->ni", est_b, offset)
    kept_names = set(refined.index)
    real = set(truth.poses.index)
    precision = (len(kept_names & real) / len(kept_names)) if truth.decoys and kept_names else None
    flipped = [name for name in common if name in truth.flipped]
    flipped_errors = errors[np.isin(np.asarray(common), flipped)] if flipped else None
    return PoseStats(
        matched=len(common), kept=len(refined), real=len(real),
        median_angle=float(np.median(errors)), p90_angle=float(np.percentile(errors, 90)),
        within_10=float(np.mean(errors <= 10.0)),
        frame_rotation=float(np.degrees(Rotation.from_matrix(frame).magnitude())),
        median_position=float(np.median(np.linalg.norm(residual, axis=1))),
        centre_offset=float(np.linalg.norm(offset)), precision=precision,
        recall=len(kept_names & real) / len(real),
        flipped_median=float(np.median(flipped_errors)) if flipped_errors is not None else None,
    )


def _errors_after(relative: np.ndarray, frame: np.ndarray, operators: np.ndarray) -> np.ndarray:
    # error_i = min_S angle(Q^T · A_i^T B_i · S^T)
    candidates = np.einsum("ji,njk,skl->nsil", frame, relative, np.transpose(operators, (0, 2, 1)))
    shape = candidates.shape
    return _angles(candidates.reshape(-1, 3, 3)).reshape(shape[:2]).min(axis=1)


def _robust_frame(relative: np.ndarray, operators: np.ndarray) -> np.ndarray:
    """The rotation Q that best explains A_i^T B_i = Q S_i: the chordal mean of the particles that
    agree with the current estimate (outliers such as flipped particles do not pull it)."""
    frame = _symmetric_mean(relative, operators, np.eye(3), np.ones(len(relative), bool))
    for limit in (60.0, 30.0, 15.0):
        keep = _errors_after(relative, frame, operators) <= limit
        if keep.sum() < max(3, len(relative) // 4):
            break
        frame = _symmetric_mean(relative, operators, frame, keep)
    return frame


def _symmetric_mean(relative: np.ndarray, operators: np.ndarray, guess: np.ndarray,
                    keep: np.ndarray) -> np.ndarray:
    if len(operators) > 1:
        # Bring each particle to the symmetry copy nearest the current guess first.
        candidates = np.einsum("njk,skl->nsjl", relative, np.transpose(operators, (0, 2, 1)))
        distance = _angles(np.einsum("ji,nsjk->nsik", guess, candidates).reshape(-1, 3, 3))
        best = distance.reshape(len(relative), -1).argmin(axis=1)
        relative = candidates[np.arange(len(relative)), best]
    if not keep.any():
        keep = np.ones(len(relative), bool)
    return Rotation.from_matrix(relative[keep]).mean().as_matrix()


def pose_stats_of_star(star: str | Path, truth: GroundTruth) -> PoseStats | None:
    table = read_star(star).get("particles")
    return None if table is None else pose_stats(poses_of(table), truth)


# -- maps --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapStats:
    pixel_size: float
    nyquist: float
    fsc05: float  # Å, against the truth (best alignment)
    fsc0143: float
    mirror_fsc05: float  # Å, against the mirrored truth (best alignment)
    correlation: float  # real-space, masked, truth
    mirror_correlation: float
    alignment_angle: float  # degrees the truth had to turn to fit the map
    # The fits themselves, rotation vector (radians) and shift (Å) of the truth and of its mirror
    # image: the start of the next map's fit.
    fits: dict[str, list[float]] = dataclasses.field(default_factory=dict)

    @property
    def right_hand(self) -> bool:
        return self.correlation >= self.mirror_correlation

    def summary(self) -> str:
        hand = "right hand" if self.right_hand else "MIRRORED (wrong hand)"
        return (f"FSC 0.5 at {self.fsc05:.1f} Å, 0.143 at {self.fsc0143:.1f} Å (Nyquist "
                f"{self.nyquist:.1f} Å); {hand}: against the mirror image FSC 0.5 at "
                f"{self.mirror_fsc05:.1f} Å")


def mirrored(volume: np.ndarray) -> np.ndarray:
    """The mirror image through the plane z = centre (voxel N//2 stays in place)."""
    return np.roll(volume[:, :, ::-1], 1, axis=2) if volume.shape[2] % 2 == 0 else volume[:, :, ::-1]


def transformed(volume: np.ndarray, rotation: Rotation, shift: np.ndarray, order: int = 1
                ) -> np.ndarray:
    """``volume`` turned by ``rotation`` about voxel N//2 and moved by ``shift`` voxels:
    out(x) = volume(R^T (x − c − shift) + c)."""
    box = volume.shape[0]
    centre = box // 2
    matrix = rotation.as_matrix().T
    offset = centre - matrix @ (centre + np.asarray(shift, float))
    return ndimage.affine_transform(volume, matrix, offset=offset, order=order, mode="constant")


def _masked_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    weights = mask / mask.sum()
    a = a - (a * weights).sum()
    b = b - (b * weights).sum()
    denominator = math.sqrt((a * a * mask).sum() * (b * b * mask).sum())
    return float((a * b * mask).sum() / denominator) if denominator > 0 else 0.0


def _turned_copies(volume: np.ndarray, rotations: Rotation) -> np.ndarray:
    """``transformed(volume, r, 0)`` for every rotation r, in one interpolation call."""
    box = volume.shape[0]
    centre = box // 2
    grid = np.stack(np.meshgrid(*(np.arange(box),) * 3, indexing="ij"), axis=-1).reshape(-1, 3) - centre
    # out(x) = volume(R^T x): the source coordinates of every output voxel for every rotation.
    sources = np.einsum("rji,nj->rin", rotations.as_matrix(), grid) + centre
    values = ndimage.map_coordinates(volume, sources.transpose(1, 0, 2).reshape(3, -1), order=1,
                                     mode="constant")
    return values.reshape(len(rotations), box, box, box)


def _binned(volume: np.ndarray, box: int) -> np.ndarray:
    return fourier_crop(volume, box) if box < volume.shape[0] else volume


def align(target: np.ndarray, moving: np.ndarray, radius: float,
          start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Rotation, np.ndarray, float]:
    """Rotation and shift (voxels) that best fit ``moving`` onto ``target`` within a sphere of
    ``radius`` voxels: a search over random rotations with FFT translations on a grid where the
    particle is 8 voxels across, then a local optimisation of the best candidates where it is 16
    (20 and 10 Å per voxel for a 160 Å particle). ``start`` (rotation vector, shift in voxels)
    replaces the search by a local optimisation from there: the fit of an earlier map of the
    same refinement, whose frame later maps keep."""
    box = target.shape[0]

    def grid(across: float) -> int:
        size = max(8, min(box, round(box * across / (2 * radius))))
        return size - size % 2

    coarse, fine = grid(8.0), grid(16.0)
    fine_target, fine_moving = _binned(target, fine), _binned(moving, fine)
    fine_mask = soft_sphere_mask(fine, radius * fine / box, edge=2.0)

    def cost(x: np.ndarray) -> float:
        turned = transformed(fine_moving, Rotation.from_rotvec(x[:3]), x[3:])
        return -_masked_correlation(fine_target, turned, fine_mask)

    def refined(rotvec: np.ndarray, shift_fine: np.ndarray) -> tuple[float, Rotation, np.ndarray]:
        result = optimize.minimize(cost, np.concatenate([rotvec, shift_fine]), method="Powell",
                                   options={"xtol": 1e-3, "ftol": 1e-6, "maxfev": 400})
        return -float(result.fun), Rotation.from_rotvec(result.x[:3]), result.x[3:] * box / fine

    if start is not None:
        correlation, rotation, shift = refined(start[0], np.asarray(start[1]) * fine / box)
        return rotation, shift, correlation
    coarse_target, coarse_moving = _binned(target, coarse), _binned(moving, coarse)
    coarse_mask = soft_sphere_mask(coarse, radius * coarse / box, edge=1.0)
    rotations = Rotation.concatenate([Rotation.identity(),
                                      Rotation.random(COARSE_ROTATIONS, random_state=0)])
    turned = _turned_copies(coarse_moving, rotations) * coarse_mask
    masked_target = coarse_target * coarse_mask
    # Correlation over all cyclic shifts of each turned copy at once (FFT), normalised by the
    # copies' norms: the best rotation and integer shift of each.
    spectra = np.conj(np.fft.fftn(turned, axes=(1, 2, 3))) * np.fft.fftn(masked_target)
    correlation = np.fft.ifftn(spectra, axes=(1, 2, 3)).real
    centred = turned - turned.mean(axis=(1, 2, 3), keepdims=True)
    correlation /= np.sqrt((centred ** 2).sum(axis=(1, 2, 3)))[:, None, None, None] + 1e-12
    flat = correlation.reshape(len(rotations), -1)
    peaks = flat.argmax(axis=1)
    scores = flat[np.arange(len(rotations)), peaks]
    shifts = np.column_stack(np.unravel_index(peaks, (coarse,) * 3)).astype(float)
    shifts = np.where(shifts > coarse / 2, shifts - coarse, shifts)
    best: tuple[float, Rotation, np.ndarray] = (-2.0, Rotation.identity(), np.zeros(3))
    for index in np.argsort(scores)[::-1][:COARSE_CANDIDATES]:
        candidate = refined(rotations[index].as_rotvec(), shifts[index] * fine / coarse)
        if candidate[0] > best[0]:
            best = candidate
    return best[1], best[2], best[0]


def map_stats(map_path: str | Path, truth: GroundTruth, hint: MapStats | None = None) -> MapStats:
    """FSC of a map against the truth and its mirror image, each after its best alignment
    (searched, or refined from ``hint``: the stats of an earlier map in the same frame)."""
    volume, pixel = read_map(Path(map_path))
    phantom, phantom_pixel = read_map(truth.phantom)
    box = volume.shape[0]
    reference = truth_on_grid(phantom, phantom_pixel, pixel, box)
    radius = truth.diameter / 2.0 / pixel
    mask = soft_sphere_mask(box, radius, edge=3.0)
    results, fits = {}, {}
    for hand, candidate in (("truth", reference), ("mirror", mirrored(reference))):
        start = None
        if hint is not None and hand in hint.fits:
            start = (np.asarray(hint.fits[hand][:3]), np.asarray(hint.fits[hand][3:]) / pixel)
        rotation, shift, correlation = align(volume, candidate, radius, start)
        fitted = transformed(candidate, rotation, shift, order=3)
        curve = fsc(volume, fitted, pixel, mask=mask)
        results[hand] = (curve, correlation, rotation)
        fits[hand] = [*map(float, rotation.as_rotvec()), *map(float, np.asarray(shift) * pixel)]
    truth_curve, truth_cc, truth_rotation = results["truth"]
    mirror_curve, mirror_cc, _ = results["mirror"]
    return MapStats(
        pixel_size=pixel, nyquist=2 * pixel, fsc05=resolution_at(truth_curve, 0.5),
        fsc0143=resolution_at(truth_curve, 0.143), mirror_fsc05=resolution_at(mirror_curve, 0.5),
        correlation=truth_cc, mirror_correlation=mirror_cc,
        alignment_angle=float(np.degrees(truth_rotation.magnitude())), fits=fits,
    )


# -- one stage of a pipeline ---------------------------------------------------------------------


@dataclass(frozen=True)
class TruthRow:
    """What one stage's map and particles measure against the truth."""

    map: MapStats | None
    poses: PoseStats | None

    def to_json(self) -> dict:
        return {"map": None if self.map is None else dataclasses.asdict(self.map),
                "poses": None if self.poses is None else dataclasses.asdict(self.poses)}

    @classmethod
    def from_json(cls, data: dict) -> TruthRow:
        return cls(map=MapStats(**data["map"]) if data.get("map") else None,
                   poses=PoseStats(**data["poses"]) if data.get("poses") else None)


CACHE = "py2rely_truth.json"


def measure_stage(truth: GroundTruth, job_dir: Path | None, density_map: Path | None,
                  particles: Path | None, hint: MapStats | None = None) -> TruthRow:
    """Truth metrics of a stage, kept in its job directory (``py2rely_truth.json``; no job
    directory, no record) and reused while the map and particles files are unchanged.
    ``hint``: an earlier map of the same pipeline, whose fit to the truth starts this one's."""
    key = {"map": _stamp(density_map), "particles": _stamp(particles)}
    cache = job_dir / CACHE if job_dir is not None else None
    if cache is not None and cache.is_file():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                return TruthRow.from_json(stored["row"])
        except (ValueError, KeyError, TypeError):
            pass
    row = TruthRow(
        map=map_stats(density_map, truth, hint) if density_map is not None and density_map.is_file()
        else None,
        poses=pose_stats_of_star(particles, truth) if particles is not None and particles.is_file()
        else None)
    from py2rely_core import atomic

    if cache is not None:
        atomic.write_text(cache, json.dumps({"key": key, "row": row.to_json()}, indent=2) + "\n")
    return row


def _stamp(path: Path | None) -> list | None:
    if path is None or not path.is_file():
        return None
    status = path.stat()
    return [str(path.name), status.st_size, status.st_mtime_ns]


def _angle(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f}°"


def _angstrom(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.1f} Å"


def render_truth_table(rows: list[tuple[str, int, TruthRow]]) -> str:
    """The final table's companion: each stage against the simulated truth."""
    header = ("stage", "bin", "FSC0.5", "FSC0.143", "mirror 0.5", "hand", "pose med", "pose p90",
              "pos med", "kept", "precision", "recall")
    lines = [header]
    for stage, binning, row in rows:
        m, p = row.map, row.poses
        lines.append((
            stage, str(binning),
            _angstrom(m.fsc05 if m else None), _angstrom(m.fsc0143 if m else None),
            _angstrom(m.mirror_fsc05 if m else None),
            ("right" if m.right_hand else "MIRROR") if m else "-",
            _angle(p.median_angle if p else None), _angle(p.p90_angle if p else None),
            _angstrom(p.median_position if p else None),
            f"{p.matched}/{p.real}" if p else "-",
            f"{p.precision:.0%}" if p and p.precision is not None else "-",
            f"{p.recall:.0%}" if p else "-",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for index, line in enumerate(lines):
        rendered.append("  ".join([line[0].ljust(widths[0])]
                                  + [cell.rjust(width) for cell, width in zip(line[1:], widths[1:],
                                                                                strict=True)]))
        if index == 0:
            rendered.append("-" * len(rendered[0]))
    return "\n".join(rendered)


# -- the report's figures: the map and the particles as they stand, without a fit ---------------


@dataclass(frozen=True)
class TruthFsc:
    direct: FscCurve
    mirrored: FscCurve  # against the truth's mirror image: higher than `direct` means wrong hand


def fsc_against_truth(map_path: Path, phantom: Path, diameter: float) -> TruthFsc:
    """FSC of a map against the phantom and its mirror image in the map's own frame (no fit:
    the refinements of a simulated dataset keep the truth's frame unless started de novo)."""
    volume, pixel = read_map(map_path)
    truth, truth_pixel = read_map(phantom)
    reference = truth_on_grid(truth, truth_pixel, pixel, volume.shape[0])
    mask = soft_sphere_mask(volume.shape[0], diameter / 2.0 / pixel, edge=3.0)
    return TruthFsc(fsc(volume, reference, pixel, mask=mask),
                    fsc(volume, mirrored(reference), pixel, mask=mask))


@dataclass(frozen=True)
class PoseErrors:
    names: list[str]
    angle: np.ndarray  # degrees, per matched particle
    position: np.ndarray  # Å


def pose_errors(particles: pd.DataFrame, truth: pd.DataFrame) -> PoseErrors:
    """Per-particle angle and distance between the poses of two particles tables (refined and
    true, or two refinements), matched by rlnTomoParticleName; no global rotation is removed."""
    if NAME not in particles.columns or NAME not in truth.columns:
        return PoseErrors([], np.zeros(0), np.zeros(0))
    first, second = poses_of(particles), poses_of(truth)
    common = first.index.intersection(second.index)
    if len(common) == 0:
        return PoseErrors([], np.zeros(0), np.zeros(0))
    a = np.stack(first.loc[common, "matrix"].to_numpy())
    b = np.stack(second.loc[common, "matrix"].to_numpy())
    xyz = ["x", "y", "z"]
    distance = first.loc[common, xyz].to_numpy(float) - second.loc[common, xyz].to_numpy(float)
    return PoseErrors([str(name) for name in common], _angles(np.einsum("nij,nkj->nik", a, b)),
                      np.linalg.norm(distance, axis=1))


@dataclass(frozen=True)
class DecoyRejection:
    """How a class selection separated decoys (picks without a particle) from particles."""

    candidates: int  # picks classified
    decoys: int  # of which decoys
    rejected: int  # picks the selection dropped
    rejected_decoys: int

    @property
    def precision(self) -> float | None:
        return self.rejected_decoys / self.rejected if self.rejected else None

    @property
    def recall(self) -> float | None:
        return self.rejected_decoys / self.decoys if self.decoys else None


def decoy_rejection(classified: pd.DataFrame, kept: pd.DataFrame, decoys: set[str]) -> DecoyRejection:
    before = set(classified[NAME].astype(str)) if NAME in classified.columns else set()
    after = set(kept[NAME].astype(str)) if NAME in kept.columns else set()
    rejected = before - after
    return DecoyRejection(len(before), len(before & decoys), len(rejected), len(rejected & decoys))
