"""Writing a copick pick set so that readers see either the old file or the new one, never half of it.

copick's filesystem back-end writes ``{user}_{session}_{object}.json`` in place (``fs.open(path, "w")``),
so an interrupted export would leave a truncated JSON that copick can no longer read. Pick sets are
therefore created through copick's own classes and ``from_numpy``, and only their ``_store`` (copick's
documented storage hook) is replaced: the same JSON document goes to a hidden temporary file in the
``Picks`` directory (copick ignores names starting with ``.``), is flushed to disk, and replaces the
target with ``os.replace``. Storage that is not a local filesystem keeps copick's own ``_store``
(object stores replace whole objects anyway).
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from copick.models import CopickPicksFile

from py2rely_core.atomic import make_parents, naming, remove_empty


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import (single-threaded): os.umask can only be read by setting it.
_NEW_FILE_MODE = 0o666 & ~_current_umask()


def _is_local(fs: Any) -> bool:
    protocol = getattr(fs, "protocol", None)
    protocols = (protocol,) if isinstance(protocol, str) else tuple(protocol or ())
    return bool({"file", "local"} & set(protocols))


def replace_file_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` via a hidden temporary file and a rename in the same directory.

    A new file gets the permissions the user's umask gives (not mkstemp's 0600, which would hide
    the picks from the rest of a lab); a replaced file keeps its own.
    """
    made = make_parents(target.parent)
    try:
        try:
            mode = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = _NEW_FILE_MODE
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp_name, mode)
            os.replace(tmp_name, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
    except OSError as exc:
        remove_empty(made)  # a full disk or a read-only project leaves no empty Picks directory
        raise naming(exc, target) from exc


class _AtomicStore:
    """Mixin for copick's fsspec-backed pick classes (they provide ``fs``, ``path``, ``meta``)."""

    def _store(self) -> None:
        if not _is_local(self.fs):  # type: ignore[attr-defined]
            super()._store()  # type: ignore[misc]
            return
        # The same document copick's own _store writes (json.dump of model_dump, indent 4), but
        # serialised by pydantic's compiled encoder instead of Python's pure-Python indenting one.
        text = self.meta.model_dump_json(indent=4)  # type: ignore[attr-defined]
        replace_file_atomically(Path(self.path), text)  # type: ignore[attr-defined]


@functools.cache
def _atomic_class(picks_class: type) -> type:
    return type(f"Atomic{picks_class.__name__}", (_AtomicStore, picks_class), {})


def writable_picks(run: Any, object_name: str, user_id: str, session_id: str) -> Any:
    """A pick set of ``run`` that stores atomically; nothing is written until it is stored.

    Unlike ``run.new_picks`` this does not write an empty file first, and it does not refuse an
    existing set: the caller decides about overwriting before calling.
    """
    picks_class = _atomic_class(run._picks_factory())
    meta = CopickPicksFile(
        pickable_object_name=object_name, user_id=user_id, session_id=session_id, run_name=run.name,
    )
    return picks_class(run=run, file=meta)


def write_picks(
    run: Any, object_name: str, user_id: str, session_id: str, positions: np.ndarray,
    transforms: np.ndarray,
) -> str:
    """Replace the pick set (object, user, session) of ``run``; returns the file written."""
    picks = writable_picks(run, object_name, user_id, session_id)
    picks.from_numpy(positions, transforms)
    return str(picks.path)
