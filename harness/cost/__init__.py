"""Compute cost models built on the timing replay: the ops of a training step, priced op by op."""
