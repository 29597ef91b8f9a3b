"""py2rely 0.7.1's documented command lines, unchanged, against this py2rely (prepare, import, export
and utils commands; the routines and the pipeline flags are tested with their own helpers' work).

Sources (listed in /work/notes/ref071-cli.md §4): the 0.7.1 documentation (chanzuckerberg/py2rely
docs at bf6772c7: quick-start.md, importing-data.md, 3d-subtomogram-averaging.md, claude-code-mcp.md),
the command 0.7.1's own `prepare relion5-pipeline` writes, and command lines made of 0.7.1's
`--help` defaults. Each line is run exactly as written on a lab built like the documentation
assumes (tests/migration_fixtures.py, on a simulated dataset at the documented 1.54 Å); only three
absolute paths (/path/to/aretomo, /data/config.json, /ribo80S_emd_3883.map) point into the lab.
Where the documentation's flow needs a step it does not show (0.7.1 writes
input/24jan01_tiltSeries/ but the next command reads input/tiltSeries/; it writes
24jan01_virus-like-particle.star but the next reads 24jan01_virus_like_particle.star), the test
does that step as a user would and says so.

Each line must exit 0 and produce the files, in the same places, that 0.7.1 would write — or, where
0.7.1 was wrong, what it was meant to (the docstrings say which). When py2rely 0.7.1 is installed
($PY2RELY_071, or benchmarks/.venv-ref), `test_same_files_as_0_7_1` runs it on the same lab and
compares the files both write.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
from scipy.spatial.transform import Rotation

from py2rely_plugins.copick.geometry import relion_matrices
from tests.cli_helpers import error_lines, run_py2rely
from tests.copick_fixtures import read_picks
from tests.migration_fixtures import (
    PIXEL_SIZE,
    RUNS,
    build_lab,
    reference_tool,
    run_reference,
    words,
    write_pixel_picks,
)

DOCUMENTED: list[tuple[str, str]] = []  # (where, line): every 0.7.1 command line this file runs


def doc(where: str, line: str) -> str:
    DOCUMENTED.append((where, line))
    return line


# -- the command lines --------------------------------------------------------------------------

TS_QUICK = doc("quick-start.md:144", "py2rely prepare tilt-series --base-project /path/to/aretomo "
               "--session 24jan01 --output input --pixel-size 1.54")
TS_RUN = doc("importing-data.md:198", "py2rely prepare tilt-series --base-project /path/to/aretomo "
             "-s 24jan01 -r run001 -v 300 -sa 2.7 -ac 0.1 --pixel-size 1.54 --total-dose 60")
# These rely on 0.7.1's default --base-project, a directory at its home site.
TS_SITE = [doc("importing-data.md:299", "py2rely prepare tilt-series --session 24jan01 --output input/"),
           doc("importing-data.md:299", "py2rely prepare tilt-series --session 24feb15 --output input/"),
           doc("importing-data.md:352", "py2rely prepare tilt-series --session 24jan01 --output input "
                                        "--pixel-size 1.54")]
PARTICLES_QUICK = doc("quick-start.md:144", "py2rely prepare particles --config copick_config.json "
                      "--session 24jan01 --name ribosome --output input --pixel-size 1.54 "
                      "--x 4096 --y 4096 --z 1200")
PARTICLES_IMPORT = doc("importing-data.md:20", "py2rely prepare particles --config copick_config.json "
                       "--session 24jan01 --name virus-like-particle -ps 1.54 -x 4096 -y 4096 -z 1200 "
                       "-v 300 -sa 2.7  -ac 0.1")
PARTICLES_MCP = doc("claude-code-mcp.md:203", "py2rely prepare particles --config /data/config.json "
                    "--name virus-like-particle --session 24jan01 --voxel-size 10.0 --pixel-size 1.54 "
                    "-x 4096 -y 4096 -z 1200")
PARTICLES_AUTHORS = doc("importing-data.md:158", "py2rely prepare particles --config 10445_config.json "
                        "--session 10445 --name virus-like-particle --authors \"Jonathan Schwartz\"")
PARTICLES_FLOW = doc("importing-data.md:352", "py2rely prepare particles --config copick.json "
                     "--session 24jan01 --name ribosome --output input")
COMBINE_TS = doc("importing-data.md:299", "py2rely prepare combine-tilt-series "
                 "--input input/tiltSeries/aligned_tilt_series_24jan01.star "
                 "--input input/tiltSeries/aligned_tilt_series_24feb15.star "
                 "--output input/tiltSeries/aligned_tilt_series.star")
FILTER_LONG = doc("importing-data.md:321", "py2rely prepare filter-unused-tilts "
                  "--particles input/24jan01_virus_like_particle.star "
                  "--tomograms input/tiltSeries/aligned_tilt_series.star")
FILTER_SHORT = doc("importing-data.md:352", "py2rely prepare filter-unused-tilts "
                   "-p input/24jan01_virus_like_particle.star -t input/tiltSeries/aligned_tilt_series.star")
COMBINE_ONE = doc("--help defaults",
                  "py2rely prepare combine-particles -i input/24jan01_virus_like_particle.star")
COMBINE_THREE = doc("importing-data.md:122", "py2rely prepare combine-particles "
                    "--input input/session1_particles.star --input input/session2_particles.star "
                    "--input input/manual_picks.star --output input/all_particles.star")
PARAMS = [
    doc("quick-start.md:176", "py2rely prepare relion5-parameters "
        "--tilt-series input/tiltSeries/aligned_tilt_series.star --particles input/full_picks.star "
        "--tilt-series-pixel-size 1.54 --symmetry C1 --protein-diameter 290 --output sta_parameters.json"),
    doc("3d-subtomogram-averaging.md:30", "py2rely prepare relion5-parameters "
        "-p input/24jan01_virus_like_particle.star -ts input/tiltSeries/aligned_tilt_series.star "
        "-ps 1.54 -lp 50 -pd 290 -bs 1.75 -s C1 -bl 4,2,1"),
    doc("3d-subtomogram-averaging.md:276", "py2rely prepare relion5-parameters "
        "-ts input/tiltSeries/aligned_tilt_series.star -p input/24jan01_virus_like_particle.star "
        "-ps 1.54 -s I2 -pd 290 -bl 4,2,1"),
    doc("claude-code-mcp.md:235", "py2rely prepare relion5-parameters "
        "-p input/24jan01_virus_like_particle.star -ts input/tiltSeries/aligned_tilt_series.star "
        "-ps 1.54 -pd 290 -s C1 -bl 4,2,1"),
]
PARAMS_MAX_DOSE = doc("ref071-cli.md Appendix A", "py2rely prepare relion5-parameters -ps 1.54 -md 80")
PARAMS_CLASSES = doc("ref071-cli.md Appendix A", "py2rely prepare relion5-parameters -dg True -bl 4,2 "
                     "-nim 3 -nc 4 -o denovo.json")
PIPELINE_B = doc("ref071-cli.md Appendix B", "py2rely prepare relion5-pipeline -p sta_parameters.json "
                 "-rc3d True -cs manual -e3d True -mm True -dg True -ndays 3 -cc 8,32 -t 72 -ng 2")
PIPELINE_RT = doc("--help defaults", "py2rely prepare relion5-pipeline -p sta_parameters.json "
                  "-rt reference.mrc -gc \"a100|h100\"")
TEMPLATES = [
    doc("quick-start.md:230", "py2rely prepare template -i /ribo80S_emd_3883.map -o reference.mrc "
        "-ivs 0.8 -ovs 9.24 -lp 40 -b 64"),
    doc("3d-subtomogram-averaging.md:148", "py2rely prepare template -i ribosome_3883.map "
        "-o reference.mrc -ivs 0.83 -ovs 8.3 -lp 50 -b 64"),
    doc("3d-subtomogram-averaging.md:276", "py2rely prepare template -i VLP_emd_41917.map "
        "-o reference.mrc -ivs 0.83 -ovs 6.16 -lp 50 -b 84"),
]
TEMPLATE_LOG = doc("--help defaults", "py2rely prepare template -i VLP_emd_41917.map -ovs 6.16 --log INFO")
EXPORT_QUICK = doc("quick-start.md:318", "py2rely export star2copick "
                   "--particles Refine3D/job001/run_data.star --configs \"config1.json,config2.json\" "
                   "--sessions \"24jan01,24feb15\" "
                   "--particle-name ribosome --export-user-id relion --export-session-id 99")
EXPORT_STA = doc("3d-subtomogram-averaging.md:276", "py2rely export star2copick "
                 "--particles Refine3D/job024/run_data.star --configs config.json --sessions 24mar08a "
                 "--particle-name virus-like-particle --export-user-id relion --export-session-id 1")
EXPORT_MCP = doc("claude-code-mcp.md:308", "py2rely export star2copick "
                 "--particles Refine3D/job024/run_data.star --configs /data/config.json --sessions 24jan01 "
                 "--particle-name virus-like-particle --export-user-id relion --export-session-id 1")
EXPORT_071 = doc("--help defaults", "py2rely export star2copick --particles particles.star "
                 "--configs copick.json --sessions 24jan01 --name ribosome --user-id relion --session-id 99 "
                 "--suffix=\"\"")
IMPORT_STAR = doc("--help defaults", "py2rely prepare import-particles -i picks.star")
IMPORT_STAR_071 = doc("--help defaults", "py2rely prepare import-particles -i picks.star "
                      "-o input/imported.star --x 4096 --y 4096 --z 1200 -ps 1.54 -og 2")
TS2POSITION = doc("--help", "py2rely utils ts2position -i particles.star -o positions.star")
WARP = doc("--help", "py2rely utils warp-tm2copick -i warp.star -c copick.json -n ribosome "
           "--user-id warp --session-id 1 --voxel-size 10 --export-tag _Vol")
SKIP_MISSING = [
    doc("--help", "py2rely prepare combine-particles -i input/24jan01_ribosome.star -i missing.star "
        "-sm True -o input/picked.star"),
    doc("--help", "py2rely prepare combine-tilt-series -i input/24jan01_tiltSeries/aligned_tilt_series.star "
        "-i missing.star -sm true -o input/tilt_series.star"),
]
SIZE = np.array([4096, 4096, 1200])  # 0.7.1's default tomogram size (-x/-y/-z)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return build_lab(tmp_path_factory.mktemp("lab"))


def run(cwd: Path, line: str, *extra: str):
    result = run_py2rely(*words(line, cwd), *extra, cwd=cwd)
    assert result.returncode == 0, f"{line}\n{result.stderr}"
    return result


def star(path: Path) -> dict:
    return starfile.read(path, always_dict=True)


def assert_particles_of(path: Path, lab, name: str, session: str, ps: float = PIXEL_SIZE) -> None:
    """0.7.1's import: centred = location − size/2·ps with its default size, angles of the rotation."""
    particles = star(path)["particles"]
    for run_name in RUNS:
        rows = particles[particles["rlnTomoName"] == f"{session}_{run_name}"]
        positions, rotations = lab.picks[(name, run_name)]
        centred = rows[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                        "rlnCenteredCoordinateZAngst"]].to_numpy(float)
        np.testing.assert_allclose(centred, positions - SIZE / 2 * ps, atol=1e-3)
        angles = rows[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(float)
        np.testing.assert_allclose(relion_matrices(angles), rotations, atol=1e-5)


# -- the import flow of the documentation (one project, in order) ---------------------------------


def test_import_flow(lab, tmp_path):
    cwd = lab.copy_project(tmp_path / "project")
    aretomo_before = sorted(p.name for p in (cwd / "aretomo").rglob("*"))

    run(cwd, TS_QUICK)
    tomograms = star(cwd / "input/24jan01_tiltSeries/aligned_tilt_series.star")["global"]
    assert tomograms["rlnTomoName"].tolist() == ["24jan01_TS_01", "24jan01_TS_02"]
    assert tomograms["rlnTomoTiltSeriesStarFile"].tolist() == [
        "input/24jan01_tiltSeries/TS_01.star", "input/24jan01_tiltSeries/TS_02.star"]  # 0.7.1's paths
    truth = star(lab.root / "dataset/ground_truth/tilt_series/TS_01.star")["TS_01"]
    tilts = star(cwd / "input/24jan01_tiltSeries/TS_01.star")["24jan01_TS_01"]
    order = np.argsort(truth["rlnTomoYTilt"].to_numpy(float))
    np.testing.assert_allclose(np.sort(tilts["rlnTomoYTilt"]), truth["rlnTomoYTilt"].to_numpy(float)[order],
                               atol=0.01)
    # AreTomo3's _TLT.txt doses, summed in acquisition order, as 0.7.1 read them.
    np.testing.assert_allclose(np.sort(tilts["rlnMicrographPreExposure"]),
                               np.sort(truth["rlnMicrographPreExposure"].to_numpy(float)), atol=1e-6)
    # 0.7.1 put <name>.mrcs links into the AreTomo directories; here they are in the output.
    assert sorted(p.name for p in (cwd / "aretomo").rglob("*")) == aretomo_before

    for line in TS_SITE[1:2]:  # the same line with the lab's base project, as the reader must do
        run(cwd, line, "--base-project", str(cwd / "aretomo"))

    run(cwd, PARTICLES_QUICK)
    assert_particles_of(cwd / "input/24jan01_ribosome.star", lab, "ribosome", "24jan01")
    # The same picks again to 0.7.1's file name: 0.7.1 replaced the file silently; here that needs
    # --overwrite, and without it nothing is touched.
    before = (cwd / "input/24jan01_ribosome.star").read_bytes()
    refused = run_py2rely(*words(PARTICLES_FLOW, cwd), cwd=cwd)
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert (cwd / "input/24jan01_ribosome.star").read_bytes() == before
    run(cwd, PARTICLES_FLOW, "--overwrite")
    assert_particles_of(cwd / "input/24jan01_ribosome.star", lab, "ribosome", "24jan01")
    result = run(cwd, PARTICLES_IMPORT)
    vlp = cwd / "input/24jan01_virus-like-particle.star"
    assert_particles_of(vlp, lab, "virus-like-particle", "24jan01")
    assert star(vlp)["optics"]["rlnAmplitudeContrast"].tolist() == [0.1]
    result = run(cwd, PARTICLES_MCP, "--overwrite")
    assert_particles_of(vlp, lab, "virus-like-particle", "24jan01")
    result = run(cwd, PARTICLES_AUTHORS)
    assert "--authors ignored" in result.stderr  # a filesystem project has no portal authors
    assert_particles_of(cwd / "input/10445_virus-like-particle.star", lab, "virus-like-particle", "10445")

    # The documentation reads input/tiltSeries/aligned_tilt_series_<session>.star, which 0.7.1 never
    # wrote: the reader copies its input/<session>_tiltSeries/aligned_tilt_series.star there.
    (cwd / "input/tiltSeries").mkdir()
    for session in ("24jan01", "24feb15"):
        shutil.copy(cwd / f"input/{session}_tiltSeries/aligned_tilt_series.star",
                    cwd / f"input/tiltSeries/aligned_tilt_series_{session}.star")
    run(cwd, COMBINE_TS)
    combined = cwd / "input/tiltSeries/aligned_tilt_series.star"
    assert len(star(combined)["global"]) == 4

    # ... and 24jan01_virus_like_particle.star for the file 0.7.1 named 24jan01_virus-like-particle.star.
    shutil.copy(vlp, cwd / "input/24jan01_virus_like_particle.star")
    before = combined.read_bytes()
    for line, again in ((FILTER_LONG, ()), (FILTER_SHORT, ("--overwrite",))):
        result = run(cwd, line, *again)
        # 0.7.1 rewrote the tomograms file in place; here it is kept and the filtered one is beside it.
        assert combined.read_bytes() == before
        assert "input/tiltSeries/aligned_tilt_series_filtered.star" in result.stdout
        filtered = star(cwd / "input/tiltSeries/aligned_tilt_series_filtered.star")["global"]
        assert filtered["rlnTomoName"].tolist() == ["24jan01_TS_01", "24jan01_TS_02"]

    run(cwd, COMBINE_ONE)  # 0.7.1's default output: input/full_picks.star
    assert len(star(cwd / "input/full_picks.star")["particles"]) == 6
    for index, line in enumerate(PARAMS):
        run(cwd, line, *(("--overwrite",) if index else ()))  # every line writes sta_parameters.json
        parameters = json.loads((cwd / "sta_parameters.json").read_text())
        assert parameters["inputs"]["tilt_series"] == "input/tiltSeries/aligned_tilt_series.star"
        assert parameters["particle"]["diameter"] == 290

    # -nc/-nim/-md reach the jobs they configure: the plan of `pipelines sta --dry-run` shows them.
    run(cwd, PARAMS_MAX_DOSE, "--overwrite")
    assert json.loads((cwd / "sta_parameters.json").read_text())["extract"]["max_dose"] == 80
    plan = run_py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--dry-run", cwd=cwd)
    extract = [line for line in plan.stdout.splitlines() if "relion_tomo_subtomo" in line]
    assert extract and all("--max_dose 80" in line for line in extract), plan.stdout + plan.stderr
    run(cwd, PARAMS_CLASSES, "--overwrite")
    parameters = json.loads((cwd / "denovo.json").read_text())
    assert parameters["class3d"]["nr_classes"] == 4
    assert parameters["initial_model"]["denovo"]["nr_classes"] == 3
    plan = run_py2rely("pipelines", "sta", "-p", "denovo.json", "--run-denovo-generation", "True",
                       "--run-class3D", "True", "--dry-run", cwd=cwd)
    initial = [line for line in plan.stdout.splitlines() if "--denovo_3dref" in line]
    assert initial and "--K 3 " in initial[0], plan.stdout + plan.stderr
    # The classification, not the one-class global search passes that follow a de novo map.
    class3d = [line for line in plan.stdout.splitlines() if "--o Class3D/" in line and "--K 1 " not in line]
    assert class3d and "--K 4 " in class3d[0], plan.stdout + plan.stderr

    # Three files with different tomograms, as the combine example has them.
    shutil.copy(vlp, cwd / "input/session1_particles.star")
    run_py2rely("prepare", "particles", "-c", "copick.json", "-s", "24feb15", "-n", "virus-like-particle",
                "-o", "input/session2_particles.star", cwd=cwd)
    write_pixel_picks(cwd / "manual.star", ["manual_TS_01"])
    run_py2rely("prepare", "import-particles", "-i", "manual.star", "-o", "input/manual_picks.star", cwd=cwd)
    run(cwd, COMBINE_THREE)
    assert len(star(cwd / "input/all_particles.star")["particles"]) == 6 + 6 + 3


def test_sta_pipeline_script(lab, tmp_path):
    """0.7.1's `prepare relion5-pipeline`: pipeline.sh runs `pipelines sta` with 0.7.1's own arguments."""
    cwd = lab.copy_project(tmp_path / "project")
    sim = lab.root / "dataset"
    run_py2rely("prepare", "relion5-parameters", "-p", str(sim / "particles.star"), "-ts",
                str(sim / "tomograms.star"), "-ps", "1.54", "-pd", "60", cwd=cwd)
    result = run(cwd, PIPELINE_B)
    # The script's `pipelines sta` options are 0.7.1's; until every one of them exists here (the
    # routines helper adds -s/-t/-cc/-ng/-gc/-e3d/-mm), the command says the script would stop.
    missing = STA_071_OPTIONS - sta_options()
    assert ("does not accept these options" in result.stderr) == bool(missing), result.stderr
    script = (cwd / "pipeline.sh").read_text()
    # The command 0.7.1 wrote (Appendix B), argument for argument.
    expected = ("pipelines sta --parameter sta_parameters.json --run-denovo-generation True "
                "--run-class3D True --class-selection manual --extract3D True --manual-masking True "
                "--submitit True --timeout 72 --cpu-constraint 8,32 --num-gpus 2 >> ")
    assert expected in script
    assert "#SBATCH --time=3-00:00:00" in script and "#SBATCH --job-name=rln5" in script
    assert (cwd / "py2rely_pipeline").is_dir()
    shutil.copy(cwd / "ribosome_3883.map", cwd / "reference.mrc")
    run(cwd, PIPELINE_RT, "--overwrite")  # writes pipeline.sh again; 0.7.1 replaced it silently
    script = (cwd / "pipeline.sh").read_text()
    assert ("pipelines sta --parameter sta_parameters.json --reference-template reference.mrc "
            "--submitit True --timeout 48 --cpu-constraint 4,16 --num-gpus 4 --gpu-constraint "
            "'a100|h100' >> ") in script
    assert "#SBATCH --time=14-00:00:00" in script


STA_071_OPTIONS = {"--parameter", "--run-denovo-generation", "--run-class3D", "--class-selection",
                   "--extract3D", "--manual-masking", "--submitit", "--timeout", "--cpu-constraint",
                   "--num-gpus", "--reference-template", "--gpu-constraint"}


def sta_options() -> set[str]:
    import click

    from py2rely_core.cli import build_cli
    from py2rely_core.plugins import get_plugins

    pipelines = build_cli(get_plugins()).commands["pipelines"]
    sta = pipelines.get_command(click.Context(pipelines), "sta")  # loads the lazily added command
    return {opt for param in sta.params for opt in param.opts}


def test_tilt_series_of_one_run_with_the_total_dose(lab, tmp_path):
    """-r run001 and --total-dose 60: AreTomo3's per-image doses win over -td, as in 0.7.1."""
    cwd = lab.copy_project(tmp_path / "project")
    result = run(cwd, TS_RUN)
    assert "-td/--total-dose not used" in result.stderr
    tomograms = star(cwd / "input/24jan01_tiltSeries/aligned_tilt_series.star")["global"]
    assert tomograms["rlnAmplitudeContrast"].tolist() == [0.1, 0.1]
    tilts = star(cwd / "input/24jan01_tiltSeries/TS_01.star")["24jan01_TS_01"]
    assert np.allclose(np.sort(tilts["rlnMicrographPreExposure"]), 3.0 * np.arange(7))  # 3 e/Å² per tilt


def test_lines_that_need_0_7_1s_site_directory(lab, tmp_path):
    """Without --base-project, 0.7.1 read its home site's AreTomo directory; elsewhere it found nothing
    and exited 0 without output. Here that is one line naming the default, exit 2, nothing written."""
    cwd = lab.copy_project(tmp_path / "project")
    for line in TS_SITE:
        result = run_py2rely(*words(line, cwd), cwd=cwd)
        assert result.returncode == 2
        errors = error_lines(result)
        assert len(errors) == 1 and "/hpc/projects/group.czii" in errors[0] and "0.7.1" in errors[0]
    assert not (cwd / "input").exists()


def test_template_lines(lab, tmp_path):
    cwd = lab.copy_project(tmp_path / "project")
    for line, (box, voxel) in zip(TEMPLATES, ((64, 9.24), (64, 8.3), (84, 6.16)), strict=True):
        run(cwd, line, "--overwrite")  # all three lines write reference.mrc; 0.7.1 replaced it silently
        with mrcfile.open(cwd / "reference.mrc") as mrc:
            assert mrc.data.shape == (box, box, box)
            assert float(mrc.voxel_size.x) == pytest.approx(voxel, abs=1e-3)
    run(cwd, TEMPLATE_LOG)
    assert (cwd / "template_VLP_emd_41917_6.16A.mrc").is_file()  # 0.7.1's name for this input


def test_export_lines(lab, tmp_path):
    """The documentation's export lines (0.7.1 rejected their flag names; these are the names its
    documentation gave) and one in 0.7.1's own spelling; the picks land where the import found them
    (the same default tomogram size both ways)."""
    cwd = lab.copy_project(tmp_path / "a")
    for session in ("24jan01", "24feb15"):
        run_py2rely("prepare", "particles", "-c", "copick.json", "-s", session, "-n", "ribosome",
                    "-o", f"input/{session}.star", cwd=cwd)
    run_py2rely("prepare", "combine-particles", "-i", "input/24jan01.star", "-i", "input/24feb15.star",
                "-o", "Refine3D/job001/run_data.star", cwd=cwd)
    result = run(cwd, EXPORT_QUICK)
    assert "4096 × 4096 × 1200" in result.stderr  # no -ts: 0.7.1's default size, with a warning
    for config in ("config1.json", "config2.json"):
        for run_name in RUNS:
            points, transforms = read_picks(cwd / config, run_name, "relion", "99", object_name="ribosome")
            positions, rotations = lab.picks[("ribosome", run_name)]
            np.testing.assert_allclose(points, positions, atol=1e-3)
            np.testing.assert_allclose(transforms[:, :3, :3], rotations, atol=1e-5)

    for line, session in ((EXPORT_STA, "24mar08a"), (EXPORT_MCP, "24jan01")):
        cwd = lab.copy_project(tmp_path / session)
        run_py2rely("prepare", "particles", "-c", "copick.json", "-s", session, "-n", "virus-like-particle",
                    "-o", "Refine3D/job024/run_data.star", cwd=cwd)
        run(cwd, line)
        config = cwd / ("config.json" if session == "24mar08a" else "data/config.json")
        points, _ = read_picks(config, "TS_01", "relion", "1")
        np.testing.assert_allclose(points, lab.picks[("virus-like-particle", "TS_01")][0], atol=1e-3)

    cwd = lab.copy_project(tmp_path / "071")
    run_py2rely("prepare", "particles", "-c", "copick.json", "-s", "24jan01", "-n", "ribosome",
                "-o", "particles.star", cwd=cwd)
    run(cwd, EXPORT_071)
    points, _ = read_picks(cwd / "copick.json", "TS_02", "relion", "99", object_name="ribosome")
    np.testing.assert_allclose(points, lab.picks[("ribosome", "TS_02")][0], atol=1e-3)


def test_import_particles_and_utils(lab, tmp_path):
    cwd = lab.copy_project(tmp_path / "project")
    picks = write_pixel_picks(cwd / "picks.star", ["24jan01_TS_01", "24jan01_TS_02"])
    pixels = picks[["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].to_numpy(float)
    run(cwd, IMPORT_STAR)  # 0.7.1 always failed here (import.json under a file); its intended result:
    particles = star(cwd / "full_picks.star")["particles"]
    np.testing.assert_allclose(particles[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                                          "rlnCenteredCoordinateZAngst"]].to_numpy(float),
                               (pixels - SIZE / 2) * PIXEL_SIZE, atol=1e-4)
    np.testing.assert_allclose(particles["rlnAngleTilt"], picks["rlnAngleTilt"], atol=1e-5)
    result = run(cwd, IMPORT_STAR_071)
    assert "--x is py2rely 0.7.1's spelling of --dim-x" in result.stderr
    imported = star(cwd / "input/imported.star")
    assert imported["particles"]["rlnOpticsGroup"].unique().tolist() == [2]  # 0.7.1 wrote 1 whatever -og
    assert imported["optics"]["rlnOpticsGroup"].tolist() == [2]

    starfile.write({"optics": star(cwd / "full_picks.star")["optics"],
                    "particles": particles.assign(rlnTomoName=["s_TS_1"] * 3 + ["s_TS_12"] * 3)},
                   cwd / "particles.star")
    run(cwd, TS2POSITION)
    renamed = star(cwd / "positions.star")
    assert renamed["particles"]["rlnTomoName"].tolist() == ["s_Position"] * 3 + ["s_Position_12"] * 3
    assert renamed["optics"].equals(star(cwd / "particles.star")["optics"])

    angles = np.array([[10.0, 20.0, 30.0], [-40.0, 100.0, 170.0]])
    warp = {"rlnMicrographName": ["TS_01.tomostar", "TS_03.tomostar"], "rlnCoordinateX": [10.0, 20.0],
            "rlnCoordinateY": [30.0, 40.0], "rlnCoordinateZ": [5.0, 6.0], "rlnAngleRot": angles[:, 0],
            "rlnAngleTilt": angles[:, 1], "rlnAnglePsi": angles[:, 2]}
    starfile.write(pd.DataFrame(warp), cwd / "warp.star")
    run(cwd, WARP)
    points, transforms = read_picks(cwd / "copick.json", "TS_03_Vol", "warp", "1", object_name="ribosome")
    np.testing.assert_allclose(points, [[200.0, 400.0, 60.0]])  # voxels × 10 Å, run created
    expected = Rotation.from_euler("ZYZ", angles[1], degrees=True).inv().as_matrix()
    np.testing.assert_allclose(transforms[0, :3, :3], expected, atol=1e-6)


def test_skip_missing_takes_a_value(lab, tmp_path):
    cwd = lab.copy_project(tmp_path / "project")
    run_py2rely("prepare", "particles", "-c", "copick.json", "-s", "24jan01", "-n", "ribosome", cwd=cwd)
    run_py2rely("prepare", "tilt-series", "-b", "aretomo", "-s", "24jan01", cwd=cwd)
    for line in SKIP_MISSING:
        result = run(cwd, line)
        assert "missing.star" in result.stderr
    assert len(star(cwd / "input/picked.star")["particles"]) == 6
    assert len(star(cwd / "input/tilt_series.star")["global"]) == 2


def test_the_list_of_lines():
    """Every documented line in scope that 0.7.1 accepts is listed once, plus the documentation's
    export lines (0.7.1 rejected their flag names, which its documentation gave) and lines of 0.7.1's
    --help defaults."""
    lines = [line for _, line in DOCUMENTED]
    assert len(lines) == len(set(lines)) == 37


# -- against py2rely 0.7.1 itself ----------------------------------------------------------------

REFERENCE = reference_tool()


@pytest.mark.skipif(REFERENCE is None, reason="py2rely 0.7.1 is not installed ($PY2RELY_071)")
def test_same_files_as_0_7_1(lab, tmp_path):
    """0.7.1 and this py2rely run the same lines on two copies of the lab: the same files appear at
    the same paths with the same particles, tilt series and template boxes."""
    assert REFERENCE is not None
    ours, theirs = lab.copy_project(tmp_path / "ours"), lab.copy_project(tmp_path / "theirs")
    lines = [TS_QUICK, PARTICLES_QUICK, PARTICLES_IMPORT, PARTICLES_FLOW, TEMPLATES[2]]
    for line in lines:
        run(ours, line, *(("--overwrite",) if line is PARTICLES_FLOW else ()))  # 0.7.1 replaces silently
        result = run_reference(REFERENCE, words(line, theirs), theirs)
        assert result.returncode == 0, f"0.7.1: {line}\n{result.stderr[-2000:]}"
    for name in ("input/24jan01_ribosome.star", "input/24jan01_virus-like-particle.star"):
        mine, reference = star(ours / name), star(theirs / name)
        columns = ["rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                   "rlnCenteredCoordinateZAngst", "rlnOpticsGroup"]
        a = mine["particles"][columns].sort_values(columns[:2]).reset_index(drop=True)
        b = reference["particles"][columns].sort_values(columns[:2]).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, atol=1e-3)
        for column in mine["optics"].columns:
            assert mine["optics"][column].tolist() == reference["optics"][column].tolist(), column
    for name in ("TS_01", "TS_02"):
        mine = star(ours / f"input/24jan01_tiltSeries/{name}.star")[f"24jan01_{name}"]
        reference = star(theirs / f"input/24jan01_tiltSeries/{name}.star")[f"24jan01_{name}"]
        for column in ("rlnTomoYTilt", "rlnTomoZRot", "rlnTomoXShiftAngst", "rlnTomoYShiftAngst",
                       "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnMicrographPreExposure"):
            np.testing.assert_allclose(mine[column].to_numpy(float), reference[column].to_numpy(float),
                                       atol=1e-3, err_msg=column)
    with mrcfile.open(ours / "reference.mrc") as a, mrcfile.open(theirs / "reference.mrc") as b:
        assert a.data.shape == b.data.shape
        assert float(a.voxel_size.x) == pytest.approx(float(b.voxel_size.x), abs=1e-3)
