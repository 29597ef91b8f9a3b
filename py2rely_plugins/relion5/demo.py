"""`py2rely demo`: the whole guide on a simulated dataset, in one command.

simulate (with the picks users have: template-matching picks by default) → prepare
relion5-parameters → (prepare template from the ground truth low-passed as a user would from
EMDB, for the `reference` route) → pipelines sta → the final table, plus every stage measured
against the simulator's ground truth. It installs the embedded RELION runtime first when no
RELION is found. Rerunning it reuses the dataset, the parameter file and every finished job.
"""

from __future__ import annotations

from pathlib import Path

import click

from py2rely_core.cli import CONTEXT_SETTINGS, optional_bool
from py2rely_core.cli_types import FiniteFloatRange
from py2rely_core.errors import InputError, ParameterError
from py2rely_core.plugins import get_plugins
from py2rely_core.settings import parse_setting_overrides
from py2rely_core.star import check_particles_match_tomograms, read_particles, read_tomograms
from py2rely_plugins.relion5 import runtime as rt
from py2rely_plugins.relion5.sta.cli import StaRequest, print_outcome, run_sta
from py2rely_plugins.relion5.sta.params import (
    Parameters,
    build_parameters,
    load_parameters,
    parse_binning_list,
    save_parameters,
)

# The demo dataset: small enough that the bin 4 → 2 pipeline runs in minutes on 2 cores
# (docs/demo.md has the measured times).
DEMO_DATASET = {
    "tilt-series": "2", "particles": "30", "tilt-range": "60", "tilt-step": "3",
    "pixel-size": "2.5", "image-size": "512", "particle-diameter": "160", "snr": "0.2",
}
DEMO_DIAMETER = 160.0
DEMO_PIXEL = 2.5
DEMO_POLISHING_ROUNDS = 1
DEMO_BIN1_ANGLE_SIGMA = 3.0  # degrees
DEMO_DENOVO_ITERATIONS = 25
DEMO_DENOVO_ARGS = ("--healpix_order 0 --auto_local_healpix_order 1 --maxsig 10 "
                    "--grad_ini_resol 40 --grad_fin_resol 40")
DEMO_LOW_PASS = 40.0  # Å: the first reference, and the template's low-pass
TEMPLATE_NAME = "reference.mrc"  # in the project: the phantom as a user would have it from EMDB
# The strategy that fits each picks model: picks with angles are reconstructed from them; picks
# with positions only are aligned to a template (a user has one from EMDB or PDB).
STRATEGY_FOR_PICKS = {"exact": "reconstruct", "template-matching": "reconstruct",
                      "positions": "reference"}


def _progress(message: str) -> None:
    click.echo(f"[demo] {message}", err=True)


def ensure_runtime() -> None:
    if rt.locate() is None:
        _progress("no RELION on PATH: installing the embedded RELION 5.1 runtime (once)")
        rt.install(progress=_progress)


def simulate_dataset(data_dir: Path, options: dict[str, str], seed: int) -> None:
    record = data_dir / "ground_truth" / "simulation.json"
    if record.is_file():
        _progress(f"reusing the simulated dataset in {data_dir}")
        return
    context = click.get_current_context().find_root()
    root = context.command
    simulate = root.get_command(context, "simulate") if isinstance(root, click.Group) else None
    if simulate is None:
        raise InputError("py2rely demo", "the `simulate` plugin is not installed",
                         "the bundled plugin py2rely_plugins.simulate")
    args = ["-o", str(data_dir), "--seed", str(seed)]
    for key, value in options.items():
        args += [f"--{key}", value]
    _progress("simulating: " + " ".join(args))
    simulate.main(args=args, standalone_mode=False)


