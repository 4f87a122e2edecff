"""AQ-SGD at one pipeline boundary: a per-sample activation cache on both sides, quantized deltas on the wire.

Wang, Yuan, Rimanic, He, Dao, Chen, Ré, Zhang, "Fine-tuning Language Models over Slow Networks using Activation
Compression with Guarantees" (NeurIPS 2022, arXiv 2206.01299); research card ``moc_tahquant.md`` B4, D3. Both
sides keep m(ξ) per training sample ξ. The first time a sample crosses the boundary it is sent uncompressed
(``warmup`` codec, AQ-SGD's uncompressed warm-up) and both set m(ξ) to what was sent; afterwards the sender sends
Q(a(ξ) − m(ξ)) and both add the dequantized delta: m(ξ) ← m(ξ) + deQ(Q(a − m)). The receiver uses m(ξ).

The cache is the method's memory cost, made explicit: `AQSGDEndpoint.memory_bytes` is what one side holds now and
`cache_bytes(n_samples, sample_shape, dtype)` what it holds once every sample has been seen (AQ-SGD keeps it as a
float16 memmap of two tensors per sample, ≈131 GB for 20k GPT2-XL samples of 1024 x 1600, card B4; this
endpoint caches one tensor per sample, so `cache_bytes` gives half of that, 65.5 GB). TAH-Quant needs none.

A micro-batch message is the warm-up payload of its samples not cached yet, then the delta payload of the cached
ones (each sub-batch one tensor; the delta codec's per-channel scales span it, as AQ-SGD's code does over (B, S)).
Both sides know which samples are cached, so the split needs no header; both codecs must have a shape-determined
length (``fixed_size``), and a message of any other length is refused before it touches the cache.

Checkpoints: both sides save `AQSGDEndpoint.state_dict` (the cache, and the codecs and cache dtype it was built
with) and restore it with `AQSGDEndpoint.load_state_dict` into an endpoint built the same way; the caches then stay
bit-identical to each other and to an uninterrupted run's.

Example::

    >>> import torch
    >>> from methods.pipeline.codecs import make_codec
    >>> send, recv = AQSGDEndpoint(make_codec("fixpoint", bits=4)), AQSGDEndpoint(make_codec("fixpoint", bits=4))
    >>> a = torch.randn(2, 4, 8)
    >>> msg = send.send([0, 1], a); out = recv.receive([0, 1], msg, a.shape)
    >>> msg2 = send.send([0, 1], a + 0.01); out2 = recv.receive([0, 1], msg2, a.shape)
    >>> len(msg2) < len(msg), all(torch.equal(send.cache[i], recv.cache[i]) for i in (0, 1))
    (True, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from methods.pipeline.codecs import ActivationCodec, NoneCodec

CACHE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def cache_bytes(n_samples: int, sample_shape: Sequence[int], dtype: str = "float16") -> int:
    """Bytes one side's full cache holds: ``n_samples`` activations of ``sample_shape`` in ``dtype``."""
    return int(n_samples) * math.prod(int(s) for s in sample_shape) * CACHE_DTYPES[dtype].itemsize


