"""Every plugin example of docs/writing-plugins.md is loaded as a plugin and run."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

from py2rely_core.interfaces import PlannedJob
from py2rely_core.plugins import load
from py2rely_core.project import Project
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.sta.contract import ClassSummary
from tests.sta_fixtures import prepare, simulate

DOC = Path(__file__).resolve().parent.parent / "docs" / "writing-plugins.md"
EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", re.S)


def examples() -> dict[str, str]:
    return dict(EXAMPLE.findall(DOC.read_text(encoding="utf-8")))


def as_plugin(name: str) -> types.ModuleType:
    module = types.ModuleType(f"doc_example_{name.replace('-', '_')}")
    exec(compile(examples()[name], f"{DOC}:{name}", "exec"), module.__dict__)
    return module


def test_every_example_is_tested():
    assert set(examples()) == {"strategy", "selector", "job-type", "executor", "events", "importer",
                               "own-hooks"}


def test_the_selector_example_keeps_the_two_sharpest_classes():
    plugins = load(extra=[("doc", as_plugin("selector"))])
    selector = plugins.get("class_selectors", "sharpest-two")
    classes = [ClassSummary(n, 10, 0.25, res, 3.0, 2.0, f"c{n}.mrc")
               for n, res in ((1, 18.0), (2, 30.0), (3, 12.5), (4, 25.0))]
    selection = selector.select(classes, {"min_class_share": 0.05, "keep_classes": ()})
    assert selection.kept == (1, 3)


def test_the_job_type_executor_and_event_examples_run_a_tracked_job(tmp_path):
    events = as_plugin("events")
    plugins = load(extra=[("jobtype", as_plugin("job-type")), ("executor", as_plugin("executor")),
                          ("events", events)])
    project = Project(tmp_path / "project")
    project.root.mkdir()
    (project.root / "map.mrc").write_bytes(b"not really a map")
    runner = JobRunner(project, plugins.get("executors", "foreground").create({}),
                       plugins.registry("job_types"), plugins.hook, echo=lambda line: None)
    result = runner.run(PlannedJob("mylab.checksum", {"fn_in": "map.mrc"}, stage="checksum"))
    assert result.succeeded, result.message
    text = (project.root / result.job_dir / "sha256.txt").read_text()
    import hashlib

    assert text.split()[0] == hashlib.sha256(b"not really a map").hexdigest()
    assert (project.root / result.job_dir / "RELION_JOB_EXIT_SUCCESS").exists()
    assert events.EVENTS == [("started", "Checksum/job001/", "mylab.checksum"),
                             ("finished", "Checksum/job001/", "Succeeded")]
    again = runner.run(PlannedJob("mylab.checksum", {"fn_in": "map.mrc"}, stage="checksum"))
    assert again.reused and again.job_dir == result.job_dir


def test_the_importer_example_becomes_a_prepare_command(tmp_path):
    import click
    from click.testing import CliRunner

    plugins = load(extra=[("importer", as_plugin("importer"))])
    importer = plugins.get("importers", "count-picks")
    command = click.Command("count-picks", params=list(importer.params),
                            callback=lambda **options: importer.run(**options))
    star = tmp_path / "particles.star"
    star.write_text("data_particles\n\nloop_\n_rlnTomoName #1\nTS_01\nTS_01\nTS_02\n")
    result = CliRunner().invoke(command, ["-i", str(star)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "3 particles"


def test_the_own_hooks_example_declares_a_kind_that_is_listed():
    plugins = load(extra=[("denoise", as_plugin("own-hooks"))])
    assert list(plugins.registry("denoisers")) == ["median"]
    assert any(kind.key == "denoisers" for kind in plugins.kinds)
    assert plugins.problems() == []


@pytest.mark.slow
def test_the_strategy_example_plans_a_c1_reconstruction(tmp_path):
    from py2rely_plugins.relion5.sta.cli import StaRequest, run_sta

    dataset = simulate(tmp_path / "data", "--particles", "6", "--tilt-series", "1")
    parameters = prepare(tmp_path / "project", dataset, "4", "-s", "C2")  # the example imposes C1
    plugins = load(extra=[("strategy", as_plugin("strategy"))])
    lines: list[str] = []
    import click

    original = click.echo
    click.echo = lambda message="", **kw: lines.append(str(message))  # type: ignore[assignment]
    try:
        outcome = run_sta(StaRequest(parameter=str(parameters), project_dir=str(tmp_path / "project"),
                                     initial_model="reconstruct-c1", dry_run=True), plugins=plugins)
    finally:
        click.echo = original  # type: ignore[assignment]
    plan = "\n".join(lines)
    assert "Reconstruct/job002/  reconstruct (bin 4)" in plan, plan
    reconstruct = next(line for line in lines if "relion_tomo_reconstruct_particle" in line)
    assert "--sym C1 " in reconstruct
    refine = next(line for line in lines if "relion_refine" in line)
    assert "--sym C2 " in refine
    assert outcome.rows[1].stage == "initial model (reconstruct-c1)"
