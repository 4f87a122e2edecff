"""Pipeline-parallel training in one process: a `TinyLlama` cut into stages, every boundary compressed.

Follows TAH-Quant's convergence experiments (He et al., arXiv 2506.01352, Figure 4 / Table 1) and the research
card ``shared/research/moc_tahquant.md`` B8: the stages run in one process and each stage boundary is a custom
autograd function whose forward sends the activation through a forward link (encode -> wire bytes -> decode on
the receiving side) and whose backward sends the activation gradient through a backward link the same way. A
GPipe step over micro-batches only reorders this arithmetic (gradients are accumulated over the micro-batches as
GPipe does), so the numbers are those of a distributed run with the same codecs.

Links (``transfer(x, sample_ids) -> received tensor``, counting bytes):

- `CodecLink`: a stateless `methods.pipeline.codecs` codec; the receiver decodes the payload bytes.
- `AQSGDLink`: AQ-SGD (arXiv 2206.01299): a sender and a receiver `methods.pipeline.aqsgd.AQSGDEndpoint`, one
  per side, each with its own per-sample cache; the receiver's view is its cache. `AQSGDLink.state_dict` holds
  both caches and the link's statistics, and `AQSGDLink.load_state_dict` resumes a link built the same way.

The received activation replaces the sent one; the gradient passes straight through the quantizer (the
receiver's gradient w.r.t. what it received is what the sender gets, after the backward codec).

Example::

    >>> import torch
    >>> from methods.models.gpt import TinyLlama
    >>> from methods.pipeline.codecs import make_codec
    >>> model = TinyLlama(vocab_size=12, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=8, seed=0)
    >>> pipe = PipelinedLM(model, 2, lambda: Boundary(CodecLink(make_codec("fixpoint", bits=4)),
    ...                                                 CodecLink(make_codec("fixpoint", bits=6))))
    >>> x = torch.zeros(2, 8, dtype=torch.long)
    >>> loss = pipe.loss(x, x, [0, 1]); loss.backward()
    >>> pipe.boundaries[0].forward_link.bytes == make_codec("fixpoint", bits=4).payload_bytes((2, 8, 32))
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.pipeline.aqsgd import AQSGDEndpoint
from methods.pipeline.codecs import ActivationCodec


@dataclass
class LinkStats:
    """What crossed one link: payload bytes, elements, and the squared error / norm of what was received."""

    bytes: int = 0
    elements: int = 0
    sq_error: float = 0.0
    sq_norm: float = 0.0

    def add(self, sent: torch.Tensor, received: torch.Tensor, n_bytes: int) -> None:
        self.bytes += int(n_bytes)
        self.elements += sent.numel()
        diff = (received - sent.detach().float()).double()
        self.sq_error += float((diff * diff).sum())
        self.sq_norm += float((sent.detach().double() ** 2).sum())


class CodecLink:
    """A stateless codec on the wire: ``decode(encode(x).payload)`` on the receiving side."""

    def __init__(self, codec: ActivationCodec):
        self.codec = codec
        self.stats = LinkStats()

    @property
    def bytes(self) -> int:
        return self.stats.bytes

    def transfer(self, x: torch.Tensor, sample_ids: Sequence[int]) -> torch.Tensor:
        enc = self.codec.encode(x)
        received = self.codec.decode(enc.payload, tuple(x.shape))
        self.stats.add(x, received, enc.wire_bytes)
        return received


class AQSGDLink:
    """AQ-SGD between two stages: the sender's and the receiver's endpoint, each with its own cache."""

    def __init__(self, delta_codec: ActivationCodec, cache_dtype: str = "float16"):
        self.sender = AQSGDEndpoint(delta_codec, cache_dtype=cache_dtype)
        self.receiver = AQSGDEndpoint(delta_codec, cache_dtype=cache_dtype)
        self.stats = LinkStats()

    @property
    def bytes(self) -> int:
        return self.stats.bytes

    @property
    def memory_bytes(self) -> int:
        """Bytes both caches hold now (sender + receiver)."""
        return self.sender.memory_bytes + self.receiver.memory_bytes

    def state_dict(self) -> dict[str, Any]:
        """Both endpoints' `AQSGDEndpoint.state_dict` (caches, codecs, cache dtype) and the link's statistics;
        tensors and plain values only, so ``torch.load`` reads it with ``weights_only=True``."""
        return {"sender": self.sender.state_dict(), "receiver": self.receiver.state_dict(),
                "stats": dataclasses.asdict(self.stats)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` into a link built the same way (delta codec, cache dtype): both caches and the
        statistics, so the link goes on sending the bytes and receiving the activations the saved one would have.
        A checkpoint of another configuration is refused (`AQSGDEndpoint.load_state_dict`), and the link is left
        as it was."""
        missing = [k for k in ("sender", "receiver", "stats") if not isinstance(state, Mapping) or k not in state]
        if missing:
            raise ValueError(f"not an AQSGDLink state_dict: it has no {', '.join(map(repr, missing))}")
        kinds = {f.name: type(f.default) for f in dataclasses.fields(LinkStats)}  # int bytes, float errors
        if not isinstance(state["stats"], Mapping) or set(state["stats"]) != set(kinds):
            raise ValueError(f"the checkpoint's stats must hold exactly {', '.join(kinds)}")
        stats = LinkStats(**{k: kind(state["stats"][k]) for k, kind in kinds.items()})
        sender_cache = self.sender.cache
        self.sender.load_state_dict(state["sender"])
        try:
            self.receiver.load_state_dict(state["receiver"])
        except Exception:
            self.sender.cache = sender_cache  # the receiver's state was refused: leave the link as it was
            raise
        self.stats = stats

    def transfer(self, x: torch.Tensor, sample_ids: Sequence[int]) -> torch.Tensor:
        payload = self.sender.send(sample_ids, x)
        received = self.receiver.receive(sample_ids, payload, tuple(x.shape))
        self.stats.add(x, received, len(payload))
        return received


