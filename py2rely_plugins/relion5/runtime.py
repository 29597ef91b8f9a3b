"""Which RELION 5 runs the jobs: one on PATH (a site install, often after `module load`), or the
embedded runtime that `py2rely relion install` puts in a cache directory.

The embedded runtime is Debian's `relion` package (suite sid, RELION 5.1) installed with
debootstrap into a self-contained root, plus a directory of thin wrappers (`relion_*`, `mpirun`)
that run the real programs inside that root with the host's directories visible at the same
paths (see run_in_root.sh).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from py2rely_core.errors import RuntimeNotFound
from py2rely_core.progress import ProgressTask, progress_task

HOME_ENV = "PY2RELY_RELION_HOME"
SETUP_ENV = "PY2RELY_RELION_SETUP"
DEBIAN_SUITE = "sid"
DEBIAN_PACKAGES = ("relion", "openmpi-bin")
PROBE_PROGRAM = "relion_refine"
MINIMUM_MAJOR_VERSION = 5
_VERSION_PATTERN = re.compile(r"RELION version:\s*([0-9][0-9.]*)")


def runtime_home() -> Path:
    """Where the embedded runtime lives: $PY2RELY_RELION_HOME, else the user's cache directory."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(cache) / "py2rely" / "relion5"


@dataclass(frozen=True)
class EmbeddedLayout:
    home: Path

    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def record(self) -> Path:
        return self.home / "install.json"

    def root_complete(self) -> bool:
        return (self.root / "usr" / "bin" / PROBE_PROGRAM).is_file()

    def wrappers_complete(self) -> bool:
        """Wrappers exist and run the script this version of py2rely ships."""
        runner = self.bin_dir / "run-in-root"
        try:
            current = runner.read_bytes() == packaged_runner()
        except OSError:
            return False
        return current and (self.bin_dir / PROBE_PROGRAM).exists() and (self.bin_dir / "mpirun").exists()


def packaged_runner() -> bytes:
    return resources.files(__package__).joinpath("run_in_root.sh").read_bytes()


@dataclass(frozen=True)
class Runtime:
    """A RELION installation jobs can use."""

    kind: str  # "path" (found on PATH after the setup lines) or "embedded"
    bin_dir: Path | None  # directory to put first on PATH (embedded wrappers); None for "path"
    setup_lines: tuple[str, ...] = ()

    def job_setup_lines(self) -> list[str]:
        """Shell lines a job script runs before RELION's programs."""
        lines = list(self.setup_lines)
        if self.bin_dir is not None:
            lines.append(f'export PATH="{self.bin_dir}:$PATH"')
        return lines

    def run(self, words: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one command with this runtime's set-up, from the current directory."""
        script = "\n".join([*self.job_setup_lines(), " ".join(_quote(w) for w in words)])
        env = dict(os.environ)
        env.setdefault("HOME", str(Path.home()))
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)

    def version(self) -> str:
        result = self.run([PROBE_PROGRAM, "--version"])
        match = _VERSION_PATTERN.search(result.stdout + result.stderr)
        if not match:
            raise RuntimeNotFound(
                f"{PROBE_PROGRAM} --version ({self.describe()}) printed no RELION version: "
                f"{(result.stderr or result.stdout).strip()[:200]}"
            )
        return match.group(1)

    def describe(self) -> str:
        if self.kind == "embedded":
            return f"embedded root {self.bin_dir.parent if self.bin_dir else '?'}"
        where = shutil.which(PROBE_PROGRAM) or "after the setup lines"
        return f"PATH ({where})"


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def setup_lines_from_env() -> tuple[str, ...]:
    """Site set-up lines from $PY2RELY_RELION_SETUP (lines separated by newlines or ';')."""
    text = os.environ.get(SETUP_ENV, "")
    return tuple(line.strip() for line in re.split(r"[\n;]", text) if line.strip())


