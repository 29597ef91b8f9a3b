"""`py2rely relion install` / `info`: the embedded RELION 5.1 runtime."""

from __future__ import annotations

import subprocess

import pytest

from py2rely_core.errors import RuntimeNotFound
from py2rely_plugins.relion5 import runtime as rt
from tests.cli_helpers import run_py2rely


@pytest.mark.relion
def test_info_names_the_runtime_its_version_and_that_mpi_works(relion_runtime):
    result = run_py2rely("relion", "info")
    assert result.returncode == 0, result.stderr
    assert "version: 5.1.0" in result.stdout
    assert "MPI: works (mpirun -n 3 ran 3 ranks)" in result.stdout


@pytest.mark.relion
def test_a_second_install_finds_the_root_and_does_nothing(relion_runtime):
    if relion_runtime.kind != "embedded":
        pytest.skip("RELION comes from PATH on this machine; nothing embedded to reinstall")
    layout = rt.EmbeddedLayout(rt.runtime_home())
    stamp = layout.root.stat().st_mtime_ns
    result = run_py2rely("relion", "install")
    assert result.returncode == 0, result.stderr
    assert "RELION runtime already installed" in result.stdout
    assert layout.root.stat().st_mtime_ns == stamp


@pytest.mark.relion
def test_mpirun_runs_wrappers_given_by_absolute_path(relion_runtime, tmp_path):
    """RELION's GUI and other pipeliners write `mpirun -n 3 /full/path/relion_..._mpi`: each rank
    then starts the wrapper inside the root, which must run the program, not enter it again."""
    if relion_runtime.kind != "embedded":
        pytest.skip("RELION comes from PATH on this machine; no wrappers")
    bin_dir = relion_runtime.bin_dir
    result = subprocess.run([str(bin_dir / "mpirun"), "-n", "2", str(bin_dir / "relion_refine"),
                             "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("RELION version: 5.1") == 2, result.stdout


def test_stale_wrappers_are_refreshed_without_reinstalling(tmp_path):
    layout = rt.EmbeddedLayout(tmp_path)
    (layout.root / "usr" / "bin").mkdir(parents=True)
    (layout.root / "usr" / "bin" / "relion_refine").write_text("")
    rt.write_wrappers(layout)
    (layout.bin_dir / "run-in-root").write_text("#!/bin/sh\n# an older py2rely's wrapper\n")
    assert not layout.wrappers_complete()
    found = rt.locate(home=tmp_path)
    assert found is not None and found.kind in ("embedded", "path")
    assert layout.wrappers_complete()
    assert (layout.bin_dir / "relion_refine").is_symlink() and (layout.bin_dir / "mpirun").is_symlink()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (lambda mp: mp.setattr(rt.platform, "system", lambda: "Darwin"), r"needs Linux \(this is Darwin\)"),
        (lambda mp: mp.setattr(rt.os, "geteuid", lambda: 1000), "needs root"),
    ],
)
def test_install_refuses_hosts_where_it_cannot_work(monkeypatch, tmp_path, patch, message):
    patch(monkeypatch)
    with pytest.raises(RuntimeNotFound, match=message):
        rt.install(home=tmp_path / "relion5")
    assert not (tmp_path / "relion5" / "root").exists()


def test_install_without_debootstrap_or_apt_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(rt.shutil, "which", lambda name: None if name in ("debootstrap", "apt-get")
                        else "/usr/bin/" + name)
    monkeypatch.setattr(rt.Path, "is_file", lambda self: False if self.name == "debootstrap"
                        else rt.Path.exists(self))
    with pytest.raises(RuntimeNotFound, match="debootstrap is missing"):
        rt.install(home=tmp_path / "relion5")
    assert not (tmp_path / "relion5" / "root").exists()


def test_site_setup_lines_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(rt.SETUP_ENV, "module load relion/5.0; export OMP_NUM_THREADS=1\nsource x")
    assert rt.setup_lines_from_env() == ("module load relion/5.0", "export OMP_NUM_THREADS=1", "source x")
    runtime = rt.Runtime(kind="embedded", bin_dir=rt.Path("/opt/wrappers"), setup_lines=("module load x",))
    assert runtime.job_setup_lines() == ["module load x", 'export PATH="/opt/wrappers:$PATH"']
