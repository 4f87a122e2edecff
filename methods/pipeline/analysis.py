"""Codec error analysis for TAH-Quant's design (He et al., arXiv 2506.01352, Figure 3 slot; research card
``moc_tahquant.md`` B2, B7): reconstruction error vs bits of quantizers that add one ingredient at a time.

Variants (`VARIANTS`), all on an activation ``[B, S, C]`` cut into tiles of ``G`` channels:

- ``per-tensor``: asymmetric, one zero and scale for the tensor (`UniformTensorCodec`);
- ``per-channel fixpoint``: symmetric, one max-abs scale per channel (`FixpointCodec`, the direct baseline);
- ``per-tile``: asymmetric per tile, fp16 zero and scale (`UniformTileCodec`);
- ``tile + Hadamard``: tiles passing TAH-Quant's outlier test (largest |value| >= 2 x the second) are multiplied
  by the normalized Hadamard matrix before the per-tile quantizer, and back after;
- ``tile + pivot + Hadamard``: the same, the outlier first swapped to index 0 (TAH-Quant's transform);
- ``TAH-Quant codec``: `TAHQuantCodec` itself with one bit width for every token (``allocation="uniform"``).

The three tile variants share one quantizer (`UniformTileCodec`), so only the transform differs. Bits per element
are the exact wire bits: the codec payload plus, for the transforms, one flag bit per tile and ceil(log2 G)
pivot bits per flagged tile (the pivot only where it is sent).

Synthetic activations (`synthetic_activations`): ``outlier_channels`` (N(0, 1) with a few channels scaled up, as
LLM activations have) and ``massive_tokens`` (N(0, 1) with a few tokens holding a few very large values).

Example::

    >>> x = synthetic_activations("outlier_channels", (1, 16, 128), seed=0)
    >>> rows = codec_errors(x, bits=(4,), tile_size=32)
    >>> sorted(r["variant"] for r in rows) == sorted(VARIANTS)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from methods.pipeline.codecs import FixpointCodec, TAHQuantCodec, UniformTensorCodec, UniformTileCodec

VARIANTS = ("per-tensor", "per-channel fixpoint", "per-tile", "tile + Hadamard", "tile + pivot + Hadamard",
            "TAH-Quant codec")
DATASETS = ("outlier_channels", "massive_tokens")


def synthetic_activations(kind: str, shape: Sequence[int], seed: int, *, n_outlier_channels: int = 8,
                          channel_scale: float = 30.0, n_massive_tokens: int = 6, massive_per_token: int = 3,
                          massive_value: float = 200.0) -> torch.Tensor:
    """A seeded ``[B, S, C]`` float32 activation of ``kind`` (`DATASETS`)."""
    if kind not in DATASETS:
        raise ValueError(f"unknown synthetic activation {kind!r}; known: {', '.join(DATASETS)}")
    rng = np.random.default_rng([int(seed), 0x7A4])
    x = rng.standard_normal(tuple(int(s) for s in shape)).astype(np.float32)
    C, S = x.shape[-1], x.shape[-2]
    if kind == "outlier_channels":
        x[..., rng.choice(C, size=n_outlier_channels, replace=False)] *= channel_scale
    else:
        for b in range(int(np.prod(x.shape[:-2]))):
            flat = x.reshape(-1, S, C)[b]
            for s in rng.choice(S, size=n_massive_tokens, replace=False):
                cols = rng.choice(C, size=massive_per_token, replace=False)
                flat[s, cols] = massive_value * rng.choice([-1.0, 1.0], size=massive_per_token)
    return torch.from_numpy(x)


def _transform(tiles: torch.Tensor, pivot: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(transformed tiles, outlier flags, pivots): Hadamard on flagged tiles, the outlier swapped to 0 first."""
    from kernels.tah_quant import hadamard_matrix

    G = tiles.shape[1]
    top2 = tiles.abs().topk(2, dim=1).values
    flags = top2[:, 0] >= 2.0 * top2[:, 1]
    pivots = tiles.abs().argmax(dim=1)
    t = _swap(tiles, pivots) if pivot else tiles
    y = (t.double() @ hadamard_matrix(G, torch.float64)).float()
    return torch.where(flags[:, None], y, tiles), flags, pivots


def _swap(tiles: torch.Tensor, pivots: torch.Tensor) -> torch.Tensor:
    rows = torch.arange(tiles.shape[0])
    out = tiles.clone()
    out[:, 0] = tiles[rows, pivots]
    out[rows, pivots] = tiles[:, 0]
    return out


