"""The fault matrix: every `py2rely` command × every way its inputs or the file system can say no.

Faults: a missing input, an empty one, garbage, NaN, infinity, a value of the wrong type, a
read-only output location, a full disk and an existing output. Each case asserts the exit code
(2 bad input, 3 plugin name, 4 no RELION, 7 file system; 0 where the command must still work),
that the error is one `error:` line naming the problem (no traceback), and that no file was
created or changed in the workspace (inputs, outputs, the read-only and the full tmpfs). Where a
fault does not apply to a command, ``NOT_APPLICABLE`` says why, and a test checks that every
command × fault is either a case or a reason.

Cases run in-process through ``py2rely_core.cli.main`` (a subprocess costs half a second of
start-up each); those marked ``subprocess`` run the real command line, to prove the entry point
behaves the same. The read-only and full file systems are tmpfs mounts, so those cases need root
(CI runs as root); they are skipped otherwise.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from py2rely_core import log
from py2rely_core.cli import build_cli, main
from py2rely_core.plugins import get_plugins
from tests import fault_matrix_fixtures as fx

FAULTS = ("missing", "empty", "garbage", "NaN", "inf", "wrong type", "read-only output", "full disk",
          "existing output")
EROFS = ("EROFS", "Read-only file system")
ENOSPC = ("ENOSPC", "No space left on device")
ARETOMO_SESSION = "24mar08a"

Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Command:
    setup: Setup  # writes valid inputs into the workspace
    argv: tuple[str, ...]  # a valid call; a case appends options (the last value of an option wins)


COMMANDS: dict[str, Command] = {
    "prepare relion5-parameters": Command(fx.star_inputs, (
        "prepare", "relion5-parameters", "-ts", "input/aligned_tilt_series.star",
        "-p", "input/full_picks.star", "-ps", "1.54", "-pd", "160", "-bl", "4,2", "-np", "3")),
    "prepare template": Command(fx.density_map, ("prepare", "template", "-i", "map.mrc", "-ovs", "10")),
    "prepare tilt-series": Command(lambda ws: None, (
        "prepare", "tilt-series", "-b", "{aretomo}", "-s", ARETOMO_SESSION, "-o", "input", "-ac", "0.1")),
    "prepare particles": Command(fx.copick_project, (
        "prepare", "particles", "-c", "copick/copick.json", "-s", fx.SESSION, "-n", fx.OBJECT_NAME,
        "-ts", "input/tomograms.star", "-o", "input/picks.star")),
    "prepare combine-particles": Command(fx.two_particle_sets, (
        "prepare", "combine-particles", "-i", "input/a.star", "-i", "input/b.star", "-o", "input/all.star")),
    "prepare combine-tilt-series": Command(fx.two_tomogram_sets, (
        "prepare", "combine-tilt-series", "-i", "a/aligned_tilt_series.star",
        "-i", "b/aligned_tilt_series.star", "-o", "input/all.star")),
    "prepare filter-unused-tilts": Command(fx.used_tomograms, (
        "prepare", "filter-unused-tilts", "-p", "input/full_picks.star",
        "-t", "input/aligned_tilt_series.star", "-o", "input/used.star")),
    "pipelines sta": Command(fx.sta_project, ("pipelines", "sta", "-p", "sta_parameters.json")),
    "export star2copick": Command(fx.export_inputs, (
        "export", "star2copick", "-p", "input/refined.star", "-c", "copick/copick.json",
        "-s", fx.SESSION, "-n", fx.OBJECT_NAME, "-ts", "input/tomograms.star", "-j", "1",
        "-uid", "relion", "-sid", "99")),
    "simulate": Command(lambda ws: None, (
        "simulate", "-o", "sim", "--tilt-series", "1", "--particles", "2", "--image-size", "128",
        "--particle-diameter", "60", "--tilt-range", "30", "--tilt-step", "15")),
    "demo": Command(lambda ws: None, ("demo", "-o", "demo", "--dry-run", "--particles", "4")),
    "status": Command(fx.pipeline_project, ("status", "--project-dir", "proj")),
    "relion info": Command(lambda ws: None, ("relion", "info")),
    "plugins": Command(lambda ws: None, ("plugins",)),
}


@dataclass(frozen=True)
class Case:
    command: str
    fault: str
    options: tuple[str, ...]
    exit_code: int
    says: tuple[str, ...] = ()  # each of these words is in the error line
    setup: Setup | None = None  # changes the valid inputs into the faulty ones
    place: str = "disk"  # "disk", or a tmpfs: "read-only" or "full" after setup
    env: Mapping[str, str] = field(default_factory=dict)
    variant: str = ""
    in_subprocess: bool = False
    needs_relion: bool = False

    @property
    def id(self) -> str:
        return " | ".join(p for p in (self.command, self.fault, self.variant) if p)


def case(command: str, fault: str, *options: str, code: int = 2, says: tuple[str, ...] = (),
         **kwargs) -> Case:
    return Case(command, fault, options, code, says, **kwargs)


def read_only(command: str, *options: str, says: tuple[str, ...] = EROFS[:1], **kwargs) -> Case:
    return Case(command, "read-only output", options, 7, says, place="read-only", **kwargs)


def full_disk(command: str, *options: str, says: tuple[str, ...] = ENOSPC[:1], **kwargs) -> Case:
    return Case(command, "full disk", options, 7, says, place="full", **kwargs)


def _garbage(relative: str) -> Setup:
    return lambda ws: fx.garbage(ws / relative) and None


def _empty(relative: str) -> Setup:
    return lambda ws: fx.empty(ws / relative) and None


def _cell(relative: str, block: str, column: str, value: object) -> Setup:
    return lambda ws: fx.set_cell(ws / relative, block, column, value)


def _json(section: str, key: str, literal: str) -> Setup:
    return lambda ws: fx.edit_json(ws / "sta_parameters.json", section, key, literal)


def _existing(relative: str) -> Setup:
    def write(ws: Path) -> None:
        (ws / relative).parent.mkdir(parents=True, exist_ok=True)
        (ws / relative).write_text("a file the user keeps\n")
    return write


PARAMS = "prepare relion5-parameters"
TEMPLATE = "prepare template"
TILTS = "prepare tilt-series"
PARTICLES = "prepare particles"
COMBINE_P = "prepare combine-particles"
COMBINE_T = "prepare combine-tilt-series"
FILTER = "prepare filter-unused-tilts"
STA = "pipelines sta"
EXPORT = "export star2copick"
SIMULATE = "simulate"
DEMO = "demo"
STATUS = "status"
RELION_INFO = "relion info"
PLUGINS = "plugins"

CASES: list[Case] = [
    # -- prepare relion5-parameters
    case(PARAMS, "missing", "-p", "input/nope.star", says=("input/nope.star", "file not found"),
         in_subprocess=True),
    case(PARAMS, "empty", "-p", "input/empty.star", setup=_empty("input/empty.star"),
         says=("input/empty.star",)),
    case(PARAMS, "garbage", "-ts", "input/garbage.star", setup=_garbage("input/garbage.star"),
         says=("input/garbage.star",)),
    case(PARAMS, "NaN", "-lp", "nan", says=("--low-pass", "'nan' is not a finite number"),
         in_subprocess=True),
    case(PARAMS, "NaN", variant="in the particles STAR",
         setup=_cell("input/full_picks.star", "particles", "rlnCenteredCoordinateXAngst", "nan"),
         says=("full_picks.star", "row 1", "column rlnCenteredCoordinateXAngst", "NaN is not a finite")),
    case(PARAMS, "inf", "-pd", "inf", says=("--protein-diameter", "'inf' is not a finite number")),
    case(PARAMS, "inf", "-bs", "inf", variant="box scaling", says=("--box-scaling", "'inf'")),
    case(PARAMS, "inf", variant="in the tomograms STAR",
         setup=_cell("input/aligned_tilt_series.star", "global", "rlnTomoTiltSeriesPixelSize", "inf"),
         says=("aligned_tilt_series.star", "row 1", "rlnTomoTiltSeriesPixelSize", "infinity")),
    case(PARAMS, "wrong type", "-pd", "abc", says=("--protein-diameter", "'abc' is not a valid float")),
    case(PARAMS, "inf", "-pd", "100000", variant="a finite diameter no box can hold",
         says=("--protein-diameter", "exceeds the largest supported box")),
    read_only(PARAMS, says=("sta_parameters.json", *EROFS[:1])),
    full_disk(PARAMS, says=("sta_parameters.json", *ENOSPC[:1]), in_subprocess=True),
    case(PARAMS, "existing output", setup=_existing("sta_parameters.json"),
         says=("sta_parameters.json", "exists", "--overwrite")),

    # -- prepare template
    case(TEMPLATE, "missing", "-i", "nope.mrc", says=("nope.mrc", "file not found")),
    case(TEMPLATE, "empty", "-i", "empty.mrc", setup=_empty("empty.mrc"), says=("empty.mrc", "not an MRC")),
    case(TEMPLATE, "garbage", "-i", "junk.mrc", setup=_garbage("junk.mrc"), says=("junk.mrc", "not an MRC")),
    case(TEMPLATE, "NaN", "-lp", "nan", says=("--low-pass", "'nan' is not a finite number")),
    case(TEMPLATE, "NaN", "-i", "nan.mrc", variant="a NaN voxel in the map",
         setup=lambda ws: fx.write_map_with_nan(ws / "nan.mrc"), says=("nan.mrc", "NaN")),
    case(TEMPLATE, "inf", "-ivs", "inf", says=("--input-voxel-size", "'inf' is not a finite number")),
    case(TEMPLATE, "wrong type", "-b", "abc", says=("--box-size", "'abc' is not a valid integer")),
    read_only(TEMPLATE, says=("template_map_10A.mrc", *EROFS[:1])),
    full_disk(TEMPLATE, says=("template_map_10A.mrc", *ENOSPC[:1])),
    case(TEMPLATE, "existing output", setup=_existing("template_map_10A.mrc"),
         says=("template_map_10A.mrc", "exists", "--overwrite")),

    # -- prepare tilt-series (AreTomo files of a small simulated dataset, outside the workspace)
    case(TILTS, "missing", "-b", "nope", says=("nope",)),
    case(TILTS, "empty", "-b", "empty", setup=lambda ws: (ws / "empty" / ARETOMO_SESSION).mkdir(parents=True),
         says=(ARETOMO_SESSION,)),
    case(TILTS, "garbage", "-b", "bad", setup=lambda ws: fx.garbage_aretomo(ws / "bad", ARETOMO_SESSION),
         says=(".aln",)),
    case(TILTS, "NaN", "-dpt", "nan", says=("--dose-per-tilt", "'nan' is not a finite number")),
    case(TILTS, "NaN", "-ac", "nan", variant="amplitude contrast", says=("--amplitude-contrast", "'nan'")),
    case(TILTS, "inf", "-td", "inf", says=("--total-dose", "'inf' is not a finite number")),
    case(TILTS, "wrong type", "-v", "abc", says=("--voltage", "'abc' is not a valid float")),
    read_only(TILTS, says=("input", *EROFS[:1])),
    full_disk(TILTS, says=(f"{ARETOMO_SESSION}_tiltSeries", *ENOSPC[:1])),
    case(TILTS, "existing output", setup=_existing(f"input/{ARETOMO_SESSION}_tiltSeries/mine.txt"),
         says=(f"{ARETOMO_SESSION}_tiltSeries", "exists", "--overwrite")),

    # -- prepare particles (a copick project in the workspace)
    case(PARTICLES, "missing", "-c", "nope.json", says=("nope.json",)),
    case(PARTICLES, "empty", "-c", "empty.json", setup=_empty("empty.json"), says=("empty.json",)),
    case(PARTICLES, "garbage", "-c", "junk.json", setup=_garbage("junk.json"), says=("junk.json",)),
    case(PARTICLES, "NaN", "-ps", "nan", says=("--pixel-size", "'nan' is not a finite number")),
    case(PARTICLES, "NaN", "-uid", "user", "-sid", "2", variant="a NaN pick in copick",
         setup=fx.nan_pick, says=("copick picks user/2", "point 2", "NaN")),
    case(PARTICLES, "inf", "-v", "inf", says=("--voltage", "'inf' is not a finite number")),
    case(PARTICLES, "wrong type", "-x", "abc", says=("--dim-x", "'abc' is not a whole number")),
    read_only(PARTICLES, says=("picks.star", *EROFS[:1])),
    full_disk(PARTICLES, says=("picks.star", *ENOSPC[:1])),
    case(PARTICLES, "existing output", setup=_existing("input/picks.star"),
         says=("input/picks.star", "exists", "--overwrite")),

    # -- prepare combine-particles
    case(COMBINE_P, "missing", "-i", "input/nope.star", says=("input/nope.star", "file not found")),
    case(COMBINE_P, "empty", "-i", "input/empty.star", setup=_empty("input/empty.star"),
         says=("input/empty.star",)),
    case(COMBINE_P, "garbage", "-i", "input/junk.star", setup=_garbage("input/junk.star"),
         says=("input/junk.star",)),
    case(COMBINE_P, "NaN", setup=_cell("input/a.star", "particles", "rlnAngleRot", "nan"),
         says=("a.star", "row 1", "column rlnAngleRot", "NaN is not a finite number")),
    case(COMBINE_P, "inf", setup=_cell("input/b.star", "particles", "rlnCenteredCoordinateZAngst", "-inf"),
         says=("b.star", "row 1", "rlnCenteredCoordinateZAngst", "-infinity")),
    case(COMBINE_P, "wrong type", setup=_cell("input/a.star", "particles", "rlnAnglePsi", "abc"),
         says=("a.star", "row 1", "rlnAnglePsi", "'abc' is not a number")),
    read_only(COMBINE_P, says=("input/all.star", *EROFS[:1])),
    full_disk(COMBINE_P, says=("input/all.star", *ENOSPC[:1])),
    case(COMBINE_P, "existing output", setup=_existing("input/all.star"),
         says=("input/all.star", "exists", "--overwrite")),

    # -- prepare combine-tilt-series
    case(COMBINE_T, "missing", "-i", "nope.star", says=("nope.star", "file not found")),
    case(COMBINE_T, "empty", "-i", "empty.star", setup=_empty("empty.star"), says=("empty.star",)),
    case(COMBINE_T, "garbage", "-i", "junk.star", setup=_garbage("junk.star"), says=("junk.star",)),
    case(COMBINE_T, "NaN", setup=_cell("a/aligned_tilt_series.star", "global", "rlnVoltage", "nan"),
         says=("aligned_tilt_series.star", "row 1", "rlnVoltage", "NaN")),
    case(COMBINE_T, "inf", setup=_cell("b/aligned_tilt_series.star", "global", "rlnTomoSizeZ", "inf"),
         says=("aligned_tilt_series.star", "rlnTomoSizeZ", "infinity")),
    case(COMBINE_T, "wrong type", setup=_cell("a/aligned_tilt_series.star", "global", "rlnTomoSizeX", "wide"),
         says=("rlnTomoSizeX", "'wide' is not a number")),
    read_only(COMBINE_T, says=("input", *EROFS[:1])),
    full_disk(COMBINE_T, says=("input/all.star", *ENOSPC[:1])),
    case(COMBINE_T, "existing output", setup=_existing("input/all.star"),
         says=("input/all.star", "exists", "--overwrite")),

    # -- prepare filter-unused-tilts
    case(FILTER, "missing", "-p", "input/nope.star", says=("input/nope.star", "file not found")),
    case(FILTER, "empty", "-t", "input/empty.star", setup=_empty("input/empty.star"),
         says=("input/empty.star",)),
    case(FILTER, "garbage", "-t", "input/junk.star", setup=_garbage("input/junk.star"),
         says=("input/junk.star",)),
    case(FILTER, "NaN",
         setup=_cell("input/full_picks.star", "particles", "rlnCenteredCoordinateYAngst", "nan"),
         says=("full_picks.star", "rlnCenteredCoordinateYAngst", "NaN")),
    case(FILTER, "inf", setup=_cell("input/aligned_tilt_series.star", "global", "rlnVoltage", "inf"),
         says=("aligned_tilt_series.star", "rlnVoltage", "infinity")),
    case(FILTER, "wrong type", setup=_cell("input/aligned_tilt_series.star", "global", "rlnTomoSizeY", "x"),
         says=("rlnTomoSizeY", "'x' is not a number")),
    read_only(FILTER, says=("input/used.star", *EROFS[:1])),
    full_disk(FILTER, says=("input/used.star", *ENOSPC[:1])),
    case(FILTER, "existing output", setup=_existing("input/used.star"),
         says=("input/used.star", "exists", "--overwrite")),

    # -- pipelines sta (input faults are found before a dry run would plan; the file-system cases
    #    run for real and stop at the project's first write)
    case(STA, "missing", "-p", "nope.json", "--dry-run", says=("nope.json", "file not found")),
    case(STA, "empty", "--dry-run", setup=_empty("sta_parameters.json"),
         says=("sta_parameters.json", "not valid JSON")),
    case(STA, "garbage", "--dry-run", setup=_garbage("sta_parameters.json"), says=("sta_parameters.json",)),
    case(STA, "NaN", "--dry-run", setup=_json("particle", "low_pass", "NaN"),
         says=("particle.low_pass", "finite number")),
    case(STA, "NaN", "--dry-run", "-rt", "reference.mrc", variant="a template with a NaN voxel",
         setup=lambda ws: fx.template_for(ws, nan=True) and None, says=("reference.mrc", "NaN")),
    case(STA, "inf", "--dry-run", setup=_json("particle", "diameter", "Infinity"),
         says=("particle.diameter", "finite number")),
    case(STA, "wrong type", "--dry-run", setup=_json("particle", "diameter", '"160"'),
         says=("particle.diameter", "valid number", 'the string "160"'), in_subprocess=True),
    case(STA, "wrong type", "--dry-run", variant="use_gpu: yes", setup=_json("compute", "use_gpu", '"yes"'),
         says=("compute.use_gpu", "valid boolean")),
    case(STA, "wrong type", "--dry-run", variant="threads: true", setup=_json("compute", "threads", "true"),
         says=("compute.threads", "valid integer")),
    case(STA, "missing", "--executor-setting", "mpi_launcher=/nonexistent/mpirun -n {ranks}",
         variant="an MPI launcher that does not exist", needs_relion=True,
         says=("executors.local.mpi_launcher", "/nonexistent/mpirun")),
    read_only(STA, says=(".py2rely.lock", *EROFS[:1]), needs_relion=True),
    full_disk(STA, says=(".py2rely.lock", *ENOSPC[:1]), needs_relion=True),

    # -- export star2copick (picks go into the copick project in the workspace)
    case(EXPORT, "missing", "-p", "input/nope.star", says=("input/nope.star", "file not found")),
    case(EXPORT, "empty", "-p", "input/empty.star", setup=_empty("input/empty.star"),
         says=("input/empty.star",)),
    case(EXPORT, "garbage", "-c", "junk.json", setup=_garbage("junk.json"), says=("junk.json",)),
    case(EXPORT, "NaN", setup=_cell("input/refined.star", "particles", "rlnAngleTilt", "nan"),
         says=("refined.star", "row 1", "rlnAngleTilt", "NaN")),
    case(EXPORT, "inf", setup=_cell("input/refined.star", "particles", "rlnCenteredCoordinateXAngst", "inf"),
         says=("refined.star", "rlnCenteredCoordinateXAngst", "infinity")),
    case(EXPORT, "wrong type", "-x", "abc", "-y", "10", "-z", "10", says=("--dim-x", "'abc'")),
    read_only(EXPORT, says=("overlay/ExperimentRuns/TS_01/Picks", *EROFS[:1])),
    full_disk(EXPORT, says=("overlay/ExperimentRuns/TS_01/Picks", *ENOSPC[:1])),
    case(EXPORT, "existing output", setup=fx.existing_export_picks, says=("already exist", "--overwrite")),

    # -- simulate (writes a new directory)
    case(SIMULATE, "garbage", "--symmetry", "Q7", says=("--symmetry",)),
    case(SIMULATE, "NaN", "--snr", "nan", says=("--snr", "'nan' is not a finite number")),
    case(SIMULATE, "inf", "--tilt-step", "inf", says=("--tilt-step", "'inf' is not a finite number")),
    case(SIMULATE, "wrong type", "--particles", "some",
         says=("--particles", "'some' is not a valid integer")),
    read_only(SIMULATE, says=("sim", *EROFS[:1])),
    full_disk(SIMULATE, says=("ws/sim:", *ENOSPC[:1])),
    case(SIMULATE, "existing output", setup=_existing("sim/notes.txt"),
         says=("sim", "not empty", "--overwrite")),

    # -- demo (names are checked before the simulation)
    case(DEMO, "garbage", "-bl", "4,x", says=("--binning-list",)),
    case(DEMO, "missing", "--executor", "nope", variant="an executor that no plugin provides", code=3,
         says=("no executor named 'nope'", "local", "slurm")),
    case(DEMO, "missing", "--initial-model", "nope", variant="an unknown initial-model strategy", code=3,
         says=("no initial-model strategy named 'nope'",)),
    case(DEMO, "missing", "-cs", "nope", variant="an unknown class selector", code=3,
         says=("no class selector named 'nope'",)),
    case(DEMO, "NaN", "--decoy-fraction", "nan", says=("--decoy-fraction", "'nan' is not a finite number")),
    case(DEMO, "inf", "--decoy-fraction", "inf", says=("--decoy-fraction", "'inf'")),
    case(DEMO, "wrong type", "--particles", "many", says=("--particles", "'many' is not a valid integer")),
    case(DEMO, "wrong type", "--executor-setting", "threads=2", variant="an unknown executor setting",
         says=("executors.local", "threads")),
    read_only(DEMO, says=("demo", *EROFS[:1])),
    full_disk(DEMO, says=("demo/data:", *ENOSPC[:1])),

    # -- status (read-only by design: it must work on a read-only or full file system)
    case(STATUS, "missing", "--project-dir", "nope", says=("nope", "no default_pipeline.star")),
    # A damaged pipeline file is reported and the jobs are listed from their directories; status
    # itself rewrites nothing (the next pipeline run rebuilds the file).
    Case(STATUS, "garbage", (), 0, ("default_pipeline.star", "not a text file", "rebuilds"),
         setup=_garbage("proj/default_pipeline.star")),
    Case(STATUS, "empty", (), 0, ("default_pipeline.star", "rebuilds"),
         setup=_empty("proj/default_pipeline.star")),
    Case(STATUS, "read-only output", (), 0, place="read-only"),
    Case(STATUS, "full disk", (), 0, place="full"),

    # -- relion info
    case(RELION_INFO, "missing", code=4, variant="no RELION on PATH and no embedded runtime",
         env={"PY2RELY_RELION_HOME": "{ws}/no-runtime", "PATH": "/usr/bin:/bin", "PY2RELY_RELION_SETUP": ""},
         says=("no RELION 5 found",)),

    # -- plugins
    case(PLUGINS, "garbage", code=3, variant="a malformed $PY2RELY_PREFER_PLUGIN",
         env={"PY2RELY_PREFER_PLUGIN": "garbage"}, says=("'garbage' is not KIND:NAME=PLUGIN",),
         in_subprocess=True),
    case(PLUGINS, "missing", code=3, env={"PY2RELY_PREFER_PLUGIN": "executors:local=nope"},
         variant="a preferred plugin that is not installed",
         says=("plugin 'nope' does not provide executor 'local'",), in_subprocess=True),
    Case(PLUGINS, "read-only output", (), 0, place="read-only", variant="lists plugins; writes nothing"),
]

NOT_APPLICABLE: dict[tuple[str, str], str] = {
    (STA, "existing output"): "a rerun in an existing project resumes it by design (jobs are reused "
                              "by identity)",
    (SIMULATE, "missing"): "reads no input file",
    (SIMULATE, "empty"): "reads no input file",
    (DEMO, "empty"): "reads no input file (a dataset it simulated earlier is reused by design)",
    (DEMO, "existing output"): "a rerun reuses the dataset and the finished jobs by design",
    (STATUS, "NaN"): "takes no numbers",
    (STATUS, "inf"): "takes no numbers",
    (STATUS, "wrong type"): "takes no typed option besides paths",
    (STATUS, "existing output"): "writes nothing",
    (RELION_INFO, "empty"): "reads no input file",
    (RELION_INFO, "garbage"): "its only input, --setup, is shell lines run as given",
    (RELION_INFO, "NaN"): "takes no numbers",
    (RELION_INFO, "inf"): "takes no numbers",
    (RELION_INFO, "wrong type"): "takes no typed option",
    (RELION_INFO, "read-only output"): "writes nothing in the working directory",
    (RELION_INFO, "full disk"): "writes nothing in the working directory",
    (RELION_INFO, "existing output"): "writes nothing",
    (PLUGINS, "empty"): "reads no input file",
    (PLUGINS, "NaN"): "takes no numbers",
    (PLUGINS, "inf"): "takes no numbers",
    (PLUGINS, "wrong type"): "takes no typed option",
    (PLUGINS, "full disk"): "writes nothing (the read-only case shows it)",
    (PLUGINS, "existing output"): "writes nothing",
}
# `py2rely relion install` is not in the matrix: it builds the embedded runtime with debootstrap
# (minutes, network); its own tests cover it.
EXEMPT_COMMANDS = {"relion install": "installs the embedded runtime (debootstrap, minutes)"}


# ---------------------------------------------------------------------------------------------
# Running a case


@pytest.fixture(scope="module")
def aretomo(tmp_path_factory) -> Path:
    """AreTomo files of a small simulated dataset (the tilt-series import's input), shared and
    snapshotted by every case that reads it."""
    return fx.aretomo_project(tmp_path_factory.mktemp("fault-aretomo"), ARETOMO_SESSION)


def _expand(text: str, ws: Path, aretomo_base: Path | None) -> str:
    return text.replace("{ws}", str(ws)).replace("{aretomo}", str(aretomo_base or ""))


def _in_process(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        out, err = capsys.readouterr()
        with capsys.disabled():
            log.configure()  # structlog must not keep writing into this case's captured stream
    return code, out, err


def _subprocess(argv: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str, str]:
    import os

    result = subprocess.run(
        [sys.executable, "-c", "from py2rely_core.cli import main; main()", *argv], cwd=cwd,
        env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False)
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("fault_case", CASES, ids=lambda c: c.id)
def test_fault(fault_case: Case, tmp_path, capsys, monkeypatch, request):
    if fault_case.place != "disk" and not fx.is_root():
        pytest.skip("mounting a read-only or full tmpfs needs root")
    if fault_case.needs_relion:
        from py2rely_plugins.relion5 import runtime as rt

        if rt.locate() is None:
            pytest.skip("needs RELION (py2rely relion install)")
    command = COMMANDS[fault_case.command]
    aretomo_base = request.getfixturevalue("aretomo") if "{aretomo}" in command.argv else None
    ws = tmp_path / "ws"
    ws.mkdir()
    with fx.tmpfs(ws) if fault_case.place != "disk" else _nothing():
        command.setup(ws)
        if fault_case.setup is not None:
            fault_case.setup(ws)
        if fault_case.place == "read-only":
            fx.make_read_only(ws)
        elif fault_case.place == "full":
            fx.fill(ws)
        argv = [_expand(a, ws, aretomo_base) for a in (*command.argv, *fault_case.options)]
        env = {k: _expand(v, ws, aretomo_base) for k, v in fault_case.env.items()}
        before = fx.tree(ws)
        shared_before = fx.tree(aretomo_base, contents=False) if aretomo_base else None

        if fault_case.in_subprocess:
            code, out, err = _subprocess(argv, ws, env)
        else:
            monkeypatch.chdir(ws)
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            code, out, err = _in_process(argv, capsys)

        after = fx.tree(ws)
        assert "Traceback" not in out + err, err
        assert code == fault_case.exit_code, f"exit {code}; stderr:\n{err}"
        lines = [line for line in err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        if fault_case.exit_code:
            assert len(errors) == 1 and errors[-1] == lines[-1], err
            for word in fault_case.says:
                assert word in errors[0], f"{word!r} not in: {errors[0]}"
        else:
            assert errors == [], err
            warnings = [line for line in lines if line.startswith("warning:")]
            for word in fault_case.says:  # what a command that still works must say
                assert any(word in line for line in warnings), f"{word!r} not in a warning: {err}"
        assert after == before, f"files created or changed: {_difference(before, after)}"
        if aretomo_base:
            assert fx.tree(aretomo_base, contents=False) == shared_before


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _difference(before: dict, after: dict) -> list[str]:
    return sorted({k for k in before.keys() | after.keys() if before.get(k) != after.get(k)})


# ---------------------------------------------------------------------------------------------
# The matrix is complete


def leaf_commands() -> set[str]:
    root = build_cli(get_plugins())
    found: set[str] = set()

    def walk(group: click.Group, words: tuple[str, ...], ctx: click.Context) -> None:
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if isinstance(command, click.Group):
                walk(command, (*words, name), click.Context(command, parent=ctx))
            elif command is not None:
                found.add(" ".join((*words, name)))

    walk(root, (), click.Context(root))
    return found


def test_every_command_and_fault_is_a_case_or_says_why_not():
    covered = {(c.command, c.fault) for c in CASES}
    for command in COMMANDS:
        for fault in FAULTS:
            reason = NOT_APPLICABLE.get((command, fault))
            assert ((command, fault) in covered) != bool(reason), (
                f"{command} × {fault}: needs a case or a reason why it does not apply (not both)")
    assert leaf_commands() == set(COMMANDS) | set(EXEMPT_COMMANDS)


def test_matrix_size(capsys):
    cells = len(COMMANDS) * len(FAULTS)
    with capsys.disabled():
        print(f"\nfault matrix: {len(COMMANDS)} commands × {len(FAULTS)} faults = {cells} cells; "
              f"{len({(c.command, c.fault) for c in CASES})} covered by {len(CASES)} cases, "
              f"{len(NOT_APPLICABLE)} not applicable")

