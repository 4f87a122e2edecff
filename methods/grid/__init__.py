"""Grid signals for frequency-response studies (follows arXiv 2504.03150's setting: PJM RegD-driven FFR).

`signals`: grid-frequency deviation (Ornstein-Uhlenbeck), a generation-loss event (swing equation), a RegD-like
regulation signal, droop from frequency to a power request, and replay of a user's CSV trace.
"""
