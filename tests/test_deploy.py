"""Deploy client against the virtual board: flash, resume, faults, skip, version, timeouts, events.

The board serves a real pseudo-terminal (the client opens its path as it would a USB port) or a
TCP socket; pacing runs at a high baud rate so the tests stay fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
import tty

import numpy as np
import pytest

from test_image import make_stream_program
from wtmkws.firmware_model.program import Activation, ArrayLayer, Block, LayerKind, Program, ProgramMode
from wtmkws.tools.board import FaultConfig, VirtualBoard, read_flash
from wtmkws.tools.client import BoardStatusError, DeployClient, DeviceError, ProtocolError, open_port
from wtmkws.tools.image import pack_image, verify_image
from wtmkws.tools.protocol import REGION_ACTIVE, Status

FAST_BAUD = 4_000_000


def big_image(seed: int, *, payload_bytes: int = 200_000) -> bytes:
    """A valid image of roughly ``payload_bytes`` (program + deterministic metadata filler)."""
    program = make_stream_program(np.random.default_rng(seed), name=f"p{seed}")
    return pack_image(program, compute_golden=False, extra_metadata_bytes=payload_bytes)


@pytest.fixture
def image() -> bytes:
    return big_image(1)


@pytest.fixture(params=["pty", "socket"])
def board_factory(request, tmp_path):
    boards: list[VirtualBoard] = []

    def make(**kwargs) -> tuple[VirtualBoard, str]:
        kwargs.setdefault("baud", FAST_BAUD)
        board = VirtualBoard(tmp_path / "flash.bin", **kwargs)
        boards.append(board)
        url = board.serve_pty() if request.param == "pty" else board.serve_socket()
        return board, url

    yield make
    for b in boards:
        b.stop()


def connect(url: str, **kwargs) -> DeployClient:
    kwargs.setdefault("latency_s", 0.2)
    return DeployClient(open_port(url, baud=115200), **kwargs)


def test_flash_verifies_and_activates(board_factory, image: bytes, tmp_path) -> None:
    board, url = board_factory()
    seen: list[tuple[int, int]] = []
    with connect(url) as client:
        result = client.flash(image, on_progress=lambda d, t: seen.append((d, t)))
        assert not result.skipped and result.resumed_from == 0
        assert result.sha256 == hashlib.sha256(image).hexdigest() == verify_image(image).sha256
        assert seen[-1] == (len(image), len(image))
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert client.read(0, len(image), region=REGION_ACTIVE) == image
        st = client.status()
        assert st.active_sha256 == result.sha256 and st.state == "idle"
    board.stop()
    assert read_flash(tmp_path / "flash.bin").active == image


def test_same_image_already_active_is_skipped(board_factory, image: bytes) -> None:
    _, url = board_factory()
    with connect(url) as client:
        client.flash(image)
    with connect(url) as client:
        result = client.flash(image)
        assert result.skipped and result.sent_bytes == 0
        assert client.flash(image, force=True).sent_bytes == len(image)


def test_resume_after_unplug_resends_at_most_one_window(board_factory, image: bytes,
                                                        tmp_path) -> None:
    board, url = board_factory(faults=FaultConfig(disconnect_at_byte=len(image) // 2))
    client = connect(url, retries=2)
    with pytest.raises(DeviceError) as info:
        client.flash(image)
    assert "\n" not in info.value.message and info.value.hint
    sent_before = client.sent_until
    client.close()
    board.stop()  # the board is power-cycled; only its flash file survives
    held = read_flash(tmp_path / "flash.bin").staging_held
    assert 0 < held < len(image)

    board2, url2 = board_factory()
    with connect(url2) as client2:
        window_bytes = client2.hello().window * client2.board.max_payload
        result = client2.flash(image)
    assert result.resumed_from == held
    assert sent_before - result.resumed_from <= window_bytes
    assert result.sent_bytes == len(image) - held
    board2.stop()
    flash = read_flash(tmp_path / "flash.bin")
    assert flash.active == image
    assert flash.active_sha256 == hashlib.sha256(image).hexdigest()


def test_faults_still_deliver_the_image_intact(board_factory, tmp_path) -> None:
    image = big_image(2, payload_bytes=120_000)
    faults = FaultConfig(corrupt_frame_prob=0.05, lost_ack_prob=0.05, duplicate_frame_prob=0.05,
                         garbage_log_prob=0.1, bit_flip_prob=2e-5, drop_byte_prob=1e-5,
                         stall_prob=0.01, stall_s=0.05)
    board, url = board_factory(faults=faults, seed=7)
    with connect(url, max_payload=1024, retries=8) as client:
        result = client.flash(image)
        assert result.retries > 0
        assert any(line.startswith("[log]") for line in client.logs)
    assert board.frames_bad > 0
    board.stop()
    assert read_flash(tmp_path / "flash.bin").active == image


def test_board_with_another_protocol_version_is_a_one_line_error(board_factory) -> None:
    _, url = board_factory(protocol_version=2)
    with connect(url) as client, pytest.raises(ProtocolError, match="protocol version 2") as info:
        client.hello()
    assert "\n" not in info.value.message and info.value.hint


def test_never_answering_port_times_out() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        client = DeployClient(open_port(os.ttyname(slave), baud=115200), retries=2,
                              latency_s=0.1, backoff_s=0.01)
        with pytest.raises(DeviceError, match="no answer from the board") as info:
            client.hello()
        assert "\n" not in info.value.message and "powered" in info.value.hint
        client.close()
    finally:
        os.close(master)
        os.close(slave)


def test_nonexistent_port_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(DeviceError, match="not found") as info:
        open_port(str(tmp_path / "ttyUSB9"), baud=115200)
    assert "wtmkws ports" in info.value.hint


def test_hash_failed_image_is_never_activated(board_factory, image: bytes, tmp_path) -> None:
    board, url = board_factory()
    wrong = hashlib.sha256(b"something else").digest()
    with connect(url) as client:
        client.hello()
        assert client.begin(len(image), wrong) == 0
        client._transfer(image, 0, {"sent": 0, "resent": 0, "retries": 0}, None)
        with pytest.raises(BoardStatusError, match="HASH_MISMATCH") as info:
            client.end(len(image))
        assert info.value.status == Status.HASH_MISMATCH
        with pytest.raises(BoardStatusError, match="NOT_VERIFIED"):
            client.activate(wrong)
        with pytest.raises(BoardStatusError, match="NOT_VERIFIED"):
            client.activate(hashlib.sha256(image).digest())
        assert client.status().active_size == 0
    board.stop()
    assert read_flash(tmp_path / "flash.bin").active == b""


def test_bytes_that_are_not_an_image_are_never_activated(board_factory, tmp_path) -> None:
    board, url = board_factory()
    junk = np.random.default_rng(5).integers(0, 256, 30_000, dtype=np.uint8).tobytes()
    with connect(url) as client:
        with pytest.raises(BoardStatusError, match="BAD_IMAGE"):
            client.flash(junk)
        assert client.status().active_size == 0
    board.stop()
    assert read_flash(tmp_path / "flash.bin").active == b""


def test_set_baud_switches_the_board_pacing(board_factory, image: bytes) -> None:
    board, url = board_factory(baud=115200)
    with connect(url) as client:
        client.hello()
        result = client.flash(image, baud=FAST_BAUD)
        assert result.baud == FAST_BAUD and board.baud == FAST_BAUD
        client.reset()
        assert client.hello().baud == 115200
        forced = client.flash(image, baud=FAST_BAUD, force=True, restore_baud=True)
        assert forced.baud == FAST_BAUD and board.baud == 115200


def _detect_program() -> Program:
    from wtmkws.audio_pipeline.int_frontend import FrontendConfig

    fe = FrontendConfig(kind="fbank", n_mels=24)
    rng = np.random.default_rng(0)
    layer = ArrayLayer(name="out", kind=LayerKind.DENSE, inputs=("input",),
                       weights=rng.integers(-4, 5, (fe.n_features, 1), dtype=np.int8),
                       bias_cells=np.zeros((8, 1), np.int8), shift=8,
                       activation=Activation.NONE,
                       blocks=(Block(row0=0, col0=128, in_rows=(0, fe.n_features), out_cols=(0, 1),
                                     bias_rows=8),))
    return Program(name="one-label", mode=ProgramMode.STREAM, input_width=fe.n_features,
                   input_frames=1, ops=(layer,), labels=("hey",), frontend=fe.to_dict())


def test_board_runs_the_program_on_audio_and_streams_events(board_factory) -> None:
    from wtmkws.firmware_model.engine import DetectorConfig, score_audio, events_from_scores

    program = _detect_program()
    detector = DetectorConfig(threshold=0.5, smoothing_frames=1, refractory_ms=300.0,
                              background_labels=())
    image = pack_image(program, detector=detector)
    samples = (np.random.default_rng(3).standard_normal(16000) * 3000).astype(np.int16)
    _, url = board_factory()
    with connect(url) as client:
        client.flash(image)
        assert client.send_audio(samples) == samples.size
        events = list(client.events(idle_timeout_s=0.5))
    want = events_from_scores(score_audio(program, samples, detector), program.labels, detector)
    assert [(e.label, round(e.time_s, 6)) for e in events] == [
        (e.label, round(e.time_s, 6)) for e in want]
    assert len(events) >= 2


def test_audio_without_a_program_is_refused(board_factory) -> None:
    _, url = board_factory()
    with connect(url) as client, pytest.raises(BoardStatusError, match="NO_PROGRAM"):
        client.hello()
        client.send_audio(np.zeros(160, np.int16))


def test_image_too_large_for_the_board(board_factory, image: bytes) -> None:
    _, url = board_factory(flash_size_bytes=64 * 1024)
    with connect(url) as client, pytest.raises(DeviceError, match="does not fit"):
        client.flash(image)


def test_fault_config_rejects_bad_probabilities() -> None:
    from wtmkws.audio_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="lost_ack_prob"):
        FaultConfig(lost_ack_prob=1.5)
    assert dataclasses.replace(FaultConfig(), stall_s=0.0).stall_s == 0.0


def test_busy_port_is_a_one_line_error(tmp_path) -> None:
    board = VirtualBoard(tmp_path / "flash.bin", baud=FAST_BAUD)
    url = board.serve_pty()
    try:
        first = open_port(url, baud=115200)
        with pytest.raises(DeviceError, match="busy") as info:
            open_port(url, baud=115200)
        assert "close" in info.value.hint
        first.close()
    finally:
        board.stop()


@pytest.mark.parametrize("exc, message, hint", [
    (PermissionError(13, "Permission denied"), "permission denied", "dialout"),
    (OSError(16, "Device or resource busy"), "busy", "close"),
    (FileNotFoundError(2, "No such file or directory"), "not found", "wtmkws ports"),
    (OSError(5, "Input/output error"), "disconnected", "resumes"),
])
def test_os_errors_map_to_device_errors_with_hints(exc, message, hint) -> None:
    from wtmkws.tools.transport import wrap_os_error

    err = wrap_os_error("/dev/ttyUSB0", exc)
    assert message in err.message and "/dev/ttyUSB0" in err.message and hint in err.hint


def test_board_plays_its_wav_through_the_flashed_program(board_factory) -> None:
    from wtmkws.firmware_model.engine import DetectorConfig, events_from_scores, score_audio

    program = _detect_program()
    detector = DetectorConfig(threshold=0.5, smoothing_frames=1, refractory_ms=300.0,
                              background_labels=())
    samples = (np.random.default_rng(4).standard_normal(8000) * 3000).astype(np.int16)
    board, url = board_factory(audio=samples)
    with connect(url) as client:
        client.flash(pack_image(program, detector=detector))
        deadline = time.monotonic() + 20
        while board.audio_samples_played < samples.size and time.monotonic() < deadline:
            time.sleep(0.05)  # real-time playback (plus a first-call compile in the engine)
        events = list(client.events(idle_timeout_s=0.3))
    want = events_from_scores(score_audio(program, samples, detector), program.labels, detector)
    assert [(e.label, round(e.time_s, 6)) for e in events] == [
        (e.label, round(e.time_s, 6)) for e in want]
    assert events
