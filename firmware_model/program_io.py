"""Program files (``.wtmk``): a deterministic zip of ``program.json`` plus one ``.npy`` per array.

The format is documented in ``docs/program-format.md`` (format name ``wtmkws-program``, version
:data:`FORMAT_VERSION`). Loading validates the version, every shape, dtype and value range, and
the placement, and refuses anything else with a one-line :class:`ProgramError`. Nothing is ever
unpickled (``np.load(..., allow_pickle=False)``).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
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
    Pool,
    Program,
    ProgramError,
    ProgramMode,
    Rescale,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "PROGRAM_SUFFIX",
    "GoldenVectors",
    "program_to_dict",
    "program_arrays",
    "program_from_dict",
    "program_to_bytes",
    "program_from_bytes",
    "save_program",
    "load_program",
    "load_golden",
    "verify_golden",
]

FORMAT_NAME = "wtmkws-program"
"""Value of the ``format`` key of program.json."""
FORMAT_VERSION = 1
"""The only version this code reads and writes."""
PROGRAM_SUFFIX = ".wtmk"
"""File extension of program files."""
_MEMBER_JSON = "program.json"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True, kw_only=True)
class GoldenVectors:
    """Golden vectors stored with a program: inputs and every op's outputs (ideal model)."""

    inputs: np.ndarray
    """uint8 input codes: STREAM (T, width); WINDOW (N, frames, width)."""
    outputs: dict[str, np.ndarray]
    """Op name -> output (int8, Argmax int64), as :func:`emulator.run_layers` returns."""


def _member(i: int, name: str, field: str) -> str:
    return f"arrays/{i:02d}_{name}.{field}.npy"


def _blocks_to_json(blocks: tuple[Block, ...]) -> list[dict[str, Any]]:
    return [{"row0": b.row0, "col0": b.col0, "in_rows": list(b.in_rows), "out_cols": list(b.out_cols),
             "bias_rows": b.bias_rows} for b in blocks]


def program_to_dict(program: Program) -> dict[str, Any]:
    """The JSON document of a program (array fields hold zip member names).

    Args:
        program: the program.

    Returns:
        A JSON-safe dict (see docs/program-format.md); arrays are in :func:`program_arrays`.
    """
    ops = []
    for i, op in enumerate(program.ops):
        d: dict[str, Any] = {"name": op.name, "inputs": list(op.inputs)}
        if isinstance(op, ArrayLayer):
            d.update(type="array", kind=op.kind.value, shift=int(op.shift), activation=op.activation.value,
                     transform={"mode": op.transform.mode.value, "magnify": op.transform.magnify},
                     context=[int(c) for c in op.context],
                     conv=None if op.conv is None else {
                         "in_shape": list(op.conv.in_shape), "kernel_h": op.conv.kernel_h,
                         "kernel_w": op.conv.kernel_w, "stride_h": op.conv.stride_h,
                         "stride_w": op.conv.stride_w, "pad_top": op.conv.pad_top,
                         "pad_bottom": op.conv.pad_bottom, "pad_left": op.conv.pad_left,
                         "pad_right": op.conv.pad_right, "pad_code": op.conv.pad_code},
                     weights=_member(i, op.name, "weights"), bias_cells=_member(i, op.name, "bias_cells"),
                     table=None if op.table is None else _member(i, op.name, "table"),
                     blocks=_blocks_to_json(op.blocks))
        elif isinstance(op, Activate):
            d.update(type="activate", activation=op.activation.value,
                     table=None if op.table is None else _member(i, op.name, "table"))
        elif isinstance(op, Rescale):
            d.update(type="rescale", multiplier=int(op.multiplier), offset=int(op.offset), shift=int(op.shift))
        elif isinstance(op, Add):
            d.update(type="add", mult_a=int(op.mult_a), mult_b=int(op.mult_b), offset=int(op.offset),
                     shift=int(op.shift))
        elif isinstance(op, Concat):
            d.update(type="concat")
        elif isinstance(op, Pool):
            d.update(type="pool", kind=op.kind, pool_h=op.pool_h, pool_w=op.pool_w, stride_h=op.stride_h,
                     stride_w=op.stride_w, multiplier=int(op.multiplier), offset=int(op.offset),
                     shift=int(op.shift))
        elif isinstance(op, Argmax):
            d.update(type="argmax")
        else:
            raise ProgramError(f"op {getattr(op, 'name', i)!r} has unknown type {type(op).__name__}")
        ops.append(d)
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "name": program.name, "chip": program.chip,
            "mode": program.mode.value, "input_width": program.input_width,
            "input_frames": program.input_frames, "labels": list(program.labels),
            "frontend": program.frontend, "metadata": program.metadata, "ops": ops, "golden": None}


