"""Augmentation: SNR mixing, gain, time shift, context placement (int16 in and out, seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from wtmkws.audio_pipeline.augment import apply_gain, mix_at_snr, place_in_context, time_shift
from wtmkws.audio_pipeline.errors import AudioFormatError, ConfigError


def _tone(n: int = 16000, amp: float = 5000.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.int16)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 20.0])
def test_mix_reaches_the_requested_snr(rng: np.random.Generator, snr_db: float) -> None:
    speech = _tone()
    noise = (rng.standard_normal(5000) * 2000).astype(np.int16)  # shorter: looped
    mixed = mix_at_snr(speech, noise, snr_db=snr_db, rng=np.random.default_rng(7))
    assert mixed.dtype == np.int16 and mixed.shape == speech.shape
    added = mixed.astype(np.float64) - speech
    measured = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(added**2))
    assert abs(measured - snr_db) < 0.05


def test_mix_is_seeded_and_uses_a_random_offset(rng: np.random.Generator) -> None:
    speech = _tone(4000)
    noise = (rng.standard_normal(48000) * 1000).astype(np.int16)
    a = mix_at_snr(speech, noise, snr_db=5.0, rng=np.random.default_rng(1))
    b = mix_at_snr(speech, noise, snr_db=5.0, rng=np.random.default_rng(1))
    c = mix_at_snr(speech, noise, snr_db=5.0, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mix_edge_cases() -> None:
    silent = np.zeros(100, dtype=np.int16)
    noise = _tone(50)
    np.testing.assert_array_equal(mix_at_snr(silent, noise, snr_db=0, rng=np.random.default_rng(0)),
                                  silent)
    loud = np.full(100, 30000, dtype=np.int16)
    out = mix_at_snr(loud, noise, snr_db=-20, rng=np.random.default_rng(0))
    assert out.max() == 32767  # saturates, no wrap-around
    with pytest.raises(AudioFormatError, match="noise has no samples"):
        mix_at_snr(loud, np.zeros(0, dtype=np.int16), snr_db=0, rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="snr_db"):
        mix_at_snr(loud, noise, snr_db=float("nan"), rng=np.random.default_rng(0))
    with pytest.raises(AudioFormatError, match="int16"):
        mix_at_snr(loud.astype(np.float32), noise, snr_db=0, rng=np.random.default_rng(0))


def test_gain() -> None:
    x = np.array([0, 1000, -1000, 20000, -20000], dtype=np.int16)
    assert apply_gain(x, gain_db=0.0).tolist() == x.tolist()
    assert apply_gain(x, gain_db=20 * np.log10(2)).tolist() == [0, 2000, -2000, 32767, -32768]
    assert apply_gain(np.array([3, 5], dtype=np.int16), gain_db=20 * np.log10(0.5)).tolist() \
        == [2, 2]  # 1.5 -> 2, 2.5 -> 2: round half to even
    with pytest.raises(ConfigError, match="gain_db"):
        apply_gain(x, gain_db=float("inf"))


@pytest.mark.parametrize(("shift", "expected"), [(0, [1, 2, 3, 4]), (1, [0, 1, 2, 3]),
                                                 (-2, [3, 4, 0, 0]), (4, [0, 0, 0, 0]),
                                                 (-9, [0, 0, 0, 0])])
def test_time_shift(shift: int, expected: list[int]) -> None:
    x = np.array([1, 2, 3, 4], dtype=np.int16)
    out = time_shift(x, shift_samples=shift)
    assert out.tolist() == expected and out.dtype == np.int16


def test_time_shift_rejects_fractional_shift() -> None:
    with pytest.raises(ConfigError, match="shift_samples"):
        time_shift(np.zeros(4, dtype=np.int16), shift_samples=1.5)  # type: ignore[arg-type]


def test_place_in_context_keeps_the_clip_and_fills_the_rest_with_background(rng: np.random.Generator) -> None:
    clip = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)
    noise = (rng.standard_normal(16000) * 3000).astype(np.int16)
    out = place_in_context(clip, noises=[noise], sentences=[], rng=np.random.default_rng(1))
    again = place_in_context(clip, noises=[noise], sentences=[], rng=np.random.default_rng(1))
    assert out.dtype == np.int16 and out.size == 24000
    assert np.array_equal(out, again)
    assert np.count_nonzero(out == 0) < out.size // 100  # no digital silence left
    corr = np.correlate(out.astype(float), clip.astype(float), mode="valid")
    start = int(np.argmax(corr))
    residual = out[start:start + clip.size].astype(float) - clip
    assert 0.05 * 16000 <= out.size - (start + clip.size) <= 0.3 * 16000
    assert np.sqrt(np.mean(residual ** 2)) < 0.33 * np.sqrt(np.mean(clip.astype(float) ** 2))


def test_place_in_context_puts_speech_right_before_and_after_the_clip() -> None:
    """Sentence ends precede and sentence starts follow the clip, 0..0.2 s away, often."""
    clip = np.full(4000, 9000, dtype=np.int16)
    sentence = np.full(30000, 300, dtype=np.int16)
    before = after = 0
    rng = np.random.default_rng(5)
    for _ in range(100):
        out = place_in_context(clip, noises=[], sentences=[sentence], rng=rng)
        at = np.flatnonzero(out == 9000)
        assert at.size == clip.size and at[-1] - at[0] == clip.size - 1  # the clip, untouched
        speech = np.flatnonzero(out == 300)
        pre, post = speech[speech < at[0]], speech[speech > at[-1]]
        if pre.size:
            before += 1
            assert at[0] - pre[-1] - 1 <= 0.2 * 16000 and pre[0] == 0  # runs from the start
        if post.size:
            after += 1
            assert post[0] - at[-1] - 1 <= 0.2 * 16000 and post[-1] == out.size - 1
    assert 50 <= before <= 90 and 50 <= after <= 90  # p = 0.7 each
