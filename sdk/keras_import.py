"""Import of float Keras 3 models into the compiler's layer graph.

Supported layers: InputLayer, Dense, Conv1D (a TDNN over frames, lowered as a conv over the
window), Conv2D, DepthwiseConv2D, Activation / ReLU (relu, relu6, tanh, sigmoid, linear),
MaxPooling2D / AveragePooling2D (valid), Flatten / Reshape (flattening only), Add, Concatenate
(channel axis), Dropout (inference no-op), and Softmax (as the last layer, or a Dense's softmax
activation: dropped, the host applies it). The model input must be (frames, width) or
(frames, width, 1). The input grid is picked from the calibration features by :func:`input_grid`.

Models built with :mod:`wtmkws.sdk.chip_layers` (quantization-aware, exact forward) are handed to
:func:`wtmkws.sdk.qat_export.export_program` by :func:`wtmkws.sdk.compile.compile_model`'s caller;
:func:`uses_chip_layers` tells which.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.sdk.lowering import CompileError, IRGraph, IRNode, IRTensor

__all__ = ["load_keras", "import_keras", "input_grid", "uses_chip_layers"]


def load_keras(path: str | Path) -> Any:
    """Load a .keras file.

    Raises:
        CompileError: missing or unreadable file.
    """
    import keras

    p = Path(path)
    if not p.is_file():
        raise CompileError(f"{p}: no such model file", hint="check the path")
    try:
        return keras.saving.load_model(p, compile=False)
    except Exception as exc:
        raise CompileError(f"{p}: cannot load the Keras model ({type(exc).__name__})",
                           hint="save it with model.save('name.keras') (Keras 3)") from None


def uses_chip_layers(model: Any) -> bool:
    """True when the model contains layers from ``wtmkws.sdk.chip_layers``."""
    return any(type(l).__module__.endswith("chip_layers") for l in getattr(model, "layers", []))


def input_grid(features: np.ndarray) -> tuple[float, int]:
    """Input code grid covering the calibration features' range (codes 0..255).

    Args:
        features: (N, frames, width) float calibration features.

    Returns:
        (scale, zero_code) with real = scale * (code - zero_code); 0.0 is exactly representable.
    """
    lo = min(float(np.min(features)), 0.0)
    hi = max(float(np.max(features)), 0.0)
    scale = max(hi - lo, 1e-6) / 255.0
    zero = int(np.clip(round(-lo / scale), 0, 255))
    return scale, zero


_ACTS = {"relu": "relu", "linear": "none", "relu6": "relu6", "tanh": "tanh", "sigmoid": "sigmoid",
         "softmax": "softmax"}


def _act_name(fn: Any, where: str) -> str:
    name = getattr(fn, "__name__", str(fn))
    if name not in _ACTS:
        raise CompileError(f"{where}: activation {name!r} is not supported",
                           hint="use relu, relu6, tanh, sigmoid, linear or a final softmax")
    return _ACTS[name]


def import_keras(model: Any) -> IRGraph:
    """Translate a float Keras model into the layer graph (input grid set to a placeholder).

    Args:
        model: a built keras.Model.

    Returns:
        The graph; :func:`wtmkws.sdk.compile.compile_model` sets the input grid from calibration.

    Raises:
        CompileError: empty model, chip-aware layers, unsupported layer (named with its index).
    """
    import keras

    layers = [l for l in getattr(model, "layers", []) if not isinstance(l, keras.layers.InputLayer)]
    if not layers:
        raise CompileError(f"Keras model {getattr(model, 'name', '?')!r} has no layers",
                           hint="build and train the model before compiling")
    if uses_chip_layers(model):
        raise CompileError("the model uses wtmkws chip layers; export it with "
                           "wtmkws.sdk.qat_export.export_program", hint="call export_program")
    ishape = tuple(int(d) for d in model.input_shape[1:])
    if len(ishape) == 3 and ishape[2] == 1:
        in_shape = ishape
    elif len(ishape) == 2:
        in_shape = (ishape[0], ishape[1], 1)
    elif len(ishape) == 1:
        in_shape = (1, ishape[0], 1)
    else:
        raise CompileError(f"Keras input shape {model.input_shape} is not (frames, width[, 1])",
                           hint="use a single-channel frames x features input")
    tensors: dict[str, IRTensor] = {}
    names: dict[int, str] = {}
    inp = model.inputs[0]
    names[id(inp)] = "input"
    tensors["input"] = IRTensor(name="input", shape=in_shape, source="input")
    nodes: list[IRNode] = []
    softmax = False
    ref: dict[str, Any] = {}

    def src(t: Any, where: str) -> str:
        if id(t) not in names:
            raise CompileError(f"{where}: reads a tensor no supported layer produces",
                               hint="the model must be a graph from its single input")
        return names[id(t)]

    for k, layer in enumerate(layers):
        where = f"layer {k} {layer.name!r} ({type(layer).__name__})"
        ins = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        out = layer.output
        oname = f"{k:02d}_{layer.name}"
        if softmax:
            raise CompileError(f"{where}: layers after the softmax", hint="softmax must be last")
        x = [src(t, where) for t in ins]
        xs = tensors[x[0]].shape
        oshape = tuple(int(d) for d in out.shape[1:])
        cfg = layer.get_config()
        if isinstance(layer, (keras.layers.Dropout, keras.layers.Flatten, keras.layers.Reshape)):
            if isinstance(layer, keras.layers.Reshape) and len(oshape) != 1:
                raise CompileError(f"{where}: reshape to {oshape}", hint="only flattening")
            names[id(out)] = x[0]
            if len(oshape) == 1 and len(xs) != 1:
                # flattened alias: dense layers flatten row-major (H, W, C) anyway
                pass
            continue
        act = "none"
        if isinstance(layer, keras.layers.Dense):
            w, b = (v.numpy() for v in (layer.kernel, layer.bias)) if layer.use_bias else (
                layer.kernel.numpy(), np.zeros(layer.units))
            if int(np.prod(xs)) != w.shape[0]:
                raise CompileError(f"{where}: Dense on a {xs} tensor (applied per position)",
                                   hint="flatten before Dense")
            act = _act_name(layer.activation, where)
            node = IRNode(name=oname, op="dense", inputs=(x[0],), output=oname,
                          weights=w.astype(np.float64), bias=np.asarray(b, np.float64),
                          activation="none" if act == "softmax" else act, source=where)
            oshape = (w.shape[1],)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv1D)) and not isinstance(
                layer, keras.layers.DepthwiseConv2D):
            if any(d != 1 for d in np.atleast_1d(cfg.get("dilation_rate", 1))) or cfg.get("groups", 1) != 1:
                raise CompileError(f"{where}: dilation/groups", hint="use plain convolutions")
            w = layer.kernel.numpy().astype(np.float64)
            b = layer.bias.numpy() if layer.use_bias else np.zeros(w.shape[-1])
            if isinstance(layer, keras.layers.Conv1D):
                # (k, cin, cout) over frames; the source is (T, F, 1) for the input, else (T, 1, C)
                if xs[2] == 1 and xs[1] == w.shape[1]:
                    w = w[:, :, None, :]  # kernel (k, F) over cin = 1
                else:
                    w = w[:, None, :, :]
                stride = (int(cfg["strides"][0]), 1)
                oshape = (oshape[0], 1, oshape[1])
            else:
                stride = tuple(int(s) for s in cfg["strides"])
            act = _act_name(layer.activation, where)
            node = IRNode(name=oname, op="conv2d", inputs=(x[0],), output=oname, weights=w,
                          bias=np.asarray(b, np.float64), activation=act, stride=stride,
                          padding=cfg["padding"], source=where)
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            wd = layer.kernel.numpy().astype(np.float64)  # (kh, kw, cin, mult)
            kh, kw, cin, mult = wd.shape
            w = np.zeros((kh, kw, cin, cin * mult))
            for c in range(cin):
                for m in range(mult):
                    w[:, :, c, c * mult + m] = wd[:, :, c, m]
            b = layer.bias.numpy() if layer.use_bias else np.zeros(cin * mult)
            act = _act_name(layer.activation, where)
            node = IRNode(name=oname, op="conv2d", inputs=(x[0],), output=oname, weights=w,
                          bias=np.asarray(b, np.float64), activation=act,
                          stride=tuple(int(s) for s in cfg["strides"]), padding=cfg["padding"],
                          depthwise=True, source=where)
        elif isinstance(layer, (keras.layers.ReLU, keras.layers.Activation, keras.layers.Softmax)):
            if isinstance(layer, keras.layers.Softmax):
                a = "softmax"
            elif isinstance(layer, keras.layers.ReLU):
                mv = cfg.get("max_value")
                if cfg.get("negative_slope", 0.0) or cfg.get("threshold", 0.0):
                    raise CompileError(f"{where}: leaky/thresholded ReLU", hint="plain ReLU only")
                a = "relu" if mv is None else ("relu6" if float(mv) == 6.0 else "?")
                if a == "?":
                    raise CompileError(f"{where}: ReLU max_value={mv}", hint="use 6 or None")
            else:
                a = _act_name(layer.activation, where)
            prev = nodes[-1] if nodes and nodes[-1].output == x[0] else None
            if a == "softmax":
                softmax = True
                names[id(out)] = x[0]
                continue
            if a == "none":
                names[id(out)] = x[0]
                continue
            if prev is None or prev.activation != "none" or len(
                    [n for n in nodes if x[0] in n.inputs]) > 0:
                raise CompileError(f"{where}: activation not directly after a layer",
                                   hint="put activations right after Dense/Conv/Add")
            nodes[-1] = IRNode(**{**prev.__dict__, "activation": a})
            names[id(out)] = x[0]
            continue
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            if cfg["padding"] != "valid":
                raise CompileError(f"{where}: padded pooling", hint="use padding='valid'")
            node = IRNode(name=oname, op="maxpool" if isinstance(layer, keras.layers.MaxPooling2D)
                          else "avgpool", inputs=(x[0],), output=oname,
                          pool=tuple(int(v) for v in cfg["pool_size"]),
                          stride=tuple(int(v) for v in (cfg["strides"] or cfg["pool_size"])),
                          source=where)
        elif isinstance(layer, keras.layers.Add):
            if len(x) != 2:
                raise CompileError(f"{where}: Add of {len(x)} tensors", hint="add two tensors")
            node = IRNode(name=oname, op="add", inputs=tuple(x), output=oname, source=where)
        elif isinstance(layer, keras.layers.Concatenate):
            if cfg.get("axis", -1) not in (-1, len(oshape)):
                raise CompileError(f"{where}: concatenation on axis {cfg.get('axis')}",
                                   hint="concatenate channels (axis=-1)")
            node = IRNode(name=oname, op="concat", inputs=tuple(x), output=oname, source=where)
        else:
            raise CompileError(f"unsupported Keras layer {type(layer).__name__} at {where}",
                               hint="supported: Dense, Conv1D, Conv2D, DepthwiseConv2D, ReLU/"
                               "Activation, pooling, Flatten/Reshape, Add, Concatenate, Softmax")
        if act == "softmax":
            softmax = True
        tensors[oname] = IRTensor(name=oname, shape=oshape, source=layer.name)
        names[id(out)] = oname
        ref[oname] = layer.name
        nodes.append(node)
    if not nodes:
        raise CompileError(f"Keras model {model.name!r} has no Dense/Conv layer",
                           hint="the model must contain at least one layer")
    return IRGraph(name=model.name, input="input", tensors=tensors, nodes=tuple(nodes),
                   output=names[id(model.outputs[0])], input_scale=1.0, input_zero_code=0,
                   output_softmax=softmax, source_kind="keras", reference_tensors=ref)
