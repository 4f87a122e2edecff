"""Each fine-tuning method lowers a tiny LLaMA's loss on a synthetic task (next token = token + 1 mod V)."""

from __future__ import annotations

import pytest
import torch

from methods.misa.baselines import METHODS, make_finetuner
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

pytest.importorskip("peft")
pytest.importorskip("badam")
pytest.importorskip("galore_torch")

CFG = LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=32, max_seq_len=16)
STEPS = 30
# per method: its knobs (MISA at delta = 10% with T = 5, layer methods switch every 5 steps) and a learning rate
PARAMS = {
    "adamw": dict(lr=3e-3),
    "misa": dict(lr=1e-2, delta=0.1, interval=5),
    "lisa": dict(lr=3e-3, interval=5),
    "badam": dict(lr=1e-2, interval=5),
    "lora": dict(lr=1e-2, dropout=0.0),
    "dora": dict(lr=1e-2, dropout=0.0),
    "galore": dict(lr=3e-3, rank=4, update_proj_gap=10),
}


def _losses(name: str, scale_lr: float = 1.0) -> list[float]:
    model = LlamaFamily(CFG, seed=0)
    params = dict(PARAMS[name], lr=PARAMS[name]["lr"] * scale_lr)
    ft = make_finetuner(name, model, **params)
    x = torch.randint(0, CFG.vocab_size, (8, 16), generator=torch.Generator().manual_seed(1))
    y = (x + 1) % CFG.vocab_size
    losses = []
    for _ in range(STEPS):
        loss = model.loss(x, y)
        loss.backward()
        ft.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", METHODS)
def test_method_reduces_the_loss(name):
    losses = _losses(name)
    assert sum(losses[-5:]) / 5 < 0.9 * losses[0], (losses[0], losses[-5:])


def test_no_learning_rate_no_progress():
    """The check above can fail: with lr = 0 the loss does not move."""
    losses = _losses("misa", scale_lr=0.0)
    assert abs(losses[-1] - losses[0]) < 1e-6


def test_the_package_baselines_print_nothing_in_a_fresh_process():
    """peft (>= 0.22 only once it injects adapters) and galore-torch import bitsandbytes, which logs a warning naming
    this project's `kernels` folder; peft also warns about Transformers 4. A fresh interpreter, as every import is
    cached per process; every warning shown."""
    import subprocess
    import sys

    code = ("from methods.misa.baselines import make_finetuner\n"
            "from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig\n"
            "cfg = LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=2, vocab_size=16)\n"
            "for name in ('lora', 'dora', 'galore'):\n"
            "    make_finetuner(name, LlamaFamily(cfg, seed=0), lr=1e-3)\n"
            "print('built')\n")
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout == "built\n", done.stderr
    noise = [line for line in done.stderr.splitlines() if "peft" in line or "bitsandbytes" in line
             or "kernels" in line or "Warning" in line]
    assert noise == []
