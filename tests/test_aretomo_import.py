"""`py2rely prepare tilt-series` through the real CLI, on AreTomo files written from a simulated
dataset's ground truth (py2rely_plugins.simulate.aretomo_files): the imported RELION STAR files must
say what the simulator's own STAR files say."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile

from py2rely_plugins.simulate.aretomo_files import AreTomoLayout, write_aretomo_files
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.dataset import simulate
from tests.cli_helpers import error_lines, run_py2rely

SESSION = "24mar08a"
NAME = "TS_01"
TOMOGRAM = f"{SESSION}_{NAME}"
# Tiny: 7 tilts (±30°/10°), 256² px at 2.5 Å, tilt axis 85°, shifts of s.d. 30 Å (12 px).
DATASET = SimulationConfig(tilt_series=1, particles=6, image_size=256, tilt_range=30.0, tilt_step=10.0,
                           particle_diameter=120.0, snr=2.0, tilt_axis=85.0, shift_sigma=30.0, seed=1)
AMPLITUDE_CONTRAST = "0.1"  # the simulator's optics (RELION checks particles against tomograms)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("aretomo") / "simulated"
    simulate(DATASET, path)
    return path


def aretomo_project(root: Path, dataset: Path, layout: AreTomoLayout | None = None,
                    session: str = SESSION) -> Path:
    """``root/aretomo/<session>/`` with AreTomo files; returns the project base."""
    base = root / "aretomo"
    write_aretomo_files(dataset, base / session, layout or AreTomoLayout())
    return base


def import_tilt_series(base: Path, project: Path, *extra: str, session: str = SESSION):
    project.mkdir(parents=True, exist_ok=True)
    return run_py2rely("prepare", "tilt-series", "-b", str(base), "-s", session, "-o", "input",
                       "-ac", AMPLITUDE_CONTRAST, *extra, cwd=project)


def truth_tables(dataset: Path) -> tuple[dict, pd.DataFrame]:
    tomograms = starfile.read(dataset / "ground_truth" / "tomograms.star", always_dict=True)["global"]
    row = tomograms.iloc[0].to_dict()
    tilts = starfile.read(row["rlnTomoTiltSeriesStarFile"], always_dict=True)[NAME]
    return row, tilts


def imported_tables(project: Path, session: str = SESSION) -> tuple[dict, pd.DataFrame]:
    directory = project / "input" / f"{session}_tiltSeries"
    tomograms = starfile.read(directory / "aligned_tilt_series.star", always_dict=True)["global"]
    row = tomograms.iloc[0].to_dict()
    tilts = starfile.read(project / row["rlnTomoTiltSeriesStarFile"], always_dict=True)[row["rlnTomoName"]]
    return row, tilts


def listing(root: Path) -> dict[str, bytes | str]:
    """Every file under ``root`` with its bytes (links by their target)."""
    out: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            out[key] = "-> " + os.readlink(path)
        elif path.is_file():
            out[key] = path.read_bytes()
        else:
            out[key] = "dir"
    return out


def assert_same_geometry(imported, truth, sections: list[int] | None = None) -> None:
    """Imported per-tilt rows equal the simulator's rows for the same stack sections."""
    if sections is not None:
        truth = truth.iloc[[s - 1 for s in sections]].reset_index(drop=True)
    assert len(imported) == len(truth)
    for column, tolerance in (("rlnTomoYTilt", 0.005), ("rlnTomoZRot", 5e-5), ("rlnTomoXTilt", 0.0),
                              ("rlnTomoXShiftAngst", 0.01), ("rlnTomoYShiftAngst", 0.01),
                              ("rlnDefocusU", 0.01), ("rlnDefocusV", 0.01), ("rlnDefocusAngle", 0.01),
                              ("rlnMicrographPreExposure", 1e-6), ("rlnCtfScalefactor", 0.0)):
        difference = np.abs(imported[column].to_numpy(float) - truth[column].to_numpy(float))
        assert difference.max() <= tolerance, (column, difference.max())
    # The image each row names is the one the simulator's row names.
    for mine, theirs in zip(imported["rlnMicrographName"], truth["rlnMicrographName"], strict=True):
        assert int(mine.split("@")[0]) == int(theirs.split("@")[0])


