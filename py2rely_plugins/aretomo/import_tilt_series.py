"""``py2rely prepare tilt-series``: AreTomo outputs → RELION 5 tomograms STAR + per-tilt-series STARs.

Everything is read and checked before anything is written; each session's directory
``<output>/<session>_tiltSeries/`` is then built in a hidden staging directory beside it and
renamed into place, so a failed run leaves no partial output; running the same import again
leaves an identical directory as it is. Nothing is written into the AreTomo directories: the
``.mrcs`` name RELION needs for an image stack is a symbolic link in the output (or in the
``--symlinks`` directory, as py2rely 0.7.1 allowed).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click
import pandas as pd

from py2rely_core.atomic import parent_directories, replace_directory
from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.star import TILT_COLUMNS, TOMOGRAM_COLUMNS, read_star, require_columns, write_star
from py2rely_plugins.aretomo.convert import Converted, Settings, convert
from py2rely_plugins.aretomo.defaults import BASE_PROJECT
from py2rely_plugins.aretomo.discover import Source, find_sources

TOMOGRAMS_STAR = "aligned_tilt_series.star"  # the name py2rely 0.7.1 used


@dataclass(frozen=True)
class TiltSeriesImport:
    """What `prepare tilt-series` was asked for: which AreTomo outputs, where to, and how."""

    base_project: str
    sessions: tuple[str, ...]
    runs: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    output: str
    overwrite: bool
    optics_group: int
    conversion: Settings
    symlinks: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TiltSeriesImport:
        """From the command's click options (names as in TILT_SERIES_PARAMS)."""
        conversion = Settings(**{f.name: options[f.name] for f in fields(Settings)})
        return cls(base_project=options["base_project"], sessions=tuple(options["session"]),
                   runs=tuple(options["run"]), include=tuple(options["include"]),
                   exclude=tuple(options["exclude"]), output=options["output"],
                   overwrite=options["overwrite"], optics_group=options["optics_group"],
                   conversion=conversion, symlinks=options.get("symlinks"))


@dataclass
class SessionOutput:
    session: str
    final_dir: Path
    star_dir: str  # the directory as STAR files name it: <output>/<session>_tiltSeries
    converted: list[Converted]


def import_tilt_series(request: TiltSeriesImport) -> None:
    logger = get_logger("prepare.tilt_series")
    if request.conversion.total_dose is not None and request.conversion.dose_per_tilt is not None:
        raise InputError("-td/--total-dose", "given together with -dpt/--dose-per-tilt", "one of them")
    if request.optics_group != 1:
        logger.warning("-og/--optics-group is not written: a tomograms STAR has no optics-group number "
                       "(RELION numbers optics groups by rlnOpticsGroupName)",
                       optics_group=request.optics_group)
    sessions = list(dict.fromkeys(request.sessions))
    if request.base_project == BASE_PROJECT and not Path(BASE_PROJECT).is_dir():
        raise InputError(f"--base-project {BASE_PROJECT}", "is not a directory (py2rely 0.7.1's default, "
                         "a path at its home site)", "-b/--base-project: your AreTomo project directory")
    sources = find_sources(Path(request.base_project), sessions, list(dict.fromkeys(request.runs)),
                           request.include, request.exclude)
    _refuse_duplicate_names(sources)
    outputs = []
    output = request.output
    for name in sessions:
        star_dir = os.path.join(output, f"{name}_tiltSeries")
        final_dir = Path(star_dir)
        mine = [s for s in sources if s.session == name]
        _refuse_output_in_sources(final_dir, mine)
        link_dir = star_dir if request.symlinks is None else request.symlinks
        converted = [convert(s, request.conversion, f"{link_dir}/{s.name}.mrcs") for s in mine]
        outputs.append(SessionOutput(name, final_dir, star_dir, converted))
    links = _planned_links(request.symlinks, sources, request.overwrite)

    staged: list[tuple[SessionOutput, Path]] = []
    unchanged = set()
    with parent_directories(output):
        try:
            for out in outputs:
                staged.append((out, _stage(out, with_links=request.symlinks is None)))
            for out, staging in staged:
                # Running the same import again (as scripts written for 0.7.1 do) is not an error.
                if out.final_dir.exists() and _same_content(staging, out.final_dir):
                    unchanged.add(out.session)
                elif out.final_dir.exists() and not request.overwrite:
                    raise InputError(f"--output {output}", f"{out.final_dir} exists with other "
                                     "contents", "a new directory, or --overwrite")
            for link, stack in links:
                _link_atomically(link, stack)
            for out, staging in staged:
                if out.session not in unchanged:
                    replace_directory(staging, out.final_dir)
        finally:
            for _, staging in staged:
                shutil.rmtree(staging, ignore_errors=True)
    for out in outputs:
        _report(out, logger, out.session in unchanged)


def _same_content(a: Path, b: Path) -> bool:
    """The same files, links and data lines (a STAR file's ``#`` comment carries its write time)."""
    def listing(root: Path) -> dict[str, object]:
        found: dict[str, object] = {}
        for path in sorted(root.rglob("*")):
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path))
            elif path.is_file():
                lines = path.read_bytes().splitlines()
                found[key] = [line for line in lines if not line.startswith(b"#")]
            else:
                found[key] = "dir"
        return found

    return listing(a) == listing(b)


