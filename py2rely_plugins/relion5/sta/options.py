"""RELION job options for each step of the STA pipeline, built from the parameter file.

This is the one place where Å (the parameter file's unit) become pixels for the RELION options
that want pixels, and where the parameter file's compute settings become MPI ranks and threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from py2rely_core.interfaces import PlannedJob
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import split_args
from py2rely_plugins.relion5.jobtypes.extract import PSEUDO_SUBTOMOS, STACKS_2D
from py2rely_plugins.relion5.jobtypes.refine import INITIAL_MODEL_OFFSET_RANGE
from py2rely_plugins.relion5.sta.params import BinningStage, Parameters
from py2rely_plugins.relion5.versions import KNOWN_RELEASES, NEWEST

YES, NO = "Yes", "No"


def num(value: float) -> str:
    """A number as RELION options show it: no trailing zeros, at most 4 decimals."""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return text or "0"


def yes_no(flag: bool) -> str:
    return YES if flag else NO


def exact(value: float) -> str:
    """A derived length (Å) with all the digits RELION needs to recover a whole number from it
    (RELION 5.1 divides box sizes in Å by the pixel size to get the binning)."""
    return f"{round(float(value), 6):.12g}"


def pixels(angstrom: float, stage: BinningStage, minimum: int = 1) -> int:
    return max(minimum, round(angstrom / stage.pixel_size))


def pixel_step(angstrom: float, stage: BinningStage) -> str:
    """A translational step in pixels for RELION's offset_step option (fractions allowed)."""
    return num(angstrom / stage.pixel_size)


def offset_prior_floor(offset_range_px: int, pixel_size: float) -> str:
    """``--min_sigma2_offset`` that keeps RELION's translational prior flat over the search range.

    RELION 5.1 adds the sampled translations (Å) to the previous offsets (pixels) and then
    scales the sum by the pixel size again when it evaluates the offset prior
    (MlOptimiser::convertAllSquaredDifferencesToWeights), so at 5-10 Å/px a translation of one
    step looks tens of standard deviations away: every pose gets zero weight and the job stops
    with "zero sum of weights". A variance floor of (range in Å × pixel size)² keeps the prior
    wider than the search in those distorted units; the search range still bounds the offsets.
    """
    spread = offset_range_px * pixel_size * pixel_size
    return num(spread * spread)


def with_offset_floor(other_args: str, offset_range_px: int, stage: BinningStage) -> str:
    return with_offset_floor_at(other_args, offset_range_px, stage.pixel_size)


def with_offset_floor_at(other_args: str, offset_range_px: int, pixel_size: float) -> str:
    """``with_offset_floor`` for a pixel size (Å) instead of a binning stage."""
    if "--min_sigma2_offset" in other_args:
        return other_args  # the user chose one
    return f"{other_args} --min_sigma2_offset {offset_prior_floor(offset_range_px, pixel_size)}".strip()


# RELION 5.1 writes 3D pseudo-subtomograms (Extract without --stack2d) with
# rlnCtfDataAreCtfPremultiplied 0 although their data are CTF-premultiplied (5.0 wrote 1), and
# relion_refine then stops with "subtomo multiplicity correction only applies to
# ctf_premultiplied data". These flags make relion_refine read the CTF² half of the weights
# volume as the particles' CTF instead (signal model Σ CTF_i·P_i = Σ CTF_i² · F), which is how
# the bin-4 pipeline runs on 3D subtomograms (tests/test_routines_relion.py).
SUBTOMO_3D_FLAGS = ("--skip_subtomo_multi", "--normalised_subtomo")


def with_subtomo_3d_flags(other_args: str) -> str:
    missing = [flag for flag in SUBTOMO_3D_FLAGS if flag not in other_args.split()]
    return " ".join([other_args, *missing]).strip()


