"""The float reference frontend on librosa, with exactly the integer frontend's framing.

Frame k covers samples ``[k * hop, k * hop + window)`` (no centering, no padding), windowed by a
periodic Hann window, zero padded to ``n_fft``, power spectrum, ``librosa.filters.mel``
(Slaney scale and area normalisation) in float64, ``librosa.power_to_db(ref=1.0, amin=10**(
log_floor_db/10), top_db=None)`` and, for MFCCs, ``librosa.feature.mfcc`` (DCT-II, orthonormal,
no lifter). Samples are scaled by 1/32768, so 0 dB is the power of a full-scale signal.

This is what the integer frontend approximates; ``benchmarks/bench_frontend.py`` measures how
closely. Note that ``librosa.feature.mfcc(y=...)`` itself centres frames and applies
``top_db=80`` over the whole clip; this reference does neither (both are non-causal).

Example:
    >>> import numpy as np
    >>> from wtmkws.audio_pipeline.int_frontend import FrontendConfig
    >>> log_mel_db(np.zeros(800, dtype=np.int16), FrontendConfig()).shape
    (3, 40)
"""

from __future__ import annotations

import numpy as np

from wtmkws.audio_pipeline.int_frontend import FrontendConfig, num_frames

__all__ = ["log_mel_db", "mfcc", "power_spectrum"]


def _as_float(samples: np.ndarray) -> np.ndarray:
    a = np.asarray(samples)
    if a.dtype.kind in "iu":
        return a.astype(np.float64) / 32768.0
    return a.astype(np.float64)


def power_spectrum(samples: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Power spectrum of each frame, float64.

    Args:
        samples: (n,) int16 audio (scaled by 1/32768) or float audio in [-1, 1].
        config: frontend configuration (framing, n_fft).

    Returns:
        (n_frames, n_fft/2 + 1) float64 ``|rfft(frame * hann, n_fft)|**2``.
    """
    import librosa

    y = _as_float(samples)
    n = num_frames(y.shape[0], config)
    if n == 0:
        return np.zeros((0, config.n_fft // 2 + 1))
    frames = librosa.util.frame(y[: (n - 1) * config.hop_samples + config.window_samples],
                                frame_length=config.window_samples,
                                hop_length=config.hop_samples, axis=0)
    window = librosa.filters.get_window("hann", config.window_samples, fftbins=True)
    spec = np.fft.rfft(frames * window[None, :], n=config.n_fft, axis=1)
    return spec.real**2 + spec.imag**2


def log_mel_db(samples: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Float log-mel energies with the integer frontend's parameters.

    Args:
        samples: (n,) int16 audio (scaled by 1/32768) or float audio in [-1, 1].
        config: frontend configuration.

    Returns:
        (n_frames, n_mels) float32 log-mel energies in dB re full-scale power, floored at
        ``config.log_floor_db``.
    """
    import librosa

    power = power_spectrum(samples, config)
    basis = librosa.filters.mel(sr=config.sample_rate_hz, n_fft=config.n_fft,
                                n_mels=config.n_mels, fmin=config.fmin_hz, fmax=config.fmax_hz,
                                htk=False, norm="slaney", dtype=np.float64)
    mel = power @ basis.T
    db = librosa.power_to_db(mel, ref=1.0, amin=10.0 ** (config.log_floor_db / 10.0), top_db=None)
    return db.astype(np.float32)


def mfcc(samples: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Float MFCCs (librosa's DCT-II, orthonormal) of :func:`log_mel_db`.

    Args:
        samples: (n,) int16 audio (scaled by 1/32768) or float audio in [-1, 1].
        config: frontend configuration (``n_mfcc`` coefficients are returned).

    Returns:
        (n_frames, n_mfcc) float32 MFCCs.
    """
    import librosa

    db = log_mel_db(samples, config).astype(np.float64)
    if db.shape[0] == 0:
        return np.zeros((0, config.n_mfcc), dtype=np.float32)
    out = librosa.feature.mfcc(S=db.T, n_mfcc=config.n_mfcc, dct_type=2, norm="ortho", lifter=0)
    return out.T.astype(np.float32)
