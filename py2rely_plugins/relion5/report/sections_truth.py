"""Against a simulated dataset's ground truth: FSC against the phantom and its mirror image,
per-particle pose errors."""

from __future__ import annotations

import numpy as np

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext


def ground_truth(ctx: SectionContext) -> str:
    truth_dir = ctx.project.ground_truth
    if truth_dir is None:
        return ""
    from py2rely_plugins.relion5.report import plots, truth

    diameter = float(ctx.project.parameters.get("particle", {}).get("diameter", 0) or 0)
    phantom = truth_dir / "phantom.mrc"
    posts = ctx.project.succeeded(labels.POSTPROCESS)
    curves, rows, items = [], [], []
    for post in posts[-1:]:  # the final map
        try:
            result = truth.fsc_against_truth(ctx.root / post.job_dir / "postprocess.mrc", phantom, diameter)
        except Exception as exc:
            ctx.art.problems.append(f"FSC against the truth of {post.job_dir}: {exc}")
            continue
        curves.append((post.job_dir, result.direct.frequency, result.direct.fsc, result.mirrored.fsc))
        rows.append([page.esc(post.job_dir), page.number(result.direct.resolution_at(0.5), "{:.1f}", " Å"),
                     page.number(result.direct.resolution_at(0.143), "{:.1f}", " Å"),
                     page.number(result.mirrored.resolution_at(0.5), "{:.1f}", " Å")])
    if curves:
        items.append(ctx.picture(
            f"{IMAGE_DIR}/truth-fsc.svg",
            [phantom, *(ctx.root / p.job_dir / "postprocess.mrc" for p in posts[-1:])],
            lambda tmp: plots.truth_fsc_plot(curves, tmp),
            "FSC of the final map against the simulated phantom (solid) and its mirror image "
            "(dashed; a higher mirrored curve means the wrong hand)."))
    body = ""
    if rows:
        body += page.table(("map", "FSC 0.5 vs truth", "FSC 0.143 vs truth", "FSC 0.5 vs mirrored"), rows,
                           numeric=(1, 2, 3))
    refinements = ctx.project.succeeded(labels.REFINE3D)
    truth_table = truth.truth_tables(truth_dir)
    if refinements and truth_table is not None:
        final = refinements[-1]
        table = data.particles(ctx.root, f"{final.job_dir}run_data.star")
        errors = truth.pose_errors(table, truth_table) if table is not None else None
        if errors is not None and len(errors.angle):
            body += (f"<p>Final particles ({page.esc(final.job_dir)}) against their true poses: median "
                     f"orientation error {np.median(errors.angle):.1f}°, median position error "
                     f"{np.median(errors.position):.1f} Å ({len(errors.angle)} particles).</p>")
            items.append(ctx.picture(
                f"{IMAGE_DIR}/truth-poses.svg",
                [ctx.root / final.job_dir / "run_data.star", truth_dir / "particles.star"],
                lambda tmp: plots.histograms([("orientation error (°)", errors.angle, "vs truth"),
                                              ("position error (Å)", errors.position, "vs truth")], tmp),
                "Per-particle pose errors of the final refinement against the simulation (dashed: median)."))
    if not body and not items:
        return ""
    return page.section("truth", f"Against the ground truth ({truth_dir})", body + page.figures(items))
