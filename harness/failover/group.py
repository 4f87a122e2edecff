"""A reconfigurable gloo process group on plain torch.distributed: heartbeats, bounded failure detection,
membership epochs, re-formation without restarting the survivors, and state re-sync from a peer.

The recovery scheme MeCeFO (Hu et al., arXiv 2510.16415) assumes of its cluster: survivors notice a failed rank
within a timeout, keep running, and a recovered rank copies weights and optimizer state from a peer.

* Every worker has a stable id (its data-parallel slot, 0..n-1) and a heartbeat thread that writes
  ``hb/<id>`` (wall-clock seconds) into the job's TCPStore every ``heartbeat_s``; a replacement starts beating
  under a failed worker's id only once admitted to a new epoch (the survivors have all re-formed without it).
* A *membership epoch* ``e`` is a sorted tuple of worker ids; its gloo group is built on
  ``PrefixStore("g<e>", store)``, so forming epoch ``e + 1`` needs nothing from the broken group of epoch ``e``
  (no process restarts, no global re-initialisation). Broken groups are kept referenced and never destroyed:
  their gloo threads may still be blocked, and destroying them would wait for gloo's own timeout.
* `ElasticGroup.allreduce` starts the collective asynchronously and polls it; while it waits it reads the
  members' heartbeats. A collective error or a heartbeat older than ``timeout_s`` raises `MemberLost` with the
  stale members, so detection is bounded by ``timeout_s`` plus one poll, whatever the ring position of the
  failed rank (a rank not next to it would otherwise wait for gloo's timeout).
* Agreement on the next membership: the first proposal written with ``compare_set`` under ``members/<e>`` wins;
  every survivor adopts it (no split brain even if two survivors saw different stale sets).

Why not torchft: its wheel is on this machine's package index, but it needs a lighthouse server and a per-step
quorum manager around the optimizer; the part a 4-process CPU job needs (the above) fits in this module and
keeps every timing of the study inside code we can read.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import torch
import torch.distributed as dist


class MemberLost(RuntimeError):
    """A collective of the current epoch failed; ``dead`` are the members whose heartbeats went stale."""

    def __init__(self, dead: tuple[int, ...], detected_at: float, cause: str):
        super().__init__(f"members {dead} lost ({cause})")
        self.dead, self.detected_at, self.cause = dead, detected_at, cause


def connect(host: str, port: int, timeout_s: float = 60.0) -> dist.TCPStore:
    """A client of the job's TCPStore (the supervisor hosts it, so no worker's death takes it down)."""
    return dist.TCPStore(host, port, is_master=False, timeout=timedelta(seconds=timeout_s), wait_for_workers=False)


class ElasticGroup:
    """Membership epochs of gloo groups over one TCPStore; see the module docstring.

    Args:
        host, port: the TCPStore.
        worker: this worker's stable id.
        heartbeat_s: period of the heartbeat writes.
        timeout_s: a member whose heartbeat is older than this is declared failed (the detection bound).
    """

    def __init__(self, host: str, port: int, worker: int, heartbeat_s: float = 0.1, timeout_s: float = 2.0,
                 beat: bool = True):
        self.host, self.port, self.worker = host, port, int(worker)
        self.heartbeat_s, self.timeout_s = float(heartbeat_s), float(timeout_s)
        self.store = connect(host, port)
        self.epoch, self.members, self.pg = -1, (), None
        self._graveyard: list[object] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if beat:
            self.start_heartbeats()

    # ------------------------------------------------------------------------------------------ heartbeats

    def start_heartbeats(self) -> None:
        """Write ``hb/<id>`` now and every ``heartbeat_s`` from a thread. A replacement for a failed worker calls it
        once admitted, before forming the new epoch: beating earlier would refresh the dead worker's heartbeat and
        hide its failure from survivors that have not detected it yet."""
        self._beat()
        self._thread = threading.Thread(target=self._heartbeats, daemon=True)
        self._thread.start()

    def _beat(self, store: dist.TCPStore | None = None) -> None:
        (store or self.store).set(f"hb/{self.worker}", repr(time.time()))

    def _heartbeats(self) -> None:
        store = connect(self.host, self.port)  # own client: the main thread's may be blocked in a get
        while not self._stop.wait(self.heartbeat_s):
            self._beat(store)

    def stale(self, members: tuple[int, ...]) -> tuple[int, ...]:
        """Members (other than this worker) whose last heartbeat is older than ``timeout_s``."""
        others = [m for m in members if m != self.worker]
        if not others:
            return ()
        values = self.store.multi_get([f"hb/{m}" for m in others])
        now = time.time()
        return tuple(m for m, v in zip(others, values) if now - float(v.decode()) > self.timeout_s)

    def close(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------------------------------ epochs

    @property
    def rank(self) -> int:
        return self.members.index(self.worker)

    @property
    def leader(self) -> int:
        return self.members[0]

    def form(self, epoch: int, members: tuple[int, ...]) -> None:
        """Build the gloo group of ``epoch`` (blocks until every member has called this with the same epoch)."""
        if self.pg is not None:
            self._graveyard.append(self.pg)
        members = tuple(sorted(members))
        prefix = dist.PrefixStore(f"g{epoch}/", self.store)
        self.pg = dist.ProcessGroupGloo(prefix, members.index(self.worker), len(members),
                                        timedelta(seconds=max(30.0, 10 * self.timeout_s)))
        self.epoch, self.members = epoch, members

    def agree(self, epoch: int, proposal: tuple[int, ...]) -> tuple[int, ...]:
        """The membership of ``epoch``: the first proposal stored wins; every caller gets the same tuple."""
        text = ",".join(str(m) for m in sorted(proposal))
        won = self.store.compare_set(f"members/{epoch}", "", text).decode()
        return tuple(int(m) for m in won.split(",") if m)

    # ------------------------------------------------------------------------------------------ collectives

    def _wait(self, work) -> None:
        next_check = time.monotonic() + self.heartbeat_s
        while not work.is_completed():
            if time.monotonic() >= next_check:
                dead = self.stale(self.members)
                if dead:
                    raise MemberLost(dead, time.time(), "heartbeat timeout")
                next_check = time.monotonic() + self.heartbeat_s
            time.sleep(0.0005)
        try:
            work.wait()
        except RuntimeError as err:
            raise MemberLost(self._await_stale(), time.time(), f"collective error: {str(err)[:120]}") from None

    def _await_stale(self) -> tuple[int, ...]:
        """After a collective error: wait (at most 3 x timeout) until some member's heartbeat is stale."""
        deadline = time.monotonic() + 3 * self.timeout_s
        while time.monotonic() < deadline:
            dead = self.stale(self.members)
            if dead:
                return dead
            time.sleep(self.heartbeat_s / 2)
        raise RuntimeError(f"epoch {self.epoch}: a collective failed but every member is alive")

    def allreduce(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` in place over the members; `MemberLost` if a member is gone."""
        self._wait(self.pg.allreduce([tensor]))

    def broadcast_object(self, obj: object, root: int) -> object:
        """``obj`` of worker ``root`` to every member (torch.save bytes: size first, then the payload)."""
        payload = torch.empty(0, dtype=torch.uint8)
        if self.worker == root:
            buffer = io.BytesIO()
            torch.save(obj, buffer)
            payload = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
        size = torch.tensor([payload.numel()], dtype=torch.int64)
        root_rank = self.members.index(root)
        self._wait(self.pg.broadcast(size, root_rank))
        if self.worker != root:
            payload = torch.empty(int(size.item()), dtype=torch.uint8)
        self._wait(self.pg.broadcast(payload, root_rank))
        if self.worker == root:
            return obj
        return torch.load(io.BytesIO(payload.numpy().tobytes()), weights_only=False)
