"""Models for the studies (tiny, 2-CPU friendly sizes), each initialised from a passed seed.

- `methods.models.init`: seeded parameter initialisation (never touches torch's global RNG).
- `methods.models.mlp`: `MLP` and multinomial `LogisticRegression` with the non-convex regulariser.
- `methods.models.cnn`: `SmallCNN` for 8x8 digits.
- `methods.models.gpt`: `TinyLlama`, a LLaMA-style decoder (RMSNorm, RoPE, SwiGLU) for character LM.
- `methods.models.llama_family`: config-driven LLaMA, dense or MoC FFN, checkpointing, Hugging Face MLP swap.
"""
