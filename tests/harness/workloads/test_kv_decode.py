"""The kv_decode kind (harness/workloads/kv_decode.py): decode rows priced from the timing tables, analytic KV
memory, the serving engine's admitted / queued / rejected counts, and bad input named by key (exit 2)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from harness.config.loader import validate_data
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.kv_decode import KVDecodeScenario, run


def _scenario(**workload):
    return KVDecodeScenario.model_validate({"name": "t", "cluster": {"device": "h100"}, "workload": workload})


def test_decode_rows_speedup_grows_with_context_and_memory_matches_the_formula():
    out = run(_scenario(context_tokens=[4096, 16384, 65536]), RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics
    ch = m[m["method"] == "chelsea"].set_index("context_tokens")
    full = m[m["method"] == "full"].set_index("context_tokens")
    assert (np.diff(ch["decode_speedup"].to_numpy()) > 0).all() and (ch["decode_speedup"] > 1).all()
    assert (full["decode_speedup"] == 1).all()
    # full KV: 2 (K, V) x 32 layers x 8 heads x 128 dims x 2 bytes per token
    assert full.loc[65536, "kv_bytes"] == 2 * 32 * 8 * 128 * 2 * (65536 + 256)
    budget = int(0.2 * (65536 + 256))
    assert ch.loc[65536, "kv_bytes"] == 32 * (2 * 8 * 128 * 2 + 8 * 4) * (budget + 32)
    assert 0.75 < ch.loc[65536, "memory_reduction"] < 0.8
    assert (ch["prefill_compress_ms"] > 0).all() and (full["prefill_compress_ms"] == 0).all()
    assert out.info["timing"]["timing_sources"]["matmul"]


def test_one_chunk_over_everything_costs_more_than_chunks():
    ctx = RunContext(seed_seq=np.random.SeedSequence(0))
    small = run(_scenario(context_tokens=[65536], methods=["chelsea"], chunk_size=256), ctx).metrics
    whole = run(_scenario(context_tokens=[65536], methods=["chelsea"], chunk_size=131072), ctx).metrics
    assert whole["prefill_compress_ms"].iloc[0] > small["prefill_compress_ms"].iloc[0]


def test_serving_counts_add_up_and_compression_admits_more():
    serving = {"arrival_rate_per_s": 2.0, "requests": 40, "prompt_tokens": 32768, "kv_memory_gib": 10,
               "max_batch": 64, "max_queue": 1000}
    out = run(_scenario(output="serving", context_tokens=[32768], serving=serving),
              RunContext(seed_seq=np.random.SeedSequence(1)))
    rows = out.metrics.set_index("method")
    for method in ("full", "chelsea"):
        r = rows.loc[method]
        assert r["admitted"] + r["rejected_memory"] + r["rejected_queue"] == 40
        assert r["tokens"] == r["admitted"] * 256
    assert rows.loc["chelsea", "max_concurrent"] > rows.loc["full", "max_concurrent"]
    assert rows.loc["full", "queued"] >= rows.loc["chelsea", "queued"]


def test_a_request_larger_than_the_kv_limit_is_rejected_for_memory():
    serving = {"requests": 5, "prompt_tokens": 131072, "kv_memory_gib": 4}
    out = run(_scenario(output="serving", context_tokens=[131072], methods=["full"], serving=serving),
              RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.metrics["rejected_memory"].iloc[0] == 5 and out.metrics["admitted"].iloc[0] == 0


@pytest.mark.parametrize(("key", "value", "message"), [
    ("budget", 0, "workload.budget"), ("budget", 1.5, "workload.budget"),
    ("chunk_size", 0, "workload.chunk_size"), ("recent_tokens", 5000, "recent_tokens"),
])
def test_bad_input_names_the_key(key, value, message):
    data = {"name": "t", "kind": "kv_decode", "workload": {"context_tokens": [4096], key: value}}
    with pytest.raises(ScenarioError, match=message):
        validate_data(data, "s.yaml")


def test_cli_exits_2_on_a_bad_budget(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nkind: kv_decode\nworkload:\n  budget: 0\n")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(path), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "workload.budget" in proc.stderr


def test_context_tokens_are_bounded_like_the_serving_prompt():
    data = {"name": "t", "kind": "kv_decode", "workload": {"context_tokens": [10**12], "decode_tokens": 16}}
    with pytest.raises(ScenarioError, match=r"workload\.context_tokens\.0: expected an integer <= 4194304"):
        validate_data(data, "s.yaml")
    schema = KVDecodeScenario.model_json_schema()["$defs"]["KVDecodeWorkload"]["properties"]["context_tokens"]
    assert schema["items"]["maximum"] == 1 << 22


def test_the_longest_context_runs_in_closed_form():
    # chunks of 2: the most soft-matching passes and chunks a prompt of 2**22 tokens can have
    out = run(_scenario(context_tokens=[1 << 22], decode_tokens=16, chunk_size=2),
              RunContext(seed_seq=np.random.SeedSequence(0))).metrics
    numbers = out.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(numbers).all() and (out["tpot_ms"] > 0).all()
    assert out.set_index("method").loc["chelsea", "prefill_compress_ms"] > 0


@pytest.mark.parametrize(("workload", "override", "key"), [
    ({"output": "serving", "serving": {"max_batch": 1}}, "workload.serving.prompt_tokens=1",
     "workload.serving.prompt_tokens"),
    ({"context_tokens": [4096]}, "workload.context_tokens=[50]", "workload.context_tokens"),
    ({"context_tokens": [4096]}, "workload.recent_tokens=5000", "workload.recent_tokens"),
    ({"context_tokens": [4096]}, "workload.sink_tokens=5000", "workload.sink_tokens"),
])
def test_windows_longer_than_the_context_blame_the_key_set(workload, override, key):
    data = {"name": "t", "kind": "kv_decode", "workload": workload}
    with pytest.raises(ScenarioError) as err:
        validate_data(data, "s.yaml", [override])
    line = str(err.value)
    assert f"{key}: " in line and f"(set by --set {override})" in line
    assert "sink_tokens" in line and "recent_tokens" in line


def test_serving_reads_only_its_prompt_length():
    # decode rows' context_tokens are not read by a serving run: too short for the windows there is no problem
    scenario = validate_data({"name": "t", "kind": "kv_decode",
                              "workload": {"output": "serving", "context_tokens": [8]}}, "s.yaml")
    assert scenario.workload.output == "serving" and list(scenario.workload.context_tokens) == [8]


def test_a_serving_run_simulates_a_bounded_number_of_decoded_tokens():
    data = {"name": "t", "kind": "kv_decode", "workload": {"output": "serving"}}
    with pytest.raises(ScenarioError, match=r"workload\.serving\.requests: .*16,777,216") as err:
        validate_data(data, "s.yaml", ["workload.serving.requests=1000000"])
    assert "(set by --set workload.serving.requests=1000000)" in str(err.value)
    with pytest.raises(ScenarioError, match=r"workload\.decode_tokens: "):
        validate_data(data, "s.yaml", ["workload.decode_tokens=1048576"])
    validate_data(data, "s.yaml", ["workload.serving.requests=65536"])  # 65536 x 256 = 2**24: the bound itself
