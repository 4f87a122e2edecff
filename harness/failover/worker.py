"""One worker of the real failure run: data-parallel TinyLlama training over an `ElasticGroup` (gloo, CPU).

Run by `harness.failover.supervisor` as ``python -m harness.failover.worker --config JSON --worker W ...``.
Every step ``s`` has ``n_workers`` data shards (``CorpusShards.batch(shard, s)``); worker ``w`` computes shard ``w``
and, while workers are down, the shards of the down workers just before it in the ring (MeCeFO's neighbour, Hu et
al., arXiv 2510.16415: the next healthy rank takes the failed rank's micro-batch). The neighbour runs the taken-over
micro-batch with MeCeFO's techniques (`methods.mecefo.neighbour`, ``JobConfig.techniques``); parameters are
averaged over the micro-batches that produced a gradient for them (the skipped attention produces none).

One all-reduce per step carries the gradient sums, per-parameter counts, per-shard counts and who computed each
shard (the step's ledger: a shard counted twice or missing is visible to every rank), a join flag and the loss
sum. The optimizer steps only after the all-reduce succeeded, so a failed step is redone after re-formation from
the state of the new group's leader (broadcast to every member, the same path that re-syncs a rejoining worker).

Modes: ``mecefo`` (survivors re-form and continue; the killed worker rejoins when the supervisor restarts it) and
``ckpt`` (checkpoint-restart: the leader writes a checkpoint every ``ckpt_every`` steps; at a failure every
survivor exits with `RESTART_EXIT` and the supervisor restarts the whole job from the last checkpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from methods.process_exit import leave_process

RESTART_EXIT = 3
#: members of generation g use epochs g * EPOCHS_PER_GENERATION + e (one store, no clash between restarts)
EPOCHS_PER_GENERATION = 1000


@dataclass(frozen=True)
class JobConfig:
    """The job: model, data, failure and recovery settings (seconds; steps)."""

    mode: str = "mecefo"
    n_workers: int = 4
    steps: int = 60
    kill_step: int | None = 20
    victim: int = 1
    recovery_s: float = 3.0
    #: the replacement process starts (imports, model build) at the kill and asks to join at kill + recovery_s,
    #: as a warm spare would; False: it starts only at kill + recovery_s (the start-up then adds to the outage).
    #: A recovery_s above timeout_s leaves the neighbour's takeover long enough to time its steps
    warm_rejoin: bool = True
    ckpt_every: int = 10
    heartbeat_s: float = 0.1
    timeout_s: float = 2.0
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 88
    seq_len: int = 32
    batch_size: int = 4
    lr: float = 3e-3
    n_sentences: int = 4000
    seed: int = 0
    techniques: dict = field(default_factory=lambda: {"skip_attention": True, "recompute_ffn": True,
                                                      "low_rank": 8, "refresh_every": 20})

    def __post_init__(self) -> None:
        if self.mode not in ("mecefo", "ckpt"):
            raise ValueError(f"mode: expected 'mecefo' or 'ckpt', got {self.mode!r}")
        if not 0 <= self.victim < self.n_workers or self.n_workers < 2:
            raise ValueError(f"victim: expected 0..{self.n_workers - 1} with n_workers >= 2, got {self.victim}")
        if self.kill_step is not None and not 0 <= self.kill_step < self.steps:
            raise ValueError(f"kill_step: expected 0..{self.steps - 1} or None, got {self.kill_step}")
        if self.ckpt_every < 1:
            raise ValueError(f"ckpt_every: expected >= 1 step, got {self.ckpt_every}")
        if not 0 < self.heartbeat_s < self.timeout_s:
            raise ValueError(f"heartbeat_s and timeout_s: expected 0 < heartbeat_s < timeout_s, got {self.heartbeat_s}"
                             f" and {self.timeout_s}")
        if self.recovery_s < 0:
            raise ValueError(f"recovery_s: expected >= 0 s, got {self.recovery_s}")

    @property
    def tokens_per_step(self) -> int:
        return self.n_workers * self.batch_size * self.seq_len


def shards_of(worker: int, members: tuple[int, ...], n_workers: int) -> list[int]:
    """Shards ``worker`` computes: its own, then each down worker's whose next healthy ring successor it is."""
    shards = [worker]
    prev = (worker - 1) % n_workers
    while prev not in members and prev != worker:
        shards.append(prev)
        prev = (prev - 1) % n_workers
    return shards


