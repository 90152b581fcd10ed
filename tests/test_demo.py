"""The end-to-end demo: its pieces, and one tiny run through every stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.io import load_audio, write_wav
from wtmkws.tools.demo import STAGES, DemoConfig, StageEvent, _board_stream, generated_noise, run_demo


def test_generated_noise_is_seeded_and_at_the_stated_level() -> None:
    a = generated_noise(seconds=1.0, rng=np.random.default_rng(3))
    b = generated_noise(seconds=1.0, rng=np.random.default_rng(3))
    c = generated_noise(seconds=1.0, rng=np.random.default_rng(4))
    assert set(a) == {"pink", "brown", "hum"}
    for name in a:
        assert a[name].dtype == np.int16 and a[name].size == 16000
        assert np.array_equal(a[name], b[name])
        rms_db = 20 * np.log10(np.sqrt(np.mean(a[name].astype(float) ** 2)) / 32767)
        assert abs(rms_db + 26) < 0.5
    assert not np.array_equal(a["pink"], c["pink"])


def test_board_stream_spans_point_at_the_keywords(tmp_path: Path, rng: np.random.Generator) -> None:
    kw = (np.full(4000, 9000)).astype(np.int16)
    bg = np.zeros(8000, dtype=np.int16)
    kws, bgs = [], []
    for i in range(3):
        kws.append(tmp_path / f"kw{i}.wav")
        write_wav(kws[-1], kw, sample_rate_hz=16000)
    for i in range(6):
        bgs.append(tmp_path / f"bg{i}.wav")
        write_wav(bgs[-1], bg, sample_rate_hz=16000)
    stream, spans = _board_stream(kws, bgs, n_keywords=3, rng=rng)
    assert len(spans) == 3
    loud = np.flatnonzero(stream == 9000)
    assert loud.size == 3 * 4000
    for start, end in spans:
        seg = stream[int(round(start * 16000)): int(round(end * 16000))]
        assert np.all(seg == 9000)


def test_unknown_sizes_and_missing_noise_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown demo size"):
        DemoConfig(size_overrides={"bogus": 1})
    with pytest.raises(ConfigError, match="does not exist"):
        DemoConfig(noise_dir=tmp_path / "nope")
    with pytest.raises(ConfigError, match="empty"):
        DemoConfig(keyword="  ")


@pytest.mark.slow
def test_a_tiny_demo_runs_every_stage_and_leaves_every_artifact(tmp_path: Path) -> None:
    from wtmkws.tools.image import read_image, verify_image

    sizes = {"positives": 40, "negatives": 30, "background": 40, "test_positives": 8,
             "test_background_s": 60, "epochs": 2, "noise_aware_epochs": 0, "board_keywords": 2,
             "hard_negative_rounds": 0}
    events: list[StageEvent] = []
    result = run_demo(DemoConfig(keyword="computer", out_dir=tmp_path / "demo", quick=True,
                                 size_overrides=sizes), on_stage=events.append)
    finished = [e.name for e in events if e.seconds is not None]
    assert finished == list(STAGES)
    for name in ("program", "image", "det_png", "array_map_png", "summary", "evaluation",
                 "board_events", "training_curves_png"):
        assert result.files[name].exists(), name
    info = verify_image(read_image(result.files["image"]))
    assert info is not None
    assert 0.0 <= result.miss_rate_at_1fa_h <= 1.0
    assert result.n_test_keywords == 8
    board = json.loads(result.files["board_events"].read_text())
    assert len(board["keyword_spans_s"]) == 2
    stream = load_audio(result.files["board_stream_wav"])
    assert all(e["time_s"] <= stream.size / 16000 + 0.5 for e in board["events"])
    summary = result.files["summary"].read_text()
    assert "miss rate at <= 1 false alarm/hour" in summary and "det.png" in summary


def test_in_context_keeps_the_clip_and_fills_the_rest_with_background(rng: np.random.Generator) -> None:
    from wtmkws.tools.demo import in_context

    clip = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
    noise = (rng.standard_normal(16000) * 3000).astype(np.int16)
    out = in_context(clip, noises=[noise], tails=[], rng=np.random.default_rng(1))
    again = in_context(clip, noises=[noise], tails=[], rng=np.random.default_rng(1))
    assert out.dtype == np.int16 and out.size == 24000
    assert np.array_equal(out, again)
    assert np.count_nonzero(out == 0) < out.size // 100  # no digital silence left
    corr = np.correlate(out.astype(float), clip.astype(float), mode="valid")
    start = int(np.argmax(corr))
    residual = out[start:start + clip.size].astype(float) - clip
    assert 0.05 * 16000 <= out.size - (start + clip.size) <= 0.3 * 16000
    assert np.sqrt(np.mean(residual ** 2)) < 0.33 * np.sqrt(np.mean(clip.astype(float) ** 2))
