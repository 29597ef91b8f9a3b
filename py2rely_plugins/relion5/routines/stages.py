"""`pipelines bin1` and `pipelines polish`: the pipeline's last stages started from an existing
refinement, as py2rely 0.7.1 offered them, with the pipeline's own steps (sta.options,
sta.masking, sta.polishing) through a StaContext, so they are tracked, validated and reused like
the pipeline's jobs."""

from __future__ import annotations

import click

from py2rely_core import log
from py2rely_core.cli import CONTEXT_SETTINGS, optional_bool
from py2rely_core.errors import InputError
from py2rely_core.interfaces import JobResult
from py2rely_plugins.relion5.gpu import gpu_options, requested_gpu
from py2rely_plugins.relion5.routines.common import (
    compute_request,
    file_in_project,
    optional_parameters,
    project_root,
    run_options,
    tomograms_for,
    typed,
)
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.cli import print_outcome
from py2rely_plugins.relion5.sta.context import StaContext, StaOutcome
from py2rely_plugins.relion5.sta.legacy_cluster import LegacyCluster, cluster_options
from py2rely_plugins.relion5.sta.masking import mask_and_postprocess
from py2rely_plugins.relion5.sta.params import BinningStage, Parameters
from py2rely_plugins.relion5.sta.polishing import polishing_rounds
from py2rely_plugins.relion5.sta.session import open_session
from py2rely_plugins.relion5.sta.workflow import auto_mask
from py2rely_plugins.relion5.user_inputs import (
    ParticleFacts,
    check_mask,
    particle_facts,
    project_path,
    tomograms_beside,
)


def bin1_stage(params: Parameters) -> BinningStage:
    try:
        return params.stage(1)
    except KeyError:
        raise InputError("--parameter", f"binning 1 is not in binning_list {params.binning_list}",
                         "a parameter file whose binning list ends with 1 (e.g. -bl 4,2,1)") from None


def run_bin1(context: StaContext, particles: str, tomograms: str, mask: str | None, low_pass: float,
             stage: BinningStage) -> StaOutcome:
    """Reconstruct the refined particles at bin 1, mask (or the user's mask) and post-process,
    extract at bin 1, refine from the reconstruction, then the final mask and post-processing."""
    jobs, run, report = context.jobs, context.run, context.report
    recon = run(jobs.reconstruct(particles, stage, tomograms=tomograms))
    if mask is None:
        mask_job, post, measured = mask_and_postprocess(
            context, recon.path("merged.mrc"), recon.path("half1.mrc"), stage, None)
        mask = mask_job.path("mask.mrc")
    else:
        post = run(jobs.postprocess(recon.path("half1.mrc"), mask, stage, None,
                                    purpose="postprocess (your mask)"))
        measured = context.measured(results.postprocess_resolution, post)
    report("reconstruct + postprocess", stage, None, measured, post)
    extract = run(jobs.extract(particles, stage, tomograms=tomograms))
    report("extract", stage, extract.path("particles.star"), None, extract)
    refine = run(jobs.refine3d(extract.path("particles.star"), recon.path("merged.mrc"), stage, low_pass,
                               mask, local_from_start=True, tomograms=tomograms))
    resolution = context.measured(results.refine_resolution, refine)
    report("refine3d", stage, refine.path("run_data.star"), resolution, refine)
    _, final_post, final = auto_mask(context, refine.path("run_class001.mrc"),
                                     refine.path("run_half1_class001_unfil.mrc"), stage, resolution)
    report("postprocess", stage, None, final, final_post)
    outcome = context.outcome
    outcome.final_resolution, outcome.final_particles = final, refine.path("run_data.star")
    outcome.final_map = final_post.path("postprocess.mrc")
    return outcome


def run_polish(context: StaContext, refine: JobResult, mask: str, tomograms: str, trajectories: str,
               stage: BinningStage) -> StaOutcome:
    """Post-process the refinement with ``mask``, then the CTF refinement and polishing rounds."""
    root = context.project_root
    refined = (results.refine_resolution(refine.job_dir, root)
               if (root / refine.path("run_model.star")).exists() else None)
    post = context.run(context.jobs.postprocess(refine.path("run_half1_class001_unfil.mrc"), mask, stage,
                                                refined, purpose="postprocess (start of polishing)"))
    resolution = context.measured(results.postprocess_resolution, post)
    context.report("postprocess", stage, None, resolution, post)
    best = polishing_rounds(context, refine.path("run_data.star"), refine, mask, post, resolution, stage,
                            tomograms=tomograms, trajectories=trajectories)
    outcome = context.outcome
    outcome.final_resolution, post, outcome.final_particles = best
    outcome.final_map = post.path("postprocess.mrc")
    return outcome


def _refined(facts: ParticleFacts, option: str) -> None:
    if not facts.half_sets:
        raise InputError(f"{option} {facts.path}", "has no rlnRandomSubset (no gold-standard half sets)",
                         "refined particles, e.g. Refine3D/jobNNN/run_data.star")


def _execute(ctx: click.Context, params: Parameters, legacy: LegacyCluster, gpu: bool | None,
             use_gpu: bool | None, gpu_ids: tuple[str, ...], step) -> None:
    session = open_session(params.compute, params.executors,
                           compute_request(ctx, requested_gpu(gpu, use_gpu), gpu_ids, legacy))
    context = StaContext(params, session.runner)
    if session.runner.dry_run:
        click.echo(f"Plan for {session.project.root} (nothing is run):")
    with session.driving():
        outcome = step(context)
    if not session.runner.dry_run:
        print_outcome(outcome)