def write_parameters(project: Path, data_dir: Path, binning_list: list[int], processes: int,
                     threads: int, decoy_classes: bool, hand_reference: str | None = None) -> Path:
    path = project / "sta_parameters.json"
    tomograms = read_tomograms(data_dir / "tomograms.star")
    particles = read_particles(data_dir / "particles.star")
    check_particles_match_tomograms(particles, tomograms, DEMO_PIXEL)
    params = build_parameters(
        tilt_series=str(data_dir / "tomograms.star"), particles=str(data_dir / "particles.star"),
        tilt_series_pixel_size=DEMO_PIXEL, symmetry="C1", low_pass=DEMO_LOW_PASS,
        diameter=DEMO_DIAMETER,
        denovo=False, box_scaling=1.5, binning_list=binning_list, threads=threads,
        processes=processes,
    )
    if decoy_classes:
        params.class3d.nr_classes = 2
    # De novo on a few dozen particles: RELION's 200 gradient iterations at 15° are made for
    # thousands; 25 at 30° (HEALPix order 0, enough below 40 Å for a 160 Å particle), the 10 best
    # poses of each particle and data to 40 Å give the shape in minutes (docs/demo.md).
    params.initial_model.denovo.nr_iter = DEMO_DENOVO_ITERATIONS
    # RELION's initial model searches ±6 px in 2 px steps whatever the pixel (60 Å at bin 4);
    # the picks are within the first binning's own range, which given last replaces it (RELION
    # warns and takes the later value) and cuts the translations per pose from 343 to 125.
    first = params.binnings[0]
    search = max(1, round(first.refine3d.offset_range / first.pixel_size))
    params.initial_model.denovo.other_args = f"{DEMO_DENOVO_ARGS} --offset_range {search} --offset_step 1"
    params.initial_model.denovo.hand_reference = hand_reference
    if 1 in binning_list:
        # One round of CTF refinement and polishing shows both; each round costs a bin-1
        # refinement, the dearest job of the demo (docs/demo.md).
        params.high_resolution.max_rounds = DEMO_POLISHING_ROUNDS
        bin1 = next(stage for stage in params.binnings if stage.binning == 1)
        # The bin-1 refinements start from poses refined at bin 2 (median error 4-6° and 2 Å
        # against the truth): a ±9° prior and a one-pixel translation search cover them, and
        # RELION re-centres both every iteration. 84 sampling points per particle instead of
        # 1287 made a bin-1 iteration 5× faster (73 s → 15 s, idle) (docs/demo.md).
        bin1.refine3d.local_angle_sigma = DEMO_BIN1_ANGLE_SIGMA
        bin1.refine3d.offset_range = bin1.pixel_size
    if path.is_file() and _load_or_none(path) == params:
        return path
    project.mkdir(parents=True, exist_ok=True)
    save_parameters(params, path)
    return path


def _load_or_none(path: Path) -> Parameters | None:
    """The demo's own parameter file, or None when it is from an older py2rely (then rewritten)."""
    try:
        return load_parameters(path)
    except ParameterError:
        return None


def make_template(project: Path, data_dir: Path, parameter_file: Path) -> Path:
    """The `reference` route's template and de novo's hand reference: the ground-truth phantom
    at the first binning, low-passed to the first reference's resolution (what a user makes from
    an EMDB map)."""
    from py2rely_plugins.relion5.sta.template import make_template as resample
    from py2rely_plugins.relion5.sta.template import read_map_info, resolve_settings, write_template

    params = load_parameters(parameter_file)
    output = project / TEMPLATE_NAME
    if not output.is_file():
        info = read_map_info(data_dir / "ground_truth" / "phantom.mrc")
        settings = resolve_settings(info, input_voxel_size=None,
                                    output_voxel_size=params.first.pixel_size,
                                    low_pass=params.particle.low_pass, box=None, params=params)
        write_template(resample(info, settings), output, settings.output_voxel_size)
    return output


def check_names(initial_model: str, class_selection: str | None, executor: str,
                executor_settings: tuple[str, ...]) -> None:
    """Plugin names and executor settings are checked before minutes of simulation."""
    plugins = get_plugins()
    plugins.get("initial_model_strategies", initial_model)
    if class_selection:
        plugins.get("class_selectors", class_selection)
    # The demo's parameter file has no executor section: the settings are the overrides alone.
    plugins.get("executors", executor).create(parse_setting_overrides(executor_settings))