def image(name: str, cwd: Path) -> np.ndarray:
    index, path = name.split("@", 1)
    with mrcfile.mmap(cwd / path if not os.path.isabs(path) else path, permissive=True) as mrc:
        return np.array(mrc.data[int(index) - 1])


# --- what is imported -------------------------------------------------------------------------


def test_aretomo3_import_matches_the_simulators_star_files(dataset, tmp_path):
    layout = AreTomoLayout(alpha_offset=1.5, local_patches=3)
    base = aretomo_project(tmp_path, dataset, layout)
    before = listing(base)
    result = import_tilt_series(base, tmp_path / "project")
    assert result.returncode == 0, result.stderr
    assert "1 tilt series, 7 tilt images" in result.stdout and "rlnTomoHand +1" in result.stdout
    assert "local alignment (3 patches) not used" in result.stderr
    row, tilts = imported_tables(tmp_path / "project")
    truth_row, truth = truth_tables(dataset)

    assert row["rlnTomoName"] == TOMOGRAM
    assert row["rlnTomoTiltSeriesStarFile"] == f"input/{SESSION}_tiltSeries/{NAME}.star"
    for column in ("rlnTomoSizeX", "rlnTomoSizeY", "rlnTomoSizeZ", "rlnTomoHand"):
        assert row[column] == truth_row[column], column
    assert (row["rlnTomoSizeX"], row["rlnTomoSizeZ"]) == (256, 160)
    for column in ("rlnTomoTiltSeriesPixelSize", "rlnMicrographOriginalPixelSize", "rlnVoltage",
                   "rlnSphericalAberration", "rlnAmplitudeContrast"):
        assert row[column] == pytest.approx(truth_row[column]), column
    assert row["rlnOpticsGroupName"] == "opticsGroup1"

    assert_same_geometry(tilts, truth)
    assert np.allclose(tilts["rlnTomoZRot"], 85.0)
    assert np.abs(tilts[["rlnTomoXShiftAngst", "rlnTomoYShiftAngst"]].to_numpy()).max() > 20
    # AreTomo's TILT includes its offset correction; the nominal stage tilt does not.
    assert np.allclose(tilts["rlnTomoNominalStageTiltAngle"], truth["rlnTomoYTilt"] - 1.5)
    assert np.allclose(tilts["rlnPhaseShift"], 0.0)

    # The .mrcs link is in the output and reads the same pixels as the simulator's stack.
    link = tmp_path / "project" / "input" / f"{SESSION}_tiltSeries" / f"{NAME}.mrcs"
    assert link.is_symlink() and Path(os.readlink(link)) == (base / SESSION / f"{NAME}.mrc").resolve()
    for mine, theirs in zip(tilts["rlnMicrographName"], truth["rlnMicrographName"], strict=True):
        assert np.array_equal(image(mine, tmp_path / "project"), image(theirs, tmp_path))
    assert listing(base) == before


def test_aretomo2_files_with_dark_images(dataset, tmp_path):
    """0-based sections, CTF rows only for aligned images, order from the IMOD order list."""
    layout = AreTomoLayout(flavour="aretomo2", dark_sections=(1, 6))
    base = aretomo_project(tmp_path, dataset, layout)
    assert "# DarkFrame =     0    0   -30.00" in (base / SESSION / f"{NAME}.aln").read_text()
    result = import_tilt_series(base, tmp_path / "project", "-dpt", "3")
    assert result.returncode == 0, result.stderr
    row, tilts = imported_tables(tmp_path / "project")
    _, truth = truth_tables(dataset)
    assert_same_geometry(tilts, truth, sections=[2, 3, 4, 5, 7])
    # No dfHand column: RELION's import default, with a warning that it is a convention.
    assert row["rlnTomoHand"] == -1
    assert "check rlnTomoHand" in result.stderr and "convention" in result.stderr


