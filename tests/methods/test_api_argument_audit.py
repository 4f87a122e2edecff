"""Regression tests of the public methods/ APIs' argument checks (audit of invalid and edge-case arguments).

Each test pins one problem found by calling the APIs as a user would: a wrong argument must raise a clear
TypeError/ValueError naming it when the object is built (not deep inside a later step), and must never be
accepted silently with a different meaning.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.compress import CompressionPipeline, make_compressor, make_error_feedback
from methods.compress.ddp_hooks import CompressionHookState
from methods.mecefo.lowrank import LowRankBases, top_right_singular
from methods.mecefo.neighbour import Techniques
from methods.misa.lisa import LisaConfig
from methods.misa.misa import Misa, MisaConfig
from methods.models.llama_family import LlamaFamilyConfig, MoCMLP, swap_mlp_for_moc
from methods.pipeline.aqsgd import AQSGDEndpoint
from methods.pipeline.codecs import make_codec


# ---------------------------------------------------------------------------------------------- compressors
@pytest.mark.parametrize("ratio", ["0.5", "abc", None, True])
def test_compressor_ratio_must_be_a_number(ratio):
    # "0.5" used to be accepted and to fail later inside keep_count ("0.5" * d is string repetition)
    with pytest.raises(TypeError, match=r"topk\.ratio: expected a number"):
        make_compressor("topk", ratio=ratio)


@pytest.mark.parametrize("rank", ["4", True, None])
def test_compressor_rank_must_be_an_integer(rank):
    with pytest.raises(TypeError, match=r"arc_topk\.rank: expected an integer"):
        make_compressor("arc_topk", rank=rank)


def test_compressor_unknown_parameter_still_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown parameter.*'bogus'.*known parameters: .*ratio"):
        make_compressor("topk", bogus=1)


@pytest.mark.parametrize(("build", "flag"), [(make_compressor, ("topk", "rows")), (make_compressor, ("randk", "scaled")),
                                           (make_error_feedback, ("ef21", "dense_init"))])
def test_flags_take_true_or_false_only(build, flag):
    name, key = flag
    with pytest.raises(TypeError, match=rf"{name}\.{key}: expected true or false, got 'no'"):
        build(name, **{key: "no"})  # used to be taken as true
    assert getattr(build(name, **{key: np.bool_(False)}), key) == False  # noqa: E712 - a numpy bool is a flag


def test_error_feedback_eta_names_the_wrapper_and_refuses_strings():
    with pytest.raises(TypeError, match=r"ef21m\.eta: expected a number"):
        make_error_feedback("ef21m", eta="0.5")
    with pytest.raises(ValueError, match=r"ef21_sgd2m\.eta: expected a momentum weight in \(0, 1\]"):
        make_error_feedback("ef21_sgd2m", eta=0)


def test_pipeline_build_refuses_a_string_of_dense_parameters():
    # used to split the string into characters: the pattern '*' then sent every tensor dense
    with pytest.raises(ValueError, match="dense_parameters: expected a list of patterns"):
        CompressionPipeline.build("topk", dense_parameters="lm_head*")
    with pytest.raises(TypeError, match="dense_parameters"):
        CompressionPipeline.build("topk", dense_parameters=None)


def test_pipeline_start_iter_must_be_an_integer():
    with pytest.raises(ValueError, match=r"start_iter: expected an integer, got 1\.5"):
        CompressionPipeline(make_compressor("topk"), start_iter=1.5)


# --------------------------------------------------------------------------------------------- DDP hook state
def _named():
    return list(torch.nn.Linear(4, 3).named_parameters())


def test_hook_state_refuses_an_error_feedback_of_the_wrong_type():
    # used to be ignored silently (the compressor's default error feedback ran instead)
    with pytest.raises(TypeError, match="error_feedback: expected"):
        CompressionHookState("topk", 3, named_parameters=_named())


def test_hook_state_refuses_a_compressor_of_the_wrong_type():
    with pytest.raises(TypeError, match="compressor: expected"):
        CompressionHookState(3, named_parameters=_named())


def test_hook_state_refuses_error_feedback_params_with_an_instance():
    # the params used to build a throw-away default wrapper, then be ignored
    with pytest.raises(ValueError, match="error_feedback_params are only used"):
        CompressionHookState("arc_topk", make_error_feedback("ef21m"), error_feedback_params={"eta": 0.5},
                             named_parameters=_named())


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"start_iter": 1.5}, ValueError, "start_iter: expected an integer"),
    ({"start_iter": "a"}, TypeError, "start_iter: expected an integer"),
    ({"seed": "x"}, TypeError, "seed: expected an integer"),
    ({"dense_parameters": None}, TypeError, "dense_parameters"),
    ({"dense_parameters": [""]}, TypeError, "dense_parameters: every pattern must be a non-empty string"),
])
def test_hook_state_argument_types(kwargs, error, match):
    with pytest.raises(error, match=match):
        CompressionHookState("topk", named_parameters=_named(), **kwargs)


# -------------------------------------------------------------------------------------------------- Chelsea
def test_chelsea_outlier_heads_checked_when_built():
    pytest.importorskip("kvpress")
    from methods.kvcache.press import ChelseaPress

    for bad in ([(0, -1)], [0], [(0, 1, 2)], [("a", 1)]):
        with pytest.raises(ValueError, match="outlier_heads: expected \\(layer, kv_head\\) pairs"):
            ChelseaPress(outlier_heads=bad)
    assert ChelseaPress(budget=np.float32(0.25)).budget == pytest.approx(0.25)  # a numpy number is a number
    assert ChelseaPress(budget=1.0, outlier_heads=[(np.int64(0), 1)])._outliers == {0: [1]}


# ------------------------------------------------------------------------------------------------------ MoC
@pytest.mark.parametrize(("k", "error"), [(2.5, ValueError), (True, TypeError), ("3", TypeError)])
def test_moc_k_must_be_an_integer(k, error):
    # used to fail only at the first forward ("slice indices must be integers"), or True was taken as 1
    with pytest.raises(error, match=r"k: expected an integer in 1\.\.16"):
        MoCMLP(8, 16, k)
    with pytest.raises(error, match="moc_k: expected an integer"):
        LlamaFamilyConfig(d_model=16, d_ff=16, n_heads=2, n_layers=1, vocab_size=20, ffn="moc", moc_k=k)
    assert MoCMLP(8, 16, 16.0).k == 16  # an integral float (a YAML 16.0) is an integer


def _tiny_hf_llama():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


def test_swap_mlp_for_moc_checks_k_before_changing_anything():
    model = _tiny_hf_llama()
    swap_mlp_for_moc(model, 8)
    with pytest.raises(ValueError, match="k: expected an integer"):
        swap_mlp_for_moc(model, 2.5)  # used to set mlp.k = 2.5 and fail at the next forward
    assert all(layer.mlp.k == 8 for layer in model.model.layers)
    assert swap_mlp_for_moc(model, 32) == 2  # K = d_ff is valid
    with torch.no_grad():
        assert model(torch.randint(0, 50, (1, 6))).logits.shape == (1, 6, 50)


def test_swap_mlp_for_moc_refuses_a_model_that_is_not_llama():
    with pytest.raises(TypeError, match="expects a Hugging Face LlamaForCausalLM"):
        swap_mlp_for_moc(torch.nn.Linear(2, 2), 4)


# ----------------------------------------------------------------------------------------------- MISA, LISA
@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"eta": -1.0}, ValueError, "eta must be a finite number >= 0"),
    ({"eta": float("nan")}, ValueError, "eta must be a finite number >= 0"),
    ({"eta": float("inf")}, ValueError, "eta must be a finite number >= 0"),
    ({"interval": 2.5}, ValueError, "interval: expected an integer >= 1"),
    ({"delta": "0.1"}, TypeError, "delta: expected a number"),
    ({"exp_clip": 0.0}, ValueError, "exp_clip must be > 0"),
    ({"score": "Paper"}, ValueError, "score must be one of"),
    ({"sampling": "importanse"}, ValueError, "sampling must be one of"),
    ({"size_scaling": "sqrt"}, ValueError, "size_scaling must be one of"),
    ({"bias_correction": "std"}, ValueError, "bias_correction must be one of"),
    ({"sample_last": -1}, ValueError, "sample_last: expected an integer >= 0"),
])
def test_misa_config_checked_when_built(kwargs, error, match):
    with pytest.raises(error, match=match):
        MisaConfig(**kwargs)


def test_misa_and_mecefo_flags_take_true_or_false_only():
    from methods.mecefo.neighbour import Techniques

    with pytest.raises(TypeError, match="warmup_sweep: expected true or false, got 'no'"):
        MisaConfig(warmup_sweep="no")  # used to be taken as true
    with pytest.raises(TypeError, match="skip_attention: expected true or false"):
        Techniques(skip_attention="yes")


def test_misa_refuses_a_parameter_list_and_a_dict_config():
    from methods.models.llama_family import LlamaFamily

    model = LlamaFamily(LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=20), seed=0)
    with pytest.raises(TypeError, match="model: expected an nn.Module"):
        Misa(list(model.parameters()), MisaConfig())
    with pytest.raises(TypeError, match="config: expected a MisaConfig"):
        Misa(model, {"delta": 0.1})


@pytest.mark.parametrize(("kwargs", "error"), [({"interval": 1.5}, ValueError), ({"n_layers": 1.5}, ValueError),
                                             ({"n_layers": "1"}, TypeError)])
def test_lisa_config_integers(kwargs, error):
    with pytest.raises(error, match="expected an integer >= 1"):
        LisaConfig(**kwargs)


# --------------------------------------------------------------------------------------------------- codecs
@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("uniform_tensor", {"bits": 2.5}, "bits: expected an integer"),
    ("fixpoint", {"bits": True}, "bits: expected an integer"),
    ("uniform_tile", {"tile_size": 2.5}, "tile_size: expected an integer"),
    ("tahquant", {"bits": 4.5}, "bits: expected an integer"),
    ("tahquant", {"tile_size": 48}, "tile_size: expected a power of two"),
    ("tahquant", {"tile_size": 512}, r"tile_size: expected an integer in 8\.\.256"),
    ("tahquant", {"high_fraction": 0.0}, r"high_fraction: expected a number in \(0, 1\]"),
    ("tahquant", {"high_fraction": 1.5}, r"high_fraction: expected a number in \(0, 1\]"),
])
def test_codec_settings_checked_when_built(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_codec(name, **kwargs)


@pytest.mark.parametrize("name", ["none", "uniform_tensor", "uniform_tile", "fixpoint", "tahquant"])
@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.complex64])
def test_codecs_refuse_non_float_tensors(name, dtype):
    x = torch.ones(2, 8, 64).to(dtype)  # complex used to lose its imaginary part, ints were cast silently
    with pytest.raises(TypeError, match="expected a floating-point tensor"):
        make_codec(name).encode(x)


@pytest.mark.parametrize("name", ["uniform_tensor", "uniform_tile", "fixpoint", "tahquant"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_quantizing_codecs_refuse_non_finite_activations(name, bad):
    x = torch.randn(2, 8, 64)
    x[1, 3, 5] = bad  # fixpoint and the uniform codecs said "value does not fit in N bits"; TAH-Quant sent it on
    with pytest.raises(ValueError, match="cannot quantize non-finite activations"):
        make_codec(name).encode(x)
    assert torch.equal(make_codec("none").encode(x).sender_view.isfinite(), x.isfinite())  # sent as they are


@pytest.mark.parametrize(("name", "shape"), [("fixpoint", (0, 64)), ("fixpoint", (0,)), ("tahquant", (0, 64))])
def test_codecs_round_trip_empty_tensors(name, shape):
    codec = make_codec(name)
    enc = codec.encode(torch.zeros(shape))
    assert len(enc.payload) == codec.payload_bytes(shape)
    out = codec.decode(enc.payload, shape)
    assert tuple(out.shape) == shape and torch.equal(out, enc.sender_view)


def test_aqsgd_round_trips_an_empty_micro_batch():
    sender, receiver = AQSGDEndpoint(make_codec("fixpoint")), AQSGDEndpoint(make_codec("fixpoint"))
    payload = sender.send([], torch.zeros(0, 4, 8))  # used to fail in torch.stack on the receiving side
    assert payload == b"" and tuple(receiver.receive([], payload, (0, 4, 8)).shape) == (0, 4, 8)
    assert sender.memory_bytes == receiver.memory_bytes == 0


def test_aqsgd_refuses_a_codec_name():
    with pytest.raises(TypeError, match="delta_codec: expected a codec"):
        AQSGDEndpoint("fixpoint")


# --------------------------------------------------------------------------------------------------- MeCeFO
def test_mecefo_ranks_must_be_integers():
    with pytest.raises(ValueError, match="rank: expected an integer"):
        LowRankBases(2.5, 1)  # used to be truncated to 2 silently
    with pytest.raises(ValueError, match="refresh_every: expected an integer"):
        Techniques(refresh_every=2.5)  # used to be accepted (refresh every 5 steps in effect)
    with pytest.raises(TypeError, match="rank: expected an integer"):
        top_right_singular(torch.randn(6, 4), "2")
    assert tuple(top_right_singular(torch.randn(6, 4), 10).shape) == (4, 4)  # capped at min(m, n), documented
