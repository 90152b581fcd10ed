"""Room reverb and speed perturbation for training augmentation (int16 in, int16 out, seeded).

The basic mix/gain/shift helpers live in :mod:`wtmkws.audio_pipeline.augment`.

* :func:`synthetic_rir`: a synthetic room impulse response, a direct path followed by exponentially
  decaying Gaussian noise whose energy falls by 60 dB after ``rt60_s`` seconds.
* :func:`add_reverb`: convolve with such a response; the output keeps the input's RMS level and
  length and saturates to int16.
* :func:`speed_perturb`: resample by a factor (Kaldi-style speed perturbation: tempo and pitch
  change together; the output has ``round(n / factor)`` samples).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy.signal import fftconvolve, resample_poly
from wtmkws.audio_pipeline.errors import ConfigError

__all__ = ["add_reverb", "speed_perturb", "synthetic_rir"]

_I16_MIN, _I16_MAX = -32768, 32767


def _as_generator(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def synthetic_rir(
    *,
    rt60_s: float,
    seed: int | np.random.Generator,
    sample_rate_hz: int = 16000,
    direct_to_reverb_db: float = 0.0,
) -> np.ndarray:
    """A synthetic room impulse response.

    Args:
        rt60_s: reverberation time in seconds (energy decays 60 dB), 0.05..3.0.
        seed: seed or Generator for the noise tail.
        sample_rate_hz: sample rate.
        direct_to_reverb_db: energy ratio of the direct path to the tail in dB.

    Returns:
        (n,) float64 response, n = rt60 seconds of samples, with h[0] = 1 the direct path.

    Raises:
        ConfigError: rt60_s or sample_rate_hz out of range.
    """
    if not 0.05 <= rt60_s <= 3.0:
        raise ConfigError(f"rt60_s={rt60_s} outside 0.05..3.0")
    if sample_rate_hz <= 0:
        raise ConfigError(f"sample_rate_hz={sample_rate_hz} must be positive")
    rng = _as_generator(seed)
    n = max(2, int(round(rt60_s * sample_rate_hz)))
    t = np.arange(n) / sample_rate_hz
    tail = rng.standard_normal(n) * np.exp(-3.0 * np.log(10.0) * t / rt60_s)
    tail[0] = 0.0
    tail_energy = float(np.sum(tail**2))
    gain = np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / max(tail_energy, 1e-12))
    h = tail * gain
    h[0] = 1.0
    return h


def add_reverb(
    x: np.ndarray,
    *,
    rt60_s: float,
    seed: int | np.random.Generator,
    sample_rate_hz: int = 16000,
    direct_to_reverb_db: float = 0.0,
) -> np.ndarray:
    """Convolve int16 audio with a synthetic room response, keeping RMS level and length.

    Args:
        x: (n,) int16 audio.
        rt60_s: reverberation time in seconds.
        seed: seed or Generator for the response.
        sample_rate_hz: sample rate.
        direct_to_reverb_db: direct path to reverberant tail energy ratio in dB.

    Returns:
        (n,) int16 reverberant audio (saturated).
    """
    x = np.asarray(x)
    if x.size == 0:
        return x.astype(np.int16)
    h = synthetic_rir(rt60_s=rt60_s, seed=seed, sample_rate_hz=sample_rate_hz,
                      direct_to_reverb_db=direct_to_reverb_db)
    xf = x.astype(np.float64)
    y = fftconvolve(xf, h)[: x.size]
    rms_in = float(np.sqrt(np.mean(xf**2)))
    rms_out = float(np.sqrt(np.mean(y**2)))
    if rms_out > 0:
        y *= rms_in / rms_out
    return np.clip(np.round(y), _I16_MIN, _I16_MAX).astype(np.int16)


def speed_perturb(x: np.ndarray, *, factor: float) -> np.ndarray:
    """Speed perturbation: play the audio ``factor`` times faster (pitch and tempo together).

    Args:
        x: (n,) int16 audio.
        factor: speed factor, 0.5..2.0 (1.1 = 10% faster, shorter output).

    Returns:
        (round(n / factor),) int16 audio (polyphase resampling, saturated).

    Raises:
        ConfigError: factor out of range.
    """
    if not 0.5 <= factor <= 2.0:
        raise ConfigError(f"speed factor={factor} outside 0.5..2.0")
    x = np.asarray(x)
    if x.size == 0 or factor == 1.0:
        return x.astype(np.int16).copy()
    frac = Fraction(factor).limit_denominator(100)
    y = resample_poly(x.astype(np.float64), frac.denominator, frac.numerator)
    n_out = int(round(x.size / factor))
    if y.size < n_out:
        y = np.pad(y, (0, n_out - y.size))
    return np.clip(np.round(y[:n_out]), _I16_MIN, _I16_MAX).astype(np.int16)
