"""What the demo's parameter file asks RELION for, read from dry-run plans (no RELION job runs):
the bin-1 refinements search a narrower prior and one pixel (docs/demo.md, "The bin-1 demo"),
and the de novo route checks its hand against the template made from the phantom."""

from __future__ import annotations

import json

from tests.sta_fixtures import py2rely


def test_the_bin1_refinements_search_a_narrower_prior_and_one_pixel(tmp_path):
    base = tmp_path / "demo"
    run = py2rely("demo", "-o", str(base), "-bl", "4,2,1", "--dry-run", timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    params = json.loads((base / "project" / "sta_parameters.json").read_text())
    sigma = {b["binning"]: b["refine3d"]["local_angle_sigma"] for b in params["binnings"]}
    assert sigma == {4: None, 2: None, 1: 3.0}
    assert params["refine3d"]["local_angle_sigma"] == 5.0
    bin1 = next(b for b in params["binnings"] if b["binning"] == 1)
    assert bin1["refine3d"]["offset_range"] == bin1["pixel_size"] == 2.5
    plan = run.stdout
    lines = {line.split()[0]: line for line in plan.splitlines() if line.startswith("Refine3D/")}
    binnings = {job.split("/")[1]: line.rsplit("(bin ", 1)[1].rstrip(")") for job, line in lines.items()}
    searches = {job: refine_searches_from_plan(plan, job) for job in lines}
    for job, (sigma_ang, offset_range) in searches.items():
        expected = ("3", "1") if binnings[job.split("/")[1]] == "1" else ("5", "2")
        assert (sigma_ang, offset_range) == expected, (job, plan)
    assert sorted(binnings.values()) == ["1", "1", "2", "4"]


def refine_searches_from_plan(plan: str, job: str) -> tuple[str, str]:
    """(--sigma_ang, --offset_range) of the command printed under ``job`` in a plan."""
    lines = plan.splitlines()
    command = lines[next(i for i, line in enumerate(lines) if line.startswith(job)) + 1].split()
    return (command[command.index("--sigma_ang") + 1], command[command.index("--offset_range") + 1])


def test_the_denovo_route_checks_its_hand_against_the_phantom_template(tmp_path):
    base = tmp_path / "denovo"
    run = py2rely("demo", "-o", str(base), "--picks", "positions", "--particles", "4",
                  "-bl", "4", "--initial-model", "denovo", "--dry-run", timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    project = base / "project"
    params = json.loads((project / "sta_parameters.json").read_text())
    assert params["initial_model"]["denovo"]["hand_reference"] == "reference.mrc"
    assert (project / "reference.mrc").is_file()


def test_a_missing_hand_reference_is_refused_before_any_job(tmp_path):
    base = tmp_path / "denovo"
    args = ("demo", "-o", str(base), "--picks", "positions", "--particles", "4", "-bl", "4",
            "--initial-model", "denovo", "--dry-run")
    assert py2rely(*args, timeout=900).returncode == 0
    project = base / "project"
    (project / "reference.mrc").unlink()
    parameters = project / "sta_parameters.json"
    run = py2rely("pipelines", "sta", "-p", str(parameters), "--initial-model", "denovo",
                  "--dry-run", cwd=project, timeout=900)
    assert run.returncode != 0
    assert "reference.mrc" in run.stderr and "Traceback" not in run.stderr
    assert not list(project.glob("*/job0*"))