@click.command("bin1", context_settings=CONTEXT_SETTINGS, no_args_is_help=True)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              help="Parameter file (its binning list includes 1).")
@click.option("-tomo", "--tomograms", default="tomograms.star", show_default=True,
              help="Tomograms STAR (used when it exists; else the parameter file's).")
@click.option("-pts", "--particles", default="particles.star", show_default=True,
              help="Refined particles to start from (e.g. Refine3D/job010/run_data.star at bin 2).")
@click.option("-m", "--mask", default=None, help="Mask at bin 1 (default: made from the bin-1 map).")
@click.option("-lp", "--low-pass", type=float, default=10, show_default=True,
              help="Initial low-pass of the bin-1 refinement (Å).")
@optional_bool("-rr", "--rerun", help="Accepted as in 0.7.1; identical jobs are reused, changed ones run.")
@gpu_options
@cluster_options
@run_options
@click.pass_context
def bin1_command(ctx: click.Context, parameter: str, tomograms: str, particles: str, mask: str | None,
                 low_pass: float, rerun: bool, gpu: bool | None, use_gpu: bool | None,
                 gpu_ids: tuple[str, ...], **_: object) -> None:
    """The bin-1 stage from refined particles: reconstruction, mask, extraction and refinement at
    bin 1, then the final mask and post-processing (polish with `pipelines polish`)."""
    root = project_root(ctx)
    params = optional_parameters(parameter, root)
    assert params is not None
    stage = bin1_stage(params)
    particles = project_path(particles, root, "--particles")
    _refined(particle_facts(root / particles, particles, "--particles"), "--particles")
    tomograms = tomograms_for(tomograms, not typed(ctx, "tomograms"), params, particles, root, "--tomograms")
    mask = file_in_project(mask, root, "--mask")
    if mask:
        check_mask(root / mask, stage.box, stage.pixel_size, root=root)
    if low_pass <= 0:
        raise InputError("--low-pass", f"{low_pass:g}", "a resolution in Å > 0")
    if rerun:
        log.get_logger("py2rely.compat").warning(
            "flag has no effect", flag="--rerun", note="jobs are reused only when identical; change an "
            "input or option to run them again")
    legacy = LegacyCluster.from_context(ctx, ctx.params)
    _execute(ctx, params, legacy, gpu, use_gpu, gpu_ids,
             lambda context: run_bin1(context, particles, tomograms, mask, low_pass, stage))


@click.command("polish", context_settings=CONTEXT_SETTINGS, no_args_is_help=True)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              help="Parameter file (its binning list includes 1).")
@click.option("-pts", "--particles", default="particles.star", show_default=True,
              help="run_data.star of a bin-1 Refine3D job (its half maps are the references).")
@click.option("-m", "--mask", default="mask.mrc", show_default=True, help="Mask of the refined map.")
@click.option("-tomo", "--tomograms", default=None,
              help="Tomograms STAR to start from (default: the refinement's).")
@click.option("-mo", "--motion", default=None, help="Motion (trajectories) STAR to start from.")
@click.option("-niter", "--num-iterations", type=int, default=5, show_default=True,
              help="Most rounds of CTF refinement + polishing (fewer when a round stops improving).")
@gpu_options
@cluster_options
@run_options
@click.pass_context
def polish_command(ctx: click.Context, parameter: str, particles: str, mask: str, tomograms: str | None,
                   motion: str | None, num_iterations: int, gpu: bool | None, use_gpu: bool | None,
                   gpu_ids: tuple[str, ...], **_: object) -> None:
    """CTF refinement and Bayesian polishing rounds at bin 1, started from a bin-1 refinement."""
    root = project_root(ctx)
    params = optional_parameters(parameter, root)
    assert params is not None
    stage = bin1_stage(params)
    particles = project_path(particles, root, "--particles")
    facts = particle_facts(root / particles, particles, "--particles")
    _refined(facts, "--particles")
    if facts.binning not in (None, 1):
        raise InputError(f"--particles {particles}", f"are at binning {facts.binning}",
                         "particles refined at bin 1 (pipelines bin1)")
    folder, _, name = particles.rpartition("/")
    refine = JobResult(job_dir=f"{folder}/" if folder else "", status="Succeeded")
    for needed in ("run_half1_class001_unfil.mrc", "run_half2_class001_unfil.mrc", "run_class001.mrc"):
        if name != "run_data.star" or not (root / refine.path(needed)).is_file():
            raise InputError(f"--particles {particles}", f"no {needed} next to it",
                             "the run_data.star of a finished Refine3D job")
    mask = project_path(mask, root, "--mask")
    check_mask(root / mask, stage.box, stage.pixel_size, root=root)
    tomograms = (project_path(tomograms, root, "--tomograms") if tomograms
                 else tomograms_beside(particles, root) or params.inputs.tilt_series)
    trajectories = file_in_project(motion, root, "--motion") or ""
    if num_iterations < 1:
        raise InputError("--num-iterations", f"{num_iterations}", "at least 1")
    params.high_resolution.max_rounds = num_iterations
    legacy = LegacyCluster.from_context(ctx, ctx.params)
    _execute(ctx, params, legacy, gpu, use_gpu, gpu_ids,
             lambda context: run_polish(context, refine, mask, tomograms, trajectories, stage))
