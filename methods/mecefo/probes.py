"""Synthetic downstream probes for the tiny MeCeFO models: the stand-ins for the paper's zero-shot tasks (Table 4:
BoolQ, PIQA, ...) and GLUE fine-tuning (Table 5) of Hu et al., arXiv 2510.16415, built on the grammar corpus the
models are trained on (`methods.data.corpus`).

Zero-shot (two choices each, scored by likelihood as lm-eval does: the choice with the higher mean log-probability
per character given the context wins; chance 0.5):

- ``word_order``: a sentence against the same sentence with two adjacent words swapped;
- ``spelling``: a sentence against the same with two neighbouring letters inside one word swapped;
- ``verb_slot``: after the subject, its verb against a noun;
- ``one_adjective``: after a determiner and an adjective, the sentence's noun against another adjective (the
  grammar allows one adjective per noun phrase).

Fine-tuning (a copy of the model plus a linear head on the last character's final hidden state, every weight
trained with AdamW; accuracy on held-out items; chance = the majority class's share of the test items):

- ``grammatical`` (2 classes, CoLA-like): a sentence or its word-swapped copy;
- ``verb_phrase`` (2): the verb takes an adverb, or an object (with or without a prepositional phrase, which
  seldom fits the context);
- ``subject`` (3): a name, determiner + noun, or determiner + adjective + noun;
- ``spelled`` (2): a sentence or its misspelled copy.

Items are sentences of the grammar short enough for the model's context, preceded by ". " (a sentence boundary as
in the corpus). Everything is seeded; the same seed gives the same items, so runs that differ only in failures
are scored on the same items.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from methods.data.corpus import WORDS as LEXICON  # the grammar's words by category
from methods.data.corpus import CharTokenizer, make_sentence

CATEGORY = {word: cat for cat, words in LEXICON.items() for word in words}
BOUNDARY = ". "
ZERO_SHOT_TASKS = ("word_order", "spelling", "verb_slot", "one_adjective")
FINETUNE_TASKS = {"grammatical": 2, "verb_phrase": 2, "subject": 3, "spelled": 2}


@dataclass(frozen=True)
class Choice:
    """A two-way item: the context, the right continuation and the wrong one."""

    context: str
    right: str
    wrong: str


def sentences(rng: np.random.Generator, max_chars: int) -> Iterator[list[str]]:
    """Grammar sentences (as word lists, the last word with its full stop) of at most ``max_chars``, endlessly."""
    misses = 0
    while misses < 10_000:
        text = make_sentence(rng)
        if len(text) <= max_chars:
            misses = 0
            yield text.split(" ")
        else:
            misses += 1
    raise ValueError(f"the grammar gives no sentences of at most {max_chars} characters")


def _bare(word: str) -> str:
    return word.rstrip(".")


def swap_words(words: list[str], rng: np.random.Generator) -> list[str]:
    """Two adjacent different words swapped (the full stop stays at the end)."""
    bare = [_bare(w) for w in words]
    pairs = [i for i in range(len(bare) - 1) if bare[i] != bare[i + 1]]
    i = pairs[int(rng.integers(len(pairs)))]
    bare[i], bare[i + 1] = bare[i + 1], bare[i]
    bare[-1] += "."
    return bare


def misspell(words: list[str], rng: np.random.Generator) -> list[str]:
    """Two neighbouring different letters inside one word of at least four letters swapped."""
    out = list(words)
    choices = [(i, j) for i, w in enumerate(out) for j in range(1, len(_bare(w)) - 2) if w[j] != w[j + 1]]
    i, j = choices[int(rng.integers(len(choices)))]
    w = out[i]
    out[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return out


def subject_length(words: list[str]) -> int:
    """Words in the subject noun phrase (1: name, 2: determiner + noun, 3: with an adjective)."""
    return next(i for i, w in enumerate(words) if CATEGORY[_bare(w)] == "Verb")


def verb_phrase(words: list[str]) -> int:
    """0: verb + object, 1: verb + adverb, 2: verb + object + prepositional phrase."""
    rest = [CATEGORY[_bare(w)] for w in words[subject_length(words) + 1:]]
    return 1 if rest == ["Adv"] else (2 if "Prep" in rest else 0)


def zero_shot_item(task: str, words: list[str], rng: np.random.Generator) -> Choice | None:
    """One item of a zero-shot task built from the sentence ``words`` (None if the sentence cannot make one)."""
    if task == "word_order":
        return Choice(BOUNDARY, " ".join(words), " ".join(swap_words(words, rng)))
    if task == "spelling":
        return Choice(BOUNDARY, " ".join(words), " ".join(misspell(words, rng)))
    k = subject_length(words)
    if task == "verb_slot":
        return Choice(BOUNDARY + " ".join(words[:k]) + " ", words[k],
                      LEXICON["Noun"][int(rng.integers(len(LEXICON["Noun"])))])
    if task == "one_adjective":
        adjectives = [i for i, w in enumerate(words) if CATEGORY[_bare(w)] == "Adj"]
        if not adjectives:
            return None
        i = adjectives[0]
        others = [a for a in LEXICON["Adj"] if a != words[i]]
        return Choice(BOUNDARY + " ".join(words[: i + 1]) + " ", _bare(words[i + 1]),
                      others[int(rng.integers(len(others)))])
    raise ValueError(f"unknown zero-shot task {task!r}; known: {', '.join(ZERO_SHOT_TASKS)}")


def zero_shot_items(task: str, n: int, max_chars: int, rng: np.random.Generator) -> list[Choice]:
    """``n`` items of one zero-shot task whose context plus either choice fits ``max_chars`` characters."""
    items: list[Choice] = []
    for words in sentences(rng, max_chars - len(BOUNDARY)):
        item = zero_shot_item(task, words, rng)
        if item is not None and len(item.context) + max(len(item.right), len(item.wrong)) <= max_chars:
            items.append(item)
            if len(items) == n:
                break
    return items


def _padded(tokenizer: CharTokenizer, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids right-padded with 0, and each text's length."""
    ids = [tokenizer.encode(t) for t in texts]
    lengths = torch.tensor([len(i) for i in ids])
    out = torch.zeros(len(ids), int(lengths.max()), dtype=torch.int64)
    for row, i in enumerate(ids):
        out[row, : len(i)] = i
    return out, lengths


