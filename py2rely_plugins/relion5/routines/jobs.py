"""RELION job options of the single jobs (`py2rely routines ...`) that run without a parameter
file: the same job types and option names as the pipeline's builders (sta.options), filled from
py2rely 0.7.1's command-line flags instead of the parameter file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from py2rely_core.interfaces import PlannedJob
from py2rely_plugins.relion5.conventions import odd_ranks_for_refinement
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.sta.options import (
    NO,
    YES,
    extract_box_options,
    num,
    with_offset_floor_at,
    with_subtomo_3d_flags,
    yes_no,
)

APEX_ARGS = "--no_ctf --no_comb"  # 0.7.1's -apex True: neither CTF nor the CTF-multiplicity image
STAGE = "routines {}"


def _tomo(particles: str, tomograms: str, trajectories: str | None) -> dict[str, str]:
    return {"use_direct_entries": YES, "in_particles": particles, "in_tomograms": tomograms,
            "in_trajectories": trajectories or ""}


def _boxes(binning: int, box: int, crop: int | None) -> dict[str, str]:
    return {"binning": str(binning), "box_size": str(box),
            "crop_size": str(crop) if crop and crop != box else "-1"}


def extract(particles: str, tomograms: str, trajectories: str | None, binning: int, box: int,
            crop: int | None, threads: int, ranks: int, apex: bool, *, release: str,
            tilt_series_pixel: float, stack2d: bool = True) -> PlannedJob:
    boxes = extract_box_options(release, binning, box, crop or box, tilt_series_pixel, stack2d)
    options = {**_tomo(particles, tomograms, trajectories), **boxes, "do_float16": YES, "nr_mpi": str(ranks),
               "nr_threads": str(threads), "other_args": APEX_ARGS if apex else ""}
    return PlannedJob(labels.EXTRACT, options, stage=STAGE.format("extract"), binning=binning)


def reconstruct(particles: str, tomograms: str, trajectories: str | None, binning: int, box: int,
                crop: int | None, symmetry: str, threads: int, ranks: int) -> PlannedJob:
    options = {**_tomo(particles, tomograms, trajectories), **_boxes(binning, box, crop),
               "sym_name": symmetry, "nr_mpi": str(ranks), "nr_threads": str(threads)}
    return PlannedJob(labels.RECONSTRUCT, options, stage=STAGE.format("reconstruct"), binning=binning)


@dataclass
class RefineSettings:
    """0.7.1's `routines refine3d` flags, in RELION's units (pixels for offsets)."""

    reference: str
    mask: str
    low_pass: float
    diameter: float
    symmetry: str
    sampling: str
    local_sampling: str
    ref_correct_greyscale: bool
    threads: int
    ranks: int
    pool: int
    use_gpu: bool
    gpu_ids: str
    pixel_size: float | None  # Å per pixel of the particles (for RELION 5.1's offset prior)
    subtomograms_3d: bool = False
    offset_range: int = 5  # RELION's defaults, pixels
    offset_step: int = 1


def refine3d(particles: str, tomograms: str, trajectories: str | None, s: RefineSettings,
             binning: int | None) -> PlannedJob:
    other_args = with_offset_floor_at("", s.offset_range, s.pixel_size) if s.pixel_size else ""
    if s.subtomograms_3d:
        other_args = with_subtomo_3d_flags(other_args)
    options = {
        **_tomo(particles, tomograms, trajectories), "fn_ref": s.reference, "fn_mask": s.mask,
        "ref_correct_greyscale": yes_no(s.ref_correct_greyscale), "ini_high": num(s.low_pass),
        "sym_name": s.symmetry, "particle_diameter": num(s.diameter), "sampling": s.sampling,
        "auto_local_sampling": s.local_sampling, "offset_range": str(s.offset_range),
        "offset_step": str(s.offset_step), "nr_pool": str(s.pool), "nr_mpi": str(s.ranks),
        "nr_threads": str(s.threads), "use_gpu": yes_no(s.use_gpu), "gpu_ids": s.gpu_ids,
        "other_args": other_args,
    }
    return PlannedJob(labels.REFINE3D, options, stage=STAGE.format("refine3d"), binning=binning)


def refine_ranks(processes: int) -> int:
    """0.7.1 ran Refine3D with an odd number ≥ 3 of MPI ranks whatever -np said."""
    return odd_ranks_for_refinement(max(processes, 3))


def mask_create(density_map: str, threshold: str, extend: int, width: int, low_pass: float,
                threads: int) -> PlannedJob:
    options = {"fn_in": density_map, "inimask_threshold": threshold, "extend_inimask": str(extend),
               "width_mask_edge": str(width), "lowpass_filter": num(low_pass), "nr_threads": str(threads)}
    return PlannedJob(labels.MASK_CREATE, options, stage=STAGE.format("mask-create"))


def postprocess(half1: str, mask: str, low_pass: float | None) -> PlannedJob:
    # 0.7.1 asked for no B-factor; its --low-pass reaches RELION only as the filter that replaces
    # FSC weighting (RELION's --skip_fsc_weighting --low_pass), which is what it does here.
    options = {"fn_in": half1, "fn_mask": mask, "do_auto_bfac": NO}
    if low_pass is not None:
        options.update(do_skip_fsc_weighting=YES, low_pass=num(low_pass))
    return PlannedJob(labels.POSTPROCESS, options, stage=STAGE.format("post-process"))


def select_range(particles: str, first: int, last: int, binning: int | None) -> PlannedJob:
    options = {"fn_data": particles, "select_label": "rlnClassNumber", "select_minval": str(first),
               "select_maxval": str(last)}
    return PlannedJob(labels.SELECT_ON_VALUE, options, stage=STAGE.format("select"), binning=binning)


def join(parts: Sequence[str], binning: int | None) -> PlannedJob:
    if not 2 <= len(parts) <= 4:
        raise ValueError(f"RELION joins 2 to 4 particle sets, got {len(parts)}")
    options = {f"fn_part{index}": path for index, path in enumerate(parts, start=1)}
    return PlannedJob(labels.JOIN_PARTICLES, options, stage=STAGE.format("select"), binning=binning)
