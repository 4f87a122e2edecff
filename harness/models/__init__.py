"""Model shapes the simulator reasons about (parameters per layer, GEMMs per step). No torch here."""

from harness.models.llama import (  # noqa: F401
    LLAMA_PRESETS,
    Gemm,
    LayerWork,
    LlamaDims,
    attention_flops,
    layer_work,
    parameter_count,
    resolve_model,
)