def program_arrays(program: Program) -> dict[str, np.ndarray]:
    """Zip member name -> array for every array field of the program."""
    out = {}
    for i, op in enumerate(program.ops):
        if isinstance(op, ArrayLayer):
            out[_member(i, op.name, "weights")] = op.weights
            out[_member(i, op.name, "bias_cells")] = op.bias_cells
        if getattr(op, "table", None) is not None:
            out[_member(i, op.name, "table")] = op.table
    return out


def _get(d: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise ProgramError(f"{where}: missing field {key!r}")
    v = d[key]
    if not isinstance(v, kind) or (isinstance(v, bool) and kind is int):
        raise ProgramError(f"{where}: field {key!r} is {type(v).__name__}, expected "
                           f"{getattr(kind, '__name__', kind)}")
    return v


def _array(arrays: dict[str, np.ndarray], member: Any, where: str) -> np.ndarray:
    if not isinstance(member, str) or member not in arrays:
        raise ProgramError(f"{where}: array member {member!r} is missing")
    return arrays[member]


def program_from_dict(d: dict[str, Any], arrays: dict[str, np.ndarray]) -> Program:
    """Build (and validate) a program from its JSON document and arrays.

    Args:
        d: the program.json document.
        arrays: zip member name -> array.

    Returns:
        The program (placement, when present, is checked).

    Raises:
        ProgramError: wrong format/version, missing or mistyped fields, invalid program.
    """
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
        raise ProgramError(f"not a {FORMAT_NAME} document (format={d.get('format') if isinstance(d, dict) else None!r})")
    version = d.get("version")
    if version != FORMAT_VERSION:
        raise ProgramError(f"program format version {version!r}; this wtmkws reads version {FORMAT_VERSION}",
                           hint="re-export the program with this wtmkws version")
    where = "program.json"
    try:
        ops: list[Any] = []
        for i, od in enumerate(_get(d, "ops", list, where)):
            w = f"{where} op {i}"
            name = _get(od, "name", str, w)
            w = f"{where} op {name!r}"
            inputs = tuple(_get(od, "inputs", list, w))
            typ = _get(od, "type", str, w)
            table_member = od.get("table")
            table = None if table_member is None else _array(arrays, table_member, w)
            if typ == "array":
                conv_d = od.get("conv")
                conv = None
                if conv_d is not None:
                    conv = ConvGeometry(in_shape=tuple(int(v) for v in _get(conv_d, "in_shape", list, w)),
                                        **{k: int(_get(conv_d, k, int, w)) for k in (
                                            "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top",
                                            "pad_bottom", "pad_left", "pad_right", "pad_code")})
                tr = _get(od, "transform", dict, w)
                blocks = tuple(Block(row0=_get(b, "row0", int, w), col0=_get(b, "col0", int, w),
                                     in_rows=tuple(_get(b, "in_rows", list, w)),
                                     out_cols=tuple(_get(b, "out_cols", list, w)),
                                     bias_rows=_get(b, "bias_rows", int, w))
                               for b in _get(od, "blocks", list, w))
                ops.append(ArrayLayer(
                    name=name, kind=LayerKind(_get(od, "kind", str, w)), inputs=inputs,
                    weights=_array(arrays, od.get("weights"), w),
                    bias_cells=_array(arrays, od.get("bias_cells"), w), shift=_get(od, "shift", int, w),
                    activation=Activation(_get(od, "activation", str, w)), table=table,
                    transform=InputTransform(mode=InputMode(_get(tr, "mode", str, w)),
                                             magnify=_get(tr, "magnify", int, w)),
                    context=tuple(int(c) for c in _get(od, "context", list, w)), conv=conv, blocks=blocks))
            elif typ == "activate":
                ops.append(Activate(name=name, inputs=inputs, activation=Activation(_get(od, "activation", str, w)),
                                    table=table))
            elif typ == "rescale":
                ops.append(Rescale(name=name, inputs=inputs, multiplier=_get(od, "multiplier", int, w),
                                   offset=_get(od, "offset", int, w), shift=_get(od, "shift", int, w)))
            elif typ == "add":
                ops.append(Add(name=name, inputs=inputs, mult_a=_get(od, "mult_a", int, w),
                               mult_b=_get(od, "mult_b", int, w), offset=_get(od, "offset", int, w),
                               shift=_get(od, "shift", int, w)))
            elif typ == "concat":
                ops.append(Concat(name=name, inputs=inputs))
            elif typ == "pool":
                ops.append(Pool(name=name, inputs=inputs, kind=_get(od, "kind", str, w),
                                **{k: _get(od, k, int, w) for k in ("pool_h", "pool_w", "stride_h", "stride_w",
                                                                    "multiplier", "offset", "shift")}))
            elif typ == "argmax":
                ops.append(Argmax(name=name, inputs=inputs))
            else:
                raise ProgramError(f"{w}: unknown op type {typ!r}")
        program = Program(
            name=_get(d, "name", str, where), mode=ProgramMode(_get(d, "mode", str, where)),
            input_width=_get(d, "input_width", int, where), input_frames=_get(d, "input_frames", int, where),
            ops=tuple(ops), labels=tuple(str(x) for x in _get(d, "labels", list, where)),
            chip=_get(d, "chip", str, where), frontend=_get(d, "frontend", dict, where),
            metadata=_get(d, "metadata", dict, where))
    except (ValueError, TypeError) as exc:
        raise ProgramError(f"{where}: {str(exc).splitlines()[0]}") from None
    from wtmkws.firmware_model.validate import validate_program

    validate_program(program)
    return program


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, members[name])
    return buf.getvalue()


