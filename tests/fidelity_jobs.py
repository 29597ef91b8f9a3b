"""Every job.star the STA pipeline can write, collected without running anything, with the
commands and nodes py2rely builds from each.

Sources:
- the dry-run plans of the pipeline for each initial-model strategy, Auto-Class3D, the bin-1
  rounds (CTF refinement, polishing, re-extraction with the trajectories, refinement with them)
  and option variants (GPU on/off, 1 and 5 MPI ranks, threads, symmetry, masks, Class3D with
  alignment, 3D pseudo-subtomograms, shift-only polishing);
- the Select/JoinStar jobs each class selector leads to (a dry run stops before the choice);
- job options no plan reaches (helical maps, optimisation-set inputs, Blush, ...), written in the
  same release's option names.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from py2rely_core.interfaces import PlannedJob
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project
from py2rely_core.relion_files import JobStar, render_job_star
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.sta.classify import AutoClass3D, class_ranges
from py2rely_plugins.relion5.sta.contract import ClassSummary
from py2rely_plugins.relion5.sta.options import JobOptions
from py2rely_plugins.relion5.sta.params import Parameters, build_parameters
from py2rely_plugins.relion5.sta.workflow import StaPipeline
from py2rely_plugins.relion5.versions import job_types_for


@dataclass(frozen=True)
class Case:
    """One job.star and what py2rely runs for it."""

    name: str  # "<source>:<job dir>", e.g. "denovo:InitialModel/job002/"
    job_dir: str
    type_label: str
    is_tomo: bool
    options: dict[str, str] = field(hash=False)
    argv: list[list[str]] = field(hash=False)  # "mpirun -n N" first for MPI programs
    input_nodes: dict[str, str] = field(hash=False)
    output_nodes: dict[str, str] = field(hash=False)

    def job_star(self) -> str:
        return render_job_star(JobStar(self.type_label, self.is_tomo, self.options))


def demo_parameters(binnings: list[int], **changes: Any) -> Parameters:
    """The demo's parameter file (2.5 Å/px, 160 Å particle), inputs relative to the project."""
    options: dict[str, Any] = dict(
        tilt_series="data/tomograms.star", particles="data/particles.star", tilt_series_pixel_size=2.5,
        symmetry="C1", low_pass=40.0, diameter=160.0, denovo=False, box_scaling=1.5,
        binning_list=binnings, threads=1, processes=3)
    options.update(changes)
    return build_parameters(**options)


def _edit(params: Parameters, **sections: dict[str, Any]) -> Parameters:
    data = params.model_dump()
    for section, values in sections.items():
        node = data
        *path, last = section.split(".")
        for key in path:
            node = node[key]
        node[last] = {**node[last], **values} if isinstance(node[last], dict) else values
    return Parameters.model_validate(data)


@dataclass(frozen=True)
class PlanVariant:
    name: str
    params: Callable[[], Parameters]
    strategy: str = "reconstruct"
    class3d_selector: str | None = None
    # What the imported picks carry: "angles" (template matching) or "positions" (all angles 0,
    # so the reference strategy plans its global search).
    picks: str = "angles"


def plan_variants() -> list[PlanVariant]:
    def gpu_mpi5() -> Parameters:
        params = demo_parameters([4, 2, 1], symmetry="D2", threads=4, processes=5)
        return _edit(params, compute={"use_gpu": True, "gpu_ids": "0:1"},
                     **{"class3d": {"do_align": True, "nr_classes": 3},
                        "initial_model.denovo": {"nr_classes": 2}})

    def mpi1() -> Parameters:
        params = demo_parameters([2, 1], symmetry="C4", threads=2, processes=1)
        return _edit(params, extract={"do_stack2d": False, "max_dose": 50.0},
                     polish={"shift_only": True},
                     **{"initial_model.reference": {"allow_coarser": True, "sampling": "30 degrees"}})

    return [
        PlanVariant("reconstruct", lambda: demo_parameters([4, 2])),
        PlanVariant("reference", lambda: demo_parameters([4, 2]), strategy="reference", picks="positions"),
        PlanVariant("reference-angles", lambda: demo_parameters([4, 2]), strategy="reference"),
        PlanVariant("denovo", lambda: demo_parameters([4, 2]), strategy="denovo"),
        PlanVariant("class3d", lambda: demo_parameters([4, 2]), class3d_selector="resolution"),
        PlanVariant("bin1", lambda: demo_parameters([4, 2, 1])),
        PlanVariant("gpu-mpi5-D2-threads4", gpu_mpi5, strategy="denovo", class3d_selector="population"),
        PlanVariant("mpi1-C4-threads2", mpi1, strategy="reference", picks="positions"),
    ]


