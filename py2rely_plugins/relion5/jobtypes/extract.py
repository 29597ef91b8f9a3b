"""Pseudo-subtomogram extraction (relion_tomo_subtomo).

RELION 5.0 sizes the boxes in pixels with a binning factor (``binning``, ``box_size``,
``crop_size``, ``do_stack2d`` → ``--b --crop --bin --stack2d``). RELION 5.1 sizes them in Å
(``box_size_angst``: the final box, ``precrop_size_angst``: the box cut from the tilt series, -1
for none, ``binned_size_pix``: the final box in pixels) and derives the binning as
box_size_angst / (binned_size_pix × tilt-series pixel size); ``subtomo_format`` chooses 2D stacks,
3D pseudo-subtomograms or real 3D subtomograms. Given the same boxes, both write the same
particles (checked: identical particles.star and stacks, pixel sizes 0.834–2.5 Å, binnings 1–6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import TOMO_INPUT, YES, RelionJobType, is_yes, number

STACKS_2D, PSEUDO_SUBTOMOS, REAL_SUBTOMOS = "2D stacks", "3D pseudo-subtomos", "3D subtomos"
SUBTOMO_FORMATS = (STACKS_2D, PSEUDO_SUBTOMOS, REAL_SUBTOMOS)


def _sizes_50(options: Mapping[str, str]) -> list[str]:
    args = ["--b", options["box_size"]]
    if number(options["crop_size"]) > 0:
        args += ["--crop", options["crop_size"]]
    return [*args, "--bin", options["binning"]]


def _formats_50(options: Mapping[str, str]) -> list[str]:
    return [flag for flag, option in (("--float16", "do_float16"), ("--stack2d", "do_stack2d"))
            if is_yes(options[option])]


def _sizes_51(options: Mapping[str, str]) -> list[str]:
    return ["--box_size_A", options["box_size_angst"], "--precrop_size_A",
            options["precrop_size_angst"], "--binned_size_pix", options["binned_size_pix"]]


def _formats_51(options: Mapping[str, str]) -> list[str]:
    subtomo_format = options["subtomo_format"]
    if subtomo_format not in SUBTOMO_FORMATS:
        raise ValueError(f"Extract: subtomo_format {subtomo_format!r} is not one of {SUBTOMO_FORMATS}")
    args = {STACKS_2D: ["--stack2d"], PSEUDO_SUBTOMOS: [], REAL_SUBTOMOS: ["--real_subtomo"]}[subtomo_format]
    return [*args, "--float16"] if is_yes(options["do_float16"]) else args


@dataclass(frozen=True)
class BoxOptions:
    """One release's box and output-format options and the arguments RELION makes of them."""

    defaults: Mapping[str, str]
    sizes: Callable[[Mapping[str, str]], list[str]]
    formats: Callable[[Mapping[str, str]], list[str]]


BOX_OPTIONS = {
    "5.0": BoxOptions({"binning": "1", "box_size": "128", "crop_size": "-1", "do_stack2d": YES},
                      _sizes_50, _formats_50),
    "5.1": BoxOptions({"box_size_angst": "128", "precrop_size_angst": "-1", "binned_size_pix": "64",
                       "subtomo_format": STACKS_2D}, _sizes_51, _formats_51),
}


class ExtractSubtomos(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.EXTRACT, description="pseudo-subtomogram extraction (relion_tomo_subtomo)",
            directory="Extract", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "max_dose": "-1", "min_frames": "1", "do_float16": YES},
            release_options={release: box.defaults for release, box in BOX_OPTIONS.items()},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        box = BOX_OPTIONS[self.release]
        args = [*self.tomo_input_args(options, False), "--theme", "classic", "--o", job_dir,
                *box.sizes(options)]
        if number(options["max_dose"]) > 0:
            args += ["--max_dose", options["max_dose"]]
        if number(options["min_frames"]) > 0:
            args += ["--min_frames", options["min_frames"]]
        args += [*box.formats(options), "--j", options["nr_threads"]]
        return [self.command("relion_tomo_subtomo", args, options, job_dir, mpi_program=True)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        nodes = [Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.extract"),
                 Node(f"{job_dir}particles.star", "ParticleGroupMetadata.star.relion.tomo.extract")]
        if options.get("subtomo_format") == REAL_SUBTOMOS:
            nodes.append(Node(f"{job_dir}particles_for_class2d.star",
                              "ParticleGroupMetadata.star.relion.class2d"))
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}particles.star", f"{job_dir}optimisation_set.star"]

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [self.particles_check(f"{job_dir}particles.star", self.direct_particles(options))]
