"""What every RELION job type shares: node type labels, common options, the base class."""

from __future__ import annotations

import copy
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.versions import KNOWN_RELEASES, NEWEST

YES, NO = "Yes", "No"


# Node type labels (pipeline_jobs.h).
PARTS = "ParticleGroupMetadata.star.relion"
TOMOGRAMS = "TomogramGroupMetadata.star.relion"
TRAJECTORIES = "TomoTrajectoryData.star.relion"
OPTIMISATION_SET = "TomoOptimisationSet.star.relion"
MAP = "DensityMap.mrc"
HALFMAP = "DensityMap.mrc.halfmap"
MASK = "Mask3D.mrc"
POSTPROCESS = "ProcessData.star.relion.postprocess"

PARTICLES_BLOCK, TOMOGRAMS_BLOCK = "particles", "global"

COMMON = {"do_queue": NO, "min_dedicated": "1", "other_args": ""}
TOMO_INPUT = {"in_optimisation": "", "use_direct_entries": YES, "in_particles": "",
              "in_tomograms": "", "in_trajectories": ""}
# relion_refine's compute options shared by Refine3D, Class3D and InitialModel (InitialModel has
# no do_pad1: it always pads by 1).
COMPUTE_REFINE = {
    "do_parallel_discio": YES, "nr_pool": "3", "do_preread_images": NO,
    "scratch_dir": "", "do_combine_thru_disc": NO, "use_gpu": NO, "gpu_ids": "",
}


def is_yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1")


def number(value: str) -> float:
    return float(value)


def relion_number(value: float) -> str:
    """A computed number as RELION's floatToString writes it: single precision, 6 significant
    digits (the pipeliner uses it for the values it derives, e.g. --offset_step from offset_step)."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    return f"{single:g}"


def split_args(text: str) -> list[str]:
    import shlex

    return shlex.split(text) if text.strip() else []


@dataclass
class RelionJobType:
    """Base: options, defaults and the parts every RELION job shares.

    ``defaults`` are the options of ``release``: the options every known release shares, plus
    ``release_options[release]`` (options that exist in some releases only, e.g. Extract's box
    options). ``for_release`` gives the same job type writing another release's options.
    """

    name: str
    description: str
    directory: str
    is_tomo: bool
    resource: str
    defaults: dict[str, str] = field(default_factory=dict)
    has_mpi: bool = False
    has_threads: bool = False
    release_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    release: str = NEWEST

    def __post_init__(self) -> None:
        base = dict(COMMON)
        if self.has_mpi:
            base["nr_mpi"] = "1"
        if self.has_threads:
            base["nr_threads"] = "1"
        self._shared = {**base, **self.defaults}
        unknown = set(self.release_options) - set(KNOWN_RELEASES)
        if unknown:
            raise ValueError(f"{self.name}: options for unknown RELION release(s) {sorted(unknown)}")
        self.defaults = self.options_of(self.release)

    def options_of(self, release: str) -> dict[str, str]:
        if release not in KNOWN_RELEASES:
            raise ValueError(f"py2rely knows the job options of RELION {', '.join(KNOWN_RELEASES)}, "
                             f"not {release}")
        return {**self._shared, **self.release_options.get(release, {})}

    def for_release(self, release: str) -> Self:
        """This job type writing the job options of RELION ``release`` (e.g. "5.0")."""
        clone = copy.copy(self)
        clone.defaults = self.options_of(release)
        clone.release = release
        return clone

    # -- to be specialised --------------------------------------------------------------

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        raise NotImplementedError

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return []

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return []

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return []

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        """Tables and row counts the outputs must have (py2rely_core.outputs)."""
        return []

    # -- shared pieces ------------------------------------------------------------------

    def ranks(self, options: Mapping[str, str]) -> int:
        return int(number(options.get("nr_mpi", "1"))) if self.has_mpi else 1

    def threads(self, options: Mapping[str, str]) -> int:
        return int(number(options.get("nr_threads", "1"))) if self.has_threads else 1

    def command(self, program: str, args: list[str], options: Mapping[str, str], job_dir: str,
                mpi_program: bool = False) -> Command:
        ranks = self.ranks(options)
        if mpi_program and ranks > 1:
            program += "_mpi"
        words = [*args, *split_args(options.get("other_args", "")), "--pipeline_control", job_dir]
        return Command(program=program, args=tuple(words), mpi_ranks=ranks if mpi_program else 1,
                       threads=self.threads(options))

    def refuse_helix(self, options: Mapping[str, str]) -> None:
        if is_yes(options.get("do_helix", NO)):
            raise ValueError(f"{self.name}: helical processing (do_helix Yes) is not supported by "
                             "py2rely; run this job from RELION's GUI")

    @staticmethod
    def particles_check(path: str, sources: list[str], at_most: bool = False) -> OutputCheck:
        """A particle table with one row per input particle (``at_most``: a selection of them);
        without direct input entries (an optimisation set) only the table is checked."""
        return OutputCheck(path, PARTICLES_BLOCK, ("rlnTomoName",) if sources else (),
                           tuple((source, PARTICLES_BLOCK) for source in sources if source), at_most)

    @staticmethod
    def direct_particles(options: Mapping[str, str]) -> list[str]:
        direct = is_yes(options.get("use_direct_entries", YES)) and options.get("in_particles")
        return [options["in_particles"]] if direct else []

    @staticmethod
    def tomo_inputs(options: Mapping[str, str]) -> list[Node]:
        """The input nodes RELION's pipeliner declares for the tomo inputs (getTomoInputCommmand;
        the trajectories of a refinement as RELION 5.1 declares them)."""
        if not is_yes(options["use_direct_entries"]):
            return [Node(options["in_optimisation"], OPTIMISATION_SET)]
        nodes = [Node(options["in_particles"], PARTS), Node(options["in_tomograms"], TOMOGRAMS),
                 Node(options.get("in_trajectories", ""), TRAJECTORIES)]
        return [n for n in nodes if n.path]

    @staticmethod
    def tomo_input_args(options: Mapping[str, str], for_refine: bool) -> list[str]:
        """The input arguments RELION's getTomoInputCommmand writes, refusing what it refuses."""
        if not is_yes(options["use_direct_entries"]):
            if not options["in_optimisation"]:
                raise ValueError("no optimisation set (in_optimisation) while use_direct_entries is No")
            return ["--ios" if for_refine else "--i", options["in_optimisation"]]
        if options["in_optimisation"]:
            raise ValueError("use_direct_entries is Yes but in_optimisation is set; RELION refuses both")
        for option, what in (("in_tomograms", "tomogram set"), ("in_particles", "particle set")):
            if not options[option]:
                raise ValueError(f"no {what} ({option})")
        if for_refine:
            args = ["--i", options["in_particles"], "--tomograms", options["in_tomograms"]]
            if options.get("in_trajectories"):
                args += ["--trajectories", options["in_trajectories"]]
            return args
        args = []
        for option, flag in (("in_particles", "--p"), ("in_tomograms", "--t"),
                             ("in_trajectories", "--mot")):
            if options.get(option):
                args += [flag, options[option]]
        return args
