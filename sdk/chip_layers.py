"""Keras 3 quantization-aware layers whose forward pass is the chip's array arithmetic, exactly.

The layers work in the **code domain**: inputs are uint8 input codes (0..255, carried as float32
integers), outputs are the int8 values (-128..127) the array produces. For one output column ``j``::

    x      = min(v << magnify, 255)                     (the layer's InputTransform, DIRECT mode)
    acc[j] = sum_i x[i] * W[i][j] + bias_input_code * k[j]   (exact integer arithmetic)
    y[j]   = clip(floor(acc[j] / 2**shift), -128, 127)
    out[j] = y[j] | max(y[j], 0) | table[y[j] & 0xFF]     (activation: none | relu | table)

Training keeps float "shadow" parameters and quantizes them in the forward pass:

* weights: ``W = clip(round(w * 128), -128, 127)`` with ``w`` constrained to [-1, 127/128];
* bias: ``k = clip(round(b * 128 * R), -128*R, 127*R)`` where ``R`` is the layer's bias-row count,
  so the accumulator bias ``bias_input_code * k`` is a multiple of 128 in the bias-row range and
  the export spreads ``k`` over ``R`` int8 bias cells;
* round/floor/clip use straight-through estimators (identity gradient; clip passes gradient only
  inside its range), so the shadow parameters receive non-zero gradients; the ReLU passes a
  small gradient (``RELU_LEAK``) below zero so units cannot die during training.

The shift ``g`` (G = 2**g in ChipSpec's shift range) and the input magnify ``m`` are fixed Python
integers, chosen by :func:`calibrate_chain` from data before training. Exactness: products and sums
are integers; they are computed in float32 when the worst case ``255 * 128 * rows + 128 * 128 * R``
is below 2**24 (every partial sum then is an exactly representable integer), otherwise in float64.

Noise-aware mode (``layer.noise_aware = True`` during fine-tuning) adds, in training only, seeded
Gaussian programming error to every weight cell (std ``ChipSpec.noise.programming_std_lsb``) and
read noise to the scaled column sum (std ``ChipSpec.noise.read_std_lsb`` output LSB), the
magnitudes the firmware model's non-ideal mode uses. Inference is always ideal.

``ChipDense`` is a DENSE layer (applied per frame on ``(batch, T, C)`` or on ``(batch, C)``);
``ChipTDNN`` concatenates frames ``t + c`` for its context offsets ``c`` ("valid": the output is
``T - (max(c) - min(c))`` frames long), exactly as a STREAM program's TDNN layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops
from wtmkws.audio_pipeline.errors import WtmkwsError
from wtmkws.firmware_model.spec import ChipSpec, get_chip

__all__ = [
    "RELU_LEAK",
    "WEIGHT_SCALE",
    "ChipDense",
    "ChipLayerError",
    "ChipTDNN",
    "calibrate_chain",
    "chip_layers_of",
    "integer_forward",
    "set_noise_aware",
]

WEIGHT_SCALE = 128.0
"""Shadow weight w maps to the int8 cell round(w * WEIGHT_SCALE)."""

RELU_LEAK = 0.05
"""Gradient slope of the ReLU below zero (straight-through leak; the forward pass is exact)."""

_EXACT_F32_LIMIT = 2**24


class ChipLayerError(WtmkwsError):
    """A QAT layer is configured outside what the chip can compute."""


def _ste_round(x: Any) -> Any:
    return x + ops.stop_gradient(ops.round(x) - x)


def _ste_floor(x: Any) -> Any:
    return x + ops.stop_gradient(ops.floor(x) - x)


class _ChipArrayLayer(keras.layers.Layer):
    """Shared machinery of ChipDense and ChipTDNN (one flash-array layer)."""

    def __init__(
        self,
        units: int,
        *,
        context: Sequence[int] = (0,),
        shift: int | None = None,
        input_magnify: int = 0,
        activation: str = "relu",
        table: Sequence[int] | None = None,
        bias_rows: int | None = None,
        chip: str = "WTM2101",
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        spec = get_chip(chip)
        self.chip = spec.name
        self.units = int(units)
        if self.units < 1 or self.units > spec.usable_cols * 64:
            raise ChipLayerError(f"layer {self.name}: units={units} must be >= 1")
        self.context = tuple(int(c) for c in context)
        if not self.context or len(set(self.context)) != len(self.context):
            raise ChipLayerError(f"layer {self.name}: context {self.context} must be distinct offsets")
        self.shift = spec.shift_min if shift is None else int(shift)
        if not spec.shift_min <= self.shift <= spec.shift_max:
            raise ChipLayerError(
                f"layer {self.name}: shift={self.shift} outside {spec.shift_min}..{spec.shift_max}",
                hint="G = 2**shift must be in the chip's scale range",
            )
        self.input_magnify = int(input_magnify)
        if not 0 <= self.input_magnify <= 7:
            raise ChipLayerError(f"layer {self.name}: input_magnify={input_magnify} outside 0..7")
        if activation not in ("relu", "none", "table"):
            raise ChipLayerError(
                f"layer {self.name}: activation {activation!r} not one of relu, none, table"
            )
        self.activation_kind = activation
        if activation == "table":
            if table is None or len(table) != 256:
                raise ChipLayerError(f"layer {self.name}: a table activation needs 256 int8 entries")
            tab = np.asarray(table, dtype=np.int64)
            if tab.min() < spec.output_min or tab.max() > spec.output_max:
                raise ChipLayerError(f"layer {self.name}: table values outside int8")
            self.table = tuple(int(v) for v in tab)
        else:
            self.table = None
        self.bias_rows = spec.bias_rows_default if bias_rows is None else int(bias_rows)
        if not 1 <= self.bias_rows <= spec.bias_rows_max:
            raise ChipLayerError(
                f"layer {self.name}: bias_rows={self.bias_rows} outside 1..{spec.bias_rows_max}"
            )
        self.seed = int(seed)
        self.noise_aware = False
        self._noise_seed = keras.random.SeedGenerator(self.seed + 7919)

    # ----------------------------------------------------------------- parameters
    @property
    def spec(self) -> ChipSpec:
        """The chip spec the layer targets."""
        return get_chip(self.chip)

    @property
    def span(self) -> int:
        """max(context) - min(context): frames the layer removes from a sequence."""
        return max(self.context) - min(self.context)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.in_channels = int(input_shape[-1])
        rows = self.in_channels * len(self.context)
        self.n_rows = rows
        limit = float(np.sqrt(3.0 / rows)) * 2.0  # std ~ 1.15/sqrt(rows), calibrated later
        self.kernel = self.add_weight(
            name="kernel",
            shape=(rows, self.units),
            initializer=keras.initializers.RandomUniform(-min(limit, 1.0), min(limit, 1.0),
                                                         seed=self.seed),
            constraint=_ClipConstraint(),
            trainable=True,
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.units,), initializer="zeros",
            constraint=_ClipConstraint(), trainable=True,
        )
        spec = self.spec
        worst = (spec.input_code_max * (-spec.weight_min) * rows
                 + spec.bias_input_code * (-spec.weight_min) * self.bias_rows)
        self._exact_dtype = "float32" if worst < _EXACT_F32_LIMIT else "float64"
        if self.table is not None:
            tab = np.asarray(self.table, dtype=np.float32)
            slope = (np.roll(tab, -1) - np.roll(tab, 1)) / 2.0
            self._table_const = tab
            self._slope_const = slope.astype(np.float32)

    @property
    def bias_scale(self) -> float:
        """Shadow bias b maps to k = round(b * bias_scale) (k in units of bias_input_code)."""
        return float(-self.spec.weight_min * self.bias_rows)

    def quantized_kernel(self) -> Any:
        """(rows, units) float tensor of int8 weight cells (straight-through)."""
        spec = self.spec
        w = _ste_round(self.kernel * WEIGHT_SCALE)
        return ops.clip(w, float(spec.weight_min), float(spec.weight_max))

    def quantized_bias(self) -> Any:
        """(units,) float tensor: k = sum of the layer's bias cells (straight-through)."""
        spec = self.spec
        k = _ste_round(self.bias * self.bias_scale)
        return ops.clip(k, float(spec.weight_min * self.bias_rows),
                        float(spec.weight_max * self.bias_rows))

    def integer_params(self) -> tuple[np.ndarray, np.ndarray]:
        """The layer's integer parameters as the chip holds them.

        Returns:
            weights: (rows, units) int8 cells, rows ordered per context offset then channel.
            bias_cells: (bias_rows, units) int8 cells whose column sums are the layer's k.
        """
        w = np.asarray(keras.ops.convert_to_numpy(self.quantized_kernel())).astype(np.int64)
        k = np.asarray(keras.ops.convert_to_numpy(self.quantized_bias())).astype(np.int64)
        r = self.bias_rows
        base = np.floor_divide(k, r)
        rem = k - base * r
        cells = np.repeat(base[None, :], r, axis=0)
        cells += (np.arange(r)[:, None] < rem[None, :]).astype(np.int64)
        return w.astype(np.int8), cells.astype(np.int8)

    # ----------------------------------------------------------------- forward
    def _transform_input(self, x: Any) -> Any:
        spec = self.spec
        if self.input_magnify:
            x = x * float(2**self.input_magnify)
        return ops.clip(x, float(spec.input_code_min), float(spec.input_code_max))

    def _gather_context(self, x: Any) -> Any:
        if self.context == (0,):
            return x
        cmin, cmax = min(self.context), max(self.context)
        t = ops.shape(x)[1]
        parts = [x[:, c - cmin: t - (cmax - c), :] for c in self.context]
        return ops.concatenate(parts, axis=-1)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        spec = self.spec
        x = self._gather_context(self._transform_input(ops.cast(inputs, "float32")))
        w = self.quantized_kernel()
        k = self.quantized_bias()
        noisy = bool(training) and self.noise_aware
        if noisy:
            w = w + keras.random.normal(ops.shape(w), stddev=spec.noise.programming_std_lsb,
                                        seed=self._noise_seed)
        dt = self._exact_dtype
        acc = ops.matmul(ops.cast(x, dt), ops.cast(w, dt)) + ops.cast(
            k * float(spec.bias_input_code), dt)
        y = ops.cast(acc * (2.0 ** -self.shift), "float32")
        if noisy:
            y = y + keras.random.normal(ops.shape(y), stddev=spec.noise.read_std_lsb,
                                        seed=self._noise_seed)
        y = _ste_floor(y)
        y = ops.clip(y, float(spec.output_min), float(spec.output_max))
        if self.activation_kind == "relu":
            # forward: exactly relu(y) (neg - neg == 0); backward: slope 1 above zero and
            # RELU_LEAK below, so a unit pushed below zero by one step can recover (no dead
            # network; the chip's arithmetic is unchanged)
            neg = ops.minimum(y, 0.0)
            return ops.relu(y) + RELU_LEAK * (neg - ops.stop_gradient(neg))
        if self.activation_kind == "table":
            idx = ops.cast(ops.mod(ops.cast(y, "int32"), 256), "int32")
            out = ops.take(ops.convert_to_tensor(self._table_const), idx)
            slope = ops.take(ops.convert_to_tensor(self._slope_const), idx)
            return ops.stop_gradient(out) + slope * (y - ops.stop_gradient(y))
        return y

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        shape = list(input_shape)
        if len(shape) == 3 and self.context != (0,) and shape[1] is not None:
            shape[1] = shape[1] - self.span
        shape[-1] = self.units
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(
            units=self.units, context=list(self.context), shift=self.shift,
            input_magnify=self.input_magnify, activation=self.activation_kind,
            table=None if self.table is None else list(self.table), bias_rows=self.bias_rows,
            chip=self.chip, seed=self.seed,
        )
        return cfg


