"""Train wake-word and command models that compute exactly what the chip computes.

Pipeline (one call, one output folder):

1. data: :mod:`wtmkws.sdk.datasets` (folder or manifest), labels chosen, speaker-disjoint split
   where speakers are known;
2. features: the integer frontend through :class:`~wtmkws.sdk.feature_cache.FeatureCache` (clean
   features computed once), plus ``augment.copies`` augmented copies of every training file
   (background noise at a random SNR, gain, time shift, room reverb, speed), all from one seeded
   generator;
3. examples: fixed windows of ``clip_frames`` frames. Keyword/command files are cropped to the
   most energetic window (padded with silence codes when shorter); background files are cut into
   consecutive windows;
4. quantization-aware training of a chip model (:mod:`wtmkws.sdk.models`) after a data-dependent
   calibration of shifts/biases/magnifies, then noise-aware fine-tuning (programming and read
   noise of the firmware model's non-ideal mode);
5. export: the exact STREAM program (:func:`wtmkws.sdk.qat_export.export_program`), checked on
   the held-out files in the emulator, plus a standard int8 .tflite, the Keras model, a report and
   training curves.

Losses, per window of output frames (logits = int8 output * ``output_scale``): with a background
class, a keyword/command window is scored by its best frame (max-pooling / multiple-instance
loss) and a background window by all frames and its worst frame; without a background class
(e.g. spoken digits) the mean logit over frames is classified. The same rule decides a clip at
test time (the emulator's program output is post-processed identically).

Randomness: every draw comes from generators seeded by ``TrainConfig.seed`` (layer initializers,
shuffles, augmentation, the noise-aware generators). TensorFlow's global seed is not set.
:func:`_configure_tensorflow` is the one place that touches TensorFlow global state (thread
counts).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from wtmkws.audio_pipeline.errors import ConfigError, WtmkwsError
from wtmkws.sdk.datasets import (
    BACKGROUND,
    Dataset,
    DatasetError,
    Item,
    Split,
    load_dataset,
    select_labels,
    split_dataset,
)
from wtmkws.sdk.models import ModelConfig

__all__ = [
    "OUTPUT_FILES",
    "AugmentConfig",
    "EpochInfo",
    "TrainConfig",
    "TrainResult",
    "clip_decisions",
    "default_frontend",
    "train_commands",
    "train_keyword",
    "train_on_split",
]

OUTPUT_FILES: tuple[str, ...] = (
    "model.keras", "model_int8.tflite", "program.wtmk", "report.json", "training_curves.png",
    "split.json",
)
"""Files every training run writes into its output folder."""


class TrainError(WtmkwsError):
    """Training cannot run with this data or configuration."""


@dataclass(frozen=True, kw_only=True)
class AugmentConfig:
    """Training-time augmentation (applied to ``copies`` extra versions of every training file)."""

    copies: int = 1
    """Augmented copies per training file (0 = clean only)."""
    noise_prob: float = 0.8
    """Probability of mixing background noise (when noise files are given)."""
    snr_db_range: tuple[float, float] = (0.0, 20.0)
    """Uniform SNR range in dB."""
    gain_db_range: tuple[float, float] = (-10.0, 6.0)
    """Uniform gain range in dB."""
    shift_max_ms: float = 150.0
    """Largest time shift (either direction) in ms."""
    reverb_prob: float = 0.3
    """Probability of room reverb."""
    rt60_range_s: tuple[float, float] = (0.15, 0.7)
    """Uniform RT60 range in seconds."""
    speed_prob: float = 0.3
    """Probability of speed perturbation."""
    speed_range: tuple[float, float] = (0.9, 1.1)
    """Uniform speed factor range."""
    time_masks: int = 0
    """SpecAugment-style time masks per training window and epoch (code domain, 0 = none)."""
    time_mask_frames: int = 10
    """Longest time mask in frames."""
    freq_masks: int = 0
    """SpecAugment-style feature masks per training window and epoch (0 = none)."""
    freq_mask_bands: int = 6
    """Widest feature mask in features (bands/coefficients)."""
    channel_codes: float = 0.0
    """Random channel (microphone/room colouring) in the code domain, redrawn per window and
    epoch: every frame of a window gets the same smooth per-feature offset
    ``sum_k c_k cos(pi k (f + 0.5) / F)``, k = 0..2, ``c_k`` uniform in +-channel_codes (for
    fbank codes at 2 codes/dB, 6.0 = +-3 dB per term); 0 = off."""
    freq_warp_prob: float = 0.0
    """Probability (per training window and epoch) of a frequency warp in the code domain, a
    vocal-tract-length-style perturbation: output feature ``f`` takes the code at position
    ``f * alpha`` (linear interpolation between neighbouring features, rounded to a code,
    positions past the last feature take the last one), ``alpha`` uniform in
    ``freq_warp_range``; 0 = off. Meant for fbank codes (bands along frequency)."""
    freq_warp_range: tuple[float, float] = (0.85, 1.15)
    """Uniform range of the warp factor ``alpha`` (> 1 moves content to lower bands)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.freq_warp_range[0] <= self.freq_warp_range[1]:
            raise ConfigError(f"augment freq_warp_range={self.freq_warp_range} must be "
                              "0 < low <= high")
        if self.copies < 0:
            raise ConfigError(f"augment copies={self.copies} must be >= 0")
        if min(self.time_masks, self.freq_masks, self.time_mask_frames,
               self.freq_mask_bands, self.channel_codes) < 0:
            raise ConfigError("augment masks and mask sizes must be >= 0")
        for name in ("noise_prob", "reverb_prob", "speed_prob", "freq_warp_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"augment {name}={v} outside 0..1")


def default_frontend() -> Any:
    """The frontend used for training unless one is given: 40 log-mel bands (fbank codes)."""
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig

    return FrontendConfig(kind="fbank")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything a training run depends on."""

    epochs: int = 20
    """Quantization-aware training epochs."""
    noise_aware_epochs: int = 3
    """Fine-tuning epochs with programming/read noise (0 = none)."""
    batch_size: int = 32
    """Windows per step."""
    learning_rate: float = 3e-3
    """Adam learning rate at the start (cosine decay to 3% of it)."""
    seed: int = 0
    """Seed of every random choice."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Architecture."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Augmentation."""
    frontend: Any = None
    """FrontendConfig (None: default_frontend())."""
    clip_frames: int = 150
    """Frames per training window (150 = 1.5 s at a 10 ms hop)."""
    max_windows_per_file: int = 24
    """Background files are cut into at most this many windows."""
    keyword_copies: int | None = None
    """Augmented copies of every keyword/command training file (None: ``augment.copies``);
    background files always get ``augment.copies``. Raising it balances a wake-word set."""
    background_stride_frames: int | None = None
    """Step between consecutive background windows (None: clip_frames, no overlap; the
    windows are then spread evenly when the cap applies)."""
    positive_smoothing_frames: int = 5
    """With a background class: a keyword window is scored by its best run of this many output
    frames (mean log-posterior), matching the detector's moving-average smoothing."""
    hard_negative_rounds: int = 0
    """With a background class: rounds of hard-negative mining. Each round runs the model over
    every training background recording (clean and augmented, end to end), adds the windows
    around the highest smoothed keyword posteriors as background examples and trains
    ``hard_negative_epochs`` more epochs."""
    hard_negative_windows: int = 1500
    """Most windows added per mining round."""
    hard_negative_epochs: int = 3
    """Epochs after each mining round (learning rate 0.3x the QAT one, cosine decay)."""
    average_last_epochs: int = 0
    """Stochastic weight averaging: the shadow weights after each of the last this many QAT
    epochs are averaged and the model continues from the average (before mining and
    noise-aware fine-tuning); it steadies a held-out accuracy that swings between epochs.
    0 = off (the last epoch's weights)."""
    pad_mode: str = "silence"
    """How a keyword/command file shorter than ``clip_frames`` is padded: "silence" (the codes
    of digital silence) or "quietest" (the file's own quietest frame, lowest mean code, so the
    window continues the recording's background level as a stream would)."""
    test_fraction: float = 0.2
    """Held-out share when the data has no fixed split."""
    output_scale: float = 0.125
    """Logit per int8 output LSB."""
    threads: int = 2
    """TensorFlow intra-op threads."""
    cache_dir: Path | None = None
    """Feature cache folder (None: <out>/.feature_cache)."""
    golden_frames: int = 200
    """Frames of held-out codes stored as golden inputs in program.wtmk."""

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs} must be >= 1", hint="--epochs 1 or more")
        if self.noise_aware_epochs < 0:
            raise ConfigError(f"noise_aware_epochs={self.noise_aware_epochs} must be >= 0")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size={self.batch_size} must be >= 1")
        if not 0 < self.learning_rate < 1:
            raise ConfigError(f"learning_rate={self.learning_rate} outside (0, 1)")
        if self.clip_frames < 8:
            raise ConfigError(f"clip_frames={self.clip_frames} must be >= 8")
        if self.keyword_copies is not None and self.keyword_copies < 0:
            raise ConfigError(f"keyword_copies={self.keyword_copies} must be >= 0")
        if self.background_stride_frames is not None and self.background_stride_frames < 1:
            raise ConfigError(f"background_stride_frames={self.background_stride_frames} "
                              "must be >= 1")
        if self.average_last_epochs < 0:
            raise ConfigError(f"average_last_epochs={self.average_last_epochs} must be >= 0")
        if self.pad_mode not in ("silence", "quietest"):
            raise ConfigError(f"pad_mode={self.pad_mode!r} is not 'silence' or 'quietest'")
        if self.positive_smoothing_frames < 1:
            raise ConfigError(f"positive_smoothing_frames={self.positive_smoothing_frames} "
                              "must be >= 1")
        if min(self.hard_negative_rounds, self.hard_negative_windows,
               self.hard_negative_epochs) < 0:
            raise ConfigError("hard_negative_rounds/windows/epochs must be >= 0")


