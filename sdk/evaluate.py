"""Wake-word and command-set evaluation the way the field measures it (see docs/evaluation.md).

Wake word (Picovoice wake-word-benchmark style):

1. **Stream.** The background files are concatenated (sorted order). The keyword recordings are
   shuffled (seeded) and *inserted* (spliced, not overlaid) at seeded uniformly random places of
   the background, at least ``min_gap_s`` apart, so no two keyword spans overlap and every second
   of background is still in the stream. With ``noise`` and ``snr_db``, every background file and
   every keyword recording is first mixed with noise at that SNR (relative to its own power;
   ``audio_pipeline.augment.mix_at_snr``, noise looped/cropped at a seeded random offset).
2. **Scores.** The stream is scored once, bit-accurately (integer frontend + emulator, optionally
   the non-ideal chip), giving smoothed keyword posteriors per output frame.
3. **Sweep.** For each threshold on the smoothed posterior, :func:`events_from_scores` (the same
   pure function the board uses; refractory period included) gives the events. An event that falls
   in ``[keyword start, keyword end + tail_s]`` (tail 0.5 s) is a hit for that keyword (further
   events in the same window are counted as duplicates, neither hit nor false alarm); any other
   event is a false alarm. Miss rate = keywords without a hit / keywords; false alarms per hour =
   false alarms / hours of background.
4. **Figures.** Miss rate at 1 FA/h and at 1 FA/10 h (the lowest miss rate among thresholds whose
   FA/h does not exceed the target), the DET points, an exact Poisson (Garwood) interval for FA/h
   and a Wilson interval for the miss rate.

Command sets: every labelled file is scored; per label, the file score is the *maximum smoothed
posterior over the file*. Decision rule (the detector's, per file): the non-background label with
the highest file score among those reaching their threshold; if none does, the background label
with the highest file score (or, for a program without background labels, the highest label).
Accuracy and a confusion matrix (rows = true label, columns = predicted) are reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.atomic import atomic_write_text
from wtmkws.audio_pipeline.errors import WtmkwsError
from wtmkws.firmware_model.engine import (
    DetectorConfig,
    Scores,
    events_from_scores,
    frontend_config,
    score_audio,
)
from wtmkws.firmware_model.program import Program, ProgramMode
from wtmkws.sdk.detect import check_keyword, load_for_program

__all__ = [
    "AUDIO_SUFFIXES",
    "CommandReport",
    "DetPoint",
    "EvaluationError",
    "WakewordReport",
    "WakewordStream",
    "build_wakeword_stream",
    "default_thresholds",
    "evaluate_commands",
    "evaluate_wakeword",
    "labelled_files",
    "list_audio",
    "make_nonideal",
    "match_events",
    "poisson_rate_interval",
    "report_from_event_times",
    "wilson_interval",
    "write_json",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
"""File suffixes treated as audio when a folder is listed."""


class EvaluationError(WtmkwsError):
    """An evaluation cannot be set up (empty folders, too little background, bad SNR ...)."""


# ----------------------------------------------------------------------------------------------
# Files


def list_audio(folder: str | Path, *, what: str = "audio") -> list[Path]:
    """Audio files under a folder (recursive, sorted).

    Args:
        folder: a folder (or a single audio file).
        what: what the files are for (used in the error message).

    Returns:
        Sorted paths.

    Raises:
        EvaluationError: the folder does not exist or holds no audio file.
    """
    p = Path(folder)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise EvaluationError(f"{what} folder {p} does not exist", hint="check the path")
    files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise EvaluationError(f"{what} folder {p} holds no audio files "
                              f"({', '.join(AUDIO_SUFFIXES)})",
                              hint="point it at a folder of .wav/.flac recordings")
    return files


def labelled_files(folder: str | Path) -> tuple[list[Path], list[str]]:
    """Files of a ``folder/<label>/*.wav`` tree and their labels (sorted).

    Raises:
        EvaluationError: no labelled audio found.
    """
    root = Path(folder)
    if not root.is_dir():
        raise EvaluationError(f"labelled folder {root} does not exist", hint="check the path")
    files, labels = [], []
    for sub in sorted(d for d in root.iterdir() if d.is_dir()):
        for f in sorted(x for x in sub.rglob("*") if x.is_file()
                        and x.suffix.lower() in AUDIO_SUFFIXES):
            files.append(f)
            labels.append(sub.name)
    if not files:
        raise EvaluationError(f"labelled folder {root} has no <label>/<file>.wav audio",
                              hint="lay it out as DIR/<label>/*.wav with label = a program label")
    return files, labels


def write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# ----------------------------------------------------------------------------------------------
# Statistics


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def poisson_rate_interval(count: int, hours: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided interval for a Poisson rate (false alarms per hour).

    Exact Garwood interval via ``scipy.stats.chi2`` (lower ``chi2.ppf(a/2, 2k)/2``, upper
    ``chi2.ppf(1-a/2, 2k+2)/2``, divided by the hours). Without scipy, the Wilson-Hilferty
    approximation of those chi-square quantiles (within a few % for k >= 1).

    Args:
        count: observed events k >= 0.
        hours: exposure in hours (> 0).
        confidence: coverage, e.g. 0.95.

    Returns:
        (low, high) events per hour.
    """
    if hours <= 0:
        return (0.0, math.inf)
    a = 1.0 - confidence
    try:
        from scipy.stats import chi2

        lo = 0.0 if count == 0 else float(chi2.ppf(a / 2, 2 * count)) / 2.0
        hi = float(chi2.ppf(1 - a / 2, 2 * count + 2)) / 2.0
    except ImportError:  # pragma: no cover - scipy is in the venv
        z = _z(confidence)
        lo = 0.0 if count == 0 else count * (1 - 1 / (9 * count) - z / (3 * math.sqrt(count))) ** 3
        k1 = count + 1
        hi = k1 * (1 - 1 / (9 * k1) + z / (3 * math.sqrt(k1))) ** 3
    return (lo / hours, hi / hours)


def wilson_interval(k: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (the miss rate).

    Returns:
        (low, high) in 0..1; (0, 1) when n == 0.
    """
    if n <= 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = k / n
    den = 1 + z * z / n
    center = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, center - half)
    hi = 1.0 if k == n else min(1.0, center + half)
    return (lo, hi)


# ----------------------------------------------------------------------------------------------
# Stream construction


@dataclass(frozen=True, kw_only=True, eq=False)
class WakewordStream:
    """A test stream: background speech with keyword recordings spliced in."""

    samples: np.ndarray
    """(n,) int16 audio."""
    sample_rate_hz: int
    """Rate of ``samples``."""
    spans: np.ndarray
    """(n_keywords, 2) int64 [start, end) sample indices of each inserted keyword, in time order."""
    keyword_files: tuple[str, ...]
    """Source file of each span (same order)."""
    background_s: float
    """Seconds of background audio in the stream (the false-alarm exposure)."""
    keyword_s: float
    """Seconds of keyword audio in the stream."""
    snr_db: float | None
    """Noise SNR, or None for clean."""
    seed: int
    """Seed of the placement and the noise offsets."""
    notes: tuple[str, ...] = ()
    """Remarks (resampling ...)."""

    @property
    def background_hours(self) -> float:
        """Hours of background."""
        return self.background_s / 3600.0

    @property
    def spans_s(self) -> np.ndarray:
        """(n_keywords, 2) float64 keyword spans in seconds."""
        return self.spans.astype(np.float64) / float(self.sample_rate_hz)


def _load_all(paths: Sequence[Path], rate: int, notes: list[str], progress: Callable[[], None]
              ) -> list[np.ndarray]:
    from wtmkws.audio_pipeline.io import load_audio
    from wtmkws.sdk.detect import file_sample_rate_hz

    out = []
    resampled = 0
    for p in paths:
        src = file_sample_rate_hz(p)
        if src is not None and src != rate:
            resampled += 1
        out.append(np.asarray(load_audio(p, sample_rate_hz=rate), dtype=np.int16))
        progress()
    if resampled:
        notes.append(f"{resampled} file(s) resampled to {rate} Hz")
    return out


def _check_snr(snr_db: float | None) -> float | None:
    if snr_db is None:
        return None
    try:
        v = float(snr_db)
    except (TypeError, ValueError):
        raise EvaluationError(f"SNR {snr_db!r} is not a number",
                              hint="give the SNR in dB, e.g. --snr 10") from None
    if not math.isfinite(v):
        raise EvaluationError(f"SNR {snr_db!r} is not a finite number",
                              hint="give the SNR in dB, e.g. --snr 10")
    return v


def build_wakeword_stream(positives: Sequence[str | Path], background: Sequence[str | Path], *,
                          noise: Sequence[str | Path] | None = None, snr_db: float | None = None,
                          seed: int = 0, sample_rate_hz: int = 16000, min_gap_s: float = 1.0,
                          on_progress: Callable[[int, int], None] | None = None) -> WakewordStream:
    """Build the benchmark stream (see the module docstring).

    Args:
        positives: keyword recordings.
        background: background speech files (concatenated in the given order).
        noise: noise files (concatenated) to mix in, or None.
        snr_db: SNR in dB for the noise (required when ``noise`` is given).
        seed: seed of the keyword order, the insertion places and the noise offsets.
        sample_rate_hz: rate everything is loaded (resampled) at.
        min_gap_s: least background between two inserted keywords, seconds.
        on_progress: called with (files loaded, total files).

    Returns:
        A :class:`WakewordStream`.

    Raises:
        EvaluationError: no positives/background, background shorter than the keywords, bad SNR.
    """
    positives = [Path(p) for p in positives]
    background = [Path(p) for p in background]
    noise = [Path(p) for p in noise] if noise else []
    if not positives:
        raise EvaluationError("no keyword recordings (positives) given",
                              hint="point --positives at a folder of keyword .wav/.flac files")
    if not background:
        raise EvaluationError("no background files given",
                              hint="point --background at a folder of speech recordings")
    snr = _check_snr(snr_db)
    if noise and snr is None:
        raise EvaluationError("noise files given without an SNR", hint="add --snr DB, e.g. 10")
    if snr is not None and not noise:
        raise EvaluationError(f"SNR {snr} dB given without noise files", hint="add --noise DIR")
    total = len(positives) + len(background) + len(noise)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress(done[0], total)

    notes: list[str] = []
    kws = _load_all(positives, sample_rate_hz, notes, tick)
    bgs = _load_all(background, sample_rate_hz, notes, tick)
    rng = np.random.default_rng(seed)
    kw_len = np.array([k.shape[0] for k in kws], dtype=np.int64)
    bg_total = int(sum(b.shape[0] for b in bgs))
    gap = int(round(min_gap_s * sample_rate_hz))
    if bg_total < int(kw_len.sum()):
        raise EvaluationError(
            f"background is {bg_total / sample_rate_hz:.1f} s but the {len(kws)} keyword "
            f"recordings total {kw_len.sum() / sample_rate_hz:.1f} s",
            hint="give more background speech (at least as long as the keywords; hours for FA/h)")
    slack = bg_total - (len(kws) - 1) * gap
    if slack < 0:
        raise EvaluationError(
            f"background is {bg_total / sample_rate_hz:.1f} s, too short to place {len(kws)} "
            f"keywords {min_gap_s} s apart", hint="give more background speech or fewer positives")
    # placement first (the same seed gives the same layout clean or noisy), then the noise
    order = rng.permutation(len(kws))
    points = np.sort(rng.integers(0, slack + 1, size=len(kws))) + np.arange(len(kws)) * gap
    if noise:
        noise_audio = np.concatenate(_load_all(noise, sample_rate_hz, notes, tick))
        if noise_audio.size == 0 or not np.any(noise_audio):
            raise EvaluationError("noise files are silent", hint="use real noise recordings")
        noise_rng = np.random.default_rng([seed, 1])
        kws, bgs = _mix(kws, noise_audio, snr, noise_rng), _mix(bgs, noise_audio, snr, noise_rng)
    bg = np.concatenate(bgs) if bgs else np.zeros(0, np.int16)
    pieces, spans, files = [], [], []
    pos = 0  # stream length so far
    prev = 0  # background index consumed
    for i, k in enumerate(order):
        p = int(points[i])
        pieces.append(bg[prev:p])
        pos += p - prev
        prev = p
        pieces.append(kws[k])
        spans.append((pos, pos + kws[k].shape[0]))
        files.append(str(positives[k]))
        pos += kws[k].shape[0]
    pieces.append(bg[prev:])
    samples = np.concatenate(pieces).astype(np.int16)
    return WakewordStream(samples=samples, sample_rate_hz=sample_rate_hz,
                          spans=np.array(spans, dtype=np.int64).reshape(-1, 2),
                          keyword_files=tuple(files), background_s=bg_total / sample_rate_hz,
                          keyword_s=float(kw_len.sum()) / sample_rate_hz, snr_db=snr, seed=seed,
                          notes=tuple(notes))


def _mix(clips: list[np.ndarray], noise: np.ndarray, snr_db: float, rng: np.random.Generator
         ) -> list[np.ndarray]:
    from wtmkws.audio_pipeline.augment import mix_at_snr

    out = []
    for c in clips:
        if c.size == 0 or not np.any(c):
            out.append(c)  # silence has no power to reference the SNR to
        else:
            out.append(np.asarray(mix_at_snr(c, noise, snr_db=snr_db, rng=rng), dtype=np.int16))
    return out


# ----------------------------------------------------------------------------------------------
# Matching and reports


def match_events(event_times_s: np.ndarray, spans_s: np.ndarray, *, tail_s: float = 0.5
                 ) -> tuple[np.ndarray, int, int]:
    """Match events to keyword windows ``[start, end + tail_s]``.

    Args:
        event_times_s: (m,) event times in seconds.
        spans_s: (n, 2) keyword spans in seconds, sorted by start, non-overlapping windows.
        tail_s: tolerance after the keyword end, seconds.

    Returns:
        (hit (n,) bool, false alarms, duplicates): an event inside a window hits that keyword (the
        first one; later ones in the same window are duplicates); any other event is a false alarm.
    """
    t = np.asarray(event_times_s, dtype=np.float64)
    n = spans_s.shape[0]
    hit = np.zeros(n, dtype=bool)
    if t.size == 0:
        return hit, 0, 0
    if n == 0:
        return hit, int(t.size), 0
    idx = np.searchsorted(spans_s[:, 0], t, side="right") - 1
    inside = (idx >= 0) & (t <= spans_s[np.maximum(idx, 0), 1] + tail_s)
    fa = int(np.count_nonzero(~inside))
    matched = idx[inside]
    uniq = np.unique(matched)
    hit[uniq] = True
    return hit, fa, int(matched.size - uniq.size)


@dataclass(frozen=True, kw_only=True)
class DetPoint:
    """One threshold of the sweep."""

    threshold: float
    """Threshold on the smoothed posterior (or the engine's own threshold for other engines)."""
    hits: int
    """Keywords detected."""
    misses: int
    """Keywords not detected."""
    false_alarms: int
    """Events outside every keyword window."""
    duplicates: int
    """Extra events inside an already-hit keyword window (not false alarms)."""
    miss_rate: float
    """misses / keywords (false-reject rate)."""
    fa_per_hour: float
    """false_alarms / background hours."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {"threshold": self.threshold if math.isfinite(self.threshold) else None,
                "hits": self.hits, "misses": self.misses, "false_alarms": self.false_alarms,
                "duplicates": self.duplicates, "miss_rate": self.miss_rate,
                "fa_per_hour": self.fa_per_hour}


@dataclass(frozen=True, kw_only=True, eq=False)
class WakewordReport:
    """Result of a wake-word evaluation."""

    keyword: str
    """Keyword label evaluated."""
    engine: str
    """What was evaluated (program name, or another engine)."""
    n_positives: int
    """Keyword recordings in the stream."""
    background_hours: float
    """False-alarm exposure, hours."""
    stream_hours: float
    """Whole stream length, hours."""
    snr_db: float | None
    """Noise SNR or None (clean)."""
    seed: int
    """Stream seed."""
    tail_s: float
    """Hit tolerance after the keyword end, seconds."""
    points: tuple[DetPoint, ...]
    """The sweep, by increasing threshold."""
    detector: dict[str, Any] = field(default_factory=dict)
    """Detector settings (smoothing, refractory) used."""
    nonideal: dict[str, Any] | None = None
    """Non-ideal chip settings, or None for the ideal chip."""
    notes: tuple[str, ...] = ()
    """Remarks."""
    timings_s: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds per stage."""
    confidence: float = 0.95
    """Coverage of the intervals."""

    def operating_point(self, fa_per_hour: float) -> DetPoint:
        """The point with the lowest miss rate whose FA/h does not exceed ``fa_per_hour``.

        Ties go to the lower FA/h, then to the higher threshold.
        """
        ok = [p for p in self.points if p.fa_per_hour <= fa_per_hour + 1e-12]
        if not ok:  # cannot happen when the sweep includes "no detections"; be safe
            n = self.n_positives
            return DetPoint(threshold=math.inf, hits=0, misses=n, false_alarms=0, duplicates=0,
                            miss_rate=1.0, fa_per_hour=0.0)
        return min(ok, key=lambda p: (p.miss_rate, p.fa_per_hour, -p.threshold))

    def miss_rate_at_fa_per_hour(self, fa_per_hour: float) -> float:
        """Miss rate (0..1) at the best threshold with at most ``fa_per_hour`` false alarms/hour."""
        return self.operating_point(fa_per_hour).miss_rate

    def fa_interval(self, point: DetPoint) -> tuple[float, float]:
        """Garwood interval of the FA/h at ``point``."""
        return poisson_rate_interval(point.false_alarms, self.background_hours,
                                     confidence=self.confidence)

    def miss_interval(self, point: DetPoint) -> tuple[float, float]:
        """Wilson interval of the miss rate at ``point``."""
        return wilson_interval(point.misses, self.n_positives, confidence=self.confidence)

    def det_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """The operating curve of the sweep: ((k,) distinct FA/h increasing, (k,) miss rate).

        Each miss rate is the lowest any threshold reaches at or below that FA/h (the rule of
        :meth:`operating_point`), so the curve never rises with FA/h.
        """
        fa = np.array([p.fa_per_hour for p in self.points])
        miss = np.array([p.miss_rate for p in self.points])
        levels, inverse = np.unique(fa, return_inverse=True)
        best = np.full(levels.shape, np.inf)
        np.minimum.at(best, inverse, miss)
        return levels, np.minimum.accumulate(best)

    def summary(self, fa_per_hour: float) -> dict[str, Any]:
        """Operating point at ``fa_per_hour`` with its intervals (JSON-safe)."""
        p = self.operating_point(fa_per_hour)
        lo, hi = self.fa_interval(p)
        mlo, mhi = self.miss_interval(p)
        return {"target_fa_per_hour": fa_per_hour, **p.to_dict(),
                "fa_per_hour_ci": [lo, hi], "miss_rate_ci": [mlo, mhi]}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report."""
        min_fa = poisson_rate_interval(0, self.background_hours, confidence=self.confidence)[1]
        return {
            "kind": "wakeword",
            "keyword": self.keyword,
            "engine": self.engine,
            "n_positives": self.n_positives,
            "background_hours": self.background_hours,
            "stream_hours": self.stream_hours,
            "snr_db": self.snr_db,
            "seed": self.seed,
            "tail_s": self.tail_s,
            "confidence": self.confidence,
            "miss_rate_at_1_fa_per_hour": self.miss_rate_at_fa_per_hour(1.0),
            "miss_rate_at_1_fa_per_10_hours": self.miss_rate_at_fa_per_hour(0.1),
            "at_1_fa_per_hour": self.summary(1.0),
            "at_1_fa_per_10_hours": self.summary(0.1),
            "zero_fa_upper_bound_per_hour": min_fa,
            "detector": self.detector,
            "nonideal": self.nonideal,
            "det_points": [p.to_dict() for p in self.points],
            "notes": list(self.notes),
            "timings_s": self.timings_s,
        }


def default_thresholds(scores: np.ndarray | None = None) -> np.ndarray:
    """The sweep grid: a linear grid, fine steps near 0 and 1, and high quantiles of ``scores``.

    Args:
        scores: (n,) smoothed keyword posteriors (optional; adds resolution where background
            peaks lie).

    Returns:
        (k,) sorted unique thresholds in (0, 1], followed by +inf ("no detections").
    """
    grid = [np.linspace(0.01, 0.99, 99), np.logspace(-4, -2, 9), 1.0 - np.logspace(-6, -2, 17)]
    if scores is not None and np.size(scores):
        q = 1.0 - np.logspace(-7, -1, 40)
        grid.append(np.quantile(np.asarray(scores, dtype=np.float64), q))
    th = np.unique(np.clip(np.concatenate(grid), 1e-6, 1.0))
    return np.concatenate([th, [np.inf]])


def report_from_event_times(stream: WakewordStream, events_by_threshold: Mapping[float, Sequence[float]],
                            *, keyword: str, engine: str, tail_s: float = 0.5,
                            detector: dict[str, Any] | None = None,
                            nonideal: dict[str, Any] | None = None,
                            notes: Sequence[str] = (), timings_s: dict[str, float] | None = None,
                            confidence: float = 0.95) -> WakewordReport:
    """A :class:`WakewordReport` from event times per threshold (any engine, e.g. PocketSphinx).

    Args:
        stream: the stream the events were detected on.
        events_by_threshold: threshold -> event times (seconds from the stream start).
        keyword: keyword evaluated.
        engine: engine name for the report.
        tail_s: hit tolerance after the keyword end.
        detector: settings to record.
        nonideal: non-ideal settings to record.
        notes: remarks.
        timings_s: stage timings to record.
        confidence: interval coverage.

    Returns:
        The report (a "no detections" point is added when absent).
    """
    spans = stream.spans_s
    n = spans.shape[0]
    hours = stream.background_hours
    pts = []
    items = dict(events_by_threshold)
    if not any(len(v) == 0 for v in items.values()):
        items[math.inf] = []
    for thr in sorted(items):
        hit, fa, dup = match_events(np.asarray(items[thr], dtype=np.float64), spans, tail_s=tail_s)
        hits = int(hit.sum())
        pts.append(DetPoint(threshold=float(thr), hits=hits, misses=n - hits, false_alarms=fa,
                            duplicates=dup, miss_rate=(n - hits) / n if n else 0.0,
                            fa_per_hour=fa / hours if hours > 0 else math.inf))
    return WakewordReport(keyword=keyword, engine=engine, n_positives=n, background_hours=hours,
                          stream_hours=stream.samples.shape[0] / stream.sample_rate_hz / 3600.0,
                          snr_db=stream.snr_db, seed=stream.seed, tail_s=tail_s, points=tuple(pts),
                          detector=detector or {}, nonideal=nonideal,
                          notes=tuple(stream.notes) + tuple(notes), timings_s=timings_s or {},
                          confidence=confidence)


def make_nonideal(program: Program, seed: int, config: Any = None) -> Any:
    """A ``NonIdealChip`` for ``program`` drawn with ``seed`` (default ``NonIdealConfig``)."""
    from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig

    return NonIdealChip.create(program, config or NonIdealConfig(), seed=seed)


def _nonideal_dict(nonideal: Any, seed: int | None) -> dict[str, Any] | None:
    if nonideal is None:
        return None
    d: dict[str, Any] = {"seed": seed}
    cfg = getattr(nonideal, "config", None)
    if cfg is not None:
        import dataclasses

        if dataclasses.is_dataclass(cfg):
            d.update({k: v for k, v in dataclasses.asdict(cfg).items()
                      if isinstance(v, (int, float, str, bool, type(None)))})
    return d


def evaluate_wakeword(program: Program, *, positives: list[Path], background: list[Path],
                      noise: list[Path] | None = None, snr_db: float | None = None,
                      keyword: str, seed: int = 0, detector: DetectorConfig | None = None,
                      nonideal: Any = None, nonideal_seed: int | None = None,
                      thresholds: Sequence[float] | None = None, tail_s: float = 0.5,
                      min_gap_s: float = 1.0,
                      on_progress: Callable[[int, int], None] | None = None) -> WakewordReport:
    """Evaluate a wake-word program on a Picovoice-style stream (see the module docstring).

    Args:
        program: STREAM or WINDOW program with ``keyword`` among its labels.
        positives: keyword recordings.
        background: background speech files.
        noise: noise files or None.
        snr_db: SNR in dB when noise is given.
        keyword: the label to evaluate.
        seed: stream seed.
        detector: smoothing/refractory settings (its thresholds are swept).
        nonideal: a ``NonIdealChip`` (see :func:`make_nonideal`) or None for the ideal chip.
        nonideal_seed: the seed it was drawn with (recorded in the report).
        thresholds: sweep grid (default :func:`default_thresholds`).
        tail_s: hit tolerance after the keyword end, seconds.
        min_gap_s: least background between inserted keywords, seconds.
        on_progress: called with (done, total) steps: files loaded, then 100 scoring steps, then
            the sweep.

    Returns:
        A :class:`WakewordReport`.

    Raises:
        ConfigError: the keyword is not a program label.
        EvaluationError: bad folders, too little background, bad SNR.
    """
    import time

    check_keyword(program, keyword)
    detector = detector or DetectorConfig()
    rate = int(frontend_config(program).sample_rate_hz)
    n_files = len(positives) + len(background) + len(noise or [])
    score_steps = 100
    total = n_files + score_steps + 1

    def files_progress(done: int, _total: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    def score_progress(done: int, frames: int) -> None:
        if on_progress is not None and frames:
            on_progress(n_files + (score_steps * done) // frames, total)

    t0 = time.perf_counter()
    stream = build_wakeword_stream(positives, background, noise=noise, snr_db=snr_db, seed=seed,
                                   sample_rate_hz=rate, min_gap_s=min_gap_s,
                                   on_progress=files_progress)
    t1 = time.perf_counter()
    scores = score_audio(program, stream.samples, detector, nonideal=nonideal,
                         on_progress=score_progress)
    t2 = time.perf_counter()
    col = list(program.labels).index(keyword)
    kscores = Scores(times_s=scores.times_s, posteriors=scores.posteriors[:, col:col + 1],
                     labels=(keyword,))
    grid = np.asarray(thresholds if thresholds is not None
                      else default_thresholds(kscores.posteriors[:, 0]), dtype=np.float64)
    events_by_thr: dict[float, list[float]] = {}
    for thr in grid:
        if not math.isfinite(thr):
            events_by_thr[math.inf] = []  # "never fire"
            continue
        det = replace(detector, threshold=float(thr), thresholds={}, background_labels=())
        events_by_thr[float(thr)] = [e.time_s for e in events_from_scores(kscores, (keyword,), det)]
    t3 = time.perf_counter()
    if on_progress is not None:
        on_progress(total, total)
    stream_s = stream.samples.shape[0] / rate
    timings = {"build_stream": t1 - t0, "score": t2 - t1, "sweep": t3 - t2,
               "stream_s": stream_s, "real_time_factor": stream_s / max(t2 - t1, 1e-9)}
    notes = []
    if stream.background_hours < 10:
        notes.append(f"{stream.background_hours:.2f} h of background: 1 FA/10 h cannot be "
                     f"resolved below {1 / stream.background_hours:.2f} FA/h per false alarm")
    det_dict = detector.to_dict()
    det_dict.pop("threshold", None)
    det_dict.pop("thresholds", None)
    return report_from_event_times(stream, events_by_thr, keyword=keyword, engine=program.name,
                                   tail_s=tail_s, detector=det_dict,
                                   nonideal=_nonideal_dict(nonideal, nonideal_seed), notes=notes,
                                   timings_s=timings)


# ----------------------------------------------------------------------------------------------
# Command sets


@dataclass(frozen=True, kw_only=True, eq=False)
class CommandReport:
    """Accuracy and confusion of a command-set program over labelled files."""

    labels: tuple[str, ...]
    """Program labels (confusion rows/columns)."""
    confusion: np.ndarray
    """(n_labels, n_labels) int64 counts, rows = true label, columns = predicted label."""
    files: tuple[str, ...]
    """Scored files."""
    true_labels: tuple[str, ...]
    """True label per file."""
    predicted: tuple[str, ...]
    """Predicted label per file."""
    scores: np.ndarray
    """(n_files, n_labels) float32 max smoothed posterior per label over each file."""
    engine: str = ""
    """Program name."""
    nonideal: dict[str, Any] | None = None
    """Non-ideal settings or None."""
    notes: tuple[str, ...] = ()
    """Remarks (padding, resampling)."""

    @property
    def accuracy(self) -> float:
        """Fraction of files whose predicted label equals the true label."""
        n = int(self.confusion.sum())
        return float(np.trace(self.confusion)) / n if n else 0.0

    def per_label_accuracy(self) -> dict[str, float | None]:
        """Recall per true label (None for labels with no files)."""
        out: dict[str, float | None] = {}
        for i, lab in enumerate(self.labels):
            n = int(self.confusion[i].sum())
            out[lab] = float(self.confusion[i, i]) / n if n else None
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report."""
        n = len(self.files)
        lo, hi = wilson_interval(int(np.trace(self.confusion)), n)
        return {
            "kind": "commands",
            "engine": self.engine,
            "decision_rule": "file score = max smoothed posterior over the file; the best "
                             "non-background label at or above its threshold, else the best "
                             "background label",
            "labels": list(self.labels),
            "n_files": n,
            "accuracy": self.accuracy,
            "accuracy_ci": [lo, hi],
            "per_label_accuracy": self.per_label_accuracy(),
            "confusion": self.confusion.tolist(),
            "nonideal": self.nonideal,
            "files": [{"path": f, "true": t, "predicted": p}
                      for f, t, p in zip(self.files, self.true_labels, self.predicted)],
            "notes": list(self.notes),
        }


def _min_samples(program: Program) -> int:
    from wtmkws.firmware_model.validate import stream_delay_frames

    cfg = frontend_config(program)
    if program.mode is ProgramMode.STREAM:
        frames = int(stream_delay_frames(program)) + 1
    else:
        frames = program.input_frames
    return (frames - 1) * cfg.hop_samples + cfg.window_samples


def _decide(file_score: np.ndarray, labels: Sequence[str], detector: DetectorConfig) -> int:
    fg = [i for i, lab in enumerate(labels) if lab not in detector.background_labels]
    bg = [i for i, lab in enumerate(labels) if lab in detector.background_labels]
    ok = [i for i in fg if file_score[i] >= detector.threshold_for(labels[i])]
    pool = ok or bg or list(range(len(labels)))
    return max(pool, key=lambda i: (float(file_score[i]), -i))


def evaluate_commands(program: Program, files: Sequence[str | Path], labels: Sequence[str], *,
                      detector: DetectorConfig | None = None, nonideal: Any = None,
                      nonideal_seed: int | None = None,
                      on_progress: Callable[[int, int], None] | None = None) -> CommandReport:
    """Accuracy and confusion of a command-set program over labelled files.

    Decision rule: each file is scored (batch, smoothed posteriors); the per-label file score is
    the maximum smoothed posterior over the file's output frames. The prediction is the
    non-background label with the highest file score among those at or above their detector
    threshold; when none is, the background label with the highest file score (all labels when
    the program has no background label). Ties go to the lowest label index. Files shorter than one
    program output are zero-padded at the end (noted).

    Args:
        program: STREAM or WINDOW program.
        files: audio files.
        labels: true label of each file (each must be a program label).
        detector: smoothing and window hop.
        nonideal: optional ``NonIdealChip``.
        nonideal_seed: recorded in the report.
        on_progress: called with (files done, total).

    Returns:
        A :class:`CommandReport`.

    Raises:
        EvaluationError: no files, lengths differ, or a label is not a program label.
    """
    files = [Path(f) for f in files]
    labels = list(labels)
    if not files:
        raise EvaluationError("no labelled files given", hint="lay them out as DIR/<label>/*.wav")
    if len(files) != len(labels):
        raise EvaluationError(f"{len(files)} files but {len(labels)} labels")
    unknown = sorted(set(labels) - set(program.labels))
    if unknown:
        raise EvaluationError(
            f"label(s) {', '.join(unknown)} are not outputs of program {program.name!r} "
            f"(labels: {', '.join(program.labels)})",
            hint="name the label folders after the program's labels")
    detector = detector or DetectorConfig()
    n_lab = len(program.labels)
    min_n = _min_samples(program)
    conf = np.zeros((n_lab, n_lab), dtype=np.int64)
    all_scores = np.zeros((len(files), n_lab), dtype=np.float32)
    preds: list[str] = []
    notes: list[str] = []
    padded = 0
    for i, (f, lab) in enumerate(zip(files, labels)):
        x, n = load_for_program(program, f)
        notes.extend(n)
        if x.shape[0] < min_n:
            x = np.concatenate([x, np.zeros(min_n - x.shape[0], dtype=np.int16)])
            padded += 1
        sc = score_audio(program, x, detector, nonideal=nonideal)
        file_score = sc.posteriors.max(axis=0)
        all_scores[i] = file_score
        p = _decide(file_score, program.labels, detector)
        preds.append(program.labels[p])
        conf[program.labels.index(lab), p] += 1
        if on_progress is not None:
            on_progress(i + 1, len(files))
    if padded:
        notes.append(f"{padded} file(s) shorter than one program output "
                     f"({min_n} samples) were zero-padded")
    return CommandReport(labels=tuple(program.labels), confusion=conf,
                         files=tuple(str(f) for f in files), true_labels=tuple(labels),
                         predicted=tuple(preds), scores=all_scores, engine=program.name,
                         nonideal=_nonideal_dict(nonideal, nonideal_seed), notes=tuple(notes))
