"""Gaps in the tests of `harness.failover.group` found by a mutation audit.

Closed here (in one process: a TCPStore on a free port, two-member gloo groups on two threads):

- `stale` leaves this worker out and flags only heartbeats older than the timeout;
- `rank` / `leader` are positions in the sorted membership; `form` sorts the members and records the epoch;
- `agree`: the first stored proposal wins, sorted, for every later caller;
- a collective that never completes ends in `MemberLost` once a heartbeat is stale, a collective error ends in
  `MemberLost` naming the stale member, and an error with every member alive is a plain `RuntimeError`;
- heartbeats: none before `start_heartbeats` (``beat=False``), one at once when it is called, the thread ends
  on `close`;
- `allreduce` sums over the members; `broadcast_object` sends the root's object (root given by worker id, not
  rank) and gives the root back its own object.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from harness.failover.group import ElasticGroup, MemberLost


@pytest.fixture
def store():
    master = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=30), wait_for_workers=False)
    yield master
    del master


def _group(store, worker: int, heartbeat_s: float = 60.0, timeout_s: float = 2.0) -> ElasticGroup:
    return ElasticGroup("127.0.0.1", store.port, worker, heartbeat_s, timeout_s, beat=False)


def _on_two_threads(fn, groups):
    with ThreadPoolExecutor(max_workers=len(groups)) as pool:
        return [f.result(timeout=60) for f in [pool.submit(fn, g) for g in groups]]


class _Work:
    """A collective handle: completes after ``polls`` calls of `is_completed`; `wait` raises ``error`` if set."""

    def __init__(self, polls: int, error: str | None = None):
        self.polls, self.error, self.waited = polls, error, False

    def is_completed(self) -> bool:
        self.polls -= 1
        return self.polls < 0

    def wait(self) -> None:
        self.waited = True
        if self.error:
            raise RuntimeError(self.error)


def test_stale_flags_only_other_members_with_old_heartbeats(store):
    group = _group(store, 2, timeout_s=2.0)
    now = time.time()
    group.store.set("hb/0", repr(now + 100))  # fresh
    group.store.set("hb/1", repr(now - 100))  # stale
    group.store.set("hb/2", repr(now - 100))  # this worker's own, stale but never reported
    assert group.stale((0, 1, 2)) == (1,)
    assert group.stale((0, 2)) == ()
    assert group.stale((2,)) == ()


def test_rank_and_leader_are_positions_in_the_membership(store):
    group = _group(store, 3)
    group.members = (1, 3)
    assert group.rank == 1 and group.leader == 1


def test_agree_keeps_the_first_proposal_sorted_for_every_caller(store):
    first, second = _group(store, 0), _group(store, 3)
    assert first.agree(4, (3, 1, 0)) == (0, 1, 3)
    assert second.agree(4, (0, 3)) == (0, 1, 3)
    assert store.get("members/4") == b"0,1,3"
    assert second.agree(5, (3,)) == (3,)  # another epoch: a fresh agreement


def test_heartbeats_start_only_when_asked_at_once_and_stop_on_close(store):
    group = _group(store, 1, heartbeat_s=60.0)
    assert not store.check(["hb/1"])  # a replacement must not beat before it is admitted
    before = time.time()
    group.start_heartbeats()
    assert group.store.check(["hb/1"])  # written now, not a period later (a set is seen in order on its client)
    assert float(group.store.get("hb/1").decode()) >= before
    group.close()
    group._thread.join(timeout=10)
    assert not group._thread.is_alive()


def test_a_hanging_collective_ends_when_a_heartbeat_goes_stale(store):
    group = _group(store, 0, heartbeat_s=0.01, timeout_s=0.5)
    group.store.set("hb/1", repr(time.time() - 100))
    group.members = (0, 1)
    work = _Work(polls=5_000)  # completes (and the mutant returns) only after seconds of polling
    with pytest.raises(MemberLost) as lost:
        group._wait(work)
    assert lost.value.dead == (1,) and lost.value.cause == "heartbeat timeout"
    assert not work.waited


def test_a_collective_error_names_the_stale_member(store):
    group = _group(store, 0, heartbeat_s=0.01, timeout_s=0.5)
    group.members = (0, 1, 2)
    group.store.set("hb/1", repr(time.time() + 100))
    group.store.set("hb/2", repr(time.time() - 100))
    before = time.time()
    with pytest.raises(MemberLost) as lost:
        group._wait(_Work(polls=0, error="Connection closed by peer"))
    assert lost.value.dead == (2,)
    assert lost.value.cause == "collective error: Connection closed by peer"
    assert lost.value.detected_at >= before
    assert "(2,)" in str(lost.value)


def test_a_collective_error_with_every_member_alive_is_not_a_lost_member(store):
    group = _group(store, 0, heartbeat_s=0.01, timeout_s=0.05)
    group.store.set("hb/1", repr(time.time() + 100))
    group.members = (0, 1)
    with pytest.raises(RuntimeError, match="a collective failed but every member is alive") as err:
        group._wait(_Work(polls=0, error="boom"))
    assert not isinstance(err.value, MemberLost)


@pytest.fixture
def pair(store, monkeypatch):
    """Workers 1 and 2 (ids that are not their ranks) formed as epoch 7 from an unsorted member list."""
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    groups = [_group(store, 2), _group(store, 1)]
    _on_two_threads(lambda g: g.form(7, (2, 1)), groups)
    return groups


def test_form_sorts_the_members_and_records_the_epoch(pair):
    for group in pair:
        assert group.epoch == 7 and group.members == (1, 2) and group.leader == 1
    assert [g.rank for g in pair] == [1, 0]


def test_allreduce_sums_over_the_members(pair):
    tensors = {2: torch.tensor([1.0, 2.0]), 1: torch.tensor([10.0, 20.0])}
    _on_two_threads(lambda g: g.allreduce(tensors[g.worker]), pair)
    assert tensors[1].tolist() == [11.0, 22.0] and tensors[2].tolist() == [11.0, 22.0]


def test_broadcast_object_sends_the_roots_object(pair):
    sent = {"step": 5, "ledger": [{"step": 4}], "w": torch.arange(3.0)}
    got = _on_two_threads(lambda g: g.broadcast_object(sent if g.worker == 2 else None, 2), pair)
    assert got[0] is sent  # worker 2, the root
    assert got[1]["step"] == 5 and got[1]["ledger"] == [{"step": 4}] and got[1]["w"].tolist() == [0.0, 1.0, 2.0]


def test_a_new_epoch_forms_beside_the_old_one(pair, store):
    """Each epoch's rendezvous keys live under its own prefix, so a new group never reads an old group's keys."""
    before = set(store.list_keys())
    assert before and all(key.startswith("g7/") for key in before)
    _on_two_threads(lambda g: g.form(8, (1, 2)), pair)
    new = set(store.list_keys()) - before
    assert new and all(key.startswith("g8/") for key in new)
    tensors = {1: torch.tensor([3.0]), 2: torch.tensor([4.0])}
    _on_two_threads(lambda g: g.allreduce(tensors[g.worker]), pair)
    assert tensors[1].item() == 7.0 and all(g.epoch == 8 for g in pair)
