"""Lowering: the quantization math that turns a real-valued layer graph into chip integers.

Both importers (:mod:`wtmkws.sdk.tflite_import`, :mod:`wtmkws.sdk.keras_import`) produce an
:class:`IRGraph`: layers with real (float64) weights and biases, tensor shapes ``(H, W, C)`` or
``(C,)``, and the input's code grid (``real = input_scale * (code - input_zero_code)``).
:func:`lower_graph` turns it into a WINDOW :class:`~wtmkws.firmware_model.program.Program`.

Every chip tensor ``t`` carries a **chip scale** ``s_t[c]`` per channel (real = ``s_t[c] * y``,
zero point 0). For an array layer with source codes ``x_i`` (real = ``cs_i * (x_i - cz_i)``: the
*code scale* and *code zero* of row i, fixed by the input transform) the lowering picks one shift
``g`` in ChipSpec's range and output scales ``s_j`` and sets::

    W_chip[i, j] = round(W_real[i, j] * cs_i * 2**g / s_j)                  (clipped to int8)
    bias_acc[j]  = round(b_real[j] * 2**g / s_j) - sum_i cz_i * W_chip[i, j] + 2**(g-1)
    bias cells   = round(bias_acc / bias_input_code) spread over R rows       (clipped, reported)

The ``2**(g-1)`` term turns the chip's floor shift into round-to-nearest. With
``LoweringSettings.bias_correction`` the bias also subtracts the calibration-mean accumulator error
``sum_i (W_chip - W_real * cs_i * 2**g / s_j) * E[x_i - cz_i]`` and the source's tracked mean error;
with ``source_output_grid`` the program output takes the source .tflite output scale when it fits. ``s_j`` starts from the
calibrated range (``absmax_j / 127`` at the allowed clipping share) and is raised where the real
weights would not fit int8 at that ``g``; ``g`` is the one that minimises an error estimate (output
rounding + weight re-quantization over the calibrated input energy + bias clipping). Scales are per
channel where every consumer can absorb them (array layers, pooling, channel concat), else per
tensor (the output, Add operands, table activations).

**Column pairs** (``LoweringSettings.relu_pairs``, default on): a ReLU array layer whose output
only feeds array layers (directly or through average pools) holds each channel as two columns with
the same weights and biases ``k`` and ``k + G/2 / bias_input_code`` bias cells (``k`` rounds the
bias plus ``G/4``). Since ``floor(v) + floor(v + 1/2) = floor(2v)`` and the ReLU clip of each copy
to 0..127 gives exactly ``clip(floor(2v), 0, 254)``, the copy sum is an 8-bit activation on a grid
of half the copy's LSB. The consumer gives both copies the same weight row, so the array adds them
(no digital op). Chip channel ``k*C + c`` is copy ``k`` of channel ``c``; the tensor's chip scale
is per unit of the copy sum (``metadata["tensor_copies"]`` lists the paired ops).

Signed sources feed the next array layer in OFFSET mode (``x = y + 128``, ``cz = 128``) or PN mode
(rows ``[W; -W]``, twice the rows); ``CompileOptions.signed_input`` picks, ``"auto"`` takes PN when
the doubled rows still fit one row region, else OFFSET. Non-negative sources (ReLU outputs, the
program input) use DIRECT with the largest magnification ``m`` whose calibrated maximum stays
<= 255 (``cs = s / 2**m``). Padded conv positions get the code of real 0 (``pad_code = cz``).

Digital ops: max/avg :class:`Pool` (avg: ``floor((sum * round(2**20 / n) + 2**19) / 2**20)``),
:class:`Add` and :class:`Rescale` (multipliers ``round(s_in / s_out * 2**16)``, shift 16, offset
``2**15``), :class:`Concat`, :class:`Activate` (ReLU after Add/Concat/Pool, tables for ReLU6,
ReLU_N1_TO_1, tanh and sigmoid built from the scales).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.errors import WtmkwsError
from wtmkws.firmware_model.program import (
    INPUT,
    Activate,
    Activation,
    Add,
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

__all__ = [
    "CompileError",
    "TensorQuant",
    "IRTensor",
    "IRNode",
    "IRGraph",
    "LoweringSettings",
    "TensorStats",
    "same_padding",
    "run_float",
    "lower_graph",
    "activation_table",
]

DIGITAL_SHIFT = 16
"""Shift of the digital Add/Rescale multipliers."""
POOL_SHIFT = 20
"""Shift of the average-pool reciprocal multiplier."""


class CompileError(WtmkwsError):
    """A model cannot be imported, calibrated or lowered onto the chip."""


@dataclass(frozen=True, kw_only=True)
class TensorQuant:
    """An int8 grid of the source model: real = scale * (q - zero_point), q in -128..127."""

    scale: float
    """Real value of one LSB."""
    zero_point: int
    """Code of real 0."""


@dataclass(frozen=True, kw_only=True)
class IRTensor:
    """A tensor of the layer graph."""

    name: str
    """Unique name."""
    shape: tuple[int, ...]
    """(H, W, C) or (C,)."""
    quant: TensorQuant | None = None
    """The source model's int8 grid (TFLite), or None (float model)."""
    source: str = ""
    """Name in the source model."""


