"""The GPU switch without a GPU: who decides (flag, parameter file, nvidia-smi, scheduler), the
argv RELION's GPU jobs get (as RELION 5.1's pipeliner builds it: checked with the oracle of
/work/notes/oracle for Refine3D, aligning Class3D and InitialModel, ids '' and '0:1'), and the
sbatch lines of GPU and CPU jobs. Nothing here ran on a GPU (docs/gpu.md)."""

from __future__ import annotations

import pytest

from py2rely_core.errors import InputError
from py2rely_core.interfaces import RunnableJob
from py2rely_core.plugins import get_plugins
from py2rely_plugins.relion5.gpu import GpuChoice, choose_gpus, parse_gpu_ids, requested_gpu
from py2rely_plugins.relion5.jobtypes import all_job_types
from py2rely_plugins.relion5.sta.legacy_cluster import LegacyCluster
from py2rely_plugins.relion5.sta.options import JobOptions
from py2rely_plugins.relion5.sta.params import build_parameters
from py2rely_plugins.relion5.sta.session import ComputeRequest, apply_gpu_choice, executor_settings_for

TYPES = {t.name: t for t in all_job_types()}


def params(**compute):
    built = build_parameters(tilt_series="ts.star", particles="p.star", tilt_series_pixel_size=2.5,
                             symmetry="C1", low_pass=40, diameter=160, denovo=False, box_scaling=1.5,
                             binning_list=[4, 2], threads=2, processes=3)
    for key, value in compute.items():
        setattr(built.compute, key, value)
    return built


def argv(planned, job_dir="Refine3D/job003/"):
    job_type = TYPES[planned.type_label]
    options = {**job_type.defaults, **planned.options}
    return [word for command in job_type.commands(options, job_dir) for word in command.words()]


def gpu_jobs(p):
    jobs, stage = JobOptions(p), p.stage(4)
    p.class3d.do_align = True
    return {
        "refine3d": jobs.refine3d("Extract/job001/particles.star", "Reconstruct/job002/merged.mrc",
                                  stage, 40),
        "class3d": jobs.class3d("Extract/job001/particles.star", "Refine3D/job003/run_class001.mrc",
                                "MaskCreate/job005/mask.mrc", stage, 30),
        "initial_model": jobs.initial_model("Extract/job001/particles.star", stage),
    }


@pytest.mark.parametrize("ids", ["", "0:1"])
def test_gpu_jobs_get_relions_gpu_option_right_after_the_threads(ids):
    p = params()
    GpuChoice(True, "test", {"*": ids} if ids else {}).apply(p.compute)
    for kind, planned in gpu_jobs(p).items():
        words = argv(planned)
        assert planned.options["use_gpu"] == "Yes" and planned.options["gpu_ids"] == ids, kind
        at = words.index("--gpu")
        # InitialModel runs one process with the threads of the refinement's followers.
        followers = p.compute.refine_mpi_ranks - 1 if kind == "initial_model" else 1
        assert words[at - 2:at + 2] == ["--j", str(2 * followers), "--gpu", ids], kind
        # RELION appends other_args after --gpu, as here (the oracle: identical positions).
        assert words[at + 2] == "--min_sigma2_offset" or kind == "initial_model", kind


def test_ids_per_job_kind_replace_the_common_ones():
    p = params()
    GpuChoice(True, "test", parse_gpu_ids(["0:1:2:3", "initial_model=0"])).apply(p.compute)
    words = {kind: argv(planned) for kind, planned in gpu_jobs(p).items()}
    assert words["refine3d"][words["refine3d"].index("--gpu") + 1] == "0:1:2:3"
    assert words["class3d"][words["class3d"].index("--gpu") + 1] == "0:1:2:3"
    assert words["initial_model"][words["initial_model"].index("--gpu") + 1] == "0"
    assert p.compute.gpu_ids_by_job == {"initial_model": "0"}