def _runner(project: Path, release: str) -> JobRunner:
    plugins = get_plugins()
    executor = plugins.get("executors", "local").create({})
    return JobRunner(Project(project), executor, job_types_for(plugins.registry("job_types"), release),
                     plugins.hook, dry_run=True, echo=lambda line: None)


def _case(runner: JobRunner, source: str, job_dir: str, planned: PlannedJob) -> Case:
    job_type = runner.job_type(planned.type_label)
    options = runner.complete_options(planned)
    argv = [(["mpirun", "-n", str(c.mpi_ranks)] if c.mpi_ranks > 1 else []) + c.words()
            for c in job_type.commands(options, job_dir)]
    return Case(
        name=f"{source}:{job_dir}", job_dir=job_dir, type_label=planned.type_label,
        is_tomo=job_type.is_tomo, options=options, argv=argv,
        input_nodes={n.path: n.type_label for n in job_type.input_nodes(options) if n.path},
        output_nodes={n.path: n.type_label for n in job_type.output_nodes(options, job_dir)})


def plan_cases(variant: PlanVariant, release: str) -> list[Case]:
    """The jobs of one dry-run plan, plus the selections each selector would make after Class3D."""
    plugins = get_plugins()
    params = variant.params()
    with tempfile.TemporaryDirectory(prefix="fidelity-plan-") as scratch:
        write_picks(Path(scratch) / params.inputs.particles, variant.picks)
        runner = _runner(Path(scratch), release)
        classify = None
        if variant.class3d_selector:
            classify = AutoClass3D(plugins.get("class_selectors", variant.class3d_selector))
        pipeline = StaPipeline(params, runner, plugins.get("initial_model_strategies", variant.strategy),
                               reference_template="reference.mrc", classify=classify, release=release)
        pipeline.execute()
        seen: dict[str, Case] = {}
        for planned, result in runner.results:
            if result.job_dir not in seen:
                seen[result.job_dir] = _case(runner, variant.name, result.job_dir, planned)
        cases = list(seen.values())
        if variant.class3d_selector:
            cases += selection_cases(runner, variant.name, params, release, cases)
    return cases


def write_picks(path: Path, picks: str) -> None:
    """The imported particles STAR as far as the plan reads it: whether the picks carry angles."""
    angles = "10 20 30" if picks == "angles" else "0 0 0"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("data_particles\n\nloop_\n_rlnTomoName #1\n_rlnAngleRot #2\n_rlnAngleTilt #3\n"
                    f"_rlnAnglePsi #4\nTS_01 {angles}\n")


def selection_cases(runner: JobRunner, source: str, params: Parameters, release: str,
                    planned: list[Case]) -> list[Case]:
    """The Select (and JoinStar) jobs after Class3D for each selector's choice on a made-up
    three-class result."""
    plugins = get_plugins()
    class3d = next(c for c in planned if c.type_label == labels.CLASS3D and c.options["nr_classes"] != "1")
    data = f"{class3d.job_dir}run_it{int(class3d.options['nr_iter']):03d}_data.star"
    classes = [ClassSummary(1, 40, 0.5, 21.0, 3.0, 4.0, ""), ClassSummary(2, 30, 0.375, 24.0, 3.5, 4.5, ""),
               ClassSummary(3, 10, 0.125, 19.0, 3.2, 4.2, "")]
    jobs = JobOptions(params, release)
    stage = params.first
    number = max(int(c.job_dir.rstrip("/")[-3:]) for c in planned) + 1
    cases = []
    for name, keep in (("resolution", ()), ("population", ()), ("manual", (1, 3))):
        selector = plugins.get("class_selectors", name)
        kept = selector.select(classes, {"min_class_share": 0.05, "keep_classes": keep}).kept
        selects = []
        for first, last in class_ranges(kept):
            job_dir = f"Select/job{number:03d}/"
            number += 1
            selects.append(job_dir)
            cases.append(_case(runner, f"{source}+{name}", job_dir,
                               jobs.select_class_range(data, first, last, stage)))
        if len(selects) > 1:
            job_dir = f"JoinStar/job{number:03d}/"
            number += 1
            cases.append(_case(runner, f"{source}+{name}", job_dir,
                               jobs.join_particles([f"{s}particles.star" for s in selects], stage)))
    return cases


