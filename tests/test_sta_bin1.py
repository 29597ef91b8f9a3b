"""The bin-1 stage on real RELION 5.1: refinement at bin 1 with the larger extraction box cropped
back, then a round of tomo CTF refinement and polishing that moves the defocus toward the truth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import starfile

from py2rely_core.relion_files import read_job_star
from tests.sta_fixtures import edit_parameters, py2rely, simulate, statuses

pytestmark = pytest.mark.relion

# 5 Å tilt-series pixels keep bin 1 as cheap as bin 2 of the main dataset; the STAR files carry a
# known per-tilt defocus error (s.d. 1000 Å) and shift error (s.d. 2 Å) for the rounds to fix.
# Defocus is only measurable from signal beyond the CTF's first zero (about 24 Å at 3 µm), so
# the data must refine well past that: SNR 1 gives about 13 Å here.
BIN1_SIMULATION = ("--pixel-size", "5", "--image-size", "256", "--phantom-resolution", "12",
                   "--snr", "1", "--defocus-error", "1000", "--shift-error", "2")


def defocus_by_tilt(tomograms_star: Path, project: Path) -> dict[tuple[str, int], float]:
    """rlnDefocusU per (tomogram, tilt); relative paths are relative to the project, as RELION
    resolves them."""
    table = starfile.read(tomograms_star, always_dict=True)["global"]
    values = {}
    for name, star in zip(table["rlnTomoName"], table["rlnTomoTiltSeriesStarFile"], strict=True):
        path = Path(star) if Path(star).is_absolute() else project / star
        tilts = starfile.read(path, always_dict=True)
        tilts = next(iter(tilts.values()))
        for index, value in enumerate(tilts["rlnDefocusU"].astype(float)):
            values[(str(name), index)] = value
    return values


def mean_error(values: dict, truth: dict) -> float:
    return float(np.mean([abs(values[key] - truth[key]) for key in truth]))


def test_bin1_stage_refines_defocus_toward_the_truth(tmp_path, relion_runtime):
    dataset = simulate(tmp_path / "data", *BIN1_SIMULATION)
    project = tmp_path / "project"
    parameters = project / "sta_parameters.json"
    project.mkdir()
    result = py2rely(
        "prepare", "relion5-parameters", "-p", str(dataset / "particles.star"),
        "-ts", str(dataset / "tomograms.star"), "-ps", "5", "-pd", "160", "-lp", "40", "-bs", "1.5",
        "-bl", "2,1", "-np", "3", "-nj", "1", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "Box Size: 48 @ bin=1 (extracted at 72, cropped)" in result.stdout
    edit_parameters(parameters, high_resolution={"max_rounds": 1})
    # The demo's bin-1 search (docs/demo.md): poses refined at bin 2 need a ±9° prior and one
    # pixel, not the ±15° and two pixels of picked angles (a fifth of the sampling points).
    data = json.loads(parameters.read_text())
    bin1 = next(stage for stage in data["binnings"] if stage["binning"] == 1)
    bin1["refine3d"].update(local_angle_sigma=3.0, offset_range=bin1["pixel_size"])
    parameters.write_text(json.dumps(data, indent=2))
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project, timeout=3600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(statuses(project).values()) == {"Succeeded"}

    # RELION 5.1's Extract options: boxes in Å, 48 px cropped from 72 px at 5 Å/px.
    extracts = [read_job_star(p).options for p in sorted(project.glob("Extract/job*/job.star"))]
    bin1 = [o for o in extracts if o["binned_size_pix"] == "48"]
    assert bin1 and all(o["box_size_angst"] == "240" and o["precrop_size_angst"] == "360"
                        for o in bin1)

    ctf = sorted(project.glob("CtfRefine/job*"))
    polish = sorted(project.glob("Polish/job*"))
    assert len(ctf) == 1 and len(polish) == 1
    polish_options = read_job_star(polish[0] / "job.star").options
    assert polish_options["in_tomograms"] == f"{ctf[0].relative_to(project)}/tomograms.star"
    truth = defocus_by_tilt(dataset / "ground_truth" / "tomograms.star", project)
    initial = defocus_by_tilt(dataset / "tomograms.star", project)
    refined = defocus_by_tilt(ctf[0] / "tomograms.star", project)
    keys = sorted(truth)
    correction = np.array([refined[k] - initial[k] for k in keys])
    needed = np.array([truth[k] - initial[k] for k in keys])
    agreement = float(np.corrcoef(correction, needed)[0, 1])
    # RELION 5.1's CTF refinement also moves every tilt of this simulated data by a common
    # offset (about -650 Å, even when the STAR's defocus is exact and whatever rlnTomoHand says;
    # not explained yet, see docs/pipelines-sta.md). The per-tilt corrections are what the test
    # checks: they follow the errors written into the STAR, and without the common offset the
    # refined defocus is closer to the truth than the input was.
    offset = float(correction.mean())
    before = mean_error(initial, truth)
    after = mean_error({k: refined[k] - offset for k in keys}, truth)
    print(f"mean |defocus error|: {before:.0f} Å before, {after:.0f} Å after CTF refinement "
          f"(common offset {offset:.0f} Å removed); correlation of the correction with the "
          f"needed one: {agreement:.2f}")
    assert agreement > 0.25, agreement
    assert after < before, (before, after)
    for stage in ("ctf refine (round 1)", "polish (round 1)", "refine3d (round 1)",
                  "postprocess (round 1)"):
        assert stage in run.stdout
    # The refinement after polishing reads the polished motion (as RELION's GUI passes it) and
    # carries it on in its optimisation set.
    motion = f"{polish[0].relative_to(project)}/motion.star"
    refines = [p.parent for p in sorted(project.glob("Refine3D/job*/job.star"))
               if read_job_star(p).options["in_trajectories"] == motion]
    assert len(refines) == 1
    assert f"--trajectories {motion}" in (refines[0] / "note.txt").read_text()
    optimisation_set = starfile.read(refines[0] / "run_optimisation_set.star", always_dict=True)
    assert str(next(iter(optimisation_set.values()))["rlnTomoTrajectoriesFile"]) == motion
    # The report shows the round: its resolution, the defocus correction, the polishing motion.
    report = (project / "report" / "index.html").read_text()
    mean_correction = re.search(r"<td>{}</td><td class=\"num\">\d+</td><td class=\"num\">([+-]\d+) Å".format(
        re.escape(f"{ctf[0].relative_to(project)}/")), report)
    assert mean_correction and abs(int(mean_correction.group(1)) - correction.mean()) < 1.0
    pictures = {p.name for p in (project / "report" / "img").iterdir()}
    stem = lambda job: str(job.relative_to(project)).replace("/", "-")  # noqa: E731
    assert {"rounds.svg", f"{stem(ctf[0])}-defocus.svg", f"{stem(polish[0])}-motion.svg"} <= pictures
