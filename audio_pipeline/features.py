"""Feature extraction for many files: the library behind ``wtmkws features``.

Files are converted to 16 kHz mono int16, run through the device-exact integer frontend (or the
float librosa reference) and concatenated in the order given; an index says where each file's frames
start. Writing is atomic (temporary file, then rename) and happens only after every file was read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_path
from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes

__all__ = ["FeatureSet", "extract_features", "write_features"]


@dataclass(frozen=True, kw_only=True)
class FeatureSet:
    """Features of several files, concatenated along the frame axis."""

    features: np.ndarray
    """(total_frames, n_features): uint8 codes, or float32 with ``use_float``."""
    files: tuple[dict[str, Any], ...]
    """Per file, in input order: ``path``, ``start_frame``, ``n_frames``, ``n_samples``."""
    config: FrontendConfig
    """The frontend configuration used."""
    use_float: bool
    """True: librosa float features; False: device-exact uint8 codes."""

    def index(self) -> dict[str, Any]:
        """The JSON index written next to the .npy."""
        return {
            "format": "wtmkws-features-index",
            "version": 1,
            "dtype": str(self.features.dtype),
            "shape": list(self.features.shape),
            "features": "float" if self.use_float else "codes",
            "frontend": self.config.to_dict(),
            "files": list(self.files),
        }


def extract_features(paths: Sequence[str | Path], config: FrontendConfig, *,
                     use_float: bool = False,
                     on_progress: Callable[[int, int], None] | None = None) -> FeatureSet:
    """Load every file (16 kHz mono int16, see :mod:`~wtmkws.audio_pipeline.io`) and compute
    features; all files are read before anything is returned, so a bad file fails the whole call.

    Args:
        paths: audio files, in output order.
        config: frontend configuration (``kind`` chooses MFCC or log-mel bands).
        use_float: compute librosa float features (:mod:`~wtmkws.audio_pipeline.float_frontend`)
            instead of device-exact codes.
        on_progress: called as ``(files_done, files_total)``.

    Returns:
        The concatenated features and the per-file index.

    Raises:
        AudioFormatError: a file is missing, unreadable or not valid audio (named in the message).
        ConfigError: no files.
    """
    from wtmkws.audio_pipeline import float_frontend
    from wtmkws.audio_pipeline.io import load_audio

    if not paths:
        raise ConfigError("no audio files given", hint="pass one or more audio files")
    parts, files, start = [], [], 0
    for i, p in enumerate(paths):
        samples = load_audio(p, sample_rate_hz=config.sample_rate_hz)
        if use_float:
            feats = (float_frontend.mfcc(samples, config) if config.kind == "mfcc"
                     else float_frontend.log_mel_db(samples, config))
        else:
            feats = compute_codes(samples, config)
        parts.append(feats)
        files.append({"path": str(p), "start_frame": start, "n_frames": int(feats.shape[0]),
                      "n_samples": int(samples.shape[0])})
        start += int(feats.shape[0])
        if on_progress is not None:
            on_progress(i + 1, len(paths))
    dtype = np.float32 if use_float else np.uint8
    feats_all = (np.concatenate(parts).astype(dtype, copy=False) if parts
                 else np.zeros((0, config.n_features), dtype=dtype))
    return FeatureSet(features=feats_all, files=tuple(files), config=config, use_float=use_float)


def _atomic_bytes(path: Path, write: Callable[[Any], None]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        write(fh)


def write_features(feature_set: FeatureSet, out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (.npy, no pickle) and the index next to it (same name, ``.json``), atomically.

    Args:
        feature_set: from :func:`extract_features`.
        out: destination path ending in ``.npy``.

    Returns:
        (npy path, json path).

    Raises:
        ConfigError: ``out`` does not end in .npy or its folder does not exist.
    """
    out = Path(out)
    if out.suffix.lower() != ".npy":
        raise ConfigError(f"--out {out}: must end in .npy", hint="e.g. --out features.npy")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist",
                          hint="create the folder first")
    index_path = out.with_suffix(".json")
    _atomic_bytes(out, lambda fh: np.save(fh, feature_set.features, allow_pickle=False))
    text = json.dumps(feature_set.index(), indent=2) + "\n"
    _atomic_bytes(index_path, lambda fh: fh.write(text.encode()))
    return out, index_path
