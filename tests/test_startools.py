"""`prepare combine-particles`, `combine-tilt-series` and `filter-unused-tilts` through the real CLI."""

import pandas as pd
import pytest
import starfile

from tests.cli_helpers import error_lines, run_py2rely, snapshot
from tests.star_fixtures import write_particles, write_tilt_series_set


def assert_refused(result, *words):
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def read(path):
    return starfile.read(path, always_dict=True)


def particles_file(path, names, pixel_size=1.54, group_name="opticsGroup1", seed=0):
    written = write_particles(path, tomo_names=names, per_tomogram=3, pixel_size=pixel_size, seed=seed)
    if group_name != "opticsGroup1":
        blocks = read(written)
        blocks["optics"]["rlnOpticsGroupName"] = group_name
        starfile.write(blocks, written)
    return written


# --- combine-particles ------------------------------------------------------------------------


def test_sessions_with_the_same_optics_share_one_group(tmp_path):
    a = particles_file(tmp_path / "a.star", ("a_TS_01", "a_TS_02"), seed=1)
    b = particles_file(tmp_path / "b.star", ("b_TS_01",), seed=2)
    before = snapshot([a, b])
    result = run_py2rely("prepare", "combine-particles", "-i", str(a), "-i", str(b),
                         "-o", "new/dir/full_picks.star", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = read(tmp_path / "new" / "dir" / "full_picks.star")
    assert out["optics"]["rlnOpticsGroup"].tolist() == [1]
    particles = out["particles"]
    assert len(particles) == 9 and set(particles["rlnOpticsGroup"]) == {1}
    assert particles["rlnTomoName"].tolist()[:6] == read(a)["particles"]["rlnTomoName"].tolist()
    pd.testing.assert_frame_equal(particles.iloc[6:].reset_index(drop=True), read(b)["particles"])
    assert snapshot([a, b]) == before


def test_different_pixel_sizes_stay_separate_groups(tmp_path):
    a = particles_file(tmp_path / "a.star", ("a_TS_01",), pixel_size=1.54)
    b = particles_file(tmp_path / "b.star", ("b_TS_01", "b_TS_02"), pixel_size=2.1)
    result = run_py2rely("prepare", "combine-particles", "-i", str(a), "-i", str(b), "-o", "out.star",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = read(tmp_path / "out.star")
    optics = out["optics"]
    assert optics["rlnOpticsGroup"].tolist() == [1, 2]
    assert optics["rlnTomoTiltSeriesPixelSize"].tolist() == [1.54, 2.1]
    assert optics["rlnOpticsGroupName"].tolist() == ["opticsGroup1", "opticsGroup1_2"]  # names unique
    groups = out["particles"].groupby("rlnTomoName")["rlnOpticsGroup"].first().to_dict()
    assert groups == {"a_TS_01": 1, "b_TS_01": 2, "b_TS_02": 2}
    assert "different tilt-series pixel sizes" in result.stderr
    assert "renamed 'opticsGroup1_2'" in result.stdout


def test_groups_within_one_file_are_renumbered(tmp_path):
    a = particles_file(tmp_path / "a.star", ("a_TS_01",), group_name="krios1")
    b = particles_file(tmp_path / "b.star", ("b_TS_01", "b_TS_02"))
    blocks = read(b)
    optics = pd.concat([blocks["optics"]] * 2, ignore_index=True)
    optics["rlnOpticsGroup"] = [3, 7]
    optics["rlnOpticsGroupName"] = ["g3", "g7"]
    blocks["optics"] = optics
    blocks["particles"]["rlnOpticsGroup"] = [3, 3, 3, 7, 7, 7]
    starfile.write(blocks, b)
    result = run_py2rely("prepare", "combine-particles", "-i", str(a), "-i", str(b), "-o", "out.star",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = read(tmp_path / "out.star")
    assert out["optics"]["rlnOpticsGroup"].tolist() == [1, 2, 3]
    assert out["optics"]["rlnOpticsGroupName"].tolist() == ["krios1", "g3", "g7"]
    assert out["particles"]["rlnOpticsGroup"].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert "3 → 2, 7 → 3" in result.stdout


def test_duplicate_tomograms_are_refused(tmp_path):
    a = particles_file(tmp_path / "a.star", ("TS_01",))
    b = particles_file(tmp_path / "b.star", ("TS_02", "TS_01"))
    result = run_py2rely("prepare", "combine-particles", "-i", str(a), "-i", str(b), "-o", "out.star",
                         cwd=tmp_path)
    assert_refused(result, "'TS_01'", "a.star", "b.star")
    assert not (tmp_path / "out.star").exists()


def test_combine_refuses_overwriting_an_input_and_mismatched_columns(tmp_path):
    a = particles_file(tmp_path / "a.star", ("a_TS_01",))
    b = particles_file(tmp_path / "b.star", ("b_TS_01",))
    before = snapshot([a, b])
    assert_refused(run_py2rely("prepare", "combine-particles", "-i", "a.star", "-i", "b.star",
                               "-o", "./sub/../a.star", cwd=tmp_path), "--output", "a.star")
    blocks = read(b)
    blocks["particles"]["rlnOriginXAngst"] = 0.0
    starfile.write(blocks, tmp_path / "c.star")
    assert_refused(run_py2rely("prepare", "combine-particles", "-i", "a.star", "-i", "c.star",
                               "-o", "out.star", cwd=tmp_path), "c.star", "rlnOriginXAngst")
    assert snapshot([a, b]) == before and not (tmp_path / "out.star").exists()


def test_missing_inputs_fail_unless_skipped(tmp_path):
    particles_file(tmp_path / "a.star", ("a_TS_01",))
    assert_refused(run_py2rely("prepare", "combine-particles", "-i", "a.star", "-i", "gone.star",
                               "-o", "out.star", cwd=tmp_path), "gone.star", "not found")
    result = run_py2rely("prepare", "combine-particles", "-i", "a.star", "-i", "gone.star", "-sm",
                         "-o", "out.star", cwd=tmp_path)
    assert result.returncode == 0 and "gone.star" in result.stderr
    assert len(read(tmp_path / "out.star")["particles"]) == 3


# --- combine-tilt-series ----------------------------------------------------------------------


def tomograms_file(directory, names, pixel_size=1.54, group_name=None):
    path = write_tilt_series_set(directory, names=names, pixel_size=pixel_size)
    if group_name is not None:
        table = read(path)["global"]
        table["rlnOpticsGroupName"] = group_name
        starfile.write({"global": table}, path)
    return path


def test_combine_tilt_series(tmp_path):
    a = tomograms_file(tmp_path / "a", ("a_TS_01", "a_TS_02"), group_name="opticsGroup1")
    b = tomograms_file(tmp_path / "b", ("b_TS_01",), pixel_size=2.0, group_name="opticsGroup1")
    c = tomograms_file(tmp_path / "c", ("c_TS_01",), group_name="opticsGroup1")
    before = snapshot([a, b, c])
    result = run_py2rely("prepare", "combine-tilt-series", "-i", str(a), "-i", str(b), "-i", str(c),
                         "-o", "input/aligned_tilt_series.star", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = read(tmp_path / "input" / "aligned_tilt_series.star")["global"]
    assert table["rlnTomoName"].tolist() == ["a_TS_01", "a_TS_02", "b_TS_01", "c_TS_01"]
    # b's optics differ (pixel size): its name is made distinct; c's are a's, so it keeps the name
    assert table["rlnOpticsGroupName"].tolist() == ["opticsGroup1", "opticsGroup1", "opticsGroup1_2",
                                                    "opticsGroup1"]
    assert table["rlnTomoTiltSeriesStarFile"].tolist()[2] == str(tmp_path / "b" / "b_TS_01.star")
    assert snapshot([a, b, c]) == before


def test_combine_tilt_series_refuses_duplicates(tmp_path):
    a = tomograms_file(tmp_path / "a", ("TS_01", "TS_02"))
    b = tomograms_file(tmp_path / "b", ("TS_02",))
    result = run_py2rely("prepare", "combine-tilt-series", "-i", str(a), "-i", str(b), "-o", "out.star",
                         cwd=tmp_path)
    assert_refused(result, "'TS_02'")
    assert not (tmp_path / "out.star").exists()


# --- filter-unused-tilts ----------------------------------------------------------------------


@pytest.fixture
def used_and_unused(tmp_path):
    tomograms = write_tilt_series_set(tmp_path / "ts", names=("TS_01", "TS_02", "TS_03", "TS_04"))
    particles = write_particles(tmp_path / "particles.star", tomo_names=("TS_01", "TS_03"))
    return tmp_path, tomograms, particles


def test_filter_writes_a_new_file_without_unused_tomograms(used_and_unused):
    cwd, tomograms, particles = used_and_unused
    before = snapshot([tomograms, particles])
    result = run_py2rely("prepare", "filter-unused-tilts", "-p", str(particles), "-t", str(tomograms),
                         "-o", "filtered/tomograms.star", cwd=cwd)
    assert result.returncode == 0, result.stderr
    kept = read(cwd / "filtered" / "tomograms.star")["global"]
    assert kept["rlnTomoName"].tolist() == ["TS_01", "TS_03"]
    original = read(tomograms)["global"]
    pd.testing.assert_frame_equal(kept, original.iloc[[0, 2]].reset_index(drop=True))
    assert "removed 2" in result.stdout and "TS_02, TS_04" in result.stdout
    assert snapshot([tomograms, particles]) == before


def test_filter_never_writes_over_its_input(used_and_unused):
    cwd, tomograms, particles = used_and_unused
    before = snapshot([tomograms, particles])
    for output in (str(tomograms), str(tomograms.parent / ".." / "ts" / tomograms.name), str(particles)):
        result = run_py2rely("prepare", "filter-unused-tilts", "-p", str(particles), "-t", str(tomograms),
                             "-o", output, cwd=cwd)
        assert_refused(result, "--output", "input file")
    assert snapshot([tomograms, particles]) == before


def test_filter_refuses_particles_of_unlisted_tomograms(used_and_unused):
    cwd, tomograms, _ = used_and_unused
    stray = write_particles(cwd / "stray.star", tomo_names=("TS_01", "TS_99"))
    result = run_py2rely("prepare", "filter-unused-tilts", "-p", str(stray), "-t", str(tomograms),
                         "-o", "out.star", cwd=cwd)
    assert_refused(result, "TS_99", "stray.star")
    assert not (cwd / "out.star").exists()
