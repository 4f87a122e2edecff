"""DDP communication hooks for every compressor + error feedback: register on your own DDP model.

A hook is a plain function plus a state object (torch's ``ddp_comm_hooks`` pattern, STYLE.md sec. 2):
`compression_hook(state, bucket)` replaces DDP's built-in All-Reduce for each gradient bucket, and
`CompressionHookState` holds the hyperparameters, this process's `CompressionPipeline` (compressor +
error-feedback memory), the iteration counter and communication statistics. The compression code is the
very code the in-process simulation runs (`methods.compress.simulated`); only the collective differs
(`TorchDistCollective`: gloo on CPU, NCCL on GPU).

Per bucket:
1. iterations ``< start_iter``: dense All-Reduce of the bucket (sum, then / world size);
2. otherwise every gradient of ``bucket.gradients()`` (layer-wise) is compressed by the pipeline; tensors in
   the same phase are batched into one collective per phase (an ARC bucket costs two All-Reduces in all);
3. the iteration counter advances when ``bucket.is_last()``.
The hook is synchronous (collectives run inside it, like both papers' hooks) and returns a completed future
holding the averaged bucket. Empty buffers are never sent (gloo rejects them, pytorch issue 58467).

Gradient dtypes: float32, bfloat16 and float16 models work with every compressor and error feedback; payloads
travel in the gradient dtype (ARC's sketch in fp32), and PowerSGD's QR and GreedyLore's SVD run in fp32 (torch
has no half-precision QR/SVD on the CPU), their factors cast back to the gradient dtype.

Differences from torch's PowerSGD hook: state is keyed by *parameter name*, not ``bucket.index()``, so it
survives DDP's bucket rebuild after iteration 1 (without names we key by bucket index and position, and then
require ``start_iter >= 2``, torch's own rule); the iteration seeds the shared randomness, so all ranks draw
the same sketches with no generator to keep in sync.

``dense_parameters`` (fnmatch patterns on parameter names, `methods.compress.pipeline`) are always averaged
with one dense all-reduce, outside the compressor and error feedback; the ARC-Top-K and GreedyLore authors'
hooks keep ``embed_tokens`` and ``lm_head`` dense. The patterns need ``named_parameters``, and each must match
one of them (a typo raises instead of silently compressing everything).

Example::

    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from methods.compress.ddp_hooks import CompressionHookState, compression_hook

    dist.init_process_group("gloo")            # or "nccl"
    ddp = DDP(model)
    state = CompressionHookState("arc_topk", "ef14", compressor_params={"ratio": 0.2, "rank": 4},
                                 start_iter=10, seed=1234, named_parameters=model.named_parameters(),
                                 dense_parameters=["embed_tokens*", "lm_head*"])   # optional: kept dense
    ddp.register_comm_hook(state, compression_hook)
    # ... train as usual; state.state_dict() goes into your checkpoint, and a state built the same way
    # resumes from it with state.load_state_dict(...) (bit for bit, with named_parameters).
"""

from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.distributed as dist

from methods.arguments import check_integer
from methods.compress.base import CollectiveCall, Compressor
from methods.compress.collectives import TorchDistCollective
from methods.compress.error_feedback import ErrorFeedback
from methods.compress.pipeline import CompressionPipeline, aggregate, check_patterns, unmatched_patterns


