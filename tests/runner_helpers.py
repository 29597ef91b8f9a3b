"""A small real project for runner tests: a map and RELION jobs that take about a second."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

from py2rely_core.interfaces import Command, Node

MASK_OPTIONS = {"fn_in": "map.mrc", "lowpass_filter": "20", "inimask_threshold": "0.3",
                "extend_inimask": "1", "width_mask_edge": "2", "nr_threads": "1"}


def write_map(path: Path, size: int = 32, sigma: float = 4.0, noise: float = 0.0, seed: int = 0) -> Path:
    grid = np.indices((size,) * 3) - size // 2
    blob = np.exp(-(grid**2).sum(axis=0) / (2 * sigma**2)).astype(np.float32)
    if noise:
        blob += noise * np.random.default_rng(seed).standard_normal(blob.shape).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(blob)
        mrc.voxel_size = 5.0
    return path


REPO = Path(__file__).resolve().parents[1]


def default_signals() -> None:
    """``preexec_fn`` of a driver under test: default dispositions for the signals the test sends,
    whatever the test run inherited (a shell ignores SIGINT for the commands it starts with `&`)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def write_particles(directory: Path, count: int = 24, size: int = 32) -> Path:
    """particles.star and particles.mrcs: 2D images of a blob at random angles, enough for
    relion_reconstruct_mpi and relion_refine_mpi."""
    rng = np.random.default_rng(0)
    grid = np.indices((size, size)) - size // 2
    blob = np.exp(-(grid**2).sum(axis=0) / 32.0).astype(np.float32)
    stack = np.stack([blob + 0.05 * rng.standard_normal(blob.shape).astype(np.float32)
                      for _ in range(count)])
    directory.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(directory / "particles.mrcs", overwrite=True) as mrc:
        mrc.set_data(stack)
        mrc.voxel_size = 5.0
    lines = ["data_optics", "loop_", "_rlnOpticsGroup", "_rlnOpticsGroupName", "_rlnImagePixelSize",
             "_rlnImageSize", "_rlnImageDimensionality", "_rlnVoltage", "_rlnSphericalAberration",
             "_rlnAmplitudeContrast", f"1 opticsGroup1 5.0 {size} 2 300 2.7 0.1", "",
             "data_particles", "loop_", "_rlnImageName", "_rlnAngleRot", "_rlnAngleTilt",
             "_rlnAnglePsi", "_rlnOpticsGroup"]
    for index in range(count):
        rot, tilt, psi = rng.uniform(0, 360), rng.uniform(0, 180), rng.uniform(0, 360)
        lines.append(f"{index + 1:06d}@particles.mrcs {rot:.2f} {tilt:.2f} {psi:.2f} 1")
    (directory / "particles.star").write_text("\n".join(lines) + "\n")
    return directory / "particles.star"


class LongClassify2D:
    """A job type for tests: relion_refine_mpi classifying the small 2D stack of write_particles
    for thousands of iterations (about 0.2 s each), so a real MPI RELION job is running when a
    test signals the driver. Registered by driver_script(test_job_types=True)."""

    name = "tests.class2d"
    description = "long 2D classification of a small stack (tests only)"
    directory = "Class2D"
    is_tomo = False
    resource = "cpu"
    defaults: Mapping[str, str] = {"fn_img": "particles.star", "nr_iter": "5000", "nr_mpi": "3"}

    def commands(self, options: Mapping[str, str], job_dir: str) -> list[Command]:
        args = ("--i", options["fn_img"], "--o", f"{job_dir}run", "--K", "1", "--iter", options["nr_iter"],
                "--tau2_fudge", "2", "--particle_diameter", "100", "--zero_mask", "--psi_step", "30",
                "--offset_range", "2", "--offset_step", "2", "--j", "1", "--pipeline_control", job_dir)
        return [Command("relion_refine_mpi", args, mpi_ranks=int(options["nr_mpi"]))]

    def input_nodes(self, options: Mapping[str, str]) -> list[Node]:
        return [Node(options["fn_img"], "ParticleGroupMetadata.star.relion")]

    def output_nodes(self, options: Mapping[str, str], job_dir: str) -> list[Node]:
        return []

    def required_outputs(self, options: Mapping[str, str], job_dir: str) -> list[str]:
        return []


def processes_with(token: str) -> list[str]:
    """Processes whose environment holds ``token`` (every descendant of a driver started with it,
    MPI ranks in their PID namespace included), as 'pid command'."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if token.encode() in (entry / "environ").read_bytes():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name} {command.strip()}")
        except OSError:
            continue
    return found


def driver_script(project: Path, planned: list[tuple[str, dict[str, str]]],
                  setup_lines: list[str] = (), executor: str = "local",
                  settings: dict[str, Any] | None = None, test_job_types: bool = False) -> list[str]:
    """A command line that runs ``planned`` jobs through the named executor plugin in a fresh
    interpreter, as `pipelines sta` would (so tests can kill it like a user kills a driver); it
    handles SIGTERM and SIGHUP as the `py2rely` command does. An option value "{0}mask.mrc"
    names an output of the first job, wherever it ran."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from py2rely_core import log, signals
        from py2rely_core.errors import Py2relyError
        from py2rely_core.interfaces import PlannedJob
        from py2rely_core.plugins import get_plugins
        from py2rely_core.project import Project
        from py2rely_core.runner import JobRunner
        from py2rely_plugins.relion5.runtime import locate
        log.configure()
        signals.install_handlers()
        plugins = get_plugins()
        job_types = dict(plugins.registry("job_types"))
        if {test_job_types!r}:
            from tests.runner_helpers import LongClassify2D
            job_types[LongClassify2D.name] = LongClassify2D()
        project = Project({str(project)!r})
        executor = plugins.get("executors", {executor!r}).create({settings or {}!r})
        runner = JobRunner(project, executor, job_types, plugins.hook,
                           setup_lines=[*locate().job_setup_lines(), *{list(setup_lines)!r}],
                           executor_name={executor!r})
        try:
            with project.driver_lock():
                done = []
                for label, options in {planned!r}:
                    # "{{0}}" in a value: the job directory of the first job, as a workflow passes it
                    options = {{k: v.format(*done) if "{{" in v else v for k, v in options.items()}}
                    result = runner.run(PlannedJob(label, options, stage=label))
                    done.append(result.job_dir)
                    print(result.job_dir, result.status, result.reused, flush=True)
        except Py2relyError as exc:
            print("error:", exc, file=sys.stderr)
            sys.exit(exc.exit_code)
    """)
    return [sys.executable, "-c", code]
