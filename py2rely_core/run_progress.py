"""What a running RELION job says about its progress, read from its run.out while it runs.

RELION's programs print ``Expectation iteration N [of M]`` (``Auto-refine: Iteration= N`` in
auto-refinement), the current resolution (``Auto-refine: Resolution= R``,
``CurrentResolution= R Angstroms``) and, for every long step, a bar ``  2/   5 sec ....~~(,_,">``
(elapsed / estimated total of the step). ``watch_job`` follows the file in a thread while an
executor waits for the job, and shows it as a progress task.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from py2rely_core.progress import ProgressTask

ITERATION = re.compile(r"(?:Expectation iteration|Auto-refine: Iteration=)\s*(\d+)(?:\s+of\s+(\d+))?")
RESOLUTION = re.compile(r"(?:Auto-refine: Resolution=|CurrentResolution=)\s*([0-9.]+)")
STEP = re.compile(r"(\d+(?:\.\d+)?)/\s*(\d+(?:\.\d+)?) (sec|min|hrs)")
UNIT_SECONDS = {"sec": 1.0, "min": 60.0, "hrs": 3600.0}


@dataclass
class RunProgress:
    iteration: int | None = None
    iterations: int | None = None  # known for fixed-iteration programs (Class3D, InitialModel)
    resolution: float | None = None  # Å
    step_done: float | None = None  # s into the current step
    step_total: float | None = None  # s, RELION's estimate of the whole step

    @property
    def eta(self) -> float | None:
        if self.step_done is None or self.step_total is None:
            return None
        return max(0.0, self.step_total - self.step_done)

    def feed(self, text: str) -> None:
        """Read more of run.out (the bars are redrawn with carriage returns, hence the split)."""
        for line in re.split(r"[\r\n]", text):
            if match := ITERATION.search(line):
                iteration = int(match.group(1))
                if iteration != self.iteration:
                    self.step_done = self.step_total = None
                self.iteration = iteration
                if match.group(2):
                    self.iterations = int(match.group(2))
            if match := RESOLUTION.search(line):
                self.resolution = float(match.group(1))
            for done, total, unit in STEP.findall(line):
                self.step_done = float(done) * UNIT_SECONDS[unit]
                self.step_total = float(total) * UNIT_SECONDS[unit]

    def fields(self) -> dict[str, str]:
        shown: dict[str, str] = {}
        if self.iteration is not None:
            of = f"/{self.iterations}" if self.iterations else ""
            shown["iteration"] = f"{self.iteration}{of}"
        if self.resolution is not None:
            shown["resolution"] = f"{self.resolution:.1f} Å"
        if self.eta is not None:
            minutes, seconds = divmod(round(self.eta), 60)
            shown["eta"] = f"{minutes}:{seconds:02d}"
        return shown

    def fraction(self) -> float | None:
        """How far the job is (0..1) when that can be told: by iterations if their number is known,
        else by the current step."""
        step = (min(1.0, self.step_done / self.step_total) if self.step_total and self.step_done is not None
                else None)
        if self.iterations and self.iteration:
            return min(1.0, (self.iteration - 1 + (step or 0.0)) / self.iterations)
        return step


class RunOutFollower:
    """Reads what was appended to a run.out since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.progress = RunProgress()

    def poll(self) -> bool:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return False
        if not data:
            return False
        self.offset += len(data)
        self.progress.feed(data.decode("utf-8", errors="replace"))
        return True


@contextlib.contextmanager
def watch_job(job_path: Path, job_dir: str, stage: str, poll_seconds: float | None = None,
              display: str | None = None) -> Iterator[RunOutFollower]:
    """Show the progress of the job in ``job_path`` while the block runs (an executor's wait)."""
    from py2rely_core.progress import mode

    chosen = display or mode()
    follower = RunOutFollower(job_path / "run.out")
    if chosen == "off":
        yield follower
        return
    poll = poll_seconds if poll_seconds is not None else (1.0 if chosen == "live" else 5.0)
    def emit(message: str, fields: dict) -> None:
        from py2rely_core import log

        log.get_logger("py2rely.jobs").info("job progress", job=job_dir, stage=stage, **fields)

    task = ProgressTask(f"{job_dir} {stage}".strip(), total=None, display=chosen, emit=emit)
    stop = threading.Event()

    def follow() -> None:
        while True:
            if follower.poll():
                fraction = follower.progress.fraction()
                task.update(completed=round(100 * fraction, 1) if fraction is not None else None,
                            total=100 if fraction is not None else None, **follower.progress.fields())
            if stop.wait(poll):
                return

    thread = threading.Thread(target=follow, name=f"progress {job_dir}", daemon=True)
    thread.start()
    try:
        yield follower
    finally:
        stop.set()
        thread.join(timeout=5)
        task.close()