@click.command("demo", context_settings=CONTEXT_SETTINGS)
@click.option("-o", "--output", default="py2rely-demo", show_default=True, type=click.Path(file_okay=False),
              help="Directory for the dataset (data/) and the RELION project (project/).")
@click.option("-bl", "--binning-list", default="4,2", show_default=True, help="Binnings to refine at.")
@click.option("--picks", default="template-matching", show_default=True,
              type=click.Choice(tuple(STRATEGY_FOR_PICKS)),
              help="What the picker wrote (docs/simulate.md): template-matching picks, exact poses, "
                   "or positions only.")
@click.option("--initial-model", default=None,
              help="reconstruct | reference (template from the ground truth) | denovo | a plugin's "
                   "[default: reconstruct for picks with angles, reference for positions].")
@optional_bool("-rc3d", "--run-class3D", "run_class3d", help="Auto-Class3D after the first refinement.")
@click.option("-cs", "--class-selection", default=None, help="Class selector (with --run-class3D).")
@click.option("--decoy-fraction", default=0.0, show_default=True, type=FiniteFloatRange(0, 0.9),
              help="Share of picks with no particle (for --run-class3D).")
@click.option("--particles", default=int(DEMO_DATASET["particles"]), show_default=True,
              type=click.IntRange(min=4), help="Particles per tilt series.")
@click.option("--seed", default=1, show_default=True, type=int, help="Simulation seed.")
@click.option("-np", "--nprocesses", default=3, show_default=True, type=click.IntRange(min=1),
              help="MPI ranks per job.")
@click.option("-nj", "--nthreads", default=1, show_default=True, type=click.IntRange(min=1),
              help="Threads per rank.")
@click.option("--executor", default="local", show_default=True, help="Executor (local, slurm, ...).")
@click.option("--executor-setting", "executor_settings_", multiple=True, metavar="KEY=VALUE",
              help="Executor setting override (repeatable).")
@click.option("--dry-run", is_flag=True, help="Simulate and prepare, then print the plan only.")
def demo_command(output: str, binning_list: str, picks: str, initial_model: str | None,
                 run_class3d: bool,
                 class_selection: str | None, decoy_fraction: float, particles: int, seed: int,
                 nprocesses: int, nthreads: int, executor: str, executor_settings_: tuple[str, ...],
                 dry_run: bool) -> None:
    """Simulate a dataset with a known answer and run the STA pipeline on it."""
    try:
        binnings = parse_binning_list(binning_list)
    except ValueError as exc:
        raise InputError("--binning-list", str(exc), "e.g. 4,2") from None
    initial_model = initial_model or STRATEGY_FOR_PICKS[picks]
    check_names(initial_model, class_selection, executor, executor_settings_)
    base = Path(output).resolve()
    data_dir, project = base / "data", base / "project"
    if not dry_run:
        ensure_runtime()
    options = {**DEMO_DATASET, "particles": str(particles), "decoy-fraction": str(decoy_fraction),
               "picks": picks}
    simulate_dataset(data_dir, options, seed)
    # De novo cannot know the hand; the template a user would make from EMDB can tell it.
    parameter_file = write_parameters(
        project, data_dir, binnings, nprocesses, nthreads,
        decoy_classes=run_class3d and decoy_fraction > 0,
        hand_reference=TEMPLATE_NAME if initial_model == "denovo" else None)
    template = (make_template(project, data_dir, parameter_file)
                if initial_model in ("reference", "denovo") else None)
    outcome = run_sta(StaRequest(
        parameter=str(parameter_file), project_dir=str(project),
        reference_template=str(template) if initial_model == "reference" else None,
        initial_model=None if initial_model == "reference" else initial_model,
        run_class3d=run_class3d, class_selection=class_selection, executor=executor,
        executor_settings=executor_settings_, dry_run=dry_run,
    ))
    if dry_run:
        return
    print_outcome(outcome)
