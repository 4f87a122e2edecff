"""The simulator's prediction for one real pipelined configuration (the ``pipeline_step`` kind's engine).

Nothing here is fitted to the pipelined steps it predicts. The pieces:

- **engine**: `harness.workloads.pipeline_step.simulate_pipeline` over the schedule's event lists, one FIFO link
  per boundary and direction, encode on the sender's and decode on the receiver's compute stream, plus the
  slowest stage's optimizer share; stages split as the real job splits them (`stage_layers`). Transfers are
  ``rendezvous``: gloo's send of an unbound buffer moves data only once the receiver has posted its receive
  (read from gloo's ``transport/tcp/pair.cc``), so a message starts when the receiving stage reaches that event,
  after its ready notice crossed the link. The kind's default, eager transfers, is reported beside (``eager``).
- **compute** (``tables``, the prediction the study is judged on): every layer's forward and backward priced op
  by op (`harness.workloads.pipeline_step.layer_costs`, the kind's own pricing) from the 1-thread CPU tables at
  the cache state the stage leaves (`harness.timing.cache_state`: the compute model the compute study validates
  on real training steps; `stage_touched_bytes`: a stage's weights, gradients and one micro-batch's saved
  activations for its forward and backward, everything it holds for its optimizer step), the AdamW step of the
  whole model split by parameter share. ``single_flush`` beside it: the same from the single-flush CPU set
  (``cpu``, what the study priced from before the compute study's cache-state tables). When stages outnumber the
  machine's cores, the stages' compute and codecs share the cores as the scheduler shares them (processor
  sharing in the engine, `harness.sim.shared_cores`: a stage waiting for a message leaves its share to the
  others), and the optimizer steps, which every stage runs at once after its last backward, are stretched by
  ``stages / cores`` (`harness.fidelity.predict.cpu_share_factor`).
- **codecs**: the codec timing table `measure_codec_times` makes before the runs: each codec's encode and decode
  (the whole `methods.pipeline` call, serialization included) timed alone on this machine at the boundary's
  shape. The kind's own codec pricing (``tah_quantize``/``tah_dequantize`` kernel tables, other codecs as
  ``copy`` passes) leaves the bit-stream packing out; it is reported beside (``kernel_codec``).
- **links**: the configured tbf rate as a `harness.config.blocks.LinkSpec` with ``protocol_efficiency`` = TCP
  payload per frame byte at the MTU (`harness.fidelity.predict.tcp_payload_efficiency`), latency = the 2-rank
  ping-pong alpha the fidelity study fitted on that network (``results/fidelity/fits_netns.csv``; a rate without
  its own fit takes the alpha interpolated linearly in log(rate) between the neighbouring fitted rates). Loopback:
  the fidelity study's 2-rank loopback ping-pong alpha and bandwidth.
- ``op_profile`` (a diagnostic reported beside, where the study folder holds ``op_times.csv``): the same pricing
  with every op's time from the study's own op profile (`harness.pipeline_study.op_times`: the model's ops timed
  alone at their exact shapes before and between the runs, the CPU profiler's timer). This machine's speed changes
  for seconds at a time, so the tables' rows carry the speed of the moment each was timed; the op profile samples
  the same minutes as the runs, which splits the tables' error into the tables' drift (op profile / tables) and
  what running inside a pipelined stage adds to ops timed alone (measured / op profile).
- ``measured_compute`` (a diagnostic reported beside): the same engine with each stage's forward, backward,
  codec and optimizer times taken from the run's own per-step clocks, so the schedule-and-link model is judged
  alone, without the compute model and without the machine's load changing the compute between profile and run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.config.blocks import LinkSpec
from harness.cost.training_step import layer_ops
from harness.errors import HarnessError
from harness.fidelity.predict import cpu_share_factor, tcp_payload_efficiency
from harness.models.llama import resolve_model
from harness.pipeline_study.plan import RunSpec, StudyPlan, network_rate_mbit
from harness.workloads.base import torch_threads
from harness.workloads.pipeline_step import (
    BoundaryCost,
    BoundaryLink,
    CodecPricer,
    CodecSpec,
    LayerCosts,
    PipelineWorkload,
    _boundaries,
    layer_costs,
    simulate_pipeline,
    stage_layers,
)

CODEC_COLUMNS = ["codec", "direction", "tokens", "channels", "encode_ms", "decode_ms", "wire_bytes", "n_repeats"]


# ------------------------------------------------------------------------------------------------- links
@dataclass(frozen=True)
class LinkModel:
    network: str
    link: LinkSpec
    source: str

    @property
    def payload_gbps(self) -> float:
        return self.link.payload_gbps


def _fits(fidelity_dir: Path, setting: str) -> pd.DataFrame:
    path = fidelity_dir / f"fits_{setting}.csv"
    if not path.is_file():
        raise HarnessError(f"{path} does not exist; the pipeline study takes its link latency from the fidelity "
                           "study (`harness fidelity`)")
    fits = pd.read_csv(path)
    return fits[fits["n_ranks"] == 2].sort_values("rate_mbit" if setting == "netns" else "alpha_us")


def link_model(network: str, fidelity_dir: Path | str, mtu_bytes: int) -> LinkModel:
    """The simulator's link for ``network`` (see the module docstring)."""
    fidelity_dir = Path(fidelity_dir)
    rate = network_rate_mbit(network)
    if rate is None:
        fit = _fits(fidelity_dir, "loopback").iloc[0]
        link = LinkSpec(bandwidth_gbps=float(fit["fitted_gbps"]), latency_us=float(fit["alpha_us"]), sharing="fifo")
        return LinkModel(network, link, "fidelity study, loopback ping-pong fit (2 ranks): alpha and bandwidth")
    fits = _fits(fidelity_dir, "netns")
    rates, alphas = fits["rate_mbit"].to_numpy(float), fits["alpha_us"].to_numpy(float)
    if rate in rates:
        alpha = float(alphas[rates == rate][0])
        how = f"fidelity study, netns ping-pong fit at {rate:g} Mbit/s (2 ranks)"
    else:
        alpha = float(np.interp(np.log(rate), np.log(rates), alphas))
        how = (f"interpolated in log(rate) between the fidelity study's netns fits at "
               f"{', '.join(f'{r:g}' for r in rates)} Mbit/s (2 ranks)")
    link = LinkSpec(bandwidth_gbps=rate / 1000.0, latency_us=alpha, sharing="fifo",
                    protocol_efficiency=tcp_payload_efficiency(mtu_bytes))
    return LinkModel(network, link, how)


