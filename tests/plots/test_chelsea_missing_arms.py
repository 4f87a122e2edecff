"""Figures of `chelsea` drawn from run sets that lack an arm: each now fails with one line naming what the figure
needs and what the runs have, or its verdict says why it is not checkable.

- tab1 without Full, Chelsea or any baseline at 20% (a bare KeyError, or "max() arg is an empty sequence");
- fig6 without Full, Chelsea or an eviction baseline; tab2 / fig7 without Chelsea (fig7 wrote "up to nanx");
- tab2 without a 16k / 32k / 64k run, tab3 without chunks of 256 or without a whole-context chunk (a bare
  KeyError, or a 1.0x "gain" of 256 over itself), tab5 without one side of the comparison (0 points judged);
- an empty sweep; tab1's spread over one seed is n/a (it showed ± 0.0); tab4's verdict on one chunk size.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import chelsea
from tests.plots.test_chelsea_builders_mutation_gaps import _decode, _quality, ctx_of


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _raises(draw, path: str, frame: pd.DataFrame) -> str:
    with pytest.raises(ValueError) as err:
        draw(ctx_of({path: frame}))
    return str(err.value)


@pytest.mark.parametrize(("drop", "message"), [
    ("chelsea", "chelsea.tab1 at a 20% cache ratio needs runs of chelsea; the runs have snapkv, full"),
    ("full", "chelsea.tab1 at a 20% cache ratio needs runs of full; the runs have chelsea, snapkv"),
    ("snapkv", "chelsea.tab1 at a 20% cache ratio needs a run of one of streaming_llm, snapkv, h2o, cam; the runs "
               "have chelsea, full"),
])
def test_tab1_without_an_arm_says_which(drop, message):
    quality = _quality()
    assert _raises(chelsea.draw_tab1, chelsea.QUALITY, quality[quality["method"] != drop]) == message


def test_tab1_verdict_without_chelsea_is_not_checkable():
    quality = _quality()
    verdict = chelsea.verdict_tab1(quality[quality["method"] != "chelsea"])
    assert verdict.status == "not_checkable"
    assert verdict.explanation == ("the quality check at a 20% cache ratio needs runs of chelsea; the runs have "
                                   "snapkv, full")


def test_tab1_spread_over_one_seed_is_n_a():
    quality = _quality()
    table = chelsea.draw_tab1(ctx_of({chelsea.QUALITY: quality[quality["model_seed"] == 0]})).table
    assert table.set_index("method").loc["Chelsea", "average"] == "45.0 ± n/a"


def _needle(methods: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "budget": 0.2, "context_tokens": 64, "depth": d, "accuracy": 0.5,
                          "samples": 4} for m in methods for d in (0.1, 0.9)])


@pytest.mark.parametrize(("methods", "message"), [
    (("full", "snapkv"), "chelsea.fig6 needs runs of chelsea; the runs have full, snapkv"),
    (("chelsea", "snapkv"), "chelsea.fig6 needs runs of full; the runs have chelsea, snapkv"),
    (("full", "chelsea", "cam"), "chelsea.fig6 needs a run of one of streaming_llm, snapkv, h2o; the runs have full, "
                                 "chelsea, cam"),
])
def test_fig6_without_an_arm_says_which(methods, message):
    assert _raises(chelsea.draw_fig6, chelsea.NEEDLE, _needle(methods)) == message
    assert chelsea.verdict_fig6(_needle(methods)).status == "not_checkable"


def test_tab2_and_fig7_without_chelsea_say_so():
    decode = _decode()
    full = decode[decode["method"] == "full"]
    assert _raises(chelsea.draw_tab2, chelsea.DECODE, full) == "chelsea.tab2 needs runs of chelsea; the runs have full"
    assert _raises(chelsea.draw_fig7, chelsea.DECODE, full) == "chelsea.fig7 needs runs of chelsea; the runs have full"
    assert chelsea.verdict_fig7(full).explanation == "the latency check needs runs of chelsea; the runs have full"


def test_tab2_without_a_paper_context_says_which():
    decode = _decode()
    message = _raises(chelsea.draw_tab2, chelsea.DECODE, decode[decode["context_tokens"] != 65536])
    assert message == "chelsea.tab2 (Full) needs runs of 65536 tokens; the runs have 16384 tokens, 32768 tokens"
    verdict = chelsea.verdict_tab2(decode[decode["context_tokens"] != 16384])
    assert verdict.explanation == ("the speedup check (Chelsea) needs runs of 16384 tokens; the runs have 32768 "
                                   "tokens, 65536 tokens")


def _chunk_time(chunks: tuple[int, ...]) -> pd.DataFrame:
    return pd.DataFrame([{"workload.chunk_size": c, "context_tokens": 65536, "prefill_compress_ms": c / 64}
                         for c in chunks])


@pytest.mark.parametrize(("chunks", "message"), [
    ((16, 65536), "chelsea.tab3 at 65536 tokens needs runs of chunks of 256; the runs have chunks of 16, chunks of "
                  "65536"),
    ((16, 256), "chelsea.tab3 at 65536 tokens needs a run without chunking (a chunk of 65536); the runs have chunks "
                "of 16, chunks of 256"),
])
def test_tab3_without_a_compared_chunk_size_says_which(chunks, message):
    assert _raises(chelsea.draw_tab3, chelsea.CHUNK_TIME, _chunk_time(chunks)) == message


@pytest.mark.parametrize(("fractions", "message"), [
    ((0.25,), "chelsea.tab5 needs runs of 0% outlier heads; the runs have 25% outlier heads"),
    ((0.0,), "chelsea.tab5 needs runs with outlier heads kept whole; the runs have 0% outlier heads"),
])
def test_tab5_without_one_side_says_which(fractions, message):
    data = pd.DataFrame({"outlier_fraction": fractions, "context_tokens": 96, "task": "copy", "accuracy": 0.5,
                         "samples": 8})
    assert _raises(chelsea.draw_tab5, chelsea.OUTLIERS, data) == message
    assert chelsea.verdict_tab5(data).status == "not_checkable"


def test_tab4_verdict_with_one_chunk_size_below_the_context_is_not_checkable():
    data = pd.DataFrame({"chunk_size": [4, 192], "context_tokens": 192, "task": "copy", "accuracy": [0.5, 0.7],
                         "samples": 8})
    verdict = chelsea.verdict_tab4(data)
    assert verdict.status == "not_checkable"
    assert verdict.explanation == ("the chunk-size check needs two chunk sizes below the longest context (192 "
                                   "tokens); the runs have 4, 192")


def test_an_empty_sweep_says_so():
    empty = pd.DataFrame({"layer": [], "distance": [], "cosine": []})
    assert _raises(chelsea.draw_fig3, chelsea.KEYS, empty) == (
        "chelsea.fig3 needs the runs of scenarios/chelsea/key_similarity.yaml; the sweep has none")
