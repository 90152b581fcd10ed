"""QAT chip layers: the Keras forward on codes equals the exported program in the emulator, bit for
bit; straight-through gradients reach every shadow parameter; export rules."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from wtmkws.firmware_model import emulator
from wtmkws.firmware_model.program import LayerKind, ProgramMode
from wtmkws.firmware_model.spec import get_chip
from wtmkws.sdk.chip_layers import (
    ChipDense,
    ChipLayerError,
    ChipTDNN,
    calibrate_chain,
    integer_forward,
    set_noise_aware,
)
from wtmkws.sdk.qat_export import export_program


def _model(seed: int, width: int = 24, n_in: int = 16, table: bool = False) -> keras.Model:
    layers: list = [
        keras.Input((None, n_in)),
        ChipTDNN(width, context=(-2, 0, 1), seed=seed),
        ChipTDNN(width, context=(-4, 0, 4), seed=seed + 1),
        ChipDense(width, seed=seed + 2),
    ]
    if table:
        tab = np.clip(np.round(np.tanh(np.arange(256).astype(np.int8) / 32.0) * 100), -128, 127)
        layers.append(ChipDense(5, activation="table", table=tab.astype(int).tolist(),
                                seed=seed + 3))
    else:
        layers.append(ChipDense(5, activation="none", seed=seed + 3))
    return keras.Sequential(layers)


def _randomize(model: keras.Model, rng: np.random.Generator) -> None:
    """Spread weights/biases over the whole range, including saturating values."""
    for layer in model.layers:
        layer.kernel.assign(rng.uniform(-1.0, 127 / 128, layer.kernel.shape).astype(np.float32))
        layer.bias.assign(rng.uniform(-1.0, 127 / 128, layer.bias.shape).astype(np.float32))
        layer.shift = int(rng.integers(8, 14))
        layer.input_magnify = int(rng.integers(0, 3))


@settings(deadline=None, max_examples=12)
@given(seed=st.integers(0, 2**31 - 1), calibrated=st.booleans(), table=st.booleans())
def test_qat_forward_equals_emulator_bit_for_bit(seed: int, calibrated: bool, table: bool) -> None:
    rng = np.random.default_rng(seed)
    model = _model(seed % 1000, table=table)
    codes = rng.integers(0, 256, (2, 40, 16)).astype(np.uint8)
    if calibrated:
        calibrate_chain(model, codes)
    else:
        _randomize(model, rng)
    program = export_program(model, frontend={}, labels=list("abcde"), name="t")
    keras_out = model(codes.astype(np.float32)).numpy()
    for i in range(codes.shape[0]):
        chip = emulator.run(program, codes[i])
        assert chip.dtype == np.int8
        np.testing.assert_array_equal(chip.astype(np.int64), keras_out[i].astype(np.int64))
    np.testing.assert_array_equal(integer_forward(model, codes), keras_out.astype(np.int64))


def test_export_structure() -> None:
    model = _model(3)
    calibrate_chain(model, np.random.default_rng(0).integers(0, 256, (2, 30, 16)).astype(np.uint8))
    program = export_program(model, frontend={"kind": "fbank"}, labels=list("abcde"), name="x",
                             metadata={"keyword": "k"})
    assert program.mode is ProgramMode.STREAM and program.input_width == 16
    kinds = [op.kind for op in program.array_layers]
    assert kinds == [LayerKind.TDNN, LayerKind.TDNN, LayerKind.DENSE, LayerKind.DENSE]
    spec = get_chip()
    for op in program.array_layers:
        assert op.weights.dtype == np.int8 and op.bias_cells.dtype == np.int8
        assert op.n_bias_rows == spec.bias_rows_default
        assert spec.shift_min <= op.shift <= spec.shift_max
        assert op.blocks, "program must be placed"
    assert program.metadata["output_scale"] > 0 and program.metadata["keyword"] == "k"
    assert program.array_layers[0].context == (-2, 0, 1)


def test_bias_is_multiple_of_128_within_bias_rows() -> None:
    layer = ChipDense(4, bias_rows=3)
    layer.build((None, 2))
    layer.bias.assign(np.array([1.0, -1.0, 0.3, -0.77], np.float32))
    _, cells = layer.integer_params()
    k = cells.astype(int).sum(0)
    assert cells.shape == (3, 4)
    assert k[0] == 127 * 3 and k[1] == -128 * 3  # clipped to the bias-row range
    acc_bias = 128 * k
    assert np.all(acc_bias % 128 == 0)


def test_straight_through_gradients_are_nonzero() -> None:
    model = _model(7)
    codes = np.random.default_rng(1).integers(0, 256, (4, 30, 16)).astype(np.float32)
    calibrate_chain(model, codes.astype(np.uint8))
    with tf.GradientTape() as tape:
        out = model(codes, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.zeros(out.shape[:2], tf.int32), out / 8.0))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == 8
    for g, v in zip(grads, model.trainable_variables):
        assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0, v.name


def test_noise_aware_only_in_training() -> None:
    model = _model(5)
    codes = np.random.default_rng(2).integers(0, 256, (2, 30, 16)).astype(np.float32)
    calibrate_chain(model, codes.astype(np.uint8))
    clean = model(codes).numpy()
    set_noise_aware(model, True)
    assert np.array_equal(model(codes, training=False).numpy(), clean)
    noisy = model(codes, training=True).numpy()
    assert not np.array_equal(noisy, clean)
    set_noise_aware(model, False)
    assert np.array_equal(model(codes, training=True).numpy(), clean)


def test_bad_layer_config_raises() -> None:
    with pytest.raises(ChipLayerError, match="shift"):
        ChipDense(4, shift=20)
    with pytest.raises(ChipLayerError, match="bias_rows"):
        ChipDense(4, bias_rows=17)
    with pytest.raises(ChipLayerError, match="activation"):
        ChipDense(4, activation="gelu")
    model = keras.Sequential([keras.Input((None, 4)), ChipDense(3, activation="none"),
                              ChipDense(2, activation="none")])
    with pytest.raises(ChipLayerError, match="hidden layer"):
        export_program(model, frontend={}, labels=["a", "b"], name="bad")
    model = keras.Sequential([keras.Input((None, 4)), ChipDense(3, activation="none")])
    with pytest.raises(ChipLayerError, match="labels"):
        export_program(model, frontend={}, labels=["a", "b"], name="bad")


def test_saved_model_round_trip(tmp_path) -> None:
    model = _model(11)
    codes = np.random.default_rng(3).integers(0, 256, (2, 30, 16)).astype(np.uint8)
    calibrate_chain(model, codes)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(codes.astype(np.float32)).numpy(),
                                  model(codes.astype(np.float32)).numpy())
