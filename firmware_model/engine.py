"""The virtual board's inference engine: audio in, keyword events out.

The engine chains the device-exact integer frontend, the bit-accurate emulator and a detector:

    int16 samples -> frontend codes (T, input_width) uint8 -> program -> int8 logits (n, n_labels)
    -> posteriors (softmax) -> moving-average smoothing -> per-label thresholds + refractory -> events

Two entry points compute exactly the same thing:

* batch: :func:`score_audio` (whole recording, vectorised, chunked to bound memory) followed by
  the pure function :func:`events_from_scores`;
* streaming: :class:`InferenceEngine` ``.push(samples)`` with any chunk sizes (what the board runs).

Time alignment (explicit, and the same in both paths)
------------------------------------------------------
Frontend frame ``k`` covers samples ``[k*hop, k*hop + window)`` and therefore *ends* at sample
``k*hop + window``. A STREAM program with delay ``d`` (:func:`validate.stream_delay_frames`)
emits output frame ``j`` once input frame ``j + d`` exists, so output ``j`` is stamped with
``t_j = ((j + d) * hop + window) / sample_rate_hz`` seconds: the end of the audio consumed when
that output became available. A WINDOW program runs on frames ``[i*H, i*H + F)`` (``H`` =
``window_hop_frames``, ``F`` = ``program.input_frames``); window ``i`` is stamped with
``((i*H + F - 1) * hop + window) / sample_rate_hz``. Event times are these stamps.

Posteriors
----------
The program's last op outputs int8 logits ``q`` (one per label). They are dequantized as
``(q - zero_point) * scale`` with ``scale = program.metadata.get("output_scale",
DEFAULT_OUTPUT_SCALE)`` (1/16: int8 logits span +-8 nats) and ``zero_point =
program.metadata.get("output_zero_point", 0)``, then soft-maxed over the labels. A program whose
metadata says ``"output_kind": "probabilities"`` (a softmax already inside the program) is used
as is: ``clip((q - zero_point) * scale, 0, 1)``. A last :class:`~program.Argmax` op gives one-hot
posteriors. Softmax and smoothing use a fixed order of float64 operations per frame (no
reductions whose order depends on the batch size), so batch and streaming scores are bitwise
equal and cross a threshold on the same frame.

Smoothing is the causal moving average of the last ``smoothing_frames`` posterior frames (fewer at
the start of a stream). An event fires at output frame ``t`` for the non-background label ``l`` with
the highest smoothed posterior among those at or above their threshold, unless an event (of any
label) fired less than ``refractory_ms`` earlier. Background labels never fire.

Non-ideal mode: the read noise of :class:`~noise.NonIdealChip` is a function of (seed, layer, frame
index). Streaming runs use global frame indices; batch runs split long recordings into blocks and
pass each block's first frame index to ``emulator.run(..., frame_offset=...)``, so batch and
streaming runs agree bit for bit in non-ideal mode too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.program import Argmax, Program, ProgramError, ProgramMode

__all__ = [
    "DEFAULT_BACKGROUND_LABELS",
    "DEFAULT_OUTPUT_SCALE",
    "DetectorConfig",
    "Event",
    "InferenceEngine",
    "Scores",
    "events_from_scores",
    "frontend_config",
    "output_times_s",
    "posteriors_from_outputs",
    "score_audio",
    "score_codes",
    "smooth_posteriors",
]

DEFAULT_OUTPUT_SCALE = 1.0 / 16.0
"""Logit units per int8 output LSB when the program's metadata has no ``output_scale``."""

DEFAULT_BACKGROUND_LABELS: tuple[str, ...] = (
    "_background_", "background", "_silence_", "silence", "_unknown_", "unknown", "_noise_",
    "noise", "filler", "other", "none", "_none_",
)
"""Labels that never fire an event unless a :class:`DetectorConfig` says otherwise."""

