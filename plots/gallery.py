"""The gallery page ``results/figures/index.html``: every figure, its verdict, the paper's claim beside ours.

A self-contained static page (inline CSS, relative links to ``<paper>/<id>.png`` and ``.csv``), built from the
registry (titles, captions, claims, scale notes, entries declared not reconstructable, the checklist of the papers'
118 figures and tables) and the JSON record the runner wrote per figure (drawn status, verdict, our number,
provenance). At the top: how many checklist entries are drawn, counts per verdict overall and per paper, and a
summary table; then one section per paper with its figures (anchor ``index.html#<fig-id>``), the entries we cannot
reconstruct and why, and the entries not drawn yet.

Everything shown is written for people: numbers rounded, no Python reprs, machine paths reduced to paths inside
the project (or a file name), no tracebacks; every piece of text is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from plots.registry import PAPERS, ChecklistEntry, FigureRegistry, FigureSpec, load_checklist
from harness.files import write_text_atomic
from plots.runner import PROJECT_ROOT, figure_dir, read_record, timed_under_load
from plots.tables import significant
from plots.verdict import STATUS_LABELS, STATUSES, digits_to_tell_apart

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 76rem;
       padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ccc; margin-top: 2.5rem; } h3 { margin: 0.2rem 0; }
a { color: #0b5cad; } a.anchor { color: #999; text-decoration: none; margin-left: 0.3rem; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; font-size: 0.9rem; }
th { background: #f4f4f4; } td.num, th.num { text-align: right; }
.badge { display: inline-block; border-radius: 0.8rem; padding: 0 0.55rem; font-size: 0.8rem; font-weight: 600;
         white-space: nowrap; border: 1px solid transparent; }
.v-reproduced { background: #dff3e4; color: #0a6b2a; } .v-partly { background: #fff1cc; color: #7a5600; }
.v-not_reproduced { background: #fde0e0; color: #a00018; } .v-not_checkable { background: #ececec; color: #444; }
.v-none { background: #fff; color: #666; border-color: #ccc; }
.d-ok, .d-cached { color: #0a6b2a; } .d-failed { color: #a00018; font-weight: 600; } .d-not-run { color: #7a5600; }
article.entry { border: 1px solid #e3e3e3; border-radius: 6px; padding: 0.8rem 1rem; margin: 1.2rem 0; }
article.entry img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
.caption { margin: 0.4rem 0; } .claims { width: 100%; } .claims td { width: 33%; }
.prov { font-size: 0.85rem; color: #444; } .checks { margin: 0.3rem 0 0 1.1rem; padding: 0; font-size: 0.85rem; }
.warning { background: #fff7e0; border-left: 4px solid #e0a800; padding: 0.3rem 0.6rem; font-size: 0.9rem; }
.failed { background: #fff0f0; border-left: 4px solid #d33; padding: 0.3rem 0.6rem; }
.lede { font-size: 1.02rem; } .downloads { font-size: 0.9rem; }
code { background: #f4f4f4; padding: 0 0.2rem; }
"""

VERDICT_MEANINGS: Mapping[str, str] = {
    "reproduced": "every check of the paper's claim holds on our data",
    "partly": "some checks hold, some do not",
    "not_reproduced": "no check holds: our data contradicts the claim (our explanation is beside it)",
    "not_checkable": "the claim cannot be checked from our data; the reason is given",
}
NO_VERDICT = "no verdict"  # failed or not run yet

# An absolute path: a slash not preceded by a word character, ".", ":", "/", "~" or "-", and at least two parts.
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/[\w.@+-]+(?:/[\w.@+-]*)+")


# --------------------------------------------------------------------------------------------------------------
# text for people


def _strip_path(match: re.Match[str]) -> str:
    path = Path(match.group(0))
    try:
        return path.relative_to(PROJECT_ROOT).as_posix() or "."
    except ValueError:
        return path.name or "…"


def clean_text(value: Any) -> str:
    """``value`` as text for the page: absolute paths become project-relative paths (or just a file name)."""
    return _ABS_PATH.sub(_strip_path, "" if value is None else str(value))


