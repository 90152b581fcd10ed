"""The deploy protocol: opcodes, status codes (with their text, in one table) and payload layouts.

Every payload is little-endian and described by one :class:`struct.Struct` here; the client and
the virtual board both use these, and ``docs/protocol.md`` restates them byte by byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from wtmkws.tools.framing import ProtocolError

__all__ = [
    "PROTOCOL_VERSION",
    "Command",
    "Status",
    "STATUS_TEXT",
    "status_text",
    "HelloInfo",
    "BoardStatus",
    "DetectionEvent",
    "HELLO_REQ",
    "HELLO_RESP",
    "SET_BAUD_REQ",
    "BEGIN_REQ",
    "BEGIN_RESP",
    "DATA_HEAD",
    "DATA_RESP",
    "END_RESP",
    "READ_REQ",
    "ACTIVATE_REQ",
    "STATUS_RESP",
    "AUDIO_RESP",
    "EVENT_HEAD",
    "pack_hello",
    "unpack_hello",
    "pack_status",
    "unpack_status",
    "pack_event",
    "unpack_event",
    "REGION_ACTIVE",
    "REGION_STAGING",
    "STATE_NAMES",
]

PROTOCOL_VERSION = 1
"""Version carried in every frame header."""


class Command(IntEnum):
    """Opcodes (the header's command byte)."""

    HELLO = 0x01
    """Identify the board: version, chip, limits, active image."""
    SET_BAUD = 0x02
    """Switch the line rate (both sides switch after the answer)."""
    BEGIN = 0x03
    """Start (or resume) a transfer of an image of a given size and SHA-256."""
    DATA = 0x04
    """Image bytes at an offset."""
    END = 0x05
    """Finish: the board hashes the staged bytes and checks the image."""
    READ = 0x06
    """Read back flash bytes."""
    ACTIVATE = 0x07
    """Make the verified staged image the active one and run it."""
    RESET = 0x08
    """Restart the board (runtime state and line rate back to defaults)."""
    STATUS = 0x09
    """Board state and counters."""
    AUDIO = 0x0A
    """int16 audio samples for the active program."""
    EVENT = 0x20
    """Unsolicited detection event (device to host)."""


class Status(IntEnum):
    """Status codes of responses (the header's status byte)."""

    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_STATE = 3
    OUT_OF_ORDER = 4
    HASH_MISMATCH = 5
    TOO_LARGE = 6
    BAD_IMAGE = 7
    NOT_VERIFIED = 8
    BAD_BAUD = 9
    NO_PROGRAM = 10
    UNSUPPORTED_VERSION = 11
    FLASH_ERROR = 12
    BAD_RANGE = 13


STATUS_TEXT: dict[int, tuple[str, str]] = {
    Status.OK: ("ok", ""),
    Status.UNKNOWN_COMMAND: ("unknown command", "update the board firmware or wtmkws"),
    Status.BAD_LENGTH: ("payload length is wrong for this command", "update wtmkws or the board"),
    Status.BAD_STATE: ("command not allowed in the board's current state",
                       "send BEGIN before DATA/END (wtmkws flash does this)"),
    Status.OUT_OF_ORDER: ("data offset is not the next expected offset",
                          "the client resends from the board's offset"),
    Status.HASH_MISMATCH: ("SHA-256 of the received image does not match BEGIN's",
                           "flash again; check the cable if it repeats"),
    Status.TOO_LARGE: ("image is larger than the board's flash slot",
                       "use a smaller program or a board with more flash"),
    Status.BAD_IMAGE: ("image failed the board's format check (magic, chip, CRCs)",
                       "run `wtmkws image verify IMAGE` and re-pack for this chip"),
    Status.NOT_VERIFIED: ("no verified image with that SHA-256 is staged",
                          "flash the image before activating it"),
    Status.BAD_BAUD: ("baud rate not supported by the board", "pick a standard rate"),
    Status.NO_PROGRAM: ("no program is active (or it cannot run)",
                        "flash and activate an image first"),
    Status.UNSUPPORTED_VERSION: ("board does not speak this protocol version",
                                 "use a wtmkws version matching the board firmware"),
    Status.FLASH_ERROR: ("board flash write failed", "check the flash file/device"),
    Status.BAD_RANGE: ("read range outside the flash region", "read inside the image size"),
}
"""Status code -> (text, hint). The one table of status texts."""


def status_text(code: int) -> tuple[str, str]:
    """(text, hint) of a status code; unknown codes get a generic text."""
    return STATUS_TEXT.get(code, (f"unknown status {code}", "update wtmkws"))


REGION_ACTIVE = 0
"""READ region: the active image slot."""
REGION_STAGING = 1
"""READ region: the staging slot."""

STATE_NAMES = {0: "idle", 1: "receiving", 2: "verified"}
"""Board transfer states (STATUS ``state``)."""

HELLO_REQ = struct.Struct("<BH")
"""HELLO request: client protocol version u8, max payload the client wants u16."""
HELLO_RESP = struct.Struct("<BHBBHHIII32s16s")
"""HELLO response: protocol version u8, chip id u16, revision u8, reserved u8, max payload u16,
window u16 (frames in flight), flash slot size u32, baud u32, active image size u32, active
SHA-256 32s (zeros: none), chip name 16s (NUL padded)."""
SET_BAUD_REQ = struct.Struct("<I")
"""SET_BAUD request and response: baud u32."""
BEGIN_REQ = struct.Struct("<I32s")
"""BEGIN request: image size u32, SHA-256 32s."""
BEGIN_RESP = struct.Struct("<I")
"""BEGIN response: offset the board already holds for this hash (resume point) u32."""
DATA_HEAD = struct.Struct("<I")
"""DATA request: offset u32 then the bytes."""
DATA_RESP = struct.Struct("<II")
"""DATA response: offset of the frame answered u32, cumulative bytes held u32 (the ack; for
OUT_OF_ORDER the offset the board expects)."""
END_RESP = struct.Struct("<I32s")
"""END response: size u32, SHA-256 the board computed 32s."""
READ_REQ = struct.Struct("<BIH")
"""READ request: region u8, offset u32, length u16 (response payload: the bytes)."""
ACTIVATE_REQ = struct.Struct("<32s")
"""ACTIVATE request: SHA-256 of the staged, verified image."""
STATUS_RESP = struct.Struct("<BBIIII32s32sIIIId")
"""STATUS response: state u8, program running u8, staging size u32, staging held u32, active size
u32, frames ok u32, staging SHA-256 32s, active SHA-256 32s, frames bad u32, naks u32, baud u32,
events sent u32, uptime s f64."""
AUDIO_RESP = struct.Struct("<I")
"""AUDIO response: samples consumed u32 (request payload: int16 little-endian samples)."""
EVENT_HEAD = struct.Struct("<dfH")
"""EVENT payload: time s f64, score f32, label length u16, then the UTF-8 label."""


@dataclass(frozen=True, kw_only=True)
class HelloInfo:
    """What a board says about itself."""

    protocol_version: int
    """Board protocol version."""
    chip_id: int
    """16-bit chip id."""
    chip_name: str
    """Chip name."""
    revision: int
    """Silicon revision."""
    max_payload: int
    """Largest DATA payload in bytes."""
    window: int
    """DATA frames the board accepts in flight."""
    flash_size: int
    """Bytes of one image slot."""
    baud: int
    """Current line rate (bits/s)."""
    active_size: int
    """Active image size in bytes (0: none)."""
    active_sha256: str
    """Hex SHA-256 of the active image ("" when none)."""


def pack_hello(info: HelloInfo) -> bytes:
    """HELLO response payload."""
    sha = bytes.fromhex(info.active_sha256) if info.active_sha256 else b"\x00" * 32
    return HELLO_RESP.pack(info.protocol_version, info.chip_id, info.revision, 0, info.max_payload,
                           info.window, info.flash_size, info.baud, info.active_size, sha,
                           info.chip_name.encode("ascii")[:16])


def _unpack(st: struct.Struct, payload: bytes, what: str) -> tuple:
    if len(payload) < st.size:
        raise ProtocolError(f"{what} answer has {len(payload)} bytes, expected {st.size}",
                            hint="the board firmware and wtmkws disagree; update one of them")
    return st.unpack_from(payload, 0)


def unpack_hello(payload: bytes) -> HelloInfo:
    """Parse a HELLO response payload.

    Raises:
        ProtocolError: payload too short.
    """
    (ver, chip_id, rev, _, max_payload, window, flash, baud, asize, sha,
     name) = _unpack(HELLO_RESP, payload, "HELLO")
    return HelloInfo(protocol_version=ver, chip_id=chip_id, revision=rev,
                     chip_name=name.rstrip(b"\x00").decode("ascii", "replace"),
                     max_payload=max_payload, window=window, flash_size=flash, baud=baud,
                     active_size=asize, active_sha256=sha.hex() if asize else "")


@dataclass(frozen=True, kw_only=True)
class BoardStatus:
    """A board's STATUS answer."""

    state: str
    """"idle", "receiving" or "verified"."""
    running: bool
    """A program is active and running."""
    staging_size: int
    """Bytes of the transfer in progress (0: none)."""
    staging_held: int
    """Contiguous bytes of it the board holds."""
    staging_sha256: str
    """Hex SHA-256 of the transfer in progress."""
    active_size: int
    """Active image bytes."""
    active_sha256: str
    """Hex SHA-256 of the active image."""
    frames_ok: int
    """Good frames received since start."""
    frames_bad: int
    """Corrupted frames dropped since start."""
    naks: int
    """OUT_OF_ORDER answers sent."""
    baud: int
    """Current line rate."""
    events_sent: int
    """Detection events sent."""
    uptime_s: float
    """Seconds since the board started."""


def pack_status(s: BoardStatus) -> bytes:
    """STATUS response payload."""
    state = {v: k for k, v in STATE_NAMES.items()}[s.state]

    def sha(h: str) -> bytes:
        return bytes.fromhex(h) if h else b"\x00" * 32

    return STATUS_RESP.pack(state, int(s.running), s.staging_size, s.staging_held, s.active_size,
                            s.frames_ok, sha(s.staging_sha256), sha(s.active_sha256),
                            s.frames_bad, s.naks, s.baud, s.events_sent, s.uptime_s)


def unpack_status(payload: bytes) -> BoardStatus:
    """Parse a STATUS response payload."""
    (state, running, ssize, sheld, asize, ok, ssha, asha, bad, naks, baud, events,
     up) = _unpack(STATUS_RESP, payload, "STATUS")
    return BoardStatus(state=STATE_NAMES.get(state, f"state{state}"), running=bool(running),
                       staging_size=ssize, staging_held=sheld,
                       staging_sha256=ssha.hex() if ssize else "", active_size=asize,
                       active_sha256=asha.hex() if asize else "", frames_ok=ok, frames_bad=bad,
                       naks=naks, baud=baud, events_sent=events, uptime_s=up)


@dataclass(frozen=True, kw_only=True)
class DetectionEvent:
    """A detection reported by the board."""

    time_s: float
    """Audio time of the detection, seconds since the audio started."""
    label: str
    """Detected label."""
    score: float
    """Smoothed posterior, 0..1."""


def pack_event(ev: DetectionEvent) -> bytes:
    """EVENT payload."""
    label = ev.label.encode("utf-8")
    return EVENT_HEAD.pack(ev.time_s, ev.score, len(label)) + label


def unpack_event(payload: bytes) -> DetectionEvent:
    """Parse an EVENT payload."""
    t, score, n = _unpack(EVENT_HEAD, payload, "EVENT")
    label = payload[EVENT_HEAD.size:EVENT_HEAD.size + n].decode("utf-8", "replace")
    return DetectionEvent(time_s=t, label=label, score=score)
