"""A small real project for runner tests: a map and RELION jobs that take about a second."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

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


def driver_script(project: Path, planned: list[tuple[str, dict[str, str]]],
                  setup_lines: list[str] = (), executor: str = "local",
                  settings: dict[str, Any] | None = None) -> list[str]:
    """A command line that runs ``planned`` jobs through the named executor plugin in a fresh
    interpreter, as `pipelines sta` would (so tests can kill it like a user kills a driver)."""
    code = textwrap.dedent(f"""
        import sys
        from py2rely_core import log
        from py2rely_core.errors import Py2relyError
        from py2rely_core.interfaces import PlannedJob
        from py2rely_core.plugins import get_plugins
        from py2rely_core.project import Project
        from py2rely_core.runner import JobRunner
        from py2rely_plugins.relion5.runtime import locate
        log.configure()
        plugins = get_plugins()
        project = Project({str(project)!r})
        executor = plugins.get("executors", {executor!r}).create({settings or {}!r})
        runner = JobRunner(project, executor, plugins.registry("job_types"), plugins.hook,
                           setup_lines=[*locate().job_setup_lines(), *{list(setup_lines)!r}])
        try:
            with project.driver_lock():
                for label, options in {planned!r}:
                    result = runner.run(PlannedJob(label, options, stage=label))
                    print(result.job_dir, result.status, result.reused, flush=True)
        except Py2relyError as exc:
            print("error:", exc, file=sys.stderr)
            sys.exit(exc.exit_code)
    """)
    return [sys.executable, "-c", code]
