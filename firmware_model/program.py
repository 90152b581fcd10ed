"""The program representation: what runs on the chip, as integers.

A :class:`Program` is an ordered tuple of operations. Each operation has a unique ``name`` and reads
the tensors named in ``inputs`` (``"input"`` is the program input, any other name is an earlier
operation's output). The last operation's output is the program output. Every value is an integer:

* the program input is uint8 **input codes** (0..255);
* every operation outputs **int8** values (-128..127), except :class:`Argmax` (an int index);
* array layers hold int8 weight cells, int8 bias-row cells and a shift ``g``.

Two execution modes (:class:`ProgramMode`):

* ``STREAM``: the input is a sequence of feature frames, shape ``(T, input_width)``. Every tensor is
  ``(T_k, C)``: one vector per frame. Only :class:`ArrayLayer` of kind DENSE or TDNN and the
  per-frame digital ops (:class:`Activate`, :class:`Add`, :class:`Concat`, :class:`Rescale`,
  :class:`Argmax`) are allowed. A TDNN layer with context offsets ``c`` emits output frame ``t``
  from input frames ``t + c`` for all ``c``; outputs exist only where every context frame exists
  ("valid"), so a layer with offsets spanning ``span = max(c) - min(c)`` shortens the sequence by
  ``span`` frames. Streaming (one frame at a time, ring buffers) and whole-utterance runs therefore
  give identical frames.
* ``WINDOW``: the input is one window of ``input_frames`` frames, reshaped to ``(H, W, C) =
  (input_frames, input_width, 1)``. Tensors are ``(H, W, C)`` or, after a DENSE layer, ``(C,)``.
  CONV2D layers run through im2col; :class:`Pool` is allowed. The host runs the program once per
  window (the detector slides the window).

How an array layer turns its source tensor into input codes is its :class:`InputTransform`
(applied to a *position vector*: the channel vector of one conv position, the frame vector of a
TDNN/dense layer in STREAM mode, or the whole flattened tensor for DENSE in WINDOW mode):

* ``DIRECT``: ``x = min(v << magnify, 255)``; the source must be non-negative (the program input,
  or a ReLU output).
* ``OFFSET``: ``x = v + 128`` (``magnify`` must be 0). The compiler folds the correction
  ``-128 * sum_i W[i][j]`` into the bias cells.
* ``PN``: ``x = concat(min(max(v, 0) << magnify, 255), min(max(-v, 0) << magnify, 255))``; the
  weight rows are ``[W; -W]`` as stored (the layer's ``weights`` already has twice the rows).

Rows of an array layer's ``weights`` (logical input rows), in order:

* DENSE: the transformed position vector.
* TDNN: for each offset in ``context`` (in the stored order), the transformed frame vector at
  ``t + offset``.
* CONV2D: for ``ky`` in ``0..kernel_h-1``, ``kx`` in ``0..kernel_w-1`` (row-major), the
  transformed channel vector at input position ``(oy*stride_h + ky - pad_top,
  ox*stride_w + kx - pad_left)``; positions outside the input contribute ``pad_code`` for every
  transformed row (a code, after the transform).

One array layer computes, per output column ``j`` (see ``docs/chip-model.md``)::

    acc[j] = sum_i x[i] * W[i][j] + bias_input_code * sum_r B[r][j]     (exact)
    y[j]   = clip(floor(acc[j] / 2**shift), -128, 127)
    out[j] = y[j] | max(y[j], 0) | table[y[j] & 0xFF]                   (activation)

This module holds data only (frozen dataclasses with light validation against a
:class:`~wtmkws.firmware_model.spec.ChipSpec`). Running, placing, costing and saving programs live
in their own modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

import numpy as np

from wtmkws.audio_pipeline.errors import WtmkwsError
from wtmkws.firmware_model.spec import ChipSpec, get_chip

__all__ = [
    "ProgramError",
    "ProgramMode",
    "LayerKind",
    "Activation",
    "InputMode",
    "InputTransform",
    "ConvGeometry",
    "Block",
    "ArrayLayer",
    "Activate",
    "Add",
    "Rescale",
    "Concat",
    "Pool",
    "Argmax",
    "Op",
    "Program",
    "INPUT",
]

INPUT = "input"
"""Name of the program input tensor."""


class ProgramError(WtmkwsError):
    """A program is malformed, out of range, or does not fit the chip."""


class ProgramMode(str, Enum):
    """How the program consumes feature frames."""

    STREAM = "stream"
    """Frame by frame; tensors are (T, C); DENSE/TDNN layers only."""
    WINDOW = "window"
    """One fixed window of frames per run; tensors are (H, W, C) or (C,)."""


class LayerKind(str, Enum):
    """Kinds of array layer."""

    DENSE = "dense"
    """A matrix-vector product on one position vector."""
    TDNN = "tdnn"
    """A matrix-vector product on the concatenation of frames t + c over the context offsets."""
    CONV2D = "conv2d"
    """A 2-D convolution through im2col; the array is invoked once per output position."""


class Activation(str, Enum):
    """Digital activation applied after the array's shift and saturation."""

    NONE = "none"
    """int8 out as is."""
    RELU = "relu"
    """max(y, 0), in 0..127."""
    TABLE = "table"
    """table[y & 0xFF], a 256-entry int8 lookup table indexed by the two's-complement byte."""


