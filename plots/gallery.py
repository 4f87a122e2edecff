"""The gallery page ``results/figures/index.html``: every figure, its caption, the paper's claim beside ours.

A self-contained static page (inline CSS, relative links to ``<paper>/<id>.png`` and ``.csv``), built from the
registry (titles, captions, claims, scale notes) and the JSON record the runner wrote per figure (status, our
number, provenance). Every piece of text is HTML-escaped. At the top: a summary table (id, status, claim, ours);
at the bottom: the checklist entries (shared/FIGURES.md) that no module registers yet.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

from plots.registry import PAPERS, FigureRegistry, FigureSpec, load_checklist
from plots.runner import figure_dir, read_record, write_text_atomic

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ccc; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; font-size: 0.9rem; }
th { background: #f4f4f4; }
.status-ok { color: #0a7a2f; font-weight: 600; } .status-failed { color: #b00020; font-weight: 600; }
.status-not-run { color: #8a6d00; font-weight: 600; }
figure.entry { border: 1px solid #e3e3e3; border-radius: 6px; padding: 0.8rem 1rem; margin: 1.2rem 0; }
figure.entry img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
.caption { margin: 0.4rem 0; } .claims td { width: 50%; } .prov { font-size: 0.85rem; color: #444; }
pre.error { background: #fff0f0; border: 1px solid #f3c0c0; padding: 0.5rem; white-space: pre-wrap; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _link(paper: str, name: str) -> str:
    return f"{quote(paper)}/{quote(name)}"


def _anchor(figure_id: str) -> str:
    return "fig-" + figure_id.replace(".", "-")


def _status(record: dict[str, Any] | None) -> str:
    return record.get("status", "not run") if record else "not run"


def _status_cell(status: str) -> str:
    return f'<span class="status-{_e(status.replace(" ", "-"))}">{_e(status)}</span>'


def _summary(specs: list[FigureSpec], records: dict[str, dict[str, Any] | None]) -> str:
    rows = []
    for spec in specs:
        record = records[spec.id]
        rows.append(
            "<tr>"
            f'<td><a href="#{_anchor(spec.id)}"><code>{_e(spec.id)}</code></a></td>'
            f"<td>{_e(spec.kind)}</td><td>{_status_cell(_status(record))}</td>"
            f"<td>{_e(spec.claim)}</td><td>{_e(record.get('ours') if record else '')}</td>"
            "</tr>"
        )
    return (
        '<table class="summary"><thead><tr><th>id</th><th>kind</th><th>status</th><th>paper\'s claim</th>'
        "<th>ours</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _provenance(spec: FigureSpec, record: dict[str, Any] | None) -> str:
    provenance = (record or {}).get("provenance") or {}
    sources = provenance.get("timing_sources") or {}
    if sources:
        sources_text = ", ".join(f"{name}: {count}" for name, count in sources.items())
    elif provenance.get("timing_sources_recorded"):
        sources_text = "no timing table consulted"
    else:
        sources_text = "not recorded"
    items = [
        ("scale", spec.scale_note),
        ("device", ", ".join(provenance.get("devices") or []) or "not recorded by the runs"),
        ("timing sources", sources_text),
        ("runs", f"{provenance.get('runs_total', 0)} ({provenance.get('runs_reused', 0)} reused from the run store)"),
        ("profile", (record or {}).get("profile", "—")),
        ("drawn", (record or {}).get("drawn_at", "—")),
    ]
    if not spec.computed:
        items.insert(1, ("source", "static: no computation"))
    for name, value in sorted((provenance.get("extra") or {}).items()):
        items.append((name, value))
    return '<ul class="prov">' + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in items) + "</ul>"


def _entry(spec: FigureSpec, record: dict[str, Any] | None, out_dir: Path) -> str:
    status = _status(record)
    parts = [
        f'<figure class="entry" id="{_anchor(spec.id)}">',
        f"<h3><code>{_e(spec.id)}</code> {_e(spec.title)} {_status_cell(status)}</h3>",
    ]
    files = (record or {}).get("files") or {}
    if status == "ok" and "png" in files:
        parts.append(f'<img src="{_link(spec.paper, files["png"])}" alt="{_e(spec.id)}: {_e(spec.title)}">')
    if status == "ok" and "html" in files:
        fragment = figure_dir(out_dir, spec.paper) / files["html"]
        if fragment.is_file():  # written by plots.tables.table_html, which escapes every cell
            parts.append(fragment.read_text(encoding="utf-8"))
    if status == "failed":
        parts.append(f'<pre class="error">{_e(record.get("error"))}</pre>')
    if status == "not run":
        parts.append("<p>Not rendered yet: run <code>harness figures --only " + _e(spec.id) + "</code>.</p>")
    parts.append(f'<figcaption class="caption">{_e(spec.full_caption)}</figcaption>')
    parts.append(
        '<table class="claims"><tr><th>paper\'s claim</th><th>ours</th></tr>'
        f"<tr><td>{_e(spec.claim)}</td><td>{_e((record or {}).get('ours', '—'))}</td></tr></table>"
    )
    parts.append(_provenance(spec, record))
    if status == "ok" and "csv" in files:
        parts.append(f'<p><a href="{_link(spec.paper, files["csv"])}">data behind this {_e(spec.kind)} (CSV)</a></p>')
    parts.append("</figure>")
    return "\n".join(parts)


def _missing_checklist(registry: FigureRegistry) -> str:
    missing = [entry for figure_id, entry in load_checklist().items() if figure_id not in registry]
    if not missing:
        return "<p>Every checklist entry is registered.</p>"
    rows = "".join(
        f"<tr><td><code>{_e(entry.id)}</code></td><td>{_e(entry.kind)}</td><td>{_e(entry.confidence)}</td>"
        f"<td>{_e(entry.shows)}</td><td>{_e(entry.claim)}</td></tr>"
        for entry in missing
    )
    return (
        f"<details><summary>{len(missing)} checklist entries not registered yet</summary>"
        "<table><thead><tr><th>id</th><th>kind</th><th>confidence</th><th>what it shows</th>"
        f"<th>paper's claim</th></tr></thead><tbody>{rows}</tbody></table></details>"
    )


def gallery_html(registry: FigureRegistry, out_dir: Path) -> str:
    """The gallery page for every figure of ``registry``, reading the records under ``out_dir``."""
    specs = list(registry)
    records = {spec.id: read_record(out_dir, spec) for spec in specs}
    checklist = load_checklist()
    registered = sum(1 for figure_id in checklist if figure_id in registry)
    statuses = [_status(records[spec.id]) for spec in specs]
    sections = []
    for paper in registry.papers():
        entries = "\n".join(_entry(spec, records[spec.id], out_dir) for spec in specs if spec.paper == paper)
        sections.append(f'<section id="paper-{_e(paper)}"><h2>{_e(PAPERS[paper])}</h2>\n{entries}</section>')
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Figure gallery</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>Figure gallery</h1>",
            f"<p>Generated {_e(generated)} by <code>harness figures</code>. "
            f"{statuses.count('ok')} ok, {statuses.count('failed')} failed, {statuses.count('not run')} not run; "
            f"{registered} of {len(checklist)} paper checklist entries registered. None of the ten papers' full "
            "texts could be read: their figures are reconstructions, at the reduced scale each caption states.</p>",
            "<h2>Summary</h2>",
            _summary(specs, records),
            *sections,
            "<h2>Checklist entries without a figure yet</h2>",
            _missing_checklist(registry),
            "</body></html>",
        ]
    )


def write_gallery(registry: FigureRegistry, out_dir: Path) -> Path:
    """Write ``<out_dir>/index.html`` atomically and return its path."""
    path = Path(out_dir) / "index.html"
    write_text_atomic(path, gallery_html(registry, Path(out_dir)))
    return path
