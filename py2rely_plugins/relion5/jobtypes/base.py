"""What every RELION job type shares: node type labels, common options, the base class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from py2rely_core.interfaces import Command, Node, OutputCheck

YES, NO = "Yes", "No"


# Node type labels (pipeline_jobs.h).
PARTS = "ParticleGroupMetadata.star.relion"
TOMOGRAMS = "TomogramGroupMetadata.star.relion"
TRAJECTORIES = "TomoTrajectoryData.star.relion"
MAP = "DensityMap.mrc"
HALFMAP = "DensityMap.mrc.halfmap"
MASK = "Mask3D.mrc"
POSTPROCESS = "ProcessData.star.relion.postprocess"

PARTICLES_BLOCK, TOMOGRAMS_BLOCK = "particles", "global"

COMMON = {"do_queue": NO, "min_dedicated": "1", "other_args": ""}
TOMO_INPUT = {"in_optimisation": "", "use_direct_entries": YES, "in_particles": "",
              "in_tomograms": "", "in_trajectories": ""}
COMPUTE_REFINE = {
    "do_parallel_discio": YES, "nr_pool": "3", "do_pad1": NO, "do_preread_images": NO,
    "scratch_dir": "", "do_combine_thru_disc": NO, "use_gpu": NO, "gpu_ids": "",
}


def is_yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1")


def number(value: str) -> float:
    return float(value)


def _format(value: float) -> str:
    return f"{value:g}"


def split_args(text: str) -> list[str]:
    import shlex

    return shlex.split(text) if text.strip() else []


@dataclass
class RelionJobType:
    """Base: options, defaults and the parts every RELION job shares."""

    name: str
    description: str
    directory: str
    is_tomo: bool
    resource: str
    defaults: dict[str, str] = field(default_factory=dict)
    has_mpi: bool = False
    has_threads: bool = False

    def __post_init__(self) -> None:
        base = dict(COMMON)
        if self.has_mpi:
            base["nr_mpi"] = "1"
        if self.has_threads:
            base["nr_threads"] = "1"
        self.defaults = {**base, **self.defaults}

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
    def tomo_inputs(options: Mapping[str, str], for_refine: bool) -> list[Node]:
        nodes = [Node(options["in_particles"], PARTS), Node(options["in_tomograms"], TOMOGRAMS)]
        if not for_refine and options.get("in_trajectories"):
            nodes.append(Node(options["in_trajectories"], TRAJECTORIES))
        return [n for n in nodes if n.path]

    @staticmethod
    def tomo_input_args(options: Mapping[str, str], for_refine: bool) -> list[str]:
        if not is_yes(options["use_direct_entries"]):
            return ["--ios" if for_refine else "--i", options["in_optimisation"]]
        if for_refine:
            return ["--i", options["in_particles"], "--tomograms", options["in_tomograms"]]
        args = []
        for option, flag in (("in_particles", "--p"), ("in_tomograms", "--t"),
                             ("in_trajectories", "--mot")):
            if options.get(option):
                args += [flag, options[option]]
        return args


