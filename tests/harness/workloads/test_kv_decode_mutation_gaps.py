"""Gaps in the tests of `kv_decode` found by a mutation audit.

Closed here, on a tiny model priced by a replay whose every op takes (product of its shape) ms, so each price is
worked out by hand:

- the weight GEMMs of a token batch (q, k, v, o, gate, up, down and the LM head), prefill attention per layer,
  decode attention reading one count per entry for Chelsea;
- one soft-matching pass (key copy, chunk scores over ceil(middle / chunk) chunks of half-chunk rows, global top-r,
  merge copy of K and V), nothing for r = 0, and prefill compression down to exactly the budget;
- the budget's floor at the protected windows, a cache never larger than prompt + decode, the decode step's cache
  length and merge only once the prompt exceeds the budget, and full attention per request of a batch;
- the model's parameters (Llama-3.1-8B: 8,030,261,248), the fits column at equality, end-to-end latency
  including the prefill compression;
- serving: a reservation equal to the KV limit is admitted, the queue holds at most max_queue requests (the rest
  are rejected), a request counts as queued once it waited, and max_concurrent is the whole number that fits;
  every method serves one arrival sequence (before, each drew its own, from a child that moved with the list);
- validation: n_heads dividing d_model and a multiple of kv_heads, the serving bound just above 2**24 decoded
  tokens, and which key it blames when both factors grew alike.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config.loader import validate_data
from harness.errors import ScenarioError
from harness.timing.replay import Prediction
from harness.workloads.base import RunContext
from harness.workloads.kv_decode import (
    GIB,
    CostModel,
    DecodeModel,
    KVDecodeScenario,
    KVDecodeWorkload,
    decode_rows,
    run,
)

#: d 8, d_ff 16, 2 query heads of 4, 1 KV head, 3 layers, vocabulary 32
SMALL = DecodeModel(d_model=8, d_ff=16, n_heads=2, kv_heads=1, n_layers=3, vocab_size=32)


class ShapeProduct:
    """Every op takes the product of its shape's values, in ms."""

    def predict(self, op, *, impl=None, dtype="bfloat16", **shape):
        return Prediction(float(math.prod(shape.values())), "exact", "")


def _cost(**workload) -> CostModel:
    defaults = dict(model=SMALL, context_tokens=[64], decode_tokens=8, budget=0.25, sink_tokens=4, recent_tokens=4,
                    chunk_size=8, buffer_tokens=4)
    return CostModel(KVDecodeWorkload(**{**defaults, **workload}), ShapeProduct())


def test_weights_and_prefill_by_hand():
    cost = _cost()
    # per layer and token: q, o 8 x 8 each; k, v 4 x 8 each; gate, up 16 x 8 each; down 8 x 16: 576; LM head 32 x 8
    assert cost.weights_ms(1) == 3 * 576 + 256
    assert cost.weights_ms(5) == 5 * (3 * 576 + 256)
    # prefill attention: (2 query heads, 5 tokens, head dim 4) per layer
    assert cost.prefill_ms(5) == 5 * (3 * 576 + 256) + 3 * 2 * 5 * 4


def test_decode_attention_reads_k_v_and_chelsea_counts():
    cost = _cost()
    # 10 entries x 1 KV head x head dim 4 elements, plus one count per entry for Chelsea, in 3 layers
    assert cost.attention_ms(10, False) == 3 * 40
    assert cost.attention_ms(10, True) == 3 * 50


def test_one_soft_matching_pass_by_hand():
    cost = _cost()
    # length 40: middle 32 (8 protected), 4 chunks of 8, half 4: key copy 128, scores (16, 4, 4) = 256,
    # top-3 of 16 edges = 48, merge copy 2 x 40 x 4 = 320; 3 layers
    assert cost.pass_ms(40, 3) == 3 * (128 + 256 + 48 + 320)
    # length 44: middle 36 is ceil(36 / 8) = 5 chunks: scores (20, 4, 4) = 320
    assert cost.pass_ms(44, 3) == 3 * (144 + 320 + 54 + 352)
    assert cost.pass_ms(40, 0) == 0.0
    # one entry over the target: one more pass merging 1 (length 41: middle 33, 5 chunks)
    assert cost.prefill_compress_ms(41, 40) == 3 * (132 + 320 + 16 + 328)
    assert cost.prefill_compress_ms(40, 40) == 0.0


def test_budget_and_cache_sizes():
    assert _cost().budget(64) == 18  # floor(0.25 x (64 + 8))
    assert _cost(budget=0.05).budget(64) == 8  # floor(3.6) = 3, raised to the 4 + 4 protected entries
    assert _cost().max_entries("chelsea", 64) == 18 + 4
    assert _cost(budget=1.0).max_entries("chelsea", 64) == 64 + 8  # never more than prompt + decode
    assert _cost().max_entries("full", 64) == 72


def test_decode_step_by_hand():
    cost = _cost()
    # full, two requests: weights at 2 tokens, attention over 64 entries for each request
    assert cost.tpot_ms("full", 64, batch=2) == (2 * (3 * 576 + 256), 2 * 3 * 64 * 4, 0.0)
    # Chelsea, B 18, g 4: the cache averages 18 + 2 = 20 entries; a pass at 22 merges 4, a quarter per token
    weights, attention, merge = cost.tpot_ms("chelsea", 64)
    assert (weights, attention) == (3 * 576 + 256, 3 * 20 * 5)
    # length 22: middle 14, 2 chunks: key copy 56, scores (8, 4, 4) = 128, top-4 of 7 = 28, merge copy 176
    assert merge == 3 * (56 + 128 + 28 + 176) / 4
    # budget 1: B = 72 > the prompt: the cache holds the prompt and nothing is merged
    assert _cost(budget=1.0).tpot_ms("chelsea", 64) == (3 * 576 + 256, 3 * 64 * 5, 0.0)


