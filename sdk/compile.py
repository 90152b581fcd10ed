"""The compiler entry point: a .tflite/.keras model + calibration data -> a placed chip program.

Steps: import (:mod:`~wtmkws.sdk.tflite_import` / :mod:`~wtmkws.sdk.keras_import`) -> calibration
(:mod:`~wtmkws.sdk.calibrate`) -> lowering (:mod:`~wtmkws.sdk.lowering`) -> budget checks (layers,
cells) -> placement and cost (``firmware_model.placement`` / ``firmware_model.cost``) -> fidelity
(:mod:`~wtmkws.sdk.fidelity`, ideal and optionally non-ideal for a seed). Everything the compiler
decided is in :attr:`CompileResult.report` (JSON-safe).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.cost import cost_report
from wtmkws.firmware_model.placement import place, placement_rows
from wtmkws.firmware_model.program import Program
from wtmkws.firmware_model.spec import get_chip
from wtmkws.sdk.calibrate import calibration_stats, check_calibration, to_codes
from wtmkws.sdk.lowering import CompileError, IRGraph, LoweringSettings, lower_graph

__all__ = ["CompileOptions", "CompileResult", "CompileError", "compile_model", "load_source"]

COMPILER_VERSION = "1"


@dataclass(frozen=True, kw_only=True)
class CompileOptions:
    """How to compile (defaults suit the public models)."""

    chip: str = "WTM2101"
    """Target chip (ChipSpec registry key)."""
    clip_fraction: float = 1e-3
    """Share of calibration values per channel allowed to saturate the int8 range."""
    min_calibration_frames: int = 100
    """Fewest calibration examples accepted (one example = one model input window)."""
    signed_input: str = "auto"
    """"auto", "offset" or "pn": how signed activations feed array layers."""
    per_channel_scales: bool = True
    """Per-channel chip scales where the consumers can absorb them."""
    bias_rows: int | None = None
    """Fixed bias rows per layer (None: ChipSpec default, raised when a bias needs more)."""
    bias_correction: bool = True
    """Fold the calibration-mean error of weight/bias re-quantization into the bias cells."""
    source_output_grid: bool = True
    """Give the program output the source .tflite output scale when the weights allow it."""
    relu_pairs: bool = True
    """Hold ReLU outputs that feed array layers as column pairs (an 8-bit 0..254 activation from
    two 0..127 columns; 2x columns in the producer, 2x rows in the consumer)."""
    labels: tuple[str, ...] | None = None
    """Output class names (default: the known model's labels, else class0..)."""
    frontend: str | None = None
    """Model frontend name for ``program.frontend`` (default: detected for known models)."""
    noise_seed: int | None = None
    """Also measure fidelity in the non-ideal mode (default noise) for this seed."""
    fidelity: bool = True
    """Measure fidelity (needs the source model runtime)."""
    max_fidelity_examples: int = 400
    """Most examples used for the fidelity figures."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.clip_fraction < 0.5:
            raise ConfigError(f"clip_fraction={self.clip_fraction} outside [0, 0.5)",
                              hint="use a small share such as 0.001")
        if self.min_calibration_frames < 1:
            raise ConfigError(f"min_calibration_frames={self.min_calibration_frames} must be >= 1")
        if self.signed_input not in ("auto", "offset", "pn"):
            raise ConfigError(f"signed_input={self.signed_input!r} not in auto/offset/pn")
        if self.max_fidelity_examples < 1:
            raise ConfigError("max_fidelity_examples must be >= 1")


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """A compiled model."""

    program: Program
    """The placed program."""
    report: dict[str, Any]
    """JSON-safe report: layers, modes, G, clipping, digital ops, placement, cost, fidelity."""
    graph: IRGraph
    """The imported layer graph (for further fidelity runs)."""


def load_source(source: Any) -> tuple[IRGraph, Any]:
    """Import a model: a .tflite path, a .keras path or an in-memory keras.Model.

    Returns:
        (graph, keras model or None). Keras graphs get their input grid from calibration later.

    Raises:
        CompileError: unknown file type, unreadable model, unsupported layer/op.
    """
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.suffix.lower() == ".tflite":
            from wtmkws.sdk.tflite_import import import_tflite

            return import_tflite(p), None
        if p.suffix.lower() in (".keras", ".h5"):
            from wtmkws.sdk.keras_import import load_keras

            model = load_keras(p)
            from wtmkws.sdk.keras_import import import_keras

            return import_keras(model), model
        raise CompileError(f"{p}: unknown model type {p.suffix!r}",
                           hint="pass a .tflite or .keras file")
    from wtmkws.sdk.keras_import import import_keras

    return import_keras(source), source


def _budget_checks(program: Program) -> None:
    spec = program.spec
    layers = program.array_layers
    if len(layers) > spec.max_layers:
        raise CompileError(
            f"{program.name}: {len(layers)} array layers, the chip holds at most {spec.max_layers} "
            f"(first over the limit: layer {layers[spec.max_layers].name!r})",
            hint="merge or remove layers, or split the model over several chips",
        )
    total = sum(lay.cells for lay in layers)
    if total > spec.usable_cells:
        big = max(layers, key=lambda l: l.cells)
        raise CompileError(
            f"{program.name}: {total} cells needed, the chip has {spec.usable_cells} usable "
            f"({spec.array_rows} x {spec.usable_cols}); largest layer {big.name!r} "
            f"({big.n_rows}+{big.n_bias_rows} rows x {big.n_outputs} columns = {big.cells} cells)",
            hint="shrink the model (fewer channels/units) to fit the array",
        )


def compile_model(
    source: Any,
    calib: np.ndarray,
    *,
    options: CompileOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    fidelity_data: np.ndarray | None = None,
) -> CompileResult:
    """Compile a model for the chip.

    Args:
        source: path to a .tflite (int8) or .keras model, or a keras.Model.
        calib: (N, frames, width) calibration inputs, N >= ``options.min_calibration_frames``:
            uint8 program codes, int8 model inputs (TFLite), or float features (the model's real
            input; Keras models must get float features).
        options: compile options.
        on_progress: called with (done, total) calibration examples.
        fidelity_data: inputs like ``calib`` for the fidelity figures (default: ``calib``).

    Returns:
        The placed program and the report.

    Raises:
        CompileError: bad model or calibration data, unsupported op, over the layer or cell
            budget (messages name the layer and the numbers).
    """
    opts = options or CompileOptions()
    spec = get_chip(opts.chip)
    t0 = time.perf_counter()
    graph, keras_model = load_source(source)
    h, w, _ = graph.input_shape
    a = check_calibration(calib, frames=h, width=w, minimum=opts.min_calibration_frames)
    if graph.source_kind == "keras":
        from wtmkws.sdk.keras_import import input_grid

        if a.dtype.kind != "f":
            raise CompileError("Keras models need float calibration features (the model's real "
                               f"input), got {a.dtype}", hint="pass the float features")
        scale, zero = input_grid(a)
        graph = replace(graph, input_scale=scale, input_zero_code=zero)
    codes = to_codes(a, input_scale=graph.input_scale, input_zero_code=graph.input_zero_code)
    stats = calibration_stats(graph, codes, clip_fraction=opts.clip_fraction,
                              on_progress=on_progress)
    n_out = int(graph.tensors[graph.output].shape[-1])
    frontend: dict[str, Any] = {}
    labels = opts.labels
    fe_name = opts.frontend
    if graph.source_kind == "tflite":
        from wtmkws.sdk.model_frontends import identify_model

        known = identify_model(graph.source_path)
        if known is not None:
            fe_name = fe_name or known.name
            labels = labels or known.labels
    if fe_name:
        frontend = {"kind": "model_frontend", "name": fe_name,
                    "codes": "int8 model input + 128"}
    if labels is None:
        labels = tuple(f"class{i}" for i in range(n_out))
    if len(labels) != n_out:
        raise CompileError(f"{len(labels)} labels for {n_out} outputs",
                           hint="give one label per output class")
    settings = LoweringSettings(signed_input=opts.signed_input,
                                per_channel_scales=opts.per_channel_scales,
                                bias_rows=opts.bias_rows,
                                bias_correction=opts.bias_correction,
                                source_output_grid=opts.source_output_grid,
                                relu_pairs=opts.relu_pairs)
    program, layer_rows = lower_graph(
        graph, stats, spec=spec, settings=settings, labels=tuple(labels), frontend=frontend,
        metadata={"compiler_version": COMPILER_VERSION,
                  "options": {k: (list(v) if isinstance(v, tuple) else v)
                              for k, v in asdict(opts).items()}})
    _budget_checks(program)
    from wtmkws.firmware_model.validate import validate_program

    validate_program(program)
    report: dict[str, Any] = {"model": graph.name, "source": graph.source_kind,
                              "source_path": graph.source_path, "chip": spec.name,
                              "mode": program.mode.value, "input_frames": program.input_frames,
                              "input_width": program.input_width, "labels": list(labels),
                              "calibration_examples": int(codes.shape[0]),
                              "clip_fraction": opts.clip_fraction, "layers": layer_rows,
                              "output_softmax_on_host": graph.output_softmax,
                              "array_layers": len(program.array_layers),
                              "cells": int(sum(l.cells for l in program.array_layers))}
    program = place(program, spec=spec)
    report["placement"] = placement_rows(program)
    report["cost"] = cost_report(program).to_dict()
    report["compile_time_s"] = time.perf_counter() - t0
    if opts.fidelity:
        from wtmkws.sdk.fidelity import fidelity_report, reference_values

        fd = codes if fidelity_data is None else to_codes(
            check_calibration(fidelity_data, frames=h, width=w, minimum=1,
                              what="fidelity data"),
            input_scale=graph.input_scale, input_zero_code=graph.input_zero_code)
        fd = fd[: opts.max_fidelity_examples]
        ref = reference_values(graph, fd, keras_model=keras_model)
        fid = {"ideal": fidelity_report(program, graph, fd, reference=ref),
               "data": "calibration set" if fidelity_data is None else "fidelity set"}
        if opts.noise_seed is not None:
            from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig

            chip = NonIdealChip.create(program, NonIdealConfig(), seed=opts.noise_seed)
            fid["nonideal"] = fidelity_report(program, graph, fd, nonideal=chip, reference=ref)
            fid["noise_seed"] = opts.noise_seed
        report["fidelity"] = fid
    report["total_time_s"] = time.perf_counter() - t0
    return CompileResult(program=program, report=_jsonable(report), graph=graph)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if hasattr(v, "value") and isinstance(getattr(v, "value"), str):
        return v.value
    return v
