"""The parameter file: a typed, versioned model of every setting the STA pipeline uses.

Distances are in Å (the pipeline converts to pixels where a RELION option wants pixels); every
section has defaults so that a file written by ``prepare relion5-parameters`` is complete, and
unknown keys are refused so that nothing a user writes is silently ignored.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from py2rely_core import atomic
from py2rely_core.errors import ParameterError
from py2rely_plugins.relion5.conventions import (
    ANGULAR_SAMPLINGS,
    coarser_sampling,
    gold_standard_rank_problem,
    odd_ranks_for_refinement,
    sampling_label,
)
from py2rely_plugins.relion5.sta.boxsize import box_for_binning
from py2rely_plugins.relion5.symmetry import normalise_symmetry

# 2: angular sampling labels say what RELION runs (RELION's own label → HEALPix order rule).
# Version 1 files labelled every search one menu step finer than it ran (e.g. "3.7 degrees" for
# RELION's "7.5 degrees" search): read with today's rule they would ask for a search twice as fine.
SCHEMA_VERSION = 2
OLD_SAMPLING_LABELS_SCHEMA = 1


def sampling_for_pixel(pixel_size: float, diameter: float) -> float:
    """The finest RELION sampling not finer than the angle that moves the particle's edge by one
    Nyquist period (2 pixels) at this pixel size: finer steps cannot be resolved by the data."""
    step = math.degrees(math.atan(2.0 * pixel_size / diameter))
    candidates = [s for s in ANGULAR_SAMPLINGS if s >= step - 1e-9]
    return min(candidates) if candidates else ANGULAR_SAMPLINGS[0]


# The searches measured to work (docs/pipelines-sta.md, "Angular sampling"). A sampling label is
# RELION's step after oversampling; the search's first (coarse) pass is at twice the label.
#
# - Without known angles the first binning searches globally at GLOBAL_SAMPLING (a 30° coarse
#   pass).
# - Local searches use the sampling one menu step coarser than the binning's Nyquist angle
#   (sampling_for_pixel), never coarser than COARSEST_LOCAL_SAMPLING (a 15° coarse pass, within
#   the ±3σ window of the angular prior of a local refinement).
# - Angles count as fine enough (--maximum_angular_sampling) once RELION's coarse step is below
#   MAX_STEP_FACTOR × the Nyquist step, i.e. once its oversampled step reaches the Nyquist angle:
#   finer steps move the particle's edge by less than a pixel, and RELION's accuracy estimates on
#   clean data would otherwise ask for them at ten times the cost per iteration.
GLOBAL_SAMPLING = 15.0
COARSEST_LOCAL_SAMPLING = 7.5
MAX_STEP_FACTOR = 2.2


def nyquist_step(pixel_size: float, diameter: float) -> float:
    """The Nyquist angle's menu entry (sampling_for_pixel), at most one menu step finer than
    COARSEST_LOCAL_SAMPLING."""
    cap = ANGULAR_SAMPLINGS[ANGULAR_SAMPLINGS.index(COARSEST_LOCAL_SAMPLING) + 1]
    return min(sampling_for_pixel(pixel_size, diameter), cap)


def local_sampling(pixel_size: float, diameter: float) -> float:
    """The sampling label (degrees) of local searches: one menu step coarser than nyquist_step."""
    return coarser_sampling(nyquist_step(pixel_size, diameter))


class Section(BaseModel):
    # NaN and infinity are refused wherever a number is expected: neither means anything to RELION
    # (and JSON has no such numbers; Python's json module writes them as NaN / Infinity).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Inputs(Section):
    tilt_series: str = Field(description="RELION 5 tomograms STAR (data_global)")
    particles: str = Field(description="RELION 5 particles STAR")
    tilt_series_pixel_size: float = Field(gt=0, description="Å per pixel of the tilt series")


class Particle(Section):
    diameter: float = Field(gt=0, description="particle diameter, Å")
    symmetry: str = "C1"
    low_pass: float = Field(50.0, gt=0, description="Å; resolution of the first reference")

    @field_validator("symmetry")
    @classmethod
    def _symmetry(cls, value: str) -> str:
        return normalise_symmetry(value)


class Compute(Section):
    threads: int = Field(8, ge=1, description="threads per MPI rank (--j)")
    processes: int = Field(ge=1, description="processes (MPI ranks) available to one job")
    processes_source: Literal["option", "machine"] = "option"
    refine_mpi_ranks: int = Field(3, ge=3, description="odd MPI ranks for gold-standard jobs")
    mpi_ranks: int = Field(1, ge=1, description="MPI ranks for extraction and reconstruction")
    setup_lines: list[str] = Field(
        default_factory=list,
        description="shell lines run before every job, e.g. 'module load relion/5.0'",
    )
    use_gpu: bool | None = Field(
        None, description="GPUs for Refine3D, Class3D and InitialModel; None = use them when the "
        "machine has some (nvidia-smi), or when a scheduler is asked for GPUs (docs/gpu.md)")
    gpu_ids: str = Field("", description="RELION --gpu ids for every GPU job ('' = RELION's choice)")
    gpu_ids_by_job: dict[Literal["refine3d", "class3d", "initial_model"], str] = Field(
        default_factory=dict, description="--gpu ids per job kind, replacing gpu_ids for that kind")

    def gpu_ids_for(self, kind: str) -> str:
        return self.gpu_ids_by_job.get(kind, self.gpu_ids)  # type: ignore[call-overload]

    @field_validator("refine_mpi_ranks")
    @classmethod
    def _odd(cls, value: int) -> int:
        problem = gold_standard_rank_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Refine3DAtBinning(Section):
    sampling: str = Field("15 degrees", description="RELION's sampling label: the step after "
                          "oversampling (the first pass searches at twice it)")
    auto_local_sampling: str = "3.7 degrees"
    offset_range: float = Field(gt=0, description="Å")
    offset_step: float = Field(
        gt=0, description="Å; the finest translational step (RELION searches on a grid twice as "
        "coarse first, then oversamples), as RELION's job option")
    ini_high: float | None = Field(
        None, gt=0, description="Å; None = measured resolution × refine3d.ini_high_factor"
    )
    auto_faster: bool = Field(
        False, description="RELION's --auto_ignore_angles --auto_resol_angles: finer angles only "
        "as the resolution needs them (converges in fewer iterations)",
    )
    max_angular_step: float | None = Field(
        None, gt=0, description="degrees; angles are fine enough once RELION's coarse (first-pass) "
        "step is finer than this (--maximum_angular_sampling); None lets RELION refine down to its "
        "accuracy estimate",
    )
    local_angle_sigma: float | None = Field(
        None, gt=0, description="degrees; the angular prior (RELION --sigma_ang) of this binning's "
        "refinements, whose searches reach 3 × this; None = refine3d.local_angle_sigma. Poses "
        "refined at a previous binning need less than picked angles do",
    )

    @field_validator("sampling", "auto_local_sampling")
    @classmethod
    def _sampling(cls, value: str) -> str:
        number = value.replace("degrees", "").strip()
        try:
            return sampling_label(float(number))
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from None


class BinningStage(Section):
    binning: int = Field(ge=1)
    pixel_size: float = Field(gt=0, description="Å per pixel at this binning")
    box: int = Field(ge=16, description="particle box (px) at this binning")
    extract_box: int = Field(ge=16, description="extraction box (px), cropped to `box`")
    refine3d: Refine3DAtBinning

    @model_validator(mode="after")
    def _boxes(self) -> BinningStage:
        if self.box % 2 or self.extract_box % 2:
            raise ValueError(f"boxes must be even, got box={self.box}, extract_box={self.extract_box}")
        if self.extract_box < self.box:
            raise ValueError(f"extract_box {self.extract_box} is smaller than box {self.box}")
        return self


class Extract(Section):
    do_float16: bool = True
    do_stack2d: bool = True
    max_dose: float = Field(-1, description="e/Å²; -1 = all tilts")
    min_frames: int = Field(1, ge=1)


class Reconstruct(Section):
    snr: float = Field(0.0, ge=0)


class Refine3D(Section):
    ref_correct_greyscale: bool = False
    trust_ref_size: bool = True
    do_ctf_correction: bool = True
    ctf_intact_first_peak: bool = False
    do_zero_mask: bool = True
    do_solvent_fsc: bool = True
    relax_sym: str = ""
    sigma_tilt: float = -1
    nr_pool: int = Field(3, ge=1)
    do_pad1: bool = False
    ini_high_factor: float = Field(1.5, gt=0, description="next ini_high = factor × resolution")
    local_angle_sigma: float = Field(
        5.0, gt=0, description="degrees; width of the angular prior (RELION --sigma_ang) when a "
        "refinement starts with local searches from known angles (searches reach 3 × this)",
    )
    max_iterations: int = Field(
        25, ge=2, description="cap on the iterations of a Refine3D (RELION --auto_iter_max); "
        "RELION's convergence rule (orientations, offsets and resolution stop improving) ends it "
        "earlier, and a refinement that reaches the cap fails loudly",
    )
    other_args: str = ""


class Denovo(Section):
    nr_iter: int = Field(200, ge=1)
    tau_fudge: float = Field(4.0, gt=0)
    nr_classes: int = Field(1, ge=1)
    do_run_C1: bool = True
    sigma_tilt: float = -1
    nr_pool: int = Field(3, ge=1)
    other_args: str = ""
    hand_reference: str | None = Field(
        None, description="a map of known hand (EMDB map, map of a PDB model) at the first "
        "binning's pixel size and box, as `prepare template` makes it: the de novo and final maps' "
        "hands are checked against it, and a final map of the mirror hand (a mirrored tilt-series "
        "geometry) gets its mirror image beside it and a warning; None = the hand is reported, not "
        "checked")


class ReferenceAlignment(Section):
    """The global pass of picks without angles (`reference` and `denovo`): a one-class tomo Class3D
    that assigns each particle the orientation of maximum cross-correlation with the template
    (or the de novo map); the first Refine3D refines locally from there."""

    nr_iter: int = Field(
        1, ge=1, description="iterations of each pass; measured against the truth the first "
        "(maximum cross-correlation) iteration was the best and further EM iterations without "
        "gold-standard halves made the poses worse (docs/pipelines-sta.md)")
    max_passes: int = Field(
        3, ge=1, description="cap on the passes of the global search; pass 2 on re-searches from "
        "the previous pass's poses and the search stops once RELION's changes in orientations are "
        "within the sampling step or stop falling (sta/global_search.py)")
    tau_fudge: float = Field(1.0, gt=0)
    sampling: str = "15 degrees"
    offset_range: float | None = Field(None, gt=0, description="Å; None = first binning's value")
    offset_step: float | None = Field(None, gt=0, description="Å; None = first binning's value")
    ref_correct_greyscale: bool = False
    allow_coarser: bool = False
    nr_pool: int = Field(3, ge=1)
    other_args: str = ""


class InitialModel(Section):
    strategy: str = Field("reconstruct", description="reconstruct | reference | denovo | plugin")
    denovo: Denovo = Field(default_factory=Denovo)
    reference: ReferenceAlignment = Field(default_factory=ReferenceAlignment)


class RemoveDuplicates(Section):
    distance: float = Field(gt=0, description="Å; picks closer than this are duplicates")


class MaskCreate(Section):
    lowpass_factor: float = Field(1.25, gt=0, description="low-pass = factor × resolution")
    threshold: float | Literal["auto"] = "auto"
    extend: float = Field(ge=0, description="Å added around the thresholded map")
    soft_edge: float = Field(gt=0, description="Å of raised-cosine edge")


class PostProcess(Section):
    auto_bfactor_below: float = Field(
        10.0, gt=0, description="Å; fit a B-factor only when the resolution is better than this"
    )
    autob_lowres: float = Field(10.0, gt=0)


class Class3D(Section):
    nr_classes: int = Field(3, ge=2)
    nr_iter: int = Field(25, ge=1)
    tau_fudge: float = Field(1.0, gt=0)
    do_align: bool = False
    sampling: str = "15 degrees"
    selector: str = "resolution"
    min_class_share: float = Field(0.05, ge=0, lt=1)
    nr_pool: int = Field(3, ge=1)
    other_args: str = ""


class CtfRefine(Section):
    do_defocus: bool = True
    focus_range: float = Field(3000.0, gt=0, description="Å")
    do_reg_def: bool = True
    reg_lambda: float = Field(0.1, gt=0)
    do_scale: bool = True
    do_frame_scale: bool = True


class Polish(Section):
    max_error: float = Field(5.0, gt=0, description="px at bin 1")
    do_motion: bool = True
    shift_only: bool = False
    sigma_vel: float = Field(0.2, gt=0)
    sigma_div: float = Field(5000.0, gt=0)
    do_sq_exp_ker: bool = False


class HighResolution(Section):
    max_rounds: int = Field(3, ge=0, description="CTF refine + polish rounds at bin 1")
    min_improvement: float = Field(0.02, ge=0, description="stop when a round gains less (fraction)")


class Parameters(Section):
    schema_version: int = SCHEMA_VERSION
    inputs: Inputs
    particle: Particle
    box_scaling: float = Field(gt=0)
    binning_list: list[int]
    binnings: list[BinningStage]
    compute: Compute
    extract: Extract = Field(default_factory=Extract)
    reconstruct: Reconstruct = Field(default_factory=Reconstruct)
    refine3d: Refine3D = Field(default_factory=Refine3D)
    initial_model: InitialModel = Field(default_factory=InitialModel)
    remove_duplicates: RemoveDuplicates
    mask_create: MaskCreate
    postprocess: PostProcess = Field(default_factory=PostProcess)
    class3d: Class3D = Field(default_factory=Class3D)
    ctf_refine: CtfRefine = Field(default_factory=CtfRefine)
    polish: Polish = Field(default_factory=Polish)
    high_resolution: HighResolution = Field(default_factory=HighResolution)
    executors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-executor settings, validated by the executor"
    )

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value == OLD_SAMPLING_LABELS_SCHEMA:
            raise ValueError(
                f"schema version {value} labels every angular sampling one HEALPix order finer than "
                f"RELION runs it; regenerate the file with `py2rely prepare relion5-parameters` "
                f"(or make each sampling label one menu step coarser, e.g. '3.7 degrees' → "
                f"'7.5 degrees', and set schema_version {SCHEMA_VERSION})"
            )
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"schema version {value} is not supported (this py2rely reads version "
                f"{SCHEMA_VERSION}); regenerate the file with `py2rely prepare relion5-parameters`"
            )
        return value

    @field_validator("binning_list")
    @classmethod
    def _binning_list(cls, value: list[int]) -> list[int]:
        return validate_binning_list(value)

    @model_validator(mode="after")
    def _consistent(self) -> Parameters:
        listed = [stage.binning for stage in self.binnings]
        if listed != self.binning_list:
            raise ValueError(
                f"binnings {listed} do not match binning_list {self.binning_list}"
            )
        for stage in self.binnings:
            expected = self.inputs.tilt_series_pixel_size * stage.binning
            if not math.isclose(stage.pixel_size, expected, rel_tol=1e-6):
                raise ValueError(
                    f"binning {stage.binning}: pixel_size {stage.pixel_size} should be "
                    f"{expected:g} (tilt-series pixel size × binning)"
                )
            particle_px = self.particle.diameter / stage.pixel_size
            if stage.box < particle_px:
                raise ValueError(
                    f"binning {stage.binning}: box {stage.box} px is smaller than the particle "
                    f"({particle_px:.1f} px)"
                )
        return self

    # -- convenience ------------------------------------------------------------------------

    def stage(self, binning: int) -> BinningStage:
        for stage in self.binnings:
            if stage.binning == binning:
                return stage
        raise KeyError(f"binning {binning} is not in binning_list {self.binning_list}")

    @property
    def first(self) -> BinningStage:
        return self.binnings[0]


def validate_binning_list(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("binning list is empty")
    if any(b < 1 for b in value):
        raise ValueError(f"binnings must be positive integers, got {value}")
    if any(a <= b for a, b in itertools.pairwise(value)):
        raise ValueError(f"binnings must be strictly descending (e.g. 4,2,1), got {value}")
    return value


def parse_binning_list(text: str) -> list[int]:
    """'4,2,1' or '[4, 2, 1]' → [4, 2, 1]."""
    cleaned = text.strip().strip("[]")
    try:
        values = [int(part) for part in cleaned.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"{text!r} is not a comma-separated list of integers") from None
    return validate_binning_list(values)


def build_parameters(
    *,
    tilt_series: str,
    particles: str,
    tilt_series_pixel_size: float,
    symmetry: str,
    low_pass: float,
    diameter: float,
    denovo: bool,
    box_scaling: float,
    binning_list: list[int],
    threads: int,
    processes: int | None,
    class3d_classes: int | None = None,
    denovo_classes: int = 1,
    max_dose: float = -1,
) -> Parameters:
    """The complete parameter set for the given options (the prepare command's logic).

    ``class3d_classes`` (None: the Class3D section's default), ``denovo_classes`` and ``max_dose``
    are py2rely 0.7.1's ``-nc``, ``-nim`` and ``-md``.
    """
    source: Literal["option", "machine"] = "option"
    if processes is None:
        processes = os.cpu_count() or 1
        source = "machine"
    binnings = []
    for index, binning in enumerate(binning_list):
        box = box_for_binning(diameter, box_scaling, tilt_series_pixel_size, binning)
        previous_pixel = tilt_series_pixel_size * binning_list[index - 1] if index else box.pixel_size
        local = local_sampling(box.pixel_size, diameter)
        first = index == 0
        refine = Refine3DAtBinning(
            # The measured searches (see GLOBAL_SAMPLING above).
            sampling=sampling_label(GLOBAL_SAMPLING if first else local),
            auto_local_sampling=sampling_label(local),
            max_angular_step=round(MAX_STEP_FACTOR * nyquist_step(box.pixel_size, diameter), 3),
            # Picks are within about a tenth of the particle of its centre; later binnings only
            # correct sub-pixel errors of the previous one, so one pixel of that binning is
            # enough (a 3D search of 2 px holds 33 translations, of 3 px 123: the range sets the
            # cost of every bin-1 iteration). At least 2 px either way.
            offset_range=round(max(2 * box.pixel_size,
                                   0.1 * diameter if first else previous_pixel), 3),
            # Half a pixel after oversampling: a one-pixel coarse grid (RELION doubles the job
            # option for its first pass), which keeps the 3D translation search small.
            offset_step=round(0.5 * box.pixel_size, 3),
            ini_high=low_pass if first else None,
        )
        binnings.append(
            BinningStage(
                binning=binning, pixel_size=box.pixel_size, box=box.box,
                extract_box=box.extract_box, refine3d=refine,
            )
        )
    return Parameters(
        inputs=Inputs(
            tilt_series=tilt_series, particles=particles,
            tilt_series_pixel_size=tilt_series_pixel_size,
        ),
        particle=Particle(diameter=diameter, symmetry=symmetry, low_pass=low_pass),
        box_scaling=box_scaling,
        binning_list=binning_list,
        binnings=binnings,
        compute=Compute(
            threads=threads, processes=processes, processes_source=source,
            refine_mpi_ranks=odd_ranks_for_refinement(processes), mpi_ranks=processes,
        ),
        extract=Extract(max_dose=max_dose),
        initial_model=InitialModel(strategy="denovo" if denovo else "reconstruct",
                                   denovo=Denovo(nr_classes=denovo_classes)),
        class3d=Class3D() if class3d_classes is None else Class3D(nr_classes=class3d_classes),
        remove_duplicates=RemoveDuplicates(distance=round(0.3 * diameter, 3)),
        mask_create=MaskCreate(extend=round(0.05 * diameter, 3), soft_edge=round(0.1 * diameter, 3)),
    )


# ---------------------------------------------------------------------------------------------
# File I/O


def _format_location(location: tuple[Any, ...], data: Any) -> str:
    """('binnings', 0, 'box') → 'binnings[0](bin 4).box' style path naming the key."""
    parts: list[str] = []
    node = data
    for item in location:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                binning = node[item].get("binning")
                if binning is not None:
                    label = f"[{item}](bin {binning})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
        node = node[item] if isinstance(node, dict | list) and _has(node, item) else None
    return "".join(parts) or "<top level>"


def _has(node: Any, item: Any) -> bool:
    if isinstance(node, dict):
        return item in node
    return isinstance(item, int) and item < len(node)


def describe_validation_error(exc: ValidationError, data: Any) -> str:
    """'<key path>: <problem>' for the first problem, with a count of the others."""
    first = exc.errors()[0]
    where = _format_location(tuple(first["loc"]), data)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] in _TYPE_ERRORS:
        # Strict types: say what was found, e.g. `particle.diameter: Input should be a valid
        # number, not the string "160"`.
        message += f", not {_json_kind(first['input'])} {json.dumps(first['input'], default=str)}"
    extra = f" ({len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{where}: {message}{extra}"


_TYPE_ERRORS = {"float_type", "int_type", "bool_type", "string_type", "list_type", "dict_type",
                "model_type", "int_from_float", "literal_error", "finite_number"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "the boolean"
    if isinstance(value, str):
        return "the string"
    if isinstance(value, int | float):
        return "the number"
    if isinstance(value, list):
        return "the list"
    if isinstance(value, dict):
        return "the object"
    return "the value"


def load_parameters(path: str | os.PathLike[str]) -> Parameters:
    """Read and fully re-validate a parameter file; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(
            str(path), "file not found",
            "a parameter file from `py2rely prepare relion5-parameters`",
        ) from None
    except OSError as exc:
        raise ParameterError(str(path), f"cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ParameterError(str(path), "not a text (UTF-8) file", "a JSON parameter file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParameterError(str(path), f"not valid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ParameterError(str(path), "top level is not a JSON object")
    if "schema_version" not in data:
        raise ParameterError(
            str(path), "schema_version: missing",
            f"a py2rely parameter file (schema version {SCHEMA_VERSION})",
        )
    try:
        # Strict: a JSON string is not a number ("160"), a string is not a boolean ("yes") and a
        # boolean is not an integer (true): each is an error naming the key, never a conversion.
        return Parameters.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ParameterError(str(path), describe_validation_error(exc, data)) from None


def dump_parameters(params: Parameters) -> str:
    return json.dumps(params.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"


def save_parameters(params: Parameters, path: str | os.PathLike[str]) -> None:
    atomic.write_text(path, dump_parameters(params))
