"""The py2rely 0.7.1 options and commands added for compatibility: their checks (one line, exit
code 2, nothing written) and the details the migration test does not reach. Commands run in-process
through the real entry point (``py2rely_core.cli.main``), which is how the one-line errors are made."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
import starfile
from click.testing import CliRunner

from py2rely_core.cli import main
from py2rely_core.compat import WholeNumber, legacy_alias
from py2rely_plugins.relion5.sta.prepare_template import LogLevel
from tests.copick_fixtures import (
    OBJECT,
    make_project,
    random_picks,
    read_picks,
    write_picks,
    write_tomograms_star,
)
from tests.star_fixtures import write_particles, write_tilt_series_set


def py2rely(cwd: Path, *args: str, capsys) -> tuple[int, str, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        os.chdir(old)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(result: tuple[int, str, str], *words: str) -> None:
    code, _, err = result
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, err
    for word in words:
        assert word in errors[0], errors[0]


# -- the alias mechanism ------------------------------------------------------------------------


def alias_command() -> click.Command:
    @click.command(params=[click.Option(["-x", "--dim-x"], type=WholeNumber(1), default=None),
                           legacy_alias(["--x"], "dim_x", "--dim-x", type=WholeNumber(1))])
    def command(dim_x):
        click.echo(f"dim_x={dim_x}")

    return command


@pytest.mark.parametrize(("args", "output"), [
    (["--x", "4096.0"], "dim_x=4096"), (["--dim-x", "12"], "dim_x=12"), ([], "dim_x=None"),
    (["-x", "7", "--help"], None),
])
def test_a_legacy_spelling_feeds_our_option(args, output):
    result = CliRunner().invoke(alias_command(), args)
    assert result.exit_code == 0, result.output
    if output:
        assert result.output.strip().splitlines()[-1] == output
    else:
        assert "--x" not in result.output  # hidden from --help


@pytest.mark.parametrize("args", [["--x", "1", "--dim-x", "2"], ["--dim-x", "2", "--x", "1"],
                                  ["--x", "4096.5"], ["--x", "0"]])
def test_a_legacy_spelling_is_checked_like_ours(args):
    result = CliRunner().invoke(alias_command(), args)
    assert result.exit_code == 2


def test_log_level_names_and_numbers():
    level = LogLevel()
    converted = [level.convert(v, None, None) for v in ("debug", "INFO", "Warning", "30", 15)]
    assert converted == [10, 20, 30, 30, 15]
    with pytest.raises(click.BadParameter):
        level.convert("loud", None, None)


# -- prepare relion5-parameters -------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path):
    write_tilt_series_set(tmp_path / "input" / "tiltSeries")
    write_particles(tmp_path / "input" / "full_picks.star")
    return tmp_path


@pytest.mark.parametrize(("args", "words"), [
    (["-md", "nan"], ["--max-dose", "nan"]), (["-md", "-2"], ["--max-dose", "-1 for every tilt"]),
    (["-md", "inf"], ["--max-dose"]), (["-nc", "1"], ["--nclasses", "1"]),
    (["-nim", "0"], ["--ninit-models"]),
])
def test_relion5_parameters_refuses_bad_071_values(inputs, capsys, args, words):
    refused(py2rely(inputs, "prepare", "relion5-parameters", "-np", "3", *args, capsys=capsys), *words)
    assert not (inputs / "sta_parameters.json").exists()


# -- prepare relion5-pipeline ---------------------------------------------------------------------


@pytest.fixture
def parameters(inputs, capsys):
    code, _, err = py2rely(inputs, "prepare", "relion5-parameters", "-np", "3", capsys=capsys)
    assert code == 0, err
    path = inputs / "sta_parameters.json"
    data = json.loads(path.read_text())
    data["executors"] = {"slurm": {"cpu_partition": "short", "account": "lab",
                                   "setup_lines": ["module load x"]}}
    path.write_text(json.dumps(data))
    return inputs


def test_pipeline_script_uses_the_slurm_settings(parameters, capsys):
    code, _, err = py2rely(parameters, "prepare", "relion5-pipeline", "-rc3d", "-ndays", "2",
                           "--executor-setting", "qos=long", "--new-pipeline", "True", capsys=capsys)
    assert code == 0, err
    assert "nothing to delete" in err
    script = (parameters / "pipeline.sh").read_text()
    for line in ("#SBATCH --partition=short", "#SBATCH --account=lab", "#SBATCH --qos=long",
                 "#SBATCH --time=2-00:00:00", "#SBATCH --job-name=rln5", "    module load x",
                 f"#SBATCH --chdir={parameters.resolve()}"):
        assert line in script, line
    assert "--class-selection auto" in script and "--executor-setting qos=long" in script
    assert "#SBATCH --gres" not in script  # the driver is a CPU job
    assert os.access(parameters / "pipeline.sh", os.X_OK)
    assert subprocess.run(["bash", "-n", str(parameters / "pipeline.sh")], check=False).returncode == 0


@pytest.mark.parametrize(("args", "words"), [
    (["-cc", "4"], ["--cpu-constraint", "4,16"]), (["-cc", "4,x"], ["--cpu-constraint"]),
    (["-rt", "missing.mrc"], ["--reference-template missing.mrc", "file not found"]),
    (["-p", "nothing.json"], ["nothing.json", "file not found"]),
    (["-gc", "a100\"; rm -rf"], ["--gpu-constraint"]), (["-ng", "-1"], ["--num-gpus"]),
    (["--executor-setting", "cpu_partition=a b"], ["executors.slurm.cpu_partition"]),
    (["-o", "sta_parameters.json"], ["--output", "parameter file"]),
])
def test_pipeline_script_refuses_bad_options(parameters, capsys, args, words):
    refused(py2rely(parameters, "prepare", "relion5-pipeline", *args, capsys=capsys), *words)
    assert not (parameters / "pipeline.sh").exists()


# -- prepare import-particles ---------------------------------------------------------------------


def test_import_particles_uses_the_tomograms_sizes(tmp_path, capsys):
    tomograms = write_tomograms_star(tmp_path / "tomograms.star", ["a_TS_1"], size=(1000, 900, 301),
                                     pixel_size=2.0)
    picks = pd.DataFrame({"rlnTomoName": ["a_TS_1"], "rlnCoordinateX": [500.0], "rlnCoordinateY": [0.0],
                          "rlnCoordinateZ": [150.5], "rlnAutopickFigureOfMerit": [0.7]})
    starfile.write(picks, tmp_path / "picks.star")  # one table, no data_particles name
    code, _, err = py2rely(tmp_path, "prepare", "import-particles", "-i", "picks.star", "-ts", str(tomograms),
                           "-o", "out.star", capsys=capsys)
    assert code == 0, err
    out = starfile.read(tmp_path / "out.star", always_dict=True)
    row = out["particles"].iloc[0]
    assert (row["rlnCenteredCoordinateXAngst"], row["rlnCenteredCoordinateYAngst"],
            row["rlnCenteredCoordinateZAngst"]) == (0.0, -900.0, 0.0)
    assert row["rlnAutopickFigureOfMerit"] == 0.7 and "rlnCoordinateX" not in out["particles"]
    assert out["optics"]["rlnTomoTiltSeriesPixelSize"].tolist() == [2.0]


@pytest.mark.parametrize(("table", "extra", "words"), [
    ({"rlnTomoName": ["t"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0]}, [], ["rlnCoordinateZ"]),
    ({"rlnTomoName": ["t"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0], "rlnCoordinateZ": ["x"]}, [],
     ["rlnCoordinateZ", "finite"]),
    ({"rlnTomoName": ["t"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0], "rlnCoordinateZ": [1.0],
      "rlnOriginX": [2.0]}, [], ["rlnOriginX", "pixels"]),
    ({"rlnTomoName": ["t"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0], "rlnCoordinateZ": [1.0]},
     ["-ts", "tomograms.star"], ["'t'", "not listed"]),
    ({"rlnTomoName": ["t"], "rlnCoordinateX": [1.0], "rlnCoordinateY": [1.0], "rlnCoordinateZ": [1.0]},
     ["-o", "picks.star"], ["--output", "input"]),
])
def test_import_particles_refuses_bad_input(tmp_path, capsys, table, extra, words):
    write_tomograms_star(tmp_path / "tomograms.star", ["other"])
    starfile.write({"particles": pd.DataFrame(table)}, tmp_path / "picks.star")
    before = (tmp_path / "picks.star").read_bytes()
    result = py2rely(tmp_path, "prepare", "import-particles", "-i", "picks.star", *extra, capsys=capsys)
    refused(result, *words)
    assert not (tmp_path / "full_picks.star").exists()
    assert (tmp_path / "picks.star").read_bytes() == before


# -- prepare particles ----------------------------------------------------------------------------


@pytest.fixture
def copick_project(tmp_path):
    config = make_project(tmp_path / "project", ("TS_001",))
    picks = random_picks("TS_001", 4, seed=3)
    write_picks(config, picks, "alice", "1")
    return tmp_path, config, picks


def test_particles_relion4_coordinates_and_output_names(copick_project, capsys):
    cwd, config, picks = copick_project
    code, _, err = py2rely(cwd, "prepare", "particles", "-c", str(config), "-s", "s", "-n", OBJECT,
                           "-uid", "alice", "-sid", "1", "--relion5", "False", "-o", "picks", capsys=capsys)
    assert code == 0, err
    assert "RELION 4 style" in err
    table = starfile.read(cwd / "picks" / f"s_alice_1_{OBJECT}.star", always_dict=True)["particles"]
    assert "rlnCenteredCoordinateXAngst" not in table
    np.testing.assert_allclose(table[["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].to_numpy(float),
                               picks.positions / 1.54, atol=1e-4)
    (cwd / "notes.txt").write_text("mine")
    result = py2rely(cwd, "prepare", "particles", "-c", str(config), "-s", "s", "-n", OBJECT,
                     "-o", "notes.txt", capsys=capsys)
    refused(result, "--output notes.txt", "without the .star suffix")
    assert (cwd / "notes.txt").read_text() == "mine"


# -- export star2copick --suffix, utils -----------------------------------------------------------


def test_star2copick_suffix_names_the_runs(tmp_path, capsys):
    config = make_project(tmp_path / "project", ("TS_001_Vol",))
    particles = pd.DataFrame({"rlnTomoName": ["s_TS_001"], "rlnCenteredCoordinateXAngst": [1.0],
                              "rlnCenteredCoordinateYAngst": [2.0], "rlnCenteredCoordinateZAngst": [3.0],
                              "rlnAngleRot": [0.0], "rlnAngleTilt": [0.0], "rlnAnglePsi": [0.0],
                              "rlnOpticsGroup": [1]})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g"],
                           "rlnTomoTiltSeriesPixelSize": [2.0]})
    starfile.write({"optics": optics, "particles": particles}, tmp_path / "p.star")
    args = ["export", "star2copick", "-p", "p.star", "-c", str(config), "-s", "s", "-n", OBJECT,
            "-x", "100", "-y", "100", "-z", "50"]
    refused(py2rely(tmp_path, *args, capsys=capsys), "run 'TS_001' does not exist")
    code, _, err = py2rely(tmp_path, *args, "--suffix", "_Vol", capsys=capsys)
    assert code == 0, err
    points, _ = read_picks(config, "TS_001_Vol", "relion", "99")
    np.testing.assert_allclose(points, [[101.0, 102.0, 53.0]])


def test_ts2position_refuses_names_that_would_merge(tmp_path, capsys):
    write_particles(tmp_path / "p.star")
    blocks = starfile.read(tmp_path / "p.star", always_dict=True)
    names = ["s_TS_1", "s_Position"] + ["s_TS_2"] * (len(blocks["particles"]) - 2)
    blocks["particles"]["rlnTomoName"] = names
    starfile.write(blocks, tmp_path / "p.star")
    refused(py2rely(tmp_path, "utils", "ts2position", "-i", "p.star", "-o", "q.star", capsys=capsys),
            "s_TS_1, s_Position", "'s_Position'")
    refused(py2rely(tmp_path, "utils", "ts2position", "-i", "p.star", "-o", "p.star", capsys=capsys),
            "--output p.star", "input")
    assert not (tmp_path / "q.star").exists()


def test_warp_tm2copick_checks_first_and_replaces_only_with_overwrite(tmp_path, capsys):
    config = make_project(tmp_path / "project", ("TS_01",))
    warp = pd.DataFrame({"rlnMicrographName": ["TS_01.tomostar", "TS_02.mrc"],
                         "rlnCoordinateX": [1.0, 2.0], "rlnCoordinateY": [1.0, 2.0],
                         "rlnCoordinateZ": [1.0, 2.0], "rlnAngleRot": [0.0, 0.0],
                         "rlnAngleTilt": [0.0, 0.0], "rlnAnglePsi": [0.0, 0.0]})
    starfile.write(warp, tmp_path / "warp.star")
    args = ["utils", "warp-tm2copick", "-i", "warp.star", "-c", str(config), "-n", OBJECT,
            "--user-id", "warp", "--session-id", "1", "--voxel-size", "10", "--export-tag", ""]
    refused(py2rely(tmp_path, *args, capsys=capsys), "TS_02.mrc", ".tomostar")
    starfile.write(warp.iloc[:1], tmp_path / "warp.star")
    assert py2rely(tmp_path, *args, capsys=capsys)[0] == 0
    refused(py2rely(tmp_path, *args, capsys=capsys), "already exist", "--overwrite")
    code, out, err = py2rely(tmp_path, *args, "--overwrite", capsys=capsys)
    assert code == 0 and "1 replaced" in out, err
    assert read_picks(config, "TS_01", "warp", "1")[0].tolist() == [[10.0, 10.0, 10.0]]


def test_authors_query_goes_to_portal_projects_only(capsys):
    """-a is copick's portal_author_query, which only a CryoET Data Portal project answers. Reading a
    portal project needs the network, so this checks the decision on a stand-in of copick's portal
    root class (by name, as the code decides); the filesystem case is the migration test's."""
    from py2rely_core.log import configure, get_logger
    from py2rely_plugins.copick.import_particles import author_query

    configure()  # log to this test's captured stderr

    class CopickRootCDP:  # stands in for copick.impl.cryoet_data_portal.CopickRootCDP
        pass

    logger = get_logger("test")
    assert author_query(CopickRootCDP(), "Jonathan Schwartz", "c.json", logger) == {
        "portal_author_query": ["Jonathan Schwartz"]}
    assert author_query(object(), "Jonathan Schwartz", "c.json", logger) == {}
    assert "--authors ignored" in capsys.readouterr().err
    assert author_query(object(), None, "c.json", logger) == {}
