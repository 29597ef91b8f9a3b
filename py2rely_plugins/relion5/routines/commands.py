"""`py2rely routines ...`: one RELION job each, with py2rely 0.7.1's flags, as a tracked job of the
project in the current directory (or --project-dir): validated before it starts, reused when
the same command runs again, and a failure stops with exit code 5 and RELION's error."""

from __future__ import annotations

import math
from dataclasses import replace

import click

from py2rely_core import log
from py2rely_core.atomic import refuse_existing
from py2rely_core.cli import CONTEXT_SETTINGS, Py2relyGroup, optional_bool
from py2rely_core.errors import InputError
from py2rely_core.star import check_particles_match_tomograms, read_particles, read_tomograms
from py2rely_plugins.relion5.conventions import sampling_label
from py2rely_plugins.relion5.gpu import gpu_options, requested_gpu
from py2rely_plugins.relion5.routines import jobs
from py2rely_plugins.relion5.routines.common import (
    Run,
    check_box,
    command,
    compute_for,
    file_in_project,
    optional_parameters,
    project_root,
    run_jobs,
    run_options,
    tomograms_for,
    typed,
)
from py2rely_plugins.relion5.routines.selection import (
    check_classes,
    parse_classes,
    select_as_jobs,
    write_selected,
)
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.options import JobOptions
from py2rely_plugins.relion5.sta.params import Parameters
from py2rely_plugins.relion5.sta.session import Session
from py2rely_plugins.relion5.user_inputs import (
    check_map,
    check_mask,
    map_header,
    particle_facts,
    project_path,
)

SAMPLINGS = ("30 degrees", "15 degrees", "7.5 degrees", "3.7 degrees", "1.8 degrees", "0.9 degrees",
             "0.5 degrees", "0.2 degrees", "0.1 degrees")
MASK_PLACEHOLDER = "path/to/mask.mrc"  # 0.7.1's default for routines refine3d --mask


