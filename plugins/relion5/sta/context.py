"""What an initial-model strategy (or any STA step plugin) is given: the parameters, the first
binning's extracted particles, the job-option builders and a way to run jobs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from py2rely_core.interfaces import JobResult, PlannedJob
from py2rely_core.params import BinningStage, Parameters
from py2rely_plugins.relion5.sta.options import JobOptions


@dataclass
class StaContext:
    """Handed to ``InitialModelStrategy.make_reference``.

    ``run(planned_job)`` runs (or, on resume, reuses) a job and returns its ``JobResult``; in a
    dry run it returns a result with status "Planned" whose files do not exist yet.
    """

    params: Parameters
    options: JobOptions
    project_root: Path
    stage: BinningStage  # the first binning
    particles: str  # particles extracted at the first binning (Extract/jobNNN/particles.star)
    imported_particles: str  # the particles STAR named in the parameter file
    reference_template: str | None
    run: Callable[[PlannedJob], JobResult]
    dry_run: bool = False

    @property
    def binning(self) -> int:
        return self.stage.binning
