"""Half-precision gradients: every compressor x error feedback x {float32, bfloat16, float16}.

torch has no bf16/fp16 QR or SVD on the CPU, so PowerSGD's and GreedyLore's factorisations run in float32 and
their results are cast back to the gradient dtype (`methods.compress.base.factor_dtype`); everything that is
sent or applied keeps the gradient's dtype. In-process: every combination compresses without error, returns
the input's dtype and shape, agrees across workers and sends exactly the predicted payloads. Over gloo: two
spawned ranks train the digits MLP in every dtype with every compressor and error feedback (all 90
combinations in one spawn, about 10 s), parameters identical across ranks after every step and bit-identical
to the in-process simulation.
"""

from __future__ import annotations

import pytest
import torch

from methods.compress import COMPRESSORS, ERROR_FEEDBACK, CompressionPipeline, SimulatedCollective, aggregate
from methods.compress.ddp_run import DigitsRunConfig, run_ddp_digits, run_simulated_digits
from methods.compress.greedylore import short_side_basis
from methods.compress.powersgd import orthonormalize

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
DTYPE_IDS = ["fp32", "bf16", "fp16"]
# every compressor, with its variants (the contract test's table)
CASES = [
    ("none", {}),
    ("topk", {"ratio": 0.25}),
    ("topk", {"ratio": 0.25, "rows": True}),
    ("randk", {"ratio": 0.25}),
    ("randk", {"ratio": 0.25, "scaled": True, "rows": True}),
    ("arc_topk", {"ratio": 0.25, "rank": 2}),
    ("arc_topk", {"ratio": 0.25, "exact_sketch": True, "min_compression_rate": 0.0}),
    ("powersgd", {"rank": 2}),
    ("powersgd", {"rank": 2, "error_reference": "local", "warm_start": False}),
    ("greedylore", {"rank": 2, "refresh_period": 2}),
    ("greedylore", {"rank": 2, "refresh_period": 2, "exact_scores": True, "min_compression_rate": 0.0}),
    ("greedylore", {"rank": 2, "refresh_period": 2, "selection": "random"}),
    ("greedylore", {"rank": 2, "refresh_period": 2, "selection": "lazy"}),
]
CASE_IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for n, p in CASES]
SHAPES = {"w": (12, 20), "c": (20, 12), "k": (6, 2, 3, 3), "b": (7,)}


def test_every_compressor_and_error_feedback_is_covered():
    assert {n for n, _ in CASES} == set(COMPRESSORS)
    assert set(ERROR_FEEDBACK) == {"none", "ef14", "ef21", "ef21m", "ef21_sgd2m"}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("ef", sorted(ERROR_FEEDBACK))
@pytest.mark.parametrize(("name", "params"), CASES, ids=CASE_IDS)
def test_compress_keeps_dtype_and_shape(name, params, ef, dtype):
    n_workers = 2
    workers = [
        CompressionPipeline.build(name, ef, compressor_params=params, seed=5, start_iter=0) for _ in range(n_workers)
    ]
    gen = torch.Generator().manual_seed(0)
    for step in range(4):  # EF21 dense start, GreedyLore refreshes at calls 0 and 2, PowerSGD warm starts
        grads = [{k: torch.randn(s, generator=gen).to(dtype) for k, s in SHAPES.items()} for _ in range(n_workers)]
        plan = workers[0].comm_plan(SHAPES, n_workers, step, dtype)
        collective = SimulatedCollective(n_workers)
        out = aggregate(workers, grads, step, collective)
        assert collective.calls == plan  # exact payloads in the gradient dtype (ARC's sketch: fp32)
        for k, shape in SHAPES.items():
            assert out[0][k].dtype == dtype and tuple(out[0][k].shape) == shape, k
            assert torch.isfinite(out[0][k]).all(), k
            assert torch.equal(out[0][k], out[1][k]), k
    for k in SHAPES:
        for tensor in workers[0].error_feedback.memory(k).values():
            assert tensor.dtype == dtype
    for st in workers[0].compressor.state_dict()["tensors"].values():
        for key in ("Q", "basis"):
            if key in st:
                assert st[key].dtype == dtype


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=DTYPE_IDS[1:])
def test_factorisations_run_in_fp32_and_return_the_input_dtype(dtype):
    gen = torch.Generator().manual_seed(2)
    P = torch.randn(30, 3, generator=gen).to(dtype)
    Q = orthonormalize(P)
    assert Q.dtype == dtype and torch.equal(Q, orthonormalize(P.float()).to(dtype))
    assert torch.allclose((Q.float().T @ Q.float()), torch.eye(3), atol=3e-2)
    A = torch.randn(5, 9, generator=gen).to(dtype)
    U = short_side_basis(A)
    assert U.shape == (5, 5) and U.dtype == dtype and torch.equal(U, short_side_basis(A.float()).to(dtype))
    assert torch.allclose((U.float().T @ U.float()), torch.eye(5), atol=3e-2)


