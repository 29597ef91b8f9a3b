"""The three ways to make the first reference of an STA pipeline (the guide's "Initial Model
Options"). Each is an InitialModelStrategy: it asks the context to run the jobs it needs and
returns the reference map and the particles to refine against it.

What the picks carry decides the first search (docs/pipelines-sta.md, "The first search"):
picks with orientations (template matching) are refined locally from them; positions only get
a global search first (maximum cross-correlation, passes until RELION's changes in orientations
say the poses are found: sta/global_search.py). Either way the first Refine3D (gold
standard, local searches) refines the poses and RELION's convergence rule stops it.
"""

from __future__ import annotations

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext
from py2rely_plugins.relion5.sta.contract import InitialReference
from py2rely_plugins.relion5.sta.global_search import global_search


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
                   "after a global search for positions only")

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        if not start.reference_template:
            raise InputError("--reference-template", "the reference strategy needs a template map",
                             "an MRC made with `py2rely prepare template`")
        # The template is the first Refine3D's reference; its gold-standard halves, not a
        # one-class Class3D, refine the poses (docs/pipelines-sta.md, "The first search").
        if start.picks_have_angles:
            return InitialReference(
                map_path=start.reference_template, particles_path=start.particles,
                note=f"template {start.reference_template}; local search from the picked angles")
        particles = global_search(context, start, start.reference_template)
        return InitialReference(
            map_path=start.reference_template, particles_path=particles,
            note=f"template {start.reference_template}; global search first: the picks carry no "
                 f"angles ({particles.split('run_')[0]})")


class DenovoStrategy:
    name = "denovo"
    description = "RELION's gradient-driven de novo initial model, aligned to its symmetry axes"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        job = context.run(context.jobs.initial_model(start.particles, start.stage))
        initial, hand = job.path("initial_model.mrc"), "hand not determined by de novo"
        reference = context.params.initial_model.denovo.hand_reference
        if reference:
            # Its hand is whatever the optimisation found; the tilt series, not this map, set the
            # final map's hand, which is checked against the same reference at the end
            # (docs/pipelines-sta.md, "De novo and the hand").
            hand = (f"hand checked against {reference} here and at the end" if context.dry_run
                    else f"de novo map: {context.check_hand(job, 'initial_model.mrc', reference)}")
        # The de novo map's frame is unrelated to any imported angles: a global search first.
        particles = global_search(context, start, initial)
        return InitialReference(map_path=initial, particles_path=particles,
                                note=f"de novo; global search first; {hand}")


def all_strategies() -> list:
    return [ReconstructStrategy(), ReferenceStrategy(), DenovoStrategy()]
