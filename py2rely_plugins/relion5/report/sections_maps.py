"""Resolution and FSC curves, map and mask pictures, particle orientations."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext, image_name
from py2rely_plugins.relion5.report.collect import JobSummary


def resolution(ctx: SectionContext) -> str:
    from py2rely_plugins.relion5.report import plots

    points = []
    for job in ctx.project.jobs:
        kind = {labels.REFINE3D: "refine3d", labels.POSTPROCESS: "postprocess"}.get(job.type_label)
        if kind and job.resolution is not None:
            points.append((f"{job.short_type} {job.job_dir.split('/')[1]} (bin {job.binning})",
                           job.resolution, kind))
    items = []
    if points:
        sources = [ctx.root / j.job_dir / "RELION_JOB_EXIT_SUCCESS" for j in ctx.project.jobs
                   if j.resolution is not None]
        items.append(ctx.picture(f"{IMAGE_DIR}/resolution.svg", sources,
                                 lambda tmp: plots.resolution_plot(points, tmp),
                                 "Resolution per stage (Refine3D: gold-standard estimate during "
                                 "refinement; PostProcess: FSC 0.143, masked and corrected)."))
    for group in postprocess_groups(ctx.project.jobs):
        job = group[-1]
        title = f"{job.job_dir} (bin {job.binning}): {page.number(job.resolution, '{:.2f}', ' Å')}"
        earlier = ", ".join(page.esc(j.job_dir) for j in group[:-1])
        items.append(ctx.picture(
            image_name(job.job_dir, "fsc", "svg"), [ctx.root / job.job_dir / "postprocess.star"],
            lambda tmp, j=job, title=title: plots.fsc_plot(_fsc(ctx, j.job_dir), title, j.resolution, tmp),
            f'FSC of <a href="#{page.anchor(job.job_dir)}">{page.esc(job.job_dir)}</a> from '
            f"postprocess.star (dashed: 0.143)" + (f"; the mask was refined after {earlier}." if earlier
                                                    else ".")))
    if not items:
        return page.section("resolution", "Resolution and FSC",
                            '<p class="note">No refinement or post-processing has finished yet.</p>')
    return page.section("resolution", "Resolution and FSC", page.figures(items))


def _fsc(ctx: SectionContext, job_dir: str) -> pd.DataFrame:
    table = data.fsc_table(ctx.root, job_dir)
    if table is None or "rlnResolution" not in table.columns:
        raise ValueError(f"{job_dir}postprocess.star has no FSC table")
    return table


def postprocess_groups(jobs: list[JobSummary]) -> list[list[JobSummary]]:
    """Succeeded post-processing jobs, grouped by stage: the pipeline refines a mask and
    post-processes again until the resolution settles, so consecutive MaskCreate/PostProcess jobs
    are one stage, and the last one is its result."""
    groups: list[list[JobSummary]] = []
    current: list[JobSummary] = []
    for job in jobs:
        if job.type_label == labels.POSTPROCESS and job.status == "Succeeded":
            current.append(job)
        elif job.type_label != labels.MASK_CREATE and current:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def maps(ctx: SectionContext) -> str:
    from py2rely_plugins.relion5.report import images

    items = []
    for job in ctx.project.jobs:
        if job.map_path is None or job.status != "Succeeded" or job.type_label == labels.CLASS3D:
            continue
        source = ctx.root / job.map_path
        caption = (f'<a href="#{page.anchor(job.job_dir)}">{page.esc(job.map_path)}</a> '
                   f"({page.esc(job.stage)}, bin {page.number(job.binning, '{:d}')}, box "
                   f"{page.number(job.box, '{:d}')}): central slices (top) and projections "
                   "(bottom) along x, y, z.")
        items.append(ctx.picture(image_name(job.job_dir, "map"), [source],
                                  lambda tmp, s=source: images.write_map_picture(s, tmp), caption))
    if not items:
        return page.section("maps", "Maps and masks", '<p class="note">No map yet.</p>')
    return page.section("maps", "Maps and masks", page.figures(items))


def particles(ctx: SectionContext) -> str:
    refinements = ctx.project.succeeded(labels.REFINE3D)
    if not refinements:
        return ""
    from py2rely_plugins.relion5.report import plots

    items = []
    final = refinements[-1]
    source = ctx.root / final.job_dir / "run_data.star"
    items.append(ctx.picture(
        image_name(final.job_dir, "angles", "svg"), [source],
        lambda tmp: _angular_distribution(ctx, final.job_dir, tmp),
        f"Angular distribution of the final refinement's particles ({page.esc(final.job_dir)})."))
    for before, after in itertools.pairwise(refinements):
        sources = [ctx.root / before.job_dir / "run_data.star", ctx.root / after.job_dir / "run_data.star"]
        change = ctx.art.value(f"pose-change:{after.job_dir}", sources,
                               lambda b=before, a=after: pose_change(ctx, b.job_dir, a.job_dir))
        if not change or not change["angle"]:
            continue
        title = f"{before.job_dir} → {after.job_dir}"
        angle, position = np.asarray(change["angle"]), np.asarray(change["position"])
        items.append(ctx.picture(
            image_name(after.job_dir, "pose-change", "svg"), sources,
            lambda tmp, a=angle, p=position, t=title: plots.histograms(
                [("orientation change (°)", a, t), ("position change (Å)", p, t)], tmp),
            f"Per-particle pose change between {page.esc(title)} ({len(angle)} particles; "
            "dashed: median)."))
    items = [item for item in items if item]
    return page.section("particles", "Particles", page.figures(items)) if items else ""


def _angular_distribution(ctx: SectionContext, job_dir: str, path: Path) -> None:
    from scipy.spatial.transform import Rotation

    from py2rely_plugins.relion5.report import plots
    from py2rely_plugins.relion5.sta import truth

    table = data.particles(ctx.root, f"{job_dir}run_data.star")
    if table is None or not {"rlnAngleRot", "rlnAngleTilt"} <= set(table.columns):
        raise ValueError(f"{job_dir}run_data.star has no particle angles")
    rotations = np.stack(truth.poses_of(table)["matrix"].to_numpy())
    # The full orientation (subtomogram ∘ particle) as RELION Euler angles.
    angles = Rotation.from_matrix(rotations).inv().as_euler("ZYZ", degrees=True)
    plots.angular_distribution(angles[:, 0], angles[:, 1], f"{job_dir}: {len(angles)} particles", path)


def pose_change(ctx: SectionContext, before: str, after: str) -> dict[str, list[float]]:
    """Per-particle orientation (°) and position (Å) change from one refinement to the next."""
    from py2rely_plugins.relion5.sta import truth

    first = data.particles(ctx.root, f"{before}run_data.star")
    second = data.particles(ctx.root, f"{after}run_data.star")
    if first is None or second is None:
        return {"angle": [], "position": []}
    change = truth.pose_errors(second, first)  # the earlier poses stand in for the truth
    return {"angle": change.angle.round(3).tolist(), "position": change.position.round(3).tolist()}
