"""Simulation and benchmarking harness: scenario files -> validated config -> SimPy world -> tidy results.

Layers (imports go downward only): plots -> harness -> methods -> kernels.
"""

__version__ = "0.1.0"
