"""Particle reconstruction from poses (relion_tomo_reconstruct_particle), with RELION's optional
helical symmetry (in Fourier space by the program, then in real space by relion_helix_toolbox)."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import (
    NO,
    TOMO_INPUT,
    RelionJobType,
    is_yes,
    number,
    relion_number,
)

MAP = "DensityMap.mrc.relion.tomo.map.reconstruct"
HALFMAP = "DensityMap.mrc.relion.tomo.halfmap.reconstruct"
HELICAL_MAPS = ("half1", "half2", "merged")


class ReconstructParticle(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.RECONSTRUCT,
            description="average of the particles from their poses (relion_tomo_reconstruct_particle)",
            directory="Reconstruct", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "binning": "1", "box_size": "128", "crop_size": "-1", "snr": "0",
                      "sym_name": "C1", "do_helix": NO, "helical_nr_asu": "1", "helical_twist": "-1",
                      "helical_rise": "4.75", "helical_tube_outer_diameter": "200",
                      "helical_z_percentage": "20"},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        helix = is_yes(options["do_helix"])
        args = [*self.tomo_input_args(options, False), "--theme", "classic", "--o", job_dir,
                "--b", options["box_size"]]
        if number(options["crop_size"]) > 0:
            args += ["--crop", options["crop_size"]]
        args += ["--bin", options["binning"]]
        if number(options["snr"]) > 0:
            args += ["--SNR", options["snr"]]
        if helix:
            args += ["--nr_helical_asu", options["helical_nr_asu"], "--helical_twist",
                     options["helical_twist"], "--helical_rise", options["helical_rise"]]
        threads = options["nr_threads"]
        args += ["--j", threads, "--j_out", threads, "--j_in", "1", "--sym", options["sym_name"]]
        commands = [self.command("relion_tomo_reconstruct_particle", args, options, job_dir,
                                 mpi_program=True)]
        if helix:
            commands += [self._impose_helix(options, job_dir, name) for name in HELICAL_MAPS]
        return commands

    @staticmethod
    def _impose_helix(options: Mapping[str, str], job_dir: str, name: str) -> Command:
        z_fraction = relion_number(number(options["helical_z_percentage"]) / 100.0)
        return Command("relion_helix_toolbox", (
            "--impose", "--i", f"{job_dir}{name}.mrc", "--o", f"{job_dir}helical_{name}.mrc",
            "--twist", options["helical_twist"], "--rise", options["helical_rise"],
            "--z_percentage", z_fraction, "--cyl_outer_diameter", options["helical_tube_outer_diameter"],
            "--pipeline_control", job_dir))

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        nodes = [Node(f"{job_dir}merged.mrc", MAP), Node(f"{job_dir}half1.mrc", HALFMAP),
                 Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.reconstruct")]
        if is_yes(options["do_helix"]):
            nodes += [Node(f"{job_dir}helical_half1.mrc", HALFMAP),
                      Node(f"{job_dir}helical_merged.mrc", MAP)]
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        # Half maps exist only when the particles carry rlnRandomSubset; optimisation_set.star is
        # declared by RELION's pipeliner but never written by the program.
        outputs = [f"{job_dir}merged.mrc"]
        if is_yes(options["do_helix"]):
            outputs.append(f"{job_dir}helical_merged.mrc")
        return outputs
