"""The real failure run, small: 4 gloo processes, one SIGKILLed, take-over and rejoin (and checkpoint-restart).

Checks: every committed step holds each of the 4 shards exactly once (no sample lost or consumed twice, counted
per worker across the failure and the rejoin), all finished workers hold the same history, detection within the
timeout bound, the loss continues without a jump above `LOSS_JUMP_BOUND`, and no worker process or store port is
left behind, even when a run fails (the fixture kills what is left and then fails the test).
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from harness.failover import supervisor
from harness.failover.study import LOSS_JUMP_BOUND, final_ledger, loss_jumps, measure, predict_drop_pct
from harness.failover.worker import JobConfig, shards_of

MODEL = {"d_model": 64, "d_ff": 172, "seq_len": 64, "batch_size": 8}
#: steps long enough for the replacement (a fresh torch process, ~20 s on a busy 2-core machine) to rejoin
MECEFO = JobConfig(mode="mecefo", steps=300, kill_step=25, recovery_s=3.0, **MODEL)
CKPT = JobConfig(mode="ckpt", steps=60, kill_step=25, ckpt_every=10, **MODEL)


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _no_strays(out: Path, ports: list[int]):
    """After the body: kill (and report) any worker still running for ``out``; check the store ports are closed."""
    yield
    strays = _processes_mentioning(str(out))
    for pid in strays:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for proc in supervisor.STARTED:
        if proc.poll() is None:
            strays.append(proc.pid)
            proc.kill()
            proc.wait()
    assert not strays, f"worker processes left behind: {strays}"
    assert all(_port_free(port) for port in ports), f"store port still open: {ports}"


def _run(cfg: JobConfig, out: Path) -> dict:
    gen = _no_strays(out, ports := [])
    next(gen)
    try:
        record = supervisor.run_job(cfg, out, timeout_s=240)
        ports.append(record["port"])
        return record
    finally:
        next(gen, None)


@pytest.fixture(scope="module")
def mecefo_run(tmp_path_factory):
    return _run(MECEFO, tmp_path_factory.mktemp("failover-mecefo"))


@pytest.fixture(scope="module")
def ckpt_run(tmp_path_factory):
    return _run(CKPT, tmp_path_factory.mktemp("failover-ckpt"))


def _check_ledger(record: dict, cfg: JobConfig) -> list[dict]:
    ledger = final_ledger(record)
    assert [row["step"] for row in ledger] == list(range(cfg.steps))
    for row in ledger:
        assert row["counts"] == [1] * cfg.n_workers, f"step {row['step']}: shard counts {row['counts']}"
        assert all(by >= 0 for by in row["by"])
    def history(rows: list[dict]) -> list[tuple]:  # times are each worker's own clock readings
        return [(r["step"], r["counts"], r["by"], r["loss"], r["epoch"]) for r in rows]

    finished = [history(w["ledger"]) for w in record["workers"] if w["exit"] == "done"]
    assert all(other == history(ledger) for other in finished), "finished workers disagree on the committed history"
    return ledger


def test_mecefo_run_takes_over_and_rejoins(mecefo_run):
    cfg, ledger = MECEFO, _check_ledger(mecefo_run, MECEFO)
    per_worker = [sum(row["by"].count(w) for row in ledger) for w in range(cfg.n_workers)]
    assert sum(per_worker) == cfg.steps * cfg.n_workers  # no sample lost or consumed twice
    neighbour = (cfg.victim + 1) % cfg.n_workers
    assert per_worker[cfg.victim] < cfg.steps < per_worker[neighbour]  # the neighbour carried the victim's shard
    assert per_worker[cfg.victim] + per_worker[neighbour] == 2 * cfg.steps
    kinds = [e["kind"] for w in mecefo_run["workers"] for e in w["events"]]
    assert kinds.count("detected") == cfg.n_workers - 1 and "joined" in kinds and "admitted" in kinds
    m, _ = measure(mecefo_run, cfg)
    assert 0 < m["detect_s_max"] <= cfg.timeout_s + 1.0
    assert m["loss_jump_max"] <= LOSS_JUMP_BOUND
    assert ledger[-1]["loss"] < ledger[0]["loss"] - 0.5
    assert m["normal_step_s"] > 0 and m["after_step_s"] > 0
    predicted = predict_drop_pct(m, cfg, state_bytes=1 << 20)
    assert 0 < predicted < 100


def test_checkpoint_restart_redoes_only_uncheckpointed_steps(ckpt_run):
    cfg, ledger = CKPT, _check_ledger(ckpt_run, CKPT)
    assert {w["generation"] for w in ckpt_run["workers"]} == {0, 1}
    m, _ = measure(ckpt_run, cfg)
    assert 0 < m["steps_redone"] < cfg.ckpt_every + 1
    assert max(loss_jumps(ledger, [cfg.kill_step])) <= LOSS_JUMP_BOUND


def test_failed_run_leaves_nothing_behind(tmp_path):
    gen = _no_strays(tmp_path, [])
    next(gen)
    with pytest.raises(supervisor.FailoverRunError, match="timed out"):
        supervisor.run_job(JobConfig(steps=5, kill_step=None, **MODEL), tmp_path, timeout_s=1.0)
    next(gen, None)


@pytest.mark.parametrize(("worker", "members", "expected"), [
    (2, (0, 1, 2, 3), [2]), (2, (0, 2, 3), [2, 1]), (0, (0, 3), [0]), (3, (0, 3), [3, 2, 1]), (1, (1,), [1, 0, 3, 2]),
])
def test_shards_go_to_the_next_healthy_worker(worker, members, expected):
    assert shards_of(worker, members, 4) == expected


def test_job_config_refuses_bad_values():
    with pytest.raises(ValueError, match="kill_step"):
        JobConfig(steps=10, kill_step=10)
    with pytest.raises(ValueError, match="mode"):
        JobConfig(mode="restart")
