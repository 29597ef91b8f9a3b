"""`py2rely pipelines sta`: validate, then run (or plan) the STA pipeline in a project directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from py2rely_core import log
from py2rely_core.cli import CONTEXT_SETTINGS, optional_bool
from py2rely_core.errors import InputError, RuntimeNotFound
from py2rely_core.plugins import Plugins, get_plugins
from py2rely_core.project import Project
from py2rely_core.runner import JobRunner
from py2rely_core.settings import executor_settings, parse_setting_overrides
from py2rely_plugins.relion5 import runtime as rt
from py2rely_plugins.relion5.sta.params import Parameters, load_parameters
from py2rely_plugins.relion5.sta.report import format_resolution, render_table
from py2rely_plugins.relion5.sta.truth import render_truth_table
from py2rely_plugins.relion5.sta.validate import check_inputs, check_template
from py2rely_plugins.relion5.sta.workflow import StaOutcome, StaPipeline, describe_strategy_choice
from py2rely_plugins.relion5.versions import choose_release, job_types_for


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


def run_sta(request: StaRequest, plugins: Plugins | None = None) -> StaOutcome:
    plugins = plugins or get_plugins()
    logger = log.get_logger("py2rely.sta")
    project_root = Path(request.project_dir).resolve()
    params: Parameters = load_parameters(_resolve(request.parameter, project_root))
    strategy_name = describe_strategy_choice(request.reference_template, request.denovo,
                                             request.initial_model, params.initial_model.strategy)
    strategy = plugins.get("initial_model_strategies", strategy_name)
    if strategy_name == "reference" and not request.reference_template:
        raise InputError("--reference-template", "the reference strategy needs a template map",
                         "an MRC made with `py2rely prepare template`")

    tomograms, particles = check_inputs(params, project_root, request.parameter)
    check_template(params, request.reference_template, project_root)
    overrides = parse_setting_overrides(request.executor_settings)
    factory = plugins.get("executors", request.executor)
    executor = factory.create(executor_settings(params.executors, request.executor, overrides))
    runtime, version = _runtime(params, request.dry_run)
    release = choose_release(version)
    check = getattr(executor, "check", None)  # optional: can this executor run jobs here?
    if runtime is not None and check is not None and not request.dry_run:
        check(runtime.job_setup_lines())
    logger.info("inputs valid", tomograms=tomograms, particles=particles, strategy=strategy_name,
                executor=request.executor,
                relion=runtime.describe() if runtime else "not found (dry run)",
                job_options=release.describe())

    classify = None
    if request.run_class3d:
        from py2rely_plugins.relion5.sta.classify import AutoClass3D

        selector_name = request.class_selection or params.class3d.selector
        classify = AutoClass3D(plugins.get("class_selectors", selector_name), request.keep_classes)

    project = Project(project_root)
    runner = JobRunner(
        project, executor, job_types_for(plugins.registry("job_types"), release.release),
        hook=plugins.hook, setup_lines=runtime.job_setup_lines() if runtime else (),
        dry_run=request.dry_run, echo=click.echo, executor_name=request.executor,
    )
    pipeline = StaPipeline(params, runner, strategy, reference_template=request.reference_template,
                           classify=classify, release=release.release)
    if request.dry_run:
        click.echo(f"Plan for {project_root} (nothing is run):")
        if release.detected is None:
            click.echo(f"No RELION found: job.star options of RELION {release.release}, "
                       f"{release.note}.")
        return pipeline.execute()
    from py2rely_plugins.relion5.report.refresh import ReportRefresher, refreshing

    refresher = ReportRefresher(project_root)
    with project.driver_lock(), refreshing(plugins.manager, refresher):
        outcome = pipeline.execute()
    outcome.report = str(refresher.index or "")
    return outcome


def _resolve(path: str, root: Path) -> Path:
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    return root / candidate


def _runtime(params: Parameters, dry_run: bool) -> tuple[rt.Runtime | None, str | None]:
    """The RELION that runs the jobs and its version; (None, None) in a dry run without one."""
    try:
        runtime = rt.require(params.compute.setup_lines)
        return runtime, rt.version_or_error(runtime)
    except RuntimeNotFound:
        if dry_run:
            return None, None
        raise


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


@click.command("sta", context_settings=CONTEXT_SETTINGS)
@click.option("-p", "--parameter", default="sta_parameters.json", show_default=True,
              type=click.Path(dir_okay=False), help="Parameter JSON file (prepare relion5-parameters).")
@click.option("-rt", "--reference-template", default=None, type=click.Path(dir_okay=False),
              help="Template for the `reference` initial model (prepare template).")
@optional_bool("-dg", "--run-denovo-generation", help="Make the first reference de novo.")
@optional_bool("-rc3d", "--run-class3D", "run_class3d",
               help="Auto-Class3D after the first refinement (best class kept).")
@click.option("-cs", "--class-selection", default=None,
              help="Class selector after Class3D (resolution, population, manual, or a plugin's; "
                   "default: the parameter file's class3d.selector).")
@click.option("--keep-classes", default=None, callback=_class_numbers, metavar="1,3",
              help="Classes to keep with --class-selection manual.")
@click.option("--initial-model", default=None,
              help="Initial-model strategy by name (overrides the parameter file; see `py2rely plugins`).")
@click.option("--executor", default="local", show_default=True,
              help="Executor that runs the jobs (see `py2rely plugins`).")
@click.option("--executor-setting", "executor_settings_", multiple=True, metavar="KEY=VALUE",
              help="Override one executor setting of the parameter file (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print the jobs and commands; run nothing.")
@click.option("--project-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="RELION project directory.")
def sta_command(parameter: str, reference_template: str | None, run_denovo_generation: bool,
                run_class3d: bool, class_selection: str | None, keep_classes: tuple[int, ...],
                initial_model: str | None, executor: str,
                executor_settings_: tuple[str, ...], dry_run: bool, project_dir: str) -> None:
    """Run the sub-tomogram averaging pipeline with RELION 5 (resumable: rerun to continue)."""
    outcome = run_sta(StaRequest(
        parameter=parameter, project_dir=project_dir, reference_template=reference_template,
        denovo=run_denovo_generation, initial_model=initial_model, run_class3d=run_class3d,
        class_selection=class_selection, keep_classes=keep_classes, executor=executor,
        executor_settings=executor_settings_, dry_run=dry_run,
    ))
    if not dry_run:
        print_outcome(outcome)