def test_aretomo3_dark_images_keep_their_ctf_rows(dataset, tmp_path):
    """AreTomo3 fits the CTF of every image, dark ones too: rows follow the stack, not the .aln."""
    base = aretomo_project(tmp_path, dataset, AreTomoLayout(dark_sections=(2, 7)))
    result = import_tilt_series(base, tmp_path / "project")
    assert result.returncode == 0, result.stderr
    _, tilts = imported_tables(tmp_path / "project")
    _, truth = truth_tables(dataset)
    assert_same_geometry(tilts, truth, sections=[1, 3, 4, 5, 6])


def test_order_list_csv_and_total_dose(dataset, tmp_path):
    """Without _TLT.txt the IMOD order list gives the order; -td spreads the dose over the stack."""
    base = aretomo_project(tmp_path, dataset, AreTomoLayout(alpha_offset=-2.0))
    (base / SESSION / f"{NAME}_TLT.txt").unlink()
    result = import_tilt_series(base, tmp_path / "project", "-td", "21")
    assert result.returncode == 0, result.stderr
    _, tilts = imported_tables(tmp_path / "project")
    _, truth = truth_tables(dataset)
    assert_same_geometry(tilts, truth)  # 21 e/Å² over 7 images = the simulator's 3 per tilt


def test_total_dose_is_a_fallback_with_0_7_1s_default(dataset, tmp_path):
    """As in py2rely 0.7.1, -td applies only to tilt series without per-image doses, 60 e/Å² unless
    given (with a warning); per-image doses from _TLT.txt win over an explicit -td."""
    _, truth = truth_tables(dataset)
    base = aretomo_project(tmp_path, dataset)
    result = import_tilt_series(base, tmp_path / "a", "-td", "99")
    assert result.returncode == 0, result.stderr
    assert "-td/--total-dose not used" in result.stderr
    assert_same_geometry(imported_tables(tmp_path / "a")[1], truth)  # the _TLT.txt doses, 3 per tilt

    replace_in(base / SESSION / f"{NAME}_TLT.txt", "3.00\n", "0.00\n", 7)  # AreTomo3 without mdoc doses
    result = import_tilt_series(base, tmp_path / "b")
    assert result.returncode == 0, result.stderr
    assert "60 e/Å² (py2rely 0.7.1's default -td)" in result.stderr
    order = truth["rlnMicrographPreExposure"].to_numpy(float) / 3.0  # acquisition index - 1
    imported = imported_tables(tmp_path / "b")[1]["rlnMicrographPreExposure"].to_numpy(float)
    assert np.allclose(imported, order * 60 / 7)


def test_symlinks_directory(dataset, tmp_path):
    """-sym DIR (0.7.1): the .mrcs links go to DIR and rlnMicrographName names them there."""
    base = aretomo_project(tmp_path, dataset)
    before = listing(base)
    project = tmp_path / "project"
    result = import_tilt_series(base, project, "-sym", "stacks")
    assert result.returncode == 0, result.stderr
    _, tilts = imported_tables(project)
    assert all(name.split("@", 1)[1] == f"stacks/{NAME}.mrcs" for name in tilts["rlnMicrographName"])
    link = project / "stacks" / f"{NAME}.mrcs"
    assert link.is_symlink() and link.resolve() == (base / SESSION / f"{NAME}.mrc").resolve()
    assert not (project / "input" / f"{SESSION}_tiltSeries" / f"{NAME}.mrcs").exists()
    _, truth = truth_tables(dataset)
    first = tilts["rlnMicrographName"].iloc[0]
    assert np.array_equal(image(first, project), image(truth["rlnMicrographName"].iloc[0], dataset))
    assert listing(base) == before  # nothing in the AreTomo directory
    assert import_tilt_series(base, project, "-sym", "stacks").returncode == 0  # same links again
    (project / "other").mkdir()
    (project / "other" / f"{NAME}.mrcs").write_text("not a link")
    assert_refused(import_tilt_series(base, project, "-sym", "other"), "other", "exists")
    assert_refused(import_tilt_series(base, project, "-sym", str(base / SESSION / "links")),
                   "inside the AreTomo directory")