def _inverse(t: torch.Tensor, flags: torch.Tensor, pivots: torch.Tensor, pivot: bool) -> torch.Tensor:
    from kernels.tah_quant import hadamard_matrix

    y = (t.double() @ hadamard_matrix(t.shape[1], torch.float64)).float()
    if pivot:
        y = _swap(y, pivots)
    return torch.where(flags[:, None], y, t)


def _tile_variant(x: torch.Tensor, bits: int, G: int, transform: str | None) -> tuple[torch.Tensor, int]:
    """(reconstruction, wire bits) of the per-tile quantizer after ``transform`` (None, "hadamard", "pivot")."""
    codec = UniformTileCodec(bits=bits, tile_size=G)
    tiles = x.reshape(-1, G)
    if transform is None:
        enc = codec.encode(x)
        return enc.sender_view, 8 * enc.wire_bytes
    pivot = transform == "pivot"
    t, flags, pivots = _transform(tiles, pivot)
    enc = codec.encode(t)
    back = _inverse(enc.sender_view.reshape(-1, G), flags, pivots, pivot)
    extra = tiles.shape[0] + (math.ceil(math.log2(G)) * int(flags.sum()) if pivot else 0)
    return back.reshape(x.shape), 8 * enc.wire_bytes + extra


def reconstruct(x: torch.Tensor, variant: str, bits: int, tile_size: int) -> tuple[torch.Tensor, int]:
    """(reconstruction of ``x`` by ``variant`` at ``bits`` bits, exact wire bits)."""
    if variant == "per-tensor":
        enc = UniformTensorCodec(bits=bits).encode(x)
    elif variant == "per-channel fixpoint":
        enc = FixpointCodec(bits=bits).encode(x)
    elif variant == "TAH-Quant codec":
        enc = TAHQuantCodec(bits=bits, bits_low=bits, tile_size=tile_size, allocation="uniform").encode(x)
    elif variant in ("per-tile", "tile + Hadamard", "tile + pivot + Hadamard"):
        transform = {"per-tile": None, "tile + Hadamard": "hadamard", "tile + pivot + Hadamard": "pivot"}[variant]
        return _tile_variant(x, bits, tile_size, transform)
    else:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    return enc.sender_view, 8 * enc.wire_bytes


def codec_errors(x: torch.Tensor, bits: Sequence[int], tile_size: int,
                 variants: Sequence[str] = VARIANTS) -> list[dict[str, Any]]:
    """One row per (variant, bits): ``mse``, ``rel_error`` (||x_hat - x|| / ||x||), ``bits_per_element`` (wire),
    ``flagged_share`` (tiles passing the outlier test; NaN for variants without the test)."""
    rows = []
    x = x.float()
    norm = float(x.double().pow(2).sum())
    G = tile_size
    tiles = x.reshape(-1, G)
    top2 = tiles.abs().topk(2, dim=1).values
    flagged = float((top2[:, 0] >= 2.0 * top2[:, 1]).double().mean())
    with_test = {"tile + Hadamard", "tile + pivot + Hadamard", "TAH-Quant codec"}
    for b in bits:
        for variant in variants:
            if variant == "per-channel fixpoint" and b < 2:
                continue
            rec, wire_bits = reconstruct(x, variant, int(b), G)
            err = float((rec.double() - x.double()).pow(2).sum())
            rows.append({"variant": variant, "bits": int(b), "mse": err / x.numel(),
                         "rel_error": math.sqrt(err / norm) if norm else 0.0,
                         "bits_per_element": wire_bits / x.numel(),
                         "flagged_share": flagged if variant in with_test else math.nan})
    return rows


def mixed_tahquant_error(x: torch.Tensor, tile_size: int, *, bits: int = 4, bits_low: int = 3,
                         high_fraction: float = 0.8) -> dict[str, Any]:
    """The released TAH-Quant setting (entropy-guided 80% INT4 / 20% INT3 tokens): one row like `codec_errors`."""
    codec = TAHQuantCodec(bits=bits, bits_low=bits_low, tile_size=tile_size, allocation="token",
                          high_fraction=high_fraction)
    enc = codec.encode(x.float())
    err = float((enc.sender_view.double() - x.double()).pow(2).sum())
    return {"variant": "TAH-Quant codec", "bits": bits - (1 - high_fraction) * (bits - bits_low),
            "mse": err / x.numel(), "rel_error": math.sqrt(err / float(x.double().pow(2).sum())),
            "bits_per_element": 8 * enc.wire_bytes / x.numel(), "flagged_share": math.nan}
