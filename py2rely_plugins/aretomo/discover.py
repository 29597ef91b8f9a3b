"""Which AreTomo tilt series to import: ``<base>/<session>[/<run>]/<name>.aln`` and ``<name>_CTF.txt``.

A tilt series is named by its files: ``<name>.aln``, ``<name>_CTF.txt``, ``<name>.mrc`` in one
directory (AreTomo3 names every output after the input's main name, CSaveAlignFile::GenFileName,
CSaveCtfResults::GenFileName, CTsPackage::SaveTiltSeries). A name seen with only one of the .aln
and the _CTF.txt is reported, not skipped.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from py2rely_core.errors import InputError

ALN_SUFFIX = ".aln"
CTF_SUFFIX = "_CTF.txt"


@dataclass(frozen=True)
class Source:
    session: str
    directory: Path
    name: str  # AreTomo's name of the tilt series, e.g. "Position_12"

    @property
    def aln(self) -> Path:
        return self.directory / f"{self.name}{ALN_SUFFIX}"

    @property
    def ctf(self) -> Path:
        return self.directory / f"{self.name}{CTF_SUFFIX}"

    @property
    def stack(self) -> Path:
        return self.directory / f"{self.name}.mrc"

    @property
    def volume(self) -> Path:
        return self.directory / f"{self.name}_Vol.mrc"

    @property
    def tomogram(self) -> str:
        """rlnTomoName: ``{session}_{name}``, the name ``prepare particles`` gives copick runs."""
        return f"{self.session}_{self.name}"


def find_sources(
    base: Path, sessions: Sequence[str], runs: Sequence[str], include: Sequence[str],
    exclude: Sequence[str],
) -> list[Source]:
    if not base.is_dir():
        raise InputError(f"--base-project {base}", "is not a directory")
    sources: list[Source] = []
    for session in sessions:
        found: dict[str, Source] = {}
        for directory in _directories(base, session, runs):
            for source in _sources_in(directory, session, include, exclude):
                if source.name in found:
                    raise InputError(
                        str(source.aln), f"tilt series {source.name!r} is also in "
                        f"{found[source.name].directory}", "each name once per session (rlnTomoName "
                        f"{source.tomogram!r})",
                    )
                found[source.name] = source
        if not found:
            where = ", ".join(str(d) for d in _directories(base, session, runs))
            raise InputError(f"--session {session}", f"no AreTomo tilt series (*{ALN_SUFFIX}, "
                             f"*{CTF_SUFFIX}) selected in {where}")
        sources.extend(sorted(found.values(), key=lambda s: s.name))
    return sources


def _directories(base: Path, session: str, runs: Sequence[str]) -> list[Path]:
    directories = [base / session / run for run in runs] if runs else [base / session]
    for directory in directories:
        if not directory.is_dir():
            option = "--run" if runs else "--session"
            raise InputError(f"{option} {directory.name}", f"{directory} is not a directory")
    return directories


def _sources_in(
    directory: Path, session: str, include: Sequence[str], exclude: Sequence[str]
) -> list[Source]:
    alns = {p.name[: -len(ALN_SUFFIX)] for p in directory.glob(f"*{ALN_SUFFIX}") if p.is_file()}
    ctfs = {p.name[: -len(CTF_SUFFIX)] for p in directory.glob(f"*{CTF_SUFFIX}") if p.is_file()}
    alns = {n for n in alns if _selected(n, include, exclude)}
    ctfs = {n for n in ctfs if _selected(n, include, exclude)}
    for name in sorted(alns ^ ctfs):
        source = Source(session, directory, name)
        missing = source.ctf if name in alns else source.aln
        raise InputError(str(missing), "file not found",
                         f"{source.aln.name} and {source.ctf.name} for every tilt series")
    return [Source(session, directory, name) for name in sorted(alns)]


def _selected(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(name, p) for p in exclude)