TOMO = {"in_particles": "Extract/job001/particles.star", "in_tomograms": "data/tomograms.star"}
HALVES = {"in_halfmaps": "Refine3D/job009/run_half1_class001_unfil.mrc",
          "in_refmask": "MaskCreate/job010/mask.mrc", "in_post": "PostProcess/job011/postprocess.star"}
REFINE = {**TOMO, "fn_ref": "Reconstruct/job002/merged.mrc", "nr_mpi": "3", "nr_threads": "2"}
OPTIMISATION_SET = {"use_direct_entries": "No", "in_optimisation": "Extract/job001/optimisation_set.star"}


def branch_options(release: str) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """(name, type label, job dir, options) for job options the plans do not reach."""
    if release == "5.0":
        boxes = {"binning": "2", "box_size": "64", "crop_size": "48", "do_stack2d": "No"}
    else:
        boxes = {"box_size_angst": "240", "precrop_size_angst": "320", "binned_size_pix": "48",
                 "subtomo_format": "3D subtomos"}
    yield ("extract-formats", labels.EXTRACT, "Extract/job031/",
           {**TOMO, **boxes, "do_float16": "No", "max_dose": "50", "min_frames": "5", "nr_mpi": "1",
            "nr_threads": "4"})
    yield ("extract-optimisation-set", labels.EXTRACT, "Extract/job032/",
           {**OPTIMISATION_SET, "nr_mpi": "2", "nr_threads": "2", "other_args": "--no_circle_crop"})
    yield ("reconstruct-helix", labels.RECONSTRUCT, "Reconstruct/job037/",
           {**TOMO, "do_helix": "Yes", "helical_nr_asu": "3", "helical_twist": "-1.5",
            "helical_rise": "4.8", "helical_z_percentage": "35", "nr_mpi": "2"})
    yield ("reconstruct-optimisation-set", labels.RECONSTRUCT, "Reconstruct/job038/",
           {**OPTIMISATION_SET, "snr": "0.0001", "sym_name": "D2", "nr_mpi": "1", "nr_threads": "3",
            "box_size": "96", "crop_size": "64", "binning": "2", "other_args": "--no_ctf"})
    yield ("ctfrefine-tomo-scale", labels.CTF_REFINE, "CtfRefine/job039/",
           {**TOMO, **HALVES, "in_trajectories": "Polish/job016/motion.star", "box_size": "96",
            "do_reg_def": "No", "do_frame_scale": "No", "do_tomo_scale": "Yes", "nr_mpi": "1"})
    yield ("ctfrefine-nothing", labels.CTF_REFINE, "CtfRefine/job040/",
           {**TOMO, **HALVES, "in_refmask": "", "in_post": "", "do_defocus": "No", "do_scale": "No"})
    yield ("polish-particles-shift", labels.POLISH, "Polish/job041/",
           {**TOMO, **HALVES, "do_shift_align": "Yes", "shift_align_type": "Only particles",
            "max_error": "8", "nr_mpi": "3"})
    yield ("refine3d-everything", labels.REFINE3D, "Refine3D/job042/",
           {**REFINE, "fn_mask": "MaskCreate/job006/mask.mrc", "do_solvent_fsc": "Yes", "use_gpu": "Yes",
            "gpu_ids": "0:1", "do_blush": "Yes", "auto_faster": "Yes", "relax_sym": "C2",
            "do_preread_images": "Yes", "do_parallel_discio": "No", "do_combine_thru_disc": "Yes",
            "do_pad1": "Yes", "ctf_intact_first_peak": "Yes", "sigma_tilt": "10",
            "ref_correct_greyscale": "Yes", "trust_ref_size": "No", "do_zero_mask": "No",
            "sym_name": "D2", "sampling": "30 degrees", "auto_local_sampling": "0.9 degrees",
            "offset_range": "4", "offset_step": "0.75", "nr_pool": "8", "other_args": "--maxsig 500"})
    yield ("refine3d-optimisation-set", labels.REFINE3D, "Refine3D/job043/",
           {**OPTIMISATION_SET, "fn_ref": "Reconstruct/job002/merged.mrc", "scratch_dir": "/tmp",
            "do_ctf_correction": "No", "ini_high": "-1", "nr_mpi": "5", "nr_threads": "1",
            "sampling": "1.8 degrees", "auto_local_sampling": "1.8 degrees"})
    yield ("class3d-everything", labels.CLASS3D, "Class3D/job045/",
           {**REFINE, "fn_mask": "MaskCreate/job006/mask.mrc", "nr_classes": "4", "nr_iter": "5",
            "tau_fudge": "2", "do_fast_subsets": "Yes", "highres_limit": "8", "do_blush": "Yes",
            "do_zero_mask": "No", "do_local_ang_searches": "Yes", "sigma_angles": "5",
            "relax_sym": "C2", "allow_coarser": "Yes", "use_gpu": "Yes", "gpu_ids": "0",
            "sampling": "3.7 degrees", "offset_range": "3", "offset_step": "0.75", "sigma_tilt": "5",
            "sym_name": "C2", "in_trajectories": "Polish/job016/motion.star"})
    yield ("class3d-optimisation-set", labels.CLASS3D, "Class3D/job046/",
           {**OPTIMISATION_SET, "fn_ref": "Reconstruct/job002/merged.mrc", "nr_mpi": "1",
            "nr_threads": "4", "dont_skip_align": "No"})
    yield ("initialmodel-no-C1", labels.INITIAL_MODEL, "InitialModel/job048/",
           {**TOMO, "sym_name": "C4", "do_run_C1": "No", "do_ctf_correction": "No",
            "do_preread_images": "Yes", "do_parallel_discio": "No", "nr_classes": "3",
            "in_trajectories": "Polish/job016/motion.star"})
    yield ("maskcreate-helix", labels.MASK_CREATE, "MaskCreate/job050/",
           {"fn_in": "Reconstruct/job005/merged.mrc", "do_helix": "Yes", "helical_z_percentage": "20",
            "angpix": "2.5", "lowpass_filter": "-1", "inimask_threshold": "0.0123", "nr_threads": "3"})
    yield ("postprocess-everything", labels.POSTPROCESS, "PostProcess/job051/",
           {"fn_in": "Reconstruct/job005/half1.mrc", "fn_mask": "MaskCreate/job006/mask.mrc",
            "angpix": "2.5", "do_auto_bfac": "No", "do_adhoc_bfac": "Yes", "adhoc_bfac": "-500",
            "fn_mtf": "data/mtf.star", "mtf_angpix": "1.1", "do_skip_fsc_weighting": "Yes",
            "low_pass": "8"})
    yield ("removeduplicates-angpix", labels.REMOVE_DUPLICATES, "Select/job052/",
           {"fn_data": "Refine3D/job003/run_data.star", "duplicate_threshold": "30",
            "image_angpix": "2.5"})
    yield ("joinstar-4", labels.JOIN_PARTICLES, "JoinStar/job054/",
           {f"fn_part{i}": f"Select/job0{i}0/particles.star" for i in range(1, 5)})


def branch_cases(release: str) -> list[Case]:
    with tempfile.TemporaryDirectory(prefix="fidelity-branches-") as scratch:
        runner = _runner(Path(scratch), release)
        return [_case(runner, name, job_dir, PlannedJob(label, options, stage=name))
                for name, label, job_dir, options in branch_options(release)]


@cache
def all_cases(release: str) -> list[Case]:
    """Every distinct job.star (a job identical in several plans counts once)."""
    cases: dict[tuple[str, str], Case] = {}
    for variant in plan_variants():
        for case in plan_cases(variant, release):
            cases.setdefault((case.job_dir, case.job_star()), case)
    for case in branch_cases(release):
        cases.setdefault((case.job_dir, case.job_star()), case)
    return list(cases.values())