def test_without_gpus_no_job_asks_for_them_and_unaligned_class3d_never_does():
    p = params(use_gpu=False)
    for kind, planned in gpu_jobs(p).items():
        assert "--gpu" not in argv(planned), kind
    p = params(use_gpu=True)
    p.class3d.do_align = False
    unaligned = JobOptions(p).class3d("a.star", "m.mrc", "k.mrc", p.stage(4), 30)
    assert unaligned.options["use_gpu"] == "No" and "--gpu" not in argv(unaligned)


@pytest.mark.parametrize("ids", ["0,1:", "a", "refine=0", "0;1"])
def test_bad_gpu_ids_are_refused_naming_the_option(ids):
    with pytest.raises(InputError, match="--gpu-ids"):
        parse_gpu_ids([ids])


def test_who_decides():
    none, two = (lambda: []), (lambda: ["0", "1"])
    missing = lambda: None  # noqa: E731 - no nvidia-smi at all
    assert not choose_gpus(False, True, "local", 0, detect=two).enabled
    assert choose_gpus(True, False, "slurm", 0, detect=none).enabled  # the flag wins, nothing to detect
    with pytest.raises(InputError, match="nvidia-smi finds no GPU"):
        choose_gpus(True, None, "local", 0, detect=none)
    assert choose_gpus(True, None, "local", 0, detect=missing).enabled  # cannot tell: trust the flag
    assert not choose_gpus(None, False, "local", 0, detect=two).enabled  # the file says no
    assert choose_gpus(None, True, "local", 0, detect=none).enabled  # the file says yes
    auto = choose_gpus(None, None, "local", 0, detect=two)
    assert auto.enabled and auto.reason == "nvidia-smi lists 2 GPU(s)"
    assert not choose_gpus(None, None, "local", 0, detect=none).enabled
    assert not choose_gpus(None, None, "local", 0, detect=missing).enabled
    assert choose_gpus(None, None, "slurm", 2, detect=none).enabled
    assert not choose_gpus(None, None, "slurm", 0, detect=two).enabled
    with pytest.raises(InputError, match="--gpu-ids"):
        choose_gpus(False, None, "local", 0, {"*": "0"}, detect=two)
    with pytest.raises(InputError, match="contradicts"):
        requested_gpu(True, False)
    assert requested_gpu(None, True) is True and requested_gpu(False, None) is False


def test_071_num_gpus_sizes_refinements_and_the_slurm_request():
    p = params()
    request = ComputeRequest(executor="slurm", legacy=LegacyCluster(submitit=True, num_gpus=2,
                                                                    typed=frozenset({"num_gpus"})))
    settings = executor_settings_for("slurm", p.executors, request)
    choice = apply_gpu_choice(p.compute, settings, "slurm", request)
    assert choice.enabled and settings["gpus_per_job"] == 2 and p.compute.refine_mpi_ranks == 3
    off = params()
    request = ComputeRequest(executor="slurm", gpu=False, legacy=LegacyCluster(submitit=True))
    settings = executor_settings_for("slurm", off.executors, request)
    apply_gpu_choice(off.compute, settings, "slurm", request)
    assert settings["gpus_per_job"] == 0 and off.compute.use_gpu is False


def job(resource: str) -> RunnableJob:
    return RunnableJob(project_dir="/p", job_dir="Refine3D/job003/", name="Refine3D_job003", commands=(),
                       resource=resource)


def test_sbatch_asks_for_gpus_and_gpu_features_only_for_gpu_kind_jobs():
    executor = get_plugins().get("executors", "slurm").create(
        {"gpus_per_job": 4, "gpu_constraint": "a100|h100", "constraint": "intel"})
    gpu = [line for line in executor.describe(job("gpu")).splitlines() if line.startswith("#SBATCH")]
    cpu = [line for line in executor.describe(job("cpu")).splitlines() if line.startswith("#SBATCH")]
    assert "#SBATCH --gres=gpu:4" in gpu and "#SBATCH --constraint=a100|h100" in gpu
    assert not any("gres" in line for line in cpu) and "#SBATCH --constraint=intel" in cpu
