"""Gaps in the tests of `harness.failover.worker` found by a mutation audit.

Closed here (one worker in this process; `ElasticGroup` replaced by `_FakeGroup`, whose all-reduce adds the
simulated peers' part of the step's buffer, over a real TCPStore):

- `JobConfig` accepts victim 0 and kill step 0, refuses victim ``n_workers`` and a single worker;
  ``tokens_per_step``; `config_json` round-trips;
- `Trainer.gradients`: the own shard exact, a taken-over shard with the techniques, per-parameter counts, loss sum;
  `Trainer.apply`: per-parameter mean by counts, no gradient (and no change) where the count is 0;
  `state` / `load` carry the step, ledger, weights and AdamW moments;
- `run`: the committed ledger (counts, who computed each shard, -1 for a doubled shard, mean loss over the
  counted micro-batches), one step at a time, the `done` flag from the leader only; a lost member: the agreed
  proposal leaves the dead out, the worker re-forms and redoes the step with the dead's shard; a worker left
  out by its peers stops; ``ckpt``: the leader alone checkpoints every ``ckpt_every`` steps, a failure exits with
  `RESTART_EXIT` at once, generation g forms epoch ``g * EPOCHS_PER_GENERATION`` and loads the checkpoint only
  when g > 0; a joiner beats only once admitted, re-syncs from the leader, or leaves ``too_late``; a join request
  makes the leader admit the joiner at the step boundary;
- `_admit` (leader: only unadmitted joiners, an admission only for a joiner in the agreed membership;
  non-leader: the stored membership) and `_finish` (file name, exit code);
- `main`: argument defaults and ``--join-at`` reach `run`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

import harness.failover.group as group_module
from harness.failover import worker
from harness.failover.group import MemberLost, connect
from harness.failover.worker import EPOCHS_PER_GENERATION, RESTART_EXIT, JobConfig, Trainer, config_json
from methods.mecefo.training import micro_batch_grads

CFG = JobConfig(n_workers=2, steps=3, kill_step=None, d_model=16, n_layers=1, n_heads=2, d_ff=32, seq_len=16,
                batch_size=2, n_sentences=300, heartbeat_s=0.01)
ATTENTION = ("attn_norm", "qkv", "proj")  # the parameters a skipped attention leaves without gradient


@pytest.fixture
def store():
    master = dist.TCPStore("127.0.0.1", 0, is_master=True, timeout=timedelta(seconds=30), wait_for_workers=False)
    yield master
    del master


@pytest.fixture
def exits(monkeypatch):
    codes: list[int] = []
    monkeypatch.setattr(worker, "leave_process", codes.append)
    return codes


class _FakeGroup:
    """`ElasticGroup`'s interface for `worker.run`; ``peers(group, buffer)`` plays the other members' part."""

    made: list[_FakeGroup] = []
    peers = staticmethod(lambda group, buffer: None)
    remote_state: dict | None = None
    verdict: tuple[int, ...] | None = None  # what `agree` returns (None: the proposal)

    def __init__(self, host, port, worker_id, heartbeat_s, timeout_s, beat=True):
        self.worker, self.beat_at_start = worker_id, beat
        self.store = connect(host, port)
        self.epoch, self.members, self.calls, self.reduces = -1, (), [], 0
        type(self).made.append(self)

    @property
    def leader(self) -> int:
        return self.members[0]

    def start_heartbeats(self) -> None:
        self.calls.append(("beat",))

    def form(self, epoch, members) -> None:
        self.calls.append(("form", epoch, tuple(members)))
        self.epoch, self.members = epoch, tuple(sorted(members))

    def agree(self, epoch, proposal):
        self.calls.append(("agree", epoch, tuple(proposal)))
        return self.verdict if self.verdict is not None else tuple(sorted(proposal))

    def allreduce(self, buffer) -> None:
        self.reduces += 1
        type(self).peers(self, buffer)

    def broadcast_object(self, obj, root):
        self.calls.append(("broadcast", root))
        return obj if root == self.worker else self.remote_state

    def close(self) -> None:
        self.calls.append(("close",))


def _fake(monkeypatch, peers=None, remote_state=None, verdict=None) -> type[_FakeGroup]:
    cls = type("Fake", (_FakeGroup,), {"made": [], "remote_state": remote_state, "verdict": verdict})
    if peers is not None:
        cls.peers = staticmethod(peers)
    monkeypatch.setattr(group_module, "ElasticGroup", cls)
    return cls


def _peer(buffer, n: int, shards: dict[int, int], loss: float = 0.0, join: float = 0.0) -> None:
    """Add peers' ledger entries: ``shards`` maps shard -> the worker that computed it."""
    tail = buffer[buffer.numel() - (2 * n + 2):]
    for shard, by in shards.items():
        tail[shard] += 1
        tail[n + shard] += by + 1
    tail[2 * n] += join
    tail[2 * n + 1] += loss