# ------------------------------------------------------------------------------------------------- codecs
def codec_label(spec: CodecSpec) -> str:
    params = ",".join(f"{k}={v}" for k, v in sorted(spec.params.items()))
    return spec.name + (f"({params})" if params else "")


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return float(np.median(times))


def measure_codec_times(plan: StudyPlan, repeats: int = 15) -> pd.DataFrame:
    """Encode and decode time (median ms, 1 thread) of every codec of the plan at the boundary shape, timed
    alone; AQ-SGD in its steady state (the samples already cached, deltas on the wire)."""
    import torch

    from harness.pipeline_study.boundary import BoundaryCodec

    shape = (plan.micro_batch, plan.seq_len, plan.model.d_model)
    gen = torch.Generator().manual_seed(plan.seed)
    x = torch.randn(shape, generator=gen)
    ids = list(range(plan.micro_batch))
    rows, seen = [], set()
    with torch_threads(1):
        for run in plan.runs:
            for direction, spec in (("forward", run.forward), ("backward", run.backward)):
                key = (direction, codec_label(spec))
                if key in seen:
                    continue
                seen.add(key)
                sender, receiver = BoundaryCodec(spec), BoundaryCodec(spec)
                message, _, _ = sender.encode(ids, x)
                receiver.decode(ids, message, shape)  # AQ-SGD: both caches now hold the samples
                message, _, _ = sender.encode(ids, x * 1.01)
                receiver.decode(ids, message, shape)
                encode_ms = _median_ms(lambda: sender.encode(ids, x), repeats)
                if spec.name == "aqsgd":  # keep the receiver's cache in step with every message the sender made
                    decode_ms = _median_ms(lambda: receiver.decode(ids, sender.encode(ids, x)[0], shape), repeats)
                    decode_ms = max(0.0, decode_ms - encode_ms)
                else:
                    decode_ms = _median_ms(lambda: receiver.decode(ids, message, shape), repeats)
                rows.append({"codec": key[1], "direction": direction, "tokens": shape[0] * shape[1],
                             "channels": shape[2], "encode_ms": encode_ms, "decode_ms": decode_ms,
                             "wire_bytes": sender.wire_bytes(ids, shape), "n_repeats": repeats})
    return pd.DataFrame(rows, columns=CODEC_COLUMNS)


