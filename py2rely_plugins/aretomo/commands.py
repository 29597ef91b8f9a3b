"""``py2rely prepare tilt-series`` as the core sees it: name, click options, and a ``run`` that imports
the implementation (numpy, pandas, mrcfile, starfile) only when the command runs."""

from __future__ import annotations

from typing import Any

import click

from py2rely_core.cli_types import FINITE_FLOAT, FiniteFloatRange, positive
from py2rely_plugins.aretomo.defaults import BASE_PROJECT, SESSION, TOTAL_DOSE

_POSITIVE = positive()
HAND_CHOICES = ("auto", "1", "-1")  # see hand.py

TILT_SERIES_PARAMS: list[click.Parameter] = [
    click.Option(["-b", "--base-project"], default=BASE_PROJECT, show_default=True,
                 type=click.Path(file_okay=False),
                 help="AreTomo project directory holding one directory per session (the default is "
                      "py2rely 0.7.1's, a path at its home site)."),
    click.Option(["-s", "--session"], default=(SESSION,), show_default=True, multiple=True,
                 help="Session directory under --base-project (repeat for several); tomograms are "
                      "named {session}_{tilt series} (rlnTomoName)."),
    click.Option(["-r", "--run"], multiple=True,
                 help="Subdirectory of each session to read (repeat for several) [default: the "
                      "session directory itself]."),
    click.Option(["--include"], multiple=True, metavar="GLOB",
                 help="Only tilt series whose AreTomo name matches (repeatable, e.g. 'TS_0*')."),
    click.Option(["--exclude"], multiple=True, metavar="GLOB",
                 help="Leave out tilt series whose AreTomo name matches (repeatable)."),
    click.Option(["-o", "--output"], default="input", show_default=True, type=click.Path(file_okay=False),
                 help="Directory for {session}_tiltSeries/ (paths in the STAR files start with it, "
                      "so run the command from the RELION project directory)."),
    click.Option(["-ps", "--pixel-size"], default=None, type=_POSITIVE,
                 help="Tilt-series pixel size (Å) [default: from the stack's MRC header]; must agree "
                      "with the header."),
    click.Option(["-td", "--total-dose"], default=None, type=_POSITIVE,
                 help="Total dose of a tilt series (e/Å²), spread evenly over the images of the stack, "
                      "for tilt series without per-image doses in <name>_TLT.txt (those are used "
                      f"when present, as in py2rely 0.7.1) [default: {TOTAL_DOSE:g}]."),
    click.Option(["-dpt", "--dose-per-tilt"], default=None, type=_POSITIVE,
                 help="Dose per tilt image (e/Å²) for every tilt series, instead of the doses of "
                      "<name>_TLT.txt and -td."),
    click.Option(["--hand"], type=click.Choice(HAND_CHOICES), default="auto", show_default=True,
                 help="rlnTomoHand; auto: +1 for AreTomo3 (it makes its alignment positive-handed), "
                      "-1 (RELION's import default) without AreTomo3's dfHand column."),
    click.Option(["-sym", "--symlinks"], default=None, type=click.Path(file_okay=False),
                 help="Directory for the <name>.mrcs links to the stacks that rlnMicrographName names "
                      "(created; never inside an AreTomo directory) [default: the "
                      "{session}_tiltSeries/ directory]."),
    click.Option(["-x", "--dim-x"], default=None, type=click.IntRange(min=1),
                 help="Tomogram size along x in unbinned pixels [default: stack width]."),
    click.Option(["-y", "--dim-y"], default=None, type=click.IntRange(min=1),
                 help="Tomogram size along y [default: stack height]."),
    click.Option(["-z", "--dim-z"], default=None, type=click.IntRange(min=1),
                 help="Tomogram depth in unbinned pixels [default: from AreTomo's <name>_Vol.mrc]."),
    click.Option(["-v", "--voltage"], default=300.0, show_default=True, type=_POSITIVE,
                 help="Acceleration voltage (kV)."),
    click.Option(["-sa", "--spherical-aberration"], default=2.7, show_default=True, type=FINITE_FLOAT,
                 help="Spherical aberration (mm)."),
    click.Option(["-ac", "--amplitude-contrast"], default=0.07, show_default=True,
                 type=FiniteFloatRange(min=0, max=1), help="Amplitude contrast."),
    click.Option(["-og", "--optics-group"], default=1, show_default=True, type=click.IntRange(min=1),
                 help="Accepted for py2rely 0.7.1 compatibility; a tomograms STAR has no optics-group "
                      "number (RELION groups by --optics-group-name)."),
    click.Option(["-ogn", "--optics-group-name"], default="opticsGroup1", show_default=True,
                 help="rlnOpticsGroupName of every imported tilt series."),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace an existing {session}_tiltSeries/ directory (after the new one is complete)."),
]


class TiltSeriesImporter:
    name = "tilt-series"
    description = ("Import AreTomo2/3 alignments, CTF fits and acquisition order into a RELION 5 "
                   "tomograms STAR with one STAR per tilt series.")
    params = TILT_SERIES_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.aretomo.import_tilt_series import TiltSeriesImport, import_tilt_series

        import_tilt_series(TiltSeriesImport.from_options(options))
