"""Gaps in the tests of `plots.verdict` found by a mutation audit, closed here on hand-built checks.

Closed: an infinite number (ours or an ordered value) holding a check; a one-item ordering holding; the ordered
tolerance (sign, dropped in `ordered` or in the JSON record) and ``descending`` in the record; NaN / inf written to
the record instead of null; the guards of `within` (low > high), `ordered` (missing key, negative tolerance),
`judge` (no checks), `Verdict` (unknown status, blank explanation) and `not_checkable` (blank reason); a
not-checkable verdict that carries checks; the labels (record and people's wording, "not checkable" included);
`describe` of ordered / above / missing numbers; `digits_to_tell_apart` past six digits and for equal numbers; a
`Check` built directly with a missing bound or ordered value holding.
"""

from __future__ import annotations

import json
import math

import pytest

from plots.gallery import check_text
from plots.runner import VerdictError, check_verdict
from plots.verdict import (
    Check,
    Verdict,
    above,
    at_least,
    at_most,
    digits_to_tell_apart,
    judge,
    not_checkable,
    ordered,
    within,
)

INF = math.inf


@pytest.mark.parametrize("check, holds", [
    # the band's edges belong to it; just outside does not
    (within("w", ours=0.25, low=0.25, high=0.75, paper="p"), True),
    (within("w", ours=0.75, low=0.25, high=0.75, paper="p"), True),
    (within("w", ours=0.2499, low=0.25, high=0.75, paper="p"), False),
    (within("w", ours=0.7501, low=0.25, high=0.75, paper="p"), False),
    (within("w", ours=1.0, low=1.0, high=1.0, paper="p"), True),  # an exact value is a band of width 0
    (at_most("m", ours=2.0, high=2.0, paper="p"), True),
    (at_most("m", ours=2.0001, high=2.0, paper="p"), False),
    (at_least("l", ours=2.0, low=2.0, paper="p"), True),
    (at_least("l", ours=1.9999, low=2.0, paper="p"), False),
    (above("a", ours=0.0, low=0.0, paper="p"), False),  # a tie shows no improvement
    (above("a", ours=1e-9, low=0.0, paper="p"), True),
    # an infinite number is no measurement: it holds no bound, however generous
    (at_least("l", ours=INF, low=1.0, paper="p"), False),
    (at_most("m", ours=-INF, high=1.0, paper="p"), False),
    (above("a", ours=INF, low=0.0, paper="p"), False),
    (within("w", ours=INF, low=0.0, high=INF, paper="p"), False),
    (ordered("o", {"a": 1.0, "b": INF}, ["a", "b"], paper="p"), False),
    (ordered("o", {"a": -INF, "b": 0.0}, ["a", "b"], paper="p"), False),
    # an ordering needs two things to order
    (ordered("o", {"a": 1.0}, ["a"], paper="p"), False),
    # tolerance: absolute slack on each adjacent pair, the edge included (binary-exact numbers)
    (ordered("o", {"a": 1.0, "b": 0.75}, ["a", "b"], paper="p", tolerance=0.25), True),
    (ordered("o", {"a": 1.0, "b": 0.75}, ["a", "b"], paper="p", tolerance=0.125), False),
    (ordered("o", {"a": 1.0, "b": 0.75}, ["a", "b"], paper="p"), False),
    (ordered("o", {"a": 1.0, "b": 1.25}, ["a", "b"], paper="p", descending=True, tolerance=0.25), True),
    (ordered("o", {"a": 1.0, "b": 1.25}, ["a", "b"], paper="p", descending=True, tolerance=0.125), False),
    (ordered("o", {"a": 1.0, "b": 1.0, "c": 0.875}, ["a", "b", "c"], paper="p", tolerance=0.125), True),
])
def test_holds_at_and_around_each_edge(check, holds):
    assert check.holds is holds


@pytest.mark.parametrize("n_holding, status, label", [
    (3, "reproduced", "reproduced"),
    (2, "partly", "partly reproduced"),
    (1, "partly", "partly reproduced"),
    (0, "not_reproduced", "not reproduced"),
])
def test_status_and_label_from_three_checks(n_holding, status, label):
    checks = [at_most(f"c{i}", ours=float(i >= n_holding), high=0.5, paper="p") for i in range(3)]
    verdict = judge(checks, explanation="three bounds")
    assert (verdict.status, verdict.label) == (status, label)
    assert (verdict.to_json()["status"], verdict.to_json()["label"]) == (status, label)
    assert verdict.contradictions() == []


