"""Deploy commands: pack, image inspect/verify, ports, flash, info, monitor, board.

Each command parses options, calls one library function (``wtmkws.tools.image``,
``wtmkws.tools.client``, ``wtmkws.tools.board``) and renders the result with rich.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from wtmkws.audio_pipeline.errors import ConfigError, WtmkwsError
from wtmkws.tools.image import pack_image, read_image, verify_image, write_image

__all__ = ["register"]

_PORT_HELP = "Port: a device path, a pty path, socket://HOST:PORT, or any pyserial URL."


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _load_audio(path: Path) -> Any:
    from wtmkws.audio_pipeline.io import load_audio

    return load_audio(path, sample_rate_hz=16000)


# ------------------------------------------------------------------------------------------------
# pack / image


def pack_cmd(
    program: Path = typer.Argument(..., help="Program file (.wtmk)."),
    out: Path = typer.Option(..., "--out", "-o", help="Image file to write."),
    detector: Optional[Path] = typer.Option(None, "--detector",
                                            help="Detector configuration JSON to embed."),
    json_out: bool = typer.Option(False, "--json", help="Print the image summary as JSON."),
) -> None:
    """Pack a program into a verifiable firmware image."""
    from wtmkws.firmware_model.program_io import load_golden, load_program

    prog = load_program(program)
    try:
        golden = load_golden(program)
    except WtmkwsError:  # a program file without golden vectors: pack_image computes them
        golden = None
    det: Any = None
    if detector is not None:
        try:
            det_dict = json.loads(detector.read_text())
        except FileNotFoundError:
            raise ConfigError(f"detector file {detector} does not exist",
                              hint="check the path") from None
        except ValueError as exc:
            raise ConfigError(f"detector file {detector} is not valid JSON ({exc})",
                              hint="write it with DetectorConfig.to_dict()") from None
        from wtmkws.firmware_model.engine import DetectorConfig

        det = DetectorConfig.from_dict(det_dict)
    data = pack_image(prog, detector=det, golden=golden)
    write_image(out, data)
    info = verify_image(data)
    if json_out:
        typer.echo(json.dumps({"image": str(out), **info.to_dict()}, indent=2))
    else:
        _console().print(f"packed {prog.name!r} into {out}: {info.size_bytes} bytes, "
                         f"SHA-256 {info.sha256[:16]}..., {info.chip}")


def inspect_cmd(
    image: Path = typer.Argument(..., help="Image file."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show an image's header, sections and program summary (verifies it too)."""
    info = verify_image(read_image(image))
    if json_out:
        typer.echo(json.dumps(info.to_dict(), indent=2))
        return
    con = _console()
    con.print(f"[bold]{image}[/bold]: {info.size_bytes} bytes, format v{info.format_version}, "
              f"chip {info.chip} (id 0x{info.chip_id:04x}, rev {info.revision_min}.."
              f"{info.revision_max}), flags 0x{info.flags:x}")
    con.print(f"program {info.program_name!r}: {info.mode}, {info.n_ops} ops, "
              f"{info.n_array_layers} array layers, {info.cells} cells, labels "
              f"{', '.join(info.labels)}")
    table = Table("section", "offset", "length", "crc32")
    for s in info.sections:
        table.add_row(s.kind_name, str(s.offset), str(s.length), f"{s.crc32:08x}")
    con.print(table)
    con.print(f"SHA-256 {info.sha256}")


def verify_cmd(
    image: Path = typer.Argument(..., help="Image file."),
    chip: Optional[str] = typer.Option(None, "--chip", help="Require this target chip."),
) -> None:
    """Check an image's SHA-256, section CRCs, layout and program."""
    info = verify_image(read_image(image), chip=chip)
    _console().print(f"{image}: OK ({info.size_bytes} bytes, {info.chip}, SHA-256 "
                     f"{info.sha256[:16]}...)")


# ------------------------------------------------------------------------------------------------
# ports / flash / info / monitor


