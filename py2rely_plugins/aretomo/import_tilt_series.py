"""``py2rely prepare tilt-series``: AreTomo outputs → RELION 5 tomograms STAR + per-tilt-series STARs.

Everything is read and checked before anything is written; each session's directory
``<output>/<session>_tiltSeries/`` is then built in a hidden staging directory beside it and
renamed into place, so a failed run leaves no partial output. Nothing is written into the AreTomo
directories: the ``.mrcs`` name RELION needs for an image stack is a symbolic link in the output.
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

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TiltSeriesImport:
        """From the command's click options (names as in TILT_SERIES_PARAMS)."""
        conversion = Settings(**{f.name: options[f.name] for f in fields(Settings)})
        return cls(base_project=options["base_project"], sessions=tuple(options["session"]),
                   runs=tuple(options["run"]), include=tuple(options["include"]),
                   exclude=tuple(options["exclude"]), output=options["output"],
                   overwrite=options["overwrite"], optics_group=options["optics_group"],
                   conversion=conversion)


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
        if final_dir.exists() and not request.overwrite:
            raise InputError(f"--output {output}", f"{final_dir} exists", "a new directory, or --overwrite")
        converted = [convert(s, request.conversion, f"{star_dir}/{s.name}.mrcs") for s in mine]
        outputs.append(SessionOutput(name, final_dir, star_dir, converted))

    staged: list[tuple[SessionOutput, Path]] = []
    with parent_directories(output):
        try:
            for out in outputs:
                staged.append((out, _stage(out)))
            for out, staging in staged:
                replace_directory(staging, out.final_dir)
        finally:
            for _, staging in staged:
                shutil.rmtree(staging, ignore_errors=True)
    for out in outputs:
        _report(out, logger)


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


def _stage(out: SessionOutput) -> Path:
    staging = out.final_dir.parent / f".{out.final_dir.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_staged(staging, out)
    except OSError as exc:  # name the output, not the hidden staging directory
        shutil.rmtree(staging, ignore_errors=True)  # not yet in `staged`: removed here
        raise OSError(exc.errno, exc.strerror or str(exc), str(out.final_dir)) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def _write_staged(staging: Path, out: SessionOutput) -> None:
    rows = []
    for item in out.converted:
        name = item.source.name
        write_star({item.source.tomogram: item.tilts}, staging / f"{name}.star")
        # An image stack must end in .mrcs for RELION to read "N@file" as image N of a stack.
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


def _report(out: SessionOutput, logger: Any) -> None:
    for item in out.converted:
        logger.info("tilt series imported", tomogram=item.source.tomogram, tilts=len(item.tilts),
                    hand=item.row["rlnTomoHand"], hand_from=item.hand_reason, notes="; ".join(item.notes))
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
        f"wrote {out.star_dir}/{TOMOGRAMS_STAR}: {len(out.converted)} tilt series, "
        f"{sum(len(r.tilts) for r in out.converted)} tilt images, pixel size "
        f"{', '.join(f'{p:g}' for p in pixels)} Å, tomogram size "
        f"{', '.join('×'.join(str(v) for v in s) for s in sizes)} px, rlnTomoHand "
        f"{', '.join(f'{h:+d}' for h in hands)}"
    )
