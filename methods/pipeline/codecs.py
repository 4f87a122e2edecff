"""Activation codecs for pipeline-stage boundaries: one interface, exact wire bytes, sender/receiver views.

Follows TAH-Quant (He et al., arXiv 2506.01352) and its baselines as the authors' code runs them (research card
``shared/research/moc_tahquant.md`` B2-B4):

- ``none``: the tensor as raw ``float32`` / ``bfloat16`` / ``float16`` bytes (the uncompressed reference);
- ``uniform_tensor``: asymmetric b-bit quantization with one fp32 zero and scale for the whole tensor;
- ``uniform_tile``: asymmetric b-bit quantization per tile of G channels, fp16 zero and scale per tile
  (TAH-Quant without pivot, Hadamard and bit allocation);
- ``fixpoint``: symmetric b-bit quantization with one fp16 max-abs scale per channel over all other dims, the
  authors' "fixpoint" compressor (card B2 "backward direction"; 6 bits is TAH-Quant's backward-gradient scheme,
  and AQ-SGD quantizes its deltas with it);
- ``tahquant``: TAH-Quant through `kernels.tah_quant` (tile pivot swap + Hadamard, per-tile fp16 min/scale,
  entropy-guided 4/3-bit allocation), serialized into one bit stream.

Interface (`ActivationCodec`): ``encode(x) -> Encoded(payload, sender_view)``: ``payload`` is the exact bytes
on the wire and ``sender_view`` what the sender reconstructs from its in-memory quantities (AQ-SGD updates its
cache with it); ``decode(payload, shape) -> tensor`` is the receiver's side, from the bytes alone, and must equal
``sender_view`` bit for bit. ``payload_bytes(shape)`` is the message size for a tensor of that shape: exact for
every codec but ``tahquant``, where it is the authors' fixed send buffer, sized for every tile flagged (card B2,
step 8); the real payload is never larger. Both sides know the codec's settings; only data goes on the wire.
Tensors are encoded on the CPU (the torch reference of the TAH-Quant kernel, so both sides run the same arithmetic).

Example::

    >>> import torch
    >>> codec = make_codec("fixpoint", bits=6)
    >>> x = torch.randn(2, 8, 16)
    >>> enc = codec.encode(x)
    >>> received = codec.decode(enc.payload, x.shape)
    >>> len(enc.payload) == codec.payload_bytes(x.shape), torch.equal(received, enc.sender_view)
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from methods.arguments import check_integer, check_number
from methods.pipeline.bits import BitReader, pack_fields, packed_length

RAW_DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Encoded:
    """One encoded tensor: the wire bytes and the sender's own dequantized view (float32)."""

    payload: bytes
    sender_view: torch.Tensor

    @property
    def wire_bytes(self) -> int:
        return len(self.payload)


class ActivationCodec(Protocol):
    name: str
    #: payload length depends only on the shape (AQ-SGD needs this to split a message per sample group)
    fixed_size: bool

    def encode(self, x: torch.Tensor) -> Encoded: ...

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor: ...

    def payload_bytes(self, shape: Sequence[int]) -> int: ...


def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _fp16_bits(v: torch.Tensor) -> np.ndarray:
    return v.to(torch.float16).view(torch.int16).numpy().astype(np.uint16)


