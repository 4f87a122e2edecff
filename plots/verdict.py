"""Verdicts: does a figure's own data reproduce the paper's claim?

Every figure's draw function returns a `Verdict` beside its data. A verdict is computed, never declared: it is
built from `Check` objects, each comparing one of our numbers with what the paper claims (a band, a bound, an
ordering), and its status follows from which checks hold:

* **reproduced**: every check holds;
* **partly reproduced**: some hold, some do not;
* **not reproduced**: none holds (a finding, shown as such in the gallery, with our explanation);
* **not checkable**: the claim is not quantitative, the paper's cells are unknown, it needs hardware we do not
  have, ... (`not_checkable(reason)`; the reason is required).

Each check keeps the numbers it compared, so the gallery can show them and a test can recompute every check
from them (`Verdict.contradictions()`): a verdict whose status its own checks contradict is a bug.

Example::

    checks = [
        within("ARC / Top-K time", ours=0.42, low=0.3, high=0.5, paper="0.39 (up to 60.7% less)"),
        ordered("final loss", {"dense": 0.11, "arc": 0.12, "randk": 0.31}, ["dense", "arc", "randk"]),
    ]
    verdict = judge(checks, explanation="ARC's saving is within the paper's band at 8 nodes")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["reproduced", "partly", "not_reproduced", "not_checkable"]
STATUSES: tuple[Status, ...] = ("reproduced", "partly", "not_reproduced", "not_checkable")
STATUS_LABELS: Mapping[Status, str] = {
    "reproduced": "reproduced",
    "partly": "partly reproduced",
    "not_reproduced": "not reproduced",
    "not_checkable": "not checkable",
}

CheckKind = Literal["within", "at_most", "at_least", "above", "ordered"]


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Check:
    """One comparison of our number(s) with the paper's claim; `holds` is recomputed from the numbers.

    Attributes:
        name: what is compared, for people ("ARC / Top-K wall-clock ratio at 8 nodes").
        kind: ``within`` (low <= ours <= high), ``at_most`` (ours <= high), ``at_least`` (ours >= low),
            ``above`` (ours > low: a claimed improvement, which a tie does not show), ``ordered`` (``values``
            non-decreasing in the ``order`` given, non-increasing when ``descending``).
        ours: our number (``within`` / ``at_most`` / ``at_least``).
        low / high: the band's edges.
        values / order / descending: for ``ordered``.
        paper: what the paper states, as text ("60.7% less", "dense < ARC < Rand-K").
        tolerance: slack allowed for ``ordered`` (absolute, on each adjacent pair).
    """

    name: str
    kind: CheckKind
    paper: str
    ours: float | None = None
    low: float | None = None
    high: float | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    descending: bool = False
    tolerance: float = 0.0

    @property
    def holds(self) -> bool:
        """Whether the check holds, from its own numbers (NaN or a missing number, ours or a bound, never holds)."""
        if self.kind == "ordered":
            numbers = [self.values.get(key, math.nan) for key in self.order]
            if len(numbers) < 2 or not all(_finite(v) for v in numbers):
                return False
            if self.descending:
                numbers = [-v for v in numbers]
            return all(b >= a - self.tolerance for a, b in zip(numbers, numbers[1:]))
        if self.ours is None or not _finite(self.ours):
            return False
        if any(bound is not None and math.isnan(bound) for bound in (self.low, self.high)):
            return False  # a bound computed from missing data bounds nothing
        if self.kind in ("within", "at_least") and (self.low is None or self.ours < self.low):
            return False
        if self.kind == "above" and (self.low is None or not self.ours > self.low):
            return False
        if self.kind in ("within", "at_most") and (self.high is None or self.ours > self.high):
            return False
        return True

    def describe(self) -> str:
        """One line for people: ``name: ours 0.42 in [0.3, 0.5] (paper: ...) -> holds``."""
        if self.kind == "ordered":
            sign = " >= " if self.descending else " <= "
            ours = sign.join(f"{key} {_fmt(self.values.get(key, math.nan))}" for key in self.order)
        elif self.kind == "within":
            digits = max(digits_to_tell_apart(self.ours, self.low), digits_to_tell_apart(self.ours, self.high))
            ours = f"{_fmt(self.ours, digits)} in [{_fmt(self.low, digits)}, {_fmt(self.high, digits)}]"
        elif self.kind == "at_most":
            digits = digits_to_tell_apart(self.ours, self.high)
            ours = f"{_fmt(self.ours, digits)} <= {_fmt(self.high, digits)}"
        else:
            digits = digits_to_tell_apart(self.ours, self.low)
            sign = " > " if self.kind == "above" else " >= "
            ours = f"{_fmt(self.ours, digits)}{sign}{_fmt(self.low, digits)}"
        return f"{self.name}: ours {ours} (paper: {self.paper}): {'holds' if self.holds else 'does not hold'}"

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "kind": self.kind, "paper": self.paper, "holds": self.holds}
        if self.kind == "ordered":
            record.update(values={k: _json_number(v) for k, v in self.values.items()}, order=list(self.order),
                          descending=self.descending, tolerance=self.tolerance)
        else:
            record.update(ours=_json_number(self.ours), low=_json_number(self.low), high=_json_number(self.high))
        return record


def _json_number(value: float | None) -> float | None:
    return float(value) if value is not None and _finite(value) else None


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not _finite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def digits_to_tell_apart(ours: float | None, bound: float | None) -> int:
    """Significant digits (3 to 10) at which ``ours`` and a different ``bound`` no longer print alike (0.9998
    against a bound of 1 would otherwise read "ours 1 >= 1: does not hold")."""
    if ours is None or bound is None or not (_finite(ours) and _finite(bound)) or ours == bound:
        return 3
    return next((d for d in range(3, 11) if f"{ours:.{d}g}" != f"{bound:.{d}g}"), 10)


def within(name: str, *, ours: float, low: float, high: float, paper: str) -> Check:
    """``low <= ours <= high``."""
    if low > high:
        raise ValueError(f"check {name!r}: low {low} > high {high}")
    return Check(name=name, kind="within", paper=paper, ours=_as_float(ours), low=float(low), high=float(high))


def at_most(name: str, *, ours: float, high: float, paper: str) -> Check:
    """``ours <= high`` (a bound held)."""
    return Check(name=name, kind="at_most", paper=paper, ours=_as_float(ours), high=float(high))


def at_least(name: str, *, ours: float, low: float, paper: str) -> Check:
    """``ours >= low``."""
    return Check(name=name, kind="at_least", paper=paper, ours=_as_float(ours), low=float(low))


def above(name: str, *, ours: float, low: float, paper: str) -> Check:
    """``ours > low``: a claimed improvement (A beats B as ``A - B > 0``), which a tie does not show."""
    return Check(name=name, kind="above", paper=paper, ours=_as_float(ours), low=float(low))


def ordered(
    name: str,
    values: Mapping[str, float],
    order: Sequence[str],
    *,
    paper: str,
    descending: bool = False,
    tolerance: float = 0.0,
) -> Check:
    """``values[order[0]] <= values[order[1]] <= ...`` (``>=`` when ``descending``), within ``tolerance``."""
    missing = [key for key in order if key not in values]
    if missing:
        raise ValueError(f"check {name!r}: no value for {', '.join(missing)}")
    if tolerance < 0:
        raise ValueError(f"check {name!r}: tolerance must be >= 0")
    return Check(
        name=name,
        kind="ordered",
        paper=paper,
        values={key: _as_float(values[key]) for key in order},
        order=tuple(order),
        descending=descending,
        tolerance=float(tolerance),
    )


def _as_float(value: Any) -> float:
    return float(value.item() if hasattr(value, "item") else value)


@dataclass(frozen=True)
class Verdict:
    """A figure's verdict: its status, the checks behind it, and a sentence explaining it.

    Build one with `judge` (status from checks) or `not_checkable` (reason required), not directly.
    """

    status: Status
    explanation: str
    checks: tuple[Check, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown verdict status {self.status!r}; known: {', '.join(STATUSES)}")
        if not isinstance(self.explanation, str) or not self.explanation.strip():
            raise ValueError("a verdict needs an explanation (for not checkable: the reason)")
        object.__setattr__(self, "checks", tuple(self.checks))

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    def contradictions(self) -> list[str]:
        """What in this verdict its own checks contradict (empty when consistent)."""
        problems = []
        if self.status == "not_checkable":
            if self.checks:
                problems.append("a not-checkable verdict carries checks; judge them instead")
            return problems
        if not self.checks:
            return ["a checkable verdict has no checks"]
        expected = status_of(self.checks)
        if expected != self.status:
            problems.append(f"status {self.status!r} but its checks give {expected!r}")
        return problems

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "label": self.label,
            "explanation": self.explanation.strip(),
            "checks": [check.to_json() for check in self.checks],
        }


def status_of(checks: Sequence[Check]) -> Status:
    """reproduced (all hold), partly (some), not_reproduced (none)."""
    held = sum(check.holds for check in checks)
    if held == len(checks):
        return "reproduced"
    return "partly" if held else "not_reproduced"


def judge(checks: Sequence[Check], *, explanation: str) -> Verdict:
    """The verdict of ``checks`` (at least one), with ``explanation`` (what we compared, why it differs)."""
    checks = tuple(checks)
    if not checks:
        raise ValueError("judge needs at least one check; use not_checkable(reason) when nothing can be checked")
    return Verdict(status=status_of(checks), explanation=explanation, checks=checks)


def not_checkable(reason: str) -> Verdict:
    """A verdict for a claim that cannot be checked from our data; ``reason`` says why."""
    return Verdict(status="not_checkable", explanation=reason)