# ------------------------------------------------------------------------------------------------- prediction
def workload(plan: StudyPlan, run: RunSpec, link: LinkModel) -> PipelineWorkload:
    """The ``pipeline_step`` workload of one real configuration."""
    return PipelineWorkload(
        model=plan.model.dims(), micro_batch=plan.micro_batch, seq_len=plan.seq_len,
        n_micro_batches=plan.n_micro_batches, n_stages=run.stages, schedule=run.schedule, dtype="float32",
        optimizer="adamw", link=BoundaryLink(bandwidth_gbps=link.payload_gbps, latency_us=link.link.latency_us),
        forward=run.forward, backward=run.backward)


@dataclass(frozen=True)
class StageTimes:
    """Per stage and micro-batch forward / backward ns, and the optimizer ns of the slowest stage."""

    forward_ns: list[int]
    backward_ns: list[int]
    optimizer_ns: int


def table_stage_times(w: PipelineWorkload, replay, n_cores: int) -> StageTimes:
    """Compute from one set of timing tables (the kind's `layer_costs`) on a dedicated core; the optimizer steps,
    which all stages run at once, stretched when stages outnumber cores."""
    return _stage_times(w, [(replay, replay)] * w.n_stages, n_cores)


def cache_state_stage_times(w: PipelineWorkload, family, n_cores: int) -> StageTimes:
    """As `table_stage_times`, from the CPU tables at each stage's cache state (``family``: a
    `harness.timing.cache_state.CacheStateReplay`, the compute model the compute study validates): a stage's
    forward and backward at its per-micro-batch state, its optimizer share at its per-step state
    (`stage_touched_bytes`)."""
    return _stage_times(w, [(family.at(mb), family.at(step)) for mb, step in stage_touched_bytes(w)], n_cores)


def _stage_times(w: PipelineWorkload, replays: list, n_cores: int) -> StageTimes:
    """Stage times with stage s's layers priced from ``replays[s][0]`` and its optimizer share from
    ``replays[s][1]``."""
    groups = stage_layers(w.model.n_layers, w.n_stages)
    share = cpu_share_factor(w.n_stages, n_cores)
    priced: dict[int, LayerCosts] = {}  # each replay priced once

    def costs(replay) -> LayerCosts:
        if id(replay) not in priced:
            priced[id(replay)] = layer_costs(w, replay)
        return priced[id(replay)]

    fwd, bwd, optimizer = [], [], []
    for group, (layers_replay, optimizer_replay) in zip(groups, replays):
        times = costs(layers_replay)
        optimizer_ns = costs(optimizer_replay).optimizer_ns
        fwd.append(sum(times.forward_ns[i] for i in group))
        bwd.append(sum(times.backward_ns[i] for i in group))
        params = sum(times.n_params[i] for i in group)
        optimizer.append(round(share * optimizer_ns * params / sum(times.n_params)))
    return StageTimes(fwd, bwd, max(optimizer))