class Trainer:
    """Model, optimizer, data and the step loop of one worker."""

    def __init__(self, cfg: JobConfig, worker: int):
        import torch

        from methods.data.corpus import CharTokenizer, CorpusShards, make_corpus
        from methods.mecefo.lowrank import LowRankBases
        from methods.mecefo.neighbour import Techniques
        from methods.models.gpt import TinyLlama

        torch.set_num_threads(1)
        self.cfg, self.worker = cfg, worker
        text = make_corpus(cfg.n_sentences, cfg.seed)
        tokenizer = CharTokenizer.from_text(text)
        self.data = CorpusShards(tokenizer.encode(text), cfg.n_workers, cfg.seq_len, cfg.batch_size, cfg.seed)
        self.model = TinyLlama(tokenizer.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.d_ff, cfg.seq_len,
                               seed=cfg.seed)
        self.params = list(self.model.parameters())
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr)
        self.tech = Techniques(**cfg.techniques)
        self.bases = LowRankBases(self.tech.low_rank, self.tech.refresh_every) if self.tech.low_rank else None
        self.step, self.ledger = 0, []

    def state(self) -> dict:
        return {"step": self.step, "ledger": self.ledger, "model": self.model.state_dict(),
                "opt": self.opt.state_dict()}

    def load(self, state: dict) -> None:
        self.step, self.ledger = int(state["step"]), list(state["ledger"])
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])

    def gradients(self, shards: list[int]):
        """Flat [grad sums | per-parameter counts] of this worker's shards, and their loss sum."""
        import torch

        from methods.mecefo.neighbour import EXACT
        from methods.mecefo.training import micro_batch_grads

        sums = [torch.zeros_like(p) for p in self.params]
        counts = torch.zeros(len(self.params))
        loss_sum = 0.0
        for shard in shards:
            tech = EXACT if shard == self.worker else self.tech
            loss, grads = micro_batch_grads(self.model, self.data.batch(shard, self.step), tech, self.bases, self.step)
            loss_sum += loss
            for i, grad in enumerate(grads.values()):
                if grad is not None:
                    sums[i] += grad
                    counts[i] += 1
        return torch.cat([s.reshape(-1) for s in sums] + [counts]), loss_sum

    def apply(self, flat) -> None:
        """Per-parameter mean over the micro-batches that produced a gradient, then one AdamW step."""
        offset, n = 0, len(self.params)
        counts = flat[-n:]
        for i, p in enumerate(self.params):
            size = p.numel()
            p.grad = flat[offset:offset + size].reshape(p.shape) / counts[i] if counts[i] > 0 else None
            offset += size
        self.opt.step()


