"""The three ways to make the first reference of an STA pipeline (the guide's "Initial Model
Options"). Each is an InitialModelStrategy: it asks the context to run the jobs it needs and
returns the reference map and the particles to refine against it."""

from __future__ import annotations

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.context import ReferenceStart, StaContext
from py2rely_plugins.relion5.sta.contract import InitialReference


class ReconstructStrategy:
    name = "reconstruct"
    description = "reconstructs the particles from their imported orientations (default)"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        job = context.run(context.jobs.reconstruct(start.particles, start.stage,
                                                   purpose="initial model (reconstruct)"))
        return InitialReference(map_path=job.path("merged.mrc"), particles_path=start.particles,
                                angles_known=True, note="average of the imported poses")


class ReferenceStrategy:
    name = "reference"
    description = "aligns the particles to a given template with a one-class tomo Class3D"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        if not start.reference_template:
            raise InputError("--reference-template", "the reference strategy needs a template map",
                             "an MRC made with `py2rely prepare template`")
        planned = context.jobs.class3d_alignment(start.particles, start.reference_template,
                                                 start.stage)
        job = context.run(planned)
        root = f"{job.job_dir}run_it{int(planned.options['nr_iter']):03d}"
        return InitialReference(map_path=f"{root}_class001.mrc", particles_path=f"{root}_data.star",
                                angles_known=True, note=f"aligned to {start.reference_template}")


class DenovoStrategy:
    name = "denovo"
    description = "RELION's gradient-driven de novo initial model, aligned to its symmetry axes"

    def make_reference(self, context: StaContext, start: ReferenceStart) -> InitialReference:
        job = context.run(context.jobs.initial_model(start.particles, start.stage))
        # The de novo map's frame is unrelated to the imported angles: the first refinement
        # must search globally.
        return InitialReference(map_path=job.path("initial_model.mrc"),
                                particles_path=start.particles, angles_known=False,
                                note="de novo (global search follows)")


def all_strategies() -> list:
    return [ReconstructStrategy(), ReferenceStrategy(), DenovoStrategy()]