def program_to_bytes(program: Program, *, golden_inputs: np.ndarray | None = None) -> bytes:
    """The bytes of a program file (placed first if needed; deterministic).

    Args:
        program: the program.
        golden_inputs: input codes for golden vectors (STREAM (T, width), WINDOW (N, frames, width)),
            or None for no golden vectors.

    Returns:
        The zip bytes.
    """
    from wtmkws.firmware_model.placement import place
    from wtmkws.firmware_model.validate import validate_program

    validate_program(program)
    if any(not layer.blocks for layer in program.array_layers):
        program = place(program)
    doc = program_to_dict(program)
    members = {name: _npy_bytes(arr) for name, arr in program_arrays(program).items()}
    if golden_inputs is not None:
        from wtmkws.firmware_model.emulator import check_codes, run_layers

        check_codes(program, golden_inputs)
        inputs = np.asarray(golden_inputs).astype(np.uint8)
        outs = run_layers(program, inputs)
        doc["golden"] = {"inputs": "golden/inputs.npy",
                         "outputs": {name: f"golden/{name}.npy" for name in outs}}
        members["golden/inputs.npy"] = _npy_bytes(inputs)
        for name, v in outs.items():
            members[f"golden/{name}.npy"] = _npy_bytes(v)
    members[_MEMBER_JSON] = json.dumps(doc, indent=1, sort_keys=True).encode("utf-8")
    return _zip_bytes(members)


def save_program(program: Program, path: str | Path, *, golden_inputs: np.ndarray | None = None) -> Path:
    """Write a program file atomically (the program is placed first if needed).

    Args:
        program: the program.
        path: destination (``.wtmk`` by convention).
        golden_inputs: input codes for golden vectors, or None.

    Returns:
        The path written.

    Raises:
        ProgramError: invalid program or bad golden inputs.
    """
    path = Path(path)
    data = program_to_bytes(program, golden_inputs=golden_inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)


