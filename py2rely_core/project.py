"""The RELION project on disk: job directories, their files, ``default_pipeline.star`` and the lock.

Everything here is written the way RELION 5 writes it, so that `relion` and `relion_pipeliner`
open a project py2rely made, and py2rely continues a project RELION made.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from py2rely_core import atomic
from py2rely_core.errors import InputError, ProjectLocked, Py2relyError
from py2rely_core.markers import FAILED, UNFINISHED, read_markers, record_failure
from py2rely_core.relion_files import (
    PIPELINE_FILE,
    RUNNING,
    JobStar,
    PipelineDamaged,
    PipelineFile,
    Process,
    read_job_star,
    read_pipeline,
    render_job_star,
    render_pipeline,
)

JOB_RECORD = "py2rely_job.json"  # identity and executor handle of one job, kept in its directory
DRIVER_LOCK = ".py2rely.lock"
RELION_LOCK_DIR = ".relion_lock"
LOCK_PATIENCE = 3.0  # seconds a driver waits for the lock (`py2rely status` holds it a moment)
_JOB_DIR_PATTERN = re.compile(r"^job(\d{3,})$")


@dataclass(frozen=True)
class JobDirState:
    """What the files of one job directory say about it."""

    job_dir: str
    status: str  # Succeeded, Failed, Aborted, or Unfinished (no exit marker)


def lost_job_reason(detail: str) -> str:
    """Why a job with no exit marker and no process left is failed (``detail``: the executor's
    word on its processes)."""
    return ("its processes are gone and it left no exit marker" + (f" ({detail})" if detail else "")
            + ": the driver that ran it stopped, or the machine or node went down")


class Project:
    """A RELION project directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._lock_handle: Any = None

    # -- paths -----------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        return self.root / relative

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the project root when inside it (as RELION stores paths)."""
        absolute = Path(path) if Path(path).is_absolute() else self.root / path
        try:
            return str(absolute.resolve().relative_to(self.root))
        except ValueError:
            return str(absolute.resolve())

    def contains(self, path: str) -> bool:
        return not Path(path).is_absolute() or Path(path).resolve().is_relative_to(self.root)

    # -- driver lock -----------------------------------------------------------------------

    @contextlib.contextmanager
    def driver_lock(self) -> Iterator[None]:
        """Exclusive lock for one pipeline driver; released by the kernel if the driver dies."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / DRIVER_LOCK
        created = not path.exists()
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole run
        deadline = time.monotonic() + LOCK_PATIENCE
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip()
                if holder or time.monotonic() > deadline:  # an empty file: `status` looking
                    handle.close()
                    raise ProjectLocked(
                        f"{self.root}: another py2rely driver is running in this project "
                        f"({holder or 'another process'}); wait for it to finish or stop it first"
                    ) from None
                time.sleep(0.1)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            handle.flush()
        except OSError as exc:
            # A full disk: leave the project as it was (no lock file of ours) and say so.
            if created:
                path.unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                handle.close()
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        self._lock_handle = handle
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
            self._lock_handle = None

    def driver_running(self) -> bool:
        """Whether a pipeline driver holds the project lock right now."""
        path = self.root / DRIVER_LOCK
        if not path.exists():
            return False
        with open(path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    @contextlib.contextmanager
    def lock_if_idle(self) -> Iterator[bool]:
        """The driver lock for a moment, if no driver holds it (True), else nothing (False):
        `py2rely status` records what it finds only when no driver is there to do it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / DRIVER_LOCK, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # -- default_pipeline.star --------------------------------------------------------------

    @property
    def pipeline_path(self) -> Path:
        return self.root / PIPELINE_FILE

    def read_pipeline(self) -> PipelineFile:
        """The pipeline; a damaged file is a one-line error naming it."""
        try:
            return read_pipeline(self.pipeline_path)
        except PipelineDamaged as exc:
            raise InputError(str(exc.path), exc.problem, "a whole default_pipeline.star (`py2rely "
                             "pipelines sta` rebuilds it from the job directories)") from None

    def pipeline_or_rebuilt(self) -> tuple[PipelineFile, str]:
        """The pipeline, or when its file is damaged one rebuilt in memory from the job
        directories, with a line saying so ("" when the file was fine)."""
        try:
            return read_pipeline(self.pipeline_path), ""
        except PipelineDamaged as exc:
            rebuilt = self.rebuilt_pipeline()
            return rebuilt, (f"{exc}; showing the {len(rebuilt.processes)} jobs found in their "
                             "directories (the next pipeline run rebuilds the file)")

    def repair_pipeline(self) -> str:
        """Rebuild a damaged default_pipeline.star from the job directories, keeping the damaged
        file beside it; returns the line that says what was done ("" when nothing was)."""
        try:
            read_pipeline(self.pipeline_path)
            return ""
        except PipelineDamaged as exc:
            problem = str(exc)
        with self.relion_lock():
            rebuilt = self.rebuilt_pipeline()
            kept = self.pipeline_path.with_name(f"{PIPELINE_FILE}.damaged")
            os.replace(self.pipeline_path, kept)
            atomic.write_text(self.pipeline_path, render_pipeline(rebuilt))
            (self.root / ".pipeline_has_changed").touch()
        return (f"{problem}: rebuilt it from {len(rebuilt.processes)} job directories "
                f"(the damaged file is kept as {kept.name})")

    def rebuilt_pipeline(self) -> PipelineFile:
        """default_pipeline.star as the job directories tell it: each job's own
        job_pipeline.star (processes, nodes, edges) or job.star, with its status from its exit
        markers and the job counter after the highest job number."""
        rebuilt = PipelineFile(job_counter=max(self.existing_job_numbers(), default=0) + 1)
        for job_dir in self._all_job_dirs():
            own = self.root / job_dir / "job_pipeline.star"
            try:
                mini = read_pipeline(own) if own.is_file() else None
            except PipelineDamaged:
                mini = None
            process = mini.process(job_dir) if mini else None
            if process is None:
                job = self.read_job_star(job_dir)
                record = self.read_record(job_dir) or {}
                label = job.type_label if job else str(record.get("type", ""))
                if not label:
                    continue  # not a job directory anyone wrote
                process = Process(name=job_dir, type_label=label, status=RUNNING)
            status = read_markers(self.root / job_dir).status
            process.status = RUNNING if status == UNFINISHED else status
            rebuilt.processes.append(process)
            if mini is not None:
                for edge in mini.input_edges:
                    rebuilt.input_edges.append(edge)
                    rebuilt.nodes.setdefault(edge[0], mini.nodes.get(edge[0], ("", 1)))
                for edge in mini.output_edges:
                    rebuilt.output_edges.append(edge)
                    rebuilt.nodes[edge[1]] = mini.nodes.get(edge[1], ("", 1))
        return rebuilt

    def _all_job_dirs(self) -> list[str]:
        """Every job directory of the project, by job number."""
        children = [c.name for c in (self.root.iterdir() if self.root.exists() else ())
                    if c.is_dir() and not c.name.startswith(".")]
        found = [job_dir for name in children for job_dir in self.job_dirs(name)]
        return sorted(found, key=lambda d: int(d.rstrip("/").rsplit("job", 1)[1]))

    @contextlib.contextmanager
    def relion_lock(self, timeout: float = 60.0) -> Iterator[None]:
        """RELION's own lock on default_pipeline.star, so a RELION GUI open on the project and
        py2rely never write the file at the same time."""
        lock_dir = self.root / RELION_LOCK_DIR
        deadline = time.monotonic() + timeout
        while True:
            try:
                lock_dir.mkdir()
                break
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise Py2relyError(
                        f"{lock_dir} has been held for {timeout:.0f} s (a RELION program or GUI is "
                        "writing the pipeline, or one crashed: remove the directory if none runs)"
                    ) from None
                time.sleep(0.2)
        try:
            (lock_dir / f"lock_{PIPELINE_FILE}").touch()
        except OSError:
            lock_dir.rmdir()  # a full disk or no inodes: release the lock, then say so
            raise
        try:
            yield
        finally:
            (lock_dir / f"lock_{PIPELINE_FILE}").unlink(missing_ok=True)
            lock_dir.rmdir()

    def update_pipeline(self, change: Any) -> PipelineFile:
        """Read, change (``change(pipeline)``) and atomically rewrite default_pipeline.star."""
        with self.relion_lock():
            pipeline = self.read_pipeline()
            change(pipeline)
            atomic.write_text(self.pipeline_path, render_pipeline(pipeline))
            (self.root / ".pipeline_has_changed").touch()
        return pipeline

    def ensure_pipeline(self) -> None:
        if not self.pipeline_path.exists():
            self.update_pipeline(lambda pipeline: None)

    # -- job directories ---------------------------------------------------------------------

    def existing_job_numbers(self) -> list[int]:
        numbers = []
        for child in self.root.iterdir() if self.root.exists() else ():
            if not child.is_dir() or child.name.startswith("."):
                continue
            for job in child.iterdir():
                match = _JOB_DIR_PATTERN.match(job.name)
                if match and job.is_dir():
                    numbers.append(int(match.group(1)))
        return numbers

    def next_job_number(self) -> int:
        on_disk = self.existing_job_numbers()
        return max(self.pipeline_or_rebuilt()[0].job_counter, max(on_disk, default=0) + 1)

    @staticmethod
    def job_dir_name(directory: str, number: int) -> str:
        # RELION: job%03d below 1000, plain number above.
        return f"{directory}/job{number:03d}/"

    def create_job_dir(self, directory: str) -> str:
        """Make a new, empty job directory with the next free number; returns e.g. 'Refine3D/job005/'."""
        number = self.next_job_number()
        while True:
            name = self.job_dir_name(directory, number)
            try:
                (self.root / name).mkdir(parents=True)
                return name
            except FileExistsError:
                number += 1

    def job_dirs(self, directory: str) -> list[str]:
        """Job directories under ``directory`` (e.g. 'Refine3D'), oldest first."""
        parent = self.root / directory
        if not parent.is_dir():
            return []
        found = []
        for child in parent.iterdir():
            match = _JOB_DIR_PATTERN.match(child.name)
            if match and child.is_dir() and not child.is_symlink():
                found.append((int(match.group(1)), f"{directory}/{child.name}/"))
        return [name for _, name in sorted(found)]

    # -- files inside a job directory -----------------------------------------------------

    def write_job_star(self, job_dir: str, job: JobStar) -> None:
        atomic.write_text(self.root / job_dir / "job.star", render_job_star(job))

    def read_job_star(self, job_dir: str) -> JobStar | None:
        path = self.root / job_dir / "job.star"
        if not path.is_file():
            return None
        try:
            return read_job_star(path)
        except (OSError, ValueError):
            return None

    def write_record(self, job_dir: str, record: Mapping[str, Any]) -> None:
        atomic.write_text(self.root / job_dir / JOB_RECORD, json.dumps(record, indent=2) + "\n")

    def read_record(self, job_dir: str) -> dict[str, Any] | None:
        path = self.root / job_dir / JOB_RECORD
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def append_note(self, job_dir: str, command_lines: list[str]) -> None:
        """note.txt as RELION's pipeliner appends it for every run of a job."""
        stamp = time.ctime()
        text = (f"\n ++++ Executing new job on {stamp}\n ++++ with the following command(s): \n"
                + "".join(f"{line}\n" for line in command_lines) + " ++++ \n")
        with open(self.root / job_dir / "note.txt", "a", encoding="utf-8") as note:
            note.write(text)

    def mark_failed(self, job_dir: str, reason: str) -> None:
        """Record a job as failed after the fact, with the reason in its record, its run.err and
        the pipeline: one with no exit marker whose processes are gone (driver and job killed,
        machine rebooted, node lost), or one whose outputs are no longer whole. The failure
        marker is written first: the markers are what everything else trusts."""
        path = self.root / job_dir
        record_failure(path)
        record = self.read_record(job_dir) or {}
        now = time.time()
        record.update(status=FAILED, reason=reason, finished=now)
        if "started" in record and "elapsed" not in record:
            record["elapsed"] = round(now - float(record["started"]), 3)
        self.write_record(job_dir, record)
        with contextlib.suppress(OSError), open(path / "run.err", "a", encoding="utf-8") as err:
            err.write(f"py2rely: marked failed on {time.ctime(now)}: {reason}\n")
        self.update_pipeline(lambda p: p.set_status(job_dir, FAILED) if p.process(job_dir) else None)

    def state(self, job_dir: str) -> JobDirState:
        """The job's status read from RELION's exit markers (not from any record)."""
        return JobDirState(job_dir, read_markers(self.root / job_dir).status)

    def write_nodes_tree(self, outputs: Mapping[str, str]) -> None:
        """The hidden .Nodes/<kind>/<path> files the RELION GUI's file browser lists."""
        for path, label in outputs.items():
            target = self.root / ".Nodes" / label.split(".")[0] / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()

    def write_job_pipeline(self, job_dir: str, pipeline: PipelineFile) -> None:
        """job_pipeline.star: the job's own process and nodes, as RELION writes it."""
        mini = PipelineFile(job_counter=pipeline.job_counter)
        process = pipeline.process(job_dir)
        if process is not None:
            mini.processes.append(process)
        mini.input_edges = [e for e in pipeline.input_edges if e[1] == job_dir]
        mini.output_edges = [e for e in pipeline.output_edges if e[0] == job_dir]
        for node in {e[0] for e in mini.input_edges} | {e[1] for e in mini.output_edges}:
            if node in pipeline.nodes:
                mini.nodes[node] = pipeline.nodes[node]
        atomic.write_text(self.root / job_dir / "job_pipeline.star", render_pipeline(mini))