@keras.saving.register_keras_serializable(package="wtmkws")
class _ClipConstraint(keras.constraints.Constraint):
    """Keeps shadow parameters in [-1, 127/128] (the representable int8 range / 128)."""

    def __call__(self, w: Any) -> Any:
        return ops.clip(w, -1.0, 127.0 / 128.0)

    def get_config(self) -> dict[str, Any]:
        return {}


@keras.saving.register_keras_serializable(package="wtmkws")
class ChipDense(_ChipArrayLayer):
    """A DENSE array layer in the code domain (see the module docstring).

    Args:
        units: output columns.
        shift: g (G = 2**g), in ChipSpec.shift_min..shift_max; set by calibrate_chain.
        input_magnify: m in the input transform x = min(v << m, 255), 0..7.
        activation: "relu" (hidden layers), "none" (int8 logits) or "table".
        table: 256 int8 entries for "table".
        bias_rows: R, 1..ChipSpec.bias_rows_max (default ChipSpec.bias_rows_default).
        chip: chip registry name.
        seed: seed of the weight initializer and the noise-aware generator.

    Input: (batch, C) or (batch, T, C) float32 codes; output: same leading shape, units columns.
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        kwargs.pop("context", None)
        super().__init__(units, context=(0,), **kwargs)


@keras.saving.register_keras_serializable(package="wtmkws")
class ChipTDNN(_ChipArrayLayer):
    """A TDNN array layer: frames t + c for each context offset c, concatenated, then the array.

    Args:
        units: output columns.
        context: offsets in frames (stored order = weight row order), e.g. (-2, -1, 0, 1, 2).
        **kwargs: as ChipDense.

    Input: (batch, T, C) float32 codes; output (batch, T - span, units) where span = max - min.
    """

    def __init__(self, units: int, *, context: Sequence[int] = (-2, -1, 0, 1, 2),
                 **kwargs: Any) -> None:
        super().__init__(units, context=context, **kwargs)


def chip_layers_of(model: keras.Model) -> list[_ChipArrayLayer]:
    """The model's chip array layers in order (ChipDense/ChipTDNN)."""
    return [layer for layer in model.layers if isinstance(layer, _ChipArrayLayer)]