def _read_zip(data: bytes, source: str) -> tuple[dict[str, Any], zipfile.ZipFile]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        bad = zf.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ProgramError(f"{source} is not a complete program file ({exc})",
                           hint="the file is truncated or not a .wtmk program; write it again") from None
    if bad is not None:
        raise ProgramError(f"{source}: member {bad!r} is corrupt (CRC mismatch)",
                           hint="the file is damaged; write it again")
    try:
        doc = json.loads(zf.read(_MEMBER_JSON).decode("utf-8"))
    except KeyError:
        raise ProgramError(f"{source} has no {_MEMBER_JSON}", hint="not a .wtmk program file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProgramError(f"{source}: {_MEMBER_JSON} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ProgramError(f"{source}: {_MEMBER_JSON} is not a JSON object")
    return doc, zf


def _load_npy(zf: zipfile.ZipFile, member: str, source: str) -> np.ndarray:
    try:
        raw = zf.read(member)
    except KeyError:
        raise ProgramError(f"{source}: member {member!r} is missing") from None
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ProgramError(f"{source}: member {member!r} is not a valid .npy array ({str(exc).splitlines()[0]})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
        raise ProgramError(f"{source}: member {member!r} is not a numeric array")
    return arr


def program_from_bytes(data: bytes, *, source: str = "<program bytes>") -> Program:
    """Parse and validate program-file bytes (see :func:`load_program`)."""
    doc, zf = _read_zip(data, source)
    if doc.get("format") != FORMAT_NAME:
        raise ProgramError(f"{source}: format {doc.get('format')!r} is not {FORMAT_NAME!r}")
    if doc.get("version") != FORMAT_VERSION:
        raise ProgramError(f"{source} is program format version {doc.get('version')!r}; this wtmkws reads "
                           f"version {FORMAT_VERSION}", hint="re-export the program with this wtmkws version")
    arrays = {name: _load_npy(zf, name, source) for name in zf.namelist()
              if name.startswith("arrays/") and name.endswith(".npy")}
    try:
        program = program_from_dict(doc, arrays)
        if any(not layer.blocks for layer in program.array_layers):
            raise ProgramError("program is not placed", hint="save programs with save_program (it places them)")
    except WtmkwsError as exc:
        raise ProgramError(f"{source}: {exc.message}", hint=exc.hint) from None
    return program


def load_program(path: str | Path) -> Program:
    """Read and validate a program file.

    Args:
        path: a ``.wtmk`` file.

    Returns:
        The placed program.

    Raises:
        ProgramError: truncated/corrupt file, other format or version, missing members, wrong
            dtypes/shapes, out-of-range weights or shifts, bad or overlapping placement.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ProgramError(f"program file {path} does not exist", hint="check the path") from None
    except IsADirectoryError:
        raise ProgramError(f"program file {path} is a directory", hint="check the path") from None
    return program_from_bytes(data, source=str(path))


def load_golden(path: str | Path) -> GoldenVectors:
    """Read the golden vectors stored in a program file.

    Raises:
        ProgramError: unreadable file, or no golden vectors in it.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProgramError(f"program file {path} cannot be read ({exc.strerror})") from None
    doc, zf = _read_zip(data, str(path))
    golden = doc.get("golden")
    if not isinstance(golden, dict):
        raise ProgramError(f"{path} holds no golden vectors",
                           hint="save the program with golden_inputs=... to store them")
    outputs = golden.get("outputs")
    if not isinstance(outputs, dict):
        raise ProgramError(f"{path}: golden.outputs is not an object")
    return GoldenVectors(inputs=_load_npy(zf, str(golden.get("inputs")), str(path)),
                         outputs={str(k): _load_npy(zf, str(v), str(path)) for k, v in outputs.items()})


def verify_golden(program: Program, golden: GoldenVectors) -> list[str]:
    """Re-run the golden inputs and list the ops whose outputs differ (empty list = all match)."""
    from wtmkws.firmware_model.emulator import run_layers

    outs = run_layers(program, golden.inputs)
    return [name for name, v in golden.outputs.items()
            if name not in outs or outs[name].shape != v.shape or not np.array_equal(outs[name], v)]
