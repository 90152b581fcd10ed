"""Deploy CLI: pack, image inspect/verify, ports, flash, info, monitor, board; bad input -> exit 2."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from clitools import run_cli
from test_image import make_stream_program
from wtmkws.tools.board import VirtualBoard, read_flash
from wtmkws.tools.image import read_image, unpack_image

FAST = "4000000"


@pytest.fixture
def program_file(tmp_path: Path) -> Path:
    from wtmkws.firmware_model.program_io import save_program

    program = make_stream_program(np.random.default_rng(4))
    codes = np.random.default_rng(5).integers(0, 256, (10, program.input_width), dtype=np.uint8)
    return save_program(program, tmp_path / "kws.wtmk", golden_inputs=codes)


@pytest.fixture
def image_file(program_file: Path, tmp_path: Path) -> Path:
    out = tmp_path / "kws.wimg"
    code, _, err = run_cli(["pack", str(program_file), "--out", str(out)])
    assert code == 0, err
    return out


@pytest.fixture
def board(tmp_path: Path):
    b = VirtualBoard(tmp_path / "flash.bin", baud=int(FAST))
    b.serve_pty()
    yield b
    b.stop()


def test_pack_writes_a_verifiable_image_with_the_program_and_its_golden_vectors(
        program_file: Path, tmp_path: Path) -> None:
    from wtmkws.firmware_model.program_io import load_golden, load_program

    out = tmp_path / "a.wimg"
    code, stdout, err = run_cli(["pack", str(program_file), "--out", str(out), "--json"])
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["chip"] == "WTM2101" and summary["size_bytes"] == out.stat().st_size
    up = unpack_image(read_image(out))
    want = load_program(program_file)
    assert up.program.name == want.name
    np.testing.assert_array_equal(up.golden.inputs, load_golden(program_file).inputs)


def test_pack_embeds_a_detector(program_file: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.json"
    det.write_text(json.dumps({"threshold": 0.8, "smoothing_frames": 2}))
    out = tmp_path / "b.wimg"
    code, _, err = run_cli(["pack", str(program_file), "--out", str(out), "--detector", str(det)])
    assert code == 0, err
    assert unpack_image(read_image(out)).detector.threshold == 0.8


def test_inspect_and_verify(image_file: Path) -> None:
    code, out, err = run_cli(["image", "inspect", str(image_file), "--json"])
    assert code == 0, err
    info = json.loads(out)
    assert [s["kind"] for s in info["sections"]][:2] == ["layers", "weights"]
    code, out, _ = run_cli(["image", "inspect", str(image_file)])
    assert code == 0 and "SHA-256" in out and "weights" in out
    code, out, _ = run_cli(["image", "verify", str(image_file)])
    assert code == 0 and "OK" in out


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-10], "truncated"),
    (lambda b: b[:100] + bytes([b[100] ^ 4]) + b[101:], "SHA-256 mismatch"),
    (lambda b: b"NOTANIMG" + b[8:], "not a wtmkws image"),
])
def test_corrupted_image_exits_2_with_one_line(image_file: Path, damage, message: str) -> None:
    image_file.write_bytes(damage(image_file.read_bytes()))
    for args in (["image", "verify", str(image_file)], ["image", "inspect", str(image_file)],
                 ["flash", str(image_file), "--port", "/dev/null-port"]):
        code, _, err = run_cli(args)
        assert code == 2
        lines = err.strip().splitlines()
        assert lines[0].startswith("error:") and message in lines[0]
        assert lines[1].startswith("hint:")


def test_verify_wrong_chip_exits_2(image_file: Path) -> None:
    code, _, err = run_cli(["image", "verify", str(image_file), "--chip", "WTM9999"])
    assert code == 2 and "not WTM9999" in err


def test_missing_program_exits_2(tmp_path: Path) -> None:
    code, _, err = run_cli(["pack", str(tmp_path / "nope.wtmk"), "--out", str(tmp_path / "x")])
    assert code == 2 and err.startswith("error:")


def test_ports_lists_as_json() -> None:
    code, out, err = run_cli(["ports", "--json"])
    assert code == 0, err
    rows = json.loads(out)
    assert [r["device"] for r in rows] == sorted(r["device"] for r in rows)


def test_flash_then_info_then_flash_again_skips(image_file: Path, board: VirtualBoard,
                                                tmp_path: Path) -> None:
    code, out, err = run_cli(["flash", str(image_file), "--port", board.url, "--baud", FAST,
                              "--connect-baud", FAST])
    assert code == 0, err
    assert "% of" in out and "verified, active" in out
    code, out, err = run_cli(["info", "--port", board.url, "--json", "--connect-baud", FAST])
    assert code == 0, err
    info = json.loads(out)
    assert info["hello"]["chip_name"] == "WTM2101"
    assert info["hello"]["active_size"] == image_file.stat().st_size
    code, out, _ = run_cli(["info", "--port", board.url, "--connect-baud", FAST])
    assert code == 0 and "active image" in out
    code, out, err = run_cli(["flash", str(image_file), "--port", board.url, "--baud", FAST,
                              "--connect-baud", FAST, "--json"])
    assert code == 0, err
    assert json.loads(out)["skipped"] is True
    board.stop()
    assert read_flash(tmp_path / "flash.bin").active == image_file.read_bytes()


def test_flash_to_a_nonexistent_port_exits_2(image_file: Path, tmp_path: Path) -> None:
    code, _, err = run_cli(["flash", str(image_file), "--port", str(tmp_path / "ttyACM7")])
    assert code == 2
    assert "not found" in err and "wtmkws ports" in err


def test_info_on_a_refused_socket_exits_2() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    code, _, err = run_cli(["info", "--port", f"socket://127.0.0.1:{port}"])
    assert code == 2 and "error:" in err and "hint:" in err


def test_monitor_prints_events_for_sent_audio(board: VirtualBoard, tmp_path: Path) -> None:
    from test_deploy import _detect_program
    from wtmkws.audio_pipeline.io import write_wav
    from wtmkws.firmware_model.engine import DetectorConfig
    from wtmkws.tools.client import DeployClient, open_port
    from wtmkws.tools.image import pack_image

    det = DetectorConfig(threshold=0.5, smoothing_frames=1, refractory_ms=300.0,
                         background_labels=())
    with DeployClient(open_port(board.url, baud=115200)) as client:
        client.flash(pack_image(_detect_program(), detector=det))
    wav = tmp_path / "noise.wav"
    write_wav(wav, (np.random.default_rng(3).standard_normal(16000) * 3000).astype(np.int16),
              sample_rate_hz=16000)
    code, out, err = run_cli(["monitor", "--port", board.url, "--send-audio", str(wav), "--json",
                              "--duration", "0.5"])
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) >= 2 and {e["label"] for e in events} == {"hey"}


def test_board_command_serves_until_its_duration(tmp_path: Path, image_file: Path) -> None:
    result: dict = {}

    def serve() -> None:
        result["ret"] = run_cli(["board", "--listen", "socket://127.0.0.1:0", "--flash-file",
                                 str(tmp_path / "f.bin"), "--duration", "0.3"])

    t = threading.Thread(target=serve)
    t.start()
    t.join(10)
    code, out, err = result["ret"]
    assert code == 0, err
    assert "socket://127.0.0.1:" in out


def test_board_command_rejects_a_bad_listen_url(tmp_path: Path) -> None:
    code, _, err = run_cli(["board", "--listen", "tcp://x", "--flash-file", str(tmp_path / "f")])
    assert code == 2 and "socket://HOST:PORT" in err
