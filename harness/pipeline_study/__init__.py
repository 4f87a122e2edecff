"""Real pipelined training over shaped links, set beside the pipeline simulator (TAH-Quant, arXiv 2506.01352).

A tiny LLaMA/GPT-2-shaped model (`methods.models.gpt.TinyLlama`) split into 2-4 stages, one gloo process per
stage, GPipe or 1F1B, with activation codecs at the stage boundaries (`methods.pipeline`), run over loopback and
over rate-limited network-namespace links (`harness.fidelity.netns`); each configuration's measured step time is
compared with what the ``pipeline_step`` kind's engine predicts for it.

- `plan`: the study's plan file (pydantic; a bad key is one line, exit 2) and the run configuration a worker gets;
- `stages`: the model split into stages, the synthetic data set;
- `boundary`: one direction of a stage boundary: encode on the sender, exact wire bytes, decode on the receiver;
- `worker`: one stage process (``python -m harness.pipeline_study.worker``): explicit send/recv schedule;
- `launch`: start the stage processes in their placement, wait, kill them all on failure;
- `predict`: the simulator's prediction of one configuration (compute from the CPU timing tables, codec cost from
  the codec timing table, link rate x protocol efficiency, latency from the fidelity study's ping-pong fits);
- `study`: the whole study and its files (``results/pipeline/``).
"""