@dataclass(frozen=True, kw_only=True)
class EpochInfo:
    """Progress of one epoch (given to ``on_epoch``)."""

    epoch: int
    """1-based epoch number."""
    epochs: int
    """Total epochs (QAT + noise-aware)."""
    phase: str
    """"qat", "hard-negative" or "noise-aware"."""
    loss: float
    """Mean training loss."""
    val_accuracy: float
    """Clip accuracy of the Keras QAT model on the held-out windows."""
    seconds: float
    """Wall time of the epoch."""


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """What a training run produced."""

    out_dir: Path
    """Output folder."""
    program: Any
    """The exported, placed Program."""
    labels: tuple[str, ...]
    """Output labels."""
    report: dict[str, Any]
    """Contents of report.json."""

    @property
    def files(self) -> dict[str, Path]:
        """Output files by name."""
        return {name: self.out_dir / name for name in OUTPUT_FILES}


# --------------------------------------------------------------------------- TF global state
_TF_CONFIGURED = False


def _configure_tensorflow(threads: int) -> None:
    """The one place touching TensorFlow globals: thread pools (before any op runs)."""
    global _TF_CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _TF_CONFIGURED:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised by the caller: keep its settings
        pass
    _TF_CONFIGURED = True


# --------------------------------------------------------------------------- features
def _energy_crop(codes: np.ndarray, frames: int, pad_code: np.ndarray) -> np.ndarray:
    """The ``frames``-long window of highest mean code (energy proxy); pad when shorter."""
    t = codes.shape[0]
    if t <= frames:
        out = np.repeat(pad_code[None, :], frames, axis=0)
        off = (frames - t) // 2
        out[off: off + t] = codes
        return out
    e = codes.astype(np.float64).mean(axis=1)
    cs = np.concatenate([[0.0], np.cumsum(e)])
    sums = cs[frames:] - cs[:-frames]
    start = int(np.argmax(sums))
    return codes[start: start + frames]


