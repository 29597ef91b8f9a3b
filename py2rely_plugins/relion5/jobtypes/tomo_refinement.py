"""Tomo CTF refinement and frame alignment / Bayesian polishing (relion_tomo_refine_ctf,
relion_tomo_align): both refine against half maps of an earlier refinement."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import (
    MASK,
    NO,
    POSTPROCESS,
    TOMO_INPUT,
    TOMOGRAMS_BLOCK,
    YES,
    RelionJobType,
    is_yes,
)


def reference_refinement_inputs(options: Mapping[str, str]) -> list[Node]:
    """Inputs of CtfRefine and Polish: particles, tomograms, half maps, mask and FSC."""
    nodes = RelionJobType.tomo_inputs(options)
    nodes.append(Node(options["in_halfmaps"], "DensityMap.mrc.relion.tomo.halfmap.reconstruct"))
    if options["in_refmask"]:
        nodes.append(Node(options["in_refmask"], MASK))
    if options["in_post"]:
        nodes.append(Node(options["in_post"], POSTPROCESS))
    return nodes


def tomograms_check(path: str, options: Mapping[str, str]) -> OutputCheck:
    """A refined tomogram set: one row per input tomogram."""
    direct = is_yes(options["use_direct_entries"]) and options["in_tomograms"]
    return OutputCheck(path, TOMOGRAMS_BLOCK, ("rlnTomoName",),
                       ((options["in_tomograms"], TOMOGRAMS_BLOCK),) if direct else ())


class CtfRefineTomo(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.CTF_REFINE, description="tomo CTF refinement (relion_tomo_refine_ctf)",
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

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [tomograms_check(f"{job_dir}tomograms.star", options)]


class FrameAlignTomo(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.POLISH,
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

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [tomograms_check(f"{job_dir}tomograms.star", options),
                self.particles_check(f"{job_dir}particles.star", self.direct_particles(options))]
