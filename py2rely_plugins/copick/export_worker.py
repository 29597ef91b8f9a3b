"""Writing one run's picks, in worker processes.

copick's ``from_numpy`` builds one pydantic object per point (about 0.1 ms each) under the GIL, so
threads would not help; each run is written by one process of a pool. Tasks carry plain arrays and
names, and each process opens a copick project once.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np

from py2rely_plugins.copick.atomic_picks import write_picks
from py2rely_plugins.copick.geometry import transforms_from_rotations
from py2rely_plugins.copick.project import open_project


@dataclass(frozen=True)
class RunTask:
    config: str
    run: str
    object_name: str
    user_id: str
    session_id: str
    positions: np.ndarray  # (N, 3) Å from the tomogram corner
    rotations: np.ndarray  # (N, 3, 3) object → tomogram


@dataclass(frozen=True)
class RunOutcome:
    config: str
    run: str
    particles: int
    path: str = ""
    error: str = ""
    errno: int | None = None  # set when the file system refused (full disk, read-only, ...)
    filename: str = ""
    strerror: str = ""


_projects: dict[str, Any] = {}  # per process: config path → copick root


def _project(config: str) -> Any:
    key = os.path.realpath(config)  # the same name may be another project from another directory
    if key not in _projects:
        _projects[key] = open_project(config)
    return _projects[key]


def write_run(task: RunTask) -> RunOutcome:
    """Replace the task's pick set in its run; errors come back as text, not as exceptions."""
    try:
        run = _project(task.config).get_run(task.run)
        if run is None:
            raise FileNotFoundError(f"run {task.run!r} disappeared from {task.config}")
        path = write_picks(
            run, task.object_name, task.user_id, task.session_id, task.positions,
            transforms_from_rotations(task.rotations),
        )
    except OSError as exc:
        return RunOutcome(task.config, task.run, 0, error=f"{type(exc).__name__}: {exc}",
                          errno=exc.errno, filename=os.fsdecode(exc.filename or ""),
                          strerror=exc.strerror or str(exc))
    except Exception as exc:  # reported per run by the caller; other runs go on
        return RunOutcome(task.config, task.run, 0, error=f"{type(exc).__name__}: {exc}")
    return RunOutcome(task.config, task.run, len(task.positions), path=path)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def write_runs(
    tasks: Iterable[RunTask], workers: int, on_done: Callable[[RunOutcome], None] | None = None,
) -> list[RunOutcome]:
    """Write every task, the largest first so that the pool's processes finish together."""
    ordered = sorted(tasks, key=lambda t: len(t.positions), reverse=True)
    outcomes: list[RunOutcome] = []
    if workers <= 1 or len(ordered) <= 1:
        for task in ordered:
            outcomes.append(write_run(task))
            if on_done:
                on_done(outcomes[-1])
        return outcomes
    context = multiprocessing.get_context()
    with ProcessPoolExecutor(max_workers=min(workers, len(ordered)), mp_context=context) as pool:
        futures: dict[Future[RunOutcome], RunTask] = {pool.submit(write_run, t): t for t in ordered}
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker process itself died
                outcome = RunOutcome(task.config, task.run, 0, error=f"{type(exc).__name__}: {exc}")
            outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    return outcomes
