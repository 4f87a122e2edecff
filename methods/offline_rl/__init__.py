"""Reward-aware consistency trajectory distillation for offline RL (RACTD, Duan et al., arXiv 2506.07822):
an EDM diffusion planner (teacher), a return-to-go reward model and a one-step consistency-trajectory student,
with counted network evaluations per action. Sizes are scaled for a CPU; the authors' sizes are a config."""
