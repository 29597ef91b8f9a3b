"""Two pipelines on one machine never break each other: MPI jobs of the embedded runtime that run
at the same time each get their own Open MPI/PMIx session directory and shared memory.

Before run_in_root.sh gave every job a private /run (TMPDIR) and /dev/shm, every job's launcher
was PID 1 in its own PID namespace and all of them met in the host's /tmp/ompi.1: 14 of 40 jobs
of the first test below failed (segfault in PMIx_Init, exit 139).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli_helpers import run_py2rely
from tests.runner_helpers import write_particles
from tests.sta_fixtures import PY2RELY

pytestmark = pytest.mark.relion

ROUNDS, JOBS_AT_ONCE, RANKS = 10, 4, 3


def test_mpi_jobs_running_at_once_never_meet(relion_runtime, relion_env, tmp_path):
    """4 MPI jobs at once, 10 rounds: every one succeeds (the old wrapper failed 14 of 40)."""
    write_particles(tmp_path)
    mounts = Path("/proc/mounts").read_text()
    failures = []
    started = time.monotonic()
    for round_number in range(1, ROUNDS + 1):
        jobs = []
        for job in range(1, JOBS_AT_ONCE + 1):
            out = tmp_path / f"r{round_number}_j{job}"
            out.mkdir()
            log = open(out / "log", "w")  # noqa: SIM115 - closed below
            jobs.append((out, log, subprocess.Popen(
                ["mpirun", "-n", str(RANKS), "relion_reconstruct_mpi", "--i", "particles.star",
                 "--o", f"{out.name}/map.mrc"],
                cwd=tmp_path, env=relion_env, stdout=log, stderr=subprocess.STDOUT)))
        for out, log, process in jobs:
            code = process.wait(timeout=300)
            log.close()
            if code != 0 or not (out / "map.mrc").is_file():
                tail = (out / "log").read_text(errors="replace").strip().splitlines()[-3:]
                failures.append(f"{out.name}: exit {code}: {' | '.join(tail)}")
    print(f"{ROUNDS * JOBS_AT_ONCE} MPI jobs, {JOBS_AT_ONCE} at a time: "
          f"{len(failures)} failed, {time.monotonic() - started:.1f} s")
    assert failures == []
    assert Path("/proc/mounts").read_text() == mounts  # the private tmpfs mounts went with the jobs


def test_each_job_has_its_own_temporary_directories(relion_runtime, relion_env, tmp_path):
    """The session directory Open MPI makes is in the job's own tmpfs, not in the host's /tmp."""
    if relion_runtime.kind != "embedded":
        pytest.skip("RELION comes from PATH on this machine; no embedded wrappers")
    marker = tmp_path / "seen"
    script = f'echo "$TMPDIR $(ls $TMPDIR | tr "\\n" " ")" > {marker}; ls /dev/shm | wc -l >> {marker}'
    result = subprocess.run(["mpirun", "-n", "1", "sh", "-c", script], cwd=tmp_path, env=relion_env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    tmpdir_line, shm_count = marker.read_text().splitlines()
    assert tmpdir_line.startswith("/run/tmp ") and "ompi." in tmpdir_line
    assert shm_count.strip() == "0"  # the host's /dev/shm is not visible to the job


@pytest.mark.slow
def test_two_demo_pipelines_at_once_both_succeed(relion_runtime, tmp_path):
    """Two `py2rely demo` runs (bin 4 only, 2 × 10 particles) in two directories at the same time."""
    first, second = tmp_path / "first", tmp_path / "second"
    simulated = run_py2rely("simulate", "-o", str(first / "data"), "--seed", "1", "--tilt-series", "2",
                            "--particles", "10", "--tilt-range", "60", "--tilt-step", "3",
                            "--pixel-size", "2.5", "--image-size", "512", "--particle-diameter", "160",
                            "--snr", "0.2", "--decoy-fraction", "0.0")
    assert simulated.returncode == 0, simulated.stderr
    shutil.copytree(first / "data", second / "data")  # the demo reuses a simulated dataset
    command = ["demo", "-bl", "4", "--particles", "10"]
    started = time.monotonic()
    runs = [subprocess.Popen([*PY2RELY, *command, "-o", str(base)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for base in (first, second)]
    outputs = [run.communicate(timeout=1200) for run in runs]
    elapsed = time.monotonic() - started
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
        assert "reusing the simulated dataset" in err
        assert "Final resolution" in out
    for base in (first, second):
        assert (base / "project/Refine3D/job003/RELION_JOB_EXIT_SUCCESS").exists()
    print(f"two bin-4 demos at once: {elapsed:.0f} s")
