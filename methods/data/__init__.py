"""Small offline datasets and objectives for the compression studies (no downloads, 2-CPU friendly).

- `methods.data.sharding`: deterministic per-worker shards and per-(worker, step) batches.
- `methods.data.digits`: scikit-learn's bundled 8x8 digits (never a ``fetch_*`` download).
- `methods.data.synthetic`: the ARC paper's "robust shifted objective" and heterogeneous logistic regression.
- `methods.data.corpus`: a seeded synthetic grammar corpus for a tiny character-level GPT.
"""
