"""Chelsea online KV-cache clustering (arXiv 2506.11418) for Hugging Face models through kvpress.

- `methods.kvcache.chelsea`: Chunked Soft Matching on plain tensors (protected sink / recent windows, chunks,
  alternating A/B sets, cosine best match, global top-r, count-weighted centroids, online B + g trigger, outlier
  heads).
- `methods.kvcache.attention`: attention with the log(count) bias, registered as transformers' ``"chelsea"``
  attention function.
- `methods.kvcache.press`: `ChelseaPress`, a kvpress press (needs the ``kv`` extra: kvpress, transformers).
- `methods.kvcache.baselines`: names -> kvpress presses (StreamingLLM, SnapKV, H2O-style, merging, CaM) and ours.

Use on your own model::

    from transformers import pipeline
    from methods.kvcache.press import ChelseaPress
    pipe = pipeline("kv-press-text-generation", model=model, tokenizer=tokenizer)  # after `import kvpress`
    answer = pipe(context, question=question, press=ChelseaPress(budget=0.2))["answer"]
"""
