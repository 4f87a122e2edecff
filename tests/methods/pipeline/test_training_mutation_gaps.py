"""Gaps a mutation audit found in methods/pipeline/training.py: a link's statistics by hand (bytes added up,
elements, squared error against the sent tensor, squared norm of the sent tensor), an AQ-SGD link's bytes being
its messages' lengths, the caches of every boundary (one link pair per boundary, both sides counted), and the
checkpoint's statistics keys."""

from __future__ import annotations

import pytest
import torch

from methods.models.gpt import TinyLlama
from methods.pipeline.codecs import make_codec
from methods.pipeline.training import AQSGDLink, Boundary, CodecLink, LinkStats, PipelinedLM


def test_link_stats_by_hand():
    stats = LinkStats()
    stats.add(torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0]), 3)
    stats.add(torch.tensor([[0.0, -1.0, 1.0]]), torch.tensor([[0.0, -1.0, 3.0]]), 4)
    assert (stats.bytes, stats.elements, stats.sq_error, stats.sq_norm) == (7, 5, 0.25 + 4.0, 5.0 + 2.0)


def test_a_codec_link_counts_the_payload_and_the_received_error():
    link = CodecLink(make_codec("fixpoint", bits=3))
    x = torch.tensor([[1.0, -0.5], [-1.0, 0.25]])  # received [[0.75, -0.5], [-1, 0.25]] (test_codecs_mutation_gaps)
    assert link.transfer(x, ()).tolist() == [[0.75, -0.5], [-1.0, 0.25]]
    assert (link.bytes, link.stats.elements, link.stats.sq_error, link.stats.sq_norm) == (6, 4, 0.0625, 2.3125)


def test_an_aqsgd_link_counts_its_messages_and_both_caches():
    link = AQSGDLink(make_codec("fixpoint", bits=3), cache_dtype="float32")
    a = torch.tensor([[[1.0, 2.0]]])
    link.transfer(a, [0])
    link.transfer(a, [0])
    assert link.bytes == 8 + 5  # the float32 warm-up, then a 3-bit delta: 2 fp16 scales + 2 x 3 bits -> 5 B
    assert link.memory_bytes == 2 * 2 * 4  # sender and receiver, one sample of 2 float32


def test_every_boundary_has_its_own_aqsgd_caches():
    model = TinyLlama(vocab_size=11, d_model=32, n_layers=3, n_heads=4, d_ff=48, max_seq_len=8, seed=0)
    pipe = PipelinedLM(model, 3, lambda: Boundary(AQSGDLink(make_codec("fixpoint", bits=4)),
                                                  CodecLink(make_codec("fixpoint", bits=6))))
    x = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(0))
    pipe.loss(x, x, [5, 9]).backward()
    assert pipe.boundaries[0].forward_link is not pipe.boundaries[1].forward_link
    # 2 boundaries x 2 sides x 2 samples x 8 tokens x 32 channels x 2 B (float16)
    assert pipe.cache_bytes() == 2 * 2 * 2 * 8 * 32 * 2
    assert pipe.totals()["forward_bytes"] == 2 * 2 * 8 * 32 * 4  # both boundaries' fp32 warm-up


def test_a_link_checkpoint_with_other_statistics_keys_is_refused():
    link = AQSGDLink(make_codec("fixpoint", bits=4))
    link.transfer(torch.ones(1, 2, 4), [0])
    state = link.state_dict()
    state["stats"] = {**state["stats"], "extra": 1}
    with pytest.raises(ValueError, match="stats must hold exactly"):
        AQSGDLink(make_codec("fixpoint", bits=4)).load_state_dict(state)
    state["stats"] = {k: str(v) for k, v in link.state_dict()["stats"].items() if k != "extra"}
    fresh = AQSGDLink(make_codec("fixpoint", bits=4))
    fresh.load_state_dict(state)  # numbers written as text read back as the statistics' types
    assert fresh.stats == link.stats and isinstance(fresh.stats.bytes, int)
