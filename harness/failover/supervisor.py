"""Start the workers of a real failure run, SIGKILL the victim at its kill step, restart it (or the whole job), and
clean up every process it started, whatever happens.

The supervisor hosts the job's TCPStore (so the store outlives any worker), watches ``progress/<victim>`` and
sends SIGKILL to the victim as soon as it starts step ``kill_step`` (mid-step: the failure lands in its compute or
its all-reduce). ``mecefo``: the victim is restarted with ``--join`` (at the kill with ``warm_rejoin``, asking to
join ``recovery_s`` later; else after ``recovery_s``) and the group admits it at a step boundary. ``ckpt``: once
every survivor has exited with `RESTART_EXIT`, all workers start again as the next generation and load the last
checkpoint (a spare replaces the failed worker, as TorchElastic does).

`STARTED` holds every process any run started; `run_job` kills all of them before it returns or raises.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from harness.errors import HarnessError
from harness.failover.worker import RESTART_EXIT, JobConfig, config_json

#: every worker process started by this interpreter (the test fixture checks that none outlives its run)
STARTED: list[subprocess.Popen] = []


class FailoverRunError(HarnessError):
    """The failure run itself failed (a worker crashed or the deadline passed); carries the log tails."""


def _spawn(cfg: JobConfig, worker: int, generation: int, join: bool, port: int, out: Path,
           join_at: float = 0.0) -> subprocess.Popen:
    log = open(out / f"w{worker}-g{generation}{'-join' if join else ''}.log", "w")
    cmd = [sys.executable, "-m", "harness.failover.worker", "--config", config_json(cfg), "--worker", str(worker),
           "--generation", str(generation), "--port", str(port), "--out", str(out)]
    cmd += ["--join", "--join-at", repr(join_at)] if join else []
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    log.close()
    proc.log_path = log.name  # type: ignore[attr-defined]
    proc.spawned = (worker, generation, join, time.time())  # type: ignore[attr-defined]
    STARTED.append(proc)
    return proc


def kill_all(procs: list[subprocess.Popen]) -> None:
    """SIGKILL each still-running process (and its session) and reap it."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def _tails(procs: list[subprocess.Popen]) -> str:
    parts = []
    for proc in procs:
        text = Path(proc.log_path).read_text(errors="replace")[-1200:]  # type: ignore[attr-defined]
        parts.append(f"--- {Path(proc.log_path).name} (exit {proc.poll()}) ---\n{text}")  # type: ignore[attr-defined]
    return "\n".join(parts)


def run_job(cfg: JobConfig, out: Path, timeout_s: float = 300.0) -> dict:
    """Run the job to its last step; returns the supervisor's record (kill / restart times, worker records)."""
    import torch.distributed as dist

    out.mkdir(parents=True, exist_ok=True)
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=60), wait_for_workers=False)
    port = store.port
    mine: list[subprocess.Popen] = []
    record: dict = {"config": json.loads(config_json(cfg)), "port": port, "t_launch": time.time(),
                    "t_kill": None, "t_respawn": None}
    try:
        current = {w: _spawn(cfg, w, 0, False, port, out) for w in range(cfg.n_workers)}
        mine += current.values()
        deadline = time.monotonic() + timeout_s
        killed = respawned = cfg.kill_step is None
        while True:
            if time.monotonic() > deadline:
                raise FailoverRunError(f"failure run timed out after {timeout_s:.0f} s\n{_tails(mine)}")
            victim = current.get(cfg.victim)
            if not killed and store.check([f"progress/{cfg.victim}"]) \
                    and int(store.get(f"progress/{cfg.victim}").decode()) >= cfg.kill_step:
                os.kill(victim.pid, signal.SIGKILL)
                record["t_kill"] = time.time()
                victim.wait()
                killed = True
            survivors = [p for w, p in current.items() if not (w == cfg.victim and not respawned)]
            bad = [p for p in survivors if p.poll() not in (None, 0, RESTART_EXIT)]
            if bad:
                raise FailoverRunError(f"worker(s) failed\n{_tails(bad)}")
            if killed and not respawned:
                join_at = record["t_kill"] + cfg.recovery_s
                if cfg.mode == "mecefo" and (cfg.warm_rejoin or time.time() >= join_at):
                    current[cfg.victim] = _spawn(cfg, cfg.victim, 0, True, port, out, join_at)
                    mine.append(current[cfg.victim])
                    record["t_respawn"], respawned = time.time(), True
                elif cfg.mode == "ckpt" and all(p.poll() == RESTART_EXIT for p in survivors):
                    record["t_respawn"], respawned = time.time(), True
                    current = {w: _spawn(cfg, w, 1, False, port, out) for w in range(cfg.n_workers)}
                    mine += current.values()
            if respawned and all(p.poll() == 0 for p in current.values()):
                break
            time.sleep(0.01)
        record["t_done"] = time.time()
        record["spawned"] = [list(p.spawned) for p in mine]  # type: ignore[attr-defined]
        record["workers"] = [json.loads(path.read_text()) for path in sorted(out.glob("w*-g*.json"))]
        return record
    finally:
        kill_all(mine)
        del store
