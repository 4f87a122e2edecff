"""The real failure run beside the simulator: MeCeFO-style take-over and checkpoint-restart on 4 gloo processes.

Runs `harness.failover.supervisor.run_job` once per mode (``mecefo``: survivors re-form, the neighbour takes the
lost shard with MeCeFO's techniques, the killed worker rejoins; ``ckpt``: every worker restarts from the last
checkpoint), measures from the committed ledger and the workers' events:

* detection time: from the SIGKILL to each survivor's verdict (heartbeat timeout or collective error confirmed
  by a stale heartbeat); bounded by ``timeout_s`` plus one poll;
* per-step costs: median interval between commits before the failure, while degraded (the neighbour carries two
  micro-batches), after the rejoin (or restart); throughput per phase; the normal (failure-free) step is the
  median over both full-membership phases, before and after;
* time lost per failure: wall time of the whole run minus steps x the normal step;
* the loss curve (committed steps) and per-worker / per-shard sample counts;
* the measured throughput drop over the run, ``1 - (steps / wall) x normal step``.

and asks the simulator (`harness.failures.macro.simulate` with the `MeCeFO` / `CheckpointRestart` policies) for
the same run's drop, given only the measured per-step costs (normal and neighbour step, checkpoint write, process
start-up) and the configured detection timeout: one failure at the measured kill time, the device back after
max(``recovery_s``, start-up) (warm rejoin: the replacement starts at the kill) or their sum. Signed error =
predicted - measured (percentage points).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from harness.failover.worker import JobConfig
from harness.files import write_text_atomic

HOUR = 3600.0
#: committed steps averaged on each side of a failure / rejoin for the loss-jump check
LOSS_WINDOW = 5
#: bound on the loss jump (nats) across a failure or a rejoin: mean loss of the LOSS_WINDOW committed steps after
#: the event minus that of the LOSS_WINDOW before. Batch-to-batch noise of this job is about 0.05 nats; a neighbour
#: that corrupted the model (e.g. lost or doubled gradients) moves the loss by far more.
LOSS_JUMP_BOUND = 0.15


@dataclass(frozen=True)
class Plan:
    """Both modes' job settings (seconds, steps)."""

    mecefo: JobConfig
    ckpt: JobConfig
    timeout_s: float = 300.0


#: steps are sized so that the replacement's start-up (about 20 s for a fresh torch process on a busy 2-core
#: machine) ends well before the last step and several steps run after the rejoin
_MODEL = {"d_model": 64, "d_ff": 172, "seq_len": 64, "batch_size": 8}
FULL_PLAN = Plan(JobConfig(mode="mecefo", steps=500, kill_step=60, recovery_s=5.0, **_MODEL),
                 JobConfig(mode="ckpt", steps=500, kill_step=70, ckpt_every=20, **_MODEL))
QUICK_PLAN = Plan(JobConfig(mode="mecefo", steps=320, kill_step=30, recovery_s=3.0, **_MODEL),
                  JobConfig(mode="ckpt", steps=100, kill_step=35, ckpt_every=10, **_MODEL), timeout_s=240.0)


class MeasuredPricer:
    """The step costs the policies ask for (`harness.failures.step_costs.StepPricer`'s interface), measured."""

    def __init__(self, normal_s: float, neighbour_s: float, state_bytes: int, tokens_per_step: int):
        self.normal_s, self.neighbour_s = normal_s, neighbour_s
        self.state_bytes, self.tokens_per_step = state_bytes, tokens_per_step

    def normal_step_s(self) -> float:
        return self.normal_s

    def neighbour_step_s(self, micro_batches: int) -> float:
        """Measured with 2 micro-batches; more (not in this run) extrapolated linearly."""
        return self.normal_s + (micro_batches - 1) * (self.neighbour_s - self.normal_s)


def final_ledger(record: dict) -> list[dict]:
    """The committed ledger of a finished worker that ran to the end (every finished one holds the same)."""
    done = [w for w in record["workers"] if w["exit"] == "done" and w["ledger"]]
    return max(done, key=lambda w: len(w["ledger"]))["ledger"]


def _intervals(rows: list[dict]) -> list[float]:
    return [b["t_commit"] - a["t_commit"] for a, b in zip(rows, rows[1:]) if b["step"] == a["step"] + 1]


def _median_interval(rows: list[dict]) -> float:
    gaps = _intervals(rows)
    return statistics.median(gaps) if gaps else float("nan")


def _events(record: dict, kind: str) -> list[dict]:
    return [e for w in record["workers"] for e in w["events"] if e["kind"] == kind]


