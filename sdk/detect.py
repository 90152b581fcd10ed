"""Detect keywords in audio files with a compiled program, bit-accurately (batch).

``detect_file`` loads a file at the program's frontend rate (resampling, with a note, when the file
has another rate), scores it with :func:`wtmkws.firmware_model.engine.score_audio` and turns the
scores into events with :func:`~wtmkws.firmware_model.engine.events_from_scores`: exactly the events
the board's :class:`~wtmkws.firmware_model.engine.InferenceEngine` would emit on the same audio.
The returned :class:`DetectionTrace` keeps the waveform and the posteriors for plotting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.engine import (
    DetectorConfig,
    Event,
    Scores,
    events_from_scores,
    frontend_config,
    score_audio,
)
from wtmkws.firmware_model.program import Program

__all__ = [
    "DetectionTrace",
    "check_keyword",
    "detect_file",
    "detect_files",
    "detect_samples",
    "file_sample_rate_hz",
    "load_for_program",
]


@dataclass(frozen=True, kw_only=True, eq=False)
class DetectionTrace:
    """Everything about one detection run, for reports and plots."""

    path: Path | None
    """Source file (None for in-memory audio)."""
    samples: np.ndarray
    """(n,) int16 audio as scored (after resampling)."""
    sample_rate_hz: int
    """Rate of ``samples``."""
    scores: Scores
    """Smoothed posteriors per output frame and their time stamps."""
    labels: tuple[str, ...]
    """Program labels (posterior columns)."""
    events: tuple[Event, ...]
    """Detections in time order."""
    detector: DetectorConfig
    """Detector settings used."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Remarks for the user (e.g. resampling)."""

    @property
    def duration_s(self) -> float:
        """Audio length in seconds."""
        return self.samples.shape[0] / float(self.sample_rate_hz)

    def thresholds(self) -> dict[str, float]:
        """Threshold per non-background label."""
        return {lab: self.detector.threshold_for(lab) for lab in self.labels
                if lab not in self.detector.background_labels}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (events, not the arrays)."""
        return {
            "path": str(self.path) if self.path is not None else None,
            "duration_s": round(self.duration_s, 4),
            "sample_rate_hz": self.sample_rate_hz,
            "events": [{"time_s": round(e.time_s, 4), "label": e.label, "score": round(e.score, 4)}
                       for e in self.events],
            "notes": list(self.notes),
        }


def file_sample_rate_hz(path: str | Path) -> int | None:
    """The stored sample rate of an audio file, or None when it cannot be read."""
    try:
        import soundfile

        return int(soundfile.info(str(path)).samplerate)
    except Exception:  # noqa: BLE001 - unreadable here; load_audio raises the proper error
        return None


def load_for_program(program: Program, path: str | Path) -> tuple[np.ndarray, list[str]]:
    """Load a file as int16 mono at the program's frontend rate.

    Args:
        program: the program (its frontend gives the rate).
        path: audio file.

    Returns:
        ((n,) int16 samples, notes) - a note says when the file was resampled.

    Raises:
        AudioFormatError: unreadable or empty file.
    """
    from wtmkws.audio_pipeline.io import load_audio

    rate = int(frontend_config(program).sample_rate_hz)
    notes = []
    src = file_sample_rate_hz(path)
    samples = load_audio(path, sample_rate_hz=rate)
    if src is not None and src != rate:
        notes.append(f"{Path(path).name}: resampled from {src} Hz to {rate} Hz")
    return samples, notes


def check_keyword(program: Program, keyword: str) -> None:
    """Raise ConfigError unless ``keyword`` is one of the program's output labels.

    Raises:
        ConfigError: the keyword is not an output label.
    """
    if keyword not in program.labels:
        raise ConfigError(
            f"program {program.name!r} has no output label {keyword!r} "
            f"(labels: {', '.join(program.labels)})",
            hint="pass --keyword with one of the program's labels, or use the program trained "
                 "for this keyword")


def detect_samples(program: Program, samples: np.ndarray, detector: DetectorConfig | None = None,
                   *, nonideal: Any = None, path: Path | None = None,
                   notes: Sequence[str] = ()) -> DetectionTrace:
    """Detect in in-memory audio.

    Args:
        program: a STREAM or WINDOW program.
        samples: (n,) int16 mono at the program's frontend rate.
        detector: detector settings (defaults when None).
        nonideal: optional ``NonIdealChip``.
        path: file name to record in the trace.
        notes: remarks to carry along.

    Returns:
        A :class:`DetectionTrace`.
    """
    detector = detector or DetectorConfig()
    samples = np.asarray(samples, dtype=np.int16)
    scores = score_audio(program, samples, detector, nonideal=nonideal)
    events = events_from_scores(scores, program.labels, detector)
    rate = int(frontend_config(program).sample_rate_hz)
    return DetectionTrace(path=path, samples=samples, sample_rate_hz=rate, scores=scores,
                          labels=tuple(program.labels), events=tuple(events), detector=detector,
                          notes=tuple(notes))


def detect_file(program: Program, path: str | Path, detector: DetectorConfig | None = None, *,
                nonideal: Any = None) -> DetectionTrace:
    """Detect keywords in one audio file.

    Args:
        program: a STREAM or WINDOW program.
        path: audio file (any rate/channels soundfile reads; resampled to the frontend rate).
        detector: detector settings (defaults when None).
        nonideal: optional ``NonIdealChip``.

    Returns:
        A :class:`DetectionTrace` (events, waveform, posteriors, notes).

    Raises:
        AudioFormatError: unreadable file.
        ProgramError: the program cannot run.
    """
    samples, notes = load_for_program(program, path)
    return detect_samples(program, samples, detector, nonideal=nonideal, path=Path(path),
                          notes=notes)


def detect_files(program: Program, paths: Sequence[str | Path],
                 detector: DetectorConfig | None = None, *, nonideal: Any = None,
                 on_progress: Callable[[int, int], None] | None = None) -> list[DetectionTrace]:
    """Detect keywords in several files (one trace per file, in order).

    Args:
        program: a STREAM or WINDOW program.
        paths: audio files.
        detector: detector settings.
        nonideal: optional ``NonIdealChip``.
        on_progress: called with (files done, total).

    Returns:
        One :class:`DetectionTrace` per file.
    """
    out = []
    for i, p in enumerate(paths):
        out.append(detect_file(program, p, detector, nonideal=nonideal))
        if on_progress is not None:
            on_progress(i + 1, len(paths))
    return out