def _e(value: Any) -> str:
    """Text from a figure's record (our number, explanations, provenance, errors): paths cleaned, escaped."""
    return html.escape(clean_text(value), quote=True)


def _t(value: Any) -> str:
    """Text the registry declares (titles, captions, claims): escaped as written (a test keeps paths out)."""
    return html.escape("" if value is None else str(value), quote=True)


def number(value: Any, digits: int = 3) -> str:
    """A number for people: 3 (or ``digits``) significant digits, whole thousands with separators; ints as they
    are."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if not isinstance(value, float):
        return clean_text(value)
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1e4 and abs(value) < 1e15:
        return f"{value:,.0f}"
    return significant(value, digits)  # 1234.5 as "1234", not "1.23e+03"


def human(value: Any) -> str:
    """Any JSON value as plain text: mappings as ``key: value`` pairs, lists comma-joined, numbers rounded."""
    if isinstance(value, Mapping):
        parts = [f"{clean_text(key)}: {_nested(item)}" for key, item in value.items()]
        return ", ".join(parts) if parts else "none"
    if isinstance(value, list | tuple | set):
        items = list(value)
        separator = "; " if any(isinstance(item, Mapping | list | tuple) for item in items) else ", "
        return separator.join(human(item) for item in items) if items else "none"
    if value is None:
        return "—"
    return number(value)


def _nested(value: Any) -> str:
    text = human(value)
    return f"({text})" if isinstance(value, Mapping) and len(value) > 1 else text


def _one_line(text: Any, limit: int = 300) -> str:
    lines = clean_text(text).strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------------------------
# records


def _drawn(record: Mapping[str, Any] | None) -> str:
    """"ok" (drawn), "failed" or "not run"."""
    return str(record.get("status", "not run")) if record else "not run"


def _verdict(record: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    verdict = (record or {}).get("verdict")
    ok = _drawn(record) == "ok" and isinstance(verdict, Mapping) and verdict.get("status") in STATUSES
    return verdict if ok else None


def _verdict_key(record: Mapping[str, Any] | None) -> str:
    verdict = _verdict(record)
    return str(verdict["status"]) if verdict else NO_VERDICT


def _badge(key: str) -> str:
    label = STATUS_LABELS.get(key, key)  # type: ignore[call-overload]
    css = key if key in STATUSES else "none"
    return f'<span class="badge v-{css}">{_e(label)}</span>'


def _drawn_cell(record: Mapping[str, Any] | None) -> str:
    drawn = _drawn(record)
    text = {"ok": "drawn", "failed": "failed", "not run": "not run"}.get(drawn, drawn)
    return f'<span class="d-{_e(drawn.replace(" ", "-"))}">{_e(text)}</span>'


def _counts_text(counts: Counter[str], *, with_none: bool = True) -> str:
    parts = [f"{_badge(key)} {counts.get(key, 0)}" for key in STATUSES]
    if with_none and counts.get(NO_VERDICT):
        parts.append(f"{_badge(NO_VERDICT)} {counts[NO_VERDICT]} (failed or not run)")
    return " &nbsp; ".join(parts)


# --------------------------------------------------------------------------------------------------------------
# verdicts and provenance


def check_text(check: Mapping[str, Any]) -> str:
    """One check of a verdict record, rounded: "ARC / Top-K time: ours 0.42, paper's band 0.3 to 0.5 (…)"."""
    kind = check.get("kind")
    if kind == "ordered":
        values = check.get("values") or {}
        sign = " ≥ " if check.get("descending") else " ≤ "
        ours = sign.join(f"{clean_text(key)} {number(values.get(key))}" for key in check.get("order") or [])
        if check.get("tolerance"):
            ours += f" (tolerance {number(check['tolerance'])})"
    else:  # the bounds printed with the digits that tell ours apart from them
        value, low, high = check.get("ours"), check.get("low"), check.get("high")
        digits = max(digits_to_tell_apart(value, low), digits_to_tell_apart(value, high))
        ours, low, high = number(value, digits), number(low, digits), number(high, digits)
        if kind == "within" and check.get("low") == check.get("high"):
            ours = f"{ours}, exactly {low}"
        elif kind == "within":
            ours = f"{ours}, band {low} to {high}"
        elif kind == "at_most":
            ours = f"{ours}, at most {high}"
        elif kind == "above":
            ours = f"{ours}, above {low}"
        else:
            ours = f"{ours}, at least {low}"
    holds = "holds" if check.get("holds") else "does not hold"
    return f"{clean_text(check.get('name'))}: ours {ours} (paper: {clean_text(check.get('paper'))}): {holds}"


def _verdict_cell(record: Mapping[str, Any] | None) -> str:
    verdict = _verdict(record)
    if verdict is None:
        return _badge(NO_VERDICT)
    checks = "".join(f"<li>{html.escape(check_text(check))}</li>" for check in verdict.get("checks") or [])
    return (
        f"{_badge(str(verdict['status']))} {_e(verdict.get('explanation'))}"
        + (f'<ul class="checks">{checks}</ul>' if checks else "")
    )


def _op_sources(op: str, counts: Mapping[str, float]) -> str:
    """"matmul: 12 table (2 interpolated), 219 roofline"."""
    table = int(counts.get("exact", 0) + counts.get("interpolated", 0))
    text = f"{table} table"
    if counts.get("interpolated"):
        text += f" ({int(counts['interpolated'])} interpolated)"
    text += f", {int(counts.get('roofline', 0))} roofline"
    for source, n in counts.items():
        if source not in ("exact", "interpolated", "roofline"):
            text += f", {int(n)} {clean_text(source)}"
    return f"{clean_text(op)}: {text}"


_COLLECTIVE_SOURCE_WORDS = {"exact": "measured", "interpolated": "interpolated",
                           "closed_form_fit": "fitted to the table", "closed_form": "closed form (not in the table)"}


def _collective_sources(op: str, counts: Mapping[str, float]) -> str:
    """"all_reduce: 3 measured, 2 interpolated, 1 closed form (not in the table)"."""
    parts = [f"{int(counts[s])} {words}" for s, words in _COLLECTIVE_SOURCE_WORDS.items() if counts.get(s)]
    parts += [f"{int(n)} {clean_text(s)}" for s, n in counts.items() if s not in _COLLECTIVE_SOURCE_WORDS and n]
    return f"{clean_text(op)}: {', '.join(parts) or 'none'}"


def _timing_items(provenance: Mapping[str, Any]) -> list[tuple[str, str]]:
    items = []
    by_op = provenance.get("timing_sources_by_op") or {}
    flat = provenance.get("timing_sources") or {}
    if by_op:
        items.append(("compute times (predictions)", "; ".join(_op_sources(op, c) for op, c in by_op.items())))
    elif flat:
        items.append(("compute times (predictions)", _op_sources("all ops", flat).removeprefix("all ops: ")))
    elif provenance.get("timing_sources_recorded"):
        items.append(("compute times", "no timing table consulted"))
    if flat.get("estimate"):
        items.append(("compression work", f"{int(flat['estimate'])} roofline estimates (FLOPs and bytes)"))
    if collectives := provenance.get("collective_sources"):
        items.append(("collective times (measured tables)",
                      "; ".join(_collective_sources(op, counts) for op, counts in collectives.items())))
    by_source = provenance.get("time_by_source_ms") or {}
    total = sum(sum(c.values()) for c in by_source.values())
    if total > 0:
        roofline = sum(c.get("roofline", 0.0) for c in by_source.values())
        per_op = ", ".join(
            f"{clean_text(op)} {100 * c.get('roofline', 0.0) / sum(c.values()):.0f}%"
            for op, c in by_source.items() if sum(c.values()) > 0
        )
        items.append(("predicted time from the roofline", f"{100 * roofline / total:.0f}% ({per_op})"))
    return items


def _machine_load(load: Mapping[str, Any]) -> str:
    """"1-minute load average up to 2.31 on 2 CPUs around its runs (busier than its CPUs)": a time measured in
    a run is slower when other work shares the CPUs."""
    peak, cpus = load["load_average_1m_max"], load["cpus"]
    busy = " (busier than its CPUs)" if peak > cpus else ""
    return f"1-minute load average up to {peak:.2f} on {cpus} CPU{'s' * (cpus != 1)} around its runs{busy}"


def _warnings(spec: FigureSpec, provenance: Mapping[str, Any]) -> list[str]:
    lines = []
    if timed_under_load(spec, provenance):
        load = provenance["host_load"]
        lines.append(
            f"This verdict rests on times measured in its runs, and other work shared the CPUs around them "
            f"(1-minute load average up to {load['load_average_1m_max']:.2f} on {load['cpus']} CPUs): the times may "
            "be slower than on a quiet machine. Rerun it on a quiet machine before relying on it."
        )
    for table_set, ops in (provenance.get("missing_table_sets") or {}).items():
        affected = (f"the predicted times of {', '.join(map(clean_text, ops))}" if ops
                    else "every predicted compute time")
        lines.append(
            f"No timing tables for '{clean_text(table_set)}': {affected} in this figure are roofline estimates, "
            "not measurements."
        )
    return lines


def _provenance(spec: FigureSpec, record: Mapping[str, Any] | None) -> str:
    record = record or {}
    provenance = record.get("provenance") or {}
    items: list[tuple[str, str]] = [("scale", spec.scale_note)]
    if not spec.computed:
        items.append(("source", "static: no computation"))
    if _drawn(record) == "ok":
        total, reused = provenance.get("runs_total", 0), provenance.get("runs_reused", 0)
        if provenance.get("devices"):
            items.append(("device", ", ".join(map(clean_text, provenance["devices"]))))
        elif total:  # kinds that simulate no device: real training, signal and scheduling studies
            items.append(("device", "none simulated (the runs computed on this machine)"))
        items.extend(_timing_items(provenance))
        items.append(("runs", f"{total} ({reused} reused from the run store)" if total else "none"))
        if load := provenance.get("host_load"):
            items.append(("machine load", _machine_load(load)))
        items.append(("profile", clean_text(record.get("profile", "—"))))
        items.append(("drawn", clean_text(record.get("drawn_at", "—"))))
        for name, value in sorted((provenance.get("extra") or {}).items()):
            items.append((clean_text(name).replace("_", " "), human(value)))
    listed = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in items)
    warnings = "".join(f'<p class="warning">{_e(line)}</p>' for line in _warnings(spec, provenance))
    return f'{warnings}<ul class="prov">{listed}</ul>'


# --------------------------------------------------------------------------------------------------------------
# page parts


def _link(paper: str, name: str) -> str:
    return f"{quote(paper)}/{quote(name)}"


def _summary(specs: Sequence[FigureSpec], records: Mapping[str, Mapping[str, Any] | None]) -> str:
    rows = "".join(
        "<tr>"
        f'<td><a href="#{_t(spec.id)}"><code>{_t(spec.id)}</code></a></td><td>{_t(spec.title)}</td>'
        f"<td>{_t(spec.kind)}</td><td>{_badge(_verdict_key(records[spec.id]))}</td>"
        f"<td>{_drawn_cell(records[spec.id])}</td><td>{_t(spec.claim)}</td>"
        f"<td>{_e((records[spec.id] or {}).get('ours', '—'))}</td>"
        "</tr>"
        for spec in specs
    )
    return (
        '<table class="summary"><thead><tr><th>id</th><th>title</th><th>kind</th><th>verdict</th><th>drawn</th>'
        "<th>paper's claim</th><th>ours</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _by_paper(papers: Sequence[str], registry: FigureRegistry, specs: Sequence[FigureSpec],
              records: Mapping[str, Mapping[str, Any] | None]) -> str:
    checklist = load_checklist()
    header = "".join(
        f'<th class="num">{_e(text)}</th>'
        for text in ("checklist entries", "registered", "drawn", *STATUS_LABELS.values(), NO_VERDICT,
                     "not reconstructable", "not drawn yet")
    )
    rows = []
    for paper in papers:
        paper_specs = [spec for spec in specs if spec.paper == paper]
        counts = Counter(_verdict_key(records[spec.id]) for spec in paper_specs)
        cells = (
            sum(entry.paper == paper for entry in checklist.values()) if paper != "harness" else "—",
            len(paper_specs),
            sum(_drawn(records[spec.id]) == "ok" for spec in paper_specs),
            *(counts.get(key, 0) for key in STATUSES),
            counts.get(NO_VERDICT, 0),
            len(registry.missing(paper)),
            len(registry.unregistered(paper)),
        )
        rows.append(
            f'<tr><td><a href="#paper-{_e(paper)}">{_e(PAPERS[paper])}</a></td>'
            + "".join(f'<td class="num">{_e(cell)}</td>' for cell in cells) + "</tr>"
        )
    return f"<table><thead><tr><th>paper</th>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _media(spec: FigureSpec, record: Mapping[str, Any] | None, out_dir: Path) -> list[str]:
    if _drawn(record) != "ok":
        return []
    files = (record or {}).get("files") or {}
    parts, downloads = [], []
    if spec.kind == "table" and "html" in files and (figure_dir(out_dir, spec.paper) / files["html"]).is_file():
        # written by plots.tables.table_html, which escapes every cell
        parts.append((figure_dir(out_dir, spec.paper) / files["html"]).read_text(encoding="utf-8"))
        if "png" in files:
            downloads.append(f'<a href="{_link(spec.paper, files["png"])}" download>table as PNG image</a>')
    elif "png" in files:
        parts.append(f'<img src="{_link(spec.paper, files["png"])}" alt="{_e(spec.id)}: {_e(spec.title)}">')
    if "csv" in files:
        downloads.append(f'<a href="{_link(spec.paper, files["csv"])}">data behind this {_e(spec.kind)} (CSV)</a>')
    if downloads:
        parts.append(f'<p class="downloads">{" · ".join(downloads)}</p>')
    return parts


def _entry(spec: FigureSpec, record: Mapping[str, Any] | None, out_dir: Path) -> str:
    drawn = _drawn(record)
    parts = [
        f'<article class="entry" id="{_t(spec.id)}">',
        f'<h3><code>{_t(spec.id)}</code> {_t(spec.title)} {_badge(_verdict_key(record))} {_drawn_cell(record)}'
        f'<a class="anchor" href="#{_t(spec.id)}" title="link to this {_t(spec.kind)}">#</a></h3>',
        *_media(spec, record, out_dir),
    ]
    if drawn == "failed":
        parts.append(f'<p class="failed">Drawing failed: {_e(_one_line((record or {}).get("error")))}</p>')
    elif drawn == "not run":
        parts.append(f"<p>Not drawn yet: run <code>harness figures --only {_e(spec.id)}</code>.</p>")
    parts.append(f'<p class="caption">{_t(spec.full_caption)}</p>')
    parts.append(
        '<table class="claims"><thead><tr><th>paper\'s claim</th><th>ours</th><th>verdict</th></tr></thead>'
        f"<tbody><tr><td>{_t(spec.claim)}</td><td>{_e((record or {}).get('ours', '—'))}</td>"
        f"<td>{_verdict_cell(record)}</td></tr></tbody></table>"
    )
    parts.append(_provenance(spec, record))
    parts.append("</article>")
    return "\n".join(parts)


def _checklist_rows(entries: Iterable[ChecklistEntry], reasons: Mapping[str, str] | None = None) -> str:
    rows = []
    for entry in entries:
        why = f"<td>{_e(reasons[entry.id])}</td>" if reasons is not None else ""
        rows.append(
            f'<tr id="{_e(entry.id)}"><td><code>{_e(entry.id)}</code></td><td>{_e(entry.kind)}</td>{why}'
            f"<td>{_e(entry.shows)}</td><td>{_e(entry.claim)}</td></tr>"
        )
    why_head = "<th>why not reconstructable</th>" if reasons is not None else ""
    return (
        f"<table><thead><tr><th>id</th><th>kind</th>{why_head}<th>what it shows</th><th>paper's claim</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _paper_section(paper: str, registry: FigureRegistry, specs: Sequence[FigureSpec],
                   records: Mapping[str, Mapping[str, Any] | None], out_dir: Path) -> str:
    paper_specs = [spec for spec in specs if spec.paper == paper]
    missing = registry.missing(paper)
    unregistered = registry.unregistered(paper)
    counts = Counter(_verdict_key(records[spec.id]) for spec in paper_specs)
    n_drawn = sum(_drawn(records[spec.id]) == "ok" for spec in paper_specs)
    if paper == "harness":
        intro = f"{n_drawn} of {len(paper_specs)} figures drawn."
    else:
        n_checklist = sum(entry.paper == paper for entry in load_checklist().values())
        intro = (f"{n_drawn} of {n_checklist} checklist entries drawn; {len(missing)} not reconstructable; "
                 f"{len(unregistered)} not drawn yet.")
    parts = [f'<section id="paper-{_e(paper)}"><h2>{_e(PAPERS[paper])}</h2>', f"<p>{_e(intro)}</p>"]
    if paper_specs:
        parts.append(f"<p>Verdicts: {_counts_text(counts)}</p>")
    parts.extend(_entry(spec, records[spec.id], out_dir) for spec in paper_specs)
    if missing:
        parts.append(f"<h3>Not reconstructable ({len(missing)})</h3>")
        parts.append(_checklist_rows([entry.checklist for entry in missing],
                                     {entry.id: entry.reason for entry in missing}))
    if unregistered:
        parts.append(f"<details><summary>{len(unregistered)} checklist entries not drawn yet</summary>")
        parts.append(_checklist_rows(unregistered) + "</details>")
    parts.append("</section>")
    return "\n".join(parts)


def gallery_html(registry: FigureRegistry, out_dir: Path) -> str:
    """The gallery page for every figure of ``registry``, reading the records under ``out_dir``."""
    specs = list(registry)
    records = {spec.id: read_record(out_dir, spec) for spec in specs}
    checklist = load_checklist()
    paper_specs = [spec for spec in specs if spec.paper != "harness"]
    n_drawn = sum(_drawn(records[spec.id]) == "ok" for spec in paper_specs)
    n_missing = len(registry.missing())
    n_unregistered = len(registry.unregistered())
    harness_specs = [spec for spec in specs if spec.paper == "harness"]
    counts = Counter(_verdict_key(records[spec.id]) for spec in specs)
    papers = [paper for paper in PAPERS if any(spec.paper == paper for spec in specs)
              or any(entry.paper == paper for entry in checklist.values())]
    legend = "".join(f"<li>{_badge(key)} {_e(meaning)}</li>" for key, meaning in VERDICT_MEANINGS.items())
    generated = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            "<title>Figure gallery</title>",
            f"<style>{_CSS}</style></head><body>",
            "<h1>Figure gallery</h1>",
            f'<p class="lede"><b>{n_drawn} of the {len(checklist)} figures and tables</b> in the checklist of the '
            f"papers' figures are drawn here ({len(paper_specs)} registered); {n_missing} "
            f"{'is' if n_missing == 1 else 'are'} not reconstructable (the reason is listed under each paper) and "
            f"{n_unregistered} are not drawn yet. "
            f"{len(harness_specs)} more figures check the simulator itself. None of the papers' full texts could "
            "be read: their figures are reconstructions, at the reduced scale each caption states.</p>",
            f"<p>Verdicts over all {len(specs)} registered figures: {_counts_text(counts)}</p>",
            f'<ul class="prov">{legend}</ul>',
            f"<p>Generated {_e(generated)} by <code>harness figures</code>. Link to a figure with "
            "<code>index.html#&lt;figure id&gt;</code>.</p>",
            "<h2>By paper</h2>",
            _by_paper(papers, registry, specs, records),
            "<h2>Summary</h2>",
            _summary(specs, records),
            *(_paper_section(paper, registry, specs, records, out_dir) for paper in papers),
            "</body></html>",
        ]
    )


def write_gallery(registry: FigureRegistry, out_dir: Path) -> Path:
    """Write ``<out_dir>/index.html`` atomically and return its path."""
    path = Path(out_dir) / "index.html"
    write_text_atomic(path, gallery_html(registry, Path(out_dir)))
    return path