_CHUNK_OUTPUT_FRAMES = 8192
"""Output frames per emulator call in batch mode (bounds memory on long recordings)."""
_CHUNK_WINDOWS = 512
"""Windows per emulator call in batch mode (WINDOW programs)."""
_CHUNK_AUDIO_FRAMES = 30000
"""Frontend frames per block in batch mode (5 minutes at a 10 ms hop)."""


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """How posteriors become events.

    Raises:
        ConfigError: a value is out of range (in ``__post_init__``).
    """

    threshold: float = 0.5
    """Default threshold on the smoothed posterior (0..1) for every non-background label."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per-label threshold overrides."""
    smoothing_frames: int = 5
    """Moving-average length in output frames (1 = no smoothing)."""
    refractory_ms: float = 1000.0
    """After an event, no other event (any label) fires for this long, in milliseconds."""
    background_labels: tuple[str, ...] = DEFAULT_BACKGROUND_LABELS
    """Labels that never fire (silence, unknown, filler ...)."""
    window_hop_frames: int = 10
    """WINDOW programs: the window slides by this many frontend frames (10 = 100 ms at 10 ms hop)."""

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ConfigError(f"detector threshold={self.threshold!r} is not a finite number",
                              hint="use a posterior threshold between 0 and 1, e.g. 0.5")
        for label, value in self.thresholds.items():
            if not (isinstance(value, (int, float)) and not math.isnan(value)):
                raise ConfigError(f"detector threshold for {label!r}={value!r} is not a number",
                                  hint="use a posterior threshold between 0 and 1")
        if int(self.smoothing_frames) != self.smoothing_frames or self.smoothing_frames < 1:
            raise ConfigError(f"smoothing_frames={self.smoothing_frames!r} must be an integer >= 1",
                              hint="1 disables smoothing; 5 is 50 ms at a 10 ms hop")
        if not (math.isfinite(self.refractory_ms) and self.refractory_ms >= 0):
            raise ConfigError(f"refractory_ms={self.refractory_ms!r} must be >= 0",
                              hint="typical: 500-1500 ms")
        if int(self.window_hop_frames) != self.window_hop_frames or self.window_hop_frames < 1:
            raise ConfigError(f"window_hop_frames={self.window_hop_frames!r} must be an integer >= 1",
                              hint="the WINDOW program's window slides by this many frames")

    def threshold_for(self, label: str) -> float:
        """The threshold applied to ``label`` (the override or the default)."""
        return float(self.thresholds.get(label, self.threshold))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (inverse of :meth:`from_dict`)."""
        return {
            "threshold": float(self.threshold),
            "thresholds": {str(k): float(v) for k, v in self.thresholds.items()},
            "smoothing_frames": int(self.smoothing_frames),
            "refractory_ms": float(self.refractory_ms),
            "background_labels": list(self.background_labels),
            "window_hop_frames": int(self.window_hop_frames),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        """Build from :meth:`to_dict` output; unknown keys raise ConfigError.

        Raises:
            ConfigError: unknown keys or invalid values.
        """
        known = {"threshold", "thresholds", "smoothing_frames", "refractory_ms",
                 "background_labels", "window_hop_frames"}
        extra = set(d) - known
        if extra:
            raise ConfigError(f"unknown detector setting(s): {', '.join(sorted(extra))}",
                              hint=f"known: {', '.join(sorted(known))}")
        kwargs: dict[str, Any] = dict(d)
        if "thresholds" in kwargs:
            kwargs["thresholds"] = {str(k): float(v) for k, v in kwargs["thresholds"].items()}
        if "background_labels" in kwargs:
            kwargs["background_labels"] = tuple(kwargs["background_labels"])
        return cls(**kwargs)


@dataclass(frozen=True, kw_only=True)
class Event:
    """One detection."""

    time_s: float
    """End of the audio consumed when the detection was made, seconds from the stream start."""
    label: str
    """Detected label."""
    score: float
    """Smoothed posterior at the detection frame (0..1)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Scores:
    """Per-output-frame scores of one recording."""

    times_s: np.ndarray
    """(n,) float64 time stamp of each output frame (see the module docstring), seconds."""
    posteriors: np.ndarray
    """(n, n_labels) float32 smoothed posteriors."""
    labels: tuple[str, ...] = ()
    """Label of each posterior column."""
    raw_posteriors: np.ndarray | None = None
    """(n, n_labels) float32 posteriors before smoothing (None when not kept)."""


# ----------------------------------------------------------------------------------------------
# Frontend / program plumbing