Link = CodecLink | AQSGDLink


class _Boundary(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, boundary: Boundary, sample_ids: tuple[int, ...]) -> torch.Tensor:
        ctx.boundary = boundary
        return boundary.forward_link.transfer(x, sample_ids).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        boundary = ctx.boundary
        return boundary.backward_link.transfer(grad, ()).to(grad.dtype), None, None


@dataclass
class Boundary:
    """One stage boundary: a forward link (activations) and a backward link (activation gradients)."""

    forward_link: Link
    backward_link: Link

    def __call__(self, x: torch.Tensor, sample_ids: Sequence[int]) -> torch.Tensor:
        return _Boundary.apply(x, self, tuple(int(i) for i in sample_ids))


def split_blocks(n_layers: int, n_stages: int) -> list[range]:
    """Blocks of each stage, split evenly, the first stages taking the remainder (the embedding joins stage 0,
    the final norm and LM head the last stage)."""
    if not 1 <= n_stages <= n_layers:
        raise ValueError(f"need 1 <= n_stages <= n_layers, got {n_stages} stages for {n_layers} blocks")
    base, extra = divmod(n_layers, n_stages)
    out, start = [], 0
    for s in range(n_stages):
        count = base + (1 if s < extra else 0)
        out.append(range(start, start + count))
        start += count
    return out


class PipelinedLM:
    """``model`` (a `methods.models.gpt.TinyLlama`) as ``n_stages`` stages with a `Boundary` between each pair."""

    def __init__(self, model: nn.Module, n_stages: int, make_boundary: Callable[[], Boundary]):
        self.model = model
        self.stages = split_blocks(len(model.layers), n_stages)
        self.boundaries = [make_boundary() for _ in range(n_stages - 1)]

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor, sample_ids: Sequence[int]) -> torch.Tensor:
        """Mean cross-entropy of one micro-batch, every boundary crossed through its links."""
        m = self.model
        x = m.embed_tokens(tokens)
        for s, blocks in enumerate(self.stages):
            if s:
                x = self.boundaries[s - 1](x, sample_ids)
            for i in blocks:
                x = m.layers[i](x, m.rope_cos, m.rope_sin)
        logits = m.lm_head(m.norm(x))
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def totals(self) -> dict[str, float]:
        """Bytes, elements and squared error / norm over every boundary so far, per direction."""
        out: dict[str, float] = {}
        for direction in ("forward", "backward"):
            stats = [getattr(b, f"{direction}_link").stats for b in self.boundaries]
            for name in ("bytes", "elements", "sq_error", "sq_norm"):
                out[f"{direction}_{name}"] = sum(getattr(st, name) for st in stats)
        return out

    def cache_bytes(self) -> int:
        """Bytes all AQ-SGD caches hold now (0 for stateless codecs)."""
        return sum(getattr(b.forward_link, "memory_bytes", 0) for b in self.boundaries)