def _record(tmp_path, name: str) -> dict:
    return json.loads((tmp_path / name).read_text())


def _exact_loss(cfg: JobConfig, shard: int, step: int = 0) -> float:
    trainer = Trainer(cfg, 0)
    return float(trainer.model.loss(*trainer.data.batch(shard, step)).detach())


# ------------------------------------------------------------------------------------------ JobConfig


def test_job_config_accepts_the_edges_and_refuses_just_beyond():
    assert JobConfig(victim=0).victim == 0
    assert JobConfig(kill_step=0).kill_step == 0
    assert JobConfig(kill_step=None).kill_step is None
    with pytest.raises(ValueError, match="victim"):
        JobConfig(n_workers=4, victim=4)
    with pytest.raises(ValueError, match="n_workers >= 2"):
        JobConfig(n_workers=1, victim=0)
    with pytest.raises(ValueError, match="mode"):
        JobConfig(mode="MeCeFO")


@pytest.mark.parametrize("bad,match", [
    ({"ckpt_every": 0}, "ckpt_every: expected >= 1 step, got 0"),  # divided by zero in every worker's first step
    ({"heartbeat_s": 0.0}, "expected 0 < heartbeat_s < timeout_s, got 0.0 and 2.0"),
    ({"heartbeat_s": 2.0, "timeout_s": 2.0}, "expected 0 < heartbeat_s < timeout_s, got 2.0 and 2.0"),
    ({"recovery_s": -1.0}, "recovery_s: expected >= 0 s, got -1.0"),
])
def test_job_config_refuses_timings_no_run_can_keep(bad, match):
    with pytest.raises(ValueError, match=match):
        JobConfig(**bad)
    assert JobConfig(ckpt_every=1, heartbeat_s=0.5, timeout_s=0.6, recovery_s=0.0).ckpt_every == 1


def test_tokens_per_step_counts_every_worker():
    assert JobConfig(n_workers=4, batch_size=4, seq_len=32).tokens_per_step == 512


def test_config_json_round_trips():
    cfg = replace(CFG, mode="ckpt", techniques={"skip_attention": True})
    assert JobConfig(**json.loads(config_json(cfg))) == cfg


# ------------------------------------------------------------------------------------------ Trainer


def test_own_shard_gradient_is_the_exact_backward():
    trainer, reference = Trainer(CFG, 0), Trainer(CFG, 0)
    flat, loss_sum = trainer.gradients([0])
    loss = reference.model.loss(*reference.data.batch(0, 0))
    loss.backward()
    expected = torch.cat([p.grad.reshape(-1) for p in reference.params])
    n = len(trainer.params)
    assert torch.allclose(flat[:-n], expected, atol=1e-7)
    assert flat[-n:].tolist() == [1.0] * n
    assert loss_sum == pytest.approx(float(loss.detach()))


def test_taken_over_shard_uses_the_techniques_and_counts_only_present_gradients():
    trainer, reference = Trainer(CFG, 1), Trainer(CFG, 1)
    flat, loss_sum = trainer.gradients([1, 0])
    own_loss = reference.model.loss(*reference.data.batch(1, 0))
    own_loss.backward()
    own = [p.grad.clone() for p in reference.params]
    taken_loss, taken = micro_batch_grads(reference.model, reference.data.batch(0, 0), trainer.tech,
                                          reference.bases, 0)
    names = [name for name, _ in trainer.model.named_parameters()]
    n = len(names)
    counts = flat[-n:].tolist()
    assert counts == [1.0 if any(a in name for a in ATTENTION) else 2.0 for name in names]
    offset = 0
    for name, p, g in zip(names, trainer.params, own):
        part = flat[offset:offset + p.numel()].reshape(p.shape)
        expected = g if taken[name] is None else g + taken[name]
        assert torch.allclose(part, expected, atol=1e-6), name
        offset += p.numel()
    assert loss_sum == pytest.approx(float(own_loss.detach()) + taken_loss)


