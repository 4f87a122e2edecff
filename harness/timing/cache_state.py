"""CPU timing tables at several cache states, and a replay that prices a call at the cache state its step leaves.

A CPU op's time depends on what ran between two of its calls: the profiler writes ``cpu_flush_bytes`` before
every timed call to evict its code and data (`kernels.profiler`, "Why the CPU flush"), and one flush size cannot
stand for every step (`benchmarks/cpu_cache_state.py`: summed over a TinyLlama step's ops, a 2 MiB flush matched
the real step of a 0.24M-parameter model, 32-128 MiB one of 7.9M parameters). A *cache-state family* is one op
set profiled at several flush sizes, each a table set named ``<base>-f<MiB>`` whose meta.json records its
``cpu_flush_bytes`` (``harness profile --cpu-flush-mib MiB --table-set <base>-f<MiB>``).

`CacheStateReplay.at(touched_bytes)` answers ``predict`` like `harness.timing.replay.TimingReplay` for a step
that touches ``touched_bytes`` between two uses of the same data: each call's time is the two bracketing sets'
predictions blended linearly in log2 of the flush size (clamped to the smallest and largest set). What a step
touches is our model, stated where it is computed (`harness.cost.training_step.step_touched_bytes`: parameters,
gradients, optimizer states and saved activations, the bytes a training step cycles through once per step).
Nothing is fitted: every number is an op's time measured alone after a flush of a stated size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.devices import get_device
from harness.errors import HarnessError
from harness.timing.replay import Prediction, TimingReplay
from harness.timing.table import load_meta, load_table_set

_SOURCE_RANK = {"exact": 0, "interpolated": 1, "roofline": 2}


def find_family(root: Path | str, base: str) -> list[tuple[int, Path]]:
    """``(flush_bytes, folder)`` of every ``<base>-f<MiB>`` table set under ``root``, smallest flush first.
    A set whose meta.json records another flush than its name says is a `HarnessError` naming that file."""
    pattern = re.compile(rf"^{re.escape(base)}-f(\d+)$")
    found = []
    for folder in sorted(Path(root).glob(f"{base}-f*")):
        match = pattern.match(folder.name)
        if not match or not folder.is_dir():
            continue
        recorded = load_meta(folder).get("cpu_flush_bytes")
        expected = int(match.group(1)) << 20
        if recorded != expected:
            raise HarnessError(f"{folder / 'meta.json'}: cpu_flush_bytes is {recorded!r}, but the set's name says "
                               f"{match.group(1)} MiB ({expected}); re-profile it with --cpu-flush-mib "
                               f"{match.group(1)}")
        found.append((expected, folder))
    return sorted(found)


class CacheStateReplay:
    """One `TimingReplay` per flush size of a cache-state family (at least two sets)."""

    def __init__(self, root: Path | str, base: str):
        family = find_family(root, base)
        if len(family) < 2:
            raise HarnessError(
                f"cache-state tables {base}-f<MiB> under {root}: found {len(family)} set(s), "
                f"need at least 2; make them with `harness profile --device cpu --cpu-flush-mib MiB --table-set "
                f"{base}-f<MiB>` (see harness.timing.cache_state)")
        self.base = base
        self.replays: list[tuple[int, TimingReplay]] = [
            (flush, TimingReplay(get_device(folder.name, timings_root=root), load_table_set(folder),
                                 table_set=folder.name))
            for flush, folder in family]

    @property
    def flush_bytes(self) -> list[int]:
        return [flush for flush, _ in self.replays]

    def at(self, touched_bytes: float) -> CacheStateView:
        """A replay for calls that see ``touched_bytes`` written between two of their uses."""
        return CacheStateView(self, float(touched_bytes))

    def provenance(self) -> dict[str, Any]:
        """Per set: folder, flush, table hashes, date and what its predictions came from."""
        return {replay.table_set: {"cpu_flush_bytes": flush, "folder": replay.info()["tables_folder"],
                                   "table_hashes": replay.table_hashes(),
                                   "device_name": replay.tables.meta.get("device_name"),
                                   "date": replay.tables.meta.get("date"), "timing_sources": replay.summary()}
                for flush, replay in self.replays}


def blend_weights(flushes: list[int], touched_bytes: float) -> list[tuple[int, float]]:
    """``(index, weight)`` of the one or two sets whose flush brackets ``touched_bytes``, linear in log2 of the
    flush; clamped to the first or last set outside the family's range."""
    if touched_bytes <= flushes[0]:
        return [(0, 1.0)]
    if touched_bytes >= flushes[-1]:
        return [(len(flushes) - 1, 1.0)]
    hi = next(i for i, f in enumerate(flushes) if f >= touched_bytes)
    if flushes[hi] == touched_bytes:
        return [(hi, 1.0)]
    lo = hi - 1
    # a 0-byte flush (no eviction) sits one octave below the next set on the log axis
    lo_log = math.log2(flushes[lo]) if flushes[lo] > 0 else math.log2(flushes[hi]) - 1.0
    w = (math.log2(touched_bytes) - lo_log) / (math.log2(flushes[hi]) - lo_log)
    w = min(1.0, max(0.0, w))
    return [(lo, 1.0 - w), (hi, w)]


@dataclass
class CacheStateView:
    """``predict`` at one cache state (see `CacheStateReplay.at`); ``device`` is the smallest-flush set's (the
    kernel floor and dispatch gap are measured warm, the same in every set)."""

    family: CacheStateReplay
    touched_bytes: float

    def __post_init__(self) -> None:
        self.device = self.family.replays[0][1].device
        self._weights = blend_weights(self.family.flush_bytes, self.touched_bytes)
        self.counts: dict[str, dict[str, int]] = {}

    def predict(self, op: str, *, impl: str | None = None, dtype: str = "float32", **shape: float) -> Prediction:
        parts = [(w, self.family.replays[i][1].predict(op, impl=impl, dtype=dtype, **shape)) for i, w in self._weights]
        time_ms = sum(w * p.time_ms for w, p in parts)
        worst = max((p.source for _, p in parts), key=_SOURCE_RANK.__getitem__)
        source = "interpolated" if worst == "exact" and len(parts) == 2 else worst
        detail = "; ".join(f"{self.family.replays[i][1].table_set} (weight {w:.3g}): {p.detail}"
                           for (i, w), (_, p) in zip(self._weights, parts))
        per = self.counts.setdefault(op, {})
        per[source] = per.get(source, 0) + 1
        return Prediction(time_ms, source, detail)

    def summary(self) -> Mapping[str, Mapping[str, int]]:
        return {op: dict(c) for op, c in sorted(self.counts.items())}
