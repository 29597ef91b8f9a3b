"""Single jobs, the bin-1 stages and 0.7.1's documented pipeline lines on real RELION 5.1.

One project on a small simulated dataset (1 tilt series × 25 particles, 21 tilts, 10 Å pixels, so
that bin 1 costs what bin 4 of the CI dataset costs): every routine runs as a tracked job with the
command lines py2rely 0.7.1's `py2rely-slurm` scripts and docs wrote, the pipeline reuses the jobs
the routines made, `pipelines bin1` and `pipelines polish` continue from the routines' refinement,
and running every command again starts no job. Each command's wall time is printed (`-s`).

Also: `pipelines sta -e3d -mm` at bin 4 of the CI dataset: 3D subtomograms all the way, a stop for
the user's mask (exit code 10) and the run finished with `--mask`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile

from py2rely_core.relion_files import read_job_star
from py2rely_plugins.relion5.sta import results
from py2rely_plugins.relion5.sta.mask_threshold import threshold_for_map
from tests.sta_fixtures import edit_parameters, job_dirs, prepare, py2rely, simulate, statuses

pytestmark = pytest.mark.relion

SMALL = ("--tilt-series", "1", "--particles", "25", "--pixel-size", "10", "--image-size", "160",
         "--tilt-step", "6", "--phantom-resolution", "25", "--particle-diameter", "160")
TIMES: dict[str, float] = {}


def timed(label: str, *args: str, cwd: Path, expect: int = 0):
    started = time.monotonic()
    result = py2rely(*args, cwd=cwd, timeout=1800)
    TIMES[label] = time.monotonic() - started
    print(f"{label}: {TIMES[label]:.1f} s")
    assert result.returncode == expect, (label, result.stderr[-3000:])
    return result


def started(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if "job started" in line]


@pytest.fixture(scope="module")
def small_project(tmp_path_factory, relion_runtime):
    """The small dataset, a parameter file with binning 1, and every routine run once, in 0.7.1's
    spellings (the py2rely-slurm scripts' body lines, with this project's paths)."""
    root = tmp_path_factory.mktemp("routines")
    data = simulate(root / "data", *SMALL)
    project = root / "project"
    parameters = prepare(project, data, "1", "-ps", "10")  # the later -ps wins
    # Short classifications; the pipeline's own polishing is tested by `pipelines polish` below.
    edit_parameters(parameters, class3d={"nr_classes": 2, "nr_iter": 3}, high_resolution={"max_rounds": 0})
    particles, tomograms = str(data / "particles.star"), str(data / "tomograms.star")
    runs = {}
    runs["extract"] = ["routines", "extract", "--parameter", "sta_parameters.json", "--particles", particles,
                       "--binfactor", "1", "--nthreads", "1", "--nprocesses", "3"]
    runs["reconstruct"] = ["routines", "reconstruct", "--parameter", "sta_parameters.json",
                           "--particles", "Extract/job001/particles.star", "--binfactor", "1",
                           "--nthreads", "1", "--nprocesses", "3", "--tomograms", tomograms]
    runs["refine3d"] = ["routines", "refine3d", "--parameter", "sta_parameters.json",
                        "--particles", "Extract/job001/particles.star",
                        "--reference", "Reconstruct/job002/merged.mrc", "--low-pass", "40",
                        "--use-gpu", "False"]
    for name in ("extract", "reconstruct", "refine3d"):
        timed(name, *runs[name], cwd=project)
    threshold = threshold_for_map(project / "Refine3D/job003/run_class001.mrc", 40.0, 160.0)
    runs["mask-create"] = ["routines", "mask-create", "--map", "Refine3D/job003/run_class001.mrc",
                           "--threshold", f"{threshold:.6g}", "--extend", "1", "--width", "3",
                           "--low-pass", "40", "--nthreads", "1"]
    runs["post-process"] = ["routines", "post-process",
                            "--half-map", "Refine3D/job003/run_half1_class001_unfil.mrc",
                            "--mask", "MaskCreate/job004/mask.mrc"]
    runs["class3d"] = ["routines", "class3d", "--parameter", "sta_parameters.json",
                       "--particles", "Refine3D/job003/run_data.star",
                       "--reference", "Refine3D/job003/run_class001.mrc", "--nr-classes", "2",
                       "--ref-correct-greyscale", "False", "--tau-fudge", "3.0",
                       "--mask", "MaskCreate/job004/mask.mrc", "--ini-high", "40.0", "--nr-iter", "3",
                       "--align-particles", "False"]
    runs["select"] = ["routines", "select", "--particles", "Class3D/job006/run_it003_data.star",
                      "--classes", "1,2"]
    outputs = {}
    for name in ("mask-create", "post-process", "class3d", "select"):
        outputs[name] = timed(name, *runs[name], cwd=project)
    return project, data, runs, outputs


def test_each_routine_is_a_tracked_relion_job_with_its_outputs(small_project):
    project, _data, _, outputs = small_project
    assert [d for d in sorted(job_dirs(project), key=lambda d: d[-4:])] == [
        "Extract/job001/", "Reconstruct/job002/", "Refine3D/job003/", "MaskCreate/job004/",
        "PostProcess/job005/", "Class3D/job006/", "Select/job007/"]
    assert set(statuses(project).values()) == {"Succeeded"}
    for job in job_dirs(project):
        assert (project / job / "job.star").is_file() and (project / job / "note.txt").is_file(), job
    extract = read_job_star(project / "Extract/job001/job.star").options
    # RELION 5.1's names: boxes in Å (10 Å pixels, bin 1: box 36 cropped to 24), 2D stacks.
    assert (extract["box_size_angst"], extract["precrop_size_angst"], extract["binned_size_pix"],
            extract["subtomo_format"]) == ("240", "360", "24", "2D stacks")
    assert results.particle_count(project / "Extract/job001/particles.star") == 25
    with mrcfile.open(project / "Reconstruct/job002/merged.mrc") as mrc:
        assert mrc.data.shape == (24, 24, 24) and np.isclose(mrc.voxel_size.x, 10.0)
    refined = results.refine_resolution("Refine3D/job003/", project)
    assert 20.0 <= refined < 60.0, refined  # Nyquist 20 Å
    with mrcfile.open(project / "MaskCreate/job004/mask.mrc") as mrc:
        assert float(mrc.data.min()) >= 0.0 and float(mrc.data.max()) <= 1.0 and float(mrc.data.max()) > 0.9
    resolution = results.postprocess_resolution("PostProcess/job005/", project)
    assert f"resolution: {resolution:.2f} Å" in outputs["post-process"].stdout
    classes = starfile.read(project / "Class3D/job006/run_it003_data.star", always_dict=True)["particles"]
    assert set(classes["rlnClassNumber"].astype(int)) <= {1, 2}
    class3d = read_job_star(project / "Class3D/job006/job.star").options
    assert (class3d["nr_classes"], class3d["tau_fudge"], class3d["dont_skip_align"], class3d["use_gpu"]) == \
        ("2", "3", "No", "No")
    kept = starfile.read(project / "Select/job007/particles.star", always_dict=True)["particles"]
    assert len(kept) == len(classes)  # classes 1 and 2 are all of them, in one Select job


def test_select_to_a_file_and_class2star_keep_exactly_the_chosen_class(small_project):
    project, *_ = small_project
    classes = starfile.read(project / "Class3D/job006/run_it003_data.star", always_dict=True)["particles"]
    wanted = int(classes["rlnClassNumber"].astype(int).value_counts().idxmax())
    before = job_dirs(project)
    timed("select -o", "routines", "select", "-p", "Class3D/job006/run_it003_data.star", "-c", str(wanted),
          "-o", "chosen/selected_particles.star", cwd=project)
    timed("class2star", "export", "class2star", "--parameter", "sta_parameters.json", "--class-job", "job006",
          "--export-classes", str(wanted), "--export-path", "best_classes.star", cwd=project)
    for path in ("chosen/selected_particles.star", "best_classes.star"):
        blocks = starfile.read(project / path, always_dict=True)
        assert set(blocks) == {"general", "optics", "particles"}, path
        assert set(blocks["particles"]["rlnClassNumber"].astype(int)) == {wanted}, path
        assert len(blocks["particles"]) == int((classes["rlnClassNumber"].astype(int) == wanted).sum())
    assert job_dirs(project) == before  # file exports, no RELION job


def test_the_pipeline_reuses_the_routines_jobs_and_runs_0_7_1s_documented_lines(small_project):
    """0.7.1's docs (3d-subtomogram-averaging.md:206, :230, :257, :264) with this project's job
    directories for Class3D/job005: the same kinds of jobs 0.7.1 would make."""
    project, *_ = small_project
    plain = timed("pipelines sta (0.7.1 docs)", "pipelines", "sta", "--parameter", "sta_parameters.json",
                  cwd=project)
    reused = [line for line in plain.stderr.splitlines() if "job reused" in line]
    assert any("Extract/job001/" in line for line in reused)
    assert any("Reconstruct/job002/" in line for line in reused)
    assert any("Refine3D/job003/" in line for line in reused)
    assert not any("Refine3D" in line or "Extract" in line for line in started(plain))
    assert "Final resolution" in plain.stdout
    classified = timed("pipelines sta -rc3d True -cs auto (0.7.1 docs)", "pipelines", "sta",
                       "--parameter", "sta_parameters.json", "--run-class3D", "True",
                       "--class-selection", "auto", cwd=project)
    assert any("Class3D" in line for line in started(classified))
    decision = json.loads(next(project.glob("Select/job*/py2rely_class_selection.json")).read_text())
    assert decision["selector"] == "resolution" and len(decision["kept"]) == 1
    data = next(p for p in project.glob("Class3D/job*/run_it003_data.star")
                if p.parent.name != "job006").relative_to(project)
    timed("routines select (0.7.1 docs)", "routines", "select", "--particles", str(data), "--classes", "1,2",
          cwd=project)
    timed("routines select -o (0.7.1 docs)", "routines", "select", "--particles", str(data),
          "--classes", "1,2", "--output", "selected_particles.star", cwd=project)
    assert (project / "selected_particles.star").is_file()
    assert set(statuses(project).values()) == {"Succeeded"}


def test_bin1_and_polish_continue_from_the_routines_refinement(small_project):
    project, data, runs, _ = small_project
    runs["pipelines bin1"] = ["pipelines", "bin1", "--parameter", "sta_parameters.json",
                              "--particles", "Refine3D/job003/run_data.star",
                              "--tomograms", str(data / "tomograms.star"), "--low-pass", "40"]
    bin1 = timed("pipelines bin1", *runs["pipelines bin1"], cwd=project)
    assert "Final resolution" in bin1.stdout and "refine3d" in bin1.stdout
    refine = sorted(project.glob("Refine3D/job*"), key=lambda p: p.name)[-1].relative_to(project)
    options = read_job_star(project / refine / "job.star").options
    assert options["ini_high"] == "40" and options["fn_mask"].startswith("MaskCreate/")
    mask = options["fn_mask"]
    runs["pipelines polish"] = ["pipelines", "polish", "--parameter", "sta_parameters.json",
                                "--particles", f"{refine}/run_data.star", "--mask", mask,
                                "--num-iterations", "1"]
    polish = timed("pipelines polish", *runs["pipelines polish"], cwd=project)
    for stage in ("ctf refine (round 1)", "polish (round 1)", "refine3d (round 1)", "postprocess (round 1)"):
        assert stage in polish.stdout
    ctf = sorted(project.glob("CtfRefine/job*"))
    polished = sorted(project.glob("Polish/job*"))
    assert len(ctf) == 1 and len(polished) == 1
    assert read_job_star(polished[0] / "job.star").options["in_tomograms"] == \
        f"{ctf[0].relative_to(project)}/tomograms.star"
    assert set(statuses(project).values()) == {"Succeeded"}


def test_running_every_command_again_starts_no_job(small_project):
    project, _data, runs, _ = small_project
    before = job_dirs(project)
    for name, args in runs.items():
        again = timed(f"{name} (rerun)", *args, cwd=project)
        assert not started(again), name
        assert ": reused" in again.stdout or name.startswith("pipelines"), (name, again.stdout)
    assert job_dirs(project) == before
    print("wall times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in TIMES.items()))


def test_extract3d_and_manual_masking_run_the_bin4_pipeline_on_3d_subtomograms(sim_dataset, tmp_path,
                                                                                relion_runtime):
    project = tmp_path / "project"
    prepare(project, sim_dataset, "4")
    stop = timed("pipelines sta -e3d True -mm True", "pipelines", "sta", "--parameter", "sta_parameters.json",
                 "--extract3D", "True", "--manual-masking", "True", cwd=project, expect=10)
    assert "manual masking: make a mask for Refine3D/job003/run_class001.mrc" in stop.stderr
    assert "--mask FILE" in stop.stderr
    extract = read_job_star(project / "Extract/job001/job.star").options
    assert extract["subtomo_format"] == "3D pseudo-subtomos"
    optics = starfile.read(project / "Extract/job001/particles.star", always_dict=True)["optics"]
    assert int(optics["rlnImageDimensionality"].iloc[0]) == 3
    assert (project / "Extract/job001/Subtomograms").is_dir()
    refine = read_job_star(project / "Refine3D/job003/job.star").options
    assert "--skip_subtomo_multi --normalised_subtomo" in refine["other_args"]
    automatic = next(project.glob("MaskCreate/job*/mask.mrc"))
    # The user's mask: the automatic one, softened further (any valid mask of the right box).
    with mrcfile.open(automatic) as mrc:
        mask, voxel = np.clip(mrc.data.astype(np.float32) * 0.95, 0.0, 1.0), mrc.voxel_size
    with mrcfile.new(project / "my_mask.mrc") as out:
        out.set_data(mask)
        out.voxel_size = voxel
    before = job_dirs(project)
    done = timed("pipelines sta -e3d True -mm True --mask", "pipelines", "sta", "--parameter",
                 "sta_parameters.json", "--extract3D", "True", "--manual-masking", "True",
                 "--mask", "my_mask.mrc", cwd=project)
    new = sorted(job_dirs(project) - before)
    assert [d.split("/")[0] for d in new] == ["PostProcess"]
    post = read_job_star(project / new[0] / "job.star").options
    assert post["fn_mask"] == "my_mask.mrc"
    final = results.postprocess_resolution(new[0], project)
    assert 20.0 <= final < 40.0, final  # bin 4: 10 Å pixels, Nyquist 20 Å
    assert f"{final:.1f} Å" in done.stdout
    assert set(statuses(project).values()) == {"Succeeded"}