def run(cfg: JobConfig, worker: int, generation: int, join: bool, host: str, port: int, out: Path,
        join_at: float = 0.0) -> int:
    import torch

    from harness.failover.group import ElasticGroup, MemberLost

    t_spawned = time.time()
    trainer = Trainer(cfg, worker)
    group = ElasticGroup(host, port, worker, cfg.heartbeat_s, cfg.timeout_s, beat=not join)
    record: dict = {"worker": worker, "generation": generation, "join": join, "t_spawned": t_spawned,
                    "events": [], "steps": [], "exit": "done", "start_step": None, "t_formed": None,
                    "t_ready": time.time()}
    n = cfg.n_workers
    ckpt_path = out / "ckpt.pt"

    def resync(root: int) -> None:
        trainer.load(group.broadcast_object(trainer.state() if worker == root else None, root))

    if join:
        time.sleep(max(0.0, join_at - time.time()))
        record["t_join_request"] = time.time()
        group.store.set(f"join/{worker}", repr(time.time()))
        while not group.store.check([f"admit/{worker}"]):
            if group.store.check(["done"]):  # the job finished before a step boundary admitted us
                record["exit"] = "too_late"
                return _finish(group, record, out, trainer.ledger)
            time.sleep(cfg.heartbeat_s / 2)
        epoch = int(group.store.get(f"admit/{worker}").decode())
        members = tuple(int(m) for m in group.store.get(f"members/{epoch}").decode().split(","))
        group.start_heartbeats()  # admitted: every survivor has re-formed without our id, none checks it until now
        group.form(epoch, members)
        resync(group.leader)
        record["events"].append({"kind": "joined", "t": time.time(), "epoch": epoch, "step": trainer.step})
    else:
        if cfg.mode == "ckpt" and generation > 0 and ckpt_path.exists():
            trainer.load(torch.load(ckpt_path, weights_only=False))
        group.form(generation * EPOCHS_PER_GENERATION, tuple(range(n)))
    record["t_formed"] = time.time()
    record["start_step"] = trainer.step

    while trainer.step < cfg.steps:
        try:
            group.store.set(f"progress/{worker}", str(trainer.step))
            t_start, wall_start = time.perf_counter(), time.time()
            shards = shards_of(worker, group.members, n)
            pending = [w for w in range(n) if w not in group.members]
            # any down worker asking to join (`check` of several keys is true only when all of them exist)
            wants_join = float(any(group.store.check([f"join/{w}"]) for w in pending))
            flat, loss_sum = trainer.gradients(shards)
            ledger = torch.zeros(2 * n + 2)
            for shard in shards:
                ledger[shard] += 1
                ledger[n + shard] += worker + 1
            ledger[2 * n], ledger[2 * n + 1] = wants_join, loss_sum
            buffer = torch.cat([flat, ledger])
            group.allreduce(buffer)
            trainer.apply(buffer[: flat.numel()])
            tail = buffer[flat.numel():]
            counts = [int(round(float(c))) for c in tail[:n]]
            trainer.ledger.append({
                "step": trainer.step, "counts": counts,
                "by": [int(round(float(tail[n + s]))) - 1 if counts[s] == 1 else -1 for s in range(n)],
                "loss": float(tail[2 * n + 1]) / max(1, sum(counts)), "t_start": wall_start, "t_commit": time.time(),
                "epoch": group.epoch, "n_members": len(group.members)})
            record["steps"].append({"step": trainer.step, "shards": shards, "t_start": wall_start,
                                    "compute_s": time.perf_counter() - t_start, "epoch": group.epoch})
            trainer.step += 1
            if cfg.mode == "ckpt" and worker == group.leader and trainer.step % cfg.ckpt_every == 0:
                t0 = time.perf_counter()
                tmp = ckpt_path.with_suffix(".tmp")
                torch.save(trainer.state(), tmp)
                os.replace(tmp, ckpt_path)
                record["events"].append({"kind": "checkpoint", "step": trainer.step,
                                         "write_s": time.perf_counter() - t0, "bytes": ckpt_path.stat().st_size})
            if tail[2 * n] > 0:
                _admit(group, record, trainer.step, n)
                resync(group.leader)
        except MemberLost as lost:
            record["events"].append({"kind": "detected", "t": lost.detected_at, "dead": list(lost.dead),
                                     "cause": lost.cause, "step": trainer.step, "epoch": group.epoch})
            if cfg.mode == "ckpt":
                record["exit"] = "restart"
                break
            members = group.agree(group.epoch + 1, tuple(m for m in group.members if m not in lost.dead))
            if worker not in members:
                raise RuntimeError(f"worker {worker} was declared failed by its peers") from None
            group.form(group.epoch + 1, members)
            resync(group.leader)
            record["events"].append({"kind": "reformed", "t": time.time(), "epoch": group.epoch,
                                     "members": list(members), "step": trainer.step})
    if record["exit"] == "done" and worker == group.leader:
        group.store.set("done", "1")
    return _finish(group, record, out, trainer.ledger)


def _finish(group, record: dict, out: Path, ledger: list[dict]) -> int:
    """Write ``w<id>-g<gen>[-join].json`` atomically and leave without running the broken groups' destructors."""
    record["ledger"] = ledger
    record["t_end"] = time.time()
    name = f"w{record['worker']}-g{record['generation']}{'-join' if record['join'] else ''}.json"
    tmp = out / f".{name}"
    tmp.write_text(json.dumps(record))
    tmp.replace(out / name)
    group.close()
    leave_process(RESTART_EXIT if record["exit"] == "restart" else 0)


def _admit(group, record: dict, step: int, n_workers: int) -> None:
    """At a step boundary: the leader admits the workers that asked to join; every member forms the new epoch."""
    epoch = group.epoch + 1
    if group.worker == group.leader:
        joiners = [w for w in range(n_workers) if w not in group.members and group.store.check([f"join/{w}"])
                   and not group.store.check([f"admit/{w}"])]
        members = group.agree(epoch, tuple(group.members) + tuple(joiners))
        for w in joiners:
            if w in members:
                group.store.set(f"admit/{w}", str(epoch))
    else:
        members = tuple(int(m) for m in group.store.get(f"members/{epoch}").decode().split(","))
    group.form(epoch, members)
    record["events"].append({"kind": "admitted", "t": time.time(), "epoch": epoch, "members": list(members),
                             "step": step})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.failover.worker")
    parser.add_argument("--config", required=True, help="JobConfig as JSON")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--generation", type=int, default=0)
    parser.add_argument("--join", action="store_true")
    parser.add_argument("--join-at", type=float, default=0.0, help="wall-clock time to ask to join at")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = JobConfig(**json.loads(args.config))
    return run(cfg, args.worker, args.generation, args.join, args.host, args.port, args.out, args.join_at)


def config_json(cfg: JobConfig) -> str:
    return json.dumps(asdict(cfg))


if __name__ == "__main__":
    sys.exit(main())
