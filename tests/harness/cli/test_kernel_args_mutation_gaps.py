"""Gaps in the tests of `harness.commands._kernel_args` found by a mutation audit.

Closed here:
- the largest seed torch takes, 2**64 - 1, is accepted (one more is refused, 0 is accepted);
- an op named twice is kept once, in the order first given;
- an unknown op's message lists the ops the command runs when it names them, else every registered op.
"""

from __future__ import annotations

import argparse

import pytest

from harness.commands._kernel_args import check_kernel_arguments
from harness.errors import HarnessError


def _args(ops=None, seed=0, device="cpu") -> argparse.Namespace:
    return argparse.Namespace(ops=ops, seed=seed, device=device)


@pytest.mark.parametrize("seed", [0, 18446744073709551615])
def test_the_seeds_torch_takes_are_accepted(seed):
    args = _args(seed=seed)
    check_kernel_arguments(args)
    assert args.seed == seed


def test_a_seed_one_above_the_largest_is_refused():
    with pytest.raises(HarnessError) as caught:
        check_kernel_arguments(_args(seed=18446744073709551616))
    assert str(caught.value) == "--seed: expected an integer from 0 to 2**64 - 1, got 18446744073709551616"


def test_an_op_named_twice_is_kept_once_in_first_order():
    args = _args(ops=["topk_flat", "copy", "topk_flat", "copy", "matmul"])
    check_kernel_arguments(args)
    assert args.ops == ["topk_flat", "copy", "matmul"]


def test_an_unknown_op_lists_the_runnable_ops_when_given():
    with pytest.raises(HarnessError) as caught:
        check_kernel_arguments(_args(ops=["copy", "nope"]), runnable=["topk_flat", "copy"])
    assert str(caught.value) == "--ops: unknown op(s) nope; known: topk_flat, copy"


def test_an_unknown_op_lists_every_registered_op_by_default():
    from kernels.ops import load_all_ops

    with pytest.raises(HarnessError) as caught:
        check_kernel_arguments(_args(ops=["nope", "nada"]))
    assert str(caught.value) == f"--ops: unknown op(s) nope, nada; known: {', '.join(load_all_ops())}"
    assert "matmul" in str(caught.value) and "topk_flat" in str(caught.value)