def _fp16_from_bits(bits: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(bits.astype(np.uint16).view(np.int16).copy()).view(torch.float16).float()


def _check_bits(bits: int, low: int = 1, high: int = 16) -> int:
    return check_integer("bits", bits, low, high)


def _check_input(x: torch.Tensor, *, quantized: bool = True) -> None:
    """Codecs carry real floating-point activations: refuse other dtypes instead of casting them silently, and
    (``quantized``) NaN or inf, which no scale or level can represent (a diverged run shows here first)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"expected a floating-point tensor, got {got}")
    if quantized and not bool(torch.isfinite(x).all()):
        raise ValueError("cannot quantize non-finite activations (NaN or inf); the `none` codec sends them as they are")


def _check_fp16_metadata(name: str, *metadata: torch.Tensor) -> None:
    """fp16 zeros / scales beyond +-65504 overflow to inf, and the codes then decode to NaN or do not fit: refuse
    such activations as clearly as non-finite ones."""
    if not all(bool(torch.isfinite(m).all()) for m in metadata):
        raise ValueError(f"{name}: activations too large for the codec's fp16 zeros / scales (beyond +-65504)")


# ----------------------------------------------------------------------------------------------------- none
@dataclass(frozen=True)
class NoneCodec:
    """No compression: the raw bytes of the tensor in ``dtype``."""

    dtype: str = "float32"
    name: str = "none"
    fixed_size: bool = True

    def __post_init__(self) -> None:
        if self.dtype not in RAW_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(RAW_DTYPES)}, got {self.dtype!r}")

    def encode(self, x: torch.Tensor) -> Encoded:
        _check_input(x, quantized=False)
        cast = x.detach().cpu().to(RAW_DTYPES[self.dtype]).contiguous()
        payload = cast.view(torch.uint8).numpy().tobytes() if cast.numel() else b""
        return Encoded(payload, cast.float())

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        raw = torch.frombuffer(bytearray(payload), dtype=torch.uint8) if payload else torch.zeros(0, dtype=torch.uint8)
        return raw.view(RAW_DTYPES[self.dtype]).reshape(tuple(shape)).float()

    def payload_bytes(self, shape: Sequence[int]) -> int:
        return _numel(shape) * RAW_DTYPES[self.dtype].itemsize


# ----------------------------------------------------------------------------------------- uniform per tensor
@dataclass(frozen=True)
class UniformTensorCodec:
    """Asymmetric ``bits``-bit quantization with one fp32 zero (min) and scale for the whole tensor."""

    bits: int = 4
    name: str = "uniform_tensor"
    fixed_size: bool = True

    def __post_init__(self) -> None:
        _check_bits(self.bits)

    def _view(self, q: torch.Tensor, zero: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return q.float() * scale + zero

    def encode(self, x: torch.Tensor) -> Encoded:
        _check_input(x)
        shape = x.shape
        x = x.detach().cpu().float().reshape(-1)
        levels = 2**self.bits - 1
        zero = x.min() if x.numel() else torch.tensor(0.0)
        top = x.max() if x.numel() else torch.tensor(0.0)
        if not torch.isfinite(top - zero):
            raise ValueError(f"{self.name}: activations span more than the float32 range (max - min overflows)")
        scale = torch.clamp((top - zero) / levels, min=torch.finfo(torch.float32).tiny)
        q = torch.clamp(torch.floor((x - zero) / scale + 0.5), 0, levels).to(torch.int64)
        header = np.array([zero.view(torch.int32).item() & 0xFFFFFFFF, scale.view(torch.int32).item() & 0xFFFFFFFF])
        payload = pack_fields([(header, 32), (q.numpy(), self.bits)])
        return Encoded(payload, self._view(q, zero, scale).reshape(shape))

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        reader = BitReader(payload)
        header = torch.from_numpy(reader.read(2, 32).astype(np.uint32).view(np.int32).copy()).view(torch.float32)
        q = torch.from_numpy(reader.read(_numel(shape), self.bits).astype(np.int64))
        return self._view(q, header[0], header[1]).reshape(tuple(shape))

    def payload_bytes(self, shape: Sequence[int]) -> int:
        return packed_length([(32, 2), (self.bits, _numel(shape))])


# ------------------------------------------------------------------------------------------- uniform per tile
@dataclass(frozen=True)
class UniformTileCodec:
    """Asymmetric ``bits``-bit quantization per tile of ``tile_size`` channels, fp16 zero (min) and scale per tile."""

    bits: int = 4
    tile_size: int = 64
    name: str = "uniform_tile"
    fixed_size: bool = True

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        check_integer("tile_size", self.tile_size, 1)

    def _tiles(self, shape: Sequence[int]) -> int:
        if not shape or int(shape[-1]) % self.tile_size:
            raise ValueError(f"channels (last dim of {tuple(shape)}) must be a multiple of tile_size {self.tile_size}")
        return _numel(shape) // self.tile_size

    @staticmethod
    def _view(q: torch.Tensor, zero: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return q.float() * scale[:, None] + zero[:, None]

    def encode(self, x: torch.Tensor) -> Encoded:
        _check_input(x)
        n_tiles = self._tiles(x.shape)
        t = x.detach().cpu().float().reshape(n_tiles, self.tile_size)
        levels = 2**self.bits - 1
        zero = t.amin(dim=1).to(torch.float16).float()
        scale = torch.clamp((t.amax(dim=1) - zero) / levels, min=2.0**-24).to(torch.float16).float()
        _check_fp16_metadata(self.name, zero, scale)
        q = torch.clamp(torch.floor((t - zero[:, None]) / scale[:, None] + 0.5), 0, levels).to(torch.int64)
        payload = pack_fields([(_fp16_bits(zero), 16), (_fp16_bits(scale), 16), (q.numpy(), self.bits)])
        return Encoded(payload, self._view(q, zero, scale).reshape(x.shape))

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        n_tiles = self._tiles(shape)
        reader = BitReader(payload)
        zero, scale = _fp16_from_bits(reader.read(n_tiles, 16)), _fp16_from_bits(reader.read(n_tiles, 16))
        q = torch.from_numpy(reader.read(n_tiles * self.tile_size, self.bits).astype(np.int64))
        return self._view(q.reshape(n_tiles, self.tile_size), zero, scale).reshape(tuple(shape))

    def payload_bytes(self, shape: Sequence[int]) -> int:
        n_tiles = self._tiles(shape)
        return packed_length([(16, 2 * n_tiles), (self.bits, n_tiles * self.tile_size)])


# -------------------------------------------------------------------------------------------------- fixpoint
@dataclass(frozen=True)
class FixpointCodec:
    """Symmetric ``bits``-bit quantization, one fp16 max-abs scale per channel (last dim) over all other dims.

    The authors' ``fixpoint`` compressor (card B2, B9 item 14): ``q = clip(round(x / scale * 2^(b-1)),
    -2^(b-1), 2^(b-1) - 1)``, ``x_hat = q / 2^(b-1) * scale``; codes go on the wire offset by ``2^(b-1)``.
    Our choice: the scale is rounded up to fp16 before quantizing (both sides then use the same number).
    """

    bits: int = 6
    name: str = "fixpoint"
    fixed_size: bool = True

    def __post_init__(self) -> None:
        _check_bits(self.bits, 2, 16)

    def _view(self, q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return q.float() / 2 ** (self.bits - 1) * scale

    def encode(self, x: torch.Tensor) -> Encoded:
        _check_input(x)
        C = int(x.shape[-1])
        rows = x.detach().cpu().float().reshape(_numel(x.shape[:-1]), C)
        if rows.shape[0] == 0:  # no rows: every channel's scale is 0
            scale16 = torch.zeros(C, dtype=torch.float16)
            payload = pack_fields([(_fp16_bits(scale16), 16), (np.zeros(0, dtype=np.int64), self.bits)])
            return Encoded(payload, torch.zeros(x.shape))
        scale16 = rows.abs().amax(dim=0).to(torch.float16)
        scale16 = torch.where(scale16.float() < rows.abs().amax(dim=0), torch.nextafter(
            scale16, torch.tensor(float("inf"), dtype=torch.float16)), scale16)
        scale = scale16.float()
        _check_fp16_metadata(self.name, scale)
        half = 2 ** (self.bits - 1)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = torch.clamp(torch.round(rows / safe * half), -half, half - 1).to(torch.int64)
        payload = pack_fields([(_fp16_bits(scale), 16), ((q + half).numpy(), self.bits)])
        return Encoded(payload, self._view(q, scale).reshape(x.shape))

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        C = int(shape[-1])
        reader = BitReader(payload)
        scale = _fp16_from_bits(reader.read(C, 16))
        q = torch.from_numpy(reader.read(_numel(shape), self.bits).astype(np.int64)) - 2 ** (self.bits - 1)
        return self._view(q.reshape(_numel(shape[:-1]), C), scale).reshape(tuple(shape))

    def payload_bytes(self, shape: Sequence[int]) -> int:
        return packed_length([(16, int(shape[-1])), (self.bits, _numel(shape))])


# -------------------------------------------------------------------------------------------------- TAH-Quant
@dataclass(frozen=True)
class TAHQuantCodec:
    """TAH-Quant (`kernels.tah_quant`) with its metadata serialized into one bit stream.

    Wire order: precision map (1 bit per token for ``allocation="token"``, per tile for ``"tile"``, none for
    ``"uniform"``) | outlier flags (1 bit per tile) | pivots (ceil(log2 G) bits per flagged tile) | fp16 zeros |
    fp16 scales | codes (the kernel's packed bytes). Its length is `kernels.tah_quant.TAHPacked.wire_bytes`.
    Defaults: the released configuration, G = 64, 80% of tokens at INT4 and 20% at INT3 (card B3).
    """

    bits: int = 4
    bits_low: int = 3
    tile_size: int = 64
    allocation: str = "token"
    high_fraction: float = 0.8
    name: str = "tahquant"
    fixed_size: bool = False

    def __post_init__(self) -> None:
        from kernels.tah_quant import ALLOCATIONS

        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {self.allocation!r}")
        check_integer("bits", self.bits, 1, 8)
        check_integer("bits_low", self.bits_low, 1, 8)
        if not 1 <= self.bits_low <= self.bits <= 8:
            raise ValueError(f"need 1 <= bits_low <= bits <= 8, got bits={self.bits}, bits_low={self.bits_low}")
        G = check_integer("tile_size", self.tile_size, 8, 256)
        if G & (G - 1):
            raise ValueError(f"tile_size: expected a power of two in 8..256 (Hadamard size), got {G}")
        if not 0.0 < check_number("high_fraction", self.high_fraction) <= 1.0:
            raise ValueError(f"high_fraction: expected a number in (0, 1], got {self.high_fraction!r}")

    @property
    def _pivot_bits(self) -> int:
        return max(1, math.ceil(math.log2(self.tile_size)))

    def _map_count(self, shape: Sequence[int]) -> int:
        if self.allocation == "token":
            return _numel(shape) // int(shape[-1])
        return _numel(shape) // self.tile_size if self.allocation == "tile" else 0

    def _tile_low(self, map_bits: torch.Tensor, shape: Sequence[int]) -> torch.Tensor | None:
        if self.allocation == "uniform" or self.bits_low == self.bits:
            return None
        if self.allocation == "token":
            return map_bits.repeat_interleave(int(shape[-1]) // self.tile_size)
        return map_bits

    def encode(self, x: torch.Tensor) -> Encoded:
        _check_input(x)
        from kernels.tah_quant import tah_dequantize, tah_quantize

        x = x.detach().cpu().float()
        if x.numel() == 0 and x.dim() >= 1:  # nothing to send (the kernel needs at least one tile)
            return Encoded(b"", x.clone())
        p = tah_quantize(x, bits=self.bits, bits_low=self.bits_low, tile_size=self.tile_size,
                         allocation=self.allocation, high_fraction=self.high_fraction, impl="torch")
        _check_fp16_metadata(self.name, p.zero, p.scale)
        if self.allocation == "token":
            maps = p.token_low.reshape(-1)
        elif self.allocation == "tile":
            maps = p.tile_low if p.tile_low is not None else torch.zeros(0, dtype=torch.bool)
            maps = maps if maps.numel() else self._tile_map(x)
        else:
            maps = torch.zeros(0, dtype=torch.bool)
        payload = pack_fields([
            (maps.numpy().astype(np.uint64), 1), (p.flags.numpy().astype(np.uint64), 1),
            (p.pivots[p.flags].numpy().astype(np.uint64), self._pivot_bits),
            (_fp16_bits(p.zero), 16), (_fp16_bits(p.scale), 16), (p.codes.numpy(), 8),
        ])
        if len(payload) != p.wire_bytes:
            raise AssertionError(f"TAH-Quant payload {len(payload)} B != kernel accounting {p.wire_bytes} B")
        return Encoded(payload, tah_dequantize(p, impl="torch").float())

    def _tile_map(self, x: torch.Tensor) -> torch.Tensor:
        """v2 map when bits_low == bits (the kernel then drops it from the layout but still counts it)."""
        from kernels.tah_quant import allocate_bits

        tile_low, _ = allocate_bits(x.float(), self.tile_size, "tile", self.high_fraction, impl="torch")
        return tile_low

    def decode(self, payload: bytes, shape: Sequence[int]) -> torch.Tensor:
        from kernels.tah_quant import TAHPacked, _code_layout, tah_dequantize

        shape = tuple(int(s) for s in shape)
        if _numel(shape) == 0:
            return torch.zeros(shape)
        G = self.tile_size
        n_tiles = _numel(shape) // G
        reader = BitReader(payload)
        map_bits = torch.from_numpy(reader.read(self._map_count(shape), 1).astype(bool))
        flags = torch.from_numpy(reader.read(n_tiles, 1).astype(bool))
        pivots = torch.zeros(n_tiles, dtype=torch.uint8)
        pivots[flags] = torch.from_numpy(reader.read(int(flags.sum()), self._pivot_bits).astype(np.uint8))
        zero = _fp16_from_bits(reader.read(n_tiles, 16)).to(torch.float16)
        scale = _fp16_from_bits(reader.read(n_tiles, 16)).to(torch.float16)
        tile_low = self._tile_low(map_bits, shape)
        n_low = int(tile_low.sum()) if tile_low is not None else 0
        total, offsets = _code_layout(n_tiles, G, self.bits, self.bits_low, tile_low, n_low)
        codes = torch.from_numpy(reader.read(total, 8).astype(np.uint8))
        packed = TAHPacked(
            codes=codes, zero=zero, scale=scale, flags=flags, pivots=pivots, tile_low=tile_low, code_offsets=offsets,
            token_low=map_bits.reshape(shape[:-1]) if self.allocation == "token" else None, shape=shape,
            dtype=torch.float32, tile_size=G, bits=self.bits, bits_low=self.bits_low, allocation=self.allocation,
        )
        return tah_dequantize(packed, impl="torch").float()

    def code_bits(self, shape: Sequence[int]) -> int:
        """Bits of the codes alone (the kernel's `low_count` decides how many tokens/tiles are low precision)."""
        from kernels.tah_quant import low_count

        n, C = _numel(shape), int(shape[-1])
        if self.allocation == "uniform" or self.bits_low == self.bits:
            return n * self.bits
        if self.allocation == "token":
            S = int(shape[-2])
            n_low = low_count(S, self.high_fraction) * (n // (S * C)) * C
        else:
            n_low = low_count(C // self.tile_size, self.high_fraction) * (n // C) * self.tile_size
        return n_low * self.bits_low + (n - n_low) * self.bits

    def payload_bytes(self, shape: Sequence[int]) -> int:
        """The authors' fixed send buffer: every tile counted as flagged (a real payload is never larger)."""
        if _numel(shape) == 0:
            return 0
        n_tiles = _numel(shape) // self.tile_size
        meta = self._map_count(shape) + n_tiles * (33 + self._pivot_bits)
        return -(-(self.code_bits(shape) + meta) // 8)


# -------------------------------------------------------------------------------------------------- registry
CODECS: dict[str, Callable[..., Any]] = {
    "none": NoneCodec,
    "uniform_tensor": UniformTensorCodec,
    "uniform_tile": UniformTileCodec,
    "fixpoint": FixpointCodec,
    "tahquant": TAHQuantCodec,
}


def make_codec(name: str, **params: Any) -> ActivationCodec:
    """Build codec ``name`` (`CODECS`) with ``params``; unknown names or parameters raise ValueError."""
    if name not in CODECS:
        raise ValueError(f"unknown activation codec {name!r}; known: {', '.join(CODECS)}")
    try:
        return CODECS[name](**params)
    except TypeError as err:
        raise ValueError(f"codec {name}: {err}") from None
