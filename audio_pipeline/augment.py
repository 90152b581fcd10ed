"""Augmentation helpers for training: noise at a given SNR, gain, time shift, and placing a trimmed
clip in background context (int16 in, int16 out).

Arithmetic is float64 and the result is rounded half to even and saturated to int16, so the same
inputs (and the same generator state) give the same output on every machine.

Example:
    >>> import numpy as np
    >>> apply_gain(np.array([1000, -32768], dtype=np.int16), gain_db=6.0).tolist()
    [1995, -32768]
    >>> time_shift(np.array([1, 2, 3], dtype=np.int16), shift_samples=1).tolist()
    [0, 1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from wtmkws.audio_pipeline.errors import AudioFormatError, ConfigError

__all__ = ["apply_gain", "mix_at_snr", "place_in_context", "time_shift"]


def _int16_1d(name: str, x: np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1 or a.dtype != np.int16:
        raise AudioFormatError(f"{name} must be (n,) int16, got {a.dtype} {a.shape}",
                               hint="load audio with io.load_audio or io.to_int16_mono")
    return a


def _saturate(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ConfigError(f"{name}={value!r}: must be a finite number", hint=f"pass {name} in dB")
    return float(value)


def _noise_segment(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) float64 stretch of ``noise`` from an offset drawn as ``rng.integers(len(noise))``,
    wrapping around (looped) when the noise is shorter than ``n``."""
    start = int(rng.integers(noise.shape[0]))
    return noise[(start + np.arange(n)) % noise.shape[0]].astype(np.float64)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, *, snr_db: float,
               rng: np.random.Generator) -> np.ndarray:
    """Add noise scaled so that mean speech power / mean noise power = ``snr_db``.

    The noise segment starts at a random offset drawn from ``rng`` (``rng.integers(len(noise))``)
    and is looped (wrapping around) or cropped to the speech length. Powers are means over the
    whole clip. Silent speech or a silent noise segment leaves the speech unchanged.

    Args:
        speech: (n,) int16.
        noise: (m,) int16, m >= 1.
        snr_db: signal-to-noise ratio in dB.
        rng: the generator for the offset.

    Returns:
        (n,) int16, saturated.

    Raises:
        AudioFormatError: wrong dtype/shape or empty noise.
        ConfigError: snr_db is not finite.
    """
    s = _int16_1d("speech", speech)
    nz = _int16_1d("noise", noise)
    snr = _finite("snr_db", snr_db)
    if nz.shape[0] == 0:
        raise AudioFormatError("noise has no samples", hint="pass a non-empty noise clip")
    n = s.shape[0]
    if n == 0:
        return s.copy()
    seg = _noise_segment(nz, n, rng)
    sf = s.astype(np.float64)
    p_s = float(np.mean(sf * sf))
    p_n = float(np.mean(seg * seg))
    if p_s == 0.0 or p_n == 0.0:
        return s.copy()
    gain = math.sqrt(p_s / (p_n * 10.0 ** (snr / 10.0)))
    return _saturate(sf + gain * seg)


def apply_gain(x: np.ndarray, *, gain_db: float) -> np.ndarray:
    """Scale by ``10**(gain_db / 20)``, round half to even, saturate to int16.

    Args:
        x: (n,) int16.
        gain_db: gain in dB (negative attenuates).

    Returns:
        (n,) int16.

    Raises:
        AudioFormatError: wrong dtype/shape.
        ConfigError: gain_db is not finite.
    """
    a = _int16_1d("x", x)
    g = 10.0 ** (_finite("gain_db", gain_db) / 20.0)
    return _saturate(a.astype(np.float64) * g)


def time_shift(x: np.ndarray, *, shift_samples: int) -> np.ndarray:
    """Shift in time, keeping the length: positive delays (zeros in front), negative advances.

    Args:
        x: (n,) int16.
        shift_samples: samples to shift by; ``|shift| >= n`` gives all zeros.

    Returns:
        (n,) int16.

    Raises:
        AudioFormatError: wrong dtype/shape.
        ConfigError: shift_samples is not an integer.
    """
    a = _int16_1d("x", x)
    if isinstance(shift_samples, bool) or not isinstance(shift_samples, (int, np.integer)):
        raise ConfigError(f"shift_samples={shift_samples!r}: must be an integer",
                          hint="pass a whole number of samples")
    k = int(shift_samples)
    out = np.zeros_like(a)
    n = a.shape[0]
    if abs(k) >= n:
        return out
    if k > 0:
        out[k:] = a[: n - k]
    elif k < 0:
        out[: n + k] = a[-k:]
    else:
        out[:] = a
    return out


def place_in_context(clip: np.ndarray, *, noises: Sequence[np.ndarray],
                     sentences: Sequence[np.ndarray], rng: np.random.Generator,
                     length_s: float = 1.5, sample_rate_hz: int = 16000) -> np.ndarray:
    """Place a trimmed clip in background context, as a streaming detector hears it.

    The clip ends 0.05..0.3 s before the end of a ``length_s`` window (the detector decides right
    after the word); with probability 0.7 the end of a background sentence precedes it, and
    independently with probability 0.7 the start of another follows it, each 0..0.2 s away (speech
    right next to the word, as in conversation and in the evaluation stream, which splices
    keywords into running speech); noise fills the whole window at 10..30 dB below the clip's
    RMS. Clips longer than the window keep their length.

    Args:
        clip: (n,) int16 trimmed speech.
        noises: int16 noise recordings (one is drawn; looped if short).
        sentences: int16 background sentences (their ends precede and their starts follow the
            clip).
        rng: the generator of every draw.
        length_s: window length in seconds (the training window).
        sample_rate_hz: sample rate.

    Returns:
        (max(n, length_s * rate),) int16.
    """
    n = max(clip.size, int(length_s * sample_rate_hz))
    out = np.zeros(n, dtype=np.float64)
    after = int(rng.uniform(0.05, 0.3) * sample_rate_hz)
    start = max(0, n - clip.size - after)
    end = start + clip.size
    out[start:end] = clip
    if sentences and rng.random() < 0.7:
        tail = sentences[int(rng.integers(len(sentences)))]
        gap = int(rng.integers(0, sample_rate_hz // 5))
        take = min(tail.size, max(0, start - gap))
        out[start - gap - take:start - gap] += tail[tail.size - take:]
    if sentences and rng.random() < 0.7:
        head = sentences[int(rng.integers(len(sentences)))]
        gap = int(rng.integers(0, sample_rate_hz // 5))
        take = min(head.size, max(0, n - end - gap))
        out[end + gap:end + gap + take] += head[:take]
    clip_rms = float(np.sqrt(np.mean(clip.astype(np.float64) ** 2))) + 1e-9
    if noises:
        seg = _noise_segment(np.asarray(noises[int(rng.integers(len(noises)))]), n, rng)
        seg_rms = float(np.sqrt(np.mean(seg ** 2))) + 1e-9
        out += seg * (clip_rms / seg_rms) * 10 ** (-float(rng.uniform(10.0, 30.0)) / 20)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)
