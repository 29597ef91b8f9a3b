"""The three ways to make the first reference of an STA pipeline (the guide's "Initial Model
Options"). Each is an InitialModelStrategy: it asks the context to run the jobs it needs and
returns the reference map and the particles to refine against it.

What the picks carry decides the first search (docs/pipelines-sta.md, "The first search"):
picks with orientations (template matching) are refined locally from them; positions only are
aligned by the first Refine3D's global search, which RELION's gold-standard auto-refinement
narrows to local searches and stops by its own convergence rule.
"""

from __future__ import annotations

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext
from py2rely_plugins.relion5.sta.contract import InitialReference


class ReconstructStrategy:
    name = "reconstruct"
    description = "reconstructs the particles from their imported orientations (default)"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        if not start.picks_have_angles:
            raise InputError(
                start.imported_particles,
                "every orientation is 0 (positions only): an average of the picks at their "
                "imported angles is a featureless blob",
                "picks with angles (template matching), or a template (--reference-template) "
                "or --run-denovo-generation for positions-only picks")
        job = context.run(context.jobs.reconstruct(start.particles, start.stage,
                                                   purpose="initial model (reconstruct)"))
        return InitialReference(map_path=job.path("merged.mrc"), particles_path=start.particles,
                                angles_known=True, note="average of the imported poses")


class ReferenceStrategy:
    name = "reference"
    description = ("refines the particles against a given template: locally from picked angles, "
                   "globally from positions only")

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        if not start.reference_template:
            raise InputError("--reference-template", "the reference strategy needs a template map",
                             "an MRC made with `py2rely prepare template`")
        # The template is the first Refine3D's reference: its gold-standard halves keep the
        # alignment from fitting noise, which a one-class Class3D does not (docs/pipelines-sta.md).
        search = ("local search from the picked angles" if start.picks_have_angles
                  else "global search: the picks carry no angles")
        return InitialReference(map_path=start.reference_template, particles_path=start.particles,
                                angles_known=start.picks_have_angles,
                                note=f"template {start.reference_template}; {search}")


class DenovoStrategy:
    name = "denovo"
    description = "RELION's gradient-driven de novo initial model, aligned to its symmetry axes"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        job = context.run(context.jobs.initial_model(start.particles, start.stage))
        # The de novo map's frame is unrelated to the imported angles: the first refinement
        # must search globally. Its hand is a guess (docs/pipelines-sta.md, "De novo and the hand").
        return InitialReference(map_path=job.path("initial_model.mrc"),
                                particles_path=start.particles, angles_known=False,
                                note="de novo (global search follows; hand not determined)")


def all_strategies() -> list:
    return [ReconstructStrategy(), ReferenceStrategy(), DenovoStrategy()]
