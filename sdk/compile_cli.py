"""``wtmkws compile``: a .tflite/.keras model + calibration data -> a program file and a report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from wtmkws.audio_pipeline.atomic import atomic_write_text
from wtmkws.sdk.lowering import CompileError

__all__ = ["register", "load_calibration"]

_AUDIO_EXT = (".wav", ".flac", ".ogg", ".mp3")


def load_calibration(path: Path, model: Path, *, max_windows_per_file: int = 3,
                     on_progress: Any = None) -> np.ndarray:
    """Calibration inputs from a .npy file or a folder of audio files.

    A folder is turned into features with the frontend the model expects (known public models
    only): 1 s windows per recording (:func:`wtmkws.sdk.model_frontends.clip_windows`).

    Returns:
        (N, frames, width) array (codes, int8 model inputs or float features).

    Raises:
        CompileError: unreadable file, folder without audio, or unknown frontend.
    """
    if path.is_dir():
        from wtmkws.audio_pipeline.io import load_audio
        from wtmkws.sdk.model_frontends import clip_windows, features_to_codes, identify_model

        fe = identify_model(model) if model.suffix.lower() == ".tflite" else None
        if fe is None:
            raise CompileError(f"{model}: no known frontend to turn {path} into features",
                               hint="compute the model's features yourself and pass a .npy file")
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in _AUDIO_EXT)
        if not files:
            raise CompileError(f"{path}: no audio files (.wav/.flac/.ogg/.mp3)",
                               hint="point --calib at a folder of recordings or a .npy file")
        feats = []
        for i, f in enumerate(files):
            for w in clip_windows(load_audio(f), max_windows=max_windows_per_file):
                feats.append(fe.features(w))
            if on_progress:
                on_progress(i + 1, len(files))
        return features_to_codes(np.stack(feats))
    if not path.is_file():
        raise CompileError(f"{path}: no such calibration file or folder", hint="check the path")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise CompileError(f"{path}: not a readable .npy array ({type(exc).__name__})",
                           hint="save the features with numpy.save") from None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2))


def _render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"layers of {report['model']} ({report['array_layers']} array layers, "
              f"{report['cells']} cells)")
    for c in ("op", "kind", "rows x cols", "g", "input", "bias rows", "notes"):
        t.add_column(c)
    for r in report["layers"]:
        if "rows" in r:
            t.add_row(r["name"], r["kind"] + (" (dw)" if r.get("depthwise") else ""),
                      f"{r['rows']} x {r['outputs']}", str(r["shift"]),
                      f"{r['input_mode']}<<{r['magnify']}", str(r["bias_rows"]),
                      f"act {r['activation']}" + (f", {r['bias_columns_clipped']} bias clipped"
                                                  if r["bias_columns_clipped"] else ""))
        else:
            t.add_row(r["name"], r["kind"], "-", "-", "-", "-", f"digital: {r['digital']}")
    con.print(t)
    if report.get("placement"):
        pt = Table(title="placement")
        keys = list(report["placement"][0].keys())
        for k in keys:
            pt.add_column(str(k))
        for row in report["placement"]:
            pt.add_row(*(str(row.get(k, "")) for k in keys))
        con.print(pt)
    if report.get("cost"):
        con.print("[bold]cost[/bold]: " + json.dumps(
            {k: v for k, v in report["cost"].items() if not isinstance(v, (list, dict))}))
    fid = report.get("fidelity")
    if fid:
        ft = Table(title=f"fidelity vs source ({fid['data']}, {fid['ideal']['output_compared']})")
        for c in ("tensor", "mode", "cosine mean", "cosine min", "max err LSB", "mean err LSB",
                  "top-1"):
            ft.add_column(c)
        for mode in ("ideal", "nonideal"):
            if mode not in fid:
                continue
            for lay in fid[mode]["layers"]:
                ft.add_row(lay["op"], mode, f"{lay['cosine_mean']:.4f}", f"{lay['cosine_min']:.4f}",
                           f"{lay['max_abs_err_lsb']:.1f}", f"{lay['mean_abs_err_lsb']:.2f}",
                           f"{lay['top1_agreement']:.3f}" if "top1_agreement" in lay else "")
        con.print(ft)


def compile_command(
    model: Path = typer.Argument(..., help="Model file (.tflite int8 or .keras)."),
    calib: Path = typer.Option(..., "--calib", help="Calibration FEATURES.npy or DATA_DIR of audio."),
    out: Path = typer.Option(..., "--out", help="Program file to write (.wtmk)."),
    report: Path | None = typer.Option(None, "--report", help="Write the JSON report here."),
    noise_seed: int | None = typer.Option(None, "--noise-seed", help="Also report non-ideal "
                                          "fidelity for this seed."),
    clip_fraction: float = typer.Option(1e-3, "--clip-fraction", help="Allowed clipped share."),
    signed_input: str = typer.Option("auto", "--signed-input", help="auto, offset or pn."),
    quiet: bool = typer.Option(False, "--quiet", help="Only print errors."),
) -> None:
    """Compile a Keras or int8 .tflite model for the chip."""
    from rich.progress import Progress

    from wtmkws.sdk.compile import CompileOptions, compile_model

    opts = CompileOptions(clip_fraction=clip_fraction, signed_input=signed_input,
                          noise_seed=noise_seed)
    if not model.is_file():
        raise CompileError(f"{model}: no such model file", hint="check the path")
    with Progress(disable=quiet, transient=True) as prog:
        task = prog.add_task("features", total=None)

        def cb(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        data = load_calibration(calib, model, on_progress=cb)
        prog.update(task, description="calibration", completed=0)
        result = compile_model(model, data, options=opts, on_progress=cb)
    from wtmkws.firmware_model.program_io import save_program

    save_program(result.program, out)
    if report is not None:
        _write_json(report, result.report)
    if not quiet:
        _render(result.report)
        typer.echo(f"wrote {out} ({result.report['total_time_s']:.1f} s)")


def register(app: typer.Typer) -> None:
    """Add ``compile`` to the root app."""
    app.command("compile")(compile_command)
