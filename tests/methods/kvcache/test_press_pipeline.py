"""ChelseaPress inside kvpress: the text-generation pipeline on a tiny LlamaForCausalLM (RoPE, GQA) built from a
config on the CPU (no download), the online B + g trigger, outlier heads, bad input, and the baseline registry."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers", reason="the kv extra (transformers) is not installed")
pytest.importorskip("kvpress", reason="the kv extra (kvpress) is not installed")

from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, pipeline  # noqa: E402

from methods.kvcache.attention import COUNTS_ATTRIBUTE  # noqa: E402
from methods.kvcache.baselines import BASELINES, make_press  # noqa: E402
from methods.kvcache.press import ChelseaPress  # noqa: E402

CONTEXT = "the quick brown fox jumps over the lazy dog; the key is 42. " * 6
SMALL = dict(sink_tokens=4, recent_tokens=16, chunk_size=32, buffer_tokens=5)


def _tokenizer() -> PreTrainedTokenizerFast:
    vocab = {c: i for i, c in enumerate(["<unk>", "<s>", "</s>"] + [chr(i) for i in range(32, 127)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _model(attn: str = "sdpa") -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=98, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=1, eos_token_id=2, attn_implementation=attn)
    model = LlamaForCausalLM(config).eval()
    model.generation_config.eos_token_id = []  # always decode max_new_tokens tokens
    return model


@pytest.fixture(scope="module")
def tokenizer():
    return _tokenizer()


@pytest.fixture(scope="module")
def model():
    return _model()


def _layer_counts(model) -> list[torch.Tensor]:
    return [getattr(layer.self_attn, COUNTS_ATTRIBUTE) for layer in model.model.layers]


def test_chelsea_runs_through_the_kvpress_pipeline(model, tokenizer):
    pipe = pipeline("kv-press-text-generation", model=model, tokenizer=tokenizer, device="cpu")
    press = ChelseaPress(budget=0.25, **SMALL)
    cache = DynamicCache()
    question, new_tokens = "what is the key?", 12
    answer = pipe(CONTEXT, question=question, press=press, max_new_tokens=new_tokens, cache=cache)["answer"]
    assert isinstance(answer, str) and answer
    context_ids = len(tokenizer.encode(tokenizer.bos_token + CONTEXT, add_special_tokens=False))
    fed = context_ids + len(tokenizer.encode(question + "\n", add_special_tokens=False)) + new_tokens - 1
    assert press._target == int(0.25 * context_ids)
    for counts in _layer_counts(model):
        assert counts.shape[-1] <= press._target + press.buffer_tokens < context_ids
        torch.testing.assert_close(counts.sum(-1), torch.full((1, 2), float(fed)))  # every token accounted for
        assert counts.max() > 1
    assert model.config._attn_implementation == "sdpa"  # restored after the press


def test_chelsea_attention_with_unit_counts_matches_sdpa(model):
    ids = torch.randint(3, 98, (1, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(ids).logits
        with ChelseaPress(budget=1.0, **SMALL)(model):
            assert model.config._attn_implementation == "chelsea"
            logits = model(ids).logits
    torch.testing.assert_close(logits, reference, rtol=1e-4, atol=1e-5)


def _decode(model, press, prompt: int, steps: int):
    """Prefill ``prompt`` tokens then feed ``steps`` tokens one by one; yields the layer-0 cache length."""
    gen = torch.Generator().manual_seed(2)
    cache = DynamicCache()
    with torch.no_grad(), press(model):
        model(torch.randint(3, 98, (1, prompt), generator=gen), past_key_values=cache)
        yield cache.get_seq_length(0)
        for t in range(steps):
            position = torch.tensor([[prompt + t]])
            model(torch.randint(3, 98, (1, 1), generator=gen), past_key_values=cache, position_ids=position)
            yield cache.get_seq_length(0)


def test_online_trigger_compresses_back_to_budget_every_g_plus_one_steps(model):
    press = ChelseaPress(budget=0.3, max_decode_tokens=20, **SMALL)
    lengths = list(_decode(model, press, prompt=200, steps=20))
    budget, g = int(0.3 * 220), press.buffer_tokens
    expected = [budget]
    for _ in range(20):
        expected.append(expected[-1] + 1 if expected[-1] + 1 <= budget + g else budget)
    assert lengths == expected
    for counts in _layer_counts(model):
        torch.testing.assert_close(counts.sum(-1), torch.full((1, 2), 220.0))


def test_outlier_heads_keep_every_entry(model):
    press = ChelseaPress(budget=0.3, outlier_heads=((0, 1),), **SMALL)
    lengths = list(_decode(model, press, prompt=120, steps=3))
    counts = _layer_counts(model)
    assert lengths[-1] == 123 and counts[0][0, 1].eq(1).all()
    assert int((counts[0][0, 0] > 0).sum()) <= int(0.3 * 120) + press.buffer_tokens
    assert counts[1].shape[-1] <= int(0.3 * 120) + press.buffer_tokens
    torch.testing.assert_close(counts[0].sum(-1), torch.full((1, 2), 123.0))


@pytest.mark.parametrize("budget", [0, 0.0, -0.1, 1.5, "0.5", True])
def test_budget_outside_unit_interval_is_refused(budget):
    with pytest.raises(ValueError, match="budget"):
        ChelseaPress(budget=budget)


def test_chunk_size_zero_is_refused():
    with pytest.raises(ValueError, match="chunk_size"):
        ChelseaPress(chunk_size=0)


def test_window_larger_than_context_is_refused_before_any_compute(model):
    calls = []
    handle = model.model.embed_tokens.register_forward_hook(lambda *a: calls.append(1))
    try:
        with pytest.raises(ValueError, match="recent_tokens"), ChelseaPress(recent_tokens=64)(model):
            model(torch.randint(3, 98, (1, 50)))
    finally:
        handle.remove()
    assert calls == [] and model.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("name", ["full", "streaming_llm", "snapkv", "merging", "cam", "h2o", "chelsea"])
def test_every_registered_press_runs_through_the_pipeline(name, tokenizer):
    model = _model("eager" if name == "h2o" else "sdpa")
    extra = {"target_size": 64, "compression_interval": 4} if name == "cam" else {}
    extra = SMALL if name == "chelsea" else extra
    pipe = pipeline("kv-press-text-generation", model=model, tokenizer=tokenizer, device="cpu")
    cache = DynamicCache()
    answer = pipe(CONTEXT, question="key?", press=make_press(name, 0.25, **extra), max_new_tokens=4, cache=cache)
    assert isinstance(answer["answer"], str)
    context_ids = len(tokenizer.encode(tokenizer.bos_token + CONTEXT, add_special_tokens=False))
    if name in ("streaming_llm", "snapkv", "merging", "h2o"):  # prefill presses: the context kept is the budget
        assert cache.get_seq_length() == round(0.25 * context_ids)
    elif name == "full":
        assert cache.get_seq_length() == context_ids


def test_unknown_press_lists_the_known_ones():
    with pytest.raises(KeyError, match="snapkv"):
        make_press("h3o", 0.2)
    assert "chelsea" in BASELINES
