"""Pipeline-parallel training over slow links: activation codecs, AQ-SGD boundaries and schedules.

Follows TAH-Quant (He et al., arXiv 2506.01352) and AQ-SGD (Wang et al., arXiv 2206.01299); research card
``shared/research/moc_tahquant.md`` part B.

- `methods.pipeline.codecs`: `make_codec(name, **params)` (``none``, ``uniform_tensor``, ``uniform_tile``,
  ``fixpoint``, ``tahquant``): ``encode`` -> exact wire bytes + the sender's view, ``decode`` from the bytes,
  ``payload_bytes(shape)``.
- `methods.pipeline.aqsgd`: `AQSGDEndpoint` (per-sample cache, quantized deltas, ``memory_bytes``), `cache_bytes`.
- `methods.pipeline.schedule`: `gpipe`, `one_f_one_b`, `make_schedule`: per-stage event lists.
- `methods.pipeline.bits`: the bit-stream packer the codecs share.
- `methods.pipeline.training`: `PipelinedLM`, a tiny GPT cut into stages in one process, every boundary sending
  activations and gradients through codec links (`CodecLink`, `AQSGDLink`) with exact wire bytes.
- `methods.pipeline.analysis`: reconstruction error vs bits of the codec's ingredients (tiling, Hadamard, pivot)
  on synthetic activations with outliers.
"""

from methods.pipeline.aqsgd import AQSGDEndpoint, cache_bytes
from methods.pipeline.codecs import CODECS, ActivationCodec, Encoded, make_codec
from methods.pipeline.schedule import SCHEDULES, Event, Schedule, gpipe, make_schedule, one_f_one_b

__all__ = ["AQSGDEndpoint", "ActivationCodec", "CODECS", "Encoded", "Event", "SCHEDULES", "Schedule",
           "cache_bytes", "gpipe", "make_codec", "make_schedule", "one_f_one_b"]
