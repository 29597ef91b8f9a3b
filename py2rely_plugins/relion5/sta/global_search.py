"""The global search of picks without angles, and when it stops (docs/pipelines-sta.md, "The
first search").

Pass 1 gives every particle the orientation of maximum cross-correlation with the reference (a
one-class Class3D, one iteration, ``--firstiter_cc``): measured against the truth this was the
best pose any global form found, and further EM iterations of a one-class Class3D without
gold-standard halves made the poses worse. Whether pass 1 has found the orientations is what
RELION itself reports when it searches all orientations again: pass k ≥ 2 re-searches from pass
k−1's poses against its map, and RELION's changes in orientations say how far the poses moved.

* They moved by no more than the search step: pass k−1 had found them (its poses are kept).
* They moved more than in the pass before: searching no longer improves them (pass k−1 kept).
* Otherwise another pass, up to ``initial_model.reference.max_passes`` (the last pass kept).

Pass 1's own changes are measured from the picks' zero angles and say nothing. The gold-standard
Refine3D then refines locally from the kept poses, and RELION's convergence rule (orientations,
offsets and resolution stop improving) with the cap ``refine3d.max_iterations`` stops it.
"""

from __future__ import annotations

from dataclasses import dataclass

from py2rely_core.interfaces import JobResult
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext


@dataclass(frozen=True)
class Verdict:
    stop: bool
    keep: int  # the pass (1-based) whose poses go on
    reason: str


def verdict(changes: list[float | None], step: float, max_passes: int) -> Verdict:
    """Whether the global search stops after ``len(changes)`` passes, given RELION's changes in
    orientations (degrees) of each pass (the first is ignored), the search step and the cap."""
    passes = len(changes)
    if passes >= 2 and changes[-1] is not None:
        latest = changes[-1]
        if latest <= step:
            return Verdict(True, passes - 1, f"pass {passes} moved the poses by {latest:.1f}°, within "
                           f"the {step:g}° step: pass {passes - 1} had found them")
        earlier = changes[-2] if passes >= 3 else None
        if earlier is not None and latest >= earlier:
            return Verdict(True, passes - 1, f"pass {passes} moved the poses by {latest:.1f}°, more "
                           f"than pass {passes - 1} ({earlier:.1f}°): searching no longer improves them")
    if passes >= max_passes:
        return Verdict(True, passes, f"at the cap of {max_passes} pass(es)")
    return Verdict(False, passes, "")


@dataclass(frozen=True)
class Pass:
    job: JobResult
    job_dir: str
    particles: str  # run_itNNN_data.star
    density_map: str  # run_itNNN_class001.mrc
    changes: float | None  # RELION's changes in orientations, degrees


def global_search(context: StaContext, start: ReferenceStart, reference: str) -> str:
    """Orientations for positions-only picks against ``reference`` (the template, or the de novo
    map); returns the particles STAR whose poses the first Refine3D refines locally."""
    settings = context.params.initial_model.reference
    step = float(settings.sampling.split()[0])
    passes: list[Pass] = []
    particles, density_map = start.particles, reference
    while True:
        planned = context.jobs.class3d_alignment(particles, density_map, start.stage,
                                                 confirming=bool(passes))
        job = context.run(planned)
        stem = f"{job.job_dir}run_it{int(planned.options['nr_iter']):03d}"
        changes = None if context.dry_run else results.changes_in_orientations(
            job.job_dir, context.project_root)
        passes.append(Pass(job, job.job_dir, f"{stem}_data.star", f"{stem}_class001.mrc", changes))
        particles, density_map = passes[-1].particles, passes[-1].density_map
        if context.dry_run:
            # RELION's figures decide the passes after the second; a dry run plans two.
            if len(passes) >= min(2, settings.max_passes):
                kept = passes[0]
                reason = (f"planned: passes while RELION's changes in orientations exceed the "
                          f"{step:g}° step and fall, at most {settings.max_passes}")
                break
            continue
        result = verdict([p.changes for p in passes], step, settings.max_passes)
        if result.stop:
            kept, reason = passes[result.keep - 1], result.reason
            break
    context.report("global search", start.stage, kept.particles, None, kept.job,
                   f"{len(passes)} pass(es) against {reference}, maximum cross-correlation first; "
                   f"{reason}; poses of {kept.job_dir}")
    return kept.particles

