"""GreedyLore tables (Chen, He, Li, Jia, Yuan, arXiv 2507.08784), rebuilt at reduced scale or from our code.

The paper's text could not be read: every table is a reconstruction (`plots.papers.greedylore` says from what).
Where the cells come from: tab1 is static; tab2 is our compressors' exact wire-byte plans (`Compressor.comm_plan`) at the paper's
shapes, each checked against its closed form; tab3 the text-classification runs and tab4 the tiny-GPT runs of
greedylore.fig4 (`plots.papers.greedylore_runs`); tab5 the data-parallel step simulator; tab7 our scenario file
beside the paper's settings; tab6 is declared not reconstructable (`register_missing`).

Each table's verdict is a pure function of the DataFrame written as its CSV (``verdict_<name>(data)``, collected
in `VERDICTS`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from methods.perplexity import perplexity
from plots.papers.greedylore_runs import (
    EXACT_NOTE, GPT_COST, PAPER_TEXT_NOTE, QUICK_GPT, QUICK_TEXT, SIMULATED_NOTE, TAU_BASE, TEXT,
    TEXT_COST, TIME_500, TINY_GPT, arm_share, dense, equal_bytes_powersgd, gpt_sizes, greedy, powersgd, rank_high,
    rank_low, training_runs, variant_label,
)
from plots.arms import arm_starting, require_arms
from plots.registry import FigureOutput, register_figure, register_missing
from plots.spread import n_seeds, pm
from plots.verdict import Verdict, not_checkable

if TYPE_CHECKING:
    from plots.runner import FigureContext

TAB1_ROWS = [
    # method, subspace, error feedback, All-Reduce, contractive every step, guarantee, linear speedup, ours
    ("PowerSGD (Vogels et al. 2019)", "greedy (one power step, warm start)", "yes (EF14)", "yes (2 all-reduces)",
     "not guaranteed (one power step)", "no proof (abstract: greedy ones had none)", "not shown",
     "methods.compress.powersgd"),
    ("GaLore-style lazy projection", "greedy (top-r SVD, frozen for tau steps)", "optional", "yes",
     "no: a stale projector can capture nothing (greedylore.fig2)", "no proof", "not shown",
     "greedylore selection='lazy'"),
    ("random projection (GoLore-like)", "random", "optional", "yes (shared seed)",
     "in expectation only (r/p on average)", "yes for random subspaces (e.g. GoLore)", "not shown",
     "greedylore selection='random'"),
    ("GreedyLore (this paper)", "greedy r of a full basis refreshed every tau", "yes (EF14)", "yes",
     "yes: >= r/p of the energy every step (semi-lazy)", "O(sigma/sqrt(NT) + 1/T), MSGD and Adam", "yes (first)",
     "greedylore selection='greedy'"),
]


@register_figure(
    id="greedylore.tab1",
    paper="greedylore",
    kind="table",
    title="Low-rank gradient compressors compared",
    caption=(
        "The slot is inferred: a positioning table against prior low-rank compressors is "
        "typical, and the abstract states GreedyLore's properties (greedy selection, error feedback, semi-lazy "
        "subspace update, O(sigma/sqrt(NT) + 1/T) under MSGD and Adam, the first linear-speedup rate for low-rank "
        "compression). The other rows are our reading of each method's mechanism, not "
        "the paper's cells. The last column names the code in this project that implements the row; the "
        "contraction column for the lazy and semi-lazy rows is what greedylore.fig2 measures."
    ),
    claim="GreedyLore has every property",
    scale_note="no experiment; static table",
    computed=False,
)
def draw_tab1(ctx: FigureContext) -> FigureOutput:
    table = pd.DataFrame(TAB1_ROWS, columns=["method", "subspace", "error feedback", "All-Reduce compatible",
                                             "contractive every step", "convergence guarantee", "linear speedup",
                                             "our implementation"])
    return FigureOutput(data=table, table=table, ours="static table; all four rows are implemented and run in "
                        "greedylore.fig1-fig5", verdict=verdict_tab1(table))


def verdict_tab1(data: pd.DataFrame) -> Verdict:
    return not_checkable("A table of definitions: the rows are our reading of each method's mechanism, not "
                         "measurements (the contraction column is what greedylore.fig2 checks).")


TAB2_RANK, TAB2_TAU, TAB2_WORKERS = 32, 200, 4
TAB2_SHAPES = ((768, 768), (2048, 768))  # LLaMA-130M attention projection; gate/up projection [out, in]


def _plan_floats(compressor: Any, shape: tuple[int, int], call_index: int) -> int:
    return sum(call.size_bytes for call in compressor.comm_plan(shape, TAB2_WORKERS, call_index=call_index)) // 4


def _formula_floats(row: str, n: int, m: int) -> float:
    """The closed-form floats per worker and call of each tab2 row (checked against comm_plan)."""
    p, q, r, tau = min(n, m), max(n, m), TAB2_RANK, TAB2_TAU
    return {
        "dense": n * m,
        "PowerSGD": r * (n + m),
        "lazy (GaLore-style), steady step": r * q,
        "random projection, steady step": r * q,
        "GreedyLore, steady step": p + r * q,
        "GreedyLore, refresh step (every tau)": n * m,
        "GreedyLore, amortised over tau": ((tau - 1) * (p + r * q) + n * m) / tau,
    }[row]


def tab2_rows() -> list[dict[str, Any]]:
    """tab2's cells: per method the collectives, the formula, and floats from `comm_plan` (formula checked)."""
    from harness.compression_cost import llama_param_tensors
    from harness.models.llama import LLAMA_PRESETS
    from methods.compress import make_compressor

    common = {"rank": TAB2_RANK, "min_compression_rate": 0.0}
    specs = [  # label, compressor, call indices averaged over (None: one steady call), collectives, formula, compute
        ("dense", make_compressor("none"), None, "1 all-reduce", "n m", "-"),
        ("PowerSGD", make_compressor("powersgd", **common), None, "2 all-reduces", "r (n + m)",
         "2 GEMMs 4 n m r + QR 4 n r^2"),
        ("lazy (GaLore-style), steady step",
         make_compressor("greedylore", refresh_period=TAB2_TAU, selection="lazy", **common), None, "1 all-reduce",
         "r q", "project + decode 4 p q r"),
        ("random projection, steady step",
         make_compressor("greedylore", refresh_period=TAB2_TAU, selection="random", **common), None, "1 all-reduce",
         "r q", "project + decode 4 p q r"),
        ("GreedyLore, steady step", make_compressor("greedylore", refresh_period=TAB2_TAU, **common), None,
         "2 all-reduces", "p + r q", "B^T A 2 p^2 q + probe 2 p q + 4 p q r"),
        ("GreedyLore, refresh step (every tau)", make_compressor("greedylore", refresh_period=TAB2_TAU, **common),
         (0,), "1 all-reduce", "n m", "thin SVD ~4 p^2 q + 22 p^3"),
        ("GreedyLore, amortised over tau", make_compressor("greedylore", refresh_period=TAB2_TAU, **common),
         tuple(range(TAB2_TAU)), "(2 tau - 1) / tau all-reduces", "((tau - 1)(p + r q) + n m) / tau",
         "steady + SVD / tau"),
    ]
    tensors = llama_param_tensors(LLAMA_PRESETS["llama-130m"])
    rows = []
    for label, compressor, calls, collectives, formula, compute in specs:
        indices = calls if calls is not None else (1,)
        row = {"method": label, "collectives per call": collectives, "floats per worker per matrix": formula}
        for n, m in TAB2_SHAPES:
            floats = sum(_plan_floats(compressor, (n, m), i) for i in indices) / len(indices)
            expected = _formula_floats(label, n, m)
            if not math.isclose(floats, expected, rel_tol=1e-12):
                raise ValueError(f"tab2 {label} at {n}x{m}: comm_plan gives {floats} floats, the formula {expected}")
            row[f"{n}x{m} floats"] = floats
            row[f"{n}x{m} % of dense"] = 100.0 * floats / (n * m)
        model_bytes = 0.0
        dense_bytes = 0.0
        for tensor in tensors:
            dense_bytes += 4 * tensor.numel
            if tensor.name in ("embed_tokens.weight", "lm_head.weight") or len(tensor.shape) < 2:
                model_bytes += 4 * tensor.numel  # the authors' hook skips these; 1-D tensors are always dense
            else:
                model_bytes += 4 * sum(_plan_floats(compressor, tensor.shape, i) for i in indices) / len(indices)
        row["LLaMA-130M MB per worker per step"] = model_bytes / 1e6
        row["LLaMA-130M % of dense"] = 100.0 * model_bytes / dense_bytes
        row["compute per matrix and call"] = compute
        rows.append(row)
    return rows