@torch.no_grad()
def choice_scores(model: nn.Module, tokenizer: CharTokenizer, contexts: list[str], choices: list[str]) -> torch.Tensor:
    """Mean log-probability per character of each choice given its context (causal model, right padding)."""
    tokens, lengths = _padded(tokenizer, [c + s for c, s in zip(contexts, choices, strict=True)])
    logp = model(tokens[:, :-1]).log_softmax(dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
    positions = torch.arange(tokens.shape[1] - 1)[None, :]
    starts = torch.tensor([len(c) - 1 for c in contexts])[:, None]  # input position predicting the choice's 1st
    mask = (positions >= starts) & (positions < lengths[:, None] - 1)
    return (logp * mask).sum(dim=1) / mask.sum(dim=1)


def zero_shot_accuracy(model: nn.Module, tokenizer: CharTokenizer, items: list[Choice]) -> float:
    """Share of items whose right continuation scores higher than the wrong one (ties count as wrong)."""
    contexts = [i.context for i in items]
    right = choice_scores(model, tokenizer, contexts, [i.right for i in items])
    wrong = choice_scores(model, tokenizer, contexts, [i.wrong for i in items])
    return float((right > wrong).float().mean())


def classification_items(task: str, n: int, max_chars: int, rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """``n`` (text, label) pairs of one fine-tuning task."""
    texts: list[str] = []
    labels: list[int] = []
    for words in sentences(rng, max_chars - len(BOUNDARY)):
        if len(texts) == n:
            break
        if task in ("grammatical", "spelled"):
            label = int(rng.integers(2))
            if label == 0:
                words = swap_words(words, rng) if task == "grammatical" else misspell(words, rng)
        elif task == "verb_phrase":
            label = int(verb_phrase(words) == 1)
        elif task == "subject":
            label = subject_length(words) - 1
        else:
            raise ValueError(f"unknown fine-tuning task {task!r}; known: {', '.join(FINETUNE_TASKS)}")
        texts.append(BOUNDARY + " ".join(words))
        labels.append(label)
    return texts, labels


def last_hidden(model: nn.Module, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Final-norm hidden state at each sequence's last real character [B, d] (a decoder block takes x, cos, sin)."""
    x = model.embed_tokens(tokens)
    for block in model.layers:
        x = block(x, model.rope_cos, model.rope_sin)
    return model.norm(x)[torch.arange(len(tokens)), lengths - 1]


@dataclass(frozen=True)
class FinetuneSettings:
    train_items: int = 512
    test_items: int = 256
    steps: int = 60
    batch_size: int = 16
    lr: float = 1e-3


def finetune_accuracy(model: nn.Module, tokenizer: CharTokenizer, task: str, settings: FinetuneSettings,
                      max_chars: int, seed: int, on_step: Callable[[], None] | None = None) -> tuple[float, float]:
    """(test accuracy, majority-class share of the test items) after fine-tuning a copy of ``model`` on ``task``;
    ``on_step()`` is called after each fine-tuning step."""
    rng = np.random.default_rng([int(seed), 0xF17E])
    train_x, train_y = classification_items(task, settings.train_items, max_chars, rng)
    test_x, test_y = classification_items(task, settings.test_items, max_chars, rng)
    tuned = copy.deepcopy(model)
    head = nn.Linear(tuned.lm_head.in_features, FINETUNE_TASKS[task])
    with torch.no_grad():
        gen = torch.Generator().manual_seed(int(seed))
        head.weight.normal_(0.0, 0.02, generator=gen)
        head.bias.zero_()
    params = [*tuned.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    tokens, lengths = _padded(tokenizer, train_x)
    labels = torch.tensor(train_y)
    logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = lambda t, n: head(last_hidden(tuned, t, n))
    for _ in range(settings.steps):
        pick = torch.from_numpy(rng.integers(0, len(train_x), size=settings.batch_size))
        loss = nn.functional.cross_entropy(logits_of(tokens[pick], lengths[pick]), labels[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step()
    with torch.no_grad():
        tokens, lengths = _padded(tokenizer, test_x)
        predicted = logits_of(tokens, lengths).argmax(dim=-1)
    truth = torch.tensor(test_y)
    majority = float(torch.bincount(truth).max()) / len(truth)
    return float((predicted == truth).float().mean()), majority


def probe_units(zero_shot_items_per_task: int, finetune: FinetuneSettings | None) -> int:
    """Progress units of `evaluate_probes`: one per zero-shot task, one per fine-tuning step of each task."""
    return (len(ZERO_SHOT_TASKS) if zero_shot_items_per_task else 0) + (
        len(FINETUNE_TASKS) * finetune.steps if finetune is not None else 0)


def evaluate_probes(model: nn.Module, tokenizer: CharTokenizer, *, zero_shot_items_per_task: int,
                    finetune: FinetuneSettings | None, seed: int,
                    on_step: Callable[[int, int], None] | None = None) -> dict[str, dict[str, float]]:
    """Every probe on ``model``: {"zero_shot": {task: accuracy}, "finetune": {task: accuracy},
    "finetune_chance": {task: majority share}} (a part with 0 items / no settings is left out).
    ``on_step(done, total)`` reports progress in `probe_units`."""
    total = probe_units(zero_shot_items_per_task, finetune)
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if on_step is not None:
            on_step(done, total)

    max_chars = int(model.max_seq_len) + 1  # inputs are the text minus its last character
    out: dict[str, dict[str, float]] = {}
    was_training = model.training
    model.eval()
    if zero_shot_items_per_task:
        rng = np.random.default_rng([int(seed), 0x2E50])
        out["zero_shot"] = {}
        for t in ZERO_SHOT_TASKS:
            out["zero_shot"][t] = zero_shot_accuracy(model, tokenizer, zero_shot_items(
                t, zero_shot_items_per_task, max_chars, rng))
            advance()
    if finetune is not None:
        results = {t: finetune_accuracy(model, tokenizer, t, finetune, max_chars - 1, seed + i, on_step=advance)
                   for i, t in enumerate(FINETUNE_TASKS)}
        out["finetune"] = {t: acc for t, (acc, _) in results.items()}
        out["finetune_chance"] = {t: chance for t, (_, chance) in results.items()}
    model.train(was_training)
    return out
