"""`py2rely report` and the report the pipeline refreshes: real pipeline runs on the simulated CI
dataset (the session's `demo_project`, bin 4), read back from the written HTML and files."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from py2rely_core.relion_files import read_pipeline
from tests.sta_fixtures import py2rely

pytestmark = pytest.mark.relion


class Page(HTMLParser):
    """The parts of index.html the tests look at: image sources, links, stage-table rows."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.rows: list[list[str]] = []
        self._in_table = self._in_row = self._in_cell = False
        self._cell: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"])
        elif tag == "a":
            self.links.append(attributes["href"])
        elif tag == "table" and attributes.get("id") == "stage-table":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._in_row, self._row = True, []
        elif self._in_row and tag == "td":
            self._in_cell, self._cell = True, []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._in_cell:
            self._in_cell = False
            self._row.append("".join(self._cell).strip())
        elif tag == "tr" and self._in_row:
            self._in_row = False
            if self._row:
                self.rows.append(self._row)

    def handle_data(self, data):
        if self._in_cell:
            self._cell.append(data)


def read_page(index: Path) -> Page:
    return Page(index.read_text(encoding="utf-8"))


def test_the_pipeline_writes_a_report_whose_table_is_the_project(demo_project):
    project = demo_project.project
    index = project / "report" / "index.html"
    assert f"Report: {index}" in demo_project.result.stdout
    page = read_page(index)
    processes = read_pipeline(project / "default_pipeline.star").processes
    assert [(row[0], row[2], row[3]) for row in page.rows] == [
        (p.name, p.type_label, p.status) for p in processes]
    refine = next(row for row in page.rows if row[0].startswith("Refine3D/"))
    assert refine[7] == "4" and refine[6] == "24"  # bin 4, box 24
    assert re.fullmatch(r"\d+\.\d Å", refine[8]), refine  # its resolution


def test_every_picture_and_link_of_the_report_is_in_the_report_directory(demo_project, tmp_path):
    output = tmp_path / "elsewhere"
    run = py2rely("report", "--project-dir", str(demo_project.project), "-o", str(output))
    assert run.returncode == 0, run.stderr
    assert re.search(r"index\.html: \d+ images, [\d.]+ MB \([\d.]+ s\)", run.stdout), run.stdout
    page = read_page(output / "index.html")
    assert page.images and all((output / src).is_file() and (output / src).stat().st_size > 0
                               for src in page.images)
    files = [link for link in page.links if not link.startswith("#")]
    assert files and all((output / link).is_file() for link in files)
    names = {Path(src).name for src in page.images}
    posts = [p.name for p in read_pipeline(demo_project.project / "default_pipeline.star").processes
             if p.type_label == "relion.postprocess"]
    for post in posts:  # every post-processed map is shown
        assert f"{post.strip('/').replace('/', '-')}-map.png" in names
    # One FSC plot for the stage (its masks were refined in turns): the last post-processing's.
    last = posts[-1].strip("/").replace("/", "-")
    fsc_plots = [n for n in names if n.startswith("PostProcess-") and n.endswith("-fsc.svg")]
    assert fsc_plots == [f"{last}-fsc.svg"]
    fsc = (output / "img" / f"{last}-fsc.svg").read_text()
    for curve in ("corrected", "unmasked", "phase-randomised"):
        assert curve in fsc
    text = (output / "index.html").read_text()
    # The simulated dataset's truth: FSC against the phantom and per-particle pose errors.
    assert "truth-fsc.svg" in names and "truth-poses.svg" in names
    truth_row = re.search(r"FSC 0\.5 vs mirrored.*?<td class=\"num\">([\d.]+) Å</td>", text, re.S)
    assert truth_row and float(truth_row.group(1)) < 30.0, "the final bin-4 map matches the truth"
    assert "timings.svg" in names and "outside RELION's programs" in text
    # A second run redraws nothing and leaves the same files.
    again = py2rely("report", "--project-dir", str(demo_project.project), "-o", str(output))
    assert again.returncode == 0 and sorted(p.name for p in (output / "img").iterdir()) == sorted(names)


def test_the_report_of_a_failed_pipeline_shows_the_failed_job_and_its_log(demo_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(demo_project.project, project, symlinks=True)
    pipeline = read_pipeline(project / "default_pipeline.star")
    post = [p.name for p in pipeline.processes if p.type_label == "relion.postprocess"][-1]
    refine = [p.name for p in pipeline.processes if p.type_label == "relion.refine3d.tomo"][-1]
    # The last post-processing must run again (it failed). The second half map is replaced by a
    # well-formed map of another box, so the refinement is still reused and RELION itself fails.
    (project / post / "RELION_JOB_EXIT_SUCCESS").unlink()
    (project / post / "RELION_JOB_EXIT_FAILURE").touch()
    half2 = project / refine / "run_half2_class001_unfil.mrc"
    with mrcfile.open(half2) as mrc:
        voxel = float(mrc.voxel_size.x)
    half2.unlink()
    with mrcfile.new(half2) as mrc:
        mrc.set_data(np.zeros((8, 8, 8), dtype=np.float32))
        mrc.voxel_size = voxel
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, timeout=600)
    assert run.returncode != 0
    failed = [p.name for p in read_pipeline(project / "default_pipeline.star").processes
              if p.status == "Failed"]
    assert len(failed) == 1 and failed[0].startswith("PostProcess/") and failed[0] != post, failed
    page = read_page(project / "report" / "index.html")
    assert next(row for row in page.rows if row[0] == post)[3].startswith("Failed")  # its marker says so
    row = next(row for row in page.rows if row[0] == failed[-1])
    assert row[3].startswith("Failed") and "last lines of run.err" in row[3]
    run_err = (project / failed[-1] / "run.err").read_text()
    last = [line for line in run_err.splitlines() if line.strip()][-1]
    assert last.strip() in row[3] and "not of the same size" in row[3]
    assert any(link.endswith("-run.err.txt") for link in page.links)
