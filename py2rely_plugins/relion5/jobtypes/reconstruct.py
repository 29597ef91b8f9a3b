"""Particle reconstruction from poses (relion_tomo_reconstruct_particle)."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import NO, TOMO_INPUT, RelionJobType, number


class ReconstructParticle(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.RECONSTRUCT,
            description="average of the particles from their poses (relion_tomo_reconstruct_particle)",
            directory="Reconstruct", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "binning": "1", "box_size": "128", "crop_size": "-1", "snr": "0",
                      "sym_name": "C1", "do_helix": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = [*self.tomo_input_args(options, False), "--theme", "classic", "--o", job_dir,
                "--b", options["box_size"]]
        if number(options["crop_size"]) > 0:
            args += ["--crop", options["crop_size"]]
        args += ["--bin", options["binning"]]
        if number(options["snr"]) > 0:
            args += ["--SNR", options["snr"]]
        threads = options["nr_threads"]
        args += ["--j", threads, "--j_out", threads, "--j_in", "1", "--sym", options["sym_name"]]
        return [self.command("relion_tomo_reconstruct_particle", args, options, job_dir,
                             mpi_program=True)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options, False)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}merged.mrc", "DensityMap.mrc.relion.tomo.map.reconstruct"),
                Node(f"{job_dir}half1.mrc", "DensityMap.mrc.relion.tomo.halfmap.reconstruct"),
                Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.reconstruct")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        # Half maps exist only when the particles carry rlnRandomSubset; optimisation_set.star is
        # declared by RELION's pipeliner but never written by the program.
        return [f"{job_dir}merged.mrc"]
