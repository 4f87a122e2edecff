"""Training memory of LLaMA-shaped models, measured and modelled (MoC, arXiv 2511.09323, memory profile).

- `methods.memory.profiler`: bytes autograd keeps for backward per module (saved-tensor hooks, one count per
  storage) and the peak of a step.
- `methods.memory.analytic`: the same bytes per token from the shapes, plus parameters, gradients and optimizer
  states.
- `methods.memory.layer_table`: one block at the GaLore 1B / 7B widths measured with the profiler beside the
  analytic number (`measure_block`, run by the ``training_memory`` kind with ``workload.measure: true``).
"""