def set_noise_aware(model: keras.Model, enabled: bool) -> None:
    """Turn noise-aware (programming + read noise) training on or off for every chip layer.

    Recompile the model afterwards so the training step is traced again.
    """
    for layer in chip_layers_of(model):
        layer.noise_aware = bool(enabled)


def integer_forward(model: keras.Model, codes: np.ndarray) -> np.ndarray:
    """Run the chain of chip layers in exact int64 NumPy arithmetic (independent of Keras ops).

    Args:
        model: a model whose layers are a chain of ChipDense/ChipTDNN layers.
        codes: (T, C) or (N, T, C) uint8 input codes.

    Returns:
        (T', units) or (N, T', units) int64 outputs of the last layer.
    """
    spec: ChipSpec | None = None
    x = np.asarray(codes).astype(np.int64)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[None]
    for layer in chip_layers_of(model):
        spec = layer.spec
        w, b = layer.integer_params()
        v = np.minimum(x << layer.input_magnify, spec.input_code_max)
        if layer.context != (0,):
            cmin, cmax = min(layer.context), max(layer.context)
            t = v.shape[1]
            v = np.concatenate([v[:, c - cmin: t - (cmax - c), :] for c in layer.context], axis=-1)
        acc = v @ w.astype(np.int64) + spec.bias_input_code * b.astype(np.int64).sum(axis=0)
        y = np.clip(acc >> layer.shift, spec.output_min, spec.output_max)
        if layer.activation_kind == "relu":
            y = np.maximum(y, 0)
        elif layer.activation_kind == "table":
            y = np.asarray(layer.table, dtype=np.int64)[y & 0xFF]
        x = y
    return x[0] if squeeze else x


