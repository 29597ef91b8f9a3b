"""`prepare particles` and `export star2copick` refusing bad input: one line, non-zero exit, nothing
written, inputs untouched."""

import shutil

import numpy as np
import pytest
import starfile

from tests.cli_helpers import error_lines, run_py2rely, snapshot
from tests.copick_fixtures import (
    OBJECT,
    files_under,
    make_project,
    random_picks,
    read_picks,
    write_config,
    write_picks,
    write_tomograms_star,
)

SESSION = "24mar08a"
RUNS = ("TS_001", "TS_002")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Project, tomograms STAR and imported particles, made once; each test gets a copy."""
    directory = tmp_path_factory.mktemp("template")
    config = make_project(directory / "project", RUNS)
    for i, run in enumerate(RUNS):
        write_picks(config, random_picks(run, 5, seed=i), "alice", "1")
    tomograms = write_tomograms_star(directory / "tomograms.star", [f"{SESSION}_{r}" for r in RUNS])
    result = run_py2rely("prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT,
                         "-ts", str(tomograms), "-o", "input/full_picks.star", cwd=directory)
    assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture
def setup(template, tmp_path):
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    config = write_config(tmp_path / "project" / "copick.json", tmp_path / "project" / "overlay")
    return tmp_path, config, tmp_path / "tomograms.star", tmp_path / "input" / "full_picks.star"


def export(cwd, particles, config, tomograms, *extra):
    return run_py2rely("export", "star2copick", "-p", str(particles), "-c", str(config), "-s", SESSION,
                       "-n", OBJECT, "-ts", str(tomograms), *extra, cwd=cwd)


def assert_refused(result, *words):
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def edited_particles(cwd, particles, name, edit):
    blocks = starfile.read(particles, always_dict=True)
    blocks["particles"] = edit(blocks["particles"])
    path = cwd / name
    starfile.write(blocks, path)
    return path


def test_particles_of_a_missing_run_are_refused_then_skipped_on_request(setup):
    cwd, config, tomograms, particles = setup
    extra = edited_particles(cwd, particles, "extra.star", lambda t: t.assign(
        rlnTomoName=np.where(np.arange(len(t)) < 3, f"{SESSION}_TS_009", t["rlnTomoName"])))
    write_tomograms_star(tomograms, [f"{SESSION}_{r}" for r in (*RUNS, "TS_009")])
    project_before = files_under(cwd / "project")
    inputs_before = snapshot([extra, tomograms])

    assert_refused(export(cwd, extra, config, tomograms), "3 of 10 particles", "TS_009", "--skip-missing")
    assert files_under(cwd / "project") == project_before

    result = export(cwd, extra, config, tomograms, "--skip-missing")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "3 particles in 1 tomogram(s) not exported" in warning[0]
    assert f"{SESSION}_TS_009" in warning[0] and "does not exist" in warning[0]
    assert "3 particles skipped" in result.stdout
    points, _ = read_picks(config, "TS_001", "relion", "99")
    assert len(points) == 2  # the other two of TS_001's five went to TS_009's slot
    assert snapshot([extra, tomograms]) == inputs_before


def test_tomograms_of_other_sessions_are_refused(setup):
    cwd, config, tomograms, particles = setup
    other = edited_particles(cwd, particles, "other.star", lambda t: t.assign(
        rlnTomoName=t["rlnTomoName"].str.replace(SESSION, "23dec21", regex=False)))
    before = files_under(cwd / "project")
    assert_refused(export(cwd, other, config, tomograms), "no particle can be exported", "23dec21_TS_001")
    assert files_under(cwd / "project") == before


def test_existing_picks_need_overwrite_and_nothing_is_written(setup):
    cwd, config, tomograms, particles = setup
    write_picks(config, random_picks("TS_002", 2, seed=9), "relion", "99")
    before = files_under(cwd / "project")
    result = export(cwd, particles, config, tomograms)
    assert_refused(result, "relion_99_virus-like-particle.json", "already exist", "--overwrite")
    assert files_under(cwd / "project") == before  # TS_001, which had no such picks, untouched too


def test_picks_of_other_users_and_sessions_are_no_obstacle(setup):
    cwd, config, tomograms, particles = setup
    write_picks(config, random_picks("TS_001", 2, seed=9), "relion", "98")
    write_picks(config, random_picks("TS_001", 2, seed=9), "someone", "99")
    assert export(cwd, particles, config, tomograms).returncode == 0


@pytest.mark.parametrize("command", ["prepare", "export"])
def test_bad_config_path(setup, command):
    cwd, _, tomograms, particles = setup
    before = files_under(cwd)
    if command == "prepare":
        result = run_py2rely("prepare", "particles", "-c", "missing.json", "-s", SESSION, "-n", OBJECT,
                             "-ts", str(tomograms), "-o", "new.star", cwd=cwd)
    else:
        result = export(cwd, particles, cwd / "missing.json", tomograms)
    assert_refused(result, "missing.json", "not found")
    assert files_under(cwd) == before


def test_config_that_is_not_a_copick_config(setup):
    cwd, _, tomograms, particles = setup
    (cwd / "broken.json").write_text('{"pickable_objects": "nope"}')
    assert_refused(export(cwd, particles, cwd / "broken.json", tomograms), "broken.json", "copick config")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.drop(columns=["rlnAngleTilt"]), ["rlnAngleTilt"]),
        (lambda t: t.drop(columns=["rlnCenteredCoordinateZAngst"]), ["rlnCenteredCoordinateZAngst"]),
        (lambda t: t.assign(rlnOriginXAngst=1.0, rlnOriginYAngst=2.0), ["rlnOriginZAngst", "all or none"]),
        (lambda t: t.drop(columns=["rlnTomoName"]), ["rlnTomoName"]),
    ],
)
def test_missing_columns(setup, edit, words):
    cwd, config, tomograms, particles = setup
    bad = edited_particles(cwd, particles, "bad.star", edit)
    before = files_under(cwd / "project")
    assert_refused(export(cwd, bad, config, tomograms), "bad.star", *words)
    assert files_under(cwd / "project") == before


def test_tomogram_missing_from_the_tomograms_star(setup):
    cwd, config, _, particles = setup
    partial = write_tomograms_star(cwd / "partial.star", [f"{SESSION}_TS_001"])
    assert_refused(export(cwd, particles, config, partial), "partial.star", f"{SESSION}_TS_002")
    result = run_py2rely("prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT,
                         "-ts", str(partial), "-o", "new.star", cwd=cwd)
    assert_refused(result, "partial.star", f"{SESSION}_TS_002")
    assert not (cwd / "new.star").exists()


def test_pixel_size_of_tomograms_and_optics_must_agree(setup):
    cwd, config, _, particles = setup
    other = write_tomograms_star(cwd / "other.star", [f"{SESSION}_{r}" for r in RUNS], pixel_size=2.0)
    assert_refused(export(cwd, particles, config, other), "rlnTomoTiltSeriesPixelSize", "2")


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["-x", "4096"], ["-x/-y/-z", "--tilt-series"]),
        (["-uid", "re_lion"], ["--export-user-id", "re_lion"]),
        (["-c", "a.json,b.json"], ["2 config files for 1 sessions"]),
    ],
)
def test_bad_export_options(setup, extra, words):
    cwd, config, tomograms, particles = setup
    assert_refused(export(cwd, particles, config, tomograms, *extra), *words)


def test_export_without_sizes_uses_0_7_1s_default_size_with_a_warning(setup):
    cwd, config, _, particles = setup
    result = run_py2rely("export", "star2copick", "-p", str(particles), "-c", str(config), "-s", SESSION,
                         "-n", OBJECT, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "4096 × 4096 × 1200" in result.stderr and "-ts" in result.stderr
    blocks = starfile.read(particles, always_dict=True)
    first = blocks["particles"][blocks["particles"]["rlnTomoName"] == f"{SESSION}_TS_001"]
    points, _ = read_picks(config, "TS_001", "relion", "99")
    centred = first[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                     "rlnCenteredCoordinateZAngst"]].to_numpy(float)
    np.testing.assert_allclose(points, centred + np.array([4096, 4096, 1200]) / 2 * 1.54, atol=1e-3)


def test_object_must_exist_in_the_project(setup):
    cwd, config, tomograms, particles = setup
    result = run_py2rely("export", "star2copick", "-p", str(particles), "-c", str(config), "-s", SESSION,
                         "--name", "apoferritin", "-ts", str(tomograms), cwd=cwd)
    assert_refused(result, "apoferritin", "ribosome", OBJECT)


def test_two_sessions_sharing_a_project_may_not_write_the_same_run(setup):
    cwd, config, tomograms, particles = setup
    twice = edited_particles(cwd, particles, "twice.star", lambda t: t.assign(
        rlnTomoName=np.where(np.arange(len(t)) % 2 == 0, "other_TS_001", t["rlnTomoName"])))
    write_tomograms_star(tomograms, [f"{SESSION}_{r}" for r in RUNS] + ["other_TS_001"])
    result = run_py2rely("export", "star2copick", "-p", str(twice), "-c", str(config),
                         "-s", f"{SESSION},other", "-n", OBJECT, "-ts", str(tomograms), cwd=cwd)
    assert_refused(result, "both map to run 'TS_001'")


def test_import_refuses_unknown_runs_and_bad_ids(setup):
    cwd, config, tomograms, _ = setup
    base = ["prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT, "-ts", str(tomograms),
            "-o", "new.star"]
    assert_refused(run_py2rely(*base, "-rids", "TS_001,TS_404", cwd=cwd), "TS_404", "no such run")
    assert_refused(run_py2rely(*base, "-sid", "a b", cwd=cwd), "--session-id")
    assert_refused(run_py2rely(*base, "-uid", "nobody", cwd=cwd), "no picks", "nobody")
    assert_refused(run_py2rely(*base, "-ps", "1.6", cwd=cwd), "--pixel-size", "1.54")
    assert_refused(run_py2rely(*base, "-o", str(tomograms), cwd=cwd), "--output", "input file")
    assert not (cwd / "new.star").exists()


def test_import_refuses_a_transform_that_is_not_a_rotation(tmp_path):
    config = make_project(tmp_path / "project", ("TS_001",))
    picks = random_picks("TS_001", 3, seed=1)
    picks.rotations[1] = np.diag([1.0, 1.0, -1.0])  # a mirror
    write_picks(config, picks, "alice", "1")
    result = run_py2rely("prepare", "particles", "-c", str(config), "-s", SESSION, "-n", OBJECT,
                         cwd=tmp_path)
    assert_refused(result, "point 2", "not a rotation", "TS_001")
    assert not (tmp_path / "input").exists()


def test_several_sessions_with_one_config_each(tmp_path):
    configs = []
    for name in ("a", "b"):
        configs.append(make_project(tmp_path / name, ("TS_001",)))
        write_picks(configs[-1], random_picks("TS_001", 4, seed=len(configs)), "alice", "1")
    # session "a_b" shares a prefix with "a": the longer one must win for "a_b_TS_001"
    write_config(tmp_path / "a_b" / "copick.json", tmp_path / "a_b" / "overlay")
    star_paths = []
    for session, config in (("a", configs[0]), ("b", configs[1])):
        tomograms = write_tomograms_star(tmp_path / f"{session}.tomograms.star", [f"{session}_TS_001"])
        result = run_py2rely("prepare", "particles", "-c", str(config), "-s", session, "-n", OBJECT,
                             "-ts", str(tomograms), "-o", f"{session}.star", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        star_paths.append(tmp_path / f"{session}.star")
    combined = run_py2rely("prepare", "combine-particles", "-i", "a.star", "-i", "b.star", "-o", "all.star",
                           cwd=tmp_path)
    assert combined.returncode == 0, combined.stderr
    write_tomograms_star(tmp_path / "all.tomograms.star", ["a_TS_001", "b_TS_001"])
    result = run_py2rely("export", "star2copick", "-p", "all.star", "-c", f"{configs[0]},{configs[1]}",
                         "-s", "a,b", "-n", OBJECT, "-ts", "all.tomograms.star", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "session a (" in result.stdout and "session b (" in result.stdout
    for config in configs:
        assert len(read_picks(config, "TS_001", "relion", "99")[0]) == 4