def sample_counts(record: dict, cfg: JobConfig) -> pd.DataFrame:
    """Per worker: samples of committed steps it computed (from the ledger's ``by``), and shards seen != 1."""
    ledger = final_ledger(record)
    rows = []
    for worker in range(cfg.n_workers):
        shards = sum(row["by"].count(worker) for row in ledger)
        rows.append({"mode": cfg.mode, "worker": worker, "shards": shards, "samples": shards * cfg.batch_size})
    return pd.DataFrame(rows)


def loss_jumps(ledger: list[dict], steps: list[int]) -> list[float]:
    """Mean loss of the LOSS_WINDOW committed steps from ``step`` on minus that of the LOSS_WINDOW before it."""
    losses = [row["loss"] for row in sorted(ledger, key=lambda r: r["step"])]
    out = []
    for step in steps:
        before, after = losses[max(0, step - LOSS_WINDOW):step], losses[step:step + LOSS_WINDOW]
        if before and after:
            out.append(statistics.fmean(after) - statistics.fmean(before))
    return out


def measure(record: dict, cfg: JobConfig) -> tuple[dict, pd.DataFrame]:
    """Measurements of one run and its per-step table (phase of each committed step)."""
    ledger = sorted(final_ledger(record), key=lambda r: r["step"])
    t_kill = record["t_kill"]
    t0, t_end = ledger[0]["t_start"], ledger[-1]["t_commit"]
    detected = [e["t"] - t_kill for e in _events(record, "detected")]
    recovered = _events(record, "reformed") if cfg.mode == "mecefo" else []
    t_degraded = max((e["t"] for e in recovered), default=None)
    admitted = _events(record, "admitted")
    t_after = max((e["t"] for e in admitted), default=None) if cfg.mode == "mecefo" else None
    if cfg.mode == "ckpt":
        t_after = min((r["t_start"] for r in ledger if r["t_start"] > t_kill), default=None)

    def phase(row: dict) -> str:
        if row["t_commit"] < t_kill:
            return "before"
        if t_after is not None and row["t_start"] >= t_after:
            return "after"
        if t_degraded is not None and row["t_start"] >= t_degraded:
            return "degraded"
        return "failure"

    table = pd.DataFrame([{"mode": cfg.mode, "step": r["step"], "loss": r["loss"], "t_s": r["t_commit"] - t0,
                           "members": r["n_members"], "phase": phase(r)} for r in ledger])
    by_phase = {p: [r for r in ledger if phase(r) == p] for p in ("before", "degraded", "after")}
    # failure-free step: commit intervals of every full-membership phase (before the failure and after the
    # rejoin / restart), so a drift of the shared machine's speed over the run weighs on both sides
    full = [_intervals(by_phase["before"][3:]), _intervals(by_phase["after"][1:])]  # first steps warm up
    normal_s = statistics.median(full[0] + full[1])
    spawned = record["spawned"]
    starts = [w["t_formed"] - s[3] for w in record["workers"] for s in spawned
              if w["generation"] == 0 and not w["join"] and s[:3] == [w["worker"], 0, False]]
    ckpts = _events(record, "checkpoint")
    gen0_done = max((s["step"] for w in record["workers"] if w["generation"] == 0 for s in w["steps"]), default=-1)
    redone = [w["start_step"] for w in record["workers"] if w["generation"] == 1]
    wall = t_end - t0
    out = {
        "mode": cfg.mode, "steps": len(ledger), "kill_step": cfg.kill_step, "victim": cfg.victim,
        "timeout_s": cfg.timeout_s, "recovery_s": cfg.recovery_s if cfg.mode == "mecefo" else float("nan"),
        "kill_at_s": t_kill - t0, "wall_s": wall,
        "detect_s_min": min(detected, default=float("nan")), "detect_s_max": max(detected, default=float("nan")),
        "startup_s": statistics.median(starts) if starts else float("nan"),
        "rejoin_after_kill_s": (t_after - t_kill) if t_after else float("nan"),
        "normal_step_s": normal_s,
        "before_step_s": _median_interval(by_phase["before"][3:]),
        "degraded_step_s": _median_interval(by_phase["degraded"][1:]),
        "after_step_s": _median_interval(by_phase["after"][1:]),
        "checkpoint_write_s": statistics.median(e["write_s"] for e in ckpts) if ckpts else float("nan"),
        "state_bytes": max((e["bytes"] for e in ckpts), default=0),
        "steps_redone": (gen0_done + 1 - min(redone)) if redone else 0,
        "lost_s": wall - len(ledger) * normal_s,
        "measured_drop_pct": 100.0 * (1.0 - len(ledger) / wall * normal_s),
    }
    for name in ("before", "degraded", "after"):
        step_s = out[f"{name}_step_s"]
        out[f"tokens_per_s_{name}"] = cfg.tokens_per_step / step_s if step_s == step_s else float("nan")
    out["loss_jump_max"] = max(loss_jumps(ledger, [cfg.kill_step] + [e["step"] for e in admitted]), default=0.0)
    return out, table


