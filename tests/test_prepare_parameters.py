"""`py2rely prepare relion5-parameters` end to end, through the real CLI."""

import json

import pandas as pd
import pytest
import starfile

from tests.cli_helpers import error_lines, run_py2rely, snapshot
from tests.star_fixtures import write_particles, write_tilt_series_set


@pytest.fixture
def inputs(tmp_path):
    tilt_series = write_tilt_series_set(tmp_path / "input" / "tiltSeries")
    particles = write_particles(tmp_path / "input" / "full_picks.star")
    return tmp_path, tilt_series, particles


def prepare(cwd, *extra):
    return run_py2rely("prepare", "relion5-parameters", *extra, cwd=cwd)


def test_guide_example_prints_box_sizes_and_writes_json(inputs):
    cwd, tilt_series, particles = inputs
    before = snapshot([tilt_series, particles])
    result = prepare(cwd, "-p", str(particles), "-ts", str(tilt_series), "-ps", "1.54", "-lp", "50",
                     "-pd", "290", "-bs", "1.75", "-s", "C1", "-bl", "4,2,1")
    assert result.returncode == 0, result.stderr
    assert "[Initialize] Box Size: 84 @ bin=4" in result.stdout
    assert "[Initialize] Box Size: 168 @ bin=2" in result.stdout
    assert "[Initialize] Box Size: 352 @ bin=1" in result.stdout
    data = json.loads((cwd / "sta_parameters.json").read_text())
    assert [s["box"] for s in data["binnings"]] == [84, 168, 352]
    assert data["inputs"]["particles"] == str(particles)
    assert snapshot([tilt_series, particles]) == before  # inputs untouched


def test_defaults_follow_the_guide(inputs):
    cwd, _, _ = inputs
    result = prepare(cwd, "-np", "5")  # default paths input/tiltSeries/... and input/full_picks.star
    assert result.returncode == 0, result.stderr
    data = json.loads((cwd / "sta_parameters.json").read_text())
    assert data["box_scaling"] == 2.0 and data["binning_list"] == [4, 2, 1]
    assert data["particle"] == {"diameter": 290.0, "symmetry": "C1", "low_pass": 50.0}
    assert data["compute"]["threads"] == 8 and data["compute"]["refine_mpi_ranks"] == 5
    assert data["initial_model"]["strategy"] == "reconstruct"


def test_denovo_flag_with_or_without_value(inputs):
    cwd, _, _ = inputs
    for flag in (["-dg"], ["-dg", "True"], ["--denovo-generation", "true"]):
        result = prepare(cwd, "-o", "d.json", "--overwrite", *flag)
        assert result.returncode == 0, result.stderr
        assert json.loads((cwd / "d.json").read_text())["initial_model"]["strategy"] == "denovo"


def assert_refused(result, cwd, *words):
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert not (cwd / "sta_parameters.json").exists()


def test_missing_particles_file(inputs):
    cwd, _, _ = inputs
    assert_refused(prepare(cwd, "-p", "nope.star"), cwd, "nope.star", "file not found")


def test_missing_column(inputs):
    cwd, _, particles = inputs
    blocks = starfile.read(particles, always_dict=True)
    blocks["particles"] = blocks["particles"].drop(columns=["rlnCenteredCoordinateZAngst"])
    starfile.write(blocks, cwd / "bad.star")
    assert_refused(prepare(cwd, "-p", "bad.star"), cwd, "bad.star", "rlnCenteredCoordinateZAngst")


def test_non_numeric_value(inputs):
    cwd, _, particles = inputs
    blocks = starfile.read(particles, always_dict=True)
    frame = blocks["particles"].astype({"rlnAngleTilt": object})
    frame.loc[2, "rlnAngleTilt"] = "abc"
    blocks["particles"] = frame
    starfile.write(blocks, cwd / "bad.star")
    assert_refused(prepare(cwd, "-p", "bad.star"), cwd, "row 3", "rlnAngleTilt", "finite")


def test_particle_of_unlisted_tomogram(inputs):
    cwd, _, _ = inputs
    write_particles(cwd / "other.star", tomo_names=("TS_01", "TS_99"))
    assert_refused(prepare(cwd, "-p", "other.star"), cwd, "TS_99", "not listed")


def test_pixel_size_mismatch(inputs):
    cwd, _, _ = inputs
    assert_refused(prepare(cwd, "-ps", "1.6"), cwd, "--tilt-series-pixel-size", "1.54")


@pytest.mark.parametrize(
    ("option", "value", "word"),
    [("-ps", "-1.5", "--tilt-series-pixel-size"), ("-s", "C2v", "symmetry"),
     ("-bl", "1,2,4", "descending"), ("-pd", "0", "--protein-diameter"), ("-np", "0", "--nprocesses")],
)
def test_bad_options(inputs, option, value, word):
    cwd, _, _ = inputs
    assert_refused(prepare(cwd, option, value), cwd, word)


def test_missing_tilt_series_star_of_one_tomogram(inputs):
    cwd, tilt_series, _ = inputs
    (tilt_series.parent / "TS_02.star").unlink()
    assert_refused(prepare(cwd), cwd, "TS_02", "does not exist")


def test_inconsistent_pixel_sizes_between_tilt_series(inputs):
    cwd, tilt_series, _ = inputs
    table = starfile.read(tilt_series)
    table.loc[1, "rlnTomoTiltSeriesPixelSize"] = 2.0
    starfile.write({"global": pd.DataFrame(table)}, tilt_series, overwrite=True)
    assert_refused(prepare(cwd), cwd, "differs between tilt series")


def test_output_may_not_overwrite_an_input(inputs):
    cwd, _, particles = inputs
    before = particles.read_bytes()
    result = prepare(cwd, "-o", str(particles))
    assert result.returncode != 0 and "would overwrite" in result.stderr
    assert particles.read_bytes() == before
