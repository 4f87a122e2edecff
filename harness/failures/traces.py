"""Failure traces replayed from CSV: one event per line, ``time_h,component,kind,duration_h[,slowdown]``.

``component`` is ``device:<i>``, ``node:<i>`` or ``rack:<i>`` of the scenario's cluster; ``kind`` is ``fail``
(the component's devices are down for ``duration_h``) or ``straggle`` (its devices run ``slowdown`` times slower,
``slowdown`` > 1 required). Validation is strict and every error names the file and line: times must be numbers
>= 0 in non-decreasing order, durations >= 0 and no longer than the horizon, components must exist. A replayed
trace produces exactly its events (`read_trace` -> `Event` list, in file order).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ScenarioError
from harness.failures.processes import Event

COLUMNS = ("time_h", "component", "kind", "duration_h")
KINDS = ("fail", "straggle")


@dataclass(frozen=True)
class ClusterShape:
    """What components exist: ``nodes`` x ``devices_per_node`` devices, ``nodes_per_rack`` nodes per rack."""

    nodes: int
    devices_per_node: int
    nodes_per_rack: int | None = None

    @property
    def n_devices(self) -> int:
        return self.nodes * self.devices_per_node

    def devices_of(self, component: str) -> tuple[int, ...]:
        """Devices of ``device:<i>`` / ``node:<i>`` / ``rack:<i>``; ValueError saying what exists."""
        name, _, index_text = component.partition(":")
        try:
            index = int(index_text)
        except ValueError:
            raise ValueError(f"unknown component {component!r}; expected device:<i>, node:<i> or rack:<i>") from None
        per = {"device": 1, "node": self.devices_per_node}
        if self.nodes_per_rack:
            per["rack"] = self.nodes_per_rack * self.devices_per_node
        if name not in per:
            raise ValueError(f"unknown component {component!r}; known kinds: {', '.join(f'{k}:<i>' for k in per)}")
        count = math.ceil(self.n_devices / per[name])
        if not 0 <= index < count:
            raise ValueError(f"unknown component {component!r}: the cluster has {name}:0 .. {name}:{count - 1}")
        start = index * per[name]
        return tuple(range(start, min(start + per[name], self.n_devices)))


def _number(path: Path, line: int, key: str, text: str | None) -> float:
    try:
        value = float(text if text is not None else "")
    except ValueError:
        raise ScenarioError([f"{path}:{line}: {key}: expected a number, got {text!r}"]) from None
    if not math.isfinite(value):
        raise ScenarioError([f"{path}:{line}: {key}: expected a finite number, got {text!r}"])
    return value


def read_trace(path: str | Path, cluster: ClusterShape, horizon_h: float) -> list[Event]:
    """The events of the trace at ``path``, validated against ``cluster`` and ``horizon_h``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ScenarioError([f"{path}: cannot read failure trace ({err.strerror or err})"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ScenarioError([f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x})"]) from None
    reader = csv.DictReader(text.splitlines())
    header = tuple(reader.fieldnames or ())
    if header[: len(COLUMNS)] != COLUMNS or not set(header) <= {*COLUMNS, "slowdown"}:
        raise ScenarioError([f"{path}:1: expected the columns {','.join(COLUMNS)}[,slowdown], got {','.join(header)}"])
    events: list[Event] = []
    previous = 0.0
    for row in reader:
        line = reader.line_num
        time_h = _number(path, line, "time_h", row["time_h"])
        if time_h < 0:
            raise ScenarioError([f"{path}:{line}: time_h: expected a time >= 0, got {time_h}"])
        if time_h < previous:
            raise ScenarioError([f"{path}:{line}: time_h: {time_h} is before the previous line's {previous} "
                                "(the trace must be sorted by time)"])
        if time_h >= horizon_h:
            raise ScenarioError([f"{path}:{line}: time_h: {time_h} is not before the horizon ({horizon_h} h)"])
        previous = time_h
        duration = _number(path, line, "duration_h", row["duration_h"])
        if duration < 0:
            raise ScenarioError([f"{path}:{line}: duration_h: expected a duration >= 0, got {duration}"])
        if duration > horizon_h:
            raise ScenarioError([f"{path}:{line}: duration_h: {duration} h is longer than the horizon ({horizon_h} h)"])
        kind = (row["kind"] or "").strip()
        if kind not in KINDS:
            raise ScenarioError([f"{path}:{line}: kind: unknown kind {kind!r}; known: {', '.join(KINDS)}"])
        component = (row["component"] or "").strip()
        try:
            devices = cluster.devices_of(component)
        except ValueError as err:
            raise ScenarioError([f"{path}:{line}: component: {err}"]) from None
        slowdown = 1.0
        if kind == "straggle":
            slowdown = _number(path, line, "slowdown", row.get("slowdown"))
            if slowdown <= 1.0:
                raise ScenarioError([f"{path}:{line}: slowdown: a straggler needs a slowdown > 1, got {slowdown}"])
        events.append(Event(time_h, component, kind, min(duration, horizon_h - time_h), devices, slowdown))
    return events


def write_trace(events: list[Event], path: str | Path) -> None:
    """Write ``events`` in the format `read_trace` reads (for tests and for sharing generated traces)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, "slowdown"])
        for e in events:
            writer.writerow([repr(e.time_h), e.component, e.kind, repr(e.duration_h), repr(e.slowdown)])