def ports_cmd(json_out: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List serial ports (sorted), with USB VID:PID."""
    from serial.tools import list_ports

    rows = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        vidpid = f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else ""
        rows.append({"device": p.device, "vid_pid": vidpid, "description": p.description or "",
                     "serial_number": p.serial_number or ""})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    con = _console()
    if not rows:
        con.print("no serial ports found (for a virtual board run `wtmkws board --pty`)")
        return
    table = Table("port", "VID:PID", "description", "serial")
    for r in rows:
        table.add_row(r["device"], r["vid_pid"], r["description"], r["serial_number"])
    con.print(table)


def _client(port: str, connect_baud: int, spy: bool):
    from wtmkws.tools.client import DeployClient, open_port

    con = Console(stderr=True, highlight=False)
    transport = open_port(port, baud=connect_baud, spy=(lambda line: con.print(line)) if spy else None)
    return DeployClient(transport)


def flash_cmd(
    image: Path = typer.Argument(..., help="Image file."),
    port: str = typer.Option(..., "--port", "-p", help=_PORT_HELP),
    baud: int = typer.Option(921600, "--baud", "-b", help="Line rate to flash at (bits/s)."),
    connect_baud: int = typer.Option(115200, "--connect-baud",
                                     help="Line rate the board listens at before SET_BAUD."),
    force: bool = typer.Option(False, "--force", help="Flash even if this image is active."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    spy: bool = typer.Option(False, "--spy", help="Hexdump all traffic to stderr."),
) -> None:
    """Flash an image: resumable, verified on the board, then activated."""
    data = read_image(image)
    verify_image(data)
    with _client(port, connect_baud, spy) as client:
        client.hello()
        if quiet or json_out:
            result = client.flash(data, baud=baud, force=force, restore_baud=True)
        else:
            with Progress(TextColumn("flashing"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                          TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                          console=_console(), transient=True) as bar:
                task = bar.add_task("flash", total=len(data), rate="")
                t0 = time.monotonic()
                start: list[int] = []

                def progress(done: int, total: int) -> None:
                    if not start:
                        start.append(done)
                    dt = time.monotonic() - t0
                    rate = (done - start[0]) / dt if dt > 0 else 0.0
                    line = client.baud / 10
                    bar.update(task, completed=done, total=total,
                               rate=f"{rate / 1000:.1f} kB/s ({100 * rate / line:.0f}% of line)")

                result = client.flash(data, baud=baud, force=force, restore_baud=True,
                                      on_progress=progress)
    if json_out:
        from dataclasses import asdict

        typer.echo(json.dumps(asdict(result), indent=2))
    else:
        _console().print(result.summary())


def info_cmd(
    port: str = typer.Option(..., "--port", "-p", help=_PORT_HELP),
    connect_baud: int = typer.Option(115200, "--connect-baud", help="Line rate (bits/s)."),
    json_out: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show what a board says about itself (HELLO and STATUS)."""
    from dataclasses import asdict

    with _client(port, connect_baud, False) as client:
        info = client.info()
    if json_out:
        typer.echo(json.dumps({"url": info.url, "hello": asdict(info.hello),
                               "status": asdict(info.status)}, indent=2))
        return
    h, s = info.hello, info.status
    con = _console()
    con.print(f"{info.url}: {h.chip_name} (id 0x{h.chip_id:04x}) rev {h.revision}, protocol "
              f"v{h.protocol_version}, {h.baud} baud, max payload {h.max_payload} B, window "
              f"{h.window}, flash slot {h.flash_size} B")
    active = f"{h.active_size} B, SHA-256 {h.active_sha256[:16]}..." if h.active_size else "none"
    con.print(f"active image: {active}; program running: {'yes' if s.running else 'no'}")
    con.print(f"transfer: {s.state}" + (f" ({s.staging_held}/{s.staging_size} B)"
                                        if s.staging_size else "")
              + f"; frames ok {s.frames_ok}, bad {s.frames_bad}, naks {s.naks}; "
              f"uptime {s.uptime_s:.1f} s")


def monitor_cmd(
    port: str = typer.Option(..., "--port", "-p", help=_PORT_HELP),
    connect_baud: int = typer.Option(115200, "--connect-baud", help="Line rate (bits/s)."),
    send_audio: Optional[Path] = typer.Option(None, "--send-audio",
                                              help="WAV file to send to the board's program."),
    duration_s: Optional[float] = typer.Option(
        None, "--duration", help="Stop after this many seconds without events (default: "
        "2 s after --send-audio, else run until Ctrl-C)."),
    json_out: bool = typer.Option(False, "--json", help="One JSON object per event."),
) -> None:
    """Print detection events (and device log lines) live."""
    from wtmkws.tools.framing import LogText

    con = _console()
    with _client(port, connect_baud, False) as client:
        client.hello()
        idle = duration_s
        if send_audio is not None:
            samples = _load_audio(send_audio)
            client.send_audio(samples)
            idle = 2.0 if duration_s is None else duration_s
        for item in client.events(idle_timeout_s=idle, include_logs=not json_out):
            if isinstance(item, LogText):
                con.print(f"[dim]log: {item.text}[/dim]")
            elif json_out:
                typer.echo(json.dumps({"time_s": item.time_s, "label": item.label,
                                       "score": item.score}))
            else:
                con.print(f"{item.time_s:8.2f} s  [bold]{item.label}[/bold]  score {item.score:.3f}")


# ------------------------------------------------------------------------------------------------
# board


def board_cmd(
    flash_file: Path = typer.Option(..., "--flash-file", help="Flash file (kept across runs)."),
    pty: bool = typer.Option(False, "--pty", help="Serve on a new pseudo-terminal (default)."),
    listen: Optional[str] = typer.Option(None, "--listen",
                                         help="Serve on socket://127.0.0.1:PORT instead."),
    baud: int = typer.Option(115200, "--baud", help="Initial line rate (pacing), bits/s."),
    audio: Optional[Path] = typer.Option(None, "--audio",
                                         help="WAV played through the active program."),
    chip: str = typer.Option("WTM2101", "--chip", help="Chip name."),
    drop_byte_prob: float = typer.Option(0.0, "--drop-byte-prob", help="Fault: drop rx bytes."),
    bit_flip_prob: float = typer.Option(0.0, "--bit-flip-prob", help="Fault: flip rx bytes."),
    corrupt_frame_prob: float = typer.Option(0.0, "--corrupt-frame-prob",
                                             help="Fault: corrupt rx frames."),
    lost_ack_prob: float = typer.Option(0.0, "--lost-ack-prob", help="Fault: lose answers."),
    duplicate_frame_prob: float = typer.Option(0.0, "--duplicate-frame-prob",
                                               help="Fault: send answers twice."),
    garbage_log_prob: float = typer.Option(0.0, "--garbage-log-prob",
                                           help="Fault: log text between frames."),
    stall_prob: float = typer.Option(0.0, "--stall-prob", help="Fault: stall before answers."),
    stall_s: float = typer.Option(0.2, "--stall-s", help="Stall length in seconds."),
    disconnect_at_byte: Optional[int] = typer.Option(None, "--disconnect-at-byte",
                                                     help="Fault: drop the link after N bytes."),
    seed: int = typer.Option(0, "--seed", help="Fault-injection seed."),
    duration_s: Optional[float] = typer.Option(None, "--duration",
                                               help="Serve this many seconds (default: until "
                                                    "Ctrl-C)."),
) -> None:
    """Run a virtual board that speaks the deploy protocol (until Ctrl-C)."""
    from wtmkws.tools.board import FaultConfig, VirtualBoard

    faults = FaultConfig(drop_byte_prob=drop_byte_prob, bit_flip_prob=bit_flip_prob,
                         corrupt_frame_prob=corrupt_frame_prob, lost_ack_prob=lost_ack_prob,
                         duplicate_frame_prob=duplicate_frame_prob,
                         garbage_log_prob=garbage_log_prob, stall_prob=stall_prob,
                         stall_s=stall_s, disconnect_at_byte=disconnect_at_byte)
    samples = _load_audio(audio) if audio is not None else None
    board = VirtualBoard(flash_file, baud=baud, faults=faults, seed=seed, chip=chip, audio=samples)
    con = _console()
    try:
        if listen is not None:
            if pty:
                raise ConfigError("--pty and --listen are exclusive", hint="pick one")
            if not listen.startswith("socket://"):
                raise ConfigError(f"--listen {listen!r} is not socket://HOST:PORT",
                                  hint="for example --listen socket://127.0.0.1:5555")
            host, _, port = listen[len("socket://"):].rpartition(":")
            try:
                port_n = int(port)
            except ValueError:
                raise ConfigError(f"--listen {listen!r}: port {port!r} is not a number",
                                  hint="for example --listen socket://127.0.0.1:5555") from None
            url = board.serve_socket(host or "127.0.0.1", port_n)
        else:
            url = board.serve_pty()
        con.print(f"virtual {board.spec.name} board on {url} at {baud} baud "
                  f"(flash {flash_file}); Ctrl-C to stop")
        con.print(f"flash with: wtmkws flash IMAGE --port {url}")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while board.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
    finally:
        board.stop()


def register(app: typer.Typer) -> None:
    """Mount the deploy commands on the root app."""
    app.command("pack")(pack_cmd)
    image_app = typer.Typer(help="Inspect and verify firmware images.", no_args_is_help=True)
    image_app.command("inspect")(inspect_cmd)
    image_app.command("verify")(verify_cmd)
    app.add_typer(image_app, name="image")
    app.command("ports")(ports_cmd)
    app.command("flash")(flash_cmd)
    app.command("info")(info_cmd)
    app.command("monitor")(monitor_cmd)
    app.command("board")(board_cmd)

