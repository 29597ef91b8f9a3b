"""RELION 5 job types: for each, RELION's job options with their defaults, and the commands,
input and output nodes RELION's own pipeliner builds from them (src/pipeline_jobs.cpp, ver5.0).

Commands name programs without RELION's `` `which ...` `` so that the executor's PATH decides
which installation runs them; MPI launch is the executor's business (``Command.mpi_ranks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from py2rely_core.interfaces import Command, Node

YES, NO = "Yes", "No"

# RELION's angular sampling menu, mapped to HEALPix orders (JobOption::getHealPixOrder).
HEALPIX_ORDER = {
    "30 degrees": 0, "15 degrees": 1, "7.5 degrees": 2, "3.7 degrees": 3, "1.8 degrees": 4,
    "0.9 degrees": 5, "0.5 degrees": 6, "0.2 degrees": 7, "0.1 degrees": 8,
}
OVERSAMPLING = 1

# Node type labels (pipeline_jobs.h).
PARTS = "ParticleGroupMetadata.star.relion"
TOMOGRAMS = "TomogramGroupMetadata.star.relion"
TRAJECTORIES = "TomoTrajectoryData.star.relion"
MAP = "DensityMap.mrc"
HALFMAP = "DensityMap.mrc.halfmap"
MASK = "Mask3D.mrc"
POSTPROCESS = "ProcessData.star.relion.postprocess"

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


def healpix_order(sampling: str) -> int:
    try:
        return HEALPIX_ORDER[sampling]
    except KeyError:
        raise ValueError(f"{sampling!r} is not one of RELION's samplings {list(HEALPIX_ORDER)}") from None


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


# ---------------------------------------------------------------------------------------------
# Tomography programs


class ExtractSubtomos(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.pseudosubtomo", description="pseudo-subtomogram extraction (relion_tomo_subtomo)",
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


class ReconstructParticle(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.reconstructparticletomo",
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


def reference_refinement_inputs(options: Mapping[str, str]) -> list[Node]:
    """Inputs of CtfRefine and Polish: particles, tomograms, half maps, mask and FSC."""
    nodes = RelionJobType.tomo_inputs(options, False)
    nodes.append(Node(options["in_halfmaps"], "DensityMap.mrc.relion.tomo.halfmap.reconstruct"))
    if options["in_refmask"]:
        nodes.append(Node(options["in_refmask"], MASK))
    if options["in_post"]:
        nodes.append(Node(options["in_post"], POSTPROCESS))
    return nodes


class CtfRefineTomo(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.ctfrefinetomo", description="tomo CTF refinement (relion_tomo_refine_ctf)",
            directory="CtfRefine", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "in_halfmaps": "", "in_refmask": "", "in_post": "",
                      "box_size": "128", "do_defocus": YES, "focus_range": "3000", "do_reg_def": NO,
                      "lambda": "0.1", "do_scale": YES, "do_frame_scale": YES, "do_tomo_scale": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        if is_yes(options["do_frame_scale"]) and is_yes(options["do_tomo_scale"]):
            raise ValueError("CtfRefine: per-frame and per-tomogram scale cannot both be fitted")
        half1 = options["in_halfmaps"]
        args = [*self.tomo_input_args(options, False), "--ref1", half1,
                "--ref2", half1.replace("half1", "half2")]
        if options["in_refmask"]:
            args += ["--mask", options["in_refmask"]]
        if options["in_post"]:
            args += ["--fsc", options["in_post"]]
        args += ["--theme", "classic", "--o", job_dir, "--b", options["box_size"]]
        if is_yes(options["do_defocus"]):
            args += ["--do_defocus", "--d0", f"-{options['focus_range']}", "--d1", options["focus_range"]]
            if is_yes(options["do_reg_def"]):
                args += ["--do_reg_defocus", "--lambda", options["lambda"]]
        if is_yes(options["do_scale"]):
            args.append("--do_scale")
            if is_yes(options["do_frame_scale"]):
                args.append("--per_frame_scale")
            if is_yes(options["do_tomo_scale"]):
                # RELION's GUI writes --per_tomo_scale, which the program ignores with a warning.
                args.append("--per_tomogram_scale")
        args += ["--j", options["nr_threads"]]
        return [self.command("relion_tomo_refine_ctf", args, options, job_dir, mpi_program=True)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return reference_refinement_inputs(options)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.ctfrefine"),
                Node(f"{job_dir}tomograms.star", "TomogramGroupMetadata.star.relion.tomo.ctfrefine"),
                Node(f"{job_dir}logfile.pdf", "LogFile.pdf.relion.tomo.ctfrefine")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        refined = is_yes(options["do_defocus"]) or is_yes(options["do_scale"])
        return [f"{job_dir}tomograms.star"] if refined else [f"{job_dir}optimisation_set.star"]


class FrameAlignTomo(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.framealigntomo",
            description="tomo frame alignment / Bayesian polishing (relion_tomo_align)",
            directory="Polish", is_tomo=False, resource="cpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, "in_halfmaps": "", "in_refmask": "", "in_post": "",
                      "box_size": "128", "max_error": "5", "do_shift_align": NO,
                      "shift_align_type": "Entire micrographs", "do_motion": NO, "sigma_vel": "0.2",
                      "sigma_div": "5000", "do_sq_exp_ker": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        if is_yes(options["do_shift_align"]) and is_yes(options["do_motion"]):
            raise ValueError("Polish: shift-only alignment and motion fitting exclude each other")
        half1 = options["in_halfmaps"]
        args = [*self.tomo_input_args(options, False), "--ref1", half1,
                "--ref2", half1.replace("half1", "half2")]
        if options["in_refmask"]:
            args += ["--mask", options["in_refmask"]]
        if options["in_post"]:
            args += ["--fsc", options["in_post"]]
        args += ["--theme", "classic", "--o", job_dir, "--b", options["box_size"],
                 "--r", options["max_error"]]
        if is_yes(options["do_shift_align"]):
            args.append("--shift_only")
            if options["shift_align_type"] == "Only particles":
                args.append("--shift_only_by_particles")
        if is_yes(options["do_motion"]):
            args += ["--motion", "--s_vel", options["sigma_vel"], "--s_div", options["sigma_div"]]
            if is_yes(options["do_sq_exp_ker"]):
                args.append("--sq_exp_ker")
        args += ["--j", options["nr_threads"]]
        return [self.command("relion_tomo_align", args, options, job_dir, mpi_program=True)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return reference_refinement_inputs(options)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        nodes = [Node(f"{job_dir}optimisation_set.star", "TomoOptimisationSet.star.relion.tomo.polish"),
                 Node(f"{job_dir}tomograms.star", "TomogramGroupMetadata.star.relion.tomo.polish"),
                 Node(f"{job_dir}particles.star", "ParticleGroupMetadata.star.relion.tomo.polish"),
                 Node(f"{job_dir}logfile.pdf", "LogFile.pdf.relion.tomo.polish")]
        if is_yes(options["do_motion"]):
            nodes.append(Node(f"{job_dir}motion.star", "TomoTrajectoryData.star.relion.polish"))
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        outputs = [f"{job_dir}tomograms.star"]
        if not is_yes(options["do_shift_align"]):  # shift-only writes no particles.star
            outputs.append(f"{job_dir}particles.star")
        if is_yes(options["do_motion"]):
            outputs.append(f"{job_dir}motion.star")
        return outputs


# ---------------------------------------------------------------------------------------------
# relion_refine jobs


REFINE_COMMON = {
    **TOMO_INPUT, **COMPUTE_REFINE, "fn_cont": "", "fn_ref": "", "fn_mask": "",
    "ref_correct_greyscale": NO, "trust_ref_size": YES, "ini_high": "60", "sym_name": "C1",
    "do_ctf_correction": YES, "ctf_intact_first_peak": NO, "particle_diameter": "200",
    "do_zero_mask": YES, "do_blush": NO, "sampling": "7.5 degrees", "offset_range": "5",
    "offset_step": "1", "relax_sym": "", "sigma_tilt": "-1", "do_helix": NO,
}


class RefineJob(RelionJobType):
    """Shared command pieces of Class3D and Refine3D (relion_refine with tomo inputs)."""

    def reference_args(self, options: Mapping[str, str]) -> list[str]:
        args = [*self.tomo_input_args(options, True)]
        if number(options["sigma_tilt"]) > 0:
            args += ["--sigma_tilt", options["sigma_tilt"]]
        args += ["--ref", options["fn_ref"]]
        if not is_yes(options["ref_correct_greyscale"]):
            args.append("--firstiter_cc")
        if is_yes(options["trust_ref_size"]):
            args.append("--trust_ref_size")
        if number(options["ini_high"]) > 0:
            args += ["--ini_high", options["ini_high"]]
        return args

    @staticmethod
    def compute_args(options: Mapping[str, str], pad: str | None = None) -> list[str]:
        args = []
        if not is_yes(options["do_combine_thru_disc"]):
            args.append("--dont_combine_weights_via_disc")
        if not is_yes(options["do_parallel_discio"]):
            args.append("--no_parallel_disc_io")
        if is_yes(options["do_preread_images"]):
            args.append("--preread_images")
        elif options["scratch_dir"]:
            args += ["--scratch_dir", options["scratch_dir"]]
        pad = pad or ("1" if is_yes(options["do_pad1"]) else "2")
        args += ["--pool", options["nr_pool"], "--pad", pad]
        return args

    @staticmethod
    def ctf_args(options: Mapping[str, str]) -> list[str]:
        if not is_yes(options["do_ctf_correction"]):
            return []
        return ["--ctf", "--ctf_intact_first_peak"] if is_yes(options["ctf_intact_first_peak"]) else ["--ctf"]

    @staticmethod
    def tail_args(options: Mapping[str, str]) -> list[str]:
        args = ["--j", options["nr_threads"]]
        if is_yes(options["use_gpu"]):
            args += ["--gpu", options["gpu_ids"]]
        return args

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        nodes = self.tomo_inputs(options, True)
        if options["fn_ref"] and options["fn_ref"] != "None":
            nodes.append(Node(options["fn_ref"], MAP))
        if options["fn_mask"]:
            nodes.append(Node(options["fn_mask"], MASK))
        return nodes


class Refine3DTomo(RefineJob):
    def __init__(self) -> None:
        super().__init__(
            name="relion.refine3d.tomo", description="gold-standard 3D auto-refinement (relion_refine_mpi)",
            directory="Refine3D", is_tomo=True, resource="gpu", has_mpi=True, has_threads=True,
            defaults={**REFINE_COMMON, "do_solvent_fsc": NO, "auto_local_sampling": "1.8 degrees",
                      "auto_faster": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        if self.ranks(options) < 3 or self.ranks(options) % 2 == 0:
            raise ValueError(
                f"Refine3D needs an odd number >= 3 of MPI ranks (gold-standard halves), got "
                f"{self.ranks(options)}")
        args = ["--o", f"{job_dir}run", "--auto_refine", "--split_random_halves",
                *self.reference_args(options)]
        if is_yes(options["do_blush"]):
            args.append("--blush")
        args += self.compute_args(options)
        if is_yes(options["auto_faster"]):
            args += ["--auto_ignore_angles", "--auto_resol_angles"]
        args += self.ctf_args(options)
        args += ["--particle_diameter", options["particle_diameter"], "--flatten_solvent"]
        if is_yes(options["do_zero_mask"]):
            args.append("--zero_mask")
        if options["fn_mask"]:
            args += ["--solvent_mask", options["fn_mask"]]
            if is_yes(options["do_solvent_fsc"]):
                args.append("--solvent_correct_fsc")
        args += [
            "--oversampling", str(OVERSAMPLING),
            "--healpix_order", str(healpix_order(options["sampling"]) - OVERSAMPLING),
            "--auto_local_healpix_order",
            str(healpix_order(options["auto_local_sampling"]) - OVERSAMPLING),
            "--offset_range", options["offset_range"],
            "--offset_step", _format(number(options["offset_step"]) * 2**OVERSAMPLING),
            "--sym", options["sym_name"], "--low_resol_join_halves", "40", "--norm", "--scale",
        ]
        if options["relax_sym"]:
            args += ["--relax_sym", options["relax_sym"]]
        args += self.tail_args(options)
        return [self.command("relion_refine", args, options, job_dir, mpi_program=True)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        run = f"{job_dir}run"
        return [Node(f"{run}_data.star", "ParticleGroupMetadata.star.relion.refine3d"),
                Node(f"{run}_optimiser.star", "OptimiserData.star.relion.refine3d"),
                Node(f"{run}_half1_class001_unfil.mrc", "DensityMap.mrc.relion.halfmap.refine3d"),
                Node(f"{run}_class001.mrc", "DensityMap.mrc.relion.refine3d"),
                Node(f"{run}_optimisation_set.star", "TomoOptimisationSet.star.relion.refine3d")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        run = f"{job_dir}run"
        return [f"{run}_data.star", f"{run}_model.star", f"{run}_class001.mrc",
                f"{run}_half1_class001_unfil.mrc", f"{run}_half2_class001_unfil.mrc"]


class Class3DTomo(RefineJob):
    def __init__(self) -> None:
        super().__init__(
            name="relion.class3d", description="3D classification (relion_refine)",
            directory="Class3D", is_tomo=True, resource="gpu", has_mpi=True, has_threads=True,
            defaults={**REFINE_COMMON, "tau_fudge": "1", "nr_classes": "1", "nr_iter": "25",
                      "do_fast_subsets": NO, "highres_limit": "-1", "dont_skip_align": YES,
                      "do_local_ang_searches": NO, "sigma_angles": "5", "allow_coarser": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = ["--o", f"{job_dir}run", *self.reference_args(options), *self.compute_args(options),
                *self.ctf_args(options), "--iter", options["nr_iter"], "--tau2_fudge",
                options["tau_fudge"], "--particle_diameter", options["particle_diameter"]]
        if is_yes(options["do_fast_subsets"]):
            args.append("--fast_subsets")
        args += ["--K", options["nr_classes"], "--flatten_solvent"]
        if is_yes(options["do_zero_mask"]):
            args.append("--zero_mask")
        if number(options["highres_limit"]) > 0:
            args += ["--strict_highres_exp", options["highres_limit"]]
        if is_yes(options["do_blush"]):
            args.append("--blush")
        if options["fn_mask"]:
            args += ["--solvent_mask", options["fn_mask"]]
        if not is_yes(options["dont_skip_align"]):
            args.append("--skip_align")
        else:
            args += ["--oversampling", str(OVERSAMPLING), "--healpix_order",
                     str(healpix_order(options["sampling"]) - OVERSAMPLING)]
            if is_yes(options["do_local_ang_searches"]):
                args += ["--sigma_ang", _format(number(options["sigma_angles"]) / 3.0)]
                if options["relax_sym"]:
                    args += ["--relax_sym", options["relax_sym"]]
            args += ["--offset_range", options["offset_range"], "--offset_step",
                     _format(number(options["offset_step"]) * 2**OVERSAMPLING)]
            if is_yes(options["allow_coarser"]):
                args.append("--allow_coarser_sampling")
        args += ["--sym", options["sym_name"], "--norm", "--scale", *self.tail_args(options)]
        if is_yes(options["use_gpu"]) and not is_yes(options["dont_skip_align"]):
            raise ValueError("Class3D: GPU acceleration cannot be used without alignment")
        return [self.command("relion_refine", args, options, job_dir, mpi_program=True)]

    @staticmethod
    def iteration_root(options: Mapping[str, str], job_dir: str) -> str:
        return f"{job_dir}run_it{int(number(options['nr_iter'])):03d}"

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        root = self.iteration_root(options, job_dir)
        nodes = [Node(f"{root}_data.star", "ParticleGroupMetadata.star.relion.refine3d"),
                 Node(f"{root}_optimiser.star", "OptimiserData.star.relion.class3d")]
        for k in range(1, int(number(options["nr_classes"])) + 1):
            nodes.append(Node(f"{root}_class{k:03d}.mrc", "DensityMap.mrc.relion.class3d"))
        nodes.append(Node(f"{root}_optimisation_set.star", "TomoOptimisationSet.star.relion.class3d"))
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        root = self.iteration_root(options, job_dir)
        classes = int(number(options["nr_classes"]))
        return [f"{root}_data.star", f"{root}_model.star",
                *(f"{root}_class{k:03d}.mrc" for k in range(1, classes + 1))]


class InitialModelTomo(RefineJob):
    """De novo initial model: gradient-driven relion_refine, then symmetry alignment."""

    def __init__(self) -> None:
        super().__init__(
            name="relion.initialmodel.tomo", description="de novo initial model (relion_refine --grad)",
            directory="InitialModel", is_tomo=True, resource="gpu", has_mpi=True, has_threads=True,
            defaults={**TOMO_INPUT, **COMPUTE_REFINE, "fn_cont": "", "nr_iter": "200", "tau_fudge": "4",
                      "nr_classes": "1", "sym_name": "C1", "do_run_C1": YES,
                      "particle_diameter": "200", "do_solvent": YES, "sigma_tilt": "-1",
                      "do_ctf_correction": YES, "ctf_intact_first_peak": NO},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        if self.ranks(options) > 1:
            raise ValueError("InitialModel: gradient refinement does not run with MPI (nr_mpi must be 1)")
        symmetry = options["sym_name"]
        run_c1 = is_yes(options["do_run_C1"])
        args = ["--o", f"{job_dir}run", "--iter", options["nr_iter"], "--grad", "--denovo_3dref",
                *self.tomo_input_args(options, True)]
        if number(options["sigma_tilt"]) > 0:
            args += ["--sigma_tilt", options["sigma_tilt"]]
        args += self.ctf_args(options)
        args += ["--K", options["nr_classes"], "--sym", "C1" if run_c1 else symmetry]
        if is_yes(options["do_solvent"]):
            args.append("--flatten_solvent")
        args.append("--zero_mask")
        args += [*self.compute_args(options, pad="1"), "--particle_diameter",
                 options["particle_diameter"], "--oversampling", "1", "--healpix_order", "1"]
        # RELION's GUI writes this search (pixels) for every initial model; a search given in
        # other_args replaces it instead of repeating the flags (RELION warns on repeats).
        if "--offset_range" not in split_args(options.get("other_args", "")):
            args += ["--offset_range", "6", "--offset_step", "2"]
        args += ["--auto_sampling", "--tau2_fudge", options["tau_fudge"], *self.tail_args(options)]
        refine = self.command("relion_refine", args, options, job_dir)
        model = f"{job_dir}run_it{int(number(options['nr_iter'])):03d}_model.star"
        align_symmetry = symmetry if run_c1 and symmetry.upper() != "C1" else "C1"
        align = Command("relion_align_symmetry", (
            "--i", model, "--o", f"{job_dir}initial_model.mrc", "--sym", align_symmetry,
            "--apply_sym", "--select_largest_class", "--pipeline_control", job_dir))
        return [refine, align]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options, True)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}initial_model.mrc", "DensityMap.mrc.relion.initialmodel"),
                Node(f"{job_dir}run_optimisation_set.star", "TomoOptimisationSet.star.relion.initialmodel")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}initial_model.mrc"]


# ---------------------------------------------------------------------------------------------
# Maps and selections


class MaskCreate(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.maskcreate", description="soft solvent mask (relion_mask_create)",
            directory="MaskCreate", is_tomo=False, resource="cpu", has_threads=True,
            defaults={"fn_in": "", "lowpass_filter": "15", "angpix": "-1", "inimask_threshold": "0.02",
                      "extend_inimask": "3", "width_mask_edge": "3", "do_helix": NO,
                      "helical_z_percentage": "30"},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = ["--i", options["fn_in"], "--o", f"{job_dir}mask.mrc"]
        if number(options["lowpass_filter"]) > 0:
            args += ["--lowpass", options["lowpass_filter"]]
        if number(options["angpix"]) > 0:
            args += ["--angpix", options["angpix"]]
        args += ["--ini_threshold", options["inimask_threshold"], "--extend_inimask",
                 options["extend_inimask"], "--width_soft_edge", options["width_mask_edge"],
                 "--j", options["nr_threads"]]
        return [self.command("relion_mask_create", args, options, job_dir)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(options["fn_in"], MAP)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}mask.mrc", "Mask3D.mrc.relion")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}mask.mrc"]


class PostProcess(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name="relion.postprocess",
            description="masked FSC, resolution and sharpening (relion_postprocess)",
            directory="PostProcess", is_tomo=True, resource="cpu",
            defaults={"fn_in": "", "fn_mask": "", "angpix": "-1", "do_auto_bfac": YES,
                      "autob_lowres": "10", "do_adhoc_bfac": NO, "adhoc_bfac": "-1000", "fn_mtf": "",
                      "mtf_angpix": "1", "do_skip_fsc_weighting": NO, "low_pass": "5"},
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        if "half1" not in options["fn_in"] and "half2" not in options["fn_in"]:
            raise ValueError(f"PostProcess input {options['fn_in']} is not a half map (no 'half1' in it)")
        args = ["--mask", options["fn_mask"], "--i", options["fn_in"], "--o",
                f"{job_dir}postprocess", "--angpix", options["angpix"]]
        if options["fn_mtf"]:
            args += ["--mtf", options["fn_mtf"], "--mtf_angpix", options["mtf_angpix"]]
        if is_yes(options["do_auto_bfac"]):
            args += ["--auto_bfac", "--autob_lowres", options["autob_lowres"]]
        if is_yes(options["do_adhoc_bfac"]):
            args += ["--adhoc_bfac", options["adhoc_bfac"]]
        if is_yes(options["do_skip_fsc_weighting"]):
            args += ["--skip_fsc_weighting", "--low_pass", options["low_pass"]]
        return [self.command("relion_postprocess", args, options, job_dir)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(options["fn_in"], HALFMAP), Node(options["fn_mask"], MASK)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}postprocess.mrc", "DensityMap.mrc.relion.postprocess"),
                Node(f"{job_dir}postprocess_masked.mrc", "DensityMap.mrc.relion.postprocess.masked"),
                Node(f"{job_dir}logfile.pdf", "LogFile.pdf.relion.postprocess"),
                Node(f"{job_dir}postprocess.star", "ProcessData.star.relion.postprocess")]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}postprocess.star", f"{job_dir}postprocess.mrc"]


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


class RemoveDuplicates(SelectJob):
    def __init__(self) -> None:
        super().__init__(
            name="relion.select.removeduplicates",
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
            name="relion.select.onvalue",
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
            name="relion.joinstar.particles", description="joins particle STAR files (relion_star_handler)",
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
        args = ["--combine", "--i", " ".join(self._inputs(options)), "--check_duplicates",
                "rlnImageName", "--o", f"{job_dir}join_particles.star"]
        return [self.command("relion_star_handler", args, options, job_dir)]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(path, PARTS) for path in self._inputs(options)]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return [Node(f"{job_dir}join_particles.star", PARTS)]

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}join_particles.star"]


def all_job_types() -> list[RelionJobType]:
    return [
        ExtractSubtomos(), ReconstructParticle(), CtfRefineTomo(), FrameAlignTomo(),
        Refine3DTomo(), Class3DTomo(), InitialModelTomo(), MaskCreate(), PostProcess(),
        RemoveDuplicates(), SelectOnValue(), JoinParticles(),
    ]
