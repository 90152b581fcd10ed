"""``wtmkws features``: audio files -> a [frames, coefficients] .npy plus an index .json.

Also holds the library functions the command calls (:func:`extract_features`,
:func:`write_features`), which scripts can use directly.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.audio_pipeline.int_frontend import FrontendConfig, compute_codes

__all__ = ["FeatureSet", "extract_features", "register", "write_features"]


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


_FEATURES_HELP = (
    "Compute features of AUDIO files into OUT.npy, shaped \\[frames, coefficients].\n\n"
    "Device path (default): uint8 input codes of the integer frontend (16 kHz, 25 ms window, "
    "10 ms hop, 512-point FFT, 40 mel bands), identical on every machine and on the chip. "
    "--float writes librosa's float32 features with the same framing (dB for fbank).\n\n"
    "Several files: their frames are concatenated in the order given; OUT.json (always "
    "written) lists each file's path, start_frame and n_frames, plus the frontend config.\n\n"
    "Every file is read before anything is written: a bad file stops the command with exit "
    "code 2 and leaves no output. Files soundfile reads are converted (8/24/32-bit, float, "
    "several channels, any rate); unreadable, empty, 0-length or NaN/inf audio is an error "
    "naming the file."
)


def features_command(
    audio: list[Path] = typer.Argument(..., help="Audio files (WAV/FLAC/OGG/MP3, any rate and "
                                       "channel count; converted to 16 kHz mono int16).",
                                       show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npy; an index OUT.json is "
                             "written next to it.", show_default=False),
    kind: str = typer.Option("mfcc", "--kind", help="mfcc (13 coefficients) or fbank "
                             "(40 log-mel bands)."),
    use_float: bool = typer.Option(False, "--float", help="librosa float features (float32) "
                                   "instead of the device-exact uint8 codes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    as_json: bool = typer.Option(False, "--json", help="Print the index as JSON instead of a "
                                 "summary line."),
) -> None:
    """Compute features of AUDIO files into OUT.npy (see ``_FEATURES_HELP``)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    config = FrontendConfig(kind=kind)
    console = Console(stderr=True)
    if quiet or len(audio) < 2:
        result = extract_features(audio, config, use_float=use_float)
    else:
        with Progress(TextColumn("features"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console, transient=True) as progress:
            task = progress.add_task("features", total=len(audio))
            result = extract_features(
                audio, config, use_float=use_float,
                on_progress=lambda done, total: progress.update(task, completed=done))
    npy, index_path = write_features(result, out)
    if as_json:
        typer.echo(json.dumps(result.index()))
    elif not quiet:
        typer.echo(f"wrote {npy} {result.features.dtype} {tuple(result.features.shape)} from "
                   f"{len(audio)} file(s); index {index_path}")


def register(app: typer.Typer) -> None:
    """Add the ``features`` command to the root app."""
    app.command("features", help=_FEATURES_HELP)(features_command)
