"""The stage table (with each job's command and logs) and the timings."""

from __future__ import annotations

from py2rely_plugins.relion5.report import page
from py2rely_plugins.relion5.report.artifacts import IMAGE_DIR, SectionContext, copy_log, log_name
from py2rely_plugins.relion5.status import format_duration


def stages(ctx: SectionContext) -> str:
    rows, classes = [], []
    for job in ctx.project.jobs:
        logs = []
        for name in job.logs:
            source = ctx.root / job.job_dir / name
            copied = ctx.art.file(log_name(job.job_dir, name), [source],
                                  lambda tmp, src=source: copy_log(src, tmp))
            label = "command" if name == "note.txt" else name
            if copied:
                logs.append(page.link(copied, label))
        job_cell = f'<span id="{page.anchor(job.job_dir)}">{page.esc(job.job_dir)}</span>'
        status = f'<span class="status">{page.esc(job.status)}</span>'
        if job.err_tail:
            status += (f"<details open><summary>last lines of run.err</summary>"
                       f'<pre class="err">{page.esc(chr(10).join(job.err_tail))}</pre></details>')
        inputs = ", ".join(f'<a href="#{page.anchor(j)}">{page.esc(j)}</a>' for j in job.inputs_from)
        rows.append([
            job_cell, page.esc(job.stage), page.esc(job.type_label), status,
            page.esc(format_duration(job.elapsed)), page.number(job.particles, "{:d}"),
            page.number(job.box, "{:d}"), page.number(job.binning, "{:d}"),
            page.number(job.resolution, "{:.1f}", " Å"), inputs or "-", " · ".join(logs) or "-",
        ])
        classes.append(job.status)
    header = ("job", "stage", "type", "status", "elapsed", "particles", "box", "bin", "resolution",
              "inputs from", "files")
    return page.section("stages", "Jobs", page.table(header, rows, classes, numeric=(4, 5, 6, 7, 8),
                                                   table_id="stage-table", column_classes={10: "files"}))


def timings(ctx: SectionContext) -> str:
    rows, table_rows = [], []
    for job in ctx.project.jobs:
        if job.elapsed is None:
            continue
        program = job.program_seconds if job.program_seconds is not None else 0.0
        overhead = max(0.0, job.elapsed - program)
        rows.append((job.job_dir.rstrip("/"), program, overhead))
        table_rows.append([page.esc(job.job_dir), page.number(job.elapsed, "{:.1f}", " s"),
                           page.number(job.program_seconds, "{:.1f}", " s"),
                           page.number(None if job.program_seconds is None else overhead, "{:.2f}", " s")])
    if not rows:
        return ""
    total = sum(r[1] + r[2] for r in rows)
    overhead = sum(r[2] for r in rows)
    from py2rely_plugins.relion5.report import plots

    sources = [ctx.root / j.job_dir / "py2rely_job.json" for j in ctx.project.jobs]
    picture = ctx.picture(f"{IMAGE_DIR}/timings.svg", sources, lambda tmp: plots.timing_plot(rows, tmp),
                           "Wall time per job: RELION's programs (py2rely_command_times.txt) and the "
                           "rest (job script, executor, polling).")
    text = (f"<p>Jobs took {format_duration(total)} in all, of which {overhead:.1f} s "
            f"({overhead / total:.1%}) outside RELION's programs.</p>" if total > 0 else "")
    table = page.table(("job", "wall time", "programs", "orchestration"), table_rows, numeric=(1, 2, 3))
    return page.section("timings", "Timings", text + page.figures([picture]) + table)
