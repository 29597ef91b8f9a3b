"""The copick plugin's commands as the core sees them: names, click options and a ``run`` that
imports the implementation only when the command runs (copick and scipy take most of a second to
import, which every other ``py2rely`` command would otherwise pay)."""

from __future__ import annotations

from typing import Any

import click

from py2rely_core.cli_types import FINITE_FLOAT, FiniteFloatRange, positive
from py2rely_plugins.copick.defaults import DEFAULT_PIXEL_SIZE, DEFAULT_SIZE

PARTICLES_PARAMS: list[click.Parameter] = [
    click.Option(["-c", "--config"], required=True, type=click.Path(dir_okay=False),
                 help="copick config file (JSON) of the project holding the picks."),
    click.Option(["-s", "--session"], required=True,
                 help="Session name; tomograms are named {session}_{run} (rlnTomoName), as the "
                      "tilt-series import names them."),
    click.Option(["-n", "--name"], required=True, help="copick object whose picks are imported."),
    click.Option(["-uid", "--user-id"], default=None,
                 help="Only picks of this copick user ID (default: every user)."),
    click.Option(["-sid", "--session-id"], default=None,
                 help="Only picks of this copick session ID (default: every session)."),
    click.Option(["-rids", "--run-ids"], default=None,
                 help="Comma-separated copick runs to import (default: every run)."),
    click.Option(["-vs", "--voxel-size"], default=None, type=positive(),
                 help="Only runs that have a tomogram voxel spacing of this size (Å)."),
    click.Option(["-o", "--output"], default="input/full_picks.star", show_default=True,
                 type=click.Path(dir_okay=False), help="Particles STAR file to write."),
    click.Option(["-ts", "--tilt-series"], default=None, type=click.Path(dir_okay=False),
                 help="RELION 5 tomograms STAR: each tomogram's size (rlnTomoSizeX/Y/Z) and pixel "
                      "size come from it instead of -x/-y/-z and -ps."),
    click.Option(["-x", "--dim-x"], default=None, type=click.IntRange(min=1),
                 help="Tomogram size along x in unbinned tilt-series pixels [default without -ts: "
                      f"{DEFAULT_SIZE[0]}]."),
    click.Option(["-y", "--dim-y"], default=None, type=click.IntRange(min=1),
                 help=f"Tomogram size along y (pixels) [default without -ts: {DEFAULT_SIZE[1]}]."),
    click.Option(["-z", "--dim-z"], default=None, type=click.IntRange(min=1),
                 help=f"Tomogram size along z (pixels) [default without -ts: {DEFAULT_SIZE[2]}]."),
    click.Option(["-ps", "--pixel-size"], default=None, type=positive(),
                 help="Tilt-series pixel size (Å) [default: from -ts, else "
                      f"{DEFAULT_PIXEL_SIZE}]; must agree with -ts when both are given."),
    click.Option(["-v", "--voltage"], default=300.0, show_default=True,
                 type=positive(), help="Acceleration voltage (kV)."),
    click.Option(["-sa", "--spherical-aberration"], default=2.7, show_default=True, type=FINITE_FLOAT,
                 help="Spherical aberration (mm)."),
    click.Option(["-ac", "--amplitude-contrast"], default=0.07, show_default=True,
                 type=FiniteFloatRange(min=0, max=1), help="Amplitude contrast."),
    click.Option(["-og", "--optics-group"], default=1, show_default=True, type=click.IntRange(min=1),
                 help="Optics group number (rlnOpticsGroup)."),
    click.Option(["-ogn", "--optics-group-name"], default="opticsGroup1", show_default=True,
                 help="Optics group name (rlnOpticsGroupName)."),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace an existing --output file (without it an existing file is refused)."),
]

STAR2COPICK_PARAMS: list[click.Parameter] = [
    click.Option(["-p", "--particles"], required=True, type=click.Path(dir_okay=False),
                 help="RELION 5 particles STAR, e.g. Refine3D/job024/run_data.star."),
    click.Option(["-c", "--configs"], required=True,
                 help="Comma-separated copick config files, one per session (in the order of "
                      "--sessions), or one for all sessions."),
    click.Option(["-s", "--sessions"], required=True,
                 help="Comma-separated sessions: a particle of tomogram {session}_{run} goes to copick "
                      "run {run} (the longest matching session wins)."),
    click.Option(["-n", "--particle-name", "--name", "particle_name"], required=True,
                 help="copick object the picks are written as."),
    click.Option(["-uid", "--export-user-id", "--user-id", "export_user_id"], default="relion",
                 show_default=True, help="copick user ID of the written picks."),
    click.Option(["-sid", "--export-session-id", "--session-id", "export_session_id"], default="99",
                 show_default=True, help="copick session ID of the written picks."),
    click.Option(["-ts", "--tilt-series"], default=None, type=click.Path(dir_okay=False),
                 help="RELION 5 tomograms STAR giving each tomogram's size and pixel size; required "
                      "unless -x/-y/-z are given."),
    click.Option(["-x", "--dim-x"], default=None, type=click.IntRange(min=1),
                 help="Size of every tomogram along x in unbinned tilt-series pixels (instead of -ts)."),
    click.Option(["-y", "--dim-y"], default=None, type=click.IntRange(min=1),
                 help="Size along y (pixels), with -x and -z."),
    click.Option(["-z", "--dim-z"], default=None, type=click.IntRange(min=1),
                 help="Size along z (pixels), with -x and -y."),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace existing picks of the same object, user ID and session ID."),
    click.Option(["--skip-missing"], is_flag=True, default=False,
                 help="Export the other particles when some tomograms match no session or no copick "
                      "run (they are counted and listed); without it that is an error."),
    click.Option(["-j", "--workers"], default=None, type=click.IntRange(min=1),
                 help="Processes writing runs in parallel [default: the usable CPU cores]."),
]


class ParticlesImporter:
    name = "particles"
    description = "Import picks of one object from a copick project into a RELION 5 particles STAR."
    params = PARTICLES_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.copick.import_particles import ParticleImport, import_particles

        import_particles(ParticleImport(**options))


class Star2CopickExporter:
    name = "star2copick"
    description = "Export refined RELION 5 particles to copick picks (one pick set per run)."
    params = STAR2COPICK_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.copick.export_star2copick import Star2CopickExport, export_star2copick

        export_star2copick(Star2CopickExport(**options))
