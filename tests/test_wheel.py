"""A wheel that works: the sdist and the wheel built from it, installed into a new virtual
environment outside the checkout, run `py2rely --version`, `py2rely plugins` and
`py2rely demo --dry-run` from there.

The venv uses the system site-packages for the dependencies (numpy, pandas, copick, ... already
installed for the tests): a venv without them installs about 780 MB from the package index, which
took 8 min 11 s here (load 23 on 2 cores), too slow for every CI run. So that the checkout cannot
stand in for the wheel, everything runs from an empty directory without PYTHONPATH, and the test
checks that every py2rely module is imported from the venv (an editable install of the checkout
in the system site-packages is shadowed by the venv's own site-packages). The build runs without
network access (``--no-isolation``: setuptools and build come from the test extras).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


def source_copy(target: Path) -> Path:
    """The checkout's tracked files (what a clean clone has), so the build writes nothing into it."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    source = source_copy(tmp_path / "source")
    dist = tmp_path / "dist"
    # No flags: the sdist first, then the wheel built from the unpacked sdist (so the sdist must
    # hold everything the wheel needs).
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)], cwd=tmp_path)
    wheels = sorted(dist.glob("py2rely-*.whl"))
    sdists = sorted(dist.glob("py2rely-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    with tarfile.open(sdists[0]) as sdist:
        names = sdist.getnames()
    assert any(n.endswith("py2rely_plugins/relion5/run_in_root.sh") for n in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    python, py2rely = venv / "bin" / "python", venv / "bin" / "py2rely"
    run([str(python), "-m", "pip", "install", "--no-index", "--quiet", str(wheels[0])], cwd=tmp_path)

    elsewhere = tmp_path / "elsewhere"  # not the checkout, not the source copy
    elsewhere.mkdir()
    env = clean_env(venv)
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    elsewhere, env).stdout.strip())
    found = run([str(python), "-c",
                 "import importlib, pkgutil, py2rely_core, py2rely_plugins\n"
                 "for package in (py2rely_core, py2rely_plugins):\n"
                 "    for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
                 "        print(importlib.import_module(m.name).__file__)\n"
                 "print(py2rely_core.__file__)"], elsewhere, env).stdout.split()
    assert len(found) > 100 and all(Path(f).is_relative_to(site) for f in found), found[:5]
    assert any(f.endswith("py2rely_plugins/relion5/sta/params.py") for f in found)
    assert (site / "py2rely_plugins" / "relion5" / "run_in_root.sh").is_file()
    assert (site / "py2rely_plugins" / "executors" / "templates" / "slurm.sbatch").is_file()

    version = run([str(py2rely), "--version"], elsewhere, env)
    assert version.stdout.strip() == "py2rely, version 0.1.0"
    plugins = run([str(py2rely), "plugins"], elsewhere, env)
    listed = [line for line in plugins.stdout.splitlines() if not line.startswith(" ")]
    assert len(listed) == 8 and all("[ok]" in line for line in listed), plugins.stdout
    demo = run([str(py2rely), "demo", "--dry-run", "-o", "demo", "--particles", "4"], elsewhere, env,
               timeout=1800)
    assert "Plan for" in demo.stdout and "Extract/job001/" in demo.stdout, demo.stdout[-2000:]
    assert (elsewhere / "demo" / "project" / "sta_parameters.json").is_file()