def extract_box_options(release: str, binning: int, extract_box: int, box: int, tilt_series_pixel: float,
                        stacks: bool) -> dict[str, str]:
    """Extract's boxes (extracted, then cropped to ``box``; pixels at ``binning``) and output
    format in the job options of a RELION release."""
    if release == "5.0":
        return {"binning": str(binning), "box_size": str(extract_box),
                "crop_size": str(box) if extract_box != box else "-1", "do_stack2d": yes_no(stacks)}
    # RELION 5.1: boxes in Å; it takes the binning as box_size_angst / (binned_size_pix ×
    # tilt-series pixel size), so the Å sizes carry every digit of box × binning × pixel.
    binned_pixel = tilt_series_pixel * binning
    cropped = extract_box != box
    return {"box_size_angst": exact(box * binned_pixel),
            "precrop_size_angst": exact(extract_box * binned_pixel) if cropped else "-1",
            "binned_size_pix": str(box),
            "subtomo_format": STACKS_2D if stacks else PSEUDO_SUBTOMOS}


def offset_range_in(other_args: str) -> int | None:
    """The --offset_range a user put in other_args (pixels), or None."""
    words = split_args(other_args)
    if "--offset_range" in words[:-1]:
        return round(float(words[words.index("--offset_range") + 1]))
    return None


def with_angle_prior(other_args: str, sigma: float | None) -> str:
    if sigma is None or "--sigma_ang" in other_args:
        return other_args
    return f"{other_args} --sigma_ang {num(sigma)}".strip()


def with_iteration_cap(other_args: str, cap: int) -> str:
    if "--auto_iter_max" in other_args:
        return other_args
    return f"{other_args} --auto_iter_max {cap}".strip()


def with_angular_cap(other_args: str, stage: BinningStage) -> str:
    cap = stage.refine3d.max_angular_step
    if cap is None or "--maximum_angular_sampling" in other_args:
        return other_args
    return f"{other_args} --maximum_angular_sampling {num(cap)}".strip()


