"""relion_refine jobs with tomo inputs: Refine3D, Class3D and the de novo initial model."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.conventions import OVERSAMPLING, gold_standard_rank_problem, healpix_order
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import (
    COMPUTE_REFINE,
    MAP,
    MASK,
    NO,
    TOMO_INPUT,
    YES,
    RelionJobType,
    is_yes,
    number,
    relion_number,
)

REFINE_COMMON = {
    **TOMO_INPUT, **COMPUTE_REFINE, "do_pad1": NO, "fn_cont": "", "fn_ref": "", "fn_mask": "",
    "ref_correct_greyscale": NO, "trust_ref_size": YES, "ini_high": "60", "sym_name": "C1",
    "do_ctf_correction": YES, "ctf_intact_first_peak": NO, "particle_diameter": "200",
    "do_zero_mask": YES, "do_blush": NO, "sampling": "7.5 degrees", "offset_range": "5",
    "offset_step": "1", "relax_sym": "", "sigma_tilt": "-1", "do_helix": NO,
}
# RELION 5.1 added the choice of Blush model (written as --blush_model after --blush).
REFINE_RELEASE_OPTIONS = {"5.0": {}, "5.1": {"blush_version": "v1.0"}}
# RELION's InitialModel job always searches this offset range and step (pixels); it has no job
# option for them (pipeline_jobs.cpp, getCommandsInimodelJob).
INITIAL_MODEL_OFFSET_RANGE, INITIAL_MODEL_OFFSET_STEP = 6, 2


class RefineJob(RelionJobType):
    """Shared command pieces of Class3D and Refine3D (relion_refine with tomo inputs)."""

    @staticmethod
    def blush_args(options: Mapping[str, str]) -> list[str]:
        if not is_yes(options["do_blush"]):
            return []
        if "blush_version" in options:  # the releases that have the option write the flag
            return ["--blush", "--blush_model", options["blush_version"]]
        return ["--blush"]

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
        nodes = self.tomo_inputs(options)
        if options["fn_ref"] and options["fn_ref"] != "None":
            nodes.append(Node(options["fn_ref"], MAP))
        if options["fn_mask"]:
            nodes.append(Node(options["fn_mask"], MASK))
        return nodes


class Refine3DTomo(RefineJob):
    def __init__(self) -> None:
        super().__init__(
            name=labels.REFINE3D, description="gold-standard 3D auto-refinement (relion_refine_mpi)",
            directory="Refine3D", is_tomo=True, resource="gpu", has_mpi=True, has_threads=True,
            defaults={**REFINE_COMMON, "do_solvent_fsc": NO, "auto_local_sampling": "1.8 degrees",
                      "auto_faster": NO},
            release_options=REFINE_RELEASE_OPTIONS,
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        problem = gold_standard_rank_problem(self.ranks(options))
        if problem:
            raise ValueError(f"Refine3D nr_mpi {problem}")
        self.refuse_helix(options)
        args = ["--o", f"{job_dir}run", "--auto_refine", "--split_random_halves",
                *self.reference_args(options), *self.blush_args(options)]
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
            "--offset_step", relion_number(number(options["offset_step"]) * 2**OVERSAMPLING),
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

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        run = f"{job_dir}run"
        return [self.particles_check(f"{run}_data.star", self.direct_particles(options)),
                OutputCheck(f"{run}_model.star", "model_general", ("rlnCurrentResolution",))]


class Class3DTomo(RefineJob):
    def __init__(self) -> None:
        super().__init__(
            name=labels.CLASS3D, description="3D classification (relion_refine)",
            directory="Class3D", is_tomo=True, resource="gpu", has_mpi=True, has_threads=True,
            defaults={**REFINE_COMMON, "tau_fudge": "1", "nr_classes": "1", "nr_iter": "25",
                      "do_fast_subsets": NO, "highres_limit": "-1", "dont_skip_align": YES,
                      "do_local_ang_searches": NO, "sigma_angles": "5", "allow_coarser": NO},
            release_options=REFINE_RELEASE_OPTIONS,
        )

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        self.refuse_helix(options)
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
        args += self.blush_args(options)
        if options["fn_mask"]:
            args += ["--solvent_mask", options["fn_mask"]]
        if not is_yes(options["dont_skip_align"]):
            args.append("--skip_align")
        else:
            args += ["--oversampling", str(OVERSAMPLING), "--healpix_order",
                     str(healpix_order(options["sampling"]) - OVERSAMPLING)]
            if is_yes(options["do_local_ang_searches"]):
                args += ["--sigma_ang", relion_number(number(options["sigma_angles"]) / 3.0)]
                if options["relax_sym"]:
                    args += ["--relax_sym", options["relax_sym"]]
            args += ["--offset_range", options["offset_range"], "--offset_step",
                     relion_number(number(options["offset_step"]) * 2**OVERSAMPLING)]
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
        # RELION declares the last iteration's optimisation set and, for tomo jobs, also
        # run_optimisation_set.star (getCommandsClass3DJob).
        nodes += [Node(f"{root}_optimisation_set.star", "TomoOptimisationSet.star.relion.class3d"),
                  Node(f"{job_dir}run_optimisation_set.star", "TomoOptimisationSet.star.relion.class3d")]
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        root = self.iteration_root(options, job_dir)
        classes = int(number(options["nr_classes"]))
        return [f"{root}_data.star", f"{root}_model.star",
                *(f"{root}_class{k:03d}.mrc" for k in range(1, classes + 1))]

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        root = self.iteration_root(options, job_dir)
        return [self.particles_check(f"{root}_data.star", self.direct_particles(options)),
                OutputCheck(f"{root}_model.star", "model_general", ("rlnCurrentResolution",))]


class InitialModelTomo(RefineJob):
    """De novo initial model: gradient-driven relion_refine, then symmetry alignment."""

    def __init__(self) -> None:
        super().__init__(
            name=labels.INITIAL_MODEL, description="de novo initial model (relion_refine --grad)",
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
        # RELION writes the same search for every initial model; an --offset_range in other_args
        # follows it, and relion_refine then warns and uses the later value.
        args += [*self.compute_args(options, pad="1"), "--particle_diameter",
                 options["particle_diameter"], "--oversampling", "1", "--healpix_order", "1",
                 "--offset_range", str(INITIAL_MODEL_OFFSET_RANGE),
                 "--offset_step", str(INITIAL_MODEL_OFFSET_STEP),
                 "--auto_sampling", "--tau2_fudge", options["tau_fudge"], *self.tail_args(options)]
        refine = self.command("relion_refine", args, options, job_dir)
        model = f"{self.iteration_root(options, job_dir)}_model.star"
        align_symmetry = symmetry if run_c1 and symmetry.upper() != "C1" else "C1"
        align = Command("relion_align_symmetry", (
            "--i", model, "--o", f"{job_dir}initial_model.mrc", "--sym", align_symmetry,
            "--apply_sym", "--select_largest_class", "--pipeline_control", job_dir))
        return [refine, align]

    @staticmethod
    def iteration_root(options: Mapping[str, str], job_dir: str) -> str:
        return f"{job_dir}run_it{int(number(options['nr_iter'])):03d}"

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return self.tomo_inputs(options)

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        nodes = [Node(f"{job_dir}initial_model.mrc", "DensityMap.mrc.relion.initialmodel"),
                 Node(f"{job_dir}run_optimisation_set.star", "TomoOptimisationSet.star.relion.initialmodel")]
        classes = int(number(options["nr_classes"]))
        if classes > 1:  # RELION declares each class of the last iteration as well
            root = self.iteration_root(options, job_dir)
            nodes += [Node(f"{root}_class{k:03d}.mrc", "DensityMap.mrc.relion.initialmodel")
                      for k in range(1, classes + 1)]
        return nodes

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [f"{job_dir}initial_model.mrc"]
