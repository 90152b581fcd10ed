"""``wtmkws features``: audio files -> a [frames, coefficients] .npy plus an index .json.

Also holds the library functions the command calls (:func:`extract_features`,
:func:`write_features`), which scripts can use directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from wtmkws.audio_pipeline.features import extract_features, write_features
from wtmkws.audio_pipeline.int_frontend import FrontendConfig

__all__ = ["register"]

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
