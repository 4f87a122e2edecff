"""Gaps found by a mutation audit of methods/kvcache/press.py: the paper's defaults, one press object reused for
a second request (its budget follows the new prompt), and a press entered after a prefill done without it (the
cache seen first is taken as the prompt)."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers", reason="the kv extra (transformers) is not installed")
pytest.importorskip("kvpress", reason="the kv extra (kvpress) is not installed")

from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM  # noqa: E402

from methods.kvcache.press import ChelseaPress  # noqa: E402

SMALL = dict(sink_tokens=4, recent_tokens=16, chunk_size=32, buffer_tokens=5)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=98, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=1, eos_token_id=2, attn_implementation="sdpa")
    return LlamaForCausalLM(config).eval()


def _ids(n: int, seed: int) -> torch.Tensor:
    return torch.randint(3, 98, (1, n), generator=torch.Generator().manual_seed(seed))


def test_defaults_are_the_papers():
    press = ChelseaPress()
    assert (press.budget, press.sink_tokens, press.recent_tokens, press.chunk_size) == (0.2, 16, 64, 256)
    assert press.max_decode_tokens == 0 and press.outlier_heads == ()


def test_a_reused_press_sets_its_budget_from_each_new_prompt(model):
    press = ChelseaPress(budget=0.25, **SMALL)
    for prompt in (200, 120):
        cache = DynamicCache()
        with torch.no_grad(), press(model):
            model(_ids(prompt, prompt), past_key_values=cache)
        assert press._target == prompt // 4 and cache.get_seq_length(0) == prompt // 4
        counts = model.model.layers[0].self_attn.chelsea_counts
        torch.testing.assert_close(counts.sum(-1), torch.full((1, 2), float(prompt)))


def test_a_press_entered_after_the_prefill_takes_the_cache_as_the_prompt(model):
    press = ChelseaPress(budget=0.25, max_decode_tokens=19, **SMALL)
    cache = DynamicCache()
    with torch.no_grad():
        model(_ids(120, 1), past_key_values=cache)
        with press(model):
            model(_ids(1, 2), past_key_values=cache, position_ids=torch.tensor([[120]]))
    assert press._target == (121 + 19) // 4 and cache.get_seq_length(0) == (121 + 19) // 4