def calibrate_chain(
    model: keras.Model,
    codes: np.ndarray,
    *,
    target_std: float = 24.0,
    output_target_std: float = 12.0,
) -> list[dict[str, float]]:
    """Data-dependent initialisation: pick each layer's shift, bias and next-layer magnify.

    Layer by layer on a calibration batch: set the magnify so the 99.9th percentile of the (ReLU)
    input fills the code range, centre the accumulator with the bias (clipped to the bias-row
    range), choose the shift g so the scaled output has about ``target_std`` LSB of spread, and
    rescale the shadow weights when even the extreme shifts cannot reach that spread.

    Args:
        model: a built chain of chip layers.
        codes: (N, T, C) uint8 calibration codes.
        target_std: wanted std of hidden-layer outputs in int8 LSB.
        output_target_std: wanted std of the last layer's outputs.

    Returns:
        One dict per layer: shift, magnify, acc_std, scale_factor (for reports).
    """
    layers = chip_layers_of(model)
    x = np.asarray(codes).astype(np.int64)
    info: list[dict[str, float]] = []
    for idx, layer in enumerate(layers):
        spec = layer.spec
        if idx > 0:
            p = float(np.percentile(x, 99.9)) if x.size else 0.0
            m = 0 if p <= 0 else int(np.clip(np.floor(np.log2(spec.input_code_max / p)), 0, 7))
            layer.input_magnify = m
        v = np.minimum(x << layer.input_magnify, spec.input_code_max)
        if layer.context != (0,):
            cmin, cmax = min(layer.context), max(layer.context)
            t = v.shape[1]
            v = np.concatenate([v[:, c - cmin: t - (cmax - c), :] for c in layer.context], axis=-1)
        flat = v.reshape(-1, v.shape[-1]).astype(np.float64)
        last = idx == len(layers) - 1
        target = output_target_std if last else target_std
        factor = 1.0
        for _ in range(4):
            w, _ = layer.integer_params()
            acc = flat @ w.astype(np.float64)
            mean = acc.mean(axis=0)
            std = float(np.median(acc.std(axis=0))) + 1e-9
            g = int(np.clip(np.round(np.log2(std / target)), spec.shift_min, spec.shift_max))
            f = target * 2.0**g / std
            if 0.5 <= f <= 2.0:
                break
            kernel = np.asarray(layer.kernel.numpy()) * f
            layer.kernel.assign(np.clip(kernel, -1.0, 127.0 / 128.0).astype(np.float32))
            factor *= f
        layer.shift = g
        k = np.clip(np.round(-mean / spec.bias_input_code), spec.weight_min * layer.bias_rows,
                    spec.weight_max * layer.bias_rows)
        layer.bias.assign((k / layer.bias_scale).astype(np.float32))
        w, b = layer.integer_params()
        acc = flat @ w.astype(np.float64) + spec.bias_input_code * b.astype(np.float64).sum(0)
        y = np.clip(np.floor(acc / 2.0**g), spec.output_min, spec.output_max)
        if layer.activation_kind == "relu":
            y = np.maximum(y, 0)
        info.append({"shift": g, "magnify": layer.input_magnify, "acc_std": std,
                     "scale_factor": factor})
        x = y.reshape(v.shape[:-1] + (layer.units,)).astype(np.int64)
    return info
