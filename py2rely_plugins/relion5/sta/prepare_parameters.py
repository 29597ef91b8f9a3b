"""``py2rely prepare relion5-parameters``: validate the inputs and write the parameter file."""

from __future__ import annotations

import math
from pathlib import Path

import click

from py2rely_core import log
from py2rely_core.atomic import refuse_existing
from py2rely_core.cli import CONTEXT_SETTINGS, optional_bool
from py2rely_core.cli_types import FiniteFloatRange, positive
from py2rely_core.errors import InputError
from py2rely_plugins.relion5.symmetry import normalise_symmetry

# The parameter file's class3d.nr_classes default (params.Class3D; not imported here: pydantic
# costs every command a second of start-up). py2rely 0.7.1 defaulted to 1 class, which its own
# `pipelines sta -rc3d` refused; one class cannot classify.
CLASS3D_CLASSES = 3


def _binning_list(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
    from py2rely_plugins.relion5.sta.params import parse_binning_list

    try:
        return parse_binning_list(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _max_dose(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # RELION's own convention (Extract job option max_dose): -1 keeps every tilt.
    if value != -1 and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"{value:g}: a dose in e/Å² greater than 0, or -1 for every tilt")
    return value


def _symmetry(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return normalise_symmetry(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("relion5-parameters", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", default="sta_parameters.json", show_default=True,
              type=click.Path(dir_okay=False), help="Parameter JSON file to write.")
@click.option("-ts", "--tilt-series", default="input/tiltSeries/aligned_tilt_series.star",
              show_default=True, type=click.Path(dir_okay=False),
              help="RELION 5 tomograms STAR (data_global).")
@click.option("-p", "--particles", default="input/full_picks.star", show_default=True,
              type=click.Path(dir_okay=False), help="RELION 5 particles STAR.")
@click.option("-ps", "--tilt-series-pixel-size", default=1.54, show_default=True,
              type=positive(), help="Tilt-series pixel size (Å).")
@click.option("-s", "--symmetry", default="C1", show_default=True, callback=_symmetry,
              help="Point group (C1, Cn, Dn, T, O, I, I1-I4).")
@click.option("-lp", "--low-pass", default=50.0, show_default=True, type=positive(),
              help="Resolution (Å) the first reference is low-pass filtered to.")
@click.option("-pd", "--protein-diameter", default=290.0, show_default=True,
              type=positive(), help="Particle diameter (Å).")
@optional_bool("-dg", "--denovo-generation",
               help="Make the first reference de novo (RELION's initial model).")
@click.option("-bs", "--box-scaling", default=2.0, show_default=True,
              type=FiniteFloatRange(min=1.0), help="Box size as a multiple of the diameter.")
@click.option("-bl", "--binning-list", default="4,2,1", show_default=True, callback=_binning_list,
              help="Binning factors, strictly descending, comma-separated.")
@click.option("-nc", "--nclasses", default=CLASS3D_CLASSES, show_default=True,
              type=click.IntRange(min=2),
              help="Classes of the auto-Class3D that `pipelines sta -rc3d` runs (class3d.nr_classes).")
@click.option("-nim", "--ninit-models", default=1, show_default=True, type=click.IntRange(min=1),
              help="Classes (models) of the de novo initial model (initial_model.denovo.nr_classes).")
@click.option("-md", "--max-dose", default=-1.0, show_default=True, callback=_max_dose,
              help="Extract only tilts up to this accumulated dose (e/Å²); -1: every tilt "
                   "(extract.max_dose).")
@click.option("-nj", "--nthreads", default=8, show_default=True, type=click.IntRange(min=1),
              help="Threads per process.")
@click.option("-np", "--nprocesses", default=None, type=click.IntRange(min=1),
              help="Processes (MPI ranks) per job; default: the machine's cores.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace an existing parameter file (without it, an existing --output is refused).")
def relion5_parameters(
    output: str, tilt_series: str, particles: str, tilt_series_pixel_size: float, symmetry: str,
    low_pass: float, protein_diameter: float, denovo_generation: bool, box_scaling: float,
    binning_list: list[int], nclasses: int, ninit_models: int, max_dose: float, nthreads: int,
    nprocesses: int | None, overwrite: bool,
) -> None:
    """Write the parameter file holding every RELION job parameter the STA pipeline uses."""
    # Imported here: pandas and pydantic cost a second of start-up for every other command.
    from pydantic import ValidationError

    from py2rely_core.star import check_particles_match_tomograms, read_particles, read_tomograms
    from py2rely_plugins.relion5.sta.params import (
        build_parameters,
        describe_validation_error,
        save_parameters,
    )

    logger = log.get_logger("prepare.parameters")
    for path in (output,):
        if Path(path).resolve() in {Path(tilt_series).resolve(), Path(particles).resolve()}:
            raise InputError("--output", f"{path} would overwrite an input file")
    refuse_existing(output, "--output", overwrite)
    tomograms = read_tomograms(tilt_series)
    particle_set = read_particles(particles)
    check_particles_match_tomograms(particle_set, tomograms, tilt_series_pixel_size)
    try:
        params = build_parameters(
            tilt_series=tilt_series, particles=particles,
            tilt_series_pixel_size=tilt_series_pixel_size, symmetry=symmetry, low_pass=low_pass,
            diameter=protein_diameter, denovo=denovo_generation, box_scaling=box_scaling,
            binning_list=binning_list, threads=nthreads, processes=nprocesses,
            class3d_classes=nclasses, denovo_classes=ninit_models, max_dose=max_dose,
        )
    except ValidationError as exc:
        raise InputError("options", f"they make an invalid parameter file: "
                         f"{describe_validation_error(exc, {})}") from None
    except ValueError as exc:  # e.g. a box larger than any RELION can use
        raise InputError(
            "--protein-diameter", f"{protein_diameter:g} Å × box scaling {box_scaling:g} at "
            f"{tilt_series_pixel_size:g} Å/px: {exc}", "a smaller -pd or -bs") from None
    save_parameters(params, output)
    logger.info(
        "parameters written", path=output, particles=len(particle_set),
        tomograms=len(tomograms.names), processes=params.compute.processes,
        refine_mpi_ranks=params.compute.refine_mpi_ranks,
    )
    click.echo("[Initialize] Running Refinement Pipeline with Given Binnings and Resulting Box Sizes")
    for stage in params.binnings:
        crop = f" (extracted at {stage.extract_box}, cropped)" if stage.extract_box != stage.box else ""
        click.echo(f"[Initialize] Box Size: {stage.box} @ bin={stage.binning}{crop}")
