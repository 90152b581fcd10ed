"""Export a chain of QAT chip layers to an exactly equivalent STREAM :class:`Program`.

Every :class:`~wtmkws.sdk.chip_layers.ChipDense` / :class:`~wtmkws.sdk.chip_layers.ChipTDNN`
becomes one :class:`~wtmkws.firmware_model.program.ArrayLayer` holding the layer's integer
parameters (int8 weight cells, int8 bias cells whose column sums are the layer's ``k``, the shift
``g``, the activation) with a DIRECT input transform carrying the layer's magnify. No number is
re-quantized: the program computes bit for bit what the Keras forward pass computes on codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from wtmkws.firmware_model.program import (
    INPUT,
    Activation,
    ArrayLayer,
    InputMode,
    InputTransform,
    LayerKind,
    Program,
    ProgramMode,
)
from wtmkws.sdk.chip_layers import ChipLayerError, _ChipArrayLayer, chip_layers_of

__all__ = ["DEFAULT_OUTPUT_SCALE", "export_program"]

DEFAULT_OUTPUT_SCALE = 0.125
"""Logit per int8 output LSB used in training (softmax(y * output_scale))."""


def _frontend_dict(frontend: Any) -> dict[str, Any]:
    if frontend is None:
        return {}
    if isinstance(frontend, dict):
        return dict(frontend)
    return dict(frontend.to_dict())


def export_program(
    model: keras.Model,
    *,
    frontend: Any,
    labels: Sequence[str],
    name: str,
    output_scale: float = DEFAULT_OUTPUT_SCALE,
    metadata: dict[str, Any] | None = None,
    place: bool = True,
) -> Program:
    """Build the STREAM program that computes exactly what the model's chip layers compute.

    Args:
        model: a Keras model whose layers are a chain of ChipDense/ChipTDNN (other layers without
            weights, e.g. InputLayer, are ignored); hidden layers must use ReLU.
        frontend: the FrontendConfig (or its to_dict()) whose codes the model was trained on.
        labels: output class names, one per output column of the last layer.
        name: program name.
        output_scale: logit per output LSB (metadata "output_scale", used by the engine's softmax).
        metadata: extra JSON-safe metadata (keyword, seed, ...), merged in.
        place: place the program on the array with firmware_model.placement (raises
            PlacementError when it does not fit).

    Returns:
        The Program (placed when ``place``).

    Raises:
        ChipLayerError: no chip layers, wrong label count, or a hidden layer without ReLU.
    """
    layers = chip_layers_of(model)
    if not layers:
        raise ChipLayerError(f"model {model.name!r} has no ChipDense/ChipTDNN layers",
                             hint="build the model with wtmkws.sdk.models")
    for layer in model.layers:
        if not isinstance(layer, _ChipArrayLayer) and layer.weights:
            raise ChipLayerError(f"layer {layer.name!r} ({type(layer).__name__}) is not a chip "
                                 "layer and has weights; it cannot be exported exactly")
    labels = tuple(str(x) for x in labels)
    if len(labels) != layers[-1].units:
        raise ChipLayerError(
            f"{len(labels)} labels for {layers[-1].units} outputs of layer {layers[-1].name!r}",
            hint="pass one label per output class",
        )
    ops: list[ArrayLayer] = []
    source = INPUT
    for idx, layer in enumerate(layers):
        if idx < len(layers) - 1 and layer.activation_kind != "relu":
            raise ChipLayerError(
                f"hidden layer {layer.name!r} uses activation {layer.activation_kind!r}",
                hint="hidden layers feed the next layer DIRECT and must be ReLU",
            )
        weights, bias_cells = layer.integer_params()
        act = {"relu": Activation.RELU, "none": Activation.NONE,
               "table": Activation.TABLE}[layer.activation_kind]
        table = None if layer.table is None else np.asarray(layer.table, dtype=np.int8)
        ops.append(ArrayLayer(
            name=layer.name,
            kind=LayerKind.DENSE if layer.context == (0,) else LayerKind.TDNN,
            inputs=(source,),
            weights=np.ascontiguousarray(weights),
            bias_cells=np.ascontiguousarray(bias_cells),
            shift=int(layer.shift),
            activation=act,
            table=table,
            transform=InputTransform(mode=InputMode.DIRECT, magnify=int(layer.input_magnify)),
            context=tuple(layer.context),
        ))
        source = layer.name
    meta: dict[str, Any] = {
        "output_scale": float(output_scale),
        "labels": list(labels),
        "source": "wtmkws.sdk.train (chip QAT)",
        "receptive_field_frames": 1 + sum(layer.span for layer in layers),
    }
    meta.update(metadata or {})
    program = Program(
        name=name,
        mode=ProgramMode.STREAM,
        input_width=int(layers[0].in_channels),
        input_frames=1,
        ops=tuple(ops),
        labels=labels,
        chip=layers[0].chip,
        frontend=_frontend_dict(frontend),
        metadata=meta,
    )
    if place:
        from wtmkws.firmware_model.placement import place as place_program

        program = place_program(program)
    return program
