"""The fast emulator: batched runs of a program, every layer's outputs, and streaming runs.

Ideal mode is bit-exact (see :mod:`wtmkws.firmware_model.datapath` for how BLAS is used exactly).
With a :class:`~wtmkws.firmware_model.noise.NonIdealChip` the accumulation step of every array
layer is replaced by the chip's perturbed accumulation; everything else is unchanged.

STREAM programs: :func:`run` takes ``(T, input_width)`` codes and returns ``T - delay`` output
frames (``delay`` = :func:`~wtmkws.firmware_model.validate.stream_delay_frames`);
:class:`StreamingEmulator` gives the same frames one at a time, keeping a ring buffer per TDNN
layer. WINDOW programs: :func:`run` takes ``(N, input_frames, input_width)`` (or one window).

Prepared per-program plans are cached by program identity; programs are immutable, so do not
modify a program's arrays in place after running it.
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from wtmkws.firmware_model import datapath as dp
from wtmkws.firmware_model.program import (
    INPUT,
    Activate,
    Add,
    Argmax,
    ArrayLayer,
    Concat,
    LayerKind,
    Pool,
    Program,
    ProgramError,
    ProgramMode,
    Rescale,
)
from wtmkws.firmware_model.spec import ChipSpec
from wtmkws.firmware_model.validate import TensorInfo, analyze_program

if TYPE_CHECKING:
    from wtmkws.firmware_model.noise import NonIdealChip

__all__ = ["run", "run_layers", "StreamingEmulator", "check_codes"]


@dataclass
class _Plan:
    program: Program
    spec: ChipSpec
    infos: dict[str, TensorInfo]
    matmuls: dict[str, dp.ExactMatmul]
    tables: dict[str, np.ndarray]


_PLANS: "weakref.WeakKeyDictionary[Program, _Plan]" = weakref.WeakKeyDictionary()


def _plan(program: Program) -> _Plan:
    plan = _PLANS.get(program)
    if plan is not None:
        return plan
    infos = analyze_program(program)
    spec = program.spec
    matmuls = {}
    tables = {}
    for op in program.ops:
        if isinstance(op, ArrayLayer):
            matmuls[op.name] = dp.ExactMatmul.build(op.weights, op.bias_values(spec), spec.input_code_max)
        if getattr(op, "table", None) is not None:
            tables[op.name] = op.table.astype(np.int32)
    plan = _Plan(program=program, spec=spec, infos=infos, matmuls=matmuls, tables=tables)
    _PLANS[program] = plan
    return plan


def check_codes(program: Program, codes: Any) -> np.ndarray:
    """Check input codes and return them as int32 with a batch axis for WINDOW programs.

    Args:
        program: the program.
        codes: STREAM (T, input_width); WINDOW (N, input_frames, input_width) or
            (input_frames, input_width). Integer dtype, values 0..255.

    Returns:
        int32 array: (T, W) for STREAM, (N, frames, W) for WINDOW.

    Raises:
        ProgramError: wrong dtype kind, shape, width, or codes outside the input code range.
    """
    spec = program.spec
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise ProgramError(f"input codes have dtype {arr.dtype}; expected integer codes "
                           f"{spec.input_code_min}..{spec.input_code_max} (uint8)",
                           hint="quantize features to uint8 input codes first")
    want = "(T, width)" if program.mode is ProgramMode.STREAM else "(N, frames, width) or (frames, width)"
    ok_ndim = (2,) if program.mode is ProgramMode.STREAM else (2, 3)
    if arr.ndim not in ok_ndim:
        raise ProgramError(f"input codes have shape {arr.shape}; program {program.name!r} expects {want}")
    if arr.shape[-1] != program.input_width:
        raise ProgramError(f"input codes are {arr.shape[-1]} wide; program {program.name!r} expects "
                           f"{program.input_width} codes per frame")
    if program.mode is ProgramMode.WINDOW and arr.shape[-2] != program.input_frames:
        raise ProgramError(f"input windows have {arr.shape[-2]} frames; program {program.name!r} "
                           f"expects {program.input_frames}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < spec.input_code_min or hi > spec.input_code_max:
            bad = lo if lo < spec.input_code_min else hi
            raise ProgramError(f"input code {bad} outside {spec.input_code_min}..{spec.input_code_max}",
                               hint="input codes are uint8")
    arr = arr.astype(np.int32)
    if program.mode is ProgramMode.WINDOW and arr.ndim == 2:
        arr = arr[None]
    return arr


def _layer_positions(layer: ArrayLayer, src: np.ndarray, mode: ProgramMode, spec: ChipSpec
                     ) -> tuple[np.ndarray, tuple[int, ...], int]:
    """Codes (P, rows) for a batch, the output shape before the channel axis, and positions/index."""
    if mode is ProgramMode.STREAM:
        x = dp.transform_codes(src, layer.transform, spec)
        if layer.kind is LayerKind.TDNN:
            x = dp.gather_context(x, tuple(layer.context))
        return x, (x.shape[0],), 1
    n = src.shape[0]
    if layer.kind is LayerKind.CONV2D:
        assert layer.conv is not None
        x = dp.transform_codes(src, layer.transform, spec)
        cols = dp.im2col(x, layer.conv)
        oh, ow = cols.shape[1], cols.shape[2]
        return cols.reshape(n * oh * ow, cols.shape[3]), (n, oh, ow), oh * ow
    x = dp.transform_codes(src.reshape(n, -1), layer.transform, spec)
    return x, (n,), 1


def _forward_all(program: Program, codes: np.ndarray, nonideal: "NonIdealChip | None",
                 frame_offset: int = 0) -> dict[str, np.ndarray]:
    plan = _plan(program)
    spec = plan.spec
    mode = program.mode
    if nonideal is not None:
        nonideal.check_program(program)
    vals: dict[str, np.ndarray] = {}
    if mode is ProgramMode.STREAM:
        vals[INPUT] = codes
    else:
        vals[INPUT] = codes[..., None]  # (N, H, W, 1)
    infos = plan.infos

    def aligned(name: str, out_delay: int) -> np.ndarray:
        v = vals[name]
        if mode is ProgramMode.STREAM:
            lead = out_delay - infos[name].delay
            if lead:
                return v[lead:]
        return v

    for op in program.ops:
        d = infos[op.name].delay
        if isinstance(op, ArrayLayer):
            src = vals[op.inputs[0]]
            x, lead_shape, per_index = _layer_positions(op, src, mode, spec)
            if nonideal is None:
                acc = plan.matmuls[op.name](x)
            else:
                n_idx = x.shape[0] // per_index if per_index else 0
                acc = nonideal.accumulate(op.name, x, frame_offset + np.arange(n_idx), per_index)
            y = dp.shift_saturate(acc, op.shift, spec)
            y = dp.apply_activation(y, op.activation, plan.tables.get(op.name))
            out = y.reshape(lead_shape + (op.n_outputs,))
        elif isinstance(op, Activate):
            out = dp.apply_activation(vals[op.inputs[0]], op.activation, plan.tables.get(op.name))
        elif isinstance(op, Rescale):
            out = dp.affine_requantize(vals[op.inputs[0]], op.multiplier, op.offset, op.shift, spec)
        elif isinstance(op, Add):
            out = dp.add_op(aligned(op.inputs[0], d), aligned(op.inputs[1], d), op.mult_a, op.mult_b,
                            op.offset, op.shift, spec)
        elif isinstance(op, Concat):
            out = dp.concat_op([aligned(s, d) for s in op.inputs])
        elif isinstance(op, Pool):
            out = dp.pool_op(vals[op.inputs[0]], kind=op.kind, pool_h=op.pool_h, pool_w=op.pool_w,
                             stride_h=op.stride_h, stride_w=op.stride_w, multiplier=op.multiplier,
                             offset=op.offset, shift=op.shift, spec=spec)
        elif isinstance(op, Argmax):
            out = dp.argmax_op(vals[op.inputs[0]])
        else:  # pragma: no cover - validate_program refuses unknown ops
            raise ProgramError(f"unknown op type {type(op).__name__}")
        vals[op.name] = out
    return vals


def _finish(program: Program, name: str, v: np.ndarray, single: bool, infos: dict[str, TensorInfo]) -> np.ndarray:
    out = v.astype(np.int64) if infos[name].is_index else v.astype(np.int8)
    return out[0] if single else out


def run_layers(program: Program, codes: np.ndarray, *, nonideal: "NonIdealChip | None" = None,
               frame_offset: int = 0) -> dict[str, np.ndarray]:
    """Run a program and return every op's output.

    Args:
        program: the program (validated on first use).
        codes: STREAM (T, input_width) uint8; WINDOW (N, input_frames, input_width) or one window
            (input_frames, input_width).
        nonideal: a simulated chip instance for the non-ideal mode, or None for the exact model.
        frame_offset: non-ideal mode only: global index of this run's first output frame (STREAM;
            every layer's output j is frame ``frame_offset + j``) or first window (WINDOW), so that
            read noise, a function of (seed, layer, frame index), makes a run split into blocks
            equal one long run (and the streaming emulator).

    Returns:
        ``{op name: output}`` in execution order. STREAM: (T_k, C) int8 where T_k = T - delay_k
        (an Argmax gives (T_k,) int64). WINDOW: (N, ...) per-window shapes (no batch axis for a
        single window input).

    Raises:
        ProgramError: invalid program, or bad codes (dtype kind, width, range).
    """
    arr = check_codes(program, codes)
    single = program.mode is ProgramMode.WINDOW and np.ndim(codes) == 2
    vals = _forward_all(program, arr, nonideal, frame_offset)
    infos = _plan(program).infos
    return {op.name: _finish(program, op.name, vals[op.name], single, infos) for op in program.ops}


def run(program: Program, codes: np.ndarray, *, nonideal: "NonIdealChip | None" = None,
        frame_offset: int = 0) -> np.ndarray:
    """Run a program on input codes and return its output.

    Args:
        program: the program.
        codes: STREAM (T, input_width) uint8 -> (T - delay, n_out) int8; WINDOW
            (N, input_frames, input_width) -> (N, n_out) int8, or (input_frames, input_width) ->
            (n_out,). An Argmax last op gives int64 indices instead of the channel axis.
        nonideal: a simulated chip instance, or None for the exact model.
        frame_offset: non-ideal mode only: global index of this run's first output frame (STREAM;
            every layer's output j is frame ``frame_offset + j``) or first window (WINDOW), so that
            read noise, a function of (seed, layer, frame index), makes a run split into blocks
            equal one long run (and the streaming emulator).

    Returns:
        The program output (see ``codes``).

    Raises:
        ProgramError: invalid program, or bad codes.
    """
    arr = check_codes(program, codes)
    single = program.mode is ProgramMode.WINDOW and np.ndim(codes) == 2
    vals = _forward_all(program, arr, nonideal, frame_offset)
    name = program.output_name
    return _finish(program, name, vals[name], single, _plan(program).infos)


class StreamingEmulator:
    """Frame-by-frame runner of a STREAM program (TDNN ring buffers); identical to :func:`run`.

    Args:
        program: a STREAM program.
        nonideal: a simulated chip instance, or None. Read noise is a function of (seed, layer,
            frame index), so streaming and batch runs agree in non-ideal mode too.

    Raises:
        ProgramError: not a STREAM program, or invalid.
    """

    def __init__(self, program: Program, *, nonideal: "NonIdealChip | None" = None) -> None:
        if program.mode is not ProgramMode.STREAM:
            raise ProgramError(f"program {program.name!r} is a WINDOW program; streaming needs STREAM",
                               hint="run WINDOW programs with emulator.run on each window")
        self.program = program
        self.nonideal = nonideal
        self._plan = _plan(program)
        if nonideal is not None:
            nonideal.check_program(program)
        self._spans = {op.name: max(op.context) - min(op.context) for op in program.array_layers}
        self.reset()

    @property
    def delay_frames(self) -> int:
        """Output frame k is emitted when input frame k + delay_frames is pushed."""
        return self._plan.infos[self.program.output_name].delay

    @property
    def frames_pushed(self) -> int:
        """Input frames pushed since the last reset."""
        return self._t

    def reset(self) -> None:
        """Forget all past frames (ring buffers and frame counters)."""
        self._t = 0
        self._buffers: dict[str, deque[np.ndarray]] = {
            name: deque(maxlen=span + 1) for name, span in self._spans.items()}
        self._emitted: dict[str, int] = {name: 0 for name in self._spans}

    def _step(self, frame: np.ndarray) -> np.ndarray | None:
        spec = self._plan.spec
        vals: dict[str, np.ndarray | None] = {INPUT: frame}
        for op in self.program.ops:
            srcs = [vals[s] for s in op.inputs]
            if any(s is None for s in srcs):
                vals[op.name] = None
                continue
            src = srcs[0]
            if isinstance(op, ArrayLayer):
                buf = self._buffers[op.name]
                buf.append(dp.transform_codes(src, op.transform, spec))
                span = self._spans[op.name]
                if len(buf) < span + 1:
                    vals[op.name] = None
                    continue
                cmin = min(op.context)
                x = np.concatenate([buf[c - cmin] for c in op.context])[None, :]
                if self.nonideal is None:
                    acc = self._plan.matmuls[op.name](x)
                else:
                    k = self._emitted[op.name]
                    acc = self.nonideal.accumulate(op.name, x, np.array([k]), 1)
                self._emitted[op.name] += 1
                y = dp.shift_saturate(acc, op.shift, spec)
                vals[op.name] = dp.apply_activation(y, op.activation, self._plan.tables.get(op.name))[0]
            elif isinstance(op, Activate):
                vals[op.name] = dp.apply_activation(src, op.activation, self._plan.tables.get(op.name))
            elif isinstance(op, Rescale):
                vals[op.name] = dp.affine_requantize(src, op.multiplier, op.offset, op.shift, spec)
            elif isinstance(op, Add):
                vals[op.name] = dp.add_op(srcs[0], srcs[1], op.mult_a, op.mult_b, op.offset, op.shift, spec)
            elif isinstance(op, Concat):
                vals[op.name] = dp.concat_op(srcs)  # type: ignore[arg-type]
            elif isinstance(op, Argmax):
                vals[op.name] = dp.argmax_op(src)
            else:  # pragma: no cover - STREAM programs have no Pool
                raise ProgramError(f"op {op.name!r} cannot stream")
        return vals[self.program.output_name]

    def push(self, frame: np.ndarray) -> np.ndarray | None:
        """Push one input frame.

        Args:
            frame: (input_width,) uint8 codes.

        Returns:
            (n_out,) int8 output frame when one is ready (an int64 scalar array for Argmax), else
            None (during the first ``delay_frames`` frames).

        Raises:
            ProgramError: bad codes.
        """
        arr = check_codes(self.program, np.asarray(frame)[None, :] if np.ndim(frame) == 1 else frame)
        if arr.shape[0] != 1:
            raise ProgramError(f"push takes one frame of shape ({self.program.input_width},), "
                               f"got {np.shape(frame)}", hint="use push_many for several frames")
        out = self._step(arr[0])
        self._t += 1
        if out is None:
            return None
        is_index = self._plan.infos[self.program.output_name].is_index
        return np.asarray(out, dtype=np.int64 if is_index else np.int8)

    def push_many(self, frames: np.ndarray) -> np.ndarray:
        """Push several frames.

        Args:
            frames: (k, input_width) uint8 codes.

        Returns:
            (j, n_out) int8 output frames that became ready (j <= k); (j,) int64 for Argmax.
        """
        arr = check_codes(self.program, frames)
        outs = []
        for row in arr:
            out = self._step(row)
            self._t += 1
            if out is not None:
                outs.append(out)
        info = self._plan.infos[self.program.output_name]
        dtype = np.int64 if info.is_index else np.int8
        if not outs:
            return np.zeros((0,) + info.shape, dtype=dtype)
        return np.stack(outs).astype(dtype)
