"""A benchmark table as one self-contained HTML page: the bench's Markdown (headings, tables, lists, paragraphs)
rendered as HTML, with its chart embedded, so a person opens one file (`reports/bench-<ds>.html`)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from deepclust.io import write_atomic
from deepclust.report.images import data_uri

_STYLE = ("body{font-family:sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
          "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
          "text-align:left;font-size:.9rem}th{background:#f3f3f3}img{max-width:100%}code{background:#f6f6f6}")


def _cells(line: str) -> list[str]:
    return [html.escape(c.strip()) for c in line.strip().strip("|").split("|")]


def markdown_to_html(text: str) -> str:
    """The subset of Markdown the bench tables use: `#` headings, `|` tables, `- ` lists, paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i].replace("|", "").strip()) <= {"-", ":", " "}:  # skip the |---| rule
                    rows.append(_cells(lines[i]))
                i += 1
            head, body = rows[0], rows[1:]
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>" +
                       "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body) +
                       "</table>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{html.escape(lines[i][2:])}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
        i += 1
    return "\n".join(out)


def write_bench_page(path: str | os.PathLike[str], markdown_text: str, chart: str | os.PathLike[str] | None = None,
                     title: str = "deepclust benchmark") -> Path:
    """Writes the page (atomically); CHART (a PNG) is embedded after the first table. Returns the path."""
    body = markdown_to_html(markdown_text)
    if chart is not None and Path(chart).exists():
        figure = f'<p><img alt="ACC per pipeline" src="{data_uri(Path(chart).read_bytes())}"></p>'
        body = body.replace("</table>", "</table>\n" + figure, 1)
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n")
    return write_atomic(Path(path), lambda tmp: tmp.write_text(page, encoding="utf-8"))