def frontend_config(program: Program) -> Any:
    """The :class:`~wtmkws.audio_pipeline.int_frontend.FrontendConfig` the program expects.

    Raises:
        ProgramError: the frontend description is invalid or its feature count does not match
            ``program.input_width``.
    """
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig

    try:
        cfg = FrontendConfig.from_dict(dict(program.frontend)) if program.frontend else FrontendConfig()
    except (TypeError, ValueError) as exc:
        raise ProgramError(f"program {program.name!r}: bad frontend description ({exc})",
                           hint="re-export the program with a valid FrontendConfig") from exc
    if cfg.n_features != program.input_width:
        raise ProgramError(
            f"program {program.name!r}: frontend gives {cfg.n_features} features per frame but "
            f"the program takes input_width={program.input_width}",
            hint="the program's frontend description and its first layer disagree; re-export it")
    return cfg


def _check_outputs(program: Program) -> None:
    if not program.labels:
        raise ProgramError(f"program {program.name!r} has no output labels",
                           hint="export the program with its class labels")


def _stream_delay(program: Program) -> int:
    from wtmkws.firmware_model.validate import stream_delay_frames

    return int(stream_delay_frames(program))


def output_times_s(program: Program, n_outputs: int, *, first_output: int = 0,
                   detector: DetectorConfig | None = None) -> np.ndarray:
    """Time stamps of output frames ``first_output .. first_output + n_outputs - 1``.

    Args:
        program: the program (its frontend and mode define the alignment).
        n_outputs: number of output frames.
        first_output: global index of the first one.
        detector: needed for WINDOW programs (window hop); defaults used when None.

    Returns:
        (n_outputs,) float64 seconds (see the module docstring).
    """
    cfg = frontend_config(program)
    delay = _stream_delay(program) if program.mode is ProgramMode.STREAM else 0
    hop_frames = (detector or DetectorConfig()).window_hop_frames
    return _time_stamps(cfg, program, first_output, n_outputs, delay, hop_frames)


def _time_stamps(cfg: Any, program: Program, first: int, n: int, delay: int, hop_frames: int
                 ) -> np.ndarray:
    idx = np.arange(first, first + n, dtype=np.int64)
    if program.mode is ProgramMode.STREAM:
        last_frame = idx + delay
    else:
        last_frame = idx * hop_frames + program.input_frames - 1
    end_sample = last_frame * cfg.hop_samples + cfg.window_samples
    return end_sample.astype(np.float64) / float(cfg.sample_rate_hz)


# ----------------------------------------------------------------------------------------------
# Posteriors and smoothing (fixed operation order: batch == streaming bit for bit)


def posteriors_from_outputs(program: Program, outputs: np.ndarray) -> np.ndarray:
    """Turn program outputs into posteriors.

    Args:
        program: the program (labels, metadata ``output_scale``/``output_zero_point``/``output_kind``).
        outputs: (n, n_labels) int8 logits, or (n,) int indices when the last op is Argmax.

    Returns:
        (n, n_labels) float64 posteriors, each row summing to 1 (softmax) or in 0..1.

    Raises:
        ProgramError: the output width differs from the number of labels.
    """
    _check_outputs(program)
    n_labels = len(program.labels)
    out = np.asarray(outputs)
    if isinstance(program.ops[-1], Argmax) or out.ndim == 1:
        idx = out.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n_labels):
            raise ProgramError(f"program {program.name!r}: argmax output outside 0..{n_labels - 1}")
        post = np.zeros((idx.size, n_labels), dtype=np.float64)
        post[np.arange(idx.size), idx] = 1.0
        return post
    if out.ndim != 2 or out.shape[1] != n_labels:
        raise ProgramError(
            f"program {program.name!r}: output has shape {out.shape} but the program has "
            f"{n_labels} labels {list(program.labels)}",
            hint="the output layer width must equal the number of labels")
    meta = program.metadata or {}
    scale = float(meta.get("output_scale", DEFAULT_OUTPUT_SCALE))
    zero = float(meta.get("output_zero_point", 0))
    logits = (out.astype(np.float64) - zero) * scale
    if str(meta.get("output_kind", "logits")) == "probabilities":
        return np.clip(logits, 0.0, 1.0)
    m = logits[:, 0].copy()
    for j in range(1, n_labels):
        np.maximum(m, logits[:, j], out=m)
    e = np.exp(logits - m[:, None])
    s = e[:, 0].copy()
    for j in range(1, n_labels):
        s += e[:, j]
    return e / s[:, None]