def test_not_checkable_label_and_record():
    verdict = not_checkable("  the paper's cells are unknown \n")
    assert verdict.label == "not checkable"
    assert verdict.to_json() == {"status": "not_checkable", "label": "not checkable",
                                 "explanation": "the paper's cells are unknown", "checks": []}


def test_the_record_keeps_descending_and_tolerance_and_the_gallery_shows_them():
    check = ordered("acc", {"a": 1.0, "b": 1.25}, ["a", "b"], paper="a >= b", descending=True, tolerance=0.25)
    record = check.to_json()
    assert record == {"name": "acc", "kind": "ordered", "paper": "a >= b", "holds": True,
                      "values": {"a": 1.0, "b": 1.25}, "order": ["a", "b"], "descending": True, "tolerance": 0.25}
    assert check_text(record) == "acc: ours a 1 ≥ b 1.25 (tolerance 0.25) (paper: a >= b): holds"


@pytest.mark.parametrize("value", [math.nan, INF, -INF])
def test_non_finite_numbers_are_recorded_as_null(value):
    bounded = at_least("x", ours=value, low=1.0, paper="p").to_json()
    listed = ordered("o", {"a": value, "b": 2.0}, ["a", "b"], paper="p").to_json()
    assert bounded["ours"] is None and bounded["low"] == 1.0 and bounded["holds"] is False
    assert listed["values"] == {"a": None, "b": 2.0} and listed["holds"] is False
    json.dumps([bounded, listed], allow_nan=False)  # strict JSON: raises on NaN / Infinity


def test_describe_ordered_above_and_missing_numbers():
    assert ordered("loss", {"dense": 0.123456, "arc": 0.2}, ["dense", "arc"], paper="dense <= arc").describe() == (
        "loss: ours dense 0.123 <= arc 0.2 (paper: dense <= arc): holds")
    assert ordered("acc", {"a": 0.8, "b": 0.9}, ["a", "b"], paper="a >= b", descending=True).describe() == (
        "acc: ours a 0.8 >= b 0.9 (paper: a >= b): does not hold")
    assert above("gain", ours=0.0, low=0.0, paper="faster").describe() == (
        "gain: ours 0 > 0 (paper: faster): does not hold")
    assert at_most("x", ours=math.nan, high=1.0, paper="p").describe() == "x: ours n/a <= 1 (paper: p): does not hold"


def test_digits_to_tell_apart_past_six_digits_and_for_equal_numbers():
    assert digits_to_tell_apart(1.23456789, 1.2345671) == 7  # 1.234568 vs 1.234567; alike at 6 digits
    assert digits_to_tell_apart(1 / 3, 1 / 3) == 3
    assert within("x", ours=1 / 3, low=1 / 3, high=1 / 3, paper="p").describe() == (
        "x: ours 0.333 in [0.333, 0.333] (paper: p): holds")


def test_constructors_refuse_what_cannot_be_judged():
    with pytest.raises(ValueError, match="low 2.0 > high 1.0"):
        within("x", ours=1.5, low=2.0, high=1.0, paper="p")
    with pytest.raises(ValueError, match="no value for b"):
        ordered("x", {"a": 1.0}, ["a", "b"], paper="p")
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        ordered("x", {"a": 1.0, "b": 2.0}, ["a", "b"], paper="p", tolerance=-0.01)
    with pytest.raises(ValueError, match="judge needs at least one check"):
        judge([], explanation="nothing")
    with pytest.raises(ValueError, match="unknown verdict status 'done'"):
        Verdict(status="done", explanation="e")
    for blank in ("", "  \n"):
        with pytest.raises(ValueError, match="needs an explanation"):
            not_checkable(blank)


def test_a_not_checkable_verdict_with_checks_is_a_contradiction():
    verdict = Verdict(status="not_checkable", explanation="e",
                      checks=(within("x", ours=1.0, low=0.0, high=2.0, paper="p"),))
    assert verdict.contradictions() == ["a not-checkable verdict carries checks; judge them instead"]
    with pytest.raises(VerdictError, match="a not-checkable verdict carries checks"):
        check_verdict(verdict)


@pytest.mark.parametrize("check", [
    Check(name="x", kind="at_least", paper="p", ours=1.0),
    Check(name="x", kind="above", paper="p", ours=1.0),
    Check(name="x", kind="at_most", paper="p", ours=1.0),
    Check(name="x", kind="within", paper="p", ours=1.0, low=0.0),
    Check(name="x", kind="ordered", paper="p", values={"a": -1.0}, order=("a", "b")),
])
def test_a_check_built_directly_with_a_missing_number_never_holds(check):
    assert check.holds is False
