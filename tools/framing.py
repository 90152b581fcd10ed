"""Frames on the wire: COBS with a 0x00 delimiter, an 8-byte header and a CRC32 per frame.

One frame on the wire is::

    0x00  COBS( header(8) | payload(length) | crc32(4) )  0x00

The header is ``<BBHBBH``: protocol version, command, sequence number, status, flags, payload
length. The CRC32 (``zlib.crc32``, little-endian) covers header and payload. Because COBS output
never contains 0x00, the delimiters split the byte stream into segments. A segment that decodes to
a well-formed frame with a good CRC is a frame; a segment of printable text is device log (a
device may print log lines between frames; the virtual board ends each log line with 0x00); any
other segment is a bad frame (corruption), which the receiver counts and otherwise ignores.
See ``docs/protocol.md``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

from wtmkws.audio_pipeline.errors import WtmkwsError

__all__ = [
    "ProtocolError",
    "Frame",
    "LogText",
    "BadFrame",
    "FrameDecoder",
    "encode_frame",
    "decode_frame",
    "HEADER",
    "HEADER_SIZE",
    "CRC_SIZE",
    "FLAG_RESPONSE",
    "FLAG_EVENT",
    "MAX_PAYLOAD",
    "frame_wire_size",
]

HEADER = struct.Struct("<BBHBBH")
"""Frame header: version, command, sequence, status, flags, payload length."""
HEADER_SIZE = HEADER.size
"""Bytes of the frame header (8)."""
CRC_SIZE = 4
"""Bytes of the CRC32 trailer."""
FLAG_RESPONSE = 0x01
"""Header flag: this frame answers a request with the same command and sequence."""
FLAG_EVENT = 0x02
"""Header flag: unsolicited device event."""
MAX_PAYLOAD = 0xFFFF
"""Largest payload the 16-bit length field can carry."""
_MAX_SEGMENT = 2 * (HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE)


class ProtocolError(WtmkwsError):
    """The peer broke the protocol: bad frame, unexpected answer, other protocol version."""


@dataclass(frozen=True, kw_only=True)
class Frame:
    """A decoded frame."""

    version: int
    """Protocol version of the sender."""
    command: int
    """Opcode (see ``wtmkws.tools.protocol.Command``)."""
    seq: int
    """Sequence number, 0..65535 (a response echoes its request's)."""
    status: int = 0
    """Status code (responses; 0 = OK)."""
    flags: int = 0
    """FLAG_RESPONSE / FLAG_EVENT bits."""
    payload: bytes = b""
    """Payload bytes."""

    @property
    def is_response(self) -> bool:
        """True for answers to requests."""
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def is_event(self) -> bool:
        """True for unsolicited device events."""
        return bool(self.flags & FLAG_EVENT)


@dataclass(frozen=True, kw_only=True)
class LogText:
    """Device log text found between frames."""

    text: str
    """The text, decoded as UTF-8 with replacement, trailing newlines stripped."""


@dataclass(frozen=True, kw_only=True)
class BadFrame:
    """A segment that is neither a valid frame nor log text (corrupted on the wire)."""

    reason: str
    """Why it was rejected ("cobs", "short", "length", "crc")."""
    size: int
    """Bytes of the raw segment."""


def encode_frame(frame: Frame) -> bytes:
    """Encode a frame for the wire, delimiters included.

    Args:
        frame: the frame; ``len(payload)`` must be at most MAX_PAYLOAD.

    Returns:
        ``b"\\x00" + COBS(header + payload + crc32) + b"\\x00"``.

    Raises:
        ProtocolError: payload too long or a header field out of range.
    """
    if len(frame.payload) > MAX_PAYLOAD:
        raise ProtocolError(f"frame payload of {len(frame.payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        head = HEADER.pack(frame.version, frame.command, frame.seq, frame.status, frame.flags,
                           len(frame.payload))
    except struct.error as exc:
        raise ProtocolError(f"frame header field out of range ({exc})") from None
    body = head + frame.payload
    body += struct.pack("<I", zlib.crc32(body))
    return b"\x00" + cobs.encode(body) + b"\x00"


def frame_wire_size(payload_bytes: int) -> int:
    """Upper bound of wire bytes for a frame with this payload (COBS overhead, delimiters)."""
    n = HEADER_SIZE + payload_bytes + CRC_SIZE
    return n + n // 254 + 1 + 2


def decode_frame(segment: bytes) -> Frame | BadFrame:
    """Decode one COBS segment (no delimiters) into a frame, or say why it is bad."""
    try:
        body = cobs.decode(segment)
    except cobs.DecodeError:
        return BadFrame(reason="cobs", size=len(segment))
    if len(body) < HEADER_SIZE + CRC_SIZE:
        return BadFrame(reason="short", size=len(segment))
    version, command, seq, status, flags, length = HEADER.unpack_from(body, 0)
    if length != len(body) - HEADER_SIZE - CRC_SIZE:
        return BadFrame(reason="length", size=len(segment))
    (crc,) = struct.unpack_from("<I", body, len(body) - CRC_SIZE)
    if zlib.crc32(body[:-CRC_SIZE]) != crc:
        return BadFrame(reason="crc", size=len(segment))
    return Frame(version=version, command=command, seq=seq, status=status, flags=flags,
                 payload=bytes(body[HEADER_SIZE:-CRC_SIZE]))


def _looks_like_text(segment: bytes) -> bool:
    if not segment:
        return False
    printable = sum(1 for b in segment if 32 <= b < 127 or b in (9, 10, 13) or b >= 0xC0)
    return printable == len(segment) or (segment.endswith(b"\n") and printable >= 0.9 * len(segment))


class FrameDecoder:
    """Split an arbitrarily chunked byte stream into frames, log text and bad frames.

    Example:
        >>> d = FrameDecoder()
        >>> wire = encode_frame(Frame(version=1, command=1, seq=7, payload=b"hi"))
        >>> [type(x).__name__ for x in d.feed(b"boot\\n\\x00" + wire)]
        ['LogText', 'Frame']
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bad_frames = 0
        """Segments rejected so far."""

    def feed(self, data: bytes) -> list[Frame | LogText | BadFrame]:
        """Add received bytes; return every complete item, in stream order."""
        out: list[Frame | LogText | BadFrame] = []
        self._buf += data
        start = 0
        while True:
            end = self._buf.find(0, start)
            if end < 0:
                break
            segment = bytes(self._buf[start:end])
            start = end + 1
            if segment:
                out.append(self._classify(segment))
        del self._buf[:start]
        if len(self._buf) > _MAX_SEGMENT:  # a runaway segment with no delimiter: drop it
            out.append(BadFrame(reason="overlong", size=len(self._buf)))
            self.bad_frames += 1
            self._buf.clear()
        return out

    def _classify(self, segment: bytes) -> Frame | LogText | BadFrame:
        item = decode_frame(segment)
        if isinstance(item, Frame):
            return item
        if _looks_like_text(segment):
            return LogText(text=segment.decode("utf-8", errors="replace").rstrip("\r\n"))
        self.bad_frames += 1
        return item

    def reset(self) -> None:
        """Forget any partial segment."""
        self._buf.clear()
