"""Kinds whose metrics hold NaN by design ("not applicable at this row") declare those columns in their info
(`harness.non_finite.NOT_APPLICABLE_KEY`): a healthy run of each kind's example scenario, shrunk to a few seconds,
stores an empty ``non_finite`` although the declared columns do hold NaN; a diverged run still warns about its loss.

Each case copies the example without its ``tune`` and ``sweep`` blocks (the base point only, no tuning runs) and
shrinks it with dotted keys. ``finetune_training`` loads the committed base model of the example's pre-training
settings (``results/misa_base``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.api import run_scenario_file
from harness.non_finite import NOT_APPLICABLE_KEY
from tests.harness.cli_run import cli

ROOT = Path(__file__).resolve().parents[2]
TINY_GPT = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}
TINY_CORPUS = {"n_sentences": 200, "eval_sentences": 50, "eval_batches": 1}
DIGITS = {"workload.steps": 4, "workload.eval_every": 2, "workload.record_every": 1, "workload.warmup_steps": 1,
          "workload.n_workers": 2}

# (example scenario, overrides, declared columns, optional modules the kind needs)
CASES = {
    "compressed_training": ("compression/training_digits.yaml", DIGITS, ["eval_loss", "accuracy"], ()),
    "compressed_training_text": ("arctopk/tab3_text.yaml", {
        **DIGITS, "workload.task": {"name": "text_classification", "rule": "planted", "vocab_size": 16, "seq_len": 8,
                                    "n_train": 64, "n_test": 32, "d_model": 16, "n_layers": 1, "n_heads": 2,
                                    "d_ff": 16, "batch_size": 8}}, ["eval_loss", "accuracy", "f1", "mcc"], ()),
    "pipeline_training": ("tahquant/convergence.yaml", {
        "workload.model": {**TINY_GPT, "n_layers": 2}, "workload.n_stages": 2, "workload.seq_len": 8,
        "workload.batch_size": 4, "workload.n_train": 16, "workload.eval_windows": 4, "workload.steps": 4,
        "workload.eval_every": 2},
        ["eval_loss"], ()),
    "moc_training": ("moc/training.yaml", {
        "workload.model": {**TINY_GPT, "seq_len": 16}, "workload.corpus": TINY_CORPUS, "workload.batch_size": 2,
        "workload.steps": 4, "workload.warmup_steps": 1, "workload.eval_every": 2, "workload.record_every": 1},
        ["eval_loss"], ()),
    "moc_decode": ("moc/decode.yaml", {
        "workload.d_model": 64, "workload.d_ff": 128, "workload.n_heads": 4, "workload.context": 16,
        "workload.k_fractions": [0.25, 1.0], "workload.repeats": 3, "workload.warmup": 1},
        ["bytes_ratio", "ffn_speedup", "block_speedup"], ()),
    "offline_rl": ("ractd/main.yaml", {
        "workload.dataset_size": "test",
        "workload.methods": [{"name": "bc", "method": "bc"}, {"name": "ractd", "method": "student"}],
        "workload.train": {"network": "toy_mlp", "horizon": 4, "batch": 32, "teacher_steps": 4, "reward_epochs": 1,
                           "student_steps": 2, "baseline_steps": 4, "baseline_hidden": [8], "diffuser_steps": 4},
        "workload.rollout": {"episodes": 2, "max_steps": 4, "timing_repeats": 1}},
        ["reward_weight"], ("minari", "d3rlpy")),
    "ffr_dispatch": ("battery/case1.yaml", {"workload.signal": {"type": "regd", "duration_s": 20, "dt_s": 2}},
                     ["solve_ms", "solve_cpu_ms", "solver_nodes", "model_loss_excess_kw"],
                     ("cvxpy", "pyscipopt", "rainflow")),
    # a 1 GiB KV limit: the full cache (4 GiB per request) serves no request, Chelsea's 20% does
    "kv_decode": ("chelsea/serving_h100.yaml", {
        "workload.serving.requests": 5, "workload.decode_tokens": 8, "workload.serving.kv_memory_gib": 1},
        ["latency_mean_s", "latency_p99_s"], ()),
    "finetune_training": ("misa/finetune.yaml", {
        "workload.steps": 4, "workload.eval_every": 2, "workload.eval_examples": 8, "workload.grad_norms": False},
        ["train_loss"], ()),
    "mecefo_training": ("mecefo/training_skip.yaml", {
        "workload.model": {**TINY_GPT, "seq_len": 16}, "workload.corpus": TINY_CORPUS, "workload.n_ranks": 2,
        "workload.batch_size": 2, "workload.steps": 6, "workload.error_every": 2, "workload.eval_every": 3,
        "workload.record_every": 1, "workload.failures": {"outages": [{"rank": 0, "start": 2, "end": 4}]}},
        ["eval_loss", "grad_rel_error"], ()),
    # stragglers only: nothing fails, so checkpoint-restart never writes a checkpoint and has no bound
    "fault_tolerant_training": ("mecefo/throughput.yaml", {
        "failures.replicates": 1, "failures.horizon_h": 10, "failures.cluster": None,
        "failures.stragglers": {"mtbf_h": 5}}, ["time_to_target_h", "bound_s"], ()),
}


def tiny_copy(example: str, overrides: dict, folder: Path, name: str) -> Path:
    """The example scenario without ``tune`` and ``sweep``, with ``overrides`` (dotted keys) set, as a file."""
    doc = yaml.safe_load((ROOT / "scenarios" / example).read_text())
    doc.pop("tune", None)
    doc.pop("sweep", None)
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    doc["name"] = name
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_healthy_run_has_nan_only_in_its_declared_columns_and_stores_no_non_finite(case, tmp_path, monkeypatch):
    example, overrides, declared, modules = CASES[case]
    for module in modules:
        pytest.importorskip(module)
    if case == "offline_rl":  # the test-size dataset and trained models go to this test's folder
        monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
        monkeypatch.setenv("HARNESS_OFFLINE_RL_MODELS", str(tmp_path / "models"))
    path = tiny_copy(example, overrides, tmp_path, case)
    (record,) = run_scenario_file(path, results_root=tmp_path / "runs", progress=False).runs
    stored = json.loads((record.run_dir / "run.json").read_text())
    assert stored["non_finite"] == {}
    assert stored["info"][NOT_APPLICABLE_KEY] == declared
    metrics = pd.read_csv(record.run_dir / "metrics.csv")
    assert metrics[declared].isna().any().all()  # every declared column needs it: NaN in this healthy run


def test_a_diverged_run_still_warns_about_its_loss_although_eval_loss_is_declared(capsys, tmp_path):
    """Digits at learning rate 1e12: the loss is NaN from step 2 on; eval_loss (NaN too) is not counted."""
    overrides = {**DIGITS, "workload.steps": 6, "workload.eval_every": 3, "workload.optimizer.lr": 1e12,
                 "technique": {"name": "none", "params": {}}}
    path = tiny_copy("compression/training_digits.yaml", overrides, tmp_path, "diverged")
    code, stdout, err = cli(capsys, "run", path, "--out", tmp_path / "runs")
    assert code == 0 and "diverged: computed" in stdout
    assert err == "warning: metric 'loss' is NaN from step 2 on (4 of 6 rows): the run may have diverged\n"
    (run_dir,) = (tmp_path / "runs" / "diverged").iterdir()
    stored = json.loads((run_dir / "run.json").read_text())
    assert set(stored["non_finite"]) == {"loss"} and stored["info"][NOT_APPLICABLE_KEY] == ["eval_loss", "accuracy"]
    assert pd.read_csv(run_dir / "metrics.csv")["eval_loss"].isna().all()
