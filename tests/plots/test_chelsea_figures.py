"""Chelsea figures (plots/papers/chelsea.py): every checklist id registered, static diagrams not checkable, and
each verdict moves the right way on small hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from plots.papers import chelsea, load_all
from plots.registry import FIGURES, load_checklist


def test_every_chelsea_checklist_id_is_registered_with_verdict_logic():
    load_all()
    ids = {i for i, e in load_checklist().items() if e.paper == "chelsea"}
    assert ids == set(chelsea.VERDICTS)
    assert all(figure_id in FIGURES for figure_id in ids)


def test_static_diagrams_are_not_checkable():
    data = chelsea._layout()
    assert chelsea.verdict_fig1(data).status == "not_checkable"
    assert set(data["role"]) == {"sink", "A", "B", "recent"}
    assert (data.loc[data["merged_into"] >= 0, "role"] == "A").all()


def _quality(chelsea_acc: float, snap: float, full: float = 0.9) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for method, budget, acc in (("full", 1.0, full), ("snapkv", 0.2, snap), ("chelsea", 0.2, chelsea_acc),
                                    ("chelsea", 0.5, 0.0)):
            rows.append({"model_seed": seed, "method": method, "budget": budget, "context_tokens": 256,
                         "task": "recall", "accuracy": acc, "samples": 8, "cache_tokens": 50})
    return pd.DataFrame(rows)


def test_tab1_verdict_follows_chelsea_vs_full_and_baselines():
    assert chelsea.verdict_tab1(_quality(0.88, 0.5)).status == "reproduced"
    assert chelsea.verdict_tab1(_quality(0.3, 0.5)).status == "partly"  # only "Full solves the suite" holds
    table = chelsea._table_at(_quality(0.88, 0.5), 0.2)
    assert list(table["method"]) == ["Full", "SnapKV", "Chelsea"]


def _decode(speedups: dict[int, float]) -> pd.DataFrame:
    rows = []
    for c, s in speedups.items():
        rows.append({"method": "full", "context_tokens": c, "tpot_ms": 10.0, "weights_ms": 5, "attention_ms": 5,
                     "merge_ms": 0, "kv_bytes": 100, "peak_gib": 20, "decode_speedup": 1.0, "memory_reduction": 0})
        rows.append({"method": "chelsea", "context_tokens": c, "tpot_ms": 10.0 / s, "weights_ms": 5,
                     "attention_ms": 1, "merge_ms": 0.1, "kv_bytes": 20, "peak_gib": 16, "decode_speedup": s,
                     "memory_reduction": 0.8})
    return pd.DataFrame(rows)


def test_tab2_verdict_judges_the_speedups_against_the_paper():
    assert chelsea.verdict_tab2(_decode({16384: 1.2, 32768: 2.0, 65536: 3.1})).status == "reproduced"
    assert chelsea.verdict_tab2(_decode({16384: 1.05, 32768: 1.1, 65536: 1.3})).status == "partly"


def test_fig3_verdict_detects_a_non_monotone_profile():
    d = np.arange(1, 33)
    good = pd.DataFrame({"layer": 0, "distance": d, "cosine": 0.2 + 0.8 * np.exp(-d / 4)})
    bad = pd.DataFrame({"layer": 0, "distance": d, "cosine": 0.5 + 0.3 * np.sin(d)})
    assert chelsea.verdict_fig3(good).status == "reproduced"
    assert chelsea.verdict_fig3(bad).status != "reproduced"
    assert chelsea.verdict_fig2(good).status == "reproduced"


def test_ablation_and_chunking_verdicts():
    tab3 = pd.DataFrame({"chunk_size": [256, 131072], "context_tokens": [65536, 65536],
                         "prefill_compress_ms": [1.0, 50.0]})
    assert chelsea.verdict_tab3(tab3).status == "reproduced"
    tab5 = pd.DataFrame({"outlier_fraction": [0.0, 0.25], "context_tokens": 256, "task": "recall",
                         "accuracy": [0.5, 0.4], "samples": 8})
    assert chelsea.verdict_tab5(tab5).status == "not_reproduced"
    heads = pd.DataFrame({"layer": [0, 0, 1, 1], "kv_head": [0, 1, 0, 1], "relative_error": [0.1, 0.1, 0.1, 0.5]})
    assert chelsea.verdict_fig5(heads).status == "reproduced"