def test_hand_pixel_size_and_sizes_from_options(dataset, tmp_path):
    base = aretomo_project(tmp_path, dataset)
    (base / SESSION / f"{NAME}_Vol.mrc").unlink()
    result = import_tilt_series(base, tmp_path / "project", "--hand", "-1", "-ps", "2.5",
                                "-x", "250", "-y", "240", "-z", "100", "-ogn", "krios1")
    assert result.returncode == 0, result.stderr
    row, _ = imported_tables(tmp_path / "project")
    assert (row["rlnTomoHand"], row["rlnTomoSizeX"], row["rlnTomoSizeY"], row["rlnTomoSizeZ"]) == \
        (-1, 250, 240, 100)
    assert row["rlnOpticsGroupName"] == "krios1"


def test_volume_saved_xyz_gives_the_same_depth(dataset, tmp_path):
    base = aretomo_project(tmp_path, dataset)
    volume = base / SESSION / f"{NAME}_Vol.mrc"
    with mrcfile.open(volume, "r+") as mrc:  # -FlipVol 1: xyz instead of xzy
        mrc.set_data(np.ascontiguousarray(np.swapaxes(mrc.data, 0, 1)))
    result = import_tilt_series(base, tmp_path / "project")
    assert result.returncode == 0, result.stderr
    assert imported_tables(tmp_path / "project")[0]["rlnTomoSizeZ"] == 160


def test_sessions_runs_and_name_patterns(dataset, tmp_path):
    base = tmp_path / "aretomo"
    for run in ("run1", "run2"):
        write_aretomo_files(dataset, base / SESSION / run)
    for path in sorted((base / SESSION / "run2").iterdir()):
        path.rename(path.with_name(path.name.replace(NAME, "TS_02")))
    project = tmp_path / "project"
    result = import_tilt_series(base, project, "-r", "run1", "-r", "run2")
    assert result.returncode == 0, result.stderr
    names = starfile.read(project / "input" / f"{SESSION}_tiltSeries" / "aligned_tilt_series.star",
                          always_dict=True)["global"]["rlnTomoName"].tolist()
    assert names == [f"{SESSION}_TS_01", f"{SESSION}_TS_02"]
    result = import_tilt_series(base, project, "-r", "run1", "-r", "run2", "--exclude", "TS_01",
                                "--overwrite")
    assert result.returncode == 0, result.stderr
    assert imported_tables(project)[0]["rlnTomoName"] == f"{SESSION}_TS_02"
    # The same name in two runs of one session would give two tomograms the same rlnTomoName.
    write_aretomo_files(dataset, base / SESSION / "run3")
    result = import_tilt_series(base, project, "-r", "run1", "-r", "run3", "--overwrite")
    assert_refused(result, "TS_01", "also in")


def test_existing_output_needs_overwrite(dataset, tmp_path):
    """The same import again (a 0.7.1 script run twice) leaves the output as it is; a different one
    needs --overwrite."""
    base = aretomo_project(tmp_path, dataset)
    project = tmp_path / "project"
    assert import_tilt_series(base, project).returncode == 0
    first = listing(project)
    again = import_tilt_series(base, project)
    assert again.returncode == 0, again.stderr
    assert "unchanged input/24mar08a_tiltSeries/aligned_tilt_series.star" in again.stdout
    assert listing(project) == first
    assert_refused(import_tilt_series(base, project, "--hand", "-1"), "exists with other contents",
                   "--overwrite")
    assert listing(project) == first
    result = import_tilt_series(base, project, "--overwrite", "--hand", "-1")
    assert result.returncode == 0, result.stderr
    assert imported_tables(project)[0]["rlnTomoHand"] == -1
    assert not [p for p in (project / "input").iterdir() if p.name.startswith(".")]


# --- refused input: one line naming file and field, exit 2, nothing written, sources unchanged ---


def assert_refused(result, *words):
    assert result.returncode == 2, (result.returncode, result.stderr)
    errors = error_lines(result)
    assert len(errors) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]


def replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, count))


def drop_line(path: Path, index: int) -> None:
    lines = path.read_text().splitlines()
    del lines[index]
    path.write_text("\n".join(lines) + "\n")


