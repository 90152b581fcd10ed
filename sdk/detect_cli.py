"""``wtmkws detect`` and ``wtmkws eval``: detection on files and the wake-word / command benchmark.

Thin commands: parse options, build a :class:`~wtmkws.firmware_model.engine.DetectorConfig`, call
:mod:`wtmkws.sdk.detect` or :mod:`wtmkws.sdk.evaluate`, render with rich, write JSON/PNG.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _detector(threshold: float, smoothing: int, refractory_ms: float, window_hop: int) -> Any:
    from wtmkws.firmware_model.engine import DetectorConfig

    return DetectorConfig(threshold=threshold, smoothing_frames=smoothing,
                          refractory_ms=refractory_ms, window_hop_frames=window_hop)


def _load(program_path: Path) -> Any:
    from wtmkws.firmware_model.program_io import load_program

    return load_program(program_path)


@contextmanager
def _progress(quiet: bool, description: str) -> Iterator[Callable[[int, int], None] | None]:
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TimeRemainingColumn,
    )

    with Progress("[progress.description]{task.description}", BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update


def _nonideal(program: Any, seed: int | None) -> Any:
    if seed is None:
        return None
    from wtmkws.sdk.evaluate import make_nonideal

    return make_nonideal(program, seed)


def detect_cmd(
    program: Path = typer.Argument(..., help="Compiled program (.wtmk)."),
    audio: list[Path] = typer.Argument(..., help="Audio file(s); other rates are resampled."),
    threshold: float = typer.Option(0.5, "--threshold", "-t",
                                    help="Threshold on the smoothed posterior (all keyword labels)."),
    smoothing: int = typer.Option(5, "--smoothing", help="Posterior smoothing, output frames."),
    refractory_ms: float = typer.Option(1000.0, "--refractory-ms", help="Refractory period, ms."),
    window_hop: int = typer.Option(10, "--window-hop", help="WINDOW programs: hop in frames."),
    nonideal_seed: int | None = typer.Option(None, "--nonideal-seed",
                                                help="Run the non-ideal chip drawn with this seed."),
    as_json: bool = typer.Option(False, "--json", help="Print events as JSON."),
    plot: Path | None = typer.Option(None, "--plot",
                                        help="Write waveform+posteriors+events PNG (several files: "
                                             "OUT-<stem>.png)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Detect keywords in audio files, bit-accurately (frontend + emulator + detector)."""
    from wtmkws.sdk.detect import detect_files

    det = _detector(threshold, smoothing, refractory_ms, window_hop)
    prog = _load(program)
    nonideal = _nonideal(prog, nonideal_seed)
    with _progress(quiet or as_json, "detecting") as cb:
        traces = detect_files(prog, audio, det, nonideal=nonideal, on_progress=cb)
    written = []
    if plot is not None:
        from wtmkws.sdk.plots import plot_detection

        for tr in traces:
            out = plot if len(traces) == 1 else plot.with_name(
                f"{plot.stem}-{tr.path.stem if tr.path else 'audio'}{plot.suffix or '.png'}")
            written.append(str(plot_detection(tr, out)))
    if as_json:
        typer.echo(json.dumps({"program": prog.name, "detector": det.to_dict(),
                               "nonideal_seed": nonideal_seed,
                               "files": [t.to_dict() for t in traces], "plots": written}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for tr in traces:
        for note in tr.notes:
            console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
        console.print(f"{tr.path} ({tr.duration_s:.2f} s): {len(tr.events)} event(s)",
                      soft_wrap=True)
        if not tr.events:
            continue
        table = Table()
        table.add_column("time (s)", justify="right")
        table.add_column("label")
        table.add_column("score", justify="right")
        for e in tr.events:
            table.add_row(f"{e.time_s:.3f}", e.label, f"{e.score:.3f}")
        console.print(table)
    for w in written:
        console.print(f"wrote {w}")


def _pick_keyword(prog: Any, keyword: str | None, positives: Path, det: Any) -> str:
    from wtmkws.sdk.detect import check_keyword

    if keyword is None:
        fg = [lab for lab in prog.labels if lab not in det.background_labels]
        if len(fg) == 1:
            keyword = fg[0]
        elif positives.name in prog.labels:
            keyword = positives.name
        else:
            from wtmkws.audio_pipeline.errors import ConfigError

            raise ConfigError(f"program {prog.name!r} has several keyword labels "
                              f"({', '.join(fg)}); which one is in {positives}?",
                              hint="pass --keyword LABEL")
    check_keyword(prog, keyword)
    return keyword


def eval_cmd(
    program: Path = typer.Argument(..., help="Compiled program (.wtmk)."),
    positives: Path | None = typer.Option(None, "--positives", help="Folder of keyword recordings."),
    background: Path | None = typer.Option(None, "--background", help="Folder of background speech."),
    noise: Path | None = typer.Option(None, "--noise", help="Folder of noise recordings."),
    snr: str | None = typer.Option(None, "--snr", metavar="DB",
                                   help="Noise SNR in dB (with --noise)."),
    keyword: str | None = typer.Option(None, "--keyword", "-k",
                                          help="Label to evaluate (default: the program's only "
                                               "keyword label)."),
    labelled: Path | None = typer.Option(None, "--labelled",
                                            help="Command-set mode: DIR/<label>/*.wav."),
    seed: int = typer.Option(0, "--seed", help="Stream seed (keyword places, noise offsets)."),
    nonideal_seed: int | None = typer.Option(None, "--nonideal-seed",
                                                help="Evaluate the non-ideal chip drawn with this seed."),
    smoothing: int = typer.Option(5, "--smoothing", help="Posterior smoothing, output frames."),
    refractory_ms: float = typer.Option(1000.0, "--refractory-ms", help="Refractory period, ms."),
    window_hop: int = typer.Option(10, "--window-hop", help="WINDOW programs: hop in frames."),
    report: Path = typer.Option(..., "--report", help="Write the JSON report here."),
    plot: Path | None = typer.Option(None, "--plot", help="DET curve (or confusion) PNG."),
    as_json: bool = typer.Option(False, "--json", help="Print the report JSON to stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Benchmark a program: Picovoice-style wake-word DET, or command-set accuracy (--labelled)."""
    from wtmkws.sdk.evaluate import (
        EvaluationError,
        _check_snr,
        evaluate_commands,
        evaluate_wakeword,
        labelled_files,
        list_audio,
        write_json,
    )

    det = _detector(0.5, smoothing, refractory_ms, window_hop)
    snr_db = _check_snr(snr)
    prog = _load(program)
    nonideal = _nonideal(prog, nonideal_seed)
    from rich.console import Console

    console = Console()
    if labelled is not None:
        files, labels = labelled_files(labelled)
        with _progress(quiet or as_json, "scoring files") as cb:
            rep = evaluate_commands(prog, files, labels, detector=det, nonideal=nonideal,
                                    nonideal_seed=nonideal_seed, on_progress=cb)
        d = rep.to_dict()
        write_json(report, d)
        if plot is not None:
            from wtmkws.sdk.plots import plot_confusion

            plot_confusion(rep, plot)
        if as_json:
            typer.echo(json.dumps(d, indent=2))
            return
        for note in rep.notes:
            console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
        console.print(f"{prog.name}: accuracy {rep.accuracy * 100:.1f}% over {len(rep.files)} "
                      f"files (95% CI {d['accuracy_ci'][0] * 100:.1f}-{d['accuracy_ci'][1] * 100:.1f}%)"
                      + (f", non-ideal chip seed {nonideal_seed}" if nonideal_seed is not None else ""))
        console.print(f"wrote {report}" + (f" and {plot}" if plot else ""))
        return
    if positives is None or background is None:
        raise EvaluationError("wake-word evaluation needs --positives DIR and --background DIR",
                              hint="or use --labelled DIR for a command set")
    if (noise is None) != (snr_db is None):
        raise EvaluationError("--noise and --snr go together",
                              hint="give both (e.g. --noise DIR --snr 10) or neither")
    kw = _pick_keyword(prog, keyword, positives, det)
    pos_files = list_audio(positives, what="positives")
    bg_files = list_audio(background, what="background")
    noise_files = list_audio(noise, what="noise") if noise is not None else None
    with _progress(quiet or as_json, "evaluating") as cb:
        rep = evaluate_wakeword(prog, positives=pos_files, background=bg_files, noise=noise_files,
                                snr_db=snr_db, keyword=kw, seed=seed, detector=det,
                                nonideal=nonideal, nonideal_seed=nonideal_seed, on_progress=cb)
    d = rep.to_dict()
    write_json(report, d)
    if plot is not None:
        from wtmkws.sdk.plots import plot_det_curve

        name = prog.name + (f" (non-ideal seed {nonideal_seed})" if nonideal_seed is not None else "")
        plot_det_curve(rep, plot, names=[name])
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    from rich.table import Table

    for note in rep.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True)
    cond = "clean" if rep.snr_db is None else f"{rep.snr_db:g} dB SNR"
    table = Table(title=f"'{kw}' - {rep.n_positives} keywords, {rep.background_hours:.3f} h "
                        f"background, {cond}"
                        + (f", non-ideal seed {nonideal_seed}" if nonideal_seed is not None else ""))
    for col in ("target", "threshold", "miss rate (95% CI)", "FA/h (95% CI)", "false alarms"):
        table.add_column(col, justify="right")
    for target, label in ((1.0, "1 FA/h"), (0.1, "1 FA/10 h")):
        s = rep.summary(target)
        thr = "none" if s["threshold"] is None else f"{s['threshold']:.4f}"
        table.add_row(label, thr,
                      f"{s['miss_rate'] * 100:.1f}% ({s['miss_rate_ci'][0] * 100:.1f}-"
                      f"{s['miss_rate_ci'][1] * 100:.1f})",
                      f"{s['fa_per_hour']:.2f} ({s['fa_per_hour_ci'][0]:.2f}-"
                      f"{s['fa_per_hour_ci'][1]:.2f})", str(s["false_alarms"]))
    console.print(table)
    console.print(f"scored {rep.stream_hours:.3f} h in {rep.timings_s.get('score', 0):.1f} s "
                  f"({rep.timings_s.get('real_time_factor', 0):.0f}x real time); wrote {report}"
                  + (f" and {plot}" if plot else ""))


def register(app: typer.Typer) -> None:
    """Add ``detect`` and ``eval`` to the root app."""
    app.command("detect")(detect_cmd)
    app.command("eval")(eval_cmd)