def _chunks(codes: np.ndarray, frames: int, limit: int, pad_code: np.ndarray,
            stride: int | None = None) -> list[np.ndarray]:
    t = codes.shape[0]
    if t <= frames:
        return [_energy_crop(codes, frames, pad_code)]
    if stride is not None:
        starts = np.arange(0, t - frames + 1, stride)
        if starts.shape[0] > limit:
            starts = starts[np.linspace(0, starts.shape[0] - 1, limit).astype(int)]
        return [codes[s: s + frames] for s in starts]
    n = min(limit, t // frames)
    starts = np.linspace(0, t - frames, n).astype(int) if n > 1 else [0]
    return [codes[s: s + frames] for s in starts]


def _freq_warp(x: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Warp the feature axis of each (T, F) window by a random factor (see
    ``AugmentConfig.freq_warp_prob``); windows not drawn are returned unchanged.

    Args:
        x: (N, T, F) uint8 codes.
        cfg: augmentation config (``freq_warp_prob``, ``freq_warp_range``).
        rng: generator of the draws (one uniform and one factor per window).

    Returns:
        (N, T, F) uint8 codes (a new array).
    """
    n, _, f = x.shape
    use = rng.random(n) < cfg.freq_warp_prob
    alpha = np.where(use, rng.uniform(*cfg.freq_warp_range, size=n), 1.0)
    pos = np.minimum(np.arange(f)[None, :] * alpha[:, None], f - 1)  # (n, f)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, f - 1)
    w = (pos - lo).astype(np.float32)[:, None, :]
    xf = x.astype(np.float32)
    a = np.take_along_axis(xf, lo[:, None, :], axis=2)
    b = np.take_along_axis(xf, hi[:, None, :], axis=2)
    return np.clip(np.rint(a + w * (b - a)), 0, 255).astype(np.uint8)


def _spec_masks(x: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-epoch code-domain augmentation: a random frequency warp per window (see
    ``AugmentConfig.freq_warp_prob``), a random channel offset per window (see
    ``AugmentConfig.channel_codes``), then SpecAugment masks whose cells take the window's lowest
    code (silence)."""
    if not (cfg.time_masks or cfg.freq_masks or cfg.channel_codes or cfg.freq_warp_prob):
        return x
    x = x.copy()
    n, t, f = x.shape
    if cfg.freq_warp_prob:
        x = _freq_warp(x, cfg, rng)
    if cfg.channel_codes:
        basis = np.cos(np.pi * np.arange(3)[:, None] * (np.arange(f)[None, :] + 0.5) / f)
        coef = rng.uniform(-cfg.channel_codes, cfg.channel_codes, size=(n, 3))
        off = np.rint(coef @ basis).astype(np.int16)  # (n, f)
        x = np.clip(x.astype(np.int16) + off[:, None, :], 0, 255).astype(np.uint8)
    floor = x.min(axis=(1, 2))  # (n,)
    frames = np.arange(t)[None, :]
    feats = np.arange(f)[None, :]
    for _ in range(cfg.time_masks):
        w = rng.integers(0, cfg.time_mask_frames + 1, size=n)[:, None]
        s = (rng.random(n)[:, None] * np.maximum(t - w, 1)).astype(int)
        m = (frames >= s) & (frames < s + w)  # (n, t)
        x = np.where(m[:, :, None], floor[:, None, None], x)
    for _ in range(cfg.freq_masks):
        w = rng.integers(0, cfg.freq_mask_bands + 1, size=n)[:, None]
        s = (rng.random(n)[:, None] * np.maximum(f - w, 1)).astype(int)
        m = (feats >= s) & (feats < s + w)  # (n, f)
        x = np.where(m[:, None, :], floor[:, None, None], x)
    return x


def _augment_audio(x: np.ndarray, cfg: AugmentConfig, noises: Sequence[np.ndarray],
                   rng: np.random.Generator, sample_rate_hz: int) -> np.ndarray:
    from wtmkws.audio_pipeline.augment import apply_gain, mix_at_snr, time_shift
    from wtmkws.audio_pipeline.perturb import add_reverb, speed_perturb

    y = np.asarray(x, dtype=np.int16)
    if rng.random() < cfg.speed_prob:
        y = speed_perturb(y, factor=float(rng.uniform(*cfg.speed_range)))
    if rng.random() < cfg.reverb_prob:
        y = add_reverb(y, rt60_s=float(rng.uniform(*cfg.rt60_range_s)), seed=rng,
                       sample_rate_hz=sample_rate_hz)
    shift = int(rng.uniform(-1, 1) * cfg.shift_max_ms * sample_rate_hz / 1000)
    if shift:
        y = time_shift(y, shift_samples=shift)
    y = apply_gain(y, gain_db=float(rng.uniform(*cfg.gain_db_range)))
    if noises and rng.random() < cfg.noise_prob:
        noise = noises[int(rng.integers(len(noises)))]
        y = mix_at_snr(y, noise, snr_db=float(rng.uniform(*cfg.snr_db_range)), rng=rng)
    return np.asarray(y, dtype=np.int16)


@dataclass
class _Examples:
    x: np.ndarray  # (N, T, F) uint8
    y: np.ndarray  # (N,) int32
    source: list[str]
    long_background: list[np.ndarray] = field(default_factory=list)  # whole background codes


def _build_examples(
    items: Sequence[Item], labels: tuple[str, ...], cache: Any, cfg: TrainConfig,
    frontend: Any, *, noises: Sequence[np.ndarray], augment: bool, rng: np.random.Generator,
    skipped: list[tuple[str, str]], on_progress: Callable[[int, int], None] | None,
) -> _Examples:
    from wtmkws.audio_pipeline.errors import AudioFormatError
    from wtmkws.audio_pipeline.int_frontend import compute_codes
    from wtmkws.audio_pipeline.io import load_audio

    index = {lb: i for i, lb in enumerate(labels)}
    xs: list[np.ndarray] = []
    ys: list[int] = []
    src: list[str] = []
    long_bg: list[np.ndarray] = []
    pad: np.ndarray | None = None
    copies = cfg.augment.copies if augment else 0
    for n, it in enumerate(items):
        try:
            clean = cache.codes(it.path)
        except AudioFormatError as exc:
            skipped.append((str(it.path), exc.message))
            continue
        if clean.shape[0] == 0:
            skipped.append((str(it.path), "shorter than one frame"))
            continue
        if pad is None:
            pad = np.asarray(compute_codes(np.zeros(frontend.window_samples * 2, np.int16),
                                           frontend))[0]
        versions = [clean]
        n_copies = copies
        if augment and it.label != BACKGROUND and cfg.keyword_copies is not None:
            n_copies = cfg.keyword_copies
        if n_copies:
            audio = load_audio(it.path, sample_rate_hz=frontend.sample_rate_hz)
            for _ in range(n_copies):
                aug = _augment_audio(audio, cfg.augment, noises, rng, frontend.sample_rate_hz)
                codes = np.asarray(compute_codes(aug, frontend), dtype=np.uint8)
                if codes.shape[0]:
                    versions.append(codes)
        label = index[it.label]
        for v in versions:
            if it.label == BACKGROUND:
                wins = _chunks(v, cfg.clip_frames, cfg.max_windows_per_file, pad,
                               cfg.background_stride_frames)
                long_bg.append(v)
            else:
                fill = pad
                if cfg.pad_mode == "quietest" and v.shape[0] < cfg.clip_frames:
                    fill = v[int(np.argmin(v.astype(np.int32).sum(axis=1)))]
                wins = [_energy_crop(v, cfg.clip_frames, fill)]
            for w in wins:
                xs.append(w)
                ys.append(label)
                src.append(str(it.path))
        if on_progress is not None:
            on_progress(n + 1, len(items))
    if not xs:
        return _Examples(np.zeros((0, cfg.clip_frames, frontend.n_features), np.uint8),
                         np.zeros((0,), np.int32), [])
    return _Examples(np.stack(xs).astype(np.uint8), np.asarray(ys, np.int32), src, long_bg)


def _is_collapsed(outputs: np.ndarray) -> bool:
    """True when every probe window gives the same output: a dead network (all ReLUs silent, the
    logits reduced to the bias), from which quantization-aware training does not recover.

    Args:
        outputs: (n, ...) model outputs for the probe windows.
    """
    flat = np.asarray(outputs).reshape(outputs.shape[0], -1)
    return bool(flat.shape[0] > 1 and np.all(flat == flat[:1]))


def _mine_hard_negatives(model: Any, long_bg: Sequence[np.ndarray], *, kw_indices: Sequence[int],
                         cfg: TrainConfig, rf: int, rng: np.random.Generator,
                         smoothing: int = 5) -> tuple[np.ndarray, dict[str, float]]:
    """Windows of training background where the model's smoothed keyword posterior peaks.

    Every recording is run end to end (in equal-length overlapping chunks, so one traced graph
    serves all), the per-frame posterior of the best non-background class is smoothed like the
    detector's moving average, and the ``cfg.hard_negative_windows`` highest peaks (at most one
    per ``clip_frames // 2`` frames) become ``clip_frames`` windows that hold the peak frame in
    their output range at a random place.

    Returns:
        (n, clip_frames, F) uint8 windows and statistics for the report.
    """
    clip = cfg.clip_frames
    chunk_out = 256
    block = max(1, clip // 2)
    chunks: list[np.ndarray] = []
    owners: list[tuple[int, int]] = []  # (recording, output frames)
    for r, codes in enumerate(long_bg):
        t = codes.shape[0]
        if t < max(rf, clip):
            continue
        n_out = t - rf + 1
        padded = np.concatenate([codes, np.repeat(codes[-1:], chunk_out, axis=0)], axis=0)
        for s in range(0, n_out, chunk_out):
            chunks.append(padded[s: s + chunk_out + rf - 1])
        owners.append((r, n_out))
    peaks: list[tuple[float, int, int]] = []  # (score, recording, end frame)
    if chunks:  # one predict call: one traced graph, no per-recording overhead
        raw = model.predict(np.stack(chunks).astype(np.float32), batch_size=64, verbose=0)
        raw = raw.reshape(-1, raw.shape[-1])
    pos = 0
    for r, n_out in owners:
        n_chunks = (n_out + chunk_out - 1) // chunk_out
        out = raw[pos: pos + n_out].astype(np.float64) * cfg.output_scale
        pos += n_chunks * chunk_out
        out -= out.max(axis=1, keepdims=True)
        p = np.exp(out)
        p /= p.sum(axis=1, keepdims=True)
        pk = p[:, list(kw_indices)].max(axis=1)
        if smoothing > 1 and pk.shape[0] >= smoothing:
            cs = np.concatenate([[0.0], np.cumsum(pk)])
            sm = np.empty_like(pk)
            sm[smoothing - 1:] = (cs[smoothing:] - cs[:-smoothing]) / smoothing
            sm[: smoothing - 1] = cs[1:smoothing] / np.arange(1, smoothing)
            pk = sm
        nb = (pk.shape[0] + block - 1) // block
        padk = np.full(nb * block, -1.0)
        padk[: pk.shape[0]] = pk
        arg = padk.reshape(nb, block).argmax(axis=1) + np.arange(nb) * block
        for a in arg:
            peaks.append((float(pk[a]), r, int(a) + rf - 1))  # input frame ending the field
    if not peaks:
        return np.zeros((0, clip, long_bg[0].shape[1] if long_bg else 1), np.uint8), {}
    scores = np.asarray([p[0] for p in peaks])
    order = np.argsort(-scores, kind="stable")[: cfg.hard_negative_windows]
    wins = []
    for i in order:
        _, r, e = peaks[i]
        codes = long_bg[r]
        lo = max(0, e - clip + 1)
        hi = min(codes.shape[0] - clip, e - rf + 1)
        s = int(rng.integers(lo, hi + 1)) if hi >= lo else min(lo, codes.shape[0] - clip)
        wins.append(codes[s: s + clip])
    stats = {"candidates": float(len(peaks)), "added": float(len(wins)),
             "top_score": float(scores[order[0]]),
             "lowest_added_score": float(scores[order[-1]]),
             "mean_candidate_score": float(scores.mean())}
    return np.stack(wins).astype(np.uint8), stats


# --------------------------------------------------------------------------- loss / decisions
def _make_loss(pooling: str, output_scale: float, n_classes: int, bg_index: int,
               smoothing: int = 1) -> Callable:
    from keras import ops

    def loss(y_true: Any, y_pred: Any) -> Any:
        z = y_pred * output_scale
        lab = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        onehot = ops.one_hot(lab, n_classes)
        if pooling == "mean":
            zm = ops.mean(z, axis=1)
            return -ops.mean(ops.sum(ops.log_softmax(zm, axis=-1) * onehot, axis=-1))
        logp = ops.log_softmax(z, axis=-1)
        lp = ops.sum(logp * ops.expand_dims(onehot, 1), axis=-1)  # (B, T') log p(label)
        if smoothing > 1:  # best run of `smoothing` frames (the detector's moving average)
            n = ops.shape(lp)[1]
            lps = sum(lp[:, k: n - smoothing + 1 + k] for k in range(smoothing)) / smoothing
            pos = -ops.max(lps, axis=1)
        else:
            pos = -ops.max(lp, axis=1)
        neg = -0.5 * ops.mean(lp, axis=1) - 0.5 * ops.min(lp, axis=1)
        is_bg = ops.cast(ops.equal(lab, bg_index), "float32")
        return ops.mean(is_bg * neg + (1.0 - is_bg) * pos)

    return loss


def clip_decisions(outputs: np.ndarray, *, pooling: str, output_scale: float,
                   bg_index: int | None) -> np.ndarray:
    """Decide one label index per window from per-frame int8 outputs.

    Args:
        outputs: (N, T', C) int8/float outputs of the program (or QAT model).
        pooling: "mean" (classify the mean logit; the same decision as the mean per-frame
            log-posterior, which differs from it by a per-frame constant), "mean_prob" (the
            highest mean per-frame posterior), "max_prob" (the highest posterior of any frame)
            or "max" (with a background class: the
            non-background class with the highest frame posterior wins when that posterior
            exceeds 0.5, else background).
        output_scale: logit per output LSB.
        bg_index: index of "_background_" (None when there is none).

    Returns:
        (N,) int label indices.
    """
    z = np.asarray(outputs, dtype=np.float64) * output_scale
    if pooling in ("mean_prob", "max_prob"):
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        return np.argmax(p.mean(axis=1) if pooling == "mean_prob" else p.max(axis=1), axis=-1)
    if pooling == "mean" or bg_index is None:
        return np.argmax(z.mean(axis=1), axis=-1)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    best = p.max(axis=1)  # (N, C)
    best[:, bg_index] = 0.0
    cls = np.argmax(best, axis=-1)
    return np.where(best[np.arange(len(cls)), cls] > 0.5, cls, bg_index)


# --------------------------------------------------------------------------- outputs
def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def _float_equivalent(model: Any, rf: int) -> Any:
    """A plain Keras float model (Dense/ReLU/crop/concat) mirroring the chip layers, no floor."""
    import keras
    from wtmkws.sdk.chip_layers import chip_layers_of

    layers = chip_layers_of(model)
    inp = keras.Input((rf, layers[0].in_channels), batch_size=1, name="codes")
    h = inp
    for layer in layers:
        if layer.input_magnify:
            h = keras.layers.Rescaling(float(2**layer.input_magnify))(h)
        h = keras.layers.ReLU(max_value=255.0)(h)
        if layer.context != (0,):
            cmin, cmax = min(layer.context), max(layer.context)
            parts = [keras.layers.Cropping1D((c - cmin, cmax - c))(h) for c in layer.context]
            h = keras.layers.Concatenate(axis=-1)(parts)
        w, b = layer.integer_params()
        spec = layer.spec
        dense = keras.layers.Dense(layer.units)
        h = dense(h)
        g = 2.0**layer.shift
        dense.set_weights([w.astype(np.float32) / g,
                           (spec.bias_input_code * b.astype(np.float32).sum(0)) / g])
        if layer.activation_kind == "relu":
            h = keras.layers.ReLU(max_value=float(spec.output_max))(h)
    return keras.Model(inp, h, name=f"{model.name}_float")


def _export_tflite(model: Any, rf: int, calib: np.ndarray, path: Path, seed: int) -> int:
    import tensorflow as tf

    fmodel = _float_equivalent(model, rf)
    rng = np.random.default_rng(seed)

    def representative() -> Any:
        for _ in range(64):
            i = int(rng.integers(calib.shape[0]))
            s = int(rng.integers(max(1, calib.shape[1] - rf + 1)))
            yield [calib[i: i + 1, s: s + rf].astype(np.float32)]

    with tempfile.TemporaryDirectory(dir=path.parent) as tmpdir:
        fmodel.export(tmpdir, format="tf_saved_model", verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmpdir)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        data = conv.convert()
    atomic_write_bytes(path, data)
    return len(data)


def _plot_curves(history: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(ep, [h["loss"] for h in history], "b-o", ms=3, label="train loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("loss", color="b")
    ax2 = ax1.twinx()
    ax2.plot(ep, [h["val_accuracy"] for h in history], "r-s", ms=3, label="held-out accuracy")
    ax2.set_ylabel("held-out clip accuracy", color="r")
    ax2.set_ylim(0, 1.02)
    na = [h["epoch"] for h in history if h["phase"] == "noise-aware"]
    if na:
        ax1.axvspan(min(na) - 0.5, max(na) + 0.5, color="0.9", label="noise-aware")
    ax1.set_title(title)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)


def _load_noises(noise: Sequence[str | Path] | None, sample_rate_hz: int,
                 skipped: list[tuple[str, str]]) -> list[np.ndarray]:
    from wtmkws.audio_pipeline.errors import AudioFormatError
    from wtmkws.audio_pipeline.io import load_audio
    from wtmkws.sdk.datasets import AUDIO_EXTENSIONS

    files: list[Path] = []
    for entry in noise or ():
        p = Path(entry)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.is_file():
            files.append(p)
        else:
            raise DatasetError(f"noise path {p} does not exist")
    out = []
    for f in files:
        try:
            a = load_audio(f, sample_rate_hz=sample_rate_hz)
        except AudioFormatError as exc:
            skipped.append((str(f), exc.message))
            continue
        if a.size and np.any(a):
            out.append(a)
    return out


# --------------------------------------------------------------------------- main entry
def train_on_split(
    split: Split,
    labels: tuple[str, ...],
    *,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    noise: Sequence[str | Path] | None = None,
    keyword: str | None = None,
    name: str = "kws",
    dataset_skipped: Sequence[tuple[str, str]] = (),
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on a prepared split and write every output into ``out_dir``.

    Args:
        split: train/test items (labels already mapped to ``labels``).
        labels: output classes in order.
        out_dir: output folder (created).
        config: training configuration.
        noise: noise files/folders for augmentation.
        keyword: the wake word (metadata) or None for a command set.
        name: program/model name.
        dataset_skipped: files the dataset scan skipped (reported).
        on_progress: (done, total) for feature extraction.
        on_epoch: called after every epoch with an EpochInfo.
        on_stage: called with a short stage name ("features", "train", "export").

    Returns:
        The TrainResult.

    Raises:
        TrainError / DatasetError: no usable training data, a class without examples.
    """
    cfg = config or TrainConfig()
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    _configure_tensorflow(cfg.threads)
    import keras
    from wtmkws.firmware_model import emulator
    from wtmkws.sdk.chip_layers import calibrate_chain, set_noise_aware
    from wtmkws.sdk.feature_cache import FeatureCache
    from wtmkws.sdk.models import build_model, check_fits, receptive_field
    from wtmkws.sdk.qat_export import export_program

    frontend = cfg.frontend or default_frontend()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = FeatureCache(cfg.cache_dir or (out / ".feature_cache"), frontend)
    rng = np.random.default_rng(cfg.seed)
    skipped: list[tuple[str, str]] = list(dataset_skipped)
    stage = on_stage or (lambda s: None)

    stage("features")
    noises = _load_noises(noise, frontend.sample_rate_hz, skipped)
    total = len(split.train) + len(split.test)
    prog = (lambda d, t: on_progress(d, total)) if on_progress else None
    train_ex = _build_examples(split.train, labels, cache, cfg, frontend, noises=noises,
                               augment=True, rng=rng, skipped=skipped, on_progress=prog)
    prog2 = (lambda d, t: on_progress(len(split.train) + d, total)) if on_progress else None
    test_ex = _build_examples(split.test, labels, cache, cfg, frontend, noises=(),
                              augment=False, rng=rng, skipped=skipped, on_progress=prog2)
    timings["features_s"] = time.perf_counter() - t_start
    if train_ex.x.shape[0] == 0:
        raise TrainError("no usable training audio (every file was skipped)",
                         hint="check the data folder; see the skipped list")
    counts = np.bincount(train_ex.y, minlength=len(labels))
    empty = [labels[i] for i in range(len(labels)) if counts[i] == 0]
    if empty:
        raise TrainError(f"no training examples for label(s) {', '.join(empty)}",
                         hint="every class needs audio in the training split")

    stage("train")
    bg_index = labels.index(BACKGROUND) if BACKGROUND in labels else None
    pooling = "max" if bg_index is not None else "mean"
    model = build_model(frontend.n_features, len(labels), config=cfg.model, seed=cfg.seed,
                        name=name)
    rf = receptive_field(model)
    if rf > cfg.clip_frames:
        raise ConfigError(f"clip_frames={cfg.clip_frames} is shorter than the model's receptive "
                          f"field ({rf} frames)", hint="raise clip_frames or shrink contexts")
    fits = check_fits(model)
    calib_idx = rng.choice(train_ex.x.shape[0], size=min(256, train_ex.x.shape[0]),
                           replace=False)
    calib_info = calibrate_chain(model, train_ex.x[np.sort(calib_idx)])
    loss_fn = _make_loss(pooling, cfg.output_scale, len(labels), bg_index or 0,
                         cfg.positive_smoothing_frames)
    x_train = train_ex.x
    y_train = train_ex.y.astype(np.float32)
    x_test = test_ex.x.astype(np.float32)
    history: list[dict[str, Any]] = []
    total_epochs = cfg.epochs + cfg.noise_aware_epochs + (
        cfg.hard_negative_rounds * cfg.hard_negative_epochs if bg_index is not None else 0)

    def val_acc() -> float:
        if x_test.shape[0] == 0:
            return float("nan")
        pred = model.predict(x_test, batch_size=128, verbose=0)
        dec = clip_decisions(pred, pooling=pooling, output_scale=cfg.output_scale,
                             bg_index=bg_index)
        return float(np.mean(dec == test_ex.y))

    probe = x_train[np.linspace(0, x_train.shape[0] - 1, min(256, x_train.shape[0])).astype(int)]
    probe = probe.astype(np.float32)
    restarts: list[dict[str, Any]] = []

    def run_phase(n_epochs: int, phase: str, lr0: float, noisy: bool,
                  average_last: int = 0) -> None:
        set_noise_aware(model, noisy)
        opt = keras.optimizers.Adam(learning_rate=lr0)
        model.compile(optimizer=opt, loss=loss_fn, jit_compile=False)
        sums: list[np.ndarray] | None = None
        n_avg = 0
        for e in range(n_epochs):
            t0 = time.perf_counter()
            frac = e / max(1, n_epochs - 1) if n_epochs > 1 else 1.0
            lr = lr0 * (0.03 + 0.97 * 0.5 * (1 + np.cos(np.pi * frac)))
            opt.learning_rate.assign(lr)
            perm = rng.permutation(x_train.shape[0])
            xb = _spec_masks(x_train[perm], cfg.augment, rng).astype(np.float32)
            snapshot = [v.numpy() for v in model.variables]
            h = model.fit(xb, y_train[perm], batch_size=cfg.batch_size, epochs=1,
                          shuffle=False, verbose=0)
            del xb
            if _is_collapsed(model.predict(probe, batch_size=64, verbose=0)):
                for v, value in zip(model.variables, snapshot):
                    v.assign(value)
                lr0 *= 0.5
                restarts.append({"epoch": len(history) + 1, "phase": phase,
                                 "new_learning_rate": float(lr0)})
            if average_last and e >= n_epochs - average_last:
                vals = [np.asarray(v.numpy(), np.float64) for v in model.trainable_variables]
                sums = vals if sums is None else [a + b for a, b in zip(sums, vals)]
                n_avg += 1
                if e == n_epochs - 1 and n_avg > 1:
                    for v, tot in zip(model.trainable_variables, sums):
                        v.assign((tot / n_avg).astype(np.float32))
            info = EpochInfo(epoch=len(history) + 1, epochs=total_epochs, phase=phase,
                             loss=float(h.history["loss"][-1]), val_accuracy=val_acc(),
                             seconds=time.perf_counter() - t0)
            history.append({"epoch": info.epoch, "phase": phase, "loss": info.loss,
                            "val_accuracy": info.val_accuracy, "lr": float(lr),
                            "seconds": info.seconds})
            if on_epoch is not None:
                on_epoch(info)
        set_noise_aware(model, False)

    t0 = time.perf_counter()
    run_phase(cfg.epochs, "qat", cfg.learning_rate, False, cfg.average_last_epochs)
    mining: list[dict[str, float]] = []
    if bg_index is not None and cfg.hard_negative_rounds and train_ex.long_background:
        kw_idx = [i for i in range(len(labels)) if i != bg_index]
        for rnd in range(cfg.hard_negative_rounds):
            hard, stats = _mine_hard_negatives(model, train_ex.long_background,
                                               kw_indices=kw_idx, cfg=cfg, rf=rf, rng=rng,
                                               smoothing=cfg.positive_smoothing_frames)
            stats["round"] = float(rnd + 1)
            mining.append(stats)
            if hard.shape[0]:
                x_train = np.concatenate([x_train, hard], axis=0)
                y_train = np.concatenate([y_train, np.full(hard.shape[0], float(bg_index),
                                                           np.float32)])
            run_phase(cfg.hard_negative_epochs, "hard-negative", cfg.learning_rate * 0.3, False)
    if cfg.noise_aware_epochs:
        run_phase(cfg.noise_aware_epochs, "noise-aware", cfg.learning_rate * 0.1, True)
    timings["train_s"] = time.perf_counter() - t0

    stage("export")
    t0 = time.perf_counter()
    meta = {"keyword": keyword, "seed": cfg.seed, "pooling": pooling,
            "arch": cfg.model.arch, "clip_frames": cfg.clip_frames}
    program = export_program(model, frontend=frontend, labels=labels, name=name,
                             output_scale=cfg.output_scale, metadata=meta)
    # held-out check: the chip program in the emulator vs the Keras QAT model
    keras_out = (model.predict(x_test, batch_size=128, verbose=0) if x_test.shape[0]
                 else np.zeros((0, 1, len(labels))))
    chip_out = np.stack([emulator.run(program, w) for w in test_ex.x]) if x_test.shape[0] else \
        np.zeros_like(keras_out)
    bit_exact = bool(np.array_equal(chip_out.astype(np.int64), keras_out.astype(np.int64)))
    dec_k = clip_decisions(keras_out, pooling=pooling, output_scale=cfg.output_scale,
                           bg_index=bg_index)
    dec_c = clip_decisions(chip_out, pooling=pooling, output_scale=cfg.output_scale,
                           bg_index=bg_index)
    n_test = int(test_ex.y.shape[0])
    per_label = {}
    for i, lb in enumerate(labels):
        sel = test_ex.y == i
        if sel.any():
            per_label[lb] = {"n": int(sel.sum()), "chip_accuracy": float(np.mean(dec_c[sel] == i))}
    golden = test_ex.x[0] if n_test else train_ex.x[0]
    golden = np.concatenate([test_ex.x[i] for i in range(min(n_test, 2))], axis=0) \
        if n_test >= 2 else golden
    golden = golden[: max(cfg.golden_frames, rf)]
    from wtmkws.firmware_model.program_io import save_program

    save_program(program, out / "program.wtmk", golden_inputs=golden)
    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        tmp.unlink()  # Keras refuses to overwrite without asking
        model.save(tmp)
    tflite_bytes = _export_tflite(model, rf, train_ex.x, out / "model_int8.tflite", cfg.seed)
    _write_json(out / "split.json", split.to_dict())
    timings["export_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    _plot_curves(history, out / "training_curves.png", f"{name}: {', '.join(labels)}")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report: dict[str, Any] = {
        "name": name,
        "labels": list(labels),
        "keyword": keyword,
        "split": {"kind": split.kind, "train_files": len(split.train),
                  "test_files": len(split.test), "test_speakers": list(split.test_speakers),
                  "seed": split.seed},
        "examples": {"train_windows": int(train_ex.x.shape[0]), "test_windows": n_test,
                     "hard_negative_mining": mining, "collapse_restarts": restarts,
                     "background_hours_train": float(sum(c.shape[0] for c in
                                                         train_ex.long_background)
                                                     * frontend.hop_ms / 3.6e6),
                     "train_per_label": {labels[i]: int(c) for i, c in enumerate(counts)}},
        "metrics": {
            "keras_qat_accuracy": float(np.mean(dec_k == test_ex.y)) if n_test else None,
            "chip_accuracy": float(np.mean(dec_c == test_ex.y)) if n_test else None,
            "chip_equals_keras_bit_exact": bit_exact,
            "per_label": per_label,
            "decision": pooling,
            "chip_accuracy_by_decision": ({d: float(np.mean(clip_decisions(
                chip_out, pooling=d, output_scale=cfg.output_scale, bg_index=None)
                == test_ex.y)) for d in ("mean", "mean_prob", "max_prob")}
                if n_test and bg_index is None else None),
        },
        "model": {"config": cfg.model.to_dict(), "receptive_field_frames": rf, **fits,
                  "calibration": calib_info,
                  "layers": [{"name": op.name, "kind": op.kind.value, "rows": op.n_rows,
                              "outputs": op.n_outputs, "shift": op.shift,
                              "magnify": op.transform.magnify, "context": list(op.context)}
                             for op in program.array_layers]},
        "config": {"epochs": cfg.epochs, "noise_aware_epochs": cfg.noise_aware_epochs,
                   "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate,
                   "background_stride_frames": cfg.background_stride_frames,
                   "keyword_copies": cfg.keyword_copies,
                   "max_windows_per_file": cfg.max_windows_per_file,
                   "positive_smoothing_frames": cfg.positive_smoothing_frames,
                   "pad_mode": cfg.pad_mode,
                   "average_last_epochs": cfg.average_last_epochs,
                   "hard_negative_rounds": cfg.hard_negative_rounds,
                   "hard_negative_windows": cfg.hard_negative_windows,
                   "hard_negative_epochs": cfg.hard_negative_epochs,
                   "seed": cfg.seed, "clip_frames": cfg.clip_frames,
                   "output_scale": cfg.output_scale, "threads": cfg.threads,
                   "augment": {k: getattr(cfg.augment, k) for k in cfg.augment.__dataclass_fields__},
                   "frontend": frontend.to_dict(), "noise_files": len(noises)},
        "history": history,
        "timings_s": timings,
        "peak_memory_mb": peak_kb / 1024.0,
        "feature_cache": {"hits": cache.hits, "misses": cache.misses},
        "tflite_bytes": tflite_bytes,
        "skipped": {"count": len(skipped), "files": [{"path": p, "reason": r} for p, r in skipped]},
    }
    _write_json(out / "report.json", report)
    return TrainResult(out_dir=out, program=program, labels=labels, report=report)


def train_keyword(
    data: str | Path | Dataset,
    *,
    keyword: str,
    out_dir: str | Path,
    config: TrainConfig | None = None,
    noise: Sequence[str | Path] | None = None,
    split: Split | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a wake-word model: classes ("_background_", keyword).

    Args:
        data: DATA folder, CSV manifest or Dataset; every label other than ``keyword`` (and
            ``_background_/``) is a negative.
        keyword: the wake word's label.
        out_dir: output folder (see OUTPUT_FILES).
        config: training configuration.
        noise: noise files/folders for augmentation.
        split: a fixed split (else split_dataset with config.test_fraction and seed).
        on_progress, on_epoch, on_stage: progress callbacks (see train_on_split).

    Raises:
        DatasetError: keyword not in data, no negatives, empty data.
    """
    cfg = config or TrainConfig()
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    ds2, labels = select_labels(ds, keyword=keyword)
    sp = split or split_dataset(ds2, test_fraction=cfg.test_fraction, seed=cfg.seed)
    if split is not None:
        relabel = {it.path: it.label for it in ds2.items}
        sp = replace(sp, train=tuple(replace(it, label=relabel.get(it.path, BACKGROUND)
                                             if it.label != keyword else keyword)
                                     for it in sp.train),
                     test=tuple(replace(it, label=keyword if it.label == keyword else BACKGROUND)
                                for it in sp.test))
    return train_on_split(sp, labels, out_dir=out_dir, config=cfg, noise=noise, keyword=keyword,
                          name=f"wakeword_{keyword}", dataset_skipped=ds.skipped,
                          on_progress=on_progress, on_epoch=on_epoch, on_stage=on_stage)


def train_commands(
    data: str | Path | Dataset,
    *,
    out_dir: str | Path,
    labels: Sequence[str] | None = None,
    config: TrainConfig | None = None,
    noise: Sequence[str | Path] | None = None,
    split: Split | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a command-set model over ``labels`` (default: every label folder).

    Files of unselected labels and ``_background_/`` become the "_background_" class.

    Raises:
        DatasetError: missing labels, a single class, empty data.
    """
    cfg = config or TrainConfig()
    ds = data if isinstance(data, Dataset) else load_dataset(data)
    ds2, out_labels = select_labels(ds, labels=tuple(labels) if labels else None)
    if split is None:
        sp = split_dataset(ds2, test_fraction=cfg.test_fraction, seed=cfg.seed)
    else:
        keep = set(out_labels)
        fix = lambda it: it if it.label in keep else replace(it, label=BACKGROUND)
        sp = replace(split, train=tuple(map(fix, split.train)), test=tuple(map(fix, split.test)))
    return train_on_split(sp, out_labels, out_dir=out_dir, config=cfg, noise=noise, keyword=None,
                          name="commands", dataset_skipped=ds.skipped, on_progress=on_progress,
                          on_epoch=on_epoch, on_stage=on_stage)
