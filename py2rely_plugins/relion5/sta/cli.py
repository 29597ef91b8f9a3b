"""`py2rely pipelines sta`: validate, then run (or plan) the STA pipeline in a project directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from py2rely_core import log
from py2rely_core.cli import CONTEXT_SETTINGS, optional_bool
from py2rely_core.errors import InputError
from py2rely_core.plugins import Plugins, get_plugins
from py2rely_plugins.relion5.gpu import gpu_options, requested_gpu
from py2rely_plugins.relion5.sta.legacy_cluster import LegacyCluster, cluster_options
from py2rely_plugins.relion5.sta.params import Parameters, load_parameters
from py2rely_plugins.relion5.sta.report import format_resolution, render_table
from py2rely_plugins.relion5.sta.session import ComputeRequest, open_session
from py2rely_plugins.relion5.sta.truth import render_truth_table
from py2rely_plugins.relion5.sta.validate import check_inputs, check_template
from py2rely_plugins.relion5.sta.workflow import StaOutcome, StaPipeline, describe_strategy_choice

# 0.7.1's class selections: `auto` is this pipeline's default selector (the parameter file's).
LEGACY_SELECTIONS = {"auto": None, "manual": "manual"}


@dataclass
class StaRequest:
    """Everything `pipelines sta` (and `py2rely demo`) asks for."""

    parameter: str
    project_dir: str = "."
    reference_template: str | None = None
    denovo: bool = False
    initial_model: str | None = None
    run_class3d: bool = False
    class_selection: str | None = None
    keep_classes: tuple[int, ...] = ()
    executor: str = "local"
    executor_settings: tuple[str, ...] = ()
    dry_run: bool = False
    extract3d: bool = False  # 3D pseudo-subtomograms instead of 2D stacks, every binning
    manual_masking: bool = False
    mask: str | None = None  # the user's mask for manual masking
    gpu: bool | None = None
    gpu_ids: tuple[str, ...] = ()
    executor_typed: bool = False
    legacy: LegacyCluster = field(default_factory=LegacyCluster)

    def compute(self) -> ComputeRequest:
        return ComputeRequest(
            project_dir=self.project_dir, executor=self.executor, executor_typed=self.executor_typed,
            executor_settings=self.executor_settings, dry_run=self.dry_run, gpu=self.gpu,
            gpu_ids=self.gpu_ids, legacy=self.legacy)


def run_sta(request: StaRequest, plugins: Plugins | None = None) -> StaOutcome:
    plugins = plugins or get_plugins()
    logger = log.get_logger("py2rely.sta")
    project_root = Path(request.project_dir).resolve()
    params: Parameters = load_parameters(_resolve(request.parameter, project_root)).model_copy(deep=True)
    strategy_name = describe_strategy_choice(request.reference_template, request.denovo,
                                             request.initial_model, params.initial_model.strategy)
    strategy = plugins.get("initial_model_strategies", strategy_name)
    if strategy_name == "reference" and not request.reference_template:
        raise InputError("--reference-template", "the reference strategy needs a template map",
                         "an MRC made with `py2rely prepare template`")

    tomograms, particles = check_inputs(params, project_root, request.parameter)
    check_template(params, request.reference_template, project_root)
    if strategy_name == "denovo":
        check_template(params, params.initial_model.denovo.hand_reference, project_root)
    if request.extract3d:
        params.extract.do_stack2d = False
    first_mask = None
    if request.manual_masking or request.mask:
        from py2rely_plugins.relion5.sta.manual_mask import ManualMask
        from py2rely_plugins.relion5.user_inputs import check_mask, project_path

        if request.mask:  # its box and pixel size are checked where it is used
            check_mask(project_root / project_path(request.mask, project_root, "--mask"), None, None,
                       root=project_root)
        first_mask = ManualMask(request.mask)
    session = open_session(params.compute, params.executors, request.compute(), plugins)
    logger.info("inputs valid", tomograms=tomograms, particles=particles, strategy=strategy_name,
                images="3D subtomograms" if not params.extract.do_stack2d else "2D stacks")

    classify = None
    if request.run_class3d:
        from py2rely_plugins.relion5.sta.classify import AutoClass3D

        selector_name = request.class_selection or params.class3d.selector
        classify = AutoClass3D(plugins.get("class_selectors", selector_name), request.keep_classes)

    pipeline = StaPipeline(params, session.runner, strategy, reference_template=request.reference_template,
                           classify=classify, first_mask=first_mask, release=session.release.release)
    if request.dry_run:
        click.echo(f"Plan for {project_root} (nothing is run):")
        if session.release.detected is None:
            click.echo(f"No RELION found: job.star options of RELION {session.release.release}, "
                       f"{session.release.note}.")
        return pipeline.execute()
    from py2rely_plugins.relion5.report.refresh import ReportRefresher, refreshing

    refresher = ReportRefresher(project_root)
    with session.driving(), refreshing(plugins.manager, refresher):
        outcome = pipeline.execute()
    outcome.report = str(refresher.index or "")
    return outcome


def _resolve(path: str, root: Path) -> Path:
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return root / candidate


def print_outcome(outcome: StaOutcome) -> None:
    click.echo("")
    click.echo(render_table(outcome.rows))
    notes = [f"  {row.stage} (bin {row.binning}, {row.job_dir}): {row.note}"
             for row in outcome.rows if row.note]
    if notes:
        click.echo("\n" + "\n".join(notes))
    if outcome.final_resolution is not None:
        click.echo(f"\nFinal resolution: {format_resolution(outcome.final_resolution)} "
                   f"({outcome.final_map})")
    print_truth(outcome)
    if outcome.warnings:
        click.echo("\nWarnings:\n" + "\n".join(f"  {warning}" for warning in outcome.warnings))
    if outcome.report:
        click.echo(f"Report: {outcome.report}")


def print_truth(outcome: StaOutcome) -> None:
    """With a simulated dataset: every stage against its ground truth, and the final map's hand."""
    rows = [(row.stage, row.binning, row.truth) for row in outcome.rows if row.truth is not None]
    if not rows:
        return
    click.echo("\nAgainst the simulated truth (FSC after the best fit of the truth to the map; pose "
               "errors after the best global rotation; positions after the map's centre offset):")
    click.echo(render_truth_table(rows))
    final = next((row.truth.map for row in reversed(outcome.rows)
                  if row.truth is not None and row.truth.map is not None), None)
    if final is not None:
        click.echo(f"Final map against the simulated truth: {final.summary()}")


