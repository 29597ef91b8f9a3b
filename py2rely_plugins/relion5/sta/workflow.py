"""The STA pipeline: extraction, first reference, then refinement down the binning list.

Every decision taken from a result (the next low-pass, the mask threshold) is recomputed from the
files of the job that produced it, so replaying the workflow on a finished or interrupted project
asks for exactly the same jobs, which the runner then reuses.
"""

from __future__ import annotations

from collections.abc import Callable

from py2rely_core.interfaces import JobResult
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext, StaOutcome
from py2rely_plugins.relion5.sta.contract import InitialModelStrategy, InitialReference
from py2rely_plugins.relion5.sta.masking import mask_and_postprocess
from py2rely_plugins.relion5.sta.params import BinningStage, Parameters
from py2rely_plugins.relion5.sta.picks import picks_have_angles
from py2rely_plugins.relion5.sta.polishing import polishing_rounds
from py2rely_plugins.relion5.versions import NEWEST

# Auto-Class3D: (context, refined particles, refined map, stage, resolution) -> kept particles.
ClassifyStep = Callable[[StaContext, str, str, BinningStage, float], str]
# Masking: (context, map, half map 1, stage, resolution) -> (mask path, post-process job, resolution).
MaskStep = Callable[[StaContext, str, str, BinningStage, float | None],
                    tuple[str, JobResult, float | None]]


def auto_mask(context: StaContext, density_map: str, half1: str, stage: BinningStage,
              resolution: float | None) -> tuple[str, JobResult, float | None]:
    """The automatic mask (sta.masking) and the post-processing with it."""
    mask, post, measured = mask_and_postprocess(context, density_map, half1, stage, resolution)
    return mask.path("mask.mrc"), post, measured


class StaPipeline:
    def __init__(
        self,
        params: Parameters,
        runner: JobRunner,
        strategy: InitialModelStrategy,
        reference_template: str | None = None,
        classify: ClassifyStep | None = None,
        release: str = NEWEST,
        first_mask: MaskStep | None = None,
    ) -> None:
        self.params = params
        self.strategy = strategy
        self.reference_template = reference_template
        self.classify = classify
        # The first mask after the first refinement (manual masking replaces it).
        self.first_mask = first_mask or auto_mask
        self.context = StaContext(params, runner, release=release)
        self.outcome: StaOutcome = self.context.outcome

    def first_reference(self, particles: str) -> InitialReference:
        imported = self.params.inputs.particles
        start = ReferenceStart(stage=self.params.first, particles=particles,
                               imported_particles=imported,
                               reference_template=self.reference_template,
                               picks_have_angles=picks_have_angles(self.context.project_root / imported))
        return self.strategy.make_reference(self.context, start)

    def execute(self) -> StaOutcome:
        params, context = self.params, self.context
        jobs, run, report = context.jobs, context.run, context.report
        first = params.first
        extract = run(jobs.extract(params.inputs.particles, first))
        particles = extract.path("particles.star")
        report("extract", first, particles, None, extract,
               context.extraction_note(params.inputs.particles, particles))

        reference = self.first_reference(particles)
        particles = reference.particles_path
        made_by_a_job = bool(reference.job_dir)
        report(f"initial model ({self.strategy.name})", first, particles, None,
               JobResult(job_dir=reference.job_dir or reference.map_path, status=extract.status),
               reference.note, density_map=reference.map_path if made_by_a_job else None)

        ini_high = first.refine3d.ini_high or params.particle.low_pass
        density_map = reference.map_path
        mask = ""
        local = reference.angles_known
        for index, stage in enumerate(params.binnings):
            global_start = not local
            refine = context.refine(jobs.refine3d(particles, density_map, stage, ini_high, mask,
                                                  local_from_start=local))
            local = True  # after the first refinement every stage starts from refined angles
            resolution = context.measured(results.refine_resolution, refine)
            particles = refine.path("run_data.star")
            report("refine3d", stage, particles, resolution, refine,
                   context.search_note(refine, global_start),
                   density_map=refine.path("run_class001.mrc"))
            if index == 0:
                dedup = run(jobs.remove_duplicates(particles, stage))
                particles = dedup.path("particles.star")
                report("remove duplicates", stage, particles, None, dedup)
                if self.classify is not None:
                    particles = self.classify(context, particles, refine.path("run_class001.mrc"),
                                              stage, resolution or params.particle.low_pass)
            following = params.binnings[index + 1] if index + 1 < len(params.binnings) else None
            mask_step = self.first_mask if index == 0 else auto_mask
            if following is None:
                self.finish(particles, refine, stage, resolution, mask_step)
                break
            recon = run(jobs.reconstruct(particles, following))
            mask, post, measured = mask_step(
                context, recon.path("merged.mrc"), recon.path("half1.mrc"), following, resolution)
            report("reconstruct + postprocess", following, None, measured, post)
            extract = run(jobs.extract(particles, following))
            particles = extract.path("particles.star")
            report("extract", following, particles, None, extract)
            density_map = recon.path("merged.mrc")
            ini_high = context.ini_high_from(measured if measured is not None else resolution)
        return self.outcome

    def finish(self, particles: str, refine: JobResult, stage: BinningStage,
               resolution: float | None, mask_step: MaskStep = auto_mask) -> None:
        """Final mask and post-processing; at bin 1, CTF refinement and polishing rounds."""
        mask, post, final = mask_step(
            self.context, refine.path("run_class001.mrc"), refine.path("run_half1_class001_unfil.mrc"),
            stage, resolution)
        self.context.report("postprocess", stage, particles, final, post,
                            density_map=post.path("postprocess.mrc"))
        best = (final, post, particles)
        if stage.binning == 1 and self.params.high_resolution.max_rounds > 0:
            best = polishing_rounds(self.context, particles, refine, mask, post, final, stage)
        self.outcome.final_resolution, post, self.outcome.final_particles = best
        self.outcome.final_map = post.path("postprocess.mrc")
        hand_reference = self.params.initial_model.denovo.hand_reference
        if hand_reference and self.strategy.name == "denovo":
            self.context.check_final_hand(post, "postprocess.mrc", hand_reference)


def describe_strategy_choice(reference_template: str | None, denovo: bool, named: str | None,
                             configured: str) -> str:
    """Which initial-model strategy the flags ask for (the guide's flags win over the file)."""
    from py2rely_core.errors import InputError

    chosen = [name for name, on in (("reference", bool(reference_template)), ("denovo", denovo),
                                    (named, bool(named))) if on]
    if len(set(chosen)) > 1:
        raise InputError("pipelines sta", f"conflicting initial-model choices: {', '.join(chosen)}",
                         "one of --reference-template, --run-denovo-generation, --initial-model")
    return chosen[0] if chosen else configured
