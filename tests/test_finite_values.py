"""The pieces behind the fault matrix: finite float options (a plugin's too), lazy commands, STAR
writes that refuse empty or non-finite cells, atomic writes that leave nothing behind, the MPI
launcher check, and templates that must hold finite numbers."""

from __future__ import annotations

import errno
import subprocess
import sys
from typing import Any, ClassVar

import click
import numpy as np
import pandas as pd
import pytest

from py2rely_core import atomic
from py2rely_core.cli import Py2relyGroup, _converter_command
from py2rely_core.cli_lazy import LazyCommand
from py2rely_core.cli_types import FINITE_FLOAT, FiniteFloatRange, finite_floats
from py2rely_core.errors import FileSystemError, InputError, ParameterError
from py2rely_core.script import check_launcher, launcher_program
from py2rely_core.star import write_star


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "1e999"])
def test_finite_types_refuse_nan_and_infinity(text):
    for kind in (FINITE_FLOAT, FiniteFloatRange(min=0, min_open=True), FiniteFloatRange(0, 1)):
        with pytest.raises(click.BadParameter, match="is not a finite number"):
            kind.convert(text, None, None)
    assert FINITE_FLOAT.convert("1.5", None, None) == 1.5
    with pytest.raises(click.BadParameter, match="not in the range"):
        FiniteFloatRange(0, 1).convert("2", None, None)


class PluginImporter:
    """A third-party importer declaring plain click floats."""

    name = "plugin-importer"
    description = "An importer with plain float options."
    params: ClassVar[list[click.Parameter]] = [
        click.Option(["--scale"], type=float, default=1.0),
        click.Option(["--share"], type=click.FloatRange(0, 1), default=0.5),
        click.Option(["--point"], type=(float, float), default=(0.0, 0.0))]
    seen: ClassVar[dict[str, Any]] = {}

    def run(self, **options: Any) -> None:
        PluginImporter.seen.clear()
        PluginImporter.seen.update(options)


@pytest.mark.parametrize("args", [["--scale", "nan"], ["--share", "nan"], ["--point", "1", "inf"]])
def test_a_plugins_float_options_refuse_nan_and_infinity(args):
    group = Py2relyGroup("prepare")
    group.add_command(_converter_command(PluginImporter()))
    with pytest.raises(click.BadParameter, match="is not a finite number"):
        group.main(["plugin-importer", *args], standalone_mode=False)
    group.main(["plugin-importer", "--scale", "2", "--point", "1", "2"], standalone_mode=False)
    assert PluginImporter.seen == {"scale": 2.0, "share": 0.5, "point": (1.0, 2.0)}


def test_finite_floats_keeps_ranges_and_other_types():
    command = click.Command("x", params=[
        click.Option(["--a"], type=click.FloatRange(1, 2, max_open=True)),
        click.Option(["--b"], type=int), click.Option(["--c"], type=str)])
    finite_floats(command)
    kinds = [p.type for p in command.params]
    assert isinstance(kinds[0], FiniteFloatRange) and (kinds[0].min, kinds[0].max) == (1, 2)
    assert kinds[0].max_open and kinds[1] is click.INT and kinds[2] is click.STRING


def bundled_lazy_commands() -> list[LazyCommand]:
    from py2rely_plugins.relion5 import plugin as relion5
    from py2rely_plugins.simulate import plugin as simulate

    group = click.Group("root", commands=[click.Group(name) for name in ("prepare", "pipelines")])
    relion5.py2rely_cli_commands(group)
    simulate.py2rely_cli_commands(group)
    found = [c for c in group.commands.values() if isinstance(c, LazyCommand)]
    for sub in ("prepare", "pipelines"):
        found += [c for c in group.commands[sub].commands.values() if isinstance(c, LazyCommand)]
    return found


def test_each_lazy_command_shows_the_loaded_commands_own_help():
    commands = bundled_lazy_commands()
    assert {c.name for c in commands} == {"relion", "status", "demo", "simulate", "relion5-parameters",
                                         "template", "sta", "relion5-pipeline", "report"}
    for lazy in commands:
        loaded = lazy.load()
        assert loaded.name == lazy.name
        for width in (45, 80):
            assert lazy.get_short_help_str(width) == loaded.get_short_help_str(width), lazy.name