def _refuse_duplicate_names(sources: list[Source]) -> None:
    counts = Counter(s.tomogram for s in sources)
    for source in sources:
        if counts[source.tomogram] > 1:
            raise InputError(str(source.aln), f"rlnTomoName {source.tomogram!r} would be used twice",
                             "distinct {session}_{name} for every tilt series")


def _refuse_output_in_sources(final_dir: Path, sources: list[Source]) -> None:
    target = final_dir.resolve()
    for directory in {s.directory.resolve() for s in sources}:
        if target == directory or directory in target.parents:
            raise InputError(f"--output {final_dir.parent}", f"{final_dir} is inside the AreTomo "
                             f"directory {directory}", "an output outside the source data")


def _planned_links(directory: str | None, sources: list[Source], overwrite: bool) -> list[tuple[Path, Path]]:
    """``-sym DIR``: (link, stack) per tilt series, checked before anything is written.

    A link that already points at the same stack is kept; one pointing elsewhere (or a file of that
    name) is replaced only with --overwrite.
    """
    if directory is None:
        return []
    target = Path(directory).resolve()
    for aretomo_dir in {s.directory.resolve() for s in sources}:
        if target == aretomo_dir or aretomo_dir in target.parents:
            raise InputError(f"--symlinks {directory}", f"is inside the AreTomo directory {aretomo_dir}",
                             "a directory outside the source data")
    links: dict[Path, Path] = {}
    for source in sources:
        link = Path(directory) / f"{source.name}.mrcs"
        stack = source.stack.resolve()
        if link in links and links[link] != stack:
            raise InputError(f"--symlinks {directory}", f"{link.name} would link both {links[link]} and "
                             f"{stack}", "tilt series names that differ across sessions")
        links[link] = stack
        if link.is_symlink() and link.resolve() == stack:
            continue
        if (link.exists() or link.is_symlink()) and not overwrite:
            raise InputError(f"--symlinks {directory}", f"{link} exists and is not a link to {stack}",
                             "another directory, or --overwrite")
    return sorted(links.items())


def _link_atomically(link: Path, stack: Path) -> None:
    if link.is_symlink() and link.resolve() == stack:
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(f".{link.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    os.symlink(stack, temporary)
    os.replace(temporary, link)


def _stage(out: SessionOutput, with_links: bool = True) -> Path:
    staging = out.final_dir.parent / f".{out.final_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_staged(staging, out, with_links)
    except OSError as exc:  # name the output, not the hidden staging directory
        shutil.rmtree(staging, ignore_errors=True)  # not yet in `staged`: removed here
        raise OSError(exc.errno, exc.strerror or str(exc), str(out.final_dir)) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _write_staged(staging: Path, out: SessionOutput, with_links: bool) -> None:
    rows = []
    for item in out.converted:
        name = item.source.name
        write_star({item.source.tomogram: item.tilts}, staging / f"{name}.star")
        # An image stack must end in .mrcs for RELION to read "N@file" as image N of a stack.
        if with_links:
            os.symlink(item.source.stack.resolve(), staging / f"{name}.mrcs")
        rows.append({**item.row, "rlnTomoTiltSeriesStarFile": f"{out.star_dir}/{name}.star"})
    table = pd.DataFrame(rows)
    write_star({"global": table}, staging / TOMOGRAMS_STAR)
    _check_written(staging, out)


def _check_written(staging: Path, out: SessionOutput) -> None:
    """Read back what was staged with the project's STAR reader (RELION 5 columns present)."""
    blocks = read_star(staging / TOMOGRAMS_STAR)
    require_columns(blocks["global"], staging / TOMOGRAMS_STAR, "global", TOMOGRAM_COLUMNS)
    for item in out.converted:
        path = staging / f"{item.source.name}.star"
        tilt_blocks = read_star(path)
        require_columns(tilt_blocks[item.source.tomogram], path, item.source.tomogram, TILT_COLUMNS)


def _report(out: SessionOutput, logger: Any, unchanged: bool = False) -> None:
    for item in out.converted:
        logger.info("tilt series imported", tomogram=item.source.tomogram, tilts=len(item.tilts),
                    hand=item.row["rlnTomoHand"], hand_from=item.hand_reason, notes="; ".join(item.notes))
        for warning in item.warnings:
            logger.warning(warning, tomogram=item.source.tomogram)
        if item.check_hand:
            logger.warning("check rlnTomoHand", tomogram=item.source.tomogram,
                           hand=item.row["rlnTomoHand"], why=item.hand_reason)
    sizes = sorted({(r.row["rlnTomoSizeX"], r.row["rlnTomoSizeY"], r.row["rlnTomoSizeZ"])
                    for r in out.converted})
    pixels = sorted({r.row["rlnTomoTiltSeriesPixelSize"] for r in out.converted})
    if len(pixels) > 1:
        logger.warning("tilt series have different pixel sizes; 'prepare relion5-parameters' needs one "
                       "(select with --include/--exclude)", session=out.session, pixel_sizes=pixels)
    hands = sorted({r.row["rlnTomoHand"] for r in out.converted})
    click.echo(
        f"{'unchanged' if unchanged else 'wrote'} {out.star_dir}/{TOMOGRAMS_STAR}: "
        f"{len(out.converted)} tilt series, "
        f"{sum(len(r.tilts) for r in out.converted)} tilt images, pixel size "
        f"{', '.join(f'{p:g}' for p in pixels)} Å, tomogram size "
        f"{', '.join('×'.join(str(v) for v in s) for s in sizes)} px, rlnTomoHand "
        f"{', '.join(f'{h:+d}' for h in hands)}"
    )
