"""Gaps in the tests of `harness.fidelity.launch` found by a mutation audit.

Closed here (the runs use a tiny stand-in worker module, so they cost a Python start-up, not torch or gloo):
- `run_module_ranks` refuses zero ranks; gives every rank its RANK, WORLD_SIZE, MASTER_ADDR of the placement,
  the port asked for (else a free port on loopback, 29500 elsewhere), OMP_NUM_THREADS=1 and the placement's own
  variables; hands the ranks' pids to ``on_start``; returns the records in rank order once ALL ranks are done.
- A failing rank: the error names it and carries the END of its log (1,500 characters), not the other ranks'
  logs; a rank still running is killed, not waited for. Past the deadline: every rank's log, none waited for;
  ranks that all exited 0 are done even when the deadline passed between two polls (they were reported timed out).
- `run_ranks` runs ``harness.fidelity.measure <kind> --out DIR <args>``.
- `reduce_rows`: median (not mean), 10th and 90th percentiles over repeats of the slowest rank, every row, the
  ``op`` only where the records have one, the row keyed by ``key``; `Loopback` and `InNamespaces` placements.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import harness.fidelity.launch as launch
from harness.fidelity.launch import InNamespaces, Loopback, MeasurementError, reduce_rows, run_module_ranks
from harness.fidelity.netns import StarNetwork

WORKER = '''
import json, os, sys, time
from pathlib import Path

out, mode = Path(sys.argv[1]), sys.argv[2:]
rank = int(os.environ["RANK"])
if mode[:1] == ["fail"] and rank == 1:
    print("THE-START" + "x" * 3000 + "THE-END", flush=True)
    sys.exit(3)
if mode[:1] == ["fail"] and rank == 0:
    time.sleep(15)
    Path(mode[1]).write_text("rank 0 was left running")
if mode[:1] == ["slow"] and rank == 1:
    time.sleep(1.0)
if mode[:1] == ["hang"] and rank == 1:
    print("rank 1 sleeps", flush=True)
    time.sleep(12)
keys = ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "OMP_NUM_THREADS", "GLOO_SOCKET_IFNAME", "EXTRA"]
record = {key: os.environ.get(key) for key in keys}
record["pid"] = os.getpid()
(out / f"rank{rank}.json").write_text(json.dumps(record))
'''


@pytest.fixture
def worker(tmp_path, monkeypatch):
    """The module name of a stand-in worker: writes its environment to ``rank<r>.json``."""
    (tmp_path / "gap_worker_mod.py").write_text(WORKER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    return "gap_worker_mod"


class _Elsewhere:
    """A placement that is not loopback (as namespaces are), with a variable of its own."""

    master_addr = "127.0.0.1"

    def exec_prefix(self, rank: int) -> list[str]:
        return []

    def rank_env(self, rank: int) -> dict[str, str]:
        return {"EXTRA": f"extra{rank}"}


def test_zero_ranks_are_refused():
    with pytest.raises(ValueError, match="world_size"):
        run_module_ranks("gap_worker_mod", 0, lambda out: [str(out)])


def test_every_rank_gets_its_environment_and_the_records_come_back_in_rank_order(worker):
    started = []
    records = run_module_ranks(worker, 3, lambda out: [str(out)], placement=_Elsewhere(), port=41234,
                               timeout_s=60, on_start=started.extend)
    assert [r["RANK"] for r in records] == ["0", "1", "2"]
    assert {(r["WORLD_SIZE"], r["MASTER_ADDR"], r["MASTER_PORT"], r["OMP_NUM_THREADS"]) for r in records} == {
        ("3", "127.0.0.1", "41234", "1")}
    assert [r["EXTRA"] for r in records] == ["extra0", "extra1", "extra2"]
    assert started == [r["pid"] for r in records]


def test_the_port_is_a_free_one_on_loopback_and_29500_elsewhere(worker, monkeypatch):
    monkeypatch.setattr(launch, "free_port", lambda: 40999)
    loop = run_module_ranks(worker, 1, lambda out: [str(out)], timeout_s=60)
    assert (loop[0]["MASTER_PORT"], loop[0]["GLOO_SOCKET_IFNAME"]) == ("40999", "lo")
    elsewhere = run_module_ranks(worker, 1, lambda out: [str(out)], placement=_Elsewhere(), timeout_s=60)
    assert elsewhere[0]["MASTER_PORT"] == "29500"


def test_the_run_waits_for_the_slowest_rank(worker):
    records = run_module_ranks(worker, 2, lambda out: [str(out), "slow"], timeout_s=60)
    assert [r["RANK"] for r in records] == ["0", "1"]


def test_a_failing_rank_is_named_with_the_end_of_its_log_and_the_others_are_killed(worker, tmp_path):
    marker = tmp_path / "rank0-finished"
    with pytest.raises(MeasurementError) as caught:
        run_module_ranks(worker, 2, lambda out: [str(out), "fail", str(marker)], timeout_s=60)
    message = str(caught.value)
    assert message.startswith("rank(s) [1] failed:")
    assert "--- rank 1 ---" in message and "--- rank 0 ---" not in message
    tail = message.split("--- rank 1 ---\n", 1)[1]
    assert tail.endswith("THE-END\n") and "THE-START" not in tail
    assert len(tail) == 1500
    assert not marker.exists()  # rank 0 was killed, not waited for (it would have written the marker)


def test_past_the_deadline_every_rank_is_killed_and_its_log_shown(worker):
    # rank 1 would finish after 12 s; the 1.5 s deadline ends the run long before that
    with pytest.raises(MeasurementError) as caught:
        run_module_ranks(worker, 2, lambda out: [str(out), "hang"], timeout_s=1.5)
    message = str(caught.value)
    assert message.startswith("timed out after 2 s:\n--- rank 0 ---\n")
    assert "\n--- rank 1 ---\n" in message


def test_ranks_that_all_exited_0_are_done_even_past_the_deadline(tmp_path):
    proc = launch.subprocess.Popen([sys.executable, "-c", "pass"])
    assert proc.wait(timeout=60) == 0
    with open(tmp_path / "rank0.log", "w+") as log:
        assert launch._wait_all([proc], [log], timeout_s=-1.0) is None


def test_run_ranks_runs_the_measure_module_with_kind_out_and_args(monkeypatch):
    seen = {}

    def fake(module, world_size, args_for, **kwargs):
        seen.update(module=module, world_size=world_size, args=args_for(Path("/o")), **kwargs)
        return []

    monkeypatch.setattr(launch, "run_module_ranks", fake)
    launch.run_ranks("allreduce", 2, ["--repeats", "3"], timeout_s=5, port=7)
    assert seen == {"module": "harness.fidelity.measure", "world_size": 2,
                    "args": ["allreduce", "--out", "/o", "--repeats", "3"], "placement": None, "timeout_s": 5,
                    "port": 7}


def test_reduce_rows_takes_median_and_percentiles_of_the_slowest_rank():
    fast = list(range(0, 101, 10))  # 11 repeats: 0, 10, ..., 100
    records = [
        {"rows": [{"op": "allreduce", "size_bytes": 4, "times_ns": fast},
                  {"op": "allreduce", "size_bytes": 8, "times_ns": [1, 2, 3, 4, 100]}]},
        {"rows": [{"op": "allreduce", "size_bytes": 4, "times_ns": [0] * 11},
                  {"op": "allreduce", "size_bytes": 8, "times_ns": [0, 0, 0, 0, 0]}]},
    ]
    first, second = reduce_rows(records)
    assert first == {"op": "allreduce", "size_bytes": 4, "time_ns_median": 50, "time_ns_p10": 10,
                     "time_ns_p90": 90, "n_repeats": 11}
    assert second["size_bytes"] == 8 and second["time_ns_median"] == 3  # the mean would be 22


def test_reduce_rows_keys_the_row_by_key_and_adds_op_only_when_present():
    records = [{"rows": [{"param_count": 12, "times_ns": [5, 7]}]}, {"rows": [{"param_count": 12, "times_ns": [6, 6]}]}]
    (row,) = reduce_rows(records, key="param_count")
    assert row == {"param_count": 12, "time_ns_median": 6, "time_ns_p10": 6, "time_ns_p90": 6, "n_repeats": 2}


def test_placements():
    loop = Loopback()
    assert (loop.master_addr, loop.exec_prefix(3), loop.rank_env(3)) == ("127.0.0.1", [], {"GLOO_SOCKET_IFNAME": "lo"})
    net = StarNetwork(n_ranks=2, rate_mbit=1.0, prefix="pre", tag="9")
    inside = InNamespaces(net)
    assert inside.master_addr == "10.231.0.1"
    assert inside.exec_prefix(1) == ["ip", "netns", "exec", "pre9-r1"]
    assert inside.rank_env(1) == {"GLOO_SOCKET_IFNAME": "eth0"}
