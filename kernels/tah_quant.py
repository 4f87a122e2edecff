"""TAH-Quant activation codec: tile-wise pivot swap + Hadamard, per-tile 3/4-bit min/scale quantization, packing.

Paper: He, Cao, He, Bai, Yuan, Yuan, "TAH-Quant: Effective Activation Quantization in Pipeline Parallelism over
Slow Network", arXiv 2506.01352 (v1; v2 adds tile-wise bit allocation). Research card
``shared/research/moc_tahquant.md`` B2, B9, D2.

Idea: cut each token's channels into tiles of G (default 64). A tile whose largest |value| is at least twice the
second largest gets its outlier swapped to index 0 and a normalized Sylvester Hadamard transform: column 0 of H
is all ones, so the outlier becomes a constant shift that costs nothing under min/max quantization. Each tile is
then quantized asymmetrically (fp16 zero and scale) to b bits and bit-packed. Entropy-guided allocation gives
the low bit width to the lowest-entropy fraction of tokens (v1) or of each token's tiles (v2).

Our choices where the paper is silent:
- the zero point is rounded DOWN and the scale UP to fp16 before quantizing, so codes never clip and every
  element's error is at most half a step of the stored scale (the paper's code rounds both to nearest);
- rounding is floor(v + 0.5); the pivot is the first index of the largest |value|;
- codes stay in token order (no low-precision-first reordering); a tile's codes start at a byte offset and code
  i occupies bits [i*b, (i+1)*b) of the tile's little-endian bytes (tile bytes = G*b/8, so G % 8 == 0);
- v2 ranks tiles within each token (the card leaves the ranking scope open); v1 ranks tokens within each
  sequence (the second-to-last dimension of x), ties to the lowest index; the low-precision count is the
  authors' ``int(n * (1 - r))`` for both (`low_count`: one fewer than floor(n (1 - r)) when r = 0.8 and n is a
  multiple of 5);
- values must lie inside the fp16 range (|x| < 65504), as the fp16 zero/scale format requires, and so must each
  tile's scale: its range (after the Hadamard, which can widen it up to about sqrt(G) times) over 2^b - 1 levels.
  Here an overflowing scale is inf and the tile decodes to NaN; `methods.pipeline.codecs` refuses such inputs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from kernels.basic_ops import dtype_bytes
from kernels.dispatch import choose_impl, interpreting
from kernels.inputs import device_generator
from kernels.ops import Shape, TimedOp, product_grid, register_op

ALLOCATIONS: tuple[str, ...] = ("uniform", "token", "tile")
#: smallest scale: the smallest positive fp16 subnormal
_TINY_SCALE = 2.0**-24
#: Triton path: tile sizes the tensor-core Hadamard supports
TRITON_TILE_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256)
_TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class TAHPacked:
    """A TAH-Quant encoded activation.

    Attributes:
        codes: uint8 ``[n_code_bytes]``, the packed codes of all tiles (tile order = memory order of x).
        zero, scale: float16 ``[n_tiles]`` per-tile zero point and step.
        flags: bool ``[n_tiles]``, tiles that got pivot swap + Hadamard.
        pivots: uint8 ``[n_tiles]``, swapped index of each tile (meaningful where ``flags``).
        tile_low: bool ``[n_tiles]`` tiles at ``bits_low`` (None when every tile has ``bits``).
        code_offsets: int64 ``[n_tiles]`` byte offset of each tile's codes (None: ``tile * G * bits / 8``).
        token_low: bool ``[..., S]`` v1 token map (1 = low precision), None unless ``allocation == "token"``.
        shape, dtype: of the original activation.
        tile_size, bits, bits_low, allocation: the settings used.
    """

    codes: torch.Tensor
    zero: torch.Tensor
    scale: torch.Tensor
    flags: torch.Tensor
    pivots: torch.Tensor
    tile_low: torch.Tensor | None
    code_offsets: torch.Tensor | None
    token_low: torch.Tensor | None
    shape: tuple[int, ...]
    dtype: torch.dtype
    tile_size: int
    bits: int
    bits_low: int
    allocation: str

    @property
    def n_tiles(self) -> int:
        return self.zero.numel()

    def wire_bits(self) -> int:
        """Exact bits on the wire: codes + fp16 zero and scale per tile + 1 flag bit per tile + ceil(log2 G) bits
        per flagged tile's pivot + the precision map (1 bit per token for v1, per tile for v2)."""
        code_bits = 8 * self.codes.numel()
        meta_bits = 33 * self.n_tiles + math.ceil(math.log2(self.tile_size)) * int(self.flags.sum().item())
        if self.allocation == "token":
            meta_bits += self.token_low.numel()
        elif self.allocation == "tile":
            meta_bits += self.n_tiles
        return code_bits + meta_bits

    @property
    def wire_bytes(self) -> int:
        """`wire_bits` rounded up to whole bytes."""
        return -(-self.wire_bits() // 8)


# ---------------------------------------------------------------------------------------------------------------
# pure helpers (shared by both implementations)


def hadamard_matrix(g: int, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """Normalized Sylvester Hadamard matrix H_g / sqrt(g): symmetric, orthogonal, its own inverse (g a power of 2)."""
    if g < 1 or g & (g - 1):
        raise ValueError(f"Hadamard size must be a power of two, got {g}")
    i = torch.arange(g)
    bits = torch.bitwise_and(i[:, None], i[None, :])
    parity = torch.zeros_like(bits)
    for _ in range(g.bit_length() - 1):
        parity ^= bits & 1
        bits = bits >> 1
    return ((1 - 2 * parity).to(torch.float64) / math.sqrt(g)).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=None)
def _hadamard_cached(g: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """`hadamard_matrix` memoized per (size, dtype, device): hot paths must not rebuild (and copy) it per call."""
    return hadamard_matrix(g, dtype, device)


def _check(x: torch.Tensor, bits: int, bits_low: int, tile_size: int, allocation: str, high_fraction: float) -> None:
    if x.dim() < 1 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor with a channel dimension, got {x.dtype} {tuple(x.shape)}")
    if tile_size < 8 or tile_size > 256 or tile_size & (tile_size - 1):
        raise ValueError(f"tile_size must be a power of two in 8..256, got {tile_size}")
    if x.shape[-1] % tile_size:
        raise ValueError(f"channels ({x.shape[-1]}) must be a multiple of tile_size ({tile_size})")
    if not 1 <= bits_low <= bits <= 8:
        raise ValueError(f"need 1 <= bits_low <= bits <= 8, got bits={bits}, bits_low={bits_low}")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    if allocation == "token" and x.dim() < 2:
        raise ValueError("allocation='token' needs x of shape [..., S, C] (tokens along dim -2)")
    if not 0.0 < high_fraction <= 1.0:
        raise ValueError(f"high_fraction must be in (0, 1], got {high_fraction}")


def _fp16_round_down(v: torch.Tensor) -> torch.Tensor:
    r = v.to(torch.float16)
    bits = r.view(torch.int16).to(torch.int32)
    step = torch.where(bits == 0, torch.full_like(bits, -32767), torch.where(bits < 0, bits + 1, bits - 1))
    return torch.where(r.float() > v, step.to(torch.int16).view(torch.float16), r)


def _fp16_round_up(v: torch.Tensor) -> torch.Tensor:
    r = v.to(torch.float16)
    bits = r.view(torch.int16).to(torch.int32)
    return torch.where(r.float() < v, (bits + 1).to(torch.int16).view(torch.float16), r)


def _row_entropy_ref(rows: torch.Tensor) -> torch.Tensor:
    a = rows.float().abs()
    p = a * (1.0 / (a.sum(-1, keepdim=True) + 1e-30))
    return -(p * torch.log(p + 1e-30)).sum(-1)


def row_entropy(rows: torch.Tensor, *, impl: str | None = None) -> torch.Tensor:
    """Entropy of |row| normalized to a distribution, per row of ``[n, L]`` (natural log; fp32)."""
    if rows.dim() != 2:
        raise ValueError(f"row_entropy expects [n, L], got {tuple(rows.shape)}")
    if choose_impl(impl, rows) == "torch":
        return _row_entropy_ref(rows)
    from kernels._tah_quant_triton import row_entropy_kernel

    rows = rows.contiguous()
    n, L = rows.shape
    out = torch.empty(n, dtype=torch.float32, device=rows.device)
    block_l = min(1 << max(3, (L - 1).bit_length()), 1024)
    block_r = max(1, 4096 // block_l)
    row_entropy_kernel[(-(-n // block_r),)](rows, out, n, L, BLOCK_R=block_r, BLOCK_L=block_l, num_warps=4)
    return out


def low_count(n: int, high_fraction: float) -> int:
    """How many of n get the low bit width: ``int(n * (1 - high_fraction))``, the authors' expression
    (``low_prec_seq_len`` in ``TAHQuantCompressor.compress``), float rounding included.

    In floating point 1 - 0.8 = 0.19999999999999996, so at r = 0.8 every multiple of 5 (checked up to 4096)
    lands just below an integer and is truncated: n = 5, 10, 1000 give 0, 1, 199 low-precision tokens where the
    exact floor(n / 5) gives 1, 2, 200; other n agree (1024 -> 204 both ways). r = 0.9 does the same at multiples
    of 10. We follow the released code.
    """
    return int(n * (1.0 - high_fraction))


def _lowest_fraction(scores: torch.Tensor, n_low: int) -> torch.Tensor:
    """Bool mask of the ``n_low`` lowest scores along the last dim (ties -> lowest index)."""
    low = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if n_low:
        order = torch.argsort(scores, dim=-1, stable=True)[..., :n_low]
        low.scatter_(-1, order, True)
    return low


def allocate_bits(
    x: torch.Tensor, tile_size: int, allocation: str, high_fraction: float, *, impl: str | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Entropy-guided bit allocation: ``(tile_low [n_tiles] bool or None, token_low [..., S] bool or None)``.

    ``token`` (v1): in each sequence the `low_count`(S, high_fraction) lowest-entropy tokens are low precision.
    ``tile`` (v2): in each token the `low_count`(n, high_fraction) lowest-entropy of its n tiles are.
    """
    C = x.shape[-1]
    per_token = C // tile_size
    if allocation == "uniform":
        return None, None
    if allocation == "token":
        entropy = row_entropy(x.reshape(-1, C), impl=impl).reshape(x.shape[:-1])
        token_low = _lowest_fraction(entropy, low_count(x.shape[-2], high_fraction))
        return token_low.reshape(-1).repeat_interleave(per_token), token_low
    entropy = row_entropy(x.reshape(-1, tile_size), impl=impl).reshape(-1, per_token)
    return _lowest_fraction(entropy, low_count(per_token, high_fraction)).reshape(-1), None


def _code_layout(n_tiles: int, tile_size: int, bits: int, bits_low: int, tile_low: torch.Tensor | None, n_low: int):
    """(total code bytes, per-tile byte offsets or None). ``n_low`` is known on the host (no device sync)."""
    hi_bytes, lo_bytes = tile_size * bits // 8, tile_size * bits_low // 8
    total = (n_tiles - n_low) * hi_bytes + n_low * lo_bytes
    if tile_low is None:
        return total, None
    sizes = torch.where(tile_low, lo_bytes, hi_bytes).to(torch.int64)
    return total, torch.cumsum(sizes, 0) - sizes


# ---------------------------------------------------------------------------------------------------------------
# torch reference


def _transform_ref(tiles: torch.Tensor):
    """Outlier test, pivot swap and Hadamard of fp32 tiles [N, G] -> (t, flags, pivots)."""
    G = tiles.shape[1]
    top2 = tiles.abs().topk(min(2, G), dim=1).values
    m1 = top2[:, 0]
    m2 = top2[:, 1] if G > 1 else torch.zeros_like(m1)
    flags = m1 >= 2.0 * m2
    pivots = tiles.abs().argmax(dim=1)  # first index of the maximum
    rows = torch.arange(tiles.shape[0], device=tiles.device)
    swapped = tiles.clone()
    swapped[:, 0] = tiles[rows, pivots]
    swapped[rows, pivots] = tiles[:, 0]
    y = (swapped.double() @ _hadamard_cached(G, torch.float64, str(tiles.device))).float()
    return torch.where(flags[:, None], y, tiles), flags, pivots


def _quantize_ref(t: torch.Tensor, levels: torch.Tensor):
    z16 = _fp16_round_down(t.amin(dim=1))
    zf = z16.float()
    s16 = _fp16_round_up(torch.clamp((t.amax(dim=1) - zf) / levels, min=_TINY_SCALE))
    inv = 1.0 / s16.float()
    q = torch.floor((t - zf[:, None]) * inv[:, None] + 0.5)
    q = torch.minimum(q.clamp(min=0.0), levels[:, None]).to(torch.int64)
    return q, z16, s16


def _pack_ref(q: torch.Tensor, bits_per_tile: torch.Tensor, offsets: torch.Tensor, total: int,
              widths: tuple[int, ...]) -> torch.Tensor:
    """Pack codes [N, G]; ``widths`` are the bit widths that may occur (known on the host: no device sync)."""
    codes = torch.zeros(total, dtype=torch.uint8, device=q.device)
    N, G = q.shape
    for b in sorted(set(widths)):
        sel = bits_per_tile == b
        groups = q[sel].reshape(-1, G // 8, 8)
        words = (groups << (torch.arange(8, device=q.device) * b)).sum(-1)  # int64: up to 64 bits, fields disjoint
        tile_bytes = ((words[..., None] >> (8 * torch.arange(b, device=q.device))) & 0xFF).reshape(-1, G * b // 8)
        index = offsets[sel][:, None] + torch.arange(G * b // 8, device=q.device)
        codes[index] = tile_bytes.to(torch.uint8)
    return codes


def _unpack_ref(codes: torch.Tensor, bits_per_tile: torch.Tensor, offsets: torch.Tensor, G: int,
                widths: tuple[int, ...]) -> torch.Tensor:
    q = torch.zeros((bits_per_tile.numel(), G), dtype=torch.int64, device=codes.device)
    for b in sorted(set(widths)):
        sel = bits_per_tile == b
        index = offsets[sel][:, None] + torch.arange(G * b // 8, device=codes.device)
        tile_bytes = codes[index].to(torch.int64).reshape(-1, G // 8, b)
        words = (tile_bytes << (8 * torch.arange(b, device=codes.device))).sum(-1)
        q[sel] = ((words[..., None] >> (torch.arange(8, device=codes.device) * b)) & ((1 << b) - 1)).reshape(-1, G)
    return q


def _per_tile(packed_bits: int, bits_low: int, tile_low: torch.Tensor | None, n_tiles: int, device) -> torch.Tensor:
    if tile_low is None:
        return torch.full((n_tiles,), packed_bits, dtype=torch.int64, device=device)
    return torch.where(tile_low, bits_low, packed_bits).to(torch.int64)


def _uniform_offsets(n_tiles: int, tile_bytes: int, device) -> torch.Tensor:
    return torch.arange(n_tiles, device=device, dtype=torch.int64) * tile_bytes


def _quantize_tiles_ref(x, bits, bits_low, tile_size, tile_low, total, offsets):
    tiles = x.reshape(-1, tile_size).float()
    n_tiles = tiles.shape[0]
    t, flags, pivots = _transform_ref(tiles)
    b = _per_tile(bits, bits_low, tile_low, n_tiles, x.device)
    q, z16, s16 = _quantize_ref(t, (2.0**b - 1).float())
    offs = offsets if offsets is not None else _uniform_offsets(n_tiles, tile_size * bits // 8, x.device)
    return _pack_ref(q, b, offs, total, (bits, bits_low)), z16, s16, flags, pivots.to(torch.uint8)


def _dequantize_tiles_ref(p: TAHPacked) -> torch.Tensor:
    G, n = p.tile_size, p.n_tiles
    b = _per_tile(p.bits, p.bits_low, p.tile_low, n, p.codes.device)
    offs = p.code_offsets if p.code_offsets is not None else _uniform_offsets(n, G * p.bits // 8, p.codes.device)
    q = _unpack_ref(p.codes, b, offs, G, (p.bits, p.bits_low))
    t = q.float() * p.scale.float()[:, None] + p.zero.float()[:, None]
    y = (t.double() @ _hadamard_cached(G, torch.float64, str(t.device))).float()
    rows = torch.arange(n, device=t.device)
    piv = p.pivots.long()
    out = y.clone()
    out[:, 0] = y[rows, piv]
    out[rows, piv] = y[:, 0]
    return torch.where(p.flags[:, None], out, t).to(p.dtype).reshape(p.shape)


# ---------------------------------------------------------------------------------------------------------------
# Triton launchers


@functools.lru_cache(maxsize=None)
def _hadamard_signs(g: int, device: str) -> torch.Tensor:
    """The +-1 entries of H_g as bf16 on ``device`` (a constant; built once per size and device)."""
    return (hadamard_matrix(g, torch.float64) * math.sqrt(g)).round().to(dtype=torch.bfloat16, device=device)


def _rows_per_program(tile_size: int) -> int:
    return max(16, 4096 // tile_size)


def _quantize_tiles_triton(x, bits, bits_low, tile_size, tile_low, total, offsets):
    from kernels._tah_quant_triton import quantize_kernel

    n_tiles = x.numel() // tile_size
    dev = x.device
    codes = torch.empty(total, dtype=torch.uint8, device=dev)
    zero = torch.empty(n_tiles, dtype=torch.float16, device=dev)
    scale = torch.empty(n_tiles, dtype=torch.float16, device=dev)
    flags = torch.empty(n_tiles, dtype=torch.uint8, device=dev)
    pivots = torch.empty(n_tiles, dtype=torch.uint8, device=dev)
    mixed = tile_low is not None
    low = tile_low.to(torch.uint8) if mixed else flags  # placeholder pointer when unused
    offs = offsets if mixed else zero
    rows = _rows_per_program(tile_size)
    splits = {torch.bfloat16: 1, torch.float16: 2}.get(x.dtype, 3)
    quantize_kernel[(-(-n_tiles // rows),)](
        x, _hadamard_signs(tile_size, str(dev)), codes, zero, scale, flags, pivots, low, offs, n_tiles,
        G=tile_size, ROWS=rows, BITS=bits, BITS_LOW=bits_low, MIXED=mixed, SPLITS=splits,
        SCALE=1.0 / math.sqrt(tile_size), TINY=_TINY_SCALE, F32_DOT=interpreting(), num_warps=4,
    )
    return codes, zero, scale, flags.bool(), pivots


def _dequantize_tiles_triton(p: TAHPacked) -> torch.Tensor:
    from kernels._tah_quant_triton import dequantize_kernel

    n_tiles, G = p.n_tiles, p.tile_size
    out = torch.empty(p.shape, dtype=p.dtype, device=p.codes.device)
    mixed = p.tile_low is not None
    flags = p.flags.to(torch.uint8)
    low = p.tile_low.to(torch.uint8) if mixed else flags
    offs = p.code_offsets if mixed else p.zero
    rows = _rows_per_program(G)
    dequantize_kernel[(-(-n_tiles // rows),)](
        p.codes, _hadamard_signs(G, str(p.codes.device)), p.zero, p.scale, flags, p.pivots, low, offs, out, n_tiles,
        G=G, ROWS=rows, BITS=p.bits, BITS_LOW=p.bits_low, MIXED=mixed, SCALE=1.0 / math.sqrt(G), F32_DOT=interpreting(), num_warps=4,
    )
    return out


def _triton_unsupported(x: torch.Tensor, tile_size: int) -> str | None:
    if tile_size not in TRITON_TILE_SIZES:
        return f"tile_size {tile_size} not in {TRITON_TILE_SIZES}"
    if x.dtype not in _TRITON_DTYPES:
        return f"dtype {x.dtype} not in {_TRITON_DTYPES}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# public API


def tah_quantize(
    x: torch.Tensor,
    *,
    bits: int = 4,
    bits_low: int = 3,
    tile_size: int = 64,
    allocation: str = "uniform",
    high_fraction: float = 0.8,
    impl: str | None = None,
) -> TAHPacked:
    """Encode an activation with TAH-Quant.

    Args:
        x: ``[..., S, C]`` activation (fp32/bf16/fp16), C a multiple of ``tile_size``, |x| inside fp16 range.
        bits: code width of high-precision tiles (and of every tile with ``allocation="uniform"``).
        bits_low: code width of low-precision tiles (``allocation`` "token" or "tile").
        tile_size: channels per tile G (power of two, 8..256; Triton path 16..256).
        allocation: ``"uniform"``, ``"token"`` (v1: lowest-entropy tokens of each sequence get ``bits_low``) or
            ``"tile"`` (v2: lowest-entropy tiles of each token do).
        high_fraction: fraction r of tokens / tiles that keep ``bits``.
        impl: ``None`` (auto), ``"triton"`` or ``"torch"``.

    Returns:
        a `TAHPacked`; `tah_dequantize` inverts it.

    Example::

        packed = tah_quantize(act, bits=4, bits_low=3, allocation="token")
        print(packed.wire_bytes, (tah_dequantize(packed) - act).abs().max())
    """
    _check(x, bits, bits_low, tile_size, allocation, high_fraction)
    chosen = choose_impl(impl, x, unsupported=_triton_unsupported(x, tile_size))
    x = x.contiguous()
    n_tiles = x.numel() // tile_size
    tile_low, token_low = allocate_bits(x, tile_size, allocation, high_fraction, impl=chosen)
    per_token = x.shape[-1] // tile_size
    if allocation == "token":
        n_low = low_count(x.shape[-2], high_fraction) * (x.numel() // (x.shape[-2] * x.shape[-1])) * per_token
    elif allocation == "tile":
        n_low = low_count(per_token, high_fraction) * (x.numel() // x.shape[-1])
    else:
        n_low = 0
    if bits_low == bits:
        tile_low = None  # one width: the uniform layout (the precision map is still counted on the wire)
        n_low = 0
    total, offsets = _code_layout(n_tiles, tile_size, bits, bits_low, tile_low, n_low)
    run = _quantize_tiles_triton if chosen == "triton" else _quantize_tiles_ref
    codes, zero, scale, flags, pivots = run(x, bits, bits_low, tile_size, tile_low, total, offsets)
    return TAHPacked(
        codes=codes, zero=zero, scale=scale, flags=flags, pivots=pivots, tile_low=tile_low, code_offsets=offsets,
        token_low=token_low, shape=tuple(x.shape), dtype=x.dtype, tile_size=tile_size, bits=bits,
        bits_low=bits_low, allocation=allocation,
    )


def tah_dequantize(packed: TAHPacked, *, impl: str | None = None) -> torch.Tensor:
    """Decode a `TAHPacked` back to an activation of its original shape and dtype."""
    chosen = choose_impl(
        impl, packed.codes, unsupported=_triton_unsupported(torch.empty(0, dtype=packed.dtype), packed.tile_size)
    )
    if chosen == "triton":
        return _dequantize_tiles_triton(packed)
    return _dequantize_tiles_ref(packed)


def tile_hadamard_quant_torch(x: torch.Tensor, bits: int = 4, tile_size: int = 64):
    """Baseline: the plain torch way to tile-Hadamard-quantize (no outlier test, no pivot, no packing), written
    lean: one product, one fused min/max pass, in-place arithmetic on the product's output.

    Returns ``(codes uint8 [n_tiles, G], zero [n_tiles], scale [n_tiles])`` in x's dtype.
    """
    levels = 2**bits - 1
    t = x.reshape(-1, tile_size) @ _hadamard_cached(tile_size, x.dtype, str(x.device))
    zero, top = torch.aminmax(t, dim=1, keepdim=True)
    scale = ((top - zero) / levels).clamp_(min=_TINY_SCALE)
    codes = t.sub_(zero).div_(scale).round_().clamp_(0, levels).to(torch.uint8)
    return codes, zero.squeeze(1), scale.squeeze(1)


# ---------------------------------------------------------------------------------------------------------------
# timed ops


def _activation(shape: Shape, dtype: str, device: str, gen: torch.Generator) -> torch.Tensor:
    """A transformer-like activation: Gaussian, plus a few outlier channels and a few massive values."""
    dev_gen = device_generator(gen, device)
    T, C = shape["tokens"], shape["channels"]
    x = torch.randn(T, C, generator=dev_gen, device=device)
    outlier_channels = torch.randint(0, C, (max(1, C // 256),), generator=dev_gen, device=device)
    x[:, outlier_channels] *= 20.0
    return x.to(getattr(torch, dtype))


def _allocation_of(s: Shape) -> str:
    return "uniform" if s["bits_low"] == s["bits"] else ("tile" if s["per_tile"] else "token")


def _quant_inputs(s: Shape, dtype: str, device: str, gen: torch.Generator):
    return _activation(s, dtype, device, gen), s["bits"], s["bits_low"], s["tile"], _allocation_of(s)


def _dequant_inputs(s: Shape, dtype: str, device: str, gen: torch.Generator):
    x, bits, bits_low, tile, allocation = _quant_inputs(s, dtype, device, gen)
    return (tah_quantize(x, bits=bits, bits_low=bits_low, tile_size=tile, allocation=allocation),)


def _code_bits_per_element(s: Shape) -> float:
    if s["bits_low"] == s["bits"]:
        return float(s["bits"])
    return 0.8 * s["bits"] + 0.2 * s["bits_low"]


def _packed_bytes(s: Shape) -> float:
    n = s["tokens"] * s["channels"]
    return n * _code_bits_per_element(s) / 8 + 6.0 * n / s["tile"]  # codes + zero, scale, flag, pivot


def _quant_bytes(s: Shape, dt: str) -> float:
    n = s["tokens"] * s["channels"]
    reads = 1 if s["bits_low"] == s["bits"] else 2  # entropy allocation reads the activation once more
    return reads * n * dtype_bytes(dt) + _packed_bytes(s)


_TAH_COLUMNS = ("tokens", "channels", "tile", "bits", "bits_low", "per_tile")
# Shape grids: full products over the axes that vary (>= 3 values each, so the replay interpolates inside them and
# every row but the corners has a leave-one-out error): tokens x bits_low, where bits_low 4 = bits is the uniform
# codec and 3, 2 are v1 token allocation. Tile 64, 4 bits and v1 allocation (per_tile 0) stay fixed: per_tile is
# a 0/1 switch and cannot have three values (a v2 query falls to the roofline scaled by the measured efficiency).
_TAH_GRID = product_grid(tokens=[1024, 4096, 16384], channels=4096, tile=64, bits=4, bits_low=[2, 3, 4], per_tile=0)
_TAH_QUICK = product_grid(tokens=[64, 128, 256], channels=512, tile=64, bits=4, bits_low=[2, 3, 4], per_tile=0)


def _quantize_impl(impl: str):
    def run(x, bits, bits_low, tile, allocation):
        return tah_quantize(x, bits=bits, bits_low=bits_low, tile_size=tile, allocation=allocation, impl=impl)

    return run


register_op(
    TimedOp(
        name="tah_quantize",
        shape_columns=_TAH_COLUMNS,
        flops=lambda s: 2.0 * s["tokens"] * s["channels"] * s["tile"],  # Hadamard as a product, every tile
        bytes_moved=_quant_bytes,
        grid=_TAH_GRID,
        quick_grid=_TAH_QUICK,
        make_inputs=_quant_inputs,
        impls={
            "triton": _quantize_impl("triton"),
            "torch": _quantize_impl("torch"),
            "torch_tile_hadamard": lambda x, bits, bits_low, tile, allocation: tile_hadamard_quant_torch(x, bits, tile),
        },
        dtypes=("bfloat16",),
        baseline="torch_tile_hadamard",
    )
)

register_op(
    TimedOp(
        name="tah_dequantize",
        shape_columns=_TAH_COLUMNS,
        flops=lambda s: 2.0 * s["tokens"] * s["channels"] * s["tile"],
        bytes_moved=lambda s, dt: _packed_bytes(s) + s["tokens"] * s["channels"] * dtype_bytes(dt),
        grid=_TAH_GRID,
        quick_grid=_TAH_QUICK,
        make_inputs=_dequant_inputs,
        impls={"triton": lambda p: tah_dequantize(p, impl="triton"), "torch": lambda p: tah_dequantize(p, impl="torch")},
        dtypes=("bfloat16",),
    )
)
