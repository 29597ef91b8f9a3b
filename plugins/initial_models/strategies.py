"""The three ways to make the first reference of an STA pipeline (the guide's "Initial Model
Options"). Each is an InitialModelStrategy: it asks the context to run the jobs it needs and
returns the reference map and the particles to refine against it."""

from __future__ import annotations

from py2rely_core.errors import InputError
from py2rely_core.interfaces import InitialReference
from py2rely_plugins.relion5.sta.context import StaContext


class ReconstructStrategy:
    name = "reconstruct"
    description = "reconstructs the particles from their imported orientations (default)"

    def make_reference(self, context: StaContext) -> InitialReference:
        job = context.run(context.options.reconstruct(context.particles, context.stage,
                                                      purpose="initial model (reconstruct)"))
        return InitialReference(map_path=job.path("merged.mrc"), particles_path=context.particles,
                                angles_known=True, note="average of the imported poses")


class ReferenceStrategy:
    name = "reference"
    description = "aligns the particles to a given template with a one-class tomo Class3D"

    def make_reference(self, context: StaContext) -> InitialReference:
        if not context.reference_template:
            raise InputError("--reference-template", "the reference strategy needs a template map",
                             "an MRC made with `py2rely prepare template`")
        planned = context.options.class3d_alignment(context.particles, context.reference_template,
                                                    context.stage)
        job = context.run(planned)
        root = f"{job.job_dir}run_it{int(planned.options['nr_iter']):03d}"
        return InitialReference(map_path=f"{root}_class001.mrc", particles_path=f"{root}_data.star",
                                angles_known=True, note=f"aligned to {context.reference_template}")


class DenovoStrategy:
    name = "denovo"
    description = "RELION's gradient-driven de novo initial model, aligned to its symmetry axes"

    def make_reference(self, context: StaContext) -> InitialReference:
        job = context.run(context.options.initial_model(context.particles, context.stage))
        # The de novo map's frame is unrelated to the imported angles: the first refinement
        # must search globally.
        return InitialReference(map_path=job.path("initial_model.mrc"),
                                particles_path=context.particles, angles_known=False,
                                note="de novo (global search follows)")


def all_strategies() -> list:
    return [ReconstructStrategy(), ReferenceStrategy(), DenovoStrategy()]