@click.group("routines", cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def routines() -> None:
    """Run one RELION job (extract, reconstruct, refine3d, class3d, mask-create, post-process,
    select) as a tracked job of the project."""


def _sampling(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return sampling_label(float(value.replace("degrees", "").strip()))
    except ValueError:
        raise click.BadParameter(f"{value!r}: one of {', '.join(SAMPLINGS)}") from None


def _binning_stage(params: Parameters, binning: int | None, where: str):
    if binning is None:
        raise InputError(where, "has no rlnTomoSubtomogramBinning in data_optics",
                         "particles extracted by RELION (Extract or a refinement)")
    try:
        return params.stage(binning)
    except KeyError:
        raise InputError(where, f"binning {binning} is not in the parameter file's binning_list "
                         f"{params.binning_list}") from None


def _check_against_tomograms(particles: str, tomograms: str, root) -> None:
    tomogram_set = read_tomograms(root / tomograms, project_dir=root, check_tilts=False)
    check_particles_match_tomograms(read_particles(root / particles), tomogram_set)


def _tilt_series_pixel(tomograms: str, root) -> float:
    """The tilt series' pixel size (RELION 5.1 takes Extract's boxes in Å); one for all."""
    sizes = set(read_tomograms(root / tomograms, project_dir=root, check_tilts=False).pixel_sizes().tolist())
    if len(sizes) != 1:
        raise InputError(tomograms, f"rlnTomoTiltSeriesPixelSize {sorted(sizes)}",
                         "one tilt-series pixel size for all tomograms")
    return sizes.pop()


def _extraction_boxes(ctx: click.Context, params: Parameters | None, binning: int, box: int | None,
                      crop: int | None) -> tuple[int, int | None]:
    if box is not None and (typed(ctx, "boxsize") or params is None):
        crop = crop if crop is not None and (typed(ctx, "cropsize") or params is None) else None
        check_box(box, crop)
        return box, crop
    if params is None:
        raise InputError("--boxsize", "not given", "--boxsize (and --cropsize), or --parameter")
    stage = _binning_stage(params, binning, f"--binfactor {binning}")
    return stage.extract_box, stage.box


# ---------------------------------------------------------------------------------------------
# extract


@command(routines, "extract", "Extract pseudo-subtomograms (RELION Extract job) at one binning.")
@click.option("-param", "--parameter", default=None,
              help="Parameter file: box and crop size at --binfactor, tomograms, threads and ranks.")
@click.option("-p", "--particles", default="particles.star", show_default=True, help="Particles STAR.")
@click.option("-bf", "--binfactor", type=int, default=1, show_default=True, help="Binning factor.")
@click.option("-t", "--tomogram", default=None,
              help="Tomograms STAR (default: the parameter file's, or the optimisation set's next to "
                   "the particles).")
@click.option("-m", "--motion", default=None, help="Motion (trajectories) STAR, e.g. from Polish.")
@click.option("-bs", "--boxsize", type=int, default=None, help="Box size (pixels at --binfactor).")
@click.option("-cs", "--cropsize", type=int, default=None, help="Crop size (default: the box size).")
@optional_bool("-apex", "--apex", help="Neither CTF premultiplication nor the CTF-multiplicity image "
               "(relion_tomo_subtomo --no_ctf --no_comb).")
@optional_bool("-e3d", "--extract3D", "extract3d", help="3D pseudo-subtomograms instead of 2D stacks.")
@click.option("-j", "--nthreads", type=int, default=8, show_default=True, help="Threads per MPI rank.")
@click.option("-np", "--nprocesses", type=int, default=1, show_default=True, help="MPI ranks.")
@run_options
@click.pass_context
def extract(ctx: click.Context, parameter: str | None, particles: str, binfactor: int,
            tomogram: str | None, motion: str | None, boxsize: int | None, cropsize: int | None,
            apex: bool, extract3d: bool, nthreads: int, nprocesses: int, **_: object) -> None:
    root = project_root(ctx)
    params = optional_parameters(parameter, root)
    particles = project_path(particles, root, "--particles")
    particle_facts(root / particles, particles)
    tomograms = tomograms_for(tomogram, False, params, particles, root, "--tomogram")
    _check_against_tomograms(particles, tomograms, root)
    trajectories = file_in_project(motion, root, "--motion")
    if binfactor < 1:
        raise InputError("--binfactor", f"{binfactor}", "a positive integer")
    box, crop = _extraction_boxes(ctx, params, binfactor, boxsize, cropsize)
    compute = compute_for(params, nthreads, nprocesses, ctx)

    tilt_series_pixel = _tilt_series_pixel(tomograms, root)

    def plan(run: Run, session: Session) -> str:
        done = run(jobs.extract(particles, tomograms, trajectories, binfactor, box, crop, compute.threads,
                                compute.mpi_ranks, apex, release=session.release.release,
                                tilt_series_pixel=tilt_series_pixel, stack2d=not extract3d))
        return f"particles: {done.path('particles.star')} (box {box}, crop {crop or box}, bin {binfactor})"

    run_jobs(ctx, compute, params, plan)


# ---------------------------------------------------------------------------------------------
# reconstruct


@command(routines, "reconstruct", "Reconstruct a map from particle poses (RELION Reconstruct job).")
@click.option("-param", "--parameter", default=None,
              help="Parameter file: box and crop size at --binfactor, tomograms, symmetry, threads.")
@click.option("-p", "--particles", default="path/to/particles.star", show_default=True,
              help="Particles STAR with poses (e.g. Refine3D/job001/run_data.star).")
@click.option("-t", "--tomograms", default=None,
              help="Tomograms STAR (e.g. from CtfRefine or Polish; default: the parameter file's, or "
                   "the optimisation set's next to the particles).")
@click.option("-m", "--motion", default=None, help="Motion (trajectories) STAR, e.g. from Polish.")
@click.option("-bf", "--binfactor", type=int, default=1, show_default=True, help="Binning factor.")
@click.option("-bs", "--boxsize", type=int, default=256, show_default=True, help="Box size (pixels).")
@click.option("-cs", "--cropsize", type=int, default=256, show_default=True, help="Crop size (pixels).")
@click.option("-sym", "--symmetry", default="C1", show_default=True, help="Point-group symmetry.")
@click.option("-j", "--nthreads", type=int, default=8, show_default=True, help="Threads per MPI rank.")
@click.option("-np", "--nprocesses", type=int, default=1, show_default=True, help="MPI ranks.")
@run_options
@click.pass_context
def reconstruct(ctx: click.Context, parameter: str | None, particles: str, tomograms: str | None,
                motion: str | None, binfactor: int, boxsize: int, cropsize: int, symmetry: str,
                nthreads: int, nprocesses: int, **_: object) -> None:
    from py2rely_plugins.relion5.symmetry import normalise_symmetry

    root = project_root(ctx)
    params = optional_parameters(parameter, root)
    particles = project_path(particles, root, "--particles")
    facts = particle_facts(root / particles, particles)
    tomograms = tomograms_for(tomograms, False, params, particles, root, "--tomograms")
    _check_against_tomograms(particles, tomograms, root)
    trajectories = file_in_project(motion, root, "--motion")
    box, crop = _extraction_boxes(ctx, params, binfactor, boxsize, cropsize)
    if params is not None and not typed(ctx, "symmetry"):
        symmetry = params.particle.symmetry
    try:
        symmetry = normalise_symmetry(symmetry)
    except ValueError as exc:
        raise InputError("--symmetry", str(exc)) from None
    compute = compute_for(params, nthreads, nprocesses, ctx)

    def plan(run: Run, session: Session) -> str:
        done = run(jobs.reconstruct(particles, tomograms, trajectories, binfactor, box, crop, symmetry,
                                    compute.threads, compute.mpi_ranks))
        halves = " and half1.mrc/half2.mrc" if facts.half_sets else " (no half maps: no rlnRandomSubset)"
        return f"map: {done.path('merged.mrc')}{halves}"

    run_jobs(ctx, compute, params, plan)


# ---------------------------------------------------------------------------------------------
# refine3d


@command(routines, "refine3d", "Gold-standard 3D auto-refinement (RELION Refine3D job).")
@click.option("-param", "--parameter", default=None,
              help="Parameter file: the refinement settings of the particles' binning.")
@click.option("-p", "--particles", default="Refine3D/job001/run_data.star", show_default=True,
              help="Particles STAR (extracted, e.g. Extract/job001/particles.star).")
@click.option("-t", "--tomogram", default="tomograms.star", show_default=True,
              help="Tomograms STAR (used when it exists; else the parameter file's or the "
                   "optimisation set's next to the particles).")
@click.option("-mo", "--motion", default=None, help="Motion (trajectories) STAR.")
@click.option("-r", "--reference", default="Reconstruct/job001/half1.mrc", show_default=True,
              help="Reference map.")
@click.option("-ma", "--mask", default=MASK_PLACEHOLDER, show_default=True,
              help="Reference mask (the placeholder default means no mask).")
@click.option("-lp", "--low-pass", type=float, default=15, show_default=True,
              help="Initial low-pass of the reference (Å).")
@click.option("-d", "--diameter", type=float, default=280, show_default=True, help="Particle diameter (Å).")
@click.option("-sym", "--symmetry", default="C1", show_default=True, help="Point-group symmetry.")
@click.option("-ang", "--sampling-angle", default="7.5 degrees", show_default=True, callback=_sampling,
              help="Initial angular sampling (e.g. '7.5 degrees' or 7.5).")
@click.option("-lan", "--local-sampling-angle", default="1.8 degrees", show_default=True,
              callback=_sampling, help="Angular sampling where local searches start.")
@optional_bool("-rcg", "--ref-correct-greyscale", default=True,
               help="The reference is on RELION's absolute greyscale.")
@click.option("--continue-iter", default=None,
              help="Accepted as in 0.7.1, which ignored it (rerunning the command reuses the job).")
@click.option("-j", "--nthreads", type=int, default=8, show_default=True, help="Threads per MPI rank.")
@click.option("-np", "--nprocesses", type=int, default=1, show_default=True,
              help="MPI ranks (Refine3D runs an odd number ≥ 3).")
@click.option("-npool", "--nr-pool", type=int, default=16, show_default=True,
              help="Particles per thread pool.")
@gpu_options
@run_options
@click.pass_context
def refine3d(ctx: click.Context, parameter: str | None, particles: str, tomogram: str, motion: str | None,
             reference: str, mask: str, low_pass: float, diameter: float, symmetry: str,
             sampling_angle: str, local_sampling_angle: str, ref_correct_greyscale: bool,
             continue_iter: str | None, nthreads: int, nprocesses: int, nr_pool: int, gpu: bool | None,
             use_gpu: bool | None, gpu_ids: tuple[str, ...], **_: object) -> None:
    from py2rely_plugins.relion5.symmetry import normalise_symmetry

    root = project_root(ctx)
    if continue_iter:
        log.get_logger("py2rely.compat").warning(
            "flag has no effect", flag="--continue-iter",
            note="as in py2rely 0.7.1; rerun the same command to reuse or re-attach the job")
    params = optional_parameters(parameter, root)
    particles = project_path(particles, root, "--particles")
    facts = particle_facts(root / particles, particles)
    if facts.box is None:
        raise InputError(f"--particles {particles}", "has no rlnImageSize in data_optics (not extracted)",
                         "extracted particles, e.g. Extract/job001/particles.star")
    tomograms = tomograms_for(tomogram, not typed(ctx, "tomogram"), params, particles, root, "--tomogram")
    trajectories = file_in_project(motion, root, "--motion")
    reference = project_path(reference, root, "--reference")
    check_map(root / reference, facts.box, facts.pixel_size, "--reference", root=root)
    if mask == MASK_PLACEHOLDER and not typed(ctx, "mask") and not (root / mask).exists():
        mask = ""
    else:
        mask = project_path(mask, root, "--mask")
        check_mask(root / mask, facts.box, facts.pixel_size, "--mask", root=root)
    try:
        symmetry = normalise_symmetry(symmetry)
    except ValueError as exc:
        raise InputError("--symmetry", str(exc)) from None
    if typed(ctx, "nprocesses") and jobs.refine_ranks(nprocesses) != nprocesses:
        log.get_logger("py2rely.routines").warning(
            "refine3d needs an odd number of MPI ranks ≥ 3", asked=nprocesses,
            running=jobs.refine_ranks(nprocesses))
    compute = compute_for(params, nthreads, nprocesses, ctx)
    if params is None or typed(ctx, "nprocesses"):
        compute.refine_mpi_ranks = jobs.refine_ranks(nprocesses)

    def plan(run: Run, session: Session) -> str:
        if params is None:
            planned = jobs.refine3d(particles, tomograms, trajectories, jobs.RefineSettings(
                reference=reference, mask=mask, low_pass=low_pass, diameter=diameter, symmetry=symmetry,
                sampling=sampling_angle, local_sampling=local_sampling_angle,
                ref_correct_greyscale=ref_correct_greyscale, threads=compute.threads,
                ranks=compute.refine_mpi_ranks, pool=nr_pool, use_gpu=bool(compute.use_gpu),
                gpu_ids=compute.gpu_ids_for("refine3d"), pixel_size=facts.pixel_size,
                subtomograms_3d=facts.subtomograms_3d), facts.binning)
        else:
            params.extract.do_stack2d = not facts.subtomograms_3d
            stage = _binning_stage(params, facts.binning, f"--particles {particles}")
            planned = JobOptions(params).refine3d(particles, reference, stage, low_pass, mask,
                                                  local_from_start=True, tomograms=tomograms)
            changes = {"in_trajectories": trajectories or ""}
            for option, key, value in (("diameter", "particle_diameter", f"{diameter:g}"),
                                       ("ref_correct_greyscale", "ref_correct_greyscale",
                                        "Yes" if ref_correct_greyscale else "No"),
                                       ("symmetry", "sym_name", symmetry),
                                       ("sampling_angle", "sampling", sampling_angle),
                                       ("local_sampling_angle", "auto_local_sampling", local_sampling_angle),
                                       ("nr_pool", "nr_pool", str(nr_pool))):
                if typed(ctx, option):
                    changes[key] = value
            planned = replace(planned.with_options(**changes), stage=jobs.STAGE.format("refine3d"))
        done = run(planned)
        if session.runner.dry_run:
            return ""
        resolution = results.refine_resolution(done.job_dir, session.project.root)
        return (f"refined: {done.path('run_data.star')}, map {done.path('run_class001.mrc')} "
                f"at {resolution:.1f} Å")

    run_jobs(ctx, compute, params, plan, gpu=requested_gpu(gpu, use_gpu), gpu_ids=gpu_ids)


# ---------------------------------------------------------------------------------------------
# class3d


@command(routines, "class3d", "3D classification of refined particles (RELION Class3D job).")
@click.option("--parameter", default="sta_parameters.json", show_default=True,
              help="Parameter file: diameter, symmetry, tomograms and sampling of the particles' binning.")
@click.option("--particles", required=True, help="Particles STAR (e.g. Refine3D/job003/run_data.star).")
@click.option("-r", "--reference", required=True, help="Reference map.")
@click.option("-m", "--mask", default=None, help="Mask for the classification.")
@click.option("--ini-high", type=float, default=None,
              help="Initial low-pass (Å; default: the parameter file's first low-pass).")
@click.option("-tau", "--tau-fudge", type=float, default=3, show_default=True, help="Regularisation T.")
@click.option("-ni", "--nr-iter", type=int, default=None,
              help="Iterations (default: the parameter file's class3d.nr_iter).")
@optional_bool("-rcg", "--ref-correct-greyscale", default=True,
               help="The reference is on RELION's absolute greyscale (made by RELION).")
@click.option("-t", "--tomogram", default=None,
              help="Tomograms STAR (e.g. from CtfRefine or Polish; default: the parameter file's).")
@optional_bool("-align", "--align-particles",
               help="Align while classifying (on GPUs when they are on); without it poses are kept.")
@click.option("--nr-classes", type=int, default=5, show_default=True, help="Number of classes.")
@gpu_options
@run_options
@click.pass_context
def class3d(ctx: click.Context, parameter: str, particles: str, reference: str, mask: str | None,
            ini_high: float | None, tau_fudge: float, nr_iter: int | None, ref_correct_greyscale: bool,
            tomogram: str | None, align_particles: bool, nr_classes: int, gpu: bool | None,
            use_gpu: bool | None, gpu_ids: tuple[str, ...], **_: object) -> None:
    root = project_root(ctx)
    params = optional_parameters(parameter, root)
    assert params is not None
    particles = project_path(particles, root, "--particles")
    facts = particle_facts(root / particles, particles)
    stage = _binning_stage(params, facts.binning, f"--particles {particles}")
    tomograms = tomograms_for(tomogram, False, params, particles, root, "--tomogram")
    reference = project_path(reference, root, "--reference")
    check_map(root / reference, facts.box, facts.pixel_size, "--reference", root=root)
    mask = file_in_project(mask, root, "--mask") or ""
    if mask:
        check_mask(root / mask, facts.box, facts.pixel_size, "--mask", root=root)
    if nr_classes < 1 or tau_fudge <= 0 or (nr_iter is not None and nr_iter < 1):
        raise InputError("--nr-classes/--tau-fudge/--nr-iter",
                         f"{nr_classes}/{tau_fudge:g}/{nr_iter}", "positive numbers")
    params.extract.do_stack2d = not facts.subtomograms_3d
    compute = params.compute

    def plan(run: Run, session: Session) -> str:
        planned = JobOptions(params).class3d(particles, reference, mask, stage,
                                             ini_high or stage.refine3d.ini_high or params.particle.low_pass)
        iterations = nr_iter or params.class3d.nr_iter
        changes = {"in_tomograms": tomograms, "nr_classes": str(nr_classes),
                   "tau_fudge": f"{tau_fudge:g}", "nr_iter": str(iterations),
                   "ref_correct_greyscale": "Yes" if ref_correct_greyscale else "No",
                   "dont_skip_align": "Yes" if align_particles else "No"}
        if align_particles:  # as 0.7.1: coarser sampling allowed, global searches
            changes.update(allow_coarser="Yes", do_local_ang_searches="No",
                           use_gpu="Yes" if compute.use_gpu else "No", gpu_ids=compute.gpu_ids_for("class3d"))
        else:
            changes["use_gpu"] = "No"  # RELION refuses GPUs without alignment
        done = run(replace(planned.with_options(**changes), stage=jobs.STAGE.format("class3d")))
        data = f"{done.job_dir}run_it{iterations:03d}_data.star"
        return (f"classes: {data} ({nr_classes} classes); keep some with "
                f"`py2rely routines select -p {data} -c 1`")

    run_jobs(ctx, compute, params, plan, gpu=requested_gpu(gpu, use_gpu), gpu_ids=gpu_ids)


# ---------------------------------------------------------------------------------------------
# mask-create, post-process


@command(routines, "mask-create", "A soft solvent mask from a map (RELION MaskCreate job).")
@click.option("-m", "--map", "density_map", default="Reconstruct/job001/half1.mrc", show_default=True,
              help="Map to make the mask from.")
@click.option("-thr", "--threshold", default="0.1", show_default=True, help="Binarisation threshold.")
@click.option("-ext", "--extend", type=int, default=3, show_default=True,
              help="Pixels added around the binarised map.")
@click.option("-w", "--width", type=int, default=10, show_default=True, help="Soft edge (pixels).")
@click.option("-lp", "--low-pass", type=float, default=15, show_default=True,
              help="Low-pass of the map before binarisation (Å).")
@click.option("-j", "--nthreads", type=int, default=16, show_default=True, help="Threads.")
@run_options
@click.pass_context
def mask_create(ctx: click.Context, density_map: str, threshold: str, extend: int, width: int,
                low_pass: float, nthreads: int, **_: object) -> None:
    root = project_root(ctx)
    density_map = project_path(density_map, root, "--map")
    check_map(root / density_map, None, None, "--map", root=root)
    try:
        finite = math.isfinite(float(threshold))
    except ValueError:
        finite = False
    if not finite:
        raise InputError("--threshold", f"{threshold!r}", "a finite number (the map's density units)")
    if extend < 0 or width < 0 or low_pass < 0:
        raise InputError("--extend/--width/--low-pass", f"{extend}/{width}/{low_pass:g}", "numbers ≥ 0")
    compute = compute_for(None, nthreads, 1, ctx)

    def plan(run: Run, session: Session) -> str:
        done = run(jobs.mask_create(density_map, threshold, extend, width, low_pass, compute.threads))
        return f"mask: {done.path('mask.mrc')}"

    run_jobs(ctx, compute, None, plan)


@command(routines, "post-process", "Masked FSC and resolution of two half maps (RELION PostProcess job).")
@click.option("-hm", "--half-map", required=True, help="First half map (its name contains 'half1').")
@click.option("-m", "--mask", required=True, help="Mask for the FSC.")
@click.option("-lp", "--low-pass", type=float, default=None,
              help="Low-pass the map at this resolution (Å) instead of FSC weighting.")
@run_options
@click.pass_context
def post_process(ctx: click.Context, half_map: str, mask: str, low_pass: float | None, **_: object) -> None:
    root = project_root(ctx)
    half1 = project_path(half_map, root, "--half-map")
    if "half1" not in half1:
        raise InputError(f"--half-map {half_map}", "has no 'half1' in its name",
                         "the first half map; RELION finds the second by replacing half1 with half2")
    half2 = project_path(half1.replace("half1", "half2"), root, "--half-map (its half2)")
    box, voxel = map_header(root / half1, "--half-map", root=root)
    check_map(root / half1, box, voxel, "--half-map", root=root)
    check_map(root / half2, box, voxel, "--half-map (its half2)", root=root)
    mask = project_path(mask, root, "--mask")
    check_mask(root / mask, box, voxel, "--mask", root=root)
    if low_pass is not None and low_pass <= 0:
        raise InputError("--low-pass", f"{low_pass:g}", "a resolution in Å > 0")
    compute = compute_for(None, 1, 1, ctx)

    def plan(run: Run, session: Session) -> str:
        done = run(jobs.postprocess(half1, mask, low_pass))
        if session.runner.dry_run:
            return ""
        resolution = results.postprocess_resolution(done.job_dir, session.project.root)
        return f"resolution: {resolution:.2f} Å (FSC 0.143), map {done.path('postprocess.mrc')}"

    run_jobs(ctx, compute, None, plan)


# ---------------------------------------------------------------------------------------------
# select


@command(routines, "select", "Keep the particles of chosen classes (RELION Select jobs, or a file).")
@click.option("-p", "--particles", required=True, help="Classified particles (run_itNNN_data.star).")
@click.option("-c", "--classes", required=True, help="Class numbers to keep, e.g. 1,3,5.")
@click.option("-o", "--output", default=None,
              help="Write the kept particles to this STAR file (no RELION job); without it, tracked "
                   "Select jobs in the project.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@run_options
@click.pass_context
def select(ctx: click.Context, particles: str, classes: str, output: str | None, overwrite: bool,
           **_: object) -> None:
    from pathlib import Path

    root = project_root(ctx)
    chosen = parse_classes(classes, "--classes")
    if output:
        source = Path(particles)
        facts = particle_facts(source, particles)
        check_classes(chosen, facts, "--classes")
        if Path(output).resolve() == source.resolve():
            raise InputError(f"--output {output}", "is the input file",
                             "a new file (inputs are never changed)")
        refuse_existing(output, "--output", overwrite)
        kept = write_selected(source, chosen, Path(output))
        shown = ",".join(map(str, chosen))
        click.echo(f"kept {kept} of {facts.count} particles (classes {shown}) -> {output}")
        return
    particles = project_path(particles, root, "--particles")
    facts = particle_facts(root / particles, particles)
    check_classes(chosen, facts, "--classes")
    compute = compute_for(None, 1, 1, ctx)

    def plan(run: Run, session: Session) -> str:
        kept = select_as_jobs(run, particles, chosen, facts.binning)
        return f"kept: {kept} (classes {','.join(map(str, chosen))})"

    run_jobs(ctx, compute, None, plan)
