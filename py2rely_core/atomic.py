"""Atomic file writes: write to a temporary file in the same directory, fsync, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from py2rely_core.errors import InputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None,
                durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; it replaces ``target`` only if the block succeeds.

    ``suffix`` defaults to the target's own suffix so that libraries choosing a format from the
    file name (mrcfile, starfile) still do so. If the block or the rename fails, the temporary
    file and any directory made for ``target`` are removed, and an ``OSError`` names ``target``
    (not the hidden temporary file), so a full disk or a read-only directory leaves nothing behind.
    ``durable=False`` skips the fsync, for files that can be made again (a report's pictures):
    readers still never see a half-written file.
    """
    target = Path(target)
    tmp: Path | None = None
    made: list[Path] = []
    done = False
    try:
        made = make_parents(target.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix if suffix is not None else "".join(target.suffixes),
            dir=target.parent,
        )
        os.close(fd)
        tmp = Path(tmp_name)
        # mkstemp creates the file readable by its owner only; give it the permissions a plain
        # open() would, so RELION and other users of the project can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        raise naming(exc, target, tmp) from exc
    finally:
        if tmp is not None and not done:
            with contextlib.suppress(OSError):
                tmp.unlink()
        if not done:
            remove_empty(made)


def naming(exc: OSError, target: Path, hidden: Path | None = None) -> OSError:
    """``exc`` with ``target`` as its file name where it names none or only ``hidden``."""
    if exc.filename is None or (hidden is not None and os.fspath(exc.filename) == os.fspath(hidden)) \
            or os.path.basename(os.fspath(exc.filename)).startswith(f".{target.name}."):
        return OSError(exc.errno, exc.strerror or str(exc), str(target))
    return exc


def make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; returns those it created, deepest first."""
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            created.append(path)
    except OSError:
        remove_empty(list(reversed(created)))
        raise
    return list(reversed(created))


@contextlib.contextmanager
def parent_directories(directory: str | os.PathLike[str]) -> Iterator[Path]:
    """Create ``directory`` (and missing parents) for the block; if the block fails, remove the
    ones made here again (when empty), so a failed command leaves no empty directories behind."""
    directory = Path(directory)
    made = make_parents(directory)
    try:
        yield directory
    except BaseException:
        remove_empty(made)
        raise


def remove_empty(directories: list[Path]) -> None:
    """Remove directories (deepest first) that are empty; keep any that gained files."""
    for directory in directories:
        with contextlib.suppress(OSError):
            directory.rmdir()


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that atomically replaces ``target`` on success."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def refuse_existing(path: str | os.PathLike[str], option: str, overwrite: bool) -> None:
    """An existing file at an output path is replaced only with ``--overwrite``: a user's file is
    never replaced silently."""
    if not overwrite and os.path.lexists(path):
        raise InputError(f"{option} {os.fspath(path)}", "exists", "a new path, or --overwrite to replace it")


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write(text)


def replace_directory(staging: Path, final_dir: Path) -> None:
    """Put a fully written ``staging`` directory in place of ``final_dir``.

    The old directory is moved aside first and removed only once the new one is in place, so a
    failure at any point leaves either the old or the new directory, never a mix.
    """
    old = None
    if final_dir.exists():
        old = final_dir.parent / f".{final_dir.name}.old-{os.getpid()}"
        final_dir.rename(old)
    try:
        staging.rename(final_dir)
    except OSError:
        if old is not None:
            old.rename(final_dir)
        raise
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
