"""Static checks of a :class:`~wtmkws.firmware_model.program.Program` and its tensor shapes.

:func:`validate_program` refuses anything the chip (or the emulator) cannot run, with a one-line
:class:`~wtmkws.firmware_model.program.ProgramError` naming the op and the numbers.
:func:`analyze_program` returns, for every tensor, its per-frame (STREAM) or per-window (WINDOW)
shape, its value range and, for STREAM programs, its *delay*: tensor frame ``k`` is computed from
input frames up to ``k + delay`` (so it is ready when input frame ``k + delay`` arrives, and a run
over ``T`` input frames yields ``T - delay`` frames of it).

Alignment rule for multi-source ops in STREAM mode (:class:`Add`, :class:`Concat`): sources are
aligned by the time they become ready (trailing alignment). With delays ``d_a`` and ``d_b`` and
``d = max(d_a, d_b)``, output frame ``k`` combines ``a[k + d - d_a]`` and ``b[k + d - d_b]``; the
output's delay is ``d``. In a streaming run this is simply "combine the newest frame of each source".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from wtmkws.audio_pipeline.errors import WtmkwsError
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
    ProgramError,
    ProgramMode,
    Rescale,
)
from wtmkws.firmware_model.spec import ChipSpec, get_chip

__all__ = [
    "TensorInfo",
    "NAME_PATTERN",
    "analyze_program",
    "validate_program",
    "tensor_shapes",
    "stream_delay_frames",
    "layer_row_count",
]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,127}$"
"""Allowed op names: 1-128 characters of letters, digits, ``_ . : -`` (no slash, no spaces); they
become zip member names in program files."""

_NAME_RE = re.compile(NAME_PATTERN)
_MAX_MULT = 2**31
_MAX_OFFSET = 2**53
_MAX_DIGITAL_SHIFT = 62


@dataclass(frozen=True, kw_only=True)
class TensorInfo:
    """What the validator knows about one tensor."""

    shape: tuple[int, ...]
    """Per-frame shape (STREAM) or per-window shape (WINDOW); () for an Argmax index."""
    lo: int
    """Smallest value the tensor can hold."""
    hi: int
    """Largest value the tensor can hold."""
    delay: int = 0
    """STREAM only: frame k depends on input frames up to k + delay."""
    is_index: bool = False
    """True for an Argmax output (an int index, not int8)."""


def _err(program: Program, message: str, hint: str | None = None) -> ProgramError:
    return ProgramError(f"program {program.name!r}: {message}", hint=hint)


def _floor_shift(v: int, shift: int) -> int:
    return v >> shift


def _clip8(v: int, spec: ChipSpec) -> int:
    return min(max(v, spec.output_min), spec.output_max)


def _affine_range(lo: int, hi: int, mult: int, offset: int, shift: int, spec: ChipSpec) -> tuple[int, int]:
    a = _clip8(_floor_shift(lo * mult + offset, shift), spec)
    b = _clip8(_floor_shift(hi * mult + offset, shift), spec)
    return min(a, b), max(a, b)


def layer_row_count(layer: ArrayLayer, source_shape: tuple[int, ...], mode: ProgramMode) -> int:
    """Logical weight rows an array layer needs for a source of this shape.

    Args:
        layer: the array layer.
        source_shape: per-frame (STREAM) or per-window (WINDOW) shape of its source.
        mode: the program mode.

    Returns:
        Rows: position-vector length x row factor (x context length for TDNN, x kernel area for
        CONV2D).
    """
    rf = layer.transform.row_factor
    if layer.kind is LayerKind.CONV2D:
        assert layer.conv is not None
        return layer.conv.kernel_h * layer.conv.kernel_w * source_shape[-1] * rf
    per = int(np.prod(source_shape)) if mode is ProgramMode.WINDOW else source_shape[-1]
    return per * rf * len(layer.context)


def _check_table(program: Program, where: str, table: object) -> np.ndarray:
    if not isinstance(table, np.ndarray) or table.shape != (256,):
        shape = getattr(table, "shape", None)
        raise _err(program, f"{where}: activation table must be a (256,) int8 array, got shape {shape}")
    if table.dtype != np.int8:
        raise _err(program, f"{where}: activation table has dtype {table.dtype} (expected int8)")
    return table


def _check_int_array(program: Program, where: str, arr: object, lo: int, hi: int, ndim: int) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise _err(program, f"{where} is {type(arr).__name__}, expected a numpy int8 array")
    if arr.ndim != ndim:
        raise _err(program, f"{where} has {arr.ndim} dimensions (expected {ndim})")
    if arr.dtype.kind not in "iu":
        raise _err(program, f"{where} has dtype {arr.dtype} (expected int8)")
    if arr.size:
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise _err(program, f"{where} holds {bad}, outside {lo}..{hi}",
                       hint="weights and bias cells are signed 8-bit cells")
    if arr.dtype != np.int8:
        raise _err(program, f"{where} has dtype {arr.dtype} (expected int8)")
    return arr


def _array_layer(program: Program, op: ArrayLayer, src: TensorInfo, spec: ChipSpec) -> TensorInfo:
    where = f"layer {op.name!r}"
    mode = program.mode
    if not isinstance(op.kind, LayerKind):
        raise _err(program, f"{where}: kind {op.kind!r} is not a LayerKind")
    if mode is ProgramMode.STREAM and op.kind is LayerKind.CONV2D:
        raise _err(program, f"{where}: CONV2D layers need a WINDOW program",
                   hint="use TDNN layers in STREAM programs")
    if mode is ProgramMode.WINDOW and op.kind is LayerKind.TDNN:
        raise _err(program, f"{where}: TDNN layers need a STREAM program",
                   hint="express a window 1-D convolution as CONV2D with kernel_w = input width")
    if src.is_index:
        raise _err(program, f"{where} reads an Argmax index")
    w = _check_int_array(program, f"{where} weights", op.weights, spec.weight_min, spec.weight_max, 2)
    b = _check_int_array(program, f"{where} bias cells", op.bias_cells, spec.weight_min, spec.weight_max, 2)
    if w.shape[0] < 1 or w.shape[1] < 1:
        raise _err(program, f"{where} weights have shape {w.shape} (need at least 1 x 1)")
    if b.shape[1] != w.shape[1]:
        raise _err(program, f"{where} has {b.shape[1]} bias columns for {w.shape[1]} outputs")
    if b.shape[0] > spec.bias_rows_max:
        raise _err(program, f"{where} has {b.shape[0]} bias rows (at most {spec.bias_rows_max})")
    if not isinstance(op.shift, (int, np.integer)) or not spec.shift_min <= op.shift <= spec.shift_max:
        raise _err(program, f"{where} has shift {op.shift} outside {spec.shift_min}..{spec.shift_max}",
                   hint=f"G = 2**g with g in {spec.shift_min}..{spec.shift_max}")
    if not isinstance(op.activation, Activation):
        raise _err(program, f"{where}: activation {op.activation!r} is not an Activation")
    # input transform vs source range
    tm = op.transform.mode
    if tm is InputMode.DIRECT and src.lo < 0:
        raise _err(program, f"{where}: DIRECT input from {op.inputs[0]!r} which can be negative "
                            f"({src.lo}..{src.hi})", hint="use OFFSET or PN input mode for signed sources")
    if tm is InputMode.OFFSET and (src.lo < spec.output_min or src.hi > spec.output_max):
        raise _err(program, f"{where}: OFFSET input from {op.inputs[0]!r} whose range {src.lo}..{src.hi} "
                            f"is not int8", hint="OFFSET mode is for signed int8 sources")
    if tm is InputMode.PN and src.hi > spec.input_code_max << 7:
        raise _err(program, f"{where}: PN input range {src.lo}..{src.hi} too large")
    # geometry
    if op.kind is LayerKind.CONV2D:
        g = op.conv
        if g is None:
            raise _err(program, f"{where}: CONV2D layer without conv geometry")
        if len(src.shape) != 3 or tuple(g.in_shape) != src.shape:
            raise _err(program, f"{where}: conv in_shape {tuple(g.in_shape)} does not match source "
                                f"{op.inputs[0]!r} shape {src.shape}")
        if min(g.kernel_h, g.kernel_w, g.stride_h, g.stride_w) < 1:
            raise _err(program, f"{where}: kernel and strides must be >= 1")
        if min(g.pad_top, g.pad_bottom, g.pad_left, g.pad_right) < 0:
            raise _err(program, f"{where}: negative padding")
        if not spec.input_code_min <= g.pad_code <= spec.input_code_max:
            raise _err(program, f"{where}: pad_code {g.pad_code} outside "
                                f"{spec.input_code_min}..{spec.input_code_max}")
        oh, ow = g.out_hw
        if oh < 1 or ow < 1:
            raise _err(program, f"{where}: kernel {g.kernel_h}x{g.kernel_w} larger than the padded "
                                f"input {src.shape[:2]}")
        if tuple(op.context) != (0,):
            raise _err(program, f"{where}: CONV2D layers take no context")
        out_shape: tuple[int, ...] = (oh, ow, w.shape[1])
    else:
        if op.conv is not None:
            raise _err(program, f"{where}: conv geometry on a {op.kind.value} layer")
        ctx = tuple(op.context)
        if len(ctx) < 1 or len(set(ctx)) != len(ctx) or not all(isinstance(c, (int, np.integer)) for c in ctx):
            raise _err(program, f"{where}: context {ctx} must be distinct integer offsets")
        if op.kind is LayerKind.DENSE and ctx != (0,):
            raise _err(program, f"{where}: DENSE layers use context (0,), got {ctx}")
        if mode is ProgramMode.STREAM and len(src.shape) != 1:
            raise _err(program, f"{where}: source shape {src.shape} is not a frame vector")
        out_shape = (w.shape[1],)
    need = layer_row_count(op, src.shape, mode)
    if w.shape[0] != need:
        raise _err(program, f"{where} has {w.shape[0]} weight rows but its input needs {need} "
                            f"(source {op.inputs[0]!r} shape {src.shape}, {tm.value} mode, "
                            f"context {tuple(op.context)})")
    if op.activation is Activation.TABLE:
        t = _check_table(program, where, op.table)
        lo, hi = int(t.min()), int(t.max())
    elif op.table is not None:
        raise _err(program, f"{where}: a table is given but activation is {op.activation.value}")
    elif op.activation is Activation.RELU:
        lo, hi = 0, spec.output_max
    else:
        lo, hi = spec.output_min, spec.output_max
    delay = src.delay
    if op.kind is LayerKind.TDNN:
        delay += max(op.context) - min(op.context)
    return TensorInfo(shape=out_shape, lo=lo, hi=hi, delay=delay)


def _check_mult(program: Program, where: str, name: str, value: object, limit: int) -> None:
    if not isinstance(value, (int, np.integer)) or abs(int(value)) >= limit:
        raise _err(program, f"{where}: {name}={value} must be an integer with |{name}| < {limit}")


def _check_shift(program: Program, where: str, value: object) -> None:
    if not isinstance(value, (int, np.integer)) or not 0 <= value <= _MAX_DIGITAL_SHIFT:
        raise _err(program, f"{where}: shift={value} outside 0..{_MAX_DIGITAL_SHIFT}")


def analyze_program(program: Program) -> dict[str, TensorInfo]:
    """Validate a program and describe every tensor.

    Args:
        program: the program.

    Returns:
        ``{"input": ..., op name: ...}`` in execution order.

    Raises:
        ProgramError: the first problem found (one line naming the op and the numbers).
    """
    try:
        spec = get_chip(program.chip)
    except WtmkwsError as exc:
        raise _err(program, exc.message, exc.hint) from None
    if not isinstance(program.mode, ProgramMode):
        raise _err(program, f"mode {program.mode!r} is not a ProgramMode")
    if program.input_width < 1 or program.input_frames < 1:
        raise _err(program, f"input {program.input_frames}x{program.input_width} frames x codes is empty")
    if program.mode is ProgramMode.STREAM and program.input_frames != 1:
        raise _err(program, f"STREAM programs take input_frames=1, got {program.input_frames}")
    if not program.ops:
        raise _err(program, "has no operations")
    if program.mode is ProgramMode.STREAM:
        infos = {INPUT: TensorInfo(shape=(program.input_width,), lo=spec.input_code_min,
                                   hi=spec.input_code_max)}
    else:
        infos = {INPUT: TensorInfo(shape=(program.input_frames, program.input_width, 1),
                                   lo=spec.input_code_min, hi=spec.input_code_max)}
    n_layers = 0
    for i, op in enumerate(program.ops):
        name = getattr(op, "name", None)
        if not isinstance(name, str) or not _NAME_RE.match(name) or name == INPUT:
            raise _err(program, f"op {i} has an invalid name {name!r}",
                       hint="names are 1-128 of letters, digits, _ . : - and not 'input'")
        if name in infos:
            raise _err(program, f"op name {name!r} is used twice")
        where = f"op {name!r}"
        inputs = tuple(op.inputs)
        for src in inputs:
            if src not in infos:
                raise _err(program, f"{where} reads {src!r}, which is not an earlier tensor")
        want = {Add: 2, Concat: None}.get(type(op), 1)
        if want is None:
            if len(inputs) < 2:
                raise _err(program, f"{where}: Concat needs two or more sources, got {len(inputs)}")
        elif len(inputs) != want:
            raise _err(program, f"{where} takes {want} source(s), got {len(inputs)}")
        srcs = [infos[s] for s in inputs]
        if any(s.is_index for s in srcs):
            raise _err(program, f"{where} reads an Argmax index")
        s0 = srcs[0]
        if isinstance(op, ArrayLayer):
            n_layers += 1
            info = _array_layer(program, op, s0, spec)
        elif isinstance(op, Activate):
            if op.activation is Activation.RELU:
                if op.table is not None:
                    raise _err(program, f"{where}: RELU takes no table")
                info = TensorInfo(shape=s0.shape, lo=max(s0.lo, 0), hi=max(min(s0.hi, spec.output_max), 0),
                                  delay=s0.delay)
            elif op.activation is Activation.TABLE:
                t = _check_table(program, where, op.table)
                info = TensorInfo(shape=s0.shape, lo=int(t.min()), hi=int(t.max()), delay=s0.delay)
            else:
                raise _err(program, f"{where}: Activate needs RELU or TABLE, got {op.activation!r}")
            if op.activation is Activation.RELU and s0.hi > spec.output_max:
                raise _err(program, f"{where}: RELU on a source with values up to {s0.hi} (not int8)",
                           hint="ReLU is an int8 -> int8 op")
        elif isinstance(op, Rescale):
            _check_mult(program, where, "multiplier", op.multiplier, _MAX_MULT)
            _check_mult(program, where, "offset", op.offset, _MAX_OFFSET)
            _check_shift(program, where, op.shift)
            lo, hi = _affine_range(s0.lo, s0.hi, int(op.multiplier), int(op.offset), int(op.shift), spec)
            info = TensorInfo(shape=s0.shape, lo=lo, hi=hi, delay=s0.delay)
        elif isinstance(op, Add):
            s1 = srcs[1]
            if s0.shape != s1.shape:
                raise _err(program, f"{where} adds shapes {s0.shape} and {s1.shape}")
            _check_mult(program, where, "mult_a", op.mult_a, _MAX_MULT)
            _check_mult(program, where, "mult_b", op.mult_b, _MAX_MULT)
            _check_mult(program, where, "offset", op.offset, _MAX_OFFSET)
            _check_shift(program, where, op.shift)
            a = sorted((s0.lo * op.mult_a, s0.hi * op.mult_a))
            b = sorted((s1.lo * op.mult_b, s1.hi * op.mult_b))
            lo = _clip8(_floor_shift(a[0] + b[0] + op.offset, op.shift), spec)
            hi = _clip8(_floor_shift(a[1] + b[1] + op.offset, op.shift), spec)
            info = TensorInfo(shape=s0.shape, lo=lo, hi=hi, delay=max(s0.delay, s1.delay))
        elif isinstance(op, Concat):
            if any(len(s.shape) != len(s0.shape) or s.shape[:-1] != s0.shape[:-1] for s in srcs):
                raise _err(program, f"{where} concatenates shapes {[s.shape for s in srcs]} "
                                    "(all but the last axis must agree)")
            shape = s0.shape[:-1] + (sum(s.shape[-1] for s in srcs),)
            info = TensorInfo(shape=shape, lo=min(s.lo for s in srcs), hi=max(s.hi for s in srcs),
                              delay=max(s.delay for s in srcs))
        elif isinstance(op, Pool):
            if program.mode is not ProgramMode.WINDOW:
                raise _err(program, f"{where}: Pool needs a WINDOW program")
            if len(s0.shape) != 3:
                raise _err(program, f"{where} pools a tensor of shape {s0.shape} (need H, W, C)")
            if min(op.pool_h, op.pool_w, op.stride_h, op.stride_w) < 1:
                raise _err(program, f"{where}: pool size and strides must be >= 1")
            h, w_, c = s0.shape
            if op.pool_h > h or op.pool_w > w_:
                raise _err(program, f"{where}: pool {op.pool_h}x{op.pool_w} larger than input {h}x{w_}")
            oh = (h - op.pool_h) // op.stride_h + 1
            ow = (w_ - op.pool_w) // op.stride_w + 1
            if op.kind == "max":
                lo, hi = s0.lo, s0.hi
            elif op.kind == "avg":
                _check_mult(program, where, "multiplier", op.multiplier, _MAX_MULT)
                _check_mult(program, where, "offset", op.offset, _MAX_OFFSET)
                _check_shift(program, where, op.shift)
                n = op.pool_h * op.pool_w
                lo, hi = _affine_range(s0.lo * n, s0.hi * n, int(op.multiplier), int(op.offset),
                                       int(op.shift), spec)
            else:
                raise _err(program, f"{where}: pool kind {op.kind!r} is not 'max' or 'avg'")
            info = TensorInfo(shape=(oh, ow, c), lo=lo, hi=hi)
        elif isinstance(op, Argmax):
            if i != len(program.ops) - 1:
                raise _err(program, f"{where}: Argmax must be the last op")
            info = TensorInfo(shape=s0.shape[:-1], lo=0, hi=s0.shape[-1] - 1, delay=s0.delay, is_index=True)
        else:
            raise _err(program, f"op {i} has unknown type {type(op).__name__}")
        if not info.is_index and (info.lo < spec.output_min or info.hi > spec.output_max):
            raise _err(program, f"{where} outputs values {info.lo}..{info.hi}, outside int8 "
                                f"{spec.output_min}..{spec.output_max}",
                       hint="every op outputs int8; rescale the uint8 program input first")
        infos[name] = info
    if n_layers > spec.max_layers:
        raise _err(program, f"has {n_layers} array layers but {spec.name} holds at most {spec.max_layers}",
                   hint="merge or remove layers")
    out = program.ops[-1]
    if program.labels:
        n_out = infos[out.inputs[0]].shape[-1] if isinstance(out, Argmax) else infos[out.name].shape[-1]
        if len(program.labels) != n_out:
            raise _err(program, f"has {len(program.labels)} labels for {n_out} outputs")
    placed = [op.blocks != () for op in program.array_layers]
    if any(placed):
        if not all(placed):
            names = [op.name for op in program.array_layers if not op.blocks]
            raise _err(program, f"is partly placed: layer {names[0]!r} has no blocks",
                       hint="place the whole program with wtmkws.firmware_model.placement.place")
        from wtmkws.firmware_model.placement import check_placement

        check_placement(program)
    return infos


def validate_program(program: Program) -> None:
    """Check a program against its chip spec and the program rules.

    Checks dtypes, value ranges vs ChipSpec, shapes consistent with the input transform, TDNN
    context and conv geometry, names, mode rules, shift range, bias rows, tables, and (if placed)
    the placement.

    Args:
        program: the program.

    Raises:
        ProgramError: the first problem found.
    """
    analyze_program(program)


def tensor_shapes(program: Program) -> dict[str, tuple[int, ...]]:
    """Per-frame (STREAM) or per-window (WINDOW) shape of every tensor, including ``"input"``.

    Args:
        program: the program (validated here).

    Returns:
        Shapes in execution order; an Argmax output has shape ().
    """
    return {k: v.shape for k, v in analyze_program(program).items()}


def stream_delay_frames(program: Program) -> int:
    """STREAM programs: output frame k depends on input frames up to k + delay.

    The output sequence of a run over T input frames is ``max(T - delay, 0)`` frames long, and a
    streaming run emits output frame k when input frame k + delay is pushed. The delay is the
    sum of TDNN context spans along the longest path (see the module docstring for how Add and
    Concat align their sources).

    Args:
        program: a STREAM program.

    Returns:
        The delay in frames (0 for a program of DENSE layers only).

    Raises:
        ProgramError: not a STREAM program, or invalid.
    """
    if program.mode is not ProgramMode.STREAM:
        raise _err(program, "stream_delay_frames needs a STREAM program")
    return analyze_program(program)[program.output_name].delay
