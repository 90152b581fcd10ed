"""An independent, plain per-element reference of the ideal arithmetic (slow; for tests).

Written straight from ``docs/chip-model.md`` and the :mod:`~wtmkws.firmware_model.program`
docstring with Python integers and explicit loops; it does not use
:mod:`~wtmkws.firmware_model.datapath` or the emulator, so agreeing with them is evidence that both
are right. Use small programs: every multiply-accumulate is a Python operation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wtmkws.firmware_model.program import (
    INPUT,
    Activate,
    Activation,
    Add,
    Argmax,
    ArrayLayer,
    Concat,
    InputMode,
    LayerKind,
    Pool,
    Program,
    ProgramMode,
    Rescale,
)
from wtmkws.firmware_model.spec import ChipSpec

__all__ = ["reference_run", "reference_run_layers"]


def _sat(v: int, spec: ChipSpec) -> int:
    if v < spec.output_min:
        return spec.output_min
    if v > spec.output_max:
        return spec.output_max
    return v


def _codes(values: list[int], layer: ArrayLayer, spec: ChipSpec) -> list[int]:
    mode = layer.transform.mode
    scale = 2 ** layer.transform.magnify
    top = spec.input_code_max
    if mode is InputMode.DIRECT:
        return [min(v * scale, top) for v in values]
    if mode is InputMode.OFFSET:
        return [v + 128 for v in values]
    pos = [min(v * scale, top) if v > 0 else 0 for v in values]
    neg = [min(-v * scale, top) if v < 0 else 0 for v in values]
    return pos + neg


def _activate(y: int, activation: Activation, table: Any) -> int:
    if activation is Activation.RELU:
        return y if y > 0 else 0
    if activation is Activation.TABLE:
        return int(table[y % 256])
    return y


def _array(x: list[int], layer: ArrayLayer, spec: ChipSpec) -> list[int]:
    w = layer.weights.tolist()
    bias_cells = layer.bias_cells.tolist()
    table = None if layer.table is None else layer.table.tolist()
    assert len(x) == len(w), (len(x), len(w))
    out = []
    for j in range(layer.n_outputs):
        acc = 0
        for i in range(len(x)):
            acc += x[i] * w[i][j]
        for r in range(len(bias_cells)):
            acc += spec.bias_input_code * bias_cells[r][j]
        y = _sat(acc // (2 ** layer.shift), spec)
        out.append(_activate(y, layer.activation, table))
    return out


def _elementwise(t: Any, f: Any) -> Any:
    if isinstance(t, list):
        return [_elementwise(e, f) for e in t]
    return f(t)


def _zip2(a: Any, b: Any, f: Any) -> Any:
    if isinstance(a, list):
        return [_zip2(x, y, f) for x, y in zip(a, b)]
    return f(a, b)


def _concat_last(parts: list[Any]) -> Any:
    if isinstance(parts[0][0], list):
        return [_concat_last([p[i] for p in parts]) for i in range(len(parts[0]))]
    out: list[int] = []
    for p in parts:
        out.extend(p)
    return out


def _argmax_last(t: Any) -> Any:
    if isinstance(t[0], list):
        return [_argmax_last(e) for e in t]
    best = 0
    for i in range(1, len(t)):
        if t[i] > t[best]:
            best = i
    return best


def _flatten(t: Any) -> list[int]:
    if isinstance(t, list):
        out: list[int] = []
        for e in t:
            out.extend(_flatten(e))
        return out
    return [t]


def _digital(op: Any, srcs: list[Any], spec: ChipSpec) -> Any:
    if isinstance(op, Activate):
        table = None if op.table is None else op.table.tolist()
        return _elementwise(srcs[0], lambda v: _activate(v, op.activation, table))
    if isinstance(op, Rescale):
        return _elementwise(srcs[0], lambda v: _sat((v * op.multiplier + op.offset) // 2 ** op.shift, spec))
    if isinstance(op, Add):
        return _zip2(srcs[0], srcs[1],
                     lambda a, b: _sat((a * op.mult_a + b * op.mult_b + op.offset) // 2 ** op.shift, spec))
    if isinstance(op, Concat):
        return _concat_last(srcs)
    if isinstance(op, Argmax):
        return _argmax_last(srcs[0])
    raise AssertionError(f"unexpected op {op!r}")


def _run_stream(program: Program, codes: np.ndarray, spec: ChipSpec) -> dict[str, list]:
    frames: dict[str, list] = {INPUT: [[int(v) for v in row] for row in codes]}
    delay: dict[str, int] = {INPUT: 0}
    for op in program.ops:
        if isinstance(op, ArrayLayer):
            src = frames[op.inputs[0]]
            tf = [_codes(f, op, spec) for f in src]
            first = min(op.context)
            span = max(op.context) - first
            out = []
            for k in range(len(tf) - span):
                x: list[int] = []
                for c in op.context:
                    x.extend(tf[k + c - first])
                out.append(_array(x, op, spec))
            frames[op.name] = out
            delay[op.name] = delay[op.inputs[0]] + (span if op.kind is LayerKind.TDNN else 0)
            continue
        d = max(delay[s] for s in op.inputs)
        n = min(len(frames[s]) for s in op.inputs)
        out = []
        for k in range(n):
            per = [frames[s][k + d - delay[s]] for s in op.inputs]
            out.append(_digital(op, per, spec))
        frames[op.name] = out
        delay[op.name] = d
    return frames


def _conv(src: list, op: ArrayLayer, spec: ChipSpec) -> list:
    g = op.conv
    assert g is not None
    h, w, c = len(src), len(src[0]), len(src[0][0])
    oh = (h + g.pad_top + g.pad_bottom - g.kernel_h) // g.stride_h + 1
    ow = (w + g.pad_left + g.pad_right - g.kernel_w) // g.stride_w + 1
    width = c * op.transform.row_factor
    out = []
    for oy in range(oh):
        row = []
        for ox in range(ow):
            x: list[int] = []
            for ky in range(g.kernel_h):
                for kx in range(g.kernel_w):
                    iy = oy * g.stride_h + ky - g.pad_top
                    ix = ox * g.stride_w + kx - g.pad_left
                    if 0 <= iy < h and 0 <= ix < w:
                        x.extend(_codes(src[iy][ix], op, spec))
                    else:
                        x.extend([g.pad_code] * width)
            row.append(_array(x, op, spec))
        out.append(row)
    return out


def _pool(src: list, op: Pool, spec: ChipSpec) -> list:
    h, w, c = len(src), len(src[0]), len(src[0][0])
    oh = (h - op.pool_h) // op.stride_h + 1
    ow = (w - op.pool_w) // op.stride_w + 1
    out = []
    for oy in range(oh):
        row = []
        for ox in range(ow):
            vec = []
            for ch in range(c):
                vals = [src[oy * op.stride_h + dy][ox * op.stride_w + dx][ch]
                        for dy in range(op.pool_h) for dx in range(op.pool_w)]
                if op.kind == "max":
                    vec.append(max(vals))
                else:
                    vec.append(_sat((sum(vals) * op.multiplier + op.offset) // 2 ** op.shift, spec))
            row.append(vec)
        out.append(row)
    return out


def _run_window(program: Program, window: np.ndarray, spec: ChipSpec) -> dict[str, Any]:
    t: dict[str, Any] = {INPUT: [[[int(v)] for v in row] for row in window]}
    for op in program.ops:
        srcs = [t[s] for s in op.inputs]
        if isinstance(op, ArrayLayer):
            if op.kind is LayerKind.CONV2D:
                t[op.name] = _conv(srcs[0], op, spec)
            else:
                t[op.name] = _array(_codes(_flatten(srcs[0]), op, spec), op, spec)
        elif isinstance(op, Pool):
            t[op.name] = _pool(srcs[0], op, spec)
        else:
            t[op.name] = _digital(op, srcs, spec)
    return t


def reference_run_layers(program: Program, codes: np.ndarray) -> dict[str, np.ndarray]:
    """Every op's output, computed element by element (ideal mode only).

    Args:
        program: a valid program (not validated here).
        codes: STREAM (T, input_width); WINDOW (N, input_frames, input_width) or one window.

    Returns:
        ``{op name: array}``, int8 (Argmax: int64), same shapes as
        :func:`wtmkws.firmware_model.emulator.run_layers`.
    """
    spec = program.spec
    codes = np.asarray(codes)
    out: dict[str, np.ndarray] = {}
    if program.mode is ProgramMode.STREAM:
        frames = _run_stream(program, codes, spec)
        for op in program.ops:
            is_idx = isinstance(op, Argmax)
            arr = np.array(frames[op.name], dtype=np.int64 if is_idx else np.int8)
            if arr.size == 0:
                arr = arr.reshape((0,) if is_idx else (0, 0))
            out[op.name] = arr
        return out
    single = codes.ndim == 2
    wins = codes[None] if single else codes
    per = [_run_window(program, win, spec) for win in wins]
    for op in program.ops:
        dtype = np.int64 if isinstance(op, Argmax) else np.int8
        arr = np.array([p[op.name] for p in per], dtype=dtype)
        out[op.name] = arr[0] if single else arr
    return out


def reference_run(program: Program, codes: np.ndarray) -> np.ndarray:
    """The program output, computed element by element (ideal mode only)."""
    return reference_run_layers(program, codes)[program.output_name]
