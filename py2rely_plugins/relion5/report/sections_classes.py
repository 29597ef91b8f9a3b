"""3D classification: per-class maps, populations, resolutions, the selector's decision and,
with a simulated dataset, how well it rejected decoys."""

from __future__ import annotations

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.report import collect as data
from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import SectionContext, image_name
from py2rely_plugins.relion5.report.collect import JobSummary


def classification(ctx: SectionContext) -> str:
    blocks = []
    decisions = {j.job_dir: data.class_decision(ctx.root, j.job_dir)
                 for j in ctx.project.of_type(labels.SELECT_ON_VALUE, labels.JOIN_PARTICLES)}
    for job in ctx.project.of_type(labels.CLASS3D):
        decision = next((d for d in decisions.values() if d and any(
            str(c.get("map_path", "")).startswith(job.job_dir) for c in d.get("classes", []))), None)
        blocks.append(class_block(ctx, job, decision))
    if not blocks:
        return ""
    return page.section("class3d", "3D classification", "".join(blocks))


def class_block(ctx: SectionContext, job: JobSummary, decision: dict | None) -> str:
    from py2rely_plugins.relion5.report import images, plots

    heading = f'<h3><a href="#{page.anchor(job.job_dir)}">{page.esc(job.job_dir)}</a></h3>'
    if decision is None:
        return heading + f'<p class="note">{page.esc(job.status)}; no class selection recorded yet.</p>'
    kept = [int(k) for k in decision.get("kept", [])]
    classes = decision.get("classes", [])
    rows = [[page.esc(c["number"]), page.number(c.get("particles"), "{:d}"),
             page.number(c.get("distribution"), "{:.1%}"),
             page.number(c.get("resolution"), "{:.1f}", " Å"),
             page.number(c.get("accuracy_rotations"), "{:.1f}", "°"),
             '<span class="kept">kept</span>' if int(c["number"]) in kept else "dropped"]
            for c in classes]
    text = (f"<p>Selector <b>{page.esc(decision.get('selector', '?'))}</b> kept class(es) "
            f"{page.esc(', '.join(str(k) for k in kept))}: {page.esc(decision.get('reason', ''))}</p>")
    table = page.table(("class", "particles", "share", "resolution", "rot. accuracy", "decision"),
                       rows, numeric=(1, 2, 3, 4))
    marker = ctx.root / job.job_dir / "RELION_JOB_EXIT_SUCCESS"
    items = [ctx.picture(image_name(job.job_dir, "classes", "svg"), [marker],
                          lambda tmp: plots.class_populations(classes, kept, tmp),
                          "Class populations (green: kept), with each class's resolution.")]
    for cls in classes:
        source = ctx.root / str(cls["map_path"])
        if source.is_file():
            items.append(ctx.picture(
                image_name(job.job_dir, f"class{int(cls['number']):03d}"), [source],
                lambda tmp, s=source: images.write_map_picture(s, tmp),
                f"Class {int(cls['number'])} ({page.esc(cls['map_path'])}): slices and projections."))
    return heading + text + table + decoys(ctx, job) + page.figures(items)


def decoys(ctx: SectionContext, job: JobSummary) -> str:
    truth_dir = ctx.project.ground_truth
    if truth_dir is None:
        return ""
    from py2rely_plugins.relion5.sta import truth

    decoys = truth.decoy_names(truth_dir)
    if not decoys:
        return ""
    found = sorted((ctx.root / job.job_dir).glob("run_it*_data.star"))
    classified = data.particles(ctx.root, found[-1].relative_to(ctx.root).as_posix()) if found else None
    following = [j for j in ctx.project.of_type(labels.SELECT_ON_VALUE, labels.JOIN_PARTICLES)
                 if data.class_decision(ctx.root, j.job_dir)]
    if classified is None or not following:
        return ""
    kept_file = data.PARTICLE_FILES[following[-1].type_label]
    kept = data.particles(ctx.root, f"{following[-1].job_dir}{kept_file}")
    if kept is None:
        return ""
    result = truth.decoy_rejection(classified, kept, decoys)
    return (f"<p>Against the simulated truth: {result.decoys} of {result.candidates} classified picks "
            f"are decoys; the selection dropped {result.rejected} picks, {result.rejected_decoys} of them "
            f"decoys: precision {page.number(result.precision, '{:.2f}')}, recall "
            f"{page.number(result.recall, '{:.2f}')} (decoy rejection).</p>")
