"""Against a simulated dataset's ground truth: FSC against the phantom and its mirror image,
per-particle pose errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext


def ground_truth(ctx: SectionContext) -> str:
    truth_dir = ctx.project.ground_truth
    if truth_dir is None:
        return ""
    from py2rely_plugins.relion5.report import plots

    diameter = float(ctx.project.parameters.get("particle", {}).get("diameter", 0) or 0)
    phantom = truth_dir / "phantom.mrc"
    posts = ctx.project.succeeded(labels.POSTPROCESS)
    body, items = "", []
    if posts:
        final_map = ctx.root / posts[-1].job_dir / "postprocess.mrc"
        found = ctx.art.value("truth-fsc", [final_map, phantom],
                              lambda: truth_fsc(final_map, phantom, diameter))
        if found:
            body += page.table(("map", "FSC 0.5 vs truth", "FSC 0.143 vs truth", "FSC 0.5 vs mirrored"),
                               [[page.esc(posts[-1].job_dir), *(page.number(v, "{:.1f}", " Å") for v in (
                                   found["direct_05"], found["direct_0143"], found["mirrored_05"]))]],
                               numeric=(1, 2, 3))
            curve = (posts[-1].job_dir, np.asarray(found["frequency"]), np.asarray(found["direct"]),
                     np.asarray(found["mirrored"]))
            items.append(ctx.picture(
                f"{IMAGE_DIR}/truth-fsc.svg", [final_map, phantom],
                lambda tmp: plots.truth_fsc_plot([curve], tmp),
                "FSC of the final map against the simulated phantom (solid) and its mirror image "
                "(dashed; a higher mirrored curve means the wrong hand)."))
    refinements = ctx.project.succeeded(labels.REFINE3D)
    if refinements:
        final = refinements[-1]
        sources = [ctx.root / final.job_dir / "run_data.star", truth_dir / "particles.star"]
        errors = ctx.art.value("truth-poses", sources, lambda: pose_errors(ctx, final.job_dir, truth_dir))
        if errors and errors["angle"]:
            angle, position = np.asarray(errors["angle"]), np.asarray(errors["position"])
            body += (f"<p>Final particles ({page.esc(final.job_dir)}) against their true poses: median "
                     f"orientation error {np.median(angle):.1f}°, median position error "
                     f"{np.median(position):.1f} Å ({len(angle)} particles).</p>")
            items.append(ctx.picture(
                f"{IMAGE_DIR}/truth-poses.svg", sources,
                lambda tmp: plots.histograms([("orientation error (°)", angle, "vs truth"),
                                              ("position error (Å)", position, "vs truth")], tmp),
                "Per-particle pose errors of the final refinement against the simulation (dashed: median)."))
    if not body and not items:
        return ""
    return page.section("truth", f"Against the ground truth ({truth_dir})", body + page.figures(items))


def truth_fsc(map_path: Path, phantom: Path, diameter: float) -> dict:
    from py2rely_plugins.relion5.sta import truth

    result = truth.fsc_against_truth(map_path, phantom, diameter)
    return {"frequency": result.direct.frequency.tolist(), "direct": result.direct.fsc.round(4).tolist(),
            "mirrored": result.mirrored.fsc.round(4).tolist(),
            "direct_05": _finite(result.direct.resolution_at(0.5)),
            "direct_0143": _finite(result.direct.resolution_at(0.143)),
            "mirrored_05": _finite(result.mirrored.resolution_at(0.5))}


def pose_errors(ctx: SectionContext, job_dir: str, truth_dir: Path) -> dict:
    from py2rely_plugins.relion5.sta import truth

    table = data.particles(ctx.root, f"{job_dir}run_data.star")
    truth_table = truth.truth_tables(truth_dir)
    if table is None or truth_table is None:
        return {"angle": [], "position": []}
    errors = truth.pose_errors(table, truth_table)
    return {"angle": errors.angle.round(3).tolist(), "position": errors.position.round(3).tolist()}


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
