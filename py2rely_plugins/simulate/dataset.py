"""``simulate``: plan the scene, make the phantom and the tilt images, write the dataset.

The noise level follows from the SNR, defined on the tilt nearest 0°: the variance of one
particle's noiseless image (CTF and exposure filter applied) over its footprint, averaged over all
particles, divided by the noise variance. Tilt images are scaled so the noise has unit variance.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from py2rely_core.atomic import parent_directories, replace_directory
from py2rely_core.errors import InputError
from py2rely_core.log import get_logger
from py2rely_core.progress import progress_task
from py2rely_plugins.simulate import output
from py2rely_plugins.simulate.config import SimulationConfig
from py2rely_plugins.simulate.ctf import Optics
from py2rely_plugins.simulate.phantom import build_phantom, support_radius_px
from py2rely_plugins.simulate.picks import describe as describe_picks
from py2rely_plugins.simulate.projector import Projector
from py2rely_plugins.simulate.render import Renderer
from py2rely_plugins.simulate.scene import TiltSeries, plan

log = get_logger("py2rely.simulate")


@dataclass(frozen=True)
class Result:
    output: Path
    tilt_series: int
    particles: int
    decoys: int
    tilts: int
    box: int
    noise_sigma: float  # of the signal before scaling, i.e. signal units per noise s.d.
    seconds: float


def check_output(path: Path, overwrite: bool) -> None:
    if path.exists() and not path.is_dir():
        raise InputError(str(path), "exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise InputError(str(path), "exists and is not empty", "a new directory, or --overwrite")


def projection_size(config: SimulationConfig) -> int:
    """Even size that holds the whole phantom (build_phantom is zero outside its support)."""
    size = 2 * int(np.ceil(support_radius_px(config.particle_diameter, config.pixel_size))) + 2
    return min(size + size % 2, config.box_px)


def simulate(config: SimulationConfig, output_dir: str | os.PathLike[str], overwrite: bool = False) -> Result:
    started = time.monotonic()
    config = config.validated()
    final_dir = Path(output_dir).expanduser().resolve()
    check_output(final_dir, overwrite)
    optics = Optics()

    all_series = plan(config)
    phantom = build_phantom(config.box_px, config.pixel_size, config.particle_diameter,
                            config.symmetry_group, config.phantom_resolution,
                            mirror=config.debug_mirror_phantom)
    truth_phantom = phantom if not config.debug_mirror_phantom else build_phantom(
        config.box_px, config.pixel_size, config.particle_diameter, config.symmetry_group,
        config.phantom_resolution)
    renderer = Renderer(config, Projector(phantom, projection_size(config)), optics)
    signal_variance = _footprint_variance(renderer, all_series)
    noise_sigma = float(np.sqrt(signal_variance / config.snr))
    log.info("simulating", output=str(final_dir), tilt_series=config.tilt_series,
             particles=config.particles, tilts=len(config.tilt_angles), patch=renderer.size,
             noise_sigma=round(noise_sigma, 4))

    staging = final_dir.parent / f".{final_dir.name}.partial-{os.getpid()}"
    images = len(all_series) * len(config.tilt_angles)
    with parent_directories(final_dir.parent):
        shutil.rmtree(staging, ignore_errors=True)
        try:
            with progress_task("simulating tilt images", total=images,
                               logger_name="py2rely.simulate") as task:
                for index, series in enumerate(all_series):
                    stack = renderer.stack(series, index, noise_sigma,
                                           on_tilt=lambda: task.update(completed=task.completed + 1))
                    output.write_mrc(output.stack_path(staging, series), stack, config.pixel_size,
                                     stack=True)
                    log.info("tilt series written", name=series.name, particles=len(series.particles),
                             seconds=round(time.monotonic() - started, 1))
            parameters = _parameters(config, optics, all_series, renderer, signal_variance, noise_sigma)
            output.write_dataset(staging, final_dir, config, optics, all_series, truth_phantom,
                                 parameters)
            replace_directory(staging, final_dir)
        except OSError as exc:  # name the output, not the hidden staging directory
            raise OSError(exc.errno, exc.strerror or str(exc), str(final_dir)) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    seconds = time.monotonic() - started
    decoys = sum(int(s.picks["decoy"].sum()) for s in all_series)
    return Result(output=final_dir, tilt_series=len(all_series),
                  particles=sum(len(s.particles) for s in all_series), decoys=decoys,
                  tilts=len(config.tilt_angles), box=config.box_px, noise_sigma=noise_sigma,
                  seconds=seconds)


def _footprint_variance(renderer: Renderer, all_series: list[TiltSeries]) -> float:
    values = []
    for series in all_series:
        zero = int(np.argmin(np.abs(series.tilts["angle"].to_numpy())))
        for pick in np.flatnonzero(~series.picks["decoy"].to_numpy()):
            values.append(renderer.footprint_variance(series, zero, int(pick)))
    return float(np.mean(values))


def _parameters(config: SimulationConfig, optics: Optics, all_series: list[TiltSeries], renderer: Renderer,
                signal_variance: float, noise_sigma: float) -> dict:
    return {
        "parameters": config.to_dict(),
        "optics": {"voltage_kv": optics.voltage, "cs_mm": optics.cs,
                   "amplitude_contrast": optics.amplitude_contrast},
        "derived": {
            "box_px": config.box_px,
            "box_angstrom": config.box_px * config.pixel_size,
            "map_centre_voxel": config.box_px // 2,
            "tomogram_size_px": [config.image_size, config.image_size, config.thickness_px],
            "tilt_angles": config.tilt_angles,
            "projection_size_px": renderer.projector.size,
            "patch_size_px": renderer.size,
            "signal_variance": signal_variance,
            "noise_sigma_signal_units": noise_sigma,
            "image_scaling": "tilt images = signal / noise_sigma + N(0, 1)",
        },
        "picks": {
            "model": config.picks,
            "description": describe_picks(config.picks),
            "flipped": [f"{s.name}/{n}" for s in all_series
                        for n in s.picks.loc[s.picks["flipped"] & ~s.picks["decoy"], "number"]],
        },
        "tilt_series": [{
            "name": s.name,
            "particles": len(s.particles),
            "decoys": [f"{s.name}/{n}" for n in s.picks.loc[s.picks["decoy"], "number"]],
            "mean_defocus_angstrom": float(0.5 * (s.tilts["defocus_u"] + s.tilts["defocus_v"]).mean()),
            "tilts": s.tilts.round(6).to_dict(orient="list"),
        } for s in all_series],
    }
