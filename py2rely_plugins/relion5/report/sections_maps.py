"""Resolution and FSC curves, map and mask pictures, particle orientations."""

from __future__ import annotations

import itertools

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext, image_name


def resolution(ctx: SectionContext) -> str:
    points = []
    for job in ctx.project.jobs:
        if job.resolution is None:
            continue
        kind = {labels.REFINE3D: "refine3d", labels.POSTPROCESS: "postprocess"}.get(job.type_label)
        if kind:
            points.append((f"{job.short_type} {job.job_dir.split('/')[1]} (bin {job.binning})",
                           job.resolution, kind))
    items = []
    if points:
        sources = [ctx.root / j.job_dir / "RELION_JOB_EXIT_SUCCESS" for j in ctx.project.jobs
                   if j.resolution is not None]
        from py2rely_plugins.relion5.report import plots

        items.append(ctx.picture(f"{IMAGE_DIR}/resolution.svg", sources,
                                  lambda tmp: plots.resolution_plot(points, tmp),
                                  "Resolution per stage (Refine3D: gold-standard estimate during "
                                  "refinement; PostProcess: FSC 0.143, masked and corrected)."))
    for job in ctx.project.succeeded(labels.POSTPROCESS):
        table = data.fsc_table(ctx.root, job.job_dir)
        if table is None or "rlnResolution" not in table.columns:
            continue
        from py2rely_plugins.relion5.report import plots

        title = f"{job.job_dir} (bin {job.binning}): {page.number(job.resolution, '{:.2f}', ' Å')}"
        items.append(ctx.picture(
            image_name(job.job_dir, "fsc", "svg"), [ctx.root / job.job_dir / "postprocess.star"],
            lambda tmp, t=table, title=title, r=job.resolution: plots.fsc_plot(t, title, r, tmp),
            f'FSC of <a href="#{page.anchor(job.job_dir)}">{page.esc(job.job_dir)}</a> '
            f"from postprocess.star (dashed: 0.143)."))
    if not items:
        return page.section("resolution", "Resolution and FSC",
                            '<p class="note">No refinement or post-processing has finished yet.</p>')
    return page.section("resolution", "Resolution and FSC", page.figures(items))


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
    from py2rely_plugins.relion5.report import plots, truth

    items = []
    final = refinements[-1]
    table = data.particles(ctx.root, f"{final.job_dir}run_data.star")
    source = ctx.root / final.job_dir / "run_data.star"
    if table is not None and {"rlnAngleRot", "rlnAngleTilt"} <= set(table.columns):
        _, rotations = truth.poses(table)
        from scipy.spatial.transform import Rotation

        # The full orientation (subtomogram ∘ particle) as RELION Euler angles.
        angles = Rotation.from_matrix(rotations).inv().as_euler("ZYZ", degrees=True)
        items.append(ctx.picture(
            image_name(final.job_dir, "angles", "svg"), [source],
            lambda tmp: plots.angular_distribution(angles[:, 0], angles[:, 1],
                                                   f"{final.job_dir}: {len(angles)} particles", tmp),
            f"Angular distribution of the final refinement's particles ({page.esc(final.job_dir)})."))
    for before, after in itertools.pairwise(refinements):
        first = data.particles(ctx.root, f"{before.job_dir}run_data.star")
        second = data.particles(ctx.root, f"{after.job_dir}run_data.star")
        if first is None or second is None:
            continue
        change = truth.pose_errors(second, first)  # "errors" against the earlier stage's poses
        if not len(change.angle):
            continue
        title = f"{before.job_dir} → {after.job_dir}"
        items.append(ctx.picture(
            image_name(after.job_dir, "pose-change", "svg"),
            [ctx.root / before.job_dir / "run_data.star", ctx.root / after.job_dir / "run_data.star"],
            lambda tmp, c=change, t=title: plots.histograms(
                [("orientation change (°)", c.angle, t), ("position change (Å)", c.position, t)], tmp),
            f"Per-particle pose change between {page.esc(title)} ({len(change.angle)} particles; "
            "dashed: median)."))
    return page.section("particles", "Particles", page.figures(items)) if items else ""
