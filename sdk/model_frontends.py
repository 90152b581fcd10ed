"""Host frontends of the two public reference models (see ``../shared/models/README.md``).

Each turns 1 s of 16 kHz int16 audio into the int8 tensor the .tflite model takes; the compiled
program's input codes are that int8 value + 128 (``codes = q + 128``, uint8), which is how
:func:`wtmkws.sdk.calibrate.to_codes` maps int8 model inputs. The compiler stores the frontend name
in ``program.frontend`` (``{"kind": "model_frontend", "name": ...}``) and the input grid in
``program.metadata`` (``input_scale``, ``input_zero_code``: real = scale * (code - zero_code)).

* ``kws_ref`` (MLPerf Tiny DS-CNN): ``tf.signal.stft`` 480/320 samples (30 ms / 20 ms), Hann,
  FFT 512, magnitude, 40 mel bins 20-4000 Hz, ``log(mel + 1e-6)``, MFCC, first 10 -> 49 x 10;
  ``q = clip(round(mfcc / 0.5847029) + 83, -128, 127)``.
* ``micro_speech`` (TFLM tiny_conv): the TF micro frontend op
  (``tensorflow.lite.experimental.microfrontend``: 30 ms window, 20 ms step, 40 channels
  125-7500 Hz, noise reduction, PCAN, log scale, raw uint16 output ``v``) ->
  ``q = clip((v * 256 + 333) // 666 - 128, -128, 127)`` -> 49 x 40. TensorFlow 2.21 ships the op,
  so this is the upstream implementation, not a re-implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wtmkws.audio_pipeline.errors import ConfigError

__all__ = [
    "ModelFrontend",
    "MODEL_FRONTENDS",
    "KNOWN_MODELS",
    "kws_ref_features",
    "micro_speech_features",
    "identify_model",
    "clip_windows",
    "features_to_codes",
]

WINDOW_SAMPLES = 16000
"""Both reference models take 1 s of 16 kHz audio."""


def _as_float(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.dtype == np.int16:
        return x.astype(np.float32) / 32768.0
    return x.astype(np.float32)


def _fit(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ConfigError(f"audio must be 1-D, got shape {x.shape}", hint="pass mono samples")
    if x.shape[0] >= WINDOW_SAMPLES:
        return x[:WINDOW_SAMPLES]
    return np.pad(x, (0, WINDOW_SAMPLES - x.shape[0]))


def kws_ref_features(samples: np.ndarray) -> np.ndarray:
    """MLPerf Tiny KWS input: (49, 10) int8 quantized MFCC of one 1 s clip.

    Args:
        samples: (n,) int16 (or float in [-1, 1]) mono 16 kHz audio; cut or zero-padded to 1 s.

    Returns:
        (49, 10) int8, ``clip(round(mfcc / 0.5847029) + 83, -128, 127)``.
    """
    import tensorflow as tf

    x = tf.constant(_as_float(_fit(samples))[None, :])
    stft = tf.signal.stft(x, frame_length=480, frame_step=320, fft_length=512,
                          window_fn=tf.signal.hann_window)
    mag = tf.abs(stft)
    mel_w = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0)
    mel = tf.tensordot(mag, mel_w, 1)
    logmel = tf.math.log(mel + 1e-6)
    mfcc = tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., :10]
    v = mfcc.numpy()[0].astype(np.float64)
    return np.clip(np.round(v / 0.5847029) + 83, -128, 127).astype(np.int8)


def micro_speech_features(samples: np.ndarray) -> np.ndarray:
    """TFLM micro_speech input: (49, 40) int8 from the TF micro frontend on one 1 s clip.

    Args:
        samples: (n,) int16 mono 16 kHz audio (float in [-1, 1] is scaled to int16); cut or
            zero-padded to 1 s.

    Returns:
        (49, 40) int8, ``clip((v * 256 + 333) // 666 - 128, -128, 127)`` of the raw frontend
        output ``v``.
    """
    import tensorflow as tf
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op as fe

    x = np.asarray(_fit(samples))
    if x.dtype != np.int16:
        x = np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype(np.int16)
    v = fe.audio_microfrontend(tf.constant(x), sample_rate=16000, window_size=30, window_step=20,
                               num_channels=40, upper_band_limit=7500.0, lower_band_limit=125.0,
                               out_scale=1, out_type=tf.uint16).numpy().astype(np.int64)
    if v.shape[0] < 49:
        v = np.pad(v, ((0, 49 - v.shape[0]), (0, 0)))
    q = (v[:49] * 256 + 333) // 666 - 128
    return np.clip(q, -128, 127).astype(np.int8)


@dataclass(frozen=True, kw_only=True)
class ModelFrontend:
    """A model's host frontend."""

    name: str
    """Registry key."""
    frames: int
    """Frames per 1 s window."""
    width: int
    """Features per frame."""
    features: Callable[[np.ndarray], np.ndarray]
    """(n,) int16 audio -> (frames, width) int8 model input."""
    labels: tuple[str, ...]
    """Output class names of the reference model."""


MODEL_FRONTENDS: dict[str, ModelFrontend] = {
    "kws_ref": ModelFrontend(name="kws_ref", frames=49, width=10, features=kws_ref_features,
                             labels=("down", "go", "left", "no", "off", "on", "right", "stop",
                                     "up", "yes", "silence", "unknown")),
    "micro_speech": ModelFrontend(name="micro_speech", frames=49, width=40,
                                  features=micro_speech_features,
                                  labels=("silence", "unknown", "yes", "no")),
}
"""Frontends by name."""

KNOWN_MODELS: dict[str, str] = {
    "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae": "kws_ref",
    "09e5e2a9dfb2d8ed78802bf18ce297bff54281a66ca18e0c23d69ca14f822a83": "micro_speech",
}
"""sha256 of the public .tflite files -> frontend name."""


def identify_model(path: str | Path) -> ModelFrontend | None:
    """The frontend of a known public model file (by sha256), or None."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    name = KNOWN_MODELS.get(digest)
    return MODEL_FRONTENDS[name] if name else None


def clip_windows(samples: np.ndarray, *, max_windows: int, hop_samples: int = 8000) -> list[np.ndarray]:
    """Cut 1 s windows from a recording: one centred on the loudest 100 ms for short clips,
    consecutive windows (``hop_samples`` apart) for long ones.

    Args:
        samples: (n,) int16 audio.
        max_windows: most windows returned.
        hop_samples: hop between windows of a long recording.

    Returns:
        List of (16000,) int16 windows (zero-padded when the recording is shorter).
    """
    x = np.asarray(samples)
    if x.shape[0] <= 2 * WINDOW_SAMPLES:
        e = np.convolve(x.astype(np.float64) ** 2, np.ones(1600), mode="same")
        c = int(np.argmax(e)) if e.size else 0
        start = int(np.clip(c - WINDOW_SAMPLES // 2, 0, max(x.shape[0] - WINDOW_SAMPLES, 0)))
        return [_fit(x[start:start + WINDOW_SAMPLES]).astype(np.int16)][:max_windows]
    out = []
    for s in range(0, x.shape[0] - WINDOW_SAMPLES + 1, hop_samples):
        out.append(x[s:s + WINDOW_SAMPLES].astype(np.int16))
        if len(out) >= max_windows:
            break
    return out


def features_to_codes(q: np.ndarray) -> np.ndarray:
    """int8 model inputs -> uint8 program input codes (``q + 128``)."""
    return (np.asarray(q, dtype=np.int16) + 128).astype(np.uint8)
