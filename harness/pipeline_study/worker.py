"""One pipeline stage as one process: ``python -m harness.pipeline_study.worker --config FILE --out DIR``.

Started by `harness.pipeline_study.launch` with ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK`` (= stage),
``WORLD_SIZE`` (= stages) and, across namespaces, ``GLOO_SOCKET_IFNAME`` in the environment. Follows the
TAH-Quant / AQ-SGD pipelined training loop (arXiv 2506.01352, 2206.01299) with an explicit send/recv schedule
rather than ``torch.distributed.pipelining``: that API moves tensors itself (``PipelineStage`` sends the
activation tensors between stages), so a codec could not put its own bytes on the wire, and its schedules would
not be `methods.pipeline.schedule`'s event lists that the simulator runs.

Per step: a barrier, then the stage's events of the schedule (`methods.pipeline.schedule.make_schedule`) in order.

- ``F i``: receive micro-batch i's activation from the previous stage (blocking ``recv`` of exactly the codec's
  wire bytes; tag ``2 i``), decode, forward; send the encoded output to the next stage (``isend``: the transfer
  runs while the stage computes on) or, on the last stage, compute the loss.
- ``B i``: receive the encoded output gradient from the next stage (tag ``2 i + 1``; last stage: backward of
  loss / m), backward; send the encoded input gradient to the previous stage.

then waits for its sends and runs AdamW on its own parameters. Times per step (``perf_counter_ns``): total
(barrier exit to optimizer done), forward, backward, encode / decode per direction, waiting for receives, waiting
for sends, optimizer. During the warm-up
steps every message's sender view and received tensor are hashed (sha1 of the float32 bytes), so the study can
check that both sides agree bit for bit; the timed steps skip the hashing. Each rank writes ``rank<r>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import timedelta
from pathlib import Path

from harness.files import write_text_atomic


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.pipeline_study.worker")
    parser.add_argument("--config", type=Path, required=True, help="RunConfig as JSON")
    parser.add_argument("--out", type=Path, required=True, help="folder for rank<r>.json")
    return parser.parse_args(argv)


class _Clock:
    """Accumulates ns per category within a step."""

    def __init__(self) -> None:
        self.ns: dict[str, int] = {}

    def add(self, key: str, start_ns: int) -> int:
        now = time.perf_counter_ns()
        self.ns[key] = self.ns.get(key, 0) + now - start_ns
        return now


def run_stage(config, rank: int, world: int) -> dict:
    """Train ``config`` as stage ``rank`` of ``world`` (process group already up); returns the rank's record."""
    import torch
    import torch.distributed as dist

    from harness.pipeline_study.boundary import BoundaryCodec, tensor_digest
    from harness.pipeline_study.stages import build_stage, make_dataset
    from methods.pipeline.schedule import make_schedule

    m, b = config.n_micro_batches, config.micro_batch
    stage = build_stage(config.model, world, rank, config.seq_len, config.seed)
    optimizer = torch.optim.AdamW(stage.parameters(), lr=config.lr)
    data = make_dataset(config.n_samples, config.seq_len, config.model.vocab_size, config.seed)
    schedule = make_schedule(config.run.schedule, world, m)
    shape = (b, config.seq_len, config.model.d_model)
    first, last = rank == 0, rank == world - 1
    fwd_in = None if first else BoundaryCodec(config.run.forward)
    fwd_out = None if last else BoundaryCodec(config.run.forward)
    bwd_in = None if last else BoundaryCodec(config.run.backward)
    bwd_out = None if first else BoundaryCodec(config.run.backward)
    steps = []
    digests: dict[str, list[str]] = {"sent_fwd": [], "received_fwd": [], "sent_bwd": [], "received_bwd": []}
    n_steps = config.warmup_steps + config.measured_steps

    def ids_of(i: int) -> list[int]:
        return list(range(i * b, (i + 1) * b))

    for step in range(n_steps):
        if config.fail_stage == rank and config.fail_step == step:
            raise RuntimeError(f"stage {rank}: failure forced at step {step} (test hook)")
        check = step < config.warmup_steps
        clock = _Clock()
        sends, inputs, outputs, losses = [], {}, {}, []
        sent = {"fwd": 0, "bwd": 0}
        payload = {"fwd": 0, "bwd": 0}
        optimizer.zero_grad(set_to_none=True)
        dist.barrier()
        start = t = time.perf_counter_ns()
        for event in schedule.stage_events(rank):
            i = event.micro_batch
            ids = ids_of(i)
            if event.phase == "F":
                if first:
                    x = data[ids, :-1]
                else:
                    buf = torch.empty(fwd_in.wire_bytes(ids, shape), dtype=torch.uint8)
                    dist.recv(buf, src=rank - 1, tag=2 * i)
                    t = clock.add("wait", t)
                    x = fwd_in.decode(ids, buf.numpy().tobytes(), shape)
                    t = clock.add("decode_fwd", t)
                    if check:
                        digests["received_fwd"].append(tensor_digest(x))
                    x.requires_grad_(True)
                inputs[i] = x
                y = stage(x)
                if last:
                    logits = y.reshape(-1, y.shape[-1])
                    loss = torch.nn.functional.cross_entropy(logits, data[ids, 1:].reshape(-1))
                    outputs[i] = loss / m
                    losses.append(float(loss.detach()))
                    t = clock.add("forward", t)
                else:
                    outputs[i] = y
                    t = clock.add("forward", t)
                    message, view, n = fwd_out.encode(ids, y.detach())
                    t = clock.add("encode_fwd", t)
                    if check:
                        digests["sent_fwd"].append(tensor_digest(view))
                    buf = torch.frombuffer(bytearray(message), dtype=torch.uint8)
                    sends.append((dist.isend(buf, dst=rank + 1, tag=2 * i), buf))
                    sent["fwd"] += len(message)
                    payload["fwd"] += n
                    t = time.perf_counter_ns()
            else:
                if last:
                    outputs.pop(i).backward()
                else:
                    buf = torch.empty(bwd_in.wire_bytes(ids, shape), dtype=torch.uint8)
                    dist.recv(buf, src=rank + 1, tag=2 * i + 1)
                    t = clock.add("wait", t)
                    grad = bwd_in.decode(ids, buf.numpy().tobytes(), shape)
                    t = clock.add("decode_bwd", t)
                    if check:
                        digests["received_bwd"].append(tensor_digest(grad))
                    outputs.pop(i).backward(grad)
                t = clock.add("backward", t)
                x = inputs.pop(i)
                if not first:
                    message, view, n = bwd_out.encode(ids, x.grad)
                    t = clock.add("encode_bwd", t)
                    if check:
                        digests["sent_bwd"].append(tensor_digest(view))
                    buf = torch.frombuffer(bytearray(message), dtype=torch.uint8)
                    sends.append((dist.isend(buf, dst=rank - 1, tag=2 * i + 1), buf))
                    sent["bwd"] += len(message)
                    payload["bwd"] += n
                    t = time.perf_counter_ns()
        for work, _buf in sends:
            work.wait()
        t = clock.add("send_wait", t)
        optimizer.step()
        t = clock.add("optimizer", t)
        steps.append({"step": step, "measured": not check, "total_ns": t - start, **{f"{k}_ns": v for k, v in
                      clock.ns.items()}, "sent_fwd_bytes": sent["fwd"], "sent_bwd_bytes": sent["bwd"],
                      "payload_fwd_bytes": payload["fwd"], "payload_bwd_bytes": payload["bwd"],
                      "loss": sum(losses) / len(losses) if losses else None})
    return {"rank": rank, "world_size": world, "steps": steps, "digests": digests,
            "n_params": sum(p.numel() for p in stage.parameters())}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    from harness.pipeline_study.plan import RunConfig

    config = RunConfig.model_validate_json(args.config.read_text())
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
                            rank=rank, world_size=world, timeout=timedelta(seconds=config.timeout_s))
    try:
        record = run_stage(config, rank, world)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    write_text_atomic(args.out / f"rank{rank}.json", json.dumps(record))
    return 0


if __name__ == "__main__":
    from methods.process_exit import leave_process

    leave_process(main())  # gloo can abort the process in its teardown; the record is written by now