def stage_touched_bytes(w: PipelineWorkload) -> list[tuple[int, int]]:
    """Per stage (layers split as `stage_layers`), the bytes its ops cycle through between two uses of the same
    data, our model of the cache state they see (as `harness.cost.training_step.step_touched_bytes` is for a whole
    step): ``(per micro-batch, per step)``. A stage uses its weights once per micro-batch, and between two uses its
    forward and backward read the weights, add into the gradients and write / read one micro-batch's saved
    activations of its layers: weights + gradients + those activations. The optimizer touches each of its tensors
    once per step: parameters, gradients and AdamW states, with every micro-batch's saved activations between."""
    from methods.memory.analytic import DTYPE_BYTES, Shape, Technique, activation_bytes_per_token

    dims = resolve_model(w.model)
    shape = Shape(d_model=dims.d_model, d_ff=dims.d_ff, n_heads=dims.n_heads, n_layers=dims.n_layers,
                  vocab_size=dims.vocab_size)
    per_token = activation_bytes_per_token(shape, Technique(), w.dtype)
    saved = [per_token["embed_tokens"]]  # per layer of `layer_ops`: embed, block.0 .. block.L-1, head
    saved += [sum(v for k, v in per_token.items() if k == f"layers.{i}" or k.startswith(f"layers.{i}."))
              for i in range(dims.n_layers)]
    saved.append(per_token["norm"] + per_token["lm_head"] + per_token["loss_fn"])
    params = [layer.n_params for layer in layer_ops(dims, w.micro_batch, w.seq_len, "cpu")]
    b, tokens = DTYPE_BYTES[w.dtype], w.micro_batch * w.seq_len
    out = []
    for group in stage_layers(dims.n_layers, w.n_stages):
        n, act = sum(params[i] for i in group), sum(saved[i] for i in group) * tokens
        out.append((2 * b * n + act, 4 * b * n + w.n_micro_batches * act))
    return out


def codec_boundaries(w: PipelineWorkload, link: LinkModel, codec_times: pd.DataFrame) -> list[BoundaryCost]:
    """Boundaries with codec times from the codec timing table and the messages' wire bytes."""
    def lookup(spec: CodecSpec, direction: str) -> pd.Series:
        hit = codec_times[(codec_times["codec"] == codec_label(spec)) & (codec_times["direction"] == direction)]
        if hit.empty:
            raise HarnessError(f"codec timing table has no {direction} row for {codec_label(spec)}")
        return hit.iloc[0]

    f, b = lookup(w.forward, "forward"), lookup(w.backward, "backward")
    ns = lambda ms: round(ms * 1e6)  # noqa: E731
    cost = BoundaryCost(int(f["wire_bytes"]), int(b["wire_bytes"]), ns(f["encode_ms"]), ns(f["decode_ms"]),
                        ns(b["encode_ms"]), ns(b["decode_ms"]), link.payload_gbps, link.link.latency_us)
    return [cost] * (w.n_stages - 1)


def predict_step_ms(w: PipelineWorkload, stage_times: StageTimes, boundaries: list[BoundaryCost],
                    rendezvous: bool = True, cores: int | None = None) -> dict:
    """The engine's step: ``cores`` shared by the stages' compute (None: the times already include sharing)."""
    from methods.pipeline.schedule import make_schedule

    schedule = make_schedule(w.schedule, w.n_stages, w.n_micro_batches)
    result = simulate_pipeline(schedule, stage_times.forward_ns, stage_times.backward_ns, boundaries,
                               rendezvous=rendezvous, cores=cores)
    return {"step_ms": (result.pipeline_ns + stage_times.optimizer_ns) / 1e6,
            "bubble_fraction": result.bubble_fraction(), "codec_ms": max(result.codec_ns) / 1e6,
            "stage_compute_ms": max(f + b for f, b in zip(stage_times.forward_ns, stage_times.backward_ns)) / 1e6}


def measured_stage_times(row: pd.Series, n_stages: int, m: int) -> StageTimes:
    """Per-stage times from a run's own clocks (``measured_<what>_ms_s<stage>`` columns, per step)."""
    fwd = [round(row[f"measured_forward_ms_s{s}"] * 1e6 / m) for s in range(n_stages)]
    bwd = [round(row[f"measured_backward_ms_s{s}"] * 1e6 / m) for s in range(n_stages)]
    opt = max(round(row[f"measured_optimizer_ms_s{s}"] * 1e6) for s in range(n_stages))
    return StageTimes(fwd, bwd, opt)


