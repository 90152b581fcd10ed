"""Vectorized building blocks of the exact integer datapath (shared by the emulators).

Every function here is exact integer arithmetic; floating point is used only where it is provably
exact (integer matrix products whose partial sums stay below 2**24 in float32 or 2**53 in float64;
scaling by powers of two). The semantics are those of ``docs/chip-model.md``:

1. input transform (DIRECT / OFFSET / PN, magnify) -> uint8 codes;
2. position vectors (TDNN context gathering, im2col for CONV2D);
3. ``acc = codes @ W + bias_input_code * sum(bias cells)`` (exact);
4. ``y = clip(floor(acc / 2**g), -128, 127)``;
5. activation (none, ReLU, 256-entry table indexed by ``y & 0xFF``).

Digital ops (Rescale, Add, Concat, Pool, Argmax) are int64 arithmetic with floor shifts.
Integer tensors are carried as int32 arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from wtmkws.firmware_model.program import (
    Activation,
    ArrayLayer,
    ConvGeometry,
    InputMode,
    InputTransform,
)
from wtmkws.firmware_model.spec import ChipSpec

__all__ = [
    "FLOAT32_EXACT_LIMIT",
    "FLOAT64_EXACT_LIMIT",
    "transform_codes",
    "gather_context",
    "im2col",
    "ExactMatmul",
    "shift_saturate",
    "apply_activation",
    "affine_requantize",
    "add_op",
    "concat_op",
    "pool_op",
    "argmax_op",
]

FLOAT32_EXACT_LIMIT = 2**24
"""Integers of magnitude below this are exact in float32 (and so are all sums staying below it)."""
FLOAT64_EXACT_LIMIT = 2**53
"""Integers of magnitude below this are exact in float64."""


def transform_codes(v: np.ndarray, transform: InputTransform, spec: ChipSpec) -> np.ndarray:
    """Turn source values into input codes along the last axis.

    Args:
        v: (..., C) integer source values (uint8 input codes or int8 op outputs).
        transform: the layer's input transform.
        spec: chip spec (input code range).

    Returns:
        (..., C) int32 codes for DIRECT/OFFSET, (..., 2C) for PN ([positive part, negative part]).
    """
    v = v.astype(np.int32, copy=False)
    top = spec.input_code_max
    m = transform.magnify
    if transform.mode is InputMode.DIRECT:
        return np.minimum(v << m, top) if m else np.minimum(v, top)
    if transform.mode is InputMode.OFFSET:
        return v - spec.output_min  # v + 128: int8 -> 0..255
    pos = np.minimum(np.maximum(v, 0) << m, top)
    neg = np.minimum(np.maximum(-v, 0) << m, top)
    return np.concatenate([pos, neg], axis=-1)


def gather_context(codes: np.ndarray, context: tuple[int, ...]) -> np.ndarray:
    """TDNN position vectors: for output frame k, the frames ``k + c - min(context)`` for each c.

    Args:
        codes: (T, C) transformed frames.
        context: offsets in stored order.

    Returns:
        (max(T - span, 0), len(context) * C) with span = max(context) - min(context).
    """
    t, c = codes.shape
    cmin = min(context)
    span = max(context) - cmin
    n = max(t - span, 0)
    if len(context) == 1:
        return codes[:n]
    idx = np.arange(n)[:, None] + (np.asarray(context) - cmin)[None, :]
    return codes[idx].reshape(n, len(context) * c)


def im2col(codes: np.ndarray, geom: ConvGeometry) -> np.ndarray:
    """im2col of transformed codes for a CONV2D layer.

    Args:
        codes: (N, H, W, C') transformed codes (C' = C or 2C for PN).
        geom: conv geometry (kernel, strides, padding, pad code).

    Returns:
        (N, OH, OW, kernel_h * kernel_w * C') position vectors, rows ordered (ky, kx, channel).
    """
    n, h, w, c = codes.shape
    if geom.pad_top or geom.pad_bottom or geom.pad_left or geom.pad_right:
        padded = np.full((n, h + geom.pad_top + geom.pad_bottom, w + geom.pad_left + geom.pad_right, c),
                         geom.pad_code, dtype=codes.dtype)
        padded[:, geom.pad_top:geom.pad_top + h, geom.pad_left:geom.pad_left + w] = codes
    else:
        padded = codes
    oh, ow = geom.out_hw
    win = sliding_window_view(padded, (geom.kernel_h, geom.kernel_w), axis=(1, 2))
    # win: (N, H', W', C', kh, kw) -> take strides, reorder to (N, OH, OW, kh, kw, C')
    win = win[:, : (oh - 1) * geom.stride_h + 1 : geom.stride_h, : (ow - 1) * geom.stride_w + 1 : geom.stride_w]
    win = win.transpose(0, 1, 2, 4, 5, 3)
    return win.reshape(n, oh, ow, geom.kernel_h * geom.kernel_w * c)


@dataclass(frozen=True)
class ExactMatmul:
    """An exact integer product ``codes @ W + bias`` through BLAS.

    The float32 path is used when every partial sum is provably below 2**24 (bound =
    ``max_code * max_j sum_i |W[i, j]| + max |bias|``); otherwise the rows are cut into chunks whose
    float32 products are exact and the chunks are summed in float64 (exact below 2**53).
    """

    chunks: tuple[tuple[int, int, np.ndarray], ...]
    """(row start, row stop, float32 weights) per chunk."""
    bias: np.ndarray
    """(outputs,) float64 or float32 bias."""
    single_f32: bool
    """True when one float32 product plus bias is exact."""

    @classmethod
    def build(cls, weights: np.ndarray, bias: np.ndarray, max_code: int) -> "ExactMatmul":
        """Prepare the product for one layer.

        Args:
            weights: (rows, outputs) int8 cells.
            bias: (outputs,) int64 bias values.
            max_code: largest input code (255).
        """
        w = weights.astype(np.int64)
        absw = np.abs(w)
        bias_max = int(np.abs(bias).max()) if bias.size else 0
        total = max_code * int(absw.sum(axis=0).max()) + bias_max
        assert total < FLOAT64_EXACT_LIMIT, "accumulator bound exceeds float64 exactness"
        if total < FLOAT32_EXACT_LIMIT:
            return cls(chunks=((0, w.shape[0], weights.astype(np.float32)),),
                       bias=bias.astype(np.float32), single_f32=True)
        row_max = max(int(absw.max()), 1) * max_code
        per = max(1, (FLOAT32_EXACT_LIMIT - 1) // row_max)
        chunks = tuple((r, min(r + per, w.shape[0]), np.ascontiguousarray(weights[r:r + per], np.float32))
                       for r in range(0, w.shape[0], per))
        return cls(chunks=chunks, bias=bias.astype(np.float64), single_f32=False)

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        """Compute the exact accumulator.

        Args:
            codes: (P, rows) integer codes 0..max_code.

        Returns:
            (P, outputs) float32/float64 array holding exact integers.
        """
        x = codes.astype(np.float32, copy=False)
        if self.single_f32:
            acc = x @ self.chunks[0][2]
            acc += self.bias
            return acc
        acc = np.zeros((x.shape[0], self.bias.shape[0]), dtype=np.float64)
        for r0, r1, wc in self.chunks:
            acc += x[:, r0:r1] @ wc
        acc += self.bias
        return acc


def shift_saturate(acc: np.ndarray, shift: int, spec: ChipSpec) -> np.ndarray:
    """``clip(floor(acc / 2**shift), output_min, output_max)`` as int32.

    Args:
        acc: accumulator values (float arrays must hold exact integers or, in non-ideal mode,
            exact dyadic values; int arrays are shifted arithmetically).
        shift: g.
        spec: chip spec (output range).
    """
    if acc.dtype.kind in "iu":
        y = acc.astype(np.int64) >> shift
    else:
        y = np.floor(acc * (2.0 ** -shift))
    return np.clip(y, spec.output_min, spec.output_max).astype(np.int32)


def apply_activation(y: np.ndarray, activation: Activation, table: np.ndarray | None) -> np.ndarray:
    """Digital activation on int values.

    Args:
        y: integer array (int8 range for RELU, any integer for TABLE: index ``y & 0xFF``).
        activation: NONE, RELU or TABLE.
        table: (256,) int8 for TABLE.

    Returns:
        int32 array, same shape.
    """
    if activation is Activation.NONE:
        return y.astype(np.int32, copy=False)
    if activation is Activation.RELU:
        return np.maximum(y, 0).astype(np.int32, copy=False)
    assert table is not None
    return table.astype(np.int32)[np.bitwise_and(y, 0xFF)]


def affine_requantize(v: np.ndarray, multiplier: int, offset: int, shift: int, spec: ChipSpec) -> np.ndarray:
    """Rescale: ``clip(floor((v * multiplier + offset) / 2**shift), -128, 127)`` in int64.

    Args:
        v: integer array.
        multiplier: integer multiplier.
        offset: integer offset.
        shift: right shift (floor).
        spec: chip spec (output range).
    """
    r = (v.astype(np.int64) * int(multiplier) + int(offset)) >> int(shift)
    return np.clip(r, spec.output_min, spec.output_max).astype(np.int32)


def add_op(a: np.ndarray, b: np.ndarray, mult_a: int, mult_b: int, offset: int, shift: int,
           spec: ChipSpec) -> np.ndarray:
    """Add: ``clip(floor((a*mult_a + b*mult_b + offset) / 2**shift), -128, 127)`` in int64."""
    r = (a.astype(np.int64) * int(mult_a) + b.astype(np.int64) * int(mult_b) + int(offset)) >> int(shift)
    return np.clip(r, spec.output_min, spec.output_max).astype(np.int32)


def concat_op(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate along the last axis."""
    return np.concatenate([p.astype(np.int32, copy=False) for p in parts], axis=-1)


def pool_op(v: np.ndarray, *, kind: str, pool_h: int, pool_w: int, stride_h: int, stride_w: int,
            multiplier: int, offset: int, shift: int, spec: ChipSpec) -> np.ndarray:
    """2-D pooling without padding over axes (1, 2) of (N, H, W, C).

    max: window maximum. avg: ``clip(floor((sum * multiplier + offset) / 2**shift), -128, 127)``.

    Returns:
        (N, OH, OW, C) int32.
    """
    win = sliding_window_view(v, (pool_h, pool_w), axis=(1, 2))[:, ::stride_h, ::stride_w]
    if kind == "max":
        return win.max(axis=(-2, -1)).astype(np.int32)
    s = win.astype(np.int64).sum(axis=(-2, -1))
    return affine_requantize(s, multiplier, offset, shift, spec)


def argmax_op(v: np.ndarray) -> np.ndarray:
    """Argmax over the last axis, ties to the lowest index; int64."""
    return np.argmax(v, axis=-1).astype(np.int64)


def layer_bias(layer: ArrayLayer, spec: ChipSpec) -> np.ndarray:
    """(outputs,) int64 bias of an array layer (bias_input_code * sum of bias cells)."""
    return layer.bias_values(spec)