@dataclass(frozen=True, kw_only=True, eq=False)
class IRNode:
    """A layer of the graph with real-valued parameters."""

    name: str
    """Unique name (becomes the program op name)."""
    op: str
    """"conv2d", "dense", "avgpool", "maxpool", "add" or "concat"."""
    inputs: tuple[str, ...]
    """Input tensor names."""
    output: str
    """Output tensor name."""
    weights: np.ndarray | None = None
    """conv2d: (kh, kw, cin, cout) float64; dense: (K, N) float64 (rows = flattened input)."""
    bias: np.ndarray | None = None
    """(N,) float64 real bias."""
    activation: str = "none"
    """"none", "relu", "relu6", "relu_n1_to_1", "tanh" or "sigmoid"."""
    stride: tuple[int, int] = (1, 1)
    """conv/pool strides (H, W)."""
    padding: str = "valid"
    """conv padding: "same" (TF rule) or "valid"."""
    pool: tuple[int, int] = (1, 1)
    """pool window (H, W)."""
    depthwise: bool = False
    """conv2d that came from a depthwise convolution (block-diagonal weights)."""
    source: str = ""
    """Where it came from (op index and name / Keras layer), for messages."""


@dataclass(frozen=True, kw_only=True, eq=False)
class IRGraph:
    """A whole model: input grid, tensors, layers in execution order, output."""

    name: str
    """Model name."""
    input: str
    """Input tensor name; its shape is (frames, width, 1)."""
    tensors: dict[str, IRTensor]
    """All tensors by name."""
    nodes: tuple[IRNode, ...]
    """Layers in execution order."""
    output: str
    """Output tensor name (pre-softmax when ``output_softmax``)."""
    input_scale: float
    """Real value of one input code step."""
    input_zero_code: int
    """Input code of real 0 (TFLite: zero_point + 128)."""
    output_softmax: bool = False
    """The source applies softmax after the output (dropped; the host applies it)."""
    source_kind: str = "tflite"
    """"tflite" or "keras"."""
    source_path: str = ""
    """File the model came from ("" for an in-memory Keras model)."""
    source_input_index: int = -1
    """TFLite: input tensor index."""
    source_output_index: int = -1
    """TFLite: final output tensor index (post-softmax when ``output_softmax``)."""
    reference_tensors: dict[str, Any] = field(default_factory=dict)
    """IR tensor name -> the source's handle for it (TFLite tensor index / Keras layer name)."""

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(frames, width, 1)."""
        s = self.tensors[self.input].shape
        return (int(s[0]), int(s[1]), int(s[2]))

    def consumers(self, tensor: str) -> list[IRNode]:
        """Nodes that read ``tensor``."""
        return [n for n in self.nodes if tensor in n.inputs]


@dataclass(frozen=True, kw_only=True)
class LoweringSettings:
    """The lowering choices (a view of :class:`~wtmkws.sdk.compile.CompileOptions`)."""

    signed_input: str = "auto"
    """"auto", "offset" or "pn": how signed int8 tensors feed array layers."""
    per_channel_scales: bool = True
    """Allow per-channel chip scales where consumers can absorb them."""
    bias_rows: int | None = None
    """Bias rows per layer (None: ChipSpec default, raised up to the max when the bias needs it)."""
    round_to_nearest: bool = True
    """Add 2**(g-1) to the bias so the floor shift rounds to nearest."""
    bias_correction: bool = True
    """Fold the expected (calibration-mean) error of weight re-quantization, bias-cell rounding and
    the source's own mean error into the bias, so no systematic offset builds up layer to layer."""
    source_output_grid: bool = True
    """Give the program output the source model's own output scale when the weights allow it, so
    chip and source logits sit on the same grid (equal logits, top-1 ties, match)."""
    relu_pairs: bool = True
    """Represent a ReLU array layer's output whose consumers are all array layers (directly or
    through average pools) by column pairs: two copies of each column with accumulator offsets
    ``G/4`` and ``3G/4``, summed by duplicated weight rows in the consumer (an 8-bit 0..254
    activation instead of 0..127; 2x columns here, 2x rows in the consumer)."""


@dataclass(frozen=True, kw_only=True)
class TensorStats:
    """Calibrated statistics of one tensor (real values), per channel."""

    absmax: np.ndarray
    """(C,) range kept unclipped: the (1 - clip share) quantile of |v| (positive part if ReLU)."""
    mean: np.ndarray
    """(C,) mean real value."""
    mean_sq: np.ndarray
    """(C,) mean squared real value."""
    max: np.ndarray
    """(C,) largest value seen."""
    pos_frac: np.ndarray | None = None
    """(C,) share of values > 0 (None: unknown, taken as 0.5)."""


