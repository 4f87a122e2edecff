"""The short lines ``harness run`` prints about where a run's predicted times came from.

`timing_notes(info)` reads a run's run.json ``info`` and returns at most two lines:

* compute (`roofline_note`), when any predicted compute time came from the roofline model rather than a timing
  table (`harness.timing.replay`): the share of the time, how many ops, the first few by roofline time, and where
  run.json keeps the per-op reasons (``roofline_reasons``);
* collectives (`collective_note`), when a measured collective table priced the run's collectives
  (`harness.timing.collective_tables`): how many came from which table set, exact / interpolated / fitted, and
  how many fell back to the network's closed form (op or rank count not in the table). The metrics' ``model``
  column names the network model (``closed_form`` for these too), not the table.

Only counts go on the line; run.json keeps the details. Pure functions of the info mapping: no tables are read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: ops named on a note before "and N more"
SHOWN_OPS = 3
#: collective sources that come from the table, in the order a note lists them, and their words
TABLE_SOURCES = {"exact": "exact", "interpolated": "interpolated", "closed_form_fit": "fitted to the table"}


def _listed(names: Iterable[str], shown: int = SHOWN_OPS) -> str:
    """``a, b, c and 4 more``."""
    names = list(names)
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _percent(part: float, total: float) -> str:
    share = 100.0 * part / total if total > 0 else 100.0
    return f"{share:.0f}%" if share >= 1 or share == 0 else "<1%"


def _counted(counts: Mapping[str, int], words: Mapping[str, str]) -> str:
    """``3 exact, 1 interpolated`` (sources in ``words`` order, zero counts left out)."""
    return ", ".join(f"{counts[source]} {word}" for source, word in words.items() if counts.get(source))


def roofline_note(info: Mapping[str, Any]) -> str | None:
    """The line for a run some of whose predicted compute time came from the roofline model: the share of the
    time summed over predictions, the ops affected (most roofline time first) and where run.json keeps why. None
    when no prediction did (or the run recorded no replay provenance). ``info`` is a run's info; the replay's
    `TimingReplay.info` is found under ``info["timings"]`` or at the top level."""
    nested = isinstance(info.get("timings"), Mapping)
    replay_info = info["timings"] if nested else info
    by_time = replay_info.get("time_by_source_ms")
    counts = replay_info.get("timing_sources")
    if not isinstance(by_time, Mapping) or not isinstance(counts, Mapping):
        return None
    roofline_ops = [op for op in counts if isinstance(counts[op], Mapping) and counts[op].get("roofline", 0) > 0]
    if not roofline_ops:
        return None
    total = sum(sum(times.values()) for times in by_time.values())
    from_roofline = sum(times.get("roofline", 0.0) for times in by_time.values())
    ordered = sorted(roofline_ops, key=lambda o: (-by_time.get(o, {}).get("roofline", 0.0), o))
    missing = replay_info.get("tables_missing")
    where = f"run.json info.{'timings.' if nested else ''}roofline_reasons"
    why = f"no kernel tables: {missing}" if missing else f"why per op: {where}"
    return (f"note: {_percent(from_roofline, total)} of predicted compute time came from the roofline model "
            f"({len(ordered)} op(s): {_listed(ordered)}; {why})")


def collective_note(info: Mapping[str, Any]) -> str | None:
    """The line for a run whose collectives a measured collective table priced: how many from the table set (and
    how: exact, interpolated, fitted) and how many from the closed form. None without such tables."""
    sources = info.get("collective_sources")
    tables = info.get("collective_tables")
    if not isinstance(sources, Mapping) or not isinstance(tables, Mapping):
        return None
    totals: dict[str, int] = {}
    fallback_ops = []
    for op, counts in sources.items():
        for source, n in (counts.items() if isinstance(counts, Mapping) else ()):
            totals[source] = totals.get(source, 0) + int(n)
        if isinstance(counts, Mapping) and counts.get("closed_form"):
            fallback_ops.append(op)
    priced = sum(totals.values())
    if not priced:
        return None
    from_table = sum(totals.get(source, 0) for source in TABLE_SOURCES)
    line = f"note: collective times: {from_table} of {priced} from table set {tables.get('table_set')!r}"
    if from_table:
        line += f" ({_counted(totals, TABLE_SOURCES)})"
    if totals.get("closed_form"):
        line += (f"; {totals['closed_form']} from the network's closed form (not in the table: "
                 f"{_listed(fallback_ops)})")
    return line


def timing_notes(info: Mapping[str, Any]) -> list[str]:
    """Every note for a run (compute first, then collectives); empty when tables priced everything."""
    return [note for note in (roofline_note(info), collective_note(info)) if note]
