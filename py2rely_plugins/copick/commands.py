"""The copick plugin's commands as the core sees them: names, click options and a ``run`` that
imports the implementation only when the command runs (copick and scipy take most of a second to
import, which every other ``py2rely`` command would otherwise pay)."""

from __future__ import annotations

from typing import Any

import click

from py2rely_core.cli_types import FINITE_FLOAT, FiniteFloatRange, positive
from py2rely_core.compat import WholeNumber, legacy_alias
from py2rely_plugins.copick.defaults import DEFAULT_PIXEL_SIZE, DEFAULT_SIZE

_POSITIVE = positive()


def size_options(what: str) -> list[click.Parameter]:
    """-x/-y/-z (tomogram size in unbinned pixels) and py2rely 0.7.1's --x/--y/--z spellings."""
    options: list[click.Parameter] = []
    for axis, default in zip("xyz", DEFAULT_SIZE, strict=True):
        help_text = (f"Tomogram size along x in unbinned tilt-series pixels [default {what}: {default}]."
                     if axis == "x" else f"Tomogram size along {axis} (pixels) [default {what}: {default}].")
        options.append(click.Option([f"-{axis}", f"--dim-{axis}"], default=None, type=WholeNumber(1),
                                    help=help_text))
    options += [legacy_alias([f"--{axis}"], f"dim_{axis}", f"--dim-{axis}", type=WholeNumber(1))
                for axis in "xyz"]
    return options


def tomogram_geometry_options() -> list[click.Parameter]:
    """Where each tomogram's size and pixel size come from: -ts, else -x/-y/-z and -ps."""
    return [
        click.Option(["-ts", "--tilt-series"], default=None, type=click.Path(dir_okay=False),
                     help="RELION 5 tomograms STAR: each tomogram's size (rlnTomoSizeX/Y/Z) and pixel "
                          "size come from it instead of -x/-y/-z and -ps."),
        *size_options("without -ts"),
        click.Option(["-ps", "--pixel-size"], default=None, type=_POSITIVE,
                     help="Tilt-series pixel size (Å) [default: from -ts, else "
                          f"{DEFAULT_PIXEL_SIZE}]; must agree with -ts when both are given."),
    ]


def optics_options(group_help: str = "Optics group number (rlnOpticsGroup).") -> list[click.Parameter]:
    return [
        click.Option(["-v", "--voltage"], default=300.0, show_default=True, type=_POSITIVE,
                     help="Acceleration voltage (kV)."),
        click.Option(["-sa", "--spherical-aberration"], default=2.7, show_default=True, type=FINITE_FLOAT,
                     help="Spherical aberration (mm)."),
        click.Option(["-ac", "--amplitude-contrast"], default=0.07, show_default=True,
                     type=FiniteFloatRange(min=0, max=1), help="Amplitude contrast."),
        click.Option(["-og", "--optics-group"], default=1, show_default=True, type=click.IntRange(min=1),
                     help=group_help),
        click.Option(["-ogn", "--optics-group-name"], default="opticsGroup1", show_default=True,
                     help="Optics group name (rlnOpticsGroupName)."),
    ]


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
    click.Option(["-vs", "--voxel-size"], default=None, type=_POSITIVE,
                 help="Only runs that have a tomogram voxel spacing of this size (Å)."),
    click.Option(["-a", "--authors"], default=None,
                 help="Only picks whose CryoET Data Portal annotation lists this author (e.g. 'John "
                      "Smith'); portal projects only."),
    click.Option(["-o", "--output"], default="input", show_default=True, type=click.Path(),
                 help="Directory to write {session}_[{user-id}_][{session-id}_]{name}.star to (the "
                      "name py2rely 0.7.1 gave), or the STAR file itself (a name ending in .star)."),
    *tomogram_geometry_options(),
    *optics_options(),
    click.Option(["--relion5"], type=click.BOOL, default=True, is_flag=False, flag_value=True,
                 show_default=True,
                 help="RELION 5 centred coordinates in Å (True); False writes rlnCoordinateX/Y/Z in "
                      "tilt-series pixels instead (RELION 4 style)."),
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
                 help="RELION 5 tomograms STAR giving each tomogram's size and pixel size (instead of "
                      "-x/-y/-z)."),
    click.Option(["-x", "--dim-x"], default=None, type=WholeNumber(1),
                 help="Size of every tomogram along x in unbinned tilt-series pixels (instead of -ts) "
                      f"[default without -ts: {DEFAULT_SIZE[0]}, with a warning]."),
    click.Option(["-y", "--dim-y"], default=None, type=WholeNumber(1),
                 help=f"Size along y (pixels), with -x and -z [default without -ts: {DEFAULT_SIZE[1]}]."),
    click.Option(["-z", "--dim-z"], default=None, type=WholeNumber(1),
                 help=f"Size along z (pixels), with -x and -y [default without -ts: {DEFAULT_SIZE[2]}]."),
    click.Option(["--suffix"], default="",
                 help="Appended to every run name taken from rlnTomoName (e.g. _Vol: tomogram "
                      "24mar08a_TS_1 goes to run TS_1_Vol) [default: none]."),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace existing picks of the same object, user ID and session ID."),
    click.Option(["--skip-missing"], is_flag=True, default=False,
                 help="Export the other particles when some tomograms match no session or no copick "
                      "run (they are counted and listed); without it that is an error."),
    click.Option(["-j", "--workers"], default=None, type=click.IntRange(min=1),
                 help="Processes writing runs in parallel [default: the usable CPU cores]."),
]