def smooth_posteriors(posteriors: np.ndarray, smoothing_frames: int, *,
                      history: np.ndarray | None = None, frames_before: int = 0) -> np.ndarray:
    """Causal moving average over ``smoothing_frames`` frames, in a fixed summation order.

    Output ``t`` is ``(p[t] + p[t-1] + ... + p[t-s+1]) / min(t_global + 1, s)`` where frames
    before the stream start count as absent.

    Args:
        posteriors: (n, n_labels) float64 new posterior frames.
        smoothing_frames: window length s >= 1.
        history: (s-1, n_labels) float64 frames preceding ``posteriors`` (zeros where the stream
            had not started), or None at the stream start.
        frames_before: how many frames the stream had before ``posteriors``.

    Returns:
        (n, n_labels) float64 smoothed posteriors.
    """
    s = int(smoothing_frames)
    p = np.asarray(posteriors, dtype=np.float64)
    n = p.shape[0]
    if s == 1 or n == 0:
        return p.copy()
    if history is None:
        history = np.zeros((s - 1, p.shape[1]), dtype=np.float64)
    ext = np.concatenate([history, p], axis=0)  # ext[s-1 + t] = p[t]
    acc = np.zeros_like(p)
    for k in range(s):  # acc[t] += p[t-k], k = 0..s-1, in this order
        acc += ext[s - 1 - k: s - 1 - k + n]
    count = np.minimum(np.arange(frames_before, frames_before + n) + 1, s).astype(np.float64)
    return acc / count[:, None]


# ----------------------------------------------------------------------------------------------
# Events