def test_apply_averages_each_parameter_by_its_count_and_skips_a_zero_count():
    trainer = Trainer(CFG, 0)
    n = len(trainer.params)
    sizes = [p.numel() for p in trainer.params]
    grads = torch.cat([torch.full((size,), 6.0 * (i + 1)) for i, size in enumerate(sizes)])
    counts = torch.tensor([2.0, 0.0] + [3.0] * (n - 2))
    untouched = trainer.params[1].detach().clone()
    trainer.apply(torch.cat([grads, counts]))
    assert torch.all(trainer.params[0].grad == 3.0)  # parameter i: 6 * (i + 1) / its count
    assert trainer.params[1].grad is None and torch.equal(trainer.params[1].detach(), untouched)
    for i in range(2, n):
        assert torch.all(trainer.params[i].grad == 2.0 * (i + 1)), i


def test_state_and_load_carry_step_ledger_weights_and_optimizer():
    source = Trainer(CFG, 0)
    flat, _ = source.gradients([0])
    source.apply(flat)
    source.step, source.ledger = 7, [{"step": 6, "counts": [1, 1]}]
    target = Trainer(CFG, 1)
    target.load(source.state())
    assert target.step == 7 and target.ledger == [{"step": 6, "counts": [1, 1]}]
    for p, q in zip(source.params, target.params):
        assert torch.equal(p, q)
    moments = target.opt.state_dict()["state"]
    assert moments and torch.equal(moments[0]["exp_avg"], source.opt.state_dict()["state"][0]["exp_avg"])


# ------------------------------------------------------------------------------------------ run


def test_run_commits_a_ledger_of_counts_owners_and_mean_loss(store, tmp_path, exits, monkeypatch):
    fake = _fake(monkeypatch, peers=lambda g, buf: _peer(buf, 2, {1: 1}, loss=5.0))
    worker.run(CFG, 0, 0, False, "127.0.0.1", store.port, tmp_path)
    record = _record(tmp_path, "w0-g0.json")
    ledger = record["ledger"]
    assert [row["step"] for row in ledger] == [0, 1, 2] and fake.made[0].reduces == 3
    assert all(row["counts"] == [1, 1] and row["by"] == [0, 1] for row in ledger)
    assert ledger[0]["loss"] == pytest.approx((_exact_loss(CFG, 0) + 5.0) / 2)
    assert all(row["epoch"] == 0 and row["n_members"] == 2 for row in ledger)
    assert [s["shards"] for s in record["steps"]] == [[0], [0], [0]]
    assert record["exit"] == "done" and record["start_step"] == 0 and exits == [0]
    assert fake.made[0].calls[0] == ("form", 0, (0, 1)) and fake.made[0].beat_at_start
    assert fake.made[0].store.check(["done"])  # the leader says the job is over
    assert fake.made[0].store.get("progress/0") == b"2"  # the step it last started (the supervisor's kill trigger)


def test_run_marks_a_doubled_shard_and_divides_the_loss_by_the_counted_batches(store, tmp_path, exits, monkeypatch):
    # worker 0 computed shard 0 and, by mistake, shard 1 too (a shard counted twice has no single owner)
    fake = _fake(monkeypatch, peers=lambda g, buf: _peer(buf, 2, {0: 0, 1: 0}, loss=4.0))
    worker.run(replace(CFG, steps=1), 1, 0, False, "127.0.0.1", store.port, tmp_path)
    row = _record(tmp_path, "w1-g0.json")["ledger"][0]
    assert row["counts"] == [1, 2] and row["by"] == [0, -1]
    assert row["loss"] == pytest.approx((_exact_loss(CFG, 1) + 4.0) / 3)
    assert not fake.made[0].store.check(["done"])  # worker 1 is not the leader


