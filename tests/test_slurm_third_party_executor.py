"""The example scheduler plugin in examples/py2rely-shell-executor, installed as a lab would
install it (pip, entry point in group "py2rely"), runs a real RELION stage through py2rely.

It lives beside the SLURM tests because it exercises the same executor contract from outside
the package; it needs RELION but no SLURM cluster.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import run_py2rely
from tests.runner_helpers import MASK_OPTIONS, write_map

pytestmark = pytest.mark.relion

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "py2rely-shell-executor"
DISTRIBUTION = "py2rely-shell-executor"


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture
def installed_example(tmp_path) -> Iterator[None]:
    # From a copy, so that building it leaves nothing (build/, *.egg-info) in examples/.
    source = tmp_path / "py2rely-shell-executor"
    shutil.copytree(EXAMPLE, source)
    result = pip("install", "--no-deps", "--no-build-isolation", "--quiet", str(source))
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        pip("uninstall", "--yes", "--quiet", DISTRIBUTION)


def run_stage(project: Path, settings: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """Mask + post-processing through the `shell` executor, in a fresh interpreter (as the CLI
    would run it, so the plugin is found through its entry point and nothing else)."""
    code = textwrap.dedent(f"""
        import sys
        from py2rely_core.errors import Py2relyError
        from py2rely_core.interfaces import PlannedJob
        from py2rely_core.plugins import get_plugins
        from py2rely_core.project import Project
        from py2rely_core.runner import JobRunner
        from py2rely_plugins.relion5.runtime import locate
        plugins = get_plugins()
        try:
            executor = plugins.get("executors", "shell").create({settings!r})
            runner = JobRunner(Project({str(project)!r}), executor, plugins.registry("job_types"),
                               plugins.hook, setup_lines=locate().job_setup_lines())
            for planned in [PlannedJob("relion.maskcreate", {MASK_OPTIONS!r}, stage="mask"),
                            PlannedJob("relion.postprocess", {{"fn_in": "half1.mrc",
                                       "fn_mask": "MaskCreate/job001/mask.mrc", "do_auto_bfac": "No"}},
                                       stage="post")]:
                result = runner.run(planned)
                print(result.job_dir, result.status, flush=True)
        except Py2relyError as exc:
            print("error:", exc, file=sys.stderr)
            sys.exit(exc.exit_code)
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          check=False)


def test_the_example_scheduler_plugin_runs_a_stage(installed_example, tmp_path, relion_runtime):
    listing = run_py2rely("plugins")
    assert listing.returncode == 0, listing.stderr
    assert f"shell_executor  [ok]  {DISTRIBUTION} 0.1.0" in listing.stdout
    assert "executors: shell" in listing.stdout

    project = tmp_path / "project"
    write_map(project / "map.mrc")
    write_map(project / "half1.mrc", noise=0.05, seed=1)
    write_map(project / "half2.mrc", noise=0.05, seed=2)
    run = run_stage(project, {"niceness": 5, "poll_interval": 0.2})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["MaskCreate/job001/", "Succeeded", "PostProcess/job002/", "Succeeded"]
    assert "relion_mask_create --i map.mrc" in (project / "MaskCreate/job001/run_shell.sh").read_text()
    assert (project / "MaskCreate/job001/shell_job.json").is_file()
    assert "FINAL RESOLUTION" in (project / "PostProcess/job002/run.out").read_text()

    # Its settings are validated like the bundled executors': one line naming the key.
    bad = run_stage(tmp_path / "other", {"niceness": 40})
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("error: executors.shell.niceness: is 40 "
                                  "(expected an integer from 0 to 19)")
