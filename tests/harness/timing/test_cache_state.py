"""harness/timing/cache_state.py: tables at several cache states, blended in log2 of the flush at the bytes a step
touches; harness.cost.training_step.step_touched_bytes, the cache state a step is priced at."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cost.training_step import OpCall, price, step_touched_bytes
from harness.errors import HarnessError
from harness.models.llama import LlamaDims
from harness.timing.cache_state import CacheStateReplay, blend_weights, find_family
from methods.memory.analytic import Shape, Technique, activation_bytes_per_token, static_bytes
from tests.harness.timing.table_edits import add_bf16_rows, update_roofline

# cpu-f4: the cpu fixture's times; cpu-f64: twice them
TIMINGS = Path(__file__).parents[2] / "data" / "timings"
MIB = 1 << 20
COPY_4MIB_MS = 0.028214  # tests/data/timings/cpu-f4/copy.csv, numel 65536


def test_weights_bracket_the_touched_bytes_in_log2_and_clamp_outside():
    flushes = [4 * MIB, 16 * MIB, 64 * MIB]
    assert blend_weights(flushes, 1 * MIB) == [(0, 1.0)]
    assert blend_weights(flushes, 16 * MIB) == [(1, 1.0)]
    assert blend_weights(flushes, 1 << 40) == [(2, 1.0)]
    (lo, w_lo), (hi, w_hi) = blend_weights(flushes, 8 * MIB)
    assert (lo, hi) == (0, 1) and w_lo == pytest.approx(0.5) and w_hi == pytest.approx(0.5)
    (_, w_lo), (_, w_hi) = blend_weights(flushes, 32 * MIB)
    assert w_hi == pytest.approx(0.5)
    # a set timed without a flush sits one octave below the next one
    (_, w0), (_, w1) = blend_weights([0, 4 * MIB], 2 * MIB)
    assert w1 == pytest.approx(0.0) and w0 == pytest.approx(1.0)


def test_a_call_is_priced_between_the_two_sets_that_bracket_its_cache_state():
    family = CacheStateReplay(TIMINGS, "cpu")
    assert family.flush_bytes == [4 * MIB, 64 * MIB]
    low = family.at(4 * MIB).predict("copy", numel=65536)
    assert low.time_ms == pytest.approx(COPY_4MIB_MS) and low.source == "exact"
    middle = family.at(16 * MIB).predict("copy", numel=65536)  # log2: halfway between 4 and 64 MiB
    assert middle.time_ms == pytest.approx(1.5 * COPY_4MIB_MS) and middle.source == "interpolated"
    assert "cpu-f4 (weight 0.5)" in middle.detail and "cpu-f64 (weight 0.5)" in middle.detail
    assert family.at(1 << 40).predict("copy", numel=65536).time_ms == pytest.approx(2 * COPY_4MIB_MS)
    roofline = family.at(16 * MIB).predict("rmsnorm_fwd", rows=64, dim=64)  # no rmsnorm table in the fixture
    assert roofline.source == "roofline"
    view = family.at(16 * MIB)
    view.predict("copy", numel=65536)
    assert view.summary() == {"copy": {"interpolated": 1}}
    assert set(family.provenance()) == {"cpu-f4", "cpu-f64"}
    assert family.provenance()["cpu-f64"]["cpu_flush_bytes"] == 64 * MIB


@settings(max_examples=60, deadline=None)
@given(a=st.floats(0.5, 512.0), b=st.floats(0.5, 512.0), numel=st.integers(65536, 4194304))
def test_a_larger_cache_state_never_prices_a_call_lower_when_the_sets_grow_with_the_flush(a, b, numel):
    family = CacheStateReplay(TIMINGS, "cpu")
    small, large = sorted((a, b))
    t_small = family.at(small * MIB).predict("copy", numel=numel).time_ms
    t_large = family.at(large * MIB).predict("copy", numel=numel).time_ms
    at_4 = family.at(4 * MIB).predict("copy", numel=numel).time_ms
    assert at_4 <= t_small <= t_large + 1e-12 <= 2 * at_4 + 1e-9


def _copy_set(tmp_path: Path, name: str, flush: int | None) -> None:
    shutil.copytree(TIMINGS / "cpu-f4", tmp_path / name)
    meta = json.loads((tmp_path / name / "meta.json").read_text())
    meta["device"] = name
    meta.pop("cpu_flush_bytes")
    if flush is not None:
        meta["cpu_flush_bytes"] = flush
    (tmp_path / name / "meta.json").write_text(json.dumps(meta))


def test_a_family_set_whose_meta_disagrees_with_its_name_is_a_user_error(tmp_path):
    _copy_set(tmp_path, "cpu-f4", 4 * MIB)
    _copy_set(tmp_path, "cpu-f16", 8 * MIB)
    with pytest.raises(HarnessError, match=r"cpu-f16/meta.json: cpu_flush_bytes is 8388608.*16 MiB"):
        find_family(tmp_path, "cpu")
    _copy_set(tmp_path, "cpu-2t-f16", None)  # another family's set is not this family's member
    shutil.rmtree(tmp_path / "cpu-f16")
    assert [f.name for _, f in find_family(tmp_path, "cpu")] == ["cpu-f4"]
    with pytest.raises(HarnessError, match="found 1 set.*need at least 2.*--cpu-flush-mib"):
        CacheStateReplay(tmp_path, "cpu")


def test_a_step_touches_its_parameters_gradients_optimizer_states_and_saved_activations():
    dims = LlamaDims(d_model=64, d_ff=192, n_heads=2, n_layers=2, vocab_size=1024, fused_qkv=True)
    shape = Shape(d_model=64, d_ff=192, n_heads=2, n_layers=2, vocab_size=1024)
    static = static_bytes(shape, dtype="float32", optimizer="adamw")
    per_token = sum(activation_bytes_per_token(shape, Technique(), "float32").values())
    assert step_touched_bytes(dims, 2, 64) == static.total + 128 * per_token
    assert step_touched_bytes(dims, 4, 64) - step_touched_bytes(dims, 2, 64) == 128 * per_token
    sgd = step_touched_bytes(dims, 2, 64, optimizer="sgd_momentum")
    assert sgd == step_touched_bytes(dims, 2, 64) - static.optimizer_states + static_bytes(
        shape, dtype="float32", optimizer="sgd_momentum").optimizer_states


def _family_with(tmp_path: Path, *, bf16_scale: float, gap_us: float) -> CacheStateReplay:
    """The fixture family copied, with bfloat16 copy rows at ``bf16_scale`` x the float32 ones and a measured
    dispatch gap of ``gap_us`` in every set."""
    for name in ("cpu-f4", "cpu-f64"):
        shutil.copytree(TIMINGS / name, tmp_path / name)
        add_bf16_rows(tmp_path / name, ("copy",), bf16_scale)
        update_roofline(tmp_path / name, kernel_floor_us=0.0, dispatch_gap_us=gap_us)
    return CacheStateReplay(tmp_path, "cpu")


def test_a_view_passes_dtype_and_impl_through_and_prices_the_dispatch_gap(tmp_path):
    family = _family_with(tmp_path, bf16_scale=0.25, gap_us=7.0)
    view = family.at(16 * MIB)
    fp32 = view.predict("copy", numel=65536).time_ms
    assert view.predict("copy", dtype="bfloat16", numel=65536).time_ms == pytest.approx(0.25 * fp32)
    assert view.predict("copy", impl="torch", numel=65536).time_ms == pytest.approx(fp32)
    missing = view.predict("copy", impl="triton", numel=65536)  # an impl the tables lack: not another's rows
    assert missing.source == "roofline" and "impl=triton" in missing.detail
    assert view.device.dispatch_gap_us == 7.0  # what a step model adds per launch
    calls = [OpCall("copy", {"numel": 65536}, "copy", count=3, launches=2)]
    priced = price(calls, view, "float32")
    assert priced.n_launches == 6
    assert priced.time_ms == pytest.approx(3 * fp32 + 6 * 7.0e-3)


def test_a_blend_reports_its_least_exact_part_and_counts_every_call(tmp_path):
    family = _family_with(tmp_path, bf16_scale=1.0, gap_us=0.0)
    on_grid, off_grid = family.at(16 * MIB), family.at(4 * MIB)
    assert off_grid.predict("copy", numel=65536).source == "exact"
    assert off_grid.predict("copy", numel=100000).source == "interpolated"  # between two measured sizes
    assert on_grid.predict("copy", numel=65536).source == "interpolated"  # two sets blended
    for _ in range(2):
        on_grid.predict("rmsnorm_fwd", rows=64, dim=64)
    assert on_grid.summary() == {"copy": {"interpolated": 1}, "rmsnorm_fwd": {"roofline": 2}}
    assert off_grid.summary() == {"copy": {"exact": 1, "interpolated": 1}}


def test_find_family_skips_files_and_other_names_beside_its_sets(tmp_path):
    _copy_set(tmp_path, "cpu-f4", 4 * MIB)
    (tmp_path / "cpu-f16").write_text("not a table set")  # a file with a member's name
    (tmp_path / "cpu-fast").mkdir()  # a folder whose name only starts like one
    _copy_set(tmp_path, "cpu-f64", 64 * MIB)
    assert [(flush, f.name) for flush, f in find_family(tmp_path, "cpu")] == [(4 * MIB, "cpu-f4"),
                                                                              (64 * MIB, "cpu-f64")]
    provenance = CacheStateReplay(tmp_path, "cpu").provenance()["cpu-f64"]
    assert provenance["folder"].endswith("cpu-f64") and provenance["table_hashes"]
    assert {"device_name", "date", "timing_sources"} <= set(provenance)
