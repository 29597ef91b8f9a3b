"""The table printed at the end of a pipeline run (and by `py2rely status`)."""

from __future__ import annotations

from collections.abc import Sequence

from py2rely_plugins.relion5.sta.context import StageRow


def format_resolution(value: float | None) -> str:
    return f"{value:.1f} Å" if value is not None else "-"


def render_table(rows: Sequence[StageRow]) -> str:
    header = ("stage", "bin", "box", "particles", "resolution", "job")
    lines = [header] + [
        (row.stage, str(row.binning), str(row.box),
         str(row.particles) if row.particles is not None else "-",
         format_resolution(row.resolution), row.job_dir)
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = []
    for index, line in enumerate(lines):
        cells = [line[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in
                                              zip(line[1:5], widths[1:5], strict=True)]
        rendered.append("  ".join([*cells, line[5]]))
        if index == 0:
            rendered.append("-" * len(rendered[0]))
    return "\n".join(rendered)
