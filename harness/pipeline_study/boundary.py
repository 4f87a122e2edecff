"""One direction of a pipeline-stage boundary as the real job runs it: encode on the sender, exact wire bytes,
decode on the receiver (TAH-Quant, arXiv 2506.01352; AQ-SGD, arXiv 2206.01299).

Both sides build the same `BoundaryCodec` from the run's `harness.workloads.pipeline_step.CodecSpec` (the codecs
of `methods.pipeline`; ``aqsgd``: an `methods.pipeline.aqsgd.AQSGDEndpoint` per side with its fixpoint delta
codec). A message is ``wire_bytes`` long and the receiver knows that length before it receives (gloo receives into
a buffer of the exact size): the codec's ``payload_bytes(shape)``, which for TAH-Quant is the authors' fixed send
buffer (every tile counted as flagged), so a shorter TAH-Quant payload is padded with zeros to it, as the
authors send it; AQ-SGD's length follows from which samples both caches hold (`AQSGDEndpoint.message_bytes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from harness.workloads.pipeline_step import CodecSpec, build_codec


class BoundaryCodec:
    """One side of one direction of a boundary."""

    def __init__(self, spec: CodecSpec):
        self.spec = spec
        self.endpoint = None
        if spec.name == "aqsgd":
            from methods.pipeline.aqsgd import AQSGDEndpoint

            self.endpoint = AQSGDEndpoint(build_codec(spec), cache_dtype=spec.params.get("cache_dtype", "float16"))
            self.codec = None
        else:
            self.codec = build_codec(spec)

    def wire_bytes(self, sample_ids: Sequence[int], shape: Sequence[int]) -> int:
        """Length of the next message for these samples (both sides compute the same number)."""
        if self.endpoint is not None:
            return self.endpoint.message_bytes(sample_ids, shape)
        return self.codec.payload_bytes(shape)

    def encode(self, sample_ids: Sequence[int], x: torch.Tensor) -> tuple[bytes, torch.Tensor, int]:
        """(the message, padded to `wire_bytes`; the sender's view of what the receiver will get; payload bytes
        before padding)."""
        shape = tuple(x.shape)
        if self.endpoint is not None:
            payload = self.endpoint.send(sample_ids, x)
            view = torch.stack([self.endpoint.cache[int(i)].float() for i in sample_ids])
        else:
            enc = self.codec.encode(x)
            payload, view = enc.payload, enc.sender_view
        size = self.wire_bytes(sample_ids, shape) if self.endpoint is None else len(payload)
        if len(payload) > size:
            raise AssertionError(f"{self.spec.name}: payload of {len(payload)} B exceeds the wire size {size} B")
        return payload + bytes(size - len(payload)), view, len(payload)

    def decode(self, sample_ids: Sequence[int], message: bytes, shape: Sequence[int]) -> torch.Tensor:
        """The receiver's tensor, from the message alone (and, for AQ-SGD, the receiver's cache)."""
        if self.endpoint is not None:
            return self.endpoint.receive(sample_ids, message, shape)
        return self.codec.decode(message, shape)


def tensor_digest(x: torch.Tensor) -> str:
    """sha1 of a tensor's float32 bytes: sender and receiver compare these to agree bit for bit."""
    return hashlib.sha1(x.detach().float().contiguous().numpy().tobytes()).hexdigest()
