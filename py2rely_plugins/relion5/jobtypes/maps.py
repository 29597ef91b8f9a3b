"""Masks and post-processing of maps (relion_mask_create, relion_postprocess)."""

from __future__ import annotations

from collections.abc import Mapping

from py2rely_core.interfaces import Command, Node, OutputCheck
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.jobtypes.base import (
    HALFMAP,
    MAP,
    MASK,
    NO,
    YES,
    RelionJobType,
    is_yes,
    number,
    relion_number,
)


class MaskCreate(RelionJobType):
    def __init__(self) -> None:
        super().__init__(
            name=labels.MASK_CREATE, description="soft solvent mask (relion_mask_create)",
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
                 options["extend_inimask"], "--width_soft_edge", options["width_mask_edge"]]
        if is_yes(options["do_helix"]):
            args += ["--helix", "--z_percentage",
                     relion_number(number(options["helical_z_percentage"]) / 100.0)]
        args += ["--j", options["nr_threads"]]
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
            name=labels.POSTPROCESS,
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

    def output_checks(self, options: Mapping[str, str], job_dir: str) -> list[OutputCheck]:
        return [OutputCheck(f"{job_dir}postprocess.star", "general", ("rlnFinalResolution",))]
