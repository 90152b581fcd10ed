"""Reverb and speed perturbation: int16 in/out, seeded, level and length behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.perturb import add_reverb, speed_perturb, synthetic_rir


def _tone(n: int = 16000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(n) / 16000
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def test_rir_decays_at_rt60() -> None:
    h = synthetic_rir(rt60_s=0.5, seed=1)
    assert h[0] == 1.0 and h.size == 8000
    early = np.sum(h[1:800] ** 2)
    late = np.sum(h[-800:] ** 2)
    # 0.45 s apart: energy should fall by roughly 54 dB (allow noise)
    assert 10 * np.log10(early / late) > 40


def test_reverb_seeded_int16_same_length_and_level() -> None:
    x = _tone()
    a = add_reverb(x, rt60_s=0.4, seed=3)
    b = add_reverb(x, rt60_s=0.4, seed=3)
    c = add_reverb(x, rt60_s=0.4, seed=4)
    assert a.dtype == np.int16 and a.shape == x.shape
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    rms = lambda v: np.sqrt(np.mean(v.astype(float) ** 2))
    assert abs(rms(a) / rms(x) - 1) < 0.02
    assert not np.array_equal(a, x)


def test_reverb_saturates_instead_of_wrapping() -> None:
    x = np.full(4000, 32767, dtype=np.int16)
    x[::2] = -32768
    y = add_reverb(x, rt60_s=0.2, seed=0)
    assert y.dtype == np.int16 and y.min() >= -32768 and y.max() <= 32767


def test_speed_changes_length_and_pitch() -> None:
    x = _tone(16000, 500.0)
    y = speed_perturb(x, factor=1.25)
    assert y.dtype == np.int16 and y.size == 12800
    spec = np.abs(np.fft.rfft(y.astype(float)))
    peak_hz = np.argmax(spec) * 16000 / y.size
    assert abs(peak_hz - 625.0) < 5
    assert np.array_equal(speed_perturb(x, factor=1.0), x)


@pytest.mark.parametrize(("speed", "rt60"), [(0.1, 0.01), (3.0, 5.0)])
def test_bad_parameters_raise(speed: float, rt60: float) -> None:
    with pytest.raises(ConfigError):
        speed_perturb(_tone(), factor=speed)
    with pytest.raises(ConfigError):
        add_reverb(_tone(), rt60_s=rt60, seed=0)
