"""Particle subsets and joins (relion_star_handler)."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import NO, PARTS, YES, RelionJobType, number

SELECT_DEFAULTS = {
    "fn_model": "", "fn_mic": "", "fn_data": "", "do_class_ranker": NO, "rank_threshold": "0.5",
    "select_nr_parts": "-1", "select_nr_classes": "-1", "do_recenter": NO, "do_regroup": NO,
    "nr_groups": "1", "do_select_values": NO, "select_label": "rlnCtfMaxResolution",
    "select_minval": "-9999.", "select_maxval": "9999.", "do_discard": NO,
    "discard_label": "rlnImageName", "discard_sigma": "4", "do_split": NO, "do_random": NO,
    "split_size": "100", "nr_split": "-1", "do_remove_duplicates": NO, "duplicate_threshold": "30",
    "image_angpix": "-1", "do_filaments": NO, "dendrogram_threshold": "0.85",
    "dendrogram_minclass": "-1000",
}


class SelectJob(RelionJobType):
    """Subset selection of a particles STAR with relion_star_handler."""

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(options["fn_data"], PARTS)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}particles.star", PARTS)]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}particles.star"]

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [self.particles_check(f"{job_dir}particles.star", [options["fn_data"]], at_most=True)]


class RemoveDuplicates(SelectJob):
    def __init__(self) -> None:
        super().__init__(
            name=labels.REMOVE_DUPLICATES,
            description="removes particles closer than a distance (relion_star_handler)",
            directory="Select", is_tomo=False, resource="cpu",
            defaults={**SELECT_DEFAULTS, "do_remove_duplicates": YES},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = ["--i", options["fn_data"], "--o", f"{job_dir}particles.star", "--remove_duplicates",
                options["duplicate_threshold"]]
        if number(options["image_angpix"]) > 0:
            args += ["--image_angpix", options["image_angpix"]]
        return [self.command("relion_star_handler", args, options, job_dir)]


class SelectOnValue(SelectJob):
    def __init__(self) -> None:
        super().__init__(
            name=labels.SELECT_ON_VALUE,
            description="keeps particles whose metadata value lies in a range (relion_star_handler)",
            directory="Select", is_tomo=False, resource="cpu",
            defaults={**SELECT_DEFAULTS, "do_select_values": YES},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = ["--i", options["fn_data"], "--o", f"{job_dir}particles.star", "--select",
                options["select_label"], "--minval", options["select_minval"], "--maxval",
                options["select_maxval"]]
        return [self.command("relion_star_handler", args, options, job_dir)]


class JoinParticles(RelionJobType):
    """Joins up to four particle STAR files (RELION's Join star files job)."""

    INPUTS = ("fn_part1", "fn_part2", "fn_part3", "fn_part4")

    def __init__(self) -> None:
        super().__init__(
            name=labels.JOIN_PARTICLES, description="joins particle STAR files (relion_star_handler)",
            directory="JoinStar", is_tomo=False, resource="cpu",
            defaults={"do_part": YES, "do_mic": NO, "do_mov": NO,
                      **{name: "" for name in self.INPUTS}},
        )

    def _inputs(self, options: Mapping[str, str]) -> list[str]:
        inputs = [options[name] for name in self.INPUTS if options[name]]
        if len(inputs) < 2:
            raise ValueError("JoinStar needs at least two particle STAR files (fn_part1, fn_part2)")
        return inputs

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        # RELION writes the list inside quotes with a space at each end (relion_star_handler
        # splits it on white space).
        files = f" {' '.join(self._inputs(options))} "
        args = ["--combine", "--i", files, "--check_duplicates",
                "rlnImageName", "--o", f"{job_dir}join_particles.star"]
        return [self.command("relion_star_handler", args, options, job_dir)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(path, PARTS) for path in self._inputs(options)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}join_particles.star", PARTS)]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}join_particles.star"]

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        # Duplicates (the same rlnImageName in two inputs) are dropped: at most the sum.
        return [self.particles_check(f"{job_dir}join_particles.star", self._inputs(options), at_most=True)]
