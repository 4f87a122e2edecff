"""The SimPy simulator core. Integer nanoseconds everywhere (`units`), one guarded clock (`clock`).

- `units`: Gbit/s, us, ms <-> bytes/ns and ns; `transfer_ns`, the one rounding rule.
- `clock`: `GuardedEnvironment`, fails loudly when the clock stops or runs backwards.
- `collectives`: alpha-beta closed forms (`LinkCost`, `collective_ns`, `bytes_on_wire_per_rank`).
- `topology`: `Topology` (nodes x devices, intra/inter link classes) and `topology_collective_ns`.
- `links`: `Link`, one direction with FIFO or fair sharing.
- `network`: `NetworkLinks`, the links of a topology inside one simulation.
- `collective_sim`: link-level collectives (`CollectiveEngine`, `simulate_collective_ns`).
- `dp_step`: the data-parallel training-step engine (`simulate_dp_steps`, `DataParallelEngine`).
"""
