"""Shared fixtures. Tests marked `relion` run the real RELION 5 programs: RELION on PATH, or the
embedded runtime (`py2rely relion install`, which scripts/test.sh runs first)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def relion_runtime():
    """The RELION runtime the tests use; installs the embedded one if none is found."""
    from py2rely_plugins.relion5 import runtime as rt

    found = rt.locate()
    if found is None:
        found, _ = rt.install()
    return found


@pytest.fixture(scope="session")
def relion_env(relion_runtime) -> dict[str, str]:
    """Environment for subprocesses that call RELION programs by name."""
    env = dict(os.environ)
    env.setdefault("HOME", os.path.expanduser("~"))
    if relion_runtime.bin_dir is not None:
        env["PATH"] = f"{relion_runtime.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory):
    """The CI dataset (tests/sta_fixtures.py), simulated once per test session."""
    from tests.sta_fixtures import simulate

    return simulate(tmp_path_factory.mktemp("simulated") / "data")


@pytest.fixture(scope="session")
def demo_project(sim_dataset, tmp_path_factory, relion_runtime):
    """The CI dataset through the real STA pipeline at bin 4 only (extraction, reconstruction,
    one refinement, duplicate removal, mask, post-processing), once per session; its report is
    the one the pipeline wrote. About 45 s on 2 idle cores."""
    import time

    from tests.sta_fixtures import DemoRun, edit_parameters, prepare, py2rely

    project = tmp_path_factory.mktemp("demo") / "project"
    parameters = prepare(project, sim_dataset, "4")
    edit_parameters(parameters, refine3d={"other_args": "--random_seed 1"})
    started = time.monotonic()
    run = py2rely("pipelines", "sta", "-p", "sta_parameters.json", cwd=project)
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    print(f"\ndemo project (bin 4 pipeline) ran in {seconds:.1f} s")
    return DemoRun(project, run, seconds)
