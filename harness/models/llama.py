"""LLaMA-shaped decoder models as the simulator sees them: parameters per layer and the work of one step.

Architecture (Touvron et al., "LLaMA", arXiv 2302.13971): token embedding, ``n_layers`` blocks of
RMSNorm -> attention (q, k, v, o projections, no biases) -> RMSNorm -> SwiGLU MLP (gate, up, down), a final RMSNorm
and an untied LM head. Sizes are the GaLore pre-training configs (Zhao et al., "GaLore", arXiv 2403.03507,
``configs/llama_*.json``), vocabulary 32,000.

For a micro-batch of ``b`` sequences of ``s`` tokens (``T = b * s``) the forward pass of one block runs the GEMMs
``(m, n, k)`` = ``(T, d, d)`` x 4 and ``(T, f, d)`` x 2, ``(T, d, f)``, plus attention ``b * h`` times
``(s, s, d/h)`` (scores) and ``(s, d/h, s)`` (weights x values). The backward pass runs two GEMMs per forward GEMM
``(m, n, k)``: input gradient ``(m, k, n)`` and weight gradient ``(k, n, m)``.

Memory-bound work (RMSNorm, SwiGLU activation, residual adds, softmax, the embedding gather, cross-entropy) is
listed as element counts of one read+write pass each (`layer_work`: a coarse summary used for parameter and
tensor bookkeeping). Our choices where papers are silent: attention is counted without the causal-mask saving (as
most MFU accounting does), and a backward elementwise pass costs twice its forward pass (it reads the gradient and
the saved input). The step as the ops PyTorch actually runs, each timed, is `harness.cost.training_step`.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, model_validator


#: Upper bounds of explicit dims: a few times the largest published LLMs, so any real model fits, and a typo
#: (``n_layers: 1000000``) is refused instead of simulated for hours (pricing costs time per layer)
MAX_D_MODEL = 65_536  # 2.6x Megatron-LM's 1T configuration's 25,600 (MT-NLG 530B 20,480, Llama 3.1 405B 16,384)
MAX_D_FF = 262_144  # 3.6x PaLM 540B's 73,728; Llama 3.1 405B 53,248
MAX_N_LAYERS = 512  # 4x Llama 3.1 405B's 126 blocks (PaLM 540B 118, Megatron-LM 1T 128, GPT-3 96)
MAX_VOCAB_SIZE = 1 << 20  # 4x the largest vocabularies in use (Gemma, PaLM: 256,000)


class LlamaDims(BaseModel):
    """Dimensions of a LLaMA-shaped model (explicit dims in a scenario's ``workload.model``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: PositiveInt = Field(
        le=MAX_D_MODEL, description="hidden size (at most 65,536: 2.6x the widest published LLM configuration, 25,600)"
    )
    d_ff: PositiveInt = Field(
        le=MAX_D_FF, description="SwiGLU intermediate size (at most 262,144: 3.6x PaLM 540B's 73,728)"
    )
    n_heads: PositiveInt = Field(
        le=MAX_D_MODEL, description="attention heads (they divide d_model, so at most d_model's bound)"
    )
    n_layers: PositiveInt = Field(
        le=MAX_N_LAYERS, description="transformer blocks (at most 512: 4x the deepest published LLaMA-shaped LLM, "
        "Llama 3.1 405B's 126)"
    )
    vocab_size: PositiveInt = Field(
        32000, le=MAX_VOCAB_SIZE, description="vocabulary size (at most 2**20: 4x the largest in use, 256,000)"
    )
    fused_qkv: bool = Field(
        False, description="q, k and v as one (d_model -> 3 d_model) projection, as methods.models.gpt.TinyLlama; "
        "LLaMA (and Hugging Face's implementation) uses three"
    )

    @model_validator(mode="after")
    def _heads_divide_model(self) -> LlamaDims:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