@register_figure(
    id="greedylore.tab2",
    paper="greedylore",
    kind="table",
    title="Communication and compute per iteration, per method (exact byte plans)",
    caption=(
        f"{EXACT_NOTE} The slot is inferred: a per-iteration complexity and communication table. Substitute "
        "for the paper's formulas: our compressors' exact wire plans. Rows are "
        "our compressors' exact wire plans (each matches the closed-form formula shown; the two are checked "
        "against each other when the table is built): floats each worker contributes to all-reduces per call, for an "
        "n x m gradient matrix with p = min(n, m), q = max(n, m), rank r = 32, refresh period tau = 200 (the "
        "paper's LLaMA settings), and for a whole LLaMA-130M step (12 blocks; embedding and LM head sent dense as "
        "the authors' hook does, RMSNorm weights always dense). Ring all-reduce transmits 2(N-1)/N times these "
        "bytes per worker. Compute: our implementation's FLOPs per matrix (GreedyLore's exact-in-expectation "
        "scoring computes all p basis coordinates B^T A, heavier than PowerSGD's two thin GEMMs when r << p)."
    ),
    claim="—",
    scale_note="exact byte counts from the code at the paper's shapes (LLaMA-130M, rank 32, tau 200); no "
    "reduction",
)
def draw_tab2(ctx: FigureContext) -> FigureOutput:
    data = pd.DataFrame(tab2_rows())
    table = data.copy()
    for column in table.columns:
        if column.endswith("floats"):
            table[column] = [f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}" for value in table[column]]
        elif column.endswith(("% of dense", "per step")):
            table[column] = [f"{value:.2f}" for value in table[column]]
    amortised = data.set_index("method").loc["GreedyLore, amortised over tau"]
    powersgd_row = data.set_index("method").loc["PowerSGD"]
    ours = (
        f"768x768 matrix, r 32: GreedyLore {amortised['768x768 % of dense']:.2f}% of dense amortised over tau 200 "
        f"(steady {data.set_index('method').loc['GreedyLore, steady step', '768x768 % of dense']:.2f}%), PowerSGD "
        f"{powersgd_row['768x768 % of dense']:.2f}%; whole LLaMA-130M step (embedding and head dense): GreedyLore "
        f"{amortised['LLaMA-130M % of dense']:.1f}%, PowerSGD {powersgd_row['LLaMA-130M % of dense']:.1f}% of dense"
    )
    return FigureOutput(data=table, table=table, ours=ours, verdict=verdict_tab2(table))