@dataclass
class JobOptions:
    """One builder per RELION job type; options in the job.star names of RELION ``release``."""

    params: Parameters
    release: str = NEWEST

    def __post_init__(self) -> None:
        if self.release not in KNOWN_RELEASES:
            raise ValueError(f"py2rely writes the job options of RELION {', '.join(KNOWN_RELEASES)}, "
                             f"not {self.release}")

    # -- shared pieces -------------------------------------------------------------------

    @property
    def tomograms(self) -> str:
        return self.params.inputs.tilt_series

    def _tomo_inputs(self, particles: str, tomograms: str | None = None,
                     trajectories: str = "") -> dict[str, str]:
        return {"use_direct_entries": YES, "in_particles": particles,
                "in_tomograms": tomograms or self.tomograms, "in_trajectories": trajectories}

    def _mpi(self) -> dict[str, str]:
        compute = self.params.compute
        return {"nr_mpi": str(compute.mpi_ranks), "nr_threads": str(compute.threads)}

    def _refine_compute(self, kind: str) -> dict[str, str]:
        compute = self.params.compute
        return {"nr_mpi": str(compute.refine_mpi_ranks), "nr_threads": str(compute.threads),
                "use_gpu": yes_no(bool(compute.use_gpu)), "gpu_ids": compute.gpu_ids_for(kind)}

    def _refine_args(self, other_args: str) -> str:
        """other_args of a relion_refine job, with what 3D pseudo-subtomograms need."""
        if self.params.extract.do_stack2d:
            return other_args
        return with_subtomo_3d_flags(other_args)

    @staticmethod
    def _boxes(stage: BinningStage) -> dict[str, str]:
        """Boxes in pixels at a binning (Reconstruct, and Extract up to RELION 5.0)."""
        return {"binning": str(stage.binning), "box_size": str(stage.extract_box),
                "crop_size": str(stage.box) if stage.extract_box != stage.box else "-1"}

    def _extract_boxes(self, stage: BinningStage) -> dict[str, str]:
        """Extract's boxes and output format in the options of the release."""
        return extract_box_options(self.release, stage.binning, stage.extract_box, stage.box,
                                   self.params.inputs.tilt_series_pixel_size, self.params.extract.do_stack2d)

    # -- tomography programs ------------------------------------------------------------------

    def extract(self, particles: str, stage: BinningStage, tomograms: str | None = None,
                trajectories: str = "") -> PlannedJob:
        extract = self.params.extract
        options = {
            **self._tomo_inputs(particles, tomograms, trajectories), **self._extract_boxes(stage),
            "max_dose": num(extract.max_dose), "min_frames": str(extract.min_frames),
            "do_float16": yes_no(extract.do_float16), **self._mpi(),
        }
        return PlannedJob(labels.EXTRACT, options, stage="extract", binning=stage.binning)

    def reconstruct(self, particles: str, stage: BinningStage, tomograms: str | None = None,
                    trajectories: str = "", purpose: str = "reconstruct") -> PlannedJob:
        options = {
            **self._tomo_inputs(particles, tomograms, trajectories), **self._boxes(stage),
            "snr": num(self.params.reconstruct.snr), "sym_name": self.params.particle.symmetry,
            **self._mpi(),
        }
        return PlannedJob(labels.RECONSTRUCT, options, stage=purpose,
                          binning=stage.binning)

    # -- relion_refine ------------------------------------------------------------------------

    def refine3d(self, particles: str, reference: str, stage: BinningStage, ini_high: float,
                 mask: str = "", local_from_start: bool = True, tomograms: str | None = None,
                 trajectories: str = "") -> PlannedJob:
        refine = self.params.refine3d
        settings = stage.refine3d
        # Angles known to within a few degrees: search locally from the first iteration
        # (RELION does when the sampling is at least as fine as auto_local_sampling).
        sampling = settings.auto_local_sampling if local_from_start else settings.sampling
        offset_range = pixels(settings.offset_range, stage)
        angle_sigma = settings.local_angle_sigma or refine.local_angle_sigma
        options = {
            **self._tomo_inputs(particles, tomograms, trajectories), "fn_ref": reference,
            "fn_mask": mask, "ref_correct_greyscale": yes_no(refine.ref_correct_greyscale),
            "trust_ref_size": yes_no(refine.trust_ref_size), "ini_high": num(ini_high),
            "sym_name": self.params.particle.symmetry,
            "do_ctf_correction": yes_no(refine.do_ctf_correction),
            "ctf_intact_first_peak": yes_no(refine.ctf_intact_first_peak),
            "particle_diameter": num(self.params.particle.diameter),
            "do_zero_mask": yes_no(refine.do_zero_mask),
            "do_solvent_fsc": yes_no(refine.do_solvent_fsc and bool(mask)),
            "sampling": sampling, "auto_local_sampling": settings.auto_local_sampling,
            "offset_range": str(offset_range),
            "offset_step": pixel_step(settings.offset_step, stage),
            "relax_sym": refine.relax_sym, "auto_faster": yes_no(settings.auto_faster),
            "sigma_tilt": num(refine.sigma_tilt), "nr_pool": str(refine.nr_pool),
            "do_pad1": yes_no(refine.do_pad1),
            "other_args": with_iteration_cap(with_angle_prior(
                with_angular_cap(with_offset_floor(refine.other_args, offset_range, stage), stage),
                angle_sigma if local_from_start else None), refine.max_iterations),
            **self._refine_compute("refine3d"),
        }
        options["other_args"] = self._refine_args(options["other_args"])
        return PlannedJob(labels.REFINE3D, options, stage="refine3d", binning=stage.binning)

    def class3d_alignment(self, particles: str, template: str, stage: BinningStage,
                          confirming: bool = False) -> PlannedJob:
        """One pass of the global search of picks without angles (sta/global_search.py): a
        one-class Class3D with alignment against the template or the de novo map (maximum
        cross-correlation first), or, ``confirming``, against the previous pass's map, which is
        on RELION's greyscale (an EM pass that shows how far the poses still move)."""
        settings = self.params.initial_model.reference
        offset_range = pixels(settings.offset_range or stage.refine3d.offset_range, stage)
        offset_step = settings.offset_step or stage.refine3d.offset_step
        options = {
            **self._tomo_inputs(particles), "fn_ref": template,
            "ref_correct_greyscale": yes_no(confirming or settings.ref_correct_greyscale),
            "ini_high": num(self.params.particle.low_pass), "sym_name": self.params.particle.symmetry,
            "particle_diameter": num(self.params.particle.diameter), "nr_classes": "1",
            "nr_iter": str(settings.nr_iter), "tau_fudge": num(settings.tau_fudge),
            "dont_skip_align": YES, "sampling": settings.sampling,
            "offset_range": str(offset_range),
            "offset_step": pixel_step(offset_step, stage),
            "allow_coarser": yes_no(settings.allow_coarser), "nr_pool": str(settings.nr_pool),
            "other_args": self._refine_args(with_offset_floor(settings.other_args, offset_range, stage)),
            **self._refine_compute("class3d"),
        }
        return PlannedJob(labels.CLASS3D, options, stage="global search", binning=stage.binning)

    def class3d(self, particles: str, reference: str, mask: str, stage: BinningStage,
                ini_high: float) -> PlannedJob:
        settings = self.params.class3d
        offset_range = pixels(stage.refine3d.offset_range, stage)
        options = {
            **self._tomo_inputs(particles), "fn_ref": reference, "fn_mask": mask,
            "ref_correct_greyscale": NO, "ini_high": num(ini_high),
            "sym_name": self.params.particle.symmetry,
            "particle_diameter": num(self.params.particle.diameter),
            "nr_classes": str(settings.nr_classes), "nr_iter": str(settings.nr_iter),
            "tau_fudge": num(settings.tau_fudge), "dont_skip_align": yes_no(settings.do_align),
            "sampling": settings.sampling,
            "offset_range": str(offset_range),
            "offset_step": pixel_step(stage.refine3d.offset_step, stage),
            "nr_pool": str(settings.nr_pool),
            "other_args": self._refine_args(with_offset_floor(settings.other_args, offset_range, stage)),
            **self._refine_compute("class3d"),
        }
        if not settings.do_align:
            options["use_gpu"] = NO  # RELION refuses GPUs without alignment
        return PlannedJob(labels.CLASS3D, options, stage="class3d", binning=stage.binning)

    def initial_model(self, particles: str, stage: BinningStage) -> PlannedJob:
        settings = self.params.initial_model.denovo
        compute = self.params.compute
        # RELION's InitialModel job always searches ±6 px in 2 px steps and has no job option for
        # it: a search of our own in other_args would repeat the flags (relion_refine warns and
        # takes the later one). The initial model therefore searches RELION's range, and the
        # offset-prior floor the same code path needs is sized for it (or for the range a user
        # puts in denovo.other_args, which relion_refine then uses).
        offset_range = offset_range_in(settings.other_args) or INITIAL_MODEL_OFFSET_RANGE
        options = {
            **self._tomo_inputs(particles), "nr_iter": str(settings.nr_iter),
            "tau_fudge": num(settings.tau_fudge), "nr_classes": str(settings.nr_classes),
            "sym_name": self.params.particle.symmetry, "do_run_C1": yes_no(settings.do_run_C1),
            "particle_diameter": num(self.params.particle.diameter),
            "sigma_tilt": num(settings.sigma_tilt), "nr_pool": str(settings.nr_pool),
            "other_args": self._refine_args(with_offset_floor(settings.other_args, offset_range, stage)),
            # Gradient-driven refinement does not run with MPI: one process with the threads of
            # the refinement's followers, so it uses the CPUs a Refine3D would.
            "nr_mpi": "1", "nr_threads": str((compute.refine_mpi_ranks - 1) * compute.threads),
            "use_gpu": yes_no(bool(compute.use_gpu)), "gpu_ids": compute.gpu_ids_for("initial_model"),
        }
        return PlannedJob(labels.INITIAL_MODEL, options, stage="initial model (de novo)",
                          binning=stage.binning)

    # -- maps and subsets ------------------------------------------------------------------

    def mask(self, density_map: str, stage: BinningStage, lowpass: float, threshold: float | str,
             edge_factor: float = 1.0, purpose: str = "mask") -> PlannedJob:
        settings = self.params.mask_create
        options = {
            "fn_in": density_map, "lowpass_filter": num(lowpass),
            "inimask_threshold": threshold if isinstance(threshold, str) else f"{threshold:.6g}",
            "extend_inimask": str(pixels(settings.extend, stage, minimum=0)),
            "width_mask_edge": str(pixels(settings.soft_edge * edge_factor, stage)),
            "nr_threads": str(self.params.compute.threads),
        }
        return PlannedJob(labels.MASK_CREATE, options, stage=purpose, binning=stage.binning)

    def postprocess(self, half1: str, mask: str, stage: BinningStage,
                    expected_resolution: float | None, purpose: str = "postprocess") -> PlannedJob:
        settings = self.params.postprocess
        # A Guinier fit needs resolution well beyond the fitting range; at low resolution it fails.
        sharpen = expected_resolution is not None and expected_resolution < settings.auto_bfactor_below
        options = {"fn_in": half1, "fn_mask": mask, "do_auto_bfac": yes_no(sharpen),
                   "autob_lowres": num(settings.autob_lowres)}
        return PlannedJob(labels.POSTPROCESS, options, stage=purpose, binning=stage.binning)

    def remove_duplicates(self, particles: str, stage: BinningStage) -> PlannedJob:
        options = {"fn_data": particles,
                   "duplicate_threshold": num(self.params.remove_duplicates.distance)}
        return PlannedJob(labels.REMOVE_DUPLICATES, options, stage="remove duplicates",
                          binning=stage.binning)

    def select_class_range(self, particles: str, first: int, last: int, stage: BinningStage
                           ) -> PlannedJob:
        options = {"fn_data": particles, "select_label": "rlnClassNumber",
                   "select_minval": str(first), "select_maxval": str(last)}
        return PlannedJob(labels.SELECT_ON_VALUE, options, stage="select classes",
                          binning=stage.binning)

    def join_particles(self, inputs: list[str], stage: BinningStage) -> PlannedJob:
        if not 2 <= len(inputs) <= 4:
            raise ValueError(f"can join 2 to 4 particle sets, got {len(inputs)}")
        options = {f"fn_part{index}": path for index, path in enumerate(inputs, start=1)}
        return PlannedJob(labels.JOIN_PARTICLES, options, stage="join classes",
                          binning=stage.binning)

    # -- bin-1 refinements -----------------------------------------------------------------

    def ctf_refine(self, particles: str, tomograms: str, trajectories: str, half1: str, mask: str,
                   postprocess_star: str, stage: BinningStage) -> PlannedJob:
        settings = self.params.ctf_refine
        options = {
            **self._tomo_inputs(particles, tomograms, trajectories), "in_halfmaps": half1,
            "in_refmask": mask, "in_post": postprocess_star, "box_size": str(stage.extract_box),
            "do_defocus": yes_no(settings.do_defocus), "focus_range": num(settings.focus_range),
            "do_reg_def": yes_no(settings.do_reg_def), "lambda": num(settings.reg_lambda),
            "do_scale": yes_no(settings.do_scale), "do_frame_scale": yes_no(settings.do_frame_scale),
            **self._mpi(),
        }
        return PlannedJob(labels.CTF_REFINE, options, stage="ctf refine", binning=stage.binning)

    def polish(self, particles: str, tomograms: str, trajectories: str, half1: str, mask: str,
               postprocess_star: str, stage: BinningStage) -> PlannedJob:
        settings = self.params.polish
        options = {
            **self._tomo_inputs(particles, tomograms, trajectories), "in_halfmaps": half1,
            "in_refmask": mask, "in_post": postprocess_star, "box_size": str(stage.extract_box),
            "max_error": num(settings.max_error), "do_shift_align": yes_no(settings.shift_only),
            "do_motion": yes_no(settings.do_motion and not settings.shift_only),
            "sigma_vel": num(settings.sigma_vel), "sigma_div": num(settings.sigma_div),
            "do_sq_exp_ker": yes_no(settings.do_sq_exp_ker), **self._mpi(),
        }
        return PlannedJob(labels.POLISH, options, stage="polish", binning=stage.binning)
