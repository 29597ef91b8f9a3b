"""Everything the STA pipeline can check before it spends compute: the parameter file's inputs,
the images they name, the template against the first binning, and the RELION installation."""

from __future__ import annotations

from pathlib import Path

from py2rely_core.errors import InputError
from py2rely_core.star import check_particles_match_tomograms, read_particles, read_tomograms
from py2rely_plugins.relion5.sta.params import Parameters


def image_file(name: str) -> str:
    """The file part of a RELION image name ('12@stack.mrcs' -> 'stack.mrcs')."""
    return name.split("@", 1)[1] if "@" in name else name


def check_inputs(params: Parameters, project_root: Path, parameter_file: str) -> tuple[int, int]:
    """Validate the STAR inputs named in the parameter file; returns (tomograms, particles)."""
    tomograms_path = project_root / params.inputs.tilt_series
    particles_path = project_root / params.inputs.particles
    for path, key in ((tomograms_path, "inputs.tilt_series"), (particles_path, "inputs.particles")):
        if not path.is_file():
            raise InputError(f"{parameter_file}: {key}", f"{path} does not exist",
                             "a path relative to the project directory or absolute")
    tomograms = read_tomograms(tomograms_path, project_dir=project_root)
    particles = read_particles(particles_path)
    check_particles_match_tomograms(particles, tomograms, params.inputs.tilt_series_pixel_size,
                                    pixel_size_option=f"{parameter_file}: inputs.tilt_series_pixel_size")
    for name, table in tomograms.tilt_series.items():
        for image in dict.fromkeys(table["rlnMicrographName"].astype(str)):
            path = Path(image_file(image))
            path = path if path.is_absolute() else project_root / path
            if not path.is_file():
                raise InputError(
                    str(tomograms_path), f"tilt series {name!r}: image {image_file(image)!r} "
                    "(rlnMicrographName) does not exist", "the tilt-series image stacks on disk")
    return len(tomograms.names), len(particles)


def check_template(params: Parameters, template: str | None, project_root: Path) -> None:
    if not template:
        return
    from py2rely_plugins.relion5.sta.template import check_template_fits

    path = Path(template)
    check_template_fits(path if path.is_absolute() else project_root / path, params)