def verdict_tab2(data: pd.DataFrame) -> Verdict:
    return not_checkable("The paper's formulas are not recovered (the slot is inferred), so there is nothing to "
                         "compare with; our byte plans are checked against their closed forms when the table is built.")


RULE_NAMES = {"planted": "planted token", "majority": "majority", "order": "order"}


@register_figure(
    id="greedylore.tab3",
    paper="greedylore",
    kind="table",
    title="Text classification (GLUE stand-in): accuracy and MCC per task, methods x rank",
    caption=(
        f"{PAPER_TEXT_NOTE} The paper fine-tunes RoBERTa-base on 8 GLUE tasks with GreedyLore at ranks 8 and 16 "
        "(its cells were not recovered). Substitute, no pre-trained model and no GLUE: three synthetic binary "
        "sequence-classification tasks (32-token sequences over 32 symbols; label = a planted token occurs / token "
        "0 outnumbers token 1 / token 0 comes before token 1) learned from scratch by a 2-block causal transformer "
        "(d_model 32) on 4 simulated workers, 2,000 training sequences per task, AdamW with cosine decay "
        "(lr tuned per method from 1e-3 / 3e-3 / 1e-2 on the planted-token task, the same budget for each), dense "
        "first 20 steps; PowerSGD and GreedyLore (EF14, tau 20) at ranks 2 and 4 (= d/16 and d/8, as 8 and 16 are "
        "of 768 roughly). Cells: test accuracy (%) and Matthews correlation (x100, CoLA's metric) on 1,000 "
        "held-out sequences after the last step, mean ± std over 3 seeds; the bytes column is each method's "
        "bytes per worker per compressed step relative to dense."
    ),
    claim="— (cells not recovered; RoBERTa-base on GLUE, ranks 8/16)",
    scale_note="tiny transformer d_model 32, 3 synthetic tasks x 2,000 training sequences, 4 workers x 16, 3 seeds, "
    "300 steps (quick profile: 40 steps, 800 training / 400 test sequences); paper: RoBERTa-base, 8 GLUE tasks"
    + TEXT_COST,
    scenarios=(TEXT,),
    parallel_runs=True,
    quick_overrides=QUICK_TEXT,
)
def draw_tab3(ctx: FigureContext) -> FigureOutput:
    runs = training_runs(ctx.run(TEXT))
    evals = runs.dropna(subset=["accuracy"]).sort_values("step").groupby("run").last().reset_index()
    rows = []
    for label, group in evals.groupby("label", sort=False):
        row: dict[str, Any] = {"method": label,
                               "bytes / step (% of dense)": f"{100 * group['bytes_share'].mean():.0f}"}
        per_seed_average = []
        for rule in RULE_NAMES:
            task = group[group["rule"] == rule]
            if task.empty or task["seed"].duplicated().any():
                raise ValueError(f"tab3: expected one {label} run per seed for rule {rule!r}, found {len(task)}")
            for metric, column in (("acc", "accuracy"), ("MCC", "mcc")):
                values = 100.0 * task[column]
                row[f"{RULE_NAMES[rule]} {metric}"] = pm(values.mean(), values.std() if len(values) > 1 else 0.0)
            per_seed_average.append(task.set_index("seed")["accuracy"])
        average = 100.0 * pd.concat(per_seed_average, axis=1).mean(axis=1)
        row["average acc"] = pm(average.mean(), average.std() if len(average) > 1 else 0.0)
        row["_average"] = float(average.mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    ours = (f"average accuracy over the 3 tasks, mean ± std over {n_seeds(evals)} seeds: "
            + ", ".join(f"{row['method']} {row['average acc']}%" for row in rows))
    data = evals[["label", "rule", "seed", "lr", "step", "eval_loss", "accuracy", "f1", "mcc", "bytes_share"]]
    return FigureOutput(data=data, table=table.drop(columns="_average"), ours=ours, verdict=verdict_tab3(data))


def verdict_tab3(data: pd.DataFrame) -> Verdict:
    return not_checkable("The paper's GLUE cells are not recovered and it states no claim about them that we know "
                         "of; the table shows our stand-in results only (mean ± std over seeds).")


PAPER_TAB4 = {"dense AdamW": {"60M": 33.44, "130M": 24.73}}  # research card sec. 2.3 [3p]; other cells not recovered


@register_figure(
    id="greedylore.tab4",
    paper="greedylore",
    kind="table",
    title="Pre-training perplexity: dense AdamW vs PowerSGD vs GreedyLore at two ranks (tiny GPT)",
    caption=(
        f"{PAPER_TEXT_NOTE} The paper reports C4 validation perplexity of LLaMA-60M/130M/350M for dense AdamW and "
        "the compressors at rank 32 and a larger rank; only the dense cells are known (33.44 and 24.73). Substitute: "
        "exp(final held-out loss) of the greedylore.fig4 runs, i.e. character-level perplexity of a 2-block GPT "
        "on a generated grammar corpus (d_model 32 and 64 standing in for 60M and 130M) - a different scale, "
        "tokenisation and data, so only the ordering of the rows can be compared with the paper, never the "
        "values. Ranks scale with the width: d/16 and d/4 (2 and 8 at d_model 32, 4 and 16 at d_model 64; the "
        "paper's 32 and 128-256 at d_model 512-768). EF14 for both compressors, GreedyLore tau 25; "
        "the 'equal bytes' row is the PowerSGD rank whose bytes per step are closest to GreedyLore r = d/16 "
        "(greedylore.fig4). Cells: mean ± std over 3 seeds of exp(final held-out loss); the rank/bytes columns "
        "give each row's rank and bytes per worker per compressed step relative to dense. Paper columns show the "
        "recovered cells, '—' where not recovered; no 350M analogue is run."
    ),
    claim="dense AdamW 33.44 (60M), 24.73 (130M) C4 perplexity",
    scale_note="tiny GPT d_model 32 and 64, character level, 700 steps (quick profile: 60), 4 workers, 3 seeds; "
    "paper: LLaMA 60M-350M on C4, 10k-60k steps" + GPT_COST,
    scenarios=(TINY_GPT,),
    quick_overrides=QUICK_GPT,
)
def draw_tab4(ctx: FigureContext) -> FigureOutput:
    runs = training_runs(ctx.run(TINY_GPT))
    sizes = gpt_sizes(runs)
    stand_in = dict(zip(sizes, ("60M", "130M", "350M"), strict=False))
    rows_spec = [
        ("dense AdamW", lambda d: dense(runs, d)),
        ("PowerSGD, r = d/16", lambda d: powersgd(runs, d, rank_low(d))),
        ("PowerSGD, equal bytes", lambda d: equal_bytes_powersgd(runs, d, greedy(runs, d, rank_low(d)))),
        ("PowerSGD, r = d/4", lambda d: powersgd(runs, d, rank_high(d))),
        ("GreedyLore, r = d/16", lambda d: greedy(runs, d, rank_low(d))),
        ("GreedyLore, r = d/4", lambda d: greedy(runs, d, rank_high(d))),
    ]
    rows, data = [], []
    for name, select in rows_spec:
        row: dict[str, Any] = {"method": name}
        for d in sizes:
            chosen = select(d)
            finals = chosen.dropna(subset=["eval_loss"]).sort_values("step").groupby("seed")["eval_loss"].last()
            ppl = np.exp(finals)
            row[f"ours d_model {int(d)} (char ppl)"] = pm(ppl.mean(), ppl.std() if len(ppl) > 1 else 0.0)
            row[f"d_model {int(d)} rank, bytes/step (% of dense)"] = (
                f"r{int(chosen['rank'].iloc[0])}, {100 * arm_share(chosen):.0f}%" if name != "dense AdamW" else "100%")
            for seed, loss in finals.items():
                data.append({"method": name, "d_model": d, "rank": chosen["rank"].iloc[0], "seed": seed,
                             "lr": chosen["lr"].iloc[0], "bytes_share": arm_share(chosen),
                             "final_eval_loss": loss, "char_perplexity": _ppl(loss)})
        for size in ("60M", "130M", "350M"):
            row[f"paper {size} (C4 ppl)"] = PAPER_TAB4.get(name, {}).get(size, "—")
        rows.append(row)
    table = pd.DataFrame(rows)
    ours = "; ".join(
        f"d_model {int(d)} (for {stand_in[d]}): " + ", ".join(
            f"{row['method'].replace(', r = ', ' ')} {row[f'ours d_model {int(d)} (char ppl)']}" for row in rows)
        for d in sizes
    ) + (f" (character-level perplexity, mean ± std over {n_seeds(runs)} seeds, not comparable in value to the "
         "paper's C4 token perplexity)")
    data = pd.DataFrame(data)
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab4(data))