class CompressionHookState:
    """State of `compression_hook` for one process.

    Args:
        compressor: registry name (``none``, ``topk``, ``randk``, ``arc_topk``, ``powersgd``, ``greedylore``)
            or a `Compressor` instance (owned by this state from now on).
        error_feedback: registry name (``none``, ``ef14``, ``ef21``, ``ef21m``, ``ef21_sgd2m``), an
            `ErrorFeedback` instance, or None for the compressor's usual pairing.
        compressor_params / error_feedback_params: keyword arguments when names are given.
        start_iter: dense All-Reduce before this iteration (the papers warm up densely for 1000-2000 steps).
        seed: run seed; must be the same on every rank.
        process_group: the group to communicate in (default: the global group).
        named_parameters: ``model.named_parameters()`` of the wrapped module; keys state (and the shared random
            draws) by name, so a simulated run with the same names and seed reproduces the hook exactly. Parameters
            are matched by object identity, so moving the model to a device afterwards is fine.
        dense_parameters: fnmatch patterns of parameter names always sent dense (needs ``named_parameters``).
    """

    __slots__ = (
        # ---- tune these
        "pipeline",
        "start_iter",
        # ---- keep these on: how ranks agree
        "seed",
        "process_group",
        "_names",
        # ---- internal
        "iteration",
        "_collective",
        # ---- stats (bytes each rank contributed to collectives, and ring-model bytes it transmitted)
        "total_payload_bytes",
        "total_ring_sent_bytes",
        "n_collectives",
    )

    def __init__(
        self,
        compressor: str | Compressor,
        error_feedback: str | ErrorFeedback | None = None,
        *,
        compressor_params: Mapping[str, Any] | None = None,
        error_feedback_params: Mapping[str, Any] | None = None,
        start_iter: int = 2,
        seed: int = 0,
        process_group: Any = None,
        named_parameters: Iterable[tuple[str, torch.nn.Parameter]] | None = None,
        dense_parameters: Iterable[str] = (),
    ):
        named_parameters = None if named_parameters is None else list(named_parameters)
        dense_parameters = _dense_patterns(dense_parameters, named_parameters)
        start_iter = check_integer("start_iter", start_iter)
        if start_iter < 0:
            raise ValueError(f"start_iter: expected >= 0, got {start_iter}")
        seed = check_integer("seed", seed)
        if not isinstance(compressor, (str, Compressor)):
            raise TypeError(f"compressor: expected a registry name or a Compressor instance, got {compressor!r}")
        if error_feedback is not None and not isinstance(error_feedback, (str, ErrorFeedback)):
            raise TypeError(
                f"error_feedback: expected a registry name, an ErrorFeedback instance or None, got {error_feedback!r}"
            )
        if isinstance(error_feedback, ErrorFeedback) and error_feedback_params:
            raise ValueError("error_feedback_params are only used with an error feedback name (or None)")
        if named_parameters is None and start_iter < 2:
            raise ValueError(
                "start_iter: without named_parameters, state is keyed by bucket position, and DDP rebuilds its"
                f" buckets after iteration 1, so start_iter must be >= 2 (got {start_iter})"
            )
        if isinstance(compressor, str):
            ef_name = error_feedback if isinstance(error_feedback, str) or error_feedback is None else None
            self.pipeline = CompressionPipeline.build(
                compressor,
                ef_name,
                compressor_params=compressor_params,
                error_feedback_params=error_feedback_params,
                seed=seed,
                start_iter=start_iter,
                dense_parameters=dense_parameters,
            )
            if isinstance(error_feedback, ErrorFeedback):
                self.pipeline.error_feedback = error_feedback
        else:
            if compressor_params:
                raise ValueError("compressor_params are only used with a compressor name")
            from methods.compress.error_feedback import make_error_feedback

            ef = error_feedback
            if ef is None or isinstance(ef, str):
                ef = make_error_feedback(ef or type(compressor).default_error_feedback, **dict(error_feedback_params or {}))
            self.pipeline = CompressionPipeline(compressor, ef, seed=seed, start_iter=start_iter,
                                                dense_parameters=dense_parameters)
        self.start_iter = int(start_iter)
        self.seed = int(seed)
        self.process_group = process_group
        self._names = None if named_parameters is None else {id(p): n for n, p in named_parameters}
        self.iteration = 0
        self._collective = None
        self.total_payload_bytes = 0
        self.total_ring_sent_bytes = 0.0
        self.n_collectives = 0

    # ---- helpers
    def _key(self, param: torch.Tensor, bucket_index: int, position: int) -> str:
        if self._names is not None:
            name = self._names.get(id(param))
            if name is None:
                raise ValueError("a bucket holds a parameter missing from named_parameters (pass the DDP module's own)")
            return name
        return f"bucket{bucket_index}.{position}"

    def collective(self) -> TorchDistCollective:
        if self._collective is None:
            self._collective = TorchDistCollective(self.process_group)
        return self._collective

    def _record(self, calls: list[CollectiveCall]) -> None:
        for c in calls:
            self.total_payload_bytes += c.size_bytes
            self.total_ring_sent_bytes += c.ring_sent_bytes_per_worker
        self.n_collectives += len(calls)

    def dense_fallbacks(self) -> dict[str, dict[str, Any]]:
        """Per tensor, the compressor's dense fallbacks so far (`Compressor.dense_fallbacks`: calls, dense,
        reason); tensors in ``dense_parameters`` never reach the compressor and are not listed."""
        return self.pipeline.compressor.dense_fallbacks()

    # ---- checkpointing (the process group is not picklable, so it is left out)
    def state_dict(self) -> dict[str, Any]:
        """The iteration counter, the pipeline's state (compressor and error-feedback tensors and construction
        parameters, seed, start_iter, dense_parameters), how the state is keyed and the communication statistics;
        tensors and plain values only, so ``torch.load`` reads it with ``weights_only=True``. Save it with the model
        and optimizer on every rank."""
        return {
            "iteration": self.iteration,
            "pipeline": self.pipeline.state_dict(),
            "keyed_by_name": self._names is not None,
            "stats": {"total_payload_bytes": self.total_payload_bytes,
                      "total_ring_sent_bytes": self.total_ring_sent_bytes, "n_collectives": self.n_collectives},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` into a state built the same way (compressor and error feedback with the same
        parameters, seed, start_iter, dense_parameters, ``named_parameters`` given or not;
        `CompressionPipeline.check_state_dict`); the DDP training it hooks then continues exactly as the saved run
        would have. Everything is checked before anything changes.

        Resuming past ``start_iter`` needs ``named_parameters``: state keyed by bucket position would meet a fresh
        DDP model's first-iteration buckets, which differ from the rebuilt ones the saved run keyed it by."""
        pipeline, iteration = state["pipeline"], int(state["iteration"])
        self.pipeline.check_state_dict(pipeline, owner="CompressionHookState")
        keyed, how = self._names is not None, {True: "parameter name", False: "bucket position"}
        if "keyed_by_name" in state and bool(state["keyed_by_name"]) != keyed:
            raise ValueError(f"the checkpoint's state is keyed by {how[not keyed]}, this state's by {how[keyed]}: "
                             "pass named_parameters in both runs or in neither")
        if self._names is None and iteration >= self.start_iter:
            raise ValueError(f"resuming at iteration {iteration} >= start_iter {self.start_iter} needs "
                             "named_parameters: without them state is keyed by bucket position, and a fresh DDP "
                             "model's first buckets differ from the rebuilt ones of the saved run")
        self.pipeline.load_state_dict(pipeline)
        self.iteration = iteration
        stats = state.get("stats", {})  # checkpoints from before the statistics were saved have none
        self.total_payload_bytes = int(stats.get("total_payload_bytes", self.total_payload_bytes))
        self.total_ring_sent_bytes = float(stats.get("total_ring_sent_bytes", self.total_ring_sent_bytes))
        self.n_collectives = int(stats.get("n_collectives", self.n_collectives))

    def __getstate__(self) -> dict[str, Any]:
        return {s: getattr(self, s) for s in self.__slots__ if s not in ("process_group", "_collective")}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self.process_group = None
        self._collective = None


def _dense_patterns(
    patterns: Iterable[str], named_parameters: list[tuple[str, torch.nn.Parameter]] | None
) -> tuple[str, ...]:
    """``patterns`` checked against the parameter names: ValueError naming ``dense_parameters`` otherwise."""
    patterns = check_patterns(patterns)
    if not patterns:
        return patterns
    if named_parameters is None:
        raise ValueError("dense_parameters: parameters are chosen by name, so named_parameters must be given")
    missing = unmatched_patterns(patterns, [n for n, _ in named_parameters])
    if missing:
        raise ValueError(f"dense_parameters: {', '.join(map(repr, missing))} match no parameter name")
    return patterns


def _completed(t: torch.Tensor) -> torch.futures.Future:
    fut: torch.futures.Future = torch.futures.Future()
    fut.set_result(t)
    return fut


def compression_hook(state: CompressionHookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: averaged (compressed) gradients of one bucket.

    Args:
        state: a `CompressionHookState` (one per process, built identically on every rank).
        bucket: the `torch.distributed.GradBucket` DDP passes in.

    Returns:
        A completed future holding the bucket buffer, overwritten with the aggregated gradients.
    """
    buf = bucket.buffer()
    collective = state.collective()
    try:
        if buf.numel() == 0:
            return _completed(buf)
        if state.iteration < state.start_iter:
            buf.copy_(collective.all_reduce_mean([buf])[0])
            return _completed(buf)
        grads = bucket.gradients()
        params = bucket.parameters()
        named = {state._key(p, bucket.index(), i): g.detach().clone() for i, (p, g) in enumerate(zip(params, grads))}
        outs = aggregate([state.pipeline], [named], state.iteration, collective)[0]
        for g, name in zip(grads, named):
            g.copy_(outs[name].reshape(g.shape))
        return _completed(buf)
    finally:
        state._record(collective.calls)
        collective.calls.clear()
        if bucket.is_last():
            state.iteration += 1

