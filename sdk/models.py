"""Chip-sized model builders: TDNN with context offsets, and DNN over stacked frames.

Both are STREAM networks made only of :mod:`wtmkws.sdk.chip_layers` layers, so they export
exactly (:func:`wtmkws.sdk.qat_export.export_program`):

* ``tdnn``: three ChipTDNN layers with widening (dilated) contexts, default
  ``(-2..2)``, ``(-8,-4,0,4,8)``, ``(-24,-12,0,12,24)`` (receptive field 69 frames = 0.7 s at a
  10 ms hop), then a ChipDense output layer;
* ``dnn``: a first ChipTDNN layer whose context stacks ``stack_frames`` frames ``stack_stride``
  apart (a DNN over stacked frames), two ChipDense hidden layers and a ChipDense output layer.

:func:`check_fits` refuses models that exceed the chip (layers, cells, placement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from wtmkws.audio_pipeline.errors import ConfigError, WtmkwsError
from wtmkws.firmware_model.spec import ChipSpec, get_chip
from wtmkws.sdk.chip_layers import ChipDense, ChipTDNN, chip_layers_of

__all__ = ["ModelConfig", "ModelSizeError", "build_model", "check_fits", "receptive_field"]

_TDNN_CONTEXTS: tuple[tuple[int, ...], ...] = (
    (-2, -1, 0, 1, 2),
    (-8, -4, 0, 4, 8),
    (-24, -12, 0, 12, 24),
)


class ModelSizeError(WtmkwsError):
    """The model does not fit the chip."""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture of a chip model."""

    arch: str = "tdnn"
    """"tdnn" or "dnn"."""
    width: int = 96
    """Hidden layer width (outputs per layer)."""
    tdnn_contexts: tuple[tuple[int, ...], ...] = _TDNN_CONTEXTS
    """TDNN: context offsets of each hidden layer (frames)."""
    stack_frames: int = 32
    """DNN: frames stacked by the first layer."""
    stack_stride: int = 2
    """DNN: frame step between stacked frames."""
    dnn_hidden: int = 2
    """DNN: ChipDense hidden layers after the stacking layer."""
    bias_rows: int | None = None
    """Bias rows per layer (None: ChipSpec.bias_rows_default)."""
    chip: str = "WTM2101"
    """Target chip."""

    def __post_init__(self) -> None:
        if self.arch not in ("tdnn", "dnn"):
            raise ConfigError(f"arch={self.arch!r} is not tdnn or dnn", hint="--arch dnn|tdnn")
        if not 4 <= self.width <= 1024:
            raise ConfigError(f"width={self.width} outside 4..1024")
        if self.stack_frames < 1 or self.stack_stride < 1:
            raise ConfigError("stack_frames and stack_stride must be >= 1")
        if not self.tdnn_contexts:
            raise ConfigError("tdnn_contexts must hold at least one layer")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "arch": self.arch, "width": self.width,
            "tdnn_contexts": [list(c) for c in self.tdnn_contexts],
            "stack_frames": self.stack_frames, "stack_stride": self.stack_stride,
            "dnn_hidden": self.dnn_hidden, "bias_rows": self.bias_rows, "chip": self.chip,
        }


def build_model(
    n_features: int,
    n_classes: int,
    *,
    config: ModelConfig | None = None,
    seed: int = 0,
    name: str = "kws",
) -> keras.Model:
    """Build a chip QAT model (input (batch, T, n_features) codes, output (batch, T', n_classes)).

    Args:
        n_features: codes per frame (FrontendConfig.n_features).
        n_classes: output classes.
        config: architecture.
        seed: base seed of the layer initializers (layer i uses seed + i).
        name: model name.

    Raises:
        ModelSizeError: the model does not fit the chip (see check_fits).
    """
    cfg = config or ModelConfig()
    common: dict[str, Any] = {"bias_rows": cfg.bias_rows, "chip": cfg.chip}
    layers: list[keras.layers.Layer] = [keras.Input((None, n_features), name="codes")]
    if cfg.arch == "tdnn":
        for i, ctx in enumerate(cfg.tdnn_contexts):
            layers.append(ChipTDNN(cfg.width, context=ctx, seed=seed + i, name=f"tdnn{i}",
                                   **common))
    else:
        s = cfg.stack_stride
        ctx = tuple(range(-(cfg.stack_frames - 1) * s, 1, s))
        layers.append(ChipTDNN(cfg.width, context=ctx, seed=seed, name="stack0", **common))
        for i in range(cfg.dnn_hidden):
            layers.append(ChipDense(cfg.width, seed=seed + 1 + i, name=f"dense{i}", **common))
    layers.append(ChipDense(n_classes, activation="none", seed=seed + 100, name="logits",
                            **common))
    model = keras.Sequential(layers, name=name)
    check_fits(model, spec=get_chip(cfg.chip))
    return model


def receptive_field(model: keras.Model) -> int:
    """Input frames that feed one output frame (1 + sum of context spans)."""
    return 1 + sum(layer.span for layer in chip_layers_of(model))


def check_fits(model: keras.Model, *, spec: ChipSpec | None = None) -> dict[str, int]:
    """Check the model against the chip budgets: layer count and cells (weights + bias rows).

    Also places a zero-weight export with ``firmware_model.placement`` when that module is
    present, so region and column constraints are checked by the same code the compiler uses.

    Returns:
        {"layers": n, "cells": total, "usable_cells": budget}.

    Raises:
        ModelSizeError: naming the numbers, with a hint to shrink width/contexts.
    """
    spec = spec or get_chip()
    layers = chip_layers_of(model)
    cells = sum((layer.n_rows + layer.bias_rows) * layer.units for layer in layers)
    if len(layers) > spec.max_layers:
        raise ModelSizeError(
            f"model {model.name!r} has {len(layers)} array layers; the chip holds {spec.max_layers}",
            hint="use fewer layers",
        )
    if cells > spec.usable_cells:
        raise ModelSizeError(
            f"model {model.name!r} needs {cells} cells; the chip has {spec.usable_cells} usable",
            hint="reduce --width or the stacked frames/contexts",
        )
    try:
        from wtmkws.firmware_model.placement import place  # noqa: F401
    except ModuleNotFoundError:
        return {"layers": len(layers), "cells": cells, "usable_cells": spec.usable_cells}
    from wtmkws.firmware_model.program import ProgramError
    from wtmkws.sdk.qat_export import export_program

    try:
        export_program(model, frontend={}, labels=[str(i) for i in range(layers[-1].units)],
                       name=model.name, place=True)
    except ProgramError as exc:
        raise ModelSizeError(f"model {model.name!r} does not fit the chip: {exc.message}",
                             hint="reduce --width or the stacked frames/contexts") from exc
    return {"layers": len(layers), "cells": cells, "usable_cells": spec.usable_cells}