def _class_numbers(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        numbers = tuple(int(part) for part in value.replace(" ", "").split(",") if part)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of class numbers") from None
    if not numbers or min(numbers) < 1:
        raise click.BadParameter(f"{value!r}: class numbers start at 1")
    return numbers


def _class_selection(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    legacy = value.lower()
    if legacy in LEGACY_SELECTIONS:
        if legacy == "auto":
            log.get_logger("py2rely.compat").warning(
                "deprecated flag", note="--class-selection auto (py2rely 0.7.1) is the default "
                "selector of the parameter file (class3d.selector); leave the option out")
        return LEGACY_SELECTIONS[legacy]
    return value


@click.command("sta", context_settings=CONTEXT_SETTINGS)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              type=click.Path(dir_okay=False), help="Parameter JSON file (prepare relion5-parameters).")
@click.option("-rt", "--reference-template", default=None, type=click.Path(dir_okay=False),
              help="Template for the `reference` initial model (prepare template).")
@optional_bool("-dg", "--run-denovo-generation", help="Make the first reference de novo.")
@optional_bool("-rc3d", "--run-class3D", "run_class3d",
               help="Auto-Class3D after the first refinement (best class kept).")
@click.option("-cs", "--class-selection", default=None, callback=_class_selection,
              help="Class selector after Class3D (resolution, population, manual, or a plugin's; "
                   "0.7.1's `auto` = the default: the parameter file's class3d.selector).")
@click.option("--keep-classes", default=None, callback=_class_numbers, metavar="1,3",
              help="Classes to keep with --class-selection manual.")
@click.option("--initial-model", default=None,
              help="Initial-model strategy by name (overrides the parameter file; see `py2rely plugins`).")
@optional_bool("-e3d", "--extract3D", "extract3d",
               help="Extract 3D pseudo-subtomograms instead of 2D stacks, at every binning.")
@optional_bool("-mm", "--manual-masking",
               help="Stop for a user mask after the first refinement (exit code 10); rerun with --mask.")
@click.option("--mask", default=None, type=click.Path(dir_okay=False),
              help="The user's mask for manual masking (implies --manual-masking).")
@gpu_options
@click.option("--executor", default="local", show_default=True,
              help="Executor that runs the jobs (see `py2rely plugins`).")
@click.option("--executor-setting", "executor_settings_", multiple=True, metavar="KEY=VALUE",
              help="Override one executor setting of the parameter file (repeatable).")
@cluster_options
@click.option("--dry-run", is_flag=True, help="Print the jobs and commands; run nothing.")
@click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="RELION project directory.")
@click.pass_context
def sta_command(ctx: click.Context, parameter: str, reference_template: str | None,
                run_denovo_generation: bool, run_class3d: bool, class_selection: str | None,
                keep_classes: tuple[int, ...], initial_model: str | None, extract3d: bool,
                manual_masking: bool, mask: str | None, gpu: bool | None, use_gpu: bool | None,
                gpu_ids: tuple[str, ...], executor: str, executor_settings_: tuple[str, ...],
                submitit: bool, num_gpus: int, gpu_constraint: str | None, cpu_constraint: str,
                timeout: int, dry_run: bool, project_dir: str) -> None:
    """Run the sub-tomogram averaging pipeline with RELION 5 (resumable: rerun to continue)."""
    legacy = LegacyCluster.from_context(ctx, ctx.params)
    outcome = run_sta(StaRequest(
        parameter=parameter, project_dir=project_dir, reference_template=reference_template,
        denovo=run_denovo_generation, initial_model=initial_model, run_class3d=run_class3d,
        class_selection=class_selection, keep_classes=keep_classes, executor=executor,
        executor_settings=executor_settings_, dry_run=dry_run, extract3d=extract3d,
        manual_masking=manual_masking, mask=mask, gpu=requested_gpu(gpu, use_gpu), gpu_ids=gpu_ids,
        executor_typed=_typed(ctx, "executor"), legacy=legacy,
    ))
    if not dry_run:
        print_outcome(outcome)


def _typed(ctx: click.Context, name: str) -> bool:
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
