"""The end-to-end demo: its pieces, and one tiny run through every stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.io import load_audio, write_wav
from wtmkws.tools.demo import (STAGES, TEST_VARIANTS, TEST_VOICES, DemoConfig, StageEvent,
                               generated_noise, run_demo)


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


@pytest.mark.parametrize("holdout", ["speakers", "accents"])
def test_training_and_test_speakers_never_meet(holdout: str) -> None:
    from wtmkws.sdk.synth import VARIANTS, VOICES, speaker_params

    train, test = DemoConfig(holdout=holdout).speakers()
    rng = np.random.default_rng(0)
    drawn_train = {speaker_params(rng, **train)["voice"] for _ in range(400)}
    drawn_test = {speaker_params(rng, **test)["voice"] for _ in range(200)}
    assert not drawn_train & drawn_test
    if holdout == "speakers":  # every accent, held-out variants only in the test
        assert {v.split("+")[0] for v in drawn_test} == set(VOICES)
        assert {v.split("+")[1] for v in drawn_test} == set(TEST_VARIANTS)
        assert all(v.partition("+")[2] not in TEST_VARIANTS for v in drawn_train)
        assert len(TEST_VARIANTS) < len(VARIANTS) // 4
    else:  # held-out accents, every variant
        assert {v.split("+")[0] for v in drawn_test} == set(TEST_VOICES)
        assert not {v.split("+")[0] for v in drawn_train} & set(TEST_VOICES)


def test_an_unknown_holdout_is_refused_in_one_line() -> None:
    from clitools import run_cli

    with pytest.raises(ConfigError, match="holdout"):
        DemoConfig(holdout="nobody")
    code, _, err = run_cli(["demo", "--holdout", "nobody", "--out", "/nonexistent/x"])
    assert code == 2 and err.startswith("error: holdout='nobody'") and "Traceback" not in err


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
