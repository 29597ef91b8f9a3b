"""Runs the jobs a workflow asks for: reuse by identity, or a new job directory handed to an executor.

The project directory is the state: a job is reused only when a job directory of the same type
holds a record with the same identity and RELION's success marker, and its outputs are whole
(py2rely_core.outputs). A job left running by an earlier driver is re-attached while its executor
finds it queued or running; one whose processes are gone is marked failed with the reason. Every
job that is not reused says why in one line, and runs again in a new directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from py2rely_core import jobs, log, outputs, signals
from py2rely_core.errors import Aborted, InputError, JobFailed, PluginError
from py2rely_core.interfaces import (
    Executor,
    ExitOutcome,
    JobProbe,
    JobResult,
    JobType,
    PlannedJob,
    RunnableJob,
)
from py2rely_core.markers import UNFINISHED, record_abort, record_failure
from py2rely_core.project import Project, lost_job_reason
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
        executor_name: str = "",
    ) -> None:
        self.project = project
        self.executor = executor
        self.job_types = job_types
        self.hook = hook
        self.setup_lines = tuple(setup_lines)
        self.dry_run = dry_run
        self.echo = echo
        self.executor_name = executor_name  # kept in each job's record, for `py2rely status`
        self._looked = False
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
        if not self.dry_run and not self._looked:
            self.look_at_project()
        job_type = self.job_type(planned.type_label)
        options = self.complete_options(planned)
        inputs = job_type.input_nodes(options)
        if not self.dry_run:
            self._check_inputs(planned, [node.path for node in inputs])
        fingerprints = jobs.external_fingerprints([n.path for n in inputs], self.project.root)
        identity = jobs.identity(planned.type_label, options, fingerprints)

        if self._dry is not None and identity in self._dry.planned:
            return self._remember(planned, JobResult(self._dry.planned[identity], "Planned"))
        found, not_reused = self._find_existing(job_type, options, identity)
        if found is not None:
            return self._remember(planned, found)
        if not_reused is None:
            not_reused = self._changed_since(planned, job_type, options, fingerprints)
        if self._dry is not None:
            return self._remember(planned, self._plan_only(planned, job_type, options, identity,
                                                           not_reused))
        if not_reused is not None:
            self._log("job not reused", not_reused[0], planned.stage, why=not_reused[1])
        return self._remember(planned, self._run_new(planned, job_type, options, identity,
                                                      fingerprints, inputs))

    def look_at_project(self) -> None:
        """Before the first job: rebuild a damaged default_pipeline.star from the job
        directories, and mark failed every job the pipeline lists as running whose processes are
        gone without an exit marker (so nothing stays "Running" forever)."""
        self._looked = True
        repaired = self.project.repair_pipeline()
        if repaired:
            self.logger.warning("pipeline file rebuilt", detail=repaired)
        for process in self.project.read_pipeline().processes:
            if process.status != RUNNING or self.project.state(process.name).status != UNFINISHED:
                continue
            record = self.project.read_record(process.name)
            if record is None:
                continue  # a job RELION itself runs: not py2rely's to judge
            started_by = record.get("executor", "")
            if started_by and self.executor_name and started_by != self.executor_name:
                self.logger.warning("job left as it is", job=process.name,
                                    why=f"started by the {started_by} executor, this run uses "
                                        f"{self.executor_name}")
                continue
            job_type = self.job_types.get(str(record.get("type", process.type_label)))
            runnable = RunnableJob(str(self.project.root), process.name, _name(process.name), (),
                                   job_type.resource if job_type else "cpu", str(record.get("stage", "")))
            probe = self._probe(runnable)
            if probe.state == JobProbe.GONE:
                self._mark_lost(process.name, str(record.get("stage", "")), probe)

    # -- reuse ----------------------------------------------------------------------------

    def _find_existing(self, job_type: JobType, options: Mapping[str, str], identity: str
                       ) -> tuple[JobResult | None, tuple[str, str] | None]:
        """A job to reuse (or re-attach to), else None and why the newest job with the same
        identity was not reused (None when there is none)."""
        not_reused: tuple[str, str] | None = None
        for job_dir in reversed(self.project.job_dirs(job_type.directory)):
            record = self.project.read_record(job_dir)
            if record is None or record.get("identity") != identity:
                continue
            stage = str(record.get("stage", ""))
            state = self.project.state(job_dir).status
            why = ""
            if state == SUCCEEDED:
                problems = self._output_problems(job_type, options, job_dir)
                if not problems:
                    elapsed = float(record.get("elapsed", 0.0))
                    self._log("job reused", job_dir, stage, elapsed=elapsed)
                    return JobResult(job_dir=job_dir, status=SUCCEEDED, elapsed=elapsed, reused=True), None
                why = _outputs_damaged(problems)
                if not self.dry_run:
                    self.project.mark_failed(job_dir, f"its outputs are no longer whole: {why}")
            elif state == UNFINISHED and not self.dry_run:
                runnable = self._runnable(job_dir, job_type, options, stage)
                probe = self._probe(runnable)
                handle = self.executor.reattach(runnable) if probe.state != JobProbe.GONE else None
                if handle is not None:
                    self._log("job re-attached", job_dir, stage, state=probe.detail or None)
                    started = float(record.get("started", time.time()))
                    return self._finish(stage, job_type, options, job_dir, runnable, handle, started,
                                        record), None
                why = self._mark_lost(job_dir, stage, probe)
            elif state == UNFINISHED:
                why = "it has no exit marker (a driver may still run it)"
            else:
                why = f"it {state.lower()}" + (f": {record['reason']}" if record.get("reason") else "")
            not_reused = not_reused or (job_dir, why)
        return None, not_reused

    def _changed_since(self, planned: PlannedJob, job_type: JobType, options: Mapping[str, str],
                       fingerprints: Mapping[str, str]) -> tuple[str, str] | None:
        """The closest job of the same stage (same type, stage and binning) from an earlier run,
        and what changed since: options (an upstream job that ran again has a new directory) or
        input files. None on a first run."""
        best: tuple[int, str, str] | None = None
        this_run = {result.job_dir for _, result in self.results}  # e.g. a mask widened on purpose
        for job_dir in reversed(self.project.job_dirs(job_type.directory)):
            if job_dir in this_run:
                continue
            record = self.project.read_record(job_dir)
            if (record is None or record.get("stage") != planned.stage
                    or record.get("binning") != planned.binning):
                continue
            earlier = self.project.read_job_star(job_dir)
            if earlier is None:
                continue
            changed = [key for key in sorted(set(options) | set(earlier.options))
                       if options.get(key, "") != earlier.options.get(key, "")]
            inputs = record.get("inputs", {})
            changed_files = [path for path in sorted(set(fingerprints) | set(inputs))
                             if fingerprints.get(path) != inputs.get(path)]
            if not changed and not changed_files:
                continue  # same options and inputs: it had the same identity (handled above)
            words = [f"{key} ({earlier.options.get(key, '')!r} → {options.get(key, '')!r})"
                     for key in changed[:3]]
            words += [f"input file {path} changed" for path in changed_files[:2]]
            more = len(changed) + len(changed_files) - len(words)
            why = "since then " + ", ".join(words) + (f" and {more} more" if more > 0 else "")
            score = len(changed) + len(changed_files)
            if best is None or score < best[0]:
                best = (score, job_dir, why)
        return (best[1], best[2]) if best else None

    def _probe(self, job: RunnableJob) -> JobProbe:
        """Is the job an earlier driver started still queued or running? Executors without
        ``probe`` are asked through ``reattach``."""
        probe = getattr(self.executor, "probe", None)
        if probe is not None:
            return probe(job)
        return (JobProbe(JobProbe.ACTIVE) if self.executor.reattach(job) is not None
                else JobProbe(JobProbe.GONE, "its executor finds no process of it"))

    def _mark_lost(self, job_dir: str, stage: str, probe: JobProbe) -> str:
        why = lost_job_reason(probe.detail)
        self.project.mark_failed(job_dir, why)
        self.logger.warning("job marked failed", job=job_dir, stage=stage, why=why)
        return "it was marked failed: " + why

    def _output_problems(self, job_type: JobType, options: Mapping[str, str], job_dir: str) -> list[str]:
        checks = getattr(job_type, "output_checks", None)
        return outputs.output_problems(
            self.project.root, job_type.required_outputs(options, job_dir),
            [node.path for node in job_type.output_nodes(options, job_dir)],
            checks(options, job_dir) if checks is not None else ())

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
            name=_name(job_dir),
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
        if self.executor_name:
            record["executor"] = self.executor_name
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
        return self._finish(planned.stage, job_type, options, job_dir, runnable, None, started,
                            record, planned)

    def _finish(self, stage: str, job_type: JobType, options: Mapping[str, str], job_dir: str,
                runnable: RunnableJob, handle: Any, started: float, record: dict[str, Any],
                planned: PlannedJob | None = None) -> JobResult:
        """Start the job (``handle`` None) or follow a re-attached one, to its end."""
        try:
            if handle is None:
                # A signal between starting the job and holding its handle would leave it running
                # with nobody to stop it.
                with signals.deferred():
                    handle = self.executor.start(runnable)
            with watch_job(self.project.path(job_dir), job_dir, stage):  # a live bar, or log lines
                outcome = self.executor.wait(handle)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (py2rely_core.signals)
            signum = signals.interrupted_by(exc)
            if handle is not None:
                self.executor.cancel(handle)
            else:
                record_abort(self.project.path(job_dir))
            self._conclude(job_dir, ABORTED, started, record,
                           f"interrupted by {signals.signal_name(signum)}")
            self._log("job aborted", job_dir, stage, elapsed=time.time() - started,
                      signal=signals.signal_name(signum))
            raise Aborted(f"interrupted by {signals.signal_name(signum)}: {job_dir} was aborted (its "
                          "processes were stopped)", exit_code=128 + signum) from None
        status, problem = self._judge(job_type, options, job_dir, outcome)
        elapsed = self._conclude(job_dir, status, started, record, problem)
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
            if outcome.status == SUCCEEDED and state == UNFINISHED:
                detail = f"it ended without RELION's exit marker ({detail or 'no exit code'})"
            self._mark_failed(job_dir)
            return FAILED, detail or "failed"
        problems = self._output_problems(job_type, options, job_dir)
        if problems:
            self._mark_failed(job_dir)
            missing = [line.removesuffix(" is missing") for line in problems if line.endswith(" is missing")]
            if missing and len(missing) == len(problems):
                return FAILED, f"it reported success but did not write {', '.join(missing)}"
            return FAILED, f"it reported success but {_outputs_damaged(problems)}"
        return SUCCEEDED, ""

    def _mark_failed(self, job_dir: str) -> None:
        record_failure(self.project.path(job_dir))

    def _conclude(self, job_dir: str, status: str, started: float, record: dict[str, Any],
                  reason: str = "") -> float:
        elapsed = time.time() - started
        record = {**record, "status": status, "finished": time.time(), "elapsed": round(elapsed, 3)}
        if reason:
            record["reason"] = reason
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
                   identity: str, not_reused: tuple[str, str] | None) -> JobResult:
        assert self._dry is not None
        job_dir = self.project.job_dir_name(job_type.directory, self._dry.next_number)
        self._dry.next_number += 1
        self._dry.planned[identity] = job_dir
        runnable = self._runnable(job_dir, job_type, options, planned.stage)
        self.echo(f"{job_dir}  {planned.stage}" + (f" (bin {planned.binning})" if planned.binning else ""))
        if not_reused is not None:
            self.echo(f"    ({not_reused[0]} is not reused: {not_reused[1]})")
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


def _outputs_damaged(problems: list[str]) -> str:
    return problems[0] + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else "")


def _name(job_dir: str) -> str:
    return job_dir.strip("/").replace("/", "_")


def _number(job_dir: str) -> int:
    return int(job_dir.rstrip("/").rsplit("job", 1)[1])
