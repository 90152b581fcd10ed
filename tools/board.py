"""A virtual board: speaks the deploy protocol over a pty or a TCP socket, with a persistent flash.

The board keeps its flash in one file that survives restarts (a state block and two image slots),
so a transfer interrupted by an "unplug" resumes when the same image is sent again. It paces every
byte to the configured line rate (10 bits per byte, both directions, modelling only wire time),
verifies the SHA-256 and the image format before it lets an image be activated, runs the active
program with :class:`wtmkws.firmware_model.engine.InferenceEngine` on audio it is sent (AUDIO
frames) or on a WAV file it is given, and streams detection events. Seeded fault injection
(:class:`FaultConfig`) drops and flips bytes, corrupts frames, loses and duplicates answers,
prints garbage log text, stalls, and disconnects mid-transfer.

Flash file layout (little-endian): bytes 0..4095 the state block (``_STATE``), then slot 0 and
slot 1 of ``flash_size_bytes`` each. The active image lives in ``active_slot``; transfers go to
the other slot.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import select
import socket
import struct
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.errors import ConfigError
from wtmkws.firmware_model.spec import ChipSpec, get_chip
from wtmkws.tools.framing import (
    FLAG_EVENT,
    FLAG_RESPONSE,
    BadFrame,
    Frame,
    FrameDecoder,
    LogText,
    encode_frame,
)
from wtmkws.tools.image import ImageError, unpack_image
from wtmkws.tools.protocol import (
    ACTIVATE_REQ,
    AUDIO_RESP,
    BEGIN_REQ,
    BEGIN_RESP,
    DATA_HEAD,
    DATA_RESP,
    END_RESP,
    PROTOCOL_VERSION,
    READ_REQ,
    REGION_ACTIVE,
    SET_BAUD_REQ,
    BoardStatus,
    Command,
    DetectionEvent,
    HelloInfo,
    Status,
    pack_event,
    pack_hello,
    pack_status,
)
from wtmkws.tools.transport import DeviceError

__all__ = ["FaultConfig", "VirtualBoard", "FlashStore", "FlashContents", "read_flash"]

log = logging.getLogger(__name__)

_STATE = struct.Struct("<8sIBI32sI32sIB")
_STATE_MAGIC = b"WTMKFLSH"
_STATE_BYTES = 4096
_BITS_PER_BYTE = 10
_GARBAGE_WORDS = ("dbg", "adc", "cal", "temp=41C", "vdd=1.79", "irq", "npu", "tick", "wdt", "ok")


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Seeded fault injection on the virtual board's link (all probabilities in 0..1)."""

    drop_byte_prob: float = 0.0
    """Each received byte is lost with this probability."""
    bit_flip_prob: float = 0.0
    """Each received byte has one bit flipped with this probability."""
    corrupt_frame_prob: float = 0.0
    """Each received frame has one bit flipped with this probability (wire corruption)."""
    lost_ack_prob: float = 0.0
    """Each answer the board sends is lost with this probability."""
    duplicate_frame_prob: float = 0.0
    """Each answer the board sends is sent twice with this probability."""
    garbage_log_prob: float = 0.0
    """Before each answer, a line of log text is printed with this probability."""
    stall_prob: float = 0.0
    """Before each answer, the board stalls for ``stall_s`` with this probability."""
    stall_s: float = 0.2
    """Length of one stall in seconds."""
    disconnect_at_byte: int | None = None
    """After receiving this many bytes the link drops (once per board), like an unplug."""

    def __post_init__(self) -> None:
        for name in ("drop_byte_prob", "bit_flip_prob", "corrupt_frame_prob", "lost_ack_prob",
                     "duplicate_frame_prob", "garbage_log_prob", "stall_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"fault {name}={v} outside 0..1")
        if self.stall_s < 0:
            raise ConfigError(f"fault stall_s={self.stall_s} is negative")
        if self.disconnect_at_byte is not None and self.disconnect_at_byte < 0:
            raise ConfigError(f"fault disconnect_at_byte={self.disconnect_at_byte} is negative")


@dataclass(frozen=True, kw_only=True)
class FlashContents:
    """What a flash file holds."""

    active: bytes
    """The active image bytes (b"" when none)."""
    active_sha256: str
    """Hex SHA-256 recorded for the active image."""
    staging_size: int
    """Size of the transfer in progress (0: none)."""
    staging_held: int
    """Contiguous bytes of it written."""
    staging_sha256: str
    """Hex SHA-256 of the transfer in progress."""
    staging_verified: bool
    """The staged image passed END."""


class FlashStore:
    """The board's flash, kept in one file: a state block and two image slots.

    Args:
        path: the flash file (created when missing).
        flash_size_bytes: bytes of one slot.
    """

    def __init__(self, path: str | Path, *, flash_size_bytes: int) -> None:
        self.path = Path(path)
        self.flash_size = int(flash_size_bytes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        total = _STATE_BYTES + 2 * self.flash_size
        if os.fstat(self._fd).st_size < total:
            os.ftruncate(self._fd, total)
        raw = os.pread(self._fd, _STATE.size, 0)
        self.active_slot = 0
        self.active_size = 0
        self.active_sha = b"\x00" * 32
        self.staging_size = 0
        self.staging_sha = b"\x00" * 32
        self.staging_held = 0
        self.staging_verified = False
        if len(raw) == _STATE.size:
            (magic, _ver, slot, asize, asha, ssize, ssha, held, verified) = _STATE.unpack(raw)
            if magic == _STATE_MAGIC and slot in (0, 1) and asize <= self.flash_size and (
                ssize <= self.flash_size and held <= ssize
            ):
                self.active_slot, self.active_size, self.active_sha = slot, asize, asha
                self.staging_size, self.staging_sha, self.staging_held = ssize, ssha, held
                self.staging_verified = bool(verified)
        self._save()

    def _save(self) -> None:
        os.pwrite(self._fd, _STATE.pack(_STATE_MAGIC, 1, self.active_slot, self.active_size,
                                        self.active_sha, self.staging_size, self.staging_sha,
                                        self.staging_held, int(self.staging_verified)), 0)

    def _slot_offset(self, slot: int) -> int:
        return _STATE_BYTES + slot * self.flash_size

    @property
    def staging_slot(self) -> int:
        """Slot receiving transfers."""
        return 1 - self.active_slot

    def begin(self, size: int, sha: bytes) -> int:
        """Start or resume a transfer; returns the bytes already held for this hash."""
        if sha != self.staging_sha or size != self.staging_size:
            self.staging_size, self.staging_sha = size, sha
            self.staging_held, self.staging_verified = 0, False
            self._save()
        return self.staging_held

    def write(self, offset: int, data: bytes) -> None:
        """Write staged bytes at ``offset`` (the caller keeps them contiguous)."""
        os.pwrite(self._fd, data, self._slot_offset(self.staging_slot) + offset)
        self.staging_held = max(self.staging_held, offset + len(data))
        self._save()

    def read(self, slot: int, offset: int, length: int) -> bytes:
        """Bytes of a slot."""
        return os.pread(self._fd, length, self._slot_offset(slot) + offset)

    def discard_staging(self) -> None:
        """Forget the transfer in progress (after a hash or format failure)."""
        self.staging_held, self.staging_verified = 0, False
        self.staging_size, self.staging_sha = 0, b"\x00" * 32
        self._save()

    def mark_verified(self) -> None:
        """Record that the staged image passed END."""
        self.staging_verified = True
        self._save()

    def activate(self) -> None:
        """Make the verified staged image the active one."""
        self.active_slot = self.staging_slot
        self.active_size, self.active_sha = self.staging_size, self.staging_sha
        self.staging_size, self.staging_sha = 0, b"\x00" * 32
        self.staging_held, self.staging_verified = 0, False
        self._save()

    def active_image(self) -> bytes:
        """The active image bytes (b"" when none)."""
        return self.read(self.active_slot, 0, self.active_size) if self.active_size else b""

    def contents(self) -> FlashContents:
        """A snapshot of the flash."""
        return FlashContents(
            active=self.active_image(),
            active_sha256=self.active_sha.hex() if self.active_size else "",
            staging_size=self.staging_size, staging_held=self.staging_held,
            staging_sha256=self.staging_sha.hex() if self.staging_size else "",
            staging_verified=self.staging_verified,
        )

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_flash(path: str | Path, *, flash_size_bytes: int = 4 << 20) -> FlashContents:
    """Read a board flash file (for tests and benchmarks: did the image land exactly?)."""
    store = FlashStore(path, flash_size_bytes=flash_size_bytes)
    try:
        return store.contents()
    finally:
        store.close()


class _Closed(Exception):
    """The link went away (client closed the socket, or a disconnect fault)."""


class _FdLink:
    """Non-blocking byte link over a file descriptor or socket."""

    def __init__(self, *, fd: int | None = None, sock: socket.socket | None = None) -> None:
        self.fd = fd
        self.sock = sock
        if sock is not None:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        else:
            os.set_blocking(fd, False)

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else self.fd

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        r, _, _ = select.select([self.fileno()], [], [], timeout_s)
        if not r:
            return b""
        try:
            if self.sock is not None:
                data = self.sock.recv(max_bytes)
                if not data:
                    raise _Closed()
                return data
            return os.read(self.fd, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # pty: no reader on the other side right now
                time.sleep(timeout_s)
                return b""
            raise _Closed() from None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        while view:
            try:
                n = self.sock.send(view) if self.sock is not None else os.write(self.fd, view)
                view = view[n:]
            except (BlockingIOError, InterruptedError):
                if time.monotonic() > deadline:  # nobody reads: a UART would just lose it
                    return
                select.select([], [self.fileno()], [], 0.05)
            except OSError:
                raise _Closed() from None

    def close(self) -> None:
        try:
            if self.sock is not None:
                self.sock.close()
            elif self.fd is not None:
                os.close(self.fd)
        except OSError:
            pass


class VirtualBoard:
    """A protocol-speaking board with persistent flash, pacing, inference and fault injection.

    Args:
        flash_file: the flash file (survives restarts).
        baud: initial line rate in bits/s (pacing; 0 disables pacing).
        faults: fault injection, or None for a clean link.
        seed: seed of the fault generator.
        chip: chip name from the registry.
        revision: silicon revision reported in HELLO.
        flash_size_bytes: bytes of one image slot.
        max_payload: largest DATA payload in bytes.
        window: DATA frames in flight the board accepts.
        protocol_version: version in the frames it sends (tests use another to check errors).
        audio: optional int16 samples (16 kHz mono) played through the active program in real
            time once per session (from the first HELLO).
    """

    def __init__(
        self,
        flash_file: str | Path,
        *,
        baud: int = 115200,
        faults: FaultConfig | None = None,
        seed: int = 0,
        chip: str = "WTM2101",
        revision: int = 0,
        flash_size_bytes: int = 4 << 20,
        max_payload: int = 4096,
        window: int = 8,
        protocol_version: int = PROTOCOL_VERSION,
        audio: np.ndarray | None = None,
    ) -> None:
        self.spec: ChipSpec = get_chip(chip)
        if not self.spec.revision_min <= revision <= self.spec.revision_max:
            raise ConfigError(f"revision {revision} outside {self.spec.name}'s "
                              f"{self.spec.revision_min}..{self.spec.revision_max}")
        if baud < 0:
            raise ConfigError(f"board baud={baud} is negative")
        if not 16 <= max_payload <= 16384:
            raise ConfigError(f"board max_payload={max_payload} outside 16..16384")
        self.flash = FlashStore(flash_file, flash_size_bytes=flash_size_bytes)
        self.initial_baud = int(baud)
        self.baud = int(baud)
        self.faults = faults or FaultConfig()
        self._rng = np.random.default_rng(seed)
        self.revision = revision
        self.max_payload = max_payload
        self.window = window
        self.protocol_version = protocol_version
        self.audio = None if audio is None else np.asarray(audio, dtype=np.int16)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None
        self._link: _FdLink | None = None
        self._slave_fd: int | None = None
        self._t_start = time.monotonic()
        self.url = ""
        """What a client opens: the pty path or ``socket://host:port``."""
        self.frames_ok = 0
        self.frames_bad = 0
        self.naks = 0
        self.events_sent = 0
        self.bytes_received = 0
        self.disconnects = 0
        self.logs: list[str] = []
        """Log lines the board printed (for tests)."""
        self._disconnect_armed = self.faults.disconnect_at_byte is not None
        self._engine: Any = None
        self._program: Any = None
        self._load_active()

    # ------------------------------------------------------------------------------------------
    # lifecycle

    def serve_pty(self) -> str:
        """Create a pseudo-terminal, serve it in a background thread, return the path to open."""
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self._slave_fd = slave
        self._link = _FdLink(fd=master)
        self.url = os.ttyname(slave)
        self._thread = threading.Thread(target=self._run_pty, name="wtmkws-board-pty",
                                        daemon=True)
        self._thread.start()
        return self.url

    def serve_socket(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on TCP, serve connections one at a time in a background thread.

        Returns:
            The ``socket://host:port`` URL (port 0 picks a free port).

        Raises:
            DeviceError: the address cannot be bound.
        """
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            lst.bind((host, port))
        except OSError as exc:
            lst.close()
            raise DeviceError(f"board cannot listen on {host}:{port}: {exc.strerror}",
                              hint="pick another port or stop the program using it") from None
        lst.listen(1)
        lst.settimeout(0.05)
        self._listener = lst
        self.url = f"socket://{host}:{lst.getsockname()[1]}"
        self._thread = threading.Thread(target=self._run_socket, name="wtmkws-board-socket",
                                        daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving, join the thread and close every descriptor (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for closer in (self._link, self._listener):
            if closer is not None:
                closer.close()
        self._link = None
        self._listener = None
        self._close_slave()
        self.flash.close()

    def _close_slave(self) -> None:
        """Close the pty's slave end (the board's side of the cable) if it is still open."""
        if self._slave_fd is not None:
            try:
                os.close(self._slave_fd)
            except OSError:
                pass
            self._slave_fd = None

    def __enter__(self) -> VirtualBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """The serving thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until the serving thread ends (a pty board ends on a disconnect fault)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run_pty(self) -> None:
        link = self._link
        assert link is not None
        try:
            self._session(link)
        except _Closed:
            pass
        except Exception:  # a board bug must not hang the client silently
            log.exception("virtual board crashed")
        if not self._stop.is_set():  # unplugged: the pty disappears
            link.close()
            self._link = None
            self._close_slave()

    def _run_socket(self) -> None:
        lst = self._listener
        assert lst is not None
        while not self._stop.is_set():
            try:
                conn, _ = lst.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            link = _FdLink(sock=conn)
            self._link = link
            try:
                self._session(link)
            except _Closed:
                pass
            except Exception:
                log.exception("virtual board crashed")
            finally:
                link.close()
                self._link = None

    # ------------------------------------------------------------------------------------------
    # the session loop: read, pace, inject faults, decode, answer

    def _session(self, link: _FdLink) -> None:
        self.baud = self.initial_baud
        decoder = FrameDecoder()
        self._rx_clock = time.monotonic()
        self._tx_clock = time.monotonic()
        self._session_bytes = 0
        self._audio_t0: float | None = None
        self._audio_pos = 0
        self._audio_cache: tuple[Any, bytes] | None = None
        self._say(link, f"wtmkws virtual board {self.spec.name} rev {self.revision} ready")
        # A reader thread timestamps bytes as they arrive, so pacing charges wire time from the
        # moment bytes reach the board, not from when the (possibly busy) board gets to them.
        inbox: queue.Queue[tuple[float, bytes] | None] = queue.Queue()
        done = threading.Event()

        def reader() -> None:
            try:
                while not (done.is_set() or self._stop.is_set()):
                    chunk = link.read(65536, 0.05)
                    if chunk:
                        inbox.put((time.monotonic(), chunk))
            except _Closed:
                pass
            inbox.put(None)

        thread = threading.Thread(target=reader, name="wtmkws-board-rx", daemon=True)
        thread.start()
        try:
            while not self._stop.is_set():
                try:
                    item = inbox.get(timeout=0.05)
                except queue.Empty:
                    self._play_audio(link)
                    continue
                if item is None:
                    raise _Closed()
                arrived, chunk = item
                self._rx_clock = max(self._rx_clock, arrived)
                self._receive(link, decoder, chunk)
                self._play_audio(link)
        finally:
            done.set()
            thread.join(timeout=1)

    def _receive(self, link: _FdLink, decoder: FrameDecoder, chunk: bytes) -> None:
        f = self.faults
        pos = 0
        while pos < len(chunk):
            end = chunk.find(0, pos)
            piece = chunk[pos:] if end < 0 else chunk[pos:end + 1]
            pos += len(piece)
            self.bytes_received += len(piece)
            self._session_bytes += len(piece)
            if self.baud:
                self._rx_clock += len(piece) * _BITS_PER_BYTE / self.baud
                delay = self._rx_clock - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            piece = self._rx_faults(piece, decoder)
            for item in decoder.feed(piece):
                if isinstance(item, Frame):
                    self.frames_ok += 1
                    self._dispatch(link, item)
                elif isinstance(item, BadFrame):
                    self.frames_bad += 1
                elif isinstance(item, LogText):  # text from the host: ignore, count as noise
                    self.frames_bad += 1
            if self._disconnect_armed and self.bytes_received >= (f.disconnect_at_byte or 0):
                self._disconnect_armed = False
                self.disconnects += 1
                raise _Closed()

    def _rx_faults(self, piece: bytes, decoder: FrameDecoder) -> bytes:
        f = self.faults
        if not (f.drop_byte_prob or f.bit_flip_prob or f.corrupt_frame_prob):
            return piece
        arr = np.frombuffer(piece, dtype=np.uint8).copy()
        if f.bit_flip_prob:
            flips = np.flatnonzero(self._rng.random(arr.size) < f.bit_flip_prob)
            arr[flips] ^= (1 << self._rng.integers(0, 8, size=flips.size)).astype(np.uint8)
        if f.corrupt_frame_prob and arr.size > 2 and piece.endswith(b"\x00") and (
            self._rng.random() < f.corrupt_frame_prob
        ):
            i = int(self._rng.integers(0, arr.size - 1))
            arr[i] ^= np.uint8(1 << int(self._rng.integers(0, 8)))
        if f.drop_byte_prob:
            arr = arr[self._rng.random(arr.size) >= f.drop_byte_prob]
        return arr.tobytes()

    # ------------------------------------------------------------------------------------------
    # sending

    def _send_raw(self, link: _FdLink, data: bytes) -> None:
        if self.baud:
            now = time.monotonic()
            self._tx_clock = max(self._tx_clock, now) + len(data) * _BITS_PER_BYTE / self.baud
            delay = self._tx_clock - now
            if delay > 0:
                time.sleep(delay)
        link.write(data)

    def _say(self, link: _FdLink, text: str) -> None:
        self.logs.append(text)
        self._send_raw(link, text.encode("utf-8") + b"\n\x00")

    def _send_frame(self, link: _FdLink, wire: bytes, *, response: bool) -> None:
        f = self.faults
        if f.garbage_log_prob and self._rng.random() < f.garbage_log_prob:
            words = self._rng.choice(_GARBAGE_WORDS, size=int(self._rng.integers(1, 6)))
            self._say(link, "[log] " + " ".join(str(w) for w in words))
        if f.stall_prob and self._rng.random() < f.stall_prob:
            time.sleep(f.stall_s)
        if response and f.lost_ack_prob and self._rng.random() < f.lost_ack_prob:
            return
        self._send_raw(link, wire)
        if f.duplicate_frame_prob and self._rng.random() < f.duplicate_frame_prob:
            self._send_raw(link, wire)

    def _respond(self, link: _FdLink, req: Frame, status: int, payload: bytes = b"") -> bytes:
        wire = encode_frame(Frame(version=self.protocol_version, command=req.command, seq=req.seq,
                                  status=int(status), flags=FLAG_RESPONSE, payload=payload))
        self._send_frame(link, wire, response=True)
        return wire

    def _event_wire(self, ev: DetectionEvent) -> bytes:
        self._event_seq = (getattr(self, "_event_seq", 0) + 1) & 0xFFFF
        return encode_frame(Frame(version=self.protocol_version, command=Command.EVENT,
                                  seq=self._event_seq, flags=FLAG_EVENT, payload=pack_event(ev)))

    # ------------------------------------------------------------------------------------------
    # commands

    def _dispatch(self, link: _FdLink, req: Frame) -> None:
        if req.is_response or req.is_event:
            return
        if req.version != self.protocol_version:
            self._respond(link, req, Status.UNSUPPORTED_VERSION)
            return
        handler = {
            Command.HELLO: self._hello, Command.SET_BAUD: self._set_baud,
            Command.BEGIN: self._begin, Command.DATA: self._data, Command.END: self._end,
            Command.READ: self._read, Command.ACTIVATE: self._activate,
            Command.RESET: self._reset, Command.STATUS: self._status, Command.AUDIO: self._audio,
        }.get(req.command)
        if handler is None:
            self._respond(link, req, Status.UNKNOWN_COMMAND)
            return
        handler(link, req)

    def hello_info(self) -> HelloInfo:
        """What HELLO answers."""
        return HelloInfo(
            protocol_version=self.protocol_version, chip_id=self.spec.chip_id,
            chip_name=self.spec.name, revision=self.revision, max_payload=self.max_payload,
            window=self.window, flash_size=self.flash.flash_size, baud=self.baud,
            active_size=self.flash.active_size,
            active_sha256=self.flash.active_sha.hex() if self.flash.active_size else "",
        )

    def _hello(self, link: _FdLink, req: Frame) -> None:
        self._audio_cache = None
        if self.audio is not None and self._audio_t0 is None:
            self._audio_t0 = time.monotonic()
        self._respond(link, req, Status.OK, pack_hello(self.hello_info()))

    def _set_baud(self, link: _FdLink, req: Frame) -> None:
        if len(req.payload) != SET_BAUD_REQ.size:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        (baud,) = SET_BAUD_REQ.unpack(req.payload)
        if not 1200 <= baud <= 12_000_000:
            self._respond(link, req, Status.BAD_BAUD, SET_BAUD_REQ.pack(self.baud))
            return
        self._respond(link, req, Status.OK, SET_BAUD_REQ.pack(baud))
        self.baud = baud  # after the answer went out at the old rate

    def _begin(self, link: _FdLink, req: Frame) -> None:
        if len(req.payload) != BEGIN_REQ.size:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        size, sha = BEGIN_REQ.unpack(req.payload)
        if size > self.flash.flash_size or size == 0:
            self._respond(link, req, Status.TOO_LARGE, BEGIN_RESP.pack(0))
            return
        held = self.flash.begin(size, sha)
        if held:
            self.logs.append(f"resuming transfer of {size} bytes at {held}")
        self._respond(link, req, Status.OK, BEGIN_RESP.pack(held))

    def _data(self, link: _FdLink, req: Frame) -> None:
        fl = self.flash
        if len(req.payload) < DATA_HEAD.size:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        (offset,) = DATA_HEAD.unpack_from(req.payload, 0)
        data = req.payload[DATA_HEAD.size:]
        if not fl.staging_size or fl.staging_verified:
            self._respond(link, req, Status.BAD_STATE, DATA_RESP.pack(offset, fl.staging_held))
            return
        if offset + len(data) > fl.staging_size or len(data) > self.max_payload:
            self._respond(link, req, Status.BAD_RANGE, DATA_RESP.pack(offset, fl.staging_held))
            return
        if offset > fl.staging_held:
            self.naks += 1
            self._respond(link, req, Status.OUT_OF_ORDER, DATA_RESP.pack(offset, fl.staging_held))
            return
        if offset + len(data) > fl.staging_held:  # new bytes (a duplicate just gets re-acked)
            try:
                fl.write(offset, data)
            except OSError:
                self._respond(link, req, Status.FLASH_ERROR, DATA_RESP.pack(offset, fl.staging_held))
                return
        self._respond(link, req, Status.OK, DATA_RESP.pack(offset, fl.staging_held))

    def _staged(self) -> bytes:
        return self.flash.read(self.flash.staging_slot, 0, self.flash.staging_size)

    def _end(self, link: _FdLink, req: Frame) -> None:
        fl = self.flash
        if not fl.staging_size or fl.staging_held != fl.staging_size:
            self._respond(link, req, Status.BAD_STATE, END_RESP.pack(fl.staging_held, b"\x00" * 32))
            return
        data = self._staged()
        digest = hashlib.sha256(data).digest()
        if fl.staging_verified:
            self._respond(link, req, Status.OK, END_RESP.pack(len(data), digest))
            return
        if digest != fl.staging_sha:
            self.logs.append("END: SHA-256 mismatch, staged image discarded")
            fl.discard_staging()
            self._respond(link, req, Status.HASH_MISMATCH, END_RESP.pack(len(data), digest))
            return
        try:
            unpack_image(data, chip=self.spec.name)
        except ImageError as exc:
            self._say(link, f"END: image rejected: {exc.message}")
            fl.discard_staging()
            self._respond(link, req, Status.BAD_IMAGE, END_RESP.pack(len(data), digest))
            return
        fl.mark_verified()
        self._respond(link, req, Status.OK, END_RESP.pack(len(data), digest))

    def _read(self, link: _FdLink, req: Frame) -> None:
        if len(req.payload) != READ_REQ.size:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        region, offset, length = READ_REQ.unpack(req.payload)
        fl = self.flash
        slot, size = ((fl.active_slot, fl.active_size) if region == REGION_ACTIVE
                      else (fl.staging_slot, fl.staging_held))
        if offset + length > size or length > self.max_payload:
            self._respond(link, req, Status.BAD_RANGE)
            return
        self._respond(link, req, Status.OK, fl.read(slot, offset, length))

    def _activate(self, link: _FdLink, req: Frame) -> None:
        if len(req.payload) != ACTIVATE_REQ.size:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        (sha,) = ACTIVATE_REQ.unpack(req.payload)
        fl = self.flash
        if fl.active_size and sha == fl.active_sha:
            self._respond(link, req, Status.OK)
            return
        if not (fl.staging_verified and sha == fl.staging_sha):
            self._respond(link, req, Status.NOT_VERIFIED)
            return
        fl.activate()
        self._load_active()
        self._say(link, f"activated image {sha.hex()[:16]} ({fl.active_size} bytes)")
        self._respond(link, req, Status.OK)

    def _reset(self, link: _FdLink, req: Frame) -> None:
        self._respond(link, req, Status.OK)
        if self._engine is not None:
            self._engine.reset()
        self.baud = self.initial_baud
        self._audio_t0, self._audio_pos = None, 0
        self._say(link, f"wtmkws virtual board {self.spec.name} rev {self.revision} reset")

    def status_info(self) -> BoardStatus:
        """What STATUS answers."""
        fl = self.flash
        state = "verified" if fl.staging_verified else ("receiving" if fl.staging_size else "idle")
        return BoardStatus(
            state=state, running=self._engine is not None, staging_size=fl.staging_size,
            staging_held=fl.staging_held,
            staging_sha256=fl.staging_sha.hex() if fl.staging_size else "",
            active_size=fl.active_size,
            active_sha256=fl.active_sha.hex() if fl.active_size else "",
            frames_ok=self.frames_ok, frames_bad=self.frames_bad, naks=self.naks, baud=self.baud,
            events_sent=self.events_sent, uptime_s=time.monotonic() - self._t_start,
        )

    def _status(self, link: _FdLink, req: Frame) -> None:
        self._respond(link, req, Status.OK, pack_status(self.status_info()))

    def _audio(self, link: _FdLink, req: Frame) -> None:
        key = (req.seq, hashlib.sha256(req.payload).digest())
        if self._audio_cache is not None and self._audio_cache[0] == key:
            # a retry (our answer was lost): answer again without running the audio twice; the
            # events already went out and are not repeated
            self._send_frame(link, self._audio_cache[1], response=True)
            return
        if len(req.payload) % 2:
            self._respond(link, req, Status.BAD_LENGTH)
            return
        if self._engine is None:
            self._respond(link, req, Status.NO_PROGRAM)
            return
        samples = np.frombuffer(req.payload, dtype="<i2").astype(np.int16)
        events = self._engine.push(samples)
        wire = self._respond(link, req, Status.OK, AUDIO_RESP.pack(samples.size))
        self._emit(link, events)
        self._audio_cache = (key, wire)

    def _emit(self, link: _FdLink, events: list[Any]) -> list[bytes]:
        wires = []
        for ev in events:
            wire = self._event_wire(DetectionEvent(time_s=float(ev.time_s), label=str(ev.label),
                                                   score=float(ev.score)))
            self.events_sent += 1
            self._send_frame(link, wire, response=False)
            wires.append(wire)
        return wires

    @property
    def audio_samples_played(self) -> int:
        """Samples of the board's own audio pushed through the program so far (this session)."""
        return getattr(self, "_audio_pos", 0)

    def _play_audio(self, link: _FdLink) -> None:
        if self.audio is None or self._audio_t0 is None or self._engine is None:
            return
        sr = int(self._program.frontend.get("sample_rate_hz", self.spec.frontend_sample_rate_hz))
        due = min(self.audio.size, int((time.monotonic() - self._audio_t0) * sr))
        if due - self._audio_pos >= sr // 100 or (due == self.audio.size and due > self._audio_pos):
            events = self._engine.push(self.audio[self._audio_pos:due])
            self._audio_pos = due
            self._emit(link, events)

    # ------------------------------------------------------------------------------------------
    # the program

    def _load_active(self) -> None:
        """Load the active image's program into the inference engine (if there is one)."""
        self._engine = None
        self._program = None
        data = self.flash.active_image()
        if not data:
            return
        try:
            up = unpack_image(data, chip=self.spec.name)
        except ImageError as exc:  # cannot happen for images that passed END; keep the board up
            self.logs.append(f"active image unusable: {exc.message}")
            return
        self._program = up.program
        try:
            from wtmkws.firmware_model.engine import DetectorConfig, InferenceEngine
        except ImportError:
            self.logs.append("inference engine unavailable: events disabled")
            return
        detector = up.detector if up.detector is not None else DetectorConfig()
        if isinstance(detector, dict):
            detector = DetectorConfig.from_dict(detector)
        try:
            self._engine = InferenceEngine(up.program, detector)
        except Exception as exc:  # noqa: BLE001 - a program the engine cannot run: report, stay up
            self.logs.append(f"program {up.program.name!r} cannot run: {exc}")
            self._engine = None