IMPORT_STAR_PARAMS: list[click.Parameter] = [
    click.Option(["-i", "--input"], required=True, type=click.Path(dir_okay=False),
                 help="STAR file of picks: rlnTomoName and rlnCoordinateX/Y/Z in unbinned tilt-series "
                      "pixels (data_particles, or the file's only table)."),
    click.Option(["-o", "--output"], default="full_picks.star", show_default=True,
                 type=click.Path(dir_okay=False), help="RELION 5 particles STAR to write."),
    *tomogram_geometry_options(),
    *optics_options(),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace an existing --output file (without it an existing file is refused)."),
]

WARP_PARAMS: list[click.Parameter] = [
    click.Option(["-i", "--input"], required=True, type=click.Path(dir_okay=False),
                 help="Warp template-matching STAR (rlnMicrographName, rlnCoordinateX/Y/Z in voxels, "
                      "rlnAngleRot/Tilt/Psi)."),
    click.Option(["-c", "--config"], required=True, type=click.Path(dir_okay=False),
                 help="copick config file of the project to write the picks to."),
    click.Option(["-n", "--particle-name"], required=True, help="copick object the picks are written as."),
    click.Option(["--user-id"], required=True, help="copick user ID of the written picks."),
    click.Option(["--session-id"], required=True, help="copick session ID of the written picks."),
    click.Option(["--voxel-size"], required=True, type=_POSITIVE,
                 help="Voxel size (Å) of the tomograms Warp matched in (coordinates × voxel size = Å)."),
    click.Option(["--export-tag"], required=True,
                 help="Replaces .tomostar in rlnMicrographName to give the copick run name (the "
                      "suffix of Warp's tomogram names, e.g. _10.00Apx)."),
    click.Option(["--overwrite"], is_flag=True, default=False,
                 help="Replace existing picks of the same object, user ID and session ID."),
]


def warp_tm2copick_command() -> click.Command:
    def callback(**options: Any) -> None:
        from py2rely_plugins.copick.warp_tm import WarpImport, warp_to_copick

        warp_to_copick(WarpImport(**options))

    return click.Command(
        "warp-tm2copick", params=list(WARP_PARAMS), callback=callback,
        help="Write Warp template-matching picks into a copick project (one pick set per run).",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


class StarImporter:
    name = "import-particles"
    description = ("Convert a STAR file of picks in pixels (rlnCoordinateX/Y/Z) into a RELION 5 particles "
                   "STAR with centred coordinates in Å.")
    params = IMPORT_STAR_PARAMS

    def run(self, **options: Any) -> None:
        from py2rely_plugins.copick.import_star import StarImport, import_star

        import_star(StarImport(**options))


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