def verdict_tab4(data: pd.DataFrame) -> Verdict:
    return not_checkable("The only recovered cells are dense AdamW's C4 token perplexities (33.44, 24.73); ours are "
                         "character-level perplexities of a tiny GPT on a generated corpus, not comparable in value, "
                         "and the compressor rows were not recovered, so not even their ordering can be compared.")


TIME_ITERATIONS = 500


def time_table(sweep: Any) -> pd.DataFrame:
    """One row per (bandwidth, d_model, method): total seconds of the run's steps and the mean breakdown."""
    rows = []
    for point, record in zip(sweep.points, sweep.runs, strict=True):
        scenario = point.scenario
        metrics = record.read_metrics()
        if len(metrics) != TIME_ITERATIONS:
            raise ValueError(f"tab5 needs {TIME_ITERATIONS} steps per run, {TIME_500} gave {len(metrics)}")
        params = dict(scenario.technique.params)
        rows.append({
            "device": scenario.cluster.device,
            "bandwidth_gbps": scenario.network.intra_node.bandwidth_gbps,
            "d_model": scenario.workload.model.d_model,
            "method": variant_label(scenario.technique.name, params, None),
            "total_s": float(metrics["step_time_ms"].sum()) / 1e3,
            "refresh_steps": int(metrics["refresh"].sum()),
            "compute_ms_per_step": float(metrics["compute_ms"].mean()),
            "compression_ms_per_step": float(metrics["compression_ms"].mean()),
            "comm_ms_per_step": float(metrics["comm_ms"].mean()),
            "payload_mb_per_worker_per_step": float(metrics["payload_bytes_per_worker"].mean()) / 1e6,
        })
    return pd.DataFrame(rows)


