"""Reward-aware consistency trajectory distillation for offline RL (RACTD, Duan et al., arXiv 2506.07822):
an EDM diffusion planner (teacher), a return-to-go reward model and a one-step consistency-trajectory student,
with counted network evaluations per action; the baselines (BC, IQL, TD3+BC via d3rlpy, a Diffuser-style
planner), Minari episodes as training arrays (`episodes`), cached training of every method (`training`), one
policy interface (`policies`) and closed-loop rollouts (`rollout`). Sizes are scaled for a CPU; the authors'
sizes are a config. Datasets: the `datasets` subpackage."""
