"""Gradient compressors, error feedback and DDP communication hooks (ARC-Top-K, GreedyLore and baselines)."""
