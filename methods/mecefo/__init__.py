"""MeCeFO (Hu et al., arXiv 2510.16415) in torch: the neighbour that takes over a failed data-parallel rank's
micro-batch (`neighbour`), its low-rank FFN weight gradient (`lowrank`), a data-parallel loop of simulated ranks
with failures (`training`) and the neighbour's measured cost (`cost`)."""
