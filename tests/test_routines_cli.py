"""Single jobs, bin-1 stages, class2star and py2rely-slurm without running RELION: validation (one
line, exit code 2, nothing written), the job a routine plans (--dry-run), file exports, and the
SLURM scripts py2rely-slurm writes for the command lines 0.7.1's own scripts contained."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import starfile

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.legacy_cluster import (
    LegacyCluster,
    gpu_feature,
    merge_settings,
    parse_cpu_constraint,
    time_limit,
)
from tests.cli_helpers import error_lines, run_py2rely
from tests.star_fixtures import write_extracted, write_map, write_particles, write_tilt_series_set


def py2rely_slurm(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "from py2rely_plugins.relion5.routines.slurm_scripts import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    write_tilt_series_set(root / "data", pixel_size=2.5)
    write_particles(root / "data" / "particles.star", pixel_size=2.5)
    return root


def nothing_written(root: Path) -> bool:
    return not (root / "default_pipeline.star").exists() and not list(root.glob("*/job[0-9]*"))


@pytest.mark.parametrize(("args", "message"), [
    (["routines", "extract", "--particles", "missing.star", "-t", "data/aligned_tilt_series.star",
      "-bs", "24"], "--particles missing.star: does not exist"),
    (["routines", "extract", "--particles", "data/particles.star", "-t", "data/aligned_tilt_series.star"],
     "--boxsize: not given"),
    (["routines", "extract", "--particles", "data/particles.star", "-t", "data/aligned_tilt_series.star",
      "-bs", "25"], "--boxsize: 25 (expected an even box of at least 16 pixels)"),
    (["routines", "extract", "--particles", "data/particles.star", "-bs", "24"],
     "--tomogram: not given"),
    (["routines", "reconstruct", "--particles", "data/particles.star", "-bs", "48", "-cs", "64",
      "-t", "data/aligned_tilt_series.star"], "--cropsize: 64 with --boxsize 48"),
    (["routines", "mask-create", "--map", "map.mrc", "--threshold", "high"], "--threshold: 'high'"),
    (["routines", "post-process", "--half-map", "map.mrc", "--mask", "map.mrc"],
     "has no 'half1' in its name"),
    (["routines", "select", "-p", "classes.star", "-c", "1,x"], "is not a comma-separated list"),
    (["routines", "select", "-p", "classes.star", "-c", "3"], "class 3 has no particles"),
    (["routines", "class3d", "--particles", "classes.star", "-r", "map.mrc"],
     "sta_parameters.json: file not found"),
    (["routines", "refine3d", "-p", "classes.star", "-r", "map.mrc", "-t", "data/aligned_tilt_series.star"],
     "--reference map.mrc: is 32 voxels wide (expected 24)"),
    (["pipelines", "polish", "-p", "sta_parameters.json", "-pts", "classes.star", "-m", "map.mrc"],
     "sta_parameters.json"),
    (["export", "class2star", "--class-job", "job009", "--export-path", "out.star"],
     "--class-job job009: no such job directory"),
    (["pipelines", "sta", "-ng", "3"], "give an even number of GPUs"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_is_written(project, args, message):
    write_map(project / "map.mrc", 32, 10.0)
    write_extracted(project / "classes.star", classes=(1, 2))
    result = run_py2rely(*args, cwd=project)
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = error_lines(result)
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert nothing_written(project)


def test_extract_plans_0_7_1s_apex_job_and_its_sbatch_script(project):
    args = ["routines", "extract", "-p", "data/particles.star", "-bf", "4", "-bs", "24",
            "-t", "data/aligned_tilt_series.star", "-apex", "True", "-j", "2", "-np", "3", "--dry-run"]
    local = run_py2rely(*args, cwd=project)
    assert local.returncode == 0, local.stderr
    assert "Extract/job001/  routines extract (bin 4)" in local.stdout
    command = next(line for line in local.stdout.splitlines() if "relion_tomo_subtomo" in line)
    assert command.strip().startswith("mpirun -n 3 relion_tomo_subtomo_mpi --p data/particles.star")
    # RELION 5.1's Extract takes boxes in Å: 24 px at bin 4 of 2.5 Å pixels = 240 Å (binning 4).
    assert "--box_size_A 240 --precrop_size_A -1 --binned_size_pix 24" in command
    assert "--stack2d --float16 --j 2 --no_ctf --no_comb" in command
    slurm = run_py2rely(*args, "--executor", "slurm", "--executor-setting", "cpu_partition=cpu", cwd=project)
    assert slurm.returncode == 0, slurm.stderr
    assert "#SBATCH --partition=cpu" in slurm.stdout and "#SBATCH --ntasks=3" in slurm.stdout
    assert nothing_written(project)


def test_refine3d_plans_an_odd_rank_cpu_refinement_with_the_offset_floor(project):
    write_extracted(project / "parts.star")
    write_map(project / "ref.mrc", 24, 10.0)
    result = run_py2rely("routines", "refine3d", "-p", "parts.star", "-r", "ref.mrc", "-t",
                         "data/aligned_tilt_series.star", "-lp", "40", "-d", "160", "-np", "4",
                         "-ang", "7.5", "-g", "False", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    command = next(line for line in result.stdout.splitlines() if "relion_refine" in line)
    assert command.strip().startswith("mpirun -n 3 relion_refine_mpi --o Refine3D/job001/run --auto_refine")
    assert "--ini_high 40" in command and "--particle_diameter 160" in command
    assert "--offset_range 5" in command and "--min_sigma2_offset 250000" in command  # 5 px × (10 Å)²
    assert "--gpu" not in command and "--solvent_mask" not in command
    assert "odd number of MPI ranks" in result.stderr


def test_select_to_a_file_keeps_the_chosen_classes_and_every_table(project):
    source = write_extracted(project / "classes.star", classes=(1, 2, 3))
    result = run_py2rely("routines", "select", "-p", "classes.star", "-c", "1,3", "-o", "out/kept.star",
                         cwd=project)
    assert result.returncode == 0, result.stderr
    kept = starfile.read(project / "out/kept.star", always_dict=True)
    original = starfile.read(source, always_dict=True)
    assert set(kept) == {"general", "optics", "particles"}
    assert set(kept["particles"]["rlnClassNumber"]) == {1, 3}
    assert len(kept["particles"]) == int(original["particles"]["rlnClassNumber"].isin([1, 3]).sum())
    assert "kept 7 of 10 particles (classes 1,3) -> out/kept.star" in result.stdout
    assert nothing_written(project)


def test_select_as_relion_jobs_plans_one_select_per_run_of_classes_and_a_join(project):
    write_extracted(project / "classes.star", classes=(1, 2, 3, 4, 5, 6))
    result = run_py2rely("routines", "select", "-p", "classes.star", "-c", "1,2,4,6", "--dry-run",
                         cwd=project)
    assert result.returncode == 0, result.stderr
    jobs = [line.split()[0] for line in result.stdout.splitlines() if line.startswith(("Select", "Join"))]
    assert jobs == ["Select/job001/", "Select/job002/", "Select/job003/", "JoinStar/job004/"]
    assert "--select rlnClassNumber --minval 1 --maxval 2" in result.stdout
    assert "--minval 6 --maxval 6" in result.stdout


def test_class2star_writes_the_last_iterations_chosen_classes(project):
    job = project / "Class3D" / "job005"
    job.mkdir(parents=True)
    write_extracted(job / "run_it005_data.star", classes=(1, 2))
    write_extracted(job / "run_it025_data.star", classes=(1, 2, 3))
    result = run_py2rely("export", "class2star", "--parameter", "sta_parameters.json", "--class-job",
                         "job005", "--export-classes", "2,3", "--output", "best.star", cwd=project)
    assert result.returncode == 0, result.stderr
    table = starfile.read(project / "best.star", always_dict=True)["particles"]
    assert set(table["rlnClassNumber"]) == {2, 3} and len(table) == 6
    assert "run_it025_data.star" in result.stdout


def test_manual_mask_and_bin1_checks_name_the_mask_problem(tmp_path):
    from py2rely_plugins.relion5.user_inputs import check_mask

    good = write_map(tmp_path / "good.mrc", 48, 5.0, 1.0)
    check_mask(good, 48, 5.0)
    with pytest.raises(InputError, match="is 48 voxels wide"):
        check_mask(good, 64, 5.0)
    with pytest.raises(InputError, match="voxel size of 5 Å"):
        check_mask(good, 48, 10.0)
    with pytest.raises(InputError, match="values from 2 to 2"):
        check_mask(write_map(tmp_path / "bad.mrc", 48, 5.0, 2.0), 48, 5.0)


def test_071_cluster_flags_become_slurm_settings():
    legacy = LegacyCluster(submitit=True, num_gpus=2, gpu_constraint="a100,h100", cpu_constraint="8,32",
                           timeout=72, typed=frozenset({"submitit", "num_gpus", "gpu_constraint",
                                                        "cpu_constraint", "timeout"}))
    file_settings = {"gpu_partition": "a100q", "extra_sbatch_lines": ["--exclusive"], "cpus_per_task": 2}
    merged = merge_settings(legacy.defaults(), file_settings, legacy.overrides(), {"retries": 1})
    assert merged == {"gpu_partition": "a100q", "cpu_partition": "cpu", "gpus_per_job": 2,
                      "gpu_constraint": "a100|h100", "cpus_per_task": 8,
                      "extra_sbatch_lines": ["--exclusive", "--mem-per-cpu=32G"],
                      "gpu_time_limit": "3-00:00:00", "cpu_time_limit": "3-00:00:00", "retries": 1}
    untyped = LegacyCluster(submitit=True)  # 0.7.1's defaults, below the parameter file
    assert merge_settings(untyped.defaults(), {"cpus_per_task": 2})["cpus_per_task"] == 2
    assert untyped.defaults()["gpu_time_limit"] == "2-00:00:00" and untyped.gpu_count() == 4
    assert LegacyCluster().defaults() == {} and LegacyCluster().gpu_count() is None
    assert time_limit(5) == "0-05:00:00" and gpu_feature(" a100 | h100 ") == "a100|h100"
    with pytest.raises(InputError, match="NCPUS,GB"):
        parse_cpu_constraint("8")
    with pytest.raises(InputError, match="--executor"):
        LegacyCluster(submitit=True).executor("local", executor_typed=True)
    assert LegacyCluster(submitit=True).executor("local", executor_typed=False) == "slurm"


# The command lines of 0.7.1's py2rely-slurm (its docs and Appendix B of /work/notes/ref071-cli.md).
def test_py2rely_slurm_class3d_writes_an_array_over_class_counts(tmp_path):
    result = py2rely_slurm("routines", "class3d", "--particles", "p.star", "-r", "ref.mrc", "-m", "mask.mrc",
                           "--nr-classes", "2,6,2", "-align", "True", "-rcg", "False", "-t", "tomos.star",
                           "--ini-high", "30", "-ni", "20", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    script = (tmp_path / "class3d.sh").read_text()
    assert script.startswith("#!/bin/bash\n\n#SBATCH --partition=gpu\n#SBATCH --gpus=2\n#SBATCH --ntasks=3\n")
    assert "#SBATCH --array=0-2" in script and "NUM_CLASSES_LIST=(2 4 6)" in script
    assert "NUM_CLASSES=${NUM_CLASSES_LIST[$SLURM_ARRAY_TASK_ID]}" in script
    body = script.split("routines class3d", 1)[1]
    for words in ("--parameter sta_parameters.json", "--particles p.star", "--reference ref.mrc",
                  "--mask mask.mrc", "--ini-high 30.0", "--nr-iter 20", "--ref-correct-greyscale False",
                  "--tomogram tomos.star", "--align-particles True", "--nr-classes $NUM_CLASSES"):
        assert words in body, words


def test_py2rely_slurm_scripts_ask_for_what_the_job_uses(tmp_path):
    assert py2rely_slurm("routines", "reconstruct", "-p", "parts.star", "-bf", "2", "-t", "tomos.star",
                         cwd=tmp_path).returncode == 0
    reconstruct = (tmp_path / "reconstruct-particle.sh").read_text()
    assert "#SBATCH --partition=cpu\n#SBATCH --ntasks=1\n" in reconstruct
    assert "routines reconstruct \\\n    --particles parts.star \\\n    --tomograms tomos.star \\\n" \
           "    --binfactor 2\n" in reconstruct
    assert py2rely_slurm("routines", "extract-subtomo", "-p", "parts.star", "-bf", "2", "-bs", "128",
                         "-apex", "True", "-np", "3", cwd=tmp_path).returncode == 0
    extract = (tmp_path / "extract-subtomo.sh").read_text()
    assert "#SBATCH --ntasks=3" in extract and "--apex True" in extract and "routines extract" in extract
    # 0.7.1's refine3d script writer always crashed; here it asks for -ng GPUs and -ng + 1 ranks.
    refine = py2rely_slurm("routines", "refine3d", "-p", "a.star", "-r", "r.mrc", "-ng", "2",
                           "-gc", "a100|h100", "-rcg", "False", cwd=tmp_path)
    assert refine.returncode == 0, refine.stderr
    script = (tmp_path / "refine3d.sh").read_text()
    assert "#SBATCH --gpus=2\n#SBATCH --constraint=a100|h100\n#SBATCH --ntasks=3\n" in script
    assert "--ref-correct-greyscale False" in script and "--nprocesses 3" in script and "--gpu" in script
    cpu = py2rely_slurm("routines", "refine3d", "-p", "a.star", "-g", "False", "--overwrite", cwd=tmp_path)
    assert cpu.returncode == 0 and "#SBATCH --partition=cpu" in (tmp_path / "refine3d.sh").read_text()
    bad = py2rely_slurm("routines", "class3d", "--particles", "p", "-r", "r", "--nr-classes", "1,2",
                        cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --nr-classes: '1,2'")


def test_bin1_needs_binning_1_and_refined_particles(project):
    result = run_py2rely("prepare", "relion5-parameters", "-p", "data/particles.star", "-ts",
                         "data/aligned_tilt_series.star", "-ps", "2.5", "-pd", "160", "-bl", "4,2",
                         "-np", "3", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads((project / "sta_parameters.json").read_text())["binning_list"] == [4, 2]
    no_bin1 = run_py2rely("pipelines", "bin1", "-p", "sta_parameters.json", "-pts", "data/particles.star",
                          cwd=project)
    assert no_bin1.returncode == 2 and "binning 1 is not in binning_list [4, 2]" in no_bin1.stderr
    assert nothing_written(project)


def test_0_7_1_class_selection_auto_is_the_default_selector():
    from click.testing import CliRunner

    from py2rely_plugins.relion5.sta import cli

    seen = {}
    original = cli.run_sta
    cli.run_sta = lambda request, plugins=None: seen.setdefault("request", request)  # type: ignore[assignment]
    try:
        result = CliRunner().invoke(cli.sta_command, ["-p", "x.json", "-cs", "AUTO", "-s", "--num-gpus", "4",
                                                       "--dry-run"])
    finally:
        cli.run_sta = original
    assert result.exit_code == 0, result.output
    request = seen["request"]
    assert request.class_selection is None and request.legacy.submitit and request.legacy.num_gpus == 4
    assert request.legacy.typed == frozenset({"submitit", "num_gpus"})
