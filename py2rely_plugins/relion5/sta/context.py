"""``StaContext``: the one object STA steps are given (initial-model strategies, Auto-Class3D,
the bin-1 polishing rounds and third-party plugins).

What a step may read: ``params`` (the parameter file), ``project_root``, ``dry_run``,
``release`` (the RELION release whose job options the job.star files use, e.g. "5.1").
How it adds jobs: build a ``PlannedJob`` with ``context.jobs`` (one builder per RELION job type,
options in the job.star names of ``release``; ``planned.with_options(...)`` changes any of them) and run it
with ``context.run(planned)``, which reuses an identical finished job on a rerun and returns its
``JobResult``. In a dry run ``run`` returns a result with status "Planned" whose files do not exist.
How it reports: ``context.report(...)`` adds a row to the final table, ``context.warn(...)`` a
warning printed after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from py2rely_core import log
from py2rely_core.errors import JobFailed
from py2rely_core.interfaces import JobResult, PlannedJob
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.mask_threshold import threshold_for_map
from py2rely_plugins.relion5.sta.options import JobOptions
from py2rely_plugins.relion5.sta.params import BinningStage, Parameters
from py2rely_plugins.relion5.sta.truth import GroundTruth, MapStats, TruthRow, measure_stage
from py2rely_plugins.relion5.versions import NEWEST


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
    truth: TruthRow | None = None  # against the simulated truth, when the dataset has one


@dataclass
class StaOutcome:
    rows: list[StageRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    final_map: str = ""
    final_particles: str = ""
    final_resolution: float | None = None
    report: str = ""  # index.html of the report the run wrote


@dataclass(frozen=True)
class ReferenceStart:
    """What an initial-model strategy starts from."""

    stage: BinningStage  # the first binning
    particles: str  # particles extracted at the first binning (Extract/jobNNN/particles.star)
    imported_particles: str  # the particles STAR named in the parameter file
    reference_template: str | None  # the template map given with --reference-template
    # The picks carry orientations (template matching); False for positions only (all angles 0).
    picks_have_angles: bool = True

    @property
    def binning(self) -> int:
        return self.stage.binning


class StaContext:
    def __init__(self, params: Parameters, runner: JobRunner, outcome: StaOutcome | None = None,
                 release: str = NEWEST) -> None:
        self.params = params
        self.release = release
        self.jobs = JobOptions(params, release)
        self.project_root: Path = runner.project.root
        self.dry_run: bool = runner.dry_run
        self.outcome = outcome or StaOutcome()
        self._runner = runner
        self._truth: GroundTruth | bool | None = False  # False: not looked for yet
        self._last_fit: MapStats | None = None  # the latest map's fit to the truth

    # -- adding jobs -----------------------------------------------------------------------

    def run(self, planned: PlannedJob) -> JobResult:
        """Run (or reuse) one job; raises JobFailed when it fails."""
        return self._runner.run(planned)

    # -- reading results -------------------------------------------------------------------

    def measured(self, read: Callable[[str, Path], float], job: JobResult) -> float | None:
        """A number read from a job's output (``read(job_dir, project_root)``), or None in a dry
        run (nothing has run)."""
        if job.status == "Planned":
            return None
        return read(job.job_dir, self.project_root)

    def count(self, particles: str) -> int | None:
        path = self.project_root / particles
        return results.particle_count(path) if path.exists() else None

    def threshold(self, density_map: str, lowpass: float) -> float | str:
        """The binarisation threshold for a mask of ``density_map`` ("auto" in a dry run)."""
        if self.dry_run and not (self.project_root / density_map).exists():
            return "auto"
        return threshold_for_map(self.project_root / density_map, lowpass, self.params.particle.diameter)

    def lowpass_from(self, resolution: float | None) -> float:
        """The mask low-pass for a map at ``resolution`` (the first low-pass before any)."""
        if resolution is None:
            return self.params.particle.low_pass
        return self.params.mask_create.lowpass_factor * resolution

    def ini_high_from(self, resolution: float | None) -> float:
        """The initial low-pass of a refinement that starts from a map at ``resolution``."""
        if resolution is None:
            return self.params.particle.low_pass
        return self.params.refine3d.ini_high_factor * resolution

    # -- reporting -------------------------------------------------------------------------

    def check_hand(self, job: JobResult, map_name: str, reference: str) -> str:
        """One line on the hand of ``job``'s map against ``reference`` (recorded in the job
        directory); sta/hand.py."""
        from py2rely_plugins.relion5.sta.hand import check_hand, record_check

        check = check_hand(self.project_root / job.job_dir / map_name, self._project_path(reference),
                           self.params.particle.diameter, reference)
        record_check(self.project_root / job.job_dir, check)
        log.get_logger("py2rely.sta").info("hand", map=job.path(map_name), check=check.summary())
        return check.summary()

    def check_final_hand(self, job: JobResult, map_name: str, reference: str) -> None:
        """The final map against the map of known hand. Subtomogram averages take their hand
        from the tilt series, so a final map of the mirror hand means the tilt-series geometry
        is mirrored: a warning says so, and the map's mirror image is written beside it."""
        from py2rely_plugins.relion5.sta.hand import settle_hand

        if self.dry_run:
            return
        try:
            chosen, check = settle_hand(self.project_root / job.job_dir, map_name,
                                        self._project_path(reference),
                                        self.params.particle.diameter, reference)
        except ValueError as exc:  # binnings whose pixel sizes are no integer ratio apart
            self.warn(f"final hand not checked against {reference}: {exc}")
            return
        log.get_logger("py2rely.sta").info("final hand", map=job.path(map_name), check=check.summary())
        if not check.decided:
            self.warn(f"{job.path(map_name)}: {check.summary()}")
        elif check.flip:
            self.warn(
                f"{job.path(map_name)} has the {check.summary()}: its mirror image is "
                f"{job.path(chosen)}. The tilt series set the hand of a subtomogram average: check "
                "their handedness (rlnTomoHand, the sign of the tilt angles) before trusting CTF "
                "refinement or polishing")

    def _project_path(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.project_root / path

    def report(self, stage: str, binning_stage: BinningStage, particles: str | None,
               resolution: float | None, job: JobResult, note: str = "",
               density_map: str | None = None) -> None:
        """Add a row to the final table (particles are counted from the STAR file). With a
        simulated dataset's ground truth, the stage's map and particles are also measured
        against it."""
        truth = None
        if self.ground_truth is not None and job.status != "Planned" and (density_map or particles):
            truth = measure_stage(
                self.ground_truth,
                self.project_root / job.job_dir if job.job_dir.endswith("/") else None,
                self.project_root / density_map if density_map else None,
                self.project_root / particles if particles else None, hint=self._last_fit)
            if truth.map is not None:
                self._last_fit = truth.map
            self._log_truth(stage, binning_stage, truth)
        self.outcome.rows.append(StageRow(
            stage=stage, binning=binning_stage.binning, box=binning_stage.box,
            particles=self.count(particles) if particles else None, resolution=resolution,
            job_dir=job.job_dir, note=note, truth=truth,
        ))

    def _log_truth(self, stage: str, binning_stage: BinningStage, truth: TruthRow) -> None:
        fields: dict[str, str] = {}
        if truth.map is not None:
            fields["fsc05"] = f"{truth.map.fsc05:.1f} Å"
            fields["hand"] = "right" if truth.map.right_hand else "mirrored"
        if truth.poses is not None:
            fields["pose_error_median"] = f"{truth.poses.median_angle:.1f}°"
        if fields:
            log.get_logger("py2rely.truth").info("against the simulated truth", stage=stage,
                                                 binning=binning_stage.binning, **fields)

    @property
    def ground_truth(self) -> GroundTruth | None:
        """The simulator's ground truth next to the imported particles (None for real data)."""
        if self._truth is False:
            self._truth = GroundTruth.beside(self.project_root / self.params.inputs.particles)
        return self._truth  # type: ignore[return-value]

    def extraction_note(self, picks: str, extracted: str) -> str:
        """Why an extraction has fewer particles than the picks it was given."""
        imported, kept = self.count(picks), self.count(extracted)
        if imported is None or kept is None or kept >= imported:
            return ""
        return (f"{imported - kept} of {imported} picks removed by relion_tomo_subtomo: too close "
                "to the edge of the tilt images in every tilt")

    def search_note(self, refine: JobResult, global_start: bool) -> str:
        """How a Refine3D searched and when RELION stopped it (from its sampling files)."""
        if refine.status == "Planned":
            return "global search first" if global_start else ""
        iterations = results.refine_iterations(refine.job_dir, self.project_root)
        if not iterations:
            return ""
        steps = " → ".join(dict.fromkeys(f"{step:g}°" for _, _, step in iterations))
        text = f"{len(iterations)} iterations ({steps})"
        if global_start:
            local_from = results.first_local_iteration(refine.job_dir, self.project_root)
            text = (f"global search in iterations 1-{local_from - 1}, then local; " + text
                    if local_from else "global search; " + text)
        return text

    def refine(self, planned: PlannedJob) -> JobResult:
        """Run a Refine3D; one that stopped at its iteration cap fails with that reason."""
        try:
            return self.run(planned)
        except JobFailed as failure:
            raise JobFailed(results.explain_refine_failure(str(failure), self.project_root,
                                                           planned.options.get("other_args", ""))
                            ) from None

    def warn(self, message: str) -> None:
        self.outcome.warnings.append(message)
