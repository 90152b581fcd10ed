"""The firmware image: a verifiable, deterministic byte layout of a placed :class:`Program`.

The layout is specified byte by byte in ``docs/image-format.md``. In short (all integers
little-endian)::

    header (64 bytes)        magic, format version, header size, chip id + revision range, flags,
                             section count, alignment, section-table offset, image size
    section table            count x 16 bytes: kind, reserved, offset, length, CRC32
    sections                 each starting on an ``alignment`` boundary, gaps filled with 0xFF
    0xFF padding             up to the next alignment boundary
    SHA-256 (32 bytes)       of every byte before it

Sections: layer configuration (canonical JSON), weights laid out by placement (per block, the cells
of its weight rows then its bias rows, row-major, int8), activation tables (256-byte int8 tables),
frontend configuration (canonical JSON), detector configuration (canonical JSON), golden vectors
(binary, with a JSON index) and metadata (canonical JSON). Canonical JSON means sorted keys and no
whitespace, so the same program always gives the same bytes.

This module is independent of the serial protocol: the protocol moves opaque bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from wtmkws.audio_pipeline.atomic import atomic_write_bytes
from wtmkws.audio_pipeline.errors import WtmkwsError
from wtmkws.firmware_model.program import (
    Activate,
    Activation,
    Add,
    Argmax,
    ArrayLayer,
    Block,
    Concat,
    ConvGeometry,
    InputMode,
    InputTransform,
    LayerKind,
    Op,
    Pool,
    Program,
    ProgramMode,
    Rescale,
)
from wtmkws.firmware_model.spec import CHIPS, ChipSpec

__all__ = [
    "ImageError",
    "SectionKind",
    "ImageHeader",
    "SectionEntry",
    "GoldenData",
    "UnpackedImage",
    "ImageInfo",
    "MAGIC",
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "SECTION_ENTRY_SIZE",
    "ALIGNMENT",
    "SHA256_SIZE",
    "pack_image",
    "unpack_image",
    "verify_image",
    "read_image",
    "write_image",
    "image_sha256",
]

MAGIC = b"WTMKIMG\x1a"
"""8-byte magic at offset 0."""
FORMAT_VERSION = 1
"""Image format version this module writes and reads."""
HEADER_SIZE = 64
"""Bytes of the fixed header."""
SECTION_ENTRY_SIZE = 16
"""Bytes of one section-table entry."""
ALIGNMENT = 256
"""Section alignment in bytes (one flash page); gaps are 0xFF."""
SHA256_SIZE = 32
"""Bytes of the trailing SHA-256."""

_HEADER = struct.Struct("<8sHHHBBIHHII32x")
_ENTRY = struct.Struct("<HHIII")
_JSON_LEN = struct.Struct("<I")

FLAG_GOLDEN = 0x1
"""Header flag: a golden-vectors section is present."""
FLAG_DETECTOR = 0x2
"""Header flag: a detector-configuration section is present."""

_DOCS_HINT = "see docs/image-format.md; re-pack the program with `wtmkws pack`"


class ImageError(WtmkwsError):
    """A firmware image is corrupted, truncated, for another chip, or cannot be built."""


class SectionKind(IntEnum):
    """Kinds of image section (the u16 ``kind`` of a section-table entry)."""

    LAYERS = 1
    """Layer configuration: canonical JSON of every op and the program description."""
    WEIGHTS = 2
    """Array cells laid out by placement, int8."""
    TABLES = 3
    """Activation tables, 256 int8 each."""
    FRONTEND = 4
    """Frontend configuration, canonical JSON."""
    DETECTOR = 5
    """Detector configuration, canonical JSON."""
    GOLDEN = 6
    """Golden vectors: u32 index length, JSON index, raw little-endian arrays."""
    METADATA = 7
    """Program metadata, canonical JSON."""


@dataclass(frozen=True, kw_only=True)
class ImageHeader:
    """The decoded fixed header."""

    format_version: int
    """Image format version."""
    header_size: int
    """Bytes of the header."""
    chip_id: int
    """16-bit chip identifier (``ChipSpec.chip_id``)."""
    revision_min: int
    """Lowest silicon revision the image runs on."""
    revision_max: int
    """Highest silicon revision the image runs on."""
    flags: int
    """Bit field (FLAG_GOLDEN, FLAG_DETECTOR)."""
    section_count: int
    """Entries in the section table."""
    alignment: int
    """Section alignment in bytes."""
    section_table_offset: int
    """Byte offset of the section table."""
    image_size: int
    """Total bytes, trailing SHA-256 included."""


@dataclass(frozen=True, kw_only=True)
class SectionEntry:
    """One section-table entry."""

    kind: int
    """Section kind (:class:`SectionKind` value)."""
    offset: int
    """Byte offset of the section from the start of the image."""
    length: int
    """Bytes of section content (padding excluded)."""
    crc32: int
    """zlib CRC32 of the content."""

    @property
    def kind_name(self) -> str:
        """Readable kind name ("layers", "weights", ...), or "unknown(N)"."""
        try:
            return SectionKind(self.kind).name.lower()
        except ValueError:
            return f"unknown({self.kind})"


@dataclass(frozen=True, kw_only=True)
class GoldenData:
    """Golden vectors carried by an image (emulator inputs and every op's outputs)."""

    inputs: np.ndarray
    """Program input codes, uint8: (T, input_width) for STREAM, (N, frames, width) for WINDOW."""
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    """Every op's output on ``inputs``, keyed by op name."""


@dataclass(frozen=True, kw_only=True)
class UnpackedImage:
    """Everything rebuilt from an image."""

    program: Program
    """The program, equal (arrays and scalars) to the packed one."""
    detector: Any
    """``DetectorConfig`` (when the engine module exists) or its dict; None when absent."""
    header: ImageHeader
    """The decoded header."""
    sections: tuple[SectionEntry, ...]
    """The section table."""
    golden: GoldenData | None
    """Golden vectors, when present."""
    sha256: str
    """Hex SHA-256 of the whole image file (what ``sha256sum`` and the board report)."""
    content_sha256: str
    """Hex trailing digest: SHA-256 of every byte before it."""


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    """A summary of a verified image, for ``wtmkws image inspect`` and the board."""

    size_bytes: int
    """Total image bytes."""
    sha256: str
    """Hex SHA-256 of the whole file (the hash the board reports)."""
    content_sha256: str
    """Hex trailing digest (SHA-256 of every byte before it)."""
    format_version: int
    """Image format version."""
    chip: str
    """Chip name the image targets."""
    chip_id: int
    """16-bit chip id."""
    revision_min: int
    """Lowest revision."""
    revision_max: int
    """Highest revision."""
    flags: int
    """Header flags."""
    program_name: str
    """Program name."""
    mode: str
    """"stream" or "window"."""
    n_ops: int
    """Operations."""
    n_array_layers: int
    """Array layers."""
    cells: int
    """Array cells used (weights + bias rows)."""
    labels: tuple[str, ...]
    """Output labels."""
    sections: tuple[SectionEntry, ...]
    """The section table."""
    has_detector: bool
    """A detector configuration is present."""
    has_golden: bool
    """Golden vectors are present."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (sections as a list of dicts)."""
        d = dataclasses.asdict(self)
        d["labels"] = list(self.labels)
        d["sections"] = [
            {"kind": s.kind_name, "offset": s.offset, "length": s.length, "crc32": f"{s.crc32:08x}"}
            for s in self.sections
        ]
        return d


# ----------------------------------------------------------------------------------------------
# helpers


def _canon(obj: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _align(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars, enums and tuples into JSON-safe values."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # str Enums
        return value.value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _chip_for_id(chip_id: int) -> ChipSpec | None:
    for spec in CHIPS.values():
        if spec.chip_id == chip_id:
            return spec
    return None


def image_sha256(data: bytes) -> str:
    """Hex SHA-256 of a whole image file: the hash BEGIN/HELLO/STATUS use and the board checks."""
    return hashlib.sha256(bytes(data)).hexdigest()


# ----------------------------------------------------------------------------------------------
# ops <-> JSON

_OP_TYPES: dict[str, type] = {
    "activate": Activate,
    "rescale": Rescale,
    "add": Add,
    "concat": Concat,
    "pool": Pool,
    "argmax": Argmax,
}
_TYPE_NAMES = {cls: name for name, cls in _OP_TYPES.items()}


def _as_int8(name: str, what: str, arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype != np.int8:
        if a.dtype.kind not in "iu" or (a.size and (a.min() < -128 or a.max() > 127)):
            raise ImageError(f"layer {name!r}: {what} dtype {a.dtype} is not int8-representable",
                             hint="weights, bias cells and tables are int8 cells")
        a = a.astype(np.int8)
    return np.ascontiguousarray(a)


class _Tables:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def add(self, op_name: str, table: np.ndarray | None) -> int | None:
        if table is None:
            return None
        t = _as_int8(op_name, "table", table)
        if t.shape != (256,):
            raise ImageError(f"layer {op_name!r}: table shape {t.shape} is not (256,)",
                             hint="activation tables hold 256 int8 entries")
        self.chunks.append(t.tobytes())
        return len(self.chunks) - 1


def _layer_to_json(op: ArrayLayer, tables: _Tables, weights: bytearray) -> dict[str, Any]:
    w = _as_int8(op.name, "weights", op.weights)
    b = _as_int8(op.name, "bias cells", op.bias_cells)
    if w.ndim != 2 or b.ndim != 2 or b.shape[1] != w.shape[1]:
        raise ImageError(f"layer {op.name!r}: weights {w.shape} / bias cells {b.shape} shapes "
                         "disagree", hint="weights are (rows, outputs), bias (bias_rows, outputs)")
    blocks = []
    for blk in op.blocks:
        r0, r1 = blk.in_rows
        c0, c1 = blk.out_cols
        if not (0 <= r0 <= r1 <= w.shape[0] and 0 <= c0 <= c1 <= w.shape[1]) or blk.bias_rows not in (
            0, b.shape[0]
        ):
            raise ImageError(f"layer {op.name!r}: block rows {blk.in_rows} cols {blk.out_cols} "
                             f"bias_rows {blk.bias_rows} outside the layer {w.shape}",
                             hint="re-run placement (wtmkws.firmware_model.placement.place)")
        offset = len(weights)
        weights += w[r0:r1, c0:c1].tobytes()
        if blk.bias_rows:
            weights += b[:, c0:c1].tobytes()
        blocks.append({
            "row0": int(blk.row0), "col0": int(blk.col0), "in_rows": [int(r0), int(r1)],
            "out_cols": [int(c0), int(c1)], "bias_rows": int(blk.bias_rows),
            "offset": offset, "length": len(weights) - offset,
        })
    conv = None
    if op.conv is not None:
        conv = _jsonable(dataclasses.asdict(op.conv))
    return {
        "type": "array",
        "name": op.name,
        "kind": op.kind.value,
        "inputs": list(op.inputs),
        "shift": int(op.shift),
        "activation": op.activation.value,
        "table": tables.add(op.name, op.table),
        "transform": {"mode": op.transform.mode.value, "magnify": int(op.transform.magnify)},
        "context": [int(c) for c in op.context],
        "conv": conv,
        "weights_shape": [int(s) for s in w.shape],
        "bias_shape": [int(s) for s in b.shape],
        "blocks": blocks,
    }


def _op_to_json(op: Op, tables: _Tables) -> dict[str, Any]:
    cls = type(op)
    if cls not in _TYPE_NAMES:
        raise ImageError(f"op {getattr(op, 'name', '?')!r} has unsupported type {cls.__name__}",
                         hint="the image format carries the ops of wtmkws.firmware_model.program")
    d: dict[str, Any] = {"type": _TYPE_NAMES[cls]}
    for f in dataclasses.fields(cls):
        value = getattr(op, f.name)
        if f.name == "table":
            d["table"] = tables.add(op.name, value)
        else:
            d[f.name] = _jsonable(value)
    return d


def _layer_from_json(d: dict[str, Any], tables: list[np.ndarray], weights: bytes) -> ArrayLayer:
    name = d["name"]
    wr, wc = d["weights_shape"]
    br, bc = d["bias_shape"]
    w = np.zeros((wr, wc), dtype=np.int8)
    b = np.zeros((br, bc), dtype=np.int8)
    wcov = np.zeros((wr, wc), dtype=bool)
    bcov = np.zeros((br, bc), dtype=bool)
    blocks = []
    for bd in d["blocks"]:
        r0, r1 = bd["in_rows"]
        c0, c1 = bd["out_cols"]
        nb = bd["bias_rows"]
        off, length = bd["offset"], bd["length"]
        rows, cols = r1 - r0, c1 - c0
        if length != (rows + nb) * cols or off < 0 or off + length > len(weights) or not (
            0 <= r0 <= r1 <= wr and 0 <= c0 <= c1 <= wc and nb in (0, br)
        ):
            raise ImageError(f"layer {name!r}: block at weights offset {off} (length {length}) "
                             "does not fit the layer or the weights section", hint=_DOCS_HINT)
        cells = np.frombuffer(weights, dtype=np.int8, count=length, offset=off).reshape(
            rows + nb, cols
        )
        w[r0:r1, c0:c1] = cells[:rows]
        wcov[r0:r1, c0:c1] = True
        if nb:
            b[:, c0:c1] = cells[rows:]
            bcov[:, c0:c1] = True
        blocks.append(Block(row0=bd["row0"], col0=bd["col0"], in_rows=(r0, r1), out_cols=(c0, c1),
                            bias_rows=nb))
    if not (wcov.all() and bcov.all()):
        raise ImageError(f"layer {name!r}: blocks do not cover all {wr}x{wc} weight cells and "
                         f"{br}x{bc} bias cells", hint=_DOCS_HINT)
    conv = None
    if d["conv"] is not None:
        c = dict(d["conv"])
        c["in_shape"] = tuple(c["in_shape"])
        conv = ConvGeometry(**c)
    return ArrayLayer(
        name=name,
        kind=LayerKind(d["kind"]),
        inputs=tuple(d["inputs"]),
        weights=w,
        bias_cells=b,
        shift=d["shift"],
        activation=Activation(d["activation"]),
        table=_table(tables, d["table"], name),
        transform=InputTransform(mode=InputMode(d["transform"]["mode"]),
                                 magnify=d["transform"]["magnify"]),
        context=tuple(d["context"]),
        conv=conv,
        blocks=tuple(blocks),
    )


def _table(tables: list[np.ndarray], index: int | None, name: str) -> np.ndarray | None:
    if index is None:
        return None
    if not 0 <= index < len(tables):
        raise ImageError(f"op {name!r}: table index {index} outside the {len(tables)} tables",
                         hint=_DOCS_HINT)
    return tables[index].copy()


def _op_from_json(d: dict[str, Any], tables: list[np.ndarray], weights: bytes) -> Op:
    kind = d.get("type")
    if kind == "array":
        return _layer_from_json(d, tables, weights)
    if kind not in _OP_TYPES:
        raise ImageError(f"op {d.get('name')!r} has unknown type {kind!r}", hint=_DOCS_HINT)
    cls = _OP_TYPES[kind]
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in d:
            continue
        v = d[f.name]
        if f.name == "table":
            v = _table(tables, v, d.get("name", "?"))
        elif f.name == "activation":
            v = Activation(v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[f.name] = v
    return cls(**kwargs)


# ----------------------------------------------------------------------------------------------
# golden vectors


def _golden_bytes(golden: GoldenData) -> bytes:
    arrays = [("inputs", np.asarray(golden.inputs))] + [
        (k, np.asarray(v)) for k, v in sorted(golden.outputs.items())
    ]
    index = []
    body = bytearray()
    for name, arr in arrays:
        a = np.ascontiguousarray(arr)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        body += b"\x00" * (_align(len(body), 8) - len(body))
        index.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape),
                      "offset": len(body), "nbytes": a.nbytes})
        body += a.tobytes()
    head = _canon(index)
    return _JSON_LEN.pack(len(head)) + head + bytes(body)


def _golden_from_bytes(data: bytes) -> GoldenData:
    try:
        (n,) = _JSON_LEN.unpack_from(data, 0)
        index = json.loads(data[4:4 + n].decode("utf-8"))
        body = data[4 + n:]
        out: dict[str, np.ndarray] = {}
        for e in index:
            dt = np.dtype(e["dtype"])
            if dt.kind not in "iub":
                raise ValueError(f"dtype {dt}")
            count = int(np.prod(e["shape"], dtype=np.int64))
            if e["offset"] + count * dt.itemsize > len(body):
                raise ValueError("array past the end")
            a = np.frombuffer(body, dtype=dt, count=count, offset=e["offset"]).reshape(e["shape"])
            out[e["name"]] = a.astype(dt.newbyteorder("="))
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ImageError(f"golden-vectors section is malformed ({exc})", hint=_DOCS_HINT) from None
    inputs = out.pop("inputs", None)
    if inputs is None:
        raise ImageError("golden-vectors section has no inputs", hint=_DOCS_HINT)
    return GoldenData(inputs=inputs, outputs=out)


def _compute_golden(program: Program, *, frames: int, seed: int) -> GoldenData | None:
    """Golden vectors from the emulator on seeded random codes, or None when it is unavailable."""
    try:
        from wtmkws.firmware_model.emulator import run_layers
    except ImportError:
        return None
    rng = np.random.default_rng(seed)
    if program.mode is ProgramMode.STREAM:
        extra = sum(max(layer.context) - min(layer.context) for layer in program.array_layers)
        codes = rng.integers(0, 256, size=(frames + extra, program.input_width), dtype=np.uint8)
    else:
        codes = rng.integers(0, 256, size=(max(1, frames // 4), program.input_frames,
                                           program.input_width), dtype=np.uint8)
    outputs = run_layers(program, codes)
    return GoldenData(inputs=codes, outputs={k: np.asarray(v) for k, v in outputs.items()})


# ----------------------------------------------------------------------------------------------
# pack


def _ensure_placed(program: Program) -> Program:
    if all(layer.blocks for layer in program.array_layers):
        return program
    try:
        from wtmkws.firmware_model.placement import place
    except ImportError:
        raise ImageError(f"program {program.name!r} is not placed and the placement module is "
                         "unavailable", hint="place the program before packing") from None
    return place(program)


def pack_image(
    program: Program,
    *,
    detector: Any = None,
    golden: Any = None,
    golden_frames: int = 8,
    golden_seed: int = 0,
    compute_golden: bool = True,
    extra_metadata_bytes: int = 0,
) -> bytes:
    """Pack a program into image bytes (deterministic: same inputs, same bytes).

    Args:
        program: the program; placed with ``placement.place`` when it has no blocks.
        detector: a ``DetectorConfig`` (anything with ``to_dict()``), a dict, or None.
        golden: golden vectors (anything with ``.inputs`` and ``.outputs``), or None to compute
            them with the emulator on seeded random codes (when ``compute_golden``).
        golden_frames: frames of random codes for computed golden vectors.
        golden_seed: seed of those codes.
        compute_golden: compute golden vectors when ``golden`` is None and the emulator exists.
        extra_metadata_bytes: deterministic filler bytes added to the metadata section (under
            the key "padding"); for benchmarks needing large images. 0 in normal use.

    Returns:
        The image bytes (header .. trailing SHA-256).

    Raises:
        ImageError: the program cannot be laid out (non-int8 cells, bad blocks, unknown chip).
    """
    program = _ensure_placed(program)
    spec = program.spec
    tables = _Tables()
    weights = bytearray()
    ops_json = []
    for op in program.ops:
        if isinstance(op, ArrayLayer):
            ops_json.append(_layer_to_json(op, tables, weights))
        else:
            ops_json.append(_op_to_json(op, tables))
    layers = {
        "name": program.name,
        "mode": program.mode.value,
        "input_width": int(program.input_width),
        "input_frames": int(program.input_frames),
        "labels": list(program.labels),
        "chip": program.chip,
        "ops": ops_json,
    }
    if golden is None and compute_golden:
        gd = _compute_golden(program, frames=golden_frames, seed=golden_seed)
    elif golden is not None:
        gd = GoldenData(inputs=np.asarray(golden.inputs), outputs=dict(golden.outputs))
    else:
        gd = None
    metadata: dict[str, Any] = {"program": _jsonable(program.metadata)}
    if extra_metadata_bytes:
        metadata["padding"] = "f" * int(extra_metadata_bytes)

    sections: list[tuple[int, bytes]] = [
        (SectionKind.LAYERS, _canon(layers)),
        (SectionKind.WEIGHTS, bytes(weights)),
        (SectionKind.TABLES, b"".join(tables.chunks)),
        (SectionKind.FRONTEND, _canon(_jsonable(program.frontend))),
    ]
    flags = 0
    if detector is not None:
        ddict = detector.to_dict() if hasattr(detector, "to_dict") else dict(detector)
        sections.append((SectionKind.DETECTOR, _canon(_jsonable(ddict))))
        flags |= FLAG_DETECTOR
    if gd is not None:
        sections.append((SectionKind.GOLDEN, _golden_bytes(gd)))
        flags |= FLAG_GOLDEN
    sections.append((SectionKind.METADATA, _canon(metadata)))

    table_end = HEADER_SIZE + SECTION_ENTRY_SIZE * len(sections)
    pos = _align(table_end, ALIGNMENT)
    entries = []
    body = bytearray()
    for kind, content in sections:
        entries.append(_ENTRY.pack(int(kind), 0, pos, len(content), zlib.crc32(content)))
        body += content
        body += b"\xff" * (_align(len(content), ALIGNMENT) - len(content))
        pos += _align(len(content), ALIGNMENT)
    image_size = pos + SHA256_SIZE
    if image_size >= 2**32:
        raise ImageError(f"image of {image_size} bytes exceeds the 4 GiB format limit")
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, HEADER_SIZE, spec.chip_id, spec.revision_min,
                          spec.revision_max, flags, len(sections), ALIGNMENT, HEADER_SIZE,
                          image_size)
    head = header + b"".join(entries)
    head += b"\xff" * (_align(len(head), ALIGNMENT) - len(head))
    content = head + bytes(body)
    return content + hashlib.sha256(content).digest()


# ----------------------------------------------------------------------------------------------
# unpack / verify


def _parse(data: bytes, *, chip: str | None) -> tuple[ImageHeader, tuple[SectionEntry, ...],
                                                        dict[int, bytes]]:
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise ImageError(f"image is {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header "
                         "(truncated)", hint="copy or download the image again")
    (magic, version, header_size, chip_id, rmin, rmax, flags, count, alignment, table_off,
     size) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ImageError(f"not a wtmkws image: magic {magic!r} (expected {MAGIC!r})",
                         hint="pass a file written by `wtmkws pack`")
    if version != FORMAT_VERSION:
        raise ImageError(f"image format version {version} is not supported (this wtmkws reads "
                         f"version {FORMAT_VERSION})", hint="use a matching wtmkws version")
    if header_size != HEADER_SIZE:
        raise ImageError(f"image header size {header_size} (expected {HEADER_SIZE})",
                         hint=_DOCS_HINT)
    if len(data) < size:
        raise ImageError(f"image is {len(data)} bytes, header says {size} (truncated)",
                         hint="copy or download the image again")
    if len(data) > size:
        raise ImageError(f"image is {len(data)} bytes, header says {size} (trailing bytes)",
                         hint="copy or download the image again")
    if size < HEADER_SIZE + SHA256_SIZE:
        raise ImageError(f"image size {size} in the header is too small", hint=_DOCS_HINT)
    digest = hashlib.sha256(data[:-SHA256_SIZE]).digest()
    if digest != data[-SHA256_SIZE:]:
        raise ImageError(f"image SHA-256 mismatch: content hashes to {digest.hex()[:16]}..., "
                         f"image says {data[-SHA256_SIZE:].hex()[:16]}... (corrupted)",
                         hint="copy or download the image again, or re-pack it")
    spec = _chip_for_id(chip_id)
    if spec is None:
        raise ImageError(f"image targets chip id 0x{chip_id:04x}, which this wtmkws does not "
                         f"know (known: {', '.join(f'{s.name}=0x{s.chip_id:04x}' for s in CHIPS.values())})",
                         hint="pack the program for your chip")
    if chip is not None:
        want = next((s for n, s in CHIPS.items() if n.lower() == chip.lower()), None)
        if want is None or want.chip_id != chip_id:
            raise ImageError(f"image targets chip {spec.name} (id 0x{chip_id:04x}), not {chip}",
                             hint="pack the program for this chip")
    if alignment == 0 or table_off + count * SECTION_ENTRY_SIZE > size - SHA256_SIZE:
        raise ImageError(f"image section table ({count} entries at {table_off}) is out of bounds",
                         hint=_DOCS_HINT)
    entries = []
    contents: dict[int, bytes] = {}
    for i in range(count):
        kind, _, off, length, crc = _ENTRY.unpack_from(data, table_off + i * SECTION_ENTRY_SIZE)
        entry = SectionEntry(kind=kind, offset=off, length=length, crc32=crc)
        if off + length > size - SHA256_SIZE:
            raise ImageError(f"image section {entry.kind_name} at {off}+{length} runs past the "
                             "end", hint=_DOCS_HINT)
        content = data[off:off + length]
        if zlib.crc32(content) != crc:
            raise ImageError(f"image section {entry.kind_name} CRC32 mismatch "
                             f"({zlib.crc32(content):08x} != {crc:08x})", hint=_DOCS_HINT)
        if kind in contents:
            raise ImageError(f"image has two {entry.kind_name} sections", hint=_DOCS_HINT)
        contents[kind] = content
        entries.append(entry)
    header = ImageHeader(format_version=version, header_size=header_size, chip_id=chip_id,
                         revision_min=rmin, revision_max=rmax, flags=flags, section_count=count,
                         alignment=alignment, section_table_offset=table_off, image_size=size)
    for required in (SectionKind.LAYERS, SectionKind.WEIGHTS):
        if required not in contents:
            raise ImageError(f"image has no {required.name.lower()} section", hint=_DOCS_HINT)
    return header, tuple(entries), contents


def _json(contents: dict[int, bytes], kind: SectionKind) -> Any:
    try:
        return json.loads(contents[kind].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"image {kind.name.lower()} section is not valid JSON ({exc})",
                         hint=_DOCS_HINT) from None


def unpack_image(data: bytes, *, chip: str | None = None) -> UnpackedImage:
    """Rebuild the program (and detector, golden vectors) from image bytes alone.

    Args:
        data: the image bytes.
        chip: when given, the image must target this chip (name from the chip registry).

    Returns:
        The unpacked image; ``program`` equals the packed program (every array and scalar).

    Raises:
        ImageError: truncated, bad magic/version, SHA-256 or section CRC mismatch, unknown or
            wrong chip, malformed sections.
    """
    header, entries, contents = _parse(data, chip=chip)
    layers = _json(contents, SectionKind.LAYERS)
    raw_tables = contents.get(SectionKind.TABLES, b"")
    if len(raw_tables) % 256:
        raise ImageError(f"image tables section is {len(raw_tables)} bytes, not a multiple of 256",
                         hint=_DOCS_HINT)
    tables = [np.frombuffer(raw_tables, dtype=np.int8, count=256, offset=i).copy()
              for i in range(0, len(raw_tables), 256)]
    weights = contents[SectionKind.WEIGHTS]
    try:
        ops = tuple(_op_from_json(d, tables, weights) for d in layers["ops"])
        frontend = _json(contents, SectionKind.FRONTEND) if SectionKind.FRONTEND in contents else {}
        meta = _json(contents, SectionKind.METADATA) if SectionKind.METADATA in contents else {}
        program = Program(
            name=layers["name"],
            mode=ProgramMode(layers["mode"]),
            input_width=layers["input_width"],
            input_frames=layers["input_frames"],
            ops=ops,
            labels=tuple(layers["labels"]),
            chip=layers["chip"],
            frontend=frontend,
            metadata=meta.get("program", {}),
        )
    except ImageError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(f"image layer configuration is malformed ({type(exc).__name__}: {exc})",
                         hint=_DOCS_HINT) from None
    except WtmkwsError as exc:  # ProgramError from dataclass validation
        raise ImageError(f"image holds an invalid program: {exc.message}", hint=_DOCS_HINT) from None
    if program.spec.chip_id != header.chip_id:
        raise ImageError(f"image header chip id 0x{header.chip_id:04x} disagrees with the program's "
                         f"chip {program.chip}", hint=_DOCS_HINT)
    detector = None
    if SectionKind.DETECTOR in contents:
        detector = _json(contents, SectionKind.DETECTOR)
        try:
            from wtmkws.firmware_model.engine import DetectorConfig
        except ImportError:
            pass
        else:
            detector = DetectorConfig.from_dict(detector)
    golden = (_golden_from_bytes(contents[SectionKind.GOLDEN])
              if SectionKind.GOLDEN in contents else None)
    return UnpackedImage(program=program, detector=detector, header=header, sections=entries,
                         golden=golden, sha256=image_sha256(data),
                         content_sha256=bytes(data[-SHA256_SIZE:]).hex())


def verify_image(data: bytes, *, chip: str | None = None) -> ImageInfo:
    """Check every byte of an image (SHA-256, CRCs, layout, program) and summarise it.

    Args:
        data: the image bytes.
        chip: when given, the image must target this chip.

    Returns:
        The image summary.

    Raises:
        ImageError: anything wrong, in one line naming the field and numbers.
    """
    up = unpack_image(data, chip=chip)
    p = up.program
    spec = _chip_for_id(up.header.chip_id)
    assert spec is not None  # checked in _parse
    return ImageInfo(
        size_bytes=len(data), sha256=up.sha256, content_sha256=up.content_sha256,
        format_version=up.header.format_version,
        chip=spec.name, chip_id=up.header.chip_id, revision_min=up.header.revision_min,
        revision_max=up.header.revision_max, flags=up.header.flags, program_name=p.name,
        mode=p.mode.value, n_ops=len(p.ops), n_array_layers=len(p.array_layers),
        cells=sum(layer.cells for layer in p.array_layers), labels=p.labels,
        sections=up.sections, has_detector=up.detector is not None,
        has_golden=up.golden is not None,
    )


def read_image(path: str | Path) -> bytes:
    """Read an image file's bytes.

    Raises:
        ImageError: the file does not exist or cannot be read.
    """
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image file {p} does not exist", hint="check the path") from None
    except OSError as exc:
        raise ImageError(f"cannot read image file {p}: {exc.strerror}",
                         hint="check the path and permissions") from None


def write_image(path: str | Path, data: bytes) -> Path:
    """Write image bytes atomically (temporary file in the same folder, then ``os.replace``).

    Returns:
        The path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(p, data)