class AQSGDEndpoint:
    """One side (sender or receiver: the same state machine) of an AQ-SGD boundary."""

    def __init__(self, delta_codec: ActivationCodec, *, warmup_codec: ActivationCodec | None = None,
                 cache_dtype: str = "float16"):
        for name, codec in (("delta_codec", delta_codec), ("warmup_codec", warmup_codec)):
            if codec is not None and (isinstance(codec, str) or not all(
                    callable(getattr(codec, m, None)) for m in ("encode", "decode", "payload_bytes"))):
                raise TypeError(f"{name}: expected a codec (methods.pipeline.codecs.make_codec), got {codec!r}")
        for name, codec in (("delta", delta_codec), ("warm-up", warmup_codec)):
            if codec is not None and not getattr(codec, "fixed_size", False):
                raise ValueError(f"AQ-SGD needs a {name} codec with a shape-determined payload; {codec.name} is not")
        if cache_dtype not in CACHE_DTYPES:
            raise ValueError(f"cache_dtype must be one of {', '.join(CACHE_DTYPES)}, got {cache_dtype!r}")
        self.delta_codec = delta_codec
        self.warmup_codec = warmup_codec if warmup_codec is not None else NoneCodec("float32")
        self.cache_dtype = CACHE_DTYPES[cache_dtype]
        self.cache: dict[int, torch.Tensor] = {}

    def _layout(self) -> dict[str, Any]:
        def describe(codec: ActivationCodec) -> Any:
            return dataclasses.asdict(codec) if dataclasses.is_dataclass(codec) else {"name": codec.name}

        dtype = next(k for k, v in CACHE_DTYPES.items() if v == self.cache_dtype)
        return {"delta_codec": describe(self.delta_codec), "warmup_codec": describe(self.warmup_codec),
                "cache_dtype": dtype}

    def state_dict(self) -> dict[str, Any]:
        """The cache (sample id -> a copy of its tensor) and the codecs and cache dtype it was built with; tensors
        and plain values only, so ``torch.load`` reads it with ``weights_only=True``."""
        return {**self._layout(), "cache": {k: t.clone() for k, t in self.cache.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Replace the cache with a `state_dict`'s, saved by an endpoint built the same way (codecs, cache dtype);
        anything else is refused before the cache changes."""
        if not isinstance(state, Mapping) or not isinstance(state.get("cache"), Mapping):
            raise ValueError("not an AQSGDEndpoint state_dict: it has no 'cache' mapping")
        mine = self._layout()
        differ = [k for k in mine if state.get(k) != mine[k]]
        if differ:
            details = "; ".join(f"{k} {state.get(k)!r} vs {mine[k]!r}" for k in differ)
            raise ValueError(f"the checkpoint's {', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'} "
                             f"from this endpoint's ({details}): build it with the same codecs and cache dtype")
        cache = {}
        for key, t in state["cache"].items():
            if not torch.is_tensor(t) or t.dtype != self.cache_dtype:
                raise ValueError(f"the checkpoint's cache entry {key!r} is not a {mine['cache_dtype']} tensor")
            cache[int(key)] = t.clone()
        self.cache = cache

    @property
    def memory_bytes(self) -> int:
        """Bytes the cache holds now."""
        return sum(t.numel() * t.element_size() for t in self.cache.values())

    def _split(self, sample_ids: Sequence[int]) -> tuple[list[int], list[int]]:
        if len(set(sample_ids)) != len(sample_ids):
            raise ValueError("a micro-batch cannot hold the same sample twice")
        warm = [i for i, s in enumerate(sample_ids) if int(s) not in self.cache]
        delta = [i for i, s in enumerate(sample_ids) if int(s) in self.cache]
        return warm, delta

    def _cached(self, sample_ids: Sequence[int], rows: list[int]) -> torch.Tensor:
        return torch.stack([self.cache[int(sample_ids[i])].float() for i in rows])

    def _store(self, sample_ids: Sequence[int], rows: list[int], values: torch.Tensor) -> None:
        for j, i in enumerate(rows):
            # a copy: a view would keep the whole micro-batch's storage alive (a float32 cache), which
            # `memory_bytes` would not count
            self.cache[int(sample_ids[i])] = values[j].to(self.cache_dtype, copy=True)

    def send(self, sample_ids: Sequence[int], a: torch.Tensor) -> bytes:
        """Encode micro-batch ``a`` (dim 0: one row per id in ``sample_ids``) and update this side's cache."""
        if a.shape[0] != len(sample_ids):
            raise ValueError(f"{a.shape[0]} rows for {len(sample_ids)} sample ids")
        warm, delta = self._split(sample_ids)
        payload = b""
        if warm:
            enc = self.warmup_codec.encode(a[warm])
            self._store(sample_ids, warm, enc.sender_view)
            payload += enc.payload
        if delta:
            base = self._cached(sample_ids, delta)
            enc = self.delta_codec.encode(a[delta].float() - base)
            self._store(sample_ids, delta, base + enc.sender_view)
            payload += enc.payload
        return payload

    def receive(self, sample_ids: Sequence[int], payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        """Decode a `send` message for a micro-batch of ``shape``; returns the cached activations (float32)."""
        expected = self.message_bytes(sample_ids, shape)
        if len(payload) != expected:  # refused before any of it reaches the cache
            raise ValueError(f"message of {len(payload)} B, expected {expected} B")
        warm, delta = self._split(sample_ids)
        row_shape = tuple(int(s) for s in shape[1:])
        offset = 0
        if warm:
            size = self.warmup_codec.payload_bytes((len(warm), *row_shape))
            self._store(sample_ids, warm, self.warmup_codec.decode(payload[:size], (len(warm), *row_shape)))
            offset = size
        if delta:
            base = self._cached(sample_ids, delta)
            size = self.delta_codec.payload_bytes((len(delta), *row_shape))
            got = self.delta_codec.decode(payload[offset:offset + size], (len(delta), *row_shape))
            self._store(sample_ids, delta, base + got)
        if not len(sample_ids):  # an empty micro-batch: nothing sent, nothing cached
            return torch.zeros((0, *row_shape))
        return self._cached(sample_ids, list(range(len(sample_ids))))

    def message_bytes(self, sample_ids: Sequence[int], shape: Sequence[int]) -> int:
        """Bytes `send` would produce now for these samples (without changing the cache)."""
        warm, delta = self._split(sample_ids)
        row_shape = tuple(int(s) for s in shape[1:])
        total = self.warmup_codec.payload_bytes((len(warm), *row_shape)) if warm else 0
        return total + (self.delta_codec.payload_bytes((len(delta), *row_shape)) if delta else 0)
