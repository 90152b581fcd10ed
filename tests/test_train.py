"""End-to-end training on small synthesized data: outputs complete, chip == Keras, bad input."""

from __future__ import annotations

import json
import os
from dataclasses import replace
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
    _chunks,
    _mine_hard_negatives,
    _spec_masks,
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
    cfg = replace(_cfg(tmp_path), hard_negative_rounds=1, hard_negative_epochs=1,
                  hard_negative_windows=4, background_stride_frames=40, keyword_copies=2)
    res = train_keyword(data_dir, keyword="yes", out_dir=tmp_path / "out", config=cfg,
                        noise=[data_dir / "_background_"], on_epoch=epochs.append)
    for name in OUTPUT_FILES:
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert [e.phase for e in epochs] == ["qat", "qat", "hard-negative", "noise-aware"]
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    mined = rep["examples"]["hard_negative_mining"]
    assert len(mined) == 1 and 0 < mined[0]["added"] <= 4
    assert rep["examples"]["background_hours_train"] > 0
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


def test_spec_masks_fill_with_the_window_floor() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(10, 200, size=(6, 50, 12)).astype(np.uint8)
    assert _spec_masks(x, AugmentConfig(), rng) is x  # no masks configured: untouched
    cfg = AugmentConfig(time_masks=1, time_mask_frames=8, freq_masks=1, freq_mask_bands=3)
    a = _spec_masks(x, cfg, np.random.default_rng(5))
    b = _spec_masks(x, cfg, np.random.default_rng(5))
    assert np.array_equal(a, b) and a.dtype == np.uint8  # seeded
    changed = a != x
    assert changed.any()
    for i in range(x.shape[0]):  # every changed cell holds that window's lowest code
        assert np.all(a[i][changed[i]] == x[i].min())
    # masked cells form whole frames or whole feature columns
    for i in range(x.shape[0]):
        rows = changed[i].any(axis=1).sum()
        cols = changed[i].any(axis=0).sum()
        assert rows <= 8 + 50 and cols <= 12


def test_background_windows_with_a_stride() -> None:
    codes = np.arange(300 * 2, dtype=np.uint8).reshape(300, 2) % 250
    pad = np.zeros(2, np.uint8)
    wins = _chunks(codes, 100, 1000, pad, stride=50)
    assert len(wins) == 5 and np.array_equal(wins[1], codes[50:150])
    capped = _chunks(codes, 100, 3, pad, stride=50)
    assert len(capped) == 3 and np.array_equal(capped[-1], codes[200:300])
    assert len(_chunks(codes, 100, 1000, pad)) == 3  # no stride: non-overlapping


def test_hard_negative_mining_picks_windows_of_the_background() -> None:
    model = build_model(4, 2, config=ModelConfig(width=8, tdnn_contexts=((-1, 0, 1),)), seed=0)
    rng = np.random.default_rng(1)
    long_bg = [rng.integers(0, 255, size=(400, 4)).astype(np.uint8),
               rng.integers(0, 255, size=(90, 4)).astype(np.uint8)]
    cfg = TrainConfig(clip_frames=40, hard_negative_windows=5)
    wins, stats = _mine_hard_negatives(model, long_bg, kw_indices=[1], cfg=cfg, rf=3,
                                       rng=np.random.default_rng(2), smoothing=3)
    assert wins.shape == (5, 40, 4) and wins.dtype == np.uint8
    assert stats["added"] == 5 and stats["top_score"] >= stats["lowest_added_score"]
    for w in wins:  # every window is a real slice of one recording
        found = any(np.array_equal(w, bg[s: s + 40]) for bg in long_bg
                    for s in range(bg.shape[0] - 39))
        assert found


def test_channel_offset_is_constant_over_time() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(40, 200, size=(4, 30, 10)).astype(np.uint8)
    y = _spec_masks(x, AugmentConfig(channel_codes=6.0), np.random.default_rng(1))
    d = y.astype(np.int16) - x.astype(np.int16)
    assert np.any(d != 0)
    assert np.all(d == d[:, :1, :])  # one offset per window and feature, every frame
    assert np.abs(d).max() <= 18  # three terms of at most 6 codes each


