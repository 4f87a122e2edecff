"""The study's comparison and table writing (harness.fidelity.study) on synthetic measurements, and the CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.fidelity.netns import tbf_burst_bytes
from harness.fidelity.predict import (
    loopback_hop,
    netns_hop,
    predict_allreduce_ns,
    predict_dp_step_ns,
    tcp_payload_efficiency,
)
from harness.fidelity.study import (
    QUICK_PLAN,
    MlpShape,
    StudyResult,
    compare_group,
    split_raw,
    summarize_tables,
    write_tables,
)

SIZES = [4096, 65536, 1 << 20, 16 << 20]
ALPHA_NS, NS_PER_BYTE = 150_000.0, 0.5
SHAPE = MlpShape(64, 2, 8)


def _measured(setting: str, n_ranks: int, rate_mbit=None, allreduce_scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Ping-pong exactly on the alpha-beta line (through tbf: headers and burst), all-reduce = our model's
    prediction x allreduce_scale."""
    wire, free = 1.0, 0.0
    if setting == "netns":
        wire, free = 1 / tcp_payload_efficiency(1500), tbf_burst_bytes(rate_mbit, 1500)
    pingpong = pd.DataFrame({"size_bytes": SIZES, "time_ms_median": [
        (ALPHA_NS + NS_PER_BYTE * max(0.0, s * wire - free)) / 1e6 for s in SIZES]})
    if setting == "loopback":
        hop = loopback_hop(ALPHA_NS, 1 / NS_PER_BYTE)
    else:
        hop = netns_hop(ALPHA_NS, rate_mbit)
    allreduce_ms = [allreduce_scale * predict_allreduce_ns(setting, n_ranks, s, hop, "gloo_ring", "closed_form") / 1e6
                    for s in SIZES]
    step_ms = predict_dp_step_ns(setting, n_ranks, 10_000_000, SHAPE.grad_bytes, hop, "gloo_ring", "closed_form") / 1e6
    common = {"setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks}
    spread = {"time_ms_p10": 0.0, "time_ms_p90": 0.0, "n_repeats": 3}
    return {
        "pingpong": pingpong.assign(**common, **spread),
        "allreduce": pd.DataFrame({"size_bytes": SIZES, "time_ms_median": allreduce_ms}).assign(**common, **spread),
        "dp_step": pd.DataFrame([{**common, "width": SHAPE.width, "depth": SHAPE.depth, "batch": SHAPE.batch,
                                  "grad_bytes": SHAPE.grad_bytes, "time_ms_median": step_ms, **spread}]),
    }


COMPUTE = pd.DataFrame([{"width": SHAPE.width, "depth": SHAPE.depth, "batch": SHAPE.batch,
                         "grad_bytes": SHAPE.grad_bytes, "time_ms_median": 10.0}])


@pytest.mark.parametrize(("setting", "rate_mbit"), [("loopback", None), ("netns", 100.0)])
def test_a_perfect_model_has_zero_error_and_recovers_the_fit(setting, rate_mbit):
    fit_row, table = compare_group(setting, 2, _measured(setting, 2, rate_mbit), COMPUTE, n_cores=2,
                                   rate_mbit=rate_mbit)
    assert fit_row["alpha_us"] == pytest.approx(ALPHA_NS / 1e3, rel=1e-6)
    assert fit_row["ns_per_byte"] == pytest.approx(NS_PER_BYTE, rel=1e-6)
    assert table["op"].tolist() == ["all_reduce"] * len(SIZES) + ["dp_step"]
    assert table["error_pct"].abs().max() < 1e-6
    assert (table["predicted_ms_closed_form"] == table["predicted_ms_link_level"]).all()
    other = "error_pct_full_duplex" if setting == "loopback" else "error_pct_fitted_beta"
    assert other in table and "error_pct_textbook_ring" in table


def test_errors_have_the_sign_of_the_simulator_being_too_slow():
    # measured 20 % faster than the model -> the model is 25 % too slow
    _, table = compare_group("loopback", 2, _measured("loopback", 2, allreduce_scale=0.8), COMPUTE, n_cores=2)
    allreduce = table[table["op"] == "all_reduce"]
    assert allreduce["error_pct"].to_numpy() == pytest.approx([25.0] * len(SIZES))


def test_four_ranks_on_two_cores_share_the_cpu_for_compute():
    _, table = compare_group("loopback", 4, _measured("loopback", 4), COMPUTE, n_cores=2)
    step = table[table["op"] == "dp_step"].iloc[0]
    assert step["cpu_share_factor"] == 2.0
    assert step["compute_ms_used"] == pytest.approx(20.0)


def test_write_tables_writes_every_table_and_the_summary(tmp_path):
    fit_row, table = compare_group("netns", 2, _measured("netns", 2, 100.0), COMPUTE, 2, rate_mbit=100.0)
    measured = _measured("netns", 2, 100.0)
    result = StudyResult(raw={**measured, "compute": COMPUTE}, fits=pd.DataFrame([fit_row]), loopback=None,
                         netns=table, summary=summarize_tables(None, table), meta={"qdisc_stats": {}})
    written = {p.relative_to(tmp_path).as_posix() for p in write_tables(result, tmp_path)}
    assert {"netns.csv", "fits_netns.csv", "summary_netns.csv", "meta_netns.json", "raw/netns_pingpong.csv",
            "raw/netns_compute.csv"} <= written
    assert not (tmp_path / "loopback.csv").exists()
    summary = pd.read_csv(tmp_path / "summary_netns.csv")
    overall = summary[(summary["op"] == "all") & (summary["n_ranks"] == "all")]
    assert len(overall) == 1 and overall["median_abs_error_pct"].iloc[0] < 1e-6
    assert json.loads((tmp_path / "meta_netns.json").read_text())["setting"] == "netns"
    assert not list(tmp_path.rglob(".*.tmp"))


def test_quick_plan_is_small():
    assert len(QUICK_PLAN.loopback_sizes_bytes) <= 4 and QUICK_PLAN.loopback_repeats <= 5
    for rate in QUICK_PLAN.netns_rates_mbit:
        assert len(QUICK_PLAN.netns_sizes_bytes(rate)) >= 3  # alpha and beta need at least three sizes


def test_cli_refuses_netns_when_unavailable(monkeypatch, capsys):
    import harness.fidelity.netns as netns
    from harness.cli import main

    monkeypatch.setattr(netns, "netns_unavailable_reason", lambda: "needs root (test)")
    assert main(["fidelity", "--netns", "--quick"]) == 2
    assert "needs root (test)" in capsys.readouterr().err


def _raw_from_measured(measured: dict[str, pd.DataFrame]) -> dict:
    return {"meta": {"cpu_count": 2, "plan": {"mtu_bytes": 1500}},
            "compute": COMPUTE.assign(time_ms_p10=10.0, time_ms_p90=10.0, n_repeats=3).to_dict("records"),
            **{kind: frame.assign(cpu_busy_before=0.0).to_dict("records") for kind, frame in measured.items()}}


def test_split_raw_keeps_each_setting_with_meta_and_compute():
    loop, star = _raw_from_measured(_measured("loopback", 2)), _raw_from_measured(_measured("netns", 2, 100.0))
    raw = {**loop, **{kind: loop[kind] + star[kind] for kind in ("pingpong", "allreduce", "dp_step")}}
    parts = split_raw(raw)
    assert set(parts) == {"loopback", "netns"}
    assert parts["netns"]["pingpong"] == star["pingpong"] and parts["netns"]["compute"] == loop["compute"]


def test_cli_recompute_rebuilds_the_tables_from_raw_json(tmp_path, capsys):
    from harness.cli import main

    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "netns.json").write_text(json.dumps(_raw_from_measured(_measured("netns", 2, 1000.0))))
    assert main(["fidelity", "--netns", "--recompute", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "netns.csv")
    assert len(table) == len(SIZES) + 1 and table["error_pct"].abs().max() < 1e-6
    assert "median |error|" in capsys.readouterr().out
    assert main(["fidelity", "--loopback", "--recompute", "--out", str(tmp_path)]) == 2  # no raw/loopback.json
