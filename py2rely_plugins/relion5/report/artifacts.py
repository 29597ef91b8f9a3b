"""The report directory's files and the cache that spares redrawing them.

Every picture is keyed by the files it is drawn from (size and modification time); a refresh
redraws only pictures whose sources changed, and removes pictures no longer shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from py2rely_core import atomic
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.collect import ProjectData

IMAGE_DIR = "img"
LOG_DIR = "logs"
CACHE_FILE = ".py2rely_report_cache.json"
LOG_COPY_LIMIT = 256 * 1024  # bytes of a log copied into the report (its end)


class Artifacts:
    """Files of the report directory, redrawn only when their sources changed."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.cache_path = output / CACHE_FILE
        try:
            self.cache: dict[str, list] = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.cache = {}
        self.used: set[str] = set()
        self.drawn = 0
        self.problems: list[str] = []

    @staticmethod
    def signature(sources: Sequence[Path]) -> list:
        result = []
        for source in sources:
            try:
                stat = source.stat()
                result.append([str(source), stat.st_size, stat.st_mtime_ns])
            except OSError:
                result.append([str(source), None, None])
        return result

    def file(self, name: str, sources: Sequence[Path], draw: Callable[[Path], None]) -> str | None:
        """Relative path of ``name`` in the report, drawn by ``draw(path)`` unless up to date;
        None when drawing failed (the failure is listed in the report, never raised)."""
        target = self.output / name
        signature = self.signature(sources)
        self.used.add(name)
        if target.exists() and self.cache.get(name) == signature:
            return name
        try:
            with atomic.atomic_path(target, durable=False) as temporary:
                draw(temporary)
        except Exception as exc:  # one bad file must not cost the whole report
            self.problems.append(f"{name}: {type(exc).__name__}: {exc}")
            self.cache.pop(name, None)
            return None
        self.cache[name] = signature
        self.drawn += 1
        return name

    def value(self, key: str, sources: Sequence[Path], compute: Callable[[], Any]) -> Any:
        """A JSON-able figure computed from ``sources`` (``compute()``), reused while they are
        unchanged: the report's costly numbers (FSC against a truth map, pose errors) are
        computed once, not at every refresh. None when computing failed (listed, never raised)."""
        name = f"value:{key}"
        signature = self.signature(sources)
        self.used.add(name)
        cached = self.cache.get(name)
        if isinstance(cached, dict) and cached.get("signature") == signature:
            return cached["value"]
        try:
            value = compute()
        except Exception as exc:
            self.problems.append(f"{key}: {type(exc).__name__}: {exc}")
            self.cache.pop(name, None)
            return None
        self.cache[name] = {"signature": signature, "value": value}
        return value

    def finish(self) -> None:
        for folder in (IMAGE_DIR, LOG_DIR):
            for path in (self.output / folder).glob("*"):
                if f"{folder}/{path.name}" not in self.used and not path.name.startswith("."):
                    path.unlink(missing_ok=True)
        self.cache = {k: v for k, v in self.cache.items() if k in self.used}
        atomic.write_text(self.cache_path, json.dumps(self.cache))


@dataclass
class SectionContext:
    """What every section of the report is drawn from and into."""

    project: ProjectData
    art: Artifacts

    @property
    def root(self) -> Path:
        return self.project.root

    def picture(self, name: str, sources: Sequence[Path], draw: Callable[[Path], None],
                caption: str) -> str:
        made = self.art.file(name, sources, draw)
        return page.figure(made, caption) if made else ""


def image_name(job_dir: str, what: str, ext: str = "png") -> str:
    return f"{IMAGE_DIR}/{job_dir.strip('/').replace('/', '-')}-{what}.{ext}"


def log_name(job_dir: str, name: str) -> str:
    return f"{LOG_DIR}/{job_dir.strip('/').replace('/', '-')}-{name}.txt"


def copy_log(source: Path, temporary: Path) -> None:
    size = source.stat().st_size
    with open(source, "rb") as handle:
        if size > LOG_COPY_LIMIT:
            handle.seek(size - LOG_COPY_LIMIT)
        text = handle.read()
    prefix = b"[... earlier lines left out ...]\n" if size > LOG_COPY_LIMIT else b""
    temporary.write_bytes(prefix + text.replace(b"\r", b"\n"))
