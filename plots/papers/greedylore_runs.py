"""What the GreedyLore figures (`plots.papers.greedylore`) and tables (`plots.papers.greedylore_tables`) share.

The scenario files and their quick-profile overrides, the notes every caption starts with, and the run tables of
the ``compressed_training`` sweeps: one row per recorded step with what identifies the run (method, rank,
selection, error feedback, seed, tuned learning rate, bytes per step relative to dense), the selection of one arm
over its seeds, and the tiny-GPT arms of ``scenarios/greedylore/tiny_gpt.yaml`` (dense, PowerSGD and GreedyLore
at a width and rank, and the PowerSGD rank at equal bytes).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from plots.spread import final_over_seeds, pm

TINY_GPT = "scenarios/greedylore/tiny_gpt.yaml"
DIGITS = "scenarios/greedylore/digits_cnn.yaml"
TEXT = "scenarios/greedylore/text_classification.yaml"
CONTRACTION = "scenarios/greedylore/contraction.yaml"
TIME_500 = "scenarios/greedylore/time_500_iterations.yaml"

# Profiles. The tiny-GPT overrides are shared by fig1/fig4/fig5/tab4 so that they reuse the same runs. Both profiles
# run 3 seeds of every arm and tune the learning rate per method (the files' ``tune:`` blocks); quick shrinks the
# steps, the data and the tuning budget, full runs the files as written.
QUICK_GPT = ("workload.steps=60", "workload.warmup_steps=6", "workload.eval_every=4", "workload.record_every=2",
             "workload.task.n_sentences=2000", "workload.task.eval_sentences=200", "workload.task.eval_batches=4",
             "tune.overrides={workload.steps: 40, workload.warmup_steps: 6, seed: 1000}")
QUICK_DIGITS = ("workload.steps=100", "workload.warmup_steps=8", "workload.eval_every=10",
                "tune.overrides={workload.steps: 60, seed: 1000}")
QUICK_TEXT = ("workload.steps=40", "workload.warmup_steps=6", "workload.eval_every=40", "workload.record_every=5",
              "workload.task.n_train=800", "workload.task.n_test=400",
              "tune.overrides={workload.steps: 30, workload.eval_every: 30, seed: 1000}")
QUICK_CONTRACTION = ("workload.trials=5",)

# Cost on the 2-core development machine. Quick: CPU time of `harness figures --quick --paper greedylore` (304 s
# for the paper), split by scenario in proportion to its runs' wall time (the machine was shared: the runs' summed
# wall time was 1,039 s). Full: estimated from the quick runs' CPU time per step (tiny GPT and text about 47 ms,
# digits about 9 ms) for `harness figures --full --workers 2`: about 23 min for the paper.
GPT_COST = ("; 54 runs (18 arms x 3 seeds) + 18 tuning runs: quick about 3 min of CPU time (measured), full about "
            "16 min on 2 cores (estimated from the per-step cost)")
TEXT_COST = ("; 45 runs (15 x 3 seeds) + 9 tuning runs: quick about 1.5 min of CPU time (measured), full about 6 min "
             "on 2 cores (estimated from the per-step cost)")
DIGITS_COST = ("; 15 runs (5 x 3 seeds) + 9 tuning runs: quick about 20 s of CPU time (measured), full about 1 min "
               "on 2 cores (estimated from the per-step cost)")
SEEDS_NOTE = ("Every arm runs 3 seeds (initialisation, data and compression randomness); lines are seed means, "
              "bands the min-max over seeds, and legends give each method's bytes per worker per compressed step "
              "relative to dense (GreedyLore's dense refresh steps included). The learning rate is chosen per method "
              "by a tuning sweep declared in the scenario (the same candidates and budget for each, one tuning seed "
              "no reported run uses).")

#: how each reconstruction was computed (the registry's caption note already says the text could not be read)
PAPER_TEXT_NOTE = "At reduced scale."
EXACT_NOTE = "Computed at the paper's shapes."
SIMULATED_NOTE = "Simulated at the paper's model sizes (not measured)."

METHOD_NAMES = {"none": "dense", "powersgd": "PowerSGD", "greedylore": "GreedyLore"}


# ----------------------------------------------------------------------------------------------- run tables
def compressor_settings(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """Rank, refresh period and selection of a compressor as built (the registry's defaults filled in)."""
    from methods.compress import make_compressor

    compressor = make_compressor(method, **params)
    return {
        "rank": getattr(compressor, "rank", np.nan),
        "refresh_period": getattr(compressor, "refresh_period", np.nan),
        "selection": getattr(compressor, "selection", ""),
    }


def variant_label(method: str, params: dict[str, Any], error_feedback: str | None) -> str:
    """``dense``, ``PowerSGD r4``, ``GreedyLore r4``, ``GreedyLore r4 random``, ``GreedyLore r2 lazy``, ``... no EF``."""
    if method == "none":
        return "dense"
    settings = compressor_settings(method, params)
    label = f"{METHOD_NAMES.get(method, method)} r{settings['rank']}"
    if settings["selection"] not in ("", "greedy"):
        label += f" {settings['selection']}"
    if error_feedback == "none":
        label += " no EF"
    return label


def training_runs(sweep: Any) -> pd.DataFrame:
    """Every run of a ``compressed_training`` sweep, concatenated, with what identifies the run as columns.

    Added columns: ``run`` (point index), ``seed``, ``lr`` (the learning rate the run used, tuned or set),
    ``method``, ``rank``, ``refresh_period``, ``selection``, ``error_feedback`` (the one the run used),
    ``d_model`` (tasks that have one), ``rule`` (text tasks), ``warmup_steps``, ``label`` (`variant_label`) and
    ``bytes_share`` (`compressed_bytes_share`).
    """
    frames = []
    for index, (point, record) in enumerate(zip(sweep.points, sweep.runs, strict=True)):
        scenario = point.scenario
        params = dict(scenario.technique.params)
        method = scenario.technique.name
        ef = record.info.get("error_feedback", scenario.workload.error_feedback.name)
        frame = record.read_metrics()
        frame["run"] = index
        frame["seed"] = int(record.seed if getattr(record, "seed", None) is not None else scenario.seed)
        frame["lr"] = float((record.info.get("tuned") or {}).get("value", scenario.workload.optimizer.lr))
        frame["method"] = method
        for column, value in compressor_settings(method, params).items():
            frame[column] = value
        frame["error_feedback"] = ef
        frame["d_model"] = getattr(scenario.workload.task, "d_model", np.nan)
        frame["rule"] = getattr(scenario.workload.task, "rule", "")
        frame["warmup_steps"] = scenario.workload.warmup_steps
        frame["label"] = variant_label(method, params, ef)
        frame["bytes_share"] = compressed_bytes_share(frame)
        frames.append(frame)
    if not frames:
        raise ValueError("the sweep has no runs")
    return pd.concat(frames, ignore_index=True)


def compressed_bytes_share(rows: pd.DataFrame) -> float:
    """Bytes one worker sends per step after the dense warm-up, relative to a dense step of the same model.

    From one run's recorded rows: the cumulative payload between the last warm-up step and the last row, per step,
    over the payload of a warm-up (dense all-reduce) step. GreedyLore's refresh steps (dense) are included, so this
    is its amortised cost. A run without compressed steps gives 1.0. The last warm-up step (``warmup_steps`` - 1,
    from that column when the rows have it, else the last warm-up row) need not be recorded: the warm-up steps
    after the last recorded one each send the dense payload, which is added to that row's cumulative count.
    """
    rows = rows.sort_values("step")
    warm = rows[rows["dense"].astype(bool)]
    compressed = rows[~rows["dense"].astype(bool)]
    if warm.empty:
        raise ValueError("a run without a recorded dense warm-up step: bytes relative to dense are unknown")
    if compressed.empty:
        return 1.0
    first, last = warm.iloc[-1], compressed.iloc[-1]
    # rows kept every k steps can miss the last warm-up step: then count from it, not from the last warm-up row
    warm_end = int(rows["warmup_steps"].iloc[0]) - 1 if "warmup_steps" in rows.columns else first["step"]
    origin = first["cum_payload_bytes_per_worker"] + (warm_end - first["step"]) * first["payload_bytes_per_worker"]
    per_step = (last["cum_payload_bytes_per_worker"] - origin) / (last["step"] - warm_end)
    return float(per_step / first["payload_bytes_per_worker"])


def pick(runs: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """Rows of ``runs`` matching every ``column=value`` (NaN matches NaN)."""
    mask = pd.Series(True, index=runs.index)
    for column, value in where.items():
        if isinstance(value, float) and math.isnan(value):
            mask &= runs[column].isna()
        else:
            mask &= runs[column] == value
    return runs[mask]


def final_stats(runs: pd.DataFrame, column: str = "eval_loss") -> pd.DataFrame:
    """Per label: the last recorded ``column`` of each seed's run, then mean, std, min, max and n_seeds."""
    return final_over_seeds(runs, by=["label"], y=column).set_index("label")


def per_seed_final(rows: pd.DataFrame, column: str = "eval_loss") -> pd.Series:
    """The last recorded ``column`` of each seed's run among ``rows`` (one arm), indexed by seed."""
    values = rows.dropna(subset=[column]).sort_values("step")
    if values.empty:
        raise ValueError(f"no recorded {column!r}")
    if "seed" not in values.columns:
        return pd.Series([float(values[column].iloc[-1])], index=[0])
    return values.groupby("seed")[column].last()


def gap_note(name: str, a: pd.Series, b: pd.Series, *, scale: float = 1.0, unit: str = "") -> str:
    """One sentence on the gap a - b between two arms' per-seed values (indexed by seed; a seed gives both arms the
    same initialisation and data, so the gap is taken per seed): its mean and std over seeds, and whether it is
    inside the seed spread, i.e. its sign changes between seeds or |mean| <= std."""
    gaps = scale * (a - b).dropna()
    if gaps.empty:
        raise ValueError(f"{name}: the two arms share no seed")
    mean = float(gaps.mean())
    std = float(gaps.std()) if len(gaps) > 1 else 0.0
    if len(gaps) < 2:
        return f"{name}: {mean:+.3g}{unit} (one seed: no spread)."
    inside = (gaps > 0).any() and (gaps < 0).any() or abs(mean) <= std
    where = "inside the seed spread" if inside else f"the same sign in all {len(gaps)} seeds"
    return f"{name}: {pm(mean, std)}{unit} over {len(gaps)} seeds, {where}."


def bytes_legend(label: str, share: float) -> str:
    """A legend entry with the bytes per worker per compressed step relative to dense."""
    return f"{label} ({100 * share:.0f}% of dense bytes)"


def arm_share(rows: pd.DataFrame) -> float:
    """The bytes share of an arm (the same for every seed: the byte plan does not depend on the data)."""
    return float(rows["bytes_share"].mean())


def one_arm(runs: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows of exactly one arm matching ``where``: one run per seed; ValueError naming the selection otherwise."""
    rows = pick(runs, **where)
    per_seed = rows.groupby("seed")["run"].nunique() if "seed" in rows.columns else pd.Series([rows["run"].nunique()])
    if rows.empty or (per_seed != 1).any():
        raise ValueError(f"expected one run per seed with {where}, found {rows['run'].nunique()} runs")
    return rows


# The tiny-GPT design of scenarios/greedylore/tiny_gpt.yaml: ranks d/16 and d/4, tau 25 with ablations 5 and 100
# and rank 1 (at the small size). `one_arm` raises, naming the run, if the sweep lacks one of them.
TAU_BASE = 25
TAU_ABLATION = (5, 100)
RANK_ABLATION = 1


def rank_low(d_model: float) -> int:
    return int(d_model) // 16


def rank_high(d_model: float) -> int:
    return int(d_model) // 4


def greedy(runs: pd.DataFrame, d_model: float, rank: int, *, tau: int = TAU_BASE, selection: str = "greedy",
           error_feedback: str = "ef14") -> pd.DataFrame:
    """One GreedyLore arm (all seeds) of the tiny-GPT sweep."""
    return one_arm(runs, method="greedylore", d_model=d_model, rank=rank, refresh_period=tau, selection=selection,
                   error_feedback=error_feedback)


def dense(runs: pd.DataFrame, d_model: float) -> pd.DataFrame:
    return one_arm(runs, method="none", d_model=d_model)


def powersgd(runs: pd.DataFrame, d_model: float, rank: int) -> pd.DataFrame:
    return one_arm(runs, method="powersgd", d_model=d_model, rank=rank)


EQUAL_BYTES_SLACK = 0.15  # "equal bytes": PowerSGD's bytes per step within 15% of GreedyLore's (ranks are integers)


def equal_bytes_powersgd(runs: pd.DataFrame, d_model: float, reference: pd.DataFrame) -> pd.DataFrame:
    """The PowerSGD arm of this width whose bytes per step are closest to ``reference``'s; ValueError when none is
    within `EQUAL_BYTES_SLACK` (the scenario must then add a PowerSGD rank that matches)."""
    candidates = pick(runs, method="powersgd", d_model=d_model)
    shares = candidates.groupby("rank")["bytes_share"].mean()
    target = arm_share(reference)
    rank = int((shares / target - 1.0).abs().idxmin())
    if abs(shares[rank] / target - 1.0) > EQUAL_BYTES_SLACK:
        raise ValueError(f"no PowerSGD rank at d_model {int(d_model)} sends within {EQUAL_BYTES_SLACK:.0%} of "
                         f"{target:.3f} of dense bytes (closest: rank {rank}, {shares[rank]:.3f})")
    return powersgd(runs, d_model, rank)


def gpt_sizes(runs: pd.DataFrame) -> list[float]:
    """The tiny-GPT widths of the sweep, ascending (S, M)."""
    return sorted(runs["d_model"].dropna().unique())