def test_a_lost_member_is_left_out_and_its_shard_taken_over(store, tmp_path, exits, monkeypatch):
    cfg = replace(CFG, n_workers=3, steps=2)

    def peers(group, buffer):
        if group.reduces == 1:
            raise MemberLost((0,), 123.0, "heartbeat timeout")
        _peer(buffer, 3, {2: 2})

    fake = _fake(monkeypatch, peers=peers)
    worker.run(cfg, 1, 0, False, "127.0.0.1", store.port, tmp_path)
    record = _record(tmp_path, "w1-g0.json")
    calls = fake.made[0].calls
    assert ("agree", 1, (1, 2)) in calls and ("form", 1, (1, 2)) in calls and ("broadcast", 1) in calls
    detected, reformed = record["events"]
    assert detected == {"kind": "detected", "t": 123.0, "dead": [0], "cause": "heartbeat timeout", "step": 0,
                        "epoch": 0}
    assert reformed["kind"] == "reformed" and reformed["members"] == [1, 2] and reformed["epoch"] == 1
    assert [row["step"] for row in record["ledger"]] == [0, 1]  # the failed step redone, not skipped
    assert record["ledger"][0]["by"] == [1, 1, 2] and record["ledger"][0]["n_members"] == 2
    assert record["steps"][0]["shards"] == [1, 0]


def test_a_worker_its_peers_declared_failed_stops(store, tmp_path, exits, monkeypatch):
    def peers(group, buffer):
        raise MemberLost((0,), 1.0, "heartbeat timeout")

    _fake(monkeypatch, peers=peers, verdict=(0, 2))
    with pytest.raises(RuntimeError, match="worker 1 was declared failed by its peers"):
        worker.run(replace(CFG, n_workers=3), 1, 0, False, "127.0.0.1", store.port, tmp_path)


def test_ckpt_failure_exits_for_a_restart_at_once(store, tmp_path, exits, monkeypatch):
    def peers(group, buffer):
        if group.reduces == 2:
            raise MemberLost((1,), 1.0, "heartbeat timeout")
        _peer(buffer, 2, {1: 1})

    fake = _fake(monkeypatch, peers=peers)
    worker.run(replace(CFG, mode="ckpt", steps=4), 0, 0, False, "127.0.0.1", store.port, tmp_path)
    record = _record(tmp_path, "w0-g0.json")
    assert record["exit"] == "restart" and exits == [RESTART_EXIT]
    assert [row["step"] for row in record["ledger"]] == [0] and fake.made[0].reduces == 2
    assert not any(call[0] == "agree" for call in fake.made[0].calls)
    assert not fake.made[0].store.check(["done"])  # a restarting leader does not end the job


def test_ckpt_leader_alone_checkpoints_every_k_steps(store, tmp_path, exits, monkeypatch):
    cfg = replace(CFG, mode="ckpt", steps=3, ckpt_every=2)
    _fake(monkeypatch, peers=lambda g, buf: _peer(buf, 2, {1 - g.worker: 1 - g.worker}))
    worker.run(cfg, 1, 0, False, "127.0.0.1", store.port, tmp_path)
    assert not (tmp_path / "ckpt.pt").exists()
    worker.run(cfg, 0, 0, False, "127.0.0.1", store.port, tmp_path)
    events = _record(tmp_path, "w0-g0.json")["events"]
    assert [(e["kind"], e["step"]) for e in events] == [("checkpoint", 2)]
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    assert saved["step"] == 2 and [row["step"] for row in saved["ledger"]] == [0, 1]
    assert events[0]["bytes"] == (tmp_path / "ckpt.pt").stat().st_size


def test_ckpt_restart_loads_the_checkpoint_only_in_a_later_generation(store, tmp_path, exits, monkeypatch):
    cfg = replace(CFG, mode="ckpt", steps=3, ckpt_every=2)
    fake = _fake(monkeypatch, peers=lambda g, buf: _peer(buf, 2, {1: 1}))
    worker.run(cfg, 0, 0, False, "127.0.0.1", store.port, tmp_path)  # writes ckpt.pt at step 2
    worker.run(cfg, 0, 1, False, "127.0.0.1", store.port, tmp_path)
    later = _record(tmp_path, "w0-g1.json")
    assert later["start_step"] == 2 and fake.made[1].calls[0] == ("form", EPOCHS_PER_GENERATION, (0, 1))
    assert [(row["step"], row["epoch"]) for row in later["ledger"]] == [(0, 0), (1, 0), (2, EPOCHS_PER_GENERATION)]
    (tmp_path / "w0-g0.json").unlink()
    worker.run(cfg, 0, 0, False, "127.0.0.1", store.port, tmp_path)  # generation 0 starts afresh, ckpt or not
    assert _record(tmp_path, "w0-g0.json")["start_step"] == 0


