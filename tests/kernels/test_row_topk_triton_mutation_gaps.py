"""Gaps in the tests of `kernels._row_topk_triton` found by a mutation audit.

Closed here (all on the CPU interpreter, against hand-built index sets):
- the one-program-per-row kernel on rows wider than its 4096-column compaction chunk: the slot offset and the
  count of ties already kept carry from one chunk to the next (a tie run straddles the chunk edge);
- the histogram path on a row wider than 16384 columns (the chunked second pass), ties straddling a chunk edge;
- the histogram path when the cut falls inside one 12-bit bin of 1023 or 1024 candidates, consecutive ulps with the
  top low bit set: the scratch search (1023) and the full-row search (1024: that many keys overflow the scratch
  search's 10-bit packed counts) each resolve every one of the 20 low bits.
"""

from __future__ import annotations

import pytest
import torch

from kernels.row_topk import row_topk


def straddling_row(width: int, above: list[int], tie_start: int, n_ties: int) -> torch.Tensor:
    """-5 everywhere, distinct values 3, 4, ... at ``above``, a run of ``n_ties`` ones from ``tie_start``."""
    g = torch.full((width,), -5.0)
    g[tie_start:tie_start + n_ties] = 1.0
    g[above] = 3.0 + torch.arange(len(above), dtype=torch.float32)
    return g


def test_row_kernel_carries_slots_and_tie_counts_across_compaction_chunks():
    """17 rows (more than the histogram path takes) of 4500 columns: chunks of 4096 columns; each row keeps its
    30 large values and the first 150 of the ones, which run across column 4096 for most rows."""
    width, n_rows, kept_ties = 4500, 17, 150
    above = [7, 100, 2000, 3000, 3999] + list(range(4300, 4325))
    rows, want = [], []
    for r in range(n_rows):
        start = 3950 + 10 * r
        rows.append(straddling_row(width, above, start, 200))
        ties = [c for c in range(start, start + 200) if c not in above][:kept_ties]
        want.append(sorted(above + ties))
    g = torch.stack(rows)
    vals, idx = row_topk(g, len(above) + kept_ties, impl="triton")
    assert idx.tolist() == want
    assert torch.equal(vals, g.gather(1, torch.tensor(want)))


def test_histogram_path_compacts_a_row_wider_than_16k_in_chunks():
    """One row of 17000 columns (histogram path, chunked compaction): 12 large values spread over the chunks and
    the first 300 of 400 ties, which run across column 8192."""
    above = [5, 4100, 9000, 12000, 16999, 16500, 300, 8000, 8191, 8700, 13000, 4095]
    g = straddling_row(17000, above, 7900, 400)  # the run holds two of the large values
    ties = [c for c in range(7900, 8300) if c not in above][:300]
    vals, idx = row_topk(g, len(above) + 300, impl="triton")
    want = sorted(above + ties)
    assert idx.tolist() == want
    assert torch.equal(vals, g[want])


@pytest.mark.parametrize("n_cand", [1023, 1024])
def test_histogram_path_with_a_bin_of_1023_or_1024_candidates(n_cand):
    """1 + m * 2^-23 for m = 2^19 + 512 .. 2^19 + 511 + n_cand: one 12-bit key bin whose keys' low 20 bits are m
    (the top low bit set). With 100 larger values the cut is the 769th largest candidate, consecutive ulps apart
    (at a step of the low-bit search all 1024 candidates count, which the 10-bit packed counts cannot hold)."""
    m = 2**19 + torch.arange(512, 512 + n_cand, dtype=torch.float64)
    cand = (1.0 + m * 2.0**-23).float()
    assert cand.unique().numel() == n_cand  # exactly representable, all distinct
    g = torch.full((2048,), -3.0)
    perm = torch.randperm(2048, generator=torch.Generator().manual_seed(n_cand))
    cand_cols, big_cols = perm[:n_cand], perm[n_cand:n_cand + 100]
    g[cand_cols] = cand
    g[big_cols] = 2.0 + torch.arange(100, dtype=torch.float32)
    cut = 1.0 + (2**19 + 511 + n_cand - 768) * 2.0**-23
    want = sorted(big_cols.tolist() + cand_cols[cand >= cut].tolist())
    assert len(want) == 100 + 769
    vals, idx = row_topk(g.unsqueeze(0), 100 + 769, impl="triton")
    assert idx[0].tolist() == want
    assert torch.equal(vals[0], g[want])
