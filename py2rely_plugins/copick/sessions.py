"""RELION tomogram names ⇄ copick (session, run): ``rlnTomoName`` is ``{session}_{run}``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def tomogram_name(session: str, run: str) -> str:
    return f"{session}_{run}"


@dataclass(frozen=True)
class TomogramMapping:
    """Where each tomogram's particles go, and the tomograms that match no session."""

    runs: dict[str, tuple[str, str]]  # rlnTomoName → (session, copick run name)
    unmatched: list[str]  # tomograms whose name starts with no "<session>_"


def map_tomograms(names: Iterable[str], sessions: Sequence[str]) -> TomogramMapping:
    """Split each name at the longest session that prefixes it followed by ``_``.

    The longest prefix wins so that sessions such as ``24mar08`` and ``24mar08a`` can be exported
    together without the shorter one capturing the other's tomograms.
    """
    by_length = sorted(sessions, key=len, reverse=True)
    runs: dict[str, tuple[str, str]] = {}
    unmatched: list[str] = []
    for name in names:
        for session in by_length:
            prefix = f"{session}_"
            if name.startswith(prefix) and len(name) > len(prefix):
                runs[name] = (session, name[len(prefix):])
                break
        else:
            unmatched.append(name)
    return TomogramMapping(runs=runs, unmatched=unmatched)
