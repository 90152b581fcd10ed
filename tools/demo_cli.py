"""``wtmkws demo``: the end-to-end demo, drawn with rich (the workflow is :mod:`wtmkws.tools.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from wtmkws.tools.demo import DemoConfig, StageEvent, run_demo

__all__ = ["register"]

_SHARED_NOISE = Path("../shared/data/noise/speech_commands_bg")


def demo_command(
    keyword: str = typer.Option("computer", "--keyword", "-k", help="The wake word to train."),
    out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Folder for every artifact."),
    quick: bool = typer.Option(False, "--quick", help="Smaller data and fewer epochs (a few "
                               "minutes)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice."),
    noise: Path | None = typer.Option(None, "--noise", help="Folder of noise recordings "
                                      "(default: ../shared/data/noise/speech_commands_bg when "
                                      "present, else generated noise)."),
    holdout: str = typer.Option("speakers", "--holdout", help="What the test holds out of "
                                "training: 'speakers' (voice variants, every accent) or "
                                "'accents' (two whole accents, harder)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the final figures."),
) -> None:
    """Wake word from text to detections on a virtual board: synthesize, train, compile,
    evaluate, pack, flash, stream."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    noise_dir = noise if noise is not None else (_SHARED_NOISE if _SHARED_NOISE.is_dir() else None)
    config = DemoConfig(keyword=keyword, out_dir=out, quick=quick, seed=seed, noise_dir=noise_dir,
                        holdout=holdout)
    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                        TimeElapsedColumn(), console=console, transient=True, disable=quiet)
    task = progress.add_task("", total=None)

    def on_stage(ev: StageEvent) -> None:
        if ev.seconds is None:
            progress.reset(task, description=f"[{ev.index}/{ev.count}] {ev.name}", total=None)
        elif not quiet:
            console.print(f"[green]✓[/] [{ev.index}/{ev.count}] [bold]{ev.name}[/] "
                          f"({ev.seconds:.1f} s): {ev.detail}")

    def on_progress(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        result = run_demo(config, on_stage=on_stage, on_progress=on_progress)
    typer.echo(f"keyword '{result.keyword}': miss rate {result.miss_rate_at_1fa_h:.1%} at "
               f"{result.fa_per_hour:.2f} false alarms/hour "
               f"({result.n_test_keywords} keywords, {result.background_hours * 60:.1f} min of "
               f"background; {config.held_out_text()})")
    for e in result.board_events:
        mark = "hit" if e["hit"] else "FALSE ALARM"
        typer.echo(f"board: {e['time_s']:7.2f} s  {e['label']}  score {e['score']:.3f}  {mark}")
    typer.echo(f"summary: {result.files['summary']}")


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""
    app.command("demo")(demo_command)
