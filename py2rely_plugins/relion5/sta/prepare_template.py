"""``py2rely prepare template``: resample a density map into the first binning's reference."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from py2rely_core import log
from py2rely_core.atomic import refuse_existing
from py2rely_core.cli import CONTEXT_SETTINGS
from py2rely_core.cli_types import positive
from py2rely_core.errors import InputError

_POSITIVE = positive()
LOG_LEVEL_NAMES = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class LogLevel(click.ParamType):
    """A logging level by name (as py2rely 0.7.1 took it, any case) or by number."""

    name = "level"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().lower()
            if text in LOG_LEVEL_NAMES:
                return LOG_LEVEL_NAMES[text]
            try:
                number = int(text)
            except ValueError:
                self.fail(f"{value!r}: a level name ({', '.join(LOG_LEVEL_NAMES)}) or a number", param, ctx)
        if number < 0:
            self.fail(f"{number} is negative", param, ctx)
        return number


def _load_parameters(path: str) -> Any:  # imported late: pydantic slows every start-up
    from py2rely_plugins.relion5.sta.params import load_parameters

    return load_parameters(path)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


@click.command("template", context_settings=CONTEXT_SETTINGS)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Input MRC density map file.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Output path (.mrc).  [default: template_{stem}_{voxel}A.mrc]")
@click.option("-ivs", "--input-voxel-size", type=_POSITIVE, default=None,
              help="Voxel size of input map (Å).  [default: from MRC header]")
@click.option("-ovs", "--output-voxel-size", type=_POSITIVE, required=True,
              help="Target voxel size (Å) - should match tomograms.")
@click.option("-c", "--center", is_flag=True, help="Center density by center of mass before filtering.")
@click.option("-lp", "--low-pass", type=_POSITIVE, default=None,
              help="Gaussian low-pass filter resolution (Å).  [default: 2 × output voxel size]")
@click.option("-b", "--box-size", type=int, default=None,
              help="Final template box size (voxels), even.  [default: downsampled size, rounded up "
                   "to an FFT-friendly size]")
@click.option("--invert", is_flag=True, help="Multiply template by -1.")
@click.option("-m", "--mirror", is_flag=True, help="Mirror template along first axis.")
@click.option("--log", "log_level", type=LogLevel(), default="info", show_default=True,
              help="Logging level: debug, info, warning, error, critical, or a number (10 debug, "
                   "20 info, 30 warning, 40 error).")
@click.option("--parameters", "parameters_path", type=click.Path(dir_okay=False), default=None,
              help="Parameter JSON: refuse a template that does not fit its first binning "
                   "(the box then defaults to that binning's box).")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace an existing output file (without it, an existing output is refused).")
@click.pass_context
def template(
    ctx: click.Context, input_path: str, output: str | None, input_voxel_size: float | None,
    output_voxel_size: float, center: bool, low_pass: float | None, box_size: int | None,
    invert: bool, mirror: bool, log_level: int, parameters_path: str | None, overwrite: bool,
) -> None:
    """Resample a density map (e.g. from EMDB) to the tomograms' voxel size and box, low-pass
    filtered, as the reference for the first refinement."""
    # Imported here, not at the top: scipy.fft costs every other py2rely command ~0.3 s to import.
    from py2rely_plugins.relion5.sta.template import (
        default_output_path,
        format_voxel,
        make_template,
        read_map_info,
        resolve_settings,
        write_template,
    )

    if ctx.get_parameter_source("log_level") is not click.core.ParameterSource.DEFAULT:
        log.configure(log_level, (ctx.find_root().obj or {}).get("log_format", "console"))
    logger = log.get_logger("prepare.template")

    info = read_map_info(input_path)
    settings = resolve_settings(
        info, input_voxel_size=input_voxel_size, output_voxel_size=output_voxel_size,
        low_pass=low_pass, box=box_size, center=center, invert=invert, mirror=mirror,
        params=_load_parameters(parameters_path) if parameters_path else None,
    )
    output_path = Path(output) if output else default_output_path(input_path, output_voxel_size)
    if output_path.exists() and _same_file(output_path, info.path):
        raise InputError("--output", f"{output_path} is the input map; refusing to overwrite it",
                         "a different output path")
    refuse_existing(output_path, "--output", overwrite)

    started = time.perf_counter()
    volume = make_template(info, settings)
    voxel = format_voxel(settings.output_voxel_size)
    label = f"py2rely template from {info.path.name}: {voxel} A, lp {settings.low_pass:g} A"
    write_template(volume, output_path, settings.output_voxel_size, label=label)
    logger.info(
        "template written", path=str(output_path), box=settings.box, voxel_size=voxel,
        low_pass=settings.low_pass, input_shape=info.shape,
        input_voxel_size=settings.input_voxel_size, centred=center, inverted=invert,
        mirrored=mirror, seconds=round(time.perf_counter() - started, 2),
    )
    click.echo(f"{output_path}: {settings.box} px at {voxel} Å, low-pass {settings.low_pass:g} Å")
