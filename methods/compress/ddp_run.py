"""Train a small digits model with a compression hook on N spawned gloo processes, and its simulated twin.

Used by the tests (hook vs in-process simulation, bit-identical parameters across ranks) and by fidelity
studies. `run_ddp_digits(configs, world_size)` spawns ``world_size`` CPU processes once, trains one fresh
DDP model per config with `compression_hook`, and returns per step: the parameters (rank 0), the largest
difference between any rank's parameters and rank 0's, the mean loss, and the bytes the hook contributed.
`run_simulated_digits(config, n_workers)` trains the same model on the same shards with the same seeds
using `methods.compress.simulated`.

Example::

    cfg = DigitsRunConfig(compressor="arc_topk", error_feedback="ef21", steps=5)
    ddp = run_ddp_digits([cfg], world_size=2)[0]
    sim = run_simulated_digits(cfg, n_workers=2)
    (ddp.params - sim.params).abs().max()      # 0.0 in our runs (2 workers, float32, 1 thread each)
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class DigitsRunConfig:
    """One training run on the digits MLP.

    Args:
        compressor / error_feedback / compressor_params / error_feedback_params: the method (registry names).
        optimizer: ``"sgd"``, ``"momentum"`` (SGD, momentum 0.9) or ``"adam"``.
        lr: step size.
        steps: optimizer steps.
        start_iter: dense warm-up iterations.
        seed: model, data and compression seed.
        batch_size: per-worker batch.
        hidden: MLP hidden width.
        bucket_cap_mb: DDP bucket size (small values give several buckets).
        dirichlet_alpha: None for i.i.d. shards, else label-skewed shards.
        dtype: parameter and input dtype, ``"float32"``, ``"bfloat16"`` or ``"float16"`` (gradients, hence the
            compressors' payloads, take this dtype).
        dense_parameters: fnmatch patterns of parameter names always sent dense (``hidden.*``, ``out.*``).
    """

    compressor: str = "arc_topk"
    error_feedback: str | None = None
    compressor_params: dict[str, Any] = field(default_factory=dict)
    error_feedback_params: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 0.05
    steps: int = 6
    start_iter: int = 2
    seed: int = 0
    batch_size: int = 16
    hidden: int = 32
    bucket_cap_mb: float = 0.004
    dirichlet_alpha: float | None = None
    dtype: str = "float32"
    dense_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype: expected 'float32', 'bfloat16' or 'float16', got {self.dtype!r}")
        if self.optimizer not in ("sgd", "momentum", "adam"):
            raise ValueError(f"optimizer: expected 'sgd', 'momentum' or 'adam', got {self.optimizer!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


@dataclass
class RunTrace:
    """Per-step results: ``params`` [steps + 1, P] (initial first), ``losses`` [steps],
    ``max_rank_diff`` [steps] (DDP only; 0.0 means bit-identical ranks), ``payload_bytes`` [steps]."""

    params: torch.Tensor
    losses: list[float]
    payload_bytes: list[int]
    max_rank_diff: list[float] = field(default_factory=list)


def _model(cfg: DigitsRunConfig) -> nn.Module:
    from methods.models.mlp import MLP

    return MLP(64, cfg.hidden, 10, seed=cfg.seed).to(cfg.torch_dtype)


def _optimizer(cfg: DigitsRunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    if cfg.optimizer == "momentum":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9)
    return torch.optim.Adam(params, lr=cfg.lr)  # "adam": the only other name the config accepts


def _shards(cfg: DigitsRunConfig, n_workers: int, data: Any = None):
    from methods.data.digits import DigitsShards, load_digits_split

    data = data if data is not None else load_digits_split(seed=cfg.seed)
    return DigitsShards(data, n_workers, cfg.batch_size, cfg.seed, cfg.dirichlet_alpha)


def _flat(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def run_simulated_digits(cfg: DigitsRunConfig, n_workers: int, intra_op_threads: int | None = 1) -> RunTrace:
    """The in-process twin of `run_ddp_digits` for one config.

    ``intra_op_threads`` (default 1, what the spawned ranks use) is set for the duration of the run and then
    restored: matmul reductions split differently across thread counts, which changes results by ~1 ulp.
    None leaves torch's setting alone.
    """
    previous = torch.get_num_threads()
    if intra_op_threads is not None:
        torch.set_num_threads(int(intra_op_threads))
    try:
        return _simulate(cfg, n_workers)
    finally:
        torch.set_num_threads(previous)


def _simulate(cfg: DigitsRunConfig, n_workers: int) -> RunTrace:
    from methods.compress.pipeline import CompressionPipeline
    from methods.compress.simulated import SimulatedWorkers, train_simulated

    model = _model(cfg)
    shards = _shards(cfg, n_workers)
    workers = SimulatedWorkers([
        CompressionPipeline.build(
            cfg.compressor,
            cfg.error_feedback,
            compressor_params=cfg.compressor_params,
            error_feedback_params=cfg.error_feedback_params,
            seed=cfg.seed,
            start_iter=cfg.start_iter,
            dense_parameters=cfg.dense_parameters,
        )
        for _ in range(n_workers)
    ])
    snaps = [_flat(model)]
    rows = train_simulated(
        model,
        lambda m, b: nn.functional.cross_entropy(m(b[0].to(cfg.torch_dtype)), b[1]),
        shards.batch,
        workers,
        _optimizer(cfg, model.parameters()),
        cfg.steps,
        on_step=lambda t, m: snaps.append(_flat(m)),
    )
    return RunTrace(torch.stack(snaps), [r["loss"] for r in rows], [int(r["payload_bytes_per_worker"]) for r in rows])


def largest_difference_from_first(tensors: list[torch.Tensor]) -> float:
    """The largest absolute element-wise difference between any of ``tensors`` and the first (0.0: all equal)."""
    return max(float((t - tensors[0]).abs().max()) for t in tensors)


def _ddp_main(rank: int, world_size: int, init_file: str, configs: list[DigitsRunConfig], data: list[Any], out_dir: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from methods.compress.ddp_hooks import CompressionHookState, compression_hook
    from methods.process_exit import leave_process

    torch.set_num_threads(1)  # 2-core machines; also what run_simulated_digits uses, for bitwise parity
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        traces = []
        for cfg, split in zip(configs, data):
            model = _model(cfg)
            shards = _shards(cfg, world_size, split)
            ddp = DDP(model, bucket_cap_mb=cfg.bucket_cap_mb)
            state = CompressionHookState(
                cfg.compressor,
                cfg.error_feedback,
                compressor_params=cfg.compressor_params,
                error_feedback_params=cfg.error_feedback_params,
                start_iter=cfg.start_iter,
                seed=cfg.seed,
                named_parameters=model.named_parameters(),
                dense_parameters=cfg.dense_parameters,
            )
            ddp.register_comm_hook(state, compression_hook)
            opt = _optimizer(cfg, ddp.parameters())
            snaps, losses, payload, diffs = [_flat(model)], [], [], []
            for t in range(cfg.steps):
                x, y = shards.batch(rank, t)
                x = x.to(cfg.torch_dtype)
                opt.zero_grad()
                before = state.total_payload_bytes
                loss = nn.functional.cross_entropy(ddp(x), y)
                loss.backward()
                opt.step()
                flat = _flat(model)
                gathered = [torch.empty_like(flat) for _ in range(world_size)]
                dist.all_gather(gathered, flat)
                diffs.append(largest_difference_from_first(gathered))
                mean_loss = loss.detach().clone()
                dist.all_reduce(mean_loss)
                losses.append(float(mean_loss) / world_size)
                payload.append(state.total_payload_bytes - before)
                snaps.append(flat)
            traces.append(RunTrace(torch.stack(snaps), losses, payload, diffs))
        if rank == 0:
            torch.save(traces, os.path.join(out_dir, "traces.pt"))
        dist.barrier()  # no rank tears gloo down while another still talks to it
    finally:
        dist.destroy_process_group()
    leave_process(0)  # gloo can abort the process in its teardown; every result is saved by now


def run_ddp_digits(configs: list[DigitsRunConfig], world_size: int = 2) -> list[RunTrace]:
    """Spawn ``world_size`` gloo processes on this machine, run every config in them, return rank 0's traces."""
    import torch.multiprocessing as mp

    from methods.data.digits import load_digits_split

    if int(world_size) < 1:
        raise ValueError(f"world_size: expected >= 1, got {world_size}")
    configs = list(configs)
    splits = {seed: load_digits_split(seed=seed) for seed in {c.seed for c in configs}}  # loaded once, here
    data = [splits[c.seed] for c in configs]
    with tempfile.TemporaryDirectory(prefix="ddp_run_") as tmp:
        init_file = os.path.join(tmp, "rendezvous")
        mp.start_processes(
            _ddp_main, args=(world_size, init_file, configs, data, tmp), nprocs=world_size, join=True, start_method="spawn"
        )
        return torch.load(os.path.join(tmp, "traces.pt"), weights_only=False)
