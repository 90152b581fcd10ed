"""Random valid programs for tests and benchmarks (``from programgen import random_program``).

:func:`random_program` builds programs over shapes, shifts, activations (incl. tables), input
modes DIRECT/OFFSET/PN with magnify, TDNN contexts, conv geometries with padding and strides,
pools, add/concat/rescale and an optional final argmax. Every program passes
``validate_program``. :func:`tiny_stream_program` is a fixed small STREAM TDNN/DNN for smoke tests.
:func:`small_spec` is a tiny chip geometry (same value ranges) that forces layer splits in
``place(program, spec=small_spec())`` while staying inside the real chip's bounds.
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
    ConvGeometry,
    InputMode,
    InputTransform,
    LayerKind,
    Pool,
    Program,
    ProgramMode,
    Rescale,
)
from wtmkws.firmware_model.spec import ChipSpec
from wtmkws.firmware_model.validate import TensorInfo, analyze_program

__all__ = ["random_program", "tiny_stream_program", "small_spec", "dense_program", "random_codes"]


def small_spec() -> ChipSpec:
    """A 128 x 256 array (128 reserved columns, region split at 64): layers over ~56 rows split."""
    return ChipSpec(array_rows=128, array_cols=256, reserved_cols=128, row_region_split=64)


def _table(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        return rng.integers(-128, 128, size=256).astype(np.int8)
    # a monotone sigmoid-like table indexed by the two's-complement byte
    y = np.arange(256)
    y = np.where(y >= 128, y - 256, y)
    return np.clip(np.round(127 * np.tanh(y / 32.0)), -128, 127).astype(np.int8)


def _transform(rng: np.random.Generator, src: TensorInfo) -> InputTransform:
    if src.lo >= 0:
        if rng.random() < 0.2:
            return InputTransform(mode=InputMode.PN, magnify=int(rng.integers(0, 3)))
        mag = int(rng.integers(0, 4)) if src.hi <= 127 else int(rng.integers(0, 2))
        return InputTransform(mode=InputMode.DIRECT, magnify=mag)
    if rng.random() < 0.5:
        return InputTransform(mode=InputMode.OFFSET)
    return InputTransform(mode=InputMode.PN, magnify=int(rng.integers(0, 3)))


def _layer(rng: np.random.Generator, name: str, src_name: str, rows: int, outs: int, kind: LayerKind,
           transform: InputTransform, *, context: tuple[int, ...] = (0,), conv: ConvGeometry | None = None,
           allow_tables: bool = True) -> ArrayLayer:
    scale = int(rng.choice([8, 32, 128]))
    weights = np.clip(rng.integers(-scale, scale, size=(rows, outs)), -128, 127).astype(np.int8)
    n_bias = int(rng.integers(0, 17))
    bias = rng.integers(-128, 128, size=(n_bias, outs)).astype(np.int8)
    # pick g so that a typical accumulator lands in int8 after the shift (sometimes saturating)
    typical = np.sqrt(rows) * 100.0 * scale / 2 + 1
    g = int(np.clip(np.round(np.log2(typical / 48.0)) + rng.integers(-1, 2), 8, 13))
    acts = [Activation.NONE, Activation.RELU] + ([Activation.TABLE] if allow_tables else [])
    act = acts[int(rng.integers(0, len(acts)))]
    return ArrayLayer(name=name, kind=kind, inputs=(src_name,), weights=weights, bias_cells=bias, shift=g,
                      activation=act, table=_table(rng) if act is Activation.TABLE else None,
                      transform=transform, context=context, conv=conv)


def _infos(mode: ProgramMode, width: int, frames: int, ops: list) -> dict[str, TensorInfo]:
    prog = Program(name="partial", mode=mode, input_width=width, input_frames=frames, ops=tuple(ops), labels=())
    return analyze_program(prog)


def random_program(rng: np.random.Generator, *, mode: ProgramMode | str = ProgramMode.STREAM,
                   n_ops: int | None = None, max_width: int = 20, max_frames: int = 8,
                   allow_tables: bool = True, allow_digital: bool = True, argmax: bool | None = None,
                   max_rows: int = 120, name: str = "random") -> Program:
    """Build a random valid program.

    Args:
        rng: the generator (every choice comes from it).
        mode: "stream" (DENSE/TDNN + per-frame digital ops) or "window" (CONV2D, pools, DENSE).
        n_ops: number of ops before the optional argmax (random 2..6 when None).
        max_width: largest input width / layer output count.
        max_frames: WINDOW input frames (random 3..max_frames).
        allow_tables: allow TABLE activations.
        allow_digital: allow Activate/Rescale/Add/Concat/Pool ops.
        argmax: end with an Argmax (random when None).
        max_rows: largest weight-row count of a layer (keeps the plain reference fast).
        name: program name.

    Returns:
        A program that passes ``validate_program`` (unplaced).
    """
    mode = ProgramMode(mode)
    width = int(rng.integers(1, max_width + 1))
    frames = 1 if mode is ProgramMode.STREAM else int(rng.integers(3, max_frames + 1))
    n_ops = int(rng.integers(2, 7)) if n_ops is None else n_ops
    ops: list[Any] = []
    infos = _infos(mode, width, frames, [Argmax(name="probe", inputs=(INPUT,))])
    infos = {INPUT: infos[INPUT]}
    flattened = False
    for k in range(n_ops):
        names = list(infos)
        last = names[-1]
        choice = rng.random()
        nm = f"op{k}"
        if not allow_digital or choice < 0.55 or len(ops) == 0:
            src = last if rng.random() < 0.8 else names[int(rng.integers(0, len(names)))]
            info = infos[src]
            tr = _transform(rng, info)
            outs = int(rng.integers(1, max_width + 1))
            if mode is ProgramMode.STREAM:
                if rng.random() < 0.5:
                    lo = int(rng.integers(-3, 1))
                    hi = int(rng.integers(0, 3))
                    ctx = tuple(int(c) for c in range(lo, hi + 1))
                    if rng.random() < 0.3:
                        ctx = tuple(int(c) for c in rng.permutation(ctx))
                    kind = LayerKind.TDNN
                else:
                    ctx, kind = (0,), LayerKind.DENSE
                rows = len(ctx) * info.shape[-1] * tr.row_factor
                if rows > max_rows:
                    ctx, kind = (0,), LayerKind.DENSE
                    rows = info.shape[-1] * tr.row_factor
                ops.append(_layer(rng, nm, src, rows, outs, kind, tr, context=ctx, allow_tables=allow_tables))
            else:
                if len(info.shape) == 3 and (rng.random() < 0.7 or flattened is False and k < n_ops - 1):
                    h, w, c = info.shape
                    kh, kw = int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1))
                    geom = ConvGeometry(in_shape=(h, w, c), kernel_h=kh, kernel_w=kw,
                                        stride_h=int(rng.integers(1, 3)), stride_w=int(rng.integers(1, 3)),
                                        pad_top=int(rng.integers(0, kh)), pad_bottom=int(rng.integers(0, kh)),
                                        pad_left=int(rng.integers(0, kw)), pad_right=int(rng.integers(0, kw)),
                                        pad_code=int(rng.choice([0, 128, int(rng.integers(0, 256))])))
                    rows = kh * kw * c * tr.row_factor
                    outs = int(rng.integers(1, 9))
                    ops.append(_layer(rng, nm, src, rows, outs, LayerKind.CONV2D, tr, conv=geom,
                                      allow_tables=allow_tables))
                else:
                    rows = int(np.prod(info.shape)) * tr.row_factor
                    if rows > 4 * max_rows:
                        # too big to flatten: pool first
                        h, w, c = info.shape
                        ops.append(Pool(name=nm, inputs=(src,), kind="max", pool_h=h, pool_w=w,
                                        stride_h=1, stride_w=1))
                    else:
                        ops.append(_layer(rng, nm, src, rows, outs, LayerKind.DENSE, tr,
                                          allow_tables=allow_tables))
                        flattened = True
        else:
            src = last
            info = infos[src]
            r = rng.random()
            same = [n for n in names if infos[n].shape == info.shape and n != src]
            if r < 0.2:
                act = Activation.TABLE if allow_tables and rng.random() < 0.5 else Activation.RELU
                if act is Activation.RELU and info.hi > 127:
                    act = Activation.TABLE if allow_tables else None
                if act is None:
                    ops.append(Rescale(name=nm, inputs=(src,), multiplier=1, shift=1))
                else:
                    ops.append(Activate(name=nm, inputs=(src,), activation=act,
                                        table=_table(rng) if act is Activation.TABLE else None))
            elif r < 0.4:
                ops.append(Rescale(name=nm, inputs=(src,), multiplier=int(rng.integers(-300, 300)),
                                   offset=int(rng.integers(-500, 500)), shift=int(rng.integers(0, 9))))
            elif r < 0.6 and same:
                other = same[int(rng.integers(0, len(same)))]
                ops.append(Add(name=nm, inputs=(src, other), mult_a=int(rng.integers(-4, 5)),
                               mult_b=int(rng.integers(-4, 5)), offset=int(rng.integers(-8, 9)),
                               shift=int(rng.integers(0, 3))))
            elif r < 0.8 and len(names) > 1 and info.hi <= 127:
                cands = [n for n in names if len(infos[n].shape) == len(info.shape)
                         and infos[n].shape[:-1] == info.shape[:-1] and infos[n].hi <= 127]
                picks = [cands[int(i)] for i in rng.integers(0, len(cands), size=int(rng.integers(2, 4)))]
                ops.append(Concat(name=nm, inputs=tuple(picks)))
            elif mode is ProgramMode.WINDOW and len(info.shape) == 3 and info.hi <= 127:
                h, w, c = info.shape
                ph, pw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
                kind = "max" if rng.random() < 0.5 else "avg"
                ops.append(Pool(name=nm, inputs=(src,), kind=kind, pool_h=ph, pool_w=pw,
                                stride_h=int(rng.integers(1, 3)), stride_w=int(rng.integers(1, 3)),
                                multiplier=int(rng.integers(1, 64)) if kind == "avg" else 1,
                                offset=int(rng.integers(-16, 16)) if kind == "avg" else 0,
                                shift=int(rng.integers(0, 8)) if kind == "avg" else 0))
            else:
                ops.append(Rescale(name=nm, inputs=(src,), multiplier=int(rng.integers(1, 4)), shift=1))
        infos = _infos(mode, width, frames, ops)
    if argmax is None:
        argmax = bool(rng.random() < 0.3)
    out_info = infos[ops[-1].name]
    if argmax:
        ops.append(Argmax(name="argmax", inputs=(ops[-1].name,)))
    labels = tuple(f"c{i}" for i in range(out_info.shape[-1])) if out_info.shape else ()
    prog = Program(name=name, mode=mode, input_width=width, input_frames=frames, ops=tuple(ops),
                   labels=labels, metadata={"generator": "programgen.random_program"})
    analyze_program(prog)
    return prog


def random_codes(rng: np.random.Generator, program: Program, n: int) -> np.ndarray:
    """Random uint8 codes: STREAM (n, width) frames, WINDOW (n, frames, width) windows."""
    if program.mode is ProgramMode.STREAM:
        return rng.integers(0, 256, size=(n, program.input_width), dtype=np.uint8)
    return rng.integers(0, 256, size=(n, program.input_frames, program.input_width), dtype=np.uint8)


def dense_program(rng: np.random.Generator, sizes: tuple[int, ...], *, name: str = "dnn",
                  bias_rows: int = 8) -> Program:
    """A STREAM DNN of DENSE ReLU layers (last layer no activation) with the given widths.

    Args:
        rng: generator for the weights.
        sizes: (input_width, hidden..., n_out).
        name: program name.
        bias_rows: bias rows per layer.
    """
    ops = []
    src = INPUT
    for i in range(len(sizes) - 1):
        rows, outs = sizes[i], sizes[i + 1]
        last = i == len(sizes) - 2
        w = rng.integers(-64, 64, size=(rows, outs)).astype(np.int8)
        b = rng.integers(-32, 32, size=(bias_rows, outs)).astype(np.int8)
        g = int(np.clip(np.round(np.log2(np.sqrt(rows) * 64 * 37 / 48)), 8, 13))
        ops.append(ArrayLayer(name=f"fc{i}", kind=LayerKind.DENSE, inputs=(src,), weights=w, bias_cells=b,
                              shift=g, activation=Activation.NONE if last else Activation.RELU,
                              transform=InputTransform(mode=InputMode.DIRECT, magnify=0 if i == 0 else 1)))
        src = f"fc{i}"
    return Program(name=name, mode=ProgramMode.STREAM, input_width=sizes[0], input_frames=1,
                   ops=tuple(ops), labels=tuple(f"c{i}" for i in range(sizes[-1])))


def tiny_stream_program(*, input_width: int = 13, frontend: dict | None = None) -> Program:
    """A fixed small STREAM program: TDNN(-1..1) -> 16 ReLU, DENSE 16 ReLU (x2), DENSE 3 classes.

    Deterministic (weights from a fixed seed); delay 2 frames; labels
    ("silence", "unknown", "hey_chip").

    Args:
        input_width: codes per frame.
        frontend: the program's frontend dict (empty when None).
    """
    rng = np.random.default_rng(1234)
    w0 = rng.integers(-40, 40, size=(3 * input_width, 16)).astype(np.int8)
    w1 = rng.integers(-60, 60, size=(16, 16)).astype(np.int8)
    w2 = rng.integers(-60, 60, size=(16, 3)).astype(np.int8)
    ops = (
        ArrayLayer(name="tdnn0", kind=LayerKind.TDNN, inputs=(INPUT,), weights=w0,
                   bias_cells=rng.integers(-20, 20, size=(8, 16)).astype(np.int8), shift=11,
                   activation=Activation.RELU, context=(-1, 0, 1)),
        ArrayLayer(name="fc1", kind=LayerKind.DENSE, inputs=("tdnn0",), weights=w1,
                   bias_cells=rng.integers(-20, 20, size=(8, 16)).astype(np.int8), shift=9,
                   activation=Activation.RELU, transform=InputTransform(magnify=1)),
        ArrayLayer(name="out", kind=LayerKind.DENSE, inputs=("fc1",), weights=w2,
                   bias_cells=rng.integers(-20, 20, size=(8, 3)).astype(np.int8), shift=9,
                   activation=Activation.NONE, transform=InputTransform(magnify=1)),
    )
    return Program(name="tiny_stream", mode=ProgramMode.STREAM, input_width=input_width, input_frames=1,
                   ops=ops, labels=("silence", "unknown", "hey_chip"), frontend=dict(frontend or {}),
                   metadata={"generator": "programgen.tiny_stream_program"})