def _on_path(setup_lines: Sequence[str], layout: EmbeddedLayout) -> bool:
    if setup_lines:
        script = "\n".join([*setup_lines, f"command -v {PROBE_PROGRAM}"])
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
        found = result.stdout.strip().splitlines()
        location = found[-1] if result.returncode == 0 and found else ""
    else:
        location = shutil.which(PROBE_PROGRAM) or ""
    # Our own wrappers on PATH are the embedded runtime, not a site install.
    return bool(location) and Path(location).resolve().parent != layout.bin_dir.resolve()


def locate(setup_lines: Sequence[str] = (), home: Path | None = None) -> Runtime | None:
    """PATH first (after the site's set-up lines), then the embedded root; None if neither."""
    lines = tuple(setup_lines) or setup_lines_from_env()
    layout = EmbeddedLayout(home or runtime_home())
    if _on_path(lines, layout):
        return Runtime(kind="path", bin_dir=None, setup_lines=lines)
    if layout.root_complete():
        if not layout.wrappers_complete():
            try:  # wrappers of an older py2rely: refresh them (no root needed)
                write_wrappers(layout)
            except OSError:
                return None
        return Runtime(kind="embedded", bin_dir=layout.bin_dir, setup_lines=lines)
    return None


def require(setup_lines: Sequence[str] = ()) -> Runtime:
    runtime = locate(setup_lines)
    if runtime is None:
        raise RuntimeNotFound(
            f"no RELION 5 found: {PROBE_PROGRAM} is not on PATH and no embedded runtime is in "
            f"{runtime_home()} (run `py2rely relion install`, or name your site's set-up lines in "
            f"${SETUP_ENV} or compute.setup_lines of the parameter file)"
        )
    return runtime


# ---------------------------------------------------------------------------------------------
# Installing the embedded runtime


def check_host() -> None:
    """Refuse hosts where the embedded runtime cannot work, naming what is missing."""
    if platform.system() != "Linux":
        raise RuntimeNotFound(f"the embedded RELION runtime needs Linux (this is {platform.system()})")
    if os.geteuid() != 0:
        raise RuntimeNotFound(
            "installing the embedded RELION runtime needs root (debootstrap, chroot and mounts); "
            "run `sudo py2rely relion install` or put RELION 5 on PATH"
        )
    for tool in ("unshare", "chroot", "mount"):
        if shutil.which(tool) is None:
            raise RuntimeNotFound(f"the embedded RELION runtime needs `{tool}` (util-linux/coreutils)")


def ensure_debootstrap(progress: Callable[[str], None]) -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").is_file() else None)
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeNotFound(
            "debootstrap is missing and this host has no apt-get to install it "
            "(the embedded RELION runtime needs a Debian or Ubuntu host)"
        )
    progress("installing debootstrap with apt-get")
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "debootstrap"],
        capture_output=True, text=True, check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise RuntimeNotFound(f"apt-get install debootstrap failed: {tail[0]}")
    return shutil.which("debootstrap") or "/usr/sbin/debootstrap"


class DebootstrapProgress:
    """debootstrap's output as one progress bar: first the packages downloaded (how many there
    will be is not known yet), then the packages unpacked and configured, against twice the number
    downloaded."""

    def __init__(self, task: ProgressTask) -> None:
        self.task = task
        self.retrieved = 0
        self.installed = 0

    def feed(self, line: str) -> None:
        words = line.split()
        if line.startswith("I: Retrieving") and len(words) == 4:  # "I: Retrieving NAME VERSION"
            self.retrieved += 1
            self.task.update(completed=self.retrieved, package=words[2],
                             description=f"downloading Debian {DEBIAN_SUITE} packages")
        elif line.startswith(("I: Unpacking", "I: Configuring")) and self.retrieved:
            self.installed += 1
            total = 2 * self.retrieved
            self.task.update(completed=min(self.installed, total), total=total,
                             description="installing the packages", package=" ".join(words[1:3]))

    def finish(self) -> None:
        if self.retrieved:
            self.task.update(completed=2 * self.retrieved, total=2 * self.retrieved)


