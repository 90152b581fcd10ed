"""The deploy client: HELLO, baud switch, resumable windowed transfer, on-board verify, activate.

:class:`DeployClient` speaks the protocol of ``docs/protocol.md`` over any :class:`Transport`
(see :func:`open_port`). ``flash`` sends an image with a window of DATA frames in flight and
cumulative acknowledgements, goes back to the board's offset on an OUT_OF_ORDER answer or a
timeout (with exponential backoff), resumes from the offset the board already holds for the same
SHA-256, lets the board check the SHA-256 and the image (END), and activates it. Timeouts scale
with the line rate. Progress is reported through ``on_progress(done_bytes, total_bytes)``.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from wtmkws.tools.framing import (
    Frame,
    FrameDecoder,
    LogText,
    ProtocolError,
    encode_frame,
    frame_wire_size,
)
from wtmkws.tools.protocol import (
    ACTIVATE_REQ,
    AUDIO_RESP,
    BEGIN_REQ,
    BEGIN_RESP,
    DATA_HEAD,
    DATA_RESP,
    END_RESP,
    HELLO_REQ,
    PROTOCOL_VERSION,
    READ_REQ,
    REGION_ACTIVE,
    REGION_STAGING,
    SET_BAUD_REQ,
    BoardStatus,
    Command,
    DetectionEvent,
    HelloInfo,
    Status,
    status_text,
    unpack_event,
    unpack_hello,
    unpack_status,
)
from wtmkws.tools.transport import DeviceError, Transport, open_port

__all__ = [
    "DeployClient",
    "FlashResult",
    "BoardInfo",
    "BoardStatusError",
    "open_port",
    "DeviceError",
    "ProtocolError",
]

_BITS_PER_BYTE = 10


class BoardStatusError(ProtocolError):
    """The board answered a request with a non-OK status."""

    def __init__(self, command: int, status: int, *, url: str) -> None:
        text, hint = status_text(status)
        try:
            name = Command(command).name
        except ValueError:
            name = f"0x{command:02x}"
        try:
            sname = Status(status).name
        except ValueError:
            sname = str(status)
        super().__init__(f"board at {url} answered {name} with {sname}: {text}", hint=hint or None)
        self.command = command
        self.status = status


@dataclass(frozen=True, kw_only=True)
class FlashResult:
    """The outcome of one flash."""

    image_bytes: int
    """Image size."""
    sent_bytes: int
    """DATA payload bytes sent (resends included)."""
    seconds: float
    """Wall time from BEGIN to the end of ACTIVATE (verify included)."""
    bytes_per_s: float
    """Image bytes transferred this time (size - resumed_from) per second."""
    line_rate_pct: float
    """``bytes_per_s`` as % of the line rate (baud / 10 bytes/s)."""
    baud: int
    """Line rate used (bits/s)."""
    resumed_from: int
    """Offset the board already held (0: fresh transfer)."""
    retries: int
    """Go-backs and timeouts during the transfer."""
    resent_bytes: int
    """Payload bytes sent more than once."""
    skipped: bool
    """True when the same image was already active (nothing sent)."""
    sha256: str
    """Hex SHA-256 of the image."""

    def summary(self) -> str:
        """One line: bytes, seconds, rate, % of line rate."""
        if self.skipped:
            return f"image {self.sha256[:16]} already active: skipped"
        resumed = f", resumed at {self.resumed_from}" if self.resumed_from else ""
        return (f"wrote {self.image_bytes} bytes in {self.seconds:.2f} s "
                f"({self.bytes_per_s / 1000:.1f} kB/s, {self.line_rate_pct:.1f}% of "
                f"{self.baud} baud line rate{resumed}, {self.retries} retries), verified, active")


@dataclass(frozen=True, kw_only=True)
class BoardInfo:
    """HELLO and STATUS together (``wtmkws info``)."""

    url: str
    """Port URL."""
    hello: HelloInfo
    """Identity and limits."""
    status: BoardStatus
    """State and counters."""


def _seq_after(a: int, b: int) -> bool:
    """True when sequence number ``a`` is at or after ``b`` (16-bit serial arithmetic)."""
    return ((a - b) & 0xFFFF) < 0x8000


class DeployClient:
    """Talks to a board over a transport.

    Args:
        port: the transport (``open_port(url, baud=...)``).
        max_payload: largest DATA payload to use (the board's limit from HELLO also applies).
        window: DATA frames in flight (the board's limit also applies); None = the board's.
        retries: attempts per request / consecutive timeouts in a transfer before giving up.
        backoff_s: first backoff after a timeout; doubles on each consecutive one.
        latency_s: fixed allowance per round trip on top of the wire time (host and board
            scheduling); timeouts are wire time at the current baud plus this.
        on_log: callback for device log lines seen between frames.
    """

    def __init__(
        self,
        port: Transport,
        *,
        max_payload: int = 4096,
        window: int | None = None,
        retries: int = 4,
        backoff_s: float = 0.05,
        latency_s: float = 0.3,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        self.port = port
        self.max_payload = max_payload
        self.window = window
        self.retries = retries
        self.backoff_s = backoff_s
        self.latency_s = latency_s
        self.on_log = on_log
        self._decoder = FrameDecoder()
        self._seq = 0
        self._pending: deque[Frame] = deque()
        self._events: deque[DetectionEvent] = deque()
        self._last_event_seq: int | None = None
        self.logs: list[str] = []
        """Device log lines seen so far."""
        self.bad_frames = 0
        """Corrupted frames received."""
        self.board: HelloInfo | None = None
        """The last HELLO answer."""
        self.initial_baud = port.baudrate
        self.sent_until = 0
        """Highest image offset sent in the last transfer (for resume accounting)."""

    # ------------------------------------------------------------------------------------------
    # frame I/O

    @property
    def baud(self) -> int:
        """The line rate in use (the board's pacing rate for socket links)."""
        return self.board.baud if self.board is not None else self.port.baudrate

    def _wire_s(self, n_bytes: int) -> float:
        return n_bytes * _BITS_PER_BYTE / max(self.baud, 1)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFF
        return self._seq

    def _send(self, command: int, seq: int, payload: bytes) -> None:
        self.port.write(encode_frame(Frame(version=PROTOCOL_VERSION, command=command, seq=seq,
                                           payload=payload)))

    def _poll(self, timeout_s: float) -> Frame | None:
        """The next frame from the board within ``timeout_s`` (logs and events handled)."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._pending:
                frame = self._pending.popleft()
                if frame.is_event:
                    if frame.seq != self._last_event_seq:  # a repeated frame is one event
                        self._last_event_seq = frame.seq
                        self._events.append(unpack_event(frame.payload))
                    continue
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            data = self.port.read(65536, min(remaining, 0.05))
            for item in self._decoder.feed(data):
                if isinstance(item, Frame):
                    if item.version != PROTOCOL_VERSION:
                        raise ProtocolError(
                            f"board at {self.port.url} speaks protocol version {item.version}; "
                            f"this wtmkws speaks version {PROTOCOL_VERSION}",
                            hint="use a wtmkws release matching the board firmware (or update "
                                 "the board)")
                    self._pending.append(item)
                elif isinstance(item, LogText):
                    self.logs.append(item.text)
                    if self.on_log:
                        self.on_log(item.text)
                else:
                    self.bad_frames += 1

    def request(self, command: int, payload: bytes = b"", *, timeout_s: float | None = None,
                tries: int | None = None, check: bool = True) -> Frame:
        """Send a request and wait for its answer, retrying with backoff on timeouts.

        Args:
            command: opcode.
            payload: request payload.
            timeout_s: wait per try; default wire time of request and answer plus latency.
            tries: attempts (default ``retries``).
            check: raise :class:`BoardStatusError` for a non-OK status.

        Returns:
            The response frame.

        Raises:
            DeviceError: no answer after every try.
            BoardStatusError: non-OK status (when ``check``).
            ProtocolError: the board speaks another protocol version.
        """
        seq = self._next_seq()
        tries = tries or self.retries
        if timeout_s is None:
            timeout_s = self.latency_s + self._wire_s(frame_wire_size(len(payload)) +
                                                      frame_wire_size(self.max_payload))
        waited = 0.0
        for attempt in range(tries):
            self._send(command, seq, payload)
            deadline = time.monotonic() + timeout_s
            while True:
                frame = self._poll(max(0.0, deadline - time.monotonic()))
                if frame is None:
                    break
                if frame.is_response and frame.command == command and frame.seq == seq:
                    if check and frame.status != Status.OK:
                        raise BoardStatusError(command, frame.status, url=self.port.url)
                    return frame
            waited += timeout_s
            if attempt + 1 < tries:
                pause = self.backoff_s * 2**attempt
                time.sleep(pause)
                waited += pause
        name = Command(command).name if command in Command._value2member_map_ else hex(command)
        raise DeviceError(
            f"no answer from the board at {self.port.url} to {name} after {tries} tries "
            f"({waited:.1f} s at {self.baud} baud)",
            hint="check the port (`wtmkws ports`), the baud rate, and that the board is powered "
                 "and running its loader")

    # ------------------------------------------------------------------------------------------
    # commands

    def hello(self, *, tries: int | None = None) -> HelloInfo:
        """Identify the board (HELLO); sets ``board``.

        Raises:
            DeviceError: no answer.
            ProtocolError: another protocol version.
        """
        frame = self.request(Command.HELLO, HELLO_REQ.pack(PROTOCOL_VERSION, self.max_payload),
                             tries=tries)
        info = unpack_hello(frame.payload)
        if info.protocol_version != PROTOCOL_VERSION:
            raise ProtocolError(f"board at {self.port.url} reports protocol version "
                                f"{info.protocol_version}; this wtmkws speaks {PROTOCOL_VERSION}",
                                hint="use a wtmkws release matching the board firmware")
        self.board = info
        return info

    def set_baud(self, baud: int) -> None:
        """Switch the line rate: the board answers at the old rate, then both sides switch.

        Raises:
            BoardStatusError: the board rejects the rate.
            DeviceError: no answer, or the port rejects the rate.
        """
        self.request(Command.SET_BAUD, SET_BAUD_REQ.pack(baud))
        self.port.set_baudrate(baud)
        if self.board is not None:
            self.board = replace(self.board, baud=baud)
        self.hello()  # confirm at the new rate

    def begin(self, size: int, sha256: bytes) -> int:
        """Announce an image; returns the offset the board already holds for this hash."""
        frame = self.request(Command.BEGIN, BEGIN_REQ.pack(size, sha256))
        (held,) = BEGIN_RESP.unpack_from(frame.payload, 0)
        return int(held)

    def end(self, size: int) -> str:
        """Ask the board to check the staged image; returns the SHA-256 it computed (hex).

        Raises:
            BoardStatusError: HASH_MISMATCH or BAD_IMAGE (the board discards the image).
        """
        timeout = self.latency_s * 4 + size / 20e6 + 1.0
        frame = self.request(Command.END, timeout_s=timeout)
        _, sha = END_RESP.unpack_from(frame.payload, 0)
        return sha.hex()

    def activate(self, sha256: bytes, size: int = 0) -> None:
        """Make the verified staged image active (the board loads and runs it)."""
        self.request(Command.ACTIVATE, ACTIVATE_REQ.pack(sha256),
                     timeout_s=self.latency_s * 4 + size / 5e6 + 2.0)

    def reset(self) -> None:
        """Restart the board; the line rate goes back to the one the port was opened with."""
        self.request(Command.RESET)
        self.port.set_baudrate(self.initial_baud)
        if self.board is not None:
            self.board = replace(self.board, baud=self.initial_baud)

    def status(self) -> BoardStatus:
        """Board state and counters."""
        return unpack_status(self.request(Command.STATUS).payload)

    def info(self) -> BoardInfo:
        """HELLO and STATUS."""
        hello = self.hello()
        return BoardInfo(url=self.port.url, hello=hello, status=self.status())

    def read(self, offset: int, length: int, *, region: int = REGION_ACTIVE,
             on_progress: Callable[[int, int], None] | None = None) -> bytes:
        """Read flash bytes back (chunks of the board's max payload)."""
        chunk = min(self.max_payload, self.board.max_payload if self.board else self.max_payload)
        out = bytearray()
        while len(out) < length:
            n = min(chunk, length - len(out))
            frame = self.request(Command.READ, READ_REQ.pack(region, offset + len(out), n))
            out += frame.payload
            if on_progress:
                on_progress(len(out), length)
        return bytes(out)

    def send_audio(self, samples: np.ndarray, *, chunk_samples: int | None = None) -> int:
        """Send int16 samples to the active program; events arrive through :meth:`events`.

        Returns:
            Samples the board consumed.
        """
        x = np.asarray(samples, dtype=np.int16).astype("<i2")
        limit = (self.board.max_payload if self.board else self.max_payload) // 2
        step = min(chunk_samples or limit, limit)
        done = 0
        for i in range(0, x.size, step):
            frame = self.request(Command.AUDIO, x[i:i + step].tobytes(),
                                 timeout_s=self.latency_s * 4 + 2.0)
            done += AUDIO_RESP.unpack_from(frame.payload, 0)[0]
        return done

    def events(self, *, idle_timeout_s: float | None = None,
               include_logs: bool = False) -> Iterator[DetectionEvent | LogText]:
        """Detection events (and optionally log lines) as they arrive.

        Args:
            idle_timeout_s: stop after this many seconds without anything; None = never.
            include_logs: also yield :class:`LogText` for device log lines.

        Yields:
            Events (and log lines) in arrival order.
        """
        seen_logs = len(self.logs)
        last = time.monotonic()
        while True:
            while self._events:
                last = time.monotonic()
                yield self._events.popleft()
            if include_logs and len(self.logs) > seen_logs:
                for text in self.logs[seen_logs:]:
                    yield LogText(text=text)
                seen_logs = len(self.logs)
                last = time.monotonic()
            if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                return
            frame = self._poll(0.05)
            if frame is not None:
                last = time.monotonic()  # a stray response: ignore

    # ------------------------------------------------------------------------------------------
    # flash

    def flash(
        self,
        image: bytes,
        *,
        baud: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        force: bool = False,
        activate: bool = True,
        verify_readback: bool = False,
        restore_baud: bool = False,
    ) -> FlashResult:
        """Send an image, let the board verify it, and activate it.

        Args:
            image: the image bytes (``pack_image``).
            baud: switch to this line rate after HELLO (None: keep the current one).
            on_progress: ``(done_bytes, total_bytes)`` callback.
            force: send even when the board already runs this image.
            activate: activate after the board verified it.
            verify_readback: also read the staged image back and compare (doubles the time).
            restore_baud: switch the board back to the rate the port was opened with at the end
                (leaves the board as found, for the next tool that connects at that rate).

        Returns:
            The flash result (rate, % of line rate, resume offset, retries).

        Raises:
            DeviceError: port failure, no answer, image too large for the board.
            BoardStatusError: the board rejected the image (hash or format).
            ProtocolError: another protocol version.
        """
        if self.board is None:
            self.hello()
        assert self.board is not None
        digest = hashlib.sha256(image).digest()
        size = len(image)
        if not force and self.board.active_sha256 == digest.hex():
            if on_progress:
                on_progress(size, size)
            return FlashResult(image_bytes=size, sent_bytes=0, seconds=0.0, bytes_per_s=0.0,
                               line_rate_pct=0.0, baud=self.baud, resumed_from=size, retries=0,
                               resent_bytes=0, skipped=True, sha256=digest.hex())
        if baud is not None and baud != self.baud:
            self.set_baud(baud)
        if size > self.board.flash_size:
            raise DeviceError(f"image of {size} bytes does not fit the board's "
                              f"{self.board.flash_size}-byte flash slot",
                              hint="use a smaller program or a board with more flash")
        t0 = time.monotonic()
        resumed = self.begin(size, digest)
        stats = {"sent": 0, "resent": 0, "retries": 0}
        self._transfer(image, resumed, stats, on_progress)
        try:
            self.end(size)
        except BoardStatusError as exc:
            if exc.status != Status.HASH_MISMATCH:
                raise
            stats["retries"] += 1  # the board discarded it: one clean retry from 0
            self.begin(size, digest)
            self._transfer(image, 0, stats, on_progress)
            self.end(size)
        if verify_readback:
            back = self.read(0, size, region=REGION_STAGING)
            if back != image:
                raise DeviceError(f"read-back of {size} bytes differs from the image",
                                  hint="flash again; check the cable")
        if activate:
            self.activate(digest, size)
            self.board = replace(self.board, active_size=size, active_sha256=digest.hex())
        seconds = time.monotonic() - t0
        rate = (size - resumed) / seconds if seconds > 0 else 0.0
        used_baud = self.baud
        if restore_baud and used_baud != self.initial_baud:
            self.set_baud(self.initial_baud)
        return FlashResult(
            image_bytes=size, sent_bytes=stats["sent"], seconds=seconds, bytes_per_s=rate,
            line_rate_pct=100.0 * rate / (used_baud / _BITS_PER_BYTE), baud=used_baud,
            resumed_from=resumed, retries=stats["retries"], resent_bytes=stats["resent"],
            skipped=False, sha256=digest.hex(),
        )

    def _transfer(self, image: bytes, start: int, stats: dict[str, int],
                  on_progress: Callable[[int, int], None] | None) -> None:
        """Windowed DATA with cumulative acks and go-back-N from the board's offset."""
        assert self.board is not None
        size = len(image)
        payload = max(16, min(self.max_payload, self.board.max_payload))
        window = max(1, min(self.window or self.board.window, self.board.window))
        ack_timeout = self.latency_s + 2 * self._wire_s(window * frame_wire_size(payload) + 64)
        base = nxt = start
        self.sent_until = start
        high = start  # highest offset ever sent (resends below it count as resent)
        rewind_seq = self._seq
        timeouts = 0
        last_progress = time.monotonic()
        if on_progress:
            on_progress(base, size)
        while base < size:
            while nxt < size and nxt - base < window * payload:
                n = min(payload, size - nxt)
                seq = self._next_seq()
                self._send(Command.DATA, seq, DATA_HEAD.pack(nxt) + image[nxt:nxt + n])
                stats["sent"] += n
                if nxt < high:
                    stats["resent"] += min(n, high - nxt)
                nxt += n
                high = max(high, nxt)
                self.sent_until = high
            frame = self._poll(max(0.0, last_progress + ack_timeout - time.monotonic()))
            if frame is None:
                timeouts += 1
                stats["retries"] += 1
                if timeouts > self.retries:
                    raise DeviceError(
                        f"board at {self.port.url} stopped acknowledging data at offset {base} "
                        f"of {size} ({timeouts} timeouts)",
                        hint="check the cable and the board; `wtmkws flash` again resumes")
                time.sleep(self.backoff_s * 2 ** (timeouts - 1))
                nxt = base  # go back to the last acknowledged byte
                rewind_seq = (self._seq + 1) & 0xFFFF
                last_progress = time.monotonic()
                continue
            if not (frame.is_response and frame.command == Command.DATA):
                continue
            if len(frame.payload) < DATA_RESP.size:
                raise ProtocolError(f"DATA answer of {len(frame.payload)} bytes from "
                                    f"{self.port.url}", hint="update wtmkws or the board")
            _, held = DATA_RESP.unpack_from(frame.payload, 0)
            if frame.status == Status.OK:
                if held > base:
                    base = held
                    timeouts = 0
                    last_progress = time.monotonic()
                    if on_progress:
                        on_progress(base, size)
            elif frame.status == Status.OUT_OF_ORDER:
                if held > base:
                    base = held
                    last_progress = time.monotonic()
                if _seq_after(frame.seq, rewind_seq) and nxt > held:
                    nxt = max(held, base)
                    stats["retries"] += 1
                    rewind_seq = (self._seq + 1) & 0xFFFF
            else:
                raise BoardStatusError(Command.DATA, frame.status, url=self.port.url)
            if nxt < base:
                nxt = base

    # ------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the transport."""
        self.port.close()

    def __enter__(self) -> DeployClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
