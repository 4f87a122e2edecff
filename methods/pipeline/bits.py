"""Bit streams for activation payloads: fields of any width 1..64 packed back to back, little-endian bit order.

Shared by every activation codec of `methods.pipeline` (TAH-Quant, arXiv 2506.01352, packs its codes and metadata
into one uint8 stream the same way, research card B2 step 8). A payload is the concatenation of fields, each a
vector of unsigned integers of one width; its length is ``ceil(total bits / 8)`` bytes, nothing else.

Example::

    >>> payload = pack_fields([(np.array([5, 1, 7]), 3), (np.array([1, 0]), 1)])
    >>> len(payload), BitReader(payload).read(3, 3).tolist(), BitReader(payload).skip(9).read(2, 1).tolist()
    (2, [5, 1, 7], [1, 0])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _field_bits(values: np.ndarray, width: int) -> np.ndarray:
    if not 1 <= width <= 64:
        raise ValueError(f"field width must be in 1..64, got {width}")
    v = np.ascontiguousarray(values).astype(np.uint64, copy=False).reshape(-1)
    if width < 64 and v.size and int(v.max()) >> width:
        raise ValueError(f"a value does not fit in {width} bits")
    shifts = np.arange(width, dtype=np.uint64)
    return ((v[:, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1)


def pack_fields(fields: Sequence[tuple[np.ndarray, int]]) -> bytes:
    """Concatenate ``(values, width)`` fields into one byte string (last byte zero-padded)."""
    parts = [_field_bits(values, width) for values, width in fields]
    bits = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)
    return np.packbits(bits, bitorder="little").tobytes()


def packed_length(widths_and_counts: Sequence[tuple[int, int]]) -> int:
    """Bytes of a payload with ``count`` values of ``width`` bits per field (what `pack_fields` returns)."""
    return -(-sum(width * count for width, count in widths_and_counts) // 8)


class BitReader:
    """Reads the fields of a `pack_fields` payload in order."""

    def __init__(self, payload: bytes):
        self._bits = np.unpackbits(np.frombuffer(payload, dtype=np.uint8), bitorder="little")
        self._pos = 0

    def skip(self, n_bits: int) -> BitReader:
        self._pos += n_bits
        return self

    def read(self, count: int, width: int) -> np.ndarray:
        """The next ``count`` values of ``width`` bits, as uint64."""
        end = self._pos + count * width
        if end > self._bits.size:
            raise ValueError(f"payload too short: need {end} bits, have {self._bits.size}")
        chunk = self._bits[self._pos:end].reshape(count, width).astype(np.uint64)
        self._pos = end
        return (chunk << np.arange(width, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)

    @property
    def remaining_bits(self) -> int:
        return self._bits.size - self._pos
