"""espeak-ng synthesis: seeded, varied, 16 kHz int16; confusables; unspeakable text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clitools import run_cli
from wtmkws.audio_pipeline.io import load_audio
from wtmkws.sdk.synth import SynthError, confusable_words, speak, synthesize


def test_synthesize_is_seeded_and_varied(tmp_path: Path) -> None:
    a = synthesize("computer", out_dir=tmp_path / "a", count=4, seed=5)
    b = synthesize("computer", out_dir=tmp_path / "b", count=4, seed=5)
    assert [p.name for p in a] == [f"computer_{i:04d}.wav" for i in range(4)]
    xa = [load_audio(p) for p in a]
    xb = [load_audio(p) for p in b]
    for x, y in zip(xa, xb):
        # voices/rates/pitches are seeded; espeak-ng's own noise source is not (see synth doc)
        assert x.dtype == np.int16 and abs(x.size - y.size) <= 0.02 * x.size
        assert 0.2 < x.size / 16000 < 2.0 and np.abs(x).max() > 1000
    assert len({x.size for x in xa}) > 1, "voices/rates should vary"


def test_speak_resamples_to_16k() -> None:
    fast = speak("computer", rate_wpm=250)
    slow = speak("computer", rate_wpm=100)
    assert fast.dtype == np.int16 and slow.size > fast.size * 1.5


def test_confusables_follow_the_rules() -> None:
    words = confusable_words("computer")
    for expected in ("computers", "compute", "puter", "combuter", "comuter", "hello"):
        assert expected in words
    assert "computer" not in words and len(words) == len(set(words))
    assert any(" " in w and w.replace(" ", "") == "computer" for w in words)


@pytest.mark.parametrize("text", ["", "   ", "汉字", "12 !!"])
def test_unspeakable_text_raises(text: str) -> None:
    with pytest.raises(SynthError):
        speak(text)


def test_synth_cli(tmp_path: Path) -> None:
    code, _, err = run_cli(["synth", "hey there", "--out", str(tmp_path), "--count", "2",
                              "--negatives", "--quiet"])
    assert code == 0, err
    assert len(list((tmp_path / "hey_there").glob("*.wav"))) == 2
    assert len(list((tmp_path / "_background_").glob("*.wav"))) >= 1
    code, _, err = run_cli(["synth", "汉字", "--out", str(tmp_path / "x"), "--count", "1"])
    assert code == 2 and "error:" in err


def test_voices_restrict_the_draw_and_unknown_voices_are_refused(tmp_path: Path) -> None:
    from wtmkws.sdk.synth import SynthError, _voice_pool, synthesize

    assert _voice_pool(["en-us", "en-029"]) == ("en-us", "en-029")
    paths = synthesize("hello", out_dir=tmp_path, count=2, seed=1, voices=["en-us"])
    assert len(paths) == 2 and all(p.exists() for p in paths)
    with pytest.raises(SynthError, match="unknown voice"):
        synthesize("hello", out_dir=tmp_path, count=1, voices=["klingon"])
    with pytest.raises(SynthError, match="no voices"):
        synthesize("hello", out_dir=tmp_path, count=1, voices=[])


def test_variants_restrict_the_speaker_and_unknown_variants_are_refused(tmp_path: Path) -> None:
    from wtmkws.sdk.synth import speaker_params

    rng = np.random.default_rng(2)
    drawn = {speaker_params(rng, variants=["f1", "m2"])["voice"].partition("+")[2]
             for _ in range(50)}
    assert drawn == {"f1", "m2"}
    plain = [speaker_params(rng, variants=[""])["voice"] for _ in range(10)]
    assert all("+" not in v for v in plain)  # "" is the voice's default variant
    paths = synthesize("hello", out_dir=tmp_path, count=2, seed=1, variants=["f3"])
    assert len(paths) == 2
    with pytest.raises(SynthError, match="unknown voice variant"):
        synthesize("hello", out_dir=tmp_path, count=1, variants=["nobody"])
    with pytest.raises(SynthError, match="no voice variants"):
        synthesize("hello", out_dir=tmp_path, count=1, variants=[])