@pytest.mark.parametrize("args", [["-h"], ["prepare", "-h"], ["pipelines", "-h"], ["export", "-h"]])
def test_help_imports_no_heavy_library(args):
    """`py2rely -h` lists every command without importing what they need to run."""
    code = (f"import sys\nfrom py2rely_core.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n"
            "    pass\nprint(' '.join(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(result.stdout.split("\n")[-2].split())
    heavy = {"pandas", "scipy", "pydantic", "copick", "starfile", "mrcfile", "structlog", "numpy"}
    assert loaded & heavy == set()
    assert "Commands:" in result.stdout


def test_write_star_refuses_empty_and_non_finite_cells(tmp_path):
    for value, said in ((pd.NA, "empty"), (np.nan, "NaN"), (np.inf, "infinity")):
        table = pd.DataFrame({"rlnTomoName": ["a", "b"], "rlnAngleRot": [1.0, 2.0]}).astype(object)
        table.loc[1, "rlnAngleRot"] = value
        with pytest.raises(InputError, match=f"row 2, column rlnAngleRot would be {said}"):
            write_star({"particles": table}, tmp_path / "new" / "out.star")
        assert not (tmp_path / "new").exists()
    nullable = pd.DataFrame({"rlnOpticsGroup": pd.array([1, None], dtype="Int64")})
    with pytest.raises(InputError, match="row 2, column rlnOpticsGroup would be empty"):
        write_star({"optics": nullable}, tmp_path / "out.star")


def test_atomic_write_leaves_nothing_and_names_the_target(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(ValueError), atomic.atomic_path(target):
        raise ValueError("the writer failed")
    assert list(tmp_path.iterdir()) == []  # the directories made for it are gone too
    with pytest.raises(OSError) as raised, atomic.atomic_path(target) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert raised.value.filename == str(target) and list(tmp_path.iterdir()) == []
    message = str(FileSystemError.from_os_error(raised.value))
    assert message == f"{target}: No space left on device (ENOSPC); free space and run the command again"


def test_existing_outputs_need_overwrite(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text("{}")
    with pytest.raises(InputError, match=r"exists.*--overwrite"):
        atomic.refuse_existing(path, "--output", overwrite=False)
    atomic.refuse_existing(path, "--output", overwrite=True)
    atomic.refuse_existing(tmp_path / "new.json", "--output", overwrite=False)


def test_the_mpi_launcher_must_exist_after_the_setup_lines(tmp_path):
    assert launcher_program("mpirun --bind-to none -n {ranks}") == "mpirun"
    with pytest.raises(ParameterError, match=r"executors\.local\.mpi_launcher: 'no-such-mpirun' is not a"):
        check_launcher("no-such-mpirun -n {ranks}", [], "executors.local.mpi_launcher")
    tool = tmp_path / "bin" / "lab-mpirun"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexec \"$@\"\n")
    tool.chmod(0o755)
    with pytest.raises(ParameterError):
        check_launcher("lab-mpirun -n {ranks}", [], "where")
    check_launcher("lab-mpirun -n {ranks}", [f'export PATH="{tool.parent}:$PATH"'], "where")
    check_launcher(f"{tool} -np {{ranks}}", ["echo setting up; false"], "where")


def test_a_template_with_non_finite_values_is_never_written(tmp_path):
    from py2rely_plugins.relion5.sta.template import write_template

    volume = np.zeros((16, 16, 16), dtype=np.float32)
    volume[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN or infinite"):
        write_template(volume, tmp_path / "t.mrc", 5.0)
    assert list(tmp_path.iterdir()) == []


def test_the_parameter_file_is_strict_and_finite(tmp_path):
    from py2rely_plugins.relion5.sta.params import build_parameters, load_parameters, save_parameters

    path = tmp_path / "p.json"
    save_parameters(build_parameters(
        tilt_series="t.star", particles="p.star", tilt_series_pixel_size=1.5, symmetry="C1",
        low_pass=40.0, diameter=160.0, denovo=False, box_scaling=1.5, binning_list=[4, 2],
        threads=1, processes=3), path)
    text = path.read_text()
    assert load_parameters(path).particle.diameter == 160.0
    for old, new, said in (('"diameter": 160.0', '"diameter": "160"', 'the string "160"'),
                           ('"use_gpu": false', '"use_gpu": "yes"', "valid boolean"),
                           ('"threads": 1', '"threads": true', "valid integer"),
                           ('"low_pass": 40.0', '"low_pass": NaN', "finite number"),
                           ('"snr": 0.0', '"snr": -Infinity', "finite number")):
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(ParameterError, match=said):
            load_parameters(path)