def test_a_joiner_beats_only_once_admitted_and_resyncs_from_the_leader(store, tmp_path, exits, monkeypatch):
    source = Trainer(CFG, 0)
    source.step, source.ledger = 2, [{"step": 0}, {"step": 1}]
    fake = _fake(monkeypatch, peers=lambda g, buf: _peer(buf, 2, {0: 0}), remote_state=source.state())
    store.set("members/5", "0,1")
    store.set("admit/1", "5")
    join_at = time.time() + 0.2
    worker.run(CFG, 1, 0, True, "127.0.0.1", store.port, tmp_path, join_at=join_at)
    record = _record(tmp_path, "w1-g0-join.json")
    assert record["t_join_request"] >= join_at  # asks to join no earlier than told
    group = fake.made[0]
    assert not group.beat_at_start and group.store.check(["join/1"])
    assert group.calls[:3] == [("beat",), ("form", 5, (0, 1)), ("broadcast", 0)]
    assert record["events"][0]["kind"] == "joined" and record["events"][0]["step"] == 2
    assert record["start_step"] == 2 and [row["step"] for row in record["ledger"]] == [0, 1, 2]
    assert record["ledger"][2]["by"] == [0, 1] and exits == [0]


def test_a_joiner_after_the_end_leaves_too_late(store, tmp_path, exits, monkeypatch):
    fake = _fake(monkeypatch)
    store.set("done", "1")
    worker.run(CFG, 1, 0, True, "127.0.0.1", store.port, tmp_path, join_at=0.0)
    record = _record(tmp_path, "w1-g0-join.json")
    assert record["exit"] == "too_late" and record["ledger"] == [] and exits == [0]
    assert not any(call[0] == "form" for call in fake.made[0].calls)


def test_a_join_request_is_admitted_at_the_step_boundary(store, tmp_path, exits, monkeypatch):
    def peers(group, buffer):
        if group.reduces == 1:
            group.store.set("join/1", "1.0")  # worker 1 asks to join while it is down
            raise MemberLost((1,), 1.0, "heartbeat timeout")
        if 1 in group.members:
            _peer(buffer, 2, {1: 1})

    fake = _fake(monkeypatch, peers=peers)
    worker.run(CFG, 0, 0, False, "127.0.0.1", store.port, tmp_path)
    record = _record(tmp_path, "w0-g0.json")
    assert [e["kind"] for e in record["events"]] == ["detected", "reformed", "admitted"]
    assert record["events"][2]["epoch"] == 2 and record["events"][2]["members"] == [0, 1]
    assert fake.made[0].store.get("admit/1") == b"2"
    calls = fake.made[0].calls
    assert calls[calls.index(("form", 2, (0, 1))) + 1] == ("broadcast", 0)  # the joiner's re-sync
    assert [row["by"] for row in record["ledger"]] == [[0, 0], [0, 1], [0, 1]]
    assert [s["shards"] for s in record["steps"]] == [[0, 1], [0], [0]]


