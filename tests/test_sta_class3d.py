"""Auto-Class3D on real RELION 5.1: with 30% decoy picks, the kept class holds real particles
(precision) and most real particles are kept (recall); manual selection stops and resumes."""

from __future__ import annotations

import json
import re

import pytest
import starfile

from tests.sta_fixtures import edit_parameters, job_dirs, prepare, py2rely, simulate, statuses

pytestmark = pytest.mark.relion

# Measured on this dataset (2 × 25 particles + 22 decoys, bin 4, 2 classes): 49 kept, precision
# 1.00, recall 0.98, no decoy kept. The bounds are what makes the selection useful.
MIN_PRECISION = 0.9
MIN_RECALL = 0.85


@pytest.fixture(scope="module")
def decoy_dataset(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("decoys") / "data", "--decoy-fraction", "0.3")


def names(path) -> set[str]:
    return set(starfile.read(path, always_dict=True)["particles"]["rlnTomoParticleName"].astype(str))


def test_resolution_selector_keeps_the_real_particles(decoy_dataset, tmp_path, relion_runtime):
    project = tmp_path / "project"
    parameters = prepare(project, decoy_dataset, "4")
    edit_parameters(parameters, class3d={"nr_classes": 2})
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--run-class3D", cwd=project)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(statuses(project).values()) == {"Succeeded"}
    selects = sorted(project.glob("Select/job*/py2rely_class_selection.json"))
    assert len(selects) == 1
    decision = json.loads(selects[0].read_text())
    assert decision["selector"] == "resolution" and len(decision["kept"]) == 1
    assert len(decision["classes"]) == 2
    assert (selects[0].parent / "py2rely_class_selection.txt").read_text().startswith("class")
    kept = names(selects[0].parent / "particles.star")
    decoys = names(decoy_dataset / "ground_truth" / "decoys.star")
    real = names(decoy_dataset / "ground_truth" / "particles.star")
    precision = len(kept & real) / len(kept)
    recall = len(kept & real) / len(real)
    print(f"kept {len(kept)}: precision {precision:.2f}, recall {recall:.2f}, "
          f"decoys kept {len(kept & decoys)} of {len(decoys)}")
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, (precision, recall)
    assert "select classes" in run.stdout and "class3d" in run.stdout
    # The report shows the decision, and how well it dropped decoys, as counted from the files.
    report = (project / "report" / "index.html").read_text()
    assert f"Selector <b>resolution</b> kept class(es) {decision['kept'][0]}:" in report
    classified = names(sorted(project.glob("Class3D/job*/run_it*_data.star"))[-1])
    rejected = classified - kept
    shown = re.search(r"dropped (\d+) picks, (\d+) of them decoys: precision ([\d.]+), recall ([\d.]+)",
                      report)
    assert shown, "no decoy rejection in the report"
    assert (int(shown.group(1)), int(shown.group(2))) == (len(rejected), len(rejected & decoys))
    assert float(shown.group(4)) == pytest.approx(len(rejected & decoys) / len(classified & decoys), abs=0.01)


def test_manual_selection_stops_then_resumes_with_the_chosen_classes(decoy_dataset, tmp_path,
                                                                     relion_runtime):
    project = tmp_path / "project"
    parameters = prepare(project, decoy_dataset, "4")
    edit_parameters(parameters, class3d={"nr_classes": 2, "nr_iter": 5})
    stop = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--run-class3D",
                   "--class-selection", "manual", cwd=project)
    assert stop.returncode == 10, stop.stderr[-3000:]
    assert "--keep-classes" in stop.stderr and "class  particles" in stop.stderr
    before = job_dirs(project)
    assert not any(d.startswith("Select/job") and d != "Select/job004/" for d in before)
    resumed = py2rely("pipelines", "sta", "-p", "sta_parameters.json", "--run-class3D",
                      "--class-selection", "manual", "--keep-classes", "1,2", cwd=project)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    started = [line for line in resumed.stderr.splitlines() if "job started" in line]
    assert not any("Class3D" in line or "Refine3D" in line for line in started)
    # Classes 1 and 2 are contiguous: one Select job keeps everything the classification had.
    decision = json.loads(next(project.glob("Select/job*/py2rely_class_selection.json")).read_text())
    assert decision["kept"] == [1, 2] and decision["selector"] == "manual"
