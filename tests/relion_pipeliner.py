"""RELION's own pipeliner as the reference for the commands py2rely runs.

Given a job.star, ``Pipeliner.run_job`` answers: which programs, with which argv, would RELION's
``relion_pipeliner`` run for it, which nodes does it declare, and what did it print about the
job.star (``WARNING: cannot find X in the defined joboptions``, errors)? Nothing heavy runs:

1. A scratch project gets a ``default_pipeline.star`` whose job counter gives the job the same
   directory (``Refine3D/job012/``) as in py2rely's project, and empty stand-ins for the job's
   relative input files (RELION's scheduler waits for every input node to exist; it reads none).
2. ``relion_pipeliner --addJobFromStar`` reads the job.star as RELION reads a saved job (printing
   a warning for every option it does not know) and schedules it.
3. ``relion_pipeliner --RunJobs`` builds the commands exactly as for a real run and hands them to
   the shell, where every ``relion_*`` program and ``mpirun`` (RELION_MPIRUN) resolve to a stub
   that records its argv and exits. The shell has done its word splitting, so the records are the
   argv lists the programs would have received.
4. When every RELION program of the job (note.txt lists them) has recorded its argv, the stand-in
   success marker lets the pipeliner finish; plain shell commands of the job (InitialModel's
   ``rm``/``touch`` of the success marker) really ran in the scratch project and are reported as
   such.

With the embedded runtime, programs run inside its root, whose wrapper resets PATH: the stub
directory is put first on PATH by starting the root's own ``env`` through the same wrapper. Every
``RELION_*`` variable of the caller is removed (they change option defaults).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from py2rely_core.relion_files import read_job_star, read_pipeline
from py2rely_plugins.relion5.runtime import Runtime

ROOT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"  # PATH inside the embedded root
LAUNCHER_STUB = "mpirun-from-RELION_MPIRUN"
INPUT_PREFIXES = ("fn_", "in_")
MISSING_OUTPUT = "does not exist, while job"  # RELION's note that a stub wrote no output

# Records its working directory and argv (NUL-separated, one file per call, named by the
# nanosecond clock so that they sort by call time) and exits.
STUB = r"""#!/bin/sh
set -u
stamp=$(date +%s%N)
file="$RELION_ORACLE_RECORDS/$stamp-$$.argv"
{
    printf '%s\0' "$(pwd)" "$0"
    for arg in "$@"; do printf '%s\0' "$arg"; done
} > "$file.tmp" && mv "$file.tmp" "$file"
exit 0
"""


@dataclass
class PipelinerRun:
    """What RELION's pipeliner did with one job.star."""

    job_dir: str = ""
    argv: list[list[str]] = field(default_factory=list)  # "mpirun -n N" first for MPI programs
    shell_commands: list[str] = field(default_factory=list)  # non-RELION commands of the job
    warnings: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)  # RELION's complete option table
    input_nodes: dict[str, str] = field(default_factory=dict)
    output_nodes: dict[str, str] = field(default_factory=dict)
    error: str = ""


def _lines(*texts: str) -> list[str]:
    return [line.strip() for text in texts for line in text.splitlines() if line.strip()]


def _warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if ("WARNING" in line.upper() or "ERROR" in line.upper())
            and MISSING_OUTPUT not in line]


def _note_commands(note: Path) -> list[str] | None:
    """The command list of the last run recorded in a job's note.txt (None until complete)."""
    if not note.exists():
        return None
    lines = note.read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(lines) if "with the following command(s):" in line]
    if not starts:
        return None
    commands = []
    for line in lines[starts[-1] + 1:]:
        if line.strip() == "++++":
            return commands
        commands.append(line.strip())
    return None


