"""A check the training kinds share: their held-out text is a corpus of its own, drawn apart from the training one."""

from __future__ import annotations

from collections.abc import Callable

from methods.data import corpus


def assert_held_out_corpus_apart(monkeypatch, run: Callable[[], object], n_train: int, n_eval: int) -> None:
    """``run()`` draws two corpora, of ``n_train`` then ``n_eval`` sentences, the second not inside the first."""
    calls = []
    real = corpus.make_corpus
    monkeypatch.setattr(corpus, "make_corpus", lambda n, seed: calls.append((n, real(n, seed))) or calls[-1][1])
    run()
    (n_train_drawn, train_text), (n_eval_drawn, eval_text) = calls
    assert (n_train_drawn, n_eval_drawn) == (n_train, n_eval)
    assert eval_text[:200] not in train_text
