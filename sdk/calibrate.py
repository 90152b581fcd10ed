"""Calibration: checks the calibration set and measures every tensor's range on it.

The compiler needs at least ``CompileOptions.min_calibration_frames`` (default 100, as the vendor's
compiler requires) calibration examples. For the WINDOW programs the importers build, one example is
one model input window (``frames x width`` codes). The calibration set runs through the float
reference of the layer graph (:func:`wtmkws.sdk.lowering.run_float`); for each tensor and channel
the kept range is the ``1 - clip_fraction`` quantile of ``|v|`` (of ``max(v, 0)`` for ReLU-like
outputs), so that at most ``clip_fraction`` of the calibration values saturate the int8 output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wtmkws.sdk.lowering import CompileError, IRGraph, TensorStats, run_float

__all__ = ["check_calibration", "to_codes", "calibration_stats"]


def check_calibration(calib: np.ndarray, *, frames: int, width: int, minimum: int,
                      what: str = "calibration data") -> np.ndarray:
    """Validate the calibration array's shape and count.

    Args:
        calib: (N, frames, width), (N, frames, width, 1) or (N, frames * width) array.
        frames: frames per model input window.
        width: features per frame.
        minimum: fewest examples accepted.
        what: name used in messages.

    Returns:
        (N, frames, width) view of ``calib``.

    Raises:
        CompileError: wrong shape, non-finite values, or fewer than ``minimum`` examples.
    """
    a = np.asarray(calib)
    if a.dtype.kind not in "uif":
        raise CompileError(f"{what}: dtype {a.dtype} is not numeric", hint="pass uint8 codes, "
                           "int8 model inputs or float features")
    n = a.shape[0] if a.ndim else 0
    if a.ndim == 4 and a.shape[1:] == (frames, width, 1):
        a = a[..., 0]
    elif a.ndim == 2 and a.shape[1] == frames * width:
        a = a.reshape(n, frames, width)
    if a.ndim != 3 or a.shape[1:] != (frames, width):
        raise CompileError(
            f"{what}: shape {tuple(np.shape(calib))} does not match the model input "
            f"(N, {frames}, {width})",
            hint=f"give N windows of {frames} frames x {width} features (N >= {minimum})",
        )
    if a.shape[0] < minimum:
        raise CompileError(
            f"{what}: {a.shape[0]} examples, at least {minimum} are needed",
            hint="add calibration windows (for example from more recordings)",
        )
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise CompileError(f"{what}: contains NaN or infinite values", hint="clean the features")
    return a


def to_codes(a: np.ndarray, *, input_scale: float, input_zero_code: int) -> np.ndarray:
    """Turn calibration/test inputs into program input codes.

    uint8 arrays are taken as codes; int8 arrays as the int8 model input ``q`` (codes = q + 128);
    float arrays as real features, quantized as ``clip(round(f / input_scale) + zero, 0, 255)``.

    Args:
        a: (N, frames, width) array.
        input_scale: real value of one code step.
        input_zero_code: code of real 0.

    Returns:
        (N, frames, width) uint8 codes.
    """
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.int8:
        return (a.astype(np.int16) + 128).astype(np.uint8)
    if a.dtype.kind in "iu":
        if a.min(initial=0) < 0 or a.max(initial=0) > 255:
            raise CompileError(f"integer inputs outside 0..255 (min {a.min()}, max {a.max()})",
                               hint="pass uint8 codes, int8 model inputs or float features")
        return a.astype(np.uint8)
    q = np.floor(a.astype(np.float64) / input_scale + 0.5) + input_zero_code
    return np.clip(q, 0, 255).astype(np.uint8)


def calibration_stats(
    graph: IRGraph,
    codes: np.ndarray,
    *,
    clip_fraction: float,
    batch: int = 64,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, TensorStats]:
    """Range statistics of every graph tensor (and pre-activations) on the calibration codes.

    Args:
        graph: the layer graph.
        codes: (N, frames, width) uint8 calibration codes.
        clip_fraction: share of values allowed to exceed the kept range, 0 <= x < 1.
        batch: examples per float run.
        on_progress: called with (done, total) examples.

    Returns:
        Tensor name (or ``"<node>:pre"``) -> per-channel statistics.
    """
    n = codes.shape[0]
    acc: dict[str, list[np.ndarray]] = {}
    for i in range(0, n, batch):
        vals = run_float(graph, codes[i:i + batch], keep_pre_activation=True)
        for k, v in vals.items():
            acc.setdefault(k, []).append(v.reshape(-1, v.shape[-1]))
        if on_progress is not None:
            on_progress(min(i + batch, n), n)
    relu_like = {nd.output for nd in graph.nodes if nd.activation in ("relu", "relu6", "sigmoid")}
    out: dict[str, TensorStats] = {}
    q = 1.0 - clip_fraction
    for k, parts in acc.items():
        v = np.concatenate(parts, axis=0)  # (samples, C)
        mag = np.maximum(v, 0.0) if k in relu_like else np.abs(v)
        if q >= 1.0:
            absmax = mag.max(axis=0)
        else:
            absmax = np.quantile(mag, q, axis=0)
        absmax = np.where(absmax > 0, absmax, np.maximum(mag.max(axis=0), 1e-6))
        out[k] = TensorStats(absmax=absmax, mean=v.mean(axis=0), mean_sq=(v * v).mean(axis=0),
                             max=v.max(axis=0), pos_frac=(v > 0).mean(axis=0))
    return out
