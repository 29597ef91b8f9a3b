"""The STAR utilities as the core sees them: names, click options and a ``run`` that imports the
implementation (pandas, starfile) only when the command runs."""

from __future__ import annotations

from typing import Any

import click

_OVERWRITE = "Replace an existing output file (never one of the inputs)."


def skip_missing_option() -> click.Option:
    """``-sm`` alone, or with a value as py2rely 0.7.1 wrote it (``-sm True``, ``-sm false``)."""
    return click.Option(
        ["-sm", "--skip-missing"], type=click.BOOL, default=False, is_flag=False, flag_value=True,
        show_default=True,
        help="Skip input files that do not exist (listed in a warning) instead of failing; "
             "-sm alone or -sm True/False.",
    )

COMBINE_PARTICLES_PARAMS: list[click.Parameter] = [
    click.Option(["-i", "--input", "inputs"], multiple=True, required=True,
                 type=click.Path(dir_okay=False),
                 help="Particles STAR file; repeat the option for each file."),
    click.Option(["-o", "--output"], default="input/full_picks.star", show_default=True,
                 type=click.Path(dir_okay=False),
                 help="Combined particles STAR to write (its directory is created)."),
    skip_missing_option(),
    click.Option(["--overwrite"], is_flag=True, default=False, help=_OVERWRITE),
]

COMBINE_TILT_SERIES_PARAMS: list[click.Parameter] = [
    click.Option(["-i", "--input", "inputs"], multiple=True, required=True,
                 type=click.Path(dir_okay=False),
                 help="Tomograms STAR file (data_global); repeat the option for each file."),
    click.Option(["-o", "--output"], default="input/aligned_tilt_series.star", show_default=True,
                 type=click.Path(dir_okay=False),
                 help="Combined tomograms STAR to write (its directory is created)."),
    skip_missing_option(),
    click.Option(["--overwrite"], is_flag=True, default=False, help=_OVERWRITE),
]

FILTER_UNUSED_TILTS_PARAMS: list[click.Parameter] = [
    click.Option(["-p", "--particles"], required=True, type=click.Path(dir_okay=False),
                 help="Particles STAR whose tomograms are kept."),
    click.Option(["-t", "--tomograms"], required=True, type=click.Path(dir_okay=False),
                 help="Tomograms STAR (data_global) to filter; it is read, never changed."),
    click.Option(["-o", "--output"], default=None, type=click.Path(dir_okay=False),
                 help="New tomograms STAR to write (not the input; its directory is created) "
                      "[default: <tomograms>_filtered.star beside the input]."),
    click.Option(["--overwrite"], is_flag=True, default=False, help=_OVERWRITE),
]


class CombineParticles:
    name = "combine-particles"
    description = ("Combine RELION 5 particle files into one: optics groups renumbered, kept apart "
                   "when their optics differ.")
    params = COMBINE_PARTICLES_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.startools.combine_particles import combine_particles

        combine_particles(**options)


class CombineTiltSeries:
    name = "combine-tilt-series"
    description = ("Combine RELION 5 tomograms STAR files into one; optics group names kept apart "
                   "when their optics differ.")
    params = COMBINE_TILT_SERIES_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.startools.combine_tilt_series import combine_tilt_series

        combine_tilt_series(**options)


class FilterUnusedTilts:
    name = "filter-unused-tilts"
    description = "Write a new tomograms STAR without the tomograms that have no particles."
    params = FILTER_UNUSED_TILTS_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.startools.filter_unused_tilts import filter_unused_tilts

        filter_unused_tilts(**options)