BAD_INPUTS = {
    "missing aln": (lambda d: (d / f"{NAME}.aln").unlink(), (), (f"{NAME}.aln", "file not found")),
    "missing ctf": (lambda d: (d / f"{NAME}_CTF.txt").unlink(), (), (f"{NAME}_CTF.txt", "not found")),
    "missing stack": (lambda d: (d / f"{NAME}.mrc").unlink(), (), (f"{NAME}.mrc", "file not found")),
    "ctf row missing": (lambda d: drop_line(d / f"{NAME}_CTF.txt", -1), (),
                        (f"{NAME}_CTF.txt", "6 rows", "7 (one per aligned image)")),
    "aln row missing": (lambda d: drop_line(d / f"{NAME}.aln", -1), (),
                        (f"{NAME}.aln", "6 aligned + 0 dark", "has 7")),
    "tlt line missing": (lambda d: drop_line(d / f"{NAME}_TLT.txt", 0), (),
                         (f"{NAME}_TLT.txt", "6 lines", "one per stack section (7)")),
    "tlt in the wrong order": (lambda d: replace_in(d / f"{NAME}_TLT.txt", "-30.00", "-10.00"), (),
                               (f"{NAME}_TLT.txt", "does not match TILT")),
    "raw size": (lambda d: replace_in(d / f"{NAME}.aln", "RawSize = 256 256 7", "RawSize = 512 512 7"), (),
                 (f"{NAME}.aln", "RawSize (512, 512, 7)", "(256, 256, 7)")),
    "non-numeric shift": (lambda d: replace_in(d / f"{NAME}.aln", "    -2.025", "     abcde"), (),
                          (f"{NAME}.aln:8", "column TX", "'abcde'")),
    "non-numeric defocus": (lambda d: replace_in(d / f"{NAME}_CTF.txt", "33993.15", "3399x.15"), (),
                            (f"{NAME}_CTF.txt:2", "defocus 1", "'3399x.15'")),
    "gmag": (lambda d: replace_in(d / f"{NAME}.aln", "85.0000    1.00000", "85.0000    1.05000"), (),
             (f"{NAME}.aln", "GMAG")),
    "pixel size": (lambda d: None, ("-ps", "2.0"), (f"{NAME}.mrc", "2.5 Å differs from", "2 Å")),
    "no order": (lambda d: [(d / f"{NAME}_TLT.txt").unlink(), shutil.rmtree(d / f"{NAME}_Imod")], (),
                 (NAME, "no acquisition order", "_TLT.txt")),
    "no volume": (lambda d: (d / f"{NAME}_Vol.mrc").unlink(), (), (f"{NAME}_Vol.mrc", "-z/--dim-z")),
    "two doses": (lambda d: None, ("-td", "60", "-dpt", "3"), ("-td/--total-dose", "-dpt")),
    "no session dir": (lambda d: None, ("-s", "nosuchsession"), ("nosuchsession", "not a directory")),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_nothing_is_written(dataset, tmp_path, case):
    spoil, extra, words = BAD_INPUTS[case]
    base = aretomo_project(tmp_path, dataset)
    spoil(base / SESSION)
    before = listing(base)
    project = tmp_path / "project"
    result = import_tilt_series(base, project, *extra)
    assert_refused(result, *words)
    assert listing(project) == {}  # not even a staging directory is left
    assert listing(base) == before


def test_output_inside_the_aretomo_directory_is_refused(dataset, tmp_path):
    base = aretomo_project(tmp_path, dataset)
    before = listing(base)
    result = run_py2rely("prepare", "tilt-series", "-b", str(base), "-s", SESSION, "-o",
                         str(base / SESSION / "relion"), cwd=tmp_path)
    assert_refused(result, "inside the AreTomo directory")
    assert listing(base) == before


def test_a_missing_aln_among_several_names_the_tilt_series(dataset, tmp_path):
    base = aretomo_project(tmp_path, dataset)
    write_aretomo_files(dataset, tmp_path / "other")
    for path in (tmp_path / "other").iterdir():
        path.rename(base / SESSION / path.name.replace(NAME, "TS_07"))
    (base / SESSION / "TS_07.aln").unlink()
    assert_refused(import_tilt_series(base, tmp_path / "project"), "TS_07.aln", "file not found")
    # Leaving that tilt series out is the way to import the others.
    result = import_tilt_series(base, tmp_path / "project", "--exclude", "TS_07")
    assert result.returncode == 0, result.stderr
