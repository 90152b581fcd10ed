"""compile_model: public models reach the fidelity targets; budgets and bad input are refused."""

from __future__ import annotations

import numpy as np
import pytest

from wtmkws.sdk.compile import CompileError, CompileOptions, compile_model


def _dense_chain(n_layers: int, width: int, units: int):
    import keras

    inp = keras.Input((1, width))
    x = keras.layers.Flatten()(inp)
    for _ in range(n_layers):
        x = keras.layers.Dense(units, activation="relu")(x)
    return keras.Model(inp, x)


def test_refuses_over_40_layers(rng: np.random.Generator) -> None:
    model = _dense_chain(41, 8, 8)
    calib = rng.normal(size=(100, 1, 8)).astype(np.float32)
    with pytest.raises(CompileError, match=r"41 array layers.*at most 40"):
        compile_model(model, calib, options=CompileOptions(fidelity=False))


def test_refuses_over_cell_budget(rng: np.random.Generator) -> None:
    model = _dense_chain(1, 1800, 1000)
    calib = rng.normal(size=(100, 1, 1800)).astype(np.float32)
    with pytest.raises(CompileError, match=r"cells needed.*1605632 usable.*dense"):
        compile_model(model, calib, options=CompileOptions(fidelity=False))


def test_refuses_few_or_misshapen_calibration(rng: np.random.Generator) -> None:
    model = _dense_chain(1, 8, 4)
    with pytest.raises(CompileError, match="99 examples, at least 100"):
        compile_model(model, rng.normal(size=(99, 1, 8)).astype(np.float32))
    with pytest.raises(CompileError, match=r"does not match the model input \(N, 1, 8\)"):
        compile_model(model, rng.normal(size=(200, 1, 9)).astype(np.float32))


def test_refuses_empty_keras_model() -> None:
    import keras

    with pytest.raises(CompileError, match="has no layers"):
        compile_model(keras.Sequential(), np.zeros((100, 1, 8), np.float32))


def test_keras_dense_model_agrees_with_keras(rng: np.random.Generator) -> None:
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((4, 8))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(16, activation="relu")(x)
    x = keras.layers.Dense(5)(x)
    model = keras.Model(inp, x)
    data = rng.normal(size=(300, 4, 8)).astype(np.float32)
    res = compile_model(model, data[:150], fidelity_data=data[150:])
    out = res.report["fidelity"]["ideal"]["output"]
    assert out["cosine_mean"] > 0.99 and out["top1_agreement"] >= 0.95
    assert res.program.array_layers[0].blocks  # placed


@pytest.mark.slow
def test_public_kws_model_fidelity(shared_dir) -> None:
    from wtmkws.audio_pipeline.io import load_audio
    from wtmkws.sdk.model_frontends import clip_windows, features_to_codes, kws_ref_features

    files = sorted((shared_dir / "data" / "digits" / "fsdd").glob("*.flac"))[::25]
    x = np.stack([kws_ref_features(clip_windows(load_audio(f), max_windows=1)[0]) for f in files])
    codes = features_to_codes(x)
    res = compile_model(shared_dir / "models" / "kws_ref_model.tflite", codes[:100],
                        fidelity_data=codes[100:])
    out = res.report["fidelity"]["ideal"]["output"]
    assert out["cosine_mean"] > 0.98 and out["top1_agreement"] > 0.9
    assert res.program.labels[0] == "down" and res.report["array_layers"] == 10


def test_relu_pairs_default_and_option(rng: np.random.Generator) -> None:
    """ReLU layers feeding array layers become column pairs by default (reported, exact in the
    emulator, runs in non-ideal mode); ``relu_pairs=False`` keeps one column per channel."""
    import keras

    keras.utils.set_random_seed(5)
    inp = keras.Input((6, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(12, activation="relu")(x)
    x = keras.layers.Dense(3)(x)
    model = keras.Model(inp, x)
    data = rng.normal(size=(260, 6, 8)).astype(np.float32)
    res = compile_model(model, data[:130], fidelity_data=data[130:],
                        options=CompileOptions(noise_seed=2))
    rows = [r for r in res.report["layers"] if "copies" in r]
    assert [r["copies"] for r in rows] == [2, 2, 1]
    assert [r["input_copies"] for r in rows] == [1, 2, 2]
    conv, fc1, _ = res.program.array_layers
    assert conv.n_outputs == 8 and fc1.n_rows == 2 * 3 * 4 * 4
    fid = res.report["fidelity"]
    assert fid["ideal"]["output"]["cosine_mean"] > 0.99
    assert fid["ideal"]["output"]["top1_agreement"] >= 0.95
    assert 0 < fid["nonideal"]["output"]["cosine_mean"] <= 1
    single = compile_model(model, data[:130], fidelity_data=data[130:],
                           options=CompileOptions(relu_pairs=False))
    assert all(r.get("copies", 1) == 1 for r in single.report["layers"])
    assert single.report["cells"] < res.report["cells"]
