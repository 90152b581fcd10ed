"""``wtmkws train`` and ``wtmkws synth``: train chip models, synthesize training speech."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from wtmkws.audio_pipeline.errors import ConfigError

__all__ = ["register"]


def train_cmd(
    data: Path = typer.Argument(..., help="DATA/<label>/*.wav|flac folder or a CSV manifest."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    keyword: str | None = typer.Option(None, "--keyword", "-k",
                                          help="Wake-word mode: the keyword's label."),
    labels: str | None = typer.Option(None, "--labels",
                                         help="Command mode: comma-separated labels "
                                              "(default: every folder)."),
    arch: str = typer.Option("tdnn", "--arch", help="dnn (stacked frames) or tdnn."),
    width: int = typer.Option(96, "--width", help="Hidden layer width."),
    epochs: int = typer.Option(20, "--epochs", help="Quantization-aware epochs."),
    noise_aware_epochs: int = typer.Option(3, "--noise-aware-epochs",
                                           help="Fine-tuning epochs with chip noise."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    noise: list[Path] | None = typer.Option(None, "--noise",
                                               help="Noise file/folder for augmentation "
                                                    "(repeatable)."),
    copies: int = typer.Option(1, "--augment-copies", help="Augmented copies per file."),
    clip_ms: float = typer.Option(1500.0, "--clip-ms", help="Training window length, ms."),
    keyword_copies: int | None = typer.Option(
        None, "--keyword-copies",
        help="Augmented copies per keyword/command file (default: --augment-copies)."),
    background_stride_ms: float | None = typer.Option(
        None, "--background-stride-ms",
        help="Step between overlapping background windows, ms (default: no overlap)."),
    hard_negative_rounds: int = typer.Option(
        0, "--hard-negative-rounds",
        help="Wake word: rounds of mining the background for false-alarm windows."),
    spec_masks: int = typer.Option(
        0, "--spec-masks", help="SpecAugment-style time and feature masks per window (each)."),
    channel_db: float = typer.Option(
        0.0, "--channel-db", help="Random channel colouring per window, dB per cosine term "
                                  "(fbank codes; 0 = off)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Train a wake-word (--keyword) or command-set (--labels / all folders) model for the chip."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table
    from wtmkws.sdk.models import ModelConfig
    from wtmkws.sdk.train import (
        AugmentConfig,
        TrainConfig,
        train_commands,
        train_keyword,
    )

    if keyword and labels:
        raise ConfigError("--keyword and --labels are exclusive",
                          hint="--keyword for a wake word, --labels for a command set")
    frontend = None
    cfg = TrainConfig(
        epochs=epochs, noise_aware_epochs=noise_aware_epochs, seed=seed,
        model=ModelConfig(arch=arch, width=width),
        augment=AugmentConfig(copies=copies, time_masks=spec_masks, freq_masks=spec_masks,
                              channel_codes=2.0 * channel_db),
        clip_frames=max(8, int(round(clip_ms / 10.0))), frontend=frontend,
        keyword_copies=keyword_copies, hard_negative_rounds=hard_negative_rounds,
        background_stride_frames=(None if background_stride_ms is None
                                  else max(1, int(round(background_stride_ms / 10.0)))),
    )
    console = Console(stderr=True, quiet=quiet or as_json)
    table = Table("epoch", "phase", "loss", "held-out acc", "s", title="training")
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeRemainingColumn(), console=console,
                  disable=quiet or as_json) as progress:
        feat = progress.add_task("features", total=None)
        ep_task = progress.add_task("epochs", total=None, visible=False)

        def on_progress(done: int, total: int) -> None:
            progress.update(feat, completed=done, total=total)

        def on_epoch(info) -> None:
            progress.update(ep_task, completed=info.epoch, total=info.epochs, visible=True,
                            description=f"epoch {info.epoch}/{info.epochs} ({info.phase}) "
                                        f"loss {info.loss:.3f} acc {info.val_accuracy:.3f}")
            table.add_row(str(info.epoch), info.phase, f"{info.loss:.4f}",
                          f"{info.val_accuracy:.3f}", f"{info.seconds:.1f}")

        def on_stage(stage: str) -> None:
            progress.console.log(f"[bold]{stage}[/bold]")

        common = {"out_dir": out, "config": cfg, "noise": noise or None,
                  "on_progress": on_progress, "on_epoch": on_epoch, "on_stage": on_stage}
        if keyword:
            result = train_keyword(data, keyword=keyword, **common)
        else:
            chosen = [s.strip() for s in labels.split(",") if s.strip()] if labels else None
            result = train_commands(data, labels=chosen, **common)
    rep = result.report
    if as_json:
        typer.echo(json.dumps(rep, indent=2, default=str))
        return
    console.print(table)
    m = rep["metrics"]
    out_console = Console()
    if rep["skipped"]["count"]:
        out_console.print(f"[yellow]warning:[/yellow] skipped {rep['skipped']['count']} "
                          "unreadable file(s) (listed in report.json)")
    acc = m["chip_accuracy"]
    out_console.print(
        f"labels {', '.join(result.labels)} | split {rep['split']['kind']} | held-out chip "
        f"accuracy {'n/a' if acc is None else f'{100 * acc:.1f}%'} (bit-exact vs Keras: "
        f"{m['chip_equals_keras_bit_exact']}) | {rep['timings_s']['total_s']:.0f} s | "
        f"peak {rep['peak_memory_mb']:.0f} MB")
    out_console.print(f"wrote {result.out_dir}/: " + ", ".join(sorted(result.files)))


def synth_cmd(
    text: str = typer.Argument(..., help="Word or phrase to speak."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    count: int = typer.Option(50, "--count", "-n", help="Utterances to write."),
    seed: int = typer.Option(0, "--seed", help="Seed of voices, rates and pitches."),
    negatives: bool = typer.Option(False, "--negatives",
                                   help="Also write confusable near-miss words into "
                                        "OUT/_background_/ (same count)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
) -> None:
    """Synthesize varied utterances of TEXT offline with espeak-ng (16 kHz WAV)."""
    from rich.console import Console
    from rich.progress import Progress
    from wtmkws.sdk.synth import synthesize, synthesize_negatives

    folder = out / "_".join(text.lower().split()) if negatives else out
    with Progress(disable=quiet, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"synth {text!r}", total=count)
        paths = synthesize(text, out_dir=folder, count=count, seed=seed,
                           on_progress=lambda d, t: progress.update(task, completed=d))
        neg: list[Path] = []
        if negatives:
            t2 = progress.add_task("confusables", total=count)
            neg = synthesize_negatives(text, out_dir=out / "_background_", count=count,
                                       seed=seed + 1,
                                       on_progress=lambda d, t: progress.update(t2, completed=d))
    typer.echo(f"wrote {len(paths)} utterances to {folder}"
               + (f" and {len(neg)} confusables to {out / '_background_'}" if negatives else ""))


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``synth`` to the root app."""
    app.command("train")(train_cmd)
    app.command("synth")(synth_cmd)