def test_fp32_factorisations_are_untouched():
    gen = torch.Generator().manual_seed(3)
    P, A = torch.randn(30, 3, generator=gen), torch.randn(5, 9, generator=gen)
    assert torch.equal(orthonormalize(P), torch.linalg.qr(P, mode="reduced").Q)
    assert torch.equal(short_side_basis(A), torch.linalg.svd(A, full_matrices=False).U)


# ------------------------------------------------------------------------------------ 2 gloo ranks
HOOK_PARAMS = {
    "topk": {"ratio": 0.2},
    "randk": {"ratio": 0.2},
    "arc_topk": {"ratio": 0.2, "rank": 4},
    "powersgd": {"rank": 2},
    "greedylore": {"rank": 2, "refresh_period": 2},
}
HOOK_CONFIGS = [
    DigitsRunConfig(compressor=c, error_feedback=e, compressor_params=HOOK_PARAMS.get(c, {}), dtype=d,
                    start_iter=1, lr=0.1, steps=5)
    for d in ("bfloat16", "float16", "float32")
    for c in sorted(COMPRESSORS)
    for e in sorted(ERROR_FEEDBACK)
]


@pytest.fixture(scope="module")
def hook_traces():
    return run_ddp_digits(HOOK_CONFIGS, world_size=2)


def test_gloo_hooks_train_every_dtype_compressor_and_error_feedback(hook_traces):
    failures = []
    for cfg, trace in zip(HOOK_CONFIGS, hook_traces):
        tag = f"{cfg.dtype}/{cfg.compressor}/{cfg.error_feedback}"
        if trace.params.dtype != cfg.torch_dtype:
            failures.append(f"{tag}: params are {trace.params.dtype}")
        if trace.max_rank_diff != [0.0] * cfg.steps:
            failures.append(f"{tag}: ranks differ {trace.max_rank_diff}")
        if not torch.isfinite(trace.params).all() or torch.equal(trace.params[0], trace.params[-1]):
            failures.append(f"{tag}: not finite or did not train")
        itemsize = torch.empty((), dtype=cfg.torch_dtype).element_size()
        if trace.payload_bytes[0] != itemsize * trace.params.shape[1]:  # dense warm-up in the model dtype
            failures.append(f"{tag}: warm-up sent {trace.payload_bytes[0]} bytes")
        if cfg.compressor != "none" and min(trace.payload_bytes) >= trace.payload_bytes[0]:
            failures.append(f"{tag}: compression never engaged {trace.payload_bytes}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_hook_equals_the_simulation(hook_traces, dtype):
    for cfg, trace in zip(HOOK_CONFIGS, hook_traces):
        if cfg.dtype == dtype:
            sim = run_simulated_digits(cfg, n_workers=2)
            assert torch.equal(trace.params, sim.params), (cfg.compressor, cfg.error_feedback)
            assert trace.payload_bytes == sim.payload_bytes, (cfg.compressor, cfg.error_feedback)
