"""The STA pipeline: extraction, first reference, then refinement down the binning list.

Every decision taken from a result (the next low-pass, the mask threshold) is recomputed from the
files of the job that produced it, so replaying the workflow on a finished or interrupted project
asks for exactly the same jobs, which the runner then reuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from py2rely_core.interfaces import InitialModelStrategy, InitialReference, JobResult, PlannedJob
from py2rely_core.params import BinningStage, Parameters
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import StaContext
from py2rely_plugins.relion5.sta.mask_threshold import threshold_for_map
from py2rely_plugins.relion5.sta.options import JobOptions


@dataclass
class StageRow:
    """One line of the final report."""

    stage: str
    binning: int
    box: int
    particles: int | None
    resolution: float | None  # Å, FSC 0.143
    job_dir: str
    note: str = ""


MASK_EDGE_FACTORS = (1, 2, 3)  # soft-edge widths tried, as multiples of mask_create.soft_edge


@dataclass
class StaOutcome:
    rows: list[StageRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    final_map: str = ""
    final_particles: str = ""
    final_resolution: float | None = None


class StaPipeline:
    def __init__(
        self,
        params: Parameters,
        runner: JobRunner,
        strategy: InitialModelStrategy,
        reference_template: str | None = None,
        classify: Callable[[StaPipeline, str, str, BinningStage, float], str] | None = None,
    ) -> None:
        self.params = params
        self.runner = runner
        self.strategy = strategy
        self.reference_template = reference_template
        self.classify = classify
        self.options = JobOptions(params)
        self.root = runner.project.root
        self.dry_run = runner.dry_run
        self.outcome = StaOutcome()
        self.warnings = self.outcome.warnings

    # -- helpers ------------------------------------------------------------------------------

    def run(self, planned: PlannedJob) -> JobResult:
        return self.runner.run(planned)

    def measured(self, read: Callable[[str, Path], float], job: JobResult) -> float | None:
        """A number read from a job's output, or None in a dry run (nothing has run)."""
        if job.status == "Planned":
            return None
        return read(job.job_dir, self.root)

    def count(self, particles: str) -> int | None:
        path = self.root / particles
        return results.particle_count(path) if path.exists() else None

    def report(self, stage: str, binning_stage: BinningStage, particles: str | None,
               resolution: float | None, job: JobResult, note: str = "") -> None:
        self.outcome.rows.append(StageRow(
            stage=stage, binning=binning_stage.binning, box=binning_stage.box,
            particles=self.count(particles) if particles else None, resolution=resolution,
            job_dir=job.job_dir, note=note,
        ))

    def threshold(self, density_map: str, lowpass: float) -> float | str:
        if self.dry_run and not (self.root / density_map).exists():
            return "auto"
        return threshold_for_map(self.root / density_map, lowpass, self.params.particle.diameter)

    def lowpass_from(self, resolution: float | None) -> float:
        if resolution is None:
            return self.params.particle.low_pass
        return self.params.mask_create.lowpass_factor * resolution

    def ini_high_from(self, resolution: float | None) -> float:
        if resolution is None:
            return self.params.particle.low_pass
        return self.params.refine3d.ini_high_factor * resolution

    def mask_and_postprocess(
        self, density_map: str, half1: str, stage: BinningStage, resolution: float | None,
    ) -> tuple[JobResult, JobResult, float | None]:
        """Mask ``density_map`` and post-process ``half1`` with it.

        A mask whose edge is too sharp makes the half maps correlate by itself; RELION measures
        that with phase-randomised maps. The soft edge is widened (MASK_EDGE_FACTORS, a bounded
        list) until that FSC is below 0.1 at the estimated resolution; if no width passes, the
        widest is kept and the report says so.
        """
        lowpass = self.lowpass_from(resolution)
        threshold = self.threshold(density_map, lowpass)
        attempt: tuple[JobResult, JobResult, float | None] | None = None
        for factor in MASK_EDGE_FACTORS:
            mask = self.run(self.options.mask(density_map, stage, lowpass, threshold,
                                              edge_factor=factor, purpose="mask"))
            post = self.run(self.options.postprocess(half1, mask.path("mask.mrc"), stage, resolution,
                                                     purpose="postprocess"))
            attempt = (mask, post, self.measured(results.postprocess_resolution, post))
            if post.status == "Planned":
                break
            randomised = results.phase_randomised_fsc(post.job_dir, self.root)
            if randomised is None or randomised <= results.PHASE_RANDOMISED_LIMIT:
                break
            self.warnings.append(
                f"{post.job_dir}: phase-randomised FSC {randomised:.2f} > "
                f"{results.PHASE_RANDOMISED_LIMIT} with a soft edge of {factor}x; "
                + ("widening it" if factor != MASK_EDGE_FACTORS[-1] else "kept the widest edge"))
        assert attempt is not None
        return attempt

    # -- the pipeline ----------------------------------------------------------------------

    def first_reference(self, particles: str) -> InitialReference:
        context = StaContext(
            params=self.params, options=self.options, project_root=self.root,
            stage=self.params.first, particles=particles,
            imported_particles=self.params.inputs.particles,
            reference_template=self.reference_template, run=self.run, dry_run=self.dry_run,
        )
        return self.strategy.make_reference(context)

    def execute(self) -> StaOutcome:
        params = self.params
        first = params.first
        extract = self.run(self.options.extract(params.inputs.particles, first))
        particles = extract.path("particles.star")
        self.report("extract", first, particles, None, extract)

        reference = self.first_reference(particles)
        particles = reference.particles_path
        self.report(f"initial model ({self.strategy.name})", first, particles, None,
                    JobResult(job_dir=reference.job_dir, status="Succeeded"), reference.note)

        ini_high = first.refine3d.ini_high or params.particle.low_pass
        density_map = reference.map_path
        mask = ""
        local = reference.angles_known
        for index, stage in enumerate(params.binnings):
            refine = self.run(self.options.refine3d(particles, density_map, stage, ini_high, mask,
                                                    local_from_start=local))
            local = True  # after the first refinement every stage starts from refined angles
            resolution = self.measured(results.refine_resolution, refine)
            particles = refine.path("run_data.star")
            self.report("refine3d", stage, particles, resolution, refine)
            if index == 0:
                dedup = self.run(self.options.remove_duplicates(particles, stage))
                particles = dedup.path("particles.star")
                self.report("remove duplicates", stage, particles, None, dedup)
                if self.classify is not None:
                    particles = self.classify(self, particles, refine.path("run_class001.mrc"),
                                              stage, resolution or params.particle.low_pass)
            following = params.binnings[index + 1] if index + 1 < len(params.binnings) else None
            if following is None:
                self.finish(particles, refine, stage, resolution)
                break
            recon = self.run(self.options.reconstruct(particles, following))
            mask_job, post, measured = self.mask_and_postprocess(
                recon.path("merged.mrc"), recon.path("half1.mrc"), following, resolution)
            self.report("reconstruct + postprocess", following, None, measured, post)
            extract = self.run(self.options.extract(particles, following))
            particles = extract.path("particles.star")
            self.report("extract", following, particles, None, extract)
            density_map = recon.path("merged.mrc")
            mask = mask_job.path("mask.mrc")
            ini_high = self.ini_high_from(measured if measured is not None else resolution)
        return self.outcome

    def finish(self, particles: str, refine: JobResult, stage: BinningStage,
               resolution: float | None) -> None:
        """Final mask and post-processing; at bin 1, CTF refinement and polishing rounds."""
        mask, post, final = self.mask_and_postprocess(
            refine.path("run_class001.mrc"), refine.path("run_half1_class001_unfil.mrc"), stage,
            resolution)
        self.report("postprocess", stage, None, final, post)
        best = (final, post, particles)
        if stage.binning == 1 and self.params.high_resolution.max_rounds > 0:
            from py2rely_plugins.relion5.sta.polishing import polishing_rounds

            best = polishing_rounds(self, particles, refine, mask, post, final, stage)
        self.outcome.final_resolution, post, self.outcome.final_particles = best
        self.outcome.final_map = post.path("postprocess.mrc")


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

