"""``py2rely simulate``: a small synthetic cryo-ET dataset with known particles."""

from __future__ import annotations

import click

from py2rely_core.cli_types import FINITE_FLOAT
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.picks import PICK_MODELS

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEFAULTS = SimulationConfig()


def _option(name: str, field: str, kind: type, help: str) -> click.Option:
    return click.option(name, field, type=FINITE_FLOAT if kind is float else kind,
                        default=getattr(DEFAULTS, field), show_default=True, help=help)


@click.command("simulate", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Directory to create (refused if it exists and is not empty, unless --overwrite).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory.")
@_option("--tilt-series", "tilt_series", int, "Number of tilt series.")
@_option("--particles", "particles", int, "Particles per tilt series (decoys come on top).")
@_option("--tilt-range", "tilt_range", float, "Tilts from -range to +range, degrees.")
@_option("--tilt-step", "tilt_step", float, "Tilt increment, degrees.")
@_option("--pixel-size", "pixel_size", float, "Tilt-series pixel size, Å.")
@_option("--image-size", "image_size", int, "Tilt image width and height, pixels.")
@_option("--thickness", "thickness", float, "Specimen slab (and tomogram) thickness, Å.")
@_option("--particle-diameter", "particle_diameter", float, "Phantom diameter, Å.")
@_option("--box", "box", int, "Phantom map box, pixels (0: smallest multiple of 8 >= 2 × diameter).")
@_option("--symmetry", "symmetry", str, "Phantom point group: C<n> or D<n> (RELION's axes).")
@_option("--snr", "snr", float, "Footprint signal variance / noise variance at 0° (docs/simulate.md).")
@_option("--decoy-fraction", "decoy_fraction", float, "Fraction of picks with no particle.")
@_option("--defocus-min", "defocus_min", float, "Lowest tilt-series defocus, µm.")
@_option("--defocus-max", "defocus_max", float, "Highest tilt-series defocus, µm.")
@_option("--astigmatism", "astigmatism", float, "DefocusU - DefocusV, µm.")
@_option("--dose-per-tilt", "dose_per_tilt", float, "Exposure per tilt, e/Å² (dose-symmetric order).")
@_option("--tilt-axis", "tilt_axis", float, "rlnTomoZRot, degrees.")
@_option("--x-tilt", "x_tilt", float, "rlnTomoXTilt of every tilt, degrees.")
@_option("--shift-sigma", "shift_sigma", float, "Spread of the true per-tilt shifts, Å.")
@_option("--phantom-resolution", "phantom_resolution", float, "Phantom low-pass, Å.")
@_option("--hand", "hand", int, "rlnTomoHand (1 or -1); sets the sign of the depth-dependent defocus.")
@_option("--defocus-error", "defocus_error", float, "S.d. of per-tilt defocus errors in the STAR, Å.")
@_option("--shift-error", "shift_error", float, "S.d. of per-tilt shift errors in the STAR, Å per axis.")
@_option("--angle-error", "angle_error", float, "Rotation between true and written orientations, degrees.")
@_option("--position-error", "position_error", float, "S.d. of written position errors, Å per axis.")
@click.option("--picks", "picks", type=click.Choice(PICK_MODELS), default=DEFAULTS.picks, show_default=True,
              help="What the picker wrote: exact poses, template-matching errors, or positions only "
                   "(docs/simulate.md).")
@_option("--seed", "seed", int, "Random seed; the same options and seed give the same dataset.")
def simulate_command(output: str, overwrite: bool, **options: object) -> None:
    """Write a synthetic RELION 5 tomography dataset with a known answer (ground_truth/)."""
    from py2rely_plugins.simulate.dataset import simulate

    result = simulate(SimulationConfig(**options), output, overwrite=overwrite)  # type: ignore[arg-type]
    click.echo(
        f"{result.output}: {result.tilt_series} tilt series × {result.tilts} tilts, "
        f"{result.particles} particles + {result.decoys} decoys, phantom box {result.box} px "
        f"({result.seconds:.1f} s)"
    )
