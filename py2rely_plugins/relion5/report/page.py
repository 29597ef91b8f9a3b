"""HTML building blocks of the report: escaped text, tables, figures, sections, the page itself.
Plain HTML and CSS, no script: the page opens from disk without a network."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.Failed, tr.Aborted { background: #fde8e8; } tr.Running, tr.Unfinished { background: #fff6d6; }
.status { font-weight: 600; } .Succeeded .status { color: #1a7f37; }
.Failed .status, .Aborted .status { color: #b42318; }
pre.err { background: #2b2b2b; color: #f8f8f2; padding: 0.6em; overflow-x: auto; font-size: 0.8em;
          max-width: 60em; white-space: pre-wrap; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; flex: 0 1 calc(50% - 0.5em); }
figcaption { font-size: 0.8em; color: #444; max-width: 36em; }
img { max-width: 100%; border: 1px solid #eee; } figure img { width: 100%; height: auto; }
img.map { image-rendering: pixelated; } .note { font-size: 0.9em; color: #444; }
.kept { color: #1a7f37; font-weight: 600; } td.files a { white-space: nowrap; }
figure.map { flex-basis: calc(33% - 0.7em); }
nav ul { padding: 0; } nav li { display: inline; margin-right: 1em; }
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def number(value: float | int | None, fmt: str = "{:.1f}", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value) + unit


def anchor(job_dir: str) -> str:
    return "job-" + job_dir.strip("/").replace("/", "-")


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def table(header: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = (),
          numeric: Sequence[int] = (), table_id: str = "", column_classes: dict[int, str] | None = None
          ) -> str:
    """``rows`` hold already-escaped HTML cells."""
    styles = {i: "num" for i in numeric} | (column_classes or {})
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for index, row in enumerate(rows):
        css = f' class="{esc(row_classes[index])}"' if index < len(row_classes) else ""
        cells = "".join(f'<td class="{styles[i]}">{c}</td>' if i in styles else f"<td>{c}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr{css}>{cells}</tr>")
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def figure(src: str, caption: str, alt: str = "") -> str:
    css = ' class="map"' if src.endswith(".png") else ""
    return (f'<figure{css}><img src="{esc(src)}"{css} alt="{esc(alt or caption)}" loading="eager">'
            f"<figcaption>{caption}</figcaption></figure>")


def figures(items: Iterable[str]) -> str:
    return f'<div class="figures">{"".join(items)}</div>'


def section(ident: str, title: str, body: str) -> str:
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{body}</section>'


def document(title: str, meta: str, sections: Sequence[str], refresh_seconds: int | None) -> str:
    refresh = (f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else "")
    contents = "".join(
        f'<li><a href="#{esc(ident)}">{esc(name)}</a></li>' for ident, name in _headings(sections))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}"
        f"<title>{esc(title)}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1><p class=\"meta\">{meta}</p><nav><ul>{contents}</ul></nav>"
        + "".join(sections) + "</body></html>\n"
    )


def _headings(sections: Sequence[str]) -> list[tuple[str, str]]:
    found = []
    for text in sections:
        if text.startswith('<section id="'):
            ident = text[len('<section id="'):text.index('"', len('<section id="'))]
            name = text[text.index("<h2>") + 4:text.index("</h2>")]
            found.append((ident, html.unescape(name)))
    return found
