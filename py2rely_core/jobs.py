"""A job's identity: its type, its options and the content of the files it reads from outside the
project. Two runs of a workflow that ask for a job with the same identity get the same job."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

# Files larger than this are identified by size and modification time instead of content:
# hashing gigabytes of tilt series at every resume would cost more than it protects.
CONTENT_HASH_LIMIT = 64 * 1024 * 1024
_STAR_PATH = re.compile(r"[^\s\"']+\.(?:star|mrcs?|mrc)\b")


def fingerprint(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    if stat.st_size > CONTENT_HASH_LIMIT:
        return f"size={stat.st_size};mtime_ns={stat.st_mtime_ns}"
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256=" + digest.hexdigest()


def referenced_files(star_path: Path, base: Path) -> list[Path]:
    """Files a STAR file names (per-tilt-series STARs, image stacks), resolved as RELION resolves
    them: relative to the project directory ``base``."""
    try:
        text = star_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: dict[str, Path] = {}
    for match in _STAR_PATH.finditer(text):
        name = match.group(0).split("@")[-1]
        candidate = Path(name) if os.path.isabs(name) else base / name
        if candidate.is_file():
            found[str(candidate)] = candidate
    return list(found.values())


def external_fingerprints(paths: Iterable[str], project_root: Path) -> dict[str, str]:
    """Fingerprints of the inputs that live outside the project, and of the files they name.

    Inputs inside the project are outputs of earlier jobs: their path already identifies them,
    because a job that changes gets a new job directory.
    """
    prints: dict[str, str] = {}
    for raw in paths:
        path = Path(raw) if os.path.isabs(raw) else project_root / raw
        resolved = path.resolve()
        if resolved.is_relative_to(project_root) and _is_job_output(resolved, project_root):
            continue
        prints[raw] = fingerprint(resolved)
        if resolved.suffix == ".star":
            for child in referenced_files(resolved, project_root):
                prints.setdefault(str(child), fingerprint(child))
    return dict(sorted(prints.items()))


def _is_job_output(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return len(parts) >= 3 and re.fullmatch(r"job\d{3,}", parts[1]) is not None


def identity(type_label: str, options: Mapping[str, str], fingerprints: Mapping[str, str]) -> str:
    payload = json.dumps(
        {"type": type_label, "options": dict(sorted(options.items())),
         "inputs": dict(sorted(fingerprints.items()))},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]
