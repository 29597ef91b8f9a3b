"""Outputs are whole before a job counts as succeeded or is reused (py2rely_core.outputs): STAR
tables with every row and the row count of their input, MRC files the size their header says."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from py2rely_core.interfaces import OutputCheck
from py2rely_core.outputs import output_problems
from py2rely_plugins.relion5.jobtypes.refine import Refine3DTomo


def particles_star(path: Path, rows: int) -> Path:
    """A particle table laid out as RELION 5 writes run_data.star (general, optics, particles)."""
    lines = ["", "# version 50001", "", "data_general", "", "_rlnTomoSubTomosAre2DStacks  1", " ", "",
             "# version 50001", "", "data_optics", "", "loop_ ", "_rlnOpticsGroup #1 ",
             "_rlnOpticsGroupName #2 ", "_rlnImagePixelSize #3 ",
             "           1 opticsGroup1    10.000000 ", " ", "", "# version 50001", "",
             "data_particles", "", "loop_ ", "_rlnTomoName #1 ", "_rlnTomoParticleName #2 ",
             "_rlnCenteredCoordinateXAngst #3 ", "_rlnAngleRot #4 "]
    lines += [f"TS_01 TS_01/{i} {i * 10.5:12.6f} {i * 3.25:12.6f} " for i in range(1, rows + 1)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, " ", ""]))
    return path


def a_map(path: Path, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.zeros((size,) * 3, dtype=np.float32))
    return path


@pytest.fixture
def refine(tmp_path) -> tuple[Path, dict[str, str], Refine3DTomo]:
    """A Refine3D job directory whose outputs are all whole: 20 particles in, 20 out."""
    job = Refine3DTomo()
    options = {**job.defaults, "in_particles": "Extract/job001/particles.star",
               "in_tomograms": "tomograms.star", "use_direct_entries": "Yes"}
    particles_star(tmp_path / "Extract/job001/particles.star", 20)
    particles_star(tmp_path / "Refine3D/job002/run_data.star", 20)
    (tmp_path / "Refine3D/job002/run_model.star").write_text(
        "\n# version 50001\n\ndata_model_general\n\n_rlnCurrentResolution    21.8\n \n")
    for name in ("run_class001.mrc", "run_half1_class001_unfil.mrc", "run_half2_class001_unfil.mrc"):
        a_map(tmp_path / "Refine3D/job002" / name)
    return tmp_path, options, job


def problems(root: Path, options: dict[str, str], job: Refine3DTomo) -> list[str]:
    job_dir = "Refine3D/job002/"
    return output_problems(root, job.required_outputs(options, job_dir),
                           [node.path for node in job.output_nodes(options, job_dir)],
                           job.output_checks(options, job_dir))


def test_whole_outputs_have_no_problem(refine):
    assert problems(*refine) == []


def test_a_run_data_star_cut_in_a_row_is_damaged(refine):
    root, options, job = refine
    data = root / "Refine3D/job002/run_data.star"
    text = data.read_text()
    data.write_text(text[: text.rindex("TS_01/15") + 12])  # the machine stopped mid-write
    assert problems(root, options, job) == [
        "Refine3D/job002/run_data.star line 43: 3 values for 4 columns of table particles "
        "(the file is cut short?)"]


def test_a_run_data_star_cut_between_rows_has_fewer_particles_than_its_input(refine):
    root, options, job = refine
    particles_star(root / "Refine3D/job002/run_data.star", 14)
    assert problems(root, options, job) == [
        "Refine3D/job002/run_data.star has 14 rows in table particles, 20 expected from "
        "Extract/job001/particles.star"]


def test_a_table_without_its_columns_or_blocks_is_named(refine):
    root, options, job = refine
    (root / "Refine3D/job002/run_model.star").write_text("data_model_general\n_rlnLogLikelihood 1\n")
    assert problems(root, options, job) == [
        "Refine3D/job002/run_model.star table model_general has no column rlnCurrentResolution"]


def test_a_map_cut_short_a_missing_map_and_a_garbage_map_are_named(refine):
    root, options, job = refine
    half1 = root / "Refine3D/job002/run_half1_class001_unfil.mrc"
    half1.write_bytes(half1.read_bytes()[:5000])
    (root / "Refine3D/job002/run_half2_class001_unfil.mrc").unlink()
    (root / "Refine3D/job002/run_class001.mrc").write_bytes(b"not a map" * 200)
    assert problems(root, options, job) == [
        "Refine3D/job002/run_half2_class001_unfil.mrc is missing",
        "Refine3D/job002/run_class001.mrc has no MRC header (no 'MAP ' stamp)",
        "Refine3D/job002/run_half1_class001_unfil.mrc is cut short: 5000 bytes, the header "
        "(16×16×16, mode 2) says 17408",
    ]


def test_empty_outputs_are_damaged_but_an_empty_log_is_not(tmp_path):
    (tmp_path / "Job/job001").mkdir(parents=True)
    for name in ("postprocess.star", "postprocess.mrc", "logfile.pdf"):
        (tmp_path / "Job/job001" / name).write_bytes(b"")
    assert output_problems(tmp_path, ["Job/job001/postprocess.star"],
                           ["Job/job001/postprocess.mrc", "Job/job001/logfile.pdf"]) == [
        "Job/job001/postprocess.star is empty", "Job/job001/postprocess.mrc is empty"]


def test_a_selection_may_keep_fewer_rows_but_never_more(tmp_path):
    particles_star(tmp_path / "in.star", 10)
    check = OutputCheck("out.star", "particles", ("rlnTomoName",), (("in.star", "particles"),), at_most=True)
    particles_star(tmp_path / "out.star", 7)
    assert output_problems(tmp_path, ["out.star"], [], [check]) == []
    particles_star(tmp_path / "out.star", 11)
    assert output_problems(tmp_path, ["out.star"], [], [check]) == [
        "out.star has 11 rows in table particles, at most 10 expected from in.star"]
