"""What STA plugins implement: initial-model strategies and class selectors, and the records they
exchange with the pipeline. Both are registered through the hooks in ``sta.hookspecs``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext


@dataclass(frozen=True)
class InitialReference:
    """The first reference of a pipeline and the particles to refine against it.

    ``angles_known``: the particles' orientations already match the map to within a few degrees
    (imported or aligned poses), so the first refinement searches locally; False asks for a
    global search (slow).
    """

    map_path: str
    particles_path: str
    angles_known: bool = True
    note: str = ""

    @property
    def job_dir(self) -> str:
        head, _, _ = self.map_path.rpartition("/")
        return f"{head}/" if head else ""


@runtime_checkable
class InitialModelStrategy(Protocol):
    """Runs the jobs that make the first reference.

    ``make_reference(context, start)``: ``context`` is the pipeline's ``StaContext`` (parameters,
    job builders ``context.jobs``, ``context.run(planned_job)``); ``start`` says what to start
    from (the first binning, its extracted particles, the template if one was given).
    """

    name: str
    description: str

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference: ...


@dataclass(frozen=True)
class ClassSummary:
    number: int  # 1-based, as rlnClassNumber
    particles: int
    distribution: float  # share of particles, 0..1
    resolution: float  # Å (rlnEstimatedResolution)
    accuracy_rotations: float  # degrees
    accuracy_translations: float  # Å
    map_path: str


def format_class_table(classes: Sequence[ClassSummary]) -> str:
    """The per-class table shown to users (manual selection, decision files, reports)."""
    lines = ["class  particles  share  resolution  acc.rot  acc.trans  map"]
    for c in classes:
        lines.append(f"{c.number:>5}  {c.particles:>9}  {c.distribution:>5.1%}  {c.resolution:>8.1f} Å"
                     f"  {c.accuracy_rotations:>6.2f}°  {c.accuracy_translations:>7.2f} Å  {c.map_path}")
    return "\n".join(lines)


@dataclass(frozen=True)
class ClassSelection:
    kept: tuple[int, ...]  # class numbers
    reason: str


@runtime_checkable
class ClassSelector(Protocol):
    """Chooses the classes to keep from a Class3D result. ``settings`` holds
    ``min_class_share`` (parameter file) and ``keep_classes`` (``--keep-classes``)."""

    name: str
    description: str

    def select(
        self, classes: Sequence[ClassSummary], settings: Mapping[str, Any]
    ) -> ClassSelection: ...