# ----------------------------------------------------------------------------------------------
# float reference of the graph


def same_padding(size: int, k: int, s: int) -> tuple[int, int]:
    """TF "SAME" padding (before, after) for one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def _act_float(v: np.ndarray, act: str) -> np.ndarray:
    if act == "relu":
        return np.maximum(v, 0.0)
    if act == "relu6":
        return np.clip(v, 0.0, 6.0)
    if act == "relu_n1_to_1":
        return np.clip(v, -1.0, 1.0)
    if act == "tanh":
        return np.tanh(v)
    if act == "sigmoid":
        return 1.0 / (1.0 + np.exp(-v))
    return v


def _conv_float(x: np.ndarray, node: IRNode) -> np.ndarray:
    w = node.weights
    assert w is not None
    kh, kw = w.shape[:2]
    sh, sw = node.stride
    if node.padding == "same":
        pt, pb = same_padding(x.shape[1], kh, sh)
        pl, pr = same_padding(x.shape[2], kw, sw)
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    # win: (N, OH, OW, C, kh, kw)
    if node.depthwise and w.shape[2] > 1:
        # block-diagonal: only the diagonal entries are non-zero; avoid the dense einsum
        cin, cout = w.shape[2], w.shape[3]
        mult = cout // cin
        src = np.repeat(np.arange(cin), mult)
        wd = w[:, :, src, np.arange(cout)]  # (kh, kw, cout)
        out = np.einsum("nhwcij,ijc->nhwc", win[:, :, :, src], wd, optimize=True)
    else:
        out = np.einsum("nhwcij,ijcd->nhwd", win, w, optimize=True)
    return out + node.bias


def _fake_quant(v: np.ndarray, q: TensorQuant | None) -> np.ndarray:
    if q is None:
        return v
    code = np.clip(np.floor(v / q.scale + 0.5) + q.zero_point, -128, 127)
    return q.scale * (code - q.zero_point)


def run_float(graph: IRGraph, codes: np.ndarray, *, fake_quant: bool = True,
              keep_pre_activation: bool = False) -> dict[str, np.ndarray]:
    """Run the graph in float64 (the reference the lowering calibrates on).

    Args:
        graph: the layer graph.
        codes: (N, frames, width) input codes (uint8 or any integer/float type on the code grid).
        fake_quant: round every tensor with a source int8 grid onto that grid (reproduces an int8
            TFLite model up to its requantization rounding).
        keep_pre_activation: also return ``"<node>:pre"`` for nodes with an activation.

    Returns:
        Tensor name -> (N, *shape) float64 real values.
    """
    n = codes.shape[0]
    h, w, _ = graph.input_shape
    x = graph.input_scale * (codes.reshape(n, h, w, 1).astype(np.float64) - graph.input_zero_code)
    vals: dict[str, np.ndarray] = {graph.input: x}
    for node in graph.nodes:
        ins = [vals[i] for i in node.inputs]
        if node.op == "conv2d":
            v = _conv_float(ins[0], node)
        elif node.op == "dense":
            v = ins[0].reshape(n, -1) @ node.weights + node.bias
        elif node.op in ("avgpool", "maxpool"):
            ph, pw = node.pool
            win = np.lib.stride_tricks.sliding_window_view(ins[0], (ph, pw), axis=(1, 2))
            win = win[:, :: node.stride[0], :: node.stride[1]]
            v = win.mean(axis=(-1, -2)) if node.op == "avgpool" else win.max(axis=(-1, -2))
        elif node.op == "add":
            v = ins[0] + ins[1]
        elif node.op == "concat":
            v = np.concatenate(ins, axis=-1)
        else:  # pragma: no cover - importers only emit the ops above
            raise CompileError(f"layer {node.name}: unknown op {node.op}")
        if keep_pre_activation and node.activation != "none":
            vals[f"{node.name}:pre"] = v
        v = _act_float(v, node.activation)
        if fake_quant:
            v = _fake_quant(v, graph.tensors[node.output].quant)
        vals[node.output] = v
    return vals


# ----------------------------------------------------------------------------------------------
# lowering


def activation_table(act: str, s_pre: float, s_post: float, spec: ChipSpec) -> np.ndarray:
    """256-entry int8 table for a digital activation, indexed by the two's-complement byte.

    Args:
        act: "relu6", "relu_n1_to_1", "tanh" or "sigmoid".
        s_pre: real value of one LSB of the table's input.
        s_post: real value of one LSB of the table's output.
        spec: chip spec (output range).

    Returns:
        (256,) int8; entry ``b`` holds ``round(f(s_pre * y) / s_post)`` for ``y`` = the signed
        value of byte ``b``, clipped to the int8 output range.
    """
    y = np.arange(256, dtype=np.int64)
    y = np.where(y >= 128, y - 256, y).astype(np.float64)
    out = np.floor(_act_float(y * s_pre, act) / s_post + 0.5)
    return np.clip(out, spec.output_min, spec.output_max).astype(np.int8)


def _uniform_tensors(graph: IRGraph, per_channel: bool) -> set[str]:
    """Tensors that must have one scale for all channels."""
    if not per_channel:
        return set(graph.tensors)
    uni = {graph.output}
    for n in graph.nodes:
        if n.op == "add":
            uni.update(n.inputs)
            uni.add(n.output)
        if n.activation in ("relu6", "relu_n1_to_1", "tanh", "sigmoid"):
            uni.add(n.output)
    changed = True
    while changed:
        changed = False
        for n in graph.nodes:
            if n.op in ("avgpool", "maxpool", "concat") and n.output in uni:
                for i in n.inputs:
                    if i not in uni:
                        uni.add(i)
                        changed = True
    return uni


@dataclass
class _ChipTensor:
    op: str  # program tensor name (op name or "input")
    scale: np.ndarray  # (C,) real per unit of the copy sum (per chip LSB when copies == 1)
    nonneg: bool
    code_max: float  # calibrated max |y| of one copy in chip LSB (after clipping)
    mean_err: np.ndarray | None = None  # (C,) expected error of the copy sum in its own units
    copies: int = 1  # chip channels k*C + c (k < copies) hold copies of logical channel c


def _paired_tensors(graph: IRGraph, settings: LoweringSettings) -> set[str]:
    """Outputs of ReLU array layers that are lowered as column pairs.

    A tensor qualifies when it is not the program output and every consumer is an array layer
    (which sums the two copies through duplicated rows) or an average pool (linear, per channel)
    whose own output qualifies the same way. Max pools, Add, Concat and the output do not.
    """
    if not settings.relu_pairs:
        return set()

    def sums_copies(t: str) -> bool:
        cons = graph.consumers(t)
        if t == graph.output or not cons:
            return False
        for c in cons:
            if c.op in ("conv2d", "dense"):
                continue
            if c.op == "avgpool" and c.activation == "none" and sums_copies(c.output):
                continue
            return False
        return True

    return {n.output for n in graph.nodes
            if n.op in ("conv2d", "dense") and n.activation == "relu" and sums_copies(n.output)}


def _copy_rows(node: IRNode, Wq: np.ndarray, src_shape: tuple[int, ...], copies: int
               ) -> np.ndarray:
    """Rows for a source held as ``copies`` copies per channel (chip channel k*C + c).

    Every copy of channel c gets channel c's weight row, so the array sums the copies exactly.
    """
    if copies == 1:
        return Wq
    c = int(src_shape[-1])
    blocks = Wq.reshape(-1, c, Wq.shape[1])  # (positions, C, N)
    return np.concatenate([blocks] * copies, axis=1).reshape(-1, Wq.shape[1])


def _pick_magnify(code_max: float) -> int:
    if code_max <= 0:
        return 7
    return int(max(0, min(7, math.floor(math.log2(255.0 / max(code_max, 1e-9))))))


def _row_expand(node: IRNode, src_shape: tuple[int, ...], per_ch: np.ndarray) -> np.ndarray:
    """Broadcast a per-source-channel vector to the layer's logical rows (before PN doubling)."""
    c = src_shape[-1]
    if node.op == "conv2d":
        kh, kw = node.weights.shape[:2]
        return np.tile(per_ch, kh * kw)
    return np.tile(per_ch, int(np.prod(src_shape)) // c)


def lower_graph(
    graph: IRGraph,
    stats: dict[str, TensorStats],
    *,
    spec: ChipSpec,
    settings: LoweringSettings,
    labels: tuple[str, ...],
    frontend: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> tuple[Program, list[dict[str, Any]]]:
    """Lower a calibrated layer graph into a WINDOW program.

    Args:
        graph: the layer graph.
        stats: calibrated statistics for every tensor (and ``"<node>:pre"`` for table
            activations), from :func:`wtmkws.sdk.calibrate.calibration_stats`.
        spec: the target chip.
        settings: lowering choices.
        labels: output class names (one per output channel).
        frontend: the frontend description stored in the program.
        metadata: extra metadata merged into the program's.

    Returns:
        (program, per-op report rows). The program is not placed yet.

    Raises:
        CompileError: a layer cannot be represented (names the layer and the numbers).
    """
    uniform = _uniform_tensors(graph, settings.per_channel_scales)
    paired = _paired_tensors(graph, settings)
    if any((2**g // 2) % spec.bias_input_code for g in range(spec.shift_min, spec.shift_max + 1)):
        paired = set()  # the copies' offsets must differ by exactly G/2 in bias-cell units
    h, w, _ = graph.input_shape
    chip: dict[str, _ChipTensor] = {
        graph.input: _ChipTensor(op=INPUT, scale=np.array([graph.input_scale]), nonneg=True,
                                 code_max=255.0)
    }
    ops: list[Any] = []
    report: list[dict[str, Any]] = []
    bias_rows_default = settings.bias_rows or spec.bias_rows_default
    if not 1 <= bias_rows_default <= spec.bias_rows_max:
        raise CompileError(f"bias_rows={bias_rows_default} outside 1..{spec.bias_rows_max}",
                           hint="pick a bias row count the chip supports")

    def out_range(node: IRNode, key: str) -> np.ndarray:
        st = stats[key]
        a = st.absmax.astype(np.float64).copy()
        if node.activation == "relu6":
            a = np.minimum(np.maximum(st.max, 0.0), 6.0)
        elif node.activation == "relu_n1_to_1":
            a = np.minimum(a, 1.0)
        elif node.activation in ("tanh", "sigmoid"):
            a = np.minimum(stats[f"{node.name}:pre"].absmax, 8.0)
        a = np.maximum(a, 1e-8)
        return a

    for node in graph.nodes:
        out_t = graph.tensors[node.output]
        n_out_ch = int(out_t.shape[-1])
        if node.op in ("conv2d", "dense"):
            src_name = node.inputs[0]
            src = chip[src_name]
            src_shape = graph.tensors[src_name].shape
            c_src = int(src_shape[-1])
            chip_src_shape = tuple(int(v) for v in src_shape[:-1]) + (c_src * src.copies,)
            pair = node.output in paired
            s_src = np.broadcast_to(src.scale, (c_src,)).astype(np.float64)
            W = node.weights.reshape(-1, node.weights.shape[-1]).astype(np.float64)
            st_src = stats[src_name]
            # rows of the logical matrix (before PN doubling)
            src_err = np.zeros(c_src) if src.mean_err is None else \
                np.broadcast_to(src.mean_err, (c_src,)).astype(np.float64)
            if src.op == INPUT:
                mode, mag = InputMode.DIRECT, 0
                cs_ch, cz_ch = s_src, np.full(c_src, float(graph.input_zero_code))
                ex2_ch = (st_src.mean_sq / s_src**2 + 2 * cz_ch * st_src.mean / s_src + cz_ch**2)
                mu_ch, err_ch = st_src.mean / cs_ch, np.zeros(c_src)
            elif src.nonneg:
                mode, mag = InputMode.DIRECT, _pick_magnify(src.code_max)
                cs_ch, cz_ch = s_src / 2**mag, np.zeros(c_src)
                ex2_ch = st_src.mean_sq / cs_ch**2
                mu_ch, err_ch = st_src.mean / cs_ch, src_err * 2**mag
            else:
                rows_pn = 2 * W.shape[0]
                choice = settings.signed_input
                if choice == "auto":
                    choice = "pn" if rows_pn + spec.bias_rows_max <= spec.region_rows else "offset"
                if choice == "pn":
                    mode, mag = InputMode.PN, _pick_magnify(src.code_max)
                    cs_ch, cz_ch = s_src / 2**mag, np.zeros(c_src)
                    ex2_ch = 0.5 * st_src.mean_sq / cs_ch**2
                    # the split's row means are unknown from the stats: no mean correction
                    mu_ch, err_ch = np.zeros(c_src), np.zeros(c_src)
                else:
                    mode, mag = InputMode.OFFSET, 0
                    cs_ch, cz_ch = s_src, np.full(c_src, 128.0)
                    ex2_ch = (st_src.mean_sq / s_src**2 + 256 * st_src.mean / s_src + 128.0**2)
                    mu_ch, err_ch = st_src.mean / s_src, src_err
            cs = _row_expand(node, src_shape, cs_ch)
            cz = _row_expand(node, src_shape, cz_ch)
            ex2 = _row_expand(node, src_shape, ex2_ch)
            # expected input code minus zero code per row (padded conv positions: real 0)
            vf = _valid_fraction(node, src_shape)
            mu = vf * _row_expand(node, src_shape, mu_ch)
            e_row = vf * _row_expand(node, src_shape, err_ch)
            if cs.shape[0] != W.shape[0]:
                raise CompileError(f"layer {node.name} ({node.source}): {W.shape[0]} weight rows "
                                   f"for a source of shape {src_shape}", hint="check the model")
            wc = W * cs[:, None]  # real per input code
            a = out_range(node, node.output)
            s_cal = a / spec.output_max
            is_uniform = node.output in uniform or node.activation in ("tanh", "sigmoid")
            if is_uniform:
                s_cal = np.full(n_out_ch, s_cal.max())
            if (settings.source_output_grid and node.output == graph.output and out_t.quant
                    is not None and node.activation == "none"):
                s_cal = np.full(n_out_ch, float(out_t.quant.scale))
            nz = (W != 0)
            e_in = (nz * ex2[:, None]).sum(axis=0)  # (N,) acc-variance factor
            wmax = np.abs(wc).max(axis=0)
            best = None
            for g in range(spec.shift_min, spec.shift_max + 1):
                G = float(2**g)
                s = np.maximum(s_cal, wmax * G / spec.weight_max)
                if is_uniform:
                    s = np.full(n_out_ch, s.max())
                s = np.maximum(s, 1e-12)
                lo = -spec.weight_max if mode is InputMode.PN else spec.weight_min
                Wq = np.clip(np.floor(wc * G / s + 0.5), lo, spec.weight_max)
                b_acc = node.bias * G / s - (cz[:, None] * Wq).sum(axis=0)
                if settings.bias_correction:
                    # cancel the expected accumulator error: weight rounding on the mean input
                    # codes, and the source's own mean error
                    b_acc = b_acc - ((Wq - wc * G / s) * mu[:, None]).sum(axis=0) \
                        - (Wq * e_row[:, None]).sum(axis=0)
                else:
                    b_acc = np.floor(b_acc + 0.5)
                if settings.round_to_nearest:
                    # pairs: floor(u + 1/4) + floor(u + 3/4) = floor(2u + 1/2), round to nearest
                    # on the half-LSB grid of the copy sum
                    b_acc = b_acc + (G / 4 if pair else G / 2)
                if mode is InputMode.PN:
                    Wq = _pn_rows(node, Wq, src_shape)
                k = np.floor(b_acc / spec.bias_input_code + 0.5)
                dk = int(2**g // 2 // spec.bias_input_code) if pair else 0  # second copy: + G/2
                need = int(np.ceil(max(np.max(np.maximum(k + dk, 0)) / spec.weight_max,
                                       np.max(np.maximum(-k, 0)) / -spec.weight_min, 0)))
                R = max(bias_rows_default, min(need, spec.bias_rows_max)) if settings.bias_rows \
                    is None else bias_rows_default
                kc = np.clip(k, spec.weight_min * R, spec.weight_max * R - dk)
                excess = np.abs(k - kc) * spec.bias_input_code / G  # output LSB
                rel = (s / s_cal) ** 2
                var = rel * ((1 / 48 if pair else 1 / 12) + e_in / (12 * G * G)
                             + (spec.bias_input_code**2 / 12) / G**2 + excess**2)
                score = float(var.mean())
                if best is None or score < best[0] - 1e-12:
                    resid = (kc * spec.bias_input_code - b_acc) / G  # output LSB
                    best = (score, g, s, Wq, kc, R, int((excess > 0).sum()), resid, dk)
            _, g, s, Wq, kc, R, n_bias_clip, resid, dk = best
            if not settings.bias_correction:
                resid = None
            if src.copies > 1:
                if mode is not InputMode.DIRECT:  # pragma: no cover - pairs are ReLU outputs
                    raise CompileError(f"internal: layer {node.name} reads copies in {mode.value}")
                Wq = _copy_rows(node, Wq, src_shape, src.copies)
            copies = 2 if pair else 1
            if pair:
                Wq = np.concatenate([Wq, Wq], axis=1)
                kc = np.concatenate([kc, kc + dk])
            bias_cells = _spread_bias(kc.astype(np.int64), R, spec)
            act, table, nonneg, s_post = Activation.NONE, None, False, s
            if node.activation == "relu":
                act, nonneg = Activation.RELU, True
                if pair:
                    s_post = s / 2  # real per unit of the copy sum (0..254)
            elif node.activation in ("relu6", "relu_n1_to_1", "tanh", "sigmoid"):
                act = Activation.TABLE
                if node.activation in ("tanh", "sigmoid"):
                    s_post = np.full(n_out_ch, 1.0 / spec.output_max)
                table = activation_table(node.activation, float(s[0]), float(s_post[0]), spec)
                nonneg = node.activation in ("relu6", "sigmoid")
            transform = InputTransform(mode=mode, magnify=mag)
            if node.op == "conv2d":
                kh, kw = node.weights.shape[:2]
                if node.padding == "same":
                    pt, pb = same_padding(src_shape[0], kh, node.stride[0])
                    pl, pr = same_padding(src_shape[1], kw, node.stride[1])
                else:
                    pt = pb = pl = pr = 0
                geo = ConvGeometry(in_shape=chip_src_shape, kernel_h=kh,
                                   kernel_w=kw, stride_h=node.stride[0], stride_w=node.stride[1],
                                   pad_top=pt, pad_bottom=pb, pad_left=pl, pad_right=pr,
                                   pad_code=int(cz_ch[0]))
                kind = LayerKind.CONV2D
            else:
                geo, kind = None, LayerKind.DENSE
            ops.append(ArrayLayer(
                name=node.name, kind=kind, inputs=(src.op,), weights=Wq.astype(np.int8),
                bias_cells=bias_cells, shift=int(g), activation=act, table=table,
                transform=transform, conv=geo))
            post_max = out_range(node, node.output) if node.activation not in ("tanh", "sigmoid") \
                else np.ones(n_out_ch)
            code_max = float(np.minimum(post_max / (s_post * copies), spec.output_max).max())
            mean_err = None
            if resid is not None and node.activation in ("none", "relu"):
                mean_err = resid * copies  # in units of the copy sum
                if node.activation == "relu":
                    pre = stats.get(f"{node.name}:pre")
                    pf = pre.pos_frac if pre is not None and pre.pos_frac is not None else 0.5
                    mean_err = mean_err * pf
            chip[node.output] = _ChipTensor(op=node.name, scale=s_post, nonneg=nonneg,
                                            code_max=code_max, mean_err=mean_err, copies=copies)
            report.append({
                "name": node.name, "source": node.source, "kind": kind.value,
                "depthwise": node.depthwise, "rows": int(Wq.shape[0]), "outputs": int(Wq.shape[1]),
                "copies": copies, "input_copies": int(src.copies),
                "shift": int(g), "input_mode": mode.value, "magnify": int(mag),
                "bias_rows": int(R), "bias_columns_clipped": int(n_bias_clip),
                "weight_absmax": int(np.abs(Wq.astype(np.int64)).max()),
                "per_channel_scale": not is_uniform,
                "scale_min": float(s_post.min()), "scale_max": float(s_post.max()),
                "activation": node.activation,
            })
            continue
        # digital ops
        srcs = [chip[i] for i in node.inputs]
        a = out_range(node, node.output)
        if node.op in ("avgpool", "maxpool"):
            src = srcs[0]
            if node.op == "maxpool":
                op = Pool(name=node.name, inputs=(src.op,), kind="max", pool_h=node.pool[0],
                          pool_w=node.pool[1], stride_h=node.stride[0], stride_w=node.stride[1])
                desc = "max"
            else:
                cnt = node.pool[0] * node.pool[1]
                mult = int(round(2**POOL_SHIFT / cnt))
                op = Pool(name=node.name, inputs=(src.op,), kind="avg", pool_h=node.pool[0],
                          pool_w=node.pool[1], stride_h=node.stride[0], stride_w=node.stride[1],
                          multiplier=mult, offset=2 ** (POOL_SHIFT - 1), shift=POOL_SHIFT)
                desc = f"avg 1/{cnt} ~ {mult}/2^{POOL_SHIFT}"
            ops.append(op)
            cur = _ChipTensor(op=node.name, scale=src.scale, nonneg=src.nonneg,
                              code_max=src.code_max, mean_err=src.mean_err, copies=src.copies)
        elif node.op == "add":
            sa, sb = float(srcs[0].scale.max()), float(srcs[1].scale.max())
            so = float((a / spec.output_max).max())
            ma = int(round(sa / so * 2**DIGITAL_SHIFT))
            mb = int(round(sb / so * 2**DIGITAL_SHIFT))
            ops.append(Add(name=node.name, inputs=(srcs[0].op, srcs[1].op), mult_a=ma, mult_b=mb,
                           offset=2 ** (DIGITAL_SHIFT - 1), shift=DIGITAL_SHIFT))
            desc = f"add {ma}/2^{DIGITAL_SHIFT}, {mb}/2^{DIGITAL_SHIFT}"
            cur = _ChipTensor(op=node.name, scale=np.full(n_out_ch, so), nonneg=False,
                              code_max=float(spec.output_max))
        elif node.op == "concat":
            names = []
            if node.output in uniform:
                so = max(float(s.scale.max()) for s in srcs)
                for k, s in enumerate(srcs):
                    if abs(float(s.scale.max()) - so) > 1e-12 * so:
                        m = int(round(float(s.scale.max()) / so * 2**DIGITAL_SHIFT))
                        rn = f"{node.name}_rescale{k}"
                        ops.append(Rescale(name=rn, inputs=(s.op,), multiplier=m,
                                           offset=2 ** (DIGITAL_SHIFT - 1), shift=DIGITAL_SHIFT))
                        report.append({"name": rn, "source": node.source, "kind": "rescale",
                                       "digital": f"x*{m}/2^{DIGITAL_SHIFT}"})
                        names.append(rn)
                    else:
                        names.append(s.op)
                scale = np.full(n_out_ch, so)
            else:
                names = [s.op for s in srcs]
                scale = np.concatenate([np.broadcast_to(s.scale, (graph.tensors[i].shape[-1],))
                                        for s, i in zip(srcs, node.inputs)])
            ops.append(Concat(name=node.name, inputs=tuple(names)))
            desc = f"concat of {len(names)}"
            cur = _ChipTensor(op=node.name, scale=scale, nonneg=all(s.nonneg for s in srcs),
                              code_max=max(s.code_max for s in srcs))
        else:  # pragma: no cover
            raise CompileError(f"layer {node.name}: unknown op {node.op}")
        report.append({"name": node.name, "source": node.source, "kind": node.op,
                       "digital": desc})
        if node.activation != "none":
            an = f"{node.name}_{node.activation}"
            if node.activation == "relu":
                ops.append(Activate(name=an, inputs=(cur.op,), activation=Activation.RELU))
                cur = _ChipTensor(op=an, scale=cur.scale, nonneg=True, code_max=cur.code_max)
            else:
                if node.activation in ("tanh", "sigmoid"):
                    raise CompileError(f"layer {node.name} ({node.source}): {node.activation} "
                                       "after a digital op", hint="apply it in an array layer")
                t = activation_table(node.activation, float(cur.scale.max()),
                                     float(cur.scale.max()), spec)
                ops.append(Activate(name=an, inputs=(cur.op,), activation=Activation.TABLE,
                                    table=t))
                cur = _ChipTensor(op=an, scale=cur.scale, nonneg=node.activation == "relu6",
                                  code_max=cur.code_max)
            report.append({"name": an, "source": node.source, "kind": "activate",
                           "digital": node.activation})
        chip[node.output] = cur
    out = chip[graph.output]
    out_scale = np.broadcast_to(out.scale, (graph.tensors[graph.output].shape[-1],))
    md = {
        "source_kind": graph.source_kind,
        "source_model": graph.source_path,
        "input_scale": graph.input_scale,
        "input_zero_code": graph.input_zero_code,
        "output_scale": float(out_scale.max()),
        "output_softmax": graph.output_softmax,
        "tensor_scales": {chip[t].op: [float(v) for v in np.tile(np.broadcast_to(
            chip[t].scale, (graph.tensors[t].shape[-1],)), chip[t].copies)]
            for t in chip if t != graph.input},
        "tensor_copies": {chip[t].op: chip[t].copies for t in chip if chip[t].copies > 1},
        "tensor_map": {t: chip[t].op for t in chip},
    }
    if metadata:
        md.update(metadata)
    program = Program(name=graph.name, mode=ProgramMode.WINDOW, input_width=int(w),
                      input_frames=int(h), ops=tuple(ops), labels=tuple(labels), chip=spec.name,
                      frontend=dict(frontend or {}), metadata=md)
    return program, report


def _valid_fraction(node: IRNode, src_shape: tuple[int, ...]) -> np.ndarray:
    """Per logical row: share of output positions where the row reads a real (unpadded) input."""
    if node.op != "conv2d" or node.padding != "same":
        return np.ones(1)
    kh, kw = node.weights.shape[:2]
    c = int(src_shape[-1])
    fr = []
    for size, k, st, axis in ((src_shape[0], kh, node.stride[0], 0),
                              (src_shape[1], kw, node.stride[1], 1)):
        p0, _ = same_padding(int(size), k, st)
        out = -(-int(size) // st)
        pos = np.arange(out)[:, None] * st + np.arange(k)[None, :] - p0  # (out, k)
        fr.append(((pos >= 0) & (pos < size)).mean(axis=0))
    tap = (fr[0][:, None] * fr[1][None, :]).reshape(-1)  # (kh*kw,) row-major taps
    return np.repeat(tap, c)


def _pn_rows(node: IRNode, Wq: np.ndarray, src_shape: tuple[int, ...]) -> np.ndarray:
    """Rows for PN input: per conv position [W_pos; -W_pos]; dense: [W; -W]."""
    if node.op == "conv2d":
        c = int(src_shape[-1])
        blocks = Wq.reshape(-1, c, Wq.shape[1])  # (positions, C, N)
        return np.concatenate([blocks, -blocks], axis=1).reshape(-1, Wq.shape[1])
    return np.concatenate([Wq, -Wq], axis=0)


def _spread_bias(k: np.ndarray, rows: int, spec: ChipSpec) -> np.ndarray:
    """Spread integer bias multiples k (N,) over ``rows`` int8 cells per column (sum == k)."""
    base = np.floor_divide(k, rows)
    rem = k - base * rows
    cells = np.repeat(base[None, :], rows, axis=0)
    cells += (np.arange(rows)[:, None] < rem[None, :]).astype(np.int64)
    if cells.min(initial=0) < spec.weight_min or cells.max(initial=0) > spec.weight_max:
        raise CompileError("internal: bias cell out of range after clipping")
    return cells.astype(np.int8)
