"""Pseudo-subtomogram extraction (relion_tomo_subtomo)."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import TOMO_INPUT, YES, RelionJobType, is_yes, number


class ExtractSubtomos(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.EXTRACT, description="pseudo-subtomogram extraction (relion_tomo_subtomo)",
            directory="Extract", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "binning": "1", "box_size": "128", "crop_size": "-1",
                      "max_dose": "-1", "min_frames": "1", "do_stack2d": YES, "do_float16": YES},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = [*self.tomo_input_args(options, False), "--theme", "classic", "--o", job_dir,
                "--b", options["box_size"]]
        if number(options["crop_size"]) > 0:
            args += ["--crop", options["crop_size"]]
        args += ["--bin", options["binning"]]
        if number(options["max_dose"]) > 0:
            args += ["--max_dose", options["max_dose"]]
        if number(options["min_frames"]) > 0:
            args += ["--min_frames", options["min_frames"]]
        if is_yes(options["do_float16"]):
            args.append("--float16")
        if is_yes(options["do_stack2d"]):
            args.append("--stack2d")
        args += ["--j", options["nr_threads"]]
        return [self.command("relion_tomo_subtomo", args, options, job_dir, mpi_program=True)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options, False)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.extract"),
                Node(f"{job_dir}particles.star", "ParticleGroupMetadata.star.relion.tomo.extract")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}particles.star", f"{job_dir}optimisation_set.star"]

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [self.particles_check(f"{job_dir}particles.star", self.direct_particles(options))]