def _debootstrap(debootstrap: str, target: Path, progress: Callable[[str], None]) -> None:
    command = [
        debootstrap, "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
        DEBIAN_SUITE, str(target),
    ]
    log_path = target.parent / "debootstrap.log"

    def emit(message: str, fields: dict) -> None:  # off a terminal: a line now and then
        done = f" ({fields['done']} packages)" if "done" in fields else ""
        progress(f"{message}{done}")

    with open(log_path, "w", encoding="utf-8") as log, subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    ) as process, progress_task(f"downloading Debian {DEBIAN_SUITE} packages", emit=emit) as task:
        assert process.stdout is not None
        packages = DebootstrapProgress(task)
        for line in process.stdout:
            log.write(line)
            packages.feed(line)
        code = process.wait()
        if code == 0:
            packages.finish()
    if code != 0:
        tail = log_path.read_text(encoding="utf-8").strip().splitlines()[-1:] or [""]
        raise RuntimeNotFound(f"debootstrap failed (exit {code}): {tail[0]} (full log: {log_path})")


def write_wrappers(layout: EmbeddedLayout) -> int:
    """(Re)create the wrapper directory: one symlink per RELION program, plus mpirun."""
    staging = layout.home / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    runner = staging / "run-in-root"
    runner.write_bytes(packaged_runner())
    runner.chmod(0o755)
    (staging / ".root").write_text(str(layout.root) + "\n", encoding="utf-8")
    programs = sorted(p.name for p in (layout.root / "usr" / "bin").glob("relion_*"))
    for name in [*programs, "mpirun"]:
        (staging / name).symlink_to("run-in-root")
    shutil.rmtree(layout.bin_dir, ignore_errors=True)
    staging.rename(layout.bin_dir)
    return len(programs)


def install(home: Path | None = None, progress: Callable[[str], None] | None = None) -> tuple[Runtime, bool]:
    """Install the embedded runtime unless it is there; returns (runtime, installed_now)."""
    layout = EmbeddedLayout(home or runtime_home())
    report = progress or (lambda message: None)
    if layout.root_complete() and layout.wrappers_complete():
        return Runtime(kind="embedded", bin_dir=layout.bin_dir), False
    check_host()
    layout.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not layout.root_complete():
        debootstrap = ensure_debootstrap(report)
        partial = layout.home / "root.partial"
        shutil.rmtree(partial, ignore_errors=True)
        _debootstrap(debootstrap, partial, report)
        shutil.rmtree(layout.root, ignore_errors=True)
        partial.rename(layout.root)
    programs = write_wrappers(layout)
    runtime = Runtime(kind="embedded", bin_dir=layout.bin_dir)
    record = {
        "suite": DEBIAN_SUITE, "packages": list(DEBIAN_PACKAGES), "programs": programs,
        "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - started, 1),
        "python": sys.version.split()[0],
    }
    layout.record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return runtime, True


def version_or_error(runtime: Runtime) -> str:
    """The version, refusing RELION older than 5 (the tomography programs are needed)."""
    version = runtime.version()
    major = int(version.split(".")[0])
    if major < MINIMUM_MAJOR_VERSION:
        raise RuntimeNotFound(
            f"RELION {version} ({runtime.describe()}) is too old: py2rely needs RELION "
            f"{MINIMUM_MAJOR_VERSION} or newer for its tomography programs"
        )
    return version


def disk_usage(path: Path) -> int:
    total = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    return total


def check_mpi(runtime: Runtime, ranks: int = 3) -> tuple[bool, str]:
    """Run a trivial program on ``ranks`` MPI ranks; (works, detail)."""
    result = runtime.run(["mpirun", "-n", str(ranks), "hostname"], timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode == 0 and len(lines) == ranks:
        return True, f"mpirun -n {ranks} ran {ranks} ranks"
    detail = (result.stderr or result.stdout).strip().splitlines()
    return False, f"mpirun -n {ranks} failed (exit {result.returncode}): {detail[-1] if detail else ''}"
