"""Benchmark of the failure macro simulation (`harness.failures`): Llama 3 405B's 54-day, 16,384-GPU record.

Run on one core, as the target is stated for one core:

    taskset -c 0 .venv/bin/python benchmarks/failures_macro_speed.py [--replicates 21]

Setting: ``scenarios/mecefo/llama3_405b_interruptions.yaml`` (16,384 H100s, per-GPU MTBF 50,676 h from the
record's 419 unexpected interruptions in 54 days; Llama Team, arXiv 2407.21783). Per replicate it times the whole
study: drawing every GPU's failures over 54 days (`generate_events`) and the event-to-event simulation of the
failure-free and the checkpoint-restart policies (`macro.simulate`). Target: <= 1 s per replicate on one core.
The step time of the job's configuration is priced once, before the clock starts (it is computed once per
configuration and cached in every run too); its one-off cost is printed beside.

It also prints the interruption count per replicate and its median, against the record's 419 +- 41 (2 sqrt(419)).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from harness.config.loader import load_scenario
from harness.executors import timings_for
from harness.failures.macro import simulate
from harness.failures.policies import POLICIES, PolicyCosts
from harness.failures.processes import generate_events
from harness.failures.step_costs import StepPricer, StepSetup
from harness.failures.traces import ClusterShape
from harness.models.llama import resolve_model
from harness.sim.topology import Topology
from harness.workloads.fault_tolerant_training import component_classes, job_mtbf_h

SCENARIO = "scenarios/mecefo/llama3_405b_interruptions.yaml"
RECORD, BAND = 419, 41


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=21)
    args = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    f, w, c = scenario.failures, scenario.workload, scenario.cluster
    shape = ClusterShape(c.nodes, c.devices_per_node)
    classes = component_classes(f, shape)
    start = time.perf_counter()
    setup = StepSetup(resolve_model(w.model), w.micro_batch, w.seq_len, w.dtype, w.optimizer, w.bucket_mb, w.overlap,
                      w.mecefo.lowrank_rank, w.mecefo.refresh_every, w.mecefo.power_iterations,
                      w.oobleck.stages_min, w.oobleck.stages_max)
    pricer = StepPricer(setup, timings_for(scenario), Topology.from_config(c, scenario.network))
    pricer.normal_step_s()
    pricing_s = time.perf_counter() - start
    costs = PolicyCosts(job_mtbf_s=job_mtbf_h(classes) * 3600.0)
    policies = [POLICIES[name](pricer, costs) for name in ("failure_free", "checkpoint_restart")]
    counts, walls = [], []
    for child in np.random.SeedSequence(scenario.seed).spawn(args.replicates):
        t0 = time.perf_counter()
        events = generate_events(classes, f.horizon_h, child)
        results = [simulate(events, policy, shape.n_devices, f.horizon_h) for policy in policies]
        walls.append(time.perf_counter() - t0)
        counts.append(results[0].n_failures)
    median = statistics.median(counts)
    print(f"pricing the step once (not timed below): {pricing_s:.2f} s")
    print(f"54-day study per replicate: median {statistics.median(walls):.3f} s, max {max(walls):.3f} s "
          f"(target <= 1 s on one core): {'met' if max(walls) <= 1.0 else 'MISSED'}")
    print(f"interruptions per replicate: {counts}")
    print(f"median {median} vs record {RECORD} +- {BAND}: {'within' if abs(median - RECORD) <= BAND else 'OUTSIDE'}")


if __name__ == "__main__":
    main()
