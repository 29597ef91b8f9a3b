"""Mask a map and post-process half maps with it, widening the mask's soft edge while the mask
itself makes the half maps correlate."""

from __future__ import annotations

from py2rely_core.interfaces import JobResult
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import StaContext
from py2rely_plugins.relion5.sta.params import BinningStage

MASK_EDGE_FACTORS = (1, 2, 3)  # soft-edge widths tried, as multiples of mask_create.soft_edge


def mask_and_postprocess(
    context: StaContext, density_map: str, half1: str, stage: BinningStage, resolution: float | None,
) -> tuple[JobResult, JobResult, float | None]:
    """Mask ``density_map`` and post-process ``half1`` with it; (mask job, post job, resolution).

    A mask whose edge is too sharp makes the half maps correlate by itself; RELION measures
    that with phase-randomised maps. The soft edge is widened (MASK_EDGE_FACTORS, a bounded
    list) until that FSC is below 0.1 at the estimated resolution; if no width passes, the
    widest is kept and the report says so.
    """
    lowpass = context.lowpass_from(resolution)
    threshold = context.threshold(density_map, lowpass)
    attempt: tuple[JobResult, JobResult, float | None] | None = None
    for factor in MASK_EDGE_FACTORS:
        mask = context.run(context.jobs.mask(density_map, stage, lowpass, threshold,
                                             edge_factor=factor, purpose="mask"))
        post = context.run(context.jobs.postprocess(half1, mask.path("mask.mrc"), stage, resolution,
                                                    purpose="postprocess"))
        attempt = (mask, post, context.measured(results.postprocess_resolution, post))
        if post.status == "Planned":
            break
        randomised = results.phase_randomised_fsc(post.job_dir, context.project_root)
        if randomised is None or randomised <= results.PHASE_RANDOMISED_LIMIT:
            break
        context.warn(
            f"{post.job_dir}: phase-randomised FSC {randomised:.2f} > "
            f"{results.PHASE_RANDOMISED_LIMIT} with a soft edge of {factor}x; "
            + ("widening it" if factor != MASK_EDGE_FACTORS[-1] else "kept the widest edge"))
    assert attempt is not None
    return attempt
