"""Start the ranks of one measurement (`harness.fidelity.measure`), wait, and reduce their times.

`run_ranks` starts ``world_size`` worker processes, on loopback (`Loopback`) or each inside its own network
namespace (`harness.fidelity.netns.StarNetwork`), waits for all of them with a deadline, kills every one of them
if any fails or the deadline passes, and returns the per-rank records. `reduce_rows` turns those into one row per
size: per repeat the max over ranks (the slowest rank ends a collective), then median / p10 / p90 over repeats.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from harness.errors import HarnessError


class MeasurementError(HarnessError):
    """A measurement's worker processes failed or timed out; the message carries their stderr tails."""


class Placement(Protocol):
    """Where the ranks run: how to start rank r and how the ranks find rank 0."""

    def exec_prefix(self, rank: int) -> list[str]: ...

    def rank_env(self, rank: int) -> dict[str, str]: ...

    master_addr: str


@dataclass
class Loopback:
    """All ranks as ordinary processes on this machine, talking over 127.0.0.1."""

    master_addr: str = "127.0.0.1"

    def exec_prefix(self, rank: int) -> list[str]:
        return []

    def rank_env(self, rank: int) -> dict[str, str]:
        return {"GLOO_SOCKET_IFNAME": "lo"}


@dataclass
class InNamespaces:
    """Ranks inside the namespaces of a `StarNetwork` (rank 0's address is the rendezvous)."""

    network: object  # StarNetwork; typed loosely to keep this module importable without it

    @property
    def master_addr(self) -> str:
        return self.network.rank_addr(0)

    def exec_prefix(self, rank: int) -> list[str]:
        return self.network.exec_prefix(rank)

    def rank_env(self, rank: int) -> dict[str, str]:
        return {"GLOO_SOCKET_IFNAME": self.network.rank_ifname}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_ranks(
    kind: str,
    world_size: int,
    worker_args: list[str],
    placement: Placement | None = None,
    timeout_s: float = 600.0,
    port: int | None = None,
) -> list[dict]:
    """Run ``python -m harness.fidelity.measure <kind> ...`` as ``world_size`` ranks; return their records.

    Raises `MeasurementError` (with each failing rank's stderr tail) if a rank exits non-zero or the deadline
    passes; every started process is killed before returning either way.
    """
    return run_module_ranks(
        "harness.fidelity.measure", world_size, lambda out: [kind, "--out", str(out), *worker_args],
        placement=placement, timeout_s=timeout_s, port=port,
    )


def run_module_ranks(
    module: str,
    world_size: int,
    args_for: Callable[[Path], list[str]],
    *,
    placement: Placement | None = None,
    timeout_s: float = 600.0,
    port: int | None = None,
    on_start: Callable[[list[int]], None] | None = None,
) -> list[dict]:
    """Run ``python -m <module> <args_for(out_dir)>`` as ``world_size`` ranks; return ``out_dir/rank<r>.json``.

    ``args_for`` gets the run's temporary output folder (it may write inputs there) and returns the program's
    arguments; every rank writes its record to ``rank<r>.json`` in that folder. ``on_start`` gets the pids.
    Raises `MeasurementError` (with each failing rank's log tail) if a rank exits non-zero or the deadline passes;
    every started process is killed and reaped before this returns either way.
    """
    if world_size < 1:
        raise ValueError(f"world_size: expected >= 1, got {world_size}")
    placement = placement or Loopback()
    port = port or (free_port() if isinstance(placement, Loopback) else 29500)
    with tempfile.TemporaryDirectory(prefix="ranks-") as tmp:
        out_dir = Path(tmp)
        args = args_for(out_dir)
        procs: list[subprocess.Popen] = []
        logs = []
        try:
            for rank in range(world_size):
                env = dict(os.environ)
                env.update(placement.rank_env(rank))
                env.update(
                    MASTER_ADDR=placement.master_addr,
                    MASTER_PORT=str(port),
                    RANK=str(rank),
                    WORLD_SIZE=str(world_size),
                    OMP_NUM_THREADS="1",
                )
                cmd = placement.exec_prefix(rank) + [sys.executable, "-m", module, *args]
                log = open(out_dir / f"rank{rank}.log", "w+")
                logs.append(log)
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
            if on_start is not None:
                on_start([proc.pid for proc in procs])
            _wait_all(procs, logs, timeout_s)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            for log in logs:
                log.close()
        return [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(world_size)]


def _wait_all(procs: list[subprocess.Popen], logs: list, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        codes = [proc.poll() for proc in procs]
        if all(code == 0 for code in codes):  # before the deadline: ranks done between two polls count as done
            return
        failed = [r for r, code in enumerate(codes) if code not in (None, 0)]
        if failed or time.monotonic() > deadline:
            reason = f"rank(s) {failed} failed" if failed else f"timed out after {timeout_s:.0f} s"
            raise MeasurementError(f"{reason}:\n" + "\n".join(_tail(logs[r], r) for r in (failed or range(len(procs)))))
        time.sleep(0.05)


def _tail(log, rank: int, n_chars: int = 1500) -> str:
    log.flush()
    log.seek(0)
    return f"--- rank {rank} ---\n{log.read()[-n_chars:]}"


def reduce_rows(records: list[dict], key: str = "size_bytes") -> list[dict]:
    """One row per ``key`` value: per repeat max over ranks, then median, p10, p90 (ns) over repeats.

    A rank that sat out (odd world size in ping-pong) reports zeros and never wins the max.
    """
    by_rank = [record["rows"] for record in records]
    rows = []
    for i, first in enumerate(by_rank[0]):
        per_rank = np.array([rank_rows[i]["times_ns"] for rank_rows in by_rank], dtype=np.int64)
        slowest_ns = per_rank.max(axis=0)
        rows.append(
            {
                **({"op": first["op"]} if "op" in first else {}),
                key: first.get(key),
                "time_ns_median": int(np.median(slowest_ns)),
                "time_ns_p10": int(np.percentile(slowest_ns, 10)),
                "time_ns_p90": int(np.percentile(slowest_ns, 90)),
                "n_repeats": int(slowest_ns.size),
            }
        )
    return rows
