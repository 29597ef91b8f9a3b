"""Which RELION release's job options the job.star files are written in.

RELION renames job options between releases (5.1's Extract job measures its boxes in Å where 5.0
counted pixels; 5.1 adds ``blush_version``) and its pipeliner ignores, with a warning, every
option it does not know. py2rely therefore writes the option names of the release that runs the
jobs: each job type declares its options per release (``RelionJobType.release_options``), and the
STA pipeline asks the RELION it found for its version before it plans anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Releases whose job options py2rely knows, oldest first.
KNOWN_RELEASES = ("5.0", "5.1")
NEWEST = KNOWN_RELEASES[-1]


@dataclass(frozen=True)
class ReleaseChoice:
    release: str  # one of KNOWN_RELEASES
    detected: str | None  # what the RELION installation reported, None when none was found
    note: str = ""  # why ``release`` differs from ``detected``, if it does

    def describe(self) -> str:
        found = f"RELION {self.detected}" if self.detected else "no RELION found"
        return f"{found}; job options of RELION {self.release}" + (f" ({self.note})" if self.note else "")


def choose_release(version: str | None) -> ReleaseChoice:
    """The option names for a RELION version string such as ``"5.1.0"`` (None: none was found)."""
    if version is None:
        return ReleaseChoice(NEWEST, None, "the newest py2rely knows")
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        raise ValueError(f"cannot read the RELION version {version!r}") from None
    release = f"{major}.{minor}"
    if release in KNOWN_RELEASES:
        return ReleaseChoice(release, version)
    newest = tuple(int(p) for p in NEWEST.split("."))
    if (major, minor) > newest:
        return ReleaseChoice(NEWEST, version, "newer than py2rely knows; its options may differ")
    raise ValueError(f"RELION {version} is older than the oldest release py2rely writes job options "
                     f"for ({KNOWN_RELEASES[0]})")


def job_types_for(job_types: Mapping[str, Any], release: str) -> dict[str, Any]:
    """The registry with every job type that writes release-specific options set to ``release``
    (job types of other plugins without ``for_release`` are used as they are)."""
    return {name: job_type.for_release(release) if hasattr(job_type, "for_release") else job_type
            for name, job_type in job_types.items()}
