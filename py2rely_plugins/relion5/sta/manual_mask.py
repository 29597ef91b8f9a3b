"""Manual masking (`pipelines sta --manual-masking`, py2rely 0.7.1's ``-mm True``): the first mask
after the first refinement comes from the user.

Without ``--mask`` the pipeline makes the automatic mask as a starting point and stops (exit code
10, like manual class selection), saying which map the mask is for and what box and pixel size it
needs. Rerun the same command with ``--mask FILE``: every finished job is reused, the half maps are
post-processed with the user's mask, and the next refinement uses it. (0.7.1 stopped with exit
code 0 and expected the automatic mask.mrc to be edited in place.)
"""

from __future__ import annotations

from dataclasses import dataclass

from py2rely_core.errors import NeedsDecision
from py2rely_core.interfaces import JobResult
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import StaContext
from py2rely_plugins.relion5.sta.params import BinningStage
from py2rely_plugins.relion5.user_inputs import check_mask, project_path


@dataclass
class ManualMask:
    """The MaskStep of `pipelines sta` for the first mask (see sta.workflow)."""

    mask: str | None = None

    def __call__(self, context: StaContext, density_map: str, half1: str, stage: BinningStage,
                 resolution: float | None) -> tuple[str, JobResult, float | None]:
        jobs = context.jobs
        if self.mask is None:
            lowpass = context.lowpass_from(resolution)
            auto = context.run(jobs.mask(density_map, stage, lowpass, context.threshold(density_map, lowpass),
                                         purpose="mask (manual masking starts from it)"))
            needed = f"{stage.box} px of {stage.pixel_size:g} Å, values 0 to 1"
            if not context.dry_run:
                raise NeedsDecision(
                    f"manual masking: make a mask for {density_map} ({needed}; the automatic one is "
                    f"{auto.path('mask.mrc')}) and rerun the same command with --mask FILE")
            context.warn(f"manual masking: the run stops here for a mask of {density_map} ({needed}); "
                         "rerun with --mask FILE to go on")
            mask = auto.path("mask.mrc")
        else:
            mask = project_path(self.mask, context.project_root, "--mask")
            check_mask(context.project_root / mask, stage.box, stage.pixel_size, root=context.project_root)
        post = context.run(jobs.postprocess(half1, mask, stage, resolution,
                                            purpose="postprocess (manual mask)"))
        return mask, post, context.measured(results.postprocess_resolution, post)
