"""Real runs set beside the simulator: torch.distributed (gloo) collectives and CPU training steps, measured here.

The collective study (`harness.fidelity.study`, CLI ``harness fidelity``, results in ``results/fidelity/``): gloo
ranks (`measure`) started by `launch`, on loopback or a tbf-shaped namespace network (`netns`), plans (`runs`),
alpha-beta fit (`fit`), the simulator's predictions (`predict`), signed errors (`compare`), quiet-CPU waits (`quiet`).
The compute study (`harness.fidelity.compute`, CLI ``harness fidelity-compute``, results in
``results/fidelity_compute/``): real tiny-LLaMA steps on this CPU vs the op-by-op prediction.
"""
