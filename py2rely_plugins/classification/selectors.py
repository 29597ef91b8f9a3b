"""Class selectors: which classes of a Class3D result the pipeline keeps.

Each returns a ClassSelection (kept class numbers and a sentence saying why). ``settings`` holds
the parameter file's ``class3d`` section (``min_class_share``) and, for ``manual``, the classes
the user chose (``keep_classes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from py2rely_core.errors import NeedsDecision
from py2rely_plugins.relion5.sta.contract import ClassSelection, ClassSummary, format_class_table


class ResolutionSelector:
    name = "resolution"
    description = ("best estimated resolution among classes holding at least min_class_share of "
                   "the particles; ties broken by rotational, then translational accuracy")

    def select(self, classes: Sequence[ClassSummary], settings: Mapping[str, Any]) -> ClassSelection:
        share = float(settings.get("min_class_share", 0.05))
        eligible = [c for c in classes if c.distribution >= share and c.particles > 0]
        if not eligible:
            raise NeedsDecision(
                f"no class holds {share:.0%} of the particles; choose classes with "
                f"--class-selection manual --keep-classes\n{format_class_table(classes)}")
        best = min(eligible, key=lambda c: (c.resolution, c.accuracy_rotations, c.accuracy_translations))
        return ClassSelection(
            kept=(best.number,),
            reason=(f"class {best.number}: {best.resolution:.1f} Å, the best resolution among "
                    f"{len(eligible)} class(es) with at least {share:.0%} of the particles"))


class PopulationSelector:
    name = "population"
    description = "the class holding the most particles"

    def select(self, classes: Sequence[ClassSummary], settings: Mapping[str, Any]) -> ClassSelection:
        best = max(classes, key=lambda c: (c.particles, -c.resolution))
        return ClassSelection(kept=(best.number,),
                              reason=f"class {best.number}: the largest ({best.particles} particles)")


class ManualSelector:
    name = "manual"
    description = "stops and lists the classes; rerun with --keep-classes to continue"

    def select(self, classes: Sequence[ClassSummary], settings: Mapping[str, Any]) -> ClassSelection:
        chosen = tuple(settings.get("keep_classes") or ())
        known = {c.number for c in classes}
        if not chosen:
            raise NeedsDecision(
                "manual class selection: choose the classes to keep and rerun the same command "
                "with --keep-classes (e.g. --keep-classes "
                f"{','.join(str(c.number) for c in classes[:2])})\n{format_class_table(classes)}")
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise NeedsDecision(
                f"--keep-classes {','.join(map(str, chosen))}: no class {unknown[0]} in this "
                f"classification (classes: {', '.join(map(str, sorted(known)))})")
        return ClassSelection(kept=tuple(sorted(set(chosen))),
                              reason=f"chosen by hand: class(es) {', '.join(map(str, sorted(set(chosen))))}")


def all_selectors() -> list:
    return [ResolutionSelector(), PopulationSelector(), ManualSelector()]