def check_rotary_heads(d_model: int, n_heads: int) -> None:
    """ValueError unless ``d_model`` splits into ``n_heads`` heads of even size (rotary embedding rotates pairs)."""
    if d_model % n_heads or (d_model // n_heads) % 2:
        raise ValueError(f"d_model {d_model} must split into n_heads {n_heads} heads of even size (rotary embedding "
                         "rotates pairs of dimensions)")


#: GaLore's LLaMA pre-training configs (d_model, d_ff, heads, layers).
LLAMA_PRESETS: dict[str, LlamaDims] = {
    "llama-60m": LlamaDims(d_model=512, d_ff=1376, n_heads=8, n_layers=8),
    "llama-130m": LlamaDims(d_model=768, d_ff=2048, n_heads=12, n_layers=12),
    "llama-350m": LlamaDims(d_model=1024, d_ff=2736, n_heads=16, n_layers=24),
    "llama-1b": LlamaDims(d_model=2048, d_ff=5461, n_heads=32, n_layers=24),
    "llama-7b": LlamaDims(d_model=4096, d_ff=11008, n_heads=32, n_layers=32),
}


def resolve_model(model: str | LlamaDims) -> LlamaDims:
    """A preset name (``llama-130m``) or explicit dims -> dims. Unknown names raise ValueError listing presets."""
    if isinstance(model, LlamaDims):
        return model
    try:
        return LLAMA_PRESETS[model]
    except KeyError:
        raise ValueError(f"unknown model preset {model!r}; known: {', '.join(LLAMA_PRESETS)}") from None


def _known_preset(model: str | LlamaDims) -> str | LlamaDims:
    if isinstance(model, str) and model not in LLAMA_PRESETS:
        raise ValueError(f"unknown model preset {model!r}; known: {', '.join(LLAMA_PRESETS)}")
    return model


#: a scenario field naming a LLaMA model: a preset name (checked against `LLAMA_PRESETS`) or explicit dims
LlamaModel = Annotated[str | LlamaDims, AfterValidator(_known_preset)]


@dataclass(frozen=True)
class Gemm:
    """``count`` independent matmuls of an (m x k) by (k x n) product."""

    m: int
    n: int
    k: int
    count: int = 1
    name: str = ""

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k * self.count

    def backward(self) -> tuple[Gemm, Gemm]:
        """Input gradient dX = dY @ W^T (m, k, n) and weight gradient dW = X^T @ dY (k, n, m)."""
        return (
            Gemm(self.m, self.k, self.n, self.count, f"{self.name}.dgrad"),
            Gemm(self.k, self.n, self.m, self.count, f"{self.name}.wgrad"),
        )


@dataclass(frozen=True)
class LayerWork:
    """One layer's parameters and the work of one micro-batch through it.

    Attributes:
        name: ``embed``, ``block.<i>`` or ``head``.
        n_params: trainable parameters (their gradients are all-reduced).
        forward_gemms / backward_gemms: matmuls of the forward / backward pass (attention included).
        forward_elementwise_numel / backward_elementwise_numel: elements of memory-bound read+write passes.
    """

    name: str
    n_params: int
    forward_gemms: tuple[Gemm, ...]
    backward_gemms: tuple[Gemm, ...]
    forward_elementwise_numel: int
    backward_elementwise_numel: int

    def grad_bytes(self, bytes_per_param: int) -> int:
        return self.n_params * bytes_per_param


def _with_backward(forward: tuple[Gemm, ...]) -> tuple[Gemm, ...]:
    return tuple(g for gemm in forward for g in gemm.backward())


def block_params(dims: LlamaDims) -> int:
    """Parameters of one block: q, k, v, o projections, gate/up/down, two RMSNorm weights."""
    d, f = dims.d_model, dims.d_ff
    return 4 * d * d + 3 * d * f + 2 * d


def parameter_count(dims: LlamaDims) -> int:
    """Total trainable parameters: embedding + blocks + final norm + untied LM head."""
    d, v = dims.d_model, dims.vocab_size
    return v * d + dims.n_layers * block_params(dims) + d + v * d


def attention_flops(dims: LlamaDims, micro_batch: int, seq_len: int) -> float:
    """Forward FLOPs of scores and weighted values of one block: ``4 * b * s^2 * d`` (no causal saving)."""
    return 4.0 * micro_batch * seq_len * seq_len * dims.d_model


def layer_work(dims: LlamaDims, micro_batch: int, seq_len: int) -> list[LayerWork]:
    """Every layer in forward order (``embed``, ``block.0`` ... ``block.<L-1>``, ``head``) for one micro-batch."""
    if micro_batch < 1 or seq_len < 1:
        raise ValueError(f"micro_batch and seq_len must be >= 1, got {micro_batch} and {seq_len}")
    d, f, v, h = dims.d_model, dims.d_ff, dims.vocab_size, dims.n_heads
    tokens = micro_batch * seq_len
    qkv = ((Gemm(tokens, 3 * d, d, name="qkv_proj"),) if dims.fused_qkv
           else tuple(Gemm(tokens, d, d, name=f"{x}_proj") for x in "qkv"))
    block_gemms = (
        *qkv,
        Gemm(seq_len, seq_len, dims.head_dim, micro_batch * h, name="attn_scores"),
        Gemm(seq_len, dims.head_dim, seq_len, micro_batch * h, name="attn_values"),
        Gemm(tokens, d, d, name="o_proj"),
        Gemm(tokens, f, d, name="gate_proj"),
        Gemm(tokens, f, d, name="up_proj"),
        Gemm(tokens, d, f, name="down_proj"),
    )
    # two RMSNorms and two residual adds over (T, d); SwiGLU reads gate and up and writes (T, f); softmax (b, h, s, s)
    block_elementwise = 4 * tokens * d + 3 * tokens * f + micro_batch * h * seq_len * seq_len
    head_gemms = (Gemm(tokens, v, d, name="lm_head"),)
    head_elementwise = tokens * d + tokens * v  # final RMSNorm, softmax cross-entropy over the vocabulary
    layers = [
        LayerWork("embed", v * d, (), (), tokens * d, 2 * tokens * d),
    ]
    layers += [
        LayerWork(
            f"block.{i}",
            block_params(dims),
            block_gemms,
            _with_backward(block_gemms),
            block_elementwise,
            2 * block_elementwise,
        )
        for i in range(dims.n_layers)
    ]
    layers.append(LayerWork("head", v * d + d, head_gemms, _with_backward(head_gemms), head_elementwise,
                            2 * head_elementwise))
    return layers