class InputMode(str, Enum):
    """How an array layer turns its int8/uint8 source values into uint8 input codes."""

    DIRECT = "direct"
    """x = min(v << magnify, 255); source must be non-negative."""
    OFFSET = "offset"
    """x = v + 128; bias corrected by the compiler."""
    PN = "pn"
    """x = [pos(v), neg(v)], weights stored as [W; -W]."""


@dataclass(frozen=True, kw_only=True)
class InputTransform:
    """Signed-input handling and magnification of an array layer's source."""

    mode: InputMode = InputMode.DIRECT
    """How source values become codes."""
    magnify: int = 0
    """Left shift m applied before clipping to 255 (DIRECT and PN only), 0..7."""

    def __post_init__(self) -> None:
        if not 0 <= self.magnify <= 7:
            raise ProgramError(f"input magnify={self.magnify} outside 0..7")
        if self.mode is InputMode.OFFSET and self.magnify:
            raise ProgramError("OFFSET input mode takes no magnify")

    @property
    def row_factor(self) -> int:
        """Rows per source value (2 for PN, else 1)."""
        return 2 if self.mode is InputMode.PN else 1


@dataclass(frozen=True, kw_only=True)
class ConvGeometry:
    """Geometry of a CONV2D layer (WINDOW programs)."""

    in_shape: tuple[int, int, int]
    """Source tensor shape (H, W, C)."""
    kernel_h: int
    """Kernel height (frames axis)."""
    kernel_w: int
    """Kernel width (feature axis)."""
    stride_h: int = 1
    """Stride along H."""
    stride_w: int = 1
    """Stride along W."""
    pad_top: int = 0
    """Zero-region rows added above (positions filled with ``pad_code``)."""
    pad_bottom: int = 0
    """Rows added below."""
    pad_left: int = 0
    """Columns added left."""
    pad_right: int = 0
    """Columns added right."""
    pad_code: int = 0
    """Input code (after the transform) used for padded positions, 0..255."""

    @property
    def out_hw(self) -> tuple[int, int]:
        """Output (H, W)."""
        h, w, _ = self.in_shape
        oh = (h + self.pad_top + self.pad_bottom - self.kernel_h) // self.stride_h + 1
        ow = (w + self.pad_left + self.pad_right - self.kernel_w) // self.stride_w + 1
        return oh, ow


@dataclass(frozen=True, kw_only=True)
class Block:
    """One rectangle of the array holding part of a layer.

    A layer too tall for a row region is split by input rows; too wide, by output columns. The
    block holding ``in_rows[0] == 0`` of a column range also holds that range's bias rows, placed
    right after its weight rows. Partial sums of the row blocks of one column range are added
    digitally (exactly) before the shift.
    """

    row0: int
    """First physical row."""
    col0: int
    """First physical column."""
    in_rows: tuple[int, int]
    """Half-open range of the layer's logical weight rows held here."""
    out_cols: tuple[int, int]
    """Half-open range of the layer's outputs held here."""
    bias_rows: int
    """Bias rows held here (0 or the layer's bias row count)."""

    @property
    def n_rows(self) -> int:
        """Physical rows used (weight rows + bias rows)."""
        return self.in_rows[1] - self.in_rows[0] + self.bias_rows

    @property
    def n_cols(self) -> int:
        """Physical columns used."""
        return self.out_cols[1] - self.out_cols[0]