def test_frequency_warp_is_seeded_shape_preserving_and_moves_bands() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(8, 20, 40)).astype(np.uint8)
    cfg = AugmentConfig(freq_warp_prob=1.0, freq_warp_range=(0.85, 1.15))
    a = _spec_masks(x, cfg, np.random.default_rng(4))
    b = _spec_masks(x, cfg, np.random.default_rng(4))
    assert a.shape == x.shape and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, x)
    assert np.array_equal(a[:, :, 0], x[:, :, 0])  # band 0 maps to itself
    # every warped code lies between the codes of the two source bands it interpolates
    lo = np.minimum(x[:, :, :-1], x[:, :, 1:]).min(axis=(1, 2))
    assert np.all(a.min(axis=(1, 2)) >= lo) and np.all(a <= 255)
    # a factor of exactly 1 is the identity; probability 0 leaves every window alone
    same = _spec_masks(x, AugmentConfig(freq_warp_prob=1.0, freq_warp_range=(1.0, 1.0)), rng)
    assert np.array_equal(same, x)
    # a factor > 1 moves a spectral peak to a lower band, < 1 to a higher one
    peak = np.zeros((1, 3, 40), np.uint8)
    peak[:, :, 20] = 200
    down = _spec_masks(peak, AugmentConfig(freq_warp_prob=1.0, freq_warp_range=(1.1, 1.1)),
                       rng)
    up = _spec_masks(peak, AugmentConfig(freq_warp_prob=1.0, freq_warp_range=(0.9, 0.9)), rng)
    assert int(np.argmax(down[0, 0])) == 18 and int(np.argmax(up[0, 0])) == 22
    assert np.all(down == down[:, :1]) and np.all(up == up[:, :1])  # same warp on every frame


def test_frequency_warp_config_is_validated() -> None:
    from wtmkws.audio_pipeline.errors import ConfigError

    with pytest.raises(ConfigError):
        AugmentConfig(freq_warp_prob=1.5)
    with pytest.raises(ConfigError):
        AugmentConfig(freq_warp_range=(1.1, 0.9))


def test_posterior_decisions() -> None:
    # one confident frame for class 1 against two mild frames for class 0 (logit = 0.125 * out)
    out = np.array([[[0, 80, 0], [16, 0, 0], [16, 0, 0]]], dtype=np.int8)
    kw = {"output_scale": 0.125, "bg_index": None}
    assert clip_decisions(out, pooling="mean", **kw).tolist() == [1]  # mean logit 3.3 vs 1.3
    assert clip_decisions(out, pooling="mean_prob", **kw).tolist() == [0]  # 0.52 vs 0.40
    assert clip_decisions(out, pooling="max_prob", **kw).tolist() == [1]  # 0.9999 vs 0.79


def test_short_files_can_be_padded_with_their_quietest_frame() -> None:
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig
    from wtmkws.sdk.datasets import Item
    from wtmkws.sdk.train import _build_examples

    codes = np.full((10, 40), 150, np.uint8)
    codes[7] = 60  # the quietest frame
    codes[3] = 220

    class Cache:
        def codes(self, path: Path) -> np.ndarray:
            return codes

    items = [Item(path=Path("a.wav"), label="a")]
    fe = FrontendConfig(kind="fbank")
    out = {}
    for mode in ("silence", "quietest"):
        cfg = TrainConfig(clip_frames=20, pad_mode=mode)
        ex = _build_examples(items, ("a",), Cache(), cfg, fe, noises=(), augment=False,
                             rng=np.random.default_rng(0), skipped=[], on_progress=None)
        assert ex.x.shape == (1, 20, 40) and np.array_equal(ex.x[0, 5:15], codes)
        out[mode] = ex.x[0]
    assert np.all(out["quietest"][:5] == 60) and np.all(out["quietest"][15:] == 60)
    assert np.all(out["silence"][:5] == out["silence"][0]) and out["silence"][0].max() < 60
    from wtmkws.audio_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="pad_mode"):
        TrainConfig(pad_mode="edge")


def test_collapse_detector_flags_only_constant_outputs() -> None:
    """A dead network gives one output for every window; a live one does not."""
    from wtmkws.sdk.train import _is_collapsed

    dead = np.tile(np.array([[3.0, 3.0]]), (8, 1))[:, None, :].repeat(5, axis=1)
    live = dead.copy()
    live[3, 2, 1] = 4.0
    assert _is_collapsed(dead)
    assert not _is_collapsed(live)
    assert not _is_collapsed(dead[:1])  # one window says nothing
