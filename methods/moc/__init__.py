"""Mixture-of-Channels (Wu, He, Wang, Yuan, arXiv 2511.09323) beyond the kernels: training runs of the tiny LLaMA
with dense or MoC FFNs (`methods.moc.training`), alternative channel-selection scores for the ablation
(`methods.moc.selection`) and the CPU decode path timed against dense SwiGLU (`methods.moc.decode`).

The MoC layer itself is `kernels.moc` (training and decode paths) and the model `methods.models.llama_family`.
"""
