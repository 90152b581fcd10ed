"""``wtmkws program inspect`` and ``wtmkws emulate``: look inside a program file, run it on codes.

Thin commands: parse options, call :mod:`~wtmkws.firmware_model.program_io`,
:mod:`~wtmkws.firmware_model.placement`, :mod:`~wtmkws.firmware_model.cost` or
:mod:`~wtmkws.firmware_model.emulator`, and render with rich.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from wtmkws.audio_pipeline.atomic import atomic_path
from wtmkws.audio_pipeline.errors import ConfigError

__all__ = ["register", "inspect_program", "emulate_file"]

program_app = typer.Typer(name="program", help="Inspect compiled chip programs (.wtmk).",
                          no_args_is_help=True)


def inspect_program(path: Path) -> dict[str, Any]:
    """Layers, placement, cost and budgets of a program file as a JSON-safe dict.

    Raises:
        ProgramError: the file is not a valid program.
    """
    from wtmkws.firmware_model.cost import cost_report
    from wtmkws.firmware_model.placement import placement_rows
    from wtmkws.firmware_model.program import ArrayLayer
    from wtmkws.firmware_model.program_io import load_program
    from wtmkws.firmware_model.validate import analyze_program

    program = load_program(path)
    infos = analyze_program(program)
    spec = program.spec
    ops = []
    for op in program.ops:
        d: dict[str, Any] = {"name": op.name, "type": type(op).__name__, "inputs": list(op.inputs),
                             "shape": list(infos[op.name].shape)}
        if isinstance(op, ArrayLayer):
            d.update(kind=op.kind.value, rows=op.n_rows, outputs=op.n_outputs, bias_rows=op.n_bias_rows,
                     shift=op.shift, activation=op.activation.value, input_mode=op.transform.mode.value,
                     magnify=op.transform.magnify, context=list(op.context), blocks=len(op.blocks))
        ops.append(d)
    cost = cost_report(program)
    out = {"name": program.name, "chip": program.chip, "mode": program.mode.value,
           "input_width": program.input_width, "input_frames": program.input_frames,
           "labels": list(program.labels), "ops": ops, "placement": placement_rows(program),
           "cost": cost.to_dict(),
           "budgets": {"layers": len(program.array_layers), "max_layers": spec.max_layers,
                       "cells": cost.cells, "usable_cells": spec.usable_cells,
                       "frame_share": cost.frame_share}}
    if program.mode.value == "stream":
        out["delay_frames"] = infos[program.output_name].delay
    return out


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr, allow_pickle=False)


def emulate_file(program_path: Path, features_path: Path, out_path: Path, *, layers_dir: Path | None = None,
                 noise_seed: int | None = None, reads: int = 1) -> dict[str, Any]:
    """Run a program file on a .npy of input codes and write the output (and every layer's).

    Args:
        program_path: the .wtmk file.
        features_path: .npy of uint8 codes (STREAM (T, width); WINDOW (N, frames, width) or
            (frames, width)).
        out_path: where to write the output .npy.
        layers_dir: if given, every op's output is written there as ``<op>.npy``.
        noise_seed: run the non-ideal chip drawn with this seed (None: ideal).
        reads: reads averaged per column sum in non-ideal mode (1, 2 or 4).

    Returns:
        A summary dict (shapes, files, mode).

    Raises:
        ProgramError: bad program or codes. ConfigError: bad options.
    """
    from wtmkws.firmware_model.emulator import run_layers
    from wtmkws.firmware_model.noise import NonIdealChip, NonIdealConfig
    from wtmkws.firmware_model.program import ProgramError
    from wtmkws.firmware_model.program_io import load_program

    program = load_program(program_path)
    try:
        codes = np.load(features_path, allow_pickle=False)
    except FileNotFoundError:
        raise ProgramError(f"features file {features_path} does not exist", hint="check the path") from None
    except (ValueError, OSError) as exc:
        raise ProgramError(f"features file {features_path} is not a .npy array ({str(exc).splitlines()[0]})",
                           hint="save codes with numpy.save") from None
    nonideal = None
    if noise_seed is not None:
        cfg = NonIdealConfig.from_spec(program.spec.noise, reads=reads)
        nonideal = NonIdealChip.create(program, cfg, seed=noise_seed)
    elif reads != 1:
        raise ConfigError("--reads only applies with --noise-seed", hint="add --noise-seed N")
    outs = run_layers(program, codes, nonideal=nonideal)
    result = outs[program.output_name]
    _atomic_save(out_path, result)
    files = [str(out_path)]
    if layers_dir is not None:
        for name, v in outs.items():
            p = layers_dir / f"{name}.npy"
            _atomic_save(p, v)
            files.append(str(p))
    return {"program": program.name, "mode": program.mode.value, "input_shape": list(np.shape(codes)),
            "output_shape": list(result.shape), "nonideal": noise_seed is not None, "reads": reads,
            "files": files}


@program_app.command("inspect")
def inspect_cmd(
    program: Path = typer.Argument(..., help="Program file (.wtmk)."),
    map_png: Optional[Path] = typer.Option(None, "--map", help="Also write an array-map PNG here."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Show a program's layers, placement, cost and budgets."""
    info = inspect_program(program)
    if map_png is not None:
        from wtmkws.firmware_model.array_map import plot_array_map
        from wtmkws.firmware_model.program_io import load_program

        plot_array_map(load_program(program), map_png)
        info["map"] = str(map_png)
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if not con.is_terminal:
        con = Console(width=160)
    con.print(f"[bold]{info['name']}[/bold]  chip {info['chip']}  mode {info['mode']}  input "
              f"{info['input_frames']}x{info['input_width']}  labels {', '.join(info['labels']) or '-'}"
              + (f"  delay {info['delay_frames']} frames" if "delay_frames" in info else ""))
    t = Table(title="operations")
    for col in ("op", "type", "inputs", "shape", "rows x outs", "bias", "g", "act", "input", "ctx", "blocks"):
        t.add_column(col)
    for o in info["ops"]:
        if "rows" in o:
            t.add_row(o["name"], o["kind"], ",".join(o["inputs"]), str(tuple(o["shape"])),
                      f"{o['rows']} x {o['outputs']}", str(o["bias_rows"]), str(o["shift"]), o["activation"],
                      f"{o['input_mode']}<<{o['magnify']}", str(o["context"]), str(o["blocks"]))
        else:
            t.add_row(o["name"], o["type"], ",".join(o["inputs"]), str(tuple(o["shape"])), "", "", "", "",
                      "", "", "")
    con.print(t)
    t = Table(title="placement")
    for col in ("layer", "block", "region", "rows", "cols", "weight rows", "outputs", "bias", "cells"):
        t.add_column(col)
    for r in info["placement"]:
        t.add_row(r["layer"], str(r["block"]), str(r["region"]), f"{r['row0']}..{r['row0'] + r['rows'] - 1}",
                  f"{r['col0']}..{r['col0'] + r['cols'] - 1}", f"{r['in_rows'][0]}..{r['in_rows'][1] - 1}",
                  f"{r['out_cols'][0]}..{r['out_cols'][1] - 1}", str(r["bias_rows"]), f"{r['cells']:,}")
    con.print(t)
    c = info["cost"]
    t = Table(title=f"cost per {'frame' if info['mode'] == 'stream' else 'window'}")
    for col in ("layer", "MACs", "invocations", "cells", "NPU us", "% of frame"):
        t.add_column(col, justify="right")
    for lc in c["layers"]:
        t.add_row(lc["name"], f"{lc['macs']:,}", f"{lc['invocations']:,}", f"{lc['cells']:,}",
                  f"{lc['npu_time_us']:.2f}", f"{100 * lc['frame_share']:.3f}")
    t.add_row("total", f"{c['macs']:,}", f"{c['invocations']:,}", f"{c['cells']:,}", f"{c['npu_time_us']:.2f}",
              f"{100 * c['frame_share']:.3f}", style="bold")
    con.print(t)
    b = info["budgets"]
    con.print(f"budgets: layers {b['layers']}/{b['max_layers']}, cells {b['cells']:,}/{b['usable_cells']:,} "
              f"({100 * b['cells'] / b['usable_cells']:.1f} %), NPU {100 * b['frame_share']:.3f} % of a "
              f"{c['frame_period_ms']:g} ms frame" + (f" (hop {c['hop_frames']} frames)" if c["hop_frames"] > 1 else ""))
    if map_png is not None:
        con.print(f"array map: {map_png}")


def emulate_cmd(
    program: Path = typer.Argument(..., help="Program file (.wtmk)."),
    features: Path = typer.Argument(..., help=".npy of uint8 input codes: (T, width) or (N, frames, width)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .npy."),
    layers: Optional[Path] = typer.Option(None, "--layers", help="Write every op's output to DIR/<op>.npy."),
    noise_seed: Optional[int] = typer.Option(None, "--noise-seed", help="Non-ideal chip drawn with this seed."),
    reads: int = typer.Option(1, "--reads", help="Reads averaged per column sum (1, 2 or 4; non-ideal)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Run a program on input codes, bit-accurately (or on a seeded non-ideal chip)."""
    if reads not in (1, 2, 4):
        raise ConfigError(f"--reads {reads} must be 1, 2 or 4")
    summary = emulate_file(program, features, out, layers_dir=layers, noise_seed=noise_seed, reads=reads)
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    mode = f"non-ideal seed {noise_seed}, {reads} read(s)" if summary["nonideal"] else "ideal"
    typer.echo(f"{summary['program']}: {tuple(summary['input_shape'])} -> {tuple(summary['output_shape'])} "
               f"({mode}); wrote {out}" + (f" and {len(summary['files']) - 1} layer files to {layers}"
                                           if layers is not None else ""))


def register(app: typer.Typer) -> None:
    """Mount ``program inspect`` and ``emulate`` on the root app."""
    app.add_typer(program_app, name="program")
    app.command("emulate")(emulate_cmd)
