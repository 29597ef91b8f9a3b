"""Runs the jobs a workflow asks for: reuse by identity, or a new job directory handed to an executor.

The project directory is the state: a job is reused only when a job directory of the same type
holds a record with the same identity and RELION's success marker with all required outputs.
A job left running by an earlier driver is re-attached when the executor can find it; anything
else (failed, aborted, half-written) is left alone and the job runs again in a new directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from py2rely_core import jobs, log
from py2rely_core.errors import Aborted, InputError, JobFailed, PluginError
from py2rely_core.interfaces import (
    Executor,
    ExitOutcome,
    JobResult,
    JobType,
    PlannedJob,
    RunnableJob,
)
from py2rely_core.markers import record_failure
from py2rely_core.project import Project
from py2rely_core.relion_files import ABORTED, FAILED, RUNNING, SUCCEEDED, JobStar
from py2rely_core.run_progress import watch_job
from py2rely_core.script import command_line

LOG_TAIL_LINES = 12


@dataclass
class DryRunState:
    next_number: int
    planned: dict[str, str] = field(default_factory=dict)  # identity -> pretend job dir


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


class JobRunner:
    """Runs planned jobs in one project with one executor."""

    def __init__(
        self,
        project: Project,
        executor: Executor,
        job_types: Mapping[str, JobType],
        hook: Any = None,
        setup_lines: Sequence[str] = (),
        dry_run: bool = False,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.project = project
        self.executor = executor
        self.job_types = job_types
        self.hook = hook
        self.setup_lines = tuple(setup_lines)
        self.dry_run = dry_run
        self.echo = echo
        self.results: list[tuple[PlannedJob, JobResult]] = []
        self.logger = log.get_logger("py2rely.jobs")
        self._dry = DryRunState(next_number=project.next_job_number()) if dry_run else None

    # -- public ---------------------------------------------------------------------------

    def job_type(self, label: str) -> JobType:
        try:
            return self.job_types[label]
        except KeyError:
            known = ", ".join(sorted(self.job_types)) or "none"
            raise PluginError(f"no plugin provides job type '{label}' (available: {known})") from None

    def complete_options(self, planned: PlannedJob) -> dict[str, str]:
        job_type = self.job_type(planned.type_label)
        unknown = sorted(set(planned.options) - set(job_type.defaults))
        if unknown:
            raise PluginError(
                f"job type '{planned.type_label}' has no option(s) {', '.join(unknown)} "
                f"(stage {planned.stage})"
            )
        options = dict(job_type.defaults)
        options.update({key: str(value) for key, value in planned.options.items()})
        return options

    def run(self, planned: PlannedJob) -> JobResult:
        job_type = self.job_type(planned.type_label)
        options = self.complete_options(planned)
        inputs = job_type.input_nodes(options)
        if not self.dry_run:
            self._check_inputs(planned, [node.path for node in inputs])
        fingerprints = jobs.external_fingerprints([n.path for n in inputs], self.project.root)
        identity = jobs.identity(planned.type_label, options, fingerprints)

        if self._dry is not None and identity in self._dry.planned:
            return self._remember(planned, JobResult(self._dry.planned[identity], "Planned"))
        found = self._find_existing(job_type, options, identity)
        if found is not None:
            return self._remember(planned, found)
        if self._dry is not None:
            return self._plan_only(planned, job_type, options, identity)
        return self._remember(planned, self._run_new(planned, job_type, options, identity,
                                                      fingerprints, inputs))

    # -- reuse ----------------------------------------------------------------------------

    def _find_existing(self, job_type: JobType, options: Mapping[str, str], identity: str
                       ) -> JobResult | None:
        for job_dir in reversed(self.project.job_dirs(job_type.directory)):
            record = self.project.read_record(job_dir)
            if record is None or record.get("identity") != identity:
                continue
            state = self.project.state(job_dir).status
            if state == SUCCEEDED and not self._missing_outputs(job_type, options, job_dir):
                elapsed = float(record.get("elapsed", 0.0))
                self._log("job reused", job_dir, record.get("stage", ""), elapsed=elapsed)
                return JobResult(job_dir=job_dir, status=SUCCEEDED, elapsed=elapsed, reused=True)
            if state == "Unfinished" and not self.dry_run:
                runnable = self._runnable(job_dir, job_type, options, record.get("stage", ""))
                handle = self.executor.reattach(runnable)
                if handle is not None:
                    self._log("job re-attached", job_dir, record.get("stage", ""))
                    started = float(record.get("started", time.time()))
                    return self._finish(record.get("stage", ""), job_type, options, job_dir,
                                        runnable, handle, started, record)
        return None

    def _missing_outputs(self, job_type: JobType, options: Mapping[str, str], job_dir: str) -> list[str]:
        return [p for p in job_type.required_outputs(options, job_dir)
                if not self.project.path(p).exists()]

    # -- running ---------------------------------------------------------------------------

    def _check_inputs(self, planned: PlannedJob, paths: list[str]) -> None:
        for path in paths:
            if path and not self.project.path(path).exists():
                raise InputError(
                    path, f"input of the {planned.stage} job does not exist",
                    "an existing file (an earlier job may have failed to write it)",
                )

    def _runnable(self, job_dir: str, job_type: JobType, options: Mapping[str, str], stage: str
                  ) -> RunnableJob:
        return RunnableJob(
            project_dir=str(self.project.root), job_dir=job_dir,
            name=job_dir.strip("/").replace("/", "_"),
            commands=tuple(job_type.commands(options, job_dir)), resource=job_type.resource,
            stage=stage, setup_lines=self.setup_lines,
        )

    def _run_new(self, planned: PlannedJob, job_type: JobType, options: dict[str, str],
                 identity: str, fingerprints: Mapping[str, str], inputs: list[Any]) -> JobResult:
        project = self.project
        project.ensure_pipeline()
        job_dir = project.create_job_dir(job_type.directory)
        runnable = self._runnable(job_dir, job_type, options, planned.stage)
        commands = [command_line(c) for c in runnable.commands]
        started = time.time()
        record = {
            "identity": identity, "type": planned.type_label, "stage": planned.stage,
            "binning": planned.binning, "note": planned.note, "inputs": dict(fingerprints),
            "commands": commands, "started": started,
        }
        project.write_record(job_dir, record)
        project.write_job_star(job_dir, JobStar(planned.type_label, job_type.is_tomo, options))
        project.append_note(job_dir, commands)
        outputs = {n.path: n.type_label for n in job_type.output_nodes(options, job_dir)}
        input_nodes = {n.path: n.type_label for n in inputs if n.path}
        pipeline = project.update_pipeline(
            lambda p: (p.add_process(job_dir, planned.type_label, RUNNING, input_nodes, outputs),
                       setattr(p, "job_counter", max(p.job_counter, _number(job_dir) + 1))))
        project.write_job_pipeline(job_dir, pipeline)
        project.write_nodes_tree(outputs)
        self._log("job started", job_dir, planned.stage, binning=planned.binning)
        self._notify("py2rely_job_started", job=planned, job_dir=job_dir, project_dir=str(project.root))
        handle = self.executor.start(runnable)
        return self._finish(planned.stage, job_type, options, job_dir, runnable, handle, started,
                            record, planned)

    def _finish(self, stage: str, job_type: JobType, options: Mapping[str, str], job_dir: str,
                runnable: RunnableJob, handle: Any, started: float, record: dict[str, Any],
                planned: PlannedJob | None = None) -> JobResult:
        try:
            with watch_job(self.project.path(job_dir), job_dir, stage):  # a live bar, or log lines
                outcome = self.executor.wait(handle)
        except KeyboardInterrupt:
            self.executor.cancel(handle)
            self._conclude(job_dir, ABORTED, started, record)
            self._log("job aborted", job_dir, stage, elapsed=time.time() - started)
            raise Aborted(f"interrupted: {job_dir} was aborted (its processes were stopped)") from None
        status, problem = self._judge(job_type, options, job_dir, outcome)
        elapsed = self._conclude(job_dir, status, started, record)
        result = JobResult(job_dir=job_dir, status=status, elapsed=elapsed, message=problem)
        if planned is not None:
            self._notify("py2rely_job_finished", job=planned, result=result,
                         project_dir=str(self.project.root))
        if status != SUCCEEDED:
            self._log("job failed", job_dir, stage, elapsed=elapsed, status=status)
            raise JobFailed(self._failure_message(job_dir, runnable, status, problem, outcome))
        self._log("job succeeded", job_dir, stage, elapsed=elapsed)
        return result

    def _judge(self, job_type: JobType, options: Mapping[str, str], job_dir: str,
               outcome: ExitOutcome) -> tuple[str, str]:
        state = self.project.state(job_dir).status
        if outcome.status == ABORTED or state == ABORTED:
            return ABORTED, outcome.detail or "aborted"
        if outcome.status != SUCCEEDED or state != SUCCEEDED:
            detail = outcome.detail or (f"exit code {outcome.exit_code}" if outcome.exit_code else "")
            if outcome.status == SUCCEEDED and state == "Unfinished":
                detail = f"it ended without RELION's exit marker ({detail or 'no exit code'})"
            self._mark_failed(job_dir)
            return FAILED, detail or "failed"
        missing = self._missing_outputs(job_type, options, job_dir)
        if missing:
            self._mark_failed(job_dir)
            return FAILED, f"it reported success but did not write {', '.join(missing)}"
        return SUCCEEDED, ""

    def _mark_failed(self, job_dir: str) -> None:
        record_failure(self.project.path(job_dir))

    def _conclude(self, job_dir: str, status: str, started: float, record: dict[str, Any]) -> float:
        elapsed = time.time() - started
        record = {**record, "status": status, "finished": time.time(), "elapsed": round(elapsed, 3)}
        self.project.write_record(job_dir, record)
        self.project.update_pipeline(lambda p: p.set_status(job_dir, status) if p.process(job_dir)
                                     else None)
        return elapsed

    def _failure_message(self, job_dir: str, runnable: RunnableJob, status: str, problem: str,
                         outcome: ExitOutcome) -> str:
        commands = " && ".join(command_line(c) for c in runnable.commands)
        lines = tail(self.project.path(job_dir) / "run.err")
        shown = "\n    ".join(lines) if lines else "(run.err is empty)"
        return (f"{job_dir} {status.lower()}: {problem}\n  command: {commands}\n"
                f"  last lines of {job_dir}run.err:\n    {shown}")

    # -- dry run ----------------------------------------------------------------------------

    def _plan_only(self, planned: PlannedJob, job_type: JobType, options: dict[str, str],
                   identity: str) -> JobResult:
        assert self._dry is not None
        job_dir = self.project.job_dir_name(job_type.directory, self._dry.next_number)
        self._dry.next_number += 1
        self._dry.planned[identity] = job_dir
        runnable = self._runnable(job_dir, job_type, options, planned.stage)
        self.echo(f"{job_dir}  {planned.stage}" + (f" (bin {planned.binning})" if planned.binning else ""))
        for line in self.executor.describe(runnable).splitlines():
            self.echo(f"    {line}")
        return JobResult(job_dir=job_dir, status="Planned")

    # -- bookkeeping ------------------------------------------------------------------------

    def _remember(self, planned: PlannedJob, result: JobResult) -> JobResult:
        self.results.append((planned, result))
        if result.reused:
            self._notify("py2rely_job_finished", job=planned, result=result,
                         project_dir=str(self.project.root))
        return result

    def _notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook on every plugin; a plugin that raises is logged and skipped (events
        are notifications: they must not stop or fail a job)."""
        if self.hook is None:
            return
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            try:
                impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:
                self.logger.warning("plugin hook failed", plugin=impl.plugin_name, hook=hook_name,
                                    error=f"{type(exc).__name__}: {exc}")

    def _log(self, event: str, job_dir: str, stage: str, **fields: Any) -> None:
        if self.dry_run:
            return
        if "elapsed" in fields:
            fields["elapsed"] = f"{fields['elapsed']:.1f}s"
        self.logger.info(event, job=job_dir, stage=stage, **fields)


def _number(job_dir: str) -> int:
    return int(job_dir.rstrip("/").rsplit("job", 1)[1])
