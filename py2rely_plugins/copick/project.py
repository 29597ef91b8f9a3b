"""Opening copick projects and checking names against them, with one-line errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import copick
from copick.util.escape import sanitize_name

from py2rely_core.errors import InputError


def open_project(config: str | Path, option: str = "--config") -> Any:
    """The copick root of ``config``; any problem reading it is one InputError naming the file."""
    path = Path(config)
    if not path.is_file():
        raise InputError(f"{option} {path}", "copick config file not found")
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"not a readable JSON file ({exc})", "a copick config") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return copick.from_file(str(path))
    except Exception as exc:  # copick raises pydantic/Value/Key errors for bad configs
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(str(path), f"not a valid copick config ({first_line})") from None


def require_object(root: Any, name: str, config: str | Path, option: str) -> None:
    """``name`` must be one of the project's pickable objects."""
    names = [obj.name for obj in root.pickable_objects]
    if name not in names:
        raise InputError(
            f"{option} {name}", f"no pickable object of that name in {config}",
            "one of " + ", ".join(sorted(names)) if names else "an object listed in the config",
        )


def require_copick_id(value: str, option: str) -> str:
    """User and session IDs become part of a file name; copick forbids ``_``, spaces and ``<>:"/\\|?*``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cleaned = sanitize_name(value, suppress_warnings=True)
        except ValueError:
            cleaned = None
    if not value or cleaned != value:
        raise InputError(
            f"{option} {value!r}", "is not a valid copick name",
            "no underscores, spaces or any of <>:\"/\\|?*",
        )
    return value


def split_list(value: str, option: str) -> list[str]:
    """Comma-separated option value → non-empty stripped items."""
    items = [item.strip() for item in value.split(",")]
    if not value.strip() or any(not item for item in items):
        raise InputError(f"{option} {value!r}", "has an empty item", "comma-separated names")
    return items
