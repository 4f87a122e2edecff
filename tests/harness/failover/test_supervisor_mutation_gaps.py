"""Gaps in the tests of `harness.failover.supervisor` found by a mutation audit.

Closed here (`run_job` driven with `sh` stand-ins for the workers, started by a replacement `_spawn` that reports
the victim's progress to the job's store; every test kills what it started in a ``finally``):

- `_spawn`: the worker's command line (``--join --join-at`` only for a joiner), its environment (one OpenMP thread,
  gloo on ``lo``), its own session, its log file, `STARTED`;
- `kill_all` kills a worker's whole session (its children too) and reaps it; `_tails` shows each log's end and
  exit code;
- `run_job` (``mecefo``): kills the victim once it reaches ``kill_step``, starts the joiner at once (warm) or only
  after ``recovery_s`` (cold) with ``join_at = t_kill + recovery_s``, waits for every worker to finish, records
  the spawns and the workers' files; without ``kill_step`` nothing is killed;
- `run_job` (``ckpt``): restarts every worker as generation 1 only after all survivors exited with `RESTART_EXIT`;
- a worker that fails (before or after a restart) ends the run with its log tail, and no process is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.failover import supervisor
from harness.failover.group import connect
from harness.failover.worker import RESTART_EXIT, JobConfig, config_json

MECEFO = JobConfig(mode="mecefo", n_workers=3, victim=1, kill_step=4, steps=10, recovery_s=30.0, warm_rejoin=True)
CKPT = JobConfig(mode="ckpt", n_workers=3, victim=1, kill_step=4, steps=10)


def _state(pid: int) -> str:
    """The process state letter from /proc (``"gone"`` once reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def _dead(pid: int, wait_s: float = 10.0) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if _state(pid) in ("gone", "Z", "X"):
            return True
        time.sleep(0.02)
    return False


def _cmdline(pid: int) -> list[str]:
    """The process's arguments (read again while the exec is still setting them up: empty for an instant)."""
    deadline = time.monotonic() + 10
    while not (raw := Path(f"/proc/{pid}/cmdline").read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return raw.decode().split("\0")[:-1]


def _kill(procs) -> None:
    """Kill each process's session, or the process alone where it leads none, and reap it."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                proc.kill()
            proc.wait()


class _Stand:
    """A replacement for `supervisor._spawn`: ``script(worker, generation, join, out)`` is the worker's shell code."""

    def __init__(self, script):
        self.script, self.procs, self.calls, self.clients = script, [], [], []

    def __call__(self, cfg, worker, generation, join, port, out, join_at=0.0):
        log = out / f"w{worker}-g{generation}{'-join' if join else ''}.log"
        with open(log, "w") as handle:
            proc = subprocess.Popen(["sh", "-c", self.script(worker, generation, join, out)], stdout=handle,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = str(log)
        proc.spawned = (worker, generation, join, time.time())
        self.calls.append({"worker": worker, "generation": generation, "join": join, "join_at": join_at,
                           "t": time.time(), "earlier_exits": [p.poll() for p in self.procs]})
        self.procs.append(proc)
        supervisor.STARTED.append(proc)
        if worker == cfg.victim and generation == 0 and not join and cfg.kill_step is not None:
            (out / "victim.tmp").write_text(str(proc.pid))  # known before the victim can be killed
            (out / "victim.tmp").replace(out / "victim.pid")
            client = connect("127.0.0.1", port)
            client.set(f"progress/{worker}", str(cfg.kill_step))  # the victim starts its kill step
            self.clients.append(client)
        return proc


def _json(out: Path, name: str, worker: int) -> str:
    return f"echo '{{\"worker\": {worker}}}' > {out / name}"


def _mecefo_script(worker, generation, join, out):
    if join:  # the rejoined victim lets everyone finish
        return f"touch {out / 'finished'}; {_json(out, 'w1-g0-join.json', worker)}"
    if worker == 1:
        return "exec sleep 600"
    # survivors finish a while after the joiner: the run must wait for all of them
    wait = f"while [ ! -e {out / 'finished'} ]; do sleep 0.02; done; sleep 0.3"
    return f"{wait}; {_json(out, f'w{worker}-g0.json', worker)}"


@pytest.fixture
def stand(monkeypatch):
    made: list[_Stand] = []

    def install(script):
        made.append(_Stand(script))
        monkeypatch.setattr(supervisor, "_spawn", made[-1])
        return made[-1]

    yield install
    for s in made:
        _kill(s.procs)


def test_warm_mecefo_run_kills_the_victim_and_starts_the_joiner_at_once(tmp_path, stand):
    spawner = stand(_mecefo_script)
    record = supervisor.run_job(MECEFO, tmp_path, timeout_s=60)
    assert record["t_launch"] <= record["t_kill"] <= record["t_respawn"] < record["t_kill"] + MECEFO.recovery_s
    assert [c[:3] for c in record["spawned"]] == [[0, 0, False], [1, 0, False], [2, 0, False], [1, 0, True]]
    assert spawner.calls[3]["join_at"] == pytest.approx(record["t_kill"] + MECEFO.recovery_s)
    assert [w["worker"] for w in record["workers"]] == [0, 1, 2]  # w0-g0, w1-g0-join, w2-g0: all finished
    assert [p.returncode for p in spawner.procs] == [0, -signal.SIGKILL, 0, 0]
    assert record["t_done"] >= record["t_respawn"]


def test_cold_rejoin_waits_for_the_recovery_time(tmp_path, stand):
    spawner = stand(_mecefo_script)
    cfg = replace(MECEFO, warm_rejoin=False, recovery_s=0.5)
    record = supervisor.run_job(cfg, tmp_path, timeout_s=60)
    assert record["t_respawn"] >= record["t_kill"] + cfg.recovery_s
    assert spawner.calls[3]["t"] >= spawner.calls[3]["join_at"] == pytest.approx(record["t_kill"] + 0.5)


def test_without_a_kill_step_nothing_is_killed(tmp_path, stand):
    spawner = stand(lambda worker, generation, join, out: _json(out, f"w{worker}-g0.json", worker))
    record = supervisor.run_job(replace(MECEFO, kill_step=None), tmp_path, timeout_s=60)
    assert record["t_kill"] is None and record["t_respawn"] is None
    assert [c[:3] for c in record["spawned"]] == [[0, 0, False], [1, 0, False], [2, 0, False]]
    assert [p.returncode for p in spawner.procs] == [0, 0, 0]


def _ckpt_script(fail_after_restart: bool = False):
    def script(worker, generation, join, out):
        pid_file = out / "victim.pid"
        if generation == 1:
            if fail_after_restart and worker == 2:
                return "echo 'Traceback: generation 1 broke' >&2; exit 1"
            return "exec sleep 600" if fail_after_restart else _json(out, f"w{worker}-g1.json", worker)
        if worker == 1:
            return "exec sleep 600"
        late = "sleep 0.5; " if worker == 2 else ""  # the last survivor exits well after the first
        return (f"while [ ! -s {pid_file} ]; do sleep 0.02; done; "
                f"while kill -0 $(cat {pid_file}) 2>/dev/null; do sleep 0.02; done; {late}exit {RESTART_EXIT}")
    return script


def test_ckpt_restarts_every_worker_once_all_survivors_exited(tmp_path, stand):
    spawner = stand(_ckpt_script())
    record = supervisor.run_job(CKPT, tmp_path, timeout_s=60)
    assert [c[:3] for c in record["spawned"]] == [[0, 0, False], [1, 0, False], [2, 0, False],
                                                  [0, 1, False], [1, 1, False], [2, 1, False]]
    assert spawner.calls[3]["earlier_exits"] == [RESTART_EXIT, -signal.SIGKILL, RESTART_EXIT]
    assert [w["worker"] for w in record["workers"]] == [0, 1, 2]
    assert record["t_kill"] <= record["t_respawn"]


def test_a_worker_failing_after_a_restart_is_reported_and_nothing_is_left(tmp_path, stand):
    spawner = stand(_ckpt_script(fail_after_restart=True))
    with pytest.raises(supervisor.FailoverRunError, match="worker\\(s\\) failed") as err:
        supervisor.run_job(CKPT, tmp_path, timeout_s=60)
    assert "generation 1 broke" in str(err.value) and "w2-g1.log (exit 1)" in str(err.value)
    assert len(spawner.procs) == 6 and all(p.poll() is not None for p in spawner.procs)


def test_a_failed_survivor_ends_the_run_and_its_peers_are_killed(tmp_path, stand):
    def script(worker, generation, join, out):
        return "echo 'Traceback: worker 2 broke' >&2; exit 1" if worker == 2 else "exec sleep 600"

    spawner = stand(script)
    with pytest.raises(supervisor.FailoverRunError, match="worker 2 broke"):
        supervisor.run_job(replace(MECEFO, kill_step=None), tmp_path, timeout_s=60)
    assert [p.returncode for p in spawner.procs] == [-signal.SIGKILL, -signal.SIGKILL, 1]


def test_spawn_starts_the_worker_command_in_its_own_session(tmp_path):
    cfg = JobConfig(steps=5, kill_step=None)
    proc = supervisor._spawn(cfg, 2, 1, True, 1, tmp_path, join_at=12.5)
    try:
        cmdline = _cmdline(proc.pid)
        raw = Path(f"/proc/{proc.pid}/environ").read_bytes().decode(errors="replace")
        environ = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        session = os.getsid(proc.pid)
    finally:
        _kill([proc])
    assert cmdline == [sys.executable, "-m", "harness.failover.worker", "--config", config_json(cfg), "--worker", "2",
                       "--generation", "1", "--port", "1", "--out", str(tmp_path), "--join", "--join-at", "12.5"]
    assert environ["OMP_NUM_THREADS"] == "1" and environ["GLOO_SOCKET_IFNAME"] == "lo"
    assert session == proc.pid
    assert proc in supervisor.STARTED and proc.spawned[:3] == (2, 1, True)
    assert Path(proc.log_path) == tmp_path / "w2-g1-join.log" and Path(proc.log_path).exists()


def test_spawn_of_a_starting_worker_has_no_join_flags(tmp_path):
    proc = supervisor._spawn(JobConfig(steps=5, kill_step=None), 0, 0, False, 1, tmp_path)
    try:
        cmdline = _cmdline(proc.pid)
    finally:
        _kill([proc])
    assert "--join" not in cmdline and "--join-at" not in cmdline and proc.log_path.endswith("w0-g0.log")


def test_kill_all_kills_the_whole_session_and_reaps(tmp_path):
    pid_file = tmp_path / "child.pid"
    proc = subprocess.Popen(["sh", "-c", f"sleep 600 & echo $! > {pid_file}; wait"], start_new_session=True)
    child = None
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.01)
        child = int(pid_file.read_text())
        supervisor.kill_all([proc])
        assert proc.returncode == -signal.SIGKILL
        assert _dead(child), f"child {child} of a killed worker still {_state(child)}"
    finally:
        _kill([proc])
        if child is not None and _state(child) not in ("gone", "Z"):
            os.kill(child, signal.SIGKILL)


def test_tails_show_the_end_of_each_log_and_the_exit_code(tmp_path):
    class Proc:
        def __init__(self, name, text, code):
            self.log_path = str(tmp_path / name)
            Path(self.log_path).write_text(text)
            self.code = code

        def poll(self):
            return self.code

    text = "start " + "x" * 3000 + " the last line"
    tails = supervisor._tails([Proc("w0-g0.log", text, 1), Proc("w1-g0.log", "short", None)])
    assert tails == f"--- w0-g0.log (exit 1) ---\n{text[-1200:]}\n--- w1-g0.log (exit None) ---\nshort"
    assert "the last line" in tails and "start" not in tails