def measured_boundaries(row: pd.Series, n_stages: int, m: int, link: LinkModel) -> list[BoundaryCost]:
    """Boundaries with each side's encode / decode time from the run's own clocks (per micro-batch)."""
    ns = lambda col: round(row[col] * 1e6 / m)  # noqa: E731
    return [BoundaryCost(int(row["fwd_wire_bytes"]), int(row["bwd_wire_bytes"]),
                         ns(f"measured_encode_fwd_ms_s{s}"), ns(f"measured_decode_fwd_ms_s{s + 1}"),
                         ns(f"measured_encode_bwd_ms_s{s + 1}"), ns(f"measured_decode_bwd_ms_s{s}"),
                         link.payload_gbps, link.link.latency_us) for s in range(n_stages - 1)]


def predict_run(plan: StudyPlan, run: RunSpec, row: pd.Series, link: LinkModel, family, replay,
                codec_times: pd.DataFrame, n_cores: int | None = None, op_replay=None) -> dict:
    """Every prediction of one measured configuration (``row``: its measured columns); see the module docstring.

    ``family`` (the cache-state CPU tables, `harness.timing.cache_state.CacheStateReplay`) prices the compute the
    study is judged on; ``replay`` (the single-flush CPU set) the ``single_flush`` diagnostic and the kernel tables'
    codec pricing; ``op_replay``, when given (the study's op profile, `harness.timing.op_profile.StudyOpReplay`),
    the ``op_profile`` diagnostic (NaN without it)."""
    n_cores = n_cores or os.cpu_count() or 1
    w = workload(plan, run, link)
    share = cpu_share_factor(run.stages, n_cores)
    table = cache_state_stage_times(w, family, n_cores)
    bounds = codec_boundaries(w, link, codec_times)
    main = predict_step_ms(w, table, bounds, cores=n_cores)
    single_flush = predict_step_ms(w, table_stage_times(w, replay, n_cores), bounds, cores=n_cores)
    eager = predict_step_ms(w, table, bounds, rendezvous=False, cores=n_cores)
    nan = {"step_ms": float("nan"), "stage_compute_ms": float("nan")}
    ops = nan if op_replay is None else predict_step_ms(w, table_stage_times(w, op_replay, n_cores), bounds,
                                                        cores=n_cores)
    pricer = CodecPricer(replay, "float32", {})
    shape = (plan.micro_batch, plan.seq_len, plan.model.d_model)
    kernel = predict_step_ms(w, table, _boundaries(w, w.forward, w.backward, shape, pricer), cores=n_cores)
    measured_times = measured_stage_times(row, run.stages, plan.n_micro_batches)
    diag = predict_step_ms(w, measured_times, measured_boundaries(row, run.stages, plan.n_micro_batches, link))
    return {
        "predicted_ms": main["step_ms"], "predicted_bubble_fraction": main["bubble_fraction"],
        "predicted_stage_compute_ms": main["stage_compute_ms"], "predicted_codec_ms": main["codec_ms"],
        "predicted_ms_kernel_codec": kernel["step_ms"], "predicted_ms_measured_compute": diag["step_ms"],
        "predicted_ms_eager": eager["step_ms"], "predicted_ms_op_profile": ops["step_ms"],
        "predicted_ms_single_flush": single_flush["step_ms"],
        "predicted_stage_compute_ms_single_flush": single_flush["stage_compute_ms"],
        "predicted_stage_compute_ms_op_profile": ops["stage_compute_ms"],
        "link_payload_gbps": link.payload_gbps, "link_latency_us": link.link.latency_us,
        "cpu_share_factor": share, "codec_sources": ";".join(f"{k}:{v}" for c in pricer.sources.values()
                                                               for k, v in sorted(c.items())),
    }

