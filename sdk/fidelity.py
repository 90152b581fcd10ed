"""Fidelity of a compiled program against its source model.

Per tensor (every array/digital op output that corresponds to a source tensor) and at the output:
mean and minimum per-example cosine similarity of the dequantized chip values (``y * s[c]``)
against the source's real values, max and mean absolute error in output LSB, and at the output the
top-1 agreement. The reference is the .tflite model run by ai-edge-litert with all intermediate
tensors kept (``experimental_preserve_all_tensors``), dequantized with each tensor's own scale and
zero point (LSB = that tensor's TFLite scale), or for Keras models the float graph (per layer,
LSB = the chip's mean scale) and ``model.predict`` (output). The output comparison is on the
**pre-softmax** logits (the program output; the host applies the softmax). A tensor held as
column-pair copies (``metadata["tensor_copies"]``) is compared as the sum of its copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wtmkws.firmware_model.program import Program
from wtmkws.sdk.lowering import IRGraph, run_float

__all__ = ["compare", "fidelity_report", "reference_values"]


def compare(chip: np.ndarray, ref: np.ndarray, lsb: float, *, top1: bool = False) -> dict[str, float]:
    """Compare (N, ...) dequantized chip values with reference values.

    Args:
        chip: (N, ...) float real values from the chip.
        ref: (N, ...) float real values from the source.
        lsb: real value of one output LSB for the error figures.
        top1: also compute top-1 agreement over the last axis.

    Returns:
        ``cosine_mean``, ``cosine_min``, ``max_abs_err_lsb``, ``mean_abs_err_lsb`` (and
        ``top1_agreement``).
    """
    n = chip.shape[0]
    a = chip.reshape(n, -1).astype(np.float64)
    b = ref.reshape(n, -1).astype(np.float64)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    both0 = (na == 0) & (nb == 0)
    cos = np.where(both0, 1.0, (a * b).sum(axis=1) / np.maximum(na * nb, 1e-30))
    err = np.abs(a - b) / lsb
    out = {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
           "max_abs_err_lsb": float(err.max()), "mean_abs_err_lsb": float(err.mean())}
    if top1:
        out["top1_agreement"] = float((a.argmax(axis=1) == b.argmax(axis=1)).mean())
    return out


def reference_values(graph: IRGraph, codes: np.ndarray, *, keras_model: Any = None
                     ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Source-model values for every graph tensor on input codes.

    Args:
        graph: the layer graph (knows its source).
        codes: (N, frames, width) uint8 program input codes.
        keras_model: the Keras model for Keras sources (its prediction replaces the output).

    Returns:
        (tensor name -> (N, *shape) real values, tensor name -> LSB in real units or NaN).
    """
    if graph.source_kind == "tflite":
        from wtmkws.sdk.tflite_import import read_tflite, run_tflite

        m = read_tflite(graph.source_path)
        tin = m.tensors[m.inputs[0]]
        q = (codes.astype(np.int16) - 128).astype(np.int8)
        idx = sorted({int(v) for v in graph.reference_tensors.values()})
        raw = run_tflite(m.content, q.reshape((len(codes),) + tuple(tin.shape[1:])),
                         tensor_indices=idx)
        vals, lsb = {}, {}
        for name, i in graph.reference_tensors.items():
            t = m.tensors[int(i)]
            if t.scale is None:
                continue
            r = raw[int(i)].astype(np.float64) - float(t.zero_point[0])
            vals[name] = (r * float(t.scale[0])).reshape((len(codes),) + graph.tensors[name].shape)
            lsb[name] = float(t.scale[0])
        return vals, lsb
    vals = run_float(graph, codes, fake_quant=False)
    if keras_model is not None:
        h, w, _ = graph.input_shape
        x = graph.input_scale * (codes.astype(np.float64) - graph.input_zero_code)
        x = x.reshape((len(codes),) + tuple(int(d) for d in keras_model.input_shape[1:]))
        pred = np.asarray(keras_model.predict(x.astype(np.float32), verbose=0), dtype=np.float64)
        if graph.output_softmax:
            pred = np.log(np.maximum(pred, 1e-12))  # compare logits up to a per-example constant
            pred = pred - pred.mean(axis=1, keepdims=True)
        vals["__keras_output__"] = pred
    return vals, {k: float("nan") for k in vals}


def fidelity_report(program: Program, graph: IRGraph, codes: np.ndarray, *,
                    nonideal: Any = None, keras_model: Any = None,
                    reference: tuple[dict[str, np.ndarray], dict[str, float]] | None = None
                    ) -> dict[str, Any]:
    """Per-layer and output fidelity of ``program`` against the source model.

    Args:
        program: the compiled program (its metadata holds ``tensor_map`` and ``tensor_scales``).
        graph: the layer graph it was lowered from.
        codes: (N, frames, width) uint8 test codes (ideally disjoint from the calibration set).
        nonideal: a :class:`~wtmkws.firmware_model.noise.NonIdealChip` or None (ideal).
        keras_model: the Keras source model, if any.
        reference: precomputed :func:`reference_values` (to share between ideal/non-ideal runs).

    Returns:
        ``{"examples", "layers": [{tensor, op, ...metrics}], "output": {...metrics},
        "output_compared": "pre-softmax logits"}``.
    """
    from wtmkws.firmware_model import emulator

    ref, lsb = reference if reference is not None else reference_values(
        graph, codes, keras_model=keras_model)
    outs = emulator.run_layers(program, codes, nonideal=nonideal)
    tmap = program.metadata["tensor_map"]
    scales = program.metadata["tensor_scales"]
    copies = program.metadata.get("tensor_copies", {})
    layers = []
    out_metrics: dict[str, float] = {}
    for tname, opname in tmap.items():
        if opname == "input" or tname not in ref or opname not in outs:
            continue
        s = np.asarray(scales[opname], dtype=np.float64)
        y = outs[opname].astype(np.float64)
        chip = y * s  # broadcast over the channel (last) axis
        k = int(copies.get(opname, 1))
        if k > 1:  # column pairs: chip channel j*C + c is copy j of channel c; real = the sum
            chip = chip.reshape(chip.shape[:-1] + (k, chip.shape[-1] // k)).sum(axis=-2)
        l = lsb.get(tname, float("nan"))
        if not np.isfinite(l):
            l = float(s.mean())
        is_out = tname == graph.output
        ref_t = ref[tname]
        if is_out and "__keras_output__" in ref:
            ref_t = ref["__keras_output__"]
            if graph.output_softmax:
                chip = chip - chip.mean(axis=1, keepdims=True)
        m = compare(chip, ref_t, l, top1=is_out)
        layers.append({"tensor": tname, "op": opname, **m})
        if is_out:
            out_metrics = m
    return {"examples": int(codes.shape[0]), "layers": layers, "output": out_metrics,
            "output_compared": "pre-softmax logits" if graph.output_softmax else "output"}