def predict_drop_pct(m: dict, cfg: JobConfig, state_bytes: int) -> float:
    """The simulator's drop for this run from the measured per-step costs (see the module docstring)."""
    from harness.failures.macro import simulate
    from harness.failures.policies import POLICIES, PolicyCosts
    from harness.failures.processes import Event

    neighbour = m["degraded_step_s"] if cfg.mode == "mecefo" else m["normal_step_s"]
    pricer = MeasuredPricer(m["normal_step_s"], neighbour, state_bytes, cfg.tokens_per_step)
    if cfg.mode == "mecefo":
        costs = PolicyCosts(detect_s=cfg.timeout_s)
        down_s = max(cfg.recovery_s, m["startup_s"]) if cfg.warm_rejoin else cfg.recovery_s + m["startup_s"]
        policy = POLICIES["mecefo"](pricer, costs)
    else:
        costs = PolicyCosts(detect_s=cfg.timeout_s, restart_s=m["startup_s"],
                            storage_bytes_per_s=state_bytes / m["checkpoint_write_s"],
                            interval_s=cfg.ckpt_every * m["normal_step_s"])
        down_s = 0.0
        policy = POLICIES["checkpoint_restart"](pricer, costs)
    event = Event(m["kill_at_s"] / HOUR, f"device:{cfg.victim}", "fail", down_s / HOUR, (cfg.victim,))
    result = simulate([event], policy, cfg.n_workers, m["wall_s"] / HOUR, timeline=False)
    return result.drop_pct


def state_bytes_of(cfg: JobConfig) -> int:
    """Bytes of model + AdamW state (fp32: weights, two moments), what a rejoining worker copies."""
    from harness.failover.worker import Trainer

    n_params = sum(p.numel() for p in Trainer(cfg, 0).params)
    return 3 * 4 * n_params


def compact(record: dict) -> dict:
    """The record without per-worker step lists and with the committed ledger kept once (the first finished
    worker's; every finished worker holds the same steps)."""
    workers, kept = [], False
    for worker in record["workers"]:
        worker = {k: v for k, v in worker.items() if k != "steps"}
        if worker["exit"] == "done" and worker["ledger"] and not kept:
            kept = True
        else:
            worker["ledger"] = len(worker["ledger"])
        workers.append(worker)
    return {**record, "workers": workers}


def run_study(plan: Plan, out: Path, progress=print) -> dict[str, pd.DataFrame]:
    """Run both modes, measure, predict; returns the tables (``runs``, ``steps``, ``ranks``) and writes them."""
    from harness.failover.supervisor import run_job

    runs, steps, ranks = [], [], []
    for cfg in (plan.mecefo, plan.ckpt):
        progress(f"{cfg.mode}: {cfg.steps} steps, SIGKILL worker {cfg.victim} at step {cfg.kill_step}")
        with tempfile.TemporaryDirectory(prefix="failover-") as job_dir:
            record = run_job(cfg, Path(job_dir), timeout_s=plan.timeout_s)
        m, table = measure(record, cfg)
        state_bytes = m["state_bytes"] or state_bytes_of(cfg)
        m["state_bytes"] = state_bytes
        m["predicted_drop_pct"] = predict_drop_pct(m, cfg, state_bytes)
        m["error_pp"] = m["predicted_drop_pct"] - m["measured_drop_pct"]
        runs.append(m)
        steps.append(table)
        ranks.append(sample_counts(record, cfg))
        write_text_atomic(out / "raw" / f"{cfg.mode}.json", json.dumps(compact(record), default=str) + "\n")
    tables = {"runs": pd.DataFrame(runs), "steps": pd.concat(steps), "ranks": pd.concat(ranks)}
    for name, table in tables.items():
        write_text_atomic(out / f"{name}.csv", table.to_csv(index=False))
    plan_json = json.dumps({"mecefo": asdict(plan.mecefo), "ckpt": asdict(plan.ckpt)}, indent=1)
    write_text_atomic(out / "plan.json", plan_json)
    return tables

