"""Atomic file writes: write to a temporary file in the same directory, fsync, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None,
                durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; it replaces ``target`` only if the block succeeds.

    ``suffix`` defaults to the target's own suffix so that libraries choosing a format from the
    file name (mrcfile, starfile) still do so. ``durable=False`` skips the fsync, for files that
    can be made again (a report's pictures): readers still never see a half-written file.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
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
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(target: str | os.PathLike[str], mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file for writing that atomically replaces ``target`` on success."""
    with atomic_path(target) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


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