def test_one_of_two_down_workers_asking_to_join_is_admitted(store, tmp_path, exits, monkeypatch):
    """Fault fixed: the join flag asked the store whether *every* down worker had asked to join (`check` of a list
    is true only if all keys exist), so with two workers down a single replacement was never admitted."""
    cfg = replace(CFG, n_workers=3)

    def peers(group, buffer):
        if group.reduces == 1:
            group.store.set("join/1", "1.0")  # worker 1 asks to join; worker 2 stays down
            raise MemberLost((1, 2), 1.0, "heartbeat timeout")
        if 1 in group.members:
            _peer(buffer, 3, {1: 1})

    fake = _fake(monkeypatch, peers=peers)
    worker.run(cfg, 0, 0, False, "127.0.0.1", store.port, tmp_path)
    record = _record(tmp_path, "w0-g0.json")
    assert [e["kind"] for e in record["events"]] == ["detected", "reformed", "admitted"]
    assert record["events"][2]["members"] == [0, 1] and fake.made[0].store.get("admit/1") == b"2"
    assert [row["by"] for row in record["ledger"]] == [[0, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert [s["shards"] for s in record["steps"]] == [[0, 2, 1], [0, 2], [0, 2]]


# ------------------------------------------------------------------------------------------ _admit, _finish, main


class _AdmitGroup:
    def __init__(self, port: int, worker_id: int, members: tuple[int, ...], epoch: int):
        self.store, self.worker, self.members, self.epoch = connect("127.0.0.1", port), worker_id, members, epoch
        self.formed: list = []

    @property
    def leader(self) -> int:
        return self.members[0]

    def agree(self, epoch, proposal):
        text = ",".join(str(m) for m in sorted(proposal))
        return tuple(int(m) for m in self.store.compare_set(f"members/{epoch}", "", text).decode().split(","))

    def form(self, epoch, members):
        self.formed.append((epoch, tuple(members)))


def test_leader_admits_only_joiners_not_yet_admitted(store):
    group = _AdmitGroup(store.port, 0, (0, 2), 5)
    for key, value in (("join/1", "1"), ("join/3", "1"), ("admit/3", "4")):
        group.store.set(key, value)
    record: dict = {"events": []}
    worker._admit(group, record, 9, 4)
    assert group.formed == [(6, (0, 1, 2))]
    assert group.store.get("admit/1") == b"6" and group.store.get("admit/3") == b"4"
    assert record["events"][0]["epoch"] == 6 and record["events"][0]["members"] == [0, 1, 2]
    assert record["events"][0]["step"] == 9


def test_leader_does_not_admit_a_joiner_left_out_of_the_agreed_membership(store):
    group = _AdmitGroup(store.port, 0, (0, 2), 5)
    group.store.set("join/1", "1")
    group.store.compare_set("members/6", "", "0,2")  # an earlier proposal for epoch 6 won
    worker._admit(group, {"events": []}, 9, 4)
    assert group.formed == [(6, (0, 2))] and not group.store.check(["admit/1"])


def test_non_leader_forms_the_stored_membership(store):
    group = _AdmitGroup(store.port, 2, (0, 2), 5)
    group.store.set("members/6", "0,1,2")
    group.store.set("join/3", "1")
    worker._admit(group, {"events": []}, 9, 4)
    assert group.formed == [(6, (0, 1, 2))] and not group.store.check(["admit/3"])


@pytest.mark.parametrize(("join", "exit_", "name", "code"), [
    (True, "done", "w2-g1-join.json", 0), (False, "restart", "w2-g1.json", RESTART_EXIT),
    (False, "too_late", "w2-g1.json", 0),
])
def test_finish_writes_the_record_and_leaves_with_the_exit_code(tmp_path, exits, join, exit_, name, code):
    class Group:
        closed = False

        def close(self):
            Group.closed = True

    record = {"worker": 2, "generation": 1, "join": join, "exit": exit_}
    worker._finish(Group(), record, tmp_path, [{"step": 0}])
    written = json.loads((tmp_path / name).read_text())
    assert written["ledger"] == [{"step": 0}] and "t_end" in written
    assert [p.name for p in tmp_path.iterdir()] == [name] and Group.closed and exits == [code]


def test_main_passes_arguments_and_defaults_to_run(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(worker, "run", lambda *args: seen.append(args) or 0)
    cfg = replace(CFG, steps=5)
    assert worker.main(["--config", config_json(cfg), "--worker", "3", "--port", "1234", "--out", str(tmp_path)]) == 0
    assert seen[-1] == (cfg, 3, 0, False, "127.0.0.1", 1234, tmp_path, 0.0)
    worker.main(["--config", config_json(cfg), "--worker", "1", "--port", "9", "--out", str(tmp_path), "--join",
                 "--join-at", "12.5", "--generation", "2", "--host", "10.0.0.1"])
    assert seen[-1] == (cfg, 1, 2, True, "10.0.0.1", 9, tmp_path, 12.5)
