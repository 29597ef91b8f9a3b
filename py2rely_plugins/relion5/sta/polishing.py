"""The bin-1 rounds: tomo CTF refinement, frame alignment (Bayesian polishing), re-extraction,
refinement and post-processing, repeated while the resolution keeps improving.

Each round's references are the previous refinement's half maps (bin 1, cropped box; RELION pads
them to the larger extraction box CTF refinement and polishing work in) with its mask and
post-processing FSC. A round that improves the resolution by less than
``high_resolution.min_improvement`` (a fraction) ends the loop; the best round's map and
particles are the pipeline's result.
"""

from __future__ import annotations

from py2rely_core.interfaces import JobResult
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import StaContext
from py2rely_plugins.relion5.sta.masking import mask_and_postprocess
from py2rely_plugins.relion5.sta.params import BinningStage


def polishing_rounds(context: StaContext, particles: str, refine: JobResult, mask: JobResult | str,
                     post: JobResult, resolution: float | None, stage: BinningStage,
                     tomograms: str | None = None, trajectories: str = ""
                     ) -> tuple[float | None, JobResult, str]:
    """``mask``: the MaskCreate job of the refinement's map, or the path of a mask; ``tomograms``
    and ``trajectories`` (default: the parameter file's tilt series, none) the first round
    starts from."""
    params = context.params
    options = context.jobs
    settings = params.high_resolution
    best: tuple[float | None, JobResult, str] = (resolution, post, particles)
    tomograms = tomograms or params.inputs.tilt_series
    mask_path = mask if isinstance(mask, str) else mask.path("mask.mrc")
    for round_number in range(1, settings.max_rounds + 1):
        label = f"round {round_number}"
        half1 = refine.path("run_half1_class001_unfil.mrc")
        fsc = post.path("postprocess.star")
        ctf = context.run(options.ctf_refine(particles, tomograms, trajectories, half1,
                                              mask_path, fsc, stage))
        context.report(f"ctf refine ({label})", stage, None, None, ctf)
        polish = context.run(options.polish(particles, ctf.path("tomograms.star"), trajectories,
                                             half1, mask_path, fsc, stage))
        context.report(f"polish ({label})", stage, None, None, polish)
        tomograms = polish.path("tomograms.star")
        if params.polish.do_motion and not params.polish.shift_only:
            trajectories = polish.path("motion.star")
        if not params.polish.shift_only:  # shift-only polishing writes no particles.star
            particles = polish.path("particles.star")
        extract = context.run(options.extract(particles, stage, tomograms, trajectories))
        context.report(f"extract ({label})", stage, extract.path("particles.star"), None, extract)
        ini_high = context.ini_high_from(best[0])
        # The polished motion goes with the tomograms, as RELION's GUI passes it: relion_refine
        # then writes it into run_optimisation_set.star for the jobs that continue from there.
        refine = context.run(options.refine3d(
            extract.path("particles.star"), refine.path("run_class001.mrc"), stage, ini_high,
            mask_path, local_from_start=True, tomograms=tomograms, trajectories=trajectories))
        refined = context.measured(results.refine_resolution, refine)
        particles = refine.path("run_data.star")
        context.report(f"refine3d ({label})", stage, particles, refined, refine,
                       context.search_note(refine, global_start=False),
                       density_map=refine.path("run_class001.mrc"))
        mask_job, post, measured = mask_and_postprocess(
            context, refine.path("run_class001.mrc"), refine.path("run_half1_class001_unfil.mrc"),
            stage, refined)
        mask_path = mask_job.path("mask.mrc")
        context.report(f"postprocess ({label})", stage, particles, measured, post,
                       density_map=post.path("postprocess.mrc"))
        if measured is None or best[0] is None:  # dry run: show one round
            return best if measured is None else (measured, post, particles)
        improved = measured < best[0] * (1.0 - settings.min_improvement)
        if measured < best[0]:
            best = (measured, post, particles)
        if not improved:
            context.warn(
                f"polishing stopped after {label}: {measured:.2f} Å vs {best[0]:.2f} Å best "
                f"(less than {settings.min_improvement:.0%} better)")
            break
    return best
