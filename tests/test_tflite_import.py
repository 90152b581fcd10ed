"""Import of int8 .tflite models built here with Keras + TFLiteConverter; refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wtmkws.sdk.compile import CompileError, compile_model
from wtmkws.sdk.tflite_import import import_tflite


def _convert(model, shape, path: Path, *, int8: bool = True) -> Path:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(7)

        def rep():
            for _ in range(50):
                yield [rng.normal(size=(1,) + shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


@pytest.fixture(scope="module")
def cnn_tflite(tmp_path_factory) -> Path:
    import keras

    keras.utils.set_random_seed(11)
    inp = keras.Input((12, 8, 1), batch_size=1)
    a = keras.layers.Conv2D(6, (3, 3), padding="same", activation="relu")(inp)
    b = keras.layers.DepthwiseConv2D((3, 3), padding="same", activation="relu")(a)
    c = keras.layers.Conv2D(6, (1, 1), activation="relu")(b)
    s = keras.layers.Add()([a, c])
    cat = keras.layers.Concatenate()([s, b])
    p = keras.layers.MaxPooling2D((2, 2))(cat)
    q = keras.layers.AveragePooling2D((2, 2))(p)
    f = keras.layers.Reshape((72,))(q)
    out = keras.layers.Dense(5, activation="softmax")(f)
    model = keras.Model(inp, out)
    return _convert(model, (12, 8, 1), tmp_path_factory.mktemp("m") / "cnn.tflite")


@pytest.mark.slow
def test_cnn_compiles_and_agrees_with_litert(cnn_tflite: Path) -> None:
    g = import_tflite(cnn_tflite)
    ops = [n.op for n in g.nodes]
    assert ops.count("conv2d") == 3 and "add" in ops and "concat" in ops and "avgpool" in ops
    assert any(n.depthwise for n in g.nodes) and g.output_softmax
    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 12, 8)).astype(np.float32)
    res = compile_model(cnn_tflite, x[:200], fidelity_data=x[200:])
    out = res.report["fidelity"]["ideal"]["output"]
    assert out["cosine_mean"] > 0.98, out
    assert out["top1_agreement"] >= 0.9, out
    kinds = {r["kind"] for r in res.report["layers"]}
    assert {"add", "concat", "maxpool", "avgpool"} <= kinds


def test_refuses_unsupported_op(tmp_path: Path) -> None:
    import keras

    inp = keras.Input((4, 8), batch_size=1)
    x = keras.layers.Flatten()(inp)
    a = keras.layers.Dense(6)(x)
    b = keras.layers.Dense(6)(x)
    out = keras.layers.Subtract()([a, b])
    p = _convert(keras.Model(inp, out), (4, 8), tmp_path / "sub.tflite")
    with pytest.raises(CompileError, match=r"unsupported operator SUB at op \d+ SUB"):
        import_tflite(p)


def test_refuses_float_only_model(tmp_path: Path) -> None:
    import keras

    inp = keras.Input((4, 8), batch_size=1)
    out = keras.layers.Dense(3)(keras.layers.Flatten()(inp))
    p = _convert(keras.Model(inp, out), (4, 8), tmp_path / "f.tflite", int8=False)
    with pytest.raises(CompileError, match="float-only model"):
        import_tflite(p)


def test_refuses_non_tflite_and_truncated(tmp_path: Path, shared_dir: Path) -> None:
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"hello world, not a model")
    with pytest.raises(CompileError, match="not a TFLite flatbuffer"):
        import_tflite(bad)
    data = (shared_dir / "models" / "kws_ref_model.tflite").read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(CompileError, match="truncated or corrupt|interpreter rejects"):
        import_tflite(cut)


def test_public_models_import(shared_dir: Path) -> None:
    g = import_tflite(shared_dir / "models" / "micro_speech_quantized.tflite")
    assert g.input_shape == (49, 40, 1) and g.input_zero_code == 0
    conv = g.nodes[0]
    assert conv.depthwise and conv.weights.shape == (10, 8, 1, 8) and conv.stride == (2, 2)
    k = import_tflite(shared_dir / "models" / "kws_ref_model.tflite")
    assert k.input_shape == (49, 10, 1) and k.input_zero_code == 211 and k.output_softmax