@dataclass(frozen=True, kw_only=True, eq=False)
class ArrayLayer:
    """A layer computed by the flash array (one matrix of int8 cells plus bias rows)."""

    name: str
    """Unique name."""
    kind: LayerKind
    """DENSE, TDNN or CONV2D."""
    inputs: tuple[str, ...]
    """Exactly one source tensor name."""
    weights: np.ndarray
    """(rows, outputs) int8 cells; rows follow the order in the module docstring."""
    bias_cells: np.ndarray
    """(bias_rows, outputs) int8 cells driven with the bias input code."""
    shift: int
    """g in G = 2**g."""
    activation: Activation = Activation.NONE
    """Digital activation after the shift and saturation."""
    table: np.ndarray | None = None
    """(256,) int8 lookup table when activation is TABLE."""
    transform: InputTransform = field(default_factory=InputTransform)
    """How the source becomes input codes."""
    context: tuple[int, ...] = (0,)
    """TDNN context offsets in frames (DENSE uses (0,))."""
    conv: ConvGeometry | None = None
    """Geometry for CONV2D."""
    blocks: tuple[Block, ...] = ()
    """Placement on the array; empty until placed."""

    @property
    def n_rows(self) -> int:
        """Logical weight rows."""
        return int(self.weights.shape[0])

    @property
    def n_outputs(self) -> int:
        """Output columns."""
        return int(self.weights.shape[1])

    @property
    def n_bias_rows(self) -> int:
        """Bias rows."""
        return int(self.bias_cells.shape[0])

    @property
    def cells(self) -> int:
        """Cells the layer occupies: (rows + bias rows) x outputs (bias rows once per column)."""
        return (self.n_rows + self.n_bias_rows) * self.n_outputs

    def bias_values(self, spec: ChipSpec) -> np.ndarray:
        """(outputs,) int64 bias added to the accumulator: bias_input_code * sum of bias cells."""
        return spec.bias_input_code * self.bias_cells.astype(np.int64).sum(axis=0)


@dataclass(frozen=True, kw_only=True, eq=False)
class Activate:
    """Digital activation on int8 values: ReLU or a 256-entry table."""

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """One source."""
    activation: Activation
    """RELU or TABLE."""
    table: np.ndarray | None = None
    """(256,) int8 table for TABLE."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Rescale:
    """Digital requantization: ``clip(floor((v * multiplier + offset) / 2**shift), -128, 127)``."""

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """One source."""
    multiplier: int
    """Integer multiplier (|m| < 2**31)."""
    offset: int = 0
    """Integer added before the shift."""
    shift: int = 0
    """Right shift (0..62), floor rounding."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Add:
    """Digital add: ``clip(floor((a*mult_a + b*mult_b + offset) / 2**shift), -128, 127)``."""

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """Two sources of the same shape."""
    mult_a: int = 1
    """Multiplier of the first source."""
    mult_b: int = 1
    """Multiplier of the second source."""
    offset: int = 0
    """Integer added before the shift."""
    shift: int = 0
    """Right shift, floor rounding."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Concat:
    """Digital concatenation along the last (channel) axis; sources must agree elsewhere."""

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """Two or more sources."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Pool:
    """Digital 2-D pooling over (H, W) of a WINDOW tensor, no padding.

    max: the maximum of the window. avg: ``clip(floor((sum * multiplier + offset) / 2**shift))``,
    where the compiler picks multiplier/shift to approximate 1/count.
    """

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """One source (H, W, C)."""
    kind: str
    """"max" or "avg"."""
    pool_h: int
    """Window height."""
    pool_w: int
    """Window width."""
    stride_h: int
    """Stride along H."""
    stride_w: int
    """Stride along W."""
    multiplier: int = 1
    """avg only: integer multiplier."""
    offset: int = 0
    """avg only: integer added before the shift."""
    shift: int = 0
    """avg only: right shift, floor rounding."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Argmax:
    """Digital argmax over the last axis; ties go to the lowest index. Output is int index."""

    name: str
    """Unique name."""
    inputs: tuple[str, ...]
    """One source."""


Op = Union[ArrayLayer, Activate, Rescale, Add, Concat, Pool, Argmax]
"""Any program operation."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Program:
    """A complete chip program: operations, input description, labels and metadata."""

    name: str
    """Human name (for reports and images)."""
    mode: ProgramMode
    """STREAM or WINDOW."""
    input_width: int
    """Codes per feature frame."""
    input_frames: int
    """WINDOW: frames per window. STREAM: 1 (each step takes one frame)."""
    ops: tuple[Op, ...]
    """Operations in execution order; the last one's output is the program output."""
    labels: tuple[str, ...]
    """Output class names, in output index order."""
    chip: str = "WTM2101"
    """Target chip name (key of the chip registry)."""
    frontend: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable frontend description the program expects (FrontendConfig fields)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable free metadata (source model, compiler version, scales, ...)."""

    @property
    def spec(self) -> ChipSpec:
        """The chip spec this program targets."""
        return get_chip(self.chip)

    @property
    def array_layers(self) -> tuple[ArrayLayer, ...]:
        """The array layers in order."""
        return tuple(op for op in self.ops if isinstance(op, ArrayLayer))

    @property
    def output_name(self) -> str:
        """Name of the op whose output is the program output."""
        return self.ops[-1].name

    def op(self, name: str) -> Op:
        """The op with this name.

        Raises:
            ProgramError: no op has that name.
        """
        for op in self.ops:
            if op.name == name:
                return op
        raise ProgramError(f"program {self.name!r} has no op named {name!r}")
