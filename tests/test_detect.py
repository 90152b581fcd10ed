"""Tests of sdk.detect (files -> events) and sdk.plots (detection PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_engine import SR, beep_signal, make_beep_program
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.io import write_wav
from wtmkws.firmware_model.engine import DetectorConfig, InferenceEngine
from wtmkws.sdk.detect import check_keyword, detect_file, detect_files


def test_detect_file_finds_beeps_like_the_engine(tmp_path: Path, rng: np.random.Generator) -> None:
    prog = make_beep_program("stream")
    x = beep_signal(rng, [0.8, 2.5], 4.0)
    path = tmp_path / "a.wav"
    write_wav(path, x, sample_rate_hz=SR)
    det = DetectorConfig(threshold=0.6)
    tr = detect_file(prog, path, det)
    assert [e.label for e in tr.events] == ["beep", "beep"]
    assert 0.8 < tr.events[0].time_s < 1.8 and 2.5 < tr.events[1].time_s < 3.5
    assert tr.notes == ()
    np.testing.assert_array_equal(tr.samples, x)
    # the board's streaming engine gives the same events on the same audio
    eng = InferenceEngine(prog, det)
    assert list(tr.events) == eng.push(x)
    d = tr.to_dict()
    assert d["path"] == str(path) and len(d["events"]) == 2
    assert tr.thresholds() == {"beep": 0.6}


def test_other_rate_is_resampled_with_a_note(tmp_path: Path, rng: np.random.Generator) -> None:
    import librosa

    prog = make_beep_program("stream")
    x = beep_signal(rng, [0.8], 2.0)
    y = librosa.resample(x.astype(np.float32) / 32768, orig_sr=SR, target_sr=22050)
    path = tmp_path / "b.wav"
    write_wav(path, np.round(y * 32767).astype(np.int16), sample_rate_hz=22050)
    tr = detect_file(prog, path, DetectorConfig(threshold=0.6))
    assert any("resampled from 22050 Hz to 16000 Hz" in n for n in tr.notes)
    assert abs(tr.samples.size - x.size) <= 2
    assert len(tr.events) == 1


def test_detect_files_progress_and_plot(tmp_path: Path, rng: np.random.Generator) -> None:
    from wtmkws.sdk.plots import plot_detection

    prog = make_beep_program("window")
    paths = []
    for i, beeps in enumerate(([0.6], [])):
        p = tmp_path / f"f{i}.wav"
        write_wav(p, beep_signal(rng, beeps, 2.0), sample_rate_hz=SR)
        paths.append(p)
    seen = []
    traces = detect_files(prog, paths, DetectorConfig(window_hop_frames=5),
                          on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    assert [len(t.events) for t in traces] == [1, 0]
    out = plot_detection(traces[0], tmp_path / "sub" / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keyword_must_be_a_label() -> None:
    prog = make_beep_program("stream")
    check_keyword(prog, "beep")
    with pytest.raises(ConfigError, match="no output label 'computer'"):
        check_keyword(prog, "computer")


def test_unreadable_file_is_a_one_line_error(tmp_path: Path) -> None:
    from wtmkws.audio_pipeline.errors import WtmkwsError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(WtmkwsError) as info:
        detect_file(make_beep_program("stream"), bad)
    assert "\n" not in str(info.value)
