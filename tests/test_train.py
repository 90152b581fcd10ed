"""End-to-end training on small synthesized data: outputs complete, chip == Keras, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from wtmkws.audio_pipeline.io import write_wav
from wtmkws.sdk.datasets import DatasetError
from wtmkws.sdk.models import ModelConfig, ModelSizeError, build_model
from wtmkws.sdk.synth import synthesize
from wtmkws.sdk.train import (
    OUTPUT_FILES,
    AugmentConfig,
    TrainConfig,
    clip_decisions,
    train_commands,
    train_keyword,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    synthesize("yes", out_dir=root / "yes", count=10, seed=1)
    synthesize("stop", out_dir=root / "stop", count=10, seed=2)
    rng = np.random.default_rng(0)
    (root / "_background_").mkdir()
    for i in range(3):
        write_wav(root / "_background_" / f"n{i}.wav",
                  (rng.standard_normal(32000) * 500).astype(np.int16), sample_rate_hz=16000)
    (root / "stop" / "broken.wav").write_bytes(b"RIFF garbage")
    return root


def _cfg(tmp: Path) -> TrainConfig:
    return TrainConfig(epochs=2, noise_aware_epochs=1, model=ModelConfig(width=16),
                       augment=AugmentConfig(copies=1), clip_frames=100, seed=3,
                       cache_dir=tmp / "cache", test_fraction=0.3)


@pytest.mark.slow
def test_keyword_training_writes_every_output(data_dir: Path, tmp_path: Path) -> None:
    epochs = []
    res = train_keyword(data_dir, keyword="yes", out_dir=tmp_path / "out", config=_cfg(tmp_path),
                        noise=[data_dir / "_background_"], on_epoch=epochs.append)
    for name in OUTPUT_FILES:
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert [e.epoch for e in epochs] == [1, 2, 3] and epochs[-1].phase == "noise-aware"
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["labels"] == ["_background_", "yes"]
    assert rep["metrics"]["chip_equals_keras_bit_exact"] is True
    assert rep["skipped"]["count"] == 1 and "broken.wav" in rep["skipped"]["files"][0]["path"]
    assert rep["peak_memory_mb"] > 0 and rep["split"]["kind"] == "speaker-overlapping"
    from wtmkws.firmware_model.program_io import load_golden, load_program

    prog = load_program(tmp_path / "out" / "program.wtmk")
    assert prog.labels == ("_background_", "yes") and prog.metadata["keyword"] == "yes"
    assert prog.metadata["output_scale"] == pytest.approx(0.125)
    assert load_golden(tmp_path / "out" / "program.wtmk").inputs.shape[1] == prog.input_width
    # the feature cache is reused by a second run
    res2 = train_commands(data_dir, labels=["yes", "stop"], out_dir=tmp_path / "out2",
                          config=_cfg(tmp_path))
    assert res2.report["feature_cache"]["hits"] > 0
    assert res2.labels == ("_background_", "yes", "stop")
    assert res.report["tflite_bytes"] > 0


def test_bad_inputs_raise(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a label"):
        train_keyword(data_dir, keyword="hello", out_dir=tmp_path / "o", config=_cfg(tmp_path))
    with pytest.raises(DatasetError, match="not in"):
        train_commands(data_dir, labels=["yes", "left"], out_dir=tmp_path / "o",
                       config=_cfg(tmp_path))


def test_too_big_model_is_refused() -> None:
    with pytest.raises(ModelSizeError, match="cells"):
        build_model(40, 2, config=ModelConfig(arch="dnn", width=1024, stack_frames=100))


def test_clip_decisions() -> None:
    out = np.zeros((2, 5, 2))
    out[0, 2, 1] = 60  # one confident keyword frame
    assert clip_decisions(out, pooling="max", output_scale=0.125, bg_index=0).tolist() == [1, 0]
    assert clip_decisions(out, pooling="mean", output_scale=0.125, bg_index=None).tolist() == [1, 0]
