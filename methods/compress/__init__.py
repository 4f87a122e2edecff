"""Gradient compressors, error feedback and DDP communication hooks (ARC-Top-K, GreedyLore and baselines).

Public API (see each module's docstring):
- `make_compressor(name, **params)`: ``none``, ``topk``, ``randk``, ``arc_topk``, ``powersgd``, ``greedylore``
  (`COMPRESSORS` registry); every compressor has ``compress(x, ctx)`` (a session), ``comm_plan(shape,
  n_workers)`` (exact `CollectiveCall`s), ``dense_fallbacks()`` (tensors sent dense instead of compressed: how
  often and why; a matrix is compressed unless ``min_compression_rate > 0`` sends it dense) and
  ``state_dict()/load_state_dict()``.
- `make_error_feedback(name, **params)`: ``none``, ``ef14``, ``ef21``, ``ef21m``, ``ef21_sgd2m``.
- `CompressionPipeline` (one worker: compressor + error feedback + warm-up) and `aggregate(...)`.
- `SimulatedCollective` / `TorchDistCollective` and `run_lockstep` (`methods.compress.collectives`).
- `methods.compress.simulated`: N simulated workers in one process (`SimulatedWorkers`, `train_simulated`,
  `optimize_objective` for synthetic objectives, `compress_once` for one call on N workers).
- `methods.compress.ddp_hooks`: `CompressionHookState`, `compression_hook` for a user's DDP model.
- `methods.compress.ddp_run`: spawn N gloo ranks training a digits MLP with the hook (`run_ddp_digits`) and its
  simulated twin (`run_simulated_digits`); bit-identical with 2 workers.

Bytes: `CollectiveCall.size_bytes` is what one worker contributes to one collective;
`CollectiveCall.ring_sent_bytes_per_worker` is what it transmits with ring algorithms.
"""

from methods.compress.base import (
    COMPRESSORS,
    CollectiveCall,
    CompressContext,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    load_compressors,
    make_compressor,
)
from methods.compress.collectives import SimulatedCollective, TorchDistCollective, plan_phases, run_lockstep
from methods.compress.error_feedback import ERROR_FEEDBACK, ErrorFeedback, make_error_feedback
from methods.compress.pipeline import CompressionPipeline, aggregate

load_compressors()

__all__ = [
    "COMPRESSORS",
    "ERROR_FEEDBACK",
    "CollectiveCall",
    "CompressContext",
    "CompressResult",
    "CompressionPipeline",
    "Compressor",
    "ErrorFeedback",
    "PayloadSpec",
    "Request",
    "SimulatedCollective",
    "TorchDistCollective",
    "aggregate",
    "load_compressors",
    "make_compressor",
    "make_error_feedback",
    "plan_phases",
    "run_lockstep",
]
