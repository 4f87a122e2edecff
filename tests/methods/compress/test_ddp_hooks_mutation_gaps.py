"""Gaps in the tests of `methods.compress.ddp_hooks` found by a mutation audit.

Closes:
- the dense warm-up lasts 2 iterations by default (torch's rule for DDP's bucket rebuild);
- an `ErrorFeedback` instance given beside a compressor name is the one the pipeline uses;
- a `Compressor` instance with ``compressor_params`` is refused;
- a `Compressor` instance without an error feedback gets its usual pairing;
- a parameter missing from ``named_parameters`` is refused by name;
- an empty bucket during the dense warm-up is returned as it is, with no collective.
"""

from __future__ import annotations


import pytest
import torch

from methods.compress import make_compressor
from methods.compress.ddp_hooks import CompressionHookState, compression_hook
from methods.compress.error_feedback import make_error_feedback


def test_the_default_warm_up_is_two_iterations():
    state = CompressionHookState("topk", named_parameters=[])
    assert (state.start_iter, state.pipeline.start_iter) == (2, 2)


def test_an_error_feedback_instance_beside_a_compressor_name_is_the_one_used():
    ef = make_error_feedback("ef21m", eta=0.5)
    state = CompressionHookState("topk", ef, start_iter=0, named_parameters=[])
    assert state.pipeline.error_feedback is ef


def test_compressor_params_with_a_compressor_instance_are_refused():
    with pytest.raises(ValueError, match="compressor_params are only used with a compressor name"):
        CompressionHookState(make_compressor("topk"), compressor_params={"ratio": 0.5}, start_iter=0,
                             named_parameters=[])


def test_a_compressor_instance_without_error_feedback_gets_its_usual_pairing():
    state = CompressionHookState(make_compressor("arc_topk"), start_iter=0, named_parameters=[])
    assert state.pipeline.error_feedback.name == "ef14"


def test_a_parameter_missing_from_named_parameters_is_refused():
    known, stranger = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    state = CompressionHookState("topk", start_iter=0, named_parameters=[("w", known)])
    assert state._key(known, 0, 0) == "w"
    with pytest.raises(ValueError, match="missing from named_parameters"):
        state._key(stranger, 0, 0)


class EmptyBucket:
    """The GradBucket surface the hook uses, for a bucket with no gradients."""

    def __init__(self):
        self._buffer = torch.zeros(0)

    def buffer(self):
        return self._buffer

    def is_last(self):
        return True


def test_an_empty_bucket_in_the_warm_up_sends_nothing(one_rank_group):
    state = CompressionHookState("topk", start_iter=2, named_parameters=[])
    out = compression_hook(state, EmptyBucket()).wait()
    assert out.numel() == 0
    assert (state.n_collectives, state.total_payload_bytes, state.iteration) == (0, 0, 1)