def _fire_mask(labels: tuple[str, ...], detector: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    active = np.array([lab not in detector.background_labels for lab in labels], dtype=bool)
    thr = np.array([detector.threshold_for(lab) for lab in labels], dtype=np.float64)
    return active, thr


def _detect(times_s: np.ndarray, posteriors: np.ndarray, labels: tuple[str, ...],
            detector: DetectorConfig, last_event_s: float | None,
            mask: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[list[Event], float | None]:
    """Events over a block of frames, given the time of the previous event (refractory state)."""
    events: list[Event] = []
    if posteriors.shape[0] == 0:
        return events, last_event_s
    active, thr = mask if mask is not None else _fire_mask(labels, detector)
    if not active.any():
        return events, last_event_s
    post = np.asarray(posteriors, dtype=np.float32)[:, active]
    thr32 = thr[active]
    above = post >= thr32[None, :]
    cand = np.flatnonzero(above.any(axis=1))
    if cand.size == 0:
        return events, last_event_s
    names = [lab for lab, a in zip(labels, active) if a]
    refr_s = detector.refractory_ms / 1000.0
    cand_times = times_s[cand]
    i = 0
    if last_event_s is not None:
        i = int(np.searchsorted(cand_times, last_event_s + refr_s - 1e-9, side="left"))
    while i < cand.size:
        t = cand[i]
        row = np.where(above[t], post[t], -np.inf)
        j = int(np.argmax(row))
        time_s = float(times_s[t])
        events.append(Event(time_s=time_s, label=names[j], score=float(post[t, j])))
        last_event_s = time_s
        i = max(i + 1, int(np.searchsorted(cand_times, time_s + refr_s - 1e-9, side="left")))
    return events, last_event_s


def events_from_scores(scores: Scores, labels: tuple[str, ...] | list[str],
                       detector: DetectorConfig) -> list[Event]:
    """Events from smoothed scores (pure: same input, same events, batch or streaming).

    Args:
        scores: :class:`Scores` (times and smoothed posteriors).
        labels: the label of each posterior column (``program.labels``).
        detector: thresholds, refractory period and background labels (smoothing is already in
            ``scores``).

    Returns:
        Events in time order.

    Raises:
        ConfigError: the number of labels differs from the posterior columns.
    """
    labels = tuple(labels)
    if scores.posteriors.ndim != 2 or scores.posteriors.shape[1] != len(labels):
        raise ConfigError(f"scores have {scores.posteriors.shape[-1]} columns but {len(labels)} "
                          f"labels were given", hint="pass program.labels")
    events, _ = _detect(np.asarray(scores.times_s, dtype=np.float64), scores.posteriors, labels,
                        detector, None)
    return events


# ----------------------------------------------------------------------------------------------
# Batch scoring


def _codes_for(program: Program, samples: np.ndarray) -> np.ndarray:
    """All frontend codes of a recording (exactly ``compute_codes``), in blocks of whole frames.

    The integer frontend is frame-local (frame ``k`` reads only samples ``[k*hop, k*hop +
    window)``), so frames ``[f0, f1)`` are computed from samples ``[f0*hop, (f1-1)*hop + window)``.
    """
    from wtmkws.audio_pipeline.int_frontend import compute_codes, num_frames

    cfg = frontend_config(program)
    x = np.asarray(samples)
    n = num_frames(x.shape[0], cfg)
    if n <= _CHUNK_AUDIO_FRAMES:
        return compute_codes(x, cfg)
    hop, win = cfg.hop_samples, cfg.window_samples
    out = np.empty((n, cfg.n_features), dtype=np.uint8)
    for f0 in range(0, n, _CHUNK_AUDIO_FRAMES):
        f1 = min(f0 + _CHUNK_AUDIO_FRAMES, n)
        out[f0:f1] = compute_codes(x[f0 * hop:(f1 - 1) * hop + win], cfg)
    return out


def _run_stream(program: Program, codes: np.ndarray, nonideal: Any) -> np.ndarray:
    from wtmkws.firmware_model.emulator import run

    delay = _stream_delay(program)
    t = codes.shape[0]
    n_out = t - delay
    if n_out <= 0:
        shape = (0,) if isinstance(program.ops[-1], Argmax) else (0, len(program.labels))
        return np.zeros(shape, dtype=np.int64 if len(shape) == 1 else np.int8)
    parts = []
    for s in range(0, n_out, _CHUNK_OUTPUT_FRAMES):
        e = min(s + _CHUNK_OUTPUT_FRAMES, n_out)
        parts.append(run(program, codes[s:e + delay], nonideal=nonideal,
                         frame_offset=s))
    return np.concatenate(parts, axis=0)


def _n_windows(n_frames: int, program: Program, hop: int) -> int:
    f = program.input_frames
    return 0 if n_frames < f else 1 + (n_frames - f) // hop


def _run_window(program: Program, codes: np.ndarray, hop: int, nonideal: Any) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view
    from wtmkws.firmware_model.emulator import run

    n = _n_windows(codes.shape[0], program, hop)
    if n == 0:
        shape = (0,) if isinstance(program.ops[-1], Argmax) else (0, len(program.labels))
        return np.zeros(shape, dtype=np.int64 if len(shape) == 1 else np.int8)
    view = sliding_window_view(codes, program.input_frames, axis=0)[::hop]  # (n, w, F)
    parts = []
    for s in range(0, n, _CHUNK_WINDOWS):
        win = np.ascontiguousarray(np.swapaxes(view[s:s + _CHUNK_WINDOWS], 1, 2))
        parts.append(run(program, win, nonideal=nonideal, frame_offset=s))
    return np.concatenate(parts, axis=0)


def score_codes(program: Program, codes: np.ndarray, detector: DetectorConfig, *,
                nonideal: Any = None, keep_raw: bool = False) -> Scores:
    """Scores from precomputed frontend codes.

    Args:
        program: a STREAM or WINDOW program with labels.
        codes: (T, input_width) uint8 frontend codes of one recording.
        detector: smoothing length and (WINDOW) window hop.
        nonideal: optional ``NonIdealChip`` for the emulator.
        keep_raw: also keep the unsmoothed posteriors.

    Returns:
        :class:`Scores` with one row per output frame.

    Raises:
        ProgramError: the program and codes do not fit together.
    """
    _check_outputs(program)
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != program.input_width:
        raise ProgramError(f"program {program.name!r} takes {program.input_width} codes per frame, "
                           f"got codes of shape {codes.shape}")
    if program.mode is ProgramMode.STREAM:
        outputs = _run_stream(program, codes, nonideal)
    else:
        outputs = _run_window(program, codes, detector.window_hop_frames, nonideal)
    return _scores_from_outputs(program, outputs, detector, keep_raw)


def _stream_outputs_pipelined(program: Program, samples: np.ndarray, nonideal: Any,
                              on_progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """STREAM program outputs of a long recording: the frontend of block k+1 (a worker thread;
    the integer frontend releases the GIL) overlaps the emulator on block k. Exactly equal to
    ``run(program, compute_codes(samples))``."""
    from concurrent.futures import ThreadPoolExecutor

    from wtmkws.audio_pipeline.int_frontend import compute_codes, num_frames
    from wtmkws.firmware_model.emulator import run

    cfg = frontend_config(program)
    x = np.asarray(samples)
    n = num_frames(x.shape[0], cfg)
    hop, win = cfg.hop_samples, cfg.window_samples
    delay = _stream_delay(program)
    bounds = [(f0, min(f0 + _CHUNK_AUDIO_FRAMES, n)) for f0 in range(0, n, _CHUNK_AUDIO_FRAMES)]

    def codes(b: tuple[int, int]) -> np.ndarray:
        return compute_codes(x[b[0] * hop:(b[1] - 1) * hop + win], cfg)

    parts = []
    carry = np.zeros((0, program.input_width), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(codes, bounds[0])
        for i, b in enumerate(bounds):
            block = future.result()
            if i + 1 < len(bounds):
                future = pool.submit(codes, bounds[i + 1])
            inp = np.concatenate([carry, block]) if carry.shape[0] else block
            first = b[0] - carry.shape[0]  # global index of inp[0]
            if inp.shape[0] > delay:
                n_out = inp.shape[0] - delay
                for s in range(0, n_out, _CHUNK_OUTPUT_FRAMES):
                    e = min(s + _CHUNK_OUTPUT_FRAMES, n_out)
                    parts.append(run(program, inp[s:e + delay], nonideal=nonideal,
                                     frame_offset=first + s))
                carry = inp[n_out:]
            else:
                carry = inp
            if on_progress is not None:
                on_progress(b[1], n)
    if not parts:
        shape = (0,) if isinstance(program.ops[-1], Argmax) else (0, len(program.labels))
        return np.zeros(shape, dtype=np.int64 if len(shape) == 1 else np.int8)
    return np.concatenate(parts, axis=0)


def score_audio(program: Program, samples: np.ndarray, detector: DetectorConfig, *,
                nonideal: Any = None, keep_raw: bool = False,
                on_progress: Callable[[int, int], None] | None = None) -> Scores:
    """Scores of a whole recording (batch; vectorised and chunked).

    Long STREAM recordings are processed in blocks of ``_CHUNK_AUDIO_FRAMES`` frames with the
    frontend of the next block overlapping the emulator on the current one; the result is exactly
    that of one ``compute_codes`` + ``emulator.run`` over the whole recording.

    Args:
        program: a STREAM or WINDOW program.
        samples: (n,) int16 mono audio at the program's frontend rate.
        detector: smoothing length and (WINDOW) window hop.
        nonideal: optional ``NonIdealChip``.
        keep_raw: also keep the unsmoothed posteriors.
        on_progress: called with (frontend frames done, total) after each block.

    Returns:
        :class:`Scores`; ``events_from_scores(scores, program.labels, detector)`` gives the events.

    Raises:
        ProgramError: the program cannot run on this input.
    """
    from wtmkws.audio_pipeline.int_frontend import num_frames

    cfg = frontend_config(program)
    n = num_frames(np.asarray(samples).shape[0], cfg)
    if program.mode is not ProgramMode.STREAM or n <= _CHUNK_AUDIO_FRAMES:
        scores = score_codes(program, _codes_for(program, samples), detector, nonideal=nonideal,
                             keep_raw=keep_raw)
        if on_progress is not None:
            on_progress(n, n)
        return scores
    _check_outputs(program)
    outputs = _stream_outputs_pipelined(program, samples, nonideal, on_progress)
    return _scores_from_outputs(program, outputs, detector, keep_raw)


def _scores_from_outputs(program: Program, outputs: np.ndarray, detector: DetectorConfig,
                         keep_raw: bool) -> Scores:
    raw = posteriors_from_outputs(program, outputs)
    smoothed = smooth_posteriors(raw, detector.smoothing_frames)
    times = _time_stamps(frontend_config(program), program, 0, raw.shape[0],
                         _stream_delay(program) if program.mode is ProgramMode.STREAM else 0,
                         detector.window_hop_frames)
    return Scores(times_s=times, posteriors=smoothed.astype(np.float32), labels=tuple(program.labels),
                  raw_posteriors=raw.astype(np.float32) if keep_raw else None)


# ----------------------------------------------------------------------------------------------
# Streaming


class InferenceEngine:
    """Streaming detection: push audio chunks, get events (what the board runs).

    Args:
        program: a STREAM or WINDOW program with labels and a frontend description.
        detector: detector settings.
        nonideal: optional ``NonIdealChip`` for the emulator.

    Raises:
        ProgramError: the program has no labels or an inconsistent frontend.
    """

    def __init__(self, program: Program, detector: DetectorConfig, *, nonideal: Any = None) -> None:
        from wtmkws.audio_pipeline.streaming import StreamingFrontend

        _check_outputs(program)
        self.program = program
        self.detector = detector
        self.nonideal = nonideal
        self.frontend_config = frontend_config(program)
        self._frontend = StreamingFrontend(self.frontend_config)
        self._labels = tuple(program.labels)
        self._delay = _stream_delay(program) if program.mode is ProgramMode.STREAM else 0
        self._mask = _fire_mask(self._labels, detector)
        self._emulator: Any = None
        if program.mode is ProgramMode.STREAM:
            from wtmkws.firmware_model.emulator import StreamingEmulator

            self._emulator = StreamingEmulator(program, nonideal=nonideal)
        self.reset()

    def reset(self) -> None:
        """Forget all audio: the next push starts a new stream at time 0."""
        self._frontend.reset()
        if self._emulator is not None:
            self._emulator.reset()
        s = self.detector.smoothing_frames
        self._history = np.zeros((s - 1, len(self._labels)), dtype=np.float64)
        self._n_outputs = 0
        self._last_event_s: float | None = None
        self._frames: np.ndarray = np.zeros((0, self.program.input_width), dtype=np.uint8)
        self._frames_seen = 0  # frames received (WINDOW bookkeeping)
        self._pending = 0
        self.last_scores: Scores | None = None

    @property
    def outputs_emitted(self) -> int:
        """Output frames produced so far."""
        return self._n_outputs

    def _outputs_for(self, frames: np.ndarray) -> np.ndarray:
        if self._emulator is not None:
            if frames.shape[0] == 0:
                return np.zeros((0, len(self._labels)), dtype=np.int8)
            return np.asarray(self._emulator.push_many(frames))
        from wtmkws.firmware_model.emulator import run

        hop = self.detector.window_hop_frames
        f = self.program.input_frames
        self._frames = np.concatenate([self._frames, frames], axis=0)
        self._frames_seen += frames.shape[0]
        buf_start = self._frames_seen - self._frames.shape[0]  # global index of self._frames[0]
        outs = []
        while True:
            w_start = self._n_outputs_pending() * hop
            if w_start + f > self._frames_seen:
                break
            local = w_start - buf_start
            window = self._frames[local:local + f]
            outs.append(np.asarray(run(self.program, window[None], nonideal=self.nonideal,
                                       frame_offset=self._n_outputs_pending()))[0])
            self._pending += 1
        # drop frames no future window needs
        next_start = self._n_outputs_pending() * hop
        keep_from = max(0, next_start - buf_start)
        self._frames = self._frames[keep_from:]
        if not outs:
            shape = (0,) if isinstance(self.program.ops[-1], Argmax) else (0, len(self._labels))
            return np.zeros(shape, dtype=np.int8)
        return np.stack(outs, axis=0)

    def _n_outputs_pending(self) -> int:
        return self._n_outputs + self._pending

    def push(self, samples: np.ndarray) -> list[Event]:
        """Feed audio; returns the events completed by it.

        Args:
            samples: (n,) int16 mono audio at the program's frontend rate (any n >= 0).

        Returns:
            Events in time order (time = end of the audio consumed when the event was decided).
        """
        frames = self._frontend.push(np.asarray(samples))
        self._pending = 0
        outputs = self._outputs_for(np.asarray(frames))
        raw = posteriors_from_outputs(self.program, outputs)
        n = raw.shape[0]
        if n == 0:
            self.last_scores = Scores(times_s=np.zeros(0), posteriors=np.zeros((0, len(self._labels)),
                                      dtype=np.float32), labels=self._labels)
            return []
        smoothed = smooth_posteriors(raw, self.detector.smoothing_frames, history=self._history,
                                     frames_before=self._n_outputs)
        s = self.detector.smoothing_frames
        if s > 1:
            self._history = np.concatenate([self._history, raw], axis=0)[-(s - 1):]
        times = _time_stamps(self.frontend_config, self.program, self._n_outputs, n, self._delay,
                             self.detector.window_hop_frames)
        self._n_outputs += n
        post32 = smoothed.astype(np.float32)
        self.last_scores = Scores(times_s=times, posteriors=post32, labels=self._labels)
        events, self._last_event_s = _detect(times, post32, self._labels, self.detector,
                                             self._last_event_s, self._mask)
        return events
