"""Frame encoding/decoding: round trips, arbitrary chunking, log text between frames, CRC errors."""

from __future__ import annotations

import struct
import zlib

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from wtmkws.tools.framing import (
    FLAG_RESPONSE,
    BadFrame,
    Frame,
    FrameDecoder,
    LogText,
    ProtocolError,
    decode_frame,
    encode_frame,
)

frames = st.builds(
    Frame,
    version=st.integers(0, 255),
    command=st.integers(0, 255),
    seq=st.integers(0, 0xFFFF),
    status=st.integers(0, 255),
    flags=st.integers(0, 255),
    payload=st.binary(max_size=600),
)
log_lines = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1,
                    max_size=60)


@settings(deadline=None, max_examples=200)
@given(frame=frames)
def test_encode_decode_round_trip(frame: Frame) -> None:
    wire = encode_frame(frame)
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert decode_frame(wire[1:-1]) == frame


@settings(deadline=None, max_examples=100)
@given(items=st.lists(st.one_of(frames, log_lines), min_size=1, max_size=8), data=st.data())
def test_stream_split_arbitrarily_gives_the_same_items(items: list, data: st.DataObject) -> None:
    wire = b"".join(encode_frame(x) if isinstance(x, Frame) else x.encode() + b"\n\x00"
                    for x in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    decoder = FrameDecoder()
    got = []
    prev = 0
    for c in cuts + [len(wire)]:
        got += decoder.feed(wire[prev:c])
        prev = c
    want = [x if isinstance(x, Frame) else LogText(text=x) for x in items]
    assert got == want


@settings(deadline=None, max_examples=150)
@given(frame=frames.filter(lambda f: len(f.payload) > 0), data=st.data())
def test_any_single_bit_flip_is_detected(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(frame))
    i = data.draw(st.integers(1, len(wire) - 2))
    bit = data.draw(st.integers(0, 7))
    wire[i] ^= 1 << bit
    items = FrameDecoder().feed(bytes(wire))
    assert frame not in items
    assert not any(isinstance(x, Frame) for x in items)


def test_crc_mismatch_is_reported_as_a_bad_frame() -> None:
    body = struct.pack("<BBHBBH", 1, 4, 9, 0, FLAG_RESPONSE, 3) + b"abc"
    good = body + struct.pack("<I", zlib.crc32(body))
    bad = body + struct.pack("<I", zlib.crc32(body) ^ 1)
    assert isinstance(decode_frame(cobs.encode(good)), Frame)
    item = decode_frame(cobs.encode(bad))
    assert isinstance(item, BadFrame) and item.reason == "crc"
    decoder = FrameDecoder()
    out = decoder.feed(b"\x00" + cobs.encode(bad) + b"\x00")
    assert out == [BadFrame(reason="crc", size=len(cobs.encode(bad)))]
    assert decoder.bad_frames == 1


def test_length_field_disagreeing_with_the_body_is_rejected() -> None:
    body = struct.pack("<BBHBBH", 1, 4, 9, 0, 0, 10) + b"abc"
    seg = cobs.encode(body + struct.pack("<I", zlib.crc32(body)))
    assert decode_frame(seg) == BadFrame(reason="length", size=len(seg))


def test_log_text_between_frames_is_kept_in_order() -> None:
    f1 = Frame(version=1, command=1, seq=1, payload=b"x")
    f2 = Frame(version=1, command=2, seq=2, payload=b"\x00\x00")
    wire = b"boot ok\n\x00" + encode_frame(f1) + b"temp=41C\r\n\x00" + encode_frame(f2)
    assert FrameDecoder().feed(wire) == [LogText(text="boot ok"), f1, LogText(text="temp=41C"), f2]


def test_random_binary_noise_is_never_a_frame() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    decoder = FrameDecoder()
    for _ in range(200):
        noise = rng.integers(0, 256, size=int(rng.integers(1, 300)), dtype=np.uint8).tobytes()
        assert not any(isinstance(x, Frame) for x in decoder.feed(noise + b"\x00"))


def test_oversized_payload_is_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        encode_frame(Frame(version=1, command=1, seq=0, payload=bytes(70000)))