class Pipeliner:
    """``relion_pipeliner`` of one RELION installation, with stubs for every other program."""

    def __init__(self, runtime: Runtime, scratch: Path, timeout: float = 120) -> None:
        self.runtime = runtime
        self.scratch = Path(scratch)
        self.timeout = timeout
        self.stubs = self.scratch / "stubs"
        self.stubs.mkdir(parents=True, exist_ok=True)
        stub = self.stubs / "relion-oracle-stub"
        stub.write_text(STUB, encoding="utf-8")
        stub.chmod(0o755)
        for name in sorted(self._program_names()):
            (self.stubs / name).symlink_to(stub.name)
        (self.stubs / LAUNCHER_STUB).symlink_to(stub.name)
        if runtime.bin_dir is not None:
            # The root's own `env` through the wrapper: it sets PATH after the wrapper reset it.
            self.enter = self.scratch / "enter"
            self.enter.mkdir(exist_ok=True)
            shutil.copy(runtime.bin_dir / ".root", self.enter / ".root")
            (self.enter / "env").symlink_to(runtime.bin_dir / "run-in-root")

    def _program_names(self) -> set[str]:
        if self.runtime.bin_dir is not None:
            programs = Path((self.runtime.bin_dir / ".root").read_text().strip()) / "usr" / "bin"
        else:
            found = self.runtime.run(["sh", "-c", "command -v relion_pipeliner"])
            programs = Path(found.stdout.strip()).parent
        names = {p.name for p in programs.glob("relion_*")} | {"mpirun"}
        names.discard("relion_pipeliner")
        return names

    # -- running the pipeliner -------------------------------------------------------------

    def _command(self, args: list[str]) -> list[str]:
        if self.runtime.bin_dir is not None:
            return [str(self.enter / "env"), f"PATH={self.stubs}:{ROOT_PATH}", "relion_pipeliner", *args]
        setup = "\n".join(self.runtime.setup_lines)
        quoted = " ".join(_quote(a) for a in args)
        return ["bash", "-c", f'{setup}\nPATH="{self.stubs}:$PATH" exec relion_pipeliner {quoted}']

    def _env(self, records: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELION_")}
        env.setdefault("HOME", str(Path.home()))
        env["RELION_ORACLE_RECORDS"] = str(records)
        env["RELION_MPIRUN"] = str(self.stubs / LAUNCHER_STUB)
        return env

    def option_table(self, type_label: str, is_tomo: bool) -> dict[str, str]:
        """RELION's options of a job type with their defaults (``--editJob`` on a one-option
        job.star: RELION initialises the job type and writes every option back; nothing runs)."""
        work = Path(tempfile.mkdtemp(prefix="table-", dir=self.scratch))
        seed, out = work / "seed_job.star", work / "all_options_job.star"
        seed.write_text(_job_star_text(type_label, is_tomo, {"do_queue": "No"}), encoding="utf-8")
        result = subprocess.run(
            self._command(["--editJob", str(seed), "--editJobOut", str(out), "--editOption", "do_queue",
                           "--editValue", "No"]),
            cwd=work, env=self._env(work), capture_output=True, text=True, timeout=self.timeout)
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(f"relion_pipeliner --editJob {type_label}: {result.stderr[-500:]}")
        return dict(read_job_star(out).options)

    def run_job(self, job_star_text: str, job_dir: str) -> PipelinerRun:
        """Add and run one job.star as job ``job_dir`` (e.g. "Refine3D/job012/")."""
        work = Path(tempfile.mkdtemp(prefix="job-", dir=self.scratch))
        project, records = work / "project", work / "records"
        project.mkdir()
        records.mkdir()
        number = int(job_dir.rstrip("/").rsplit("job", 1)[1])
        (project / "default_pipeline.star").write_text(
            f"\n# version 50001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter {number}\n\n")
        (project / "oracle_job.star").write_text(job_star_text, encoding="utf-8")
        run = PipelinerRun()
        problem = _make_inputs(project, read_job_star(project / "oracle_job.star").options)
        if problem:
            run.error = problem
            return run
        env = self._env(records)
        added = subprocess.run(self._command(["--addJobFromStar", "oracle_job.star"]), cwd=project,
                               env=env, capture_output=True, text=True, timeout=self.timeout)
        run.warnings = _warnings(_lines(added.stdout, added.stderr))
        scheduled = [p.name for p in read_pipeline(project / "default_pipeline.star").processes
                     if p.status == "Scheduled"]
        if added.returncode != 0 or len(scheduled) != 1:
            run.error = f"--addJobFromStar failed (exit {added.returncode}): {added.stderr.strip()[-500:]}"
            return run
        run.job_dir = scheduled[0]
        job_path = project / run.job_dir
        run.options = dict(read_job_star(job_path / "job.star").options)
        self._run_scheduled(run, project, records, env)
        pipeline = read_pipeline(project / "default_pipeline.star")
        run.input_nodes = {node: pipeline.nodes[node][0] for node, process in pipeline.input_edges
                           if process == run.job_dir}
        run.output_nodes = {node: pipeline.nodes[node][0] for process, node in pipeline.output_edges
                            if process == run.job_dir}
        run.argv = [self._normalise(words) for words in _read_records(records)]
        return run

    def _run_scheduled(self, run: PipelinerRun, project: Path, records: Path, env: dict[str, str]) -> None:
        process = subprocess.Popen(
            self._command(["--RunJobs", run.job_dir, "--sec_wait_after", "1"]), cwd=project, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        note = project / run.job_dir / "note.txt"
        deadline = time.monotonic() + self.timeout
        marked = False
        while process.poll() is None and time.monotonic() < deadline:
            commands = _note_commands(note)
            if commands is not None and not marked:
                programs = sum("relion_" in c for c in commands)
                if len(list(records.glob("*.argv"))) >= programs:
                    (project / run.job_dir / "RELION_JOB_EXIT_SUCCESS").touch()
                    marked = True
            time.sleep(0.05)
        if process.poll() is None:
            os.killpg(process.pid, 15)  # the process group started here
            process.wait(10)
            run.error = f"--RunJobs did not finish within {self.timeout} s"
        out, err = process.communicate()
        run.warnings += [w for w in _warnings(_lines(out, err)) if w not in run.warnings]
        commands = _note_commands(note) or []
        run.shell_commands = [c for c in commands if "relion_" not in c]
        programs = sum("relion_" in c for c in commands)
        recorded = len(list(records.glob("*.argv")))
        if recorded != programs and not run.error:
            run.error = f"{recorded} program call(s) recorded for {programs} RELION command(s) in note.txt"

    def _normalise(self, words: list[str]) -> list[str]:
        """Stub paths back to program names; RELION_MPIRUN's stub back to `mpirun`."""
        prefix = f"{self.stubs}/"
        out = []
        for word in words:
            if word.startswith(prefix):
                word = word[len(prefix):]
                word = "mpirun" if word == LAUNCHER_STUB else word
            out.append(word)
        return out


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _read_records(records: Path) -> list[list[str]]:
    files = sorted(records.glob("*.argv"), key=lambda p: (int(p.name.split("-")[0]), p.name))
    calls = []
    for path in files:
        fields = path.read_bytes().split(b"\0")[:-1]
        calls.append([f.decode() for f in fields[1:]])  # without the working directory
    return calls


def _make_inputs(project: Path, options: dict[str, str]) -> str:
    """Empty stand-ins for the relative input files the job names; '' or why it cannot run."""
    for name, value in options.items():
        if not name.startswith(INPUT_PREFIXES) or not value or any(c.isspace() for c in value):
            continue
        if value.startswith("/") or value.startswith("../"):
            if not Path(value).exists():
                return f"input {name}={value} is outside the scratch project and does not exist"
            continue
        target = project / value
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    return ""


def _job_star_text(type_label: str, is_tomo: bool, options: dict[str, str]) -> str:
    from py2rely_core.relion_files import JobStar, render_job_star

    return render_job_star(JobStar(type_label, is_tomo, options))


def warning_about_options(warnings: list[str]) -> list[str]:
    """The pipeliner's complaints about the job.star itself (unknown or missing options)."""
    return [w for w in warnings if re.search(r"cannot find|joboption|empty field|ERROR", w, re.I)]
