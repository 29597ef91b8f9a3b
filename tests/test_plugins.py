"""Plugins are found through entry points, bundled or third-party alike; broken ones are named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from py2rely_core.errors import PluginError
from tests.cli_helpers import error_lines, run_py2rely

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, check=False)


@pytest.fixture
def install_plugin(tmp_path):
    """pip-installs a plugin package from tests/fixtures/plugins, and uninstalls it afterwards."""
    installed: list[str] = []

    def install(directory: str, distribution: str) -> None:
        source = tmp_path / directory
        shutil.copytree(FIXTURES / directory, source)
        result = pip("install", "--no-deps", "--no-build-isolation", "--quiet", str(source))
        assert result.returncode == 0, result.stderr
        installed.append(distribution)

    yield install
    for distribution in installed:
        pip("uninstall", "--yes", "--quiet", distribution)


def test_bundled_plugins_are_listed_with_what_they_provide():
    result = run_py2rely("plugins")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("relion5", "executors", "initial_models", "simulate", "copick"):
        assert f"{name}  [ok]" in out
    assert "executors: local" in out
    assert "initial model strategies: reconstruct, reference, denovo" in out
    assert "relion.refine3d.tomo" in out


def test_help_shows_the_groups_and_every_command_has_short_help():
    result = run_py2rely("--help")
    assert result.returncode == 0
    for group in ("prepare", "pipelines", "export", "plugins"):
        assert f"  {group}" in result.stdout
    for command in (["prepare", "relion5-parameters"], ["pipelines", "sta"], ["plugins"],
                    ["relion", "info"], ["status"]):
        short = run_py2rely(*command, "-h")
        assert short.returncode == 0 and "Usage:" in short.stdout, (command, short.stderr)


@pytest.mark.relion
def test_third_party_plugin_is_listed_and_its_executor_and_events_work(
        install_plugin, tmp_path, relion_runtime):
    install_plugin("example_plugin", "py2rely-example-plugin")
    listing = run_py2rely("plugins")
    assert listing.returncode == 0, listing.stderr
    assert "example  [ok]  py2rely-example-plugin 0.0.1" in listing.stdout
    assert "initial model strategies: reconstruct-c1" in listing.stdout
    assert "executors: foreground" in listing.stdout

    # Use it from a fresh interpreter, as the CLI would: a real RELION job through the plugin's
    # executor, with the plugin's event hooks recording what happened.
    project = tmp_path / "project"
    project.mkdir()
    import mrcfile

    size = 32
    grid = np.indices((size,) * 3) - size // 2
    blob = np.exp(-(grid**2).sum(axis=0) / (2 * 4.0**2)).astype(np.float32)
    with mrcfile.new(project / "map.mrc") as mrc:
        mrc.set_data(blob)
        mrc.voxel_size = 5.0
    events = tmp_path / "events.jsonl"
    code = f"""
import os
from py2rely_core.interfaces import PlannedJob
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project
from py2rely_core.runner import JobRunner
from py2rely_plugins.relion5.runtime import locate
os.environ["PY2RELY_EXAMPLE_EVENTS"] = {str(events)!r}
plugins = get_plugins()
executor = plugins.get("executors", "foreground").create({{}})
runner = JobRunner(Project({str(project)!r}), executor, plugins.registry("job_types"), plugins.hook,
                   setup_lines=locate().job_setup_lines())
result = runner.run(PlannedJob("relion.maskcreate", {{"fn_in": "map.mrc", "lowpass_filter": "20",
                                "inimask_threshold": "0.3", "width_mask_edge": "2"}}, stage="mask"))
print(result.job_dir, result.status)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["MaskCreate/job001/", "Succeeded"]
    assert (project / "MaskCreate/job001/run_foreground.sh").is_file()
    assert (project / "MaskCreate/job001/mask.mrc").is_file()
    recorded = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in recorded] == ["started", "finished"]
    assert recorded[1]["status"] == "Succeeded" and recorded[1]["job_dir"] == "MaskCreate/job001/"


def test_a_plugin_that_cannot_be_imported_is_named_without_a_traceback(install_plugin):
    install_plugin("broken_plugin", "py2rely-broken-plugin")
    listing = run_py2rely("plugins")
    assert listing.returncode == 3
    assert "Traceback" not in listing.stderr + listing.stdout
    assert "broken  [BROKEN]  py2rely-broken-plugin 0.0.1" in listing.stdout
    assert any("plugin 'broken'" in line and "cannot be imported" in line
               and "py2rely_dependency_that_is_not_installed" in line
               for line in error_lines(listing))
    # The other plugins keep working: the CLI starts and warns once.
    helped = run_py2rely("prepare", "-h")
    assert helped.returncode == 0
    assert "warning: plugin 'broken'" in helped.stderr


def test_two_plugins_claiming_one_name_are_both_named(install_plugin, tmp_path):
    install_plugin("duplicate_plugin", "py2rely-duplicate-plugin")
    listing = run_py2rely("plugins")
    assert listing.returncode == 3
    assert any("'duplicate'" in line and "'executors'" in line and "executor 'local'" in line
               for line in error_lines(listing)), listing.stderr
    run = run_py2rely("pipelines", "sta", "-p", str(tmp_path / "none.json"), "--dry-run")
    assert run.returncode != 0
    assert "Traceback" not in run.stderr


def test_the_user_chooses_which_of_two_plugins_provides_a_name(install_plugin, tmp_path):
    install_plugin("duplicate_plugin", "py2rely-duplicate-plugin")
    chosen = run_py2rely("--prefer-plugin", "executors:local=duplicate", "plugins")
    assert chosen.returncode == 0, chosen.stderr
    kept_bundled = run_py2rely("--prefer-plugin", "executors:local=executors", "plugins")
    assert kept_bundled.returncode == 0, kept_bundled.stderr
    from_env = run_py2rely("plugins", env={**os.environ,
                                            "PY2RELY_PREFER_PLUGIN": "executors:local=duplicate"})
    assert from_env.returncode == 0, from_env.stderr
    wrong = run_py2rely("--prefer-plugin", "executors:local=copick", "plugins")
    assert wrong.returncode == 3
    assert any("plugin 'copick' does not provide executor 'local'" in line
               for line in error_lines(wrong)), wrong.stderr


def test_a_preferred_job_type_replaces_the_bundled_one():
    from py2rely_core.plugins import load
    from py2rely_plugins.relion5.jobtypes import ExtractSubtomos

    class OtherExtraction(ExtractSubtomos):
        description = "a lab's own extraction"

    module = type(sys)("alt_extraction")
    from py2rely_core.hookspecs import hookimpl

    module.py2rely_job_types = hookimpl(lambda: [OtherExtraction()])
    plugins = load(extra=[("alt", module)])
    with pytest.raises(PluginError, match=r"plugins 'relion5' and 'alt' both provide job type "
                                          r"'relion\.pseudosubtomo'.*--prefer-plugin"):
        plugins.registry("job_types")
    plugins.prefer({("job_types", "relion.pseudosubtomo"): "alt"})
    assert isinstance(plugins.get("job_types", "relion.pseudosubtomo"), OtherExtraction)
    assert plugins.get("job_types", "relion.refine3d.tomo").name == "relion.refine3d.tomo"