def test_decode_rows_fit_at_equality_and_include_compression():
    # parameters: 3 x (2 x 64 + 2 x 32 + 3 x 128 + 16) + 2 x 32 x 8 + 8 = 2296, bf16: 4592 bytes
    # full cache: 3 layers x (K, V) x 4 elements x 2 bytes x 72 entries = 3456 bytes
    total = 4592 + 3456
    for capacity, fits in ((total, True), (total - 1, False)):
        w = KVDecodeWorkload(model=SMALL, context_tokens=[64], decode_tokens=8, methods=["full", "chelsea"],
                             sink_tokens=4, recent_tokens=4, chunk_size=8, buffer_tokens=4,
                             capacity_gib=capacity / GIB)
        rows = decode_rows(w, CostModel(w, ShapeProduct())).set_index("method")
        assert rows.loc["full", "weights_bytes"] == 4592 and rows.loc["full", "kv_bytes"] == 3456
        assert bool(rows.loc["full", "fits"]) is fits
    chelsea = rows.loc["chelsea"]
    assert chelsea["prefill_compress_ms"] > 0
    assert chelsea["end_to_end_ms"] > chelsea["prefill_ms"] + 8 * chelsea["tpot_ms"]


def test_llama_3_1_8b_has_its_published_parameter_count():
    out = run(KVDecodeScenario.model_validate({"name": "t", "cluster": {"device": "h100"},
                                               "workload": {"context_tokens": [4096], "methods": ["full"]}}),
              RunContext(seed_seq=np.random.SeedSequence(0)))
    assert DecodeModel().parameters() == 8_030_261_248
    assert out.metrics["weights_bytes"].iloc[0] == 2 * 8_030_261_248


def test_query_heads_must_be_a_multiple_of_kv_heads_and_divide_the_width():
    with pytest.raises(ValueError, match="d_model 4096 is not divisible by n_heads 24"):
        DecodeModel(n_heads=24, kv_heads=8)
    with pytest.raises(ValueError, match="n_heads 32 is not a multiple of kv_heads 5"):
        DecodeModel(kv_heads=5)


def test_the_serving_bound_and_the_key_it_blames():
    data = {"name": "t", "kind": "kv_decode", "workload": {"output": "serving"}}
    with pytest.raises(ScenarioError, match=r"workload\.serving\.requests: .* = 16,777,472 decoded"):
        validate_data(data, "s.yaml", ["workload.serving.requests=65537"])  # 65537 x 256: one request too many
    # both factors 26x their defaults (100 requests, 256 tokens): the requests are blamed
    with pytest.raises(ScenarioError, match=r"workload\.serving\.requests: .* 2600 x 6656"):
        validate_data(data, "s.yaml", ["workload.serving.requests=2600", "workload.decode_tokens=6656"])


#: Llama-3.1-8B's full cache for 8192 + 256 tokens: 32 layers x (K, V) x 8 heads x 128 x 2 bytes x 8448 = 1.03125 GiB
RESERVE_GIB = 32 * 2 * 8 * 128 * 2 * 8448 / GIB


def _serve(**serving):
    spec = {"prompt_tokens": 8192, "requests": 3, "arrival_rate_per_s": 1.0, **serving}
    scenario = KVDecodeScenario.model_validate({"name": "t", "cluster": {"device": "h100"}, "workload": {
        "output": "serving", "methods": ["full"], "serving": spec}})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]


def test_a_reservation_equal_to_the_kv_limit_is_admitted():
    assert RESERVE_GIB == 1.03125
    row = _serve(kv_memory_gib=RESERVE_GIB)
    assert (row["admitted"], row["rejected_memory"], row["max_concurrent"]) == (3, 0, 1)
    assert row["kv_reservation_gib"] == RESERVE_GIB


def test_the_queue_holds_max_queue_requests_and_rejects_the_rest():
    # five requests within microseconds, one decoded at a time: the first runs, the second waits, three are refused
    row = _serve(requests=5, arrival_rate_per_s=1e6, max_batch=1, max_queue=1)
    assert (row["admitted"], row["queued"], row["rejected_queue"], row["rejected_memory"]) == (2, 1, 3, 0)


def test_max_concurrent_is_the_whole_number_of_reservations_that_fit():
    assert _serve(kv_memory_gib=2.7 * RESERVE_GIB)["max_concurrent"] == 2


def test_every_method_serves_the_same_arrival_sequence(monkeypatch):
    """Common random numbers: the methods are compared on one draw of request arrivals, whatever their order."""
    import harness.workloads.kv_decode as kv_decode

    first_gaps = {}

    def recording_serve(w, cost, method, rng):
        first_gaps[method] = rng.exponential(size=3).tolist()
        return {}

    monkeypatch.setattr(kv_decode, "serve", recording_serve)
    for methods in (["full", "chelsea"], ["chelsea", "full"]):
        scenario = KVDecodeScenario.model_validate({"name": "t", "cluster": {"device": "h100"}, "workload": {
            "output": "serving", "methods": methods, "serving": {"prompt_tokens": 8192, "requests": 3}}})
        run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))
        assert first_gaps["full"] == first_gaps["chelsea"]
