"""Synthetic fine-tuning tasks and the pre-training corpus for the MISA reductions (arXiv 2511.00056).

MISA fine-tunes LLaMA models on Commonsense-170K (eight multiple-choice sets) and Math10K (word problems) and
scores generated answers by exact match. Offline and on a CPU we keep the shape of that protocol with a tiny
character-level LLaMA:

- corpus A (pre-training, `pretraining_text`): the grammar corpus of `methods.data.corpus` interleaved with counting
  lines (``"17 18 19 20."``), so the pre-trained model knows the words' roles and the digits' order;
- math tasks (exact match on the characters after ``=``): ``add`` (``"37+45="`` -> ``"82."``), ``mod``
  (``"(37+45)%7="`` -> ``"5."``);
- "commonsense-style" multiple choice, the chosen option generated and scored by exact match (as the MISA
  repository extracts the answer from generated text): ``category`` (``"verb? river sends green:"`` ->
  ``"sends."``: the word roles of the grammar corpus), ``larger`` (``"larger? 28 45:"`` -> ``"45."``), ``even``
  (``"is 29 even? yes no:"`` -> ``"no."``), ``next`` (``"after 13? 12 15 14:"`` -> ``"14."``).

An example is ``prompt + answer`` padded with spaces to a fixed length; the loss covers the answer's characters only
(the MISA repository masks the prompt too). Greedy decoding reproduces the answer exactly iff the argmax at every
answer position, given the correct prefix, is the answer's character, so exact match needs one forward pass
(`exact_match`).

Example::

    >>> rng = np.random.default_rng(0)
    >>> ex = make_example("add", rng, digits=2); ex.prompt.endswith("="), ex.answer.endswith(".")
    (True, True)
    >>> batch = encode_examples([ex], seq_len=16); batch.tokens.shape, int(batch.mask.sum()) == len(ex.answer)
    (torch.Size([1, 16]), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from methods.data.corpus import WORDS, make_sentence

#: every character the tasks and corpus A use; index 0 (space) pads
VOCAB: tuple[str, ...] = tuple(" .,:?()%+=" + "0123456789" + "abcdefghijklmnopqrstuvwxyz")
_INDEX = {c: i for i, c in enumerate(VOCAB)}
MATH_TASKS = ("add", "mod")
CHOICE_TASKS = ("category", "larger", "even", "next")
TASKS = MATH_TASKS + CHOICE_TASKS
_ROLES = {"verb": "Verb", "noun": "Noun", "adjective": "Adj", "name": "Name"}


@dataclass(frozen=True)
class Example:
    task: str
    prompt: str
    answer: str


def encode(text: str) -> list[int]:
    try:
        return [_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} is not in the task vocabulary") from None


def pretraining_text(n_items: int, seed: int, counting_share: float = 0.3) -> str:
    """Corpus A: ``n_items`` grammar sentences or counting lines (share ``counting_share``), space separated."""
    rng = np.random.default_rng([int(seed), 0xA11])
    items = []
    for _ in range(int(n_items)):
        if rng.random() < counting_share:
            start = int(rng.integers(0, 95))
            items.append(" ".join(str(start + i) for i in range(int(rng.integers(3, 6)))) + ".")
        else:
            items.append(make_sentence(rng))
    return " ".join(items)


def _options(rng: np.random.Generator, right: str, wrong: list[str]) -> str:
    """The options ``right`` and ``wrong`` in a random order, space separated."""
    opts = [right, *wrong]
    return " ".join(opts[i] for i in rng.permutation(len(opts)))


def make_example(task: str, rng: np.random.Generator, digits: int = 2) -> Example:
    """One example of ``task`` (numbers below ``10**digits`` in the math tasks)."""
    top = 10 ** int(digits)
    if task == "add":
        a, b = int(rng.integers(top)), int(rng.integers(top))
        return Example(task, f"{a}+{b}=", f"{a + b}.")
    if task == "mod":
        a, b, m = int(rng.integers(top)), int(rng.integers(top)), int(rng.integers(2, 10))
        return Example(task, f"({a}+{b})%{m}=", f"{(a + b) % m}.")
    if task == "category":
        role = list(_ROLES)[int(rng.integers(len(_ROLES)))]
        right = WORDS[_ROLES[role]][int(rng.integers(len(WORDS[_ROLES[role]])))]
        others = [r for r in _ROLES.values() if r != _ROLES[role]]
        picks = rng.choice(len(others), 2, replace=False)
        wrong = [WORDS[others[i]][int(rng.integers(len(WORDS[others[i]])))] for i in picks]
        return Example(task, f"{role}? {_options(rng, right, wrong)}:", f"{right}.")
    if task == "larger":
        a, b = (int(v) for v in rng.choice(100, 2, replace=False))
        return Example(task, f"larger? {_options(rng, str(max(a, b)), [str(min(a, b))])}:", f"{max(a, b)}.")
    if task == "even":
        n = int(rng.integers(100))
        right = "yes" if n % 2 == 0 else "no"
        return Example(task, f"is {n} even? {_options(rng, right, ['no' if n % 2 == 0 else 'yes'])}:", f"{right}.")
    if task == "next":
        n = int(rng.integers(1, 98))
        return Example(task, f"after {n}? {_options(rng, str(n + 1), [str(n - 1), str(n + 2)])}:", f"{n + 1}.")
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


def longest_example(task: str, digits: int = 2) -> int:
    """Characters in the longest ``prompt + answer`` that `make_example` can draw for ``task`` (what
    ``seq_len + 1`` must hold for `encode_examples`)."""
    big = 10 ** int(digits) - 1
    if task == "add":
        return len(f"{big}+{big}=" f"{2 * big}.")
    if task == "mod":
        return len(f"({big}+{big})%9=" "8.")
    if task == "category":
        longest = {role: max(map(len, WORDS[key])) for role, key in _ROLES.items()}
        return max(len(f"{role}? :.") + 2 * longest[role] + len("  ")
                   + sum(sorted(n for other, n in longest.items() if other != role)[-2:]) for role in longest)
    if task == "larger":
        return len("larger? 98 99:" "99.")
    if task == "even":
        return len("is 98 even? yes no:" "yes.")
    if task == "next":
        return len("after 97? 98 96 99:" "98.")
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")


@dataclass(frozen=True)
class TaskBatch:
    """Inputs ``tokens`` [B, T], next-character ``targets`` and the ``mask`` of answer positions (float)."""

    tokens: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor
    tasks: tuple[str, ...]


def encode_examples(examples: list[Example], seq_len: int) -> TaskBatch:
    """Each example left-aligned and space-padded to ``seq_len + 1`` characters; loss mask on its answer."""
    rows, masks = [], []
    for ex in examples:
        ids = encode(ex.prompt + ex.answer)
        if len(ids) > seq_len + 1:
            raise ValueError(f"example {ex.prompt + ex.answer!r} is longer than seq_len + 1 = {seq_len + 1}")
        rows.append(ids + [0] * (seq_len + 1 - len(ids)))
        mask = [0.0] * seq_len
        for pos in range(len(ex.prompt), len(ids)):
            mask[pos - 1] = 1.0  # target at position pos - 1 is character pos
        masks.append(mask)
    full = torch.tensor(rows, dtype=torch.int64)
    return TaskBatch(full[:, :-1], full[:, 1:], torch.tensor(masks), tuple(ex.task for ex in examples))


def sample_batch(tasks: tuple[str, ...], batch_size: int, seq_len: int, rng: np.random.Generator,
                 digits: int = 2) -> TaskBatch:
    """``batch_size`` examples, each of a task drawn uniformly from ``tasks``."""
    picks = rng.integers(len(tasks), size=int(batch_size))
    return encode_examples([make_example(tasks[int(i)], rng, digits) for i in picks], seq_len)


def masked_loss(logits: torch.Tensor, batch: TaskBatch) -> torch.Tensor:
    """Mean cross-entropy over the answer characters of the batch."""
    per = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), reduction="none")
    mask = batch.mask.flatten()
    return (per * mask).sum() / mask.sum()


def exact_match(logits: torch.Tensor, batch: TaskBatch) -> torch.Tensor:
    """Per example: 1.0 if the argmax is right at every answer position (= greedy decoding's exact match)."""
    wrong = (logits.argmax(-1) != batch.targets).float() * batch.mask
    return (wrong.sum(-1) == 0).float()