def device_label(name: str) -> str:
    """The device catalogue's name for ``name`` (e.g. rtx4090: NVIDIA GeForce RTX 4090 24GB, datasheet peaks)."""
    from harness.devices import load_catalog

    entry = load_catalog().get(name)
    return entry.device_name if entry is not None else name


def _timing_provenance(sweep: Any) -> dict[str, Any]:
    """Where tab5's compute and compression times came from, summed over the runs (tables or roofline)."""
    counts: dict[str, int] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{prefix}.{key}", inner)
        elif isinstance(value, int | float):
            counts[prefix] = counts.get(prefix, 0) + int(value)

    tables = set()
    for record in sweep.runs:
        for group in ("timing_sources", "timing_sources_by_op", "compression_sources"):
            add(group, record.info.get(group) or {})
        timings = record.info.get("timings") or {}
        tables.add(f"{timings.get('table_set')}: {timings.get('tables_missing') or timings.get('tables_folder')}")
    return {"sources": dict(sorted(counts.items())), "table_sets": sorted(tables)}


@register_figure(
    id="greedylore.tab5",
    paper="greedylore",
    kind="table",
    title="Simulated time of 500 consecutive iterations: dense vs PowerSGD vs GreedyLore, 4 x RTX-4090-class",
    caption=(
        f"{SIMULATED_NOTE} The paper times 500 consecutive iterations of LLaMA models (columns d_model 256/512/"
        "768/1024) on 4 RTX 4090s with NCCL over shared memory, rank 32, per-GPU batch 128 (cells not recovered). "
        "Substitute, simulated rather than measured: the project's data-parallel step simulator on one node of 4 "
        "RTX-4090-class GPUs "
        "(roofline from datasheet peaks: no RTX-4090 timing tables exist, so every compute and compression "
        "primitive is a roofline estimate; counts in the provenance) joined by PCIe-class links with P2P off "
        "(100 Gbit/s, 10 us; second block 25 Gbit/s), fp32, per-GPU batch 128 x 256 tokens, DDP buckets of 25 MiB, "
        "hooks blocking (no overlap), embedding and LM head sent dense for every method. PowerSGD and GreedyLore "
        "rank 32 with EF14 passes costed, GreedyLore refreshing every 200 calls: the 500 iterations are a run's "
        "first 500 compressed calls, so 3 refresh steps (dense all-reduce + SVD) are included. Model dims: "
        "d_ff = 8/3 d_model as in GaLore's configs, 64-wide heads, 8/8/12/24 layers (our assumption). Optimizer "
        "step, data loading and kernel-launch gaps are not modelled. Cells: seconds for 500 iterations."
    ),
    claim="— (cells not recovered; 4 x RTX 4090, rank 32, 500 iterations, d_model 256/512/768/1024)",
    scale_note="simulated at the paper's model sizes and batch (no reduction); device = roofline of datasheet "
    "peaks, links assumed",
    scenarios=(TIME_500,),
)
def draw_tab5(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(TIME_500)
    times = time_table(sweep)
    rows = []
    for bandwidth in sorted(times["bandwidth_gbps"].unique(), reverse=True):
        at_bw = times[times["bandwidth_gbps"] == bandwidth].pivot(index="method", columns="d_model", values="total_s")
        for method in at_bw.index:
            rows.append({"row": f"{method}, {bandwidth:g} Gbit/s", **{f"d_model {int(d)} (s)": at_bw.loc[method, d]
                                                                      for d in at_bw.columns}})
        where = f"greedylore.tab5 at {bandwidth:g} Gbit/s"
        require_arms(at_bw.index, ["dense"], where)
        greedy_label = arm_starting(at_bw.index, "GreedyLore", where)
        for baseline in ("dense", arm_starting(at_bw.index, "PowerSGD", where)):
            rows.append({"row": f"GreedyLore speed-up vs {baseline.split(' ')[0]}, {bandwidth:g} Gbit/s",
                         **{f"d_model {int(d)} (s)": at_bw.loc[baseline, d] / at_bw.loc[greedy_label, d]
                            for d in at_bw.columns}})
    table = pd.DataFrame(rows)
    top = times[times["bandwidth_gbps"] == times["bandwidth_gbps"].max()]
    pivot = top.pivot(index="method", columns="d_model", values="total_s")
    device = ", ".join(sorted(device_label(d) for d in times["device"].unique()))
    provenance = _timing_provenance(sweep)
    sources = provenance["sources"]
    from_tables = sum(sources.get(f"timing_sources.{kind}", 0) for kind in ("exact", "interpolated"))
    estimated = sum(sources.get(f"timing_sources.{kind}", 0) for kind in ("roofline", "estimate"))
    widths = "/".join(str(int(d)) for d in pivot.columns)
    ours = (
        f"{device}, {top['bandwidth_gbps'].iloc[0]:g} Gbit/s, d_model {widths}: "
        + "; ".join(f"{method} " + "/".join(f"{pivot.loc[method, d]:.1f}" for d in pivot.columns) + " s"
                    for method in pivot.index)
        + f" (timing tables: {from_tables:,} predictions from tables, {estimated:,} roofline estimates)"
    )
    # where the times came from is in the runner's provenance (per op, in words); the raw counts stay out
    return FigureOutput(data=times, table=table, ours=ours, verdict=verdict_tab5(times))


def verdict_tab5(data: pd.DataFrame) -> Verdict:
    return not_checkable("The paper's times (4 x RTX 4090) are not recovered; our simulated seconds have nothing to "
                         "be compared with.")


register_missing(
    "greedylore.tab6",
    "No source we could read describes the paper's Table VI: the third-party reproduction quotes Tables III, IV, V "
    "and VII only, and no summary mentions a sixth table, so its rows and claim are unknown.",
)


PAPER_TAB7 = {  # research card sec. 2.3 (values quoted by the third-party reproduction)
    "model": "LLaMA-60M / 130M / 350M",
    "steps (total / warm-up)": "10k/1k, 20k/2k, 60k/6k",
    "global batch (sequences)": "512",
    "sequence length": "256 tokens",
    "optimizer, lr": "AdamW, lr from {0.0015, 0.0025, 0.005}",
    "schedule": "linear warm-up, cosine to 10%",
    "weight decay, grad clip": "0, 1.0",
    "ranks": "32 and a larger one (60M: 128; 130M: 256 or 512)",
    "refresh period tau": "200",
    "compression starts": "step 1000 (Fig. 1, 130M)",
    "error feedback": "EF14",
    "seeds": "not recovered",
}


def tab7_ours(profile: str) -> dict[str, str]:
    """Our tiny-GPT settings, read from the scenario file with the profile's overrides (the same runs as fig1/4/5)."""
    from harness.config.loader import load_scenario
    from harness.sweep import expand
    from plots.runner import resolve_project_path

    overrides = QUICK_GPT if profile == "quick" else ()
    scenario = load_scenario(resolve_project_path(TINY_GPT), list(overrides))
    points = [point.scenario for point in expand(scenario)]
    w = scenario.workload
    widths = sorted({p.workload.task.d_model for p in points})
    ranks = sorted({int(p.technique.params["rank"]) for p in points if p.technique.name == "greedylore"})
    taus = sorted({int(p.technique.params.get("refresh_period", 200)) for p in points if p.technique.name == "greedylore"})
    task = w.task
    return {
        "model": f"char-level GPT, 2 blocks, d_model {' / '.join(map(str, widths))}",
        "steps (total / warm-up)": f"{w.steps}/{w.warmup_steps}" + (" (quick profile)" if profile == "quick" else ""),
        "global batch (sequences)": f"{w.n_workers} workers x {task.batch_size} = {w.n_workers * task.batch_size}",
        "sequence length": f"{task.seq_len} characters",
        "optimizer, lr": f"{w.optimizer.name}, lr per method and width from "
        + " / ".join(f"{v:g}" for v in (scenario.tune.values if scenario.tune else [w.optimizer.lr]))
        + (f" (tuning runs of {scenario.tune.overrides.get('workload.steps', w.steps)} steps)"
           if scenario.tune else ""),
        "schedule": f"{w.optimizer.schedule} to 0, no linear warm-up",
        "weight decay, grad clip": f"{w.optimizer.weight_decay:g}, none",
        "ranks": ", ".join(map(str, ranks)) + " (d/16 and d/4; rank 1 in the ablation)",
        "refresh period tau": ", ".join(map(str, taus)) + f" (base {TAU_BASE})",
        "compression starts": f"step {w.warmup_steps} (dense all-reduce before)",
        "error feedback": "EF14 (none in one ablation)",
        "seeds": f"{len({p.seed for p in points})} per arm",
    }


@register_figure(
    id="greedylore.tab7",
    paper="greedylore",
    kind="table",
    title="Hyper-parameters of the pre-training runs: the paper's C4 settings beside our tiny-GPT settings",
    caption=(
        "The paper's appendix table of C4 hyper-parameters, as quoted by a third-party "
        "reproduction, beside the settings of our reduced-scale substitute, read from "
        "scenarios/greedylore/tiny_gpt.yaml with the current profile's overrides (the runs behind greedylore.fig1, "
        "fig4, fig5 and tab4). Rendered from configuration, no computation."
    ),
    claim="60M 10k/1k, 130M 20k/2k, 350M 60k/6k steps (total/warm-up); batch 512; seq 256; tau = 200",
    scale_note="configuration only",
    inputs=(TINY_GPT,),
    computed=False,
)
def draw_tab7(ctx: FigureContext) -> FigureOutput:
    ours = tab7_ours(ctx.profile)
    table = pd.DataFrame([{"setting": key, "paper (C4)": PAPER_TAB7[key], "ours (tiny GPT)": ours[key]}
                          for key in PAPER_TAB7])
    return FigureOutput(data=table, table=table,
                        ours=f"steps {ours['steps (total / warm-up)']}, batch {ours['global batch (sequences)']}, "
                        f"seq {ours['sequence length']}, tau {ours['refresh period tau']}",
                        verdict=verdict_tab7(table))


def verdict_tab7(data: pd.DataFrame) -> Verdict:
    return not_checkable("A table of settings: ours are a reduced-scale substitute by design, so there is no claim "
                         "to reproduce.")



def _ppl(loss: float) -> float:
    return perplexity(loss)


VERDICTS = {
    "greedylore.tab1": verdict_tab1,
    "greedylore.tab2": verdict_tab2,
    "greedylore.tab3": verdict_tab3,
    "greedylore.tab4": verdict_tab4,
    "greedylore.tab5": verdict_tab5,
    "greedylore.tab7": verdict_tab7,
}
