"""Failures in the simulator: failure processes (`processes`), trace replay (`traces`), fault-tolerance policies
(`policies`) and the event-to-event macro simulation (`macro`). Models follow the failure sections of the project's
research notes: Weibull/exponential mean-matched inter-arrivals and lognormal repairs (Schroeder & Gibson, DSN
2006), Young/Daly checkpoint intervals, and MeCeFO's neighbour-do-both (Hu et al., arXiv 2510.16415)."""
