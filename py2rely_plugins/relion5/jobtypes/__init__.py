"""RELION 5 job types: for each, RELION's job options with their defaults, and the commands,
input and output nodes RELION's own pipeliner builds from them (src/pipeline_jobs.cpp).

Commands name programs without RELION's `` `which ...` `` so that the executor's PATH decides
which installation runs them; MPI launch is the executor's business (``Command.mpi_ranks``).
One module per family of RELION programs; ``all_job_types`` is what the plugin registers.
"""

from __future__ import annotations

from py2rely_plugins.relion5.jobtypes.base import RelionJobType
from py2rely_plugins.relion5.jobtypes.extract import ExtractSubtomos
from py2rely_plugins.relion5.jobtypes.maps import MaskCreate, PostProcess
from py2rely_plugins.relion5.jobtypes.reconstruct import ReconstructParticle
from py2rely_plugins.relion5.jobtypes.refine import Class3DTomo, InitialModelTomo, Refine3DTomo
from py2rely_plugins.relion5.jobtypes.selection import JoinParticles, RemoveDuplicates, SelectOnValue
from py2rely_plugins.relion5.jobtypes.tomo_refinement import CtfRefineTomo, FrameAlignTomo


def all_job_types() -> list[RelionJobType]:
    return [
        ExtractSubtomos(), ReconstructParticle(), CtfRefineTomo(), FrameAlignTomo(),
        Refine3DTomo(), Class3DTomo(), InitialModelTomo(), MaskCreate(), PostProcess(),
        RemoveDuplicates(), SelectOnValue(), JoinParticles(),
    ]
